//! Typed values: what operators enter, what probes observe and what steps capture.
//!
//! Every variable in a runbook has one of the [`ValueType`]s. Values keep their full precision
//! (timestamps to the microsecond, offsets as 64-bit integers) and render the same way on
//! screen, in the journal and in transcripts. A [`Value::Secret`] never renders its content.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The type of a runbook variable, an input or a probe output field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// A UTC instant with microsecond precision (`2026-11-22T03:15:00.123456Z`).
    Timestamp,
    /// A participant-local Ledger API offset (a non-negative 64-bit integer).
    Offset,
    /// A signed span of time (`90s`, `45m`, `720h`).
    Duration,
    /// A 64-bit signed integer.
    Integer,
    /// A decimal number (PostgreSQL `numeric`), kept as text and compared as a float.
    Decimal,
    /// Free text.
    Text,
    /// Yes or no.
    Bool,
    /// A value that must never be shown, logged or journaled (a password, a token).
    Secret,
    /// A list of rows or values (probe outputs only).
    List,
    /// A record of named fields (probe outputs only).
    Map,
}

impl ValueType {
    /// All types an operator input or a runbook variable may declare.
    pub const DECLARABLE: [ValueType; 8] = [
        ValueType::Timestamp,
        ValueType::Offset,
        ValueType::Duration,
        ValueType::Integer,
        ValueType::Decimal,
        ValueType::Text,
        ValueType::Bool,
        ValueType::Secret,
    ];

    /// The name used in runbooks and messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Timestamp => "timestamp",
            ValueType::Offset => "offset",
            ValueType::Duration => "duration",
            ValueType::Integer => "integer",
            ValueType::Decimal => "decimal",
            ValueType::Text => "text",
            ValueType::Bool => "bool",
            ValueType::Secret => "secret",
            ValueType::List => "list",
            ValueType::Map => "map",
        }
    }

    /// Parses a type name as written in a runbook.
    pub fn parse(name: &str) -> Option<ValueType> {
        Some(match name {
            "timestamp" => ValueType::Timestamp,
            "offset" => ValueType::Offset,
            "duration" => ValueType::Duration,
            "integer" | "int" => ValueType::Integer,
            "decimal" => ValueType::Decimal,
            "text" | "string" => ValueType::Text,
            "bool" | "boolean" => ValueType::Bool,
            "secret" => ValueType::Secret,
            "list" => ValueType::List,
            "map" => ValueType::Map,
            _ => return None,
        })
    }

    /// A short example of the accepted input syntax, for prompts and error messages.
    pub fn input_hint(self) -> &'static str {
        match self {
            ValueType::Timestamp => "UTC, e.g. 2026-11-22T03:15:00.123456Z",
            ValueType::Offset => "a non-negative integer, e.g. 18234",
            ValueType::Duration => "e.g. 90s, 45m, 48h",
            ValueType::Integer => "an integer, e.g. 42",
            ValueType::Decimal => "a decimal number, e.g. 12.5",
            ValueType::Text => "any text",
            ValueType::Bool => "yes or no",
            ValueType::Secret => "hidden while typed, never stored",
            ValueType::List | ValueType::Map => "not an input type",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A typed value.
///
/// `Debug` and `Display` never reveal a [`Value::Secret`]; serialization writes a placeholder.
#[derive(Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Integer(i64),
    Offset(i64),
    Decimal(String),
    Text(String),
    Timestamp(DateTime<Utc>),
    Duration(chrono::TimeDelta),
    Secret(SecretString),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// The placeholder written wherever a secret would otherwise appear.
pub const REDACTED: &str = "<redacted>";

/// Why a text could not be read as a value of some type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid {expected}: {reason} (expected {hint})")]
pub struct ParseValueError {
    pub input: String,
    pub expected: ValueType,
    pub reason: String,
    pub hint: &'static str,
}

impl Value {
    /// The type of this value.
    pub fn value_type(&self) -> Option<ValueType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => ValueType::Bool,
            Value::Integer(_) => ValueType::Integer,
            Value::Offset(_) => ValueType::Offset,
            Value::Decimal(_) => ValueType::Decimal,
            Value::Text(_) => ValueType::Text,
            Value::Timestamp(_) => ValueType::Timestamp,
            Value::Duration(_) => ValueType::Duration,
            Value::Secret(_) => ValueType::Secret,
            Value::List(_) => ValueType::List,
            Value::Map(_) => ValueType::Map,
        })
    }

    /// Reads operator input (or an answers-file entry) as a value of type `ty`.
    ///
    /// The error message never repeats the input of a secret.
    pub fn parse_as(ty: ValueType, input: &str) -> Result<Value, ParseValueError> {
        let err = |reason: String| ParseValueError {
            input: if ty == ValueType::Secret {
                REDACTED.to_owned()
            } else {
                input.to_owned()
            },
            expected: ty,
            reason,
            hint: ty.input_hint(),
        };
        let trimmed = input.trim();
        match ty {
            ValueType::Timestamp => parse_timestamp(trimmed).map(Value::Timestamp).map_err(err),
            ValueType::Offset => match trimmed.parse::<i64>() {
                Ok(v) if v >= 0 => Ok(Value::Offset(v)),
                Ok(_) => Err(err("offsets are never negative".into())),
                Err(e) => Err(err(e.to_string())),
            },
            ValueType::Duration => parse_duration(trimmed).map(Value::Duration).map_err(err),
            ValueType::Integer => trimmed
                .parse::<i64>()
                .map(Value::Integer)
                .map_err(|e| err(e.to_string())),
            ValueType::Decimal => {
                if trimmed.parse::<f64>().is_ok_and(f64::is_finite) {
                    Ok(Value::Decimal(trimmed.to_owned()))
                } else {
                    Err(err("not a finite decimal number".into()))
                }
            }
            ValueType::Text => Ok(Value::Text(input.to_owned())),
            ValueType::Bool => match trimmed.to_ascii_lowercase().as_str() {
                "y" | "yes" | "true" | "1" => Ok(Value::Bool(true)),
                "n" | "no" | "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(err("answer yes or no".into())),
            },
            ValueType::Secret => {
                if input.is_empty() {
                    Err(err("a secret cannot be empty".into()))
                } else {
                    Ok(Value::Secret(SecretString::from(input.to_owned())))
                }
            }
            ValueType::List | ValueType::Map => Err(err("lists and maps cannot be entered".into())),
        }
    }

    /// A field of a map value.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.get(name),
            _ => None,
        }
    }

    /// Converts this value to the declared type `ty` where that is lossless and meaningful
    /// (an integer column captured as an offset, a text column captured as a timestamp).
    pub fn coerce(self, ty: ValueType) -> Result<Value, ParseValueError> {
        match (&self, ty) {
            (v, t) if v.value_type() == Some(t) => Ok(self),
            (Value::Integer(i), ValueType::Offset) if *i >= 0 => Ok(Value::Offset(*i)),
            (Value::Offset(i), ValueType::Integer) => Ok(Value::Integer(*i)),
            (Value::Integer(i), ValueType::Decimal) => Ok(Value::Decimal(i.to_string())),
            (Value::Text(s), t) if t != ValueType::Text => Value::parse_as(t, s),
            (Value::Secret(_), ValueType::Text) => Err(ParseValueError {
                input: REDACTED.into(),
                expected: ty,
                reason: "a secret cannot become plain text".into(),
                hint: ty.input_hint(),
            }),
            (_, ValueType::Text) => Ok(Value::Text(self.to_string())),
            _ => Err(ParseValueError {
                input: self.to_string(),
                expected: ty,
                reason: format!(
                    "{} cannot be used as {}",
                    article(self.value_type().map_or("null", ValueType::name)),
                    article(ty.name())
                ),
                hint: ty.input_hint(),
            }),
        }
    }

    /// Is this the secret variant (or a container holding one)?
    pub fn contains_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::List(l) => l.iter().any(Value::contains_secret),
            Value::Map(m) => m.values().any(Value::contains_secret),
            _ => false,
        }
    }

    /// The text handed to a child process (environment variable or argv element).
    ///
    /// This is the one place a secret's content leaves its wrapper; callers pass it only to an
    /// environment variable of a child process, never to argv (the runbook validator enforces
    /// that secrets are only ever bound to `env`).
    pub fn to_process_text(&self) -> String {
        match self {
            Value::Secret(s) => s.expose_secret().to_owned(),
            other => other.to_string(),
        }
    }

    /// The JSON form used in the journal and in exports. Secrets become a placeholder.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Integer(i) | Value::Offset(i) => J::from(*i),
            Value::Decimal(d) => J::String(d.clone()),
            Value::Text(t) => J::String(t.clone()),
            Value::Timestamp(_) | Value::Duration(_) => J::String(self.to_string()),
            Value::Secret(_) => J::String(REDACTED.into()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Reads a value of a known type back from its journal JSON form.
    ///
    /// Secrets are never journaled, so they come back as a placeholder secret that is marked
    /// as unavailable; the engine asks for them again when a later step needs them.
    pub fn from_json(ty: ValueType, json: &serde_json::Value) -> Result<Value, ParseValueError> {
        use serde_json::Value as J;
        let bad = |reason: &str| ParseValueError {
            input: json.to_string(),
            expected: ty,
            reason: reason.to_owned(),
            hint: ty.input_hint(),
        };
        match (ty, json) {
            (_, J::Null) => Ok(Value::Null),
            (ValueType::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
            (ValueType::Integer, J::Number(n)) => n
                .as_i64()
                .map(Value::Integer)
                .ok_or_else(|| bad("not an integer")),
            (ValueType::Offset, J::Number(n)) => n
                .as_i64()
                .map(Value::Offset)
                .ok_or_else(|| bad("not an offset")),
            (ValueType::Secret, _) => Ok(Value::Secret(SecretString::from(String::new()))),
            (ValueType::List, J::Array(items)) => Ok(Value::List(
                items.iter().map(json_untyped).collect::<Vec<_>>(),
            )),
            (ValueType::Map, J::Object(_)) => Ok(json_untyped(json)),
            (t, J::String(s)) => Value::parse_as(t, s),
            _ => Err(bad("unexpected JSON type")),
        }
    }
}

fn article(name: &str) -> String {
    match name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {name}"),
        _ => format!("a {name}"),
    }
}

/// Best-effort reading of untyped JSON (nested probe evidence).
pub fn json_untyped(json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Decimal(n.to_string()),
        },
        J::String(s) => Value::Text(s.clone()),
        J::Array(a) => Value::List(a.iter().map(json_untyped).collect()),
        J::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), json_untyped(v)))
                .collect(),
        ),
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(true) => f.write_str("yes"),
            Value::Bool(false) => f.write_str("no"),
            Value::Integer(i) | Value::Offset(i) => write!(f, "{i}"),
            Value::Decimal(d) => f.write_str(d),
            Value::Text(t) => f.write_str(t),
            Value::Timestamp(t) => f.write_str(&format_timestamp(t)),
            Value::Duration(d) => f.write_str(&format_duration(*d)),
            Value::Secret(_) => f.write_str(REDACTED),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Secret(_) => f.write_str("Secret(<redacted>)"),
            other => write!(
                f,
                "{}({other})",
                other.value_type().map_or("null", ValueType::name)
            ),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Integer(a), Value::Integer(b)) | (Value::Offset(a), Value::Offset(b)) => a == b,
            (Value::Decimal(a), Value::Decimal(b)) | (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::Secret(a), Value::Secret(b)) => a.expose_secret() == b.expose_secret(),
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            _ => false,
        }
    }
}

/// Renders a timestamp in UTC with exactly six fractional digits.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an RFC 3339 timestamp. Sub-microsecond digits are refused rather than rounded,
/// because a record time that is off by a nanosecond no longer matches exactly.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{e}; write it as RFC 3339, with a zone"))?
        .with_timezone(&Utc);
    if t.timestamp_subsec_nanos() % 1000 != 0 {
        return Err("more precise than a microsecond".into());
    }
    Ok(t)
}

/// Parses a duration such as `90s`, `45m`, `1h30m`, `720h` or `250ms`; a leading `-` makes it
/// negative.
pub fn parse_duration(s: &str) -> Result<chrono::TimeDelta, String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if body.is_empty() {
        return Err("empty duration".into());
    }
    let std = humantime::parse_duration(body).map_err(|e| e.to_string())?;
    let d = chrono::TimeDelta::from_std(std).map_err(|e| e.to_string())?;
    Ok(if neg { -d } else { d })
}

/// Renders a duration compactly (`1h 30m`, `45s`, `250ms`, `12µs`).
pub fn format_duration(d: chrono::TimeDelta) -> String {
    let neg = d < chrono::TimeDelta::zero();
    let d = d.abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let total_us = d.num_microseconds().unwrap_or(i64::MAX);
    if total_us < 1000 {
        out.push_str(&format!("{total_us}µs"));
        return out;
    }
    if total_us < 1_000_000 {
        out.push_str(&format!("{}ms", total_us / 1000));
        return out;
    }
    let secs = d.num_seconds();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let frac_ms = (total_us % 1_000_000) / 1000;
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || frac_ms > 0 || parts.is_empty() {
        if h == 0 && m == 0 && frac_ms > 0 {
            parts.push(format!("{s}.{frac_ms:03}s"));
        } else {
            parts.push(format!("{s}s"));
        }
    }
    out.push_str(&parts.join(" "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_microseconds() {
        let v = Value::parse_as(ValueType::Timestamp, "2026-11-22T03:15:00.123456Z").unwrap();
        assert_eq!(v.to_string(), "2026-11-22T03:15:00.123456Z");
        let v = Value::parse_as(ValueType::Timestamp, "2026-11-22T04:15:00+01:00").unwrap();
        assert_eq!(v.to_string(), "2026-11-22T03:15:00.000000Z");
    }

    #[test]
    fn nanosecond_timestamps_are_refused() {
        let e =
            Value::parse_as(ValueType::Timestamp, "2026-11-22T03:15:00.123456789Z").unwrap_err();
        assert!(e.reason.contains("microsecond"), "{e}");
    }

    #[test]
    fn timestamps_need_a_zone() {
        assert!(Value::parse_as(ValueType::Timestamp, "2026-11-22T03:15:00").is_err());
    }

    #[test]
    fn offsets_are_non_negative() {
        assert_eq!(
            Value::parse_as(ValueType::Offset, "42").unwrap(),
            Value::Offset(42)
        );
        assert!(Value::parse_as(ValueType::Offset, "-1").is_err());
        assert!(Value::parse_as(ValueType::Offset, "4x").is_err());
    }

    #[test]
    fn durations_round_trip() {
        for (input, shown) in [
            ("90s", "1m 30s"),
            ("45m", "45m"),
            ("720h", "720h"),
            ("250ms", "250ms"),
        ] {
            let v = Value::parse_as(ValueType::Duration, input).unwrap();
            assert_eq!(v.to_string(), shown, "{input}");
            let again =
                Value::parse_as(ValueType::Duration, &v.to_string().replace(' ', "")).unwrap();
            assert_eq!(again, v);
        }
        assert_eq!(
            Value::parse_as(ValueType::Duration, "-1s").unwrap(),
            Value::Duration(chrono::TimeDelta::seconds(-1))
        );
    }

    #[test]
    fn secrets_never_render() {
        let v = Value::parse_as(ValueType::Secret, "hunter2").unwrap();
        assert_eq!(v.to_string(), REDACTED);
        assert!(!format!("{v:?}").contains("hunter2"));
        assert_eq!(v.to_json(), serde_json::json!(REDACTED));
        let e = Value::parse_as(ValueType::Secret, "").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
        assert_eq!(v.to_process_text(), "hunter2");
    }

    #[test]
    fn json_round_trip_by_type() {
        let cases = [
            (ValueType::Timestamp, "2026-01-02T03:04:05.000006Z"),
            (ValueType::Offset, "123"),
            (ValueType::Duration, "48h"),
            (ValueType::Integer, "-5"),
            (ValueType::Text, "hello"),
            (ValueType::Bool, "yes"),
            (ValueType::Decimal, "12.50"),
        ];
        for (ty, input) in cases {
            let v = Value::parse_as(ty, input).unwrap();
            let back = Value::from_json(ty, &v.to_json()).unwrap();
            assert_eq!(back, v, "{ty}");
        }
    }

    #[test]
    fn coercion() {
        assert_eq!(
            Value::Integer(5).coerce(ValueType::Offset).unwrap(),
            Value::Offset(5)
        );
        assert!(Value::Integer(-5).coerce(ValueType::Offset).is_err());
        assert!(Value::Bool(true).coerce(ValueType::Timestamp).is_err());
        assert_eq!(
            Value::Text("2026-01-01T00:00:00Z".into())
                .coerce(ValueType::Timestamp)
                .unwrap()
                .to_string(),
            "2026-01-01T00:00:00.000000Z"
        );
    }
}
