//! T3: every single-bit flip is detected; damage other than a torn tail is never repaired
//! automatically and leaves the file untouched (R5–R7).

use std::fs;
use std::time::{Duration, SystemTime};

use canton_dr::journal::{self, DamageKind, Journal, JournalError, OpenOutcome, Tail, scan};

use crate::common::*;

/// What a flip at `pos` must produce, given the frame boundaries of the intact image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Header,
    MiddleFrame { start: u64, next: u64 },
    LastFrame { start: u64, length_field: bool },
}

fn region(bounds: &[u64], pos: usize) -> Region {
    let pos = pos as u64;
    if pos < journal::HEADER_LEN as u64 {
        return Region::Header;
    }
    let i = bounds
        .iter()
        .rposition(|&b| b <= pos)
        .expect("a boundary below");
    let (start, next) = (bounds[i], bounds[i + 1]);
    if i + 2 == bounds.len() {
        Region::LastFrame {
            start,
            length_field: pos < start + 4,
        }
    } else {
        Region::MiddleFrame { start, next }
    }
}

fn set_old_mtime(dir: &std::path::Path) -> SystemTime {
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    fs::OpenOptions::new()
        .write(true)
        .open(journal_file(dir))
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
    when
}

/// Checks one damaged image in memory and through `Journal::open` on disk.
fn check_damaged_image(dir: &std::path::Path, bytes: &[u8], damaged: &[u8], pos: usize) {
    let full = scan(bytes).expect("scan intact");
    let bounds = boundaries(&full.records);
    let what = region(&bounds, pos);
    let result = scan(damaged);
    match what {
        Region::Header => {
            let err = result.expect_err("a header flip must be an error");
            assert!(
                matches!(err, JournalError::Header { .. }),
                "byte {pos}: {err}"
            );
            return;
        }
        Region::MiddleFrame { start, next } => {
            let s = result.expect("scan");
            assert_eq!(
                s.tail,
                Tail::Corrupt {
                    offset: start,
                    next_valid_offset: next
                },
                "byte {pos}"
            );
            assert_eq!(s.valid_len, start);
        }
        Region::LastFrame {
            start,
            length_field,
        } => {
            let s = result.expect("scan");
            let torn = Tail::Torn {
                valid_len: start,
                file_len: damaged.len() as u64,
            };
            let ambiguous = Tail::AmbiguousBadLastFrame { offset: start };
            assert!(
                s.tail == ambiguous || (length_field && s.tail == torn),
                "byte {pos}: {:?}",
                s.tail
            );
            assert_eq!(s.valid_len, start);
        }
    }
    let s = scan(damaged).expect("scan");
    assert_eq!(s.records, full.records[..s.records.len()], "byte {pos}");

    // On disk: open refuses anything but a torn tail and leaves the file exactly as it was.
    remove_quarantines(dir);
    write_journal(dir, damaged);
    let mtime = set_old_mtime(dir);
    match Journal::open(dir, recovery_payload) {
        Err(JournalError::Damaged(report)) => {
            assert_eq!(report.offset, s.valid_len);
            assert_eq!(report.head, s.head);
            match (report.kind, s.tail) {
                (
                    DamageKind::Corrupt { next_valid_offset },
                    Tail::Corrupt {
                        next_valid_offset: n,
                        ..
                    },
                ) => {
                    assert_eq!(next_valid_offset, n);
                }
                (DamageKind::AmbiguousBadLastFrame, Tail::AmbiguousBadLastFrame { .. }) => {}
                other => panic!("byte {pos}: report and scan disagree: {other:?}"),
            }
            let text = report.to_string();
            let command = format!(
                "canton-dr repair incident --accept-truncation-at {}",
                s.valid_len
            );
            assert!(text.contains(&command), "byte {pos}: {text}");
            assert_eq!(
                fs::read(journal_file(dir)).expect("read"),
                damaged,
                "byte {pos}"
            );
            let after = fs::metadata(journal_file(dir))
                .and_then(|m| m.modified())
                .expect("mtime");
            assert_eq!(after, mtime, "byte {pos}: mtime changed");
            assert!(files_starting_with(dir, "journal.rbj.").is_empty());
        }
        Ok((_, records, OpenOutcome::TornRepaired { .. })) => {
            assert!(
                matches!(s.tail, Tail::Torn { .. }),
                "byte {pos}: repaired {:?}",
                s.tail
            );
            assert_eq!(records.len(), s.records.len() + 1);
        }
        other => panic!("byte {pos}: open must not accept damage: {other:?}"),
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    let (_tmp, dir) = incident();
    let payloads: Vec<Vec<u8>> = (0..5).map(|i| payload(i, i * 3)).collect();
    let bytes = build(&dir, &payloads);
    let mut undetected = 0;
    for pos in 0..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[pos] ^= 1 << bit;
            match scan(&damaged) {
                Ok(s) if s.tail == Tail::Clean => undetected += 1,
                _ => {}
            }
            check_damaged_image(&dir, &bytes, &damaged, pos);
        }
    }
    assert_eq!(undetected, 0);
}

#[test]
fn digit_changes_that_keep_payloads_valid_json_are_detected() {
    let (_tmp, dir) = incident();
    let payloads: Vec<Vec<u8>> = (0..5).map(|i| payload(i, 4)).collect();
    let bytes = build(&dir, &payloads);
    let full = scan(&bytes).expect("scan");
    let mut checked = 0;
    for record in &full.records {
        let start = record.offset as usize + 48;
        for k in 0..record.payload.len() {
            let c = record.payload[k];
            if !c.is_ascii_digit() {
                continue;
            }
            // 0→1, 1→2, …, 8→9, 9→1: never a leading zero, so the payload stays valid JSON.
            let replacement = b'1' + (c - b'0') % 9;
            let mut damaged = bytes.clone();
            damaged[start + k] = replacement;
            let mut changed = record.payload.clone();
            changed[k] = replacement;
            serde_json::from_slice::<serde_json::Value>(&changed)
                .expect("the damaged payload is still valid JSON");
            let s = scan(&damaged).expect("scan");
            assert_ne!(
                s.tail,
                Tail::Clean,
                "digit at byte {} undetected",
                start + k
            );
            check_damaged_image(&dir, &bytes, &damaged, start + k);
            checked += 1;
        }
    }
    let digits: usize = payloads
        .iter()
        .map(|p| p.iter().filter(|c| c.is_ascii_digit()).count())
        .sum();
    assert!(digits >= 20, "the test payloads carry too few numbers");
    assert_eq!(checked, digits);
}
