//! Screens. Every function here draws from state it is given and changes nothing.
//!
//! The run screen:
//! ```text
//! ┌──────────────────────────────────────────────────────────────────────────────┐
//! │ DRILL  Runbook title                                      incident <id>      │ header
//! │ elapsed 12m of 45m · step 3/10 · journal 154 records · head 3fa2c91b0e4d     │
//! │━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━│ (mode colour)
//! │┌ Steps ─────────────┐┌ Step 3 of 10 · stop ─────────────────────────────────┐│
//! ││ ✓  1 confirm  1.2s ││ ▶ NEXT  press Enter to run this command              ││ step list,
//! ││ ▶  3 stop          ││ Runs / Expects / Observed / Captured / Notes         ││ step panel
//! ││ ·  4 read          │├ Output ─────────────────────────────────────────────┤│ (output,
//! │└────────────────────┘└ Variables ──────────────────────────────────────────┘│ variables)
//! │┌ Journal ────────────────────────────────────────────────────────────────────┐│ (toggled)
//! │ status line                                                                  │
//! │ Enter run · s skip · n note · v variables · l journal · ? help · q quit      │ key bar
//! └──────────────────────────────────────────────────────────────────────────────┘
//! ```

pub mod dialog;
pub mod drill_end;
pub mod header;
pub mod help;
pub mod journal;
pub mod keybar;
pub mod output;
pub mod reflow;
pub mod start;
pub mod step_panel;
pub mod step_text;
pub mod steps;
pub mod vars;

use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::tui::app::{App, Screen};
use crate::tui::text;
use crate::tui::theme::Theme;

/// The smallest terminal the screens are laid out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Is the area too small to lay the screen out?
pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Says that the terminal is too small (and that nothing stopped).
pub fn render_too_small(area: Rect, buf: &mut Buffer, theme: Theme) {
    let lines = vec![
        Line::styled(text::TOO_SMALL, theme.warn()),
        Line::from(format!("(this one is {}x{}).", area.width, area.height)),
        Line::from("Enlarge the window; canton-dr keeps going meanwhile, and q still quits."),
    ];
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .render(area, buf);
}

/// Draws the run screen (or the drill end screen) and any dialog over it.
pub fn render_app(app: &App, frame: &mut Frame) {
    let area = frame.area();
    if too_small(area) {
        render_too_small(area, frame.buffer_mut(), app.theme);
        return;
    }
    let [head, body, status, keys] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let buf = frame.buffer_mut();
    header::render(app, head, buf);
    match app.screen {
        Screen::Run => render_body(app, body, buf),
        Screen::DrillEnd => drill_end::render(app, body, buf),
    }
    keybar::render_status(app, status, buf);
    keybar::render(app, keys, buf);
    if let Some(message) = &app.fatal {
        dialog::render_fatal(message, area, buf, app.theme);
    } else if app.help {
        help::render(&help::RUN_SECTIONS, app.help_scroll, area, buf, app.theme);
    } else if let Some(d) = &app.dialog
        && let Some(pos) = dialog::render(d, app, area, frame.buffer_mut())
    {
        frame.set_cursor_position(pos);
    }
}

fn render_body(app: &App, body: Rect, buf: &mut Buffer) {
    let (main, journal_area) = if app.panes.journal {
        let h = (body.height / 3).clamp(4, 12);
        let [m, j] = Layout::vertical([Constraint::Min(0), Constraint::Length(h)]).areas(body);
        (m, Some(j))
    } else {
        (body, None)
    };
    let list_width = steps::width(app, main.width);
    let [list, right] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(main);
    steps::render(app, list, buf);
    let out_lines = output::lines(app);
    let show_output = app.panes.output && !out_lines.is_empty();
    let vars_h = if app.panes.vars {
        vars::height(app, right.height)
    } else {
        0
    };
    let out_h = if show_output {
        let n = u16::try_from(out_lines.len()).unwrap_or(u16::MAX);
        n.saturating_add(2).min(right.height / 3).max(3)
    } else {
        0
    };
    let [panel, out, var] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(out_h),
        Constraint::Length(vars_h),
    ])
    .areas(right);
    step_panel::render(app, panel, buf);
    if show_output {
        output::render(app, &out_lines, out, buf);
    }
    if app.panes.vars {
        vars::render(app, var, buf);
    }
    if let Some(j) = journal_area {
        journal::render(&app.tail, j, buf, app.theme);
    }
}

/// Elapsed time at minute precision ("<1m", "12m", "1h 05m"), so an idle screen changes
/// once a minute at most.
pub fn minutes(d: Duration) -> String {
    let m = d.as_secs() / 60;
    match m {
        0 => "<1m".into(),
        m if m < 60 => format!("{m}m"),
        m => format!("{}h {:02}m", m / 60, m % 60),
    }
}

/// A step's duration ("850ms", "12.4s", "3m 05s").
pub fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        if s < 3600 {
            format!("{}m {:02}s", s / 60, s % 60)
        } else {
            format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
        }
    }
}

/// How long ago `then` was ("just now", "5m ago", "3h ago", "2d ago").
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// A row of key hints: key in its style, label plain.
pub fn hint_line(hints: &[(String, &str)], theme: Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (k, label)) in hints.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.dim()));
        }
        spans.push(Span::styled(k.clone(), theme.key()));
        spans.push(Span::raw(format!(" {label}")));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_precision() {
        assert_eq!(minutes(Duration::from_secs(59)), "<1m");
        assert_eq!(minutes(Duration::from_secs(12 * 60 + 59)), "12m");
        assert_eq!(minutes(Duration::from_secs(3600 + 5 * 60)), "1h 05m");
    }

    #[test]
    fn step_durations() {
        assert_eq!(seconds(Duration::from_millis(850)), "850ms");
        assert_eq!(seconds(Duration::from_millis(12_400)), "12.4s");
        assert_eq!(seconds(Duration::from_secs(185)), "3m 05s");
        assert_eq!(seconds(Duration::from_secs(3 * 3600 + 60)), "3h 01m");
    }

    #[test]
    fn ages() {
        let now = crate::tui::fixture::t0();
        assert_eq!(age(now, now - chrono::TimeDelta::seconds(5)), "just now");
        assert_eq!(age(now, now - chrono::TimeDelta::minutes(5)), "5m ago");
        assert_eq!(age(now, now - chrono::TimeDelta::hours(3)), "3h ago");
        assert_eq!(age(now, now - chrono::TimeDelta::days(2)), "2d ago");
    }
}

#[cfg(test)]
pub(crate) mod screens;
