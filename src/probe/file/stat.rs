//! `file.stat`: existence, size, modification time and age of a regular file.

use std::fs::{self, Metadata};
use std::io;
use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use super::{FileError, display_name, human_age, human_size, size_value};
use crate::probe::{Observed, record};
use crate::value::{Value, format_timestamp};

/// Size and modification time of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    pub size: u64,
    /// Truncated to the microsecond, like every timestamp value.
    pub modified: DateTime<Utc>,
}

impl Stat {
    pub fn from_metadata(path: &Path, meta: &Metadata) -> Result<Stat, FileError> {
        let modified = meta.modified().map_err(|e| FileError::io(path, e))?;
        Ok(Stat {
            size: meta.len(),
            modified: to_utc_micros(modified),
        })
    }

    /// The four `file.stat` fields, with `exists = true`.
    pub fn fields(&self, now: DateTime<Utc>) -> [(&'static str, Value); 4] {
        [
            ("exists", Value::Bool(true)),
            ("size", size_value(self.size)),
            ("modified", Value::Timestamp(self.modified)),
            ("age", Value::Duration(now - self.modified)),
        ]
    }

    /// The four `file.stat` fields of a missing file.
    pub fn missing_fields() -> [(&'static str, Value); 4] {
        [
            ("exists", Value::Bool(false)),
            ("size", Value::Null),
            ("modified", Value::Null),
            ("age", Value::Null),
        ]
    }
}

/// A system time as a UTC timestamp with microsecond precision.
pub(super) fn to_utc_micros(t: SystemTime) -> DateTime<Utc> {
    let t: DateTime<Utc> = t.into();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The metadata of `path` (following symlinks), or `None` when nothing is there.
pub(super) fn lookup(path: &Path) -> Result<Option<Metadata>, FileError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError::io(path, e)),
    }
}

/// What a non-regular file is, for messages.
pub(super) fn kind_of(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

pub(super) fn observe(path: &Path, now: DateTime<Utc>) -> Result<Observed, FileError> {
    let Some(meta) = lookup(path)? else {
        return Ok(Observed {
            value: record(Stat::missing_fields()),
            summary: format!("{}: does not exist", path.display()),
        });
    };
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.display().to_string(),
            what: kind_of(&meta),
        });
    }
    // Opening proves the file is readable: a backup the operator cannot read is no backup.
    fs::File::open(path).map_err(|e| FileError::io(path, e))?;
    let stat = Stat::from_metadata(path, &meta)?;
    let age = now - stat.modified;
    Ok(Observed {
        value: record(stat.fields(now)),
        summary: format!(
            "{}: {}, modified {}, {} old",
            display_name(path),
            human_size(stat.size),
            format_timestamp(&stat.modified),
            human_age(age)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{self, assert_catalog_shape, field, flag, int, timestamp};
    use super::*;
    use chrono::TimeDelta;
    use std::time::Duration;

    fn stat(path: &Path, now: DateTime<Utc>) -> Result<Observed, crate::probe::ProbeError> {
        let req = testutil::request("file.stat", &[("path", &path.display().to_string())]);
        super::super::observe(&req, now)
    }

    #[test]
    fn a_file_reports_size_mtime_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator.dump");
        fs::write(&path, vec![7u8; 1500]).unwrap();
        let mtime = SystemTime::UNIX_EPOCH + Duration::new(1_763_611_200, 123_456_789);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let modified = DateTime::parse_from_rfc3339("2025-11-20T04:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let now = modified + TimeDelta::hours(51);

        let o = stat(&path, now).unwrap();
        assert_catalog_shape("file.stat", &o);
        assert!(flag(&o, "exists"));
        assert_eq!(int(&o, "size"), Some(1500));
        assert_eq!(timestamp(&o, "modified"), Some(modified));
        assert_eq!(field(&o, "age"), &Value::Duration(TimeDelta::hours(51)));
        assert_eq!(
            o.summary,
            "validator.dump: 1.5 KiB, modified 2025-11-20T04:00:00.123456Z, 2d 3h old"
        );
    }

    #[test]
    fn a_missing_file_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.dump");
        let o = stat(&path, Utc::now()).unwrap();
        assert_catalog_shape("file.stat", &o);
        assert!(!flag(&o, "exists"));
        assert_eq!(field(&o, "size"), &Value::Null);
        assert!(
            o.summary.ends_with("nope.dump: does not exist"),
            "{}",
            o.summary
        );
    }

    #[test]
    fn a_directory_or_unreachable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = stat(dir.path(), Utc::now()).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "{}: is a directory, not a regular file",
                dir.path().display()
            )
        );

        // A path through a regular file cannot be looked up (ENOTDIR): an error, not "missing".
        let file = dir.path().join("plain");
        fs::write(&file, b"x").unwrap();
        let bad = file.join("child");
        let e = stat(&bad, Utc::now()).unwrap_err();
        assert!(
            e.message
                .starts_with(&format!("{}: cannot read it: ", bad.display())),
            "{e}"
        );
    }
}
