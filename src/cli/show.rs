//! `canton-dr show`: a runbook as a readable procedure.

use crate::runbook::document::{DocFormat, render};

use super::exit;
use super::paths::Paths;

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A runbook file, or the name of a shipped runbook (e.g. validator-restore)
    pub runbook: String,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Output formats of `show`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Plain text
    Text,
    /// Markdown
    Md,
}

/// Runs `show`.
pub fn run(args: &Args, paths: &Paths) -> color_eyre::Result<u8> {
    let path = match crate::runbook::find::find(&args.runbook, &paths.config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    match crate::runbook::load(&path) {
        Ok(rb) => {
            let format = match args.format {
                Format::Text => DocFormat::Text,
                Format::Md => DocFormat::Markdown,
            };
            print!("{}", render(&rb, format));
            Ok(exit::OK)
        }
        Err(d) => {
            eprintln!("{d}");
            Ok(exit::FAILED)
        }
    }
}
