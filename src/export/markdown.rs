//! The Markdown transcript: readable as plain text, and renders cleanly in a change ticket.
//!
//! Operator text is escaped so that it shows as written; identifiers, calls and values are in
//! code spans; evidence and output are in fenced blocks.

use std::fmt::Write as _;

use super::drill::DrillReport;
use super::model::{Attempt, DrillEntry, EndEntry, ObservationEntry, StepReport, Transcript};
use super::text::{code, fence, json_inline, json_pretty, md, millis, seconds};

/// Renders a transcript as Markdown.
pub fn render(t: &Transcript) -> String {
    let mut out = String::with_capacity(4096 + t.steps.len() * 1024);
    header(&mut out, t);
    params(&mut out, t);
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
    out
}

fn outcome_words(t: &Transcript) -> String {
    let o = &t.outcome;
    let how = match (o.status.as_str(), &o.reason) {
        ("completed", _) => "completed".to_owned(),
        ("aborted", Some(r)) => format!("aborted: {}", md(r)),
        ("aborted", None) => "aborted".to_owned(),
        _ => "in progress (the run has not ended)".to_owned(),
    };
    format!(
        "{how}; {} of {} steps done, {} skipped or not applicable",
        o.steps_done, o.steps_total, o.steps_skipped
    )
}

fn budget_words(elapsed_ms: u64, budget_ms: Option<u64>) -> String {
    match budget_ms {
        Some(b) if elapsed_ms <= b => {
            format!(
                "{} of a {} budget (within budget)",
                millis(elapsed_ms),
                millis(b)
            )
        }
        Some(b) => format!(
            "{} of a {} budget (**over budget** by {})",
            millis(elapsed_ms),
            millis(b),
            millis(elapsed_ms - b)
        ),
        None => format!("{} (no budget)", millis(elapsed_ms)),
    }
}

fn header(out: &mut String, t: &Transcript) {
    let i = &t.incident;
    let rb = &t.runbook;
    let _ = writeln!(out, "# Incident transcript: {}\n", md(&i.id));
    let _ = writeln!(
        out,
        "{} run of runbook {} ({}): {}.\n",
        i.mode_label,
        code(&rb.id),
        md(&rb.title),
        outcome_words(t)
    );
    let _ = writeln!(
        out,
        "Every fact below comes from the incident journal; `#N` is the number of the journal \
         record it comes from. Times are UTC.\n"
    );
    out.push_str("| Field | Value |\n|---|---|\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "| {k} | {v} |");
    };
    row("Incident", code(&i.id));
    row("Runbook", format!("{} — {}", code(&rb.id), md(&rb.title)));
    row("Runbook SHA-256", code(&rb.sha256));
    row(
        "Runbook source",
        match &rb.source_url {
            Some(url) => format!("{} ({})", md(&rb.source), code(url)),
            None => md(&rb.source),
        },
    );
    row(
        "Runbook files",
        rb.files
            .iter()
            .map(|f| {
                if f.name == f.path {
                    code(&f.name)
                } else {
                    format!("{} (from {})", code(&f.name), code(&f.path))
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    row(
        "Profile",
        match &t.profile {
            Some(p) => format!(
                "{} from {}, SHA-256 {}",
                code(&p.name),
                code(&p.path),
                code(&p.sha256)
            ),
            None => "none".to_owned(),
        },
    );
    row("Mode", format!("**{}**", i.mode_label));
    row(
        "Operator",
        format!("{} (OS user {})", md(&i.operator), code(&i.user)),
    );
    row("Host", code(&i.host));
    row("Started", format!("{} (#{})", i.opened_at, i.seq));
    row(
        "Ended",
        match (&i.ended_at, t.outcome.seq) {
            (Some(at), Some(seq)) => format!("{at} (#{seq})"),
            (Some(at), None) => at.clone(),
            _ => format!("not ended; last record at {}", i.last_record_at),
        },
    );
    row("Elapsed", budget_words(i.elapsed_ms, rb.budget_ms));
    row("Outcome", outcome_words(t));
    row("Tool version", format!("canton-dr {}", md(&i.tool_version)));
    out.push('\n');
}

fn params(out: &mut String, t: &Transcript) {
    if t.params.is_empty() {
        return;
    }
    out.push_str("## Parameters\n\n| Parameter | Value |\n|---|---|\n");
    for (k, v) in &t.params {
        let _ = writeln!(out, "| {} | {} |", code(k), code(&json_inline(v)));
    }
    out.push('\n');
}

fn took(step: &StepReport) -> String {
    if step.attempts.is_empty() {
        return "—".to_owned();
    }
    let mut s = millis(step.duration_ms);
    if let Some(b) = step.budget_ms {
        let _ = write!(s, " (budget {})", millis(b));
    }
    if step.over_budget {
        s.push_str(" **over budget**");
    }
    s
}

fn overview(out: &mut String, t: &Transcript) {
    out.push_str("## Steps\n\n");
    out.push_str("| # | Step | Kind | Status | Started | Finished | Took | Attempts |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for s in &t.steps {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | **{}** | {} | {} | {} | {} |",
            s.number,
            code(&s.id),
            md(&s.title),
            s.kind,
            md(&s.status_text),
            s.started_at.as_deref().unwrap_or("—"),
            s.finished_at.as_deref().unwrap_or("—"),
            took(s),
            s.attempts.len()
        );
    }
    out.push('\n');
}

fn blockquote(out: &mut String, text: &str, indent: &str) {
    for line in text.lines() {
        if line.trim().is_empty() {
            let _ = writeln!(out, "{indent}>");
        } else {
            let _ = writeln!(out, "{indent}> {}", md(line));
        }
    }
}

fn step_detail(out: &mut String, s: &StepReport) {
    let _ = writeln!(out, "### {}. {}\n", s.number, md(&s.title));
    let _ = writeln!(out, "- Step: {} ({})", code(&s.id), s.kind);
    let _ = writeln!(out, "- Status: **{}**", md(&s.status_text));
    if let Some(g) = &s.group {
        let _ = writeln!(out, "- Part of: {}", md(g));
    }
    if !s.implements.is_empty() {
        let list: Vec<String> = s.implements.iter().map(|x| code(x)).collect();
        let _ = writeln!(out, "- Implements: {}", list.join(", "));
    }
    if let Some(op) = &s.operator {
        let _ = writeln!(out, "- Operator: {}", md(op));
    }
    if let Some(at) = &s.started_at {
        let _ = writeln!(out, "- Started: {at}");
    }
    if let Some(at) = &s.finished_at {
        let _ = writeln!(out, "- Finished: {at}");
    }
    if s.attempts.is_empty() {
        if s.status == "pending" {
            let _ = writeln!(out, "- Not reached");
        }
    } else {
        let _ = writeln!(out, "- Took: {}", took(s));
        let _ = writeln!(
            out,
            "- Attempts: {}{}",
            s.attempts.len(),
            match s.retries {
                0 => String::new(),
                1 => " (1 retry)".to_owned(),
                n => format!(" ({n} retries)"),
            }
        );
    }
    out.push('\n');
    if let Some(text) = &s.instructions {
        out.push_str("Instructions:\n\n");
        blockquote(out, text, "");
        out.push('\n');
    }
    if let Some(na) = &s.not_applicable {
        let _ = writeln!(
            out,
            "Not applicable (#{}, {}): its condition {} did not hold.\n",
            na.seq,
            na.at,
            code(&na.condition)
        );
    }
    if let Some(skip) = &s.skip {
        let _ = writeln!(
            out,
            "{} (#{}, {}) by {}: {}\n",
            if skip.overridden {
                "**Overridden**"
            } else {
                "**Skipped**"
            },
            skip.seq,
            skip.at,
            md(&skip.operator),
            md(&skip.reason)
        );
    }
    for a in &s.attempts {
        attempt(out, a);
    }
    if !s.in_doubt.is_empty() {
        out.push_str("In doubt after a crash:\n\n");
        for d in &s.in_doubt {
            let what = match (d.choice.as_str(), &d.detail) {
                ("rerun", _) => "run it again".to_owned(),
                ("mark_done", Some(e)) => format!("mark it done, with evidence: {}", md(e)),
                ("skip", Some(r)) => format!("skip it: {}", md(r)),
                (other, detail) => format!(
                    "{}{}",
                    md(other),
                    detail
                        .as_deref()
                        .map(|x| format!(": {}", md(x)))
                        .unwrap_or_default()
                ),
            };
            let _ = writeln!(
                out,
                "- #{} {}: {} decided about attempt {} to {what}",
                d.seq,
                d.at,
                md(&d.operator),
                d.attempt
            );
        }
        out.push('\n');
    }
    if !s.captures.is_empty() {
        out.push_str("Captured values:\n\n| Variable | Value |\n|---|---|\n");
        for (k, v) in &s.captures {
            let _ = writeln!(out, "| {} | {} |", code(k), code(&json_inline(v)));
        }
        out.push('\n');
    }
    if !s.notes.is_empty() {
        out.push_str("Notes:\n\n");
        for n in &s.notes {
            let _ = writeln!(out, "- #{} {}, {}:", n.seq, n.at, md(&n.operator));
            blockquote(out, &n.text, "  ");
        }
        out.push('\n');
    }
    if !s.warnings.is_empty() {
        out.push_str("Warnings:\n\n");
        for w in &s.warnings {
            let _ = writeln!(out, "- #{} {}: {}", w.seq, w.at, md(&w.message));
        }
        out.push('\n');
    }
    if !s.redactions.is_empty() {
        let list: Vec<String> = s
            .redactions
            .iter()
            .map(|(rule, n)| format!("{} ×{n}", code(rule)))
            .collect();
        let _ = writeln!(
            out,
            "Secrets redacted from the output when it was recorded: {}\n",
            list.join(", ")
        );
    }
}

fn attempt(out: &mut String, a: &Attempt) {
    let _ = writeln!(out, "#### Attempt {}\n", a.number);
    if let Some(st) = &a.started {
        let _ = writeln!(
            out,
            "- #{} {} — started by {}{}: {}",
            st.seq,
            st.at,
            md(&st.operator),
            if st.side_effects {
                " (changes the world)"
            } else {
                ""
            },
            code(&st.action)
        );
        let _ = writeln!(out, "  - action SHA-256: {}", code(&st.action_sha256));
        if !st.inputs.is_empty() {
            let list: Vec<String> = st
                .inputs
                .iter()
                .map(|(k, v)| format!("{} = {}", code(k), code(&json_inline(v))))
                .collect();
            let _ = writeln!(out, "  - inputs: {}", list.join(", "));
        }
    }
    if let Some(sp) = &a.spawned {
        let _ = writeln!(
            out,
            "- #{} {} — process started: pid {}, process group {}, start time {}",
            sp.seq, sp.at, sp.pid, sp.pgid, sp.start_time
        );
    }
    for o in &a.observations {
        observation(out, o);
    }
    for item in &a.items {
        let phase = match item.phase.as_str() {
            "started" => "started",
            "done" => "**done**",
            "failed" => "**failed**",
            other => other,
        };
        let _ = writeln!(
            out,
            "- #{} {} — item {} {phase}{}",
            item.seq,
            item.at,
            code(&item.item),
            if item.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", md(&item.detail))
            }
        );
    }
    match &a.end {
        Some(end) => end_entry(out, end),
        None => {
            let _ = writeln!(out, "- no outcome recorded for this attempt");
        }
    }
    out.push('\n');
}

fn observation(out: &mut String, o: &ObservationEntry) {
    let verdict = match (o.held, &o.error) {
        (Some(true), _) => "expectation held".to_owned(),
        (Some(false), _) => "expectation **not held**".to_owned(),
        (None, Some(e)) => format!(
            "probe **failed**{}: {}",
            if o.retryable { " (may recover)" } else { "" },
            md(e)
        ),
        (None, None) => "observed".to_owned(),
    };
    let _ = writeln!(
        out,
        "- #{} {} — check {}: {verdict} — {}",
        o.seq,
        o.at,
        code(&o.call),
        md(&o.summary)
    );
    if !o.value.is_null() {
        out.push_str(&fence(&json_pretty(&o.value), "json", "  "));
    }
}

fn end_entry(out: &mut String, e: &EndEntry) {
    let what = match e.result.as_str() {
        "completed" => format!(
            "**{}**",
            match e.outcome.as_deref() {
                Some("passed") => "passed",
                Some("confirmed") => "confirmed",
                Some("shown") => "shown, not run (dry-run)",
                Some("marked_done") => "marked done",
                _ => "completed",
            }
        ),
        "timed_out" => "**timed out**".to_owned(),
        _ => format!(
            "**failed**: {}",
            md(e.reason.as_deref().unwrap_or("no reason recorded"))
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
    let _ = writeln!(
        out,
        "- #{} {} — {what} after {}{extra}, by {}",
        e.seq,
        e.at,
        millis(e.duration_ms),
        md(&e.operator)
    );
    if let Some(note) = &e.note {
        out.push_str("  - note:\n");
        blockquote(out, note, "    ");
    }
    if let Some(ev) = &e.evidence {
        out.push_str("  - evidence:\n");
        blockquote(out, ev, "    ");
    }
    if let Some(o) = &e.output {
        for (name, text, bytes) in [
            ("stdout", &o.stdout, o.stdout_bytes),
            ("stderr", &o.stderr, o.stderr_bytes),
        ] {
            if text.is_empty() && bytes == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "  - {name} ({bytes} bytes{}):",
                if o.truncated { ", cut off" } else { "" }
            );
            out.push_str(&fence(text, "text", "    "));
        }
        let _ = writeln!(out, "  - output SHA-256: {}", code(&o.sha256));
    }
}

fn notes(out: &mut String, t: &Transcript) {
    if t.notes.is_empty() {
        return;
    }
    out.push_str("## Notes\n\n");
    for n in &t.notes {
        let _ = writeln!(out, "- #{} {}, {}:", n.seq, n.at, md(&n.operator));
        blockquote(out, &n.text, "  ");
    }
    out.push('\n');
}

fn warnings(out: &mut String, t: &Transcript) {
    if t.warnings.is_empty() {
        return;
    }
    out.push_str("## Warnings\n\n");
    for w in &t.warnings {
        let _ = writeln!(out, "- #{} {}: {}", w.seq, w.at, md(&w.message));
    }
    out.push('\n');
}

fn sessions(out: &mut String, t: &Transcript) {
    out.push_str("## Sessions\n\n");
    if t.sessions.is_empty() {
        out.push_str("No session records.\n\n");
        return;
    }
    out.push_str("| Started | By | Host | Process | Version | Ended |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for s in &t.sessions {
        let ended = match &s.ended {
            Some(e) => format!("#{} {}: {}", e.seq, e.at, md(&e.reason)),
            None => "no end recorded".to_owned(),
        };
        let _ = writeln!(
            out,
            "| #{} {}{} | {} ({}) | {} | {} | {} | {ended} |",
            s.seq,
            s.at,
            if s.resumed { " (resumed)" } else { "" },
            md(&s.operator),
            code(&s.user),
            code(&s.host),
            s.pid,
            md(&s.tool_version),
        );
    }
    out.push('\n');
}

fn recoveries(out: &mut String, t: &Transcript) {
    out.push_str("## Journal recoveries\n\n");
    if t.recoveries.is_empty() {
        out.push_str("None: the journal was never repaired.\n\n");
        return;
    }
    for r in &t.recoveries {
        let _ = writeln!(
            out,
            "- #{} {}, {}: {} — {} bytes cut off (SHA-256 {}), original kept at {}{}",
            r.seq,
            r.at,
            md(&r.operator),
            code(&r.kind),
            r.truncated_bytes,
            code(&r.sha256_of_removed_bytes),
            code(&r.quarantine),
            r.reason
                .as_deref()
                .map(|x| format!("; reason: {}", md(x)))
                .unwrap_or_default()
        );
    }
    out.push('\n');
}

fn drill(out: &mut String, t: &Transcript) {
    match &t.drill {
        Some(d) => drill_entry(out, d),
        None if t.incident.mode == "drill" => {
            out.push_str("## Drill result\n\nThe drill has not been judged.\n\n");
        }
        None => {}
    }
}

fn drill_entry(out: &mut String, d: &DrillEntry) {
    let _ = writeln!(
        out,
        "## Drill result\n\n**Verdict: {}** (#{}, {})\n",
        md(&d.verdict),
        d.seq,
        d.at
    );
    let Some(report) = DrillReport::read(&d.report) else {
        out.push_str("The judge's report, as recorded:\n\n");
        out.push_str(&fence(&json_pretty(&d.report), "json", ""));
        out.push('\n');
        return;
    };
    if !report.checks.is_empty() {
        out.push_str("| Check | Result | Evidence |\n|---|---|---|\n");
        for c in &report.checks {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                md(&c.name),
                if c.passed { "passed" } else { "**FAILED**" },
                md(&json_inline(&c.evidence))
            );
        }
        out.push('\n');
    }
    let Some(score) = &report.score else {
        return;
    };
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
    match score.within_budget {
        Some(true) => line.push_str(" (within budget)"),
        Some(false) => line.push_str(" (**over budget**)"),
        None => {}
    }
    let _ = write!(
        line,
        "; retries: {}, skips: {}.",
        score.retries.unwrap_or(0),
        score.skips.unwrap_or(0)
    );
    let _ = writeln!(out, "{line}\n");
    if !score.steps.is_empty() {
        out.push_str("| Step | Took | Budget | Attempts |\n|---|---|---|---|\n");
        for s in &score.steps {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                code(&s.id),
                s.seconds.map_or_else(|| "—".to_owned(), seconds),
                s.budget_seconds.map_or_else(|| "—".to_owned(), seconds),
                s.attempts.map_or_else(|| "—".to_owned(), |a| a.to_string())
            );
        }
        out.push('\n');
    }
    if !score.deviations.is_empty() {
        out.push_str("Deviations from the runbook:\n\n");
        for d in &score.deviations {
            let _ = writeln!(out, "- {}", md(d));
        }
        out.push('\n');
    }
}

fn verification(out: &mut String, t: &Transcript) {
    let j = &t.journal;
    out.push_str("## Verification\n\n");
    if let Some(detail) = &j.tail_detail {
        let _ = writeln!(
            out,
            "**Warning:** the journal does not end cleanly ({}): {}. This transcript holds its \
             {} valid records only.\n",
            j.tail,
            md(detail),
            j.records
        );
    }
    let _ = writeln!(
        out,
        "This transcript was built from the incident journal alone and includes all of its {} \
         records.\n",
        j.records
    );
    if j.export_redactions.is_empty() {
        out.push_str(
            "The exporter's own redaction pass found nothing secret-looking in the journal.\n\n",
        );
    } else {
        let list: Vec<String> = j
            .export_redactions
            .iter()
            .map(|(rule, n)| format!("{} ×{n}", code(rule)))
            .collect();
        let _ = writeln!(
            out,
            "**The exporter's own redaction pass replaced secret-looking text** that the journal \
             holds: {}. It is either a secret recorded in the clear or text that only looks like \
             one (a shell variable in a URL); compare with the journal.\n",
            list.join(", ")
        );
    }
    let block = format!(
        "records={}\nhead={}\ntool_version={}\nrunbook_sha256={}",
        j.records, j.head, t.incident.tool_version, t.runbook.sha256
    );
    out.push_str(&fence(&block, "text", ""));
    out.push_str(
        "\nTo check that the journal still holds exactly these records, run the command below. \
         It recomputes every checksum and the hash chain, and exits with status 0 only if the \
         journal is intact and matches both values. The check means something only if this \
         head digest is also kept outside the journal (in the change ticket).\n\n",
    );
    out.push_str(&fence(&j.verify_command, "sh", ""));
}
