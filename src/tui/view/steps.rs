//! The step list: one row per step with its status glyph, number, id and duration.

use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

use crate::engine::state::StepStatus;
use crate::tui::app::App;
use crate::tui::view::seconds;
use crate::tui::widget::glyph::{Mark, glyph};

/// The list's width in a body `total` columns wide.
pub fn width(app: &App, total: u16) -> u16 {
    let longest = app
        .state
        .as_ref()
        .and_then(|s| s.runbook.steps.iter().map(|x| x.id.chars().count()).max())
        .unwrap_or(10);
    // glyph, number, id, duration, borders and spaces
    let want = u16::try_from(longest + 18).unwrap_or(u16::MAX);
    want.clamp(24, (total * 2 / 5).max(24))
}

/// The first row shown so that `sel` stays visible, roughly centred.
pub fn first_row(sel: usize, rows: usize, total: usize) -> usize {
    if total <= rows {
        return 0;
    }
    sel.saturating_sub(rows / 2).min(total - rows)
}

/// Draws the list.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let Some(s) = &app.state else {
        return;
    };
    let settled = s.steps.iter().filter(|x| x.status.is_settled()).count();
    let block = Block::bordered()
        .border_style(t.dim())
        .title(format!(" Steps {settled}/{} ", s.steps.len()));
    let inner = block.inner(area);
    block.render(area, buf);
    let rows = usize::from(inner.height);
    if rows == 0 || inner.width == 0 {
        return;
    }
    let current = app.current();
    let viewed = app.viewed();
    let waiting_step = app.waiting.as_ref().and_then(|w| w.step());
    let first = first_row(viewed.unwrap_or(0), rows, s.steps.len());
    let width = usize::from(inner.width);
    for (row, i) in (first..s.steps.len()).take(rows).enumerate() {
        let step = &s.runbook.steps[i];
        let st = &s.steps[i];
        let running = app.running_for(&step.id);
        let mark = if running.is_some() && app.is_running() {
            Mark::Running(app.spinner)
        } else if Some(step.id.as_str()) == waiting_step {
            Mark::Waiting
        } else {
            Mark::Status
        };
        let (g, gs) = glyph(&st.status, mark, t);
        let dur = match running {
            Some(d) => Some(Duration::from_millis(st.duration_ms) + d),
            None if st.duration_ms > 0 || matches!(st.status, StepStatus::Done(_)) => {
                Some(Duration::from_millis(st.duration_ms))
            }
            None => None,
        };
        let dur = dur.map(seconds).unwrap_or_default();
        let num = format!("{:>2} ", i + 1);
        let room = width.saturating_sub(2 + num.len() + dur.chars().count() + 1);
        let mut id: String = step.id.chars().take(room).collect();
        if step.id.chars().count() > room && room > 0 {
            id.pop();
            id.push('…');
        }
        let pad = width.saturating_sub(2 + num.len() + id.chars().count() + dur.chars().count());
        let id_style = if Some(i) == current {
            t.strong()
        } else {
            Default::default()
        };
        let mut line = Line::from(vec![
            Span::styled(g, gs),
            Span::raw(" "),
            Span::styled(num, t.dim()),
            Span::styled(id, id_style),
            Span::raw(" ".repeat(pad)),
            Span::styled(dur, t.dim()),
        ]);
        if Some(i) == viewed {
            line = line.patch_style(t.selected());
        }
        let y = inner.y + u16::try_from(row).unwrap_or(0);
        line.render(Rect::new(inner.x, y, inner.width, 1), buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selection_stays_visible() {
        assert_eq!(first_row(0, 10, 60), 0);
        assert_eq!(first_row(30, 10, 60), 25);
        assert_eq!(first_row(59, 10, 60), 50);
        assert_eq!(first_row(5, 10, 8), 0);
    }
}
