//! The drill end screen: the judge's verdict with each check and its evidence, and the score
//! against the recovery budget. Drawn from the `drill_judged` record's report, whatever of it
//! is there.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget, Wrap};
use serde_json::Value as J;

use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::journal;

fn num(v: Option<&J>) -> Option<f64> {
    v.and_then(J::as_f64)
}

fn secs(v: Option<f64>) -> String {
    match v {
        Some(s) if s >= 60.0 => {
            let total = s.round() as u64;
            format!("{}m {:02}s", total / 60, total % 60)
        }
        Some(s) => format!("{s:.1}s"),
        None => "—".into(),
    }
}

fn text(v: Option<&J>) -> String {
    match v {
        Some(J::String(s)) => s.clone(),
        Some(J::Null) | None => "—".into(),
        Some(other) => other.to_string(),
    }
}

/// The report as lines.
pub fn lines(verdict: &str, report: &J, t: Theme) -> Vec<Line<'static>> {
    let passed = verdict == "PASS";
    let mut out = vec![
        Line::from(vec![Span::styled(
            if passed {
                "  DRILL PASSED  "
            } else {
                "  DRILL FAILED  "
            },
            t.verdict(passed),
        )]),
        Line::default(),
    ];
    let checks = report.get("checks").and_then(J::as_array);
    out.push(Line::styled("The judge's checks", t.heading()));
    match checks {
        Some(list) if !list.is_empty() => {
            for c in list {
                let ok = c.get("passed").and_then(J::as_bool);
                let (g, style) = match ok {
                    Some(true) => ("✓", t.ok()),
                    Some(false) => ("✗", t.fail()),
                    None => ("?", t.warn()),
                };
                out.push(Line::from(vec![
                    Span::styled(format!("  {g} "), style),
                    Span::styled(text(c.get("name")), t.strong()),
                ]));
                if let Some(e) = c.get("evidence").filter(|e| !e.is_null()) {
                    out.push(Line::styled(format!("      {}", text(Some(e))), t.dim()));
                }
            }
        }
        _ => out.push(Line::styled("  (the report lists no checks)", t.dim())),
    }
    out.push(Line::default());
    out.push(Line::styled("Score", t.heading()));
    let score = report.get("score");
    let get = |k: &str| score.and_then(|s| s.get(k));
    let total = num(get("total_seconds"));
    let budget = num(get("budget_seconds"));
    let within = get("within_budget").and_then(J::as_bool);
    let time_style = match within {
        Some(true) => t.ok(),
        Some(false) => t.fail(),
        None => Default::default(),
    };
    let verdict_word = match within {
        Some(true) => " (within budget)",
        Some(false) => " (OVER budget)",
        None => "",
    };
    out.push(Line::from(vec![
        Span::raw("  time "),
        Span::styled(secs(total), time_style),
        Span::raw(format!(" of {} budget", secs(budget))),
        Span::styled(verdict_word, time_style),
    ]));
    out.push(Line::raw(format!(
        "  retries {} · skips {}",
        text(get("retries")),
        text(get("skips"))
    )));
    if let Some(devs) = get("deviations")
        .and_then(J::as_array)
        .filter(|d| !d.is_empty())
    {
        out.push(Line::styled("  Deviations from the runbook", t.warn()));
        for d in devs {
            out.push(Line::styled(format!("    • {}", text(Some(d))), t.warn()));
        }
    }
    if let Some(steps) = get("steps").and_then(J::as_array).filter(|s| !s.is_empty()) {
        out.push(Line::default());
        out.push(Line::styled("Steps", t.heading()));
        let w = steps
            .iter()
            .map(|s| text(s.get("id")).chars().count())
            .max()
            .unwrap_or(4);
        out.push(Line::styled(
            format!("  {:<w$}  {:>9}  {:>9}  attempts", "step", "time", "budget"),
            t.dim(),
        ));
        for s in steps {
            let took = num(s.get("seconds"));
            let limit = num(s.get("budget_seconds"));
            let over = matches!((took, limit), (Some(a), Some(b)) if a > b);
            let style = if over { t.fail() } else { Default::default() };
            out.push(Line::styled(
                format!(
                    "  {:<w$}  {:>9}  {:>9}  {}",
                    text(s.get("id")),
                    secs(took),
                    secs(limit),
                    text(s.get("attempts"))
                ),
                style,
            ));
        }
    }
    out
}

/// Draws the screen into the body area.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let Some((verdict, report)) = app.state.as_ref().and_then(|s| s.drill.as_ref()) else {
        return;
    };
    let (main, tail) = if app.panes.journal {
        let h = (area.height / 3).clamp(4, 12);
        let [m, j] = Layout::vertical([Constraint::Min(0), Constraint::Length(h)]).areas(area);
        (m, Some(j))
    } else {
        (area, None)
    };
    let border = t.verdict(verdict == "PASS");
    let block = Block::bordered()
        .border_style(if t.no_color {
            Default::default()
        } else {
            ratatui::style::Style::default().fg(border.bg.unwrap_or_default())
        })
        .title(" Drill result ");
    Paragraph::new(lines(verdict, report, t))
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((app.end_scroll, 0))
        .render(main, buf);
    if let Some(j) = tail {
        journal::render(&app.tail, j, buf, t);
    }
}
