//! A throwaway PostgreSQL cluster for drills and tests.
//!
//! [`PgCluster::start`] creates a fresh cluster in its own directory under a known root
//! (`$TMPDIR/canton-dr-sandbox/` by default), starts `postgres` as a direct child listening on
//! a free loopback port, and removes everything again on [`PgCluster::stop`] or drop.
//!
//! Leftovers are impossible to avoid entirely (the owner may be `SIGKILL`ed), so each cluster
//! directory records its owner (pid and process start time). The server gets
//! `PR_SET_PDEATHSIG` so it shuts down when its owner dies, and [`PgCluster::sweep_stale`]
//! (which `start` runs first) stops whatever survived and removes the directories of dead
//! owners.
//!
//! When running as root, `initdb` and `postgres` run as the unprivileged `postgres` user in a
//! directory that user owns; otherwise they run as the current user. The superuser password
//! reaches `initdb` through a 0600 file, never through argv.

mod binaries;
mod init;
mod procfs;
pub mod schema;
mod server;
mod sweep;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

pub use binaries::ServerBinaries;
pub use schema::{MIGRATIONS, Migration, SchemaError, apply_schema, set_role_password};
pub use sweep::SweepReport;

use init::{ensure_root, resolve_run_as};
use procfs::ProcessId;
use server::{Plan, keeper};

/// The name of the superuser every cluster is created with.
pub const SUPERUSER: &str = "postgres";

/// The loopback address the server listens on.
pub const HOST: &str = "127.0.0.1";

/// The unprivileged user the server runs as when the owner is root.
pub const DEFAULT_RUN_AS: &str = "postgres";

/// The name of the directory (under the system temp dir) that holds all clusters.
pub const ROOT_DIR_NAME: &str = "canton-dr-sandbox";

/// The server certificate and key for `ssl = on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgServerTls {
    /// PEM certificate chain presented by the server.
    pub cert_file: PathBuf,
    /// PEM private key of the certificate.
    pub key_file: PathBuf,
}

/// How to create a cluster. `PgOptions::default()` gives a plain loopback cluster with a random
/// password that is removed on stop.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The directory that holds cluster directories; `$TMPDIR/canton-dr-sandbox` if `None`.
    pub root: Option<PathBuf>,
    /// Where `initdb` and `postgres` are; searched for if `None` (see [`ServerBinaries::find`]).
    pub bin_dir: Option<PathBuf>,
    /// Server TLS (`ssl = on`) with the caller's certificate and key.
    pub tls: Option<PgServerTls>,
    /// Extra `postgresql.conf` settings (name, value), written after the defaults.
    pub settings: Vec<(String, String)>,
    /// Databases to create (owned by the superuser) once the server runs.
    pub databases: Vec<String>,
    /// The superuser password; a random one if `None`.
    pub password: Option<SecretString>,
    /// Leave the directory (data and log) in place after stop, and never sweep it.
    pub keep: bool,
    /// The unprivileged user to run as when the owner is root (`postgres` if `None`).
    pub run_as: Option<String>,
    /// How long the server may take to accept connections.
    pub startup_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            root: None,
            bin_dir: None,
            tls: None,
            settings: Vec::new(),
            databases: Vec::new(),
            password: None,
            keep: false,
            run_as: None,
            startup_timeout: Duration::from_secs(60),
        }
    }
}

/// Why a cluster could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL server binaries not found (looked {looked}); install postgresql-15 \
         (Debian/Ubuntu) or put initdb and postgres on PATH"
    )]
    BinariesNotFound { looked: String },
    #[error(
        "running as root, the cluster must run as the unprivileged user '{user}', but {reason}"
    )]
    RunAsUser { user: String, reason: String },
    #[error(
        "the cluster root {path} cannot be reached by user '{user}' (it needs search permission on every directory up to it); choose another root"
    )]
    RootNotReachable { path: PathBuf, user: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid cluster option: {0}")]
    InvalidOption(String),
    #[error("this platform has no /proc; the throwaway cluster needs Linux")]
    NoProcfs,
    #[error("could not run {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("initdb failed ({status}) for {data_dir}:\n{output}")]
    Initdb {
        status: ExitStatus,
        data_dir: PathBuf,
        output: String,
    },
    #[error("postgres exited during startup ({status}); last lines of {log}:\n{tail}")]
    ExitedDuringStartup {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "postgres did not accept connections on {HOST}:{port} within {}; last lines of {log}:\n{tail}",
        humantime::format_duration(*.timeout)
    )]
    StartupTimeout {
        port: u16,
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("no free loopback port for postgres: {0}")]
    NoFreePort(#[source] io::Error),
    #[error("{what} on {HOST}:{port}: {}", describe_pg_error(.source))]
    Sql {
        what: String,
        port: u16,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("the thread that runs the cluster failed: {0}")]
    Thread(String),
    #[error(
        "processes {pids:?} of the cluster in {dir} did not stop; the directory was left in place"
    )]
    StopFailed { dir: PathBuf, pids: Vec<i32> },
}

/// A PostgreSQL client error as one line: the server's message and SQLSTATE for a database
/// error, the whole cause chain otherwise (the top level alone says little, e.g. "db error").
pub(crate) fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PgError + 'a {
    move |source| PgError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// A running throwaway cluster. Dropping it stops the server and removes its directory.
pub struct PgCluster {
    dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: Option<PathBuf>,
    log_file: PathBuf,
    port: u16,
    password: SecretString,
    tls: bool,
    postmaster_pid: i32,
    control: Arc<Control>,
}

impl fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCluster")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("postmaster_pid", &self.postmaster_pid)
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable handle that stops a cluster from anywhere (e.g. a Ctrl-C handler).
#[derive(Clone)]
pub struct PgStopHandle(Arc<Control>);

impl PgStopHandle {
    /// Stops the cluster (see [`PgCluster::stop`]). Idempotent.
    pub fn stop(&self) -> Result<(), PgError> {
        self.0.stop()
    }
}

/// The keeper thread of a cluster and the way to tell it to stop.
struct Control {
    keeper: Mutex<Option<Keeper>>,
}

struct Keeper {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Result<(), PgError>>,
}

impl Control {
    /// Tells the keeper to shut down and waits for it. The lock is held throughout, so a
    /// second caller returns only once the cluster is really gone.
    fn stop(&self) -> Result<(), PgError> {
        let mut guard = self.keeper.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(keeper) = guard.take() else {
            return Ok(());
        };
        let _ = keeper.stop.send(());
        keeper
            .thread
            .join()
            .map_err(|_| PgError::Thread("the cluster keeper panicked while stopping".into()))?
    }
}

impl PgCluster {
    /// Creates and starts a cluster; blocks until it accepts connections and the requested
    /// databases exist (a few seconds). From async code prefer [`PgCluster::start_async`].
    pub fn start(opts: PgOptions) -> Result<PgCluster, PgError> {
        validate_options(&opts)?;
        let bins = ServerBinaries::find(opts.bin_dir.as_deref())?;
        let run_as = resolve_run_as(opts.run_as.as_deref())?;
        let root = ensure_root(
            &opts.root.clone().unwrap_or_else(default_root),
            run_as.as_ref(),
        )?;
        match PgCluster::sweep_stale(&root) {
            Ok(report) if !report.is_empty() => tracing::info!(?report, "swept stale clusters"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweeping stale clusters failed"),
        }
        let owner = ProcessId::current().ok_or(PgError::NoProcfs)?;
        let password = opts.password.clone().unwrap_or_else(random_password);
        let keep = opts.keep;
        let tls = opts.tls.is_some();
        let plan = Plan {
            bins,
            root,
            run_as,
            owner,
            opts,
            password: password.clone(),
        };

        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel();
        // The server is spawned from this thread and PR_SET_PDEATHSIG fires when the thread
        // that forked it exits, so the thread lives exactly as long as the cluster.
        let thread = std::thread::Builder::new()
            .name("pg-cluster".into())
            .spawn(move || keeper(plan, ready_tx, stop_rx))
            .map_err(|e| PgError::Thread(e.to_string()))?;
        let started = match ready_rx.recv() {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                return Err(match thread.join() {
                    Ok(Err(e)) => e,
                    _ => PgError::Thread("the cluster keeper ended during startup".into()),
                });
            }
        };
        let control = Arc::new(Control {
            keeper: Mutex::new(Some(Keeper {
                stop: stop_tx,
                thread,
            })),
        });
        let data_dir = started.dir.join("data");
        let log_file = started.dir.join("postgres.log");
        tracing::info!(dir = %started.dir.display(), port = started.port, keep, "PostgreSQL cluster started");
        Ok(PgCluster {
            dir: started.dir,
            data_dir,
            socket_dir: started.socket_dir,
            log_file,
            port: started.port,
            password,
            tls,
            postmaster_pid: started.postmaster_pid,
            control,
        })
    }

    /// [`PgCluster::start`] on a blocking thread, for async callers.
    pub async fn start_async(opts: PgOptions) -> Result<PgCluster, PgError> {
        tokio::task::spawn_blocking(move || PgCluster::start(opts))
            .await
            .map_err(|e| PgError::Thread(e.to_string()))?
    }

    /// Fast shutdown (SIGINT), wait (escalating to SIGQUIT and SIGKILL if it hangs), then
    /// remove the directory unless `keep` was set. Idempotent: later calls return at once (or
    /// once a concurrent stop has finished). Blocks for as long as the shutdown takes.
    pub fn stop(&self) -> Result<(), PgError> {
        self.control.stop()
    }

    /// A handle that can stop this cluster from another thread or task.
    pub fn stop_handle(&self) -> PgStopHandle {
        PgStopHandle(Arc::clone(&self.control))
    }

    /// Stops the server processes and removes the directories of clusters under `root` whose
    /// owner is no longer running. Directories of clusters started with `keep` lose their
    /// processes but stay. Clusters of live owners are left alone.
    pub fn sweep_stale(root: &Path) -> Result<SweepReport, PgError> {
        sweep::sweep_stale(root)
    }

    /// Is the server process still running?
    pub fn is_running(&self) -> bool {
        let stopped = self
            .control
            .keeper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none();
        !stopped && procfs::pid_alive(self.postmaster_pid)
    }

    /// The cluster directory (holds `data/`, `sock/`, the log and the owner file).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory of the Unix socket, if the path was short enough to have one.
    pub fn socket_dir(&self) -> Option<&Path> {
        self.socket_dir.as_deref()
    }

    /// The server log (stdout and stderr of `postgres`).
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The pid of the postmaster.
    pub fn postmaster_pid(&self) -> i32 {
        self.postmaster_pid
    }

    /// The loopback address the server listens on.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Does the server have `ssl = on`?
    pub fn tls_enabled(&self) -> bool {
        self.tls
    }

    /// The superuser name.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The superuser password.
    pub fn password(&self) -> &SecretString {
        &self.password
    }

    /// A connection configuration for the superuser on database `db` (TCP, loopback, with the
    /// password, TLS not requested).
    pub fn superuser_config(&self, db: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(HOST)
            .port(self.port)
            .user(SUPERUSER)
            .password(self.password.expose_secret())
            .dbname(db)
            .application_name("canton-dr-sandbox")
            .ssl_mode(tokio_postgres::config::SslMode::Disable)
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// Connects as the superuser to database `db`; the connection is driven by a spawned task
    /// on the current tokio runtime.
    pub async fn connect(&self, db: &str) -> Result<tokio_postgres::Client, PgError> {
        let (client, connection) = self
            .superuser_config(db)
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|source| PgError::Sql {
                what: format!("connecting as {SUPERUSER} to database {db}"),
                port: self.port,
                source,
            })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "sandbox connection ended");
            }
        });
        Ok(client)
    }

    /// `postgres://user@127.0.0.1:port/db`, without a password (it travels separately).
    pub fn database_url(&self, db: &str, user: &str) -> String {
        format!(
            "postgres://{}@{HOST}:{}/{}",
            percent_encode(user),
            self.port,
            percent_encode(db)
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Err(e) = self.control.stop() {
            tracing::warn!(error = %e, dir = %self.dir.display(), "stopping the PostgreSQL cluster failed");
        }
    }
}

/// `$TMPDIR/canton-dr-sandbox`.
pub fn default_root() -> PathBuf {
    std::env::temp_dir().join(ROOT_DIR_NAME)
}

fn random_password() -> SecretString {
    let text: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    SecretString::from(text)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn validate_options(opts: &PgOptions) -> Result<(), PgError> {
    for (name, value) in &opts.settings {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err(PgError::InvalidOption(format!(
                "'{name}' is not a valid postgresql.conf setting name"
            )));
        }
        if value.contains(['\n', '\r', '\0']) {
            return Err(PgError::InvalidOption(format!(
                "the value of setting '{name}' contains a line break or NUL"
            )));
        }
    }
    for db in &opts.databases {
        if db.is_empty() || db.len() > 63 || db.contains('\0') {
            return Err(PgError::InvalidOption(format!(
                "'{db}' is not a valid database name (1 to 63 bytes, no NUL)"
            )));
        }
    }
    if let Some(password) = &opts.password
        && (password.expose_secret().is_empty()
            || password.expose_secret().contains(['\n', '\r', '\0']))
    {
        return Err(PgError::InvalidOption(
            "the superuser password must be non-empty and on one line".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::server::quote_ident;
    use super::*;

    #[test]
    fn urls_never_carry_a_password_and_are_encoded() {
        assert_eq!(percent_encode("canton_dr_reader"), "canton_dr_reader");
        assert_eq!(percent_encode("a b/c@d"), "a%20b%2Fc%40d");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn bad_options_are_refused_before_anything_runs() {
        let opts = PgOptions {
            settings: vec![("bad name".into(), "1".into())],
            ..PgOptions::default()
        };
        assert!(matches!(
            validate_options(&opts),
            Err(PgError::InvalidOption(_))
        ));
        let opts = PgOptions {
            settings: vec![("work_mem".into(), "1MB\nssl = off".into())],
            ..PgOptions::default()
        };
        assert!(matches!(
            validate_options(&opts),
            Err(PgError::InvalidOption(_))
        ));
        let opts = PgOptions {
            databases: vec![String::new()],
            ..PgOptions::default()
        };
        assert!(matches!(
            validate_options(&opts),
            Err(PgError::InvalidOption(_))
        ));
        let opts = PgOptions {
            password: Some(SecretString::from("two\nlines")),
            ..PgOptions::default()
        };
        let err = validate_options(&opts).unwrap_err().to_string();
        assert!(!err.contains("two"), "{err}");
    }

    #[test]
    fn random_passwords_differ() {
        let a = random_password();
        let b = random_password();
        assert_eq!(a.expose_secret().len(), 32);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
