//! Creation, appends, re-opening, refusals and the operator's truncation (R1–R3, R7, R21).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use canton_dr::journal::{
    self, DamageKind, HeaderProblem, Journal, JournalError, OpenOutcome, Tail, accept_truncation,
    scan,
};
use sha2::{Digest, Sha256};

use crate::common::*;

#[test]
fn appends_are_acknowledged_in_order_and_survive_a_reopen() {
    let (_tmp, dir) = incident();
    let mut j = Journal::create(&dir).expect("create");
    assert_eq!(j.head().count, 0);
    let mut acks = Vec::new();
    for i in 0..10 {
        acks.push(j.append(&payload(i, i)).expect("append"));
    }
    for (i, ack) in acks.iter().enumerate() {
        assert_eq!(ack.seq, i as u64);
        assert_eq!(ack.head.count, i as u64 + 1);
        assert_eq!(ack.head.short().len(), 12);
        assert!(ack.head.hex().starts_with(&ack.head.short()));
    }
    let last = *acks.last().expect("acks");
    assert_eq!(j.head(), last.head);
    assert_eq!(
        j.durable_len(),
        fs::metadata(journal_file(&dir)).expect("stat").len()
    );
    drop(j);

    let (mut j, records, outcome) = Journal::open(&dir, |_| unreachable!()).expect("open");
    assert_eq!(outcome, OpenOutcome::Clean);
    assert_eq!(records.len(), 10);
    for (i, r) in records.iter().enumerate() {
        assert_eq!((r.seq, &r.payload), (i as u64, &payload(i, i)));
        assert_eq!(r.hash, acks[i].head.hash);
    }
    assert_eq!(j.head(), last.head);
    let next = j
        .append(b"{\"after\":\"reopen\"}")
        .expect("append after reopen");
    assert_eq!(next.seq, 10);
}

#[test]
fn create_is_atomic_private_and_never_replaces_a_journal() {
    let (_tmp, dir) = incident();
    // A leftover temporary file from a crashed create is replaced.
    fs::write(dir.join("journal.rbj.tmp"), b"CDRJ").expect("write leftover");
    let j = Journal::create(&dir).expect("create");
    let path = journal_file(&dir);
    assert_eq!(fs::read(&path).expect("read"), b"CDRJ\x01\x00\x00\x00");
    assert!(!dir.join("journal.rbj.tmp").exists());
    assert_eq!(fs::metadata(&path).expect("stat").mode() & 0o777, 0o600);
    drop(j);

    let mut j = Journal::open(&dir, |_| unreachable!()).expect("open").0;
    j.append(b"{}").expect("append");
    let before = fs::read(&path).expect("read");
    let err = Journal::create(&dir).expect_err("must not replace");
    assert!(matches!(err, JournalError::AlreadyExists { .. }), "{err}");
    assert!(
        err.to_string().contains("journal.rbj already exists"),
        "{err}"
    );
    assert_eq!(fs::read(&path).expect("read"), before);
    // With a journal present, even a stray temporary file is left alone.
    fs::write(dir.join("journal.rbj.tmp"), b"x").expect("write stray");
    assert!(Journal::create(&dir).is_err());
    assert!(dir.join("journal.rbj.tmp").exists());
}

#[test]
fn open_reports_missing_foreign_and_newer_journals_clearly() {
    let (_tmp, dir) = incident();
    let err = Journal::open(&dir, |_| unreachable!()).expect_err("missing");
    assert!(matches!(err, JournalError::NotFound { .. }), "{err}");
    assert!(err.to_string().starts_with("no journal at "), "{err}");

    write_journal(&dir, b"CDRJ\x02\x00\x00\x00more");
    let err = Journal::open(&dir, |_| unreachable!()).expect_err("newer");
    assert!(matches!(
        err,
        JournalError::Header {
            problem: HeaderProblem::NewerVersion { version: 2 },
            ..
        }
    ));
    let text = err.to_string();
    assert!(
        text.contains("journal.rbj: journal format version 2 is newer"),
        "{text}"
    );
    assert!(text.ends_with("upgrade canton-dr"), "{text}");

    write_journal(&dir, b"PGDMP\x01\x0e\x00");
    let err = Journal::open(&dir, |_| unreachable!()).expect_err("foreign");
    assert!(err.to_string().contains("not a canton-dr journal"), "{err}");
}

#[test]
fn symlinked_journal_is_refused() {
    let (tmp, dir) = incident();
    let elsewhere = tmp.path().join("elsewhere.rbj");
    fs::write(&elsewhere, b"CDRJ\x01\x00\x00\x00").expect("write");
    std::os::unix::fs::symlink(&elsewhere, journal_file(&dir)).expect("symlink");
    let err = Journal::open(&dir, |_| unreachable!()).expect_err("symlink");
    assert!(matches!(err, JournalError::Io { .. }), "{err}");
}

fn damaged_in_the_middle() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>, u64) {
    let (tmp, dir) = incident();
    let payloads: Vec<Vec<u8>> = (0..6).map(|i| payload(i, 20)).collect();
    let mut bytes = build(&dir, &payloads);
    let s = scan(&bytes).expect("scan");
    let bad = s.records[3].offset;
    bytes[bad as usize + 60] ^= 0x10;
    write_journal(&dir, &bytes);
    (tmp, dir, bytes, bad)
}

#[test]
fn a_corrupt_journal_is_refused_with_a_report_naming_the_repair_command() {
    let (_tmp, dir, bytes, bad) = damaged_in_the_middle();
    let err = Journal::open(&dir, |_| unreachable!()).expect_err("damaged");
    let JournalError::Damaged(report) = &err else {
        panic!("expected Damaged, got {err}");
    };
    assert_eq!(report.incident, "incident");
    assert_eq!(report.offset, bad);
    assert_eq!(report.last_good_seq, Some(2));
    assert_eq!(report.head.count, 3);
    assert_eq!(report.file_len, bytes.len() as u64);
    assert!(matches!(report.kind, DamageKind::Corrupt { .. }));
    let text = err.to_string();
    for needle in [
        "the journal of incident incident is corrupt".to_string(),
        format!("byte offset {bad}"),
        "last good record: seq 2".to_string(),
        report.head.hex(),
        "checksum mismatch".to_string(),
        format!("canton-dr repair incident --accept-truncation-at {bad}"),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    assert!(text.lines().count() >= 6, "{text}");
    assert_eq!(fs::read(journal_file(&dir)).expect("read"), bytes);
}

#[test]
fn accept_truncation_quarantines_cuts_and_journals_the_recovery() {
    let (_tmp, dir, bytes, bad) = damaged_in_the_middle();
    let s = scan(&bytes).expect("scan");

    let err = accept_truncation(&dir, bad + 1, |_| unreachable!()).expect_err("not a boundary");
    assert!(
        matches!(err, JournalError::NotARecordBoundary { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("nearest boundary below is {bad}")),
        "{err}"
    );
    let err = accept_truncation(&dir, bytes.len() as u64, |_| unreachable!())
        .expect_err("beyond the valid prefix");
    assert!(
        matches!(err, JournalError::NotARecordBoundary { .. }),
        "{err}"
    );
    assert_eq!(
        fs::read(journal_file(&dir)).expect("read"),
        bytes,
        "refusals change nothing"
    );

    // Cut one record earlier than the damage: any boundary of the valid prefix is allowed.
    let cut = s.records[2].offset;
    let (mut j, records, outcome) = accept_truncation(&dir, cut, |r| {
        format!(
            "{{\"kind\":\"operator_truncation\",\"truncated_bytes\":{}}}",
            r.truncated_bytes
        )
        .into_bytes()
    })
    .expect("accept truncation");
    let OpenOutcome::OperatorTruncated { repair, recovery } = outcome else {
        panic!("expected an operator truncation, got {outcome:?}");
    };
    assert_eq!(repair.valid_len, cut);
    assert_eq!(repair.truncated_bytes, bytes.len() as u64 - cut);
    assert_eq!(
        repair.sha256_of_removed_bytes,
        hex::encode(Sha256::digest(&bytes[cut as usize..]))
    );
    let qname = repair
        .quarantine_path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        qname.starts_with(&format!("journal.rbj.damaged-{}-", bytes.len())),
        "{qname}"
    );
    assert_eq!(fs::read(&repair.quarantine_path).expect("read"), bytes);
    assert_eq!(recovery.seq, 2);
    assert_eq!(records.len(), 3);
    assert_eq!(records[..2], s.records[..2]);
    j.append(b"{\"continued\":true}")
        .expect("append after repair");
    let head = j.head();
    drop(j);

    let report = journal::verify(&dir, Some(head.hash), Some(4)).expect("verify");
    assert!(report.ok(), "{report}");
    let (_, again, outcome) = Journal::open(&dir, |_| unreachable!()).expect("reopen");
    assert_eq!((outcome, again.len()), (OpenOutcome::Clean, 4));

    let err = accept_truncation(&dir, 8, |_| unreachable!()).expect_err("clean");
    assert!(matches!(err, JournalError::NothingToRepair { .. }), "{err}");
    assert!(err.to_string().contains("nothing to repair"), "{err}");
}

#[test]
fn an_ambiguous_last_frame_can_be_cut_at_the_header() {
    let (_tmp, dir) = incident();
    let mut bytes = build(&dir, &[payload(0, 5)]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    write_journal(&dir, &bytes);
    let err = Journal::open(&dir, |_| unreachable!()).expect_err("ambiguous");
    let JournalError::Damaged(report) = err else {
        panic!("expected Damaged");
    };
    assert_eq!(report.kind, DamageKind::AmbiguousBadLastFrame);
    assert_eq!((report.offset, report.last_good_seq), (8, None));
    assert!(
        report
            .to_string()
            .contains("none (the first record is bad)")
    );

    let (_, records, _) =
        accept_truncation(&dir, 8, |_| b"{\"kind\":\"RECOVERY\"}".to_vec()).expect("cut at header");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].seq, 0);
    assert_eq!(
        scan(&fs::read(journal_file(&dir)).expect("read"))
            .expect("scan")
            .tail,
        Tail::Clean
    );
}

#[test]
fn files_and_directory_must_be_private_and_ours() {
    let (_tmp, dir) = incident();
    build(&dir, &[payload(0, 1)]);
    let path = journal_file(&dir);

    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Journal::open(&dir, |_| unreachable!()).expect_err("world-readable");
    assert!(
        matches!(err, JournalError::InsecurePermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");

    fs::set_permissions(&dir, fs::Permissions::from_mode(0o711)).expect("chmod dir");
    let err = Journal::open(&dir, |_| unreachable!()).expect_err("open dir");
    assert!(
        matches!(err, JournalError::InsecurePermissions { mode: 0o711, .. }),
        "{err}"
    );
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod dir");
    Journal::open(&dir, |_| unreachable!()).expect("private again");
}
