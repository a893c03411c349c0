//! Folding the engine's events into the run screen.

use std::collections::BTreeMap;

use crate::engine::event::{EngineEvent, RunEnd, Waiting};
use crate::engine::record::{Event as R, Record};
use crate::runbook::StepKind;
use crate::tui::app::{App, Level, OUTPUT_CAPACITY, Screen};
use crate::tui::dialog::{Dialog, Kind};
use crate::tui::text;

impl App {
    pub(super) fn on_engine(&mut self, e: EngineEvent) {
        match e {
            EngineEvent::Started { state } => {
                self.clock = Some((state.last_mono_ms, self.now));
                self.state = Some(*state);
            }
            EngineEvent::Recorded { seq, head, record } => self.on_record(seq, head, &record),
            EngineEvent::Waiting(w) => self.on_waiting(w),
            EngineEvent::Rejected { message } => {
                self.answered = false;
                match self.dialog.as_mut() {
                    Some(d) if d.sent => d.refuse(message),
                    _ => self.say(Level::Error, format!("refused: {message}")),
                }
            }
            EngineEvent::Progress(p) => self.progress = Some(p),
            EngineEvent::Output { step, line } => {
                if self.output_step.as_deref() != Some(step.as_str()) {
                    self.output.clear();
                    self.output_step = Some(step);
                }
                if self.output.len() == OUTPUT_CAPACITY {
                    self.output.pop_front();
                }
                self.output.push_back(line);
            }
            EngineEvent::Finished(end) => self.on_finished(end),
            EngineEvent::Fatal { message } => {
                self.fatal = Some(message);
                self.dialog = None;
                self.help = false;
            }
        }
    }

    fn on_record(&mut self, seq: u64, head: String, record: &Record) {
        self.head = head;
        self.clock = Some((record.mono_ms, self.now));
        self.tail.push(seq, record);
        if let Some(s) = self.state.as_mut()
            && let Err(e) = s.apply(seq, record)
        {
            // The engine folded the same record successfully; a difference here is a bug
            // worth showing rather than hiding.
            self.status = Some(super::Status {
                level: Level::Error,
                text: format!("the screen may be out of date: {e}"),
            });
        }
        let settles = matches!(
            record.event,
            R::StepStarted { .. }
                | R::StepCompleted { .. }
                | R::StepFailed { .. }
                | R::StepTimedOut { .. }
                | R::StepSkipped { .. }
                | R::StepNotApplicable { .. }
                | R::InDoubtResolved { .. }
                | R::RunCompleted { .. }
                | R::RunAborted { .. }
        );
        match &record.event {
            R::StepStarted { step, .. } => {
                self.running_since = Some((step.clone(), self.now));
                self.progress = None;
                if self.output_step.as_deref() != Some(step.as_str()) {
                    self.output.clear();
                    self.output_step = None;
                }
            }
            R::StepCompleted { step, .. }
            | R::StepFailed { step, .. }
            | R::StepTimedOut { step, .. }
            | R::StepSkipped { step, .. } => {
                if self.running_since.as_ref().is_some_and(|(s, _)| s == step) {
                    self.running_since = None;
                }
                if self.progress.as_ref().is_some_and(|p| &p.step == step) {
                    self.progress = None;
                }
            }
            R::NoteAdded { .. }
                if self
                    .dialog
                    .as_ref()
                    .is_some_and(|d| d.sent && matches!(d.kind, Kind::Note { .. })) =>
            {
                self.dialog = None;
                self.say(Level::Info, "note journaled");
            }
            _ => {}
        }
        if settles {
            self.waiting = None;
            self.answered = false;
            if self.dialog.as_ref().is_some_and(Dialog::answers_engine) {
                self.dialog = None;
            }
            if matches!(
                record.event,
                R::StepCompleted { .. } | R::StepSkipped { .. }
            ) {
                self.status = None;
            }
        }
    }

    fn on_waiting(&mut self, w: Waiting) {
        self.answered = false;
        if self
            .running_since
            .as_ref()
            .is_some_and(|(s, _)| Some(s.as_str()) == w.step())
        {
            self.running_since = None;
        }
        // A dialog about another step answers a question the engine no longer asks.
        if self
            .dialog
            .as_ref()
            .is_some_and(|d| d.answers_engine() && d.step() != w.step())
        {
            self.dialog = None;
        }
        if self.dialog.is_none() && !self.quitting {
            self.dialog = self.auto_dialog(&w);
        }
        if matches!(w, Waiting::InDoubt { .. }) {
            self.say(Level::Warn, text::IN_DOUBT);
        }
        self.waiting = Some(w);
        self.scroll = 0;
    }

    /// Dialogs that open by themselves: values to enter and in-doubt decisions.
    fn auto_dialog(&self, w: &Waiting) -> Option<Dialog> {
        match w {
            Waiting::Input { .. } | Waiting::SecretNeeded { .. } | Waiting::InDoubt { .. } => {
                Some(self.dialog_for(w))
            }
            _ => None,
        }
    }

    /// The dialog that answers `w`.
    pub(super) fn dialog_for(&self, w: &Waiting) -> Dialog {
        let kind = match w.clone() {
            Waiting::Confirm {
                step,
                destructive,
                evidence,
            } => Kind::Confirm {
                step,
                destructive,
                evidence,
            },
            Waiting::Input {
                step,
                var,
                ty,
                prompt,
                default,
            } => {
                let expect = self.step_by_id(&step).and_then(|s| match &s.kind {
                    StepKind::Input { expect, .. } => expect.clone(),
                    _ => None,
                });
                let vars = self
                    .state
                    .as_ref()
                    .map_or_else(BTreeMap::new, |s| s.vars.clone());
                Kind::Input {
                    step,
                    var,
                    ty,
                    prompt,
                    default,
                    expect,
                    vars,
                }
            }
            Waiting::SecretNeeded { step, var, prompt } => Kind::Secret { step, var, prompt },
            Waiting::Run { step, preview, .. } => Kind::Run { step, preview },
            Waiting::InDoubt {
                step,
                attempt,
                action,
                still_running,
            } => Kind::InDoubt {
                step,
                attempt,
                action,
                still_running,
            },
            Waiting::Failed { step, .. }
            | Waiting::GateClosed { step, .. }
            | Waiting::Blocked { step, .. } => {
                let typed = self.skip_needs_typed(w);
                Kind::Skip {
                    step,
                    typed,
                    in_doubt: false,
                }
            }
        };
        let hint = match &kind {
            Kind::Input { step, .. } => self.drill_hints.get(step).cloned(),
            _ => None,
        };
        let mut dialog = Dialog::new(kind, self.wall);
        if let Some(value) = hint {
            dialog.fill_drill_hint(&value, self.wall);
        }
        dialog
    }

    pub(super) fn step_by_id(&self, id: &str) -> Option<&crate::runbook::Step> {
        self.state.as_ref().and_then(|s| s.runbook.step(id))
    }

    /// Does skipping what the engine waits for override a safety check (and so need the step
    /// id typed)? Mirrors the engine's rule.
    pub fn skip_needs_typed(&self, w: &Waiting) -> bool {
        match w {
            Waiting::Confirm { destructive, .. } => *destructive,
            Waiting::GateClosed { .. } => true,
            Waiting::Failed { step, .. } => self.step_by_id(step).is_some_and(|s| {
                matches!(
                    s.kind,
                    StepKind::Check { .. } | StepKind::Wait { .. } | StepKind::Gate { .. }
                )
            }),
            _ => false,
        }
    }

    fn on_finished(&mut self, end: RunEnd) {
        self.waiting = None;
        self.running_since = None;
        self.help = false;
        self.dialog = None;
        let drill = self.state.as_ref().is_some_and(|s| s.drill.is_some());
        match end {
            RunEnd::Fatal => {
                if self.fatal.is_none() {
                    self.fatal = Some(text::STOPPED.into());
                }
                if self.detached {
                    self.exit = true;
                }
            }
            _ if drill && !self.detached => self.screen = Screen::DrillEnd,
            _ => self.exit = true,
        }
        self.end = Some(end);
    }
}
