//! `canton-dr repair`: the operator's explicit repair of a damaged journal (R7).

use crate::cli::exit;
use crate::cli::paths::Paths;
use crate::cli::session;
use crate::clock::SystemClock;
use crate::engine::identity::Operator;
use crate::engine::incident::{self, Incident};

/// Arguments of `repair`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The incident id (or a unique part of it, or its directory)
    pub incident: String,
    /// Cut the journal at this byte offset (a record boundary; `resume` prints it)
    #[arg(long, value_name = "OFFSET")]
    pub accept_truncation_at: u64,
    /// Why, for the journal
    #[arg(long)]
    pub reason: String,
}

/// Runs `repair`.
pub fn run(args: &Args, paths: &Paths, operator: &Operator) -> color_eyre::Result<u8> {
    if args.reason.trim().is_empty() {
        eprintln!("canton-dr: a repair needs a reason (--reason); it is journaled");
        return Ok(exit::USAGE);
    }
    let dir = match incident::locate(&paths.incidents(), Some(&args.incident)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    match Incident::repair(
        &dir,
        args.accept_truncation_at,
        args.reason.trim(),
        operator,
        &SystemClock,
    ) {
        Ok(i) => {
            if let crate::journal::OpenOutcome::OperatorTruncated { repair, recovery } = &i.opened {
                println!(
                    "repaired incident {}: cut {} bytes at offset {}; the original is kept as {}; recorded as record {} (head {})",
                    i.id,
                    repair.truncated_bytes,
                    repair.valid_len,
                    repair.quarantine_path.display(),
                    recovery.seq,
                    recovery.head.short()
                );
            }
            println!("continue with `canton-dr resume {}`", i.id);
            Ok(exit::OK)
        }
        Err(e) => Ok(session::report_open_error(&e)),
    }
}
