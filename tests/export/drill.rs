//! The transcript of a real drill: `canton-dr drill validator-backup --auto` against the
//! sandbox (PostgreSQL, pg_dump, the judge's restores), then `export` in every format and
//! `verify`. Every step of the runbook, the verdict and every check of the judge appear in
//! each transcript; the record count and head digest in them are the ones `verify` computes;
//! and exporting again gives the same bytes, whether to standard output or to the default file.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{canton_dr, stderr, stdout};
use crate::common;

/// Runs a drill with a generous bound (a hung drill fails the test instead of hanging it).
fn drill(data: &Path) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_canton-dr"))
        .arg("--data-dir")
        .arg(data)
        .args(["drill", "validator-backup", "--auto"])
        .env_remove("CANTON_DR_DATA")
        .env("CANTON_DR_OPERATOR", "export-test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the drill");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("the drill gave no result within 300s: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("output")
}

/// `key=value` from `verify`'s output.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in:\n{text}"))
        .to_owned()
}

#[test]
fn a_real_drill_exports_every_step_the_verdict_and_the_checks_identically_in_every_format() {
    let tmp = common::tempdir();
    let data = tmp.path().join("data");
    let out = drill(&data);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let incident = fs::read_dir(data.join("incidents"))
        .expect("incidents")
        .next()
        .expect("one incident")
        .expect("entry")
        .path();
    let id = incident.file_name().unwrap().to_str().unwrap().to_owned();

    let verified = canton_dr(&data, &["verify", &id]);
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    let records = field(&stdout(&verified), "records");
    let head = field(&stdout(&verified), "head");
    assert_eq!(head.len(), 64);

    let runbook = canton_dr::runbook::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/validator-backup.toml"),
    )
    .expect("the shipped runbook");
    let checks = canton_dr::sandbox::backup_judge::CHECKS;

    for format in ["md", "html", "json"] {
        let first = canton_dr(&data, &["export", &id, "--format", format, "-o", "-"]);
        assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
        let again = canton_dr(&data, &["export", &id, "--format", format, "-o", "-"]);
        assert_eq!(
            first.stdout, again.stdout,
            "{format}: a second export differs"
        );
        let to_file = canton_dr(&data, &["export", &id, "--format", format]);
        assert_eq!(to_file.status.code(), Some(0), "{}", stderr(&to_file));
        let file = fs::read(incident.join(format!("transcript.{format}"))).expect("the file");
        assert_eq!(
            file, first.stdout,
            "{format}: the file differs from standard output"
        );

        let text = stdout(&first);
        for step in &runbook.steps {
            assert!(
                text.contains(&step.id),
                "{format}: step {} is missing",
                step.id
            );
        }
        for check in checks {
            assert!(text.contains(check), "{format}: check {check} is missing");
        }
        match format {
            "json" => {
                let j: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                let ids: Vec<&str> = j["steps"]
                    .as_array()
                    .expect("steps")
                    .iter()
                    .map(|s| s["id"].as_str().expect("id"))
                    .collect();
                let expected: Vec<&str> = runbook.steps.iter().map(|s| s.id.as_str()).collect();
                assert_eq!(ids, expected, "every step, in order");
                assert!(
                    j["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|s| s["status"] == "passed" || s["status"] == "confirmed"),
                    "{text}"
                );
                assert_eq!(j["drill"]["verdict"], "PASS");
                let names: Vec<&str> = j["drill"]["report"]["checks"]
                    .as_array()
                    .expect("checks")
                    .iter()
                    .map(|c| c["name"].as_str().expect("name"))
                    .collect();
                assert_eq!(names, checks);
                assert_eq!(j["journal"]["records"].to_string(), records);
                assert_eq!(j["journal"]["head"], head.as_str());
            }
            "md" => {
                assert!(text.contains("**Verdict: PASS**"), "{text}");
                for step in &runbook.steps {
                    assert!(text.contains(&format!("`{}`", step.id)), "{}", step.id);
                }
                assert!(text.contains(&format!("records={records}\nhead={head}")));
            }
            _ => {
                assert!(text.contains("Verdict: <span class=\"status ok\">PASS"));
                assert!(text.contains(&head) && text.contains(&format!("records={records}")));
            }
        }
    }

    let out = canton_dr(
        &data,
        &[
            "verify",
            &id,
            "--expect-head",
            &head,
            "--expect-count",
            &records,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
