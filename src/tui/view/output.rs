//! The output pane: a running command's output as it arrives, or the output the journal
//! kept for the viewed step.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Widget};

use crate::tui::app::App;

/// The output lines for the viewed step (live output first, else what the journal kept).
pub fn lines(app: &App) -> Vec<String> {
    let (Some(s), Some(i)) = (&app.state, app.viewed()) else {
        return Vec::new();
    };
    let id = &s.runbook.steps[i].id;
    if app.output_step.as_deref() == Some(id.as_str()) && !app.output.is_empty() {
        return app.output.iter().cloned().collect();
    }
    let Some(out) = &s.steps[i].output else {
        return Vec::new();
    };
    let mut v: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    v.extend(out.stderr.lines().map(|l| format!("stderr: {l}")));
    if out.truncated {
        v.push(format!(
            "(kept {} of {} bytes of output in the journal)",
            out.stdout.len() + out.stderr.len(),
            out.stdout_bytes + out.stderr_bytes
        ));
    }
    v
}

/// Draws the last lines that fit.
pub fn render(app: &App, lines: &[String], area: Rect, buf: &mut Buffer) {
    let block = Block::bordered()
        .border_style(app.theme.dim())
        .title(format!(" Output ({} lines) ", lines.len()));
    let inner = block.inner(area);
    block.render(area, buf);
    let rows = usize::from(inner.height);
    let shown: Vec<Line> = lines
        .iter()
        .skip(lines.len().saturating_sub(rows))
        .map(|l| Line::raw(l.clone()))
        .collect();
    Paragraph::new(shown).render(inner, buf);
}
