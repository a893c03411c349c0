//! The append-only, hash-chained incident journal: framing, scanning, repair, verification,
//! the single-writer lock and the incident directory.
//!
//! An incident directory (mode 0700) holds `journal.rbj`, the incident's only source of truth
//! (R1, R16), and `journal.lock`, the single-writer lock (R10). The journal is an 8-byte header
//! followed by checksummed, hash-chained frames (see [`format`](mod@format)). Payloads are opaque bytes to
//! this module: the caller writes one UTF-8 JSON object per record, at most [`MAX_RECORD`]
//! bytes.
//!
//! The life of a journal:
//! - [`create_incident_dir`] and [`Journal::create`] make the directory and an empty journal
//!   atomically (R2, R21);
//! - [`IncidentLock::acquire`] makes this process the only writer (R10); the caller takes it
//!   before creating, opening or repairing a journal and keeps it while writing;
//! - [`Journal::open`] scans the file, repairs a torn tail (R7) and refuses a damaged one with a
//!   [`DamageReport`];
//! - [`Journal::append`] writes one frame and syncs it before it returns an [`Ack`] (R3), and
//!   fails closed on any I/O error (R4);
//! - [`accept_truncation`] is the operator's explicit repair of a damaged journal (R7);
//! - [`verify()`] recomputes checksums and the chain against an externally kept head (R14).
//!
//! Nothing is ever deleted, with one exception: a `journal.rbj.tmp` left by a `create` that
//! crashed before its rename (see [`Journal::create`]).

pub mod error;
pub mod format;
pub mod fsutil;
pub mod lock;
pub mod repair;
pub mod scan;
pub mod storage;
pub mod verify;
pub mod writer;

use std::fmt;

pub use error::{DamageKind, DamageReport, HeaderProblem, JournalError};
pub use format::{BODY_FIXED, FORMAT_VERSION, HEADER_LEN, MAX_RECORD};
pub use fsutil::{
    MIN_FREE, check_incident_dir, create_incident_dir, free_bytes, fsync_dir, write_atomic,
};
pub use lock::{HolderInfo, IncidentLock, LockError};
pub use repair::{InterruptedRepair, TornRepair, accept_truncation, interrupted_repairs};
pub use scan::{FrameDefect, Scan, StoredRecord, Tail, scan};
pub use storage::{FileStorage, Storage};
pub use verify::{Mismatch, VerifyReport, parse_head_hex, verify};
pub use writer::{Journal, OpenOutcome};

/// File name of the journal inside an incident directory.
pub const JOURNAL_FILE: &str = "journal.rbj";
/// File name of the single-writer lock inside an incident directory.
pub const LOCK_FILE: &str = "journal.lock";

/// Where a journal is: its record count and the chain value after its last record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Head {
    /// Number of records (the next record gets this `seq`).
    pub count: u64,
    /// `h_{count-1}`, or the genesis value of an empty journal.
    pub hash: [u8; 32],
}

impl Head {
    /// The full head digest as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// The first 12 hex digits of the head digest, for display after each step.
    pub fn short(&self) -> String {
        hex::encode(&self.hash[..6])
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} records, head {}", self.count, self.short())
    }
}

/// The acknowledgement of a durably written record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The record's sequence number.
    pub seq: u64,
    /// The journal head including this record.
    pub head: Head,
}
