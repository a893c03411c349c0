//! The same journal always gives the same bytes, and the journal is all an export needs
//! (R16, T18).

use std::fs;

use canton_dr::export::{self, Format};

use crate::cli::canton_dr;
use crate::common;

const FORMATS: [Format; 3] = [Format::Markdown, Format::Html, Format::Json];

#[test]
fn the_same_journal_gives_byte_identical_exports() {
    let a = common::drill_incident();
    let b = common::drill_incident();
    assert_eq!(
        fs::read(a.journal()).unwrap(),
        fs::read(b.journal()).unwrap(),
        "the fixture itself is deterministic"
    );
    for format in FORMATS {
        let first = export::export(&a.dir, format).unwrap().1;
        let again = export::export(&a.dir, format).unwrap().1;
        let elsewhere = export::export(&b.dir, format).unwrap().1;
        assert_eq!(first, again, "{format:?}");
        assert_eq!(first, elsewhere, "{format:?}");
    }
}

#[test]
fn a_different_journal_gives_a_different_export() {
    let a = common::drill_incident();
    let mut records = common::drill_records();
    records.pop();
    let b = common::incident_with(&records);
    for format in FORMATS {
        assert_ne!(
            export::export(&a.dir, format).unwrap().1,
            export::export(&b.dir, format).unwrap().1,
            "{format:?}"
        );
    }
}

#[test]
fn deleting_everything_but_the_journal_changes_no_byte_of_the_exports() {
    let f = common::drill_incident();
    let data = f.data_dir();
    let formats = ["md", "html", "json"];
    let mut first = Vec::new();
    for fmt in formats {
        let out = canton_dr(&data, &["export", common::ID, "--format", fmt]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        first.push(fs::read(f.dir.join(format!("transcript.{fmt}"))).unwrap());
    }
    // Derived and stray files an incident directory may hold.
    fs::write(f.dir.join("journal.lock"), b"ops@dr-1 pid 4242").unwrap();
    fs::write(f.dir.join("journal.rbj.torn-2114-20261122T031635Z"), b"old").unwrap();
    fs::write(f.dir.join("state.cache"), b"{}").unwrap();
    let names = common::file_names(&f.dir);
    assert!(names.len() > 4, "{names:?}");
    for name in names.iter().filter(|n| n.as_str() != "journal.rbj") {
        fs::remove_file(f.dir.join(name)).unwrap();
    }
    assert_eq!(common::file_names(&f.dir), ["journal.rbj"]);
    for (fmt, before) in formats.iter().zip(&first) {
        let out = canton_dr(&data, &["export", common::ID, "--format", fmt]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let after = fs::read(f.dir.join(format!("transcript.{fmt}"))).unwrap();
        assert!(
            after == *before,
            "{fmt} changed after the derived files were deleted"
        );
    }
}
