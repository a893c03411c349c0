//! Every format on a realistic journal: snapshots of Markdown and JSON, structural checks of
//! HTML, completeness (every record appears), and conformance to the published schema.

use std::collections::BTreeSet;

use canton_dr::export::{self, Format, SCHEMA_VERSION};
use serde_json::Value;

use crate::common::{self, ID};
use crate::schema;

fn export_of(f: &common::Fixture, format: Format) -> String {
    export::export(&f.dir, format).expect("export").1
}

fn json_of(f: &common::Fixture) -> Value {
    serde_json::from_str(&export_of(f, Format::Json)).expect("the JSON export parses")
}

#[test]
fn markdown_snapshot() {
    let f = common::drill_incident();
    insta::assert_snapshot!("drill_transcript_md", export_of(&f, Format::Markdown));
}

#[test]
fn json_snapshot() {
    let f = common::drill_incident();
    insta::assert_snapshot!("drill_transcript_json", export_of(&f, Format::Json));
}

#[test]
fn aborted_markdown_snapshot() {
    let f = common::incident_with(&common::aborted_records());
    insta::assert_snapshot!("aborted_transcript_md", export_of(&f, Format::Markdown));
}

fn collect_seqs(v: &Value, out: &mut Vec<u64>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "seq" {
                    if let Some(n) = x.as_u64() {
                        out.push(n);
                    }
                } else {
                    collect_seqs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_seqs(x, out)),
        _ => {}
    }
}

#[test]
fn every_record_appears_in_the_json_transcript() {
    for records in [common::drill_records(), common::aborted_records()] {
        let f = common::incident_with(&records);
        let json = json_of(&f);
        let mut seqs = Vec::new();
        collect_seqs(&json, &mut seqs);
        // `outcome.seq` repeats the end record, which is also the run's end: count it once.
        let unique: BTreeSet<u64> = seqs.iter().copied().collect();
        let expected: BTreeSet<u64> = (0..records.len() as u64).collect();
        assert_eq!(unique, expected, "records missing from the transcript");
        assert_eq!(json["journal"]["records"], records.len() as u64);
    }
}

#[test]
fn the_json_transcript_states_the_facts_of_the_journal() {
    let f = common::drill_incident();
    let j = json_of(&f);
    assert_eq!(j["schema_version"], SCHEMA_VERSION);
    assert_eq!(j["incident"]["id"], ID);
    assert_eq!(j["incident"]["mode"], "drill");
    assert_eq!(j["incident"]["opened_at"], "2026-11-22T03:15:00.000000Z");
    assert_eq!(j["incident"]["ended_at"], "2026-11-22T03:22:23.000000Z");
    assert_eq!(j["incident"]["elapsed_ms"], 443_000);
    assert_eq!(j["runbook"]["budget_ms"], 600_000);
    assert_eq!(j["outcome"]["status"], "completed");
    assert_eq!(j["outcome"]["within_budget"], true);
    let statuses: Vec<&str> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "confirmed",
            "confirmed",
            "passed",
            "passed",
            "passed",
            "marked_done",
            "overridden",
            "passed",
            "not_applicable",
            "passed"
        ]
    );
    let stop = &j["steps"][2];
    assert_eq!(stop["retries"], 1);
    assert_eq!(stop["attempts"][0]["end"]["result"], "failed");
    assert_eq!(stop["attempts"][0]["spawned"]["pid"], 5001);
    assert_eq!(stop["attempts"][1]["observations"][0]["held"], true);
    assert_eq!(stop["duration_ms"], 5_100);
    let offset = &j["steps"][4];
    assert_eq!(offset["attempts"][0]["observations"][0]["retryable"], true);
    assert_eq!(offset["captures"]["off_recovery"], 18240);
    let set = &j["steps"][5];
    assert_eq!(set["in_doubt"][0]["choice"], "mark_done");
    assert!(set["attempts"][0]["end"].is_null());
    assert_eq!(j["recoveries"][0]["kind"], "torn_tail");
    assert_eq!(j["sessions"][1]["resumed"], true);
    assert_eq!(j["sessions"][1]["ended"]["reason"], "run completed");
    assert!(j["sessions"][0]["ended"].is_null());
    assert_eq!(j["drill"]["verdict"], "PASS");
    assert_eq!(j["journal"]["tail"], "clean");
    assert_eq!(j["journal"]["export_redactions"], serde_json::json!({}));
    let head = canton_dr::journal::verify(&f.journal(), None, None)
        .unwrap()
        .head
        .hex();
    assert_eq!(j["journal"]["head"], head.as_str());
    assert_eq!(
        j["journal"]["verify_command"],
        format!(
            "canton-dr verify {ID} --expect-head {head} --expect-count {}",
            common::drill_records().len()
        )
    );
}

#[test]
fn json_transcripts_conform_to_the_published_schema() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/transcript.schema.json"),
    )
    .expect("the schema file");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    assert_eq!(
        schema["properties"]["schema_version"]["const"],
        SCHEMA_VERSION
    );
    for records in [
        common::drill_records(),
        common::aborted_records(),
        common::secret_records(),
    ] {
        let f = common::incident_with(&records);
        let json = json_of(&f);
        let errors = schema::validate(&schema, &json);
        assert!(errors.is_empty(), "{errors:#?}");
    }
    // And the check can fail: a transcript with an unknown field or a wrong type does not
    // conform.
    let f = common::drill_incident();
    let mut json = json_of(&f);
    json["steps"][0]["surprise"] = Value::Bool(true);
    json["incident"]["elapsed_ms"] = Value::String("long".into());
    assert_eq!(schema::validate(&schema, &json).len(), 2);
}

#[test]
fn html_is_self_contained_and_states_every_status_in_words() {
    let f = common::drill_incident();
    let html = export_of(&f, Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    let lower = html.to_lowercase();
    for forbidden in [
        "http://",
        "https://",
        "<script",
        "<link",
        "<img",
        "<iframe",
        "src=",
        "@import",
        "url(",
        "@font-face",
    ] {
        assert!(!lower.contains(forbidden), "the HTML contains {forbidden}");
    }
    for href in lower.split("href=\"").skip(1) {
        assert!(
            href.starts_with('#'),
            "a link leaves the document: {href:.40}"
        );
    }
    assert!(html.contains("<style>") && html.contains("@media print"));
    assert!(html.contains("<details><summary>Evidence</summary>"));
    assert!(html.contains("<section id=\"timeline\">"));
    assert!(
        html.contains("class=\"tl-limit\" style=\"left:95.23%\""),
        "budget line"
    );
    let rb = canton_dr::runbook::load(std::path::Path::new(common::RUNBOOK)).unwrap();
    for (i, step) in rb.steps.iter().enumerate() {
        let section = format!("id=\"step-{}\">\n<h3>{}. ", i + 1, i + 1);
        assert!(html.contains(&section), "step {} has no section", step.id);
        assert!(html.contains(&format!("<code>{}</code>", step.id)));
    }
    for words in [
        ">confirmed</span>",
        ">passed</span>",
        ">marked done</span>",
        ">overridden</span>",
        ">not applicable</span>",
        ">timed out</span>",
        ">failed</span>",
        ">completed</span>",
        ">PASS</span>",
        ">within budget</span>",
    ] {
        assert!(html.contains(words), "no status {words}");
    }
    assert!(html.contains("<span class=\"status bad\">failed</span>"));
    assert!(html.contains("<span class=\"status ok\">passed</span>"));
    assert!(html.contains("<span class=\"status warn\">overridden</span>"));
    // Operator text is shown as text, never as markup.
    assert!(html.contains("Second line &lt;b&gt;kept&lt;/b&gt; as text."));
    assert!(!html.contains("<b>kept</b>"));
}

#[test]
fn markdown_shows_every_kind_of_record() {
    let f = common::drill_incident();
    let md = export_of(&f, Format::Markdown);
    for needle in [
        "| Mode | **DRILL** |",                           // incident_opened
        "| #1 2026-11-22T03:15:00.150000Z | alice",       // session_started
        "#41 2026-11-22T03:22:23.600000Z: run completed", // session_ended
        "ingestion\\_stop failed; the operator chose",    // warning (step)
        "free space on the data directory",               // warning (incident)
        "its condition `now > vars.t_recovery + vars.ttl` did not hold", // step_not_applicable
        "started by alice (changes the world): `ingestion_stop`", // step_started
        "process started: pid 5001, process group 5001",  // step_spawned
        "expectation held — exit code 3",                 // probe_observed
        "probe **failed** (may recover): OUT\\_OF\\_RANGE", // probe_observed (error)
        "**passed** after 3.100s (exit code 0)",          // step_completed
        "**failed**: exited with code 1 after 2s (exit code 1)", // step_failed
        "**timed out** after 5m",                         // step_timed_out
        "**Overridden** (#27",                            // step_skipped
        "Validator pod restored from the 02:00 backup.",  // note_added (step)
        "Debrief: all invariants held",                   // note_added (incident)
        "to mark it done, with evidence: ingestion log",  // in_doubt_resolved
        "item `splice-amulet-0.1.9.dar` **done**: uploaded, 3 packages", // action_item
        "`torn_tail` — 37 bytes cut off",                 // recovery
        "Ended | 2026-11-22T03:22:23.000000Z (#39)",      // run_completed
        "**Verdict: PASS** (#40",                         // drill_judged
    ] {
        assert!(md.contains(needle), "missing {needle:?}");
    }
    let head = canton_dr::journal::verify(&f.journal(), None, None)
        .unwrap()
        .head
        .hex();
    assert!(md.contains(&format!("records=42\nhead={head}\n")));
    assert!(md.contains(&format!(
        "canton-dr verify {ID} --expect-head {head} --expect-count 42"
    )));
}

#[test]
fn an_aborted_live_incident_says_so() {
    let f = common::incident_with(&common::aborted_records());
    let j = json_of(&f);
    assert_eq!(j["outcome"]["status"], "aborted");
    assert_eq!(
        j["outcome"]["reason"],
        "false alarm: the validator was healthy"
    );
    assert!(j["drill"].is_null());
    let md = export_of(&f, Format::Markdown);
    assert!(md.contains("aborted: false alarm: the validator was healthy"));
    assert!(!md.contains("## Drill result"));
    let html = export_of(&f, Format::Html);
    assert!(html.contains("<span class=\"status bad\">aborted</span>"));
}
