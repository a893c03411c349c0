//! The journal's failpoints (built only with `--features failpoints`): a failure or crash at
//! each point of an append or a create leaves exactly what the durability rules promise
//! (R2, R3, R4; the building blocks of T1 and T18).

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};

use canton_dr::journal::{self, Journal, JournalError, OpenOutcome, Tail};

fn incident() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = journal::create_incident_dir(tmp.path(), "incident").expect("incident dir");
    (tmp, dir)
}

fn journal_with_two_records(dir: &std::path::Path) -> Journal {
    let mut j = Journal::create(dir).expect("create");
    j.append(b"{\"n\":0}").expect("append");
    j.append(b"{\"n\":1}").expect("append");
    j
}

fn reopen_count(dir: &std::path::Path) -> usize {
    let (_, records, outcome) =
        Journal::open(dir, |_| b"{\"kind\":\"RECOVERY\"}".to_vec()).expect("reopen");
    assert_eq!(outcome, OpenOutcome::Clean);
    records.len()
}

/// Runs `name` configured as `action` against a third append; returns the records on re-open.
fn third_append_with(name: &str, action: &str) -> (Result<journal::Ack, JournalError>, usize) {
    let (_tmp, dir) = incident();
    let mut j = journal_with_two_records(&dir);
    fail::cfg(name, action).expect("configure failpoint");
    let result = j.append(b"{\"n\":2}");
    fail::remove(name);
    if result.is_err() {
        assert!(j.is_poisoned(), "{name}");
        let later = j.append(b"{\"n\":3}").expect_err("poisoned");
        assert!(matches!(later, JournalError::Poisoned { .. }), "{later}");
    }
    drop(j);
    (result, reopen_count(&dir))
}

#[test]
fn failpoints_leave_what_the_durability_rules_promise() {
    let scenario = fail::FailScenario::setup();

    // Before the write: nothing reaches the file.
    let (result, count) = third_append_with("journal::before_write", "return");
    assert!(matches!(
        result,
        Err(JournalError::WriteFailed { op: "write to", .. })
    ));
    assert_eq!(count, 2);

    // Written but not synced: the unacknowledged frame is cut back.
    let (result, count) = third_append_with("journal::after_write_before_sync", "return");
    assert!(matches!(
        result,
        Err(JournalError::WriteFailed { op: "sync", .. })
    ));
    assert_eq!(count, 2);

    // Synced but not acknowledged: the record is on disk and a re-open finds it.
    let (result, count) = third_append_with("journal::after_sync_before_ack", "return");
    let err = result.expect_err("not acknowledged");
    assert!(
        err.to_string()
            .contains("failpoint journal::after_sync_before_ack"),
        "{err}"
    );
    assert_eq!(count, 3);

    // A crash (panic) at the same point: same outcome, no acknowledgement ever returned.
    let (_tmp, dir) = incident();
    let mut j = journal_with_two_records(&dir);
    fail::cfg("journal::after_sync_before_ack", "panic").expect("configure");
    let crashed = catch_unwind(AssertUnwindSafe(|| j.append(b"{\"n\":2}")));
    fail::remove("journal::after_sync_before_ack");
    assert!(crashed.is_err());
    drop(j);
    assert_eq!(reopen_count(&dir), 3);

    // create, interrupted after the temporary file is synced: no journal; a retry succeeds.
    let (_tmp, dir) = incident();
    fail::cfg("journal::create_after_tmp_sync", "return").expect("configure");
    assert!(Journal::create(&dir).is_err());
    fail::remove("journal::create_after_tmp_sync");
    assert!(!dir.join(journal::JOURNAL_FILE).exists());
    assert!(dir.join("journal.rbj.tmp").exists());
    let err = Journal::open(&dir, |_| Vec::new()).expect_err("no journal yet");
    assert!(matches!(err, JournalError::NotFound { .. }), "{err}");
    drop(Journal::create(&dir).expect("create after a crashed create"));
    assert!(!dir.join("journal.rbj.tmp").exists());
    assert_eq!(reopen_count(&dir), 0);

    // create, interrupted after the rename: a valid empty journal.
    let (_tmp, dir) = incident();
    fail::cfg("journal::create_after_rename", "return").expect("configure");
    assert!(Journal::create(&dir).is_err());
    fail::remove("journal::create_after_rename");
    let bytes = fs::read(dir.join(journal::JOURNAL_FILE)).expect("read");
    assert_eq!(journal::scan(&bytes).expect("scan").tail, Tail::Clean);
    assert_eq!(reopen_count(&dir), 0);

    // A torn-tail repair interrupted between the cut and its RECOVERY record: the journal is
    // clean, and the quarantine copy is found as an unrecorded repair, with what it cut.
    let (_tmp, dir) = incident();
    drop(journal_with_two_records(&dir));
    let path = dir.join(journal::JOURNAL_FILE);
    let good = fs::read(&path).expect("read");
    let half = b"\x30\x00\x00\x00\x01\x02";
    fs::write(&path, [good.as_slice(), half].concat()).expect("tear");
    fail::cfg("journal::repair_after_cut", "return").expect("configure");
    let err = Journal::open(&dir, |_| b"{\"kind\":\"RECOVERY\"}".to_vec()).expect_err("cut");
    fail::remove("journal::repair_after_cut");
    assert!(
        err.to_string().contains("journal::repair_after_cut"),
        "{err}"
    );
    assert_eq!(
        fs::read(&path).expect("read"),
        good,
        "cut back to the last record"
    );
    assert_eq!(reopen_count(&dir), 2, "no RECOVERY record was written");
    let found = journal::interrupted_repairs(&dir, |_| false).expect("list");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].label, "torn");
    assert_eq!(found[0].repair.truncated_bytes, half.len() as u64);
    assert_eq!(found[0].repair.valid_len, good.len() as u64);
    assert_eq!(
        fs::read(&found[0].repair.quarantine_path).expect("copy"),
        [good.as_slice(), half].concat()
    );
    let name = found[0].repair.quarantine_path.file_name().expect("name");
    let recorded =
        journal::interrupted_repairs(&dir, |n| n == name.to_string_lossy()).expect("list");
    assert!(recorded.is_empty(), "{recorded:?}");

    scenario.teardown();
}
