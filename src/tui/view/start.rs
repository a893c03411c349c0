//! The start screen: incidents to resume (status and age) above, runbooks to start below, and
//! the mode picker.
//!
//! ```text
//!  canton-dr · disaster recovery for a Canton Network exchange integration
//! ┌ Incidents to resume ───────────────────────────────────────────────────────┐
//! │ ▶ in-progress  20261122-031500-validator-restore-3f2a  DRILL  5m ago  3/10 │
//! └────────────────────────────────────────────────────────────────────────────┘
//! ┌ Runbooks to start ─────────────────────────────────────────────────────────┐
//! │   validator-restore  Restore the Exchange Validator Node     budget 45m    │
//! └────────────────────────────────────────────────────────────────────────────┘
//!  Enter resume · Tab switch list · ? help · q quit
//! ```

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};

use crate::tui::start::{List, MODES, StartApp};
use crate::tui::view::header::banner;
use crate::tui::view::{age, help, hint_line, render_too_small, steps::first_row, too_small};
use crate::tui::widget::popup::centered;
use crate::value::format_duration;

/// Draws the start screen.
pub fn render(app: &StartApp, frame: &mut Frame) {
    let area = frame.area();
    let t = app.theme;
    if too_small(area) {
        render_too_small(area, frame.buffer_mut(), t);
        return;
    }
    let [title, incidents, runbooks, status, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Percentage(50),
        Constraint::Min(4),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let buf = frame.buffer_mut();
    Line::from(vec![
        Span::styled(" canton-dr", t.strong()),
        Span::styled(
            " · disaster recovery for a Canton Network exchange integration",
            t.dim(),
        ),
    ])
    .render(title, buf);
    render_incidents(app, incidents, buf);
    render_runbooks(app, runbooks, buf);
    if let Some(m) = &app.message {
        Line::styled(format!(" {m}"), t.warn()).render(status, buf);
    }
    let primary = match app.focus {
        List::Incidents => "resume",
        List::Runbooks => "start",
    };
    let list_hints: [(String, &str); 5] = [
        ("Enter".into(), primary),
        ("↑/↓".into(), "select"),
        ("Tab".into(), "switch list"),
        ("?".into(), "help"),
        ("q".into(), "quit"),
    ];
    let picker_hints: [(String, &str); 2] = [
        ("d/r/l or Enter".into(), "pick a mode"),
        ("Esc".into(), "back"),
    ];
    let live_hints: [(String, &str); 2] = [
        ("Enter".into(), "start live (after typing live)"),
        ("Esc".into(), "back"),
    ];
    let shown: &[(String, &str)] = match app.key_mode() {
        crate::tui::keymap::KeyMode::Choice => &picker_hints,
        crate::tui::keymap::KeyMode::Text => &live_hints,
        _ => &list_hints,
    };
    let mut hints = hint_line(shown, t);
    hints.spans.insert(0, " ".into());
    hints.render(keys, buf);
    if app.help {
        help::render(&help::START_SECTIONS, 0, area, buf, t);
    } else if app.picker.is_some()
        && let Some(pos) = render_picker(app, area, frame.buffer_mut())
    {
        frame.set_cursor_position(pos);
    }
}

fn list_block(title: String, focused: bool, app: &StartApp) -> Block<'static> {
    let t = app.theme;
    Block::bordered()
        .border_style(if focused { t.heading() } else { t.dim() })
        .title(Span::styled(
            title,
            if focused { t.heading() } else { t.dim() },
        ))
}

fn render_incidents(app: &StartApp, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let focused = app.focus == List::Incidents;
    let unfinished = app.incidents.iter().filter(|s| s.is_unfinished()).count();
    let block = list_block(
        format!(
            " Incidents ({unfinished} to resume, {} in all) ",
            app.incidents.len()
        ),
        focused,
        app,
    );
    let inner = block.inner(area);
    block.render(area, buf);
    if app.incidents.is_empty() {
        Line::styled(" No incidents yet.", t.dim()).render(inner, buf);
        return;
    }
    let rows = usize::from(inner.height / 2).max(1);
    let first = first_row(app.incident, rows, app.incidents.len());
    for (n, (i, s)) in app
        .incidents
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .enumerate()
    {
        let y = inner.y + u16::try_from(n * 2).unwrap_or(0);
        if y >= inner.bottom() {
            break;
        }
        let status_style = match s.status.as_str() {
            "completed" => t.ok(),
            "in-progress" => t.next(),
            "aborted" | "unreadable" => t.dim(),
            _ => t.fail(),
        };
        let mode = s.mode.map(banner).unwrap_or(" ? ");
        let mode_style = s.mode.map_or(t.dim(), |m| t.mode_banner(m));
        let when = s.last_at.map(|at| age(app.wall, at)).unwrap_or_default();
        let mut line = Line::from(vec![
            Span::raw(if focused && i == app.incident {
                " ▶ "
            } else {
                "   "
            }),
            Span::styled(format!("{:<11}", s.status), status_style),
            Span::raw(" "),
            Span::styled(s.id.clone(), t.strong()),
            Span::raw(" "),
            Span::styled(mode, mode_style),
            Span::raw(format!(
                " {when} · {}/{} steps · {}",
                s.steps_settled, s.steps_total, s.operator
            )),
        ]);
        if focused && i == app.incident {
            line = line.patch_style(t.selected());
        }
        line.render(Rect::new(inner.x, y, inner.width, 1), buf);
        if y + 1 < inner.bottom() {
            Line::styled(format!("     {} — {}", s.title, s.detail), t.dim())
                .render(Rect::new(inner.x, y + 1, inner.width, 1), buf);
        }
    }
}

fn render_runbooks(app: &StartApp, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let focused = app.focus == List::Runbooks;
    let block = list_block(
        format!(" Runbooks to start ({}) ", app.runbooks.len()),
        focused,
        app,
    );
    let inner = block.inner(area);
    block.render(area, buf);
    if app.runbooks.is_empty() {
        Line::styled(" No runbooks found.", t.dim()).render(inner, buf);
        return;
    }
    let rows = usize::from(inner.height / 2).max(1);
    let first = first_row(app.runbook, rows, app.runbooks.len());
    let id_w = app
        .runbooks
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(0);
    for (n, (i, r)) in app
        .runbooks
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .enumerate()
    {
        let y = inner.y + u16::try_from(n * 2).unwrap_or(0);
        if y >= inner.bottom() {
            break;
        }
        let budget = r
            .budget
            .map(|b| format!(" · budget {}", format_duration(b)))
            .unwrap_or_default();
        let mut line = Line::from(vec![
            Span::raw(if focused && i == app.runbook {
                " ▶ "
            } else {
                "   "
            }),
            Span::styled(format!("{:<id_w$}", r.id), t.strong()),
            Span::raw(format!("  {}", r.title)),
            Span::styled(budget, t.dim()),
        ]);
        if focused && i == app.runbook {
            line = line.patch_style(t.selected());
        }
        line.render(Rect::new(inner.x, y, inner.width, 1), buf);
        if y + 1 < inner.bottom() {
            Line::styled(format!("     from {}", r.source), t.dim())
                .render(Rect::new(inner.x, y + 1, inner.width, 1), buf);
        }
    }
}

fn render_picker(
    app: &StartApp,
    area: Rect,
    buf: &mut Buffer,
) -> Option<ratatui::layout::Position> {
    let t = app.theme;
    let p = app.picker.as_ref()?;
    let rb = app.runbooks.get(p.runbook)?;
    let rect = centered(area, 76, 12);
    Clear.render(rect, buf);
    let live = p.live_confirm.is_some();
    let block = Block::bordered()
        .border_style(if live { t.fail() } else { t.heading() })
        .title(format!(" Start {} ", rb.id));
    let inner = block.inner(rect);
    block.render(rect, buf);
    let mut y = inner.y;
    let mut line = |l: Line<'static>, buf: &mut Buffer| {
        if y < inner.bottom() {
            l.render(Rect::new(inner.x, y, inner.width, 1), buf);
            y += 1;
        }
    };
    line(Line::raw(rb.title.clone()), buf);
    line(Line::default(), buf);
    for (n, (key, mode, what)) in MODES.iter().enumerate() {
        let mut l = Line::from(vec![
            Span::styled(format!(" {key} "), t.key()),
            Span::styled(banner(*mode), t.mode_banner(*mode)),
            Span::raw(format!(" {what}")),
        ]);
        if n == p.choice {
            l = l.patch_style(t.strong());
            l.spans.insert(0, Span::raw("▶"));
        } else {
            l.spans.insert(0, Span::raw(" "));
        }
        line(l, buf);
    }
    line(Line::default(), buf);
    let Some(field) = p.live_confirm.as_ref() else {
        line(
            Line::styled("d, r or l (or ↑/↓ and Enter) picks · Esc closes", t.dim()),
            buf,
        );
        return None;
    };
    line(
        Line::styled(
            "A LIVE run changes real systems. Type live and press Enter:",
            t.fail(),
        ),
        buf,
    );
    let r = Rect::new(inner.x + 2, y, inner.width.saturating_sub(2), 1);
    field.render(r, buf, t.field(true), t.dim(), true)
}
