//! File probes: backups on local disk.
//!
//! - `file.stat`: whether a file exists, its size, modification time and age.
//! - `file.dump`: a PostgreSQL dump (plain SQL, custom, tar or directory format, possibly
//!   gzip-compressed): stream integrity, pg_dump header, database and when it was taken.
//! - `file.dump_order`: whether one dump was taken strictly before another (the validator app
//!   database must be dumped strictly before the participant database).
//! - `file.identities`: a Splice node identities dump is complete. Its content (private keys,
//!   topology snapshot) never leaves this module.
//!
//! All probes are synchronous and read files as streams: a 10 GB dump is never held in memory.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};

use super::{Observed, ProbeError, ProbeRequest};

mod archive;
mod dump;
mod identities;
mod name_time;
mod order;
mod plain;
mod sniff;
mod stat;
mod tar;

/// Runs the file probe named by `req.call.kind.name` (`file.stat`, `file.dump`,
/// `file.dump_order` or `file.identities`); `now` is the instant ages are measured against.
pub fn observe(req: &ProbeRequest, now: DateTime<Utc>) -> Result<Observed, ProbeError> {
    let kind = req.call.kind.name;
    let result = match kind {
        "file.stat" => path_arg(req, "path").and_then(|p| stat::observe(&p, now)),
        "file.dump" => path_arg(req, "path").and_then(|p| dump::observe(&p, now)),
        "file.dump_order" => path_arg(req, "first")
            .and_then(|first| path_arg(req, "second").map(|second| (first, second)))
            .and_then(|(first, second)| order::observe(&first, &second)),
        "file.identities" => path_arg(req, "path").and_then(|p| identities::observe(&p)),
        _ => Err(FileError::NotAFileProbe { kind: kind.into() }),
    };
    result.map_err(ProbeError::from)
}

/// Why a file probe could not observe.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The engine asked this module for a probe kind it does not run.
    #[error("{kind} is not a probe kind the file probes run")]
    NotAFileProbe { kind: String },
    /// A path argument is missing or empty.
    #[error("{kind} needs the path argument '{name}'")]
    Argument { kind: String, name: &'static str },
    /// The file does not exist (for probes where that is an error).
    #[error("{path}: no such file")]
    Missing { path: String },
    /// The file exists but cannot be read or inspected.
    #[error("{path}: cannot read it: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The path names something other than what the probe reads.
    #[error("{path}: is {what}, not a regular file")]
    NotRegular { path: String, what: &'static str },
    /// An identities dump that other users can read.
    #[error(
        "{path}: refusing to read it because it is readable by {who} (mode {mode:04o}); \
         an identities dump holds the participant's private keys, so restrict it first \
         (chmod 600 {path})"
    )]
    Exposed {
        path: String,
        who: &'static str,
        mode: u32,
    },
}

impl FileError {
    pub(crate) fn io(path: &Path, source: io::Error) -> FileError {
        FileError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<FileError> for ProbeError {
    fn from(e: FileError) -> ProbeError {
        ProbeError::new(e.to_string())
    }
}

fn path_arg(req: &ProbeRequest, name: &'static str) -> Result<PathBuf, FileError> {
    match req.text(name) {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(FileError::Argument {
            kind: req.call.kind.name.into(),
            name,
        }),
    }
}

/// The last component of a path, for one-line summaries.
fn display_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    one_line(&name)
}

/// `text` with control characters (a newline in a file or database name) shown as `?`, so that
/// a summary stays one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// An age for people: `2d 3h`, `5h 12m`, `3m 20s`, `42s`; a negative age (a file stamped in
/// the future) reads `-5m 0s`.
fn human_age(age: TimeDelta) -> String {
    let secs = age.num_seconds();
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60, s % 60);
    let body = if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    };
    format!("{sign}{body}")
}

/// A size for people: `812 B`, `3.4 KiB`, `45.0 MiB`, `1.2 GiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A byte count as a result field (saturating: no file is 2^63 bytes long).
fn size_value(bytes: u64) -> crate::value::Value {
    crate::value::Value::Integer(i64::try_from(bytes).unwrap_or(i64::MAX))
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(human_age(TimeDelta::seconds(42)), "42s");
        assert_eq!(human_age(TimeDelta::seconds(200)), "3m 20s");
        assert_eq!(human_age(TimeDelta::seconds(5 * 3600 + 720)), "5h 12m");
        assert_eq!(human_age(TimeDelta::hours(51)), "2d 3h");
        assert_eq!(human_age(TimeDelta::seconds(-300)), "-5m 0s");
    }

    #[test]
    fn names_stay_on_one_line() {
        assert_eq!(display_name(Path::new("/b/va\nl\tid.dump")), "va?l?id.dump");
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(3 * 1024 + 400), "3.4 KiB");
        assert_eq!(human_size(45 * 1024 * 1024), "45.0 MiB");
    }

    #[test]
    fn other_kinds_and_missing_arguments_are_errors() {
        let req = testutil::request("file.dars", &[("dir", "/tmp")]);
        let e = observe(&req, Utc::now()).unwrap_err();
        assert!(e.message.contains("file.dars"), "{e}");

        let req = testutil::request("file.dump_order", &[("first", "/a")]);
        let e = observe(&req, Utc::now()).unwrap_err();
        assert_eq!(
            e.message,
            "file.dump_order needs the path argument 'second'"
        );

        let mut req = testutil::request("file.stat", &[]);
        req.args.insert("path".into(), Value::Null);
        let e = observe(&req, Utc::now()).unwrap_err();
        assert_eq!(e.message, "file.stat needs the path argument 'path'");
    }
}
