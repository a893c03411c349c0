#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed assertion
//! Whole drills of the real binary against its real sandbox (PostgreSQL, the simulated
//! participant over loopback gRPC, pg_dump backups): both disasters, the validator backup and
//! every fault scenario with `--auto`, a drill killed with SIGKILL and resumed, a drill whose world died, and the
//! `sandbox up`/`ctl` commands. After every test no sandbox process, PostgreSQL server or
//! sandbox directory is left (checked in /proc and on disk).
//!
//! Drills run one at a time (the machine has two cores).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use canton_dr::engine::state::{IncidentState, StepStatus};
use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_canton-dr")
}

/// A data directory of its own.
fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("canton-dr-drill-test-")
        .tempdir()
        .unwrap()
}

fn command(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("CANTON_DR_OPERATOR", "drill-test")
        .env_remove("CANTON_DR_SANDBOX_TOKEN")
        .env_remove("CANTON_DR_SANDBOX_DB_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for a child with a generous bound (a hung drill fails the test instead of hanging it).
fn finish(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "no result within {}s\nstdout:\n{}\nstderr:\n{}",
                limit.as_secs(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(data: &Path, args: &[&str]) -> Output {
    finish(
        command(data, args).spawn().unwrap(),
        Duration::from_secs(300),
    )
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The one incident under `data`.
fn incident(data: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(data.join("incidents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// The incident's state, replayed from its journal.
fn state(dir: &Path) -> IncidentState {
    let bytes = std::fs::read(dir.join("journal.rbj")).unwrap();
    let scan = canton_dr::journal::scan(&bytes).unwrap();
    IncidentState::replay(scan.records.iter().map(|r| (r.seq, r.payload.as_slice()))).unwrap()
}

fn status<'a>(s: &'a IncidentState, step: &str) -> &'a StepStatus {
    let i = s.runbook.index_of(step).unwrap();
    &s.steps[i].status
}

/// What `sandbox up --json` printed into the incident's sandbox log.
fn sandbox_info(dir: &Path) -> Value {
    let log = std::fs::read_to_string(dir.join("sandbox.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no sandbox.json line in the log:\n{log}"));
    serde_json::from_str(line).unwrap()
}

/// Live (non-zombie) processes whose argv or working directory mentions `needle`, read from
/// /proc independently of the code under test.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
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
        let argv = std::fs::read(entry.path().join("cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).contains(needle))
            .unwrap_or(false);
        let cwd = std::fs::read_link(entry.path().join("cwd"))
            .map(|p| p.to_string_lossy().contains(needle))
            .unwrap_or(false);
        if argv || cwd {
            found.push(pid);
        }
    }
    found
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next()),
            Some("Z" | "X")
        )
    })
}

/// No sandbox process, PostgreSQL server or sandbox directory of this incident is left.
fn assert_nothing_left(dir: &Path) {
    let info = sandbox_info(dir);
    let pid = info["pid"].as_u64().unwrap();
    let pg_dir = PathBuf::from(info["pg_dir"].as_str().unwrap());
    let sandbox_dir = dir.join("sandbox");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let procs: Vec<i32> = processes_mentioning(&dir.to_string_lossy())
            .into_iter()
            .chain(processes_mentioning(&pg_dir.to_string_lossy()))
            .collect();
        let left = (alive(pid), procs, sandbox_dir.exists(), pg_dir.exists());
        if left == (false, Vec::new(), false, false) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: sandbox alive {}, processes {:?}, sandbox dir {}, cluster dir {}",
            left.0,
            left.1,
            left.2,
            left.3
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops a drill's sandbox that was left running for resume.
fn shut_down(dir: &Path) {
    let out = Command::new(bin())
        .args(["sandbox", "ctl", "--dir"])
        .arg(dir.join("sandbox"))
        .args(["sandbox", "shutdown"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn drill(scenario: &str, runbook: &str) -> (tempfile::TempDir, Output) {
    let data = data_dir();
    let out = run(
        data.path(),
        &["drill", runbook, "--scenario", scenario, "--auto"],
    );
    (data, out)
}

/// The judge's report from the journal.
fn report(s: &IncidentState) -> (String, Value) {
    s.drill.clone().expect("a drill_judged record")
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn assert_passes(scenario: &str, runbook: &str) -> IncidentState {
    let (data, out) = drill(scenario, runbook);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = incident(data.path());
    let s = state(&dir);
    let (verdict, report) = report(&s);
    assert_eq!(verdict, "PASS", "{report:#}");
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["passed"], true, "{c}");
        assert!(!c["evidence"].as_str().unwrap().is_empty());
    }
    let score = &report["score"];
    assert_eq!(
        score["steps"].as_array().unwrap().len(),
        s.runbook.steps.len()
    );
    assert_eq!(score["within_budget"], true);
    assert_eq!(score["skips"], 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("drill verdict: PASS"), "{stdout}");
    assert_nothing_left(&dir);
    s
}

#[test]
fn validator_restore_drill_passes() {
    let _one = serial();
    let s = assert_passes("validator-restore", "validator-restore");
    assert_eq!(s.vars["dars_missing"].to_string(), "1");
    assert!(matches!(
        status(&s, "offset-before-recovery"),
        StepStatus::NotApplicable
    ));
    let (_, report) = report(&s);
    let ev = check(&report, "no-gap")["evidence"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ev.starts_with("all "), "{ev}");
}

#[test]
fn integration_db_restore_drill_passes() {
    let _one = serial();
    let s = assert_passes("integration-db-restore", "integration-db-restore");
    let (_, report) = report(&s);
    let ev = check(&report, "withdrawals-reenabled-after-tsafe")["evidence"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ev.contains("past tSafe"), "{ev}");
    assert!(s.vars.contains_key("recovered_count"));
}

#[test]
fn non_unique_record_times_pass_with_the_just_before_variant() {
    let _one = serial();
    let s = assert_passes("non-unique-record-times", "validator-restore");
    assert!(matches!(
        status(&s, "offset-at-recovery"),
        StepStatus::NotApplicable
    ));
    assert!(matches!(
        status(&s, "offset-before-recovery"),
        StepStatus::Done(_)
    ));
    assert!(matches!(
        status(&s, "skip-known-updates"),
        StepStatus::Done(_)
    ));
}

#[test]
fn a_slow_participant_is_waited_for_and_passes() {
    let _one = serial();
    let s = assert_passes("slow-catch-up", "validator-restore");
    let i = s.runbook.index_of("offset-at-recovery").unwrap();
    assert!(
        s.steps[i].observations >= 2,
        "the participant answered at once; it should have been catching up"
    );
}

#[test]
fn two_missing_dars_are_reuploaded_and_pass() {
    let _one = serial();
    let s = assert_passes("extra-missing-dar", "validator-restore");
    assert_eq!(s.vars["dars_missing"].to_string(), "2");
}

fn assert_stops_at(scenario: &str, step: &str, words: &str) {
    let (data, out) = drill(scenario, "validator-restore");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let dir = incident(data.path());
    let s = state(&dir);
    match status(&s, step) {
        StepStatus::Failed { reason } => assert!(reason.contains(words), "{reason}"),
        other => panic!("{step} is {other:?}"),
    }
    assert!(s.drill.is_none(), "an unfinished drill is not judged");
    // Nothing was changed: the restore never started.
    assert_eq!(*status(&s, "restore-compose.stop"), StepStatus::Pending);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keeps running for `canton-dr resume"),
        "{stderr}"
    );
    shut_down(&dir);
    assert_nothing_left(&dir);
}

#[test]
fn a_backup_older_than_30_days_stops_the_run_at_the_age_check() {
    let _one = serial();
    assert_stops_at("old-backup", "check-participant-dump", "40d");
}

#[test]
fn backups_in_the_wrong_order_stop_the_run_at_the_order_check() {
    let _one = serial();
    assert_stops_at(
        "backups-wrong-order",
        "check-dump-order",
        "NOT taken before",
    );
}

#[test]
fn validator_backup_drill_passes_and_its_judge_restores_the_uploaded_pair() {
    let _one = serial();
    let s = assert_passes("validator-backup", "validator-backup");
    let (_, report) = report(&s);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        canton_dr::sandbox::backup_judge::CHECKS,
        "the backup judge's checks, in order"
    );
    let ev = |name: &str| {
        check(&report, name)["evidence"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let restores = ev("backup-restores");
    assert!(
        restores.contains("validator app's state") && restores.contains("participant state of"),
        "{restores}"
    );
    assert!(ev("validator-dump-first").contains("strictly before"));
    let stored = ev("identities-in-secret-store");
    assert!(
        stored.contains("the identity of PAR::participant::1220"),
        "{stored}"
    );
    // The judge searched the sandbox and the whole incident (journal, logs) for the keys.
    let scan = ev("no-key-material-outside-secret-store");
    assert!(
        scan.contains("/incidents/") && scan.contains("outside the secret store"),
        "{scan}"
    );
    assert!(ev("retention-applied").contains("4 files of the earlier backup are deleted"));
    // Every command step ran once and printed what the runbook captures.
    for var in ["identities_file", "validator_dump", "participant_dump"] {
        assert!(s.vars[var].to_string().starts_with('/'), "{var}");
    }
}

#[test]
fn a_backup_job_that_dumps_the_participant_first_stops_at_the_order_check() {
    let _one = serial();
    let (data, out) = drill("backup-participant-first", "validator-backup");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let dir = incident(data.path());
    let s = state(&dir);
    match status(&s, "check-order") {
        StepStatus::Failed { reason } => {
            assert!(reason.contains("NOT taken before"), "{reason}")
        }
        other => panic!("check-order is {other:?}"),
    }
    assert!(s.drill.is_none(), "an unfinished drill is not judged");
    // Nothing was uploaded or deleted.
    assert_eq!(*status(&s, "upload"), StepStatus::Pending);
    assert_eq!(*status(&s, "retention"), StepStatus::Pending);
    shut_down(&dir);
    assert_nothing_left(&dir);
}

fn assert_judged_fail(scenario: &str, runbook: &str, failing: &str) -> Value {
    let (data, out) = drill(scenario, runbook);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let dir = incident(data.path());
    let s = state(&dir);
    let (verdict, report) = report(&s);
    assert_eq!(verdict, "FAIL");
    assert_eq!(check(&report, failing)["passed"], false, "{report:#}");
    assert_eq!(check(&report, "no-double-execution")["passed"], true);
    assert!(report["score"]["skips"].as_u64().unwrap() >= 1);
    assert!(!report["score"]["deviations"].as_array().unwrap().is_empty());
    assert_nothing_left(&dir);
    check(&report, failing).clone()
}

#[test]
fn ingestion_restarted_before_its_offset_was_set_is_judged_fail_for_the_gap() {
    let _one = serial();
    let c = assert_judged_fail("ingestion-restarted-early", "validator-restore", "no-gap");
    let ev = c["evidence"].as_str().unwrap();
    assert!(
        ev.contains("were never ingested") && ev.contains("offset"),
        "{ev}"
    );
}

#[test]
fn withdrawals_enabled_before_t_safe_are_judged_fail() {
    let _one = serial();
    let c = assert_judged_fail(
        "withdrawals-enabled-early",
        "integration-db-restore",
        "withdrawals-reenabled-after-tsafe",
    );
    let ev = c["evidence"].as_str().unwrap();
    assert!(ev.contains("before tSafe") && ev.contains("wd-"), "{ev}");
}

/// Starts a drill and SIGKILLs it once its output shows `marker`.
fn kill_drill_at(data: &Path, marker: &str) {
    let mut child = command(data, &["drill", "validator-restore", "--auto"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = marker.to_string();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(&marker) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(240))
        .expect("the drill never reached the marker");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_drill_killed_mid_run_resumes_against_its_sandbox_and_passes() {
    let _one = serial();
    let data = data_dir();
    kill_drill_at(data.path(), "[34/38] ingestion-caught-up");
    let dir = incident(data.path());
    let info = sandbox_info(&dir);
    assert!(
        alive(info["pid"].as_u64().unwrap()),
        "the sandbox must outlive its killed drill"
    );
    let out = run(data.path(), &["resume", "--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = state(&dir);
    let (verdict, report) = report(&s);
    assert_eq!(verdict, "PASS", "{report:#}");
    assert_eq!(s.sessions.len(), 2);
    assert!(
        report["score"]["deviations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().contains("resumed")),
        "{report:#}"
    );
    assert_nothing_left(&dir);
    // Resuming a finished drill shows its verdict; its world is not needed any more.
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    let out = run(data.path(), &["resume", &id, "--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("drill verdict: PASS"));
    assert_eq!(state(&dir).records, s.records, "nothing was added");
}

#[test]
fn a_drill_whose_sandbox_died_cannot_be_resumed_and_is_cleaned_up() {
    let _one = serial();
    let data = data_dir();
    kill_drill_at(data.path(), "[10/38] restore-compose.stop");
    let dir = incident(data.path());
    let pid = sandbox_info(&dir)["pid"].as_u64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let socket = std::fs::read_link(dir.join("sandbox/control.sock")).ok();
    let out = run(data.path(), &["resume", "--headless"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    if let Some(socket) = socket {
        assert!(!socket.exists(), "{} is left", socket.display());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the drill's world is lost") && stderr.contains("cannot be resumed"),
        "{stderr}"
    );
    let s = state(&dir);
    assert!(
        matches!(&s.finish, Some(canton_dr::engine::state::Finish::Aborted(r)) if r.contains("sandbox is gone")),
        "{:?}",
        s.finish
    );
    assert_nothing_left(&dir);
}

#[test]
fn the_list_names_runbooks_scenarios_and_what_each_must_end_in() {
    let data = data_dir();
    let out = run(data.path(), &["drill", "--list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v["runbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"validator-restore") && ids.contains(&"integration-db-restore"));
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 11);
    let early = scenarios
        .iter()
        .find(|s| s["name"] == "withdrawals-enabled-early")
        .unwrap();
    assert_eq!(early["expect"], "FAIL (withdrawals-reenabled-after-tsafe)");
    let out = run(data.path(), &["drill", "--list"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("old-backup") && listing.contains("stops at check-participant-dump"));
}

#[test]
fn a_drill_without_a_terminal_asks_for_headless_before_starting_anything() {
    let data = data_dir();
    let out = run(data.path(), &["drill", "validator-restore"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auto"));
    assert!(!data.path().join("incidents").exists());
}

#[test]
fn sandbox_up_prints_one_json_object_keeps_secrets_out_and_obeys_ctl() {
    let _one = serial();
    let data = data_dir();
    let dir = data.path().join("sbx");
    let token = "tok-7f3a9c-must-never-be-printed";
    let password = "pw-2b8e41-must-never-be-printed";
    let mut child = command(
        data.path(),
        &["sandbox", "up", "--json", "--dir", dir.to_str().unwrap()],
    )
    .env("CANTON_DR_SANDBOX_TOKEN", token)
    .env("CANTON_DR_SANDBOX_DB_PASSWORD", password)
    .spawn()
    .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let line = {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(&mut stdout);
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        l
    };
    let info: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(info["dir"], dir.to_str().unwrap());
    assert!(
        info["ledger_api"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let ctl = |args: &[&str]| {
        Command::new(bin())
            .args(["sandbox", "ctl", "--dir", dir.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let o = ctl(&["ingestion", "status"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ctl(&["automation", "stop"]).status.code(), Some(0));
    let o = ctl(&["automation", "status"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = ctl(&["validator", "start-warp-drive"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown command"));
    let o = Command::new(bin())
        .args([
            "sandbox",
            "ctl",
            "--dir",
            dir.to_str().unwrap(),
            "ingestion",
            "set-start-offset",
        ])
        .env("START_OFFSET", "-4")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("START_OFFSET '-4'"));
    // The secrets are in 0600 files the profile points to, and nowhere else.
    let profile = std::fs::read_to_string(dir.join("profile.toml")).unwrap();
    let sandbox_json = std::fs::read_to_string(dir.join("sandbox.json")).unwrap();
    for secret in [token, password] {
        assert!(
            !line.contains(secret) && !profile.contains(secret) && !sandbox_json.contains(secret)
        );
    }
    let token_file = dir.join("secrets/ledger-api-token");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
    use std::os::unix::fs::PermissionsExt;
    for f in [
        token_file,
        dir.join("profile.toml"),
        dir.join("control.sock"),
    ] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    // doctor: every read-only check the generated profile makes possible passes …
    let profile_path = dir.join("profile.toml");
    let o = run(
        data.path(),
        &[
            "doctor",
            "--json",
            "--profile",
            profile_path.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap().to_owned())
        .collect();
    for want in [
        "ledger api: version",
        "ledger api: connected synchronizers",
        "database integration",
        "query last_ingested",
        "DARs on the participant",
    ] {
        assert!(
            checks.iter().any(|c| c == want),
            "doctor lacks {want}: {checks:?}"
        );
    }
    assert!(
        checks.iter().any(|c| c.starts_with("admin api: tolerance")),
        "{checks:?}"
    );
    // … and a profile pointing at nothing fails, saying where.
    let broken = data.path().join("broken-profile.toml");
    let port = info["ledger_api"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(&broken, profile.replace(&format!(":{port}"), ":9")).unwrap();
    let o = run(
        data.path(),
        &["doctor", "--profile", broken.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out_text = String::from_utf8_lossy(&o.stdout);
    assert!(
        out_text.contains("FAILED ledger api: version"),
        "{out_text}"
    );
    assert!(out_text.contains("127.0.0.1:9"), "{out_text}");
    assert!(!out_text.contains(token) && !out_text.contains(password));
    assert_eq!(ctl(&["sandbox", "shutdown"]).status.code(), Some(0));
    let out = finish(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(token) && !stderr.contains(password));
    assert!(!dir.exists(), "the sandbox directory is removed");
    let pg_dir = info["pg_dir"].as_str().unwrap();
    assert!(!Path::new(pg_dir).exists());
    assert!(processes_mentioning(pg_dir).is_empty());
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
}

#[test]
fn an_idle_sandbox_stops_by_itself() {
    let _one = serial();
    let data = data_dir();
    let dir = data.path().join("idle");
    let child = command(
        data.path(),
        &[
            "sandbox",
            "up",
            "--json",
            "--idle-timeout",
            "3s",
            "--dir",
            dir.to_str().unwrap(),
        ],
    )
    .spawn()
    .unwrap();
    let out = finish(child, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no control request for 3s"),
        "{}",
        text(&out)
    );
    let info: Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert!(!dir.exists());
    assert!(!Path::new(info["pg_dir"].as_str().unwrap()).exists());
}

/// The screen of a program in a pseudo-terminal.
struct Screen(std::sync::Arc<Mutex<vt100::Parser>>);

impl Screen {
    fn text(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .screen()
            .contents()
    }

    fn wait_for(&self, words: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let t = self.text();
            if words.iter().all(|w| t.contains(w)) {
                return;
            }
            assert!(Instant::now() < deadline, "never showed {words:?}:\n{t}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_new_user_drill_opens_the_interactive_screen_on_the_default_scenario() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::{Read, Write};
    let _one = serial();
    let data = data_dir();
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(bin());
    cmd.args([
        "--data-dir",
        data.path().to_str().unwrap(),
        "drill",
        "validator-restore",
    ]);
    cmd.env("TERM", "xterm-256color");
    cmd.env("CANTON_DR_OPERATOR", "drill-test");
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let parser = std::sync::Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(40).unwrap(),
        std::num::NonZeroU16::new(120).unwrap(),
        0,
    )));
    let mut reader = pair.master.try_clone_reader().unwrap();
    let feed = std::sync::Arc::clone(&parser);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            feed.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .process(&buf[..n]);
        }
    });
    let screen = Screen(parser);
    screen.wait_for(&["DRILL", "Confirm this is a restore from a database backup"]);
    let mut keys = pair.master.take_writer().unwrap();
    keys.write_all(b"q").unwrap();
    screen.wait_for(&["Quit"]);
    keys.write_all(b"y").unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            screen.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.exit_code(), 7, "quit: resumable");
    let dir = incident(data.path());
    let s = state(&dir);
    assert_eq!(s.mode, canton_dr::engine::record::Mode::Drill);
    assert!(
        s.notes
            .iter()
            .any(|n| n.text.contains("Drill scenario validator-restore")),
        "the briefing is journaled"
    );
    shut_down(&dir);
    assert_nothing_left(&dir);
}
