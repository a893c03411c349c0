//! The HTML transcript: one self-contained file (its styles are embedded; it loads no fonts,
//! scripts, images or styles), with a timeline of the steps against the budget, statuses in
//! colour and in words, evidence that folds away (`<details>`), and styles for printing.

use std::fmt::Write as _;

use super::drill::DrillReport;
use super::model::{Attempt, DrillEntry, EndEntry, ObservationEntry, StepReport, Transcript};
use super::text::{html as esc, json_inline, json_pretty, millis, seconds, status_tone};

/// The embedded style sheet.
const CSS: &str = include_str!("../../assets/transcript.css");

/// Renders a transcript as one HTML document.
pub fn render(t: &Transcript) -> String {
    let mut out = String::with_capacity(16384 + t.steps.len() * 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Incident transcript: {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        esc(&t.incident.id)
    );
    header(&mut out, t);
    out.push_str("<main>\n");
    params(&mut out, t);
    timeline(&mut out, t);
    overview(&mut out, t);
    for step in &t.steps {
        step_detail(&mut out, step);
    }
    notes(&mut out, t);
    warnings(&mut out, t);
    sessions(&mut out, t);
    recoveries(&mut out, t);
    drill(&mut out, t);
    verification(&mut out, t);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// A status in colour and in words.
fn badge(code: &str, words: &str) -> String {
    format!(
        "<span class=\"status {}\">{}</span>",
        status_tone(code),
        esc(words)
    )
}

fn c(text: &str) -> String {
    format!("<code>{}</code>", esc(text))
}

fn seq(n: u64) -> String {
    format!("<span class=\"seq\">#{n}</span>")
}

fn outcome_badge(t: &Transcript) -> String {
    let words = match t.outcome.status.as_str() {
        "completed" => "completed",
        "aborted" => "aborted",
        _ => "in progress",
    };
    badge(&t.outcome.status, words)
}

fn header(out: &mut String, t: &Transcript) {
    let i = &t.incident;
    let rb = &t.runbook;
    let o = &t.outcome;
    let _ = writeln!(out, "<header>\n<h1>Incident transcript: {}</h1>", c(&i.id));
    let _ = writeln!(
        out,
        "<p class=\"lead\">{} <strong>{}</strong> run of runbook {} ({}){}: {} of {} steps \
         done, {} skipped or not applicable.</p>",
        outcome_badge(t),
        esc(&i.mode_label),
        c(&rb.id),
        esc(&rb.title),
        o.reason
            .as_deref()
            .map(|r| format!(" — {}", esc(r)))
            .unwrap_or_default(),
        o.steps_done,
        o.steps_total,
        o.steps_skipped
    );
    out.push_str(
        "<p class=\"guide\">Every fact below comes from the incident journal; #N is the number \
         of the journal record it comes from. Times are UTC.</p>\n<dl class=\"facts\">\n",
    );
    let mut fact = |k: &str, v: String| {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
    };
    fact("Incident", c(&i.id));
    fact("Runbook", format!("{} — {}", c(&rb.id), esc(&rb.title)));
    fact("Runbook SHA-256", c(&rb.sha256));
    fact(
        "Runbook source",
        match &rb.source_url {
            Some(url) => format!("{} ({})", esc(&rb.source), c(url)),
            None => esc(&rb.source),
        },
    );
    fact(
        "Runbook files",
        rb.files
            .iter()
            .map(|f| {
                if f.name == f.path {
                    c(&f.name)
                } else {
                    format!("{} (from {})", c(&f.name), c(&f.path))
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    fact(
        "Profile",
        match &t.profile {
            Some(p) => format!(
                "{} from {}, SHA-256 {}",
                c(&p.name),
                c(&p.path),
                c(&p.sha256)
            ),
            None => "none".to_owned(),
        },
    );
    fact("Mode", format!("<strong>{}</strong>", esc(&i.mode_label)));
    fact(
        "Operator",
        format!("{} (OS user {})", esc(&i.operator), c(&i.user)),
    );
    fact("Host", c(&i.host));
    fact("Started", format!("{} {}", esc(&i.opened_at), seq(i.seq)));
    fact(
        "Ended",
        match (&i.ended_at, o.seq) {
            (Some(at), Some(n)) => format!("{} {}", esc(at), seq(n)),
            (Some(at), None) => esc(at),
            _ => format!("not ended; last record at {}", esc(&i.last_record_at)),
        },
    );
    fact("Elapsed", budget_html(i.elapsed_ms, rb.budget_ms));
    fact(
        "Tool version",
        format!("canton-dr {}", esc(&i.tool_version)),
    );
    out.push_str("</dl>\n</header>\n");
}

fn budget_html(elapsed_ms: u64, budget_ms: Option<u64>) -> String {
    match budget_ms {
        Some(b) if elapsed_ms <= b => format!(
            "{} of a {} budget {}",
            millis(elapsed_ms),
            millis(b),
            badge("passed", "within budget")
        ),
        Some(b) => format!(
            "{} of a {} budget {}",
            millis(elapsed_ms),
            millis(b),
            badge(
                "failed",
                &format!("over budget by {}", millis(elapsed_ms - b))
            )
        ),
        None => format!("{} (no budget)", millis(elapsed_ms)),
    }
}

fn params(out: &mut String, t: &Transcript) {
    if t.params.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"parameters\">\n<h2>Parameters</h2>\n<table>\n\
         <tr><th>Parameter</th><th>Value</th></tr>\n",
    );
    for (k, v) in &t.params {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            c(k),
            c(&json_inline(v))
        );
    }
    out.push_str("</table>\n</section>\n");
}

/// A percentage of `scale` with two decimals, for positions on the timeline.
fn pct(ms: u64, scale: u64) -> String {
    let hundredths = (u128::from(ms) * 10_000 / u128::from(scale.max(1))).min(10_000);
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

fn timeline(out: &mut String, t: &Transcript) {
    let budget = t.runbook.budget_ms;
    let latest = t
        .steps
        .iter()
        .filter_map(|s| s.end_ms.or(s.start_ms))
        .max()
        .unwrap_or(0);
    let span = t
        .incident
        .elapsed_ms
        .max(budget.unwrap_or(0))
        .max(latest)
        .max(1);
    // A little room on the right, so that a budget line at the end of the span stays visible.
    let scale = span + span / 20;
    out.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"legend muted\"><span>Bars: when each step ran, coloured by status.</span>\
         <span>Hatched: the step's own budget.</span>{}</p>",
        match budget {
            Some(b) => format!(
                "<span>Dashed red line: the runbook's recovery budget ({}).</span>",
                millis(b)
            ),
            None => String::new(),
        }
    );
    out.push_str("<div class=\"timeline\">\n");
    for s in &t.steps {
        let tone = status_tone(&s.status);
        let _ = write!(
            out,
            "<div class=\"tl-row\"><span class=\"tl-label\" title=\"{}\">{}. {}</span>\
             <span class=\"tl-track\">",
            esc(&s.title),
            s.number,
            esc(&s.id)
        );
        if let (Some(start), Some(b)) = (s.start_ms, s.budget_ms) {
            let _ = write!(
                out,
                "<span class=\"tl-budget\" style=\"left:{};width:{}\"></span>",
                pct(start, scale),
                pct(b.min(scale.saturating_sub(start)), scale)
            );
        }
        if let Some(start) = s.start_ms {
            let end = s.end_ms.unwrap_or(t.incident.elapsed_ms).max(start);
            let _ = write!(
                out,
                "<span class=\"tl-bar {tone}\" style=\"left:{};width:{}\" title=\"{}: {}\">\
                 </span>",
                pct(start, scale),
                pct(end - start, scale),
                esc(&s.id),
                esc(&s.status_text)
            );
        }
        if let Some(b) = budget {
            let _ = write!(
                out,
                "<span class=\"tl-limit\" style=\"left:{}\"></span>",
                pct(b, scale)
            );
        }
        let time = match s.start_ms {
            Some(_) => millis(s.duration_ms),
            None => "not started".to_owned(),
        };
        let _ = writeln!(
            out,
            "</span><span class=\"tl-time\">{} {}</span></div>",
            esc(&time),
            badge(&s.status, &s.status_text)
        );
    }
    let _ = writeln!(
        out,
        "</div>\n<div class=\"tl-axis\"><span></span><span class=\"ends\"><span>0s</span>\
         <span>{}</span></span><span></span></div>\n</section>",
        millis(scale)
    );
}

fn overview(out: &mut String, t: &Transcript) {
    out.push_str(
        "<section id=\"steps\">\n<h2>Steps</h2>\n<table>\n<tr><th>#</th><th>Step</th>\
         <th>Kind</th><th>Status</th><th>Started</th><th>Finished</th><th>Took</th>\
         <th>Attempts</th></tr>\n",
    );
    for s in &t.steps {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><a href=\"#step-{}\">{}</a> {}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.number,
            s.number,
            c(&s.id),
            esc(&s.title),
            esc(&s.kind),
            badge(&s.status, &s.status_text),
            esc(s.started_at.as_deref().unwrap_or("—")),
            esc(s.finished_at.as_deref().unwrap_or("—")),
            took(s),
            s.attempts.len()
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn took(s: &StepReport) -> String {
    if s.attempts.is_empty() {
        return "—".to_owned();
    }
    let mut out = esc(&millis(s.duration_ms));
    if let Some(b) = s.budget_ms {
        let _ = write!(out, " (budget {})", esc(&millis(b)));
    }
    if s.over_budget {
        out.push_str(" <span class=\"over\">over budget</span>");
    }
    out
}

fn quote(text: &str) -> String {
    format!("<blockquote>{}</blockquote>", esc(text))
}

fn folded(summary: &str, body: &str) -> String {
    format!(
        "<details><summary>{}</summary><pre>{}</pre></details>",
        esc(summary),
        esc(body)
    )
}

fn step_detail(out: &mut String, s: &StepReport) {
    let _ = writeln!(
        out,
        "<section class=\"step {}\" id=\"step-{}\">\n<h3>{}. {} {}</h3>",
        status_tone(&s.status),
        s.number,
        s.number,
        esc(&s.title),
        badge(&s.status, &s.status_text)
    );
    out.push_str("<dl class=\"facts\">\n");
    let mut fact = |k: &str, v: String| {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
    };
    fact("Step", format!("{} ({})", c(&s.id), esc(&s.kind)));
    if let Some(g) = &s.group {
        fact("Part of", esc(g));
    }
    if !s.implements.is_empty() {
        let list: Vec<String> = s.implements.iter().map(|x| c(x)).collect();
        fact("Implements", list.join(", "));
    }
    if let Some(op) = &s.operator {
        fact("Operator", esc(op));
    }
    if let Some(at) = &s.started_at {
        fact("Started", esc(at));
    }
    if let Some(at) = &s.finished_at {
        fact("Finished", esc(at));
    }
    if s.attempts.is_empty() {
        if s.status == "pending" {
            fact("Took", "not reached".to_owned());
        }
    } else {
        fact("Took", took(s));
        fact(
            "Attempts",
            match s.retries {
                0 => s.attempts.len().to_string(),
                1 => format!("{} (1 retry)", s.attempts.len()),
                n => format!("{} ({n} retries)", s.attempts.len()),
            },
        );
    }
    out.push_str("</dl>\n");
    if let Some(text) = &s.instructions {
        let _ = writeln!(out, "{}", folded("Instructions", text));
    }
    if let Some(na) = &s.not_applicable {
        let _ = writeln!(
            out,
            "<p>{} {} {}: its condition {} did not hold.</p>",
            badge("not_applicable", "not applicable"),
            seq(na.seq),
            esc(&na.at),
            c(&na.condition)
        );
    }
    if let Some(skip) = &s.skip {
        let (code, word) = if skip.overridden {
            ("overridden", "overridden")
        } else {
            ("skipped", "skipped")
        };
        let _ = writeln!(
            out,
            "<p>{} {} {} by {}: {}</p>",
            badge(code, word),
            seq(skip.seq),
            esc(&skip.at),
            esc(&skip.operator),
            esc(&skip.reason)
        );
    }
    for a in &s.attempts {
        attempt(out, a);
    }
    if !s.in_doubt.is_empty() {
        out.push_str("<h4>In doubt after a crash</h4>\n<ul class=\"events\">\n");
        for d in &s.in_doubt {
            let what = match (d.choice.as_str(), &d.detail) {
                ("rerun", _) => "run it again".to_owned(),
                ("mark_done", Some(e)) => format!("mark it done, with evidence: {}", esc(e)),
                ("skip", Some(r)) => format!("skip it: {}", esc(r)),
                (other, detail) => format!(
                    "{}{}",
                    esc(other),
                    detail
                        .as_deref()
                        .map(|x| format!(": {}", esc(x)))
                        .unwrap_or_default()
                ),
            };
            let _ = writeln!(
                out,
                "<li>{} {}: {} decided about attempt {} to {what}</li>",
                seq(d.seq),
                esc(&d.at),
                esc(&d.operator),
                d.attempt
            );
        }
        out.push_str("</ul>\n");
    }
    if !s.captures.is_empty() {
        out.push_str(
            "<h4>Captured values</h4>\n<table>\n<tr><th>Variable</th><th>Value</th></tr>\n",
        );
        for (k, v) in &s.captures {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                c(k),
                c(&json_inline(v))
            );
        }
        out.push_str("</table>\n");
    }
    if !s.notes.is_empty() {
        out.push_str("<h4>Notes</h4>\n<ul class=\"events\">\n");
        for n in &s.notes {
            let _ = writeln!(
                out,
                "<li>{} {}, {}: {}</li>",
                seq(n.seq),
                esc(&n.at),
                esc(&n.operator),
                quote(&n.text)
            );
        }
        out.push_str("</ul>\n");
    }
    if !s.warnings.is_empty() {
        out.push_str("<h4>Warnings</h4>\n<ul class=\"events\">\n");
        for w in &s.warnings {
            let _ = writeln!(
                out,
                "<li>{} {}: {}</li>",
                seq(w.seq),
                esc(&w.at),
                esc(&w.message)
            );
        }
        out.push_str("</ul>\n");
    }
    if !s.redactions.is_empty() {
        let list: Vec<String> = s
            .redactions
            .iter()
            .map(|(rule, n)| format!("{} ×{n}", c(rule)))
            .collect();
        let _ = writeln!(
            out,
            "<p class=\"muted\">Secrets redacted from the output when it was recorded: {}</p>",
            list.join(", ")
        );
    }
    out.push_str("</section>\n");
}

fn attempt(out: &mut String, a: &Attempt) {
    let _ = writeln!(out, "<h4>Attempt {}</h4>\n<ul class=\"events\">", a.number);
    if let Some(st) = &a.started {
        let _ = write!(
            out,
            "<li>{} {} — started by {}{}: {}<br><span class=\"muted\">action SHA-256 {}</span>",
            seq(st.seq),
            esc(&st.at),
            esc(&st.operator),
            if st.side_effects {
                " (changes the world)"
            } else {
                ""
            },
            c(&st.action),
            c(&st.action_sha256)
        );
        if !st.inputs.is_empty() {
            let list: Vec<String> = st
                .inputs
                .iter()
                .map(|(k, v)| format!("{} = {}", c(k), c(&json_inline(v))))
                .collect();
            let _ = write!(out, "<br>inputs: {}", list.join(", "));
        }
        out.push_str("</li>\n");
    }
    if let Some(sp) = &a.spawned {
        let _ = writeln!(
            out,
            "<li>{} {} — process started: pid {}, process group {}, start time {}</li>",
            seq(sp.seq),
            esc(&sp.at),
            sp.pid,
            sp.pgid,
            sp.start_time
        );
    }
    for o in &a.observations {
        observation(out, o);
    }
    for item in &a.items {
        let phase = match item.phase.as_str() {
            "done" => badge("passed", "done"),
            "failed" => badge("failed", "failed"),
            other => badge("pending", other),
        };
        let _ = writeln!(
            out,
            "<li>{} {} — item {} {phase}{}</li>",
            seq(item.seq),
            esc(&item.at),
            c(&item.item),
            if item.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", esc(&item.detail))
            }
        );
    }
    match &a.end {
        Some(end) => end_entry(out, end),
        None => out.push_str("<li>no outcome recorded for this attempt</li>\n"),
    }
    out.push_str("</ul>\n");
}

fn observation(out: &mut String, o: &ObservationEntry) {
    let verdict = match (o.held, &o.error) {
        (Some(true), _) => badge("passed", "expectation held"),
        (Some(false), _) => badge("failed", "expectation not held"),
        (None, Some(e)) => format!(
            "{}: {}",
            badge(
                "failed",
                if o.retryable {
                    "probe failed (may recover)"
                } else {
                    "probe failed"
                }
            ),
            esc(e)
        ),
        (None, None) => badge("pending", "observed"),
    };
    let _ = write!(
        out,
        "<li>{} {} — check {}: {verdict} — {}",
        seq(o.seq),
        esc(&o.at),
        c(&o.call),
        esc(&o.summary)
    );
    if !o.value.is_null() {
        out.push_str(&folded("Evidence", &json_pretty(&o.value)));
    }
    out.push_str("</li>\n");
}

fn end_entry(out: &mut String, e: &EndEntry) {
    let what = match e.result.as_str() {
        "completed" => {
            let (code, word) = match e.outcome.as_deref() {
                Some("passed") => ("passed", "passed"),
                Some("confirmed") => ("confirmed", "confirmed"),
                Some("shown") => ("shown", "shown, not run (dry-run)"),
                Some("marked_done") => ("marked_done", "marked done"),
                _ => ("completed", "completed"),
            };
            badge(code, word)
        }
        "timed_out" => badge("timed_out", "timed out"),
        _ => format!(
            "{}: {}",
            badge("failed", "failed"),
            esc(e.reason.as_deref().unwrap_or("no reason recorded"))
        ),
    };
    let mut extra = Vec::new();
    if let Some(code) = e.exit_code {
        extra.push(format!("exit code {code}"));
    }
    if let Some(sig) = e.signal {
        extra.push(format!("signal {sig}"));
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" ({})", extra.join(", "))
    };
    let _ = write!(
        out,
        "<li>{} {} — {what} after {}{extra}, by {}",
        seq(e.seq),
        esc(&e.at),
        esc(&millis(e.duration_ms)),
        esc(&e.operator)
    );
    if let Some(note) = &e.note {
        let _ = write!(out, "<br>note: {}", quote(note));
    }
    if let Some(ev) = &e.evidence {
        let _ = write!(out, "<br>evidence: {}", quote(ev));
    }
    if let Some(o) = &e.output {
        for (name, text, bytes) in [
            ("stdout", &o.stdout, o.stdout_bytes),
            ("stderr", &o.stderr, o.stderr_bytes),
        ] {
            if text.is_empty() && bytes == 0 {
                continue;
            }
            out.push_str(&folded(
                &format!(
                    "{name} ({bytes} bytes{})",
                    if o.truncated { ", cut off" } else { "" }
                ),
                text,
            ));
        }
        let _ = write!(
            out,
            "<span class=\"muted\">output SHA-256 {}</span>",
            c(&o.sha256)
        );
    }
    out.push_str("</li>\n");
}

fn notes(out: &mut String, t: &Transcript) {
    if t.notes.is_empty() {
        return;
    }
    out.push_str("<section id=\"notes\">\n<h2>Notes</h2>\n<ul class=\"events\">\n");
    for n in &t.notes {
        let _ = writeln!(
            out,
            "<li>{} {}, {}: {}</li>",
            seq(n.seq),
            esc(&n.at),
            esc(&n.operator),
            quote(&n.text)
        );
    }
    out.push_str("</ul>\n</section>\n");
}

fn warnings(out: &mut String, t: &Transcript) {
    if t.warnings.is_empty() {
        return;
    }
    out.push_str("<section id=\"warnings\">\n<h2>Warnings</h2>\n<ul class=\"events\">\n");
    for w in &t.warnings {
        let _ = writeln!(
            out,
            "<li>{} {}: {}</li>",
            seq(w.seq),
            esc(&w.at),
            esc(&w.message)
        );
    }
    out.push_str("</ul>\n</section>\n");
}

fn sessions(out: &mut String, t: &Transcript) {
    out.push_str("<section id=\"sessions\">\n<h2>Sessions</h2>\n");
    if t.sessions.is_empty() {
        out.push_str("<p>No session records.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table>\n<tr><th>Started</th><th>By</th><th>Host</th><th>Process</th>\
         <th>Version</th><th>Ended</th></tr>\n",
    );
    for s in &t.sessions {
        let ended = match &s.ended {
            Some(e) => format!("{} {}: {}", seq(e.seq), esc(&e.at), esc(&e.reason)),
            None => "no end recorded".to_owned(),
        };
        let _ = writeln!(
            out,
            "<tr><td>{} {}{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{ended}</td></tr>",
            seq(s.seq),
            esc(&s.at),
            if s.resumed { " (resumed)" } else { "" },
            esc(&s.operator),
            c(&s.user),
            c(&s.host),
            s.pid,
            esc(&s.tool_version)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn recoveries(out: &mut String, t: &Transcript) {
    out.push_str("<section id=\"recoveries\">\n<h2>Journal recoveries</h2>\n");
    if t.recoveries.is_empty() {
        out.push_str("<p>None: the journal was never repaired.</p>\n</section>\n");
        return;
    }
    out.push_str("<ul class=\"events\">\n");
    for r in &t.recoveries {
        let _ = writeln!(
            out,
            "<li>{} {}, {}: {} — {} bytes cut off (SHA-256 {}), original kept at {}{}</li>",
            seq(r.seq),
            esc(&r.at),
            esc(&r.operator),
            c(&r.kind),
            r.truncated_bytes,
            c(&r.sha256_of_removed_bytes),
            c(&r.quarantine),
            r.reason
                .as_deref()
                .map(|x| format!("; reason: {}", esc(x)))
                .unwrap_or_default()
        );
    }
    out.push_str("</ul>\n</section>\n");
}

fn drill(out: &mut String, t: &Transcript) {
    match &t.drill {
        Some(d) => drill_entry(out, d),
        None if t.incident.mode == "drill" => out.push_str(
            "<section id=\"drill\">\n<h2>Drill result</h2>\n<p>The drill has not been \
             judged.</p>\n</section>\n",
        ),
        None => {}
    }
}

fn drill_entry(out: &mut String, d: &DrillEntry) {
    let _ = writeln!(
        out,
        "<section id=\"drill\">\n<h2>Drill result</h2>\n<p>Verdict: {} {} {}</p>",
        badge(&d.verdict, &d.verdict),
        seq(d.seq),
        esc(&d.at)
    );
    let Some(report) = DrillReport::read(&d.report) else {
        let _ = writeln!(
            out,
            "<p>The judge's report, as recorded:</p>\n<pre>{}</pre>\n</section>",
            esc(&json_pretty(&d.report))
        );
        return;
    };
    if !report.checks.is_empty() {
        out.push_str("<table>\n<tr><th>Check</th><th>Result</th><th>Evidence</th></tr>\n");
        for ch in &report.checks {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&ch.name),
                if ch.passed {
                    badge("passed", "passed")
                } else {
                    badge("failed", "FAILED")
                },
                esc(&json_inline(&ch.evidence))
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(score) = &report.score {
        let mut line = String::from("Score: ");
        match (score.total_seconds, score.budget_seconds) {
            (Some(total), Some(budget)) => {
                let _ = write!(
                    line,
                    "took {} of a {} budget",
                    seconds(total),
                    seconds(budget)
                );
            }
            (Some(total), None) => {
                let _ = write!(line, "took {}", seconds(total));
            }
            _ => line.push_str("no total time recorded"),
        }
        let mut html_line = esc(&line);
        match score.within_budget {
            Some(true) => {
                let _ = write!(html_line, " {}", badge("passed", "within budget"));
            }
            Some(false) => {
                let _ = write!(html_line, " {}", badge("failed", "over budget"));
            }
            None => {}
        }
        let _ = writeln!(
            out,
            "<p>{html_line}; retries: {}, skips: {}.</p>",
            score.retries.unwrap_or(0),
            score.skips.unwrap_or(0)
        );
        if !score.steps.is_empty() {
            out.push_str(
                "<table>\n<tr><th>Step</th><th>Took</th><th>Budget</th><th>Attempts</th></tr>\n",
            );
            for s in &score.steps {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    c(&s.id),
                    esc(&s.seconds.map_or_else(|| "—".to_owned(), seconds)),
                    esc(&s.budget_seconds.map_or_else(|| "—".to_owned(), seconds)),
                    s.attempts.map_or_else(|| "—".to_owned(), |a| a.to_string())
                );
            }
            out.push_str("</table>\n");
        }
        if !score.deviations.is_empty() {
            out.push_str("<h4>Deviations from the runbook</h4>\n<ul>\n");
            for dev in &score.deviations {
                let _ = writeln!(out, "<li>{}</li>", esc(dev));
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</section>\n");
}

fn verification(out: &mut String, t: &Transcript) {
    let j = &t.journal;
    out.push_str("<section id=\"verification\" class=\"verify\">\n<h2>Verification</h2>\n");
    if let Some(detail) = &j.tail_detail {
        let _ = writeln!(
            out,
            "<p>{} the journal does not end cleanly ({}): {}. This transcript holds its {} valid \
             records only.</p>",
            badge("failed", "warning"),
            esc(&j.tail),
            esc(detail),
            j.records
        );
    }
    let _ = writeln!(
        out,
        "<p>This transcript was built from the incident journal alone and includes all of its \
         {} records.</p>",
        j.records
    );
    if j.export_redactions.is_empty() {
        out.push_str(
            "<p>The exporter's own redaction pass found nothing secret-looking in the \
             journal.</p>\n",
        );
    } else {
        let list: Vec<String> = j
            .export_redactions
            .iter()
            .map(|(rule, n)| format!("{} ×{n}", c(rule)))
            .collect();
        let _ = writeln!(
            out,
            "<p>{} The exporter's own redaction pass replaced secret-looking text that the \
             journal holds: {}. It is either a secret recorded in the clear or text that only \
             looks like one (a shell variable in a URL); compare with the journal.</p>",
            badge("failed", "secret-looking text"),
            list.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "<pre>records={}\nhead={}\ntool_version={}\nrunbook_sha256={}</pre>",
        j.records,
        esc(&j.head),
        esc(&t.incident.tool_version),
        esc(&t.runbook.sha256)
    );
    let _ = writeln!(
        out,
        "<p>To check that the journal still holds exactly these records, run the command \
         below. It recomputes every checksum and the hash chain, and exits with status 0 only \
         if the journal is intact and matches both values. The check means something only if \
         this head digest is also kept outside the journal (in the change ticket).</p>\n\
         <pre>{}</pre>\n</section>",
        esc(&j.verify_command)
    );
}
