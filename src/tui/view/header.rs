//! The header: mode banner, runbook title, incident id; elapsed time against the budget,
//! progress through the steps, and the journal's record count and head digest; a rule in the
//! mode's colour.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::engine::record::Mode;
use crate::tui::app::App;
use crate::tui::text::short;
use crate::tui::theme::Theme;
use crate::tui::view::minutes;

/// The banner text of a mode.
pub fn banner(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => " LIVE ",
        Mode::DryRun => " DRY-RUN ",
        Mode::Drill => " DRILL ",
    }
}

/// What the mode means, next to the banner.
pub fn meaning(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "commands change real systems",
        Mode::DryRun => "read-only: commands are shown, not run",
        Mode::Drill => "rehearsal against the sandbox",
    }
}

/// Draws the header into three rows.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let Some(s) = &app.state else {
        Line::styled(" canton-dr · waiting for the engine to start…", t.dim()).render(area, buf);
        return;
    };
    let id = format!("incident {} ", s.incident_id);
    let id_w = u16::try_from(id.chars().count()).unwrap_or(u16::MAX);
    let row = |y: u16| Rect {
        y: area.y + y,
        height: 1,
        ..area
    };
    let room = usize::from(area.width.saturating_sub(id_w + 1));
    let used = banner(s.mode).chars().count() + 1 + s.runbook.title.chars().count();
    let title_room = room.saturating_sub(banner(s.mode).chars().count() + 1);
    let mut spans = vec![
        Span::styled(banner(s.mode), t.mode_banner(s.mode)),
        Span::raw(" "),
        Span::styled(ellipsis(&s.runbook.title, title_room), t.strong()),
    ];
    let meaning = format!("  ({})", meaning(s.mode));
    if used + meaning.chars().count() <= room {
        spans.push(Span::styled(meaning, t.dim()));
    }
    let first = Line::from(spans);
    let r0 = row(0);
    first.render(
        Rect {
            width: r0.width.saturating_sub(id_w + 1),
            ..r0
        },
        buf,
    );
    if r0.width > id_w {
        Line::styled(id, t.dim()).render(
            Rect {
                x: r0.right() - id_w,
                width: id_w,
                ..r0
            },
            buf,
        );
    }
    second_line(app, t, area.width).render(row(1), buf);
    if area.height > 2 {
        let rule = if s.mode == Mode::Live { "━" } else { "─" };
        let r2 = row(2);
        buf.set_string(
            r2.x,
            r2.y,
            rule.repeat(usize::from(r2.width)),
            t.mode_border(s.mode),
        );
    }
}

fn second_line(app: &App, t: Theme, width: u16) -> Line<'static> {
    let Some(s) = &app.state else {
        return Line::default();
    };
    let elapsed = app.elapsed();
    let budget = s
        .runbook
        .recovery_budget
        .and_then(|b| b.to_std().ok())
        .filter(|b| !b.is_zero());
    let total = s.steps.len();
    let settled = s.steps.iter().filter(|x| x.status.is_settled()).count();
    let head = if app.head.is_empty() {
        String::new()
    } else {
        format!(" · head {}", short(&app.head))
    };
    // The long form, and a shorter one for narrow terminals.
    for compact in [false, true] {
        let mut spans = vec![Span::raw(" elapsed ")];
        match budget {
            Some(b) => {
                let share = elapsed.as_secs_f64() / b.as_secs_f64();
                spans.push(Span::styled(minutes(elapsed), t.budget(share)));
                let of = if compact { " / " } else { " of " };
                let word = if compact { "" } else { " budget" };
                spans.push(Span::raw(format!("{of}{}{word}", minutes(b))));
                if share > 1.0 {
                    spans.push(Span::styled(" (over)", t.fail()));
                }
            }
            None => spans.push(Span::raw(minutes(elapsed))),
        }
        spans.push(Span::styled(" · ", t.dim()));
        let steps = if compact { "settled" } else { "steps settled" };
        spans.push(Span::raw(format!("{settled}/{total} {steps}")));
        spans.push(Span::styled(" · ", t.dim()));
        spans.push(Span::raw(format!("journal {} records{head}", s.records)));
        let line = Line::from(spans);
        if compact || line.width() <= usize::from(width) {
            return line;
        }
    }
    Line::default()
}

/// `text` cut to `room` characters, with an ellipsis when cut.
pub fn ellipsis(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(room.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_with_an_ellipsis() {
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }
}
