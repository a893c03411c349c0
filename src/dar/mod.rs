//! DAR files: reading the manifest and every package id from the archives themselves.
//!
//! A DAR is a zip file with a JAR-style manifest (`META-INF/MANIFEST.MF`) naming the main
//! `.dalf` (`Main-Dalf`) and all of them (`Dalfs`). Each `.dalf` is a `daml_lf.Archive`
//! protobuf; its package id is the lowercase hex SHA-256 of the archive's `payload` bytes,
//! which must equal the archive's declared `hash`. Package ids are never taken from file
//! names. Reading is bounded (entry count, entry size, total size) against zip bombs and
//! never panics on malformed input.
//!
//! What is not checked: whether the Daml-LF inside is well-typed. A participant validates
//! that on `ValidateDarFile`/`UploadDarFile` (see `probe::canton::CantonClient::validate_dar`).

mod manifest;
mod read;
mod render;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use manifest::{Manifest, ManifestError, split_name_version};
pub use render::render_text;

/// Bounds on what a DAR may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries the zip may have.
    pub max_entries: usize,
    /// Largest uncompressed size of one entry that is read (manifest or dalf).
    pub max_entry_size: u64,
    /// Largest total uncompressed size of all entries read.
    pub max_total_size: u64,
    /// Largest DAR file accepted by [`inspect`].
    pub max_file_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 20_000,
            max_entry_size: 512 * 1024 * 1024,
            max_total_size: 2 * 1024 * 1024 * 1024,
            max_file_size: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// What a DAR contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DarInfo {
    /// The DAR's name (from `Name:`, or derived from the main dalf's path by older SDKs).
    pub name: Option<String>,
    /// The DAR's version, when the name carries one.
    pub version: Option<String>,
    /// Where `name` and `version` come from.
    pub name_source: NameSource,
    /// The SDK that built it (`Sdk-Version:`).
    pub sdk_version: Option<String>,
    /// The package id of the main dalf.
    pub main_package_id: String,
    /// Every dalf listed in `Dalfs`, main first, then in manifest order.
    pub packages: Vec<DalfInfo>,
    /// Things a participant may object to (old or unstable Daml-LF versions, odd manifests).
    pub warnings: Vec<String>,
}

/// Where a DAR's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// The manifest's `Name:` attribute.
    Manifest,
    /// The main dalf's file name (the manifest has no `Name:`).
    MainDalfPath,
}

/// One package of a DAR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DalfInfo {
    /// The entry path inside the DAR.
    pub path: String,
    /// The package id: SHA-256 of the archive payload, lowercase hex.
    pub package_id: String,
    /// Uncompressed size of the `.dalf` entry in bytes.
    pub size: u64,
    /// Size of the archive payload in bytes (what a participant reports as package size).
    pub payload_size: u64,
    /// The Daml-LF version, e.g. `2.1`, `2.dev` or `1.15`.
    pub lf_version: Option<String>,
    /// Whether this is the main package.
    pub main: bool,
}

/// A DAR that cannot be read, and where it came from.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {problem}")]
pub struct DarError {
    /// `DAR file <path>` or `DAR` for bytes without a file.
    pub origin: String,
    /// What is wrong.
    pub problem: DarProblem,
}

/// What is wrong with a DAR.
#[derive(Debug, thiserror::Error)]
pub enum DarProblem {
    /// The file cannot be read.
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    /// The file is larger than [`Limits::max_file_size`].
    #[error("the file is {size} bytes, more than the limit of {limit}")]
    FileTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not a zip file at all.
    #[error("not a DAR: the file is not a zip archive ({detail})")]
    NotZip {
        /// What the zip reader said.
        detail: String,
    },
    /// Starts like a zip but its end (or an entry) is missing.
    #[error("the DAR is truncated (an incomplete copy or download?): {detail}")]
    Truncated {
        /// What is missing.
        detail: String,
    },
    /// The zip structure is damaged or uses an unsupported feature.
    #[error("the zip archive is damaged or unsupported: {detail}")]
    BadZip {
        /// What the zip reader said.
        detail: String,
    },
    /// More entries than [`Limits::max_entries`].
    #[error("the DAR has {count} entries, more than the limit of {limit}")]
    TooManyEntries {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An entry is larger than [`Limits::max_entry_size`].
    #[error("entry {entry} is larger than the limit of {limit} bytes (a zip bomb?)")]
    EntryTooLarge {
        /// The entry.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// The entries read exceed [`Limits::max_total_size`].
    #[error("the DAR's entries add up to more than the limit of {limit} bytes (a zip bomb?)")]
    TooLargeInTotal {
        /// The limit.
        limit: u64,
    },
    /// No `META-INF/MANIFEST.MF`.
    #[error("not a DAR: there is no META-INF/MANIFEST.MF")]
    NoManifest,
    /// The manifest is malformed.
    #[error("META-INF/MANIFEST.MF: {0}")]
    Manifest(#[from] ManifestError),
    /// A required manifest attribute is missing.
    #[error("META-INF/MANIFEST.MF has no {attribute} attribute")]
    MissingAttribute {
        /// `Main-Dalf`, `Dalfs` or `Format`.
        attribute: &'static str,
    },
    /// `Format` is not `daml-lf`.
    #[error("META-INF/MANIFEST.MF says Format: {found:?}, expected \"daml-lf\"")]
    WrongFormat {
        /// The value found.
        found: String,
    },
    /// `Main-Dalf` names an entry that is not in the zip.
    #[error("Main-Dalf names {entry}, which is not in the DAR")]
    MainDalfMissing {
        /// The entry named.
        entry: String,
    },
    /// `Dalfs` names an entry that is not in the zip.
    #[error("Dalfs lists {entry}, which is not in the DAR")]
    DalfMissing {
        /// The entry named.
        entry: String,
    },
    /// An entry could not be decompressed.
    #[error("entry {entry} cannot be read: {detail}")]
    Entry {
        /// The entry.
        entry: String,
        /// What went wrong.
        detail: String,
    },
    /// A `.dalf` is not a `daml_lf.Archive`.
    #[error("{entry} is not a Daml-LF archive: {detail}")]
    MalformedArchive {
        /// The entry.
        entry: String,
        /// What is wrong.
        detail: String,
    },
    /// A `.dalf` uses a hash function other than SHA-256.
    #[error("{entry} uses hash function {function}, only SHA-256 (0) is known")]
    UnsupportedHash {
        /// The entry.
        entry: String,
        /// The enum value found.
        function: i32,
    },
    /// The declared hash differs from the payload's SHA-256.
    #[error(
        "{entry}: the archive declares package id {declared:?} but its payload hashes to {computed}"
    )]
    HashMismatch {
        /// The entry.
        entry: String,
        /// The `hash` field.
        declared: String,
        /// SHA-256 of the payload.
        computed: String,
    },
}

/// Reads a DAR file with the default [`Limits`].
pub fn inspect(path: impl AsRef<Path>) -> Result<DarInfo, DarError> {
    inspect_with_limits(path, &Limits::default())
}

/// Reads a DAR file within the given limits.
pub fn inspect_with_limits(path: impl AsRef<Path>, limits: &Limits) -> Result<DarInfo, DarError> {
    let path = path.as_ref();
    let origin = format!("DAR file {}", path.display());
    let fail = |problem| DarError {
        origin: origin.clone(),
        problem,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| fail(DarProblem::Io(e)))?
        .len();
    if size > limits.max_file_size {
        return Err(fail(DarProblem::FileTooLarge {
            size,
            limit: limits.max_file_size,
        }));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(DarProblem::Io(e)))?;
    read::read(&bytes, limits).map_err(fail)
}

/// Reads a DAR held in memory with the default [`Limits`].
pub fn from_bytes(bytes: &[u8]) -> Result<DarInfo, DarError> {
    from_bytes_with_limits(bytes, &Limits::default())
}

/// Reads a DAR held in memory within the given limits.
pub fn from_bytes_with_limits(bytes: &[u8], limits: &Limits) -> Result<DarInfo, DarError> {
    read::read(bytes, limits).map_err(|problem| DarError {
        origin: "DAR".into(),
        problem,
    })
}

/// Every `.dar` file directly in a directory, sorted by name.
pub fn dar_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("dar"))
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
