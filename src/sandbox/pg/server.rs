//! The keeper thread: it spawns `postgres` (so the server's parent-death signal is tied to a
//! thread that lives exactly as long as the cluster), waits for it to accept connections,
//! waits for the stop request, and shuts the server down.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use secrecy::{ExposeSecret, SecretString};

use super::init::{RunAs, configure, create_cluster_dir, run_initdb};
use super::procfs::{self, ProcessId};
use super::{HOST, PgError, PgOptions, SUPERUSER, ServerBinaries, io_err};

/// How long a fast shutdown may take before it is escalated.
const FAST_SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

/// How many times a port that was taken between choosing and binding is replaced.
const PORT_ATTEMPTS: u32 = 5;

/// What the keeper reports once the server accepts connections.
pub(super) struct Started {
    pub(super) dir: PathBuf,
    pub(super) socket_dir: Option<PathBuf>,
    pub(super) port: u16,
    pub(super) postmaster_pid: i32,
}

/// Everything the keeper thread needs, resolved before it starts.
pub(super) struct Plan {
    pub(super) bins: ServerBinaries,
    pub(super) root: PathBuf,
    pub(super) run_as: Option<RunAs>,
    pub(super) owner: ProcessId,
    pub(super) opts: PgOptions,
    pub(super) password: SecretString,
}

/// A command for one of the server programs: run as the run-as user, with a minimal
/// environment, in its own process group (a terminal's Ctrl-C goes to the owner, which
/// decides), dying with the thread that spawned it.
pub(super) fn server_command(program: &Path, dir: &Path, run_as: Option<&RunAs>) -> Command {
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
pub(super) fn keeper(
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

/// Quotes an SQL identifier.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
