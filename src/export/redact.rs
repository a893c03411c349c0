//! The exporter's second line of defence (R17, R19): every text of a transcript goes through the
//! redactor's pattern rules before it is rendered, although the journal it comes from is
//! already redacted. A text that holds nothing secret-looking comes back unchanged.
//!
//! [`redact_text`] is the one place that decides what is secret-looking. Until the crate-wide
//! redactor (`crate::secret`'s pattern rules) is available, it uses the interim rules in
//! [`interim`], which recognise the same shapes and write the same `<redacted:RULE>`
//! placeholders.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::ExportError;
use super::model::Transcript;

/// Redacts every string of a transcript (values and map keys alike) and records in
/// `journal.export_redactions` how many spans each rule replaced.
pub fn redact_transcript(transcript: Transcript) -> Result<Transcript, ExportError> {
    let mut tree = serde_json::to_value(&transcript).map_err(ExportError::internal)?;
    let mut counts = BTreeMap::new();
    redact_tree(&mut tree, &mut counts);
    if counts.is_empty() {
        return Ok(transcript);
    }
    let mut out: Transcript = serde_json::from_value(tree).map_err(ExportError::internal)?;
    out.journal.export_redactions = counts;
    Ok(out)
}

/// Keys whose string values are secret whatever they look like (`"password": "…"`).
/// `None` if it could not be compiled: every key then counts as secret (fail closed).
static SECRET_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[a-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|private[_-]?key|keypair)$",
    )
    .ok()
});

fn secret_key(key: &str) -> bool {
    SECRET_KEY.as_ref().is_none_or(|re| re.is_match(key))
}

fn redact_tree(v: &mut serde_json::Value, counts: &mut BTreeMap<String, u64>) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Some(clean) = redact_text(s, counts) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_tree(i, counts)),
        Value::Object(map) => {
            let needs_rebuild = map.keys().any(|k| interim::suspicious(k));
            if needs_rebuild {
                let old = std::mem::take(map);
                for (k, val) in old {
                    let key = redact_text(&k, counts).unwrap_or(k);
                    map.insert(key, val);
                }
            }
            for (k, val) in map.iter_mut() {
                match val {
                    Value::String(s)
                        if secret_key(k) && !s.is_empty() && !s.starts_with("<redacted") =>
                    {
                        *s = placeholder(interim::JSON_SECRET);
                        *counts.entry(interim::JSON_SECRET.to_owned()).or_default() += 1;
                    }
                    _ => redact_tree(val, counts),
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn placeholder(rule: &str) -> String {
    format!("<redacted:{rule}>")
}

/// THE CALL SITE of the crate-wide redactor. Returns the redacted text, or `None` when nothing
/// was replaced, and adds the replacements per rule to `counts`.
///
/// When `crate::secret` offers its pattern-only redactor, this body becomes a call to it (its
/// rule names and placeholders are the same) and the `interim` module goes away.
pub(crate) fn redact_text(text: &str, counts: &mut BTreeMap<String, u64>) -> Option<String> {
    interim::redact(text, counts)
}

/// Pattern rules for secret-shaped text, used until the crate-wide redactor is available.
mod interim {
    use std::collections::BTreeMap;
    use std::sync::LazyLock;

    use regex::{Regex, RegexSet};

    pub const PEM_PRIVATE_KEY: &str = "pem_private_key";
    pub const JWT: &str = "jwt";
    pub const AUTHORIZATION: &str = "authorization";
    pub const BEARER: &str = "bearer";
    pub const URL_PASSWORD: &str = "url_password";
    pub const JSON_SECRET: &str = "json_secret";
    pub const KEY_VALUE: &str = "key_value";

    /// `(rule, pattern)`; the secret is the group named `v`, or the whole match without one.
    /// Earlier rules win where matches overlap.
    const RULES: [(&str, &str); 7] = [
        (
            PEM_PRIVATE_KEY,
            r"(?s)-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----|\z)",
        ),
        (
            JWT,
            r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",
        ),
        (
            AUTHORIZATION,
            r"(?i)\b(?:proxy-)?authorization[ \t]*[:=][ \t]*(?:(?:bearer|basic|digest|token|negotiate)[ \t]+)?(?P<v>[^\s]+)",
        ),
        (BEARER, r"(?i)\bbearer[ \t]+(?P<v>[A-Za-z0-9\-._~+/]{8,}=*)"),
        (
            URL_PASSWORD,
            r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s/:@]*:(?P<v>[^\s/@]+)@",
        ),
        (
            JSON_SECRET,
            r#"(?i)"[a-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|private[_-]?key|keypair)"[ \t]*:[ \t]*"(?P<v>(?:[^"\\]|\\.)+)""#,
        ),
        (
            KEY_VALUE,
            r"(?i)\b[a-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey)[ \t]*[=:][ \t]*(?P<v>[^\s,;&]+)",
        ),
    ];

    /// Used for a whole text if the rules could not be compiled (the redactor fails closed).
    pub const UNAVAILABLE: &str = "redactor_unavailable";

    struct Compiled {
        set: RegexSet,
        rules: Vec<(&'static str, Regex)>,
    }

    /// The compiled rules; `None` if any failed to compile (tests prove they do not).
    static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(|| {
        Some(Compiled {
            set: RegexSet::new(RULES.iter().map(|(_, p)| *p)).ok()?,
            rules: RULES
                .iter()
                .map(|(name, p)| Regex::new(p).ok().map(|re| (*name, re)))
                .collect::<Option<Vec<_>>>()?,
        })
    });

    /// Whether every rule compiled.
    #[cfg(test)]
    pub fn rules_compile() -> bool {
        COMPILED.is_some() && super::SECRET_KEY.is_some()
    }

    /// Whether `text` might hold something a rule replaces (a cheap pre-check).
    pub fn suspicious(text: &str) -> bool {
        COMPILED.as_ref().is_none_or(|c| c.set.is_match(text))
    }

    /// Replaces every span a rule finds; `None` when there is none.
    pub fn redact(text: &str, counts: &mut BTreeMap<String, u64>) -> Option<String> {
        let Some(compiled) = COMPILED.as_ref() else {
            if text.is_empty() {
                return None;
            }
            *counts.entry(UNAVAILABLE.to_owned()).or_default() += 1;
            return Some(super::placeholder(UNAVAILABLE));
        };
        let matching: Vec<usize> = compiled.set.matches(text).into_iter().collect();
        if matching.is_empty() {
            return None;
        }
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        for i in matching {
            let (_, re) = &compiled.rules[i];
            for caps in re.captures_iter(text) {
                let Some(m) = caps.name("v").or_else(|| caps.get(0)) else {
                    continue;
                };
                if m.as_str().is_empty() || m.as_str().starts_with("<redacted") {
                    continue;
                }
                spans.push((m.start(), m.end(), i));
            }
        }
        if spans.is_empty() {
            return None;
        }
        spans.sort_by_key(|&(start, end, rule)| (start, rule, std::cmp::Reverse(end)));
        let mut merged: Vec<(usize, usize, usize)> = Vec::new();
        for (start, end, rule) in spans {
            match merged.last_mut() {
                Some(last) if start < last.1 => {
                    last.1 = last.1.max(end);
                    last.2 = last.2.min(rule);
                }
                _ => merged.push((start, end, rule)),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end, rule) in merged {
            let name = compiled.rules[rule].0;
            out.push_str(&text[at..start]);
            out.push_str(&super::placeholder(name));
            *counts.entry(name.to_owned()).or_default() += 1;
            at = end;
        }
        out.push_str(&text[at..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(text: &str) -> (String, BTreeMap<String, u64>) {
        let mut counts = BTreeMap::new();
        let out = redact_text(text, &mut counts).unwrap_or_else(|| text.to_owned());
        (out, counts)
    }

    #[test]
    fn every_rule_compiles() {
        assert!(interim::rules_compile());
    }

    #[test]
    fn secret_shapes_are_replaced_and_the_rest_kept() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJlLXZhbHVl";
        let cases = [
            (
                format!("token {jwt} end"),
                "token <redacted:jwt> end".to_owned(),
                "jwt",
            ),
            (
                "dsn postgres://app:hunter2@db:5432/x".into(),
                "dsn postgres://app:<redacted:url_password>@db:5432/x".into(),
                "url_password",
            ),
            (
                "Authorization: Basic dXNlcjpwYXNz".into(),
                "Authorization: Basic <redacted:authorization>".into(),
                "authorization",
            ),
            (
                "sent bearer abcdefgh12345678".into(),
                "sent bearer <redacted:bearer>".into(),
                "bearer",
            ),
            (
                r#"{"db_password": "s3cr3t", "user": "app"}"#.into(),
                r#"{"db_password": "<redacted:json_secret>", "user": "app"}"#.into(),
                "json_secret",
            ),
            (
                "PGPASSWORD=s3cr3t psql".into(),
                "PGPASSWORD=<redacted:key_value> psql".into(),
                "key_value",
            ),
            (
                "a\n-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\nb".into(),
                "a\n<redacted:pem_private_key>\nb".into(),
                "pem_private_key",
            ),
        ];
        for (input, expected, rule) in cases {
            let (out, counts) = red(&input);
            assert_eq!(out, expected, "{input}");
            assert_eq!(counts.get(rule), Some(&1), "{input}: {counts:?}");
        }
    }

    #[test]
    fn plain_text_and_placeholders_are_left_alone() {
        let mut counts = BTreeMap::new();
        for text in [
            "Stop Tx History Ingestion",
            "offset 18234 at 2026-11-22T03:15:00.123456Z",
            "password=<redacted:registered>",
            "see https://docs.example/restore#step-3",
        ] {
            assert_eq!(redact_text(text, &mut counts), None, "{text}");
        }
        assert!(counts.is_empty());
    }

    #[test]
    fn secret_keys_in_structured_values_are_redacted() {
        let mut tree = serde_json::json!({
            "inputs": {"db_password": "hunter2", "n": 3, "token": ""},
            "list": ["postgres://u:pw@h/db"]
        });
        let mut counts = BTreeMap::new();
        redact_tree(&mut tree, &mut counts);
        assert_eq!(tree["inputs"]["db_password"], "<redacted:json_secret>");
        assert_eq!(tree["inputs"]["n"], 3);
        assert_eq!(tree["inputs"]["token"], "");
        assert_eq!(tree["list"][0], "postgres://u:<redacted:url_password>@h/db");
        assert_eq!(counts.get("json_secret"), Some(&1));
        assert_eq!(counts.get("url_password"), Some(&1));
    }
}
