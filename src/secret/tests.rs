//! Table tests for each redaction rule and property tests for registered values (T12).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use secrecy::SecretString;

use super::rules::*;
use super::*;

fn counts(pairs: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    pairs.iter().copied().collect()
}

fn check(
    redactor: &Redactor,
    input: &str,
    expected: &str,
    expected_counts: &[(&'static str, usize)],
) {
    let r = redactor.redact(input);
    assert_eq!(r.text, expected, "input: {input:?}");
    assert_eq!(r.counts, counts(expected_counts), "input: {input:?}");
}

#[test]
fn authorization_headers() {
    let r = Redactor::patterns_only();
    check(
        &r,
        "Authorization: Bearer abc.def-ghi_123",
        "Authorization: Bearer <redacted:authorization>",
        &[(AUTHORIZATION, 1)],
    );
    check(
        &r,
        "> authorization: Basic dXNlcjpwYXNzd29yZA==\r\n> Accept: */*",
        "> authorization: Basic <redacted:authorization>\r\n> Accept: */*",
        &[(AUTHORIZATION, 1)],
    );
    check(
        &r,
        r#"{"headers":{"Authorization":"Bearer tok_abcdefgh","X":"1"}}"#,
        r#"{"headers":{"Authorization":"Bearer <redacted:authorization>","X":"1"}}"#,
        &[(AUTHORIZATION, 1)],
    );
    check(
        &r,
        "Proxy-Authorization: Digest username=\"u\", response=\"abc\"",
        "Proxy-Authorization: Digest <redacted:authorization>",
        &[(AUTHORIZATION, 1)],
    );
    check(
        &r,
        "calling with bearer AbCdEf0123456789+/== now",
        "calling with bearer <redacted:bearer> now",
        &[(BEARER, 1)],
    );
    // "Bearer" followed by an ordinary short word is left alone.
    check(&r, "the bearer bond", "the bearer bond", &[]);
}

#[test]
fn url_userinfo_passwords() {
    let r = Redactor::patterns_only();
    check(
        &r,
        "connecting to postgres://app:s3cr%40t@db.internal:5432/integration ...",
        "connecting to postgres://app:<redacted:url_password>@db.internal:5432/integration ...",
        &[(URL_PASSWORD, 1)],
    );
    check(
        &r,
        "postgresql://u:p@h/db",
        "postgresql://u:<redacted:url_password>@h/db",
        &[(URL_PASSWORD, 1)],
    );
    check(
        &r,
        "amqp://guest:gu@st@rabbit:5672/ and redis://:only-pass@cache",
        "amqp://guest:<redacted:url_password>@rabbit:5672/ and redis://:<redacted:url_password>@cache",
        &[(URL_PASSWORD, 2)],
    );
    for untouched in [
        "https://example.com/path?a=b",
        "ssh://git@github.com/org/repo",
        "http://host:8080/x@y",
        "postgres://app@db/integration",
    ] {
        check(&r, untouched, untouched, &[]);
    }
}

#[test]
fn key_value_pairs() {
    let r = Redactor::patterns_only();
    check(
        &r,
        "host=db user=app password=hunter2 dbname=x",
        "host=db user=app password=<redacted:key_value> dbname=x",
        &[(KEY_VALUE, 1)],
    );
    check(
        &r,
        "PGPASSWORD='x y z' psql",
        "PGPASSWORD='<redacted:key_value>' psql",
        &[(KEY_VALUE, 1)],
    );
    check(
        &r,
        "db.password: \"quoted value\"\nuser: app",
        "db.password: \"<redacted:key_value>\"\nuser: app",
        &[(KEY_VALUE, 1)],
    );
    check(
        &r,
        "GET /cb?access_token=abc123&state=1",
        "GET /cb?access_token=<redacted:key_value>&state=1",
        &[(KEY_VALUE, 1)],
    );
    check(
        &r,
        "api_key=K1; PWD=P2; passwd=P3, secret=S4 API-KEY: k5",
        "api_key=<redacted:key_value>; PWD=<redacted:key_value>; passwd=<redacted:key_value>, secret=<redacted:key_value> API-KEY: <redacted:key_value>",
        &[(KEY_VALUE, 5)],
    );
    // Keys that merely contain a keyword, and empty values, are left alone.
    for untouched in [
        "tokens=5 secret_name=db-creds password_policy=strict",
        "password=",
        "token_type=Bearer",
    ] {
        check(&r, untouched, untouched, &[]);
    }
}

#[test]
fn json_secret_fields() {
    let r = Redactor::patterns_only();
    check(
        &r,
        r#"{"user":"app","password": "p\"w","client_secret":"cs-1","access_token" : "at-2","refresh_token":"rt"}"#,
        r#"{"user":"app","password": "<redacted:json_secret>","client_secret":"<redacted:json_secret>","access_token" : "<redacted:json_secret>","refresh_token":"<redacted:json_secret>"}"#,
        &[(JSON_SECRET, 4)],
    );
    // JSON inside a JSON string (escaped quotes).
    check(
        &r,
        r#"{"body":"{\"token\":\"t-123\"}"}"#,
        r#"{"body":"{\"token\":\"<redacted:json_secret>\"}"}"#,
        &[(JSON_SECRET, 1)],
    );
    check(
        &r,
        r#"{"token": null, "tokens": "x"}"#,
        r#"{"token": null, "tokens": "x"}"#,
        &[],
    );
}

#[test]
fn pem_private_key_blocks() {
    let r = Redactor::patterns_only();
    let pem = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA PRIVATE KEY-----\nafter";
    check(
        &r,
        pem,
        "before\n<redacted:pem_private_key>\nafter",
        &[(PEM_PRIVATE_KEY, 1)],
    );
    let json =
        r#"{"key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"}"#;
    check(
        &r,
        json,
        r#"{"key":"<redacted:pem_private_key>\n"}"#,
        &[(PEM_PRIVATE_KEY, 1)],
    );
    // Cut off before END: everything from BEGIN on goes.
    check(
        &r,
        "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXkt",
        "x\n<redacted:pem_private_key>",
        &[(PEM_PRIVATE_KEY, 1)],
    );
    let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    check(&r, cert, cert, &[]);
}

#[test]
fn jwts() {
    let r = Redactor::patterns_only();
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlX2J5dGVz";
    check(
        &r,
        &format!("got {jwt}, expires soon"),
        "got <redacted:jwt>, expires soon",
        &[(JWT, 1)],
    );
    // Inside an Authorization header the JWT rule ranks first.
    check(
        &r,
        &format!("Authorization: Bearer {jwt}"),
        "Authorization: Bearer <redacted:jwt>",
        &[(JWT, 1)],
    );
    check(&r, "eyJ.not.a.token", "eyJ.not.a.token", &[]);
}

#[test]
fn identity_dump_key_pairs() {
    let r = Redactor::patterns_only();
    check(
        &r,
        r#"{"id":"PAR::val::1220ab","keys":[{"keyPair":"CgVrZXkxMhIDYWJj","name":"signing"},{"type":"signing","keyId":"kms-1"}]}"#,
        r#"{"id":"PAR::val::1220ab","keys":[{"keyPair":"<redacted:identity_key_pair>","name":"signing"},{"type":"signing","keyId":"kms-1"}]}"#,
        &[(IDENTITY_KEY_PAIR, 1)],
    );
}

#[test]
fn registered_values_in_every_form() {
    let secret = "p@ss w/rd+Canary7";
    let r = Redactor::new(&[SecretString::from(secret)]);
    let forms = [
        secret.to_string(),
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        hex::encode(secret),
        hex::encode_upper(secret),
        "p%40ss%20w%2Frd%2BCanary7".to_string(),
        "p%40ss+w%2frd%2bCanary7".to_string(),
    ];
    for form in &forms {
        let out = r.redact(&format!("[{form}]"));
        assert_eq!(out.text, "[<redacted:registered>]", "form {form}");
        assert_eq!(out.counts, counts(&[(REGISTERED, 1)]), "form {form}");
    }
    // Registered values rank above patterns when they overlap.
    check(
        &r,
        &format!("password={secret} ok"),
        // The key/value rule's bare value stops at the space inside the secret; the merged
        // span still covers the whole secret.
        "password=<redacted:registered> ok",
        &[(REGISTERED, 1)],
    );
    // Too-short values are not registered.
    let short = Redactor::new(&[SecretString::from("abc")]);
    assert_eq!(short.secret_count(), 0);
    check(&short, "abc abc", "abc abc", &[]);
}

#[test]
fn secret_inside_a_longer_base64_blob_is_redacted() {
    let secret = "Canary-0123456789";
    let r = Redactor::new(&[SecretString::from(secret)]);
    for prefix in ["", "a", "ab", "abc", "user:", "x-api-user:"] {
        let blob = STANDARD.encode(format!("{prefix}{secret}:trailer"));
        // The characters of the blob that are fully determined by the secret's bits.
        let p = prefix.len();
        let first = (8 * p).div_ceil(6);
        let end = (8 * (p + secret.len())) / 6;
        let revealing = &blob[first..end];
        let out = r.redact(&blob);
        assert!(
            out.counts.contains_key(REGISTERED),
            "prefix {prefix:?}: {}",
            out.text
        );
        assert!(
            !out.text.contains(revealing),
            "prefix {prefix:?}: {}",
            out.text
        );
    }
}

#[test]
fn overlapping_secrets_are_redacted_whole() {
    let r = Redactor::new(&[
        SecretString::from("abcd1234"),
        SecretString::from("1234wxyz"),
    ]);
    check(
        &r,
        "<abcd1234wxyz>",
        "<<redacted:registered>>",
        &[(REGISTERED, 1)],
    );
    check(
        &r,
        "abcd1234 1234wxyz",
        "<redacted:registered> <redacted:registered>",
        &[(REGISTERED, 2)],
    );
}

#[test]
fn truncated_output_loses_the_start_of_a_cut_secret() {
    let r = Redactor::new(&[SecretString::from("Canary-Tail-Secret")]);
    let cut = b"log line\nvalue=Canar";
    let plain = r.redact_bytes(cut);
    assert!(
        plain.text.ends_with("Canar"),
        "only patterns: {}",
        plain.text
    );
    let out = r.redact_truncated_bytes(b"log line\nsaw Canar");
    assert_eq!(out.text, "log line\nsaw <redacted:registered>");
    // A short coincidental tail is kept.
    let out = r.redact_truncated_bytes(b"log line\nCa");
    assert_eq!(out.text, "log line\nCa");
}

#[test]
fn bytes_variant_decodes_lossily_and_still_redacts() {
    let r = Redactor::new(&[SecretString::from("Canary-Bytes-1")]);
    let mut input = b"\xff\xfe raw Canary-Bytes-1 \xc3".to_vec();
    input.extend_from_slice(b" password=\xe2\x82hidden ok");
    let out = r.redact_bytes(&input);
    assert_eq!(
        out.text,
        "\u{fffd}\u{fffd} raw <redacted:registered> \u{fffd} password=<redacted:key_value> ok"
    );
}

#[test]
fn line_redactor_withholds_private_key_bodies() {
    let reg = SecretRegistry::new();
    reg.register(&SecretString::from("Canary-Line-9"));
    let mut lines = LineRedactor::new(reg.redactor());
    let input = [
        "start Canary-Line-9",
        "-----BEGIN EC PRIVATE KEY-----",
        "MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49",
        "-----END EC PRIVATE KEY-----",
        "done",
    ];
    let out: Vec<Option<String>> = input.iter().map(|l| lines.line(l.as_bytes())).collect();
    assert_eq!(
        out,
        vec![
            Some("start <redacted:registered>".to_string()),
            Some("<redacted:pem_private_key>".to_string()),
            None,
            None,
            Some("done".to_string()),
        ]
    );
}

#[test]
fn text_without_secrets_is_unchanged_and_rule_names_are_listed() {
    let r = Redactor::patterns_only();
    let text = "step 3/7: restored 18234 offsets — synchronizer global-domain::1220 ✓\n";
    check(&r, text, text, &[]);
    let names = rule_names();
    assert_eq!(names[0], REGISTERED);
    assert!(names.contains(&JWT) && names.contains(&KEY_VALUE));
}

// ---- properties ----

/// The encoded forms every registered secret must never survive in.
fn standard_forms(secret: &str) -> Vec<String> {
    let mut v = vec![
        secret.to_string(),
        STANDARD.encode(secret),
        URL_SAFE.encode(secret),
        hex::encode(secret),
        hex::encode_upper(secret),
        percent_encode(secret, false),
        percent_encode(secret, true),
    ];
    v.retain(|f| !f.is_empty());
    v
}

fn percent_encode(s: &str, lower: bool) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else if lower {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn form_of(secret: &str, which: usize) -> String {
    match which % 9 {
        0 => secret.to_string(),
        1 => STANDARD.encode(secret),
        2 => STANDARD_NO_PAD.encode(secret),
        3 => URL_SAFE.encode(secret),
        4 => URL_SAFE_NO_PAD.encode(secret),
        5 => hex::encode(secret),
        6 => hex::encode_upper(secret),
        7 => percent_encode(secret, false),
        _ => percent_encode(secret, true),
    }
}

fn secret_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{4,24}",
        "[!-~]{4,24}",
        "[ -~]{3,12}[^\u{0}-\u{1f}]{1,6}",
    ]
    .prop_filter("at least MIN_SECRET_LEN bytes", |s| {
        s.len() >= MIN_SECRET_LEN
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random secrets embedded, in random forms, at random positions in random output never
    /// survive redaction, whether the output is text or raw bytes.
    #[test]
    fn registered_secrets_never_survive(
        secrets in proptest::collection::vec(secret_strategy(), 1..4),
        pieces in proptest::collection::vec((any::<String>(), 0usize..3, 0usize..9), 1..6),
        tail in any::<String>(),
        junk in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let registry = SecretRegistry::new();
        for s in &secrets {
            registry.register(&SecretString::from(s.as_str()));
        }
        let mut text = String::new();
        for (filler, idx, form) in &pieces {
            text.push_str(filler);
            text.push_str(&form_of(&secrets[idx % secrets.len()], *form));
        }
        text.push_str(&tail);
        let redactor = registry.redactor();
        let out = redactor.redact(&text);
        let mut bytes = junk.clone();
        bytes.extend_from_slice(text.as_bytes());
        let out_bytes = redactor.redact_bytes(&bytes);
        for s in &secrets {
            for f in standard_forms(s) {
                prop_assert!(!out.text.contains(&f), "form {:?} of {:?} survived in {:?}", f, s, out.text);
                prop_assert!(!out_bytes.text.contains(&f), "form {:?} survived (bytes)", f);
            }
        }
        prop_assert!(out.counts.get(REGISTERED).copied().unwrap_or(0) >= 1);
    }

    /// Text around secrets comes back byte for byte; each secret becomes one placeholder.
    #[test]
    fn surrounding_text_is_preserved(
        secrets in proptest::collection::vec("[A-Z0-9#$%*]{6,20}", 1..4),
        pieces in proptest::collection::vec(("[a-z ,.!?()\t\n\réñü中文🙂]{0,30}", 0usize..3, 0usize..9), 0..6),
        tail in "[a-z ,.!?()\t\n\réñü中文🙂]{0,30}",
    ) {
        let redactor = Redactor::new(
            &secrets.iter().map(|s| SecretString::from(s.as_str())).collect::<Vec<_>>(),
        );
        let mut text = String::new();
        let mut expected = String::new();
        for (filler, idx, form) in &pieces {
            text.push_str(filler);
            expected.push_str(filler);
            text.push_str(&form_of(&secrets[idx % secrets.len()], *form));
            expected.push_str("<redacted:registered>");
        }
        text.push_str(&tail);
        expected.push_str(&tail);
        let out = redactor.redact(&text);
        prop_assert_eq!(&out.text, &expected);
        prop_assert_eq!(out.total(), pieces.len());
        // And with no secret embedded at all, nothing changes.
        let plain = redactor.redact(&tail);
        prop_assert_eq!(&plain.text, &tail);
        prop_assert!(plain.is_clean());
    }
}
