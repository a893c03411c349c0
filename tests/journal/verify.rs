//! T10: verification recomputes checksums and the chain; only an external head or count catches
//! a rewritten chain or a cut-off end (R12, R14).

use canton_dr::journal::{self, Journal, Mismatch, Tail, format, parse_head_hex, scan, verify};

use crate::common::*;

/// A journal of 8 records; returns its directory guard, directory, bytes and live head.
fn live_journal() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Vec<u8>,
    journal::Head,
) {
    let (tmp, dir) = incident();
    let mut j = Journal::create(&dir).expect("create");
    let mut head = j.head();
    for i in 0..8 {
        head = j.append(&payload(i, 12)).expect("append").head;
    }
    drop(j);
    let bytes = std::fs::read(journal_file(&dir)).expect("read");
    (tmp, dir, bytes, head)
}

/// Replaces one payload byte of record `index` and recomputes that frame's CRC only.
fn tamper_with_crc(bytes: &[u8], index: usize) -> Vec<u8> {
    let s = scan(bytes).expect("scan");
    let r = &s.records[index];
    let start = r.offset as usize;
    let end = r.end_offset() as usize;
    let mut out = bytes.to_vec();
    let digit = start
        + 48
        + r.payload
            .iter()
            .position(u8::is_ascii_digit)
            .expect("a digit");
    out[digit] = if out[digit] == b'7' { b'8' } else { b'7' };
    let crc = format::body_crc(&out[start + 8..end]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn an_untouched_journal_verifies_with_the_live_head() {
    let (_tmp, dir, bytes, head) = live_journal();
    let report = verify(&journal_file(&dir), Some(head.hash), Some(8)).expect("verify");
    assert!(report.ok(), "{report}");
    assert_eq!(
        (report.records, report.head, report.tail),
        (8, head, Tail::Clean)
    );
    assert_eq!(report.file_len, bytes.len() as u64);
    let text = report.to_string();
    assert!(text.contains("records=8"), "{text}");
    assert!(text.contains(&format!("head={}", head.hex())), "{text}");
    assert!(text.ends_with("result: OK"), "{text}");
    // The incident directory works as well as the file.
    assert!(
        verify(&dir, Some(head.hash), None)
            .expect("verify dir")
            .ok()
    );
    // The head hex round-trips through the parser used for --expect-head.
    assert_eq!(parse_head_hex(&head.hex()).expect("parse"), head.hash);
}

#[test]
fn a_modified_payload_with_a_recomputed_crc_breaks_the_chain() {
    let (_tmp, dir, bytes, head) = live_journal();
    for index in 0..7 {
        write_journal(&dir, &tamper_with_crc(&bytes, index));
        let report = verify(&dir, None, None).expect("verify");
        assert!(!report.ok(), "record {index}: {report}");
        assert_ne!(report.tail, Tail::Clean);
        assert_eq!(
            report.defect,
            Some(journal::FrameDefect::Chain),
            "record {index}"
        );
        assert_eq!(
            report.records,
            index as u64 + 1,
            "the chain breaks at the next record"
        );
        assert!(!verify(&dir, Some(head.hash), None).expect("verify").ok());
    }
}

#[test]
fn a_modified_last_payload_is_caught_only_by_the_expected_head() {
    let (_tmp, dir, bytes, head) = live_journal();
    write_journal(&dir, &tamper_with_crc(&bytes, 7));
    assert!(verify(&dir, None, Some(8)).expect("verify").ok());
    let report = verify(&dir, Some(head.hash), Some(8)).expect("verify");
    assert!(!report.ok());
    assert!(
        matches!(report.mismatches[..], [Mismatch::Head { expected, .. }] if expected == head.hash)
    );
}

#[test]
fn a_rewritten_chain_passes_plain_verify_but_fails_the_expected_head() {
    let (_tmp, dir, bytes, head) = live_journal();
    let s = scan(&bytes).expect("scan");
    let mut payloads: Vec<Vec<u8>> = s.records.iter().map(|r| r.payload.clone()).collect();
    payloads[2] = b"{\"kind\":\"step_completed\",\"forged\":true}".to_vec();
    let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    write_journal(&dir, &encode_image(&refs));

    let plain = verify(&dir, None, Some(8)).expect("verify");
    assert!(
        plain.ok(),
        "a consistent forgery passes without an anchor: {plain}"
    );
    let anchored = verify(&dir, Some(head.hash), Some(8)).expect("verify");
    assert!(!anchored.ok());
    assert_eq!(anchored.mismatches.len(), 1);
    assert!(
        anchored.to_string().contains("DOES NOT MATCH"),
        "{anchored}"
    );
}

#[test]
fn deleting_the_last_records_is_caught_by_the_expected_count() {
    let (_tmp, dir, bytes, head) = live_journal();
    let s = scan(&bytes).expect("scan");
    for k in 1..=3usize {
        let keep = s.records[8 - k].offset as usize;
        write_journal(&dir, &bytes[..keep]);
        let plain = verify(&dir, None, None).expect("verify");
        assert!(plain.ok(), "a clean cut at a boundary is a valid journal");
        let counted = verify(&dir, None, Some(8)).expect("verify");
        assert!(!counted.ok());
        assert_eq!(
            counted.mismatches,
            vec![Mismatch::Count {
                expected: 8,
                actual: (8 - k) as u64
            }]
        );
        assert!(!verify(&dir, Some(head.hash), None).expect("verify").ok());
    }
}

#[test]
fn verify_errors_only_on_unreadable_or_foreign_files() {
    let (_tmp, dir, _bytes, _head) = live_journal();
    let missing = verify(&dir.join("nope.rbj"), None, None).expect_err("missing");
    assert!(missing.to_string().contains("nope.rbj"), "{missing}");
    write_journal(&dir, b"not a journal at all");
    let foreign = verify(&dir, None, None).expect_err("foreign");
    assert!(
        foreign.to_string().contains("not a canton-dr journal"),
        "{foreign}"
    );
}
