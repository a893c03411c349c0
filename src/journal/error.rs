//! Errors of the journal library, and the damage report shown when a journal cannot be resumed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::Head;
use super::format::{FORMAT_VERSION, HEADER_LEN, MAX_RECORD};
use super::scan::{FrameDefect, Tail};

/// Everything that can go wrong while creating, opening, writing, repairing or verifying a
/// journal. Every message names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An operating-system call failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "read", "fsync the directory of", …).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file does not start with a header this build understands.
    #[error("{}", header_message(path.as_deref(), problem))]
    Header {
        /// The journal file, when known (a scan of bare bytes has none).
        path: Option<PathBuf>,
        /// What is wrong with the header.
        problem: HeaderProblem,
    },
    /// The journal has a bad record that is not a torn tail; it is left untouched and the
    /// operator decides (see [`DamageReport`]).
    #[error("{0}")]
    Damaged(Box<DamageReport>),
    /// There is no `journal.rbj` in the incident directory.
    #[error("no journal at {}", path.display())]
    NotFound {
        /// The journal path that does not exist.
        path: PathBuf,
    },
    /// `create` found an existing journal.
    #[error("{} already exists; refusing to create a new journal over it", path.display())]
    AlreadyExists {
        /// The existing journal.
        path: PathBuf,
    },
    /// A write or sync of this journal failed. The writer is now poisoned: this record is not
    /// acknowledged and no further record is accepted until the journal is re-opened.
    #[error(
        "cannot {op} {}: {source}; the record is not acknowledged and the journal accepts no \
         further records until canton-dr is restarted",
        path.display()
    )]
    WriteFailed {
        /// "write to" or "sync" (or the name of an injected failpoint).
        op: &'static str,
        /// The journal file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An earlier write or sync failed; the writer refuses everything until re-opened (R4).
    #[error(
        "the journal {} accepts no further records after an earlier failure ({cause}); restart \
         canton-dr so that it re-reads the journal from disk",
        path.display()
    )]
    Poisoned {
        /// The journal file.
        path: PathBuf,
        /// The first failure, as text.
        cause: String,
    },
    /// A payload exceeds [`MAX_RECORD`].
    #[error(
        "a record of {len} bytes is larger than the {MAX_RECORD}-byte limit of journal {}",
        path.display()
    )]
    RecordTooLarge {
        /// The journal file.
        path: PathBuf,
        /// The payload length.
        len: usize,
    },
    /// A journal file or directory is readable or writable by group or others (R21).
    #[error(
        "{} is accessible by group or others (mode {mode:04o}); canton-dr requires mode \
         {wanted:04o}: run `chmod {wanted:o} {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The offending file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The mode canton-dr requires.
        wanted: u32,
    },
    /// A journal file or directory belongs to another user (R21).
    #[error("{} is owned by uid {owner}, but canton-dr runs as uid {uid}", path.display())]
    WrongOwner {
        /// The offending file or directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        uid: u32,
    },
    /// A path has the wrong file type (a symlink or directory where a file belongs, …).
    #[error("{} is not a {expected}", path.display())]
    WrongFileType {
        /// The offending path.
        path: PathBuf,
        /// "regular file" or "directory".
        expected: &'static str,
    },
    /// The incident directory is on a network file system, whose locking and fsync semantics
    /// the journal cannot rely on (R10).
    #[error(
        "{} is on a network file system ({fs}); incident journals must be on a local file \
         system because locking and fsync are not reliable there",
        path.display()
    )]
    NetworkFilesystem {
        /// The incident directory.
        path: PathBuf,
        /// The kind of file system.
        fs: &'static str,
    },
    /// An incident id that cannot be used as a directory name.
    #[error(
        "invalid incident id {id:?}: use 1 to 128 letters, digits, '.', '_' or '-', not \
         starting with '.'"
    )]
    InvalidIncidentId {
        /// The rejected id.
        id: String,
    },
    /// `create_incident_dir` found the directory already there.
    #[error("incident directory {} already exists", path.display())]
    IncidentExists {
        /// The existing directory.
        path: PathBuf,
    },
    /// The offset given to `accept_truncation` is not a record boundary of the valid prefix.
    #[error(
        "cannot truncate {} at byte offset {offset}: it is not a record boundary of the valid \
         part of the journal (record boundaries run from {HEADER_LEN} to {valid_len}{nearest})",
        path.display(),
        nearest = nearest_hint(*offset, *nearest_below)
    )]
    NotARecordBoundary {
        /// The journal file.
        path: PathBuf,
        /// The offset the operator gave.
        offset: u64,
        /// The end of the valid prefix.
        valid_len: u64,
        /// The nearest boundary below `offset`, if any.
        nearest_below: Option<u64>,
    },
    /// A writer was asked to append to an image whose tail is not clean.
    #[error("cannot append to {}: its tail is {tail}", path.display())]
    NotClean {
        /// The journal (or its label).
        path: PathBuf,
        /// The tail found.
        tail: Tail,
    },
    /// `accept_truncation` on a journal that has nothing to repair.
    #[error("{} is intact ({head}); there is nothing to repair", path.display())]
    NothingToRepair {
        /// The journal file.
        path: PathBuf,
        /// Its head.
        head: Head,
    },
    /// A head digest given on the command line is not 64 hex digits.
    #[error("invalid head digest: {reason}")]
    BadHeadHex {
        /// Why it was rejected.
        reason: String,
    },
}

impl JournalError {
    /// Wraps an I/O error with what was being done and where.
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> JournalError {
        JournalError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Attaches a path to a header error produced by a scan of bare bytes.
    pub(crate) fn at_path(self, file: &Path) -> JournalError {
        match self {
            JournalError::Header {
                path: None,
                problem,
            } => JournalError::Header {
                path: Some(file.to_path_buf()),
                problem,
            },
            other => other,
        }
    }
}

fn nearest_hint(offset: u64, nearest_below: Option<u64>) -> String {
    match nearest_below {
        Some(b) if b != offset => format!("; the nearest boundary below is {b}"),
        _ => String::new(),
    }
}

/// What is wrong with a journal header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The file is shorter than the header (but what is there matches the magic).
    TooShort {
        /// The file length.
        len: u64,
    },
    /// The file does not start with `CDRJ`.
    BadMagic,
    /// Written by a newer canton-dr.
    NewerVersion {
        /// The version in the file.
        version: u32,
    },
    /// Version 0, which no canton-dr ever wrote.
    UnsupportedVersion {
        /// The version in the file.
        version: u32,
    },
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderProblem::TooShort { len } => write!(
                f,
                "not a canton-dr journal: the file is {len} bytes long, shorter than the \
                 {HEADER_LEN}-byte header"
            ),
            HeaderProblem::BadMagic => {
                write!(
                    f,
                    "not a canton-dr journal (it does not start with \"CDRJ\")"
                )
            }
            HeaderProblem::NewerVersion { version } => write!(
                f,
                "journal format version {version} is newer than this canton-dr understands \
                 ({FORMAT_VERSION}); upgrade canton-dr"
            ),
            HeaderProblem::UnsupportedVersion { version } => write!(
                f,
                "journal format version {version} is not one canton-dr ever wrote \
                 (this canton-dr understands {FORMAT_VERSION})"
            ),
        }
    }
}

fn header_message(path: Option<&Path>, problem: &HeaderProblem) -> String {
    match path {
        Some(p) => format!("{}: {problem}", p.display()),
        None => problem.to_string(),
    }
}

/// The kind of damage that stops an automatic resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// A full-length bad frame with nothing valid after it: a damaged last record or a torn
    /// write that cannot be told apart from one.
    AmbiguousBadLastFrame,
    /// A bad frame followed by at least one valid later frame: damage in the middle.
    Corrupt {
        /// Where the next valid frame starts.
        next_valid_offset: u64,
    },
}

/// Why `open` refused a journal: everything an operator needs to decide, and the command that
/// accepts the loss. The journal file is left exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageReport {
    /// The journal file.
    pub path: PathBuf,
    /// The incident (the name of the incident directory).
    pub incident: String,
    /// What kind of damage.
    pub kind: DamageKind,
    /// What is wrong with the first bad frame.
    pub defect: FrameDefect,
    /// Sequence number of the last good record (`None` if the first record is bad).
    pub last_good_seq: Option<u64>,
    /// Head after the last good record.
    pub head: Head,
    /// Byte offset of the first bad frame, which is also where the good prefix ends.
    pub offset: u64,
    /// Length of the journal file.
    pub file_len: u64,
}

impl fmt::Display for DamageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lost = self.file_len.saturating_sub(self.offset);
        match self.kind {
            DamageKind::AmbiguousBadLastFrame => writeln!(
                f,
                "the journal of incident {} is damaged: the last record, at byte offset {}, is \
                 invalid ({}) and nothing valid follows it",
                self.incident, self.offset, self.defect
            )?,
            DamageKind::Corrupt { next_valid_offset } => writeln!(
                f,
                "the journal of incident {} is corrupt: the record at byte offset {} is invalid \
                 ({}) although a valid record follows at byte offset {next_valid_offset}",
                self.incident, self.offset, self.defect
            )?,
        }
        writeln!(f, "  journal:          {}", self.path.display())?;
        match self.last_good_seq {
            Some(seq) => writeln!(f, "  last good record: seq {seq}")?,
            None => writeln!(f, "  last good record: none (the first record is bad)")?,
        }
        writeln!(
            f,
            "  head:             {} ({} records)",
            self.head.hex(),
            self.head.count
        )?;
        writeln!(
            f,
            "  file length:      {} bytes ({lost} bytes from offset {} on are in question)",
            self.file_len, self.offset
        )?;
        writeln!(
            f,
            "canton-dr does not resume a damaged journal by itself and has not modified it."
        )?;
        writeln!(
            f,
            "Compare the head above with the last head you recorded elsewhere (transcript, \
             ticket). To keep the {} good records, set the rest aside in a quarantine copy \
             and continue, run:",
            self.head.count
        )?;
        write!(
            f,
            "  canton-dr repair {} --accept-truncation-at {}",
            self.incident, self.offset
        )
    }
}
