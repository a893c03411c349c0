//! `canton-dr run` and `canton-dr resume`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::exit;
use crate::cli::paths::Paths;
use crate::cli::session::{self, SessionSetup};
use crate::clock::SystemClock;
use crate::engine::identity::Operator;
use crate::engine::incident::{self, Incident, NewIncident};
use crate::engine::record::{Mode, ProfileRef};
use crate::profile::Profile;
use crate::secret::SecretRegistry;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A runbook file, or the name of a shipped runbook (e.g. validator-restore)
    pub runbook: String,
    /// The site profile: endpoints, databases, named queries and commands
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
    /// Run the read-only checks for real, but only show commands (nothing is changed)
    #[arg(long)]
    pub dry_run: bool,
    /// Line mode instead of the interactive screen (for scripts and CI)
    #[arg(long)]
    pub headless: bool,
    /// Answers for line mode (implies --headless); see `canton-dr help answers`
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// No colours on screen (also: the NO_COLOR environment variable)
    #[arg(long)]
    pub no_color: bool,
}

/// Arguments of `resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The incident id (or a unique part of it, or its directory); default: the most recent
    /// unfinished one
    pub incident: Option<String>,
    /// Use this profile instead of the one the incident was started with (when that file moved
    /// or changed)
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Line mode instead of the interactive screen
    #[arg(long)]
    pub headless: bool,
    /// Answers for line mode (implies --headless)
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// No colours on screen (also: NO_COLOR)
    #[arg(long)]
    pub no_color: bool,
}

/// A profile loaded and checked against a runbook, with its secrets read.
pub struct LoadedProfile {
    pub profile: Arc<Profile>,
    pub secrets: Arc<crate::profile::ProfileSecrets>,
}

/// Loads a profile, checks it against `runbook`, reads its secrets and registers them.
pub fn load_profile(
    path: &std::path::Path,
    runbook: &crate::runbook::Runbook,
    registry: &SecretRegistry,
) -> Result<LoadedProfile, String> {
    let profile = Profile::load(path).map_err(|d| d.to_string())?;
    let gaps = profile.check_against(runbook);
    if !gaps.is_empty() {
        return Err(format!("the profile does not fit the runbook:\n{gaps}"));
    }
    let secrets = profile
        .load_secrets()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for s in secrets.all() {
        registry.register(s);
    }
    Ok(LoadedProfile {
        profile: Arc::new(profile),
        secrets: Arc::new(secrets),
    })
}

/// The journal's record of a profile.
pub fn profile_ref(p: &Profile) -> ProfileRef {
    ProfileRef {
        name: p.name.clone(),
        path: p.path.display().to_string(),
        sha256: p.sha256.clone(),
        text: p.text.clone(),
    }
}

/// Runs `run`.
pub async fn run(
    args: &RunArgs,
    paths: &Paths,
    operator: Operator,
    registry: SecretRegistry,
) -> color_eyre::Result<u8> {
    let front = match session::front_end(
        args.headless,
        args.answers.as_deref(),
        args.no_color || session::no_color_env(),
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let runbook = match runbook_to_start(
        &args.runbook,
        paths,
        "it runs as part of the runbooks that include it",
    ) {
        Ok(runbook) => runbook,
        Err(code) => return Ok(code),
    };
    let loaded = match load_profile(&args.profile, &runbook, &registry) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::FAILED);
        }
    };
    let params = match loaded.profile.param_values(&runbook) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canton-dr: {}: {e}", args.profile.display());
            return Ok(exit::FAILED);
        }
    };
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Live
    };
    let incident = match Incident::create(NewIncident {
        root: &paths.incidents(),
        runbook: &runbook,
        profile: Some(profile_ref(&loaded.profile)),
        mode,
        operator: &operator,
        clock: &SystemClock,
        params,
    }) {
        Ok(i) => i,
        Err(e) => return Ok(session::report_open_error(&e)),
    };
    eprintln!(
        "canton-dr: incident {} ({}) in {}",
        incident.id,
        mode.label(),
        incident.dir.display()
    );
    let end = session::run(
        incident,
        SessionSetup {
            operator,
            profile: Some(loaded.profile),
            secrets: loaded.secrets,
            registry,
            front,
            probes: None,
            after: None,
        },
    )
    .await?;
    Ok(end.exit_code)
}

/// Runs `resume`.
pub async fn resume(
    args: &ResumeArgs,
    paths: &Paths,
    operator: Operator,
    registry: SecretRegistry,
) -> color_eyre::Result<u8> {
    let front = match session::front_end(
        args.headless,
        args.answers.as_deref(),
        args.no_color || session::no_color_env(),
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let dir = match incident::locate(&paths.incidents(), args.incident.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let incident = match Incident::open(&dir, &operator, &SystemClock) {
        Ok(i) => i,
        Err(e) => return Ok(session::report_open_error(&e)),
    };
    if incident.state.mode == Mode::Drill {
        return crate::cli::drill::resume(incident, args, paths, operator, registry).await;
    }
    let recorded = incident.state.profile.clone();
    let profile_path = match (&args.profile, &recorded) {
        (Some(p), _) => p.clone(),
        (None, Some(r)) => PathBuf::from(&r.path),
        (None, None) => {
            eprintln!(
                "canton-dr: the incident was started without a profile; give one with --profile"
            );
            return Ok(exit::USAGE);
        }
    };
    let loaded = match load_profile(&profile_path, &incident.state.runbook, &registry) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::FAILED);
        }
    };
    if let Some(r) = &recorded
        && r.sha256 != loaded.profile.sha256
    {
        if args.profile.is_none() {
            eprintln!(
                "canton-dr: the profile {} changed since the incident started (SHA-256 {} then, {} now); if that is intended, resume with --profile {}",
                profile_path.display(),
                &r.sha256[..12],
                &loaded.profile.sha256[..12],
                profile_path.display()
            );
            return Ok(exit::USAGE);
        }
        eprintln!(
            "canton-dr: using profile {} (it differs from the one the incident started with)",
            profile_path.display()
        );
    }
    eprintln!(
        "canton-dr: resuming incident {} ({}): {} records",
        incident.id,
        incident.state.mode.label(),
        incident.state.records
    );
    let end = session::run(
        incident,
        SessionSetup {
            operator,
            profile: Some(loaded.profile),
            secrets: loaded.secrets,
            registry,
            front,
            probes: None,
            after: None,
        },
    )
    .await?;
    Ok(end.exit_code)
}

/// Finds and loads the runbook `name` to start an incident of; a fragment is refused with
/// `fragment_hint`. Problems are reported on standard error; the error is the exit status.
pub(crate) fn runbook_to_start(
    name: &str,
    paths: &Paths,
    fragment_hint: &str,
) -> Result<crate::runbook::Runbook, u8> {
    let path = crate::runbook::find::find(name, &paths.config).map_err(|e| {
        eprintln!("canton-dr: {e}");
        exit::USAGE
    })?;
    let runbook = crate::runbook::load(&path).map_err(|d| {
        eprintln!("{d}");
        exit::FAILED
    })?;
    if runbook.fragment {
        eprintln!(
            "canton-dr: {} is a fragment; {fragment_hint}",
            path.display()
        );
        return Err(exit::USAGE);
    }
    Ok(runbook)
}
