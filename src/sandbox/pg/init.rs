//! Preparing a cluster directory: who runs the server, the root and the cluster directory
//! with its owner record, `initdb`, and the server configuration.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};
use rand::Rng;
use secrecy::ExposeSecret;

use super::procfs::ProcessId;
use super::server::{Plan, server_command};
use super::{DEFAULT_RUN_AS, HOST, PgError, SUPERUSER, io_err};

/// The unprivileged account the server programs run as (when the owner is root).
#[derive(Debug, Clone)]
pub(super) struct RunAs {
    pub(super) name: String,
    pub(super) uid: Uid,
    pub(super) gid: Gid,
}

/// Quotes a `postgresql.conf` string value.
pub(super) fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// The uid/gid to run the server as: `None` to run as ourselves (not root).
pub(super) fn resolve_run_as(name: Option<&str>) -> Result<Option<RunAs>, PgError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = name.unwrap_or(DEFAULT_RUN_AS);
    let err = |reason: String| PgError::RunAsUser {
        user: name.to_owned(),
        reason,
    };
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| err(format!("looking it up failed: {e}")))?
        .ok_or_else(|| {
            err("no such user exists; create it (e.g. by installing the postgresql package)".into())
        })?;
    if user.uid.is_root() {
        return Err(err(
            "it is root itself; postgres refuses to run as root".into()
        ));
    }
    Ok(Some(RunAs {
        name: name.to_owned(),
        uid: user.uid,
        gid: user.gid,
    }))
}

/// Creates the root if needed and checks that the run-as user can reach it.
///
/// Returns the root as an absolute, canonical path (the server is given absolute paths and
/// the socket path length is checked against it).
pub(super) fn ensure_root(root: &Path, run_as: Option<&RunAs>) -> Result<PathBuf, PgError> {
    if !root.exists() {
        fs::create_dir_all(root).map_err(io_err("creating the cluster root", root))?;
        // Traversable by the run-as user; cluster directories inside are private.
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))
            .map_err(io_err("setting permissions of", root))?;
    }
    let root = fs::canonicalize(root).map_err(io_err("resolving the cluster root", root))?;
    let Some(run_as) = run_as else {
        return Ok(root);
    };
    let uid = run_as.uid;
    let mut dir = Some(root.as_path());
    while let Some(d) = dir {
        let meta = fs::metadata(d).map_err(io_err("inspecting", d))?;
        let mode = meta.mode();
        let searchable = mode & 0o001 != 0 || (meta.uid() == uid.as_raw() && mode & 0o100 != 0);
        if !searchable {
            return Err(PgError::RootNotReachable {
                path: root.clone(),
                user: run_as.name.clone(),
            });
        }
        dir = d.parent();
    }
    Ok(root)
}

/// The owner record written into each cluster directory.
pub(super) const OWNER_FILE: &str = "owner";

fn owner_record(owner: ProcessId, keep: bool) -> String {
    format!(
        "owner_pid={}\nowner_start_time={}\nkeep={keep}\n",
        owner.pid, owner.start_time
    )
}

/// Creates `root/pg-<pid>-<start time>-<random>` (0700, owned by the run-as user) with its
/// owner file. The name alone identifies the owner too, in case the file was never written.
pub(super) fn create_cluster_dir(plan: &Plan) -> Result<PathBuf, PgError> {
    let mut rng = rand::rng();
    for _ in 0..16 {
        let suffix: u32 = rng.random();
        let dir = plan.root.join(format!(
            "pg-{}-{}-{suffix:08x}",
            plan.owner.pid, plan.owner.start_time
        ));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("creating the cluster directory", &dir)(e)),
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err("setting permissions of", &dir))?;
        let owner_file = dir.join(OWNER_FILE);
        fs::write(&owner_file, owner_record(plan.owner, plan.opts.keep))
            .map_err(io_err("writing", &owner_file))?;
        chown(&dir, plan.run_as.as_ref())?;
        return Ok(dir);
    }
    Err(PgError::InvalidOption(format!(
        "could not find an unused directory name under {}",
        plan.root.display()
    )))
}

fn chown(path: &Path, run_as: Option<&RunAs>) -> Result<(), PgError> {
    if let Some(run_as) = run_as {
        nix::unistd::chown(path, Some(run_as.uid), Some(run_as.gid)).map_err(|e| PgError::Io {
            what: "changing the owner of",
            path: path.to_owned(),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// Writes a private file (0600, owned by the run-as user).
fn write_private(path: &Path, content: &[u8], run_as: Option<&RunAs>) -> Result<(), PgError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("creating", path))?;
    file.write_all(content).map_err(io_err("writing", path))?;
    file.sync_all().map_err(io_err("writing", path))?;
    chown(path, run_as)
}

pub(super) fn run_initdb(plan: &Plan, dir: &Path, data_dir: &Path) -> Result<(), PgError> {
    let pwfile = dir.join("pwfile");
    write_private(
        &pwfile,
        plan.password.expose_secret().as_bytes(),
        plan.run_as.as_ref(),
    )?;
    let mut cmd = server_command(&plan.bins.initdb, dir, plan.run_as.as_ref());
    cmd.arg("--pgdata")
        .arg(data_dir)
        .arg("--username")
        .arg(SUPERUSER)
        .arg("--auth=scram-sha-256")
        .arg("--pwfile")
        .arg(&pwfile)
        .arg("--encoding=UTF8")
        .arg("--locale=C")
        .arg("--no-sync");
    let output = cmd.output();
    let removed = fs::remove_file(&pwfile);
    let output = output.map_err(|source| PgError::Spawn {
        program: plan.bins.initdb.clone(),
        source,
    })?;
    removed.map_err(io_err("removing", &pwfile))?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(PgError::Initdb {
            status: output.status,
            data_dir: data_dir.to_owned(),
            output: text,
        });
    }
    Ok(())
}

/// Longest Unix socket path (sun_path holds 108 bytes including the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Writes our settings and pg_hba.conf; returns the socket directory if there is one.
pub(super) fn configure(
    plan: &Plan,
    dir: &Path,
    data_dir: &Path,
) -> Result<Option<PathBuf>, PgError> {
    let mut conf = String::from("\n# --- canton-dr sandbox ---\n");
    let mut set = |name: &str, value: &str| {
        conf.push_str(&format!("{name} = {}\n", conf_quote(value)));
    };
    set("listen_addresses", HOST);
    let sock = dir.join("sock");
    // ".s.PGSQL.65535" is the longest socket file name.
    let socket_dir = if sock.as_os_str().len() + "/.s.PGSQL.65535".len() <= MAX_SOCKET_PATH {
        fs::create_dir(&sock).map_err(io_err("creating", &sock))?;
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o700))
            .map_err(io_err("setting permissions of", &sock))?;
        chown(&sock, plan.run_as.as_ref())?;
        set("unix_socket_directories", &sock.to_string_lossy());
        Some(sock)
    } else {
        set("unix_socket_directories", "");
        None
    };
    set("timezone", "UTC");
    set("log_timezone", "UTC");
    set("password_encryption", "scram-sha-256");
    // A throwaway cluster needs no durability; this makes it start and work faster.
    set("fsync", "off");
    set("synchronous_commit", "off");
    set("full_page_writes", "off");
    set("shared_buffers", "32MB");
    set("max_connections", "50");
    if let Some(tls) = &plan.opts.tls {
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        let cert_pem = fs::read(&tls.cert_file).map_err(io_err("reading", &tls.cert_file))?;
        let key_pem = fs::read(&tls.key_file).map_err(io_err("reading", &tls.key_file))?;
        write_private(&cert, &cert_pem, plan.run_as.as_ref())?;
        write_private(&key, &key_pem, plan.run_as.as_ref())?;
        set("ssl", "on");
        set("ssl_cert_file", &cert.to_string_lossy());
        set("ssl_key_file", &key.to_string_lossy());
    }
    for (name, value) in &plan.opts.settings {
        set(name, value);
    }
    let conf_path = data_dir.join("postgresql.conf");
    OpenOptions::new()
        .append(true)
        .open(&conf_path)
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .map_err(io_err("writing", &conf_path))?;

    let hba_path = data_dir.join("pg_hba.conf");
    let hba = "# canton-dr sandbox: password (SCRAM) authentication, loopback only\n\
               local all all              scram-sha-256\n\
               host  all all 127.0.0.1/32 scram-sha-256\n";
    fs::write(&hba_path, hba).map_err(io_err("writing", &hba_path))?;
    Ok(socket_dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;

    #[test]
    fn a_root_the_server_user_cannot_reach_is_refused_by_name() {
        let private = tempfile::tempdir().unwrap();
        fs::set_permissions(private.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let root = private.path().join("clusters");
        let nobody = RunAs {
            name: "nobody".into(),
            uid: Uid::from_raw(65_534),
            gid: Gid::from_raw(65_534),
        };
        let err = ensure_root(&root, Some(&nobody)).unwrap_err().to_string();
        assert!(
            err.contains("'nobody'") && err.contains("clusters"),
            "{err}"
        );

        fs::set_permissions(private.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let resolved = ensure_root(&root, Some(&nobody)).unwrap();
        assert!(resolved.is_absolute());
        assert_eq!(
            fs::metadata(&resolved).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn conf_values_are_quoted() {
        assert_eq!(conf_quote("it's a \\ test"), "'it''s a \\\\ test'");
    }
}
