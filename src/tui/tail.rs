//! The last journal records, one line each, for the journal pane. Bounded: an incident with
//! a long journal costs no more to show than a short one.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::engine::record::{Event, InDoubtChoice, Outcome, Record};
use crate::value::format_duration;

/// How many records the pane keeps.
pub const TAIL_CAPACITY: usize = 500;

/// How a line is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
    Attention,
}

/// One journal record as a line.
#[derive(Debug, Clone, PartialEq)]
pub struct TailLine {
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub kind: &'static str,
    pub text: String,
    pub tone: Tone,
}

/// The last [`TAIL_CAPACITY`] records.
#[derive(Debug, Clone, Default)]
pub struct Tail {
    lines: VecDeque<TailLine>,
}

impl Tail {
    /// Adds a record.
    pub fn push(&mut self, seq: u64, record: &Record) {
        if self.lines.len() == TAIL_CAPACITY {
            self.lines.pop_front();
        }
        let (text, tone) = describe(&record.event);
        self.lines.push_back(TailLine {
            seq,
            ts: record.ts,
            kind: record.event.type_name(),
            text,
            tone,
        });
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> impl Iterator<Item = &TailLine> {
        self.lines.iter().skip(self.lines.len().saturating_sub(n))
    }

    /// Lines kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// No lines yet.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

fn ms(d: u64) -> String {
    format_duration(chrono::TimeDelta::milliseconds(
        i64::try_from(d).unwrap_or(i64::MAX),
    ))
}

/// A short description of what a record says.
pub fn describe(e: &Event) -> (String, Tone) {
    match e {
        Event::IncidentOpened { mode, runbook, .. } => (
            format!("incident opened: {} ({})", runbook.id, mode.label()),
            Tone::Plain,
        ),
        Event::SessionStarted { resumed, pid, .. } => (
            format!(
                "session {} (pid {pid})",
                if *resumed { "resumed" } else { "started" }
            ),
            Tone::Plain,
        ),
        Event::SessionEnded { reason } => (format!("session ended: {reason}"), Tone::Plain),
        Event::Warning { step, message } => (
            format!("{}warning: {message}", on(step.as_deref())),
            Tone::Attention,
        ),
        Event::StepNotApplicable { step, condition } => (
            format!("{step} not applicable ({condition} is false)"),
            Tone::Plain,
        ),
        Event::StepStarted {
            step,
            attempt,
            action,
            ..
        } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            (format!("{step} started{again}: {action}"), Tone::Plain)
        }
        Event::ActionItem {
            step,
            item,
            phase,
            detail,
            ..
        } => {
            let (word, tone) = match phase {
                crate::engine::record::ItemPhase::Started => ("starting", Tone::Plain),
                crate::engine::record::ItemPhase::Done => ("done", Tone::Plain),
                crate::engine::record::ItemPhase::Failed => ("failed", Tone::Attention),
            };
            (format!("{step} {word}: {item} ({detail})"), tone)
        }
        Event::StepSpawned {
            step, pid, pgid, ..
        } => (
            format!("{step} spawned pid {pid} (group {pgid})"),
            Tone::Plain,
        ),
        Event::ProbeObserved {
            step, observation, ..
        } => match (&observation.error, observation.held) {
            (Some(err), _) => (format!("{step} observed error: {err}"), Tone::Attention),
            (None, Some(true)) => (format!("{step} holds: {}", observation.summary), Tone::Good),
            (None, Some(false)) => (
                format!("{step} not yet: {}", observation.summary),
                Tone::Plain,
            ),
            (None, None) => (
                format!("{step} observed: {}", observation.summary),
                Tone::Plain,
            ),
        },
        Event::StepCompleted {
            step,
            outcome,
            duration_ms,
            ..
        } => {
            let word = match outcome {
                Outcome::Passed => "passed",
                Outcome::Confirmed => "confirmed",
                Outcome::Shown => "shown, not run (dry-run)",
                Outcome::MarkedDone => "marked done",
            };
            (format!("{step} {word} in {}", ms(*duration_ms)), Tone::Good)
        }
        Event::StepFailed { step, reason, .. } => (format!("{step} failed: {reason}"), Tone::Bad),
        Event::StepTimedOut {
            step, duration_ms, ..
        } => (
            format!("{step} timed out after {}", ms(*duration_ms)),
            Tone::Bad,
        ),
        Event::StepSkipped {
            step,
            reason,
            overridden,
        } => (
            format!(
                "{step} {}: {reason}",
                if *overridden { "OVERRIDDEN" } else { "skipped" }
            ),
            if *overridden {
                Tone::Bad
            } else {
                Tone::Attention
            },
        ),
        Event::NoteAdded { step, text } => {
            (format!("{}note: {text}", on(step.as_deref())), Tone::Plain)
        }
        Event::InDoubtResolved { step, choice, .. } => {
            let what = match choice {
                InDoubtChoice::Rerun => "to be re-run".to_owned(),
                InDoubtChoice::MarkDone { evidence } => format!("marked done: {evidence}"),
                InDoubtChoice::Skip { reason } => format!("skipped: {reason}"),
            };
            (format!("{step} (in doubt) {what}"), Tone::Attention)
        }
        Event::Recovery {
            kind,
            truncated_bytes,
            ..
        } => (
            format!("journal repaired ({kind}): {truncated_bytes} bytes quarantined"),
            Tone::Attention,
        ),
        Event::RunCompleted {
            steps_passed,
            steps_skipped,
        } => (
            format!(
                "run completed: {steps_passed} done, {steps_skipped} skipped or not applicable"
            ),
            Tone::Good,
        ),
        Event::RunAborted { reason } => (format!("run aborted: {reason}"), Tone::Bad),
        Event::DrillJudged { verdict, .. } => (
            format!("drill verdict: {verdict}"),
            if verdict == "PASS" {
                Tone::Good
            } else {
                Tone::Bad
            },
        ),
    }
}

fn on(step: Option<&str>) -> String {
    step.map(|s| format!("{s}: ")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(event: Event) -> Record {
        Record {
            ts: crate::value::parse_timestamp("2026-11-22T03:15:00Z").unwrap_or_default(),
            mono_ms: 0,
            user: "u".into(),
            operator: "o".into(),
            host: "h".into(),
            event,
        }
    }

    #[test]
    fn keeps_only_the_last_records() {
        let mut t = Tail::default();
        for i in 0..(TAIL_CAPACITY as u64 + 10) {
            t.push(
                i,
                &rec(Event::NoteAdded {
                    step: None,
                    text: format!("n{i}"),
                }),
            );
        }
        assert_eq!(t.len(), TAIL_CAPACITY);
        let last: Vec<u64> = t.last(3).map(|l| l.seq).collect();
        let n = TAIL_CAPACITY as u64 + 10;
        assert_eq!(last, vec![n - 3, n - 2, n - 1]);
        assert_eq!(t.last(1).next().map(|l| l.kind), Some("note_added"));
    }

    #[test]
    fn overrides_stand_out() {
        let (text, tone) = describe(&Event::StepSkipped {
            step: "safe".into(),
            reason: "ticket 42".into(),
            overridden: true,
        });
        assert_eq!(text, "safe OVERRIDDEN: ticket 42");
        assert_eq!(tone, Tone::Bad);
        let (text, tone) = describe(&Event::StepCompleted {
            step: "read".into(),
            attempt: 1,
            outcome: Outcome::Passed,
            duration_ms: 1500,
            captures: Default::default(),
            note: None,
            evidence: None,
            exit_code: None,
            output: None,
            redactions: Default::default(),
        });
        assert_eq!(text, "read passed in 1.500s");
        assert_eq!(tone, Tone::Good);
    }
}
