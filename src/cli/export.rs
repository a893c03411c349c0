//! `canton-dr export`: the audit transcript of an incident, from its journal alone.

use std::path::{Path, PathBuf};

use crate::engine::incident;
use crate::export::{self, ExportError, Format};
use crate::journal::{JournalError, Scan, Tail};

use super::exit;
use super::paths::Paths;

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The incident: its id, a unique part of it, or the path of its directory or journal
    pub incident: String,
    /// Transcript format
    #[arg(long, value_enum, default_value = "md")]
    pub format: FormatArg,
    /// Where to write it; "-" for standard output [default: transcript.<format> in the
    /// incident directory]
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Transcript formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    /// Markdown, for a change ticket
    Md,
    /// One self-contained HTML file, printable
    Html,
    /// JSON (schema: assets/transcript.schema.json)
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Md => Format::Markdown,
            FormatArg::Html => Format::Html,
            FormatArg::Json => Format::Json,
        }
    }
}

/// Finds the incident an argument names: a journal file, an incident directory, or an id (or
/// unique part of one) under the data directory. Returns the incident directory or journal.
pub fn find_incident(wanted: &str, paths: &Paths) -> Result<PathBuf, String> {
    let as_path = Path::new(wanted);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    incident::locate(&paths.incidents(), Some(wanted)).map_err(|e| e.to_string())
}

/// The directory an incident argument resolved to (for a journal file, the one holding it).
pub fn incident_dir(found: &Path) -> PathBuf {
    if found.is_dir() {
        return found.to_path_buf();
    }
    match found.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reports a journal that cannot be read; returns the exit code.
pub fn report_read_error(e: &ExportError) -> u8 {
    eprintln!("canton-dr: {e}");
    match e {
        ExportError::Journal(JournalError::Header { .. }) => exit::FAILED,
        _ => exit::USAGE,
    }
}

/// Refuses a journal whose valid part is followed by damage other than a torn last write;
/// warns about a torn one. Returns the exit code to stop with, if any.
pub fn check_tail(file: &Path, scan: &Scan, id: &str) -> Option<u8> {
    match scan.tail {
        Tail::Clean => None,
        Tail::Torn { .. } => {
            eprintln!(
                "canton-dr: warning: the journal {} ends in a record whose writing was \
                 interrupted ({}); the {} complete records are used, and `canton-dr resume` \
                 repairs the journal",
                file.display(),
                scan.tail,
                scan.head.count
            );
            None
        }
        Tail::AmbiguousBadLastFrame { .. } | Tail::Corrupt { .. } => {
            eprintln!(
                "canton-dr: the journal {} is damaged ({}); nothing was written. See \
                 `canton-dr verify {id}` for details.",
                file.display(),
                scan.tail
            );
            Some(exit::JOURNAL_DAMAGED)
        }
    }
}

/// Runs `export`.
pub fn run(args: &Args, paths: &Paths) -> color_eyre::Result<u8> {
    let found = match find_incident(&args.incident, paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let (file, scan) = match export::read_journal(&found) {
        Ok(x) => x,
        Err(e) => return Ok(report_read_error(&e)),
    };
    if let Some(code) = check_tail(&file, &scan, &args.incident) {
        return Ok(code);
    }
    let format = Format::from(args.format);
    let rendered = export::transcript(&scan, &file).and_then(|t| export::render(&t, format));
    let text = match rendered {
        Ok(text) => text,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::FAILED);
        }
    };
    let target = match &args.output {
        Some(p) if p.as_os_str() == "-" => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            return Ok(exit::OK);
        }
        Some(p) => p.clone(),
        None => incident_dir(&found).join(format.default_file_name()),
    };
    match export::write_private(&target, text.as_bytes()) {
        Ok(path) => {
            eprintln!(
                "wrote {}: {} records, head {}",
                path.display(),
                scan.head.count,
                scan.head.hex()
            );
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!("canton-dr: {e}");
            Ok(exit::USAGE)
        }
    }
}
