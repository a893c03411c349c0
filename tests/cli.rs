//! The binary as a user meets it: validate, help, exit codes, the single-writer lock (T4) and
//! file permissions (T13) through `resume`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_canton-dr");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn canton_dr(data: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(root())
        .env("CANTON_DR_DATA", data)
        .env("CANTON_DR_OPERATOR", "cli-test");
    c
}

#[test]
fn validate_reports_every_invalid_runbook_with_its_exact_lines() {
    let data = tempfile::tempdir().unwrap();
    let dir = root().join("tests/runbooks/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in files {
        let rel = file.strip_prefix(root()).unwrap();
        let out = canton_dr(data.path())
            .args(["validate"])
            .arg(rel)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", rel.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want: Vec<String> = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("#! "))
            .map(|l| l.replace("{dir}", "tests/runbooks/invalid"))
            .collect();
        let got: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("checked "))
            .collect();
        assert_eq!(got, want, "{}", rel.display());
        assert!(
            stderr
                .lines()
                .last()
                .unwrap()
                .starts_with("checked 1 runbook file(s)"),
            "{stderr}"
        );
    }
}

#[test]
fn validate_accepts_the_shipped_runbooks_and_speaks_json() {
    let data = tempfile::tempdir().unwrap();
    let out = canton_dr(data.path())
        .args(["validate", "runbooks", "tests/runbooks/valid"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = canton_dr(data.path())
        .args([
            "validate",
            "--json",
            "tests/runbooks/invalid/duplicate-step-id.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["step"], "a");
    assert_eq!(v["problems"][0]["line"], 12);
}

#[test]
fn help_explains_commands_and_exit_codes() {
    let data = tempfile::tempdir().unwrap();
    let out = canton_dr(data.path()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "drill validator-restore",
        "Exit status:",
        "resume",
        "validate",
        "the journal is damaged",
    ] {
        assert!(text.contains(needle), "--help lacks {needle:?}:\n{text}");
    }
    let out = canton_dr(data.path())
        .args(["frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn slow_world(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let runbook = dir.join("slow.toml");
    std::fs::write(
        &runbook,
        r#"id = "slow"
title = "Slow"
source = "tests"
recovery_budget = "5m"

[[step]]
id = "slow"
kind = "command"
title = "Slow"
argv = ["sleep", "3"]
timeout = "1m"
"#,
    )
    .unwrap();
    let profile = dir.join("profile.toml");
    std::fs::write(&profile, "name = \"slow\"\n").unwrap();
    let answers = dir.join("answers.toml");
    std::fs::write(&answers, "[defaults]\nrun_commands = true\n").unwrap();
    (runbook, profile, answers)
}

#[test]
fn a_second_process_is_refused_while_the_first_holds_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (runbook, profile, answers) = slow_world(dir.path());
    let mut first = canton_dr(&data)
        .args([
            "run",
            runbook.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--answers",
            answers.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the incident exists and its command runs.
    let incidents = data.join("incidents");
    let mut journal = None;
    for _ in 0..100 {
        if let Some(d) = std::fs::read_dir(&incidents)
            .ok()
            .and_then(|mut r| r.next())
            .map(|e| e.unwrap().path())
            && support::read_journal(&d).iter().any(|r| {
                matches!(
                    r.event,
                    canton_dr::engine::record::Event::StepSpawned { .. }
                )
            })
        {
            journal = Some(d);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let incident = journal.expect("the first run started its step");
    let before = std::fs::read(incident.join("journal.rbj")).unwrap();
    let second = canton_dr(&data)
        .args(["resume", "--headless"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("is held by") && stderr.contains("pid"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(incident.join("journal.rbj")).unwrap(),
        before,
        "the refused process changed the journal"
    );
    assert_eq!(first.wait().unwrap().code(), Some(0));
}

#[test]
fn resume_refuses_a_journal_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (runbook, profile, _) = slow_world(dir.path());
    // Stops at once: the empty answers file does not say to run the command.
    let out = canton_dr(&data)
        .args([
            "run",
            runbook.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--headless",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let incident = std::fs::read_dir(data.join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::metadata(&incident).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for f in ["journal.rbj", "journal.lock"] {
        assert_eq!(
            std::fs::metadata(incident.join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600,
            "{f}"
        );
    }
    std::fs::set_permissions(
        incident.join("journal.rbj"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = canton_dr(&data)
        .args(["resume", "--headless"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains("journal.rbj"), "{stderr}");
    assert!(
        stderr.to_lowercase().contains("permission")
            || stderr.contains("0644")
            || stderr.contains("readable"),
        "{stderr}"
    );
}

#[test]
fn incidents_lists_what_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = canton_dr(&data).args(["incidents"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("no incidents"));
    let (runbook, profile, _) = slow_world(dir.path());
    canton_dr(&data)
        .args([
            "run",
            runbook.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--headless",
        ])
        .output()
        .unwrap();
    let out = canton_dr(&data)
        .args(["incidents", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["runbook"], "slow");
    assert_eq!(v[0]["status"], "in-progress");
    assert_eq!(v[0]["mode"], "live");
}

#[test]
fn show_prints_the_procedure_in_order() {
    let data = tempfile::tempdir().unwrap();
    let out = canton_dr(data.path())
        .args(["show", "validator-restore", "--format", "md"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("# Restore the Exchange Validator Node from a backup"),
        "{text}"
    );
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("show lacks {needle:?}"))
    };
    assert!(at("Stop Tx History Ingestion") < at("Read tRecovery"));
    assert!(at("Read tRecovery") < at("Re-upload every missing DAR"));
    assert!(at("Re-upload every missing DAR") < at("Restart Tx History Ingestion"));
    assert!(text.contains("**Caveat:**") && text.contains("30 days"));
    assert!(text.contains("query `last_ingested`"));
    let out = canton_dr(data.path())
        .args(["show", "no-such-runbook"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no runbook 'no-such-runbook'"));
}

#[test]
fn dar_inspect_reads_package_ids_from_the_archive() {
    let data = tempfile::tempdir().unwrap();
    let dar = root().join("../shared/fixtures/dars/canton-builtin-admin-workflow-ping.dar");
    let out = canton_dr(data.path())
        .args(["dar", "inspect", "--json"])
        .arg(&dar)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let main = v["main_package_id"].as_str().unwrap();
    assert_eq!(main.len(), 64);
    assert!(
        main.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert!(
        v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["package_id"] == main)
    );
    let out = canton_dr(data.path())
        .args(["dar", "inspect"])
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a zip archive"));
}

#[test]
fn a_fragment_is_refused_as_a_runbook_to_run_or_drill() {
    let data = tempfile::tempdir().unwrap();
    let fragment = root().join("runbooks/include/restore-compose.toml");
    let profile = root().join("runbooks/profiles/splice-compose.toml");
    for (args, hint) in [
        (
            vec![
                "run",
                fragment.to_str().unwrap(),
                "--profile",
                profile.to_str().unwrap(),
                "--headless",
            ],
            "it runs as part of the runbooks that include it",
        ),
        (
            vec!["drill", fragment.to_str().unwrap(), "--auto"],
            "drill a runbook that includes it",
        ),
    ] {
        let out = canton_dr(data.path()).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("restore-compose.toml is a fragment") && err.contains(hint),
            "{args:?}: {err}"
        );
    }
    // Nothing was started: no incident.
    let incidents = data.path().join("incidents");
    assert!(
        !incidents.exists() || std::fs::read_dir(&incidents).unwrap().next().is_none(),
        "no incident for a refused fragment"
    );
}
