//! Export benchmark: the whole pipeline (read the journal, scan and verify every frame, decode
//! and replay every record, redact every text, render) for a 100,000-record incident journal,
//! in each format. The target is under one second per export.
//!
//! The journal is a drill of `tests/runbooks/valid/basic.toml` whose wait step polled tens of
//! thousands of times, with retries, notes and warnings; its frames are encoded directly (no
//! fsync per record) into a file under Cargo's target temporary directory. Run with
//! `cargo bench --bench export`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use canton_dr::engine::record::{
    EmbeddedFile, Event, Mode, Observation, Outcome, Output, Record, RunbookRef,
};
use canton_dr::export::{self, Format};
use canton_dr::journal::format;
use canton_dr::value::parse_timestamp;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use serde_json::json;

const RECORDS: u64 = 100_000;

fn record(ms: u64, event: Event) -> Record {
    let base = parse_timestamp("2026-11-22T03:15:00Z").expect("timestamp");
    Record {
        ts: base + chrono::TimeDelta::milliseconds(ms as i64),
        mono_ms: ms,
        user: "ops".into(),
        operator: "alice".into(),
        host: "dr-1".into(),
        event,
    }
}

fn opened() -> Record {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runbooks/valid/basic.toml");
    let rb = canton_dr::runbook::load(&path).expect("the benchmark runbook loads");
    record(
        0,
        Event::IncidentOpened {
            incident_id: "bench".into(),
            mode: Mode::Drill,
            runbook: RunbookRef {
                id: rb.id.clone(),
                title: rb.title.clone(),
                source: rb.source.clone(),
                sha256: rb.sha256.clone(),
                files: rb
                    .files
                    .iter()
                    .map(|f| EmbeddedFile {
                        name: f.name.clone(),
                        path: f.path.display().to_string(),
                        text: f.text.clone(),
                    })
                    .collect(),
            },
            profile: None,
            tool_version: "0.1.0".into(),
            params: BTreeMap::new(),
        },
    )
}

/// The `i`-th record of the body of the journal.
fn body_record(i: u64) -> Record {
    let ms = 1_000 + i * 50;
    let event = match i % 10 {
        0..=3 => Event::ProbeObserved {
            step: "offset".into(),
            attempt: 1,
            observation: Observation {
                call: "canton.offset_at(at=2026-11-22T01:59:58.123456Z, synchronizer=global-domain::1220ab)".into(),
                value: json!({"offset": 18_000 + i, "record_time": "2026-11-22T01:59:58.123456Z"}),
                summary: format!("offset {}", 18_000 + i),
                held: Some(false),
                error: None,
                retryable: false,
            },
        },
        4 | 5 => Event::NoteAdded {
            step: if i % 20 == 4 { Some("stop".into()) } else { None },
            text: format!("note {i}: checked the ingestion log, still catching up"),
        },
        6 => Event::StepStarted {
            step: "stop".into(),
            attempt: (i / 10 + 1) as u32,
            action: "ingestion_stop".into(),
            action_sha256: format!("{i:064x}"),
            side_effects: true,
            inputs: BTreeMap::new(),
        },
        7 => Event::StepFailed {
            step: "stop".into(),
            attempt: (i / 10 + 1) as u32,
            reason: "exited with code 1".into(),
            duration_ms: 40,
            exit_code: Some(1),
            signal: None,
            output: Some(Output {
                stdout: String::new(),
                stderr: "ingestion: service busy, try again\n".into(),
                stdout_bytes: 0,
                stderr_bytes: 35,
                truncated: false,
                sha256: format!("{i:064x}"),
            }),
            redactions: BTreeMap::new(),
        },
        8 => Event::Warning {
            step: Some("caught-up".into()),
            message: format!("poll {i}: ingestion lags by {} transactions", i % 97),
        },
        _ => Event::ProbeObserved {
            step: "caught-up".into(),
            attempt: 1,
            observation: Observation {
                call: "sql(params=[2026-11-22T01:59:58.123456Z], query=ingested_since)".into(),
                value: json!({"row_count": 1, "n": i % 10}),
                summary: "1 row".into(),
                held: Some(false),
                error: None,
                retryable: false,
            },
        },
    };
    record(ms, event)
}

/// A complete journal of `RECORDS` records, encoded frame by frame.
fn journal_bytes() -> Vec<u8> {
    let header = format::header_bytes();
    let mut out = header.to_vec();
    let mut prev = format::genesis_hash(&header);
    let mut push = |seq: u64, r: &Record, out: &mut Vec<u8>| {
        let payload = r.encode();
        let len = format::encode_frame(out, seq, &prev, &payload).expect("record fits");
        prev = format::chain_hash(&prev, seq, len, &payload);
    };
    push(0, &opened(), &mut out);
    let body = RECORDS - 3;
    for i in 0..body {
        push(i + 1, &body_record(i), &mut out);
    }
    let end_ms = 1_000 + body * 50;
    let tail = [
        Event::StepCompleted {
            step: "offset".into(),
            attempt: 1,
            outcome: Outcome::Passed,
            duration_ms: end_ms,
            captures: BTreeMap::from([("off_recovery".to_owned(), json!(18_240))]),
            note: None,
            evidence: None,
            exit_code: None,
            output: None,
            redactions: BTreeMap::new(),
        },
        Event::RunAborted {
            reason: "benchmark".into(),
        },
    ];
    for (k, e) in tail.into_iter().enumerate() {
        push(body + 1 + k as u64, &record(end_ms + k as u64, e), &mut out);
    }
    out
}

fn exports(c: &mut Criterion) {
    let tmp = tempfile::Builder::new()
        .prefix("export-bench")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create a scratch directory under the target directory");
    let path = tmp.path().join("journal.rbj");
    let bytes = journal_bytes();
    std::fs::write(&path, &bytes).expect("write the journal");
    let mut group = c.benchmark_group(format!("export_{RECORDS}_records"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(RECORDS));
    for (name, format) in [
        ("markdown", Format::Markdown),
        ("html", Format::Html),
        ("json", Format::Json),
    ] {
        let (t, text) = export::export(&path, format).expect("export");
        assert_eq!(t.journal.records, RECORDS);
        eprintln!(
            "{name}: journal {} bytes, transcript {} bytes",
            bytes.len(),
            text.len()
        );
        group.bench_function(name, |b| {
            b.iter(|| export::export(black_box(&path), format).expect("export"))
        });
    }
    group.finish();
}

criterion_group!(benches, exports);
criterion_main!(benches);
