//! TUI benchmarks: one frame of the run screen for a 60-step runbook whose journal holds
//! 10,000 records, drawn into a 200x60 `TestBackend` (target: under 2 ms); and the UI loop
//! over 1,000 idle ticks with nothing changing (target: no redraws — the draw count is
//! printed and checked). Run with `cargo bench --bench tui_render`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use canton_dr::engine::event::{EngineEvent, Progress, Waiting};
use canton_dr::engine::record::{
    EmbeddedFile, Event, Mode, Observation, Outcome, Record, RunbookRef,
};
use canton_dr::engine::state::IncidentState;
use canton_dr::tui::TuiOptions;
use canton_dr::tui::app::App;
use canton_dr::tui::event::Event as UiEvent;
use canton_dr::tui::runner::{Sources, run_loop};
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const STEPS: usize = 60;
const RECORDS: u64 = 10_000;

/// A runbook of 60 steps: manual, check, wait and command steps in turn.
fn runbook_text() -> String {
    let mut t = String::from(
        r#"id = "bench"
title = "Sixty steps for the render benchmark"
source = "canton-dr benchmarks"
recovery_budget = "45m"

[queries.last_ingested]
description = "The last ingested transaction"
returns = { record_time = "timestamp", synchronizer_id = "text", offset = "offset" }

[commands.ingestion_stop]
description = "Stop ingestion"
"#,
    );
    for i in 0..STEPS {
        let body = match i % 4 {
            0 => format!(
                "kind = \"manual\"\ntitle = \"Check the dashboard, part {i}\"\ninstructions = \"\"\"\nOpen the monitoring dashboard and compare the ledger end with the last ingested offset.\nWrite down anything unusual in a note before you confirm.\nStep {i} of the procedure.\n\"\"\"\n"
            ),
            1 => format!(
                "kind = \"check\"\ntitle = \"Read the recovery point, part {i}\"\nprobe = {{ kind = \"sql\", query = \"last_ingested\" }}\nexpect = \"value.row_count == 1\"\n"
            ),
            2 => format!(
                "kind = \"wait\"\ntitle = \"Wait for the participant, part {i}\"\nprobe = {{ kind = \"sql\", query = \"last_ingested\" }}\nexpect = \"value.row_count == 1\"\ninterval = \"5s\"\ntimeout = \"30m\"\n"
            ),
            _ => format!(
                "kind = \"command\"\ntitle = \"Stop ingestion, part {i}\"\nrun = \"ingestion_stop\"\n"
            ),
        };
        t.push_str(&format!("\n[[step]]\nid = \"step-{i:02}\"\n{body}"));
    }
    t
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_317_300, 0).unwrap_or_default()
}

fn rec(n: u64, event: Event) -> Record {
    Record {
        ts: t0() + TimeDelta::milliseconds(i64::try_from(n * 100).unwrap_or(0)),
        mono_ms: n * 100,
        user: "root".into(),
        operator: "alice".into(),
        host: "dr-host".into(),
        event,
    }
}

/// The run screen after 10,000 records: 41 steps settled, the 42nd (a wait step) polling.
fn busy_app(now: Instant) -> App {
    let text = runbook_text();
    let opened = rec(
        0,
        Event::IncidentOpened {
            incident_id: "20261122-031500-bench-0001".into(),
            mode: Mode::Drill,
            runbook: RunbookRef {
                id: "bench".into(),
                title: "Sixty steps".into(),
                source: "bench".into(),
                sha256: "0".repeat(64),
                files: vec![EmbeddedFile {
                    name: "bench.toml".into(),
                    path: "bench.toml".into(),
                    text,
                }],
            },
            profile: None,
            tool_version: "0.1.0".into(),
            params: BTreeMap::new(),
        },
    );
    let state = match IncidentState::open(1, &opened) {
        Ok(s) => s,
        Err(e) => panic!("the benchmark runbook opens: {e}"),
    };
    let mut app = App::new(TuiOptions::default(), now, t0());
    app.handle(
        UiEvent::Engine(EngineEvent::Started {
            state: Box::new(state),
        }),
        now,
        t0(),
    );
    let mut seq = 1;
    let push = |app: &mut App, seq: &mut u64, e: Event| {
        *seq += 1;
        let n = *seq;
        app.handle(
            UiEvent::Engine(EngineEvent::Recorded {
                seq: n,
                head: format!("{n:064x}"),
                record: Box::new(rec(n, e)),
            }),
            now,
            t0(),
        );
    };
    let settled = 41;
    for i in 0..settled {
        let step = format!("step-{i:02}");
        push(
            &mut app,
            &mut seq,
            Event::StepStarted {
                step: step.clone(),
                attempt: 1,
                action: "sql last_ingested()".into(),
                action_sha256: "0".repeat(64),
                side_effects: false,
                inputs: BTreeMap::new(),
            },
        );
        push(
            &mut app,
            &mut seq,
            Event::StepCompleted {
                step,
                attempt: 1,
                outcome: Outcome::Passed,
                duration_ms: 1200,
                captures: BTreeMap::new(),
                note: None,
                evidence: None,
                exit_code: None,
                output: None,
                redactions: BTreeMap::new(),
            },
        );
    }
    let current = format!("step-{settled:02}");
    push(
        &mut app,
        &mut seq,
        Event::StepStarted {
            step: current.clone(),
            attempt: 1,
            action: "sql last_ingested()".into(),
            action_sha256: "0".repeat(64),
            side_effects: false,
            inputs: BTreeMap::new(),
        },
    );
    while seq < RECORDS {
        let poll = seq;
        push(
            &mut app,
            &mut seq,
            Event::ProbeObserved {
                step: current.clone(),
                attempt: 1,
                observation: Observation {
                    call: "sql last_ingested()".into(),
                    value: serde_json::json!({"row_count": 0, "offset": poll}),
                    summary: format!("0 rows (poll {poll})"),
                    held: Some(false),
                    error: None,
                    retryable: true,
                },
            },
        );
    }
    app.handle(
        UiEvent::Engine(EngineEvent::Progress(Progress {
            step: current,
            polls: 9000,
            elapsed: Duration::from_secs(900),
            timeout: Duration::from_secs(1800),
            current: Some("02:41:07".into()),
            target: Some("02:58:11".into()),
            fraction: Some(0.62),
            rate: Some("3.2 s of record time per s".into()),
            eta: Some(Duration::from_secs(320)),
            last_summary: Some("0 rows".into()),
            last_error: None,
        })),
        now,
        t0(),
    );
    app.panes.journal = true;
    app.panes.vars = true;
    app
}

fn render(c: &mut Criterion) {
    let now = Instant::now();
    let app = busy_app(now);
    let records = app.state.as_ref().map_or(0, |s| s.records);
    assert_eq!(records, RECORDS, "the journal holds 10,000 records");
    let mut terminal = match Terminal::new(TestBackend::new(200, 60)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    c.bench_function("tui/frame_60_steps_10k_records_200x60", |b| {
        b.iter(|| {
            let frame = terminal.draw(|f| black_box(&app).render(f));
            black_box(frame.is_ok())
        })
    });
}

/// Runs the loop over `n` idle ticks with a frozen clock; returns the number of draws.
async fn idle_loop(app: &mut App, n: usize, at: Instant) -> u64 {
    let mut terminal = match Terminal::new(TestBackend::new(200, 60)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let ticks = futures::stream::iter(vec![(); n]).chain(
        futures::stream::once(async move {
            let _ = done_tx.send(());
        })
        .filter(|()| futures::future::ready(false)),
    );
    let input = futures::stream::once(async move {
        let _ = done_rx.await;
        UiEvent::Hangup
    });
    let sources = Sources {
        input: Box::pin(input),
        engine: None,
        ticks: Box::pin(ticks),
        clock: move || (at, t0()),
        frame_sync: canton_dr::tui::runner::no_frame_sync,
    };
    match run_loop(&mut terminal, app, sources, None).await {
        Ok(stats) => stats.draws,
        Err(e) => panic!("loop: {e}"),
    }
}

fn idle(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let at = Instant::now();
    let waiting = Waiting::Confirm {
        step: "step-41".into(),
        destructive: false,
        evidence: canton_dr::runbook::model::Evidence::None,
    };
    let fresh = || {
        let mut app = busy_app(at);
        app.handle(
            UiEvent::Engine(EngineEvent::Waiting(waiting.clone())),
            at,
            t0(),
        );
        app
    };
    let mut app = fresh();
    let draws = rt.block_on(idle_loop(&mut app, 1000, at));
    eprintln!("idle: {draws} draw(s) over 1000 ticks (the first frame only)");
    assert_eq!(draws, 1, "idle ticks must not redraw");
    let mut group = c.benchmark_group("tui");
    group.sample_size(20);
    group.bench_function("idle_1000_ticks", |b| {
        b.iter_batched(
            fresh,
            |mut app| black_box(rt.block_on(idle_loop(&mut app, 1000, at))),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, render, idle);
criterion_main!(benches);
