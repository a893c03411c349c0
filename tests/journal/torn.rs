//! T2: a torn tail at every byte offset is classified, repaired and verified (R5–R8).

use std::fs;
use std::os::unix::fs::MetadataExt;

use canton_dr::journal::{self, Journal, OpenOutcome, Tail, scan};
use sha2::{Digest, Sha256};

use crate::common::*;

fn twenty_records() -> Vec<Vec<u8>> {
    (0..20).map(|i| payload(i, (i * 37) % 90)).collect()
}

#[test]
fn every_truncation_offset_is_clean_at_boundaries_and_torn_elsewhere() {
    let (_tmp, dir) = incident();
    let bytes = build(&dir, &twenty_records());
    let full = scan(&bytes).expect("scan intact journal");
    assert_eq!(full.tail, Tail::Clean);
    assert_eq!(full.records.len(), 20);
    let bounds = boundaries(&full.records);

    for t in journal::HEADER_LEN..=bytes.len() {
        let s = scan(&bytes[..t]).expect("scan truncated journal");
        let complete = bounds.iter().filter(|&&b| b <= t as u64).count() - 1;
        let last_boundary = bounds[complete];
        if last_boundary == t as u64 {
            assert_eq!(s.tail, Tail::Clean, "offset {t}");
        } else {
            assert_eq!(
                s.tail,
                Tail::Torn {
                    valid_len: last_boundary,
                    file_len: t as u64
                },
                "offset {t}"
            );
        }
        assert_eq!(s.valid_len, last_boundary, "offset {t}");
        assert_eq!(s.records, full.records[..complete], "offset {t}");
    }
}

#[test]
fn open_repairs_every_torn_offset_and_the_result_verifies() {
    let (_tmp, dir) = incident();
    let bytes = build(&dir, &twenty_records());
    let full = scan(&bytes).expect("scan intact journal");
    let bounds = boundaries(&full.records);

    for t in journal::HEADER_LEN..=bytes.len() {
        remove_quarantines(&dir);
        let original = &bytes[..t];
        write_journal(&dir, original);
        let complete = bounds.iter().filter(|&&b| b <= t as u64).count() - 1;
        let boundary = bounds[complete] as usize;

        let mut seen = None;
        let (j, records, outcome) = Journal::open(&dir, |r| {
            seen = Some(r.clone());
            recovery_payload(r)
        })
        .unwrap_or_else(|e| panic!("offset {t}: {e}"));

        if boundary == t {
            assert_eq!(outcome, OpenOutcome::Clean, "offset {t}");
            assert!(seen.is_none(), "offset {t}: no repair expected");
            assert_eq!(records, full.records[..complete], "offset {t}");
            assert!(files_starting_with(&dir, "journal.rbj.").is_empty());
            assert_eq!(fs::read(journal_file(&dir)).expect("read"), original);
            continue;
        }

        let OpenOutcome::TornRepaired { repair, recovery } = outcome else {
            panic!("offset {t}: expected a torn repair, got {outcome:?}");
        };
        assert_eq!(seen.as_ref(), Some(&repair));
        assert_eq!(repair.valid_len as usize, boundary, "offset {t}");
        assert_eq!(repair.file_len as usize, t);
        assert_eq!(repair.truncated_bytes as usize, t - boundary);
        assert_eq!(
            repair.sha256_of_removed_bytes,
            hex::encode(Sha256::digest(&original[boundary..]))
        );
        // The quarantine copy is the whole original file, private, next to the journal.
        assert_eq!(
            files_starting_with(&dir, "journal.rbj."),
            vec![repair.quarantine_path.clone()]
        );
        let name = repair
            .quarantine_path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(&format!("journal.rbj.torn-{t}-")),
            "{name}"
        );
        assert_eq!(
            fs::read(&repair.quarantine_path).expect("read quarantine"),
            original
        );
        let qmode = fs::metadata(&repair.quarantine_path).expect("stat").mode() & 0o777;
        assert_eq!(qmode, 0o600);

        // The journal is the valid prefix plus one RECOVERY record.
        let after = fs::read(journal_file(&dir)).expect("read repaired journal");
        assert_eq!(&after[..boundary], &original[..boundary], "offset {t}");
        assert_eq!(recovery.seq as usize, complete);
        assert_eq!(records.len(), complete + 1);
        assert_eq!(records[..complete], full.records[..complete]);
        let last = records.last().expect("recovery record");
        assert_eq!(last.payload, recovery_payload(&repair));
        assert_eq!(last.offset as usize, boundary);
        assert_eq!(last.end_offset() as usize, after.len());
        assert_eq!(j.head(), recovery.head);

        let report = journal::verify(&dir, Some(recovery.head.hash), Some(complete as u64 + 1))
            .expect("verify");
        assert!(report.ok(), "offset {t}: {report}");
    }
}

#[test]
fn four_kib_of_zeros_after_the_last_record_are_torn_and_repaired() {
    let (_tmp, dir) = incident();
    let mut bytes = build(&dir, &twenty_records());
    let intact_len = bytes.len();
    bytes.extend_from_slice(&[0u8; 4096]);
    write_journal(&dir, &bytes);
    let s = scan(&bytes).expect("scan");
    assert_eq!(
        s.tail,
        Tail::Torn {
            valid_len: intact_len as u64,
            file_len: bytes.len() as u64
        }
    );
    let (_j, records, outcome) = Journal::open(&dir, recovery_payload).expect("open");
    let OpenOutcome::TornRepaired { repair, .. } = outcome else {
        panic!("expected a torn repair, got {outcome:?}");
    };
    assert_eq!(repair.truncated_bytes, 4096);
    assert_eq!(records.len(), 21);
    let after = fs::read(journal_file(&dir)).expect("read");
    assert_eq!(&after[..intact_len], &bytes[..intact_len]);
    assert!(journal::verify(&dir, None, Some(21)).expect("verify").ok());
    // A second open finds nothing left to repair.
    let (_j, again, outcome) = Journal::open(&dir, |_| unreachable!()).expect("reopen");
    assert_eq!(outcome, OpenOutcome::Clean);
    assert_eq!(again, records);
}
