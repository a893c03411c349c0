//! `file.dump`: a PostgreSQL dump's integrity, format, database and creation time.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::archive::{self, ArchiveFormat};
use super::name_time::{NameTime, time_in_name};
use super::sniff::{self, Content, Format, describe_gzip_error};
use super::stat::{Stat, kind_of, lookup, to_utc_micros};
use super::{FileError, display_name, human_age, human_size};
use crate::probe::{Observed, record};
use crate::value::{Value, format_timestamp};

/// Where a dump's creation time comes from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Basis {
    /// The archive header's creation time, or a plain dump's `-- Started on` line.
    Header,
    /// A date and time in the file name.
    Name,
    /// The file's modification time.
    Mtime,
}

impl Basis {
    pub const ALL: [Basis; 3] = [Basis::Header, Basis::Name, Basis::Mtime];

    /// The name used in results (`time_basis`, `basis`).
    pub fn name(self) -> &'static str {
        match self {
            Basis::Header => "header",
            Basis::Name => "name",
            Basis::Mtime => "mtime",
        }
    }
}

/// The state of a dump's gzip compression.
#[derive(Debug)]
pub(super) enum Gzip {
    /// Not gzip-compressed.
    No,
    /// Every gzip stream was read to its end and its CRC and length matched.
    Intact,
    /// Compressed, not read to the end (ordering checks only need the header).
    Unchecked,
    /// A gzip stream is damaged: what is wrong (naming the member of a directory dump).
    Damaged(String),
}

/// Everything `file.dump` learns about one dump.
#[derive(Debug)]
pub(super) struct Dump {
    pub path: PathBuf,
    pub stat: Stat,
    pub gzip: Gzip,
    pub content: Content,
    pub name_time: Option<NameTime>,
}

/// A creation time and how it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Taken {
    pub at: DateTime<Utc>,
    pub basis: Basis,
    /// Words for people: "from the dump header; the dumping host's local time, read as UTC".
    pub how: String,
}

impl Dump {
    pub fn compressed(&self) -> bool {
        !matches!(self.gzip, Gzip::No)
    }

    /// `None` when a compressed stream was not read to its end.
    pub fn gzip_ok(&self) -> Option<bool> {
        match self.gzip {
            Gzip::No | Gzip::Intact => Some(true),
            Gzip::Unchecked => None,
            Gzip::Damaged(_) => Some(false),
        }
    }

    /// The creation time on `basis`, if the dump has one there.
    pub fn taken(&self, basis: Basis) -> Option<Taken> {
        let (at, how) = match basis {
            Basis::Header => {
                let t = self.content.time.as_ref()?;
                let how = match &t.note {
                    Some(note) => format!("from the dump header; {note}"),
                    None => "from the dump header".into(),
                };
                (t.at, how)
            }
            Basis::Name => {
                let t = self.name_time?;
                let how = if t.zoned {
                    "from the file name".into()
                } else {
                    "from the file name; no zone given: read as UTC".into()
                };
                (t.at, how)
            }
            Basis::Mtime => (
                self.stat.modified,
                "from the file's modification time".into(),
            ),
        };
        Some(Taken { at, basis, how })
    }

    /// The creation time on the best basis the dump has.
    pub fn best_taken(&self) -> Taken {
        Basis::ALL
            .iter()
            .find_map(|&b| self.taken(b))
            .unwrap_or(Taken {
                at: self.stat.modified,
                basis: Basis::Mtime,
                how: "from the file's modification time".into(),
            })
    }

    /// "gzip-compressed plain SQL dump (pg_dump 15.8)", "custom format (archive 1.14, …)".
    fn describe_format(&self) -> String {
        let base = match self.content.format {
            Format::Plain => "plain SQL dump",
            Format::Custom => "custom format",
            Format::Tar => "tar format",
            Format::Directory => "directory format",
            Format::Unknown => "not a recognisable dump",
        };
        let mut out = match (&self.gzip, self.content.format) {
            (Gzip::No, _) => base.to_owned(),
            (_, Format::Directory) => format!("{base} with gzip-compressed members"),
            _ => format!("gzip-compressed {base}"),
        };
        if !self.content.details.is_empty() {
            out.push_str(&format!(" ({})", self.content.details.join(", ")));
        }
        out
    }
}

/// Inspects the dump at `path`: a regular file (any format, possibly gzip-compressed) or a
/// directory-format dump. With `verify`, gzip streams are read to their end. `Ok(None)` when
/// nothing is at `path`.
pub(super) fn inspect(path: &Path, verify: bool) -> Result<Option<Dump>, FileError> {
    let Some(meta) = lookup(path)? else {
        return Ok(None);
    };
    let name_time = time_in_name(&display_name(path));
    if meta.is_dir() {
        return inspect_directory(path, &meta, verify, name_time).map(Some);
    }
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.display().to_string(),
            what: kind_of(&meta),
        });
    }
    let stat = Stat::from_metadata(path, &meta)?;
    let read = sniff::read_file(path, verify)?;
    let gzip = match (read.compressed, read.gzip_error, read.gzip_checked) {
        (false, _, _) => Gzip::No,
        (true, Some(e), _) => Gzip::Damaged(describe_gzip_error(&e)),
        (true, None, true) => Gzip::Intact,
        (true, None, false) => Gzip::Unchecked,
    };
    Ok(Some(Dump {
        path: path.to_owned(),
        stat,
        gzip,
        content: read.content,
        name_time,
    }))
}

/// A directory-format dump: `toc.dat` holds the archive header; data members are usually
/// gzip-compressed (`NNNN.dat.gz`) and each is checked.
fn inspect_directory(
    path: &Path,
    meta: &fs::Metadata,
    verify: bool,
    name_time: Option<NameTime>,
) -> Result<Dump, FileError> {
    let io_err = |e| FileError::io(path, e);
    let mut size = 0u64;
    let mut gzip_members = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(path)
        .map_err(io_err)?
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let member = entry.path();
        let m = fs::metadata(&member).map_err(|e| FileError::io(&member, e))?;
        if !m.is_file() {
            continue;
        }
        size += m.len();
        if entry.file_name() != "toc.dat" && sniff::is_gzip(&member)? {
            gzip_members.push(member);
        }
    }
    let toc = path.join("toc.dat");
    let (content, modified) = match lookup(&toc)? {
        Some(toc_meta) if toc_meta.is_file() => {
            let file = File::open(&toc).map_err(|e| FileError::io(&toc, e))?;
            let content = match archive::read_header(&mut BufReader::new(file)) {
                // pg_dump records the tar code in a directory dump's toc.dat: the layouts
                // are compatible.
                Ok(h) => Content::archive(Format::Directory, ArchiveFormat::Tar, h),
                Err(e) => Content {
                    format: Format::Directory,
                    ..Content::unknown(format!("its toc.dat is not readable: {e}"))
                },
            };
            let modified = toc_meta.modified().map_err(|e| FileError::io(&toc, e))?;
            (content, to_utc_micros(modified))
        }
        _ => {
            let modified = meta.modified().map_err(io_err)?;
            (
                Content::unknown("it is a directory without a toc.dat"),
                to_utc_micros(modified),
            )
        }
    };
    let gzip = if gzip_members.is_empty() {
        Gzip::No
    } else if !verify {
        Gzip::Unchecked
    } else {
        let mut state = Gzip::Intact;
        for member in &gzip_members {
            if let Some(e) = sniff::check_gzip(member)? {
                state = Gzip::Damaged(format!(
                    "member {}: {}",
                    display_name(member),
                    describe_gzip_error(&e)
                ));
                break;
            }
        }
        state
    };
    Ok(Dump {
        path: path.to_owned(),
        stat: Stat { size, modified },
        gzip,
        content,
        name_time,
    })
}

pub(super) fn observe(path: &Path, now: DateTime<Utc>) -> Result<Observed, FileError> {
    let Some(dump) = inspect(path, true)? else {
        let mut fields: Vec<(&str, Value)> = Stat::missing_fields().into();
        fields.extend([
            ("compressed", Value::Null),
            ("gzip_ok", Value::Bool(false)),
            ("format", Value::Null),
            ("header_ok", Value::Bool(false)),
            ("database", Value::Null),
            ("taken_at", Value::Null),
            ("time_basis", Value::Null),
        ]);
        return Ok(Observed {
            value: record(fields),
            summary: format!("{}: does not exist", path.display()),
        });
    };
    let taken = dump.best_taken();
    let mut fields: Vec<(&str, Value)> = dump.stat.fields(now).into();
    fields.extend([
        ("compressed", Value::Bool(dump.compressed())),
        ("gzip_ok", dump.gzip_ok().map_or(Value::Null, Value::Bool)),
        ("format", Value::Text(dump.content.format.name().into())),
        ("header_ok", Value::Bool(dump.content.header_ok)),
        (
            "database",
            dump.content
                .database
                .clone()
                .map_or(Value::Null, Value::Text),
        ),
        ("taken_at", Value::Timestamp(taken.at)),
        ("time_basis", Value::Text(taken.basis.name().into())),
    ]);
    Ok(Observed {
        value: record(fields),
        summary: summary(&dump, &taken, now),
    })
}

fn summary(dump: &Dump, taken: &Taken, now: DateTime<Utc>) -> String {
    let mut parts = Vec::new();
    if let Gzip::Damaged(why) = &dump.gzip {
        parts.push(format!("gzip check failed: {why}"));
    }
    if let Some(why) = &dump.content.problem {
        parts.push(format!("header check failed: {why}"));
    }
    let mut facts = dump.describe_format();
    if let Some(db) = &dump.content.database {
        facts.push_str(&format!(", database {db}"));
    }
    facts.push_str(&format!(
        ", {}, taken {} ({}), {} old",
        human_size(dump.stat.size),
        format_timestamp(&taken.at),
        taken.how,
        human_age(now - taken.at)
    ));
    parts.push(facts);
    format!("{}: {}", display_name(&dump.path), parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::super::archive::build::{Spec, header};
    use super::super::testutil::{self, assert_catalog_shape, flag, text, timestamp};
    use super::*;
    use chrono::TimeDelta;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;
    use std::io::Write;
    use std::time::{Duration, SystemTime};

    fn observe_dump(path: &Path, now: DateTime<Utc>) -> Observed {
        let req = testutil::request("file.dump", &[("path", &path.display().to_string())]);
        let o = super::super::observe(&req, now).unwrap();
        assert_catalog_shape("file.dump", &o);
        o
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn set_mtime(path: &Path, t: DateTime<Utc>) {
        let st = SystemTime::UNIX_EPOCH + Duration::from_micros(t.timestamp_micros() as u64);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(st)
            .unwrap();
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_custom_dump_reads_its_header_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator-2026-11-20T04:00:00+00:00.dump");
        let mut bytes = header(&Spec {
            minor: 14,
            format: 1,
            tm: [0, 0, 4, 20, 10, 126],
            database: "validator",
        });
        bytes.extend_from_slice(&[0u8; 300]);
        fs::write(&path, &bytes).unwrap();
        let now = utc("2026-11-22T07:00:00Z");
        let o = observe_dump(&path, now);
        assert_eq!(text(&o, "format").as_deref(), Some("custom"));
        assert!(flag(&o, "header_ok"));
        assert!(flag(&o, "gzip_ok"));
        assert!(!flag(&o, "compressed"));
        assert_eq!(text(&o, "database").as_deref(), Some("validator"));
        assert_eq!(timestamp(&o, "taken_at"), Some(utc("2026-11-20T04:00:00Z")));
        assert_eq!(text(&o, "time_basis").as_deref(), Some("header"));
        assert_eq!(
            o.summary,
            "validator-2026-11-20T04:00:00+00:00.dump: custom format (archive 1.14, pg_dump \
             15.8), database validator, 407 B, taken \
             2026-11-20T04:00:00.000000Z (from the dump header; the dumping host's local time, \
             read as UTC), 2d 3h old"
        );
    }

    #[test]
    fn a_dump_without_any_time_falls_back_to_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator.sql");
        fs::write(&path, "--\n-- PostgreSQL database dump\n--\n\nSET x = 0;\n").unwrap();
        let mtime = utc("2026-01-02T03:04:05.678901Z");
        set_mtime(&path, mtime);
        let o = observe_dump(&path, mtime + TimeDelta::minutes(3));
        assert_eq!(text(&o, "format").as_deref(), Some("plain"));
        assert!(flag(&o, "header_ok"));
        assert_eq!(timestamp(&o, "taken_at"), Some(mtime));
        assert_eq!(text(&o, "time_basis").as_deref(), Some("mtime"));
        assert_eq!(text(&o, "database"), None);
        assert!(
            o.summary.ends_with(
                "taken 2026-01-02T03:04:05.678901Z (from the file's modification time), 3m 0s old"
            ),
            "{}",
            o.summary
        );
    }

    #[test]
    fn a_gzip_plain_dump_named_by_the_toolkit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("participant_0_20240115_140002.sql.gz");
        let mut sql = b"--\n-- PostgreSQL database dump\n--\n\n".to_vec();
        for i in 0..50_000 {
            sql.extend_from_slice(format!("INSERT INTO t VALUES ({i});\n").as_bytes());
        }
        let gz = gzip(&sql);
        fs::write(&path, &gz).unwrap();
        let o = observe_dump(&path, utc("2024-01-15T15:00:00Z"));
        assert!(flag(&o, "compressed"));
        assert!(flag(&o, "gzip_ok"));
        assert!(flag(&o, "header_ok"));
        assert_eq!(text(&o, "time_basis").as_deref(), Some("name"));
        assert_eq!(timestamp(&o, "taken_at"), Some(utc("2024-01-15T14:00:02Z")));
        assert!(
            o.summary.contains("gzip-compressed plain SQL dump, 1")
                && o.summary
                    .contains("(from the file name; no zone given: read as UTC), 59m 58s old"),
            "{}",
            o.summary
        );

        // Truncated: the header still reads, the stream does not.
        fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        let o = observe_dump(&path, utc("2024-01-15T15:00:00Z"));
        assert!(flag(&o, "compressed"));
        assert!(!flag(&o, "gzip_ok"));
        assert!(flag(&o, "header_ok"));
        assert!(
            o.summary.starts_with(
                "participant_0_20240115_140002.sql.gz: gzip check failed: the gzip stream ends \
                 early (the file is truncated); gzip-compressed plain SQL dump"
            ),
            "{}",
            o.summary
        );
    }

    #[test]
    fn a_missing_dump_is_reported_not_raised() {
        let dir = tempfile::tempdir().unwrap();
        let o = observe_dump(&dir.path().join("gone.dump"), Utc::now());
        assert!(!flag(&o, "exists"));
        assert!(!flag(&o, "header_ok"));
        assert_eq!(timestamp(&o, "taken_at"), None);
    }

    #[test]
    fn a_directory_dump_checks_its_members() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("validator_20240115_140002.dir");
        fs::create_dir(&dump).unwrap();
        let o = observe_dump(&dump, Utc::now());
        assert_eq!(text(&o, "format").as_deref(), Some("unknown"));
        assert!(
            o.summary.contains("it is a directory without a toc.dat"),
            "{}",
            o.summary
        );

        fs::write(
            dump.join("toc.dat"),
            header(&Spec {
                minor: 16,
                format: 3,
                tm: [2, 0, 14, 15, 0, 124],
                database: "validator",
            }),
        )
        .unwrap();
        let member = gzip(&[b'r'; 10_000]);
        fs::write(dump.join("3377.dat.gz"), &member).unwrap();
        let o = observe_dump(&dump, Utc::now());
        assert_eq!(text(&o, "format").as_deref(), Some("directory"));
        assert!(flag(&o, "header_ok"));
        assert!(flag(&o, "compressed"));
        assert!(flag(&o, "gzip_ok"));
        assert_eq!(text(&o, "time_basis").as_deref(), Some("header"));
        assert_eq!(timestamp(&o, "taken_at"), Some(utc("2024-01-15T14:00:02Z")));

        fs::write(dump.join("3377.dat.gz"), &member[..member.len() - 2]).unwrap();
        let o = observe_dump(&dump, Utc::now());
        assert!(!flag(&o, "gzip_ok"));
        assert!(
            o.summary
                .contains("gzip check failed: member 3377.dat.gz: "),
            "{}",
            o.summary
        );
    }

    #[test]
    fn a_special_file_is_an_error() {
        let e = super::super::observe(
            &testutil::request("file.dump", &[("path", "/dev/null")]),
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(e.message, "/dev/null: is a device, not a regular file");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_bytes_never_make_a_valid_dump(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            compress in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("random.dump");
            let data = if compress { gzip(&bytes) } else { bytes.clone() };
            fs::write(&path, &data).unwrap();
            let o = observe_dump(&path, Utc::now());
            prop_assert!(!flag(&o, "header_ok"));
            prop_assert_eq!(flag(&o, "compressed"), compress || data.starts_with(&[0x1f, 0x8b]));
        }
    }
}
