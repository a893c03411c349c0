//! The transcript: everything an export shows, built from a replayed journal and rendered as
//! Markdown, HTML or JSON.
//!
//! The JSON export is this structure serialized as it is; `assets/transcript.schema.json`
//! describes it, and [`SCHEMA_VERSION`] changes whenever a field changes meaning or goes away.
//! Every fact carries the `seq` of the journal record it comes from, so that an auditor can
//! find it in the journal. Optional facts are always present (as `null`), maps are ordered by
//! key and lists by record order, so the same journal always gives the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the JSON transcript schema. Version 1 is the first.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Who, where, when and how the incident ran.
    pub incident: IncidentInfo,
    /// The runbook the incident ran.
    pub runbook: RunbookInfo,
    /// The site profile, when the incident used one.
    pub profile: Option<ProfileInfo>,
    /// Site parameter values recorded when the incident was opened (never secrets).
    pub params: BTreeMap<String, serde_json::Value>,
    /// How the run ended, or that it has not.
    pub outcome: RunOutcome,
    /// Every step of the runbook, in runbook order.
    pub steps: Vec<StepReport>,
    /// Notes about the incident as a whole (notes about a step are with the step).
    pub notes: Vec<NoteEntry>,
    /// Warnings about the incident as a whole (warnings about a step are with the step).
    pub warnings: Vec<WarningEntry>,
    /// Every process session that worked on the incident.
    pub sessions: Vec<SessionEntry>,
    /// Repairs of the journal itself.
    pub recoveries: Vec<RecoveryEntry>,
    /// The sandbox's judgement, for drills that were judged.
    pub drill: Option<DrillEntry>,
    /// The journal's record count and head digest, and how to check them.
    pub journal: JournalInfo,
}

/// Who, where, when and how the incident ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentInfo {
    /// The record that opened the incident.
    pub seq: u64,
    /// The incident id.
    pub id: String,
    /// `live`, `dry_run` or `drill`.
    pub mode: String,
    /// `LIVE`, `DRY-RUN` or `DRILL`, as shown on screen.
    pub mode_label: String,
    /// The operator who opened it.
    pub operator: String,
    /// The operating-system user who opened it.
    pub user: String,
    /// The host it was opened on.
    pub host: String,
    /// When it was opened (UTC).
    pub opened_at: String,
    /// When the run completed or was aborted (UTC), if it did.
    pub ended_at: Option<String>,
    /// The time of the last record (UTC).
    pub last_record_at: String,
    /// Monotonic milliseconds from opening to the end of the run (or to the last record).
    pub elapsed_ms: u64,
    /// The canton-dr version that opened the incident.
    pub tool_version: String,
}

/// The runbook an incident ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookInfo {
    /// The runbook id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The document it implements.
    pub source: String,
    /// Where that document is published, if the runbook says.
    pub source_url: Option<String>,
    /// SHA-256 over the runbook's files, as recorded when the incident was opened.
    pub sha256: String,
    /// The recovery-time budget of the whole procedure, in milliseconds.
    pub budget_ms: Option<u64>,
    /// The files the runbook was built from (main file first), embedded in the journal.
    pub files: Vec<RunbookFile>,
}

/// One runbook source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookFile {
    /// The name as written (relative to the main file for includes).
    pub name: String,
    /// The path it was read from.
    pub path: String,
}

/// The site profile an incident used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInfo {
    /// The profile name.
    pub name: String,
    /// The path it was read from.
    pub path: String,
    /// SHA-256 of its text.
    pub sha256: String,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOutcome {
    /// `completed`, `aborted` or `in_progress`.
    pub status: String,
    /// The record that ended the run, if any.
    pub seq: Option<u64>,
    /// When the run ended (UTC), if it did.
    pub at: Option<String>,
    /// Why it was aborted.
    pub reason: Option<String>,
    /// Steps done (passed, confirmed, shown or marked done).
    pub steps_done: u32,
    /// Steps skipped or not applicable.
    pub steps_skipped: u32,
    /// Steps in the runbook.
    pub steps_total: u32,
    /// Whether the run stayed within the runbook's budget (null without a budget).
    pub within_budget: Option<bool>,
}

/// Everything about one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    /// Position in the runbook, from 1.
    pub number: u32,
    /// The step id.
    pub id: String,
    /// Its title, as written in the runbook.
    pub title: String,
    /// `manual`, `input`, `command`, `check`, `wait` or `gate`.
    pub kind: String,
    /// The include it came from, if any.
    pub group: Option<String>,
    /// The numbered steps of the source document it implements.
    pub implements: Vec<String>,
    /// The instructions shown to the operator, as written.
    pub instructions: Option<String>,
    /// The step's time budget, in milliseconds.
    pub budget_ms: Option<u64>,
    /// Machine-readable status (see the schema for the values).
    pub status: String,
    /// The status in words.
    pub status_text: String,
    /// The operator who last acted on the step.
    pub operator: Option<String>,
    /// When it first started (UTC).
    pub started_at: Option<String>,
    /// When it settled or last ended (UTC).
    pub finished_at: Option<String>,
    /// Monotonic milliseconds from opening the incident to the step's start.
    pub start_ms: Option<u64>,
    /// Monotonic milliseconds from opening the incident to the step's end.
    pub end_ms: Option<u64>,
    /// Sum of the recorded durations of all attempts, in milliseconds.
    pub duration_ms: u64,
    /// Whether the step took longer than its budget.
    pub over_budget: bool,
    /// Each attempt, by attempt number.
    pub attempts: Vec<Attempt>,
    /// Attempts after the first.
    pub retries: u32,
    /// Values the step captured or the operator entered (after the last completion).
    pub captures: BTreeMap<String, serde_json::Value>,
    /// Redactions the engine made in the step's output, per rule.
    pub redactions: BTreeMap<String, u64>,
    /// When the step was skipped (or overridden), who did it and why.
    pub skip: Option<SkipEntry>,
    /// When the step was found not applicable.
    pub not_applicable: Option<NotApplicableEntry>,
    /// Decisions about the step after a crash left it in doubt.
    pub in_doubt: Vec<InDoubtEntry>,
    /// Operator notes about the step.
    pub notes: Vec<NoteEntry>,
    /// Warnings about the step.
    pub warnings: Vec<WarningEntry>,
}

/// One attempt of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// The attempt number, from 1.
    pub number: u32,
    /// The intent record written before the step acted.
    pub started: Option<StartEntry>,
    /// The process a command step spawned.
    pub spawned: Option<SpawnEntry>,
    /// Every observation of a probe (checks, polls, verifications), in order.
    pub observations: Vec<ObservationEntry>,
    /// Progress of a built-in action over its items (one DAR of an upload), in order.
    pub items: Vec<ItemEntry>,
    /// How the attempt ended; null when no terminal record was written.
    pub end: Option<EndEntry>,
}

/// The intent record of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// Who.
    pub operator: String,
    /// What was run (argv, query and parameters, probe call).
    pub action: String,
    /// SHA-256 of the exact action.
    pub action_sha256: String,
    /// Whether it changes anything outside canton-dr.
    pub side_effects: bool,
    /// The input values the action used (secrets redacted).
    pub inputs: BTreeMap<String, serde_json::Value>,
}

/// The process a command step spawned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpawnEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// Process id.
    pub pid: u32,
    /// Process group id.
    pub pgid: u32,
    /// Start time of the process (field 22 of `/proc/<pid>/stat`).
    pub start_time: u64,
}

/// One observation of a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// The probe call, values filled in.
    pub call: String,
    /// A one-line summary.
    pub summary: String,
    /// Whether the expectation held (null: no expectation, or the probe failed).
    pub held: Option<bool>,
    /// The evidence: the result fields, or null when the probe failed.
    pub value: serde_json::Value,
    /// The error, when the probe could not observe.
    pub error: Option<String>,
    /// Whether the error may go away by itself.
    pub retryable: bool,
}

/// One item of a built-in action: `started` is recorded before the item is acted on, then
/// `done` or `failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// The item (a DAR file, a package).
    pub item: String,
    /// `started`, `done` or `failed`.
    pub phase: String,
    /// What happened to it.
    pub detail: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// Who.
    pub operator: String,
    /// `completed`, `failed` or `timed_out`.
    pub result: String,
    /// For completed attempts: `passed`, `confirmed`, `shown` or `marked_done`.
    pub outcome: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed.
    pub reason: Option<String>,
    /// Exit code of a command.
    pub exit_code: Option<i32>,
    /// The signal that ended a command.
    pub signal: Option<i32>,
    /// The operator's note on completion.
    pub note: Option<String>,
    /// The operator's evidence on completion.
    pub evidence: Option<String>,
    /// A command's output (redacted, possibly cut off).
    pub output: Option<OutputEntry>,
    /// Values captured by this attempt.
    pub captures: BTreeMap<String, serde_json::Value>,
    /// Redactions the engine made in this attempt's output, per rule.
    pub redactions: BTreeMap<String, u64>,
}

/// A command's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputEntry {
    /// Standard output (redacted, possibly cut off).
    pub stdout: String,
    /// Standard error (redacted, possibly cut off).
    pub stderr: String,
    /// Bytes the command wrote to standard output.
    pub stdout_bytes: u64,
    /// Bytes the command wrote to standard error.
    pub stderr_bytes: u64,
    /// Whether the output shown is cut off.
    pub truncated: bool,
    /// SHA-256 of the full output.
    pub sha256: String,
}

/// A step skipped by the operator (or a gate or failure overridden).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// Who.
    pub operator: String,
    /// Why.
    pub reason: String,
    /// Whether a gate or a failed step was overridden.
    pub overridden: bool,
}

/// A step whose condition did not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotApplicableEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// The condition that did not hold.
    pub condition: String,
}

/// A decision about a step left in doubt by a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InDoubtEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// Who decided.
    pub operator: String,
    /// The attempt in doubt.
    pub attempt: u32,
    /// `rerun`, `mark_done` or `skip`.
    pub choice: String,
    /// The evidence (mark done) or the reason (skip).
    pub detail: Option<String>,
}

/// An operator note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// Who.
    pub operator: String,
    /// The step it is about, if any.
    pub step: Option<String>,
    /// The note.
    pub text: String,
}

/// A warning canton-dr recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// The step it is about, if any.
    pub step: Option<String>,
    /// The warning.
    pub message: String,
}

/// One process session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEntry {
    /// The record that started it.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// The operator.
    pub operator: String,
    /// The operating-system user.
    pub user: String,
    /// The host.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// Whether it resumed an existing incident.
    pub resumed: bool,
    /// The canton-dr version.
    pub tool_version: String,
    /// How it ended, if that was recorded.
    pub ended: Option<SessionEnd>,
}

/// The end of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEnd {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// Why.
    pub reason: String,
}

/// A repair of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// Who.
    pub operator: String,
    /// `torn_tail` or `operator_truncation`.
    pub kind: String,
    /// Bytes cut off the end of the journal.
    pub truncated_bytes: u64,
    /// SHA-256 of those bytes.
    pub sha256_of_removed_bytes: String,
    /// Where the original file was kept.
    pub quarantine: String,
    /// Why.
    pub reason: Option<String>,
}

/// The sandbox's judgement of a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillEntry {
    /// The record.
    pub seq: u64,
    /// When (UTC).
    pub at: String,
    /// `PASS` or `FAIL`.
    pub verdict: String,
    /// The judge's report as recorded (checks, score, deviations).
    pub report: serde_json::Value,
}

/// The journal behind the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalInfo {
    /// Records in the journal's valid part (all of them are in this transcript).
    pub records: u64,
    /// The head digest after the last record (64 hex digits).
    pub head: String,
    /// `clean`, `torn`, `damaged` or `corrupt`.
    pub tail: String,
    /// What follows the last valid record, when the tail is not clean.
    pub tail_detail: Option<String>,
    /// Spans the exporter's own redaction replaced, per rule (normally none: the journal is
    /// already redacted; see `assets/transcript.schema.md`).
    pub export_redactions: BTreeMap<String, u64>,
    /// The command that checks the journal against this transcript.
    pub verify_command: String,
}
