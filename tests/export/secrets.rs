//! Secret-shaped text planted in the journal never reaches an export in the clear (R17), and
//! the transcript says that the exporter had to redact it.

use canton_dr::export::{self, Format};

use crate::common::{self, DB_PASSWORD, DB_URL, JWT};

#[test]
fn planted_secrets_are_redacted_in_every_format() {
    let f = common::incident_with(&common::secret_records());
    let segments: Vec<&str> = JWT.split('.').collect();
    for format in [Format::Markdown, Format::Html, Format::Json] {
        let text = export::export(&f.dir, format).unwrap().1;
        for secret in [JWT, DB_PASSWORD, DB_URL, segments[1], segments[2]] {
            assert!(
                !text.contains(secret),
                "{format:?} export contains {secret:?}"
            );
        }
        assert!(text.contains("<redacted:jwt>") || text.contains("&lt;redacted:jwt&gt;"));
        // The text around a secret stays readable.
        assert!(text.contains("db.internal:5432/integration"), "{format:?}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&export::export(&f.dir, Format::Json).unwrap().1).unwrap();
    let counts = &json["journal"]["export_redactions"];
    for rule in ["jwt", "url_password", "json_secret"] {
        assert!(
            counts[rule].as_u64().unwrap_or(0) >= 1,
            "no {rule} redaction recorded: {counts}"
        );
    }
    let shell = &json["steps"][9]["attempts"][0];
    assert_eq!(
        shell["started"]["inputs"]["db_password"],
        "<redacted:json_secret>"
    );
    let md = export::export(&f.dir, Format::Markdown).unwrap().1;
    assert!(md.contains("**The exporter's own redaction pass replaced secret-looking text**"));
}

#[test]
fn a_clean_journal_is_exported_unchanged() {
    let f = common::drill_incident();
    let json: serde_json::Value =
        serde_json::from_str(&export::export(&f.dir, Format::Json).unwrap().1).unwrap();
    assert_eq!(json["journal"]["export_redactions"], serde_json::json!({}));
    assert_eq!(
        json["steps"][3]["captures"]["synchronizer_id"],
        "global-domain::1220ab"
    );
    let md = export::export(&f.dir, Format::Markdown).unwrap().1;
    assert!(md.contains("found nothing secret-looking"));
}
