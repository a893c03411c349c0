//! The command-step process runner against real processes: injection (T16), timeouts and
//! process groups (T17), secrets in the environment only, output capping, group status.

use std::path::Path;
use std::time::Duration;

use canton_dr::engine::process::{
    ExitKind, GroupStatus, InheritEnv, KillSignal, LiveOutput, OutputLine, ProcessError,
    ProcessOutcome, ProcessRunner, ProcessSpec, StreamKind, combined_output_digest, group_status,
    terminate_group,
};
use canton_dr::secret::SecretRegistry;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

const LONG: Duration = Duration::from_secs(600);

async fn run(spec: ProcessSpec) -> ProcessOutcome {
    ProcessRunner::new()
        .spawn(spec)
        .await
        .expect("spawn")
        .wait()
        .await
        .expect("wait")
}

fn group_exists(pgid: u32) -> bool {
    kill(Pid::from_raw(-(pgid as i32)), None) != Err(Errno::ESRCH)
}

fn injection_values(dir: &Path) -> Vec<String> {
    let target = dir.join("pwned");
    let t = target.display();
    vec![
        format!("'; touch {t}; echo '"),
        format!("$(touch {t})"),
        format!("`touch {t}`\"; touch {t}; \""),
    ]
}

#[tokio::test]
async fn t16_operator_values_reach_argv_steps_verbatim() {
    let dir = tempfile::tempdir().expect("tempdir");
    for value in injection_values(dir.path()) {
        let out = run(ProcessSpec::argv("printf", ["%s", value.as_str()], LONG)).await;
        assert_eq!(out.status, ExitKind::Exited(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout), value);
        assert!(
            !dir.path().join("pwned").exists(),
            "argv step ran {value:?}"
        );
    }
}

#[tokio::test]
async fn t16_operator_values_reach_shell_steps_through_env_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    for value in injection_values(dir.path()) {
        let spec = ProcessSpec::shell(
            "/bin/sh",
            r#"printf %s "$VALUE""#,
            vec![("VALUE".into(), value.clone())],
            LONG,
        );
        assert!(!spec.args.iter().any(|a| a.contains(&value)));
        let out = run(spec).await;
        assert_eq!(out.status, ExitKind::Exited(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout), value);
        assert!(
            !dir.path().join("pwned").exists(),
            "shell step ran {value:?}"
        );
    }
}

#[tokio::test]
async fn t17_timeout_terminates_the_whole_group_with_sigterm() {
    let mut spec = ProcessSpec::argv(
        "sh",
        ["-c", "sleep 1000 & sleep 1000"],
        Duration::from_secs(1),
    );
    spec.grace = Duration::from_secs(5);
    let running = ProcessRunner::new().spawn(spec).await.expect("spawn");
    let info = running.info();
    assert_eq!(info.pid, info.pgid);
    assert_eq!(group_status(info.pgid, info.start_time), GroupStatus::Alive);
    let out = running.wait().await.expect("wait");
    assert_eq!(
        out.status,
        ExitKind::TimedOut {
            killed_with: KillSignal::Term
        }
    );
    assert_eq!(
        kill(Pid::from_raw(-(info.pgid as i32)), None),
        Err(Errno::ESRCH)
    );
    assert!(out.survivors.is_empty());
    assert_eq!(group_status(info.pgid, info.start_time), GroupStatus::Gone);
}

#[tokio::test]
async fn t17_a_group_that_ignores_sigterm_gets_sigkill() {
    let mut spec = ProcessSpec::argv(
        "sh",
        ["-c", "trap '' TERM; sleep 1000 & sleep 1000"],
        Duration::from_secs(1),
    );
    spec.grace = Duration::from_secs(1);
    let running = ProcessRunner::new().spawn(spec).await.expect("spawn");
    let pgid = running.info().pgid;
    let out = running.wait().await.expect("wait");
    assert_eq!(
        out.status,
        ExitKind::TimedOut {
            killed_with: KillSignal::Kill
        }
    );
    assert_eq!(KillSignal::Kill.number(), Signal::SIGKILL as i32);
    assert_eq!(kill(Pid::from_raw(-(pgid as i32)), None), Err(Errno::ESRCH));
}

#[tokio::test]
async fn cancellation_takes_the_same_termination_path() {
    let running = ProcessRunner::new()
        .spawn(ProcessSpec::argv(
            "sh",
            ["-c", "sleep 1000 & sleep 1000"],
            LONG,
        ))
        .await
        .expect("spawn");
    let pgid = running.info().pgid;
    let cancel = running.cancel_handle();
    let waiter = tokio::spawn(running.wait());
    cancel.cancel();
    let out = waiter.await.expect("join").expect("wait");
    assert_eq!(
        out.status,
        ExitKind::Cancelled {
            killed_with: KillSignal::Term
        }
    );
    assert!(!group_exists(pgid));
}

#[tokio::test]
async fn a_descendant_outside_the_group_holding_the_pipes_cannot_hang_wait() {
    // setsid moves the background sleep into its own session and group: the group kill does
    // not reach it, and it keeps stdout open.
    let mut spec = ProcessSpec::argv(
        "sh",
        ["-c", "setsid sleep 1000 & echo $!; sleep 1000"],
        Duration::from_secs(1),
    );
    spec.grace = Duration::from_millis(300);
    let out = run(spec).await;
    assert!(
        matches!(out.status, ExitKind::TimedOut { .. }),
        "{:?}",
        out.status
    );
    assert!(!out.output_complete);
    let escaped: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("pid of the escaped process");
    assert_eq!(
        kill(Pid::from_raw(escaped), None),
        Ok(()),
        "it is still alive"
    );
    kill(Pid::from_raw(escaped), Signal::SIGKILL).expect("clean up");
}

#[tokio::test]
async fn background_processes_left_after_a_normal_exit_are_reported() {
    let mut spec = ProcessSpec::argv("sh", ["-c", "sleep 1000 & echo started"], LONG);
    spec.grace = Duration::from_millis(300);
    let running = ProcessRunner::new().spawn(spec).await.expect("spawn");
    let info = running.info();
    let out = running.wait().await.expect("wait");
    assert_eq!(out.status, ExitKind::Exited(0));
    assert_eq!(out.stdout, b"started\n");
    assert!(!out.output_complete, "the background sleep holds stdout");
    assert_eq!(out.survivors.len(), 1, "{:?}", out.survivors);
    assert_eq!(
        group_status(info.pgid, info.start_time),
        GroupStatus::LeaderGone {
            members: out.survivors.clone()
        }
    );
    let sig = terminate_group(info.pgid, Duration::from_secs(5))
        .await
        .expect("terminate");
    assert_eq!(sig, KillSignal::Term);
    assert!(!group_exists(info.pgid));
    assert_eq!(group_status(info.pgid, info.start_time), GroupStatus::Gone);
}

#[tokio::test]
async fn group_status_tells_a_reused_pid_from_a_live_group() {
    let running = ProcessRunner::new()
        .spawn(ProcessSpec::argv("sleep", ["1000"], LONG))
        .await
        .expect("spawn");
    let info = running.info();
    assert_eq!(group_status(info.pgid, info.start_time), GroupStatus::Alive);
    // A journal from before a reboot or a pid wrap-around: same number, another process.
    assert_eq!(
        group_status(info.pgid, info.start_time.wrapping_sub(1)),
        GroupStatus::Reused
    );
    running.cancel_handle().cancel();
    let out = running.wait().await.expect("wait");
    assert!(matches!(out.status, ExitKind::Cancelled { .. }));
    assert_eq!(group_status(info.pgid, info.start_time), GroupStatus::Gone);
}

#[tokio::test]
async fn secrets_travel_in_the_environment_never_in_argv() {
    let canary = format!("canary-secret-{}", std::process::id());
    let mut spec = ProcessSpec::argv("sleep", ["1000"], LONG);
    spec.secret_env = vec![("STEP_TOKEN".into(), SecretString::from(canary.clone()))];
    spec.env = vec![("PLAIN".into(), "visible".into())];
    assert!(
        !format!("{spec:?}").contains(&canary),
        "Debug shows no secret"
    );
    let running = ProcessRunner::new().spawn(spec).await.expect("spawn");
    let pid = running.info().pid;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    running.cancel_handle().cancel();
    running.wait().await.expect("wait");
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert_eq!(cmdline, "sleep\u{0}1000\u{0}");
    let vars: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(vars.contains(&format!("STEP_TOKEN={canary}")), "{vars:?}");
    assert!(vars.contains(&"PLAIN=visible".to_string()));
    // The tool's own environment is not passed on by default (cargo sets this one for tests).
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    assert!(!vars.iter().any(|v| v.starts_with("CARGO_MANIFEST_DIR=")));
    assert!(vars.iter().any(|v| v.starts_with("PATH=")));
}

#[tokio::test]
async fn a_shell_step_reads_its_secret_from_the_environment() {
    let canary = "canary-shell-secret-7f3a";
    let mut spec = ProcessSpec::shell("/bin/sh", r#"printf %s "$DB_PASSWORD""#, vec![], LONG);
    spec.secret_env = vec![("DB_PASSWORD".into(), SecretString::from(canary))];
    let out = run(spec).await;
    assert_eq!(out.stdout, canary.as_bytes());
    let registry = SecretRegistry::new();
    registry.register(&SecretString::from(canary));
    let redacted = out.redacted(&registry.redactor());
    assert_eq!(redacted.stdout.text, "<redacted:registered>");
}

#[tokio::test]
async fn full_inheritance_passes_the_environment_minus_removed_names() {
    let script = r#"printf '%s|%s' "${CARGO_MANIFEST_DIR:-unset}" "${CARGO_PKG_NAME:-unset}""#;
    let mut spec = ProcessSpec::shell("sh", script, vec![], LONG);
    spec.inherit_env = InheritEnv::Full {
        remove: vec!["CARGO_PKG_NAME".into()],
    };
    let out = run(spec).await;
    let expected = format!("{}|unset", env!("CARGO_MANIFEST_DIR"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[tokio::test]
async fn output_is_capped_counted_and_hashed_in_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big");
    let data: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &data).expect("write");
    let mut spec = ProcessSpec::argv(
        "sh",
        [
            "-c".to_string(),
            format!("cat '{}'; echo oops >&2", path.display()),
        ],
        LONG,
    );
    spec.output_cap = 4096;
    let out = run(spec).await;
    assert_eq!(out.status, ExitKind::Exited(0));
    assert_eq!(out.stdout, data[..4096]);
    assert_eq!(out.stdout_total, data.len() as u64);
    let stdout_sha: [u8; 32] = Sha256::digest(&data).into();
    let stderr_sha: [u8; 32] = Sha256::digest(b"oops\n").into();
    assert_eq!(out.stdout_sha256, hex::encode(stdout_sha));
    assert_eq!(out.stderr, b"oops\n");
    assert_eq!(out.stderr_total, 5);
    assert_eq!(out.stderr_sha256, hex::encode(stderr_sha));
    assert_eq!(
        out.output_sha256,
        combined_output_digest(&stdout_sha, &stderr_sha)
    );
    assert!(out.output_complete);
}

#[tokio::test]
async fn stdin_bytes_are_written_then_closed() {
    let mut spec = ProcessSpec::argv("cat", Vec::<String>::new(), LONG);
    spec.stdin = Some(b"line one\nline two".to_vec());
    let out = run(spec).await;
    assert_eq!(out.stdout, b"line one\nline two");
    // Without stdin bytes the child reads /dev/null and does not block.
    let out = run(ProcessSpec::argv("cat", Vec::<String>::new(), LONG)).await;
    assert_eq!(out.status, ExitKind::Exited(0));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn exit_codes_and_signals_are_reported() {
    let out = run(ProcessSpec::argv("sh", ["-c", "exit 3"], LONG)).await;
    assert_eq!(out.status, ExitKind::Exited(3));
    assert!(!out.status.success());
    let out = run(ProcessSpec::argv("sh", ["-c", "kill -USR1 $$"], LONG)).await;
    assert_eq!(out.status, ExitKind::Signaled(Signal::SIGUSR1 as i32));
    let out = run(ProcessSpec::argv("true", Vec::<String>::new(), LONG)).await;
    assert!(out.status.success());
}

#[tokio::test]
async fn live_lines_arrive_redacted() {
    let registry = SecretRegistry::new();
    registry.register(&SecretString::from("canary-live-secret"));
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let mut spec = ProcessSpec::argv(
        "sh",
        [
            "-c",
            "echo first; echo token canary-live-secret; echo err >&2; printf last",
        ],
        LONG,
    );
    spec.live = Some(LiveOutput {
        lines: tx,
        registry,
    });
    let out = run(spec).await;
    assert_eq!(out.status, ExitKind::Exited(0));
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    while let Ok(OutputLine { stream, text }) = rx.try_recv() {
        match stream {
            StreamKind::Stdout => stdout.push(text),
            StreamKind::Stderr => stderr.push(text),
        }
    }
    assert_eq!(stdout, vec!["first", "token <redacted:registered>", "last"]);
    assert_eq!(stderr, vec!["err"]);
}

#[tokio::test]
async fn a_missing_program_is_a_named_spawn_error() {
    let err = ProcessRunner::new()
        .spawn(ProcessSpec::argv(
            "canton-dr-no-such-program",
            ["--secret-looking-arg"],
            LONG,
        ))
        .await
        .expect_err("no such program");
    assert!(matches!(err, ProcessError::Spawn { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("canton-dr-no-such-program"), "{msg}");
    assert!(!msg.contains("--secret-looking-arg"), "{msg}");
    let mut spec = ProcessSpec::argv("true", Vec::<String>::new(), LONG);
    spec.env = vec![("BAD=NAME".into(), "x".into())];
    let err = ProcessRunner::new()
        .spawn(spec)
        .await
        .expect_err("bad env name");
    assert!(matches!(err, ProcessError::InvalidEnvName { .. }), "{err}");
}

#[tokio::test]
async fn dropping_an_unfinished_step_kills_its_group() {
    let running = ProcessRunner::new()
        .spawn(ProcessSpec::argv(
            "sh",
            ["-c", "sleep 1000 & sleep 1000"],
            LONG,
        ))
        .await
        .expect("spawn");
    let info = running.info();
    drop(running);
    // SIGKILL is immediate; the orphaned sleep is reaped by init, which may take a moment.
    let mut gone = false;
    for _ in 0..500 {
        if matches!(
            group_status(info.pgid, info.start_time),
            GroupStatus::Gone | GroupStatus::Reused
        ) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "group {} still has live members", info.pgid);
}
