//! Incident state as a pure fold of journal records (R8, R11).
//!
//! The live engine, `resume`, the TUI and the exporters all build their view with
//! [`IncidentState::apply`]; nothing else decides where an incident stands.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::engine::record::{
    Event, InDoubtChoice, ItemPhase, Mode, Observation, Outcome, Output, ProfileRef, Record,
    RunbookRef,
};
use crate::runbook::Runbook;
use crate::runbook::model::SourceFile;
use crate::value::{Value, ValueType};

/// Where a step stands.
#[derive(Debug, Clone, PartialEq)]
pub enum StepStatus {
    Pending,
    /// Started; no terminal record (yet, or ever: after a crash it is in doubt).
    Running {
        attempt: u32,
    },
    Done(Outcome),
    Failed {
        reason: String,
    },
    TimedOut,
    Skipped {
        reason: String,
        overridden: bool,
    },
    NotApplicable,
}

impl StepStatus {
    /// Finished for good: the run moves past it.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            StepStatus::Done(_) | StepStatus::Skipped { .. } | StepStatus::NotApplicable
        )
    }

    /// A short word for lists and transcripts.
    pub fn word(&self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running { .. } => "running",
            StepStatus::Done(Outcome::Passed) => "passed",
            StepStatus::Done(Outcome::Confirmed) => "confirmed",
            StepStatus::Done(Outcome::Shown) => "shown (dry-run)",
            StepStatus::Done(Outcome::MarkedDone) => "marked done",
            StepStatus::Failed { .. } => "failed",
            StepStatus::TimedOut => "timed out",
            StepStatus::Skipped {
                overridden: true, ..
            } => "overridden",
            StepStatus::Skipped { .. } => "skipped",
            StepStatus::NotApplicable => "not applicable",
        }
    }
}

/// A process a command step spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    pub pid: u32,
    pub pgid: u32,
    pub start_time: u64,
}

/// A note an operator added.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub operator: String,
    pub step: Option<String>,
    pub text: String,
}

/// Everything known about one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub status: StepStatus,
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Sum of the durations of all attempts.
    pub duration_ms: u64,
    pub action: Option<String>,
    pub side_effects: bool,
    pub spawned: Option<Spawned>,
    pub last_observation: Option<Observation>,
    pub observations: u32,
    pub captures: BTreeMap<String, serde_json::Value>,
    pub note: Option<String>,
    pub evidence: Option<String>,
    pub exit_code: Option<i32>,
    pub output: Option<Output>,
    pub redactions: BTreeMap<String, u64>,
    pub failures: Vec<String>,
    /// Items of a built-in action: (item, phase, detail), latest phase per item.
    pub items: Vec<(String, ItemPhase, String)>,
    pub in_doubt_resolutions: Vec<InDoubtChoice>,
    pub operator: Option<String>,
}

impl StepState {
    fn new() -> StepState {
        StepState {
            status: StepStatus::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            duration_ms: 0,
            action: None,
            side_effects: false,
            spawned: None,
            last_observation: None,
            observations: 0,
            captures: BTreeMap::new(),
            note: None,
            evidence: None,
            exit_code: None,
            output: None,
            redactions: BTreeMap::new(),
            failures: Vec::new(),
            items: Vec::new(),
            in_doubt_resolutions: Vec::new(),
            operator: None,
        }
    }
}

/// How the run as a whole ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Completed,
    Aborted(String),
}

/// One process session that worked on the incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub started_at: DateTime<Utc>,
    pub pid: u32,
    pub resumed: bool,
    pub operator: String,
    pub host: String,
    pub ended: Option<String>,
}

/// A repair of the journal itself.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryNote {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub truncated_bytes: u64,
    pub sha256_of_removed_bytes: String,
    pub quarantine: String,
    pub reason: Option<String>,
}

/// The state of an incident after some prefix of its journal.
#[derive(Debug, Clone)]
pub struct IncidentState {
    pub incident_id: String,
    pub mode: Mode,
    pub runbook_ref: RunbookRef,
    pub runbook: Runbook,
    pub profile: Option<ProfileRef>,
    pub tool_version: String,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub host: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub steps: Vec<StepState>,
    /// Captured and entered values, by variable name. Secrets are never journaled, so after a
    /// replay they are absent until entered again.
    pub vars: BTreeMap<String, Value>,
    pub notes: Vec<Note>,
    pub sessions: Vec<Session>,
    pub warnings: Vec<(DateTime<Utc>, Option<String>, String)>,
    pub recoveries: Vec<RecoveryNote>,
    pub finish: Option<Finish>,
    pub drill: Option<(String, serde_json::Value)>,
    /// Records folded so far, and the last record's time.
    pub records: u64,
    pub last_at: DateTime<Utc>,
    pub last_mono_ms: u64,
}

/// Why a journal could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the journal is empty: the incident was never opened")]
    Empty,
    #[error("record {seq}: the first record must open the incident, found '{found}'")]
    NotOpened { seq: u64, found: String },
    #[error(
        "record {seq}: the runbook embedded in the journal no longer validates:\n{diagnostics}"
    )]
    Runbook { seq: u64, diagnostics: String },
    #[error("record {seq}: {message}")]
    Inconsistent { seq: u64, message: String },
    #[error(transparent)]
    Decode(#[from] crate::engine::record::DecodeError),
}

impl IncidentState {
    /// Builds the initial state from the opening record.
    pub fn open(seq: u64, record: &Record) -> Result<IncidentState, ReplayError> {
        let Event::IncidentOpened {
            incident_id,
            mode,
            runbook,
            profile,
            tool_version,
            params,
        } = &record.event
        else {
            return Err(ReplayError::NotOpened {
                seq,
                found: record.event.type_name().to_owned(),
            });
        };
        let files: Vec<SourceFile> = runbook
            .files
            .iter()
            .map(|f| SourceFile {
                name: f.name.clone(),
                path: f.path.clone().into(),
                text: f.text.clone(),
            })
            .collect();
        let loaded = crate::runbook::load_embedded(&files).map_err(|d| ReplayError::Runbook {
            seq,
            diagnostics: d.to_string(),
        })?;
        let mut vars = BTreeMap::new();
        for (name, json) in params {
            let ty = loaded.params.get(name).map_or(ValueType::Text, |p| p.ty);
            if let Ok(v) = Value::from_json(ty, json) {
                vars.insert(name.clone(), v);
            }
        }
        Ok(IncidentState {
            incident_id: incident_id.clone(),
            mode: *mode,
            runbook_ref: runbook.clone(),
            steps: loaded.steps.iter().map(|_| StepState::new()).collect(),
            runbook: loaded,
            profile: profile.clone(),
            tool_version: tool_version.clone(),
            opened_at: record.ts,
            opened_by: record.operator.clone(),
            host: record.host.clone(),
            params: params.clone(),
            vars,
            notes: Vec::new(),
            sessions: Vec::new(),
            warnings: Vec::new(),
            recoveries: Vec::new(),
            finish: None,
            drill: None,
            records: 1,
            last_at: record.ts,
            last_mono_ms: record.mono_ms,
        })
    }

    /// Replays a whole journal.
    pub fn replay<'a, I>(records: I) -> Result<IncidentState, ReplayError>
    where
        I: IntoIterator<Item = (u64, &'a [u8])>,
    {
        let mut state: Option<IncidentState> = None;
        let mut pending_recoveries = Vec::new();
        for (seq, payload) in records {
            let record = Record::decode(seq, payload)?;
            match &mut state {
                Some(s) => s.apply(seq, &record)?,
                None => {
                    if let Event::Recovery { .. } = record.event {
                        pending_recoveries.push(record);
                        continue;
                    }
                    let mut s = IncidentState::open(seq, &record)?;
                    for r in pending_recoveries.drain(..) {
                        s.apply(seq, &r)?;
                    }
                    state = Some(s);
                }
            }
        }
        state.ok_or(ReplayError::Empty)
    }

    fn index(&self, seq: u64, step: &str) -> Result<usize, ReplayError> {
        self.runbook
            .index_of(step)
            .ok_or_else(|| ReplayError::Inconsistent {
                seq,
                message: format!("step '{step}' is not in the runbook"),
            })
    }

    /// Applies one record. Pure: the same records always give the same state.
    pub fn apply(&mut self, seq: u64, r: &Record) -> Result<(), ReplayError> {
        self.records += 1;
        self.last_at = r.ts;
        self.last_mono_ms = r.mono_ms;
        match &r.event {
            Event::IncidentOpened { .. } => {
                return Err(ReplayError::Inconsistent {
                    seq,
                    message: "the incident is opened a second time".into(),
                });
            }
            Event::SessionStarted { pid, resumed, .. } => self.sessions.push(Session {
                started_at: r.ts,
                pid: *pid,
                resumed: *resumed,
                operator: r.operator.clone(),
                host: r.host.clone(),
                ended: None,
            }),
            Event::SessionEnded { reason } => {
                if let Some(s) = self.sessions.last_mut() {
                    s.ended = Some(reason.clone());
                }
            }
            Event::Warning { step, message } => {
                self.warnings.push((r.ts, step.clone(), message.clone()))
            }
            Event::StepNotApplicable { step, .. } => {
                let i = self.index(seq, step)?;
                self.steps[i].status = StepStatus::NotApplicable;
                self.steps[i].finished_at = Some(r.ts);
            }
            Event::StepStarted {
                step,
                attempt,
                action,
                side_effects,
                ..
            } => {
                let i = self.index(seq, step)?;
                let s = &mut self.steps[i];
                s.status = StepStatus::Running { attempt: *attempt };
                s.attempts = s.attempts.max(*attempt);
                s.started_at.get_or_insert(r.ts);
                s.action = Some(action.clone());
                s.side_effects = *side_effects;
                s.spawned = None;
                s.operator = Some(r.operator.clone());
            }
            Event::StepSpawned {
                step,
                pid,
                pgid,
                start_time,
                ..
            } => {
                let i = self.index(seq, step)?;
                self.steps[i].spawned = Some(Spawned {
                    pid: *pid,
                    pgid: *pgid,
                    start_time: *start_time,
                });
            }
            Event::ProbeObserved {
                step, observation, ..
            } => {
                let i = self.index(seq, step)?;
                self.steps[i].last_observation = Some(observation.clone());
                self.steps[i].observations += 1;
            }
            Event::ActionItem {
                step,
                item,
                phase,
                detail,
                ..
            } => {
                let i = self.index(seq, step)?;
                let items = &mut self.steps[i].items;
                match items.iter_mut().find(|(name, _, _)| name == item) {
                    Some(entry) => {
                        entry.1 = *phase;
                        entry.2 = detail.clone();
                    }
                    None => items.push((item.clone(), *phase, detail.clone())),
                }
            }
            Event::StepCompleted {
                step,
                outcome,
                duration_ms,
                captures,
                note,
                evidence,
                exit_code,
                output,
                redactions,
                ..
            } => {
                let i = self.index(seq, step)?;
                let s = &mut self.steps[i];
                s.status = StepStatus::Done(*outcome);
                s.finished_at = Some(r.ts);
                s.duration_ms += duration_ms;
                s.captures = captures.clone();
                s.note = note.clone();
                s.evidence = evidence.clone();
                s.exit_code = *exit_code;
                s.output = output.clone();
                merge_counts(&mut s.redactions, redactions);
                s.spawned = None;
                s.operator = Some(r.operator.clone());
                self.capture(i, captures);
            }
            Event::StepFailed {
                step,
                reason,
                duration_ms,
                exit_code,
                output,
                redactions,
                ..
            } => {
                let i = self.index(seq, step)?;
                let s = &mut self.steps[i];
                s.status = StepStatus::Failed {
                    reason: reason.clone(),
                };
                s.finished_at = Some(r.ts);
                s.duration_ms += duration_ms;
                s.exit_code = *exit_code;
                s.output = output.clone();
                merge_counts(&mut s.redactions, redactions);
                s.failures.push(reason.clone());
                s.spawned = None;
            }
            Event::StepTimedOut {
                step,
                duration_ms,
                output,
                redactions,
                ..
            } => {
                let i = self.index(seq, step)?;
                let s = &mut self.steps[i];
                s.status = StepStatus::TimedOut;
                s.finished_at = Some(r.ts);
                s.duration_ms += duration_ms;
                s.output = output.clone();
                merge_counts(&mut s.redactions, redactions);
                s.failures.push("timed out".into());
                s.spawned = None;
            }
            Event::StepSkipped {
                step,
                reason,
                overridden,
            } => {
                let i = self.index(seq, step)?;
                let s = &mut self.steps[i];
                s.status = StepStatus::Skipped {
                    reason: reason.clone(),
                    overridden: *overridden,
                };
                s.finished_at = Some(r.ts);
                s.spawned = None;
                s.operator = Some(r.operator.clone());
            }
            Event::NoteAdded { step, text } => {
                if let Some(step) = step {
                    self.index(seq, step)?;
                }
                self.notes.push(Note {
                    at: r.ts,
                    operator: r.operator.clone(),
                    step: step.clone(),
                    text: text.clone(),
                });
            }
            Event::InDoubtResolved { step, choice, .. } => {
                let i = self.index(seq, step)?;
                let s = &mut self.steps[i];
                s.in_doubt_resolutions.push(choice.clone());
                match choice {
                    InDoubtChoice::Rerun => s.status = StepStatus::Pending,
                    InDoubtChoice::MarkDone { evidence } => {
                        s.status = StepStatus::Done(Outcome::MarkedDone);
                        s.evidence = Some(evidence.clone());
                        s.finished_at = Some(r.ts);
                    }
                    InDoubtChoice::Skip { reason } => {
                        s.status = StepStatus::Skipped {
                            reason: reason.clone(),
                            overridden: true,
                        };
                        s.finished_at = Some(r.ts);
                    }
                }
                s.spawned = None;
            }
            Event::Recovery {
                kind,
                truncated_bytes,
                sha256_of_removed_bytes,
                quarantine,
                reason,
            } => self.recoveries.push(RecoveryNote {
                at: r.ts,
                kind: kind.clone(),
                truncated_bytes: *truncated_bytes,
                sha256_of_removed_bytes: sha256_of_removed_bytes.clone(),
                quarantine: quarantine.clone(),
                reason: reason.clone(),
            }),
            Event::RunCompleted { .. } => self.finish = Some(Finish::Completed),
            Event::RunAborted { reason } => self.finish = Some(Finish::Aborted(reason.clone())),
            Event::DrillJudged { verdict, report } => {
                self.drill = Some((verdict.clone(), report.clone()))
            }
        }
        Ok(())
    }

    fn capture(&mut self, step: usize, captures: &BTreeMap<String, serde_json::Value>) {
        let defines: BTreeMap<String, ValueType> =
            self.runbook.steps[step].defines().into_iter().collect();
        for (name, json) in captures {
            let ty = defines.get(name).copied().unwrap_or(ValueType::Text);
            if ty == ValueType::Secret {
                // Never journaled; entered again when needed.
                self.vars.remove(name);
                continue;
            }
            if let Ok(v) = Value::from_json(ty, json) {
                self.vars.insert(name.clone(), v);
            }
        }
    }

    /// The index of the first step that is not settled, or None when all are.
    pub fn cursor(&self) -> Option<usize> {
        self.steps.iter().position(|s| !s.status.is_settled())
    }

    /// Steps that started, have side effects, and have no terminal record: in doubt after a
    /// crash.
    pub fn in_doubt(&self) -> Vec<usize> {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.status, StepStatus::Running { .. }) && s.side_effects)
            .map(|(i, _)| i)
            .collect()
    }

    /// Whether every step is settled.
    pub fn all_settled(&self) -> bool {
        self.cursor().is_none()
    }

    /// Counts of settled steps by kind of settlement: (passed or confirmed, skipped or n/a).
    pub fn tally(&self) -> (u32, u32) {
        let mut done = 0;
        let mut skipped = 0;
        for s in &self.steps {
            match s.status {
                StepStatus::Done(_) => done += 1,
                StepStatus::Skipped { .. } | StepStatus::NotApplicable => skipped += 1,
                _ => {}
            }
        }
        (done, skipped)
    }

    /// Time from opening to the last record.
    pub fn elapsed_ms(&self) -> u64 {
        self.last_mono_ms
    }
}

fn merge_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}
