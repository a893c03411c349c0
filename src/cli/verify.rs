//! `canton-dr verify` and `canton-dr checkpoint`: is the journal still what the transcript,
//! the ticket or a signed checkpoint says it was?

use std::path::PathBuf;

use crate::export::{self, CheckpointRequest};
use crate::journal::parse_head_hex;

use super::exit;
use super::export::{check_tail, find_incident, incident_dir, report_read_error};
use super::paths::Paths;

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The incident: its id, a unique part of it, or the path of its directory or journal
    pub incident: String,
    /// The head digest recorded elsewhere (transcript, ticket): 64 hex digits
    #[arg(long, value_name = "HEX")]
    pub expect_head: Option<String>,
    /// The record count recorded elsewhere
    #[arg(long, value_name = "N")]
    pub expect_count: Option<u64>,
    /// A signed checkpoint (from `canton-dr checkpoint`) to check the journal against
    #[arg(long, value_name = "FILE", requires = "allowed_signers")]
    pub checkpoint: Option<PathBuf>,
    /// The ssh-keygen allowed-signers file that says whose signatures count
    #[arg(long, value_name = "FILE", requires = "checkpoint")]
    pub allowed_signers: Option<PathBuf>,
    /// The signer the checkpoint must be from [default: any allowed signer]
    #[arg(long, value_name = "ID", requires = "checkpoint")]
    pub identity: Option<String>,
    /// Print the result as one JSON object on standard output
    #[arg(long)]
    pub json: bool,
}

/// Runs `verify`: exit status 0 when the journal is intact and matches everything given, 1
/// when it does not.
pub fn run(args: &Args, paths: &Paths) -> color_eyre::Result<u8> {
    let expect_head = match args.expect_head.as_deref().map(parse_head_hex).transpose() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("canton-dr: --expect-head: {e}");
            return Ok(exit::USAGE);
        }
    };
    let found = match find_incident(&args.incident, paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let request = match (&args.checkpoint, &args.allowed_signers) {
        (Some(path), Some(allowed_signers)) => Some(CheckpointRequest {
            path,
            allowed_signers,
            identity: args.identity.as_deref(),
        }),
        _ => None,
    };
    let verification =
        match export::verify_incident(&found, expect_head, args.expect_count, request) {
            Ok(v) => v,
            Err(e) => return Ok(report_read_error(&e)),
        };
    if args.json {
        println!("{}", verification.to_json());
    } else {
        println!("{verification}");
    }
    Ok(if verification.ok() {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Arguments of `checkpoint`.
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The incident: its id, a unique part of it, or the path of its directory or journal
    pub incident: String,
    /// The SSH private key to sign with (ssh-keygen reads it, and asks for its passphrase)
    #[arg(long, value_name = "SSH_PRIVATE_KEY")]
    pub key: PathBuf,
    /// Where to write the checkpoint; "-" for standard output [default:
    /// checkpoint-<records>.note in the incident directory]
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `checkpoint`: signs the journal's current record count and head.
pub fn run_checkpoint(args: &CheckpointArgs, paths: &Paths) -> color_eyre::Result<u8> {
    let found = match find_incident(&args.incident, paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let (file, scan) = match export::read_journal(&found) {
        Ok(x) => x,
        Err(e) => return Ok(report_read_error(&e)),
    };
    if let Some(code) = check_tail(&file, &scan, &args.incident) {
        return Ok(code);
    }
    let signed = match export::make_checkpoint(&scan, &file, &args.key) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let text = signed.to_text();
    let target = match &args.output {
        Some(p) if p.as_os_str() == "-" => {
            print!("{text}");
            return Ok(exit::OK);
        }
        Some(p) => p.clone(),
        None => incident_dir(&found).join(format!("checkpoint-{}.note", signed.checkpoint.count)),
    };
    match export::write_private(&target, text.as_bytes()) {
        Ok(path) => {
            eprintln!(
                "wrote {}: signed checkpoint of {} records, head {}",
                path.display(),
                signed.checkpoint.count,
                hex::encode(signed.checkpoint.hash)
            );
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!("canton-dr: {e}");
            Ok(exit::USAGE)
        }
    }
}
