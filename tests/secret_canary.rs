#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed assertion
//! T11, the secret canary scan (R17, R19, R20): whole drills of the real binary with every
//! secret a unique random canary (the participant's bearer token, the Integration DB
//! password, the participant's namespace key pair in the node identities dump), then an export
//! of the incident in every format and `verify`; and then every byte is searched for each
//! canary as is, in base64 (standard and URL-safe, padded or not), percent-encoded and in hex
//! (either case):
//!
//! - every file of the data directory (the incident: journal, exports, sandbox log, drill
//!   file, the sandbox directory; the logs), except the sandbox's secret files and its secret
//!   store, where the secrets belong;
//! - the sandbox's PostgreSQL cluster directory (server log, data files);
//! - the captured standard output and error of every command;
//! - `/proc/<pid>/cmdline` of every process the commands spawned, sampled while they ran.
//!
//! There must be no hit. Positive controls show that the canaries were in use and that the
//! search finds them where they belong. The panic part is in `secret_canary_panic.rs`
//! (feature `failpoints`).

mod canary;

use std::path::PathBuf;
use std::time::Duration;

use canary::{
    Canaries, Needles, Ran, Sampler, incident, leaks_in_files, run, sandbox_info, serial,
    shut_down, step_pids,
};

fn needles(c: &Canaries) -> Needles {
    Needles::new(
        &c.all()
            .map(|(name, value)| (name, value.as_bytes().to_vec())),
    )
}

/// Runs a whole drill of `runbook` with canaries, exports and verifies it, and searches
/// everything.
fn canary_drill(runbook: &str) {
    let _one = serial();
    let data = tempfile::Builder::new()
        .prefix("canton-dr-canary-")
        .tempdir()
        .unwrap();
    let data_dir = data.path();
    let c = Canaries::new();
    let n = needles(&c);
    let sampler = Sampler::start(vec![data_dir.display().to_string()]);
    let mut captured: Vec<(String, Ran)> = Vec::new();

    let drill = run(
        data_dir,
        &[
            "drill",
            runbook,
            "--auto",
            "--keep-sandbox",
            "--sandbox-idle-timeout",
            "2m",
        ],
        &c,
        &[],
        &sampler,
        Duration::from_secs(300),
    );
    let dir = incident(data_dir);
    let _guard = canary::SandboxGuard {
        dir: dir.join("sandbox"),
    };
    assert_eq!(drill.code, Some(0), "{}", drill.text());
    assert!(String::from_utf8_lossy(&drill.stdout).contains("drill verdict: PASS"));
    captured.push(("drill".into(), drill));
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    let info = sandbox_info(&dir);
    let sandbox = dir.join("sandbox");
    for format in ["md", "html", "json"] {
        let out = run(
            data_dir,
            &["export", &id, "--format", format],
            &c,
            &[],
            &sampler,
            Duration::from_secs(60),
        );
        assert_eq!(out.code, Some(0), "{}", out.text());
        assert!(dir.join(format!("transcript.{format}")).is_file());
        captured.push((format!("export --format {format}"), out));
    }
    let verify = run(
        data_dir,
        &["verify", &id],
        &c,
        &[],
        &sampler,
        Duration::from_secs(60),
    );
    assert_eq!(verify.code, Some(0), "{}", verify.text());
    captured.push(("verify".into(), verify));

    // Positive controls: the canaries are the secrets in use, and the search finds them.
    let token_file = std::fs::read(sandbox.join("secrets/ledger-api-token")).unwrap();
    assert_eq!(token_file, c.token.as_bytes());
    assert!(n.hits(&token_file).contains(&"token (raw)".to_string()));
    let password_file = std::fs::read(sandbox.join("secrets/integration-db-password")).unwrap();
    assert_eq!(password_file, c.db_password.as_bytes());
    if runbook == "validator-backup" {
        let store = sandbox.join("secret-store");
        let stored: Vec<PathBuf> = canary::files_under(&store, &[]);
        assert_eq!(stored.len(), 1, "{stored:?}");
        let hits = n.hits(&std::fs::read(&stored[0]).unwrap());
        assert!(
            hits.contains(&"identity key (base64)".to_string()),
            "the stored identities dump holds the canary key: {hits:?}"
        );
    }

    let skip = [sandbox.join("secrets"), sandbox.join("secret-store")];
    let mut leaks = Vec::new();
    let (found, files_before) = leaks_in_files(data_dir, &skip, &n);
    leaks.extend(found);
    let pg_dir = PathBuf::from(info["pg_dir"].as_str().unwrap());
    let (found, pg_files) = leaks_in_files(&pg_dir, &[], &n);
    leaks.extend(found);
    assert!(
        pg_files > 100,
        "the cluster directory was searched ({pg_files} files)"
    );

    let stopped = shut_down(data_dir, &dir, &c, &sampler, &info);
    captured.push(("sandbox ctl shutdown".into(), stopped));
    // What the sandbox wrote while stopping (its log, the log file) is searched too.
    let (found, files_after) = leaks_in_files(data_dir, &[], &n);
    leaks.extend(found);
    assert!(
        files_before >= 10 && files_after >= 8,
        "{files_before} files searched with the sandbox, {files_after} after"
    );
    assert!(
        canary::files_under(&data_dir.join("logs"), &[]).len() == 1,
        "the log file was searched"
    );

    let (seen, samples) = sampler.finish();
    for (pid, s) in &seen {
        for cmdline in &s.cmdlines {
            for h in n.hits(cmdline) {
                leaks.push(format!(
                    "/proc/{pid}/cmdline ({}): {h}",
                    String::from_utf8_lossy(cmdline).replace('\0', " ")
                ));
            }
        }
    }
    for (what, out) in &captured {
        for h in n.hits(&out.stdout) {
            leaks.push(format!("stdout of {what}: {h}"));
        }
        for h in n.hits(&out.stderr) {
            leaks.push(format!("stderr of {what}: {h}"));
        }
    }
    assert!(leaks.is_empty(), "canaries found:\n{}", leaks.join("\n"));

    // The sampler saw what the drill spawned: the sandbox, its PostgreSQL server and the
    // command steps' processes (which may be too short-lived to catch every one).
    let steps = step_pids(&dir);
    let caught = steps.iter().filter(|p| seen.contains_key(p)).count();
    let sandbox_pid = i32::try_from(info["pid"].as_i64().unwrap()).unwrap();
    assert!(seen.contains_key(&sandbox_pid), "the sandbox was sampled");
    let has = |word: &[u8]| {
        seen.values().any(|s| {
            s.cmdlines
                .iter()
                .any(|c| c.windows(word.len()).any(|w| w == word))
        })
    };
    assert!(
        has(b"postgres"),
        "the sandbox's PostgreSQL server was sampled"
    );
    assert!(has(b"ctl"), "a `sandbox ctl` step was sampled");
    assert!(
        caught >= 1,
        "none of the {} command steps' processes was sampled",
        steps.len()
    );
    eprintln!(
        "{runbook}: {} processes sampled in {samples} samples ({caught} of {} command steps), {files_before} + {files_after} files and {pg_files} cluster files searched",
        seen.len(),
        steps.len()
    );
}

#[test]
fn a_validator_restore_drill_leaks_no_secret() {
    canary_drill("validator-restore");
}

#[test]
fn an_integration_db_restore_drill_leaks_no_secret() {
    canary_drill("integration-db-restore");
}

#[test]
fn a_validator_backup_drill_leaks_no_secret_and_no_key() {
    canary_drill("validator-backup");
}

/// The helpers find what they look for.
#[test]
fn the_search_finds_every_encoding_and_the_sampler_follows_children() {
    let c = Canaries::new();
    let n = needles(&c);
    for (name, value) in c.all() {
        for (form, bytes) in canary::forms(value.as_bytes()) {
            let mut hay = b"<<".to_vec();
            hay.extend_from_slice(&bytes);
            hay.extend_from_slice(b">>");
            assert!(
                n.hits(&hay).contains(&format!("{name} ({form})")),
                "{name} {form}"
            );
        }
    }
    assert!(n.hits(b"nothing to see").is_empty());
    let sampler = Sampler::start(Vec::new());
    let mut child = std::process::Command::new("sh")
        .args(["-c", "sleep 0.3; exec sleep 0.31"])
        .spawn()
        .unwrap();
    sampler.follow(child.id());
    child.wait().unwrap();
    let (seen, _) = sampler.finish();
    assert!(
        seen.values()
            .any(|s| s.cmdlines.iter().any(|c| c.starts_with(b"sleep\x000.3"))),
        "{seen:?}"
    );
}
