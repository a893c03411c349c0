//! Update logic of the run screen: synthetic engine events in, commands out.

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;

use super::*;
use crate::engine::command::EngineCommand;
use crate::engine::event::{EngineEvent, Progress, RunEnd, Waiting};
use crate::engine::record::{Event as R, InDoubtChoice, Mode, Observation, Outcome};
use crate::runbook::model::Evidence;
use crate::tui::dialog::Kind;
use crate::tui::event::{Code, Event, Key};
use crate::tui::fixture;
use crate::value::ValueType;

pub(crate) struct Harness {
    pub app: App,
    pub t0: Instant,
    pub secs: u64,
    pub seq: u64,
}

impl Harness {
    pub fn new(mode: Mode) -> Harness {
        Harness::with_options(mode, TuiOptions::default())
    }

    pub fn with_options(mode: Mode, opts: TuiOptions) -> Harness {
        let t0 = Instant::now();
        let mut app = App::new(opts, t0, fixture::t0());
        app.handle(
            Event::Engine(EngineEvent::Started {
                state: Box::new(fixture::state(mode)),
            }),
            t0,
            fixture::t0(),
        );
        Harness {
            app,
            t0,
            secs: 0,
            seq: 1,
        }
    }

    pub fn at(&self) -> (Instant, chrono::DateTime<chrono::Utc>) {
        (
            self.t0 + Duration::from_secs(self.secs),
            fixture::t0() + chrono::TimeDelta::seconds(i64::try_from(self.secs).unwrap_or(0)),
        )
    }

    pub fn event(&mut self, e: Event) -> Option<EngineCommand> {
        let (now, wall) = self.at();
        self.app.handle(e, now, wall)
    }

    pub fn engine(&mut self, e: EngineEvent) {
        let cmd = self.event(Event::Engine(e));
        assert!(cmd.is_none(), "engine events never produce commands");
    }

    pub fn record(&mut self, e: R) {
        self.seq += 1;
        self.secs += 1;
        let record = fixture::rec(i64::try_from(self.secs).unwrap_or(0), e);
        self.engine(EngineEvent::Recorded {
            seq: self.seq,
            head: format!("{:064x}", self.seq),
            record: Box::new(record),
        });
    }

    pub fn wait(&mut self, w: Waiting) {
        self.engine(EngineEvent::Waiting(w));
    }

    pub fn key(&mut self, k: Key) -> Option<EngineCommand> {
        self.event(Event::Key(k))
    }

    pub fn ch(&mut self, c: char) -> Option<EngineCommand> {
        self.key(Key::char(c))
    }

    pub fn enter(&mut self) -> Option<EngineCommand> {
        self.key(Key::plain(Code::Enter))
    }

    pub fn type_text(&mut self, s: &str) {
        for c in s.chars() {
            assert!(self.ch(c).is_none());
        }
    }

    /// Drives the basic runbook to its `n`-th step (0-based): earlier steps done.
    pub fn settle_first(&mut self, n: usize) {
        let ids: Vec<String> = self
            .app
            .state
            .as_ref()
            .map(|s| {
                s.runbook
                    .steps
                    .iter()
                    .take(n)
                    .map(|x| x.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in ids {
            self.record(fixture::started(&id, "x", false));
            self.record(fixture::completed(&id, Outcome::Passed, 1200));
        }
    }
}

fn confirm(destructive: bool, evidence: Evidence) -> Waiting {
    Waiting::Confirm {
        step: "confirm-incident".into(),
        destructive,
        evidence,
    }
}

#[test]
fn records_fold_into_the_read_model() {
    let mut h = Harness::new(Mode::Drill);
    assert_eq!(h.app.state.as_ref().map(|s| s.records), Some(1));
    h.record(R::SessionStarted {
        pid: 1,
        resumed: false,
        tool_version: "0".into(),
    });
    h.settle_first(2);
    let s = h.app.state.as_ref().expect("started");
    assert_eq!(s.records, 6);
    assert_eq!(s.cursor(), Some(2));
    assert_eq!(h.app.current(), Some(2));
    assert_eq!(h.app.tail.len(), 5);
    assert_eq!(h.app.head, format!("{:064x}", 6));
}

#[test]
fn confirming_a_manual_step() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(confirm(false, Evidence::Optional));
    assert!(h.app.dialog.is_none(), "confirmation waits for Enter");
    assert!(h.enter().is_none());
    assert!(matches!(
        h.app.dialog.as_ref().map(|d| &d.kind),
        Some(Kind::Confirm { .. })
    ));
    h.type_text("INC-7 opened");
    h.key(Key::plain(Code::Tab));
    h.type_text("paged at 03:12");
    match h.enter() {
        Some(EngineCommand::Confirm {
            note,
            evidence,
            typed,
        }) => {
            assert_eq!(evidence.as_deref(), Some("INC-7 opened"));
            assert_eq!(note.as_deref(), Some("paged at 03:12"));
            assert_eq!(typed, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(h.app.dialog.as_ref().is_some_and(|d| d.sent));
    assert!(
        h.enter().is_none(),
        "no second send while the engine decides"
    );
    h.record(fixture::completed(
        "confirm-incident",
        Outcome::Confirmed,
        3000,
    ));
    assert!(h.app.dialog.is_none());
    assert!(h.app.waiting.is_none());
}

#[test]
fn destructive_confirmation_is_typed() {
    let mut h = Harness::new(Mode::Live);
    h.wait(confirm(true, Evidence::None));
    h.enter();
    assert!(h.enter().is_none(), "refused without the id");
    assert!(
        h.app
            .dialog
            .as_ref()
            .and_then(|d| d.problem.as_deref())
            .is_some_and(|p| p.contains("confirm-incident"))
    );
    h.type_text("confirm-incident");
    assert!(matches!(
        h.enter(),
        Some(EngineCommand::Confirm { typed: Some(t), .. }) if t == "confirm-incident"
    ));
}

#[test]
fn a_drill_fills_in_the_scenario_answer_and_the_operator_can_change_it() {
    let opts = TuiOptions {
        drill_hints: [("ttl".to_owned(), "36h".to_owned())].into(),
        ..TuiOptions::default()
    };
    let mut h = Harness::with_options(Mode::Drill, opts);
    h.settle_first(1);
    let ttl = || Waiting::Input {
        step: "ttl".into(),
        var: "ttl".into(),
        ty: ValueType::Duration,
        prompt: "Withdrawal ttl".into(),
        default: None,
    };
    h.wait(ttl());
    let d = h.app.dialog.as_ref().expect("the input dialog");
    assert!(d.drill_hint);
    assert_eq!(d.fields[d.focus].input.plain_text(), Some("36h"));
    match h.enter() {
        Some(EngineCommand::Input { value }) => assert_eq!(value.expose_secret(), "36h"),
        other => panic!("{other:?}"),
    }
    // Asked again (refused): filled in again, and editable.
    h.engine(EngineEvent::Rejected {
        message: "no".into(),
    });
    h.app.dialog = None;
    h.wait(ttl());
    h.key(Key::ctrl('u'));
    h.type_text("40h");
    match h.enter() {
        Some(EngineCommand::Input { value }) => assert_eq!(value.expose_secret(), "40h"),
        other => panic!("{other:?}"),
    }
    // Without a hint for the step, nothing is filled in.
    let mut plain = Harness::new(Mode::Drill);
    plain.settle_first(1);
    plain.wait(ttl());
    let d = plain.app.dialog.as_ref().expect("the input dialog");
    assert!(!d.drill_hint);
    assert_eq!(d.fields[d.focus].input.plain_text(), Some(""));
}

#[test]
fn input_dialog_opens_by_itself_and_shows_refusals() {
    let mut h = Harness::new(Mode::Drill);
    h.settle_first(1);
    h.wait(Waiting::Input {
        step: "ttl".into(),
        var: "ttl".into(),
        ty: ValueType::Duration,
        prompt: "Withdrawal ttl".into(),
        default: Some("48h".into()),
    });
    assert!(matches!(
        h.app.dialog.as_ref().map(|d| &d.kind),
        Some(Kind::Input { .. })
    ));
    assert_eq!(h.app.key_mode(), KeyMode::Text);
    h.type_text("30s");
    assert!(
        h.enter().is_none(),
        "the runbook's expectation refuses 30s while typing"
    );
    h.key(Key::ctrl('u'));
    h.type_text("72h");
    match h.enter() {
        Some(EngineCommand::Input { value }) => assert_eq!(value.expose_secret(), "72h"),
        other => panic!("{other:?}"),
    }
    h.engine(EngineEvent::Rejected {
        message: "72h is too long".into(),
    });
    let d = h.app.dialog.as_ref().expect("dialog stays open");
    assert_eq!(d.refused.as_deref(), Some("72h is too long"));
    assert!(!d.sent);
    h.wait(Waiting::Input {
        step: "ttl".into(),
        var: "ttl".into(),
        ty: ValueType::Duration,
        prompt: "Withdrawal ttl".into(),
        default: Some("48h".into()),
    });
    assert!(
        h.app.dialog.as_ref().is_some_and(|d| d.refused.is_some()),
        "the same question again keeps the dialog and its message"
    );
    h.key(Key::ctrl('u'));
    assert!(
        matches!(h.enter(), Some(EngineCommand::Confirm { .. })),
        "empty accepts the default"
    );
}

#[test]
fn running_a_command() {
    let mut h = Harness::new(Mode::Drill);
    h.settle_first(2);
    h.wait(Waiting::Run {
        step: "stop".into(),
        destructive: false,
        preview: "ingestion_stop".into(),
    });
    assert!(matches!(
        h.enter(),
        Some(EngineCommand::Run { typed: None })
    ));
    assert!(h.enter().is_none(), "one Enter, one run");
    h.record(fixture::started("stop", "ingestion_stop", true));
    assert!(h.app.is_running());
    assert!(h.ch('x').is_none());
    assert!(matches!(
        h.app.dialog.as_ref().map(|d| &d.kind),
        Some(Kind::Cancel { .. })
    ));
    assert!(matches!(h.ch('y'), Some(EngineCommand::Cancel)));
    assert!(h.app.dialog.is_none());
}

#[test]
fn destructive_runs_are_typed() {
    let mut h = Harness::new(Mode::Live);
    h.settle_first(2);
    h.wait(Waiting::Run {
        step: "stop".into(),
        destructive: true,
        preview: "ingestion_stop".into(),
    });
    assert!(h.enter().is_none());
    assert!(matches!(
        h.app.dialog.as_ref().map(|d| &d.kind),
        Some(Kind::Run { .. })
    ));
    h.type_text("stop");
    assert!(matches!(h.enter(), Some(EngineCommand::Run { typed: Some(t) }) if t == "stop"));
}

#[test]
fn failed_checks_retry_or_are_overridden() {
    let mut h = Harness::new(Mode::Drill);
    h.settle_first(3);
    h.record(fixture::started("read", "sql last_ingested", false));
    h.record(R::StepFailed {
        step: "read".into(),
        attempt: 1,
        reason: "no row".into(),
        duration_ms: 5,
        exit_code: None,
        signal: None,
        output: None,
        redactions: Default::default(),
    });
    h.wait(Waiting::Failed {
        step: "read".into(),
        reason: "no row".into(),
    });
    assert!(matches!(h.ch('r'), Some(EngineCommand::Retry)));
    assert!(h.ch('r').is_none(), "one retry until the engine answers");
    h.wait(Waiting::Failed {
        step: "read".into(),
        reason: "no row".into(),
    });
    assert!(h.ch('s').is_none());
    let typed = match h.app.dialog.as_ref().map(|d| &d.kind) {
        Some(Kind::Skip { typed, .. }) => *typed,
        other => panic!("{other:?}"),
    };
    assert!(typed, "skipping a failed check overrides it");
    h.type_text("verified by hand in psql");
    h.key(Key::plain(Code::Tab));
    h.type_text("read");
    assert!(matches!(
        h.enter(),
        Some(EngineCommand::Skip { reason, typed: Some(t) }) if reason == "verified by hand in psql" && t == "read"
    ));
}

#[test]
fn gates_need_the_step_id_to_override() {
    let mut h = Harness::new(Mode::Drill);
    h.settle_first(8);
    let w = Waiting::GateClosed {
        step: "safe".into(),
        reason: "now > t_recovery + ttl does not hold".into(),
    };
    assert!(h.app.skip_needs_typed(&w));
    h.wait(w);
    assert!(
        matches!(h.enter(), Some(EngineCommand::Retry)),
        "Enter re-checks a gate"
    );
}

#[test]
fn in_doubt_opens_a_decision() {
    let mut h = Harness::new(Mode::Live);
    h.settle_first(2);
    h.record(fixture::started("stop", "ingestion_stop", true));
    h.wait(Waiting::InDoubt {
        step: "stop".into(),
        attempt: 1,
        action: "ingestion_stop".into(),
        still_running: None,
    });
    assert_eq!(h.app.key_mode(), KeyMode::Choice);
    assert!(
        h.app
            .status
            .as_ref()
            .is_some_and(|s| s.level == Level::Warn)
    );
    assert!(h.ch('d').is_none());
    h.type_text("service shows stopped since 03:10");
    assert!(matches!(
        h.enter(),
        Some(EngineCommand::ResolveInDoubt(InDoubtChoice::MarkDone { evidence })) if evidence.starts_with("service shows")
    ));
}

#[test]
fn looking_at_another_step_does_not_act_on_the_current_one() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(confirm(false, Evidence::None));
    h.ch('j');
    h.ch('j');
    assert_eq!(h.app.viewed(), Some(2));
    assert!(h.enter().is_none());
    assert!(h.app.dialog.is_none());
    assert_eq!(h.app.viewed(), Some(0), "Enter brings the view back first");
    assert!(h.enter().is_none());
    assert!(h.app.dialog.is_some(), "then acts");
}

#[test]
fn quitting_asks_says_and_waits_for_the_engine() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(confirm(false, Evidence::None));
    assert!(h.ch('q').is_none());
    assert!(matches!(
        h.app.dialog.as_ref().map(|d| &d.kind),
        Some(Kind::Quit { running: false, .. })
    ));
    assert!(h.ch('n').is_none());
    assert!(h.app.dialog.is_none());
    h.ch('q');
    assert!(matches!(h.ch('y'), Some(EngineCommand::Quit)));
    assert!(h.app.quitting);
    let said = h
        .app
        .status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default();
    assert!(
        said.contains("canton-dr resume 20261122-031500-basic-3f2a"),
        "{said}"
    );
    assert!(!h.app.done());
    h.record(R::SessionEnded {
        reason: "quit".into(),
    });
    h.engine(EngineEvent::Finished(RunEnd::Quit));
    assert!(h.app.done());
}

#[test]
fn quitting_while_a_command_runs_warns() {
    let mut h = Harness::new(Mode::Live);
    h.settle_first(2);
    h.record(fixture::started("stop", "ingestion_stop", true));
    h.key(Key::ctrl('c'));
    assert!(matches!(
        h.app.dialog.as_ref().map(|d| &d.kind),
        Some(Kind::Quit { running: true, .. })
    ));
}

#[test]
fn fatal_stops_everything() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(confirm(false, Evidence::None));
    h.enter();
    h.engine(EngineEvent::Fatal {
        message: "the journal cannot be written: No space left on device".into(),
    });
    assert!(h.app.dialog.is_none());
    assert_eq!(h.app.key_mode(), KeyMode::End);
    h.engine(EngineEvent::Finished(RunEnd::Fatal));
    assert!(
        !h.app.done(),
        "the modal stays until the operator has read it"
    );
    assert!(h.ch('s').is_none());
    assert!(h.ch('q').is_none());
    assert!(h.app.done());
}

#[test]
fn drills_end_on_the_verdict() {
    let mut h = Harness::new(Mode::Drill);
    h.record(R::DrillJudged {
        verdict: "PASS".into(),
        report: serde_json::json!({"verdict": "PASS", "checks": []}),
    });
    h.engine(EngineEvent::Finished(RunEnd::Completed));
    assert_eq!(h.app.screen, Screen::DrillEnd);
    assert!(!h.app.done());
    // The engine's channel closes right after it finished: the verdict stays on screen.
    h.event(Event::EngineClosed);
    assert_eq!(h.app.screen, Screen::DrillEnd);
    assert!(!h.app.done());
    h.enter();
    assert!(h.app.done());
}

#[test]
fn a_fatal_stop_stays_on_screen_after_the_engine_is_gone() {
    let mut h = Harness::new(Mode::Live);
    h.engine(EngineEvent::Finished(RunEnd::Fatal));
    h.event(Event::EngineClosed);
    assert!(!h.app.done(), "the operator must see why it stopped");
    h.enter();
    assert!(h.app.done());
}

#[test]
fn runs_without_a_verdict_just_end() {
    let mut h = Harness::new(Mode::Live);
    h.engine(EngineEvent::Finished(RunEnd::Completed));
    assert!(h.app.done());
}

#[test]
fn idle_ticks_do_not_redraw() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(confirm(false, Evidence::None));
    assert!(h.app.take_dirty());
    for _ in 0..100 {
        h.event(Event::Tick);
        assert!(!h.app.take_dirty(), "nothing changed, nothing to draw");
    }
    // A minute later the elapsed time shown changes.
    h.secs += 61;
    h.event(Event::Tick);
    assert!(h.app.take_dirty());
}

#[test]
fn running_steps_tick() {
    let mut h = Harness::new(Mode::Drill);
    h.settle_first(4);
    h.record(fixture::started("offset", "canton.offset_at", false));
    h.app.take_dirty();
    let before = h.app.spinner;
    h.event(Event::Tick);
    assert!(h.app.take_dirty());
    assert_eq!(h.app.spinner, before + 1);
    h.engine(EngineEvent::Progress(Progress {
        step: "offset".into(),
        polls: 3,
        elapsed: Duration::from_secs(3),
        timeout: Duration::from_secs(300),
        current: None,
        target: None,
        fraction: None,
        rate: None,
        eta: None,
        last_summary: None,
        last_error: Some("OUT_OF_RANGE: not caught up".into()),
    }));
    assert!(h.app.progress.is_some());
    h.record(R::ProbeObserved {
        step: "offset".into(),
        attempt: 1,
        observation: Observation {
            call: "canton.offset_at(...)".into(),
            value: serde_json::json!({"offset": 42}),
            summary: "offset 42".into(),
            held: Some(true),
            error: None,
            retryable: false,
        },
    });
    h.record(fixture::completed("offset", Outcome::Passed, 4000));
    assert!(h.app.progress.is_none(), "progress ends with the step");
    assert!(!h.app.is_running());
}

#[test]
fn a_lost_terminal_quits_safely() {
    let mut h = Harness::new(Mode::Drill);
    assert!(matches!(h.event(Event::Hangup), Some(EngineCommand::Quit)));
    assert!(h.app.detached);
    assert!(
        !h.app.take_dirty(),
        "nothing is drawn to a terminal that is gone"
    );
    h.engine(EngineEvent::Finished(RunEnd::Quit));
    assert!(h.app.done());
}

#[test]
fn a_vanished_engine_is_shown() {
    let mut h = Harness::new(Mode::Drill);
    h.event(Event::EngineClosed);
    assert!(h.app.fatal.is_some());
    assert_eq!(h.app.key_mode(), KeyMode::End);
}

#[test]
fn notes_are_sent_and_confirmed() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(confirm(false, Evidence::None));
    h.ch('n');
    h.type_text("bridge call started");
    assert!(matches!(h.enter(), Some(EngineCommand::Note { text, step })
            if text == "bridge call started" && step.as_deref() == Some("confirm-incident")));
    assert!(!h.app.answered, "a note does not answer the step");
    h.record(R::NoteAdded {
        step: Some("confirm-incident".into()),
        text: "bridge call started".into(),
    });
    assert!(h.app.dialog.is_none());
    assert!(
        h.app.waiting.is_some(),
        "the engine still waits for the confirmation"
    );
}

#[test]
fn a_note_goes_to_the_step_on_view() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(confirm(false, Evidence::None));
    let next = h.app.step(1).map(|s| s.id.clone()).expect("a second step");
    h.ch('j');
    assert_eq!(h.app.viewed(), Some(1));
    h.ch('n');
    h.type_text("the DAR directory is on the jump host");
    assert!(
        matches!(h.enter(), Some(EngineCommand::Note { step, .. }) if step.as_deref() == Some(next.as_str())),
        "the note is for the viewed step '{next}'"
    );
}

#[test]
fn skip_needs_the_engine_waiting() {
    let mut h = Harness::new(Mode::Drill);
    assert!(h.ch('s').is_none());
    assert!(h.app.dialog.is_none());
    assert!(h.app.status.is_some());
}

#[test]
fn abort_asks_for_a_reason() {
    let mut h = Harness::new(Mode::Drill);
    h.wait(confirm(false, Evidence::None));
    h.ch('A');
    assert!(h.enter().is_none());
    h.type_text("wrong runbook");
    assert!(
        matches!(h.enter(), Some(EngineCommand::Abort { reason }) if reason == "wrong runbook")
    );
}

#[test]
fn pasting_fills_the_focused_field() {
    let mut h = Harness::new(Mode::Drill);
    h.settle_first(1);
    h.wait(Waiting::Input {
        step: "ttl".into(),
        var: "ttl".into(),
        ty: ValueType::Duration,
        prompt: "ttl".into(),
        default: None,
    });
    h.event(Event::Paste("2h\n".into()));
    assert!(
        matches!(h.enter(), Some(EngineCommand::Input { value }) if value.expose_secret() == "2h")
    );
}
