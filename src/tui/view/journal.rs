//! The journal tail: the last records, newest at the bottom.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

use crate::tui::tail::{Tail, Tone};
use crate::tui::theme::Theme;

/// Draws the last records that fit.
pub fn render(tail: &Tail, area: Rect, buf: &mut Buffer, t: Theme) {
    let block = Block::bordered().border_style(t.dim()).title(" Journal ");
    let inner = block.inner(area);
    block.render(area, buf);
    let rows = usize::from(inner.height);
    for (n, l) in tail.last(rows).enumerate() {
        let style = match l.tone {
            Tone::Plain => Default::default(),
            Tone::Good => t.ok(),
            Tone::Bad => t.fail(),
            Tone::Attention => t.warn(),
        };
        let line = Line::from(vec![
            Span::styled(
                format!("#{:<5} {} ", l.seq, l.ts.format("%H:%M:%S")),
                t.dim(),
            ),
            Span::styled(l.text.clone(), style),
        ]);
        let y = inner.y + u16::try_from(n).unwrap_or(0);
        line.render(Rect::new(inner.x, y, inner.width, 1), buf);
    }
}

#[cfg(test)]
mod tests {
    use ratatui::style::{Color, Modifier, Style};

    use super::*;
    use crate::engine::record::{Event, Outcome};
    use crate::tui::fixture;

    #[test]
    fn renders_the_last_records_with_their_tone() {
        let mut tail = Tail::default();
        tail.push(
            1,
            &fixture::rec(
                0,
                Event::NoteAdded {
                    step: None,
                    text: "old".into(),
                },
            ),
        );
        tail.push(
            2,
            &fixture::rec(1, fixture::completed("read", Outcome::Passed, 1200)),
        );
        tail.push(
            3,
            &fixture::rec(
                2,
                Event::StepSkipped {
                    step: "safe".into(),
                    reason: "CHG-42".into(),
                    overridden: true,
                },
            ),
        );
        let area = Rect::new(0, 0, 46, 4);
        let mut buf = Buffer::empty(area);
        render(&tail, area, &mut buf, Theme::new(false));
        let mut expected = Buffer::with_lines(vec![
            "┌ Journal ───────────────────────────────────┐",
            "│#2     03:15:01 read passed in 1.200s       │",
            "│#3     03:15:02 safe OVERRIDDEN: CHG-42     │",
            "└────────────────────────────────────────────┘",
        ]);
        let dim = Style::new().fg(Color::DarkGray);
        for y in [0, 3] {
            expected.set_style(Rect::new(0, y, 46, 1), dim);
        }
        for y in [1, 2] {
            expected.set_style(Rect::new(0, y, 1, 1), dim);
            expected.set_style(Rect::new(45, y, 1, 1), dim);
            expected.set_style(Rect::new(1, y, 16, 1), dim);
        }
        expected.set_style(Rect::new(17, 1, 21, 1), Style::new().fg(Color::Green));
        expected.set_style(
            Rect::new(17, 2, 23, 1),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
        assert_eq!(buf, expected);
    }
}
