//! The variables pane: every variable of the runbook, its value when known, and which step
//! defines it. Secrets are never shown.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};

use crate::tui::app::App;
use crate::value::{Value, ValueType};

/// One row: name, type, value text, defining step.
pub fn rows(app: &App) -> Vec<(String, ValueType, Option<String>, Option<String>)> {
    let Some(s) = &app.state else {
        return Vec::new();
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (name, ty, step) in s.runbook.variables() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let value = match s.vars.get(&name) {
            None | Some(Value::Null) => None,
            Some(Value::Secret(_)) => Some("(secret, hidden)".to_owned()),
            Some(v) => Some(v.to_string()),
        };
        let value = if ty == ValueType::Secret && value.is_some() {
            Some("(secret, hidden)".to_owned())
        } else {
            value
        };
        out.push((name, ty, value, step));
    }
    out
}

/// The pane's height in a column `avail` rows high.
pub fn height(app: &App, avail: u16) -> u16 {
    let n = u16::try_from(rows(app).len()).unwrap_or(u16::MAX);
    n.saturating_add(2).min(avail / 2).max(3)
}

/// Draws the pane.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let rows = rows(app);
    let known = rows.iter().filter(|r| r.2.is_some()).count();
    let block = Block::bordered()
        .border_style(t.dim())
        .title(format!(" Variables {known}/{} known ", rows.len()));
    let inner = block.inner(area);
    block.render(area, buf);
    let name_w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(name, ty, value, step)| {
            let from = step.map(|s| format!("  from {s}")).unwrap_or_default();
            let mut spans = vec![Span::styled(format!("{name:<name_w$} "), t.strong())];
            match value {
                Some(v) => spans.push(Span::raw(v)),
                None => spans.push(Span::styled(format!("— ({ty}, not known yet)"), t.dim())),
            }
            spans.push(Span::styled(from, t.dim()));
            Line::from(spans)
        })
        .collect();
    Paragraph::new(lines).render(inner, buf);
}
