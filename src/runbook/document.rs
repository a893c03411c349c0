//! A runbook as a readable document, for study and printing before an incident
//! (`canton-dr show`).

use std::fmt::Write as _;

use crate::runbook::model::{Action, Evidence, ProbeCall, Runbook, Step, StepKind};
use crate::value::format_duration;

/// Output format of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocFormat {
    Markdown,
    Text,
}

/// Renders the runbook. Markdown is also readable as plain text; `Text` drops the markup.
pub fn render(rb: &Runbook, format: DocFormat) -> String {
    let md = format == DocFormat::Markdown;
    let mut out = String::new();
    let h = |level: usize, text: &str| -> String {
        if md {
            format!("{} {text}\n\n", "#".repeat(level))
        } else {
            let line = if level == 1 { '=' } else { '-' };
            format!(
                "{text}\n{}\n\n",
                line.to_string().repeat(text.chars().count())
            )
        }
    };
    let code = |text: &str| -> String {
        if md {
            format!("`{text}`")
        } else {
            text.to_owned()
        }
    };
    out.push_str(&h(1, &rb.title));
    let _ = writeln!(out, "Runbook {} implements: {}", code(&rb.id), rb.source);
    if let Some(url) = &rb.source_url {
        let _ = writeln!(out, "Source: {url}");
    }
    if let Some(b) = rb.recovery_budget {
        let _ = writeln!(out, "Recovery-time budget: {}", format_duration(b));
    }
    let _ = writeln!(
        out,
        "Steps: {}. Runbook SHA-256: {}",
        rb.steps.len(),
        rb.sha256
    );
    out.push('\n');
    if let Some(s) = &rb.summary {
        out.push_str(s.trim());
        out.push_str("\n\n");
    }
    if !(rb.params.is_empty()
        && rb.queries.is_empty()
        && rb.commands.is_empty()
        && rb.endpoints.is_empty())
    {
        out.push_str(&h(2, "What the site profile must provide"));
        for (name, p) in &rb.params {
            let default = p
                .default
                .as_ref()
                .map(|d| format!(" (default {d})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- parameter {} ({}): {}{default}",
                code(name),
                p.ty,
                p.description
            );
        }
        for (name, q) in &rb.queries {
            let cols: Vec<String> = q.returns.iter().map(|(c, t)| format!("{c}: {t}")).collect();
            let params = if q.params.is_empty() {
                String::new()
            } else {
                format!(
                    ", parameters {}",
                    q.params
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let _ = writeln!(
                out,
                "- query {}: {} (returns {}{params})",
                code(name),
                q.description,
                cols.join(", ")
            );
        }
        for (name, c) in &rb.commands {
            let mut tags = Vec::new();
            if c.read_only {
                tags.push("read-only".to_owned());
            }
            if c.destructive {
                tags.push("destructive".to_owned());
            }
            if !c.env.is_empty() {
                tags.push(format!("receives {}", c.env.join(", ")));
            }
            let tags = if tags.is_empty() {
                String::new()
            } else {
                format!(" ({})", tags.join("; "))
            };
            let _ = writeln!(out, "- command {}: {}{tags}", code(name), c.description);
        }
        for (name, e) in &rb.endpoints {
            let _ = writeln!(out, "- endpoint {}: {}", code(name), e.description);
        }
        out.push('\n');
    }
    out.push_str(&h(2, "Procedure"));
    let mut group: Option<&str> = None;
    for (i, step) in rb.steps.iter().enumerate() {
        if step.group.as_deref() != group {
            group = step.group.as_deref();
            if let Some(g) = group {
                out.push_str(&h(3, g));
            }
        }
        render_step(&mut out, i + 1, step, md);
    }
    out
}

fn render_step(out: &mut String, n: usize, step: &Step, md: bool) {
    let bold = |t: &str| if md { format!("**{t}**") } else { t.to_owned() };
    let code = |t: &str| if md { format!("`{t}`") } else { t.to_owned() };
    let _ = writeln!(
        out,
        "{n}. {} [{}, {}]",
        bold(&step.title),
        step.kind.name(),
        code(&step.id)
    );
    let indent = "   ";
    let mut line = |text: String| {
        for l in text.lines() {
            let _ = writeln!(out, "{indent}{l}");
        }
    };
    if let Some(w) = &step.when {
        line(format!("Only when: {}", code(w.source())));
    }
    if let Some(why) = &step.why {
        line(format!("Why: {}", why.trim()));
    }
    if let Some(i) = &step.instructions {
        line(i.to_string().trim().to_owned());
    }
    if let Some(c) = &step.caveat {
        line(format!("{} {}", bold("Caveat:"), c.trim()));
    }
    match &step.kind {
        StepKind::Manual {
            evidence,
            destructive,
        } => {
            let mut s = "The operator does this and confirms.".to_owned();
            if *evidence == Evidence::Required {
                s.push_str(" Evidence is required.");
            }
            if *destructive {
                s.push_str(" Destructive: confirmed by typing the step id.");
            }
            line(s);
        }
        StepKind::Input {
            var,
            ty,
            prompt,
            default,
            expect,
        } => {
            let mut s = format!("Input {} ({ty}): {}", code(var), sentence(prompt));
            if let Some(d) = default {
                let _ = write!(s, " Default: {}.", d.display());
            }
            if let Some(e) = expect {
                let _ = write!(s, " Must satisfy {}.", code(e.source()));
            }
            line(s);
        }
        StepKind::Command(c) => {
            let what = match &c.action {
                Action::Named(n) => format!("Runs the site's command {}", code(n)),
                Action::Argv(a) => format!(
                    "Runs {}",
                    code(&a.iter().map(|x| x.display()).collect::<Vec<_>>().join(" "))
                ),
                Action::Shell { shell, script } => {
                    format!("Runs a {shell} script:\n{}", script.trim())
                }
                Action::Builtin(p) => format!("Performs {}", code(&p.display())),
            };
            line(what);
            if !c.env.is_empty() {
                let env: Vec<String> = c
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.display()))
                    .collect();
                line(format!("Environment: {}", code(&env.join(" "))));
            }
            let mut s = String::new();
            if let Some(t) = c.timeout {
                let _ = write!(s, "Time limit {}.", format_duration(t));
            }
            if c.destructive {
                s.push_str(" Destructive: confirmed by typing the step id.");
            }
            if c.keep_running_on_exit {
                s.push_str(" Keeps running if canton-dr exits.");
            }
            if !s.is_empty() {
                line(s.trim().to_owned());
            }
            if let Some(v) = &c.verify {
                line(format!(
                    "Then verifies {} until {} (up to {}).",
                    code(&v.probe.display()),
                    code(v.expect.source()),
                    format_duration(v.timeout)
                ));
            }
            captures(&mut line, &c.capture, md);
        }
        StepKind::Check {
            probe,
            expect,
            capture,
            advisory,
        } => {
            line(format!(
                "Checks {}{}",
                code(&probe_text(probe)),
                expect_text(expect.as_ref().map(|e| e.source()), md)
            ));
            if *advisory {
                line("Advisory: a failure is recorded, and the run continues.".into());
            }
            captures(&mut line, capture, md);
        }
        StepKind::Wait {
            probe,
            expect,
            capture,
            interval,
            timeout,
            ..
        } => {
            line(format!(
                "Polls {} every {} until {} (up to {}).",
                code(&probe_text(probe)),
                format_duration(*interval),
                code(expect.source()),
                format_duration(*timeout)
            ));
            captures(&mut line, capture, md);
        }
        StepKind::Gate { probe, expect, .. } => {
            let on = probe
                .as_ref()
                .map(|p| format!(" on {}", code(&probe_text(p))))
                .unwrap_or_default();
            line(format!(
                "Gate: the run stops here until {}{on}. Passing it otherwise is an override, typed and journaled.",
                code(expect.source())
            ));
        }
    }
    if let Some(b) = step.budget {
        line(format!("Budget: {}.", format_duration(b)));
    }
    if !step.implements.is_empty() {
        line(format!("Implements: {}.", step.implements.join(", ")));
    }
    out.push('\n');
}

fn probe_text(p: &ProbeCall) -> String {
    p.display()
}

fn expect_text(e: Option<&str>, md: bool) -> String {
    match e {
        Some(e) if md => format!(", expecting `{e}`."),
        Some(e) => format!(", expecting {e}."),
        None => ".".to_owned(),
    }
}

fn captures(line: &mut impl FnMut(String), capture: &[crate::runbook::model::Capture], md: bool) {
    if capture.is_empty() {
        return;
    }
    let items: Vec<String> = capture
        .iter()
        .map(|c| {
            if md {
                format!("`{}` ({}) = `{}`", c.var, c.ty, c.expr.source())
            } else {
                format!("{} ({}) = {}", c.var, c.ty, c.expr.source())
            }
        })
        .collect();
    line(format!("Captures {}.", items.join(", ")));
}

/// Ends a phrase with a full stop unless it already ends with punctuation.
fn sentence(text: &str) -> String {
    let t = text.trim();
    if t.ends_with(['.', '?', '!', ':']) {
        t.to_owned()
    } else {
        format!("{t}.")
    }
}
