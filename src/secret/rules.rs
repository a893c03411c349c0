//! The pattern rules: secrets recognised by their shape rather than by their value.
//!
//! Each rule names the capture groups that hold the secret part; the text around it (the
//! header name, the key, the URL host) stays readable. Rules run on raw bytes with Unicode
//! matching off, so non-UTF-8 output is handled too.

use std::sync::LazyLock;

use regex::bytes::Regex;

/// The rule name used for registered secret values and their encodings.
pub const REGISTERED: &str = "registered";
/// `-----BEGIN … PRIVATE KEY-----` blocks, whole (to the end of the text when cut short).
pub const PEM_PRIVATE_KEY: &str = "pem_private_key";
/// `"keyPair": "…"` values of a node identities dump.
pub const IDENTITY_KEY_PAIR: &str = "identity_key_pair";
/// JSON Web Tokens (three base64url segments, the first starting with `eyJ`).
pub const JWT: &str = "jwt";
/// The value of an `Authorization:` / `Proxy-Authorization:` header.
pub const AUTHORIZATION: &str = "authorization";
/// A token after the word `Bearer` anywhere.
pub const BEARER: &str = "bearer";
/// The password in the userinfo of a URL (`postgres://user:pass@host`).
pub const URL_PASSWORD: &str = "url_password";
/// JSON string values of secret-looking keys (`"password": "…"`, `"access_token": "…"`).
pub const JSON_SECRET: &str = "json_secret";
/// `password=…`, `token: …`, `PGPASSWORD=…` and similar key/value pairs.
pub const KEY_VALUE: &str = "key_value";
/// Used for the whole text when the redactor could not be built (it then fails closed).
pub const UNAVAILABLE: &str = "redactor_unavailable";

/// One compiled pattern rule.
pub(crate) struct Rule {
    pub name: &'static str,
    pub regex: Regex,
    /// Capture groups holding the secret; the first that took part in a match is replaced.
    /// Empty: the whole match is replaced.
    pub groups: &'static [&'static str],
}

/// Key names that mark a value as secret (suffix match: `DB_PASSWORD`, `client_secret`).
const SECRET_KEYS: &str =
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|private[_-]?key|keypair)";

/// An optional authorization scheme, kept readable in front of the redacted credentials.
const AUTH_SCHEME: &str = r"(?:(?:bearer|basic|digest|negotiate|token|ntlm)[ \t]+)?";

/// Rule definitions in priority order: when matches of several rules overlap, the merged
/// span is named after the earliest rule here (registered values rank above all).
fn definitions() -> Vec<(&'static str, String, &'static [&'static str])> {
    vec![
        (
            PEM_PRIVATE_KEY,
            r"(?s-u)-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----|\z)"
                .to_string(),
            &[],
        ),
        (
            IDENTITY_KEY_PAIR,
            r#"(?i-u)\\?"keyPair\\?"[ \t\r\n]*:[ \t\r\n]*\\?"(?P<v>[^"\\]+)"#.to_string(),
            &["v"],
        ),
        (
            JWT,
            r"(?-u)\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*".to_string(),
            &[],
        ),
        (
            AUTHORIZATION,
            format!(
                r#"(?i-u)\b(?:proxy-)?authorization(?:\\?"[ \t]*[:=][ \t]*\\?"{AUTH_SCHEME}(?P<d>[^"\\\r\n]+)|'[ \t]*[:=][ \t]*'{AUTH_SCHEME}(?P<s>[^'\r\n]+)|[ \t]*[:=][ \t]*{AUTH_SCHEME}(?P<v>[^\r\n]+))"#
            ),
            &["d", "s", "v"],
        ),
        (
            BEARER,
            r"(?i-u)\bbearer[ \t]+(?P<v>[A-Za-z0-9\-._~+/]{8,}=*)".to_string(),
            &["v"],
        ),
        (
            URL_PASSWORD,
            r"(?i-u)\b[a-z][a-z0-9+.\-]*://[^\s/?#@:]*:(?P<v>[^\s/?#]+)@".to_string(),
            &["v"],
        ),
        (
            JSON_SECRET,
            format!(
                r#"(?i-u){SECRET_KEYS}(?:"[ \t\r\n]*:[ \t\r\n]*"(?P<v>(?:[^"\\]|\\.)+)"|\\"[ \t]*:[ \t]*\\"(?P<e>(?:[^"\\]|\\[^"])+)\\")"#
            ),
            &["v", "e"],
        ),
        (
            KEY_VALUE,
            format!(
                r#"(?i-u){SECRET_KEYS}[ \t]*[=:][ \t]*(?:"(?P<dq>(?:[^"\\\n]|\\.)+)"|'(?P<sq>[^'\n]+)'|(?P<bare>[^\s"',;&]+))"#
            ),
            &["dq", "sq", "bare"],
        ),
    ]
}

/// The compiled rules, or the compile error (which makes every redactor fail closed).
pub(crate) static RULES: LazyLock<Result<Vec<Rule>, String>> = LazyLock::new(|| {
    definitions()
        .into_iter()
        .map(|(name, pattern, groups)| {
            Regex::new(&pattern)
                .map(|regex| Rule {
                    name,
                    regex,
                    groups,
                })
                .map_err(|e| format!("redaction rule {name}: {e}"))
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_rules_compile() {
        let rules = RULES.as_ref().expect("rules compile");
        assert_eq!(rules.len(), definitions().len());
        let names: Vec<&str> = rules.iter().map(|r| r.name).collect();
        assert_eq!(names.first(), Some(&PEM_PRIVATE_KEY));
        assert_eq!(names.last(), Some(&KEY_VALUE));
        assert!(!names.contains(&REGISTERED));
    }
}
