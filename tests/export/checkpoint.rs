//! Signed checkpoints with a real ed25519 key and the real `ssh-keygen` (T10, R14).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use canton_dr::engine::record::Event;
use canton_dr::export::{Checkpoint, SignedCheckpoint, checkpoint};
use canton_dr::journal::{self, Journal};

use crate::cli::{canton_dr, stderr, stdout};
use crate::common;

/// A throwaway signing key and an allowed-signers file naming it `ops@example`.
struct Keys {
    _tmp: tempfile::TempDir,
    key: PathBuf,
    allowed: PathBuf,
}

fn keys() -> Keys {
    let tmp = common::tempdir();
    let key = tmp.path().join("id_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ops@example", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen is installed");
    assert!(status.success());
    let public = fs::read_to_string(key.with_extension("pub")).expect("the public key");
    let allowed = tmp.path().join("allowed_signers");
    fs::write(&allowed, format!("ops@example {public}")).expect("write allowed signers");
    Keys {
        _tmp: tmp,
        key,
        allowed,
    }
}

fn sign(f: &common::Fixture, keys: &Keys) -> PathBuf {
    let out = canton_dr(
        &f.data_dir(),
        &[
            "checkpoint",
            common::ID,
            "--key",
            &keys.key.display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = f
        .dir
        .join(format!("checkpoint-{}.note", common::drill_records().len()));
    assert!(
        stderr(&out).contains(&path.display().to_string()),
        "{}",
        stderr(&out)
    );
    path
}

fn verify(f: &common::Fixture, cp: &Path, keys: &Keys, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "verify".to_owned(),
        common::ID.to_owned(),
        "--checkpoint".to_owned(),
        cp.display().to_string(),
        "--allowed-signers".to_owned(),
        keys.allowed.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = canton_dr(&f.data_dir(), &refs);
    (
        out.status.code().unwrap_or(-1),
        stdout(&out) + &stderr(&out),
    )
}

#[test]
fn a_signed_checkpoint_verifies_and_states_the_journal_head() {
    let f = common::drill_incident();
    let keys = keys();
    let cp = sign(&f, &keys);
    let text = fs::read_to_string(&cp).unwrap();
    let head = journal::verify(&f.journal(), None, None).unwrap().head;
    let expected_body = Checkpoint::new(common::ID, head).body();
    assert!(text.starts_with(&expected_body), "{text}");
    assert!(text.starts_with(&format!("canton-dr incident {}\n42\n", common::ID)));
    assert!(text.contains("\n\n-----BEGIN SSH SIGNATURE-----\n"));
    assert!(!text.contains("PRIVATE KEY"));
    // The signature is what ssh-keygen itself accepts in the runbook-journal namespace.
    let sig = f.dir.join("sig");
    let signed = SignedCheckpoint::parse(&text, &cp).unwrap();
    fs::write(&sig, &signed.signature).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-n",
            "runbook-journal",
            "-I",
            "ops@example",
            "-f",
        ])
        .arg(&keys.allowed)
        .arg("-s")
        .arg(&sig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(signed.body.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());

    let (code, out) = verify(&f, &cp, &keys, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("signature: good, by \"ops@example\" in namespace runbook-journal"),
        "{out}"
    );
    assert!(
        out.contains("journal: matches: the journal has exactly these records"),
        "{out}"
    );
    assert!(out.contains("result: OK"), "{out}");
    let (code, out) = verify(&f, &cp, &keys, &["--identity", "ops@example"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = verify(&f, &cp, &keys, &["--identity", "mallory@example"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signature: BAD"), "{out}");
}

#[test]
fn a_signature_in_another_namespace_does_not_count() {
    let f = common::drill_incident();
    let keys = keys();
    let head = journal::verify(&f.journal(), None, None).unwrap().head;
    let cp = Checkpoint::new(common::ID, head);
    let body = cp.body();
    let signature = checkpoint::sign(&body, &keys.key, "file").unwrap();
    let path = f.dir.join("other-namespace.note");
    let signed = SignedCheckpoint {
        checkpoint: cp,
        body,
        signature,
    };
    fs::write(&path, signed.to_text()).unwrap();
    let (code, out) = verify(&f, &path, &keys, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("signature: BAD in namespace runbook-journal"),
        "{out}"
    );
    assert!(out.contains("result: FAILED"), "{out}");
}

#[test]
fn a_rewritten_journal_fails_and_an_extended_one_keeps_its_prefix() {
    let f = common::drill_incident();
    let keys = keys();
    let cp = sign(&f, &keys);
    let original = fs::read(f.journal()).unwrap();

    // Extended: more records appended by the real writer.
    {
        let (mut j, _, _) = Journal::open(&f.dir, |_| Vec::new()).unwrap();
        let c = common::Clock::new();
        for i in 0..3 {
            let note = c.rec(
                500_000 + i,
                Event::NoteAdded {
                    step: None,
                    text: format!("late note {i}"),
                },
            );
            j.append(&note.encode()).unwrap();
        }
    }
    let (code, out) = verify(&f, &cp, &keys, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("extended, prefix intact: the journal now has 45 records"),
        "{out}"
    );

    // Rewritten: the same number of records, every chain value recomputed, one fact changed.
    let mut records = common::drill_records();
    if let Event::NoteAdded { text, .. } = &mut records[3].event {
        text.push_str(" (edited)");
    }
    let other = common::incident_with(&records);
    fs::copy(other.journal(), f.journal()).unwrap();
    assert_eq!(
        journal::verify(&f.journal(), None, None).unwrap().tail,
        journal::Tail::Clean
    );
    let (code, out) = verify(&f, &cp, &keys, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DOES NOT MATCH: at that record count the journal's head is"),
        "{out}"
    );

    // Truncated: fewer records than the checkpoint.
    let scan = journal::scan(&original).unwrap();
    let cut = scan.records[20].offset as usize;
    fs::write(f.journal(), &original[..cut]).unwrap();
    let (code, out) = verify(&f, &cp, &keys, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the journal has only 20 records"), "{out}");

    // Restored: passes again.
    fs::write(f.journal(), &original).unwrap();
    let (code, out) = verify(&f, &cp, &keys, &["--json"]);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["checkpoint"]["anchor"], "matches");
    assert_eq!(json["checkpoint"]["signer"], "ops@example");
}

#[test]
fn a_checkpoint_of_another_incident_fails() {
    let f = common::drill_incident();
    let keys = keys();
    let head = journal::verify(&f.journal(), None, None).unwrap().head;
    let cp = Checkpoint::new("someone-elses-incident", head);
    let body = cp.body();
    let signature = checkpoint::sign(&body, &keys.key, checkpoint::NAMESPACE).unwrap();
    let path = f.dir.join("foreign.note");
    let text = SignedCheckpoint {
        checkpoint: cp,
        body,
        signature,
    }
    .to_text();
    fs::write(&path, text).unwrap();
    let (code, out) = verify(&f, &path, &keys, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DOES NOT MATCH this journal's incident"),
        "{out}"
    );
}

#[test]
fn a_missing_key_is_reported_without_writing_anything() {
    let f = common::drill_incident();
    let out = canton_dr(
        &f.data_dir(),
        &["checkpoint", common::ID, "--key", "/nonexistent/id_ed25519"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("could not sign with the key /nonexistent/id_ed25519"),
        "{}",
        stderr(&out)
    );
    assert_eq!(common::file_names(&f.dir), ["journal.rbj"]);
}
