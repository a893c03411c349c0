//! The step panel: what to do next, what the step is and runs, what canton-dr has observed
//! and captured, and what was noted.

use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph, Widget, Wrap};

use crate::engine::event::Waiting;
use crate::engine::state::{IncidentState, StepStatus};
use crate::runbook::model::{Evidence, Step, StepKind};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::seconds;
use crate::tui::view::step_text::declared_action;
use crate::tui::widget::glyph::SPINNER;
use crate::value::format_duration;

/// Draws the panel for the viewed step.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let (Some(s), Some(i)) = (&app.state, app.viewed()) else {
        Block::bordered().border_style(t.dim()).render(area, buf);
        return;
    };
    let step = &s.runbook.steps[i];
    let is_current = Some(i) == app.current();
    let border = if is_current {
        t.mode_border(s.mode)
    } else {
        t.dim()
    };
    let block = Block::bordered()
        .border_style(border)
        .title(Line::from(vec![
            Span::raw(format!(" Step {} of {} · ", i + 1, s.steps.len())),
            Span::styled(step.id.clone(), t.strong()),
            Span::raw(format!(" · {} ", kind_word(step))),
        ]));
    let inner = block.inner(area);
    block.render(area, buf);
    let next = next_lines(app, i);
    let w = usize::from(inner.width.max(1));
    let rows: usize = next.iter().map(|l| l.width().max(1).div_ceil(w)).sum();
    let next_h = u16::try_from(rows).unwrap_or(u16::MAX).min(inner.height);
    let gauge_h = if is_current && progress_for(app, &step.id) {
        2
    } else {
        0
    };
    let [cta, gauge, rest] = Layout::vertical([
        Constraint::Length(next_h),
        Constraint::Length(gauge_h),
        Constraint::Min(0),
    ])
    .areas(inner);
    Paragraph::new(next)
        .wrap(Wrap { trim: false })
        .render(cta, buf);
    if gauge_h > 0 {
        render_progress(app, gauge, buf);
    }
    Paragraph::new(details(app, s, i))
        .wrap(Wrap { trim: false })
        .scroll((app.scroll, 0))
        .render(rest, buf);
}

/// The step's kind, with "destructive" when it is.
pub fn kind_word(step: &Step) -> String {
    let destructive = match &step.kind {
        StepKind::Command(c) => c.destructive,
        StepKind::Manual { destructive, .. } => *destructive,
        _ => false,
    };
    if destructive {
        format!("{}, destructive", step.kind.name())
    } else {
        step.kind.name().to_owned()
    }
}

fn progress_for(app: &App, step: &str) -> bool {
    app.progress.as_ref().is_some_and(|p| p.step == step)
}

fn render_progress(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let Some(p) = &app.progress else {
        return;
    };
    let [bar, info] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let label = match (&p.current, &p.target) {
        (Some(c), Some(target)) => format!("{c} → {target}"),
        _ => format!("poll {}", p.polls),
    };
    match p.fraction {
        Some(f) => Gauge::default()
            .ratio(f.clamp(0.0, 1.0))
            .label(format!("{:.0}%  {label}", f * 100.0))
            .gauge_style(t.running())
            .render(bar, buf),
        None => Line::styled(format!("waiting: {label}"), t.running()).render(bar, buf),
    }
    let mut parts = vec![format!("poll {}", p.polls)];
    if let Some(r) = &p.rate {
        parts.push(r.clone());
    }
    if let Some(eta) = p.eta {
        parts.push(format!("ETA {}", seconds(eta)));
    }
    parts.push(format!("{} of {}", seconds(p.elapsed), seconds(p.timeout)));
    let mut spans = vec![Span::styled(parts.join(" · "), t.dim())];
    if let Some(e) = &p.last_error {
        spans.push(Span::styled(format!(" · last error: {e}"), t.warn()));
    } else if let Some(sum) = &p.last_summary {
        spans.push(Span::styled(format!(" · {sum}"), t.dim()));
    }
    Line::from(spans).render(info, buf);
}

/// What the operator should do about step `i` now.
pub fn next_lines(app: &App, i: usize) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some(current) = app.current() else {
        return vec![Line::styled("Every step is settled.", t.ok())];
    };
    if i != current {
        return vec![Line::styled(
            format!(
                "Viewing step {}; the run is at step {} (g goes back).",
                i + 1,
                current + 1
            ),
            t.dim(),
        )];
    }
    if app.end.is_some() {
        return vec![Line::styled("The run has ended.", t.dim())];
    }
    if app.quitting {
        return vec![Line::styled("Quitting…", t.warn())];
    }
    let id = app.step(i).map(|s| s.id.clone()).unwrap_or_default();
    let tag = |word: &str, style| Span::styled(format!(" {word} "), style);
    let next = |text: String| {
        Line::from(vec![
            tag("NEXT", t.selected().patch(t.next())),
            Span::raw(" "),
            Span::styled(text, t.next()),
        ])
    };
    let bad = |word: &str, reason: &str| {
        Line::from(vec![
            tag(word, t.selected().patch(t.fail())),
            Span::raw(" "),
            Span::styled(reason.to_owned(), t.fail()),
        ])
    };
    let hint = |text: String| Line::styled(text, t.dim());
    match &app.waiting {
        Some(Waiting::Confirm {
            destructive,
            evidence,
            ..
        }) => {
            let mut v = vec![next("do this by hand, then press Enter to confirm".into())];
            let mut extra = Vec::new();
            if *evidence == Evidence::Required {
                extra.push("evidence is required".to_owned());
            }
            if *destructive {
                extra.push(format!("DESTRUCTIVE: you will type '{id}' to confirm"));
            }
            if !extra.is_empty() {
                v.push(Line::styled(
                    extra.join(" · "),
                    if *destructive { t.fail() } else { t.warn() },
                ));
            }
            v
        }
        Some(Waiting::Input { prompt, .. }) => {
            vec![next(format!("press Enter to enter: {prompt}"))]
        }
        Some(Waiting::Run {
            destructive: false, ..
        }) => vec![next("press Enter to run this command".into())],
        Some(Waiting::Run {
            destructive: true, ..
        }) => vec![
            next("press Enter to run this command".into()),
            Line::styled(
                format!("DESTRUCTIVE: you will type '{id}' to run it"),
                t.fail(),
            ),
        ],
        Some(w @ Waiting::Failed { reason, .. }) => {
            let over = if app.skip_needs_typed(w) {
                " (an override: type the step id)"
            } else {
                ""
            };
            vec![
                bad("FAILED", reason),
                hint(format!("r retries · s skips with a reason{over}")),
            ]
        }
        Some(Waiting::GateClosed { reason, .. }) => vec![
            bad("GATE CLOSED", reason),
            hint("r re-checks · s overrides it (a reason and the step id)".into()),
        ],
        Some(Waiting::Blocked { reason, .. }) => {
            vec![
                bad("BLOCKED", reason),
                hint("r retries · s skips with a reason".into()),
            ]
        }
        Some(Waiting::InDoubt { .. }) => vec![
            bad(
                "INTERRUPTED",
                "this step started before a crash and never finished",
            ),
            hint("press Enter to decide: re-run it, mark it done with evidence, or skip it".into()),
        ],
        Some(Waiting::SecretNeeded { var, .. }) => vec![next(format!(
            "press Enter to enter the secret '{var}' again (secrets are never stored)"
        ))],
        None => match app.running_for(&id) {
            Some(d) if app.is_running() => vec![Line::from(vec![
                Span::styled(
                    format!(" {} RUNNING ", SPINNER[app.spinner % SPINNER.len()]),
                    t.selected().patch(t.running()),
                ),
                Span::styled(format!(" for {} · x cancels", seconds(d)), t.running()),
            ])],
            _ => vec![Line::styled("canton-dr is working…", t.dim())],
        },
    }
}

fn heading(text: &str, t: Theme) -> Line<'static> {
    Line::styled(text.to_owned(), t.heading())
}

fn indent(text: &str) -> Vec<Line<'static>> {
    text.lines().map(|l| Line::raw(format!("  {l}"))).collect()
}

fn details(app: &App, s: &IncidentState, i: usize) -> Vec<Line<'static>> {
    let t = app.theme;
    let step = &s.runbook.steps[i];
    let st = &s.steps[i];
    let mut out = vec![Line::styled(
        crate::runbook::template::Template::parse(&step.title)
            .map_or_else(|_| step.title.clone(), |tpl| tpl.render_partial(&s.vars)),
        t.strong(),
    )];
    let mut facts = Vec::new();
    if let Some(b) = step.budget {
        facts.push(format!("budget {}", format_duration(b)));
    }
    if !step.implements.is_empty() {
        facts.push(format!("implements {}", step.implements.join(", ")));
    }
    if let Some(g) = &step.group {
        facts.push(format!("part of {g}"));
    }
    if !facts.is_empty() {
        out.push(Line::styled(facts.join(" · "), t.dim()));
    }
    if let Some(why) = &step.why {
        out.push(Line::from(vec![
            Span::styled("Why: ", t.dim()),
            Span::raw(why.clone()),
        ]));
    }
    if let Some(c) = &step.caveat {
        out.push(Line::styled(format!("⚠ {c}"), t.warn()));
    }
    if let Some(ins) = &step.instructions {
        out.push(Line::default());
        out.push(heading("Instructions", t));
        // Not indented: the panel wraps the reflowed paragraphs, and a wrapped line would
        // lose the indent.
        let text = super::reflow::reflow(&ins.render_partial(&s.vars));
        out.extend(text.lines().map(|l| Line::raw(l.to_owned())));
    }
    out.push(Line::default());
    let exact = match (&app.waiting, &st.action) {
        (
            Some(Waiting::Run {
                step: w, preview, ..
            }),
            _,
        ) if *w == step.id => Some(("Will run", preview.clone())),
        (_, Some(a)) => Some(("Ran", a.clone())),
        _ => None,
    };
    match exact {
        Some((word, text)) => {
            out.push(heading(word, t));
            out.extend(indent(&text));
        }
        None => {
            out.push(heading("Runs", t));
            for l in declared_action(step, &s.vars) {
                out.push(Line::raw(format!("  {l}")));
            }
        }
    }
    expectations(step, t, &mut out);
    let polls = app
        .progress
        .as_ref()
        .filter(|p| p.step == step.id)
        .map(|p| p.polls);
    observed(st, polls, t, &mut out);
    result(st, t, &mut out);
    let notes: Vec<_> = s
        .notes
        .iter()
        .filter(|n| n.step.as_deref() == Some(step.id.as_str()))
        .collect();
    if !notes.is_empty() {
        out.push(Line::default());
        out.push(heading("Notes", t));
        for n in notes {
            out.push(Line::raw(format!(
                "  {} {}: {}",
                n.at.format("%H:%M:%S"),
                n.operator,
                n.text
            )));
        }
    }
    out
}

fn expectations(step: &Step, t: Theme, out: &mut Vec<Line<'static>>) {
    let (expect, captures) = match &step.kind {
        StepKind::Check {
            expect, capture, ..
        } => (
            expect.as_ref().map(|e| e.source().to_owned()),
            capture.as_slice(),
        ),
        StepKind::Wait {
            expect, capture, ..
        } => (Some(expect.source().to_owned()), capture.as_slice()),
        StepKind::Gate { expect, .. } => (Some(expect.source().to_owned()), &[][..]),
        StepKind::Input { expect, .. } => (expect.as_ref().map(|e| e.source().to_owned()), &[][..]),
        StepKind::Command(c) => (None, c.capture.as_slice()),
        StepKind::Manual { .. } => (None, &[][..]),
    };
    if let Some(e) = expect {
        out.push(Line::from(vec![
            Span::styled("Expects ", t.heading()),
            Span::raw(e),
        ]));
    }
    if !captures.is_empty() {
        out.push(heading("Captures", t));
        for c in captures {
            out.push(Line::raw(format!(
                "  {} ({}) ← {}",
                c.var,
                c.ty,
                c.expr.source()
            )));
        }
    }
}

/// The last journaled observation. A running wait step polls more often than it journals
/// (it records a change of outcome or error, and one poll every so often); `polls`, the polls
/// of the running step so far, lets the heading say so, since the latest poll is the one the
/// gauge line shows.
fn observed(
    st: &crate::engine::state::StepState,
    polls: Option<u32>,
    t: Theme,
    out: &mut Vec<Line<'static>>,
) {
    let Some(o) = &st.last_observation else {
        return;
    };
    out.push(Line::default());
    let times = if st.observations == 1 {
        "once".to_owned()
    } else {
        format!("{} times", st.observations)
    };
    let head = match polls {
        Some(p) if p > st.observations => format!("Observed (journaled {times} in {p} polls)"),
        _ => format!("Observed ({times})"),
    };
    out.push(heading(&head, t));
    let line = match (&o.error, o.held) {
        (Some(e), _) => Line::styled(format!("  ✗ could not observe: {e}"), t.warn()),
        (None, Some(true)) => Line::styled(format!("  ✓ holds: {}", o.summary), t.ok()),
        (None, Some(false)) => Line::styled(format!("  ✗ does not hold: {}", o.summary), t.fail()),
        (None, None) => Line::raw(format!("  {}", o.summary)),
    };
    out.push(line);
    out.push(Line::styled(format!("  call {}", o.call), t.dim()));
    if let serde_json::Value::Object(fields) = &o.value {
        for (k, v) in fields.iter().take(12) {
            out.push(Line::styled(format!("    {k} = {}", json_text(v)), t.dim()));
        }
    } else if !o.value.is_null() {
        out.push(Line::styled(
            format!("    {}", json_text(&o.value)),
            t.dim(),
        ));
    }
}

fn result(st: &crate::engine::state::StepState, t: Theme, out: &mut Vec<Line<'static>>) {
    if st.status == StepStatus::Pending && st.failures.is_empty() && st.items.is_empty() {
        return;
    }
    out.push(Line::default());
    let mut head = vec![
        Span::styled("Result ", t.heading()),
        Span::raw(st.status.word().to_owned()),
    ];
    if st.duration_ms > 0 {
        head.push(Span::raw(format!(
            " in {}",
            seconds(Duration::from_millis(st.duration_ms))
        )));
    }
    if st.attempts > 1 {
        head.push(Span::raw(format!(" · {} attempts", st.attempts)));
    }
    if let Some(op) = &st.operator {
        head.push(Span::styled(format!(" · by {op}"), t.dim()));
    }
    out.push(Line::from(head));
    if let StepStatus::Skipped { reason, overridden } = &st.status {
        let style = if *overridden { t.fail() } else { t.warn() };
        out.push(Line::styled(format!("  reason: {reason}"), style));
    }
    for (k, v) in &st.captures {
        out.push(Line::raw(format!("  {k} = {}", json_text(v))));
    }
    if let Some(e) = &st.evidence {
        out.push(Line::raw(format!("  evidence: {e}")));
    }
    if let Some(n) = &st.note {
        out.push(Line::raw(format!("  note: {n}")));
    }
    if let Some(code) = st.exit_code {
        out.push(Line::raw(format!("  exit code {code}")));
    }
    for (item, phase, detail) in &st.items {
        let (g, style) = match phase {
            crate::engine::record::ItemPhase::Started => ("…", t.warn()),
            crate::engine::record::ItemPhase::Done => ("✓", t.ok()),
            crate::engine::record::ItemPhase::Failed => ("✗", t.fail()),
        };
        out.push(Line::styled(format!("  {g} {item}: {detail}"), style));
    }
    for f in &st.failures {
        out.push(Line::styled(format!("  ✗ {f}"), t.fail()));
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
