//! A one-line text field. Plain fields use tui-input; secret fields keep their text in a
//! zeroized buffer of their own (tui-input copies text into a yank buffer and clones on
//! reset), and are drawn as bullets only.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use secrecy::SecretString;
use tui_input::{Input, InputRequest};
use zeroize::Zeroizing;

use crate::tui::event::{Code, Key};

/// What a field holds.
pub enum FieldText {
    Plain(Input),
    Secret(Zeroizing<String>),
}

impl std::fmt::Debug for FieldText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldText::Plain(i) => write!(f, "Plain({:?})", i.value()),
            FieldText::Secret(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

/// A labelled text field.
#[derive(Debug)]
pub struct TextField {
    pub text: FieldText,
    /// Shown, dimmed, while the field is empty.
    pub placeholder: String,
}

/// Room reserved up front so typing a secret never reallocates (and leaves copies behind).
const SECRET_CAPACITY: usize = 1024;

impl TextField {
    /// An empty plain field.
    pub fn plain(placeholder: impl Into<String>) -> TextField {
        TextField {
            text: FieldText::Plain(Input::default()),
            placeholder: placeholder.into(),
        }
    }

    /// An empty secret field.
    pub fn secret(placeholder: impl Into<String>) -> TextField {
        TextField {
            text: FieldText::Secret(Zeroizing::new(String::with_capacity(SECRET_CAPACITY))),
            placeholder: placeholder.into(),
        }
    }

    /// Is this a secret field?
    pub fn is_secret(&self) -> bool {
        matches!(self.text, FieldText::Secret(_))
    }

    /// The text of a plain field; `None` for a secret.
    pub fn plain_text(&self) -> Option<&str> {
        match &self.text {
            FieldText::Plain(i) => Some(i.value()),
            FieldText::Secret(_) => None,
        }
    }

    /// Is the field empty?
    pub fn is_empty(&self) -> bool {
        self.chars() == 0
    }

    /// Characters typed.
    pub fn chars(&self) -> usize {
        match &self.text {
            FieldText::Plain(i) => i.value().chars().count(),
            FieldText::Secret(s) => s.chars().count(),
        }
    }

    /// Applies an editing key; returns true when the field changed.
    pub fn edit(&mut self, key: Key) -> bool {
        match &mut self.text {
            FieldText::Plain(input) => match request(key) {
                Some(req) => input.handle(req).is_some(),
                None => false,
            },
            FieldText::Secret(s) => match (key.code, key.ctrl, key.alt) {
                (Code::Char('u'), true, false) => {
                    let changed = !s.is_empty();
                    s.clear();
                    changed
                }
                (Code::Char(c), false, _) => push_secret(s, c),
                (Code::Backspace, _, _) => s.pop().is_some(),
                _ => false,
            },
        }
    }

    /// Inserts pasted text (line breaks dropped); returns true when the field changed.
    pub fn paste(&mut self, text: &str) -> bool {
        let mut changed = false;
        for c in text.chars().filter(|c| !c.is_control()) {
            changed |= match &mut self.text {
                FieldText::Plain(input) => input.handle(InputRequest::InsertChar(c)).is_some(),
                FieldText::Secret(s) => push_secret(s, c),
            };
        }
        changed
    }

    /// Takes the text out as a secret, leaving the field empty.
    pub fn take_secret(&mut self) -> SecretString {
        match &mut self.text {
            FieldText::Plain(input) => SecretString::from(input.value_and_reset()),
            FieldText::Secret(s) => {
                let out = SecretString::from(s.as_str().to_owned());
                s.clear();
                out
            }
        }
    }

    /// Draws the field into one row; returns where the cursor goes when focused.
    pub fn render(
        &self,
        area: Rect,
        buf: &mut Buffer,
        style: Style,
        placeholder: Style,
        focused: bool,
    ) -> Option<Position> {
        if area.width == 0 || area.height == 0 {
            return None;
        }
        let width = usize::from(area.width);
        buf.set_style(Rect { height: 1, ..area }, style);
        if self.is_empty() {
            if !self.placeholder.is_empty() {
                buf.set_stringn(area.x, area.y, &self.placeholder, width, placeholder);
            }
            return focused.then_some(Position::new(area.x, area.y));
        }
        let (shown, cursor) = match &self.text {
            FieldText::Plain(input) => {
                let scroll = input.visual_scroll(width.saturating_sub(1));
                let shown: String = input.value().chars().skip(scroll).collect();
                (shown, input.visual_cursor().saturating_sub(scroll))
            }
            FieldText::Secret(s) => {
                let n = s.chars().count();
                let visible = n.min(width.saturating_sub(1));
                ("•".repeat(visible), visible)
            }
        };
        buf.set_stringn(area.x, area.y, &shown, width, style);
        let x = area
            .x
            .saturating_add(u16::try_from(cursor).unwrap_or(u16::MAX));
        focused.then_some(Position::new(x.min(area.right().saturating_sub(1)), area.y))
    }
}

fn push_secret(s: &mut Zeroizing<String>, c: char) -> bool {
    if c.is_control() || s.len() + c.len_utf8() > SECRET_CAPACITY {
        return false;
    }
    s.push(c);
    true
}

/// The tui-input request for an editing key.
fn request(key: Key) -> Option<InputRequest> {
    use InputRequest as R;
    Some(match (key.code, key.ctrl, key.alt) {
        (Code::Char(c), false, false) => R::InsertChar(c),
        (Code::Backspace, false, false) | (Code::Char('h'), true, false) => R::DeletePrevChar,
        (Code::Backspace, _, true) | (Code::Char('w'), true, false) => R::DeletePrevWord,
        (Code::Delete, false, _) => R::DeleteNextChar,
        (Code::Left, false, false) | (Code::Char('b'), true, false) => R::GoToPrevChar,
        (Code::Right, false, false) | (Code::Char('f'), true, false) => R::GoToNextChar,
        (Code::Left, true, _) | (Code::Char('b'), false, true) => R::GoToPrevWord,
        (Code::Right, true, _) | (Code::Char('f'), false, true) => R::GoToNextWord,
        (Code::Home, _, _) | (Code::Char('a'), true, false) => R::GoToStart,
        (Code::End, _, _) | (Code::Char('e'), true, false) => R::GoToEnd,
        (Code::Char('u'), true, false) => R::DeleteLine,
        (Code::Char('k'), true, false) => R::DeleteTillEnd,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn typed(field: &mut TextField, s: &str) {
        for c in s.chars() {
            field.edit(Key::char(c));
        }
    }

    #[test]
    fn plain_fields_edit() {
        let mut f = TextField::plain("");
        typed(&mut f, "48hx");
        assert!(f.edit(Key::plain(Code::Backspace)));
        assert_eq!(f.plain_text(), Some("48h"));
        f.edit(Key::plain(Code::Home));
        f.edit(Key::char('1'));
        assert_eq!(f.plain_text(), Some("148h"));
        f.edit(Key::ctrl('u'));
        assert!(f.is_empty());
        assert!(f.paste("2026-11-22T03:15:00Z\n"));
        assert_eq!(f.plain_text(), Some("2026-11-22T03:15:00Z"));
    }

    #[test]
    fn secret_fields_never_show_their_text() {
        let mut f = TextField::secret("");
        typed(&mut f, "hunter2");
        assert!(f.is_secret());
        assert_eq!(f.plain_text(), None);
        assert_eq!(f.chars(), 7);
        assert!(!format!("{f:?}").contains("hunter2"));
        let area = Rect::new(0, 0, 20, 1);
        let mut buf = Buffer::empty(area);
        f.render(area, &mut buf, Style::default(), Style::default(), true);
        let row: String = (0..20).map(|x| buf[(x, 0)].symbol().to_owned()).collect();
        assert_eq!(row.trim_end(), "•••••••");
        f.edit(Key::plain(Code::Backspace));
        assert_eq!(f.take_secret().expose_secret(), "hunter");
        assert!(f.is_empty());
    }

    #[test]
    fn placeholder_shows_when_empty_and_cursor_follows_text() {
        let mut f = TextField::plain("default 48h");
        let area = Rect::new(2, 1, 15, 1);
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 3));
        let cur = f.render(area, &mut buf, Style::default(), Style::default(), true);
        assert_eq!(cur, Some(Position::new(2, 1)));
        assert_eq!(buf[(2, 1)].symbol(), "d");
        typed(&mut f, "90s");
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 3));
        let cur = f.render(area, &mut buf, Style::default(), Style::default(), false);
        assert_eq!(cur, None);
        let cur = f.render(area, &mut buf, Style::default(), Style::default(), true);
        assert_eq!(cur, Some(Position::new(5, 1)));
        assert_eq!(buf[(4, 1)].symbol(), "s");
    }

    #[test]
    fn long_text_scrolls_to_keep_the_cursor_visible() {
        let mut f = TextField::plain("");
        typed(&mut f, "abcdefghijklmnopqrstuvwxyz");
        let area = Rect::new(0, 0, 10, 1);
        let mut buf = Buffer::empty(area);
        let cur = f.render(area, &mut buf, Style::default(), Style::default(), true);
        let x = cur.map(|p| p.x).unwrap_or(99);
        assert!(x < 10, "cursor at {x}");
        assert_eq!(buf[(x - 1, 0)].symbol(), "z");
    }
}
