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
