//! The run controller: one task that owns the incident state and the journal, decides what
//! happens next, asks the operator when it must, and runs steps.
//!
//! Every fact is first appended (and synced) to the journal, then folded into the state, then
//! broadcast: the journal, the engine and every front end always agree (R3, R8).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::engine::command::{EngineCommand, EngineHandle};
use crate::engine::event::{EngineEvent, RunEnd, Waiting};
use crate::engine::identity::Operator;
use crate::engine::record::{Event, InDoubtChoice, Mode, Record};
use crate::engine::sink::Sink;
use crate::engine::state::{IncidentState, StepStatus};
use crate::probe::Probes;
use crate::profile::{Profile, ProfileSecrets};
use crate::runbook::model::{Step, StepKind};
use crate::secret::SecretRegistry;
use crate::value::Value;

/// Settings and collaborators of an engine.
#[derive(Clone)]
pub struct EngineContext {
    pub operator: Operator,
    pub clock: Arc<dyn Clock>,
    pub probes: Arc<dyn Probes>,
    pub profile: Option<Arc<Profile>>,
    pub secrets: Arc<ProfileSecrets>,
    /// The incident directory (for the free-space check).
    pub incident_dir: PathBuf,
    /// Side-effecting steps are refused below this much free space (R18).
    pub min_free: u64,
    /// SIGTERM → SIGKILL grace for timed-out command steps.
    pub kill_grace: Duration,
    /// Bytes of each output stream kept in the journal.
    pub output_cap: usize,
    /// A wait step journals an observation at least this often (and on every change).
    pub observe_every: Duration,
    /// The version recorded in each session.
    pub tool_version: String,
    /// The secret values of this run (shared with the panic hook and the log).
    pub registry: SecretRegistry,
}

impl EngineContext {
    /// Defaults for everything but the collaborators.
    pub fn new(
        operator: Operator,
        clock: Arc<dyn Clock>,
        probes: Arc<dyn Probes>,
        incident_dir: PathBuf,
    ) -> EngineContext {
        EngineContext {
            operator,
            clock,
            probes,
            profile: None,
            secrets: Arc::new(ProfileSecrets::default()),
            incident_dir,
            min_free: crate::journal::MIN_FREE,
            kill_grace: Duration::from_secs(5),
            output_cap: 16 * 1024,
            observe_every: Duration::from_secs(60),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            registry: SecretRegistry::new(),
        }
    }
}

/// Why the engine stops a step's work.
#[derive(Debug)]
pub(crate) enum Halt {
    Quit,
    Abort(String),
    Fatal(String),
}

/// The engine.
pub struct Engine {
    pub(crate) state: IncidentState,
    sink: Box<dyn Sink>,
    pub(crate) ctx: EngineContext,
    events: mpsc::UnboundedSender<EngineEvent>,
    commands: mpsc::UnboundedReceiver<EngineCommand>,
    /// Secret values entered in this session, by variable.
    pub(crate) session_secrets: BTreeMap<String, SecretString>,
    pub(crate) redactor: SecretRegistry,
    mono_base: u64,
    session_start: tokio::time::Instant,
    /// The last waiting state shown, to avoid repeating it.
    last_waiting: Option<Waiting>,
    /// A command step must be confirmed again (after a failure) before it runs.
    pub(crate) reconfirm: bool,
}

impl Engine {
    /// Starts an engine over a replayed incident. Returns the handle to send commands, the
    /// stream of events, and the task (which ends with the reason the engine stopped).
    pub fn start(
        state: IncidentState,
        sink: Box<dyn Sink>,
        ctx: EngineContext,
    ) -> (
        EngineHandle,
        mpsc::UnboundedReceiver<EngineEvent>,
        tokio::task::JoinHandle<RunEnd>,
    ) {
        let (tx, commands) = mpsc::unbounded_channel();
        let (events, rx) = mpsc::unbounded_channel();
        let redactor = ctx.registry.clone();
        for s in ctx.secrets.all() {
            redactor.register(s);
        }
        let engine = Engine {
            mono_base: state.last_mono_ms,
            state,
            sink,
            ctx,
            events,
            commands,
            session_secrets: BTreeMap::new(),
            redactor,
            session_start: tokio::time::Instant::now(),
            last_waiting: None,
            reconfirm: false,
        };
        let task = tokio::spawn(engine.run());
        (EngineHandle::new(tx), rx, task)
    }

    pub(crate) fn emit(&self, e: EngineEvent) {
        // A front end that has gone away no longer needs events; the journal is the truth.
        let _ = self.events.send(e);
    }

    /// Appends a record, folds it into the state and announces it.
    pub(crate) fn record(&mut self, event: Event) -> Result<(), Halt> {
        let mono = self.mono_base
            + u64::try_from(self.session_start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let record = Record {
            ts: self.ctx.clock.now(),
            mono_ms: mono.max(self.state.last_mono_ms),
            user: self.ctx.operator.user.clone(),
            operator: self.ctx.operator.name.clone(),
            host: self.ctx.operator.host.clone(),
            event,
        };
        let payload = record.encode();
        let appended = self.sink.append(&payload).map_err(|e| {
            Halt::Fatal(format!(
                "the journal cannot be written, so canton-dr stops: {e}"
            ))
        })?;
        self.state.apply(appended.seq, &record).map_err(|e| {
            Halt::Fatal(format!(
                "internal error folding record {}: {e}",
                appended.seq
            ))
        })?;
        self.emit(EngineEvent::Recorded {
            seq: appended.seq,
            head: appended.head,
            record: Box::new(record),
        });
        Ok(())
    }

    async fn run(mut self) -> RunEnd {
        self.emit(EngineEvent::Started {
            state: Box::new(self.state.clone()),
        });
        let resumed = !self.state.sessions.is_empty();
        let start = self.record(Event::SessionStarted {
            pid: std::process::id(),
            resumed,
            tool_version: self.ctx.tool_version.clone(),
        });
        let start = start.and_then(|()| self.disk_preflight());
        let result = match start {
            Ok(()) => self.drive().await,
            Err(h) => Err(h),
        };
        let end = match result {
            Ok(end) => end,
            Err(Halt::Quit) => match self.record(Event::SessionEnded {
                reason: "the operator quit; the incident can be resumed".into(),
            }) {
                Ok(()) => RunEnd::Quit,
                Err(Halt::Fatal(m)) => self.fatal(m),
                Err(_) => RunEnd::Quit,
            },
            Err(Halt::Abort(reason)) => {
                let r = self.record(Event::RunAborted { reason }).and_then(|()| {
                    self.record(Event::SessionEnded {
                        reason: "run aborted".into(),
                    })
                });
                match r {
                    Ok(()) => RunEnd::Aborted,
                    Err(Halt::Fatal(m)) => self.fatal(m),
                    Err(_) => RunEnd::Aborted,
                }
            }
            Err(Halt::Fatal(m)) => self.fatal(m),
        };
        self.emit(EngineEvent::Finished(end.clone()));
        end
    }

    /// R18 at the start of a session: warn (journaled) when the journal's file system is short of
    /// space; command steps are refused until it is freed.
    fn disk_preflight(&mut self) -> Result<(), Halt> {
        match crate::journal::free_bytes(&self.ctx.incident_dir) {
            Ok(free) if free < self.ctx.min_free => self.record(Event::Warning {
                step: None,
                message: format!(
                    "only {} MiB free where the journal lives; commands will be refused until at least {} MiB are free",
                    free / (1024 * 1024),
                    self.ctx.min_free / (1024 * 1024)
                ),
            }),
            _ => Ok(()),
        }
    }

    fn fatal(&self, message: String) -> RunEnd {
        self.emit(EngineEvent::Fatal { message });
        RunEnd::Fatal
    }

    async fn drive(&mut self) -> Result<RunEnd, Halt> {
        loop {
            if self.state.finish.is_some() {
                return Ok(match self.state.finish {
                    Some(crate::engine::state::Finish::Aborted(_)) => RunEnd::Aborted,
                    _ => RunEnd::Completed,
                });
            }
            if let Some(&i) = self.state.in_doubt().first() {
                self.resolve_in_doubt(i).await?;
                continue;
            }
            let Some(i) = self.state.cursor() else {
                let (passed, skipped) = self.state.tally();
                self.record(Event::RunCompleted {
                    steps_passed: passed,
                    steps_skipped: skipped,
                })?;
                self.record(Event::SessionEnded {
                    reason: "the runbook is complete".into(),
                })?;
                return Ok(RunEnd::Completed);
            };
            let step = self.state.runbook.steps[i].clone();
            match self.state.steps[i].status.clone() {
                StepStatus::Running { .. } => {
                    self.record(Event::Warning {
                        step: Some(step.id.clone()),
                        message: "this step was interrupted before it finished; it only observes, so it runs again".into(),
                    })?;
                    self.run_step(&step).await?;
                }
                StepStatus::Failed { reason } => self.after_failure(&step, reason).await?,
                StepStatus::TimedOut => self.after_failure(&step, "timed out".into()).await?,
                StepStatus::Pending if self.applicable(&step)? => self.run_step(&step).await?,
                _ => {}
            }
        }
    }

    /// Evaluates `when`; records the step as not applicable when it is false.
    fn applicable(&mut self, step: &Step) -> Result<bool, Halt> {
        let Some(when) = &step.when else {
            return Ok(true);
        };
        let vars = self.expr_vars();
        let b = crate::runbook::expr::Bindings {
            value: None,
            vars: &vars,
            now: self.ctx.clock.now(),
        };
        match when.eval_bool(&b) {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.record(Event::StepNotApplicable {
                    step: step.id.clone(),
                    condition: when.source().to_owned(),
                })?;
                Ok(false)
            }
            Err(e) => {
                self.record(Event::StepFailed {
                    step: step.id.clone(),
                    attempt: self.state.steps[self.index(step)].attempts,
                    reason: format!("its condition could not be evaluated: {e}"),
                    duration_ms: 0,
                    exit_code: None,
                    signal: None,
                    output: None,
                    redactions: BTreeMap::new(),
                })?;
                Ok(false)
            }
        }
    }

    pub(crate) fn index(&self, step: &Step) -> usize {
        self.state.runbook.index_of(&step.id).unwrap_or(0)
    }

    pub(crate) fn next_attempt(&self, step: &Step) -> u32 {
        self.state.steps[self.index(step)].attempts + 1
    }

    async fn run_step(&mut self, step: &Step) -> Result<(), Halt> {
        let result = self.run_step_kind(step).await;
        self.ctx.probes.release_held();
        result
    }

    async fn run_step_kind(&mut self, step: &Step) -> Result<(), Halt> {
        // Test builds only (feature `failpoints`): a panic inside a step.
        fail::fail_point!("engine::step");
        match &step.kind {
            StepKind::Manual { .. } => self.manual(step).await,
            StepKind::Input { .. } => self.input(step).await,
            StepKind::Command(_) => self.command(step).await,
            StepKind::Check { .. } => self.check(step).await,
            StepKind::Wait { .. } => self.wait(step).await,
            StepKind::Gate { .. } => self.gate(step).await,
        }
    }

    /// The variables visible to expressions (secrets excluded).
    pub(crate) fn expr_vars(&self) -> BTreeMap<String, Value> {
        self.state.vars.clone()
    }

    /// The variables used to resolve arguments (secrets of this session included).
    pub(crate) fn arg_vars(&self) -> BTreeMap<String, Value> {
        let mut vars = self.state.vars.clone();
        for (k, v) in &self.session_secrets {
            vars.insert(k.clone(), Value::Secret(v.clone()));
        }
        vars
    }

    /// Shows what the engine waits for and returns the operator's next command. Notes are
    /// journaled on the way; quit and abort stop the step.
    pub(crate) async fn ask(&mut self, waiting: Waiting) -> Result<EngineCommand, Halt> {
        match self.ask_until(waiting, None).await? {
            Some(cmd) => Ok(cmd),
            None => Err(Halt::Quit),
        }
    }

    /// Like [`Engine::ask`], but gives up after `timeout` and returns `None`.
    pub(crate) async fn ask_until(
        &mut self,
        waiting: Waiting,
        timeout: Option<Duration>,
    ) -> Result<Option<EngineCommand>, Halt> {
        // The operator may act on a database while we wait for them.
        self.ctx.probes.release_held();
        if self.last_waiting.as_ref() != Some(&waiting) {
            self.emit(EngineEvent::Waiting(waiting.clone()));
            self.last_waiting = Some(waiting.clone());
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let cmd = match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.commands.recv()).await {
                    Ok(c) => c,
                    Err(_) => return Ok(None),
                },
                None => self.commands.recv().await,
            };
            let Some(cmd) = cmd else {
                // Every front end is gone: stop as if the operator quit.
                return Err(Halt::Quit);
            };
            match cmd {
                EngineCommand::Note { text, step } => {
                    if !self.note(step.as_deref().or(waiting.step()), text)? {
                        // A refused note is followed by the question again, like any refusal.
                        self.emit(EngineEvent::Waiting(waiting.clone()));
                    }
                }
                EngineCommand::Quit => return Err(Halt::Quit),
                EngineCommand::Abort { reason } => return Err(Halt::Abort(reason)),
                other => {
                    self.last_waiting = None;
                    return Ok(Some(other));
                }
            }
        }
    }

    /// Refuses a command and shows the same waiting state again.
    pub(crate) fn reject(&mut self, message: impl Into<String>) {
        self.emit(EngineEvent::Rejected {
            message: message.into(),
        });
    }

    /// Journals an operator note; false when it was refused (empty, or for a step the runbook
    /// does not have).
    pub(crate) fn note(&mut self, step: Option<&str>, text: String) -> Result<bool, Halt> {
        let text = text.trim().to_owned();
        if text.is_empty() {
            self.reject("a note cannot be empty");
            return Ok(false);
        }
        if let Some(id) = step
            && self.state.runbook.index_of(id).is_none()
        {
            self.reject(format!("there is no step '{id}' to add a note to"));
            return Ok(false);
        }
        let redacted = self.redactor.redact(&text).text;
        self.record(Event::NoteAdded {
            step: step.map(str::to_owned),
            text: redacted,
        })?;
        Ok(true)
    }

    /// Handles a skip request for `step`. `needs_typed`: overriding a safety check needs the step
    /// id typed. Returns true when the step was skipped.
    pub(crate) fn try_skip(
        &mut self,
        step: &Step,
        reason: String,
        typed: Option<String>,
        overridden: bool,
        needs_typed: bool,
    ) -> Result<bool, Halt> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            self.reject("skipping a step needs a reason; it goes into the journal");
            return Ok(false);
        }
        if needs_typed && typed.as_deref() != Some(step.id.as_str()) {
            self.reject(format!(
                "this overrides a safety check: type the step id '{}' to confirm",
                step.id
            ));
            return Ok(false);
        }
        let reason = self.redactor.redact(&reason).text;
        self.record(Event::StepSkipped {
            step: step.id.clone(),
            reason,
            overridden,
        })?;
        Ok(true)
    }

    /// After a failed or timed-out step: retry or skip.
    async fn after_failure(&mut self, step: &Step, reason: String) -> Result<(), Halt> {
        loop {
            let cmd = self
                .ask(Waiting::Failed {
                    step: step.id.clone(),
                    reason: reason.clone(),
                })
                .await?;
            match cmd {
                EngineCommand::Retry => {
                    self.reconfirm = true;
                    return self.run_step(step).await;
                }
                EngineCommand::Skip { reason, typed } => {
                    let safety = matches!(
                        step.kind,
                        StepKind::Check { .. } | StepKind::Wait { .. } | StepKind::Gate { .. }
                    );
                    if self.try_skip(step, reason, typed, true, safety)? {
                        return Ok(());
                    }
                }
                _ => self.reject("the step failed: retry it, or skip it with a reason"),
            }
        }
    }

    /// A step with side effects that started before a crash and never finished.
    async fn resolve_in_doubt(&mut self, i: usize) -> Result<(), Halt> {
        let step = self.state.runbook.steps[i].clone();
        loop {
            let s = &self.state.steps[i];
            let attempt = match s.status {
                StepStatus::Running { attempt } => attempt,
                _ => return Ok(()),
            };
            // The group counts as running while its leader or any member lives (the parent-death
            // signal reaches only the leader).
            let still_running = s.spawned.filter(|sp| {
                matches!(
                    crate::engine::process::group_status(sp.pgid, sp.start_time),
                    crate::engine::process::GroupStatus::Alive
                        | crate::engine::process::GroupStatus::LeaderGone { .. }
                )
            });
            let action = s.action.clone().unwrap_or_default();
            let cmd = self
                .ask(Waiting::InDoubt {
                    step: step.id.clone(),
                    attempt,
                    action,
                    still_running,
                })
                .await?;
            match cmd {
                EngineCommand::ResolveInDoubt(choice) => {
                    if still_running.is_some() && choice == InDoubtChoice::Rerun {
                        self.reject("the step's processes from before the crash are still running: wait for them, or kill them first");
                        continue;
                    }
                    let valid = match &choice {
                        InDoubtChoice::Rerun => true,
                        InDoubtChoice::MarkDone { evidence } => !evidence.trim().is_empty(),
                        InDoubtChoice::Skip { reason } => !reason.trim().is_empty(),
                    };
                    if !valid {
                        self.reject("marking a step done needs evidence, and skipping it needs a reason");
                        continue;
                    }
                    let choice = match choice {
                        InDoubtChoice::MarkDone { evidence } => InDoubtChoice::MarkDone {
                            evidence: self.redactor.redact(&evidence).text,
                        },
                        InDoubtChoice::Skip { reason } => InDoubtChoice::Skip {
                            reason: self.redactor.redact(&reason).text,
                        },
                        c => c,
                    };
                    self.record(Event::InDoubtResolved {
                        step: step.id.clone(),
                        attempt,
                        choice,
                    })?;
                    self.reconfirm = true;
                    return Ok(());
                }
                EngineCommand::KillStale => {
                    if let Some(sp) = still_running {
                        if let Err(e) = crate::engine::process::terminate_group(sp.pgid, self.ctx.kill_grace).await {
                            self.reject(format!("could not terminate process group {}: {e}", sp.pgid));
                            continue;
                        }
                        self.record(Event::Warning {
                            step: Some(step.id.clone()),
                            message: format!(
                                "terminated process group {} left running from before the crash",
                                sp.pgid
                            ),
                        })?;
                    } else {
                        self.reject("no process of this step is running");
                    }
                }
                EngineCommand::Retry => {
                    // Look again (the old process may have finished meanwhile).
                    self.last_waiting = None;
                }
                _ => self.reject("decide about the interrupted step first: re-run, mark done with evidence, or skip with a reason"),
            }
        }
    }

    /// A secret variable entered before a restart, asked for again.
    pub(crate) async fn ensure_secrets(
        &mut self,
        step: &Step,
        needed: &[String],
    ) -> Result<(), Halt> {
        for var in needed {
            if self.session_secrets.contains_key(var) {
                continue;
            }
            let prompt = self
                .state
                .runbook
                .steps
                .iter()
                .find_map(|s| match &s.kind {
                    StepKind::Input { var: v, prompt, .. } if v == var => Some(prompt.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| format!("Enter secret '{var}' again"));
            loop {
                let cmd = self
                    .ask(Waiting::SecretNeeded {
                        step: step.id.clone(),
                        var: var.clone(),
                        prompt: prompt.clone(),
                    })
                    .await?;
                match cmd {
                    EngineCommand::Input { value } if !value.expose_secret().is_empty() => {
                        self.redactor.register(&value);
                        self.session_secrets.insert(var.clone(), value);
                        break;
                    }
                    EngineCommand::Input { .. } => self.reject("a secret cannot be empty"),
                    _ => self.reject(format!(
                        "secret '{var}' was entered before canton-dr restarted and is never stored; enter it again"
                    )),
                }
            }
        }
        Ok(())
    }

    /// Milliseconds since `start`.
    pub(crate) fn ms_since(start: tokio::time::Instant) -> u64 {
        u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn mode(&self) -> Mode {
        self.state.mode
    }

    /// The next operator command (for running steps, which select over it).
    pub(crate) async fn commands_recv(&mut self) -> Option<EngineCommand> {
        self.commands.recv().await
    }
}
