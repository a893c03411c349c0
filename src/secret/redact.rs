//! The redactor: replaces registered secret values (in every encoded form) and secret-shaped
//! text with `<redacted:RULE>` and counts what it replaced, per rule.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::forms::{self, MIN_SECRET_LEN};
use super::rules::{REGISTERED, RULES, UNAVAILABLE};

/// The shortest prefix of a registered form that is redacted at the very end of cut-off
/// output (see [`Redactor::redact_truncated_bytes`]).
pub const TRUNCATED_TAIL_MIN: usize = 3;

/// Redacted text and how many spans each rule replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redacted {
    /// The text with every secret replaced by `<redacted:RULE>`.
    pub text: String,
    /// Replacements per rule name (see the constants in [`super::rules`]); absent = zero.
    pub counts: BTreeMap<&'static str, usize>,
}

impl Redacted {
    /// The number of replacements over all rules.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// True when nothing was replaced.
    pub fn is_clean(&self) -> bool {
        self.counts.is_empty()
    }
}

/// The placeholder written in place of a secret found by `rule`.
pub fn placeholder(rule: &str) -> String {
    format!("<redacted:{rule}>")
}

/// A redactor for a fixed set of secret values plus the pattern rules.
///
/// Build one with [`Redactor::new`] or get the current one from a
/// [`SecretRegistry`](super::SecretRegistry). It is immutable and cheap to share.
///
/// The search automaton keeps the encoded forms of the secrets in memory for as long as the
/// redactor lives; they are not zeroized on drop (the automaton's storage is not ours).
pub struct Redactor {
    literals: Option<AhoCorasick>,
    /// The literal forms, kept for the cut-off tail check.
    needles: Vec<Zeroizing<Vec<u8>>>,
    percent: Option<Regex>,
    /// Why the redactor cannot work; it then replaces everything (fails closed).
    broken: Option<String>,
    secret_count: usize,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secret_count)
            .field("forms", &self.needles.len())
            .field("fail_closed", &self.broken.is_some())
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    rank: usize,
    rule: &'static str,
}

impl Redactor {
    /// A redactor for these secret values (values shorter than [`MIN_SECRET_LEN`] bytes are
    /// skipped) and the pattern rules.
    pub fn new(secrets: &[SecretString]) -> Redactor {
        let mut needles: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut percent_parts: Vec<Zeroizing<String>> = Vec::new();
        let mut secret_count = 0;
        for secret in secrets {
            let raw = secret.expose_secret().as_bytes();
            if raw.len() < MIN_SECRET_LEN {
                continue;
            }
            secret_count += 1;
            for form in forms::literal_forms(raw) {
                if !needles.iter().any(|n| **n == *form) {
                    needles.push(form);
                }
            }
            if let Some(p) = forms::percent_pattern(raw) {
                percent_parts.push(p);
            }
        }
        let mut broken = RULES.as_ref().err().cloned();
        let literals = if needles.is_empty() {
            None
        } else {
            match AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(needles.iter().map(|n| n.as_slice()))
            {
                Ok(ac) => Some(ac),
                Err(_) => {
                    // Generic text: nothing derived from the values may reach a message.
                    broken.get_or_insert("secret value automaton could not be built".into());
                    None
                }
            }
        };
        let percent = if percent_parts.is_empty() {
            None
        } else {
            let mut pattern = Zeroizing::new(String::from("(?-u)(?:"));
            for (i, part) in percent_parts.iter().enumerate() {
                if i > 0 {
                    pattern.push('|');
                }
                pattern.push_str(part);
            }
            pattern.push(')');
            match RegexBuilder::new(&pattern)
                .size_limit(64 * 1024 * 1024)
                .build()
            {
                Ok(re) => Some(re),
                Err(_) => {
                    // The regex error would quote the pattern, which spells out the secrets.
                    broken.get_or_insert("percent-encoded secret pattern too large".into());
                    None
                }
            }
        };
        Redactor {
            literals,
            needles,
            percent,
            broken,
            secret_count,
        }
    }

    /// A redactor with the pattern rules only.
    pub fn patterns_only() -> Redactor {
        Redactor::new(&[])
    }

    /// How many secret values this redactor knows.
    pub fn secret_count(&self) -> usize {
        self.secret_count
    }

    /// When the redactor could not be built, why; it then replaces every non-empty text whole.
    pub fn failure(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Redacts UTF-8 text. Text that holds no secret comes back byte for byte.
    pub fn redact(&self, text: &str) -> Redacted {
        self.run(text.as_bytes(), false)
    }

    /// Redacts raw output (any bytes); the result is decoded as UTF-8, lossily.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Redacted {
        self.run(bytes, false)
    }

    /// Redacts output that was cut off at a size cap: a secret straddling the cut would leave
    /// its beginning behind, so a text that ends with the first [`TRUNCATED_TAIL_MIN`] or
    /// more bytes of a registered form has that tail redacted as well.
    pub fn redact_truncated_bytes(&self, bytes: &[u8]) -> Redacted {
        self.run(bytes, true)
    }

    fn run(&self, bytes: &[u8], truncated: bool) -> Redacted {
        if self.broken.is_some() {
            let mut counts = BTreeMap::new();
            if bytes.is_empty() {
                return Redacted::default();
            }
            counts.insert(UNAVAILABLE, 1);
            return Redacted {
                text: placeholder(UNAVAILABLE),
                counts,
            };
        }
        let spans = merge(self.spans(bytes, truncated));
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut at = 0;
        for span in spans {
            out.extend_from_slice(&bytes[at..span.start]);
            out.extend_from_slice(placeholder(span.rule).as_bytes());
            *counts.entry(span.rule).or_insert(0) += 1;
            at = span.end;
        }
        out.extend_from_slice(&bytes[at..]);
        let text = match String::from_utf8(out) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Redacted { text, counts }
    }

    fn spans(&self, bytes: &[u8], truncated: bool) -> Vec<Span> {
        let mut spans = Vec::new();
        let registered = |start, end| Span {
            start,
            end,
            rank: 0,
            rule: REGISTERED,
        };
        if let Some(ac) = &self.literals {
            for m in ac.find_overlapping_iter(bytes) {
                spans.push(registered(m.start(), m.end()));
            }
        }
        if let Some(re) = &self.percent {
            for m in re.find_iter(bytes) {
                if !m.is_empty() {
                    spans.push(registered(m.start(), m.end()));
                }
            }
        }
        if truncated && let Some(len) = self.cut_tail(bytes) {
            spans.push(registered(bytes.len() - len, bytes.len()));
        }
        if let Ok(rules) = RULES.as_ref() {
            for (i, rule) in rules.iter().enumerate() {
                for caps in rule.regex.captures_iter(bytes) {
                    let m = if rule.groups.is_empty() {
                        caps.get(0)
                    } else {
                        rule.groups.iter().find_map(|g| caps.name(g))
                    };
                    if let Some(m) = m.filter(|m| !m.is_empty()) {
                        spans.push(Span {
                            start: m.start(),
                            end: m.end(),
                            rank: i + 1,
                            rule: rule.name,
                        });
                    }
                }
            }
        }
        spans
    }

    /// The length of the longest proper prefix (of at least [`TRUNCATED_TAIL_MIN`] bytes) of a
    /// registered form that the text ends with.
    fn cut_tail(&self, bytes: &[u8]) -> Option<usize> {
        let mut best: Option<usize> = None;
        for needle in &self.needles {
            let longest = needle.len().saturating_sub(1).min(bytes.len());
            for k in (TRUNCATED_TAIL_MIN..=longest).rev() {
                if best.is_some_and(|b| b >= k) {
                    break;
                }
                if bytes.ends_with(&needle[..k]) {
                    best = Some(k);
                    break;
                }
            }
        }
        best
    }
}

/// Sorts spans and merges overlapping ones; a merged span takes the best-ranked rule.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => {
                last.end = last.end.max(span.end);
                if span.rank < last.rank {
                    last.rank = span.rank;
                    last.rule = span.rule;
                }
            }
            _ => merged.push(span),
        }
    }
    merged
}

/// Redacts output one line at a time, for live display.
///
/// Line by line, the body of a private-key block would not look like a secret; this keeps
/// track of an open `-----BEGIN … PRIVATE KEY-----` and withholds every line up to its `END`.
pub struct LineRedactor {
    redactor: Arc<Redactor>,
    in_private_key: bool,
}

impl LineRedactor {
    /// A line redactor over `redactor`.
    pub fn new(redactor: Arc<Redactor>) -> LineRedactor {
        LineRedactor {
            redactor,
            in_private_key: false,
        }
    }

    /// Redacts one line (without its line break). `None` when the line lies inside a
    /// private-key block and is withheld altogether.
    pub fn line(&mut self, line: &[u8]) -> Option<String> {
        if self.in_private_key {
            if let Some(end) = find(line, b"-----END ", 0)
                && find(line, b"PRIVATE KEY-----", end).is_some()
            {
                self.in_private_key = false;
            }
            return None;
        }
        if let Some(begin) = find(line, b"-----BEGIN ", 0)
            && let Some(label_end) = find(line, b"PRIVATE KEY-----", begin)
            && find(line, b"-----END ", label_end).is_none()
        {
            self.in_private_key = true;
        }
        Some(self.redactor.redact_bytes(line).text)
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The rule names in priority order, registered values first.
pub fn rule_names() -> Vec<&'static str> {
    let mut names = vec![REGISTERED];
    if let Ok(r) = RULES.as_ref() {
        names.extend(r.iter().map(|r| r.name));
    }
    names
}
