//! The module boundaries of design.md, enforced: nothing outside `src/tui/` may use ratatui,
//! crossterm or tui-input, and the engine never reaches up into the front ends.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn uses(text: &str, krate: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start();
        !line.starts_with("//")
            && (line.contains(&format!("{krate}::"))
                || line.contains(&format!("extern crate {krate}")))
    })
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn only_the_tui_uses_terminal_crates() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 5, "found too few source files: {files:?}");
    let tui = src().join("tui");
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&tui)) {
        let text = fs::read_to_string(file).expect("read source");
        for krate in ["ratatui", "crossterm", "tui_input"] {
            if uses(&text, krate) {
                offenders.push(format!("{} uses {krate}", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "terminal crates outside src/tui: {offenders:#?}"
    );
}

#[test]
fn lower_layers_do_not_use_front_ends() {
    let mut files = Vec::new();
    for layer in [
        "engine", "journal", "probe", "runbook", "profile", "value.rs", "secret", "dar",
    ] {
        let path = src().join(layer);
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else if path.exists() {
            files.push(path);
        }
    }
    let mut offenders = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read source");
        for upper in [
            "crate::tui",
            "crate::cli",
            "crate::export",
            "crate::sandbox",
        ] {
            if text.contains(upper) {
                offenders.push(format!("{} uses {upper}", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "dependencies pointing the wrong way: {offenders:#?}"
    );
}

#[test]
fn the_detector_sees_a_use() {
    assert!(uses("use ratatui::widgets::Block;", "ratatui"));
    assert!(!uses("// ratatui::widgets", "ratatui"));
    assert!(!uses("let x = 1;", "crossterm"));
}
