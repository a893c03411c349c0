#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed assertion
//! The throwaway PostgreSQL cluster and the reference Integration DB schema, against real
//! PostgreSQL server processes.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use canton_dr::sandbox::pg::{
    PgCluster, PgOptions, apply_schema, schema::OWNER_ROLE, schema::READER_ROLE, set_role_password,
};
use secrecy::{ExposeSecret, SecretString};

/// When set, `cluster_lifecycle` acts as the owner process of `owner_sigkill_leaves_nothing`.
const CHILD_ROOT_ENV: &str = "CANTON_DR_TEST_PG_CHILD_ROOT";

/// A cluster root that the unprivileged `postgres` user can traverse.
fn test_root() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("canton-dr-pg-test-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

/// Live (non-zombie) processes whose working directory or argv points into `dir`, read
/// straight from /proc (independently of the code under test).
fn live_processes_in(dir: &Path) -> Vec<i32> {
    let mut found = Vec::new();
    let dir_text = dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("?");
        if state == "Z" || state == "X" {
            continue;
        }
        let cwd_inside = std::fs::read_link(entry.path().join("cwd"))
            .map(|cwd| cwd.to_string_lossy().starts_with(&dir_text))
            .unwrap_or(false);
        let argv_mentions = std::fs::read(entry.path().join("cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).contains(&dir_text))
            .unwrap_or(false);
        if cwd_inside || argv_mentions {
            found.push(pid);
        }
    }
    found
}

/// Polls (bounded) until no live process works inside `dir`; returns what is left.
fn wait_until_no_processes(dir: &Path, limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let left = live_processes_in(dir);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn connect_as(
    cluster: &PgCluster,
    db: &str,
    user: &str,
    password: &SecretString,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = cluster.superuser_config(db);
    config.user(user).password(password.expose_secret());
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Start, connect, stop: the directory and every server process are gone afterwards, and a
/// second stop is harmless. (Run with `CANTON_DR_TEST_PG_CHILD_ROOT` set, this test is the
/// owner process that `owner_sigkill_leaves_nothing` kills.)
#[test]
fn cluster_lifecycle() {
    if let Some(root) = std::env::var_os(CHILD_ROOT_ENV) {
        run_as_doomed_owner(PathBuf::from(root));
    }
    let root = test_root();
    let cluster = PgCluster::start(PgOptions {
        root: Some(root.path().to_owned()),
        databases: vec!["integration".into()],
        ..PgOptions::default()
    })
    .unwrap();
    let dir = cluster.dir().to_owned();
    assert!(dir.starts_with(root.path()));
    assert!(cluster.is_running());
    assert_eq!(cluster.host(), "127.0.0.1");
    assert!(
        !live_processes_in(&dir).is_empty(),
        "the server runs in its directory"
    );

    // The owner file names this process and its start time.
    let owner = std::fs::read_to_string(dir.join("owner")).unwrap();
    assert!(
        owner.contains(&format!("owner_pid={}\n", std::process::id())),
        "{owner}"
    );
    // The password file given to initdb is gone.
    assert!(!dir.join("pwfile").exists());

    // The URL carries no password, and it does address the server.
    let url = cluster.database_url("integration", "postgres");
    assert_eq!(
        url,
        format!(
            "postgres://postgres@127.0.0.1:{}/integration",
            cluster.port()
        )
    );
    assert!(!url.contains(cluster.password().expose_secret()));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = cluster.connect("integration").await.unwrap();
        let row = client
            .query_one(
                "SELECT current_database(), current_setting('listen_addresses')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "integration");
        assert_eq!(row.get::<_, String>(1), "127.0.0.1");

        // Password authentication is enforced (SCRAM).
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.password("not the password");
        let err = config.connect(tokio_postgres::NoTls).await.err().unwrap();
        assert_eq!(err.code().map(|c| c.code()), Some("28P01"), "{err}");

        // The Unix socket in the cluster directory works too.
        if let Some(sock) = cluster.socket_dir() {
            assert!(sock.starts_with(&dir));
            let mut config = tokio_postgres::Config::new();
            config
                .host_path(sock)
                .port(cluster.port())
                .user("postgres")
                .password(cluster.password().expose_secret())
                .dbname("integration");
            let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.simple_query("SELECT 1").await.unwrap();
        }
    });
    drop(rt);

    cluster.stop().unwrap();
    assert!(!dir.exists(), "the cluster directory is removed");
    assert_eq!(
        wait_until_no_processes(&dir, Duration::ZERO),
        Vec::<i32>::new()
    );
    assert!(!cluster.is_running());
    cluster.stop().unwrap();
    drop(cluster);
}

/// The owner side of `owner_sigkill_leaves_nothing`: start a cluster, say where, wait to die.
fn run_as_doomed_owner(root: PathBuf) -> ! {
    let cluster = PgCluster::start(PgOptions {
        root: Some(root),
        ..PgOptions::default()
    })
    .unwrap();
    // libtest has already written "test cluster_lifecycle ... " without a line break.
    println!("\nCLUSTER_DIR={}", cluster.dir().display());
    println!("POSTMASTER_PID={}", cluster.postmaster_pid());
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Kills the owner process if the test fails before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The owner is SIGKILLed: PR_SET_PDEATHSIG shuts the server down (no postgres process
/// remains), the directory stays behind, and `sweep_stale` removes it.
#[test]
fn owner_sigkill_leaves_nothing() {
    let root = test_root();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "cluster_lifecycle",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ROOT_ENV, root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut dir = None;
    let mut postmaster = None;
    while dir.is_none() || postmaster.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the owner process reports its cluster");
        if let Some((_, d)) = line.split_once("CLUSTER_DIR=") {
            dir = Some(PathBuf::from(d));
        }
        if let Some((_, p)) = line.split_once("POSTMASTER_PID=") {
            postmaster = Some(p.parse::<i32>().unwrap());
        }
    }
    let (dir, postmaster) = (dir.unwrap(), postmaster.unwrap());
    let before = live_processes_in(&dir);
    assert!(
        before.contains(&postmaster),
        "{before:?} should hold {postmaster}"
    );

    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();

    let left = wait_until_no_processes(&dir, Duration::from_secs(60));
    assert!(
        left.is_empty(),
        "server processes survived their owner: {left:?}"
    );
    assert!(
        dir.exists(),
        "a killed owner could not remove its directory"
    );

    let report = PgCluster::sweep_stale(root.path()).unwrap();
    assert_eq!(report.removed, vec![dir.clone()]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(!dir.exists());
    // Sweeping again finds nothing.
    assert!(PgCluster::sweep_stale(root.path()).unwrap().is_empty());
}

/// The schema applies cleanly (and only once), its roles work as designed: the owner writes,
/// the reader reads and cannot write even after turning off its read-only default, and the
/// constraints hold. Dropping the cluster removes it.
#[tokio::test]
async fn schema_applies_and_the_reader_cannot_write() {
    let root = test_root();
    let cluster = PgCluster::start_async(PgOptions {
        root: Some(root.path().to_owned()),
        databases: vec!["integration".into(), "conflict".into()],
        ..PgOptions::default()
    })
    .await
    .unwrap();
    let dir = cluster.dir().to_owned();

    // A database where the schema cannot apply: the error names the migration and the cause,
    // and nothing of it stays behind.
    let mut conflict = cluster.connect("conflict").await.unwrap();
    conflict
        .batch_execute("CREATE SCHEMA integration")
        .await
        .unwrap();
    let err = apply_schema(&mut conflict).await.unwrap_err().to_string();
    assert!(err.contains("001_integration.sql"), "{err}");
    assert!(
        err.contains("already exists") && err.contains("42P06"),
        "{err}"
    );
    let leftover: bool = conflict
        .query_one(
            "SELECT to_regclass('integration.ingestion_state') IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!leftover, "a failed apply leaves nothing half-done");

    let mut admin = cluster.connect("integration").await.unwrap();
    assert_eq!(apply_schema(&mut admin).await.unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(apply_schema(&mut admin).await.unwrap(), Vec::<i32>::new());

    let owner_pw = SecretString::from("owner-secret-1");
    let reader_pw = SecretString::from("reader-secret-2");
    set_role_password(&admin, OWNER_ROLE, &owner_pw)
        .await
        .unwrap();
    set_role_password(&admin, READER_ROLE, &reader_pw)
        .await
        .unwrap();
    // Only the verifier reached the server.
    let stored: String = admin
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&READER_ROLE],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$"), "{stored}");
    assert!(!stored.contains("reader-secret-2"));
    assert!(
        set_role_password(&admin, "postgres", &owner_pw)
            .await
            .is_err()
    );

    // The owner role writes (unqualified names resolve through the search_path).
    let owner = connect_as(&cluster, "integration", OWNER_ROLE, &owner_pw)
        .await
        .unwrap();
    owner
        .batch_execute(
            "INSERT INTO ingested_transactions (update_id, ledger_offset, record_time, \
                 synchronizer_id, kind) \
             VALUES ('u1', 10, '2026-11-22T03:15:00.123456Z', 'global-domain::1220', 'deposit'); \
             INSERT INTO ingestion_state (last_offset, last_record_time, synchronizer_id, \
                 last_update_id) \
             VALUES (10, '2026-11-22T03:15:00.123456Z', 'global-domain::1220', 'u1'); \
             INSERT INTO holdings (contract_id, owner_party, instrument_admin, instrument_id, \
                 amount, created_update_id, created_offset, created_record_time) \
             VALUES ('c1', 'treasury::1220', 'dso::1220', 'Amulet', 12.5, 'u1', 10, \
                 '2026-11-22T03:15:00.123456Z'); \
             INSERT INTO withdrawals (withdrawal_id, customer_id, receiver_party, \
                 instrument_admin, instrument_id, amount, trec_tgt, requested_at) \
             VALUES ('w1', 'cust-1', 'alice::1220', 'dso::1220', 'Amulet', 5, \
                 '2026-11-22T04:15:00Z', '2026-11-22T03:15:00Z'), \
                    ('w2', 'cust-2', 'bob::1220', 'dso::1220', 'Amulet', 5, \
                 '2026-11-22T04:15:00Z', '2026-11-22T03:15:00Z'); \
             INSERT INTO holding_reservations (contract_id, withdrawal_id, reserved_until) \
             VALUES ('c1', 'w1', '2026-11-22T04:15:00Z');",
        )
        .await
        .unwrap();
    // A UTXO is never reserved for two withdrawals.
    let err = owner
        .batch_execute(
            "INSERT INTO holding_reservations (contract_id, withdrawal_id, reserved_until) \
             VALUES ('c1', 'w2', '2026-11-22T04:15:00Z')",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err}");
    // Only a recovered withdrawal may lack its trec_tgt.
    let err = owner
        .batch_execute(
            "INSERT INTO withdrawals (withdrawal_id, customer_id, receiver_party, \
                 instrument_admin, instrument_id, amount, requested_at) \
             VALUES ('w3', 'cust-3', 'carol::1220', 'dso::1220', 'Amulet', 1, now())",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23514"), "{err}");
    owner
        .batch_execute(
            "INSERT INTO withdrawals (withdrawal_id, receiver_party, instrument_admin, \
                 instrument_id, amount, recovered) \
             VALUES ('w4', 'dave::1220', 'dso::1220', 'Amulet', 1, true)",
        )
        .await
        .unwrap();

    // The reader reads, through the views as well.
    let reader = connect_as(&cluster, "integration", READER_ROLE, &reader_pw)
        .await
        .unwrap();
    let row = reader
        .query_one(
            "SELECT (SELECT count(*) FROM inflight_withdrawals), \
                    (SELECT enabled FROM withdrawal_control), \
                    (SELECT last_record_time::text FROM ingestion_state), \
                    current_setting('default_transaction_read_only')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3);
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), "2026-11-22 03:15:00.123456+00");
    assert_eq!(row.get::<_, String>(3), "on");

    // It cannot write: first because its transactions are read-only by default ...
    let err = reader
        .batch_execute("UPDATE withdrawal_control SET enabled = false")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("25006"), "{err}");
    // ... and, with that default switched off, because it holds no write privilege.
    reader
        .batch_execute("SET default_transaction_read_only = off")
        .await
        .unwrap();
    for statement in [
        "UPDATE withdrawal_control SET enabled = false",
        "INSERT INTO ingestion_config (singleton, start_offset) VALUES (true, 5)",
        "DELETE FROM withdrawals",
        "CREATE TABLE integration.evil (x int)",
    ] {
        let err = reader.batch_execute(statement).await.unwrap_err();
        assert_eq!(
            err.code().map(|c| c.code()),
            Some("42501"),
            "{statement}: {err}"
        );
    }
    let enabled: bool = admin
        // (This session predates the database's search_path setting: qualify the name.)
        .query_one("SELECT enabled FROM integration.withdrawal_control", &[])
        .await
        .unwrap()
        .get(0);
    assert!(enabled, "nothing the reader tried was written");

    drop((admin, owner, reader, conflict));
    drop(cluster);
    assert!(!dir.exists(), "dropping the cluster removes its directory");
    assert!(live_processes_in(&dir).is_empty());
}

/// A missing server installation is reported with what to install.
#[test]
fn missing_binaries_name_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let err = PgCluster::start(PgOptions {
        bin_dir: Some(empty.path().to_owned()),
        root: Some(empty.path().join("root")),
        ..PgOptions::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("initdb and postgres"), "{msg}");
    assert!(msg.contains("postgresql-15"), "{msg}");
}

/// Options: a given password and extra settings take effect; `keep` leaves the stopped
/// cluster's directory (and data) in place and records it in the owner file, which the sweep
/// honours (see the sweep's unit tests).
#[tokio::test]
async fn options_apply_and_keep_leaves_the_directory() {
    let root = test_root();
    let password = SecretString::from("given password with spaces");
    let cluster = PgCluster::start_async(PgOptions {
        root: Some(root.path().to_owned()),
        password: Some(password.clone()),
        settings: vec![
            ("work_mem".into(), "8MB".into()),
            ("application_name".into(), "it's quoted".into()),
        ],
        keep: true,
        ..PgOptions::default()
    })
    .await
    .unwrap();
    let dir = cluster.dir().to_owned();
    let client = connect_as(&cluster, "postgres", "postgres", &password)
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT current_setting('work_mem'), current_setting('TimeZone')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "8MB");
    assert_eq!(row.get::<_, String>(1), "UTC");
    drop(client);

    cluster.stop().unwrap();
    assert!(
        dir.join("data").join("PG_VERSION").exists(),
        "the data is kept"
    );
    assert!(live_processes_in(&dir).is_empty(), "but nothing runs");
    let owner = std::fs::read_to_string(dir.join("owner")).unwrap();
    assert!(owner.contains("keep=true"), "{owner}");
}
