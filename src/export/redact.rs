//! The exporter's second line of defence (R17, R19): every text of a transcript goes through the
//! redactor's pattern rules ([`crate::secret::Redactor::patterns_only`]) before it is rendered,
//! although the journal it comes from is already redacted. A text that holds nothing
//! secret-looking comes back unchanged.
//!
//! Structured values get one more rule that text cannot have: the string value of a key that
//! names a secret (`"db_password": "…"` as a JSON object, where key and value are separate
//! strings) is replaced whole, counted under `json_secret` like its textual form.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::secret::{Redactor, placeholder, rules};

use super::ExportError;
use super::model::Transcript;

/// The pattern-only redactor, built once.
static PATTERNS: LazyLock<Redactor> = LazyLock::new(Redactor::patterns_only);

/// All of the redactor's rule patterns in one set, to skip in one pass the many texts no rule
/// matches (most of a transcript). `None` if it cannot be built: every text then goes to the
/// redactor.
static ANY_RULE: LazyLock<Option<regex::bytes::RegexSet>> = LazyLock::new(|| {
    let rules = rules::RULES.as_ref().ok()?;
    regex::bytes::RegexSet::new(rules.iter().map(|r| r.regex.as_str())).ok()
});

/// Whether some rule of the redactor may match `text`.
fn may_match(text: &str) -> bool {
    ANY_RULE
        .as_ref()
        .is_none_or(|set| set.is_match(text.as_bytes()))
}

/// Key names whose string values are secret whatever they look like (the key names of the
/// redactor's `json_secret` and `key_value` rules). `None` if it could not be compiled: every
/// key then counts as secret (fail closed).
static SECRET_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|private[_-]?key|keypair)$",
    )
    .ok()
});

fn secret_key(key: &str) -> bool {
    SECRET_KEY.as_ref().is_none_or(|re| re.is_match(key))
}

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
            let mut keys_clean = true;
            for k in map.keys() {
                if redact_text(k, &mut BTreeMap::new()).is_some() {
                    keys_clean = false;
                    break;
                }
            }
            if !keys_clean {
                let old = std::mem::take(map);
                for (k, val) in old {
                    let key = redact_text(&k, counts).unwrap_or(k);
                    map.insert(key, val);
                }
            }
            for (k, val) in map.iter_mut() {
                match val {
                    Value::String(s)
                        if secret_key(k)
                            && !s.is_empty()
                            && canonical(s).as_deref() != Some("\u{0}") =>
                    {
                        *s = placeholder(rules::JSON_SECRET);
                        *counts.entry(rules::JSON_SECRET.to_owned()).or_default() += 1;
                    }
                    _ => redact_tree(val, counts),
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Placeholders the journal already holds (`<redacted>`, `<redacted:RULE>`) and runbook
/// variable references (`${name}`): the rules may match them where a secret would stand
/// (`postgres://ro:${pw}@db`), but they are not secrets.
static NOT_SECRET: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"<redacted(?::[a-z_]+)?>|\$\{[A-Za-z_][A-Za-z0-9_.]*\}").ok());

/// `text` with every placeholder and variable reference replaced by one marker.
fn canonical(text: &str) -> Option<String> {
    NOT_SECRET
        .as_ref()
        .map(|re| re.replace_all(text, "\u{0}").into_owned())
}

/// Runs one text through the redactor's pattern rules. Returns the redacted text, or `None`
/// when nothing was replaced, and adds the replacements per rule to `counts`.
///
/// A text in which the rules replaced only placeholders and variable references is kept as it
/// is. A text with anything else replaced is redacted whole, and every replacement in it is
/// counted.
pub(crate) fn redact_text(text: &str, counts: &mut BTreeMap<String, u64>) -> Option<String> {
    if !may_match(text) {
        return None;
    }
    let redacted = PATTERNS.redact(text);
    if redacted.is_clean() {
        return None;
    }
    if let (Some(before), Some(after)) = (canonical(text), canonical(&redacted.text))
        && before == after
    {
        return None;
    }
    for (rule, n) in redacted.counts {
        *counts.entry(rule.to_owned()).or_default() += n as u64;
    }
    Some(redacted.text)
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
    fn the_patterns_compile() {
        assert!(SECRET_KEY.is_some());
        assert!(NOT_SECRET.is_some());
        assert!(ANY_RULE.is_some());
    }

    #[test]
    fn the_pre_check_passes_whatever_a_rule_matches() {
        let samples = [
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            r#"{"keyPair": "AAAA"}"#,
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJl",
            "Authorization: Basic dXNlcjpwYXNz",
            "bearer abcdefgh12345678",
            "postgres://u:pw@h/db",
            r#""client_secret": "x""#,
            "PGPASSWORD=x",
        ];
        for text in samples {
            let mut counts = BTreeMap::new();
            assert!(may_match(text), "{text}");
            assert!(redact_text(text, &mut counts).is_some(), "{text}");
        }
        for text in [
            "seq",
            "2026-11-22T03:15:00.123456Z",
            "ingestion_stop",
            "1 row",
        ] {
            assert!(!may_match(text), "{text}");
        }
        // Every rule of the redactor is in the set.
        let rules = rules::RULES.as_ref().expect("rules compile");
        assert_eq!(ANY_RULE.as_ref().map(|s| s.len()), Some(rules.len()));
    }

    #[test]
    fn secret_shapes_are_replaced_and_the_rest_kept() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJlLXZhbHVl";
        let (out, counts) = red(&format!("sent {jwt} to the participant"));
        assert_eq!(out, "sent <redacted:jwt> to the participant");
        assert_eq!(counts.get("jwt"), Some(&1));
        let (out, counts) = red("dsn postgres://app:hunter2@db:5432/x");
        assert_eq!(out, "dsn postgres://app:<redacted:url_password>@db:5432/x");
        assert_eq!(counts.get("url_password"), Some(&1));
        // A real secret next to a placeholder: the text is redacted.
        let (out, _) = red("postgres://a:<redacted:registered>@h and token=hunter2hunter2");
        assert!(!out.contains("hunter2"), "{out}");
        // A shell variable reference cannot be told from a password: redacted.
        let (out, _) = red("psql postgres://ro:$PW@db/x");
        assert_eq!(out, "psql postgres://ro:<redacted:url_password>@db/x");
    }

    #[test]
    fn plain_text_placeholders_and_variables_are_left_alone() {
        let mut counts = BTreeMap::new();
        for text in [
            "connecting to postgres://ro:<redacted:registered>@db:5432/x",
            "PW=<redacted> psql postgres://ro:${db_password}@db/x",
            "password=<redacted:registered>",
            "Stop Tx History Ingestion",
            "offset 18234 at 2026-11-22T03:15:00.123456Z",
            "action SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            assert_eq!(redact_text(text, &mut counts), None, "{text}");
        }
        assert!(counts.is_empty());
    }

    #[test]
    fn secret_keys_in_structured_values_are_redacted() {
        let mut tree = serde_json::json!({
            "inputs": {"db_password": "hunter2", "n": 3, "token": "", "passwordless": "yes",
                       "pwd": "<redacted>", "api_key": "<redacted>x"},
            "list": ["postgres://u:pw@h/db"]
        });
        let mut counts = BTreeMap::new();
        redact_tree(&mut tree, &mut counts);
        assert_eq!(tree["inputs"]["db_password"], "<redacted:json_secret>");
        assert_eq!(tree["inputs"]["n"], 3);
        assert_eq!(tree["inputs"]["token"], "");
        assert_eq!(tree["inputs"]["passwordless"], "yes");
        assert_eq!(tree["inputs"]["pwd"], "<redacted>");
        assert_eq!(tree["inputs"]["api_key"], "<redacted:json_secret>");
        assert_eq!(tree["list"][0], "postgres://u:<redacted:url_password>@h/db");
        assert_eq!(counts.get("json_secret"), Some(&2));
        assert_eq!(counts.get("url_password"), Some(&1));
    }
}
