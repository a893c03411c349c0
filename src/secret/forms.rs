//! The forms in which a registered secret may show up in output: as is, base64 (standard and
//! URL-safe, padded or not, also inside a longer base64 text), hex, JSON-escaped and
//! percent-encoded.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Secrets shorter than this (in bytes) are not registered.
///
/// A one- to three-byte value occurs by chance all over ordinary output (`abc`, `123`,
/// `foo`): matching it would shred every transcript while protecting nothing, because a value
/// that short is guessed in a moment anyway. Its encodings would be shorter still.
pub const MIN_SECRET_LEN: usize = 4;

/// The shortest base64 fragment searched for when a secret sits inside a longer base64 text.
///
/// Such a fragment loses one or two characters at each end to its neighbours; below six
/// characters it would match random base64 (hashes, keys) too often.
pub const MIN_EMBEDDED_B64: usize = 6;

/// Every literal form of `value` to search for, deduplicated. The raw value comes first.
pub(crate) fn literal_forms(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut push = |form: Vec<u8>| {
        let form = Zeroizing::new(form);
        if !form.is_empty() && !out.iter().any(|f| **f == *form) {
            out.push(form);
        }
    };
    push(value.to_vec());
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        push(engine.encode(value).into_bytes());
    }
    push(hex::encode(value).into_bytes());
    push(hex::encode_upper(value).into_bytes());
    if let Ok(text) = std::str::from_utf8(value)
        && let Ok(json) = serde_json::to_string(text)
    {
        let inner = json.as_bytes();
        if inner.len() >= 2 {
            push(inner[1..inner.len() - 1].to_vec());
        }
        drop(Zeroizing::new(json));
    }
    for url_safe in [false, true] {
        for shift in 0..3 {
            if let Some(fragment) = embedded_base64(value, shift, url_safe) {
                push(fragment);
            }
        }
    }
    out
}

/// The base64 characters that depend on `value` alone when it starts `shift` bytes after a
/// 3-byte boundary of a longer base64-encoded text.
fn embedded_base64(value: &[u8], shift: usize, url_safe: bool) -> Option<Vec<u8>> {
    let mut padded = Zeroizing::new(vec![0u8; shift]);
    padded.extend_from_slice(value);
    let engine = if url_safe {
        &URL_SAFE_NO_PAD
    } else {
        &STANDARD_NO_PAD
    };
    let encoded = Zeroizing::new(engine.encode(&*padded).into_bytes());
    // Bit i of the input lands in character i / 6. The value occupies bits
    // [8*shift, 8*(shift+len)); keep the characters whose six bits all lie inside.
    let first = (8 * shift).div_ceil(6);
    let end = (8 * (shift + value.len())) / 6;
    if end <= first || end - first < MIN_EMBEDDED_B64 {
        return None;
    }
    encoded.get(first..end).map(<[u8]>::to_vec)
}

/// A regex (bytes, Unicode off) matching `value` with any of its bytes percent-encoded
/// (upper- or lower-case hex) and a space also written as `+`. `None` when every byte is an
/// unreserved URL character, since the percent form then equals the raw value.
pub(crate) fn percent_pattern(value: &[u8]) -> Option<Zeroizing<String>> {
    if value.iter().all(|b| is_unreserved(*b)) {
        return None;
    }
    let mut pattern = Zeroizing::new(String::with_capacity(value.len() * 16));
    for &b in value {
        if is_unreserved(b) {
            push_byte(&mut pattern, b);
            continue;
        }
        // The encoded alternative first: leftmost-first matching prefers it, so a raw `%`
        // in the value cannot end a match in the middle of `%25`.
        pattern.push_str(&format!("(?:%{}|", hex_either_case(b)));
        push_byte(&mut pattern, b);
        if b == b' ' {
            pattern.push_str("|\\+");
        }
        pattern.push(')');
    }
    Some(pattern)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends one byte as a regex atom that matches exactly that byte.
fn push_byte(pattern: &mut String, b: u8) {
    if b.is_ascii_alphanumeric() {
        pattern.push(char::from(b));
    } else {
        pattern.push_str(&format!("\\x{b:02X}"));
    }
}

/// `[2][fF]`-style classes for the two hex digits of `b`.
fn hex_either_case(b: u8) -> String {
    let digits = format!("{b:02X}");
    digits
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c, c.to_ascii_lowercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(value: &str) -> Vec<String> {
        literal_forms(value.as_bytes())
            .iter()
            .map(|f| String::from_utf8(f.to_vec()).expect("ascii forms"))
            .collect()
    }

    #[test]
    fn literal_forms_cover_the_standard_encodings() {
        let f = forms("pa/ss+w?rd");
        for expected in [
            "pa/ss+w?rd",
            "cGEvc3Mrdz9yZA==",
            "cGEvc3Mrdz9yZA",
            "cGEvc3Mrdz9yZA=="
                .replace('/', "_")
                .replace('+', "-")
                .as_str(),
            "7061", // start of the hex form
        ] {
            assert!(
                f.iter().any(|x| x.starts_with(expected)),
                "{expected} missing from {f:?}"
            );
        }
        assert!(f.contains(&"70612f73732b773f7264".to_string()));
        assert!(f.contains(&"70612F73732B773F7264".to_string()));
    }

    #[test]
    fn json_escaped_form_is_added_when_it_differs() {
        let f = forms("a\"b\\c\nd");
        assert!(f.contains(&"a\\\"b\\\\c\\nd".to_string()), "{f:?}");
    }

    #[test]
    fn embedded_fragments_match_inside_longer_base64() {
        let secret = b"correct horse battery";
        for prefix_len in 0..6 {
            let mut data = vec![b'#'; prefix_len];
            data.extend_from_slice(secret);
            data.extend_from_slice(b"!tail");
            let big = STANDARD.encode(&data);
            let fragments = literal_forms(secret);
            assert!(
                fragments
                    .iter()
                    .any(|f| big.as_bytes().windows(f.len()).any(|w| w == &f[..])),
                "no form of the secret found in base64 with a {prefix_len}-byte prefix"
            );
        }
    }

    #[test]
    fn percent_pattern_accepts_mixed_encodings() {
        let p = percent_pattern(b"p@ss w/rd").expect("has reserved bytes");
        let re = regex::bytes::Regex::new(&format!("(?-u){}", p.as_str())).expect("valid");
        for hay in [
            "p@ss w/rd",
            "p%40ss%20w%2Frd",
            "p%40ss+w%2frd",
            "p@ss%20w/rd",
        ] {
            assert!(re.is_match(hay.as_bytes()), "{hay}");
        }
        assert!(!re.is_match(b"p%41ss w/rd"));
        assert!(percent_pattern(b"plain-value_1.2~").is_none());
    }
}
