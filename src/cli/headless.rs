//! The line-mode front end: prints what the engine does, one line per fact, and answers its
//! questions from an answers file. A missing answer stops the run cleanly; it can be resumed.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::cli::answers::Answers;
use crate::cli::exit;
use crate::engine::command::EngineCommand;
use crate::engine::command::EngineHandle;
use crate::engine::event::{EngineEvent, Progress, RunEnd, Waiting};
use crate::engine::record::{Event, Outcome, Record};
use crate::engine::state::IncidentState;
use crate::value::format_duration;

/// How a headless run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadlessEnd {
    pub end: RunEnd,
    /// Why the runner stopped the engine, when it did.
    pub stopped: Option<Stopped>,
    /// The state after the last record.
    pub records: u64,
    pub head: String,
}

/// Why the runner stopped a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// The answers file has no answer for what the engine needs.
    NeedsOperator(String),
    /// A step failed and the answers file does not say to retry or skip it.
    StepFailed(String),
}

impl HeadlessEnd {
    /// The process exit code for this ending.
    pub fn exit_code(&self) -> u8 {
        match (&self.end, &self.stopped) {
            (RunEnd::Completed, _) => exit::OK,
            (_, Some(Stopped::StepFailed(_))) => exit::STEP_FAILED,
            (_, Some(Stopped::NeedsOperator(_))) => exit::NEEDS_OPERATOR,
            (RunEnd::Quit, None) => exit::QUIT,
            (RunEnd::Aborted, _) => exit::ABORTED,
            (RunEnd::Fatal, _) => exit::FAILED,
        }
    }
}

/// Drives an engine to its end.
pub async fn drive(
    handle: &EngineHandle,
    mut events: UnboundedReceiver<EngineEvent>,
    answers: &Answers,
    out: &mut dyn Write,
) -> HeadlessEnd {
    let mut r = Reporter {
        out,
        state: None,
        failures: BTreeMap::new(),
        last_progress: None,
        head: String::new(),
        current: None,
    };
    let mut stopped: Option<Stopped> = None;
    let mut cancelled = std::collections::BTreeSet::new();
    while let Some(event) = events.recv().await {
        match event {
            EngineEvent::Started { state } => {
                r.header(&state);
                r.state = Some(*state);
            }
            EngineEvent::Recorded { seq, head, record } => {
                if let Event::StepStarted { step, .. } = &record.event {
                    // A new attempt may be cancelled again.
                    cancelled.remove(step);
                }
                r.head = head;
                if let Some(s) = r.state.as_mut() {
                    // The engine folded the same record; a failure here cannot happen.
                    let _ = s.apply(seq, &record);
                }
                r.record(seq, &record);
            }
            EngineEvent::Waiting(w) => {
                if stopped.is_some() {
                    continue;
                }
                let failures = w
                    .step()
                    .map_or(0, |s| r.failures.get(s).copied().unwrap_or(0));
                match answers.answer(&w, failures) {
                    Ok(cmd) => {
                        r.answered(&w, &cmd);
                        handle.send(cmd);
                    }
                    Err(why) => {
                        if let Some(step) = w.step() {
                            r.heading(step);
                        }
                        let reason = match &w {
                            Waiting::Failed { .. }
                            | Waiting::GateClosed { .. }
                            | Waiting::Blocked { .. } => Stopped::StepFailed(why.clone()),
                            _ => Stopped::NeedsOperator(why.clone()),
                        };
                        r.line(&format!("stopped: {why}"));
                        r.line("the incident is saved; continue with `canton-dr resume` (add the answer, or resume without --headless)");
                        stopped = Some(reason);
                        handle.send(EngineCommand::Quit);
                    }
                }
            }
            EngineEvent::Rejected { message } => {
                r.line(&format!("        answer refused: {message}"));
                if stopped.is_none() {
                    stopped = Some(Stopped::NeedsOperator(format!(
                        "an answer was refused: {message}"
                    )));
                    handle.send(EngineCommand::Quit);
                }
            }
            EngineEvent::Progress(p) => {
                if stopped.is_none() && answers.cancels(&p.step) && cancelled.insert(p.step.clone())
                {
                    r.heading(&p.step);
                    r.line("        answer from the answers file: cancel the running step");
                    handle.send(EngineCommand::Cancel);
                }
                r.progress(&p);
            }
            EngineEvent::Output { line, .. } => r.line(&format!("        | {line}")),
            EngineEvent::Fatal { message } => r.line(&format!("FATAL: {message}")),
            EngineEvent::Finished(end) => {
                r.finished(&end);
                let records = r.state.as_ref().map_or(0, |s| s.records);
                return HeadlessEnd {
                    end,
                    stopped,
                    records,
                    head: r.head,
                };
            }
        }
    }
    HeadlessEnd {
        end: RunEnd::Fatal,
        stopped,
        records: r.state.as_ref().map_or(0, |s| s.records),
        head: r.head,
    }
}

struct Reporter<'a> {
    out: &'a mut dyn Write,
    state: Option<IncidentState>,
    failures: BTreeMap<String, u32>,
    last_progress: Option<(String, Instant)>,
    head: String,
    /// The step whose heading was printed last.
    current: Option<String>,
}

impl Reporter<'_> {
    fn line(&mut self, text: &str) {
        // Output is best effort: a closed stdout must not stop the run (the journal is the
        // record).
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn header(&mut self, s: &IncidentState) {
        let budget = s
            .runbook
            .recovery_budget
            .map(|b| format!(" · budget {}", format_duration(b)))
            .unwrap_or_default();
        self.line(&format!(
            "incident {} · {} · {}",
            s.incident_id,
            s.mode.label(),
            s.runbook.title
        ));
        self.line(&format!(
            "runbook {} (sha256 {}){budget} · {} steps · {} records so far",
            s.runbook.id,
            &s.runbook.sha256[..12.min(s.runbook.sha256.len())],
            s.runbook.steps.len(),
            s.records
        ));
    }

    fn step_label(&self, id: &str) -> String {
        let Some(s) = &self.state else {
            return id.to_owned();
        };
        match s.runbook.index_of(id) {
            Some(i) => format!(
                "[{:>2}/{}] {id} — {}",
                i + 1,
                s.runbook.steps.len(),
                s.runbook.steps[i].title
            ),
            None => id.to_owned(),
        }
    }

    /// Prints a step's heading once, when it becomes the current step.
    fn heading(&mut self, step: &str) {
        if self.current.as_deref() != Some(step) {
            self.current = Some(step.to_owned());
            let label = self.step_label(step);
            self.line(&label);
        }
    }

    fn tag(&self, seq: u64) -> String {
        format!("#{seq} {}", &self.head[..12.min(self.head.len())])
    }

    fn record(&mut self, seq: u64, r: &Record) {
        let tag = self.tag(seq);
        match &r.event {
            Event::SessionStarted { resumed: true, .. } => {
                self.line(&format!("resumed by {}@{} · {tag}", r.operator, r.host));
            }
            Event::StepStarted {
                step,
                attempt,
                action,
                ..
            } => {
                self.heading(step);
                if *attempt > 1 {
                    self.line(&format!("        attempt {attempt}"));
                }
                self.line(&format!("        {action}"));
            }
            Event::ProbeObserved { observation, .. } => {
                let what = match (&observation.error, observation.held) {
                    (Some(e), _) => format!("error: {e}"),
                    (None, Some(true)) => format!("holds: {}", observation.summary),
                    (None, Some(false)) => format!("not yet: {}", observation.summary),
                    (None, None) => observation.summary.clone(),
                };
                self.line(&format!("        observed {what}"));
            }
            Event::ActionItem {
                item,
                phase,
                detail,
                ..
            } => {
                let word = match phase {
                    crate::engine::record::ItemPhase::Started => "starting",
                    crate::engine::record::ItemPhase::Done => "done",
                    crate::engine::record::ItemPhase::Failed => "FAILED",
                };
                self.line(&format!(
                    "        {word}: {item}{} · {tag}",
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({detail})")
                    }
                ));
            }
            Event::StepCompleted {
                step,
                outcome,
                duration_ms,
                captures,
                note,
                ..
            } => {
                self.heading(step);
                let word = match outcome {
                    Outcome::Passed => "passed",
                    Outcome::Confirmed => "confirmed",
                    Outcome::Shown => "shown, not run (dry-run)",
                    Outcome::MarkedDone => "marked done",
                };
                let caps: Vec<String> = captures
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", json_text(v)))
                    .collect();
                let caps = if caps.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", caps.join(", "))
                };
                let note = note.as_ref().map(|n| format!(" · {n}")).unwrap_or_default();
                let took = if *duration_ms == 0 {
                    String::new()
                } else {
                    format!(
                        " in {}",
                        format_duration(chrono::TimeDelta::milliseconds(*duration_ms as i64))
                    )
                };
                self.line(&format!("        {word}{took}{caps}{note} · {tag}"));
            }
            Event::StepFailed { step, reason, .. } => {
                *self.failures.entry(step.clone()).or_default() += 1;
                self.line(&format!("        FAILED: {reason} · {tag}"));
            }
            Event::StepTimedOut {
                step, duration_ms, ..
            } => {
                *self.failures.entry(step.clone()).or_default() += 1;
                self.line(&format!(
                    "        TIMED OUT after {} · {tag}",
                    format_duration(chrono::TimeDelta::milliseconds(*duration_ms as i64))
                ));
            }
            Event::StepSkipped {
                step,
                reason,
                overridden,
            } => {
                self.heading(step);
                let word = if *overridden { "OVERRIDDEN" } else { "skipped" };
                self.line(&format!("        {word}: {reason} · {tag}"));
            }
            Event::StepNotApplicable { step, condition } => {
                self.heading(step);
                self.line(&format!(
                    "        not applicable ({condition} is false) · {tag}"
                ));
            }
            Event::NoteAdded { step, text } => {
                let on = step
                    .as_ref()
                    .map(|s| format!(" on {s}"))
                    .unwrap_or_default();
                self.line(&format!("        note{on}: {text} · {tag}"));
            }
            Event::Warning { message, .. } => {
                self.line(&format!("        warning: {message} · {tag}"))
            }
            Event::InDoubtResolved { step, choice, .. } => {
                self.line(&format!(
                    "        in-doubt step {step} resolved: {choice:?} · {tag}"
                ));
            }
            Event::Recovery {
                kind,
                truncated_bytes,
                ..
            } => {
                self.line(&format!(
                    "journal recovery ({kind}): {truncated_bytes} bytes quarantined · {tag}"
                ));
            }
            Event::RunCompleted {
                steps_passed,
                steps_skipped,
            } => {
                self.line(&format!(
                    "run completed: {steps_passed} steps done, {steps_skipped} skipped or not applicable · {tag}"
                ));
            }
            Event::RunAborted { reason } => self.line(&format!("run aborted: {reason} · {tag}")),
            Event::DrillJudged { verdict, .. } => {
                self.line(&format!("drill verdict: {verdict} · {tag}"))
            }
            _ => {}
        }
    }

    fn answered(&mut self, w: &Waiting, cmd: &EngineCommand) {
        if let Some(step) = w.step() {
            self.heading(step);
        }
        let what = match cmd {
            EngineCommand::Confirm { .. } => "confirm".to_owned(),
            EngineCommand::Input { .. } => "value entered".to_owned(),
            EngineCommand::Run { .. } => "run".to_owned(),
            EngineCommand::Retry => "retry".to_owned(),
            EngineCommand::Skip { reason, .. } => format!("skip ({reason})"),
            EngineCommand::ResolveInDoubt(c) => format!("in doubt: {c:?}"),
            other => format!("{other:?}"),
        };
        if let Waiting::Input { prompt, .. } = w {
            self.line(&format!("        asked: {prompt}"));
        }
        self.line(&format!("        answer from the answers file: {what}"));
    }

    fn progress(&mut self, p: &Progress) {
        let now = Instant::now();
        let due = match &self.last_progress {
            Some((step, at)) => {
                step != &p.step || now.duration_since(*at) >= Duration::from_secs(5)
            }
            None => true,
        };
        if !due {
            return;
        }
        self.last_progress = Some((p.step.clone(), now));
        let mut parts = vec![format!("poll {}", p.polls)];
        if let (Some(c), Some(t)) = (&p.current, &p.target) {
            parts.push(format!("{c} → {t}"));
        }
        if let Some(f) = p.fraction {
            parts.push(format!("{:.0}%", f * 100.0));
        }
        if let Some(eta) = p.eta {
            parts.push(format!(
                "ETA {}",
                format_duration(chrono::TimeDelta::from_std(eta).unwrap_or_default())
            ));
        }
        if let Some(e) = &p.last_error {
            parts.push(format!("last error: {e}"));
        } else if let Some(s) = &p.last_summary {
            parts.push(s.clone());
        }
        self.line(&format!("        waiting: {}", parts.join(" · ")));
    }

    fn finished(&mut self, end: &RunEnd) {
        let text = match end {
            RunEnd::Completed => "finished: the runbook is complete",
            RunEnd::Quit => "stopped: the incident can be resumed",
            RunEnd::Aborted => "finished: the run was aborted",
            RunEnd::Fatal => "stopped: canton-dr cannot continue safely",
        };
        let records = self.state.as_ref().map_or(0, |s| s.records);
        let head = self.head.clone();
        self.line(&format!("{text} · journal: {records} records, head {head}"));
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
