//! Transcript renderers (Markdown, HTML, JSON) over a replayed journal, journal verification
//! and signed checkpoints.
//!
//! An export reads one file, the incident's `journal.rbj`, and nothing else (R16): the runbook
//! and profile it needs are embedded in the journal's opening record. The transcript is built
//! from the engine's own fold of the records ([`build`]), every text in it passes through the
//! redactor's pattern rules once more ([`redact`]), and it is rendered without any clock or
//! environment input, so the same journal always gives byte-identical exports. Files are
//! written atomically with mode 0600 into a directory nobody else can write ([`write`]).
//!
//! The Markdown and HTML transcripts end with the record count and head digest and the command
//! that checks them ([`verify`]); [`checkpoint`] signs the same facts with an SSH key.

use std::path::{Path, PathBuf};

use crate::engine::state::ReplayError;
use crate::journal::{self, JournalError, Scan};

pub mod build;
pub mod checkpoint;
pub mod drill;
pub mod html;
pub mod markdown;
pub mod model;
pub mod redact;
pub mod text;
pub mod verify;
pub mod write;

pub use checkpoint::{Anchor, Checkpoint, CheckpointError, SignatureCheck, SignedCheckpoint};
pub use model::{SCHEMA_VERSION, Transcript};
pub use verify::{CheckpointRequest, Verification, verify_incident};
pub use write::write_private;

/// A transcript format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown, for change tickets.
    Markdown,
    /// One self-contained HTML file.
    Html,
    /// JSON following `assets/transcript.schema.json`.
    Json,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
        }
    }

    /// The file an export of this format gets in the incident directory by default.
    pub fn default_file_name(self) -> String {
        format!("transcript.{}", self.extension())
    }
}

/// Why an export, a verification or a checkpoint failed. Messages name the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The journal could not be read, or is not a journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The journal's records do not replay.
    #[error("cannot build a transcript of {}: {source}", journal.display())]
    Replay {
        /// The journal file.
        journal: PathBuf,
        /// Why.
        #[source]
        source: ReplayError,
    },
    /// A file could not be read or written.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The directory an export would go to can be changed by others.
    #[error(
        "refusing to write into {}: it is writable by group or others (mode {mode:04o}), so \
         anyone could replace the file; choose a directory only you can write (e.g. mode 0700)",
        dir.display()
    )]
    UnsafeDirectory {
        /// The directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory an export would go to belongs to someone else.
    #[error(
        "refusing to write into {}: it belongs to uid {owner}, but canton-dr runs as uid {uid}",
        dir.display()
    )]
    ForeignDirectory {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's effective uid.
        uid: u32,
    },
    /// The parent of an output path is not a directory.
    #[error("cannot write into {}: it is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The output path exists and is not a regular file, or names no file.
    #[error(
        "refusing to write {}: it is not a regular file (a directory or a symbolic link is \
         never replaced)",
        path.display()
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A checkpoint could not be made, read or checked.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A transcript could not be converted between its typed and JSON forms.
    #[error("internal error while preparing the transcript: {0}")]
    Internal(String),
}

impl ExportError {
    pub(crate) fn internal(e: serde_json::Error) -> ExportError {
        ExportError::Internal(e.to_string())
    }
}

/// The journal file of `path`: `path/journal.rbj` for an incident directory, else `path`.
pub fn journal_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(journal::JOURNAL_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Reads and scans a journal (given as a file or an incident directory). Reads nothing else.
pub fn read_journal(path: &Path) -> Result<(PathBuf, Scan), ExportError> {
    let file = journal_file(path);
    let bytes = std::fs::read(&file).map_err(|source| ExportError::Io {
        op: "read the journal",
        path: file.clone(),
        source,
    })?;
    let scan = journal::scan(&bytes).map_err(|e| match e {
        JournalError::Header { problem, .. } => JournalError::Header {
            path: Some(file.clone()),
            problem,
        },
        other => other,
    })?;
    Ok((file, scan))
}

/// The redacted transcript of a scanned journal; `journal` names it in messages.
pub fn transcript(scan: &Scan, journal: &Path) -> Result<Transcript, ExportError> {
    let built = build::build(scan).map_err(|source| ExportError::Replay {
        journal: journal.to_path_buf(),
        source,
    })?;
    redact::redact_transcript(built)
}

/// Renders a transcript.
pub fn render(t: &Transcript, format: Format) -> Result<String, ExportError> {
    Ok(match format {
        Format::Markdown => markdown::render(t),
        Format::Html => html::render(t),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(t).map_err(ExportError::internal)?;
            text.push('\n');
            text
        }
    })
}

/// Reads, builds and renders in one go: the export of the journal at `path`.
pub fn export(path: &Path, format: Format) -> Result<(Transcript, String), ExportError> {
    let (file, scan) = read_journal(path)?;
    let t = transcript(&scan, &file)?;
    let text = render(&t, format)?;
    Ok((t, text))
}

/// Builds the signed checkpoint of a scanned journal (read from `file`) with the SSH key at
/// `key`.
pub fn make_checkpoint(
    scan: &Scan,
    file: &Path,
    key: &Path,
) -> Result<SignedCheckpoint, ExportError> {
    let id = verify::incident_id_of(scan).ok_or_else(|| ExportError::Replay {
        journal: file.to_path_buf(),
        source: ReplayError::Empty,
    })?;
    let cp = Checkpoint::new(&id, scan.head);
    let body = cp.body();
    let signature = checkpoint::sign(&body, key, checkpoint::NAMESPACE)?;
    Ok(SignedCheckpoint {
        checkpoint: cp,
        body,
        signature,
    })
}
