//! `canton-dr validate`: every problem of every runbook and profile, located.

use std::path::{Path, PathBuf};

use crate::profile::Profile;
use crate::runbook::diagnostic::{Diagnostic, Diagnostics};
use crate::runbook::load::runbook_files;

use super::exit;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files or directories (default: ./runbooks). Files under a `profiles` directory are
    /// checked as profiles.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also check that this profile provides everything each runbook needs
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Print the result as one JSON object on standard output
    #[arg(long)]
    pub json: bool,
}

/// Runs `validate`.
pub fn run(args: &Args) -> color_eyre::Result<u8> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("runbooks")]
    } else {
        args.paths.clone()
    };
    let mut diags = Diagnostics::default();
    let mut runbooks = Vec::new();
    let mut checked_runbooks = 0usize;
    let mut checked_profiles = 0usize;
    for path in &paths {
        if !path.exists() {
            diags.push(located(
                path,
                format!("no such file or directory: {}", path.display()),
            ));
            continue;
        }
        let files = match runbook_files(path) {
            Ok(f) => f,
            Err(e) => {
                diags.push(located(path, format!("cannot list: {e}")));
                continue;
            }
        };
        for file in files {
            if is_profile(&file) {
                checked_profiles += 1;
                if let Err(d) = Profile::load(&file) {
                    diags.extend(d);
                }
                continue;
            }
            checked_runbooks += 1;
            match crate::runbook::load(&file) {
                Ok(rb) => runbooks.push(rb),
                Err(d) => diags.extend(d),
            }
        }
        for profile in profile_files(path) {
            checked_profiles += 1;
            if let Err(d) = Profile::load(&profile) {
                diags.extend(d);
            }
        }
    }
    if let Some(p) = &args.profile {
        checked_profiles += 1;
        match Profile::load(p) {
            Ok(profile) => {
                for rb in runbooks.iter().filter(|r| !r.fragment) {
                    diags.extend(profile.check_against(rb));
                }
            }
            Err(d) => diags.extend(d),
        }
    }
    diags.sort();
    if args.json {
        let items: Vec<serde_json::Value> = diags
            .iter()
            .map(|d| {
                serde_json::json!({
                    "file": d.file.display().to_string(),
                    "line": d.line,
                    "col": d.col,
                    "step": d.step,
                    "message": d.message,
                    "text": d.to_string(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "valid": diags.is_empty(),
                "runbooks": checked_runbooks,
                "profiles": checked_profiles,
                "problems": items,
            })
        );
    } else {
        for d in diags.iter() {
            eprintln!("{d}");
        }
        let problems = match diags.len() {
            0 => "no problems".to_owned(),
            1 => "1 problem".to_owned(),
            n => format!("{n} problems"),
        };
        eprintln!(
            "checked {checked_runbooks} runbook file(s) and {checked_profiles} profile(s): {problems}"
        );
    }
    Ok(if diags.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn located(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        step: None,
        message,
    }
}

fn is_profile(file: &Path) -> bool {
    file.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "profiles")
}

/// Profiles in a `profiles` directory directly under `dir`.
fn profile_files(dir: &Path) -> Vec<PathBuf> {
    let pdir = dir.join("profiles");
    let Ok(entries) = std::fs::read_dir(&pdir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    out
}
