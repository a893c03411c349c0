//! The start screen's state: incidents to resume, runbooks to start, and the mode picker.

use std::time::Instant;

use chrono::{DateTime, Utc};
use ratatui::Frame;

use crate::engine::command::EngineCommand;
use crate::engine::incident::Summary;
use crate::engine::record::Mode;
use crate::tui::action::Action;
use crate::tui::event::{Event, Key};
use crate::tui::keymap::{self, KeyMode};
use crate::tui::runner::Ui;
use crate::tui::theme::Theme;
use crate::tui::widget::text_field::TextField;
use crate::tui::{RunbookEntry, StartChoice, TuiOptions};

/// Which list has the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Incidents,
    Runbooks,
}

/// The modes a runbook can start in, in the order offered.
pub const MODES: [(char, Mode, &str); 3] = [
    (
        'd',
        Mode::Drill,
        "against the built-in sandbox; nothing real is touched",
    ),
    (
        'r',
        Mode::DryRun,
        "read-only checks against the real systems; commands are only shown",
    ),
    (
        'l',
        Mode::Live,
        "commands change the real systems, after your confirmation",
    ),
];

/// Picking a mode for a runbook; live needs the word typed.
#[derive(Debug)]
pub struct ModePicker {
    pub runbook: usize,
    pub choice: usize,
    /// Set once live is picked: type `live` to confirm.
    pub live_confirm: Option<TextField>,
}

/// The start screen.
pub struct StartApp {
    pub theme: Theme,
    pub incidents: Vec<Summary>,
    pub runbooks: Vec<RunbookEntry>,
    pub focus: List,
    pub incident: usize,
    pub runbook: usize,
    pub picker: Option<ModePicker>,
    pub help: bool,
    pub message: Option<String>,
    /// The time ages are measured against.
    pub wall: DateTime<Utc>,
    choice: Option<StartChoice>,
    dirty: bool,
}

impl StartApp {
    /// A start screen over these incidents and runbooks.
    pub fn new(
        incidents: Vec<Summary>,
        runbooks: Vec<RunbookEntry>,
        opts: TuiOptions,
        wall: DateTime<Utc>,
    ) -> StartApp {
        let focus = if incidents.iter().any(Summary::is_unfinished) || runbooks.is_empty() {
            List::Incidents
        } else {
            List::Runbooks
        };
        StartApp {
            theme: Theme::new(opts.no_color),
            incidents,
            runbooks,
            focus,
            incident: 0,
            runbook: 0,
            picker: None,
            help: false,
            message: None,
            wall,
            choice: None,
            dirty: true,
        }
    }

    /// What was picked (Quit when nothing was).
    pub fn choice(&self) -> StartChoice {
        self.choice.clone().unwrap_or(StartChoice::Quit)
    }

    /// The keymap that applies now.
    pub fn key_mode(&self) -> KeyMode {
        match &self.picker {
            _ if self.help => KeyMode::Help,
            Some(p) if p.live_confirm.is_some() => KeyMode::Text,
            Some(_) => KeyMode::Choice,
            None => KeyMode::Start,
        }
    }

    fn on_key(&mut self, key: Key) {
        let mode = self.key_mode();
        match keymap::action(mode, key) {
            Some(a) => self.update(a),
            None => {
                if mode == KeyMode::Text
                    && let Some(f) = self.picker.as_mut().and_then(|p| p.live_confirm.as_mut())
                {
                    f.edit(key);
                }
            }
        }
    }

    /// Acts on one action.
    pub fn update(&mut self, action: Action) {
        self.message = None;
        match self.key_mode() {
            KeyMode::Help => {
                if matches!(action, Action::Close | Action::Help) {
                    self.help = false;
                }
            }
            KeyMode::Choice | KeyMode::Text => self.update_picker(action),
            _ => self.update_lists(action),
        }
    }

    fn update_lists(&mut self, action: Action) {
        let len = match self.focus {
            List::Incidents => self.incidents.len(),
            List::Runbooks => self.runbooks.len(),
        };
        let sel = match self.focus {
            List::Incidents => &mut self.incident,
            List::Runbooks => &mut self.runbook,
        };
        match action {
            Action::Up => *sel = sel.saturating_sub(1),
            Action::Down => *sel = (*sel + 1).min(len.saturating_sub(1)),
            Action::SwitchList => {
                self.focus = match self.focus {
                    List::Incidents => List::Runbooks,
                    List::Runbooks => List::Incidents,
                }
            }
            Action::Help => self.help = true,
            Action::Quit => self.choice = Some(StartChoice::Quit),
            Action::Primary => self.pick(),
            _ => {}
        }
    }

    fn pick(&mut self) {
        match self.focus {
            List::Incidents => match self.incidents.get(self.incident) {
                Some(s) if s.is_unfinished() => {
                    self.choice = Some(StartChoice::Resume(s.dir.clone()))
                }
                Some(s) => {
                    self.message = Some(format!(
                        "incident {} is {}; nothing to resume (export it with `canton-dr export {}`)",
                        s.id, s.status, s.id
                    ));
                }
                None => self.message = Some("no incident to resume".into()),
            },
            List::Runbooks => {
                if self.runbooks.get(self.runbook).is_some() {
                    self.picker = Some(ModePicker {
                        runbook: self.runbook,
                        choice: 0,
                        live_confirm: None,
                    });
                } else {
                    self.message = Some("no runbook to start".into());
                }
            }
        }
    }

    fn update_picker(&mut self, action: Action) {
        let Some(p) = self.picker.as_mut() else {
            return;
        };
        if let Some(field) = &p.live_confirm {
            match action {
                Action::Close => p.live_confirm = None,
                Action::Quit => self.picker = None,
                Action::Submit => {
                    if field.plain_text().map(str::trim) == Some("live") {
                        self.start(Mode::Live);
                    } else {
                        self.message = Some("type the word live to start a live run".into());
                    }
                }
                _ => {}
            }
            return;
        }
        match action {
            Action::Close | Action::Quit => self.picker = None,
            Action::Up => p.choice = p.choice.saturating_sub(1),
            Action::Down => p.choice = (p.choice + 1).min(MODES.len() - 1),
            Action::Submit => {
                let mode = MODES[p.choice].1;
                self.choose_mode(mode);
            }
            Action::Choose(c) => {
                if let Some(i) = MODES.iter().position(|(k, _, _)| *k == c) {
                    p.choice = i;
                    self.choose_mode(MODES[i].1);
                }
            }
            _ => {}
        }
    }

    fn choose_mode(&mut self, mode: Mode) {
        if mode == Mode::Live {
            if let Some(p) = self.picker.as_mut() {
                p.live_confirm = Some(TextField::plain(""));
            }
        } else {
            self.start(mode);
        }
    }

    fn start(&mut self, mode: Mode) {
        let Some(p) = &self.picker else {
            return;
        };
        if let Some(rb) = self.runbooks.get(p.runbook) {
            self.choice = Some(StartChoice::Start {
                runbook: rb.path.clone(),
                mode,
            });
        }
    }
}

impl Ui for StartApp {
    fn handle(
        &mut self,
        event: Event,
        _now: Instant,
        wall: DateTime<Utc>,
    ) -> Option<EngineCommand> {
        self.wall = wall;
        match event {
            Event::Key(k) => {
                self.on_key(k);
                self.dirty = true;
            }
            Event::Paste(text) => {
                if let Some(f) = self.picker.as_mut().and_then(|p| p.live_confirm.as_mut()) {
                    self.dirty |= f.paste(&text);
                }
            }
            Event::Resize(..) => self.dirty = true,
            Event::Hangup => self.choice = Some(StartChoice::Quit),
            Event::Tick | Event::Engine(_) | Event::EngineClosed => {}
        }
        None
    }

    fn render(&self, frame: &mut Frame) {
        crate::tui::view::start::render(self, frame);
    }

    fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    fn done(&self) -> bool {
        self.choice.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::event::Code;
    use crate::tui::view::screens::start_app;

    fn key(app: &mut StartApp, k: Key) {
        let (now, wall) = (Instant::now(), crate::tui::fixture::t0());
        Ui::handle(app, Event::Key(k), now, wall);
    }

    #[test]
    fn resumes_the_selected_unfinished_incident() {
        let mut app = start_app();
        assert_eq!(
            app.focus,
            List::Incidents,
            "unfinished incidents come first"
        );
        key(&mut app, Key::plain(Code::Enter));
        assert!(app.done());
        assert_eq!(
            app.choice(),
            StartChoice::Resume("/data/incidents/20261122-031500-validator-restore-3f2a".into())
        );
    }

    #[test]
    fn finished_incidents_are_not_resumed() {
        let mut app = start_app();
        key(&mut app, Key::char('j'));
        key(&mut app, Key::plain(Code::Enter));
        assert!(!app.done());
        assert!(
            app.message
                .as_deref()
                .is_some_and(|m| m.contains("completed"))
        );
    }

    #[test]
    fn a_drill_starts_at_once() {
        let mut app = start_app();
        key(&mut app, Key::plain(Code::Tab));
        key(&mut app, Key::char('j'));
        key(&mut app, Key::plain(Code::Enter));
        assert_eq!(app.key_mode(), KeyMode::Choice);
        key(&mut app, Key::char('d'));
        assert_eq!(
            app.choice(),
            StartChoice::Start {
                runbook: "runbooks/integration-db-restore.toml".into(),
                mode: Mode::Drill
            }
        );
    }

    #[test]
    fn live_needs_the_word_typed() {
        let mut app = start_app();
        key(&mut app, Key::plain(Code::Tab));
        key(&mut app, Key::plain(Code::Enter));
        key(&mut app, Key::plain(Code::Down));
        key(&mut app, Key::plain(Code::Down));
        key(&mut app, Key::plain(Code::Enter));
        assert_eq!(app.key_mode(), KeyMode::Text);
        key(&mut app, Key::char('l'));
        key(&mut app, Key::char('i'));
        key(&mut app, Key::plain(Code::Enter));
        assert!(!app.done(), "'li' is not 'live'");
        key(&mut app, Key::char('v'));
        key(&mut app, Key::char('e'));
        key(&mut app, Key::plain(Code::Enter));
        assert_eq!(
            app.choice(),
            StartChoice::Start {
                runbook: "runbooks/validator-restore.toml".into(),
                mode: Mode::Live
            }
        );
    }

    #[test]
    fn escape_backs_out_and_q_quits() {
        let mut app = start_app();
        key(&mut app, Key::plain(Code::Tab));
        key(&mut app, Key::plain(Code::Enter));
        key(&mut app, Key::plain(Code::Esc));
        assert!(app.picker.is_none());
        assert!(!app.done());
        key(&mut app, Key::char('q'));
        assert_eq!(app.choice(), StartChoice::Quit);
        assert!(app.done());
    }

    #[test]
    fn nothing_to_pick() {
        let mut app = StartApp::new(
            Vec::new(),
            Vec::new(),
            TuiOptions::default(),
            crate::tui::fixture::t0(),
        );
        key(&mut app, Key::plain(Code::Enter));
        assert!(!app.done());
        assert!(app.message.is_some());
    }
}
