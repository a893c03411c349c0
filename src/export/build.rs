//! Building a [`Transcript`] from the records of a journal.
//!
//! The step statuses, captured values and totals come from the engine's own fold
//! ([`IncidentState`]), so a transcript never disagrees with what `resume` would show; the
//! details the fold does not keep (every attempt, every observation, who did what in which
//! record) come from a second walk over the same decoded records.

use std::collections::BTreeMap;

use crate::engine::record::{Event, InDoubtChoice, ItemPhase, Mode, Outcome, Record};
use crate::engine::state::{Finish, IncidentState, ReplayError, StepStatus};
use crate::journal::{Scan, Tail};
use crate::runbook::model::Runbook;
use crate::value::format_timestamp;

use super::model::{
    Attempt, DrillEntry, EndEntry, InDoubtEntry, IncidentInfo, ItemEntry, JournalInfo,
    NotApplicableEntry, NoteEntry, ObservationEntry, OutputEntry, ProfileInfo, RecoveryEntry,
    RunOutcome, RunbookFile, RunbookInfo, SCHEMA_VERSION, SessionEnd, SessionEntry, SkipEntry,
    SpawnEntry, StartEntry, StepReport, Transcript, WarningEntry,
};

/// Builds the transcript of a scanned journal: every valid record, in order.
pub fn build(scan: &Scan) -> Result<Transcript, ReplayError> {
    let mut records = Vec::with_capacity(scan.records.len());
    for r in &scan.records {
        records.push((r.seq, Record::decode(r.seq, &r.payload)?));
    }
    let state = fold(&records)?;
    let mut walk = Walk::new(&state.runbook);
    for (seq, record) in &records {
        walk.record(*seq, record)?;
    }
    Ok(walk.finish(&state, scan))
}

/// The engine's fold, exactly as `IncidentState::replay` does it (journal repairs that precede
/// the opening record are applied right after it), over records decoded once.
fn fold(records: &[(u64, Record)]) -> Result<IncidentState, ReplayError> {
    let mut state: Option<IncidentState> = None;
    let mut pending = Vec::new();
    for (seq, record) in records {
        match &mut state {
            Some(s) => s.apply(*seq, record)?,
            None if matches!(record.event, Event::Recovery { .. }) => pending.push(record),
            None => {
                let mut s = IncidentState::open(*seq, record)?;
                for r in pending.drain(..) {
                    s.apply(*seq, r)?;
                }
                state = Some(s);
            }
        }
    }
    state.ok_or(ReplayError::Empty)
}

fn ts(record: &Record) -> String {
    format_timestamp(&record.ts)
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "live",
        Mode::DryRun => "dry_run",
        Mode::Drill => "drill",
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Confirmed => "confirmed",
        Outcome::Shown => "shown",
        Outcome::MarkedDone => "marked_done",
    }
}

fn millis(d: chrono::TimeDelta) -> u64 {
    u64::try_from(d.num_milliseconds()).unwrap_or(0)
}

/// What the walk collects about one step.
#[derive(Default)]
struct StepAcc {
    attempts: BTreeMap<u32, Attempt>,
    skip: Option<SkipEntry>,
    not_applicable: Option<NotApplicableEntry>,
    in_doubt: Vec<InDoubtEntry>,
    notes: Vec<NoteEntry>,
    warnings: Vec<WarningEntry>,
    start_ms: Option<u64>,
    end_ms: Option<u64>,
    /// Duration of the attempt that ended last, to place a step that never journaled a start.
    last_duration_ms: u64,
}

impl StepAcc {
    fn attempt(&mut self, number: u32) -> &mut Attempt {
        self.attempts.entry(number).or_insert_with(|| Attempt {
            number,
            started: None,
            spawned: None,
            observations: Vec::new(),
            items: Vec::new(),
            end: None,
        })
    }

    fn ended(&mut self, mono_ms: u64, duration_ms: u64) {
        self.end_ms = Some(mono_ms);
        self.last_duration_ms = duration_ms;
    }
}

/// The second walk over the records.
struct Walk<'a> {
    runbook: &'a Runbook,
    steps: Vec<StepAcc>,
    notes: Vec<NoteEntry>,
    warnings: Vec<WarningEntry>,
    sessions: Vec<SessionEntry>,
    recoveries: Vec<RecoveryEntry>,
    drill: Option<DrillEntry>,
    opened: Option<(u64, String, String)>,
    end: Option<(u64, String, u64)>,
    last: Option<(String, u64)>,
}

impl<'a> Walk<'a> {
    fn new(runbook: &'a Runbook) -> Walk<'a> {
        Walk {
            runbook,
            steps: runbook.steps.iter().map(|_| StepAcc::default()).collect(),
            notes: Vec::new(),
            warnings: Vec::new(),
            sessions: Vec::new(),
            recoveries: Vec::new(),
            drill: None,
            opened: None,
            end: None,
            last: None,
        }
    }

    fn step(&mut self, seq: u64, id: &str) -> Result<&mut StepAcc, ReplayError> {
        let i = self
            .runbook
            .index_of(id)
            .ok_or_else(|| ReplayError::Inconsistent {
                seq,
                message: format!("step '{id}' is not in the runbook"),
            })?;
        Ok(&mut self.steps[i])
    }

    fn record(&mut self, seq: u64, r: &Record) -> Result<(), ReplayError> {
        self.last = Some((ts(r), r.mono_ms));
        match &r.event {
            Event::IncidentOpened { .. } => {
                self.opened = Some((seq, r.user.clone(), r.host.clone()));
            }
            Event::SessionStarted {
                pid,
                resumed,
                tool_version,
            } => self.sessions.push(SessionEntry {
                seq,
                at: ts(r),
                operator: r.operator.clone(),
                user: r.user.clone(),
                host: r.host.clone(),
                pid: *pid,
                resumed: *resumed,
                tool_version: tool_version.clone(),
                ended: None,
            }),
            Event::SessionEnded { reason } => {
                let end = SessionEnd {
                    seq,
                    at: ts(r),
                    reason: reason.clone(),
                };
                match self.sessions.last_mut() {
                    Some(s) if s.ended.is_none() => s.ended = Some(end),
                    // An end without a start of its own still appears in the transcript.
                    _ => self.sessions.push(SessionEntry {
                        seq,
                        at: ts(r),
                        operator: r.operator.clone(),
                        user: r.user.clone(),
                        host: r.host.clone(),
                        pid: 0,
                        resumed: false,
                        tool_version: String::new(),
                        ended: Some(end),
                    }),
                }
            }
            Event::Warning { step, message } => {
                let entry = WarningEntry {
                    seq,
                    at: ts(r),
                    step: step.clone(),
                    message: message.clone(),
                };
                match step {
                    Some(id) => self.step(seq, id)?.warnings.push(entry),
                    None => self.warnings.push(entry),
                }
            }
            Event::StepNotApplicable { step, condition } => {
                let acc = self.step(seq, step)?;
                acc.not_applicable = Some(NotApplicableEntry {
                    seq,
                    at: ts(r),
                    condition: condition.clone(),
                });
                acc.ended(r.mono_ms, 0);
            }
            Event::StepStarted {
                step,
                attempt,
                action,
                action_sha256,
                side_effects,
                inputs,
            } => {
                let acc = self.step(seq, step)?;
                acc.start_ms.get_or_insert(r.mono_ms);
                acc.attempt(*attempt).started = Some(StartEntry {
                    seq,
                    at: ts(r),
                    operator: r.operator.clone(),
                    action: action.clone(),
                    action_sha256: action_sha256.clone(),
                    side_effects: *side_effects,
                    inputs: inputs.clone(),
                });
            }
            Event::StepSpawned {
                step,
                attempt,
                pid,
                pgid,
                start_time,
            } => {
                self.step(seq, step)?.attempt(*attempt).spawned = Some(SpawnEntry {
                    seq,
                    at: ts(r),
                    pid: *pid,
                    pgid: *pgid,
                    start_time: *start_time,
                });
            }
            Event::ProbeObserved {
                step,
                attempt,
                observation,
            } => {
                let acc = self.step(seq, step)?;
                acc.start_ms.get_or_insert(r.mono_ms);
                acc.attempt(*attempt).observations.push(ObservationEntry {
                    seq,
                    at: ts(r),
                    call: observation.call.clone(),
                    summary: observation.summary.clone(),
                    held: observation.held,
                    value: observation.value.clone(),
                    error: observation.error.clone(),
                    retryable: observation.retryable,
                });
            }
            Event::ActionItem {
                step,
                attempt,
                item,
                phase,
                detail,
            } => {
                let acc = self.step(seq, step)?;
                acc.start_ms.get_or_insert(r.mono_ms);
                acc.attempt(*attempt).items.push(ItemEntry {
                    seq,
                    at: ts(r),
                    item: item.clone(),
                    phase: match phase {
                        ItemPhase::Started => "started",
                        ItemPhase::Done => "done",
                        ItemPhase::Failed => "failed",
                    }
                    .into(),
                    detail: detail.clone(),
                });
            }
            Event::StepCompleted {
                step,
                attempt,
                outcome,
                duration_ms,
                captures,
                note,
                evidence,
                exit_code,
                output,
                redactions,
            } => {
                let acc = self.step(seq, step)?;
                acc.ended(r.mono_ms, *duration_ms);
                acc.attempt(*attempt).end = Some(EndEntry {
                    seq,
                    at: ts(r),
                    operator: r.operator.clone(),
                    result: "completed".into(),
                    outcome: Some(outcome_name(*outcome).into()),
                    duration_ms: *duration_ms,
                    reason: None,
                    exit_code: *exit_code,
                    signal: None,
                    note: note.clone(),
                    evidence: evidence.clone(),
                    output: output.as_ref().map(output_entry),
                    captures: captures.clone(),
                    redactions: redactions.clone(),
                });
            }
            Event::StepFailed {
                step,
                attempt,
                reason,
                duration_ms,
                exit_code,
                signal,
                output,
                redactions,
            } => {
                let acc = self.step(seq, step)?;
                acc.ended(r.mono_ms, *duration_ms);
                acc.attempt(*attempt).end = Some(EndEntry {
                    seq,
                    at: ts(r),
                    operator: r.operator.clone(),
                    result: "failed".into(),
                    outcome: None,
                    duration_ms: *duration_ms,
                    reason: Some(reason.clone()),
                    exit_code: *exit_code,
                    signal: *signal,
                    note: None,
                    evidence: None,
                    output: output.as_ref().map(output_entry),
                    captures: BTreeMap::new(),
                    redactions: redactions.clone(),
                });
            }
            Event::StepTimedOut {
                step,
                attempt,
                duration_ms,
                signal,
                output,
                redactions,
            } => {
                let acc = self.step(seq, step)?;
                acc.ended(r.mono_ms, *duration_ms);
                acc.attempt(*attempt).end = Some(EndEntry {
                    seq,
                    at: ts(r),
                    operator: r.operator.clone(),
                    result: "timed_out".into(),
                    outcome: None,
                    duration_ms: *duration_ms,
                    reason: Some("timed out".into()),
                    exit_code: None,
                    signal: *signal,
                    note: None,
                    evidence: None,
                    output: output.as_ref().map(output_entry),
                    captures: BTreeMap::new(),
                    redactions: redactions.clone(),
                });
            }
            Event::StepSkipped {
                step,
                reason,
                overridden,
            } => {
                let acc = self.step(seq, step)?;
                acc.skip = Some(SkipEntry {
                    seq,
                    at: ts(r),
                    operator: r.operator.clone(),
                    reason: reason.clone(),
                    overridden: *overridden,
                });
                acc.ended(r.mono_ms, 0);
            }
            Event::NoteAdded { step, text } => {
                let entry = NoteEntry {
                    seq,
                    at: ts(r),
                    operator: r.operator.clone(),
                    step: step.clone(),
                    text: text.clone(),
                };
                match step {
                    Some(id) => self.step(seq, id)?.notes.push(entry),
                    None => self.notes.push(entry),
                }
            }
            Event::InDoubtResolved {
                step,
                attempt,
                choice,
            } => {
                let (name, detail) = match choice {
                    InDoubtChoice::Rerun => ("rerun", None),
                    InDoubtChoice::MarkDone { evidence } => ("mark_done", Some(evidence.clone())),
                    InDoubtChoice::Skip { reason } => ("skip", Some(reason.clone())),
                };
                let acc = self.step(seq, step)?;
                if !matches!(choice, InDoubtChoice::Rerun) {
                    acc.ended(r.mono_ms, 0);
                }
                acc.in_doubt.push(InDoubtEntry {
                    seq,
                    at: ts(r),
                    operator: r.operator.clone(),
                    attempt: *attempt,
                    choice: name.into(),
                    detail,
                });
            }
            Event::Recovery {
                kind,
                truncated_bytes,
                sha256_of_removed_bytes,
                quarantine,
                reason,
            } => self.recoveries.push(RecoveryEntry {
                seq,
                at: ts(r),
                operator: r.operator.clone(),
                kind: kind.clone(),
                truncated_bytes: *truncated_bytes,
                sha256_of_removed_bytes: sha256_of_removed_bytes.clone(),
                quarantine: quarantine.clone(),
                reason: reason.clone(),
            }),
            Event::RunCompleted { .. } | Event::RunAborted { .. } => {
                self.end = Some((seq, ts(r), r.mono_ms));
            }
            Event::DrillJudged { verdict, report } => {
                self.drill = Some(DrillEntry {
                    seq,
                    at: ts(r),
                    verdict: verdict.clone(),
                    report: report.clone(),
                });
            }
        }
        Ok(())
    }

    fn finish(self, state: &IncidentState, scan: &Scan) -> Transcript {
        let rb = &state.runbook;
        let (opened_seq, user, host) =
            self.opened
                .unwrap_or((0, String::new(), state.host.clone()));
        let (last_at, last_mono) = self
            .last
            .unwrap_or_else(|| (format_timestamp(&state.last_at), state.last_mono_ms));
        let elapsed_ms = self.end.as_ref().map_or(last_mono, |(_, _, mono)| *mono);
        let budget_ms = rb.recovery_budget.map(millis);
        let steps: Vec<StepReport> = rb
            .steps
            .iter()
            .zip(&state.steps)
            .zip(self.steps)
            .enumerate()
            .map(|(i, ((step, st), acc))| {
                let (status, status_text) = status_of(&st.status, st.side_effects);
                let budget_ms = step.budget.map(millis);
                let start_ms = acc
                    .start_ms
                    .or_else(|| acc.end_ms.map(|e| e.saturating_sub(acc.last_duration_ms)));
                let attempts: Vec<Attempt> = acc.attempts.into_values().collect();
                let retries = u32::try_from(attempts.len().saturating_sub(1)).unwrap_or(u32::MAX);
                StepReport {
                    number: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    id: step.id.clone(),
                    title: step.title.clone(),
                    kind: step.kind.name().into(),
                    group: step.group.clone(),
                    implements: step.implements.clone(),
                    instructions: step.instructions.as_ref().map(ToString::to_string),
                    budget_ms,
                    status: status.into(),
                    status_text,
                    operator: st.operator.clone(),
                    started_at: st.started_at.as_ref().map(format_timestamp),
                    finished_at: st.finished_at.as_ref().map(format_timestamp),
                    start_ms,
                    end_ms: acc.end_ms,
                    duration_ms: st.duration_ms,
                    over_budget: budget_ms.is_some_and(|b| st.duration_ms > b),
                    attempts,
                    retries,
                    captures: st.captures.clone(),
                    redactions: st.redactions.clone(),
                    skip: acc.skip,
                    not_applicable: acc.not_applicable,
                    in_doubt: acc.in_doubt,
                    notes: acc.notes,
                    warnings: acc.warnings,
                }
            })
            .collect();
        let (done, skipped) = state.tally();
        let (status, reason) = match &state.finish {
            Some(Finish::Completed) => ("completed", None),
            Some(Finish::Aborted(r)) => ("aborted", Some(r.clone())),
            None => ("in_progress", None),
        };
        let head = scan.head.hex();
        let (tail, tail_detail) = tail_words(scan);
        Transcript {
            schema_version: SCHEMA_VERSION,
            incident: IncidentInfo {
                seq: opened_seq,
                id: state.incident_id.clone(),
                mode: mode_name(state.mode).into(),
                mode_label: state.mode.label().into(),
                operator: state.opened_by.clone(),
                user,
                host,
                opened_at: format_timestamp(&state.opened_at),
                ended_at: self.end.as_ref().map(|(_, at, _)| at.clone()),
                last_record_at: last_at,
                elapsed_ms,
                tool_version: state.tool_version.clone(),
            },
            runbook: RunbookInfo {
                id: state.runbook_ref.id.clone(),
                title: state.runbook_ref.title.clone(),
                source: state.runbook_ref.source.clone(),
                source_url: rb.source_url.clone(),
                sha256: state.runbook_ref.sha256.clone(),
                budget_ms,
                files: state
                    .runbook_ref
                    .files
                    .iter()
                    .map(|f| RunbookFile {
                        name: f.name.clone(),
                        path: f.path.clone(),
                    })
                    .collect(),
            },
            profile: state.profile.as_ref().map(|p| ProfileInfo {
                name: p.name.clone(),
                path: p.path.clone(),
                sha256: p.sha256.clone(),
            }),
            params: state.params.clone(),
            outcome: RunOutcome {
                status: status.into(),
                seq: self.end.as_ref().map(|(seq, _, _)| *seq),
                at: self.end.as_ref().map(|(_, at, _)| at.clone()),
                reason,
                steps_done: done,
                steps_skipped: skipped,
                steps_total: u32::try_from(rb.steps.len()).unwrap_or(u32::MAX),
                within_budget: budget_ms.map(|b| elapsed_ms <= b),
            },
            steps,
            notes: self.notes,
            warnings: self.warnings,
            sessions: self.sessions,
            recoveries: self.recoveries,
            drill: self.drill,
            journal: JournalInfo {
                records: scan.head.count,
                verify_command: format!(
                    "canton-dr verify {} --expect-head {head} --expect-count {}",
                    state.incident_id, scan.head.count
                ),
                head,
                tail: tail.into(),
                tail_detail,
                export_redactions: BTreeMap::new(),
            },
        }
    }
}

fn output_entry(o: &crate::engine::record::Output) -> OutputEntry {
    OutputEntry {
        stdout: o.stdout.clone(),
        stderr: o.stderr.clone(),
        stdout_bytes: o.stdout_bytes,
        stderr_bytes: o.stderr_bytes,
        truncated: o.truncated,
        sha256: o.sha256.clone(),
    }
}

/// The machine-readable status of a step and its words.
fn status_of(status: &StepStatus, side_effects: bool) -> (&'static str, String) {
    let code = match status {
        StepStatus::Pending => "pending",
        StepStatus::Running { .. } if side_effects => {
            return ("in_doubt", "in doubt (started, no outcome recorded)".into());
        }
        StepStatus::Running { .. } => {
            return ("running", "running (started, no outcome recorded)".into());
        }
        StepStatus::Done(outcome) => outcome_name(*outcome),
        StepStatus::Failed { .. } => "failed",
        StepStatus::TimedOut => "timed_out",
        StepStatus::Skipped {
            overridden: true, ..
        } => "overridden",
        StepStatus::Skipped { .. } => "skipped",
        StepStatus::NotApplicable => "not_applicable",
    };
    (code, status.word().to_owned())
}

fn tail_words(scan: &Scan) -> (&'static str, Option<String>) {
    let word = match scan.tail {
        Tail::Clean => return ("clean", None),
        Tail::Torn { .. } => "torn",
        Tail::AmbiguousBadLastFrame { .. } => "damaged",
        Tail::Corrupt { .. } => "corrupt",
    };
    let detail = match scan.defect {
        Some(defect) => format!("{} ({defect})", scan.tail),
        None => scan.tail.to_string(),
    };
    (word, Some(detail))
}
