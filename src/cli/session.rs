//! One working session on an incident: the engine started over the incident's journal, driven
//! by the line-mode runner or the TUI. Shared by `run`, `resume` and `drill`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::answers::Answers;
use crate::cli::exit;
use crate::cli::headless::{self, HeadlessEnd};
use crate::clock::{Clock, SystemClock};
use crate::engine::controller::{Engine, EngineContext};
use crate::engine::event::{EngineEvent, RunEnd};
use crate::engine::identity::Operator;
use crate::engine::incident::{Incident, IncidentError};
use crate::journal::{JournalError, LockError, OpenOutcome};
use crate::probe::Probes;
use crate::probe::set::ProbeSet;
use crate::profile::{Profile, ProfileSecrets};
use crate::secret::SecretRegistry;

/// How the operator is met.
#[derive(Debug, Clone)]
pub enum FrontEnd {
    /// Line mode, answering from this file (or from nothing: every question stops the run).
    Headless { answers: Answers },
    /// The interactive screen.
    Tui {
        no_color: bool,
        /// A drill's answers to input steps, filled into their dialogs.
        drill_hints: std::collections::BTreeMap<String, String>,
    },
}

/// Everything a session needs besides the incident.
pub struct SessionSetup {
    pub operator: Operator,
    pub profile: Option<Arc<Profile>>,
    pub secrets: Arc<ProfileSecrets>,
    pub registry: SecretRegistry,
    pub front: FrontEnd,
    /// Probes to use instead of the profile's (the sandbox may wrap them).
    pub probes: Option<Arc<dyn Probes>>,
    /// Runs once the engine has finished (its journal closed, the incident still locked by
    /// this session), before the front end learns of the end; the events it returns (records
    /// it appended) reach the front end first. A drill journals its verdict here.
    pub after: Option<AfterRun>,
}

/// See [`SessionSetup::after`].
pub type AfterRun =
    Box<dyn FnOnce(RunEnd) -> futures::future::BoxFuture<'static, Vec<EngineEvent>> + Send>;

/// Passes the engine's events on, holding back its end until `after` has run.
fn relay(
    mut events: tokio::sync::mpsc::UnboundedReceiver<EngineEvent>,
    mut task: tokio::task::JoinHandle<RunEnd>,
    after: AfterRun,
) -> (
    tokio::sync::mpsc::UnboundedReceiver<EngineEvent>,
    tokio::task::JoinHandle<RunEnd>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let relay = tokio::spawn(async move {
        let mut after = Some(after);
        while let Some(event) = events.recv().await {
            if let EngineEvent::Finished(announced) = &event {
                // The engine ends right after announcing it; then its journal is closed.
                let end = (&mut task).await.unwrap_or_else(|_| announced.clone());
                if let Some(f) = after.take() {
                    for extra in f(end.clone()).await {
                        let _ = tx.send(extra);
                    }
                }
                let _ = tx.send(event);
                return end;
            }
            let _ = tx.send(event);
        }
        task.await.unwrap_or(RunEnd::Fatal)
    });
    (rx, relay)
}

/// How a session ended.
pub struct SessionEnd {
    pub end: RunEnd,
    pub exit_code: u8,
    pub incident_id: String,
    pub incident_dir: PathBuf,
}

/// Runs the engine over `incident` until it stops; prints where things stand at the end.
pub async fn run(incident: Incident, setup: SessionSetup) -> color_eyre::Result<SessionEnd> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let probes: Arc<dyn Probes> = match setup.probes {
        Some(p) => p,
        None => Arc::new(ProbeSet::new(
            setup.profile.clone(),
            setup.secrets.clone(),
            clock.clone(),
        )),
    };
    let mut ctx = EngineContext::new(setup.operator.clone(), clock, probes, incident.dir.clone());
    ctx.profile = setup.profile.clone();
    ctx.secrets = setup.secrets.clone();
    ctx.registry = setup.registry.clone();
    let Incident {
        id,
        dir,
        journal,
        lock,
        state,
        opened,
    } = incident;
    if let OpenOutcome::TornRepaired { repair, .. } = &opened {
        eprintln!(
            "canton-dr: the journal ended in a half-written record ({} bytes), the usual result of a crash; it was cut back to the last complete record and the original kept as {}",
            repair.truncated_bytes,
            repair.quarantine_path.display()
        );
    }
    let (handle, events, task) = Engine::start(state, Box::new(journal), ctx);
    let (events, task) = match setup.after {
        Some(after) => relay(events, task, after),
        None => (events, task),
    };
    let (end, code) = match &setup.front {
        FrontEnd::Headless { answers } => {
            let mut stdout = std::io::stdout();
            let result: HeadlessEnd = headless::drive(&handle, events, answers, &mut stdout).await;
            let code = result.exit_code();
            (result.end, code)
        }
        FrontEnd::Tui {
            no_color,
            drill_hints,
        } => {
            let out = crate::tui::run_incident(
                handle.clone(),
                events,
                crate::tui::TuiOptions {
                    no_color: *no_color,
                    drill_hints: drill_hints.clone(),
                },
            )
            .await?;
            let end = out.end.unwrap_or(RunEnd::Quit);
            (end.clone(), end_code(&end))
        }
    };
    // The engine task has ended or ends now that its front end is gone.
    drop(handle);
    let end = match task.await {
        Ok(e) => e,
        Err(_) => end,
    };
    drop(lock);
    // The interactive screen says this itself when it closes.
    if end != RunEnd::Completed && matches!(setup.front, FrontEnd::Headless { .. }) {
        eprintln!(
            "canton-dr: incident {id} is saved in {}; continue with `canton-dr resume {id}`",
            dir.display()
        );
    }
    Ok(SessionEnd {
        exit_code: if end == RunEnd::Completed {
            exit::OK
        } else {
            code
        },
        end,
        incident_id: id,
        incident_dir: dir,
    })
}

/// The exit code of an interactive session's end.
pub fn end_code(end: &RunEnd) -> u8 {
    match end {
        RunEnd::Completed => exit::OK,
        RunEnd::Quit => exit::QUIT,
        RunEnd::Aborted => exit::ABORTED,
        RunEnd::Fatal => exit::FAILED,
    }
}

/// Chooses the front end from the flags and the terminal.
pub fn front_end(
    headless: bool,
    answers: Option<&std::path::Path>,
    no_color: bool,
) -> Result<FrontEnd, String> {
    if headless || answers.is_some() {
        let answers = match answers {
            Some(p) => Answers::load(p).map_err(|e| e.to_string())?,
            None => Answers::default(),
        };
        return Ok(FrontEnd::Headless { answers });
    }
    if !std::io::stdout().is_terminal() {
        return Err(
            "standard output is not a terminal; use --headless (with --answers FILE) for line mode"
                .into(),
        );
    }
    Ok(FrontEnd::Tui {
        no_color,
        drill_hints: Default::default(),
    })
}

/// NO_COLOR is set (to anything non-empty).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Prints an incident error the way an operator needs it, and returns the exit code.
pub fn report_open_error(e: &IncidentError) -> u8 {
    eprintln!("canton-dr: {e}");
    match e {
        IncidentError::Locked(LockError::Held { .. }) => exit::LOCKED,
        IncidentError::Journal(JournalError::Damaged(_)) => exit::JOURNAL_DAMAGED,
        IncidentError::Locked(LockError::Journal(JournalError::Damaged(_))) => {
            exit::JOURNAL_DAMAGED
        }
        _ => exit::FAILED,
    }
}
