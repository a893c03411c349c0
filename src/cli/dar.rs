//! `canton-dr dar inspect`: what a DAR file contains, read from the archive itself.

use std::path::PathBuf;

use crate::cli::exit;

/// Arguments of `dar`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DarCommand,
}

/// DAR subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DarCommand {
    /// Name, version, SDK version, main package id and every package id of a DAR
    Inspect {
        /// The .dar file
        file: PathBuf,
        /// One JSON object on standard output
        #[arg(long)]
        json: bool,
    },
}

/// Runs `dar`.
pub fn run(args: &Args) -> color_eyre::Result<u8> {
    match &args.command {
        DarCommand::Inspect { file, json } => match crate::dar::inspect(file) {
            Ok(info) => {
                if *json {
                    println!("{}", serde_json::to_string_pretty(&info)?);
                } else {
                    print!("{}", crate::dar::render_text(&info));
                }
                Ok(exit::OK)
            }
            Err(e) => {
                eprintln!("canton-dr: {e}");
                Ok(exit::FAILED)
            }
        },
    }
}
