//! `canton-dr verify` (T10, R12, R14): intact journals pass, and a changed payload with its
//! checksum recomputed or a truncation is caught by the head or count kept elsewhere.

use std::fs;

use canton_dr::export::{self, Format};
use canton_dr::journal::{self, format};

use crate::cli::{canton_dr, stderr, stdout};
use crate::common;

/// Replaces `from` by `to` (same length) in the payload of record `index` and recomputes that
/// frame's checksum: what someone with write access but no anchor can do.
fn rewrite_payload(path: &std::path::Path, index: usize, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mut bytes = fs::read(path).expect("read the journal");
    let scan = journal::scan(&bytes).expect("scan the journal");
    let r = &scan.records[index];
    let text = String::from_utf8(r.payload.clone()).expect("a UTF-8 payload");
    assert!(text.contains(from), "record {index} has no {from:?}");
    let changed = text.replacen(from, to, 1);
    let payload_at = r.offset as usize + format::MIN_FRAME;
    bytes[payload_at..payload_at + changed.len()].copy_from_slice(changed.as_bytes());
    let body = r.offset as usize + format::FRAME_PREFIX..payload_at + changed.len();
    let crc = format::body_crc(&bytes[body]);
    let crc_at = r.offset as usize + 4;
    bytes[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    fs::write(path, bytes).expect("write the journal");
}

fn head_and_count(f: &common::Fixture) -> (String, u64) {
    let text = export::export(&f.dir, Format::Json).expect("export").1;
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    (
        json["journal"]["head"].as_str().expect("head").to_owned(),
        json["journal"]["records"].as_u64().expect("records"),
    )
}

#[test]
fn an_untouched_journal_verifies_with_the_head_of_its_transcript() {
    let f = common::drill_incident();
    let (head, count) = head_and_count(&f);
    let md = export::export(&f.dir, Format::Markdown).unwrap().1;
    assert!(md.contains(&format!("head={head}")));
    let out = canton_dr(
        &f.data_dir(),
        &[
            "verify",
            common::ID,
            "--expect-head",
            &head,
            "--expect-count",
            &count.to_string(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains(&format!("records={count}\nhead={head}\n")),
        "{text}"
    );
    assert!(text.contains("tail: clean"), "{text}");
    assert!(
        text.contains(&format!("expected head {head}: matches")),
        "{text}"
    );
    assert!(text.ends_with("result: OK\n"), "{text}");
}

#[test]
fn a_rewritten_last_record_is_caught_only_by_the_kept_head() {
    let f = common::drill_incident();
    let (head, count) = head_and_count(&f);
    rewrite_payload(
        &f.journal(),
        count as usize - 1,
        "run completed",
        "run COMPLETED",
    );
    // The chain alone cannot tell: the last record has no successor.
    let out = canton_dr(&f.data_dir(), &["verify", common::ID]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = canton_dr(
        &f.data_dir(),
        &["verify", common::ID, "--expect-head", &head],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("DOES NOT MATCH"), "{text}");
    assert!(
        text.contains(&format!("mismatch: head mismatch: expected {head}")),
        "{text}"
    );
    assert!(text.ends_with("result: FAILED\n"), "{text}");
}

#[test]
fn a_rewritten_middle_record_breaks_the_chain() {
    let f = common::drill_incident();
    rewrite_payload(&f.journal(), 3, "02:00 backup", "03:00 backup");
    let out = canton_dr(&f.data_dir(), &["verify", common::ID]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("records=4\n"), "{text}");
    assert!(text.contains("tail: corrupt"), "{text}");
    assert!(text.contains("hash chain broken"), "{text}");
}

#[test]
fn a_truncated_journal_is_caught_by_the_kept_count() {
    let f = common::drill_incident();
    let (head, count) = head_and_count(&f);
    let bytes = fs::read(f.journal()).unwrap();
    let scan = journal::scan(&bytes).unwrap();
    let cut = scan.records[count as usize - 3].offset as usize;
    fs::write(f.journal(), &bytes[..cut]).unwrap();
    let out = canton_dr(&f.data_dir(), &["verify", common::ID]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a clean prefix is intact by itself"
    );
    let out = canton_dr(
        &f.data_dir(),
        &["verify", common::ID, "--expect-count", &count.to_string()],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("expected records={count}: DOES NOT MATCH")),
        "{text}"
    );
    let out = canton_dr(
        &f.data_dir(),
        &["verify", common::ID, "--expect-head", &head, "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["records"], count - 3);
    assert_eq!(json["tail_clean"], true);
    assert!(
        json["mismatches"][0]
            .as_str()
            .unwrap()
            .contains("head mismatch")
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let f = common::drill_incident();
    let out = canton_dr(
        &f.data_dir(),
        &["verify", common::ID, "--expect-head", "abc"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("expected 64 hex digits"),
        "{}",
        stderr(&out)
    );
    let out = canton_dr(&f.data_dir(), &["verify", common::ID, "--checkpoint", "x"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap requires --allowed-signers"
    );
}
