//! The command line: one small function per subcommand over the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod answers;
pub mod dar;
pub mod doctor;
pub mod drill;
pub mod exit;
pub mod export;
pub mod headless;
pub mod incidents;
pub mod logging;
pub mod paths;
pub mod repair;
pub mod run;
pub mod sandbox;
pub mod session;
pub mod show;
pub mod start;
pub mod validate;
pub mod verify;

/// Guided, crash-safe and auditable disaster recovery for a Canton Network exchange integration.
///
/// canton-dr walks you through restoring the Exchange Validator Node or the Canton Integration
/// DB from backups, runs the checks itself (participant over gRPC, databases over SQL, backup
/// files), keeps a tamper-evident journal it can resume from, and rehearses everything against
/// a built-in sandbox.
///
/// Start here:  canton-dr drill validator-restore
#[derive(Debug, Parser)]
#[command(name = "canton-dr", version, after_help = exit::HELP, max_term_width = 100)]
pub struct Cli {
    /// Where incidents and logs are kept [env: CANTON_DR_DATA; default: the XDG data dir]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Your name, recorded with every step [default: your OS user]
    #[arg(long, global = true, env = "CANTON_DR_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a runbook against your systems (live, or --dry-run to only observe)
    Run(run::RunArgs),
    /// Continue an incident where its journal ends (after a quit, a crash or a reboot)
    Resume(run::ResumeArgs),
    /// List incidents, newest first
    Incidents(incidents::Args),
    /// Repair a damaged journal by cutting it at a record boundary (the original is kept)
    Repair(repair::Args),
    /// Check a profile before an incident: every read-only probe it makes possible
    Doctor(doctor::Args),
    /// Look inside DAR files
    Dar(dar::Args),
    /// Check runbooks (and profiles) before you need them; reports every problem
    Validate(validate::Args),
    /// Print a runbook as a readable procedure, for study and printing
    Show(show::Args),
    /// Write the audit transcript of an incident (Markdown, HTML or JSON), from its journal
    Export(export::Args),
    /// Check an incident's journal: checksums, hash chain, and the head, count or signed
    /// checkpoint kept elsewhere
    Verify(verify::Args),
    /// Sign the journal's current record count and head with an SSH key
    Checkpoint(verify::CheckpointArgs),
    /// Rehearse a runbook against the built-in sandbox, with the disaster already happened;
    /// judged and scored at the end
    Drill(drill::DrillArgs),
    /// Run the sandbox on its own (up), or send it a command (ctl)
    Sandbox(sandbox::Args),
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> color_eyre::Result<u8> {
    let paths = paths::Paths::resolve(cli.data_dir.as_deref());
    let operator = crate::engine::identity::Operator::current(cli.operator.clone());
    let registry = crate::secret::SecretRegistry::new();
    crate::secret::install_redacting_panic_hook(registry.clone());
    // Test builds only: failpoints configured by the FAILPOINTS variable.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    // `sandbox ctl` runs as the sandbox profile's named commands, with a bare environment:
    // it logs nothing of its own.
    let ctl = matches!(
        &cli.command,
        Some(Command::Sandbox(sandbox::Args {
            command: sandbox::SandboxCommand::Ctl(_)
        }))
    );
    let _log = if ctl {
        None
    } else {
        logging::init(&paths, &registry)
    };
    match cli.command {
        Some(Command::Validate(a)) => validate::run(&a),
        Some(Command::Show(a)) => show::run(&a, &paths),
        Some(Command::Export(a)) => export::run(&a, &paths),
        Some(Command::Verify(a)) => verify::run(&a, &paths),
        Some(Command::Checkpoint(a)) => verify::run_checkpoint(&a, &paths),
        Some(Command::Incidents(a)) => incidents::run(&a, &paths),
        Some(Command::Repair(a)) => repair::run(&a, &paths, &operator),
        Some(Command::Dar(a)) => dar::run(&a),
        Some(Command::Doctor(a)) => runtime()?.block_on(doctor::run(&a, &registry)),
        Some(Command::Run(a)) => runtime()?.block_on(run::run(&a, &paths, operator, registry)),
        Some(Command::Resume(a)) => {
            runtime()?.block_on(run::resume(&a, &paths, operator, registry))
        }
        Some(Command::Drill(a)) => runtime()?.block_on(drill::run(&a, &paths, operator, registry)),
        Some(Command::Sandbox(a)) => match &a.command {
            sandbox::SandboxCommand::Up(up) => {
                runtime()?.block_on(sandbox::up(up, &paths, registry))
            }
            sandbox::SandboxCommand::Ctl(ctl) => runtime()?.block_on(sandbox::ctl(ctl)),
        },
        None if start::available() => runtime()?.block_on(start::run(&paths, operator, registry)),
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(exit::USAGE)
        }
    }
}

/// The async runtime for commands that talk to systems.
fn runtime() -> color_eyre::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
