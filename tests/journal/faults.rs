//! T9 and R4: a failed write or sync poisons the writer, nothing is retried or acknowledged,
//! and a re-open trusts only what is on disk.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

use canton_dr::journal::{
    FileStorage, Journal, JournalError, MAX_RECORD, OpenOutcome, Storage, Tail, scan,
};

use crate::common::*;

#[derive(Clone, Copy, Default)]
struct Plan {
    /// The first `sync_data` fails with EIO; later ones succeed.
    fail_first_sync: bool,
    /// The first `write_all` writes half the buffer, then fails with ENOSPC.
    half_write_enospc: bool,
    /// `set_len` fails with EIO (the best-effort cut after a failure does not happen).
    fail_set_len: bool,
}

/// The storage calls a [`Flaky`] saw, in order.
type CallLog = Arc<Mutex<Vec<&'static str>>>;

/// A file storage with scripted failures and a log of the calls that reached it.
struct Flaky {
    inner: FileStorage,
    plan: Plan,
    synced_once: bool,
    wrote_once: bool,
    log: CallLog,
}

impl Flaky {
    fn wrap(plan: Plan) -> (impl FnOnce(File) -> Box<dyn Storage>, CallLog) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let for_storage = Arc::clone(&log);
        let wrap = move |file: File| -> Box<dyn Storage> {
            Box::new(Flaky {
                inner: FileStorage::new(file),
                plan,
                synced_once: false,
                wrote_once: false,
                log: for_storage,
            })
        };
        (wrap, log)
    }

    fn note(&self, call: &'static str) {
        self.log.lock().expect("log").push(call);
    }
}

impl Storage for Flaky {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.note("write_all");
        if self.plan.half_write_enospc && !self.wrote_once {
            self.wrote_once = true;
            self.inner.write_all(&buf[..buf.len() / 2])?;
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.inner.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.note("sync_data");
        if self.plan.fail_first_sync && !self.synced_once {
            self.synced_once = true;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.inner.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.note("set_len");
        if self.plan.fail_set_len {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.inner.set_len(len)
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.note("sync_all");
        self.inner.sync_all()
    }
}

fn three_records() -> Vec<Vec<u8>> {
    (0..3).map(|i| payload(i, 10)).collect()
}

/// Opens with `plan`, appends a fourth record that fails, checks the poisoning, and returns the
/// storage call log and the file bytes afterwards.
fn fail_fourth_append(plan: Plan, expected_op: &str, errno: i32) -> (Vec<&'static str>, Vec<u8>) {
    let (_tmp, dir) = incident();
    let before = build(&dir, &three_records());
    let (wrap, log) = Flaky::wrap(plan);
    let (mut j, records, outcome) =
        Journal::open_with(&dir, |_| unreachable!(), wrap).expect("open");
    assert_eq!((records.len(), outcome), (3, OpenOutcome::Clean));
    let head = j.head();

    let err = j.append(&payload(3, 10)).expect_err("the append must fail");
    match &err {
        JournalError::WriteFailed { op, source, .. } => {
            assert_eq!(*op, expected_op);
            assert_eq!(source.raw_os_error(), Some(errno));
        }
        other => panic!("expected WriteFailed, got {other}"),
    }
    assert!(err.to_string().contains("not acknowledged"), "{err}");
    assert!(j.is_poisoned());
    assert_eq!(j.head(), head, "a failed append must not move the head");

    // Storage works again now, but the writer must not use it: no retry, no later "success".
    let calls_at_failure = log.lock().expect("log").len();
    let later = j.append(&payload(4, 10)).expect_err("poisoned");
    assert!(matches!(later, JournalError::Poisoned { .. }), "{later}");
    assert!(later.to_string().contains("restart canton-dr"), "{later}");
    assert_eq!(log.lock().expect("log").len(), calls_at_failure);
    drop(j);

    let calls = log.lock().expect("log").clone();
    assert_eq!(
        calls.iter().filter(|c| **c == "sync_data").count(),
        usize::from(expected_op == "sync"),
        "sync_data must never be retried: {calls:?}"
    );
    let after = std::fs::read(journal_file(&dir)).expect("read");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "acknowledged records are intact"
    );

    // A re-open trusts only the disk.
    let (_, records, outcome) = Journal::open(&dir, recovery_payload).expect("reopen");
    let on_disk = scan(&after).expect("scan");
    match on_disk.tail {
        Tail::Clean => {
            assert_eq!(outcome, OpenOutcome::Clean);
            assert_eq!(records, on_disk.records);
        }
        Tail::Torn { .. } => {
            assert!(matches!(outcome, OpenOutcome::TornRepaired { .. }));
            assert_eq!(records[..on_disk.records.len()], on_disk.records[..]);
        }
        other => panic!("unexpected tail after a failed append: {other:?}"),
    }
    (calls, after)
}

#[test]
fn sync_eio_poisons_and_the_cut_removes_the_unacknowledged_record() {
    let plan = Plan {
        fail_first_sync: true,
        ..Plan::default()
    };
    let (calls, after) = fail_fourth_append(plan, "sync", libc::EIO);
    assert_eq!(calls, ["write_all", "sync_data", "set_len", "sync_all"]);
    let s = scan(&after).expect("scan");
    assert_eq!((s.tail, s.records.len()), (Tail::Clean, 3));
}

#[test]
fn sync_eio_without_a_cut_leaves_the_record_only_because_it_is_on_disk() {
    let plan = Plan {
        fail_first_sync: true,
        fail_set_len: true,
        ..Plan::default()
    };
    let (_, after) = fail_fourth_append(plan, "sync", libc::EIO);
    // The frame reached the page cache, so a re-open finds it; it was never acknowledged.
    let s = scan(&after).expect("scan");
    assert_eq!((s.tail, s.records.len()), (Tail::Clean, 4));
    assert_eq!(s.records[3].payload, payload(3, 10));
}

#[test]
fn enospc_mid_write_poisons_and_the_cut_restores_a_clean_tail() {
    let plan = Plan {
        half_write_enospc: true,
        ..Plan::default()
    };
    let (calls, after) = fail_fourth_append(plan, "write to", libc::ENOSPC);
    assert_eq!(calls, ["write_all", "set_len", "sync_all"]);
    let s = scan(&after).expect("scan");
    assert_eq!((s.tail, s.records.len()), (Tail::Clean, 3));
}

#[test]
fn enospc_mid_write_without_a_cut_is_repaired_as_a_torn_tail_on_reopen() {
    let plan = Plan {
        half_write_enospc: true,
        fail_set_len: true,
        ..Plan::default()
    };
    let (_, after) = fail_fourth_append(plan, "write to", libc::ENOSPC);
    assert!(matches!(
        scan(&after).expect("scan").tail,
        Tail::Torn { .. }
    ));
}

#[test]
fn an_oversized_record_is_refused_without_poisoning() {
    let (_tmp, dir) = incident();
    let mut j = Journal::create(&dir).expect("create");
    let err = j
        .append(&vec![b' '; MAX_RECORD + 1])
        .expect_err("too large");
    assert!(matches!(err, JournalError::RecordTooLarge { len, .. } if len == MAX_RECORD + 1));
    assert!(err.to_string().contains("1048576-byte limit"), "{err}");
    assert!(!j.is_poisoned());
    let big = j
        .append(&vec![b' '; MAX_RECORD])
        .expect("exactly MAX_RECORD fits");
    let small = j.append(b"{}").expect("append after refusal");
    assert_eq!((big.seq, small.seq), (0, 1));
    drop(j);
    let (_, records, _) = Journal::open(&dir, |_| unreachable!()).expect("reopen");
    assert_eq!(records[0].payload.len(), MAX_RECORD);
    assert_eq!(records[1].payload, b"{}");
}
