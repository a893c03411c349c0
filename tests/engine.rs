#![allow(clippy::unwrap_used)]
//! The engine over a real journal, with scripted probes and real processes: every step kind,
//! every operator choice, and that the journal on disk always replays to what the engine showed.

mod support;

use std::sync::Arc;

use canton_dr::engine::command::EngineCommand;
use canton_dr::engine::event::{EngineEvent, RunEnd, Waiting};
use canton_dr::engine::record::{Event, InDoubtChoice, Mode, Outcome};
use canton_dr::engine::state::StepStatus;
use canton_dr::probe::ProbeError;
use canton_dr::value::Value;
use secrecy::SecretString;
use support::{ScriptedProbes, World, fingerprint, obs};

const HEADER: &str = r#"
id = "engine-test"
title = "Engine test"
source = "tests"
recovery_budget = "5m"
"#;

fn runbook(steps: &str) -> String {
    format!("{HEADER}\n{steps}")
}

fn ts(s: &str) -> Value {
    Value::parse_as(canton_dr::value::ValueType::Timestamp, s).unwrap()
}

#[tokio::test]
async fn checks_waits_and_gates_with_captures_and_progress() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "end"
kind = "check"
title = "Ledger end"
probe = { kind = "canton.ledger_end" }
expect = "value.offset > 0"
capture = { end = "value.offset" }

[[step]]
id = "catch-up"
kind = "wait"
title = "Offset at a time"
probe = { kind = "canton.offset_at", synchronizer = "sync::1", at = "2026-01-01T00:00:00.000001Z" }
expect = "value.offset >= vars.end"
capture = { off = "value.offset" }
interval = "10ms"
timeout = "20s"
progress = { current = "value.offset", target = "vars.end" }

[[step]]
id = "gate"
kind = "gate"
title = "Time gate"
probe = { kind = "canton.synchronizer_time", synchronizer = "sync::1" }
expect = "value.time > timestamp('2026-01-01T00:00:00Z')"
"#,
        ),
        None,
    );
    let probes = ScriptedProbes::default();
    probes.push(
        "canton.ledger_end",
        obs("end 10", vec![("offset", Value::Offset(10))]),
    );
    probes.push(
        "canton.offset_at",
        Err(ProbeError::retryable("not caught up (OUT_OF_RANGE)")),
    );
    probes.push(
        "canton.offset_at",
        obs(
            "offset 4",
            vec![("offset", Value::Offset(4)), ("looked_up_at", Value::Null)],
        ),
    );
    probes.push(
        "canton.offset_at",
        obs(
            "offset 12",
            vec![("offset", Value::Offset(12)), ("looked_up_at", Value::Null)],
        ),
    );
    probes.push(
        "canton.synchronizer_time",
        obs("old", vec![("time", ts("2025-12-31T00:00:00Z"))]),
    );
    probes.push(
        "canton.synchronizer_time",
        obs("new", vec![("time", ts("2026-02-01T00:00:00Z"))]),
    );
    let mut d = w.start(w.create(Mode::Live), Arc::new(probes.clone()));

    // The gate is closed at first: re-check opens it.
    let waiting = d.waiting().await;
    assert!(
        matches!(&waiting, Waiting::GateClosed { step, reason } if step == "gate" && reason.contains("does not hold")),
        "{waiting:?}"
    );
    d.send(EngineCommand::Retry);
    assert_eq!(d.finished().await, RunEnd::Completed);

    let s = d.state.clone().unwrap();
    assert_eq!(s.vars.get("end"), Some(&Value::Offset(10)));
    assert_eq!(s.vars.get("off"), Some(&Value::Offset(12)));
    let progress: Vec<_> = d
        .seen
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Progress(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(
        progress
            .iter()
            .any(|p| p.last_error.as_deref() == Some("not caught up (OUT_OF_RANGE)"))
    );
    assert!(
        progress
            .iter()
            .any(|p| p.current.as_deref() == Some("4") && p.target.as_deref() == Some("10"))
    );
    // The journal replays to exactly what the front end folded.
    assert_eq!(fingerprint(&d.replayed()), fingerprint(&s));
    assert!(matches!(
        s.finish,
        Some(canton_dr::engine::state::Finish::Completed)
    ));

    // Held connections: kept across the polls of the wait step, released when it ends and
    // while the closed gate waits for the operator.
    let timeline = probes.timeline.lock().unwrap().clone();
    let at = |name: &str| -> Vec<usize> {
        (0..timeline.len())
            .filter(|&i| timeline[i] == name)
            .collect()
    };
    let polls = at("canton.offset_at");
    let gates = at("canton.synchronizer_time");
    let releases = at("release");
    assert_eq!(polls.len(), 3, "{timeline:?}");
    assert_eq!(gates.len(), 2, "{timeline:?}");
    let released_between = |from: usize, to: usize| releases.iter().any(|&r| from < r && r < to);
    assert!(
        !released_between(polls[0], polls[2]),
        "released during the wait: {timeline:?}"
    );
    assert!(
        released_between(polls[2], gates[0]),
        "not released after the wait: {timeline:?}"
    );
    assert!(
        released_between(gates[0], gates[1]),
        "not released while the gate waited for the operator: {timeline:?}"
    );
    assert_eq!(timeline.last().map(String::as_str), Some("release"));
}

#[tokio::test]
async fn a_failed_check_is_retried_or_overridden_only_with_the_step_id() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "end"
kind = "check"
title = "Ledger end"
probe = { kind = "canton.ledger_end" }
expect = "value.offset > 100"
"#,
        ),
        None,
    );
    let probes = ScriptedProbes::default();
    probes.push(
        "canton.ledger_end",
        obs("end 10", vec![("offset", Value::Offset(10))]),
    );
    probes.push(
        "canton.ledger_end",
        obs("end 10", vec![("offset", Value::Offset(10))]),
    );
    let mut d = w.start(w.create(Mode::Live), Arc::new(probes));
    let waiting = d.waiting().await;
    assert!(
        matches!(&waiting, Waiting::Failed { reason, .. } if reason.contains("expected value.offset > 100")),
        "{waiting:?}"
    );
    d.send(EngineCommand::Retry);
    assert!(matches!(d.waiting().await, Waiting::Failed { .. }));
    d.send(EngineCommand::Skip {
        reason: "   ".into(),
        typed: None,
    });
    assert!(d.rejected().await.contains("needs a reason"));
    d.send(EngineCommand::Skip {
        reason: "checked by hand".into(),
        typed: Some("wrong".into()),
    });
    assert!(d.rejected().await.contains("type the step id 'end'"));
    d.send(EngineCommand::Skip {
        reason: "checked by hand".into(),
        typed: Some("end".into()),
    });
    assert_eq!(d.finished().await, RunEnd::Completed);
    let s = d.replayed();
    assert!(
        matches!(&s.steps[0].status, StepStatus::Skipped { overridden: true, reason } if reason == "checked by hand")
    );
    assert_eq!(s.steps[0].attempts, 2);
}

#[tokio::test]
async fn inputs_are_validated_and_secrets_never_journaled() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "when"
kind = "input"
title = "Recovery time"
var = "t"
type = "timestamp"
expect = "value < now"

[[step]]
id = "pw"
kind = "input"
title = "Password"
var = "pw"
type = "secret"

[[step]]
id = "use"
kind = "command"
title = "Use the secret"
script = 'printf "connecting with %s\n" "$PW"'
env = { PW = "${pw}" }
timeout = "10s"
"#,
        ),
        None,
    );
    let mut d = w.start(w.create(Mode::Live), Arc::new(ScriptedProbes::default()));
    assert!(matches!(d.waiting().await, Waiting::Input { .. }));
    d.send(EngineCommand::Input {
        value: SecretString::from("2026-13-01T00:00:00Z".to_owned()),
    });
    assert!(d.rejected().await.contains("is not a valid timestamp"));
    d.send(EngineCommand::Input {
        value: SecretString::from("2999-01-01T00:00:00Z".to_owned()),
    });
    assert!(d.rejected().await.contains("must satisfy value < now"));
    d.send(EngineCommand::Input {
        value: SecretString::from("2026-01-01T00:00:00.000001Z".to_owned()),
    });
    assert!(matches!(d.waiting().await, Waiting::Input { var, .. } if var == "pw"));
    let canary = "CANARY-pw-7f3e9a1c";
    d.send(EngineCommand::Input {
        value: SecretString::from(canary.to_owned()),
    });
    assert!(matches!(d.waiting().await, Waiting::Run { .. }));
    d.send(EngineCommand::Run { typed: None });
    assert_eq!(d.finished().await, RunEnd::Completed);
    let bytes = std::fs::read(d.dir.join("journal.rbj")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(canary), "the secret reached the journal");
    assert!(
        text.contains("connecting with <redacted"),
        "the echoed secret is redacted in the output"
    );
    let s = d.replayed();
    assert_eq!(s.vars.get("t"), Some(&ts("2026-01-01T00:00:00.000001Z")));
    assert!(!s.vars.contains_key("pw"), "secrets are not replayed");
    for e in &d.seen {
        assert!(
            !format!("{e:?}").contains(canary),
            "an event shows the secret: {e:?}"
        );
    }
}

#[tokio::test]
async fn destructive_steps_need_the_typed_id_and_evidence_when_required() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "wipe"
kind = "manual"
title = "Wipe the volume"
destructive = true
evidence = "required"

[[step]]
id = "after"
kind = "manual"
title = "After"
"#,
        ),
        None,
    );
    let mut d = w.start(w.create(Mode::Live), Arc::new(ScriptedProbes::default()));
    assert!(matches!(
        d.waiting().await,
        Waiting::Confirm {
            destructive: true,
            ..
        }
    ));
    d.send(EngineCommand::Confirm {
        note: None,
        evidence: Some("done".into()),
        typed: None,
    });
    assert!(d.rejected().await.contains("type its id 'wipe'"));
    d.send(EngineCommand::Confirm {
        note: None,
        evidence: None,
        typed: Some("wipe".into()),
    });
    assert!(d.rejected().await.contains("needs evidence"));
    d.send(EngineCommand::Note {
        text: "volume name checked twice".into(),
        step: None,
    });
    d.send(EngineCommand::Note {
        text: "a step that does not exist".into(),
        step: Some("nope".into()),
    });
    assert!(
        d.rejected()
            .await
            .contains("there is no step 'nope' to add a note to")
    );
    d.send(EngineCommand::Note {
        text: "check the volume list again here".into(),
        step: Some("after".into()),
    });
    d.send(EngineCommand::Confirm {
        note: Some("ticket INC-9".into()),
        evidence: Some("docker volume ls shows it gone".into()),
        typed: Some("wipe".into()),
    });
    d.waiting().await;
    d.send(EngineCommand::Confirm {
        note: None,
        evidence: None,
        typed: None,
    });
    assert_eq!(d.finished().await, RunEnd::Completed);
    let s = d.replayed();
    assert_eq!(s.steps[0].status, StepStatus::Done(Outcome::Confirmed));
    assert_eq!(
        s.steps[0].evidence.as_deref(),
        Some("docker volume ls shows it gone")
    );
    assert_eq!(s.notes.len(), 2);
    assert_eq!(s.notes[0].step.as_deref(), Some("wipe"));
    assert_eq!(s.notes[1].step.as_deref(), Some("after"));
}

#[tokio::test]
async fn commands_capture_output_time_out_and_dry_run_shows_only() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("marker");
    let steps = format!(
        r#"
[[step]]
id = "echo"
kind = "command"
title = "Echo an argument"
argv = ["printf", "%s", "${{word}}"]
capture = {{ said = "value.stdout" }}
timeout = "10s"

[[step]]
id = "touch"
kind = "command"
title = "Touch the marker"
argv = ["touch", "{}"]
timeout = "10s"

[[step]]
id = "slow"
kind = "command"
title = "Too slow"
argv = ["sleep", "30"]
timeout = "500ms"

[params.word]
type = "text"
description = "a word"
default = "it's; $(rm -rf /)"
"#,
        marker.display()
    );
    let w = World::new(&runbook(&steps), None);

    // Dry-run: nothing runs.
    let mut d = w.start(w.create(Mode::DryRun), Arc::new(ScriptedProbes::default()));
    assert_eq!(d.finished().await, RunEnd::Completed);
    assert!(!marker.exists(), "a dry run ran a command");
    let s = d.replayed();
    assert!(
        s.steps
            .iter()
            .all(|st| st.status == StepStatus::Done(Outcome::Shown))
    );

    // Live: the value arrives verbatim as one argv element; the slow one times out.
    let mut d = w.start(w.create(Mode::Live), Arc::new(ScriptedProbes::default()));
    for _ in 0..3 {
        assert!(matches!(d.waiting().await, Waiting::Run { .. }));
        d.send(EngineCommand::Run { typed: None });
    }
    let waiting = d.waiting().await;
    assert!(
        matches!(&waiting, Waiting::Failed { step, reason } if step == "slow" && reason == "timed out"),
        "{waiting:?}"
    );
    assert!(marker.exists());
    let s = d.replayed();
    assert_eq!(
        s.vars.get("said"),
        Some(&Value::Text("it's; $(rm -rf /)".into()))
    );
    let records = d.journal();
    assert!(records.iter().any(
        |r| matches!(&r.event, Event::StepTimedOut { step, signal: Some(15), .. } if step == "slow")
    ));
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, Event::StepSpawned { step, .. } if step == "slow"))
    );
    d.send(EngineCommand::Skip {
        reason: "known to hang".into(),
        typed: None,
    });
    assert_eq!(d.finished().await, RunEnd::Completed);
}

#[tokio::test]
async fn conditions_skip_steps_that_do_not_apply() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "q"
kind = "input"
title = "Compose?"
var = "compose"
type = "bool"

[[step]]
id = "compose-only"
kind = "manual"
title = "Compose step"
when = "vars.compose"

[[step]]
id = "helm-only"
kind = "manual"
title = "Helm step"
when = "!vars.compose"
"#,
        ),
        None,
    );
    let mut d = w.start(w.create(Mode::Live), Arc::new(ScriptedProbes::default()));
    d.waiting().await;
    d.send(EngineCommand::Input {
        value: SecretString::from("no".to_owned()),
    });
    let waiting = d.waiting().await;
    assert!(
        matches!(&waiting, Waiting::Confirm { step, .. } if step == "helm-only"),
        "{waiting:?}"
    );
    d.send(EngineCommand::Confirm {
        note: None,
        evidence: None,
        typed: None,
    });
    assert_eq!(d.finished().await, RunEnd::Completed);
    let s = d.replayed();
    assert_eq!(s.steps[1].status, StepStatus::NotApplicable);
}

#[tokio::test]
async fn quit_and_resume_continue_exactly_where_the_journal_ends() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "a"
kind = "manual"
title = "A"

[[step]]
id = "b"
kind = "input"
title = "B"
var = "b"
type = "integer"

[[step]]
id = "c"
kind = "manual"
title = "C"
"#,
        ),
        None,
    );
    let incident = w.create(Mode::Live);
    let dir = incident.dir.clone();
    let mut d = w.start(incident, Arc::new(ScriptedProbes::default()));
    d.waiting().await;
    d.send(EngineCommand::Confirm {
        note: None,
        evidence: None,
        typed: None,
    });
    d.waiting().await;
    d.send(EngineCommand::Input {
        value: SecretString::from("42".to_owned()),
    });
    d.waiting().await;
    d.send(EngineCommand::Quit);
    assert_eq!(d.finished().await, RunEnd::Quit);
    let before = fingerprint(d.state.as_ref().unwrap());
    drop(d);

    // A second writer is refused while the first holds the incident.
    let held = canton_dr::engine::incident::Incident::open(
        &dir,
        &World::operator(),
        &canton_dr::clock::SystemClock,
    )
    .unwrap();
    let refused = canton_dr::engine::incident::Incident::open(
        &dir,
        &World::operator(),
        &canton_dr::clock::SystemClock,
    );
    assert!(
        matches!(refused, Err(ref e) if e.to_string().contains("is held by")),
        "{:?}",
        refused.err().map(|e| e.to_string())
    );
    assert_eq!(fingerprint(&held.state), before);
    let mut d = w.start(held, Arc::new(ScriptedProbes::default()));
    let waiting = d.waiting().await;
    assert!(
        matches!(&waiting, Waiting::Confirm { step, .. } if step == "c"),
        "{waiting:?}"
    );
    assert_eq!(
        d.state.as_ref().unwrap().vars.get("b"),
        Some(&Value::Integer(42))
    );
    d.send(EngineCommand::Confirm {
        note: None,
        evidence: None,
        typed: None,
    });
    assert_eq!(d.finished().await, RunEnd::Completed);
    assert_eq!(d.replayed().sessions.len(), 2);
    assert!(d.replayed().sessions[1].resumed);
}

#[tokio::test]
async fn a_side_effect_interrupted_by_a_crash_is_in_doubt_until_decided() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "restore"
kind = "command"
title = "Restore"
argv = ["true"]
timeout = "10s"

[[step]]
id = "after"
kind = "manual"
title = "After"
"#,
        ),
        None,
    );
    let mut incident = w.create(Mode::Live);
    let dir = incident.dir.clone();
    // Simulate a crash between the intent record and the outcome: append STEP_STARTED by hand.
    let started = canton_dr::engine::record::Record {
        ts: chrono::Utc::now(),
        mono_ms: 1,
        user: "tester".into(),
        operator: "tester".into(),
        host: "testhost".into(),
        event: Event::StepStarted {
            step: "restore".into(),
            attempt: 1,
            action: "true".into(),
            action_sha256: "x".into(),
            side_effects: true,
            inputs: Default::default(),
        },
    };
    incident.journal.append(&started.encode()).unwrap();
    drop(incident);
    let incident = canton_dr::engine::incident::Incident::open(
        &dir,
        &World::operator(),
        &canton_dr::clock::SystemClock,
    )
    .unwrap();
    assert_eq!(incident.state.in_doubt(), vec![0]);
    let mut d = w.start(incident, Arc::new(ScriptedProbes::default()));
    let waiting = d.waiting().await;
    assert!(
        matches!(&waiting, Waiting::InDoubt { step, still_running: None, .. } if step == "restore"),
        "{waiting:?}"
    );
    d.send(EngineCommand::Run { typed: None });
    assert!(
        d.rejected()
            .await
            .contains("decide about the interrupted step first")
    );
    d.send(EngineCommand::ResolveInDoubt(InDoubtChoice::MarkDone {
        evidence: "  ".into(),
    }));
    assert!(d.rejected().await.contains("needs evidence"));
    d.send(EngineCommand::ResolveInDoubt(InDoubtChoice::MarkDone {
        evidence: "restore log shows success".into(),
    }));
    let waiting = d.waiting().await;
    assert!(
        matches!(&waiting, Waiting::Confirm { step, .. } if step == "after"),
        "{waiting:?}"
    );
    d.send(EngineCommand::Confirm {
        note: None,
        evidence: None,
        typed: None,
    });
    assert_eq!(d.finished().await, RunEnd::Completed);
    let s = d.replayed();
    assert_eq!(s.steps[0].status, StepStatus::Done(Outcome::MarkedDone));
    // The resolution was journaled before anything else happened.
    let records = d.journal();
    let resolved = records
        .iter()
        .position(|r| matches!(r.event, Event::InDoubtResolved { .. }))
        .unwrap();
    let next_step = records
        .iter()
        .position(|r| matches!(&r.event, Event::StepCompleted { step, .. } if step == "after"))
        .unwrap();
    assert!(resolved < next_step);
}

#[tokio::test]
async fn too_little_disk_space_is_warned_about_and_blocks_commands() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "run"
kind = "command"
title = "Run"
argv = ["true"]
timeout = "10s"
"#,
        ),
        None,
    );
    let incident = w.create(Mode::Live);
    let mut d = w.start_with(incident, Arc::new(ScriptedProbes::default()), |ctx| {
        ctx.min_free = u64::MAX
    });
    assert!(matches!(d.waiting().await, Waiting::Run { .. }));
    d.send(EngineCommand::Run { typed: None });
    let waiting = d.waiting().await;
    assert!(
        matches!(&waiting, Waiting::Blocked { reason, .. } if reason.contains("MiB free")),
        "{waiting:?}"
    );
    d.send(EngineCommand::Skip {
        reason: "no space; run by hand".into(),
        typed: None,
    });
    assert_eq!(d.finished().await, RunEnd::Completed);
    let records = d.journal();
    assert!(records.iter().any(|r| matches!(&r.event, Event::Warning { step: None, message } if message.contains("commands will be refused"))));
    assert!(
        !records
            .iter()
            .any(|r| matches!(&r.event, Event::StepStarted { .. })),
        "nothing ran"
    );
}

/// A repair cut at a record boundary whose RECOVERY record never made it to disk (a crash
/// between the cut and the record) is recorded by the next writer, once.
#[tokio::test]
async fn a_repair_interrupted_before_its_record_is_recorded_on_the_next_open() {
    let w = World::new(
        &runbook(
            r#"
[[step]]
id = "a"
kind = "manual"
title = "A"
"#,
        ),
        None,
    );
    let incident = w.create(Mode::Live);
    let dir = incident.dir.clone();
    drop(incident);
    let journal = std::fs::read(dir.join("journal.rbj")).unwrap();
    // What the crash leaves: the journal cut back, and the quarantine copy of the whole file
    // before the cut (here with a half-written frame after the journal).
    let tail = b"\x51\x00\x00\x00garbage";
    let mut copy = journal.clone();
    copy.extend_from_slice(tail);
    let name = format!("journal.rbj.torn-{}-20261122T000000Z", copy.len());
    std::fs::write(dir.join(&name), &copy).unwrap();
    // A copy that does not continue the journal is not a repair of it and is left alone.
    std::fs::write(
        dir.join("journal.rbj.damaged-9-20261122T000000Z"),
        b"CDRJ-not-this-journal",
    )
    .unwrap();

    let open = || {
        canton_dr::engine::incident::Incident::open(
            &dir,
            &World::operator(),
            &canton_dr::clock::SystemClock,
        )
        .unwrap()
    };
    let recoveries = |records: &[canton_dr::engine::record::Record]| -> Vec<Event> {
        records
            .iter()
            .filter(|r| matches!(r.event, Event::Recovery { .. }))
            .map(|r| r.event.clone())
            .collect()
    };
    let before = support::read_journal(&dir).len() as u64;
    let incident = open();
    assert_eq!(
        incident.state.records,
        before + 1,
        "the recovery record is added"
    );
    drop(incident);
    let records = support::read_journal(&dir);
    let found = recoveries(&records);
    assert_eq!(found.len(), 1, "{found:?}");
    let Event::Recovery {
        kind,
        truncated_bytes,
        sha256_of_removed_bytes,
        quarantine,
        reason,
    } = &found[0]
    else {
        unreachable!()
    };
    assert_eq!(kind, "torn_tail");
    assert_eq!(*truncated_bytes, tail.len() as u64);
    assert_eq!(
        *sha256_of_removed_bytes,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(tail))
    );
    assert!(quarantine.ends_with(&name), "{quarantine}");
    assert!(
        reason.as_deref().unwrap().contains("interrupted"),
        "{reason:?}"
    );

    // Recorded once: the next writer finds the copy already accounted for.
    drop(open());
    assert_eq!(recoveries(&support::read_journal(&dir)).len(), 1);
    let report = canton_dr::journal::verify(&dir.join("journal.rbj"), None, None).unwrap();
    assert!(report.ok(), "{report}");
}
