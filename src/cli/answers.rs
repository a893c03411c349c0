//! Answers files: what a headless run answers when the engine needs the operator.
//!
//! ```toml
//! [defaults]
//! run_commands = false   # run command steps without a per-step `run = true`
//! retries = 0            # how often a failed step is retried before the run stops
//!
//! [steps.confirm-incident]
//! confirm = true
//! note = "INC-1234"
//!
//! [steps.ttl]
//! value = "48h"
//!
//! [steps.db-password]
//! value_env = "INTEGRATION_DB_PASSWORD"   # secrets come from the environment, never the file
//!
//! [steps.restore-db]
//! run = true
//! typed = "restore-db"                     # destructive steps need their id typed
//!
//! [steps.wait-t-safe]
//! cancel = true                            # cancel the running wait; it fails, then:
//! retries = 0
//! skip = "why"                             # skipping a failed check or wait needs `typed`
//! typed = "wait-t-safe"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

use crate::engine::command::EngineCommand;
use crate::engine::event::Waiting;
use crate::engine::record::InDoubtChoice;

/// A whole answers file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub steps: BTreeMap<String, StepAnswer>,
}

/// Answers that apply to every step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Run command steps that have no answer of their own.
    #[serde(default)]
    pub run_commands: bool,
    /// Confirm manual steps that have no answer of their own.
    #[serde(default)]
    pub confirm_manual: bool,
    /// Accept the default value of inputs that have no answer of their own.
    #[serde(default)]
    pub accept_defaults: bool,
    /// Retries of a failed step before the run stops.
    #[serde(default)]
    pub retries: u32,
}

/// The answer for one step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepAnswer {
    pub confirm: Option<bool>,
    pub note: Option<String>,
    pub evidence: Option<String>,
    pub value: Option<String>,
    pub value_env: Option<String>,
    pub run: Option<bool>,
    pub typed: Option<String>,
    pub skip: Option<String>,
    pub retries: Option<u32>,
    pub in_doubt: Option<String>,
    pub reason: Option<String>,
    /// Cancel the step while it runs (a wait that would poll on): it fails, and then `skip`
    /// (with `typed`) or `retries` decide.
    pub cancel: Option<bool>,
}

/// An answers file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AnswersError {
    #[error("cannot read the answers file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

impl Answers {
    /// Reads an answers file.
    pub fn load(path: &Path) -> Result<Answers, AnswersError> {
        let text = std::fs::read_to_string(path).map_err(|source| AnswersError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Answers::parse(&text).map_err(|message| AnswersError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses answers from text.
    pub fn parse(text: &str) -> Result<Answers, String> {
        toml::from_str(text).map_err(|e| {
            let span = e.span().map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: ")
            });
            format!(
                "{}{}",
                span.unwrap_or_default(),
                crate::runbook::load::toml_message(&e)
            )
        })
    }

    fn step(&self, id: &str) -> Option<&StepAnswer> {
        self.steps.get(id)
    }

    /// Whether the running step is to be cancelled.
    pub fn cancels(&self, step: &str) -> bool {
        self.step(step).and_then(|a| a.cancel).unwrap_or(false)
    }

    /// How many retries a failed step gets.
    pub fn retries(&self, step: &str) -> u32 {
        self.step(step)
            .and_then(|a| a.retries)
            .unwrap_or(self.defaults.retries)
    }

    /// The command that answers `waiting`, or why there is none. `failures` counts this step's
    /// failures so far.
    pub fn answer(&self, waiting: &Waiting, failures: u32) -> Result<EngineCommand, String> {
        let missing = |what: &str| Err(format!("the answers file has no {what}"));
        match waiting {
            Waiting::Confirm { step, .. } => {
                let a = self.step(step);
                if let Some(reason) = a.and_then(|a| a.skip.clone()) {
                    return Ok(EngineCommand::Skip {
                        reason,
                        typed: a.and_then(|a| a.typed.clone()),
                    });
                }
                if a.and_then(|a| a.confirm)
                    .unwrap_or(self.defaults.confirm_manual)
                {
                    Ok(EngineCommand::Confirm {
                        note: a.and_then(|a| a.note.clone()),
                        evidence: a.and_then(|a| a.evidence.clone()),
                        typed: a.and_then(|a| a.typed.clone()),
                    })
                } else {
                    missing(&format!("confirm = true for manual step '{step}'"))
                }
            }
            Waiting::Input { step, default, .. } => {
                let a = self.step(step);
                if let Some(reason) = a.and_then(|a| a.skip.clone()) {
                    return Ok(EngineCommand::Skip {
                        reason,
                        typed: a.and_then(|a| a.typed.clone()),
                    });
                }
                if let Some(value) = self.value(step)? {
                    return Ok(EngineCommand::Input { value });
                }
                if default.is_some() && self.defaults.accept_defaults {
                    return Ok(EngineCommand::Confirm {
                        note: None,
                        evidence: None,
                        typed: None,
                    });
                }
                missing(&format!("value (or value_env) for input step '{step}'"))
            }
            Waiting::SecretNeeded { step, var, .. } => {
                // The secret belongs to the input step that first asked for it.
                match self.value(step)? {
                    Some(value) => Ok(EngineCommand::Input { value }),
                    None => missing(&format!(
                        "value_env for secret '{var}', needed again by step '{step}'"
                    )),
                }
            }
            Waiting::Run { step, .. } => {
                let a = self.step(step);
                if let Some(reason) = a.and_then(|a| a.skip.clone()) {
                    return Ok(EngineCommand::Skip {
                        reason,
                        typed: a.and_then(|a| a.typed.clone()),
                    });
                }
                if a.and_then(|a| a.run).unwrap_or(self.defaults.run_commands) {
                    Ok(EngineCommand::Run {
                        typed: a.and_then(|a| a.typed.clone()),
                    })
                } else {
                    missing(&format!("run = true for command step '{step}'"))
                }
            }
            Waiting::Failed { step, reason } => {
                if failures <= self.retries(step) {
                    return Ok(EngineCommand::Retry);
                }
                let a = self.step(step);
                match a.and_then(|a| a.skip.clone()) {
                    Some(r) => Ok(EngineCommand::Skip {
                        reason: r,
                        typed: a.and_then(|a| a.typed.clone()),
                    }),
                    None => Err(format!("step '{step}' failed: {reason}")),
                }
            }
            Waiting::GateClosed { step, reason } => {
                let a = self.step(step);
                match a.and_then(|a| a.skip.clone()) {
                    Some(r) => Ok(EngineCommand::Skip {
                        reason: r,
                        typed: a.and_then(|a| a.typed.clone()),
                    }),
                    None => Err(format!("gate '{step}' is closed: {reason}")),
                }
            }
            Waiting::InDoubt {
                step,
                still_running,
                ..
            } => {
                let a = self.step(step);
                let choice = a.and_then(|a| a.in_doubt.clone());
                match choice.as_deref() {
                    Some("rerun") if still_running.is_none() => {
                        Ok(EngineCommand::ResolveInDoubt(InDoubtChoice::Rerun))
                    }
                    Some("rerun") => Err(format!(
                        "step '{step}' is still running from before the crash; it cannot be re-run blindly"
                    )),
                    Some("mark_done") => {
                        Ok(EngineCommand::ResolveInDoubt(InDoubtChoice::MarkDone {
                            evidence: a.and_then(|a| a.evidence.clone()).unwrap_or_default(),
                        }))
                    }
                    Some("skip") => Ok(EngineCommand::ResolveInDoubt(InDoubtChoice::Skip {
                        reason: a.and_then(|a| a.reason.clone()).unwrap_or_default(),
                    })),
                    Some(other) => Err(format!(
                        "in_doubt = \"{other}\" for step '{step}' is not rerun, mark_done or skip"
                    )),
                    None => Err(format!(
                        "step '{step}' was interrupted by a crash and is in doubt; the answers file has no in_doubt choice"
                    )),
                }
            }
            Waiting::Blocked { step, reason } => {
                Err(format!("step '{step}' cannot start: {reason}"))
            }
        }
    }

    /// The value answer of a step: literal, or read from an environment variable.
    fn value(&self, step: &str) -> Result<Option<SecretString>, String> {
        let a = self.step(step);
        if let Some(v) = a.and_then(|a| a.value.clone()) {
            return Ok(Some(SecretString::from(v)));
        }
        if let Some(var) = a.and_then(|a| a.value_env.clone()) {
            return match std::env::var(&var) {
                Ok(v) if !v.is_empty() => Ok(Some(SecretString::from(v))),
                _ => Err(format!(
                    "environment variable {var} (named by the answers file for step '{step}') is not set"
                )),
            };
        }
        Ok(None)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_wait_is_then_skipped_with_its_typed_id() {
        let a = Answers::parse(
            "[steps.wait-t-safe]\ncancel = true\nretries = 0\nskip = \"customers wait\"\ntyped = \"wait-t-safe\"\n",
        )
        .unwrap();
        assert!(a.cancels("wait-t-safe"));
        assert!(!a.cancels("other"));
        let failed = Waiting::Failed {
            step: "wait-t-safe".into(),
            reason: "cancelled by the operator".into(),
        };
        match a.answer(&failed, 1).unwrap() {
            EngineCommand::Skip { reason, typed } => {
                assert_eq!(reason, "customers wait");
                assert_eq!(typed.as_deref(), Some("wait-t-safe"));
            }
            other => panic!("expected a skip, got {other:?}"),
        }
    }
}
