//! What happens to a running step when the tool is killed with SIGKILL (T17, second part):
//! with `TerminateWithTool` the step ends; with `KeepRunning` it survives and `group_status`
//! finds it by the pid and start time the tool would have journaled.
//!
//! The "tool" is this test binary run again as a helper process, which spawns a step and is
//! then killed by the test.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use canton_dr::engine::process::{
    GroupStatus, OrphanPolicy, ProcessRunner, ProcessSpec, group_status, terminate_group,
};

const ROLE: &str = "CANTON_DR_ORPHAN_HELPER";
const TEST_NAME: &str = "steps_follow_their_orphan_policy_when_the_tool_is_killed";

#[test]
fn steps_follow_their_orphan_policy_when_the_tool_is_killed() {
    if let Ok(policy) = std::env::var(ROLE) {
        helper(&policy);
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for policy in ["terminate", "keep"] {
        let exe = std::env::current_exe().expect("current exe");
        let mut tool = Helper(
            Command::new(exe)
                .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
                .env(ROLE, policy)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the helper"),
        );
        let stdout = tool.0.stdout.take().expect("helper stdout");
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.find("READY ").map(|at| l[at..].to_string()))
            .expect("the helper reports its step");
        // libtest may print "test NAME ... " on the same line first.
        let fields: Vec<&str> = ready.split_whitespace().collect();
        let pgid: u32 = fields[1].parse().expect("pgid");
        let start: u64 = fields[2].parse().expect("start time");
        assert_eq!(
            fields[3], "alive",
            "{policy}: the step must survive the retirement of the thread that asked for it"
        );

        tool.0.kill().expect("SIGKILL the tool");
        tool.0.wait().expect("reap the tool");

        match policy {
            "terminate" => {
                // The death signal is sent as the tool dies; the step then needs a moment.
                let mut status = group_status(pgid, start);
                for _ in 0..500 {
                    if status != GroupStatus::Alive {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    status = group_status(pgid, start);
                }
                assert!(
                    matches!(status, GroupStatus::Gone | GroupStatus::Reused),
                    "{policy}: step still {status:?}"
                );
            }
            _ => {
                assert_eq!(group_status(pgid, start), GroupStatus::Alive, "{policy}");
                std::thread::sleep(Duration::from_millis(300));
                assert_eq!(group_status(pgid, start), GroupStatus::Alive, "{policy}");
                runtime
                    .block_on(terminate_group(pgid, Duration::from_secs(5)))
                    .expect("terminate the orphan");
                assert_eq!(group_status(pgid, start), GroupStatus::Gone);
            }
        }
    }
}

/// Kills the helper if an assertion fails before the test kills it on purpose.
struct Helper(std::process::Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The helper "tool": spawns `sleep 1000` from a blocking-pool thread that the runtime retires
/// right after, reports the spawn, and waits to be killed.
fn helper(policy: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_keep_alive(Duration::from_millis(10))
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut spec = ProcessSpec::argv("sleep", ["1000"], Duration::from_secs(600));
        spec.orphan_policy = if policy == "keep" {
            OrphanPolicy::KeepRunning
        } else {
            OrphanPolicy::TerminateWithTool
        };
        let handle = tokio::runtime::Handle::current();
        let running =
            tokio::task::spawn_blocking(move || handle.block_on(ProcessRunner::new().spawn(spec)))
                .await
                .expect("join")
                .expect("spawn");
        // Long enough for the idle blocking thread to be retired (keep-alive 10 ms).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let info = running.info();
        let alive = group_status(info.pgid, info.start_time) == GroupStatus::Alive;
        println!(
            "READY {} {} {}",
            info.pgid,
            info.start_time,
            if alive { "alive" } else { "dead" }
        );
        let _keep = running;
        std::future::pending::<()>().await;
    });
}
