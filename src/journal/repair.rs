//! Repairs that cut a journal back to a record boundary (R7): the automatic repair of a torn
//! tail and the operator's explicit acceptance of a truncation of a damaged journal.
//!
//! Both first copy the whole file, untouched, to a quarantine file next to it (mode 0600,
//! fsynced, directory fsynced), then cut the journal (`set_len` + `sync_all`, directory fsync),
//! then append the caller's RECOVERY record. Nothing is deleted: the removed bytes stay in the
//! quarantine copy, and the RECOVERY record carries their length and SHA-256.
//!
//! A crash between the cut and the RECOVERY append leaves a clean journal without the RECOVERY
//! record and a quarantine copy that begins with the whole journal. The next writer finds such
//! copies with [`interrupted_repairs`] and records them then, so no repair goes unrecorded.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::JournalError;
use super::format::{self, HEADER_LEN};
use super::fsutil::{self, fsync_dir};
use super::scan::{StoredRecord, Tail};
use super::storage::FileStorage;
use super::writer::{self, Journal, OpenOutcome};
use super::{Head, JOURNAL_FILE};

/// What a repair cut off and where the original file is kept. Handed to the caller, who turns
/// it into the RECOVERY record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornRepair {
    /// Bytes removed from the end of the journal.
    pub truncated_bytes: u64,
    /// SHA-256 of the removed bytes, lowercase hex.
    pub sha256_of_removed_bytes: String,
    /// The quarantine copy of the whole original file.
    pub quarantine_path: PathBuf,
    /// Length of the journal after the cut (a record boundary).
    pub valid_len: u64,
    /// Length of the journal before the cut.
    pub file_len: u64,
}

/// Copies `bytes` (the whole journal as read through `file`) to a new quarantine file named
/// `journal.rbj.<label>-<size>-<UTC timestamp>`, then cuts the journal to `keep` bytes.
pub(crate) fn quarantine_and_truncate(
    dir: &Path,
    path: &Path,
    file: &File,
    bytes: &[u8],
    keep: u64,
    label: &str,
) -> Result<TornRepair, JournalError> {
    let removed = usize::try_from(keep)
        .ok()
        .and_then(|k| bytes.get(k..))
        .unwrap_or(&[]);
    let quarantine_path = write_quarantine(dir, bytes, label)?;
    file.set_len(keep)
        .and_then(|()| file.sync_all())
        .map_err(|e| JournalError::io("truncate", path, e))?;
    fsync_dir(dir)?;
    // Test builds only: a crash between the cut and the RECOVERY record.
    fail::fail_point!("journal::repair_after_cut", |_| Err(JournalError::io(
        "record the repair of",
        path,
        io::Error::other("injected failure at failpoint journal::repair_after_cut"),
    )));
    Ok(TornRepair {
        truncated_bytes: removed.len() as u64,
        sha256_of_removed_bytes: hex::encode(Sha256::digest(removed)),
        quarantine_path,
        valid_len: keep,
        file_len: bytes.len() as u64,
    })
}

/// The label of a quarantine copy's name (`torn` or `damaged`): `journal.rbj.<label>-…`.
pub fn quarantine_label(name: &str) -> Option<&'static str> {
    let rest = name.strip_prefix(JOURNAL_FILE)?.strip_prefix('.')?;
    ["torn", "damaged"]
        .into_iter()
        .find(|label| rest.strip_prefix(label).is_some_and(|r| r.starts_with('-')))
}

/// A repair whose RECOVERY record was never written: its quarantine copy and what it cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptedRepair {
    /// `torn` (an automatic repair) or `damaged` (the operator's).
    pub label: &'static str,
    /// What was cut off, as the repair would have reported it.
    pub repair: TornRepair,
}

/// The repairs of the journal in `dir` that were cut but never recorded: quarantine copies
/// whose file name `recorded` does not know and whose bytes begin with the whole journal as it
/// is now, followed by the bytes the repair removed. Only a crash between a repair's cut and
/// its RECOVERY append leaves one; a copy that does not continue the journal is not one and is
/// left alone. Newest (longest) last. The caller holds the incident lock and appends a
/// RECOVERY record for each.
pub fn interrupted_repairs(
    dir: &Path,
    recorded: impl Fn(&str) -> bool,
) -> Result<Vec<InterruptedRepair>, JournalError> {
    let path = dir.join(JOURNAL_FILE);
    let journal = std::fs::read(&path).map_err(|e| JournalError::io("read", &path, e))?;
    let entries = std::fs::read_dir(dir).map_err(|e| JournalError::io("list", dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(label) = quarantine_label(&name) else {
            continue;
        };
        if recorded(&name) {
            continue;
        }
        let qpath = entry.path();
        let copy = std::fs::read(&qpath)
            .map_err(|e| JournalError::io("read the quarantine copy", &qpath, e))?;
        if copy.len() <= journal.len() || !copy.starts_with(&journal) {
            continue;
        }
        let removed = &copy[journal.len()..];
        found.push(InterruptedRepair {
            label,
            repair: TornRepair {
                truncated_bytes: removed.len() as u64,
                sha256_of_removed_bytes: hex::encode(Sha256::digest(removed)),
                quarantine_path: qpath,
                valid_len: journal.len() as u64,
                file_len: copy.len() as u64,
            },
        });
    }
    found.sort_by(|a, b| {
        (a.repair.file_len, &a.repair.quarantine_path)
            .cmp(&(b.repair.file_len, &b.repair.quarantine_path))
    });
    Ok(found)
}

/// Writes the quarantine copy under a name no other file has, and makes it durable.
fn write_quarantine(dir: &Path, bytes: &[u8], label: &str) -> Result<PathBuf, JournalError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = format!("{JOURNAL_FILE}.{label}-{}-{stamp}", bytes.len());
    for attempt in 0..1000u32 {
        let name = match attempt {
            0 => base.clone(),
            n => format!("{base}-{n}"),
        };
        let qpath = dir.join(name);
        let mut qfile = match fsutil::create_private_file(&qpath, false) {
            Ok(f) => f,
            Err(JournalError::Io { source, .. })
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        qfile
            .write_all(bytes)
            .and_then(|()| qfile.sync_all())
            .map_err(|e| JournalError::io("write the quarantine copy", &qpath, e))?;
        // The copy must be durable before the journal is cut.
        fsync_dir(dir)?;
        return Ok(qpath);
    }
    Err(JournalError::io(
        "find a free quarantine file name in",
        dir,
        io::Error::from(io::ErrorKind::AlreadyExists),
    ))
}

/// The operator's repair of a journal that [`Journal::open`] refused (R7):
/// `canton-dr repair <incident> --accept-truncation-at <offset>`.
///
/// `offset` must be a record boundary of the valid prefix (the end of the header or of a valid
/// record), normally the offset the [`DamageReport`](super::DamageReport) shows. The whole file
/// is quarantined as `journal.rbj.damaged-<size>-<ts>`, the journal is cut at `offset`, and the
/// payload `make_recovery` builds (the caller's RECOVERY record, `kind: "operator_truncation"`)
/// is appended. A journal whose tail is clean is refused: there is nothing to repair. The
/// caller must hold the incident lock.
pub fn accept_truncation<F>(
    dir: &Path,
    offset: u64,
    make_recovery: F,
) -> Result<(Journal, Vec<StoredRecord>, OpenOutcome), JournalError>
where
    F: FnOnce(&TornRepair) -> Vec<u8>,
{
    let (path, file, bytes, scan) = writer::open_and_scan(dir)?;
    if scan.tail == Tail::Clean {
        return Err(JournalError::NothingToRepair {
            path,
            head: scan.head,
        });
    }
    if offset > scan.valid_len || !scan.is_boundary(offset) {
        return Err(JournalError::NotARecordBoundary {
            path,
            offset,
            valid_len: scan.valid_len,
            nearest_below: scan.boundary_at_or_below(offset.min(scan.valid_len)),
        });
    }
    let repair = quarantine_and_truncate(dir, &path, &file, &bytes, offset, "damaged")?;
    let kept: Vec<StoredRecord> = scan
        .records
        .into_iter()
        .take_while(|r| r.end_offset() <= offset)
        .collect();
    let head = Head {
        count: kept.len() as u64,
        hash: match kept.last() {
            Some(r) => r.hash,
            None => format::genesis_hash(&format::header_bytes()),
        },
    };
    debug_assert!(offset >= HEADER_LEN as u64);
    let journal = Journal::new(path, Box::new(FileStorage::new(file)), head, offset);
    let (journal, records, recovery) =
        writer::append_recovery(journal, kept, make_recovery(&repair))?;
    Ok((
        journal,
        records,
        OpenOutcome::OperatorTruncated { repair, recovery },
    ))
}

#[cfg(test)]
mod tests {
    use super::quarantine_label;

    #[test]
    fn quarantine_copies_are_told_by_their_names() {
        assert_eq!(
            quarantine_label("journal.rbj.torn-120-20261122T000000Z"),
            Some("torn")
        );
        assert_eq!(
            quarantine_label("journal.rbj.damaged-9-20261122T000000Z-1"),
            Some("damaged")
        );
        for other in [
            "journal.rbj",
            "journal.rbj.tmp",
            "journal.rbj.torn",
            "journal.rbj.tornado-1",
            "journal.lock",
            "other.rbj.torn-1-x",
        ] {
            assert_eq!(quarantine_label(other), None, "{other}");
        }
    }
}
