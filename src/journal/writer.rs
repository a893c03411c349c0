//! The journal writer: atomic creation (R2), opening with automatic torn-tail repair (R7), and
//! durable appends that fail closed (R3, R4).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::{DamageKind, DamageReport, JournalError};
use super::format::{self, HEADER_LEN};
use super::fsutil::{self, check_incident_dir, check_private_file, fsync_dir};
use super::repair::{self, TornRepair};
use super::scan::{self, Scan, StoredRecord, Tail};
use super::storage::{FileStorage, Storage};
use super::{Ack, Head, JOURNAL_FILE};

/// Name of the temporary file `create` renames into place.
pub(crate) const TMP_FILE: &str = "journal.rbj.tmp";

/// How `open` (or `accept_truncation`) found the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    /// The journal ended cleanly; nothing was changed.
    Clean,
    /// A torn tail was quarantined and cut off, and the caller's RECOVERY record appended.
    TornRepaired {
        /// What was cut off and where the original is kept.
        repair: TornRepair,
        /// The acknowledgement of the RECOVERY record.
        recovery: Ack,
    },
    /// The operator accepted a truncation of a damaged journal (see
    /// [`accept_truncation`](super::accept_truncation)); the original was quarantined and the
    /// caller's RECOVERY record appended.
    OperatorTruncated {
        /// What was cut off and where the original is kept.
        repair: TornRepair,
        /// The acknowledgement of the RECOVERY record.
        recovery: Ack,
    },
}

/// The path of the journal in an incident directory.
pub fn journal_path(dir: &Path) -> PathBuf {
    dir.join(JOURNAL_FILE)
}

/// The single writer of one journal file. Obtain it with [`Journal::create`] or
/// [`Journal::open`] while holding the incident's [`IncidentLock`](super::IncidentLock).
pub struct Journal {
    path: PathBuf,
    storage: Box<dyn Storage>,
    next_seq: u64,
    head_hash: [u8; 32],
    len: u64,
    poisoned: Option<String>,
    buf: Vec<u8>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("head", &self.head())
            .field("len", &self.len)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// Defines functions for failpoints that, configured to `return`, make the current operation
/// fail as if the disk had returned an error (active only with the `failpoints` feature).
macro_rules! io_failpoints {
    ($($fn_name:ident => $name:literal),* $(,)?) => {$(
        fn $fn_name() -> io::Result<()> {
            fail::fail_point!($name, |_| Err(io::Error::other(concat!(
                "injected failure at failpoint ",
                $name
            ))));
            Ok(())
        }
    )*};
}

io_failpoints! {
    fp_create_after_tmp_sync => "journal::create_after_tmp_sync",
    fp_create_after_rename => "journal::create_after_rename",
    fp_before_write => "journal::before_write",
    fp_after_write_before_sync => "journal::after_write_before_sync",
    fp_after_sync_before_ack => "journal::after_sync_before_ack",
}

impl Journal {
    /// Creates an empty journal in `dir` (R2): `journal.rbj.tmp` with `create_new` and mode
    /// 0600, the header, `sync_all`, rename to `journal.rbj` (never replacing an existing one),
    /// fsync of the directory. A crash at any point leaves no `journal.rbj` or a valid empty
    /// one.
    ///
    /// If `journal.rbj` already exists this fails and touches nothing. Otherwise a leftover
    /// `journal.rbj.tmp` can only come from a `create` that crashed before its rename; it holds
    /// at most the header, so it is removed (the only file this module ever deletes) and the
    /// creation starts over.
    pub fn create(dir: &Path) -> Result<Journal, JournalError> {
        check_incident_dir(dir)?;
        let path = journal_path(dir);
        let tmp = dir.join(TMP_FILE);
        if exists_no_follow(&path)? {
            return Err(JournalError::AlreadyExists { path });
        }
        if exists_no_follow(&tmp)? {
            std::fs::remove_file(&tmp)
                .map_err(|e| JournalError::io("remove the leftover", &tmp, e))?;
            fsync_dir(dir)?;
        }
        let mut file = fsutil::create_private_file(&tmp, true)?;
        let header = format::header_bytes();
        io::Write::write_all(&mut file, &header)
            .and_then(|()| file.sync_all())
            .map_err(|e| JournalError::io("write the header of", &tmp, e))?;
        fp_create_after_tmp_sync().map_err(|e| JournalError::io("create", &tmp, e))?;
        rename_no_replace(&tmp, &path)?;
        fp_create_after_rename().map_err(|e| JournalError::io("create", &path, e))?;
        fsync_dir(dir)?;
        Ok(Journal::new(
            path,
            Box::new(FileStorage::new(file)),
            Head {
                count: 0,
                hash: format::genesis_hash(&header),
            },
            HEADER_LEN as u64,
        ))
    }

    /// Opens the journal in `dir` for appending and returns it with every valid record.
    ///
    /// - A clean journal opens unchanged ([`OpenOutcome::Clean`]).
    /// - A torn tail is repaired (R7): the whole file is copied to
    ///   `journal.rbj.torn-<size>-<ts>` (0600, fsynced), cut back to the valid prefix, and the
    ///   payload `on_torn` builds from the [`TornRepair`] (the caller's RECOVERY record) is
    ///   appended. The returned records include that RECOVERY record.
    /// - Any other damage returns [`JournalError::Damaged`] and leaves the file untouched.
    ///
    /// The directory and the file must be private to this user and on a local file system
    /// (R10, R21). The caller must hold the incident lock.
    pub fn open<F>(
        dir: &Path,
        on_torn: F,
    ) -> Result<(Journal, Vec<StoredRecord>, OpenOutcome), JournalError>
    where
        F: FnOnce(&TornRepair) -> Vec<u8>,
    {
        Journal::open_with(dir, on_torn, |file| Box::new(FileStorage::new(file)))
    }

    /// [`Journal::open`] with a caller-supplied [`Storage`] around the opened file (opened for
    /// reading and appending), for fault injection in tests.
    pub fn open_with<F, W>(
        dir: &Path,
        on_torn: F,
        wrap: W,
    ) -> Result<(Journal, Vec<StoredRecord>, OpenOutcome), JournalError>
    where
        F: FnOnce(&TornRepair) -> Vec<u8>,
        W: FnOnce(File) -> Box<dyn Storage>,
    {
        let (path, file, bytes, scan) = open_and_scan(dir)?;
        match scan.tail {
            Tail::Clean => {
                let journal = Journal::new(path, wrap(file), scan.head, scan.valid_len);
                Ok((journal, scan.records, OpenOutcome::Clean))
            }
            Tail::Torn { valid_len, .. } => {
                let repair =
                    repair::quarantine_and_truncate(dir, &path, &file, &bytes, valid_len, "torn")?;
                let records = scan.records;
                let journal = Journal::new(path, wrap(file), scan.head, valid_len);
                let (journal, records, recovery) =
                    append_recovery(journal, records, on_torn(&repair))?;
                Ok((
                    journal,
                    records,
                    OpenOutcome::TornRepaired { repair, recovery },
                ))
            }
            Tail::AmbiguousBadLastFrame { offset } => Err(damaged(
                dir,
                path,
                &scan,
                DamageKind::AmbiguousBadLastFrame,
                offset,
            )),
            Tail::Corrupt {
                offset,
                next_valid_offset,
            } => Err(damaged(
                dir,
                path,
                &scan,
                DamageKind::Corrupt { next_valid_offset },
                offset,
            )),
        }
    }

    /// A writer over arbitrary storage that holds exactly the image `scan` was made from, for
    /// simulations. The tail must be clean. `label` names the journal in error messages.
    pub fn from_scan(
        label: PathBuf,
        storage: Box<dyn Storage>,
        scan: &Scan,
    ) -> Result<Journal, JournalError> {
        if scan.tail != Tail::Clean {
            return Err(JournalError::NotClean {
                path: label,
                tail: scan.tail,
            });
        }
        Ok(Journal::new(label, storage, scan.head, scan.valid_len))
    }

    pub(crate) fn new(path: PathBuf, storage: Box<dyn Storage>, head: Head, len: u64) -> Journal {
        Journal {
            path,
            storage,
            next_seq: head.count,
            head_hash: head.hash,
            len,
            poisoned: None,
            buf: Vec::new(),
        }
    }

    /// Appends one record and makes it durable before acknowledging it (R3): the frame is
    /// encoded into one buffer, written with one `write_all`, then `sync_data`. Any write or sync
    /// error (or injected failpoint) poisons the writer (R4): this call returns
    /// [`JournalError::WriteFailed`], the file is cut back to the last acknowledged record on a
    /// best-effort basis, the sync is never retried, and every later call returns
    /// [`JournalError::Poisoned`].
    pub fn append(&mut self, payload: &[u8]) -> Result<Ack, JournalError> {
        self.append_at(payload).map(|(ack, _)| ack)
    }

    /// [`Journal::append`], also returning the record's file offset.
    fn append_at(&mut self, payload: &[u8]) -> Result<(Ack, u64), JournalError> {
        if let Some(cause) = &self.poisoned {
            return Err(JournalError::Poisoned {
                path: self.path.clone(),
                cause: cause.clone(),
            });
        }
        let seq = self.next_seq;
        self.buf.clear();
        let Some(body_len) = format::encode_frame(&mut self.buf, seq, &self.head_hash, payload)
        else {
            return Err(JournalError::RecordTooLarge {
                path: self.path.clone(),
                len: payload.len(),
            });
        };
        if let Err(e) = fp_before_write() {
            return Err(self.poison("write to", e, true));
        }
        if let Err(e) = self.storage.write_all(&self.buf) {
            return Err(self.poison("write to", e, true));
        }
        if let Err(e) = fp_after_write_before_sync() {
            return Err(self.poison("sync", e, true));
        }
        if let Err(e) = self.storage.sync_data() {
            return Err(self.poison("sync", e, true));
        }
        if let Err(e) = fp_after_sync_before_ack() {
            // The record is durable but never acknowledged; keep it, as a crash here would.
            return Err(self.poison("acknowledge a record in", e, false));
        }
        let offset = self.len;
        self.len += self.buf.len() as u64;
        self.head_hash = format::chain_hash(&self.head_hash, seq, body_len, payload);
        self.next_seq += 1;
        Ok((
            Ack {
                seq,
                head: self.head(),
            },
            offset,
        ))
    }

    /// Marks the writer unusable after a failed operation and, if `cut`, tries to remove the
    /// unacknowledged bytes. The error of the failed operation is returned; nothing is retried.
    fn poison(&mut self, op: &'static str, source: io::Error, cut: bool) -> JournalError {
        self.poisoned = Some(format!("{op} failed: {source}"));
        if cut {
            // Best effort only: whatever happens here, the writer stays poisoned and the next
            // open re-establishes the truth by scanning the file.
            let _ = self
                .storage
                .set_len(self.len)
                .and_then(|()| self.storage.sync_all());
        }
        JournalError::WriteFailed {
            op,
            path: self.path.clone(),
            source,
        }
    }

    /// The head after the last acknowledged record.
    pub fn head(&self) -> Head {
        Head {
            count: self.next_seq,
            hash: self.head_hash,
        }
    }

    /// The `seq` the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Length of the journal up to the last acknowledged record.
    pub fn durable_len(&self) -> u64 {
        self.len
    }

    /// The journal file (or the label given to [`Journal::from_scan`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether an earlier failure has made this writer refuse all appends.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }
}

/// Appends the caller's RECOVERY payload after a repair and adds it to the record list.
pub(crate) fn append_recovery(
    mut journal: Journal,
    mut records: Vec<StoredRecord>,
    payload: Vec<u8>,
) -> Result<(Journal, Vec<StoredRecord>, Ack), JournalError> {
    let (ack, offset) = journal.append_at(&payload)?;
    records.push(StoredRecord {
        seq: ack.seq,
        offset,
        payload,
        hash: ack.head.hash,
    });
    Ok((journal, records, ack))
}

/// Opens `dir/journal.rbj` for reading and appending after the directory and file checks, and
/// scans it.
pub(crate) fn open_and_scan(dir: &Path) -> Result<(PathBuf, File, Vec<u8>, Scan), JournalError> {
    check_incident_dir(dir)?;
    let path = journal_path(dir);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => JournalError::NotFound { path: path.clone() },
            _ => JournalError::io("open", &path, e),
        })?;
    check_private_file(&path, &file)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| JournalError::io("read", &path, e))?;
    let scan = scan::scan(&bytes).map_err(|e| e.at_path(&path))?;
    Ok((path, file, bytes, scan))
}

/// The error for a journal that must not be resumed.
fn damaged(dir: &Path, path: PathBuf, scan: &Scan, kind: DamageKind, offset: u64) -> JournalError {
    JournalError::Damaged(Box::new(DamageReport {
        incident: incident_name(dir),
        path,
        kind,
        defect: scan.defect.unwrap_or(super::scan::FrameDefect::Checksum),
        last_good_seq: scan.records.last().map(|r| r.seq),
        head: scan.head,
        offset,
        file_len: scan.file_len,
    }))
}

/// The incident's name: the last component of its directory.
pub(crate) fn incident_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

fn exists_no_follow(path: &Path) -> Result<bool, JournalError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(JournalError::io("inspect", path, e)),
    }
}

/// Renames `from` to `to` inside `dir` without ever replacing an existing `to`.
fn rename_no_replace(from: &Path, to: &Path) -> Result<(), JournalError> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EEXIST) => {
                return Err(JournalError::AlreadyExists {
                    path: to.to_path_buf(),
                });
            }
            // File systems without RENAME_NOREPLACE: fall back to the checked plain rename.
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {}
            Err(e) => {
                return Err(JournalError::io(
                    "rename into place",
                    to,
                    io::Error::from(e),
                ));
            }
        }
    }
    if exists_no_follow(to)? {
        return Err(JournalError::AlreadyExists {
            path: to.to_path_buf(),
        });
    }
    std::fs::rename(from, to).map_err(|e| JournalError::io("rename into place", to, e))
}
