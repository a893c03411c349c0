//! Offline verification of a journal (R14): recompute every checksum and the hash chain, and
//! compare the head and record count with values kept elsewhere (a transcript, a ticket).
//!
//! The chain alone proves that nobody changed a record without rewriting every later one. Only a
//! head digest kept outside the journal (`expect_head`) catches a rewrite of the whole chain or
//! of the last record, and only a kept record count (`expect_count`, or the head) catches the
//! removal of records from the end.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::JournalError;
use super::scan::{self, FrameDefect, Tail};
use super::{Head, JOURNAL_FILE};

/// A difference between the journal and what the caller expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The head digest differs.
    Head {
        /// The digest the caller kept.
        expected: [u8; 32],
        /// The digest of the journal.
        actual: [u8; 32],
    },
    /// The record count differs.
    Count {
        /// The count the caller kept.
        expected: u64,
        /// The count of valid records.
        actual: u64,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Head { expected, actual } => write!(
                f,
                "head mismatch: expected {}, journal has {}",
                hex::encode(expected),
                hex::encode(actual)
            ),
            Mismatch::Count { expected, actual } => write!(
                f,
                "record count mismatch: expected {expected}, journal has {actual}"
            ),
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The journal file.
    pub path: PathBuf,
    /// Number of valid records.
    pub records: u64,
    /// Head after the last valid record.
    pub head: Head,
    /// What follows the valid records.
    pub tail: Tail,
    /// Why the first rejected frame was rejected, if any.
    pub defect: Option<FrameDefect>,
    /// Length of the valid prefix.
    pub valid_len: u64,
    /// Length of the file.
    pub file_len: u64,
    /// The head digest that was expected, if any.
    pub expect_head: Option<[u8; 32]>,
    /// The record count that was expected, if any.
    pub expect_count: Option<u64>,
    /// Differences from the expectations.
    pub mismatches: Vec<Mismatch>,
}

impl VerifyReport {
    /// Whether the journal is intact and matches every expectation.
    pub fn ok(&self) -> bool {
        self.tail == Tail::Clean && self.mismatches.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "journal: {}", self.path.display())?;
        writeln!(f, "records={}", self.records)?;
        writeln!(f, "head={}", self.head.hex())?;
        match (self.tail, self.defect) {
            (Tail::Clean, _) => writeln!(f, "tail: clean ({} bytes)", self.file_len)?,
            (tail, Some(defect)) => writeln!(f, "tail: {tail} ({defect})")?,
            (tail, None) => writeln!(f, "tail: {tail}")?,
        }
        if let Some(expected) = self.expect_head {
            let verdict = if expected == self.head.hash {
                "matches"
            } else {
                "DOES NOT MATCH"
            };
            writeln!(f, "expected head {}: {verdict}", hex::encode(expected))?;
        }
        if let Some(expected) = self.expect_count {
            let verdict = if expected == self.records {
                "matches"
            } else {
                "DOES NOT MATCH"
            };
            writeln!(f, "expected records={expected}: {verdict}")?;
        }
        write!(f, "result: {}", if self.ok() { "OK" } else { "FAILED" })
    }
}

/// Verifies the journal at `path` (a journal file, or an incident directory holding
/// `journal.rbj`): every frame's length, checksum, sequence number and chain link, then the
/// expectations. Damage and mismatches are reported in the [`VerifyReport`]; only an unreadable
/// file or a bad header is an error. Read-only: no lock is taken and nothing is written.
pub fn verify(
    path: &Path,
    expect_head: Option<[u8; 32]>,
    expect_count: Option<u64>,
) -> Result<VerifyReport, JournalError> {
    let path = if path.is_dir() {
        path.join(JOURNAL_FILE)
    } else {
        path.to_path_buf()
    };
    let bytes = std::fs::read(&path).map_err(|e| JournalError::io("read", &path, e))?;
    let scan = scan::scan(&bytes).map_err(|e| e.at_path(&path))?;
    let mut mismatches = Vec::new();
    if let Some(expected) = expect_head.filter(|h| *h != scan.head.hash) {
        mismatches.push(Mismatch::Head {
            expected,
            actual: scan.head.hash,
        });
    }
    if let Some(expected) = expect_count.filter(|c| *c != scan.head.count) {
        mismatches.push(Mismatch::Count {
            expected,
            actual: scan.head.count,
        });
    }
    Ok(VerifyReport {
        path,
        records: scan.head.count,
        head: scan.head,
        tail: scan.tail,
        defect: scan.defect,
        valid_len: scan.valid_len,
        file_len: scan.file_len,
        expect_head,
        expect_count,
        mismatches,
    })
}

/// Parses a head digest given as 64 hex digits (either case, surrounding blanks ignored).
pub fn parse_head_hex(text: &str) -> Result<[u8; 32], JournalError> {
    let text = text.trim();
    if text.len() != 64 {
        return Err(JournalError::BadHeadHex {
            reason: format!("expected 64 hex digits, got {} characters", text.len()),
        });
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| JournalError::BadHeadHex {
        reason: "it contains characters that are not hex digits".to_string(),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_hex_round_trips_and_rejects_junk() {
        let hash = [0xabu8; 32];
        let text = hex::encode(hash);
        assert_eq!(parse_head_hex(&text).unwrap(), hash);
        assert_eq!(
            parse_head_hex(&format!(" {} ", text.to_uppercase())).unwrap(),
            hash
        );
        let short = parse_head_hex("abcd").unwrap_err().to_string();
        assert!(short.contains("got 4 characters"), "{short}");
        let bad = parse_head_hex(&"g".repeat(64)).unwrap_err().to_string();
        assert!(bad.contains("not hex digits"), "{bad}");
    }
}
