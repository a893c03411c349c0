//! The status line and the key hints for what can be done now.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Widget;

use crate::engine::event::Waiting;
use crate::tui::action::Action;
use crate::tui::app::{App, Level, Screen};
use crate::tui::keymap::{KeyMode, keys_for};
use crate::tui::view::hint_line;

/// The hints for the current state, most important first.
pub fn hints(app: &App) -> Vec<(String, &'static str)> {
    let k = |mode, action| keys_for(mode, action);
    match app.key_mode() {
        KeyMode::End => {
            let mut v = vec![(k(KeyMode::End, Action::Leave), "leave")];
            if app.screen == Screen::DrillEnd {
                v.push(("↑/↓".into(), "scroll"));
                v.push((k(KeyMode::End, Action::ToggleJournal), "journal"));
            }
            v
        }
        KeyMode::Help => vec![
            (k(KeyMode::Help, Action::Close), "close help"),
            ("↑/↓".into(), "scroll"),
        ],
        KeyMode::Text => vec![
            ("Enter".into(), "send"),
            ("Tab".into(), "next field"),
            ("Esc".into(), "close"),
            ("Ctrl-c".into(), "quit"),
        ],
        KeyMode::Choice => vec![
            ("letter".into(), "choose"),
            ("↑/↓ Enter".into(), "pick"),
            ("Esc".into(), "close"),
        ],
        KeyMode::Run | KeyMode::Start => run_hints(app),
    }
}

fn run_hints(app: &App) -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = Vec::new();
    let primary = match &app.waiting {
        Some(Waiting::Confirm { .. }) => Some("confirm"),
        Some(Waiting::Input { .. }) => Some("enter value"),
        Some(Waiting::Run { .. }) => Some("run"),
        Some(Waiting::Failed { .. } | Waiting::GateClosed { .. } | Waiting::Blocked { .. }) => {
            Some("retry")
        }
        Some(Waiting::InDoubt { .. }) => Some("decide"),
        Some(Waiting::SecretNeeded { .. }) => Some("enter secret"),
        None => None,
    };
    if app.selected.is_some() {
        v.push(("g".into(), "back to current"));
    } else if let Some(p) = primary {
        v.push(("Enter".into(), p));
    }
    if app.waiting.is_some() {
        v.push(("s".into(), "skip"));
    }
    if app.is_running() {
        v.push(("x".into(), "cancel"));
    }
    v.push(("n".into(), "note"));
    v.push(("v".into(), "vars"));
    v.push(("l".into(), "journal"));
    v.push(("?".into(), "help"));
    v.push(("q".into(), "quit"));
    v
}

/// Draws the key hints.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let mut line = hint_line(&hints(app), app.theme);
    line.spans.insert(0, " ".into());
    line.render(area, buf);
}

/// Draws the status line.
pub fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let Some(s) = &app.status else {
        return;
    };
    let style = match s.level {
        Level::Info => t.dim(),
        Level::Warn => t.warn(),
        Level::Error => t.fail(),
    };
    Line::styled(format!(" {}", s.text), style).render(area, buf);
}
