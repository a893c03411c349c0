//! What the operator's actions do on the run screen.

use crate::engine::command::EngineCommand;
use crate::engine::event::Waiting;
use crate::tui::action::Action;
use crate::tui::app::{App, Level};
use crate::tui::dialog::{Dialog, Kind, Reply};
use crate::tui::keymap::KeyMode;
use crate::tui::text;

impl App {
    /// Acts on one action; returns a command for the engine, if any.
    pub fn update(&mut self, action: Action) -> Option<EngineCommand> {
        match self.key_mode() {
            KeyMode::End => self.update_end(action),
            KeyMode::Help => {
                match action {
                    Action::Close | Action::Help => self.help = false,
                    Action::Up => self.help_scroll = self.help_scroll.saturating_sub(1),
                    Action::Down => self.help_scroll = self.help_scroll.saturating_add(1),
                    _ => {}
                }
                None
            }
            KeyMode::Text | KeyMode::Choice => self.update_dialog(action),
            KeyMode::Run | KeyMode::Start => self.update_run(action),
        }
    }

    fn update_end(&mut self, action: Action) -> Option<EngineCommand> {
        match action {
            Action::Leave => {
                // A fatal stop before the engine said it finished: ask it to stop too.
                let cmd = (self.end.is_none()).then_some(EngineCommand::Quit);
                self.exit = true;
                cmd
            }
            Action::Up => {
                self.end_scroll = self.end_scroll.saturating_sub(1);
                None
            }
            Action::Down => {
                self.end_scroll = self.end_scroll.saturating_add(1);
                None
            }
            Action::ToggleJournal => {
                self.panes.journal = !self.panes.journal;
                None
            }
            _ => None,
        }
    }

    fn update_dialog(&mut self, action: Action) -> Option<EngineCommand> {
        if action == Action::Quit {
            self.ask_quit();
            return None;
        }
        let d = self.dialog.as_mut()?;
        let choice = d.fields.is_empty();
        match d.act(action, self.wall) {
            Reply::Stay => None,
            Reply::Close => {
                self.dialog = None;
                None
            }
            Reply::Next(next) => {
                self.dialog = Some(*next);
                None
            }
            Reply::Quit => {
                self.dialog = None;
                self.quit()
            }
            Reply::Send(cmd) => {
                if choice {
                    self.dialog = None;
                }
                if !matches!(cmd, EngineCommand::Note { .. } | EngineCommand::Cancel) {
                    self.answered = true;
                }
                Some(cmd)
            }
        }
    }

    fn update_run(&mut self, action: Action) -> Option<EngineCommand> {
        match action {
            Action::Primary => self.primary(),
            Action::Retry => self.retry(),
            Action::Skip => {
                self.open_skip();
                None
            }
            Action::Note => {
                if self.end.is_some() {
                    self.say(
                        Level::Warn,
                        "the run has ended; notes can no longer be added",
                    );
                } else {
                    // The note is for the step on view: the current one, or the one the
                    // operator has moved to with the arrow keys.
                    let step = self
                        .viewed()
                        .and_then(|i| self.step(i))
                        .map(|s| s.id.clone());
                    self.dialog = Some(Dialog::new(Kind::Note { step }, self.wall));
                }
                None
            }
            Action::Cancel => {
                match self.running_since.clone() {
                    Some((step, _)) if self.is_running() => {
                        self.dialog = Some(Dialog::new(Kind::Cancel { step }, self.wall));
                    }
                    _ => self.say(Level::Info, "nothing is running"),
                }
                None
            }
            Action::Abort => {
                if self.end.is_none() {
                    self.dialog = Some(Dialog::new(Kind::Abort, self.wall));
                }
                None
            }
            Action::Quit => {
                self.ask_quit();
                None
            }
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
                None
            }
            Action::ToggleVars => {
                self.panes.vars = !self.panes.vars;
                None
            }
            Action::ToggleJournal => {
                self.panes.journal = !self.panes.journal;
                None
            }
            Action::ToggleOutput => {
                self.panes.output = !self.panes.output;
                None
            }
            Action::Up => {
                self.select(-1);
                None
            }
            Action::Down => {
                self.select(1);
                None
            }
            Action::Current => {
                self.selected = None;
                self.scroll = 0;
                None
            }
            Action::PageUp => {
                self.scroll = self.scroll.saturating_sub(5);
                None
            }
            Action::PageDown => {
                self.scroll = self.scroll.saturating_add(5);
                None
            }
            _ => None,
        }
    }

    fn select(&mut self, delta: isize) {
        let Some(n) = self.state.as_ref().map(|s| s.steps.len()) else {
            return;
        };
        if n == 0 {
            return;
        }
        let from = self.viewed().unwrap_or(0);
        let to = from.saturating_add_signed(delta).min(n - 1);
        self.selected = if Some(to) == self.current() {
            None
        } else {
            Some(to)
        };
        self.scroll = 0;
    }

    /// The operator looks at another step than the one the run is at: acting now would act
    /// on a step they are not looking at. Bring them back first.
    fn looking_elsewhere(&mut self) -> bool {
        if self.selected.is_some() && self.selected != self.current() {
            self.selected = None;
            self.scroll = 0;
            self.say(
                Level::Info,
                "back at the step the run is at; press the key again to act on it",
            );
            return true;
        }
        false
    }

    fn primary(&mut self) -> Option<EngineCommand> {
        if self.looking_elsewhere() {
            return None;
        }
        if self.answered {
            self.say(Level::Info, "waiting for canton-dr to take the last answer");
            return None;
        }
        let Some(w) = self.waiting.clone() else {
            if self.is_running() {
                self.say(Level::Info, "the step is running; x cancels it");
            } else if self.end.is_none() {
                self.say(Level::Info, "canton-dr is working; nothing to answer yet");
            }
            return None;
        };
        match &w {
            Waiting::Run {
                destructive: false, ..
            } => {
                self.answered = true;
                Some(EngineCommand::Run { typed: None })
            }
            Waiting::Failed { .. } | Waiting::GateClosed { .. } | Waiting::Blocked { .. } => {
                self.answered = true;
                Some(EngineCommand::Retry)
            }
            _ => {
                self.dialog = Some(self.dialog_for(&w));
                None
            }
        }
    }

    fn retry(&mut self) -> Option<EngineCommand> {
        if self.looking_elsewhere() {
            return None;
        }
        match &self.waiting {
            Some(
                Waiting::Failed { .. }
                | Waiting::GateClosed { .. }
                | Waiting::Blocked { .. }
                | Waiting::InDoubt { .. },
            ) if !self.answered => {
                self.answered = true;
                Some(EngineCommand::Retry)
            }
            _ => {
                self.say(
                    Level::Info,
                    "nothing to retry: retry is for a failed step, a closed gate or a blocked step",
                );
                None
            }
        }
    }

    fn open_skip(&mut self) {
        if self.looking_elsewhere() {
            return;
        }
        let Some(w) = self.waiting.clone() else {
            self.say(
                Level::Info,
                "nothing to skip now: a step can be skipped when canton-dr waits for you",
            );
            return;
        };
        let Some(step) = w.step().map(str::to_owned) else {
            return;
        };
        let kind = Kind::Skip {
            typed: self.skip_needs_typed(&w),
            in_doubt: matches!(w, Waiting::InDoubt { .. }),
            step,
        };
        self.dialog = Some(Dialog::new(kind, self.wall));
    }

    fn ask_quit(&mut self) {
        if self.end.is_some() {
            self.exit = true;
            return;
        }
        if self.quitting {
            // Asked twice: the engine has not answered; leave anyway (the journal is the truth).
            self.exit = true;
            return;
        }
        let incident = self.incident_id().unwrap_or("<id>").to_owned();
        self.dialog = Some(Dialog::new(
            Kind::Quit {
                running: self.is_running(),
                incident,
            },
            self.wall,
        ));
    }

    fn quit(&mut self) -> Option<EngineCommand> {
        self.quitting = true;
        let id = self.incident_id().unwrap_or("<id>").to_owned();
        self.say(Level::Info, format!("quitting: {}", text::saved(&id)));
        Some(EngineCommand::Quit)
    }
}
