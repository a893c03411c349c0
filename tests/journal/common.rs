//! Helpers shared by the journal tests.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use canton_dr::journal::{self, Journal, StoredRecord, TornRepair};
use tempfile::TempDir;

/// A fresh private incident directory `<tmp>/incident`. On Linux it lives on tmpfs when one is
/// available, so that tests doing thousands of repairs do not wait for a disk's fsync.
pub fn incident() -> (TempDir, PathBuf) {
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("cdr-journal-test")
            .tempdir_in(shm)
            .or_else(|_| tempfile::tempdir())
    } else {
        tempfile::tempdir()
    }
    .expect("create a temporary directory");
    let dir = journal::create_incident_dir(tmp.path(), "incident").expect("create incident dir");
    (tmp, dir)
}

/// A JSON payload of roughly `pad` extra bytes, distinct per `i`.
pub fn payload(i: usize, pad: usize) -> Vec<u8> {
    format!(
        "{{\"kind\":\"step_completed\",\"i\":{i},\"n\":{},\"note\":\"{}\"}}",
        1000 + i * 7919,
        "x".repeat(pad)
    )
    .into_bytes()
}

/// The RECOVERY payload a caller would journal for a repair.
pub fn recovery_payload(r: &TornRepair) -> Vec<u8> {
    format!(
        "{{\"kind\":\"RECOVERY\",\"truncated_bytes\":{},\"sha256\":\"{}\"}}",
        r.truncated_bytes, r.sha256_of_removed_bytes
    )
    .into_bytes()
}

/// Creates a journal in `dir` holding `payloads` and returns its bytes.
pub fn build(dir: &Path, payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut j = Journal::create(dir).expect("create journal");
    for p in payloads {
        j.append(p).expect("append");
    }
    drop(j);
    fs::read(journal_file(dir)).expect("read journal")
}

/// `dir/journal.rbj`.
pub fn journal_file(dir: &Path) -> PathBuf {
    dir.join(journal::JOURNAL_FILE)
}

/// Replaces the journal with `bytes`, mode 0600.
pub fn write_journal(dir: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(journal_file(dir))
        .expect("open journal for rewriting");
    f.write_all(bytes).expect("rewrite journal");
}

/// The names of files in `dir` that start with `prefix`.
pub fn files_starting_with(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    out.sort();
    out
}

/// Removes quarantine copies left by an earlier iteration.
pub fn remove_quarantines(dir: &Path) {
    for p in files_starting_with(dir, "journal.rbj.") {
        fs::remove_file(p).expect("remove quarantine copy");
    }
}

/// The record boundaries of an intact journal image: the header end and every record end.
pub fn boundaries(records: &[StoredRecord]) -> Vec<u64> {
    let mut out = vec![journal::HEADER_LEN as u64];
    out.extend(records.iter().map(StoredRecord::end_offset));
    out
}

/// Re-encodes `payloads` as a complete, valid journal image (used to forge rewritten chains).
pub fn encode_image(payloads: &[&[u8]]) -> Vec<u8> {
    use canton_dr::journal::format;
    let header = format::header_bytes();
    let mut out = header.to_vec();
    let mut prev = format::genesis_hash(&header);
    for (seq, p) in payloads.iter().enumerate() {
        let len = format::encode_frame(&mut out, seq as u64, &prev, p).expect("encode");
        prev = format::chain_hash(&prev, seq as u64, len, p);
    }
    out
}
