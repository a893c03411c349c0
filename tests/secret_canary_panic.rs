#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed assertion
//! T11, the panic part (R17): a drill whose engine panics inside a step (the failpoint
//! `engine::step`, compiled in with the feature `failpoints`) with a message carrying the
//! participant's bearer token and the Integration DB password, both random canaries. The
//! panic is reported with the secrets redacted, and no canary in any encoding reaches the
//! drill's output, its incident, the logs or any spawned process's command line.

mod canary;

use std::time::Duration;

use canary::{
    Canaries, Needles, Sampler, incident, leaks_in_files, run, sandbox_info, serial, shut_down,
};

#[test]
fn a_panic_inside_a_step_is_reported_without_the_secrets_it_carries() {
    let _one = serial();
    let data = tempfile::Builder::new()
        .prefix("canton-dr-canary-panic-")
        .tempdir()
        .unwrap();
    let data_dir = data.path();
    let c = Canaries::new();
    let n = Needles::new(
        &c.all()
            .map(|(name, value)| (name, value.as_bytes().to_vec())),
    );
    let sampler = Sampler::start(vec![data_dir.display().to_string()]);
    let failpoint = format!(
        "engine::step=panic(the step lost its connection: token {} password {})",
        c.token, c.db_password
    );
    let drill = run(
        data_dir,
        &[
            "drill",
            "validator-backup",
            "--auto",
            "--sandbox-idle-timeout",
            "2m",
        ],
        &c,
        &[("FAILPOINTS", failpoint.as_str())],
        &sampler,
        Duration::from_secs(300),
    );
    // The sandbox outlives a crashed drill (for resume): search, then stop it before any
    // assertion can fail.
    let dir = incident(data_dir);
    let _guard = canary::SandboxGuard {
        dir: dir.join("sandbox"),
    };
    let info = sandbox_info(&dir);
    let sandbox = dir.join("sandbox");
    let skip = [sandbox.join("secrets"), sandbox.join("secret-store")];
    let mut leaks = Vec::new();
    let (found, files) = leaks_in_files(data_dir, &skip, &n);
    leaks.extend(found);
    let stopped = shut_down(data_dir, &dir, &c, &sampler, &info);

    assert!(files >= 5, "{files} files searched");
    assert_ne!(drill.code, Some(0), "{}", drill.text());
    let stderr = String::from_utf8_lossy(&drill.stderr);
    assert!(
        stderr.contains("panicked at"),
        "the panic is reported: {stderr}"
    );
    assert!(
        stderr.contains(
            "the step lost its connection: token <redacted:registered> password <redacted:registered>"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("2 secret(s) were redacted"), "{stderr}");
    let (found, _) = leaks_in_files(data_dir, &[], &n);
    leaks.extend(found);
    let (seen, _) = sampler.finish();
    for (pid, s) in &seen {
        for cmdline in &s.cmdlines {
            for h in n.hits(cmdline) {
                leaks.push(format!("/proc/{pid}/cmdline: {h}"));
            }
        }
    }
    for (what, bytes) in [
        ("drill stdout", &drill.stdout),
        ("drill stderr", &drill.stderr),
        ("shutdown stdout", &stopped.stdout),
        ("shutdown stderr", &stopped.stderr),
    ] {
        for h in n.hits(bytes) {
            leaks.push(format!("{what}: {h}"));
        }
    }
    assert!(leaks.is_empty(), "canaries found:\n{}", leaks.join("\n"));
}
