//! The help overlay, generated from the keymap: every key, by where it applies.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use crate::tui::keymap::{KeyMode, bindings};
use crate::tui::theme::Theme;
use crate::tui::widget::popup::centered;

/// The sections shown on the run screen.
pub const RUN_SECTIONS: [KeyMode; 5] = [
    KeyMode::Run,
    KeyMode::Text,
    KeyMode::Choice,
    KeyMode::End,
    KeyMode::Help,
];

/// The sections shown on the start screen.
pub const START_SECTIONS: [KeyMode; 4] = [
    KeyMode::Start,
    KeyMode::Choice,
    KeyMode::Text,
    KeyMode::Help,
];

/// The help text for these sections.
pub fn lines(sections: &[KeyMode], t: Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for (n, mode) in sections.iter().enumerate() {
        if n > 0 {
            out.push(Line::default());
        }
        out.push(Line::styled(mode.title().to_owned(), t.heading()));
        for b in bindings(*mode) {
            let keys = b
                .keys
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" / ");
            out.push(Line::from(vec![
                Span::styled(format!("  {keys:<16}"), t.key()),
                Span::raw(format!(" {}", b.help)),
            ]));
        }
        if *mode == KeyMode::Choice {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<16}", "letter"), t.key()),
                Span::raw(" the choice with that letter"),
            ]));
        }
        if *mode == KeyMode::Text {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<16}", "other keys"), t.key()),
                Span::raw(" edit the field (Ctrl-u clears it, Home/End, ←/→)"),
            ]));
        }
    }
    out.push(Line::default());
    out.push(Line::styled(
        "Everything is journaled: quitting is always safe, and the incident can be resumed.",
        t.dim(),
    ));
    out
}

/// Draws the overlay.
pub fn render(sections: &[KeyMode], scroll: u16, area: Rect, buf: &mut Buffer, t: Theme) {
    let lines = lines(sections, t);
    let want = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, 84, want.min(area.height.saturating_sub(2)));
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(t.heading())
        .title(" Keys (? or Esc closes) ");
    Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .render(rect, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::BINDINGS;

    #[test]
    fn help_lists_every_binding() {
        let text: String = lines(&RUN_SECTIONS, Theme::new(true))
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
                    + "\n"
            })
            .collect();
        let start: String = lines(&START_SECTIONS, Theme::new(true))
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
                    + "\n"
            })
            .collect();
        for b in BINDINGS {
            let listed = if b.mode == KeyMode::Start {
                &start
            } else {
                &text
            };
            assert!(
                listed.contains(b.help),
                "help misses '{}' ({:?})",
                b.help,
                b.mode
            );
        }
    }
}
