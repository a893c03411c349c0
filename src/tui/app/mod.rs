//! The run screen's state: a read model of the incident (the same fold of journal records the
//! engine keeps), what the engine waits for, and UI-only state (selection, panes, dialog).
//! Only [`App::handle`] mutates it; views read it.

mod engine;
mod update;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::Frame;

use crate::engine::command::EngineCommand;
use crate::engine::event::{Progress, RunEnd, Waiting};
use crate::engine::state::{IncidentState, StepStatus};
use crate::runbook::Step;
use crate::tui::TuiOptions;
use crate::tui::dialog::Dialog;
use crate::tui::event::Event;
use crate::tui::keymap::{self, KeyMode};
use crate::tui::runner::Ui;
use crate::tui::tail::Tail;
use crate::tui::theme::Theme;

/// Lines of command output kept for the output pane.
pub const OUTPUT_CAPACITY: usize = 1000;

/// Which screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Run,
    /// The drill is over: the judge's verdict and the score.
    DrillEnd,
}

/// Optional panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    pub vars: bool,
    pub journal: bool,
    pub output: bool,
}

/// How serious a status message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// The line above the key hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub level: Level,
    pub text: String,
}

/// The run screen.
pub struct App {
    pub theme: Theme,
    /// The incident as the journal says (None until the engine has started).
    pub state: Option<IncidentState>,
    /// The journal's head digest after the last record.
    pub head: String,
    /// What the engine waits for.
    pub waiting: Option<Waiting>,
    /// A command was sent in answer; further answers wait for the engine's reply.
    pub answered: bool,
    pub progress: Option<Progress>,
    /// Output lines of the running (or last) command step, and its id.
    pub output: VecDeque<String>,
    pub output_step: Option<String>,
    pub tail: Tail,
    pub dialog: Option<Dialog>,
    pub help: bool,
    pub help_scroll: u16,
    pub panes: Panes,
    /// The step the operator looks at, when not the current one.
    pub selected: Option<usize>,
    pub scroll: u16,
    pub status: Option<Status>,
    /// canton-dr cannot continue (journal failure): shown as a modal.
    pub fatal: Option<String>,
    pub end: Option<RunEnd>,
    pub screen: Screen,
    pub end_scroll: u16,
    /// Quit was sent; waiting for the engine to finish.
    pub quitting: bool,
    /// The terminal is gone: nothing more is drawn.
    pub detached: bool,
    exit: bool,
    /// The time of the last event (monotonic and wall-clock).
    pub now: Instant,
    pub wall: DateTime<Utc>,
    /// The incident's elapsed milliseconds at the last record, and when it arrived.
    clock: Option<(u64, Instant)>,
    /// The step started in this session and still running, and since when.
    pub running_since: Option<(String, Instant)>,
    pub spinner: usize,
    shown_minute: u64,
    dirty: bool,
    /// The drill scenario's answers to input steps (see [`TuiOptions::drill_hints`]).
    drill_hints: std::collections::BTreeMap<String, String>,
}

impl App {
    /// A run screen waiting for the engine to start.
    pub fn new(opts: TuiOptions, now: Instant, wall: DateTime<Utc>) -> App {
        App {
            theme: Theme::new(opts.no_color),
            drill_hints: opts.drill_hints,
            state: None,
            head: String::new(),
            waiting: None,
            answered: false,
            progress: None,
            output: VecDeque::new(),
            output_step: None,
            tail: Tail::default(),
            dialog: None,
            help: false,
            help_scroll: 0,
            panes: Panes {
                vars: false,
                journal: false,
                output: true,
            },
            selected: None,
            scroll: 0,
            status: None,
            fatal: None,
            end: None,
            screen: Screen::Run,
            end_scroll: 0,
            quitting: false,
            detached: false,
            exit: false,
            now,
            wall,
            clock: None,
            running_since: None,
            spinner: 0,
            shown_minute: 0,
            dirty: true,
        }
    }

    /// The incident id, once known.
    pub fn incident_id(&self) -> Option<&str> {
        self.state.as_ref().map(|s| s.incident_id.as_str())
    }

    /// The step the run is at: the one the engine waits on, else the running one, else the
    /// first unsettled one.
    pub fn current(&self) -> Option<usize> {
        let s = self.state.as_ref()?;
        if let Some(i) = self
            .waiting
            .as_ref()
            .and_then(Waiting::step)
            .and_then(|id| s.runbook.index_of(id))
        {
            return Some(i);
        }
        s.steps
            .iter()
            .position(|x| matches!(x.status, StepStatus::Running { .. }))
            .or_else(|| s.cursor())
    }

    /// The step shown in the panel.
    pub fn viewed(&self) -> Option<usize> {
        self.selected.or_else(|| self.current())
    }

    /// The runbook step at `i`.
    pub fn step(&self, i: usize) -> Option<&Step> {
        self.state.as_ref().and_then(|s| s.runbook.steps.get(i))
    }

    /// Is a step running (the engine works and waits for nobody)?
    pub fn is_running(&self) -> bool {
        self.end.is_none() && self.waiting.is_none() && self.running_since.is_some()
    }

    /// The incident's elapsed time: the journal's clock, moving on while the engine runs.
    pub fn elapsed(&self) -> Duration {
        match self.clock {
            Some((ms, at)) if self.end.is_none() => {
                Duration::from_millis(ms) + self.now.saturating_duration_since(at)
            }
            Some((ms, _)) => Duration::from_millis(ms),
            None => Duration::from_millis(self.state.as_ref().map_or(0, |s| s.last_mono_ms)),
        }
    }

    /// How long the running step has run in this session.
    pub fn running_for(&self, step: &str) -> Option<Duration> {
        match &self.running_since {
            Some((id, at)) if id == step && self.end.is_none() => {
                Some(self.now.saturating_duration_since(*at))
            }
            _ => None,
        }
    }

    /// The keymap that applies now.
    pub fn key_mode(&self) -> KeyMode {
        if self.fatal.is_some() || self.screen == Screen::DrillEnd {
            KeyMode::End
        } else if self.help {
            KeyMode::Help
        } else if let Some(d) = &self.dialog {
            d.key_mode()
        } else {
            KeyMode::Run
        }
    }

    fn say(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some(Status {
            level,
            text: text.into(),
        });
    }

    fn on_tick(&mut self) {
        if self.is_running() {
            self.spinner = self.spinner.wrapping_add(1);
            self.dirty = true;
        }
        let minute = self.elapsed().as_secs() / 60;
        if minute != self.shown_minute {
            self.shown_minute = minute;
            self.dirty = true;
        }
    }

    /// Takes one event; returns a command for the engine, if any.
    pub fn handle(
        &mut self,
        event: Event,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Option<EngineCommand> {
        self.now = now;
        self.wall = wall;
        match event {
            Event::Tick => {
                self.on_tick();
                None
            }
            Event::Resize(..) => {
                self.dirty = true;
                None
            }
            Event::Engine(e) => {
                self.on_engine(e);
                self.dirty = true;
                None
            }
            Event::Key(key) => {
                self.dirty = true;
                let mode = self.key_mode();
                match keymap::action(mode, key) {
                    Some(action) => self.update(action),
                    None => {
                        if mode == KeyMode::Text
                            && let Some(d) = self.dialog.as_mut()
                        {
                            d.edit(key, wall);
                        }
                        None
                    }
                }
            }
            Event::Paste(mut text) => {
                if let Some(d) = self.dialog.as_mut() {
                    self.dirty |= d.paste(&text, wall);
                }
                // Pasted text may be a secret: do not leave it behind in freed memory.
                zeroize::Zeroize::zeroize(&mut text);
                None
            }
            Event::Hangup => self.hang_up(),
            Event::EngineClosed => {
                self.engine_gone();
                None
            }
        }
    }

    /// The terminal went away: quit the engine (everything is journaled) and stop drawing.
    fn hang_up(&mut self) -> Option<EngineCommand> {
        self.detached = true;
        self.dialog = None;
        if self.end.is_some() || self.quitting {
            self.exit = true;
            return None;
        }
        self.quitting = true;
        Some(EngineCommand::Quit)
    }

    /// The engine can no longer be reached.
    pub fn engine_gone(&mut self) {
        self.dirty = true;
        if self.end.is_some() {
            // Expected right after `Finished`: what that decided stands (leave, or keep the
            // end screen until the operator leaves it).
            if self.detached {
                self.exit = true;
            }
            return;
        }
        if self.quitting || self.detached {
            self.exit = true;
            return;
        }
        self.fatal = Some(
            "the engine stopped without finishing; everything up to here is in the journal".into(),
        );
        self.end = Some(RunEnd::Fatal);
    }

    /// Should the loop end?
    pub fn done(&self) -> bool {
        self.exit
    }

    /// Draws the whole screen.
    pub fn render(&self, frame: &mut Frame) {
        crate::tui::view::render_app(self, frame);
    }

    /// Was something changed since the last call (so a frame is due)?
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty) && !self.detached
    }
}

impl Ui for App {
    fn handle(&mut self, event: Event, now: Instant, wall: DateTime<Utc>) -> Option<EngineCommand> {
        App::handle(self, event, now, wall)
    }

    fn render(&self, frame: &mut Frame) {
        App::render(self, frame);
    }

    fn take_dirty(&mut self) -> bool {
        App::take_dirty(self)
    }

    fn done(&self) -> bool {
        App::done(self)
    }

    fn engine_gone(&mut self) {
        App::engine_gone(self);
    }
}

#[cfg(test)]
pub(crate) mod tests;
