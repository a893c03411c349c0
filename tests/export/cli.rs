//! `canton-dr export` as a user runs it: where files go, their modes, refusals, damaged and
//! torn journals.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use canton_dr::export::{self, Format};

use crate::common;

/// Runs the binary with `data` as its data directory.
pub fn canton_dr(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canton-dr"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("CANTON_DR_DATA")
        .output()
        .expect("run canton-dr")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn export_writes_a_private_file_in_the_incident_directory_by_default() {
    let f = common::drill_incident();
    // By a unique part of the id.
    let out = canton_dr(&f.data_dir(), &["export", "basic-00a1", "--format", "html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = f.dir.join("transcript.html");
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    let expected = export::export(&f.dir, Format::Html).unwrap().1;
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
    let head = canton_dr::journal::verify(&f.journal(), None, None)
        .unwrap()
        .head
        .hex();
    assert!(
        stderr(&out).contains(&format!("38 records, head {head}")) || stderr(&out).contains(&head)
    );
}

#[test]
fn export_to_a_file_or_to_standard_output() {
    let f = common::drill_incident();
    let out_dir = common::tempdir();
    let target = out_dir.path().join("ticket.md");
    let dir = f.dir.display().to_string();
    let out = canton_dr(
        &f.data_dir(),
        &["export", &dir, "-o", &target.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = export::export(&f.dir, Format::Markdown).unwrap().1;
    assert_eq!(fs::read_to_string(&target).unwrap(), expected);
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o600);
    let journal = f.journal().display().to_string();
    let out = canton_dr(
        &f.data_dir(),
        &["export", &journal, "--format", "json", "-o", "-"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        export::export(&f.dir, Format::Json).unwrap().1
    );
}

#[test]
fn exports_are_0600_whatever_the_umask() {
    let f = common::drill_incident();
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" --data-dir \"$1\" export \"$2\" --format json")
        .arg(env!("CARGO_BIN_EXE_canton-dr"))
        .arg(f.data_dir())
        .arg(common::ID)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = fs::metadata(f.dir.join("transcript.json")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn export_refuses_a_directory_others_can_write() {
    let f = common::drill_incident();
    let out_dir = common::tempdir();
    for mode in [0o777, 0o775, 0o1777] {
        let shared = out_dir.path().join(format!("shared-{mode:o}"));
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(mode)).unwrap();
        let target = shared.join("t.md");
        let out = canton_dr(
            &f.data_dir(),
            &["export", common::ID, "-o", &target.display().to_string()],
        );
        assert_eq!(out.status.code(), Some(2), "{mode:o}");
        assert!(
            stderr(&out).contains("writable by group or others"),
            "{}",
            stderr(&out)
        );
        assert_eq!(common::file_names(&shared), Vec::<String>::new());
    }
}

#[test]
fn a_damaged_journal_is_not_exported_and_a_torn_one_is_with_a_warning() {
    // Torn: half of a last record.
    let f = common::drill_incident();
    let bytes = fs::read(f.journal()).unwrap();
    let mut extra = bytes.clone();
    extra.extend_from_slice(&[60, 0, 0, 0, 1, 2, 3]);
    fs::write(f.journal(), &extra).unwrap();
    let out = canton_dr(&f.data_dir(), &["export", common::ID, "-o", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(stdout(&out).contains("does not end cleanly (torn)"));
    assert_eq!(
        fs::read(f.journal()).unwrap(),
        extra,
        "export never repairs"
    );

    // Corrupt: a flipped byte in the middle.
    let scan = canton_dr::journal::scan(&bytes).unwrap();
    let mut bad = bytes.clone();
    let at = scan.records[5].offset as usize + 60;
    bad[at] ^= 0x01;
    fs::write(f.journal(), &bad).unwrap();
    let out = canton_dr(&f.data_dir(), &["export", common::ID]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("is damaged"), "{}", stderr(&out));
    assert!(!f.dir.join("transcript.md").exists());
}

#[test]
fn unknown_incidents_and_non_journals_are_reported() {
    let f = common::drill_incident();
    let out = canton_dr(&f.data_dir(), &["export", "no-such-incident"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no incident 'no-such-incident'"),
        "{}",
        stderr(&out)
    );
    let other = common::tempdir();
    let file = other.path().join("notes.txt");
    fs::write(&file, b"hello, not a journal").unwrap();
    let out = canton_dr(
        &f.data_dir(),
        &["export", &file.display().to_string(), "-o", "-"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a canton-dr journal"),
        "{}",
        stderr(&out)
    );
}
