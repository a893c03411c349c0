//! Whole screens rendered into a `TestBackend`: insta snapshots of the text at fixed sizes
//! (times, ids and digests redacted), and explicit assertions on the colours that carry meaning.

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use crate::engine::event::{EngineEvent, Progress, RunEnd, Waiting};
use crate::engine::record::{Event as R, Mode, Observation, Outcome};
use crate::runbook::model::Evidence;
use crate::tui::app::tests::Harness;
use crate::tui::event::{Event, Key};
use crate::tui::fixture;
use crate::value::ValueType;

fn draw(h: &mut Harness, w: u16, ht: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, ht)).expect("test backend");
    terminal.draw(|f| h.app.render(f)).expect("draw");
    terminal
}

fn text(buf: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

fn snapshot_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\b\d{2}:\d{2}:\d{2}\b", "[hh:mm:ss]"),
        (r"\b\d{8}-\d{6}-[a-z0-9-]+-[0-9a-f]{4}\b", "[incident-id]"),
        (r"head [0-9a-f]{12}", "head [digest]"),
    ]
}

macro_rules! screen {
    ($name:expr, $terminal:expr) => {
        insta::with_settings!({ filters => snapshot_filters(), omit_expression => true }, {
            insta::assert_snapshot!($name, text($terminal.backend().buffer()));
        })
    };
}

fn captured(step: &str, caps: &[(&str, serde_json::Value)]) -> R {
    R::StepCompleted {
        step: step.into(),
        attempt: 1,
        outcome: Outcome::Passed,
        duration_ms: 840,
        captures: caps
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        note: None,
        evidence: None,
        exit_code: None,
        output: None,
        redactions: Default::default(),
    }
}

/// A drill four steps in: the wait step polls the participant, with progress.
fn waiting_for_offset() -> Harness {
    let mut h = Harness::new(Mode::Drill);
    h.record(R::SessionStarted {
        pid: 7,
        resumed: false,
        tool_version: "0.1.0".into(),
    });
    h.record(fixture::started("confirm-incident", "confirm", false));
    h.record(R::StepCompleted {
        step: "confirm-incident".into(),
        attempt: 1,
        outcome: Outcome::Confirmed,
        duration_ms: 15_000,
        captures: Default::default(),
        note: Some("paged by monitoring".into()),
        evidence: Some("INC-4711".into()),
        exit_code: None,
        output: None,
        redactions: Default::default(),
    });
    h.record(captured("ttl", &[("ttl", serde_json::json!("48h"))]));
    h.record(fixture::started("stop", "ingestion_stop", true));
    h.record(captured("stop", &[]));
    h.record(fixture::started("read", "sql last_ingested()", false));
    h.record(R::ProbeObserved {
        step: "read".into(),
        attempt: 1,
        observation: Observation {
            call: "sql last_ingested()".into(),
            value: serde_json::json!({"row_count": 1, "record_time": "2026-11-22T02:58:11.123456Z"}),
            summary: "1 row".into(),
            held: Some(true),
            error: None,
            retryable: false,
        },
    });
    h.record(captured(
        "read",
        &[
            (
                "t_recovery",
                serde_json::json!("2026-11-22T02:58:11.123456Z"),
            ),
            (
                "synchronizer_id",
                serde_json::json!("global-domain::1220ab"),
            ),
        ],
    ));
    h.record(fixture::started(
        "offset",
        "canton.offset_at(at=2026-11-22T02:58:11.123456Z, synchronizer=global-domain::1220ab)",
        false,
    ));
    h.record(R::ProbeObserved {
        step: "offset".into(),
        attempt: 1,
        observation: Observation {
            call: "canton.offset_at(...)".into(),
            value: serde_json::Value::Null,
            summary: "not caught up".into(),
            held: None,
            error: Some("OUT_OF_RANGE: the participant has not caught up to that time".into()),
            retryable: true,
        },
    });
    h.engine(EngineEvent::Progress(Progress {
        step: "offset".into(),
        polls: 14,
        elapsed: Duration::from_secs(14),
        timeout: Duration::from_secs(300),
        current: Some("02:41:07".into()),
        target: Some("02:58:11".into()),
        fraction: Some(0.62),
        rate: Some("3.2 s of record time per s".into()),
        eta: Some(Duration::from_secs(320)),
        last_summary: None,
        last_error: Some("OUT_OF_RANGE".into()),
    }));
    h
}

#[test]
fn run_screen_with_a_wait_step() {
    let mut h = waiting_for_offset();
    h.app.panes.journal = true;
    h.app.panes.vars = true;
    let t = draw(&mut h, 100, 34);
    screen!("run_wait", t);
    let buf = t.backend().buffer();
    // The drill banner is yellow, the passed steps green, the running step blue.
    assert_eq!(buf[(1, 0)].bg, Color::Yellow);
    assert_eq!(buf[(1, 4)].symbol(), "✓");
    assert_eq!(buf[(1, 4)].fg, Color::Green);
}

#[test]
fn run_screen_at_the_smallest_size() {
    let mut h = waiting_for_offset();
    let t = draw(&mut h, 80, 24);
    screen!("run_min_size", t);
}

#[test]
fn input_dialog() {
    let mut h = Harness::new(Mode::Drill);
    h.settle_first(1);
    h.wait(Waiting::Input {
        step: "ttl".into(),
        var: "ttl".into(),
        ty: ValueType::Duration,
        prompt: "How long may a withdrawal stay unresolved?".into(),
        default: Some("48h".into()),
    });
    h.type_text("30s");
    let t = draw(&mut h, 100, 30);
    screen!("input_invalid", t);
    h.key(Key::ctrl('u'));
    h.type_text("2h");
    let t = draw(&mut h, 100, 30);
    screen!("input_valid", t);
    let buf = t.backend().buffer();
    let row = text(buf)
        .lines()
        .position(|l| l.contains("reads as 2h"))
        .expect("reading shown");
    let col = text(buf)
        .lines()
        .nth(row)
        .and_then(|l| l.chars().position(|c| c == '✓'))
        .expect("tick");
    assert_eq!(
        buf[(
            u16::try_from(col).unwrap_or(0),
            u16::try_from(row).unwrap_or(0)
        )]
            .fg,
        Color::Green
    );
}

#[test]
fn instructions_are_reflowed_to_the_panel() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(Waiting::Confirm {
        step: "confirm-incident".into(),
        destructive: false,
        evidence: Evidence::Optional,
    });
    let t = draw(&mut h, 200, 40);
    let s = text(t.backend().buffer());
    // Both phrases span a line break of the runbook's source text.
    for joined in [
        "The text of a runbook is wrapped where its author's editor wrapped it",
        "- a list item stays on its own line, and its continuation joins it;",
    ] {
        assert!(s.contains(joined), "'{joined}' not on one line:\n{s}");
    }
    assert!(
        s.lines().any(|l| l.contains("│- so does the next one.")),
        "a list item starts its own line:\n{s}"
    );
}

#[test]
fn destructive_confirmation_dialog() {
    let mut h = Harness::new(Mode::Live);
    h.wait(Waiting::Confirm {
        step: "confirm-incident".into(),
        destructive: true,
        evidence: Evidence::Required,
    });
    h.enter();
    h.type_text("confirm-inc");
    let t = draw(&mut h, 100, 30);
    screen!("confirm_destructive", t);
    let buf = t.backend().buffer();
    // LIVE is red; the dialog's border is red because the step is destructive.
    assert_eq!(buf[(1, 0)].bg, Color::Red);
    let s = text(buf);
    let row = s
        .lines()
        .position(|l| l.contains("Confirm step 'confirm-incident'"))
        .expect("dialog");
    let col = s
        .lines()
        .nth(row)
        .and_then(|l| l.chars().position(|c| c == '┌'))
        .expect("corner");
    assert_eq!(
        buf[(
            u16::try_from(col).unwrap_or(0),
            u16::try_from(row).unwrap_or(0)
        )]
            .fg,
        Color::Red
    );
}

#[test]
fn help_lists_every_key() {
    let mut h = Harness::new(Mode::DryRun);
    h.ch('?');
    let t = draw(&mut h, 100, 60);
    screen!("help", t);
}

#[test]
fn in_doubt_dialog() {
    let mut h = Harness::new(Mode::Live);
    h.settle_first(2);
    h.record(fixture::started("stop", "ingestion_stop", true));
    h.wait(Waiting::InDoubt {
        step: "stop".into(),
        attempt: 1,
        action: "ingestion_stop".into(),
        still_running: Some(crate::engine::state::Spawned {
            pid: 4242,
            pgid: 4242,
            start_time: 99,
        }),
    });
    let t = draw(&mut h, 100, 30);
    screen!("in_doubt", t);
}

#[test]
fn failed_check_panel() {
    let mut h = Harness::new(Mode::Drill);
    h.settle_first(3);
    h.record(fixture::started("read", "sql last_ingested()", false));
    h.record(R::StepFailed {
        step: "read".into(),
        attempt: 1,
        reason: "expected value.row_count == 1, got 0 rows".into(),
        duration_ms: 31,
        exit_code: None,
        signal: None,
        output: None,
        redactions: Default::default(),
    });
    h.wait(Waiting::Failed {
        step: "read".into(),
        reason: "expected value.row_count == 1, got 0 rows".into(),
    });
    let t = draw(&mut h, 100, 30);
    screen!("failed_check", t);
    let buf = t.backend().buffer();
    let s = text(buf);
    let row = s.lines().position(|l| l.contains(" FAILED ")).expect("tag");
    let col = s
        .lines()
        .nth(row)
        .and_then(|l| l.find(" FAILED "))
        .map(|b| s.lines().nth(row).map_or(0, |l| l[..b].chars().count()))
        .expect("col");
    assert_eq!(
        buf[(
            u16::try_from(col + 1).unwrap_or(0),
            u16::try_from(row).unwrap_or(0)
        )]
            .fg,
        Color::Red
    );
}

fn drill_report(pass: bool) -> serde_json::Value {
    serde_json::json!({
        "verdict": if pass { "PASS" } else { "FAIL" },
        "checks": [
            {"name": "nothing ingested twice", "passed": true, "evidence": "412 transfers, 412 distinct update ids"},
            {"name": "no withdrawal executed twice", "passed": pass, "evidence": if pass { "3 withdrawals, each once" } else { "withdrawal w-17 executed at offsets 118 and 131" }},
        ],
        "score": {
            "total_seconds": 312.4, "budget_seconds": 600, "within_budget": true,
            "steps": [
                {"id": "confirm-incident", "seconds": 15.0, "budget_seconds": null, "attempts": 1},
                {"id": "offset", "seconds": 140.2, "budget_seconds": 120, "attempts": 2}
            ],
            "retries": 1, "skips": 0, "deviations": ["step offset took longer than its budget"]
        }
    })
}

#[test]
fn drill_end_screen() {
    let mut h = Harness::new(Mode::Drill);
    h.record(R::DrillJudged {
        verdict: "PASS".into(),
        report: drill_report(true),
    });
    h.engine(EngineEvent::Finished(RunEnd::Completed));
    let t = draw(&mut h, 100, 30);
    screen!("drill_end_pass", t);
    let buf = t.backend().buffer();
    let s = text(buf);
    let row = s
        .lines()
        .position(|l| l.contains("DRILL PASSED"))
        .expect("verdict");
    let col = s
        .lines()
        .nth(row)
        .and_then(|l| l.find("DRILL"))
        .map(|b| s.lines().nth(row).map_or(0, |l| l[..b].chars().count()))
        .expect("col");
    assert_eq!(
        buf[(
            u16::try_from(col).unwrap_or(0),
            u16::try_from(row).unwrap_or(0)
        )]
            .bg,
        Color::Green
    );
}

#[test]
fn failed_drill_is_red() {
    let mut h = Harness::new(Mode::Drill);
    h.record(R::DrillJudged {
        verdict: "FAIL".into(),
        report: drill_report(false),
    });
    h.engine(EngineEvent::Finished(RunEnd::Completed));
    let t = draw(&mut h, 100, 30);
    let buf = t.backend().buffer();
    let s = text(buf);
    assert!(s.contains("DRILL FAILED"));
    assert!(s.contains("withdrawal w-17 executed at offsets 118 and 131"));
    let row = s
        .lines()
        .position(|l| l.contains("DRILL FAILED"))
        .expect("verdict");
    let col = s
        .lines()
        .nth(row)
        .and_then(|l| l.find("DRILL"))
        .map(|b| s.lines().nth(row).map_or(0, |l| l[..b].chars().count()))
        .expect("col");
    assert_eq!(
        buf[(
            u16::try_from(col).unwrap_or(0),
            u16::try_from(row).unwrap_or(0)
        )]
            .bg,
        Color::Red
    );
}

#[test]
fn fatal_modal() {
    let mut h = Harness::new(Mode::Live);
    h.engine(EngineEvent::Fatal {
        message: "the journal cannot be written, so canton-dr stops: No space left on device (os error 28)".into(),
    });
    let t = draw(&mut h, 80, 24);
    screen!("fatal", t);
}

#[test]
fn too_small_says_so() {
    let mut h = Harness::new(Mode::Drill);
    let t = draw(&mut h, 60, 20);
    let s = text(t.backend().buffer());
    assert!(s.contains("at least 80x24"), "{s}");
    assert!(s.contains("this one is 60x20"), "{s}");
}

#[test]
fn no_color_keeps_the_mode_visible() {
    let mut h = Harness::new(Mode::Live);
    h.app.theme = crate::tui::theme::Theme::new(true);
    let t = draw(&mut h, 80, 24);
    let buf = t.backend().buffer();
    assert!(text(buf).starts_with(" LIVE "));
    for x in 0..6 {
        assert_eq!(buf[(x, 0)].bg, Color::Reset, "no colour at {x}");
        assert!(
            buf[(x, 0)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED),
            "reversed at {x}"
        );
    }
    for y in 0..24 {
        for x in 0..80 {
            let c = &buf[(x, y)];
            assert!(
                c.fg == Color::Reset && c.bg == Color::Reset,
                "colour at {x},{y}: {c:?}"
            );
        }
    }
}

#[test]
fn secrets_are_never_drawn() {
    let mut h = Harness::new(Mode::Live);
    h.settle_first(9);
    h.wait(Waiting::SecretNeeded {
        step: "shell".into(),
        var: "db_password".into(),
        prompt: "Password of the integration DB".into(),
    });
    h.type_text("correct-horse-battery");
    h.app.panes.vars = true;
    h.app.panes.journal = true;
    let t = draw(&mut h, 120, 40);
    let s = text(t.backend().buffer());
    assert!(!s.contains("correct-horse"), "{s}");
    assert!(s.contains("•••••"), "{s}");
}

#[test]
fn resizing_redraws_at_the_new_size() {
    let mut h = waiting_for_offset();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    terminal.draw(|f| h.app.render(f)).expect("draw");
    assert!(h.event(Event::Resize(80, 24)).is_none());
    assert!(h.app.take_dirty(), "a resize asks for a frame");
    terminal.backend_mut().resize(80, 24);
    terminal.draw(|f| h.app.render(f)).expect("draw");
    let s = text(terminal.backend().buffer());
    assert_eq!(s.lines().count(), 24);
    assert!(s.lines().all(|l| l.chars().count() == 80));
    assert!(s.contains("offset"));
}

fn summary(
    id: &str,
    status: &str,
    mode: Mode,
    minutes_ago: i64,
    settled: usize,
    detail: &str,
) -> crate::engine::incident::Summary {
    let at = fixture::t0() - chrono::TimeDelta::minutes(minutes_ago);
    crate::engine::incident::Summary {
        id: id.into(),
        dir: std::path::PathBuf::from(format!("/data/incidents/{id}")),
        runbook: "validator-restore".into(),
        title: "Restore the Exchange Validator Node from a backup".into(),
        mode: Some(mode),
        opened_at: Some(at - chrono::TimeDelta::minutes(20)),
        last_at: Some(at),
        operator: "alice".into(),
        status: status.into(),
        detail: detail.into(),
        steps_settled: settled,
        steps_total: 14,
        records: 40,
        head: "abcdef012345".into(),
    }
}

pub(crate) fn start_app() -> crate::tui::start::StartApp {
    let incidents = vec![
        summary(
            "20261122-031500-validator-restore-3f2a",
            "in-progress",
            Mode::Drill,
            7,
            5,
            "at step 6/14: Find the offset of the recovery point",
        ),
        summary(
            "20261121-220000-validator-restore-0b1c",
            "completed",
            Mode::Live,
            60 * 27,
            14,
            "every step is settled",
        ),
    ];
    let runbooks = vec![
        crate::tui::RunbookEntry {
            id: "validator-restore".into(),
            title: "Restore the Exchange Validator Node from a backup".into(),
            path: "runbooks/validator-restore.toml".into(),
            source: "Exchange integration guide, Backup and Restore".into(),
            budget: Some(chrono::TimeDelta::minutes(45)),
        },
        crate::tui::RunbookEntry {
            id: "integration-db-restore".into(),
            title: "Restore the Canton Integration DB".into(),
            path: "runbooks/integration-db-restore.toml".into(),
            source: "Exchange integration guide, Integration DB".into(),
            budget: None,
        },
    ];
    crate::tui::start::StartApp::new(
        incidents,
        runbooks,
        crate::tui::TuiOptions::default(),
        fixture::t0(),
    )
}

fn draw_start(app: &crate::tui::start::StartApp, w: u16, ht: u16) -> Terminal<TestBackend> {
    use crate::tui::runner::Ui;
    let mut terminal = Terminal::new(TestBackend::new(w, ht)).expect("test backend");
    terminal.draw(|f| app.render(f)).expect("draw");
    terminal
}

#[test]
fn start_screen() {
    let app = start_app();
    let t = draw_start(&app, 100, 30);
    screen!("start", t);
    let s = text(t.backend().buffer());
    assert!(s.contains("7m ago"), "{s}");
    assert!(s.contains("1d ago"), "{s}");
}

#[test]
fn start_screen_mode_picker() {
    let mut app = start_app();
    app.update(crate::tui::action::Action::SwitchList);
    app.update(crate::tui::action::Action::Primary);
    app.update(crate::tui::action::Action::Choose('l'));
    let t = draw_start(&app, 100, 30);
    screen!("start_live_confirm", t);
}

#[test]
fn action_items_are_listed() {
    let mut h = Harness::new(Mode::Live);
    h.settle_first(7);
    h.record(fixture::started(
        "dars",
        "canton.upload_dars(dir=/tmp/dars)",
        true,
    ));
    for (item, phase, detail) in [
        (
            "splice-amulet-0.1.9.dar",
            crate::engine::record::ItemPhase::Done,
            "uploaded",
        ),
        (
            "splice-wallet-0.1.9.dar",
            crate::engine::record::ItemPhase::Started,
            "uploading",
        ),
    ] {
        h.record(R::ActionItem {
            step: "dars".into(),
            attempt: 1,
            item: item.into(),
            phase,
            detail: detail.into(),
        });
    }
    let t = draw(&mut h, 100, 30);
    let s = text(t.backend().buffer());
    assert!(s.contains("✓ splice-amulet-0.1.9.dar: uploaded"), "{s}");
    assert!(s.contains("… splice-wallet-0.1.9.dar: uploading"), "{s}");
}

#[test]
fn overrides_show_in_the_header() {
    let mut h = Harness::new(Mode::Drill);
    h.record(R::StepSkipped {
        step: "confirm-incident".into(),
        reason: "done elsewhere".into(),
        overridden: true,
    });
    let t = draw(&mut h, 100, 30);
    let buf = t.backend().buffer();
    let s = text(buf);
    let row = s.lines().nth(1).unwrap_or_default().to_owned();
    assert!(row.contains("1 overridden"), "{row}");
    let col = row
        .find("1 overridden")
        .map(|b| row[..b].chars().count())
        .unwrap_or(0);
    assert_eq!(buf[(u16::try_from(col).unwrap_or(0), 1)].fg, Color::Red);
}
