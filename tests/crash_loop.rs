//! T1: the real binary, killed with SIGKILL at random points of a headless run, again and again.
//! After each kill: every record the run acknowledged (printed) is in the journal, the journal is
//! a gap-free chain, the replayed state is not behind what was acknowledged, and a side-effecting
//! step left without an outcome is reported as in doubt. Then the incident is resumed to the end.
//!
//! `CANTON_DR_CRASH_ITERATIONS` sets the number of kills (default 200; the nightly run uses more).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use canton_dr::engine::record::Event;
use rand::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_canton-dr");

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/runbooks/crash")
        .join(name)
}

fn write_profile(dir: &Path) -> PathBuf {
    let path = dir.join("profile.toml");
    let text = format!(
        r#"name = "crash-test"

[params]
log = "{}"

[commands.append]
script = 'printf "%s\n" "$LINE" >> "$LOG"'

[commands.slow_append]
script = 'sleep 0.03; printf "%s\n" "$LINE" >> "$LOG"'
"#,
        dir.join("log.txt").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn canton_dr(data: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("CANTON_DR_DATA", data)
        .env("CANTON_DR_OPERATOR", "crash-loop")
        .env_remove("NO_COLOR");
    c
}

/// The acknowledgement tags (`#seq head-prefix`) a run printed, in order.
fn tags(lines: &[String]) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for line in lines {
        for part in line.split(" · ") {
            if let Some(rest) = part.trim().strip_prefix('#') {
                let mut it = rest.split_whitespace();
                if let (Some(seq), Some(head)) = (it.next(), it.next())
                    && let Ok(seq) = seq.parse::<u64>()
                {
                    out.push((seq, head.to_owned()));
                }
            }
        }
    }
    out
}

struct Killed {
    lines: Vec<String>,
}

/// Starts a headless run and kills it after `delay`.
fn run_and_kill(data: &Path, profile: &Path, delay: Duration) -> Killed {
    let mut child = canton_dr(data)
        .args([
            "run",
            corpus("crash.toml").to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
        ])
        .args(["--answers", corpus("answers.toml").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(delay);
    // SIGKILL: no chance to clean up, as in a crash.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    Killed {
        lines: reader.join().unwrap(),
    }
}

fn only_incident(data: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(data.join("incidents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn resume(data: &Path, answers: &str) -> (i32, String) {
    // A step's processes outlive the killed tool briefly (the parent-death signal reaches the
    // group leader only); while any lives, resume refuses a re-run. Wait for them to finish.
    for _ in 0..50 {
        let out = canton_dr(data)
            .args(["resume", "--answers", corpus(answers).to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !text.contains("still running from before the crash") {
            return (out.status.code().unwrap_or(-1), text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("a step stayed running for 5 s after the tool was killed");
}

#[test]
fn kill_nine_at_random_points_loses_nothing_acknowledged() {
    let iterations: usize = std::env::var("CANTON_DR_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("CANTON_DR_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261122);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // One uninterrupted run to learn how long a run takes here.
    let scratch = tempfile::tempdir().unwrap();
    let profile = write_profile(scratch.path());
    let started = Instant::now();
    let full = canton_dr(&scratch.path().join("data"))
        .args([
            "run",
            corpus("crash.toml").to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
        ])
        .args(["--answers", corpus("answers.toml").to_str().unwrap()])
        .output()
        .unwrap();
    let span = started.elapsed();
    assert_eq!(
        full.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&full.stdout)
    );

    let (mut torn, mut in_doubt, mut clean) = (0, 0, 0);
    for i in 0..iterations {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let profile = write_profile(dir.path());
        let delay =
            Duration::from_micros(rng.random_range(0..(span.as_micros() as u64 * 11 / 10).max(1)));
        let killed = run_and_kill(&data, &profile, delay);
        let acked = tags(&killed.lines);
        if !data.join("incidents").exists()
            || std::fs::read_dir(data.join("incidents"))
                .unwrap()
                .next()
                .is_none()
        {
            // Killed before the incident existed; nothing was acknowledged.
            assert!(
                acked.is_empty(),
                "iteration {i}: acknowledged {acked:?} without an incident"
            );
            continue;
        }
        let incident = only_incident(&data);
        if !incident.join("journal.rbj").exists() {
            // Killed inside the atomic create: no journal at all, and nothing acknowledged.
            assert!(
                acked.is_empty(),
                "iteration {i}: acknowledged {acked:?} without a journal"
            );
            continue;
        }
        let bytes = std::fs::read(incident.join("journal.rbj")).unwrap();
        let scan = match canton_dr::journal::scan(&bytes) {
            Ok(s) => s,
            // A kill during the atomic create leaves at most an empty, valid journal or none.
            Err(e) => panic!("iteration {i}: the journal does not scan: {e}"),
        };
        assert!(
            matches!(
                scan.tail,
                canton_dr::journal::Tail::Clean | canton_dr::journal::Tail::Torn { .. }
            ),
            "iteration {i}: a kill left {:?}",
            scan.tail
        );
        if matches!(scan.tail, canton_dr::journal::Tail::Torn { .. }) {
            torn += 1;
        } else {
            clean += 1;
        }
        // Every acknowledged record is there, with the chain value that was shown.
        for (seq, prefix) in &acked {
            let rec = scan.records.get(*seq as usize).unwrap_or_else(|| {
                panic!(
                    "iteration {i}: acknowledged record {seq} is missing ({} on disk)",
                    scan.records.len()
                )
            });
            assert!(
                hex::encode(rec.hash).starts_with(prefix.as_str()),
                "iteration {i}: record {seq} differs from what was acknowledged"
            );
        }
        // Reopen as resume does: repairs a torn tail, replays, holds the lock.
        // A step process forked at the moment of the kill holds the lock until its exec closes
        // the descriptor (close-on-exec): give it a moment.
        let mut opened = canton_dr::engine::incident::Incident::open(
            &incident,
            &support::World::operator(),
            &canton_dr::clock::SystemClock,
        );
        for _ in 0..40 {
            match &opened {
                Err(e) if e.to_string().contains("is held by") => {
                    std::thread::sleep(Duration::from_millis(50));
                    opened = canton_dr::engine::incident::Incident::open(
                        &incident,
                        &support::World::operator(),
                        &canton_dr::clock::SystemClock,
                    );
                }
                _ => break,
            }
        }
        let opened = match opened {
            Ok(o) => o,
            Err(e) if e.to_string().contains("never opened") || e.to_string().contains("empty") => {
                continue;
            }
            Err(e) => panic!("iteration {i}: cannot reopen: {e}"),
        };
        let state = opened.state.clone();
        assert_eq!(
            support::fingerprint(&state),
            support::fingerprint(&support::replay_dir(&incident))
        );
        // Not behind: every step the run reported settled is settled in the recovered state.
        let records = support::read_journal(&incident);
        for r in records
            .iter()
            .take(acked.last().map_or(0, |(s, _)| *s as usize + 1))
        {
            if let Event::StepCompleted { step, .. } | Event::StepSkipped { step, .. } = &r.event {
                let idx = state.runbook.index_of(step).unwrap();
                assert!(
                    state.steps[idx].status.is_settled(),
                    "iteration {i}: step {step} went back"
                );
            }
        }
        // A side-effecting step that started and has no outcome is reported as in doubt.
        let doubtful: Vec<String> = state
            .in_doubt()
            .iter()
            .map(|&k| state.runbook.steps[k].id.clone())
            .collect();
        let unfinished_commands: Vec<String> = {
            let mut started: Vec<String> = Vec::new();
            for r in &records {
                match &r.event {
                    Event::StepStarted {
                        step,
                        side_effects: true,
                        ..
                    } => started.push(step.clone()),
                    Event::StepCompleted { step, .. }
                    | Event::StepFailed { step, .. }
                    | Event::StepTimedOut { step, .. }
                    | Event::StepSkipped { step, .. } => started.retain(|s| s != step),
                    _ => {}
                }
            }
            started
        };
        assert_eq!(doubtful, unfinished_commands, "iteration {i}");
        drop(opened);
        if !doubtful.is_empty() {
            in_doubt += 1;
            let (code, out) = resume(&data, "answers.toml");
            assert_eq!(
                code, 4,
                "iteration {i}: resume without a decision must stop: {out}"
            );
            assert!(out.contains("in doubt"), "iteration {i}: {out}");
        }
        // Every fifth iteration, and after each in-doubt one, finish the run.
        if state.finish.is_none() && (!doubtful.is_empty() || i % 5 == 0) {
            let (code, out) = resume(&data, "answers-in-doubt.toml");
            assert_eq!(code, 0, "iteration {i}: resume did not complete: {out}");
            let done = support::replay_dir(&incident);
            assert!(done.all_settled(), "iteration {i}");
            assert!(matches!(
                done.finish,
                Some(canton_dr::engine::state::Finish::Completed)
            ));
        }
    }
    eprintln!(
        "{iterations} kills: {clean} clean tails, {torn} torn tails repaired, {in_doubt} in-doubt steps decided"
    );
}

/// Waits until the run has spawned its long step, then kills the tool.
fn kill_during_long_step(data: &Path, runbook: &Path, profile: &Path) -> Vec<String> {
    let mut child = canton_dr(data)
        .args([
            "run",
            runbook.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
        ])
        .args(["--answers", corpus("answers.toml").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let spawned = line.contains("sleep 1000");
        lines.push(line);
        if spawned {
            break;
        }
    }
    // The intent record is synced before the program starts; give the spawn record a moment.
    std::thread::sleep(Duration::from_millis(300));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    lines
}

fn long_step_world(keep_running: bool) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("long.toml");
    std::fs::write(
        &runbook,
        format!(
            r#"id = "long"
title = "A long step"
source = "tests"
recovery_budget = "5m"

[[step]]
id = "restore"
kind = "command"
title = "A restore that takes long"
argv = ["sleep", "1000"]
timeout = "1h"
keep_running_on_exit = {keep_running}

[[step]]
id = "after"
kind = "manual"
title = "After"
"#
        ),
    )
    .unwrap();
    let profile = dir.path().join("profile.toml");
    std::fs::write(&profile, "name = \"long\"\n").unwrap();
    (dir, runbook, profile)
}

/// T17, the crash half: a step that keeps running when the tool dies is found running on
/// resume and is never offered for a blind re-run; one that does not is terminated with the tool
/// and reported in doubt.
#[test]
fn a_step_still_running_after_a_crash_is_never_rerun_blindly() {
    let (dir, runbook, profile) = long_step_world(true);
    let data = dir.path().join("data");
    let lines = kill_during_long_step(&data, &runbook, &profile);
    assert!(lines.iter().any(|l| l.contains("sleep 1000")), "{lines:?}");
    let incident = only_incident(&data);
    let spawned = support::read_journal(&incident)
        .into_iter()
        .find_map(|r| match r.event {
            Event::StepSpawned {
                pgid, start_time, ..
            } => Some((pgid, start_time)),
            _ => None,
        })
        .expect("the spawn is journaled");
    assert!(matches!(
        canton_dr::engine::process::group_status(spawned.0, spawned.1),
        canton_dr::engine::process::GroupStatus::Alive
    ));
    let answers = dir.path().join("rerun.toml");
    std::fs::write(
        &answers,
        "[defaults]\nconfirm_manual = true\n[steps.restore]\nin_doubt = \"rerun\"\n",
    )
    .unwrap();
    let rerun = canton_dr(&data)
        .args(["resume", "--answers", answers.to_str().unwrap()])
        .output()
        .unwrap();
    let rerun_out = String::from_utf8_lossy(&rerun.stdout).into_owned();
    // Clean up the step before asserting, so a failure leaves nothing behind.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(spawned.0 as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert_eq!(rerun.status.code(), Some(4), "{rerun_out}");
    assert!(
        rerun_out.contains("still running from before the crash"),
        "{rerun_out}"
    );
    // Once the old process is gone, the same decision is accepted and the run completes.
    std::thread::sleep(Duration::from_millis(200));
    let mark_done = dir.path().join("done.toml");
    std::fs::write(
        &mark_done,
        "[defaults]\nconfirm_manual = true\n[steps.restore]\nin_doubt = \"mark_done\"\nevidence = \"killed by the test\"\n",
    )
    .unwrap();
    let done = canton_dr(&data)
        .args(["resume", "--answers", mark_done.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stdout)
    );
}

#[test]
fn a_step_is_terminated_with_the_tool_and_reported_in_doubt() {
    let (dir, runbook, profile) = long_step_world(false);
    let data = dir.path().join("data");
    kill_during_long_step(&data, &runbook, &profile);
    let incident = only_incident(&data);
    let (pgid, start) = support::read_journal(&incident)
        .into_iter()
        .find_map(|r| match r.event {
            Event::StepSpawned {
                pgid, start_time, ..
            } => Some((pgid, start_time)),
            _ => None,
        })
        .expect("the spawn is journaled");
    // The parent-death signal ended the step with the tool.
    let mut status = canton_dr::engine::process::group_status(pgid, start);
    for _ in 0..50 {
        if !matches!(status, canton_dr::engine::process::GroupStatus::Alive) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        status = canton_dr::engine::process::group_status(pgid, start);
    }
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(
        !matches!(status, canton_dr::engine::process::GroupStatus::Alive),
        "{status:?}"
    );
    let (code, out) = resume(&data, "answers.toml");
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("in doubt"), "{out}");
}
