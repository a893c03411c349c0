//! The facts an incident journal holds: one JSON object per record.
//!
//! Every record carries who and when (R13); its `type` says what happened. The vocabulary is
//! versioned by the journal format; readers ignore nothing: an unknown `type` is an error, so a
//! journal written by a newer canton-dr is refused rather than half understood.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Wall-clock time in UTC.
    #[serde(with = "micros")]
    pub ts: DateTime<Utc>,
    /// Milliseconds since the incident was opened, monotonic across sessions.
    pub mono_ms: u64,
    /// The operating-system user.
    pub user: String,
    /// The operator's configured name.
    pub operator: String,
    pub host: String,
    #[serde(flatten)]
    pub event: Event,
}

/// Timestamps with exactly six fractional digits.
mod micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::value::format_timestamp(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        crate::value::parse_timestamp(&s).map_err(serde::de::Error::custom)
    }
}

/// The mode of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Commands run for real, after confirmation.
    Live,
    /// Read-only checks run against the real systems; commands are only shown.
    DryRun,
    /// Everything runs against the built-in sandbox.
    Drill,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Live => "LIVE",
            Mode::DryRun => "DRY-RUN",
            Mode::Drill => "DRILL",
        }
    }
}

/// A runbook source file, embedded so the journal alone can rebuild everything (R16).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedFile {
    pub name: String,
    pub path: String,
    pub text: String,
}

/// The runbook an incident runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookRef {
    pub id: String,
    pub title: String,
    pub source: String,
    pub sha256: String,
    pub files: Vec<EmbeddedFile>,
}

/// The profile an incident uses (its text holds no secret values, only where they come from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRef {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub text: String,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A check held, a command succeeded, a gate opened.
    Passed,
    /// The operator confirmed a manual step or entered an input.
    Confirmed,
    /// Dry-run: the step was shown, not run.
    Shown,
    /// The operator marked an in-doubt step done, with evidence.
    MarkedDone,
}

/// Output of a command, after redaction.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub truncated: bool,
    pub sha256: String,
}

/// What an observation of a probe found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// The call as written, with values filled in.
    pub call: String,
    /// The result fields (secrets redacted), or null when the probe failed.
    pub value: serde_json::Value,
    /// A one-line summary for people.
    pub summary: String,
    /// Whether the expectation held (None: no expectation, or the probe failed).
    pub held: Option<bool>,
    /// The error, when the probe could not observe.
    pub error: Option<String>,
    /// Whether the error may go away by itself (a participant still catching up).
    #[serde(default)]
    pub retryable: bool,
}

/// Where one item of a built-in action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemPhase {
    Started,
    Done,
    Failed,
}

/// Choices for a step left in doubt by a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InDoubtChoice {
    Rerun,
    MarkDone { evidence: String },
    Skip { reason: String },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    IncidentOpened {
        incident_id: String,
        mode: Mode,
        runbook: RunbookRef,
        profile: Option<ProfileRef>,
        tool_version: String,
        /// Parameter values from the profile (secrets never appear).
        params: BTreeMap<String, serde_json::Value>,
    },
    SessionStarted {
        pid: u32,
        resumed: bool,
        tool_version: String,
    },
    SessionEnded {
        reason: String,
    },
    Warning {
        step: Option<String>,
        message: String,
    },
    StepNotApplicable {
        step: String,
        condition: String,
    },
    /// Intent, written and synced before anything the step does (R9).
    StepStarted {
        step: String,
        attempt: u32,
        /// What will run, as text (argv, query name and parameters, probe call).
        action: String,
        /// SHA-256 of the exact action, for comparison on resume.
        action_sha256: String,
        side_effects: bool,
        /// Input values the action uses (secrets redacted).
        inputs: BTreeMap<String, serde_json::Value>,
    },
    StepSpawned {
        step: String,
        attempt: u32,
        pid: u32,
        pgid: u32,
        start_time: u64,
    },
    ProbeObserved {
        step: String,
        attempt: u32,
        observation: Observation,
    },
    /// One item of a built-in action that changes several things (one DAR of an upload):
    /// `started` is written and synced before the item is acted on, then `done` or `failed`.
    ActionItem {
        step: String,
        attempt: u32,
        item: String,
        phase: ItemPhase,
        detail: String,
    },
    StepCompleted {
        step: String,
        attempt: u32,
        outcome: Outcome,
        duration_ms: u64,
        captures: BTreeMap<String, serde_json::Value>,
        note: Option<String>,
        evidence: Option<String>,
        exit_code: Option<i32>,
        output: Option<Output>,
        redactions: BTreeMap<String, u64>,
    },
    StepFailed {
        step: String,
        attempt: u32,
        reason: String,
        duration_ms: u64,
        exit_code: Option<i32>,
        signal: Option<i32>,
        output: Option<Output>,
        redactions: BTreeMap<String, u64>,
    },
    StepTimedOut {
        step: String,
        attempt: u32,
        duration_ms: u64,
        /// The signal that ended the process group (15 or 9), for command steps.
        signal: Option<i32>,
        output: Option<Output>,
        redactions: BTreeMap<String, u64>,
    },
    StepSkipped {
        step: String,
        reason: String,
        /// A gate passed or a failed check left behind by explicit override.
        overridden: bool,
    },
    NoteAdded {
        step: Option<String>,
        text: String,
    },
    InDoubtResolved {
        step: String,
        attempt: u32,
        choice: InDoubtChoice,
    },
    Recovery {
        kind: String,
        truncated_bytes: u64,
        sha256_of_removed_bytes: String,
        quarantine: String,
        reason: Option<String>,
    },
    RunCompleted {
        steps_passed: u32,
        steps_skipped: u32,
    },
    RunAborted {
        reason: String,
    },
    /// The sandbox's judgement of a drill and its score.
    DrillJudged {
        verdict: String,
        report: serde_json::Value,
    },
}

impl Event {
    /// The step a record is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::Warning { step, .. } | Event::NoteAdded { step, .. } => step.as_deref(),
            Event::StepNotApplicable { step, .. }
            | Event::StepStarted { step, .. }
            | Event::StepSpawned { step, .. }
            | Event::ProbeObserved { step, .. }
            | Event::ActionItem { step, .. }
            | Event::StepCompleted { step, .. }
            | Event::StepFailed { step, .. }
            | Event::StepTimedOut { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::InDoubtResolved { step, .. } => Some(step),
            _ => None,
        }
    }

    /// The record's type name, as written in the journal.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::IncidentOpened { .. } => "incident_opened",
            Event::SessionStarted { .. } => "session_started",
            Event::SessionEnded { .. } => "session_ended",
            Event::Warning { .. } => "warning",
            Event::StepNotApplicable { .. } => "step_not_applicable",
            Event::StepStarted { .. } => "step_started",
            Event::StepSpawned { .. } => "step_spawned",
            Event::ProbeObserved { .. } => "probe_observed",
            Event::ActionItem { .. } => "action_item",
            Event::StepCompleted { .. } => "step_completed",
            Event::StepFailed { .. } => "step_failed",
            Event::StepTimedOut { .. } => "step_timed_out",
            Event::StepSkipped { .. } => "step_skipped",
            Event::NoteAdded { .. } => "note_added",
            Event::InDoubtResolved { .. } => "in_doubt_resolved",
            Event::Recovery { .. } => "recovery",
            Event::RunCompleted { .. } => "run_completed",
            Event::RunAborted { .. } => "run_aborted",
            Event::DrillJudged { .. } => "drill_judged",
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
#[error("journal record {seq} cannot be read: {message}")]
pub struct DecodeError {
    pub seq: u64,
    pub message: String,
}

impl Record {
    /// The JSON bytes stored in the journal.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing these plain data types to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Reads a record back.
    pub fn decode(seq: u64, payload: &[u8]) -> Result<Record, DecodeError> {
        serde_json::from_slice(payload).map_err(|e| DecodeError {
            seq,
            message: if e.to_string().contains("unknown variant") {
                format!("{e} (written by a newer canton-dr?)")
            } else {
                e.to_string()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(event: Event) -> Record {
        Record {
            ts: crate::value::parse_timestamp("2026-11-22T03:15:00.123456Z").unwrap(),
            mono_ms: 5,
            user: "root".into(),
            operator: "alice".into(),
            host: "h".into(),
            event,
        }
    }

    #[test]
    fn round_trip_keeps_microseconds_and_type() {
        let r = rec(Event::StepSkipped {
            step: "a".into(),
            reason: "not needed".into(),
            overridden: false,
        });
        let bytes = r.encode();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"type\":\"step_skipped\""), "{text}");
        assert!(text.contains("03:15:00.123456Z"), "{text}");
        assert_eq!(Record::decode(0, &bytes).unwrap(), r);
    }

    #[test]
    fn in_doubt_choice_round_trips() {
        let r = rec(Event::InDoubtResolved {
            step: "a".into(),
            attempt: 1,
            choice: InDoubtChoice::MarkDone {
                evidence: "restored at 03:40".into(),
            },
        });
        let text = String::from_utf8(r.encode()).unwrap();
        assert!(
            text.contains("\"choice\":{\"mark_done\":{\"evidence\""),
            "{text}"
        );
        assert_eq!(Record::decode(0, text.as_bytes()).unwrap(), r);
    }

    #[test]
    fn unknown_types_are_refused() {
        let text = r#"{"ts":"2026-11-22T03:15:00.000000Z","mono_ms":0,"user":"u","operator":"o","host":"h","type":"teleported"}"#;
        let e = Record::decode(7, text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("record 7"), "{e}");
        assert!(e.to_string().contains("newer canton-dr"), "{e}");
    }
}
