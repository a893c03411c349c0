//! A real incident, end to end: `canton-dr run` executes a runbook headless (a manual step, a
//! secret input, a command that prints the secret, a check), then `export` and `verify` work
//! from the journal it wrote. The head the run reports, the one in the transcripts and the one
//! `verify` prints are the same; the secret is nowhere.

use std::fs;
use std::process::Command;

use base64::Engine as _;

use crate::cli::{canton_dr, stderr, stdout};
use crate::common;

const RUNBOOK: &str = r#"
id = "e2e"
title = "End-to-end transcript"
source = "canton-dr tests"
recovery_budget = "5m"

[commands.status]
description = "Ingestion status"
read_only = true

[[step]]
id = "confirm"
kind = "manual"
title = "Confirm the incident"
instructions = "Open the ticket."
evidence = "optional"

[[step]]
id = "db-password"
kind = "input"
title = "Database password"
var = "db_password"
type = "secret"
prompt = "Password of the read-only role"

[[step]]
id = "connect"
kind = "command"
title = "Connect with the password"
script = 'echo "connecting to postgres://ro:${PW}@db:5432/x"; echo "pw=$PW"'
env = { PW = "${db_password}" }
timeout = "30s"

[[step]]
id = "status"
kind = "check"
title = "Ingestion is stopped"
probe = { kind = "command", run = "status" }
expect = "value.exit_code == 0"
"#;

const PROFILE: &str = r#"
name = "e2e"

[commands.status]
argv = ["sh", "-c", "echo stopped"]
"#;

const ANSWERS: &str = r#"
[defaults]
run_commands = true

[steps.confirm]
confirm = true
note = "INC-2231 opened by the exchange's on-call"

[steps.db-password]
value_env = "CDR_E2E_DB_PASSWORD"
"#;

const CANARY: &str = "Zq8-canary-7f3e1b";

#[test]
fn a_headless_run_exports_verifies_and_keeps_its_secret() {
    let tmp = common::tempdir();
    let data = tmp.path().join("data");
    for (name, text) in [
        ("rb.toml", RUNBOOK),
        ("profile.toml", PROFILE),
        ("answers.toml", ANSWERS),
    ] {
        fs::write(tmp.path().join(name), text).expect("write an input file");
    }
    let run = Command::new(env!("CARGO_BIN_EXE_canton-dr"))
        .current_dir(tmp.path())
        .arg("--data-dir")
        .arg(&data)
        .args([
            "run",
            "rb.toml",
            "--profile",
            "profile.toml",
            "--answers",
            "answers.toml",
        ])
        .env("CDR_E2E_DB_PASSWORD", CANARY)
        .env_remove("CANTON_DR_DATA")
        .output()
        .expect("run canton-dr");
    let console = stdout(&run) + &stderr(&run);
    assert_eq!(run.status.code(), Some(0), "{console}");
    let live_head = console
        .split("head ")
        .last()
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the run reports its head")
        .to_owned();
    assert_eq!(live_head.len(), 64, "{console}");

    let mut exports = Vec::new();
    for fmt in ["md", "html", "json"] {
        let out = canton_dr(&data, &["export", "e2e", "--format", fmt, "-o", "-"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        exports.push(stdout(&out));
    }
    let json: serde_json::Value = serde_json::from_str(&exports[2]).expect("JSON export");
    assert_eq!(json["journal"]["head"], live_head.as_str());
    assert_eq!(json["outcome"]["status"], "completed");
    assert_eq!(json["journal"]["export_redactions"], serde_json::json!({}));
    let statuses: Vec<&str> = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["confirmed", "confirmed", "passed", "passed"]);
    let connect = &json["steps"][2]["attempts"][0];
    assert!(connect["spawned"]["pid"].as_u64().is_some());
    let stdout_text = connect["end"]["output"]["stdout"].as_str().expect("output");
    assert!(
        stdout_text.contains("postgres://ro:<redacted:registered>@db:5432/x"),
        "{stdout_text}"
    );
    assert!(exports[0].contains("INC-2231 opened by the exchange's on-call"));
    assert!(exports[0].contains(&format!("head={live_head}")));

    let forms = [
        CANARY.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(CANARY),
        hex::encode(CANARY),
    ];
    let incident_dir = fs::read_dir(data.join("incidents"))
        .expect("incidents")
        .next()
        .expect("one incident")
        .expect("entry")
        .path();
    let journal = fs::read(incident_dir.join("journal.rbj")).expect("journal");
    for form in &forms {
        for (i, text) in exports.iter().enumerate() {
            assert!(!text.contains(form.as_str()), "export {i} holds the secret");
        }
        assert!(
            !String::from_utf8_lossy(&journal).contains(form.as_str()),
            "the journal holds the secret"
        );
    }

    let out = canton_dr(
        &data,
        &[
            "verify",
            "e2e",
            "--expect-head",
            &live_head,
            "--expect-count",
            &json["journal"]["records"].to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("head={live_head}\n")));
}
