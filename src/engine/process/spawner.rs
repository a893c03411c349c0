//! The one long-lived thread that forks every step process.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, not when the tool
//! exits. Forked from a tokio worker or blocking-pool thread, a step would be sent SIGTERM
//! whenever the runtime retires that thread (blocking threads are retired after ten idle
//! seconds; workers go when a runtime shuts down). So every spawn is handed to this thread,
//! which is started once, never exits, and enters the caller's runtime for the duration of
//! the spawn (tokio registers the child with that runtime's process driver). The death
//! signal then means what it should: the tool process itself is gone.

use std::io;
use std::sync::OnceLock;
use std::sync::mpsc as std_mpsc;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use secrecy::ExposeSecret;
use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::procfs;
use super::{InheritEnv, OrphanPolicy, ProcessError, ProcessSpec, SpawnInfo};

/// Environment variables passed on under [`InheritEnv::Minimal`] (plus every `LC_*`).
pub const MINIMAL_ENV: [&str; 9] = [
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
];

type SpawnReply = Result<(Child, SpawnInfo), ProcessError>;

struct SpawnRequest {
    spec: ProcessSpec,
    runtime: Handle,
    reply: oneshot::Sender<SpawnReply>,
}

static SPAWNER: OnceLock<Result<std_mpsc::Sender<SpawnRequest>, String>> = OnceLock::new();

fn spawner() -> Result<&'static std_mpsc::Sender<SpawnRequest>, ProcessError> {
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = std_mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("canton-dr-spawner".into())
                .spawn(move || serve(rx))
                .map(|_| tx)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| ProcessError::Spawner {
            reason: reason.clone(),
        })
}

fn serve(requests: std_mpsc::Receiver<SpawnRequest>) {
    while let Ok(req) = requests.recv() {
        let _runtime = req.runtime.enter();
        let result = spawn_now(&req.spec);
        if let Err(Ok((_child, info))) = req.reply.send(result) {
            // The caller went away while we spawned: do not leave the step running unmanaged.
            let _ = killpg(Pid::from_raw(info.pgid as i32), Signal::SIGKILL);
        }
    }
}

/// Spawns `spec` on the spawner thread; must be called inside a tokio runtime.
pub(crate) async fn spawn(spec: ProcessSpec) -> SpawnReply {
    let runtime = Handle::try_current().map_err(|_| ProcessError::NoRuntime)?;
    let (reply, answer) = oneshot::channel();
    spawner()?
        .send(SpawnRequest {
            spec,
            runtime,
            reply,
        })
        .map_err(|_| ProcessError::Spawner {
            reason: "the spawner thread has stopped".into(),
        })?;
    answer.await.map_err(|_| ProcessError::Spawner {
        reason: "the spawner thread dropped the request".into(),
    })?
}

fn spawn_now(spec: &ProcessSpec) -> SpawnReply {
    let spawn_err = |source: io::Error| ProcessError::Spawn {
        program: spec.program.clone(),
        source,
    };
    let mut cmd = build(spec)?;
    let child = cmd.spawn().map_err(spawn_err)?;
    let Some(pid) = child.id() else {
        return Err(spawn_err(io::Error::other("the child has no pid")));
    };
    // The child cannot have been reaped yet (only polling the Child reaps it), so its /proc
    // entry exists even if it has already exited.
    match procfs::read_start_time(pid) {
        Ok(start_time) => Ok((
            child,
            SpawnInfo {
                pid,
                pgid: pid,
                start_time,
            },
        )),
        Err(source) => {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            Err(ProcessError::StartTime { pid, source })
        }
    }
}

fn build(spec: &ProcessSpec) -> Result<Command, ProcessError> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args);
    match &spec.inherit_env {
        InheritEnv::Minimal => {
            cmd.env_clear();
            for (key, value) in std::env::vars_os() {
                let keep = key
                    .to_str()
                    .is_some_and(|k| MINIMAL_ENV.contains(&k) || k.starts_with("LC_"));
                if keep {
                    cmd.env(key, value);
                }
            }
        }
        InheritEnv::Full { remove } => {
            for key in remove {
                cmd.env_remove(key);
            }
        }
    }
    for (key, value) in &spec.env {
        check_env_name(key)?;
        cmd.env(key, value);
    }
    for (key, value) in &spec.secret_env {
        check_env_name(key)?;
        cmd.env(key, value.expose_secret());
    }
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(if spec.stdin.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    });
    cmd.stdout(std::process::Stdio::piped());
    cmd.stderr(std::process::Stdio::piped());
    cmd.process_group(0);
    cmd.kill_on_drop(false);
    if spec.orphan_policy == OrphanPolicy::TerminateWithTool {
        let parent = std::process::id();
        let hook = move || -> io::Result<()> {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(io::Error::from)?;
            // The tool may have died between fork and prctl; then the signal never comes.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        };
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe work is allowed. It makes two system calls (prctl, getppid) and
        // builds an io::Error from an errno value; it takes no lock and allocates nothing.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(hook);
        }
    }
    Ok(cmd)
}

fn check_env_name(name: &str) -> Result<(), ProcessError> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Err(ProcessError::InvalidEnvName { name: name.into() });
    }
    Ok(())
}
