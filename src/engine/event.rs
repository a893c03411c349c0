//! What the engine tells its front ends: journal records as they become durable, what it is
//! waiting for, and ephemeral progress.

use std::time::Duration;

use crate::engine::record::Record;
use crate::engine::state::{IncidentState, Spawned};
use crate::runbook::model::Evidence;
use crate::value::ValueType;

/// An event from the engine.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// The state the engine starts from (after replaying the journal).
    Started { state: Box<IncidentState> },
    /// A record is durable (written and synced). Fold it into your copy of the state.
    Recorded {
        seq: u64,
        head: String,
        record: Box<Record>,
    },
    /// The engine needs the operator.
    Waiting(Waiting),
    /// The last command was not accepted; the engine still waits for the same thing.
    Rejected { message: String },
    /// A running step's progress (not journaled).
    Progress(Progress),
    /// A line of a running command's output, already redacted (not journaled).
    Output { step: String, line: String },
    /// The engine has stopped.
    Finished(RunEnd),
    /// The engine cannot continue safely (the journal cannot be written).
    Fatal { message: String },
}

/// What the engine waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Waiting {
    /// Confirm a manual step (`typed` must equal the step id when destructive).
    Confirm {
        step: String,
        destructive: bool,
        evidence: Evidence,
    },
    /// Enter a value.
    Input {
        step: String,
        var: String,
        ty: ValueType,
        prompt: String,
        default: Option<String>,
    },
    /// Run a command step (typed confirmation when destructive).
    Run {
        step: String,
        destructive: bool,
        preview: String,
    },
    /// A step failed: retry or skip with a reason.
    Failed { step: String, reason: String },
    /// A gate is closed: re-check, or override with the step id and a reason.
    GateClosed { step: String, reason: String },
    /// A step with side effects started before a crash and never finished.
    InDoubt {
        step: String,
        attempt: u32,
        action: String,
        /// The step's process group is still alive.
        still_running: Option<Spawned>,
    },
    /// A secret entered before a restart is needed again.
    SecretNeeded {
        step: String,
        var: String,
        prompt: String,
    },
    /// The step cannot start (too little disk space, for example); retry when fixed.
    Blocked { step: String, reason: String },
    /// Every step is settled: finish the run.
    Finish,
}

impl Waiting {
    /// The step this is about.
    pub fn step(&self) -> Option<&str> {
        match self {
            Waiting::Confirm { step, .. }
            | Waiting::Input { step, .. }
            | Waiting::Run { step, .. }
            | Waiting::Failed { step, .. }
            | Waiting::GateClosed { step, .. }
            | Waiting::InDoubt { step, .. }
            | Waiting::SecretNeeded { step, .. }
            | Waiting::Blocked { step, .. } => Some(step),
            Waiting::Finish => None,
        }
    }
}

/// Progress of a wait step or a running command.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub step: String,
    pub polls: u32,
    pub elapsed: Duration,
    pub timeout: Duration,
    /// The current value and the target, as text.
    pub current: Option<String>,
    pub target: Option<String>,
    /// 0.0..=1.0 when both are measurable.
    pub fraction: Option<f64>,
    /// "3.2 s of record time per s", when measurable.
    pub rate: Option<String>,
    pub eta: Option<Duration>,
    pub last_summary: Option<String>,
    pub last_error: Option<String>,
}

/// Why the engine stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Every step settled and the run was recorded as completed.
    Completed,
    /// The operator quit; the incident can be resumed.
    Quit,
    /// The operator aborted the run.
    Aborted,
    /// The engine cannot continue (journal failure).
    Fatal,
}
