//! `canton-dr` with no command, at a terminal: the start screen (incidents to resume, runbooks
//! to start), then the chosen session.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::exit;
use crate::cli::paths::Paths;
use crate::engine::identity::Operator;
use crate::engine::record::Mode;
use crate::secret::SecretRegistry;
use crate::tui::{RunbookEntry, StartChoice, TuiOptions};

/// Environment variable naming the profile used for live and dry runs started from the start
/// screen (default: `<config dir>/profile.toml`).
pub const PROFILE_ENV: &str = "CANTON_DR_PROFILE";

/// Whether the start screen can be shown (stdin and stdout are terminals).
pub fn available() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The runbooks found where `canton-dr` looks for them by name (fragments excluded).
pub fn runbook_entries(paths: &Paths) -> Vec<RunbookEntry> {
    let mut out: Vec<RunbookEntry> = Vec::new();
    for dir in crate::runbook::find::search_dirs(&paths.config) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for f in files {
            let Ok(rb) = crate::runbook::load(&f) else {
                continue;
            };
            if rb.fragment || out.iter().any(|e| e.id == rb.id) {
                continue;
            }
            out.push(RunbookEntry {
                id: rb.id.clone(),
                title: rb.title.clone(),
                path: f.clone(),
                source: rb.source.clone(),
                budget: rb.recovery_budget,
            });
        }
    }
    out
}

/// The profile for live and dry runs from the start screen.
fn default_profile(paths: &Paths) -> Option<PathBuf> {
    std::env::var_os(PROFILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| Some(paths.config.join("profile.toml")))
        .filter(|p| p.is_file())
}

/// Shows the start screen and runs what was chosen.
pub async fn run(
    paths: &Paths,
    operator: Operator,
    registry: SecretRegistry,
) -> color_eyre::Result<u8> {
    let no_color = crate::cli::session::no_color_env();
    let incidents = crate::engine::incident::list(&paths.incidents());
    let runbooks = runbook_entries(paths);
    let choice = crate::tui::start_screen(
        incidents,
        runbooks,
        TuiOptions {
            no_color,
            ..TuiOptions::default()
        },
    )
    .await?;
    match choice {
        StartChoice::Quit => Ok(exit::OK),
        StartChoice::Resume(dir) => {
            let args = crate::cli::run::ResumeArgs {
                incident: Some(dir.display().to_string()),
                profile: None,
                headless: false,
                answers: None,
                no_color,
            };
            crate::cli::run::resume(&args, paths, operator, registry).await
        }
        StartChoice::Start {
            runbook,
            mode: Mode::Drill,
        } => {
            let args = crate::cli::drill::DrillArgs {
                runbook: Some(runbook.display().to_string()),
                scenario: None,
                headless: false,
                auto: false,
                answers: None,
                keep_sandbox: false,
                sandbox_idle_timeout: "30m".into(),
                list: false,
                json: false,
                no_color,
            };
            crate::cli::drill::run(&args, paths, operator, registry).await
        }
        StartChoice::Start { runbook, mode } => {
            let Some(profile) = default_profile(paths) else {
                eprintln!(
                    "canton-dr: a live or dry run needs the site's profile: start it with `canton-dr run {} --profile FILE{}`, or put the profile at {} (or name it in {PROFILE_ENV})",
                    short(&runbook),
                    if mode == Mode::DryRun {
                        " --dry-run"
                    } else {
                        ""
                    },
                    paths.config.join("profile.toml").display()
                );
                return Ok(exit::USAGE);
            };
            let args = crate::cli::run::RunArgs {
                runbook: runbook.display().to_string(),
                profile,
                dry_run: mode == Mode::DryRun,
                headless: false,
                answers: None,
                no_color,
            };
            crate::cli::run::run(&args, paths, operator, registry).await
        }
    }
}

fn short(p: &Path) -> String {
    p.file_stem().map_or_else(
        || p.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}
