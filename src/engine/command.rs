//! What front ends ask the engine to do.

use secrecy::SecretString;

use crate::engine::record::InDoubtChoice;

/// An operator's intent.
#[derive(Debug)]
pub enum EngineCommand {
    /// Confirm a manual step, optionally with a note and evidence; `typed` is the typed
    /// confirmation of a destructive step (its id).
    Confirm {
        note: Option<String>,
        evidence: Option<String>,
        typed: Option<String>,
    },
    /// A value for an input step (every input travels as a secret until its type is known).
    Input { value: SecretString },
    /// Run the current command step.
    Run { typed: Option<String> },
    /// Try a failed step again, or re-check a closed gate.
    Retry,
    /// Skip the current step with a reason; gates and destructive steps need `typed`.
    Skip {
        reason: String,
        typed: Option<String>,
    },
    /// Add a note to `step`, any step of the runbook, or with `None` to the current step (or to
    /// the incident when no step is current).
    Note { text: String, step: Option<String> },
    /// Decide about a step left in doubt by a crash.
    ResolveInDoubt(InDoubtChoice),
    /// Terminate the process group a step left running before a crash.
    KillStale,
    /// Stop the running step (a command's process group is terminated).
    Cancel,
    /// Stop working on the incident for now; it can be resumed.
    Quit,
    /// End the run for good.
    Abort { reason: String },
}

/// A front end's handle on a running engine.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: tokio::sync::mpsc::UnboundedSender<EngineCommand>,
}

impl EngineHandle {
    /// Wraps the sending side of an engine's command channel.
    pub fn new(tx: tokio::sync::mpsc::UnboundedSender<EngineCommand>) -> EngineHandle {
        EngineHandle { tx }
    }

    /// Sends a command. Returns false when the engine has stopped.
    pub fn send(&self, cmd: EngineCommand) -> bool {
        self.tx.send(cmd).is_ok()
    }
}
