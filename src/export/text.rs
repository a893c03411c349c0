//! Formatting shared by the renderers: durations, JSON values, statuses, and escaping for
//! Markdown and HTML.

use chrono::TimeDelta;

use crate::value::format_duration;

/// A span of milliseconds for people (`4s`, `1m 12s`, `250ms`).
pub fn millis(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    format_duration(TimeDelta::milliseconds(
        i64::try_from(ms).unwrap_or(i64::MAX),
    ))
}

/// A span of seconds (as the drill judge reports them) for people.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        return format!("{s} s");
    }
    let ms = (s * 1000.0).round();
    if ms < 0.0 {
        return format!("-{}", millis((-ms) as u64));
    }
    millis(ms as u64)
}

/// A JSON value on one line: strings as they are, anything else as compact JSON.
pub fn json_inline(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON value pretty-printed (two-space indentation, keys in recorded order).
pub fn json_pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// How a status looks: `ok` (green), `warn` (amber), `bad` (red) or `idle` (grey).
pub fn status_tone(status: &str) -> &'static str {
    match status {
        "passed" | "confirmed" | "marked_done" | "completed" | "PASS" => "ok",
        "shown" | "skipped" | "overridden" | "not_applicable" | "in_progress" => "warn",
        "failed" | "timed_out" | "in_doubt" | "aborted" | "FAIL" => "bad",
        _ => "idle",
    }
}

/// Escapes text for Markdown prose: characters with a meaning in Markdown or HTML are
/// backslash-escaped and line breaks become hard breaks, so operator text renders as written.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        for c in line.chars() {
            match c {
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' | '&' => {
                    out.push('\\');
                    out.push(c);
                }
                '\r' => {}
                _ => out.push(c),
            }
        }
    }
    out
}

/// A Markdown code span that shows `text` literally (line breaks become spaces).
pub fn code(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let ticks = "`".repeat(longest_run(&flat, '`') + 1);
    if flat.starts_with('`') || flat.ends_with('`') || flat.is_empty() {
        format!("{ticks} {flat} {ticks}")
    } else {
        format!("{ticks}{flat}{ticks}")
    }
}

/// A fenced Markdown code block that shows `text` literally, indented by `indent`.
pub fn fence(text: &str, lang: &str, indent: &str) -> String {
    let ticks = "`".repeat((longest_run(text, '`') + 1).max(3));
    let mut out = format!("{indent}{ticks}{lang}\n");
    for line in text.lines() {
        out.push_str(indent);
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(indent);
    out.push_str(&ticks);
    out.push('\n');
    out
}

fn longest_run(text: &str, c: char) -> usize {
    let mut best = 0;
    let mut run = 0;
    for x in text.chars() {
        if x == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Escapes text for HTML element content and attribute values.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escaping_keeps_text_literal() {
        assert_eq!(md("a_b *c* [x](y) <b>"), r"a\_b \*c\* \[x\](y) \<b\>");
        assert_eq!(md("line 1\nline 2"), "line 1<br>line 2");
        assert_eq!(code("ingestion_stop"), "`ingestion_stop`");
        assert_eq!(code("a `b` c"), "``a `b` c``");
        assert_eq!(code("`x"), "`` `x ``");
        let block = fence("x\n```\ny", "text", "  ");
        assert_eq!(block, "  ````text\n  x\n  ```\n  y\n  ````\n");
    }

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(
            html(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(millis(4_000), "4s");
        assert_eq!(millis(72_000), "1m 12s");
        assert_eq!(seconds(312.4), "5m 12s");
        assert_eq!(seconds(1.2), "1.200s");
        assert_eq!(millis(0), "0s");
        assert_eq!(seconds(-2.0), "-2s");
    }
}
