//! Everything that reaches the UI loop, and our own key type: crossterm's events are converted
//! here, at the edge, and nowhere else.

use std::fmt;

use ratatui::crossterm::event as ct;

use crate::engine::event::EngineEvent;

/// An input to the UI.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key was pressed.
    Key(Key),
    /// Text was pasted (bracketed paste).
    Paste(String),
    /// The terminal changed size.
    Resize(u16, u16),
    /// The engine reported something.
    Engine(EngineEvent),
    /// The slow clock ticked.
    Tick,
    /// The terminal went away (hang-up, SIGTERM) or its input closed: leave safely now.
    Hangup,
    /// The engine's event channel closed without a `Finished`.
    EngineClosed,
}

/// A key without its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

/// A key press with its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: Code,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    /// A key without modifiers.
    pub const fn plain(code: Code) -> Key {
        Key {
            code,
            ctrl: false,
            alt: false,
        }
    }

    /// A character key.
    pub const fn char(c: char) -> Key {
        Key::plain(Code::Char(c))
    }

    /// Control plus a character.
    pub const fn ctrl(c: char) -> Key {
        Key {
            code: Code::Char(c),
            ctrl: true,
            alt: false,
        }
    }

    /// Converts a crossterm key event; releases and repeats of non-text keys are dropped.
    pub fn from_crossterm(k: &ct::KeyEvent) -> Option<Key> {
        if k.kind == ct::KeyEventKind::Release {
            return None;
        }
        let code = match k.code {
            ct::KeyCode::Char(c) => Code::Char(c),
            ct::KeyCode::Enter => Code::Enter,
            ct::KeyCode::Esc => Code::Esc,
            ct::KeyCode::Tab => Code::Tab,
            ct::KeyCode::BackTab => Code::BackTab,
            ct::KeyCode::Backspace => Code::Backspace,
            ct::KeyCode::Delete => Code::Delete,
            ct::KeyCode::Up => Code::Up,
            ct::KeyCode::Down => Code::Down,
            ct::KeyCode::Left => Code::Left,
            ct::KeyCode::Right => Code::Right,
            ct::KeyCode::Home => Code::Home,
            ct::KeyCode::End => Code::End,
            ct::KeyCode::PageUp => Code::PageUp,
            ct::KeyCode::PageDown => Code::PageDown,
            _ => return None,
        };
        if k.kind == ct::KeyEventKind::Repeat && !matches!(code, Code::Char(_) | Code::Backspace) {
            return None;
        }
        Some(Key {
            code,
            ctrl: k.modifiers.contains(ct::KeyModifiers::CONTROL),
            alt: k.modifiers.contains(ct::KeyModifiers::ALT),
        })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        match self.code {
            Code::Char(' ') => f.write_str("Space"),
            Code::Char(c) => write!(f, "{c}"),
            Code::Enter => f.write_str("Enter"),
            Code::Esc => f.write_str("Esc"),
            Code::Tab => f.write_str("Tab"),
            Code::BackTab => f.write_str("Shift-Tab"),
            Code::Backspace => f.write_str("Backspace"),
            Code::Delete => f.write_str("Delete"),
            Code::Up => f.write_str("↑"),
            Code::Down => f.write_str("↓"),
            Code::Left => f.write_str("←"),
            Code::Right => f.write_str("→"),
            Code::Home => f.write_str("Home"),
            Code::End => f.write_str("End"),
            Code::PageUp => f.write_str("PgUp"),
            Code::PageDown => f.write_str("PgDn"),
        }
    }
}

/// Converts a terminal event; `None` for events the UI ignores (mouse, focus, releases).
pub fn from_crossterm(ev: ct::Event) -> Option<Event> {
    match ev {
        ct::Event::Key(k) => Key::from_crossterm(&k).map(Event::Key),
        ct::Event::Paste(text) => Some(Event::Paste(text)),
        ct::Event::Resize(w, h) => Some(Event::Resize(w, h)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct_key(code: ct::KeyCode, mods: ct::KeyModifiers, kind: ct::KeyEventKind) -> ct::KeyEvent {
        ct::KeyEvent {
            code,
            modifiers: mods,
            kind,
            state: ct::KeyEventState::NONE,
        }
    }

    #[test]
    fn presses_convert_and_releases_do_not() {
        let press = ct_key(
            ct::KeyCode::Char('c'),
            ct::KeyModifiers::CONTROL,
            ct::KeyEventKind::Press,
        );
        assert_eq!(Key::from_crossterm(&press), Some(Key::ctrl('c')));
        let release = ct_key(
            ct::KeyCode::Char('q'),
            ct::KeyModifiers::NONE,
            ct::KeyEventKind::Release,
        );
        assert_eq!(Key::from_crossterm(&release), None);
        let repeat_enter = ct_key(
            ct::KeyCode::Enter,
            ct::KeyModifiers::NONE,
            ct::KeyEventKind::Repeat,
        );
        assert_eq!(
            Key::from_crossterm(&repeat_enter),
            None,
            "a held Enter must not confirm twice"
        );
        let repeat_char = ct_key(
            ct::KeyCode::Char('x'),
            ct::KeyModifiers::NONE,
            ct::KeyEventKind::Repeat,
        );
        assert_eq!(Key::from_crossterm(&repeat_char), Some(Key::char('x')));
    }

    #[test]
    fn shifted_letters_keep_their_case() {
        let k = ct_key(
            ct::KeyCode::Char('A'),
            ct::KeyModifiers::SHIFT,
            ct::KeyEventKind::Press,
        );
        assert_eq!(Key::from_crossterm(&k), Some(Key::char('A')));
    }

    #[test]
    fn other_events() {
        assert!(matches!(
            from_crossterm(ct::Event::Resize(80, 24)),
            Some(Event::Resize(80, 24))
        ));
        assert!(
            matches!(from_crossterm(ct::Event::Paste("x".into())), Some(Event::Paste(t)) if t == "x")
        );
        assert!(from_crossterm(ct::Event::FocusGained).is_none());
    }

    #[test]
    fn keys_display_for_help() {
        assert_eq!(Key::ctrl('c').to_string(), "Ctrl-c");
        assert_eq!(Key::plain(Code::BackTab).to_string(), "Shift-Tab");
        assert_eq!(Key::char('?').to_string(), "?");
    }
}
