//! `canton-dr incidents`: what is on disk, newest first.

use crate::cli::exit;
use crate::cli::paths::Paths;
use crate::engine::incident;
use crate::value::format_timestamp;

/// Arguments of `incidents`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON array on standard output
    #[arg(long)]
    pub json: bool,
}

/// Runs `incidents`.
pub fn run(args: &Args, paths: &Paths) -> color_eyre::Result<u8> {
    let list = incident::list(&paths.incidents());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(exit::OK);
    }
    if list.is_empty() {
        println!("no incidents in {}", paths.incidents().display());
        println!(
            "start one with `canton-dr drill validator-restore` (a rehearsal) or `canton-dr run RUNBOOK --profile FILE`"
        );
        return Ok(exit::OK);
    }
    let now = chrono::Utc::now();
    for s in &list {
        let mode = s.mode.map_or("?", |m| m.label());
        let age = s
            .last_at
            .map(|t| format!("{} ago", crate::value::format_duration(now - t)))
            .unwrap_or_default();
        println!(
            "{}  {mode:<7}  {:<11}  {}/{} steps  {age}",
            s.id, s.status, s.steps_settled, s.steps_total
        );
        println!(
            "    {}",
            if s.title.is_empty() {
                &s.detail
            } else {
                &s.title
            }
        );
        if !s.title.is_empty() {
            println!("    {}", s.detail);
        }
        if let Some(t) = s.opened_at {
            println!(
                "    opened {} by {} · {} records, head {}",
                format_timestamp(&t),
                s.operator,
                s.records,
                s.head
            );
        }
    }
    Ok(exit::OK)
}
