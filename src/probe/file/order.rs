//! `file.dump_order`: whether one dump was taken strictly before another.
//!
//! Splice requires the validator app's database to be dumped strictly before the
//! participant's. The two creation times are compared on the best basis both dumps have
//! (header, then file name, then modification time), so that two header times written by the
//! same host's clock are compared with each other, never a header time with a file name.

use std::path::Path;

use super::dump::{Basis, Dump, Taken, inspect};
use super::{FileError, display_name, human_age};
use crate::probe::{Observed, record};
use crate::value::{Value, format_timestamp};

pub(super) fn observe(first: &Path, second: &Path) -> Result<Observed, FileError> {
    let a = existing(first)?;
    let b = existing(second)?;
    let (ta, tb) = Basis::ALL
        .iter()
        .find_map(|&basis| Some((a.taken(basis)?, b.taken(basis)?)))
        .unwrap_or_else(|| (a.best_taken(), b.best_taken()));
    let ordered = ta.at < tb.at;
    Ok(Observed {
        value: record([
            ("first_taken_at", Value::Timestamp(ta.at)),
            ("second_taken_at", Value::Timestamp(tb.at)),
            ("ordered", Value::Bool(ordered)),
            ("basis", Value::Text(ta.basis.name().into())),
        ]),
        summary: summary(&a, &ta, &b, &tb),
    })
}

fn existing(path: &Path) -> Result<Dump, FileError> {
    inspect(path, false)?.ok_or_else(|| FileError::Missing {
        path: path.display().to_string(),
    })
}

fn summary(a: &Dump, ta: &Taken, b: &Dump, tb: &Taken) -> String {
    let (na, nb) = (display_name(&a.path), display_name(&b.path));
    let (sa, sb) = (format_timestamp(&ta.at), format_timestamp(&tb.at));
    let mut out = if ta.at < tb.at {
        format!(
            "{na} was taken before {nb}: {sa} is {} earlier than {sb}",
            human_age(tb.at - ta.at)
        )
    } else if ta.at == tb.at {
        format!("{na} was NOT taken strictly before {nb}: both at {sa}")
    } else {
        format!(
            "{na} was NOT taken before {nb}: {sa} is {} later than {sb}",
            human_age(ta.at - tb.at)
        )
    };
    out.push_str(match ta.basis {
        Basis::Header => " (compared by the times in the dump headers)",
        Basis::Name => " (compared by the times in the file names)",
        Basis::Mtime => " (compared by the modification times)",
    });
    for dump in [a, b] {
        if !dump.content.header_ok {
            out.push_str(&format!(
                "; {} is not a valid dump",
                display_name(&dump.path)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::archive::build::{Spec, header};
    use super::super::testutil::{self, assert_catalog_shape, flag, text, timestamp};
    use super::*;
    use chrono::{DateTime, Utc};
    use std::fs;

    fn order(first: &Path, second: &Path) -> Result<Observed, crate::probe::ProbeError> {
        let req = testutil::request(
            "file.dump_order",
            &[
                ("first", &first.display().to_string()),
                ("second", &second.display().to_string()),
            ],
        );
        super::super::observe(&req, Utc::now())
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn custom(dir: &Path, name: &str, sec: i64, db: &'static str) -> std::path::PathBuf {
        let path = dir.join(name);
        fs::write(
            &path,
            header(&Spec {
                minor: 15,
                format: 1,
                tm: [sec, 0, 4, 20, 10, 126],
                database: db,
            }),
        )
        .unwrap();
        path
    }

    #[test]
    fn header_times_win_over_names() {
        let dir = tempfile::tempdir().unwrap();
        // The names say the opposite of the headers: the headers decide.
        let v = custom(
            dir.path(),
            "validator-2026-11-20T05:00:00Z.dump",
            1,
            "validator",
        );
        let p = custom(
            dir.path(),
            "participant-3-2026-11-20T04:00:00Z.dump",
            9,
            "participant-3",
        );
        let o = order(&v, &p).unwrap();
        assert_catalog_shape("file.dump_order", &o);
        assert!(flag(&o, "ordered"));
        assert_eq!(text(&o, "basis").as_deref(), Some("header"));
        assert_eq!(
            timestamp(&o, "first_taken_at"),
            Some(utc("2026-11-20T04:00:01Z"))
        );
        assert_eq!(
            timestamp(&o, "second_taken_at"),
            Some(utc("2026-11-20T04:00:09Z"))
        );
        assert_eq!(
            o.summary,
            "validator-2026-11-20T05:00:00Z.dump was taken before \
             participant-3-2026-11-20T04:00:00Z.dump: 2026-11-20T04:00:01.000000Z is 8s earlier \
             than 2026-11-20T04:00:09.000000Z (compared by the times in the dump headers)"
        );

        let o = order(&p, &v).unwrap();
        assert!(!flag(&o, "ordered"));
        assert!(o.summary.contains("was NOT taken before"), "{}", o.summary);

        let o = order(&v, &v).unwrap();
        assert!(!flag(&o, "ordered"), "a dump is not strictly before itself");
        assert!(
            o.summary.contains("NOT taken strictly before"),
            "{}",
            o.summary
        );
    }

    #[test]
    fn names_are_used_when_one_dump_has_no_header_time() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("validator_20240115_140002.sql");
        fs::write(&v, "--\n-- PostgreSQL database dump\n--\n").unwrap();
        let p = custom(
            dir.path(),
            "participant_0_20240115_140001.dump",
            0,
            "participant_0",
        );
        let o = order(&v, &p).unwrap();
        assert_eq!(text(&o, "basis").as_deref(), Some("name"));
        assert!(!flag(&o, "ordered"));
        assert!(
            o.summary.ends_with("1s later than 2024-01-15T14:00:01.000000Z (compared by the times in the file names)"),
            "{}",
            o.summary
        );
    }

    #[test]
    fn mtimes_are_the_last_resort() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("validator.sql");
        let p = dir.path().join("participant.sql");
        fs::write(&v, "not a dump").unwrap();
        fs::write(&p, "--\n-- PostgreSQL database dump\n--\n").unwrap();
        for (path, t) in [(&v, 1_000_000u64), (&p, 2_000_000)] {
            fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
                .unwrap();
        }
        let o = order(&v, &p).unwrap();
        assert_eq!(text(&o, "basis").as_deref(), Some("mtime"));
        assert!(flag(&o, "ordered"));
        assert!(
            o.summary.ends_with("; validator.sql is not a valid dump"),
            "{}",
            o.summary
        );
    }

    #[test]
    fn a_missing_dump_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let v = custom(dir.path(), "validator.dump", 1, "validator");
        let missing = dir.path().join("participant.dump");
        let e = order(&v, &missing).unwrap_err();
        assert_eq!(e.message, format!("{}: no such file", missing.display()));
    }
}
