//! Running command steps: one child process in its own process group, with a timeout, a
//! SIGTERM-then-SIGKILL termination of the whole group, capped and hashed output, and secrets
//! passed only through the environment.
//!
//! Two phases, so that the engine can journal the spawn (`STEP_SPAWNED{pid, pgid,
//! proc_start_time}`) before it waits: [`ProcessRunner::spawn`] returns a [`RunningProcess`]
//! whose [`info`](RunningProcess::info) is what to journal, then
//! [`wait`](RunningProcess::wait) gives the [`ProcessOutcome`].
//!
//! After a crash, [`group_status`] tells from the journaled pgid and start time whether the
//! step is still running, and [`terminate_group`] ends it.
//!
//! Orphan policy ([`OrphanPolicy`]): with `TerminateWithTool` the group leader gets
//! `PR_SET_PDEATHSIG(SIGTERM)` and is signalled when the tool process dies (processes it
//! started in the background are not, unless it passes the signal on). Like every death
//! signal it is cleared when the leader execs a set-uid program (`sudo`). With `KeepRunning`
//! the step outlives the tool. Either way `group_status` finds what is left.
//!
//! Secrets: `secret_env` values are exposed only to build the child's environment block. The
//! spec's `SecretString`s are zeroized when dropped, but the copy that the standard library's
//! `Command` makes for `execve` is freed without being wiped. Other users cannot read a
//! process's environment (`/proc/<pid>/environ` is owner-only), while anyone can read its
//! argv, which is why secrets never go there.

mod capture;
mod procfs;
mod spawner;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::secret::{LineRedactor, Redacted, Redactor, SecretRegistry};

use capture::{Capture, LiveSink};

pub use capture::LIVE_LINE_MAX;
pub use procfs::read_start_time;
pub use spawner::MINIMAL_ENV;

/// Default SIGTERM → SIGKILL grace period.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// Default number of bytes kept per output stream.
pub const DEFAULT_OUTPUT_CAP: usize = 64 * 1024;
/// How long to wait, after a group was killed, for its last processes to be reaped.
pub const REAP_WAIT: Duration = Duration::from_secs(5);
/// How often a terminating group is checked.
const POLL: Duration = Duration::from_millis(20);

/// What happens to a running step when the tool itself dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanPolicy {
    /// The group leader gets SIGTERM when the tool dies (`PR_SET_PDEATHSIG`).
    TerminateWithTool,
    /// The step keeps running; a resumed tool finds it through [`group_status`].
    KeepRunning,
}

/// Which of the tool's own environment variables a step sees.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InheritEnv {
    /// Only [`MINIMAL_ENV`] and `LC_*`: the tool's environment may hold secrets (a profile
    /// secret read from a variable), and those must reach no step that was not given them.
    #[default]
    Minimal,
    /// Everything except the listed variables.
    Full { remove: Vec<String> },
}

/// Which output stream a live line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Stdout,
    Stderr,
}

/// One line of live output, already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: StreamKind,
    pub text: String,
}

/// Where to send live output lines (for the UI). Lines are redacted with the registry's
/// current redactor; a full channel drops lines rather than slowing the step down.
#[derive(Debug, Clone)]
pub struct LiveOutput {
    pub lines: mpsc::Sender<OutputLine>,
    pub registry: SecretRegistry,
}

/// A process to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// argv\[0\], looked up on `PATH` by the OS.
    pub program: String,
    /// Whole argv elements, never split again or passed through a shell.
    pub args: Vec<String>,
    /// Plain environment variables.
    pub env: Vec<(String, String)>,
    /// Secret environment variables; secrets go here and never into `args`.
    pub secret_env: Vec<(String, SecretString)>,
    /// Which of the tool's environment the step inherits.
    pub inherit_env: InheritEnv,
    /// Working directory; the tool's own when `None`.
    pub cwd: Option<PathBuf>,
    /// Wall-clock limit, counted from the spawn.
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL; also how long output pipes are drained after the
    /// leader exits.
    pub grace: Duration,
    pub orphan_policy: OrphanPolicy,
    /// Bytes kept per stream; the rest is counted and hashed.
    pub output_cap: usize,
    /// Bytes written to the child's stdin, which is then closed; `/dev/null` when `None`.
    pub stdin: Option<Vec<u8>>,
    /// Live output lines, if wanted.
    pub live: Option<LiveOutput>,
}

impl ProcessSpec {
    /// A program with whole argv elements, with default grace, cap and policy.
    pub fn argv(
        program: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
        timeout: Duration,
    ) -> ProcessSpec {
        ProcessSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            secret_env: Vec::new(),
            inherit_env: InheritEnv::default(),
            cwd: None,
            timeout,
            grace: DEFAULT_GRACE,
            orphan_policy: OrphanPolicy::TerminateWithTool,
            output_cap: DEFAULT_OUTPUT_CAP,
            stdin: None,
            live: None,
        }
    }

    /// `shell -c script`. The script is runbook text only: every operator value reaches it
    /// through `env` (as `"$NAME"`), never spliced into the script or argv.
    pub fn shell(
        shell: impl Into<String>,
        script: impl Into<String>,
        env: Vec<(String, String)>,
        timeout: Duration,
    ) -> ProcessSpec {
        let mut spec = ProcessSpec::argv(shell, ["-c".to_string(), script.into()], timeout);
        spec.env = env;
        spec
    }
}

/// What to journal right after a spawn (`STEP_SPAWNED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnInfo {
    pub pid: u32,
    /// Equal to `pid`: the child leads its own group.
    pub pgid: u32,
    /// Field 22 of `/proc/<pid>/stat`; guards against pid reuse.
    pub start_time: u64,
}

/// The signal that ended a terminated group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillSignal {
    /// The group was gone within the grace period after SIGTERM.
    Term,
    /// SIGKILL was needed.
    Kill,
}

impl KillSignal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            KillSignal::Term => Signal::SIGTERM as i32,
            KillSignal::Kill => Signal::SIGKILL as i32,
        }
    }
}

/// How a step process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// It exited with this status code.
    Exited(i32),
    /// A signal from elsewhere ended it.
    Signaled(i32),
    /// The timeout expired and the group was terminated.
    TimedOut { killed_with: KillSignal },
    /// The operator aborted it and the group was terminated.
    Cancelled { killed_with: KillSignal },
}

impl ExitKind {
    /// True only for `Exited(0)`.
    pub fn success(&self) -> bool {
        *self == ExitKind::Exited(0)
    }
}

/// The result of a finished step process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutcome {
    pub status: ExitKind,
    /// The first `output_cap` bytes of stdout (raw, not yet redacted).
    pub stdout: Vec<u8>,
    /// The first `output_cap` bytes of stderr (raw, not yet redacted).
    pub stderr: Vec<u8>,
    pub stdout_total: u64,
    pub stderr_total: u64,
    /// Hex SHA-256 of the whole stdout.
    pub stdout_sha256: String,
    /// Hex SHA-256 of the whole stderr.
    pub stderr_sha256: String,
    /// Hex SHA-256 over both streams, see [`combined_output_digest`].
    pub output_sha256: String,
    /// From the spawn to the end of the leader (and of the group, when terminated).
    pub duration: Duration,
    /// False when a process outside the group (or left running in it) still held an output
    /// pipe after the drain period; the totals and digests then cover what was read.
    pub output_complete: bool,
    /// Live processes still in the step's group when `wait` returned (background processes
    /// the step left behind on a normal exit; normally none after a termination).
    pub survivors: Vec<u32>,
}

/// Both streams, redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedOutput {
    pub stdout: Redacted,
    pub stderr: Redacted,
}

impl ProcessOutcome {
    /// The captured output passed through `redactor`; a stream that was cut at the cap is
    /// redacted as truncated, so a secret straddling the cut leaves nothing behind.
    pub fn redacted(&self, redactor: &Redactor) -> RedactedOutput {
        let one = |kept: &[u8], total: u64| {
            if kept.len() as u64 == total {
                redactor.redact_bytes(kept)
            } else {
                redactor.redact_truncated_bytes(kept)
            }
        };
        RedactedOutput {
            stdout: one(&self.stdout, self.stdout_total),
            stderr: one(&self.stderr, self.stderr_total),
        }
    }
}

/// The combined output digest: hex SHA-256 of the raw SHA-256 of stdout followed by the raw
/// SHA-256 of stderr (the two streams interleave unpredictably, so each is hashed alone).
pub fn combined_output_digest(stdout_sha256: &[u8; 32], stderr_sha256: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(stdout_sha256);
    h.update(stderr_sha256);
    hex::encode(h.finalize())
}

/// Why a process could not be run or waited for. Messages name the program, never its
/// arguments or environment.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Spawning needs a tokio runtime.
    #[error("process runner used outside a tokio runtime")]
    NoRuntime,
    /// The spawner thread could not be started or has stopped.
    #[error("process spawner unavailable: {reason}")]
    Spawner { reason: String },
    /// An environment variable name is empty or holds `=` or NUL.
    #[error("invalid environment variable name {name:?} for a step process")]
    InvalidEnvName { name: String },
    /// The OS refused to start the program.
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The start time of the new process could not be read (it was killed).
    #[error("cannot read the start time of process {pid} from /proc: {source}")]
    StartTime {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the process failed.
    #[error("waiting for {program} (pid {pid}) failed: {source}")]
    Wait {
        program: String,
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    /// An output reader task failed.
    #[error("reading the output of {program} (pid {pid}) failed: {reason}")]
    Output {
        program: String,
        pid: u32,
        reason: String,
    },
    /// Signalling a process group failed for a reason other than its absence.
    #[error("cannot signal process group {pgid}: {errno}")]
    Signal { pgid: u32, errno: Errno },
}

/// Starts step processes (see the module documentation about the spawner thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessRunner;

impl ProcessRunner {
    /// A runner.
    pub fn new() -> ProcessRunner {
        ProcessRunner
    }

    /// Starts `spec`. The timeout runs from here. Must be called inside a tokio runtime.
    pub async fn spawn(&self, mut spec: ProcessSpec) -> Result<RunningProcess, ProcessError> {
        // Leaves `Some(empty)` behind, which still tells the spawner to pipe stdin.
        let stdin_bytes = spec.stdin.as_mut().map(std::mem::take);
        let live = spec.live.take();
        let program = spec.program.clone();
        let (timeout, grace, cap, policy) = (
            spec.timeout,
            spec.grace,
            spec.output_cap,
            spec.orphan_policy,
        );
        let (mut child, info) = spawner::spawn(spec).await?;
        let started = Instant::now();
        let guard = GroupGuard {
            pgid: info.pgid,
            armed: policy == OrphanPolicy::TerminateWithTool,
        };
        if let (Some(bytes), Some(mut pipe)) = (stdin_bytes, child.stdin.take()) {
            tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            });
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let sink = |stream| {
            live.as_ref().map(|l| {
                LiveSink::new(
                    stream,
                    l.lines.clone(),
                    LineRedactor::new(l.registry.redactor()),
                )
            })
        };
        let stdout = child.stdout.take().map(|out| {
            tokio::spawn(capture::capture(
                out,
                cap,
                stop_rx.clone(),
                sink(StreamKind::Stdout),
            ))
        });
        let stderr = child.stderr.take().map(|err| {
            tokio::spawn(capture::capture(
                err,
                cap,
                stop_rx.clone(),
                sink(StreamKind::Stderr),
            ))
        });
        let (cancel_tx, cancel_rx) = watch::channel(false);
        Ok(RunningProcess {
            program,
            info,
            child,
            stdout,
            stderr,
            stop: stop_tx,
            cancel_tx: Arc::new(cancel_tx),
            cancel_rx,
            started,
            timeout,
            grace,
            guard,
        })
    }
}

/// Kills the group with SIGKILL if a `TerminateWithTool` step is dropped unfinished (its
/// `wait` future dropped, or never called).
struct GroupGuard {
    pgid: u32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = killpg(pgid(self.pgid), Signal::SIGKILL);
        }
    }
}

/// A started step process.
pub struct RunningProcess {
    program: String,
    info: SpawnInfo,
    child: Child,
    stdout: Option<JoinHandle<Capture>>,
    stderr: Option<JoinHandle<Capture>>,
    stop: watch::Sender<bool>,
    cancel_tx: Arc<watch::Sender<bool>>,
    cancel_rx: watch::Receiver<bool>,
    started: Instant,
    timeout: Duration,
    grace: Duration,
    guard: GroupGuard,
}

impl std::fmt::Debug for RunningProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningProcess")
            .field("program", &self.program)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Aborts a running step (the operator's abort): the group is terminated as on timeout.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl CancelHandle {
    /// Requests termination; the pending `wait` then returns `ExitKind::Cancelled`.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }
}

enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Cancelled,
}

impl RunningProcess {
    /// Pid, pgid and start time, to journal before waiting.
    pub fn info(&self) -> SpawnInfo {
        self.info
    }

    /// A handle that aborts this process from elsewhere.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            tx: Arc::clone(&self.cancel_tx),
        }
    }

    /// Waits for the process to exit, or terminates its group on timeout or cancellation,
    /// then collects its output. Returns even if a descendant outside the group keeps the
    /// output pipes open (after draining them for `grace`).
    pub async fn wait(self) -> Result<ProcessOutcome, ProcessError> {
        let RunningProcess {
            program,
            info,
            mut child,
            stdout,
            stderr,
            stop,
            cancel_tx,
            mut cancel_rx,
            started,
            timeout,
            grace,
            mut guard,
        } = self;
        let cancelled = async move {
            if cancel_rx.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let ended = tokio::select! {
            status = child.wait() => Ended::Exited(status.map_err(|source| ProcessError::Wait {
                program: program.clone(),
                pid: info.pid,
                source,
            })?),
            _ = tokio::time::sleep_until(started + timeout) => Ended::TimedOut,
            _ = cancelled => Ended::Cancelled,
        };
        drop(cancel_tx);
        let status = match ended {
            Ended::Exited(status) => exit_kind(status),
            Ended::TimedOut => ExitKind::TimedOut {
                killed_with: terminate(info.pgid, grace, Some(&mut child)).await?,
            },
            Ended::Cancelled => ExitKind::Cancelled {
                killed_with: terminate(info.pgid, grace, Some(&mut child)).await?,
            },
        };
        let duration = started.elapsed();
        guard.armed = false;

        // Give the readers `grace` to reach end-of-file, then stop them.
        let timer = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = stop.send(true);
        });
        let out = join_capture(stdout, &program, info.pid).await;
        let err = join_capture(stderr, &program, info.pid).await;
        timer.abort();
        let (out, err) = (out?, err?);
        Ok(ProcessOutcome {
            status,
            output_sha256: combined_output_digest(&out.sha256, &err.sha256),
            stdout_sha256: hex::encode(out.sha256),
            stderr_sha256: hex::encode(err.sha256),
            stdout_total: out.total,
            stderr_total: err.total,
            output_complete: out.complete && err.complete,
            stdout: out.kept,
            stderr: err.kept,
            duration,
            survivors: procfs::live_members(info.pgid),
        })
    }
}

async fn join_capture(
    handle: Option<JoinHandle<Capture>>,
    program: &str,
    pid: u32,
) -> Result<Capture, ProcessError> {
    match handle {
        Some(h) => h.await.map_err(|e| ProcessError::Output {
            program: program.into(),
            pid,
            reason: e.to_string(),
        }),
        None => Ok(Capture {
            kept: Vec::new(),
            total: 0,
            sha256: Sha256::digest([]).into(),
            complete: true,
        }),
    }
}

fn exit_kind(status: std::process::ExitStatus) -> ExitKind {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitKind::Exited(code),
        (None, Some(sig)) => ExitKind::Signaled(sig),
        (None, None) => ExitKind::Exited(-1),
    }
}

fn pgid(pgid: u32) -> Pid {
    Pid::from_raw(pgid as i32)
}

/// Sends `signal` to the group; a missing group is not an error.
fn signal_group(group: u32, signal: Signal) -> Result<(), ProcessError> {
    match killpg(pgid(group), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(ProcessError::Signal { pgid: group, errno }),
    }
}

/// True when no process, not even a zombie, is left in the group.
fn group_absent(group: u32) -> bool {
    kill(Pid::from_raw(-(group as i32)), None) == Err(Errno::ESRCH)
}

/// SIGTERM to the group, up to `grace` for every live member to end, then SIGKILL; then waits
/// (at most [`REAP_WAIT`]) until the group is empty. `child` is the leader, when it is ours to
/// reap.
async fn terminate(
    group: u32,
    grace: Duration,
    mut child: Option<&mut Child>,
) -> Result<KillSignal, ProcessError> {
    signal_group(group, Signal::SIGTERM)?;
    let deadline = Instant::now() + grace;
    let mut used = KillSignal::Kill;
    loop {
        if let Some(c) = child.as_deref_mut() {
            let _ = c.try_wait();
        }
        if procfs::live_members(group).is_empty() {
            used = KillSignal::Term;
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
    if used == KillSignal::Kill {
        signal_group(group, Signal::SIGKILL)?;
    }
    if let Some(c) = child {
        let _ = c.wait().await;
    }
    // Orphaned members are reaped by init; wait until even their zombies are gone.
    let reap_deadline = Instant::now() + REAP_WAIT;
    while !group_absent(group) && Instant::now() < reap_deadline {
        tokio::time::sleep(POLL).await;
    }
    Ok(used)
}

/// Terminates a whole process group that is not (or no longer) a child of this process, e.g.
/// a step left running by a crashed tool: SIGTERM, up to `grace`, then SIGKILL. Check
/// [`group_status`] first: this signals whatever group now has that id.
pub async fn terminate_group(pgid: u32, grace: Duration) -> Result<KillSignal, ProcessError> {
    terminate(pgid, grace, None).await
}

/// What is left of a journaled process group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    /// The leader is alive and is the same process (same start time).
    Alive,
    /// The leader has ended but processes of its group are still alive (background work it
    /// started). A pgid cannot be reused while any member lives, so these are ours.
    LeaderGone { members: Vec<u32> },
    /// Nothing of the group is left.
    Gone,
    /// The pid now belongs to another process (different start time); the group is gone.
    Reused,
}

/// Looks up a group by the pgid and leader start time journaled at spawn.
pub fn group_status(pgid: u32, start_time: u64) -> GroupStatus {
    match procfs::read_stat(pgid) {
        Ok(stat) if stat.start_time != start_time => GroupStatus::Reused,
        Ok(stat) if stat.is_live() && i64::from(stat.pgrp) == i64::from(pgid) => GroupStatus::Alive,
        _ => {
            let members = procfs::live_members(pgid);
            if members.is_empty() {
                GroupStatus::Gone
            } else {
                GroupStatus::LeaderGone { members }
            }
        }
    }
}
