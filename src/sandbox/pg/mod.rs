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
mod procfs;
pub mod schema;
mod sweep;

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

pub use binaries::ServerBinaries;
pub use schema::{MIGRATIONS, Migration, SchemaError, apply_schema, set_role_password};
pub use sweep::SweepReport;

use procfs::ProcessId;

/// The name of the superuser every cluster is created with.
pub const SUPERUSER: &str = "postgres";

/// The loopback address the server listens on.
pub const HOST: &str = "127.0.0.1";

/// The unprivileged user the server runs as when the owner is root.
pub const DEFAULT_RUN_AS: &str = "postgres";

/// The name of the directory (under the system temp dir) that holds all clusters.
pub const ROOT_DIR_NAME: &str = "canton-dr-sandbox";

/// How long a fast shutdown may take before it is escalated.
const FAST_SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

/// How many times a port that was taken between choosing and binding is replaced.
const PORT_ATTEMPTS: u32 = 5;

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

/// What the keeper reports once the server accepts connections.
struct Started {
    dir: PathBuf,
    socket_dir: Option<PathBuf>,
    port: u16,
    postmaster_pid: i32,
}

/// The unprivileged account the server programs run as (when the owner is root).
#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
}

/// Everything the keeper thread needs, resolved before it starts.
struct Plan {
    bins: ServerBinaries,
    root: PathBuf,
    run_as: Option<RunAs>,
    owner: ProcessId,
    opts: PgOptions,
    password: SecretString,
}

impl PgCluster {
    /// Creates and starts a cluster; blocks until it accepts connections and the requested
    /// databases exist (a few seconds). From async code prefer [`PgCluster::start_async`].
    pub fn start(opts: PgOptions) -> Result<PgCluster, PgError> {
        validate_options(&opts)?;
        let bins = ServerBinaries::find(opts.bin_dir.as_deref())?;
        let run_as = resolve_run_as(opts.run_as.as_deref())?;
        let root = opts.root.clone().unwrap_or_else(default_root);
        ensure_root(&root, run_as.as_ref())?;
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

/// Quotes an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a `postgresql.conf` string value.
fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
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

/// The uid/gid to run the server as: `None` to run as ourselves (not root).
fn resolve_run_as(name: Option<&str>) -> Result<Option<RunAs>, PgError> {
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
fn ensure_root(root: &Path, run_as: Option<&RunAs>) -> Result<(), PgError> {
    if !root.exists() {
        fs::create_dir_all(root).map_err(io_err("creating the cluster root", root))?;
        // Traversable by the run-as user; cluster directories inside are private.
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))
            .map_err(io_err("setting permissions of", root))?;
    }
    let Some(run_as) = run_as else {
        return Ok(());
    };
    let uid = run_as.uid;
    use std::os::unix::fs::MetadataExt;
    let mut dir = Some(root);
    while let Some(d) = dir {
        let meta = fs::metadata(d).map_err(io_err("inspecting", d))?;
        let mode = meta.mode();
        let searchable = mode & 0o001 != 0 || (meta.uid() == uid.as_raw() && mode & 0o100 != 0);
        if !searchable {
            return Err(PgError::RootNotReachable {
                path: root.to_owned(),
                user: run_as.name.clone(),
            });
        }
        dir = d.parent();
    }
    Ok(())
}

/// The owner record written into each cluster directory.
pub(crate) const OWNER_FILE: &str = "owner";

fn owner_record(owner: ProcessId, keep: bool) -> String {
    format!(
        "owner_pid={}\nowner_start_time={}\nkeep={keep}\n",
        owner.pid, owner.start_time
    )
}

/// Creates `root/pg-<pid>-<start time>-<random>` (0700, owned by the run-as user) with its
/// owner file. The name alone identifies the owner too, in case the file was never written.
fn create_cluster_dir(plan: &Plan) -> Result<PathBuf, PgError> {
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

/// A command for one of the server programs: run as the run-as user, with a minimal
/// environment, in its own process group (a terminal's Ctrl-C goes to the owner, which
/// decides), dying with the thread that spawned it.
fn server_command(program: &Path, dir: &Path, run_as: Option<&RunAs>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env("TZ", "UTC")
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .current_dir(dir)
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(run_as) = run_as {
        cmd.uid(run_as.uid.as_raw()).gid(run_as.gid.as_raw());
    }
    die_with_owner(&mut cmd);
    cmd
}

/// Makes the child receive SIGINT (PostgreSQL's fast shutdown) when the thread that spawned it
/// exits, and refuses to start it if the owner already died before that was in place.
#[allow(unsafe_code)]
fn die_with_owner(cmd: &mut Command) {
    let owner = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child between fork and exec. It only calls
    // prctl(2) and getppid(2), which are async-signal-safe, and builds errors from raw OS
    // codes without allocating; it touches no locks or shared state of the parent.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(io::Error::from)?;
            if nix::unistd::getppid() != owner {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The keeper thread: brings the cluster up, reports, waits for stop, shuts down.
fn keeper(
    plan: Plan,
    ready: mpsc::Sender<Result<Started, PgError>>,
    stop: mpsc::Receiver<()>,
) -> Result<(), PgError> {
    let dir = match create_cluster_dir(&plan) {
        Ok(dir) => dir,
        Err(e) => {
            let _ = ready.send(Err(e));
            return Ok(());
        }
    };
    let mut child = None;
    match bring_up(&plan, &dir, &mut child) {
        Ok(started) => {
            if ready.send(Ok(started)).is_err() {
                return shut_down(&dir, child, plan.opts.keep);
            }
        }
        Err(e) => {
            if let Err(cleanup) = shut_down(&dir, child, plan.opts.keep) {
                tracing::warn!(error = %cleanup, "cleaning up after a failed start");
            }
            let _ = ready.send(Err(e));
            return Ok(());
        }
    }
    // Either a stop request or the owner dropping every handle ends the wait.
    let _ = stop.recv();
    shut_down(&dir, child, plan.opts.keep)
}

fn bring_up(plan: &Plan, dir: &Path, child: &mut Option<Child>) -> Result<Started, PgError> {
    let data_dir = dir.join("data");
    run_initdb(plan, dir, &data_dir)?;
    let socket_dir = configure(plan, dir, &data_dir)?;
    let log = dir.join("postgres.log");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PgError::Thread(format!("building the runtime: {e}")))?;

    let mut last_err = None;
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port()?;
        let running = child.insert(spawn_postgres(plan, dir, &data_dir, &log, port)?);
        let pid = i32::try_from(running.id()).unwrap_or(-1);
        match runtime.block_on(wait_ready(running, plan, port, &log)) {
            Ok(client) => {
                runtime.block_on(create_databases(&client, &plan.opts.databases, port))?;
                return Ok(Started {
                    dir: dir.to_owned(),
                    socket_dir,
                    port,
                    postmaster_pid: pid,
                });
            }
            Err(e @ PgError::ExitedDuringStartup { .. }) if port_was_taken(&log) => {
                *child = None;
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| PgError::Thread("postgres could not be started".into())))
}

fn run_initdb(plan: &Plan, dir: &Path, data_dir: &Path) -> Result<(), PgError> {
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
fn configure(plan: &Plan, dir: &Path, data_dir: &Path) -> Result<Option<PathBuf>, PgError> {
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

/// A loopback port that was free a moment ago (the race is handled by retrying).
fn free_port() -> Result<u16, PgError> {
    let listener = std::net::TcpListener::bind((HOST, 0)).map_err(PgError::NoFreePort)?;
    let port = listener.local_addr().map_err(PgError::NoFreePort)?.port();
    Ok(port)
}

fn spawn_postgres(
    plan: &Plan,
    dir: &Path,
    data_dir: &Path,
    log: &Path,
    port: u16,
) -> Result<Child, PgError> {
    let log_file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(log)
        .map_err(io_err("opening the server log", log))?;
    let stderr = log_file
        .try_clone()
        .map_err(io_err("opening the server log", log))?;
    let mut cmd = server_command(&plan.bins.postgres, dir, plan.run_as.as_ref());
    cmd.arg("-D")
        .arg(data_dir)
        .arg("-p")
        .arg(port.to_string())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(stderr));
    cmd.spawn().map_err(|source| PgError::Spawn {
        program: plan.bins.postgres.clone(),
        source,
    })
}

/// Polls with real connections until the server accepts one (bounded by the startup timeout)
/// or the process exits.
async fn wait_ready(
    child: &mut Child,
    plan: &Plan,
    port: u16,
    log: &Path,
) -> Result<tokio_postgres::Client, PgError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(HOST)
        .port(port)
        .user(SUPERUSER)
        .password(plan.password.expose_secret())
        .dbname("postgres")
        .ssl_mode(tokio_postgres::config::SslMode::Disable)
        .connect_timeout(Duration::from_secs(2));
    let deadline = Instant::now() + plan.opts.startup_timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(PgError::ExitedDuringStartup {
                status,
                log: log.to_owned(),
                tail: log_tail(log),
            });
        }
        let attempt = tokio::time::timeout(
            Duration::from_secs(5),
            config.connect(tokio_postgres::NoTls),
        )
        .await;
        if let Ok(Ok((client, connection))) = attempt {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            return Ok(client);
        }
        if Instant::now() >= deadline {
            return Err(PgError::StartupTimeout {
                port,
                timeout: plan.opts.startup_timeout,
                log: log.to_owned(),
                tail: log_tail(log),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_databases(
    client: &tokio_postgres::Client,
    databases: &[String],
    port: u16,
) -> Result<(), PgError> {
    for db in databases {
        client
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(db)))
            .await
            .map_err(|source| PgError::Sql {
                what: format!("creating database {db}"),
                port,
                source,
            })?;
    }
    Ok(())
}

fn port_was_taken(log: &Path) -> bool {
    let tail = log_tail(log);
    tail.contains("could not bind") || tail.contains("Address already in use")
}

/// The last lines of the server log, for error messages.
fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Stops the server (fast shutdown, escalating), makes sure no process of the cluster is left,
/// then removes the directory unless it is to be kept.
fn shut_down(dir: &Path, child: Option<Child>, keep: bool) -> Result<(), PgError> {
    if let Some(mut child) = child
        && matches!(child.try_wait(), Ok(None))
    {
        let pid = i32::try_from(child.id()).unwrap_or(-1);
        procfs::signal(pid, Signal::SIGINT);
        if !wait_child(&mut child, FAST_SHUTDOWN_LIMIT) {
            tracing::warn!(pid, "fast shutdown timed out; sending SIGQUIT");
            procfs::signal(pid, Signal::SIGQUIT);
            if !wait_child(&mut child, Duration::from_secs(5)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let (_, survivors) = procfs::terminate_all_in(dir, None);
    if !survivors.is_empty() {
        return Err(PgError::StopFailed {
            dir: dir.to_owned(),
            pids: survivors,
        });
    }
    if !keep {
        fs::remove_dir_all(dir).map_err(io_err("removing the cluster directory", dir))?;
    }
    Ok(())
}

/// Waits up to `limit` for the child to exit; true if it did.
fn wait_child(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() >= deadline => return false,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;

    #[test]
    fn urls_never_carry_a_password_and_are_encoded() {
        assert_eq!(percent_encode("canton_dr_reader"), "canton_dr_reader");
        assert_eq!(percent_encode("a b/c@d"), "a%20b%2Fc%40d");
    }

    #[test]
    fn identifiers_and_conf_values_are_quoted() {
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(conf_quote("it's a \\ test"), "'it''s a \\\\ test'");
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
