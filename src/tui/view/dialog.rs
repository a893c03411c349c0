//! Dialogs drawn over the screen: their explanation, fields, live validation, choices, and the
//! fatal-stop modal.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use crate::runbook::model::Evidence;
use crate::tui::app::App;
use crate::tui::dialog::{Dialog, Kind};
use crate::tui::text;
use crate::tui::theme::Theme;
use crate::tui::widget::popup::centered;

/// Title, explanation and whether the dialog is about something dangerous.
fn describe(d: &Dialog, app: &App) -> (String, Vec<String>, bool) {
    let title_of = |id: &str| {
        app.state
            .as_ref()
            .and_then(|s| s.runbook.step(id))
            .map(|s| s.title.clone())
            .unwrap_or_default()
    };
    match &d.kind {
        Kind::Confirm {
            step,
            destructive,
            evidence,
        } => {
            let mut body = vec![format!("Step: {}", title_of(step))];
            body.push(if *destructive {
                "This step is DESTRUCTIVE. Type its id to confirm that it is done.".into()
            } else {
                "Enter confirms that it is done.".into()
            });
            if *evidence == Evidence::Required {
                body.push("It needs evidence: what you saw, a ticket, a file.".into());
            }
            (format!(" Confirm step '{step}' "), body, *destructive)
        }
        Kind::Input { var, ty, default, .. } => {
            let mut body = vec![format!("{} ({})", ty.input_hint(), ty.name())];
            if let Some(def) = default {
                body.push(format!("Leave it empty to accept the default, {def}."));
            }
            if d.drill_hint {
                body.push("Drill: filled in with the scenario's answer; check it, then Enter.".into());
            }
            (format!(" Enter {var} "), body, false)
        }
        Kind::Secret { var, .. } => (
            format!(" Secret '{var}' needed again "),
            vec!["It was entered before canton-dr restarted. Secrets are never stored, so enter it again; it is hidden while typed.".into()],
            false,
        ),
        Kind::Run { step, preview } => (
            format!(" Run destructive step '{step}' "),
            vec![
                "This command is DESTRUCTIVE:".into(),
                format!("  {preview}"),
                "Type the step id to run it.".into(),
            ],
            true,
        ),
        Kind::Skip {
            step,
            typed,
            in_doubt,
        } => {
            let mut body = vec!["The reason goes into the journal with your name.".to_owned()];
            if *typed {
                body.insert(0, "Skipping this step overrides a safety check.".into());
            }
            if *in_doubt {
                body.insert(0, "Skip the interrupted step without running it again.".into());
            }
            let word = if *typed { "Override" } else { "Skip" };
            (format!(" {word} step '{step}' "), body, *typed)
        }
        Kind::MarkDone { step } => (
            format!(" Mark '{step}' done "),
            vec!["Only if its effect is there. Say how you know; it goes into the journal.".into()],
            false,
        ),
        Kind::InDoubt {
            step,
            attempt,
            action,
            still_running,
        } => {
            let mut body = vec![
                format!("Attempt {attempt} of '{step}' started before canton-dr stopped, and never finished:"),
                format!("  {action}"),
                "Did its effect happen? Look before you decide.".into(),
            ];
            if let Some(sp) = still_running {
                body.push(format!(
                    "Its processes are still running (pid {}, group {}).",
                    sp.pid, sp.pgid
                ));
            }
            (format!(" Step '{step}' was interrupted "), body, true)
        }
        Kind::Note { step } => (
            match step {
                Some(s) => format!(" Note on step '{s}' "),
                None => " Note on the incident ".into(),
            },
            vec!["Notes are journaled with your name and the time.".into()],
            false,
        ),
        Kind::Quit { running, incident } => {
            let mut body = vec![format!("Quit now? {}.", text::saved(incident))];
            if *running {
                body.push("A step is running: quitting cancels it, and a command's process group is terminated.".into());
            }
            (" Quit ".into(), body, *running)
        }
        Kind::Cancel { step } => (
            format!(" Cancel step '{step}' "),
            vec!["Stop the running step? A command's process group is terminated; you can retry or skip it afterwards.".into()],
            true,
        ),
        Kind::Abort => (
            " Abort the run ".into(),
            vec![
                "Aborting ends the run for good: it cannot be resumed.".into(),
                "To stop for now and continue later, quit instead (q).".into(),
            ],
            true,
        ),
    }
}

/// The rows `text` takes in the dialog, wrapped by the paragraph widget itself.
fn rows_for(text: &str, width: u16) -> u16 {
    let rows = Paragraph::new(text.to_owned())
        .wrap(Wrap { trim: false })
        .line_count(width.max(1));
    u16::try_from(rows.max(1)).unwrap_or(u16::MAX)
}

/// Draws a dialog; returns where the cursor goes.
pub fn render(d: &Dialog, app: &App, area: Rect, buf: &mut Buffer) -> Option<Position> {
    let t = app.theme;
    let (title, body, danger) = describe(d, app);
    let width = area.width.saturating_sub(4).min(78);
    let inner_w = width.saturating_sub(2);
    let mut h: u16 = body.iter().map(|l| rows_for(l, inner_w)).sum();
    h += 1;
    h += d
        .fields
        .iter()
        .map(|f| rows_for(&f.label, inner_w) + 1)
        .sum::<u16>();
    let choices = d.choices();
    h += u16::try_from(choices.len()).unwrap_or(0);
    h += 3; // problem, refusal, footer
    let rect = centered(area, width, h + 2);
    Clear.render(rect, buf);
    let border = if danger { t.fail() } else { t.heading() };
    let block = Block::bordered()
        .border_style(border)
        .title(Span::styled(title, border));
    let inner = block.inner(rect);
    block.render(rect, buf);
    let mut y = inner.y;
    let bottom = inner.bottom();
    let mut put = |lines: Vec<Line<'static>>, rows: u16, buf: &mut Buffer| -> Option<Rect> {
        if y >= bottom {
            return None;
        }
        let r = Rect::new(inner.x, y, inner.width, rows.min(bottom - y));
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(r, buf);
        y += r.height;
        Some(r)
    };
    for l in &body {
        put(vec![Line::raw(l.clone())], rows_for(l, inner_w), buf);
    }
    put(vec![Line::default()], 1, buf);
    let mut cursor = None;
    for (n, f) in d.fields.iter().enumerate() {
        let focused = n == d.focus;
        let label_style = if focused { t.strong() } else { t.dim() };
        put(
            vec![Line::styled(f.label.clone(), label_style)],
            rows_for(&f.label, inner_w),
            buf,
        );
        if let Some(r) = put(vec![Line::styled("› ", t.key())], 1, buf) {
            let field_area = Rect::new(r.x + 2, r.y, r.width.saturating_sub(2), 1);
            let pos = f
                .input
                .render(field_area, buf, t.field(focused), t.dim(), focused);
            if focused && !d.sent {
                cursor = pos;
            }
        }
    }
    for (n, (c, label)) in choices.iter().enumerate() {
        let style = if n == d.choice {
            t.selected()
        } else {
            Style::default()
        };
        put(
            vec![Line::from(vec![
                Span::styled(format!(" {c} "), t.key()),
                Span::styled(format!(" {label} "), style),
            ])],
            1,
            buf,
        );
    }
    let status = if d.sent {
        Some(Line::styled("sent; waiting for canton-dr…", t.dim()))
    } else if let Some(r) = &d.refused {
        Some(Line::styled(format!("✗ refused: {r}"), t.fail()))
    } else if let Some(p) = &d.problem {
        Some(Line::styled(format!("✗ {p}"), t.warn()))
    } else {
        d.reading
            .as_ref()
            .map(|r| Line::styled(format!("✓ {r}"), t.ok()))
    };
    if let Some(s) = status {
        let rows = rows_for(&s.to_string(), inner_w).min(2);
        put(vec![s], rows, buf);
    }
    let footer = if d.fields.is_empty() {
        "letter or ↑/↓ and Enter to choose · Esc closes"
    } else {
        "Enter sends · Tab next field · Esc closes"
    };
    let fy = inner.bottom().saturating_sub(1);
    if fy >= inner.y {
        Line::styled(footer, t.dim()).render(Rect::new(inner.x, fy, inner.width, 1), buf);
    }
    cursor
}

/// The modal shown when canton-dr cannot continue.
pub fn render_fatal(message: &str, area: Rect, buf: &mut Buffer, t: Theme) {
    let rect = centered(area, area.width.saturating_sub(8).min(76), 10);
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(t.fail())
        .title(Span::styled(" canton-dr stopped ", t.fail()));
    let lines = vec![
        Line::styled(message.to_owned(), t.fail()),
        Line::default(),
        Line::raw(text::FATAL_HINT),
        Line::default(),
        Line::styled("q leaves", t.dim()),
    ];
    Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .render(rect, buf);
}

#[cfg(test)]
mod tests {
    use super::rows_for;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::{Paragraph, Widget, Wrap};

    /// The rows the paragraph widget really fills with `text` at `width`.
    fn rendered_rows(text: &str, width: u16) -> u16 {
        let area = Rect::new(0, 0, width, 40);
        let mut buf = Buffer::empty(area);
        Paragraph::new(text.to_owned())
            .wrap(Wrap { trim: false })
            .render(area, &mut buf);
        let filled = |y: u16| (0..width).any(|x| buf[(x, y)].symbol() != " ");
        (0..40).rev().find(|&y| filled(y)).map_or(1, |y| y + 1)
    }

    #[test]
    fn the_estimate_matches_the_widget() {
        let texts = [
            "short",
            "Has this participant ever run ACS imports, party migrations, party replication or repair commands? (yes/no)",
            "Attempt 2 of 'restore-compose.restore-participant-db' started before canton-dr stopped, and never finished:",
            "  postgres_volume_remove: /work/main/target/debug/canton-dr sandbox ctl --dir /tmp/ttest/incidents/20261207-131426-validator-restore-456a/sandbox postgres volume-remove",
            "aaaaaa bbbbbb cccccc",
            "ab abcdefghijklmnopqrstuvwxy",
        ];
        for text in texts {
            for width in [10u16, 24, 40, 76] {
                assert_eq!(
                    rows_for(text, width),
                    rendered_rows(text, width),
                    "{text:?} at width {width}"
                );
            }
        }
    }

    #[test]
    fn rows_follow_word_wrapping() {
        assert_eq!(rows_for("", 10), 1);
        assert_eq!(rows_for("short", 10), 1);
        // "aaaa bbbb" fits in 9, not in 8: the second word moves to its own row.
        assert_eq!(rows_for("aaaa bbbb", 9), 1);
        assert_eq!(rows_for("aaaa bbbb", 8), 2);
        // Character counting would say 2 rows; the words need 3.
        assert_eq!(rows_for("aaaaaa bbbbbb cccccc", 10), 3);
    }
}
