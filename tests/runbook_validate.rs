//! The runbook validator against a corpus of invalid runbooks, each with the exact diagnostics
//! it must produce (the `#!` lines at the end of each file), and against hostile input.

use std::fs;
use std::path::{Path, PathBuf};

use canton_dr::runbook;

const INVALID: &str = "tests/runbooks/invalid";
const VALID: &str = "tests/runbooks/valid";

fn toml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn expected(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("read corpus file")
        .lines()
        .filter_map(|l| l.strip_prefix("#! "))
        .map(|l| l.replace("{dir}", INVALID))
        .collect()
}

#[test]
fn every_invalid_runbook_gets_its_exact_diagnostics() {
    let files = toml_files(INVALID);
    assert!(
        files.len() >= 25,
        "the corpus must hold at least 25 invalid runbooks, has {}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let want = expected(file);
        assert!(
            !want.is_empty(),
            "{} has no #! expectation lines",
            file.display()
        );
        let got: Vec<String> = match runbook::load(file) {
            Ok(_) => vec!["<valid>".to_owned()],
            Err(d) => d.iter().map(ToString::to_string).collect(),
        };
        if got != want {
            failures.push(format!(
                "{}\n  want:\n    {}\n  got:\n    {}",
                file.display(),
                want.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_valid_runbook_loads() {
    for file in toml_files(VALID) {
        if let Err(d) = runbook::load(&file) {
            panic!("{} should be valid:\n{d}", file.display());
        }
    }
}

#[test]
fn the_basic_runbook_is_understood() {
    let rb = runbook::load(Path::new("tests/runbooks/valid/basic.toml")).expect("valid");
    assert_eq!(rb.id, "basic");
    assert_eq!(rb.steps.len(), 10);
    assert_eq!(rb.recovery_budget, Some(chrono::TimeDelta::minutes(10)));
    let vars: Vec<String> = rb.variables().into_iter().map(|(v, _, _)| v).collect();
    assert!(vars.contains(&"off_recovery".to_owned()), "{vars:?}");
    assert_eq!(rb.sha256.len(), 64);
    let again = runbook::load(Path::new("tests/runbooks/valid/basic.toml")).expect("valid");
    assert_eq!(rb.sha256, again.sha256, "the digest is stable");
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn one_diag(path: &Path) -> String {
    match runbook::load(path) {
        Ok(_) => panic!("{} should be invalid", path.display()),
        Err(d) => d.to_string(),
    }
}

#[test]
fn binary_garbage_is_refused_clearly() {
    let dir = scratch();
    let path = dir.path().join("garbage.toml");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(&path, bytes).expect("write");
    let msg = one_diag(&path);
    assert!(msg.contains("garbage.toml"), "{msg}");
    assert!(
        msg.contains("not UTF-8") || msg.contains("invalid"),
        "{msg}"
    );
}

#[test]
fn an_oversized_runbook_is_refused_before_parsing() {
    let dir = scratch();
    let path = dir.path().join("huge.toml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let text = line.repeat(50 * 1024 * 1024 / line.len());
    fs::write(&path, text).expect("write");
    let msg = one_diag(&path);
    assert!(
        msg.contains("runbooks are limited to 1048576 bytes"),
        "{msg}"
    );
}

#[test]
fn deeply_nested_tables_do_not_overflow() {
    let dir = scratch();
    let path = dir.path().join("deep.toml");
    let mut text = String::from("id = \"deep\"\nx = ");
    text.push_str(&"[".repeat(100_000));
    text.push_str(&"]".repeat(100_000));
    fs::write(&path, &text).expect("write");
    let msg = one_diag(&path);
    assert!(msg.contains("deep.toml:"), "{msg}");
    let path = dir.path().join("deep2.toml");
    let mut text = String::from("id = \"deep\"\nx = ");
    text.push_str(&"{ a = ".repeat(50_000));
    fs::write(&path, &text).expect("write");
    let msg = one_diag(&path);
    assert!(msg.contains("deep2.toml:"), "{msg}");
}

#[test]
fn a_missing_file_names_the_path() {
    let msg = one_diag(Path::new("tests/runbooks/does-not-exist.toml"));
    assert!(
        msg.starts_with("tests/runbooks/does-not-exist.toml: cannot read"),
        "{msg}"
    );
}
