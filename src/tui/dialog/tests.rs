//! Dialogs: validation while typing, and the one command each sends.

use secrecy::ExposeSecret;

use super::*;
use crate::tui::event::Code;

fn now() -> DateTime<Utc> {
    crate::value::parse_timestamp("2026-11-22T03:15:00Z").unwrap_or_default()
}

fn type_in(d: &mut Dialog, s: &str) {
    for c in s.chars() {
        d.edit(Key::char(c), now());
    }
}

#[test]
fn destructive_confirm_needs_the_step_id() {
    let mut d = Dialog::new(
        Kind::Confirm {
            step: "wipe".into(),
            destructive: true,
            evidence: Evidence::None,
        },
        now(),
    );
    assert_eq!(d.fields.len(), 2);
    assert!(matches!(d.act(Action::Submit, now()), Reply::Stay));
    assert_eq!(
        d.problem.as_deref(),
        Some("type the step id 'wipe' exactly")
    );
    type_in(&mut d, "wip");
    assert!(d.problem.is_some());
    type_in(&mut d, "e");
    assert_eq!(d.problem, None);
    d.act(Action::NextField, now());
    type_in(&mut d, "done at 03:20");
    match d.act(Action::Submit, now()) {
        Reply::Send(EngineCommand::Confirm {
            note,
            evidence,
            typed,
        }) => {
            assert_eq!(typed.as_deref(), Some("wipe"));
            assert_eq!(note.as_deref(), Some("done at 03:20"));
            assert_eq!(evidence, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(d.sent);
    assert!(
        matches!(d.act(Action::Submit, now()), Reply::Stay),
        "sent once only"
    );
}

#[test]
fn required_evidence() {
    let mut d = Dialog::new(
        Kind::Confirm {
            step: "a".into(),
            destructive: false,
            evidence: Evidence::Required,
        },
        now(),
    );
    assert!(
        d.problem
            .as_deref()
            .is_some_and(|p| p.contains("evidence is required"))
    );
    type_in(&mut d, "  ");
    assert!(d.problem.is_some(), "blank evidence is no evidence");
    type_in(&mut d, "ticket 7");
    assert!(matches!(
        d.act(Action::Submit, now()),
        Reply::Send(EngineCommand::Confirm { evidence: Some(e), .. }) if e == "ticket 7"
    ));
}

fn input(ty: ValueType, default: Option<&str>) -> Dialog {
    Dialog::new(
        Kind::Input {
            step: "t".into(),
            var: "t".into(),
            ty,
            prompt: "When?".into(),
            default: default.map(str::to_owned),
            expect: None,
            vars: BTreeMap::new(),
        },
        now(),
    )
}

#[test]
fn timestamps_validate_while_typing() {
    let mut d = input(ValueType::Timestamp, None);
    assert!(
        d.problem
            .as_deref()
            .is_some_and(|p| p.starts_with("enter a value"))
    );
    type_in(&mut d, "2026-11-22T03:15:00.1234567Z");
    assert!(
        d.problem
            .as_deref()
            .is_some_and(|p| p.contains("microsecond")),
        "{:?}",
        d.problem
    );
    d.edit(Key::plain(Code::Backspace), now());
    d.edit(Key::plain(Code::Backspace), now());
    type_in(&mut d, "Z");
    assert_eq!(d.problem, None);
    assert_eq!(
        d.reading.as_deref(),
        Some("reads as 2026-11-22T03:15:00.123456Z")
    );
    match d.act(Action::Submit, now()) {
        Reply::Send(EngineCommand::Input { value }) => {
            assert_eq!(value.expose_secret(), "2026-11-22T03:15:00.123456Z");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offsets_and_durations() {
    let mut d = input(ValueType::Offset, None);
    type_in(&mut d, "-5");
    assert!(
        d.problem
            .as_deref()
            .is_some_and(|p| p.contains("never negative"))
    );
    let mut d = input(ValueType::Duration, None);
    type_in(&mut d, "45 minutes");
    assert_eq!(d.problem, None);
    assert_eq!(d.reading.as_deref(), Some("reads as 45m"));
    let mut d = input(ValueType::Duration, None);
    type_in(&mut d, "soon");
    assert!(d.problem.is_some());
}

#[test]
fn an_empty_input_accepts_the_default() {
    let mut d = input(ValueType::Duration, Some("48h"));
    assert_eq!(d.problem, None);
    assert!(matches!(
        d.act(Action::Submit, now()),
        Reply::Send(EngineCommand::Confirm {
            note: None,
            evidence: None,
            typed: None
        })
    ));
}

#[test]
fn expectations_are_checked_while_typing() {
    let rb = crate::tui::fixture::runbook();
    let Some(crate::runbook::StepKind::Input { expect, .. }) =
        rb.step("ttl").map(|s| s.kind.clone())
    else {
        panic!("fixture has an input step 'ttl'");
    };
    let mut d = Dialog::new(
        Kind::Input {
            step: "ttl".into(),
            var: "ttl".into(),
            ty: ValueType::Duration,
            prompt: "ttl".into(),
            default: None,
            expect,
            vars: BTreeMap::new(),
        },
        now(),
    );
    type_in(&mut d, "30s");
    assert!(
        d.problem
            .as_deref()
            .is_some_and(|p| p.contains("is not accepted here")),
        "{:?}",
        d.problem
    );
    d.edit(Key::ctrl('u'), now());
    type_in(&mut d, "2h");
    assert_eq!(d.problem, None);
}

#[test]
fn secret_inputs_are_masked_and_sent_as_secrets() {
    let mut d = input(ValueType::Secret, None);
    assert!(d.fields[0].input.is_secret());
    type_in(&mut d, "s3cr3t");
    assert_eq!(d.problem, None);
    assert_eq!(d.reading, None, "a secret is never read back");
    assert!(!format!("{d:?}").contains("s3cr3t"));
    match d.act(Action::Submit, now()) {
        Reply::Send(EngineCommand::Input { value }) => {
            assert_eq!(value.expose_secret(), "s3cr3t")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        d.fields[0].input.is_empty(),
        "the field is emptied on sending"
    );
}

#[test]
fn skip_needs_a_reason_and_overrides_need_the_id() {
    let mut d = Dialog::new(
        Kind::Skip {
            step: "safe".into(),
            typed: true,
            in_doubt: false,
        },
        now(),
    );
    assert!(matches!(d.act(Action::Submit, now()), Reply::Stay));
    type_in(&mut d, "approved in CHG-1");
    assert!(d.problem.as_deref().is_some_and(|p| p.contains("'safe'")));
    d.act(Action::NextField, now());
    type_in(&mut d, "safe");
    match d.act(Action::Submit, now()) {
        Reply::Send(EngineCommand::Skip { reason, typed }) => {
            assert_eq!(reason, "approved in CHG-1");
            assert_eq!(typed.as_deref(), Some("safe"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn in_doubt_choices() {
    let mut d = Dialog::new(
        Kind::InDoubt {
            step: "stop".into(),
            attempt: 1,
            action: "ingestion_stop".into(),
            still_running: None,
        },
        now(),
    );
    assert_eq!(d.key_mode(), KeyMode::Choice);
    assert!(
        !d.choices().iter().any(|(c, _)| *c == 'k'),
        "nothing to kill"
    );
    assert!(matches!(
        d.act(Action::Choose('r'), now()),
        Reply::Send(EngineCommand::ResolveInDoubt(InDoubtChoice::Rerun))
    ));
    let Reply::Next(mut next) = d.act(Action::Choose('d'), now()) else {
        panic!("mark done asks for evidence");
    };
    type_in(&mut next, "pg_restore log shows success");
    assert!(matches!(
        next.act(Action::Submit, now()),
        Reply::Send(EngineCommand::ResolveInDoubt(InDoubtChoice::MarkDone { evidence })) if evidence == "pg_restore log shows success"
    ));
    let Reply::Next(mut skip) = d.act(Action::Choose('s'), now()) else {
        panic!("skip asks for a reason");
    };
    type_in(&mut skip, "done by hand");
    assert!(matches!(
        skip.act(Action::Submit, now()),
        Reply::Send(EngineCommand::ResolveInDoubt(InDoubtChoice::Skip { reason })) if reason == "done by hand"
    ));
    d.act(Action::Down, now());
    d.act(Action::Down, now());
    d.act(Action::Down, now());
    assert!(matches!(
        d.act(Action::Submit, now()),
        Reply::Send(EngineCommand::Retry)
    ));
}

#[test]
fn kill_is_offered_when_processes_still_run() {
    let mut d = Dialog::new(
        Kind::InDoubt {
            step: "stop".into(),
            attempt: 1,
            action: "x".into(),
            still_running: Some(Spawned {
                pid: 10,
                pgid: 10,
                start_time: 1,
            }),
        },
        now(),
    );
    assert!(matches!(
        d.act(Action::Choose('k'), now()),
        Reply::Send(EngineCommand::KillStale)
    ));
}

#[test]
fn quit_and_cancel_ask_first() {
    let mut q = Dialog::new(
        Kind::Quit {
            running: true,
            incident: "i".into(),
        },
        now(),
    );
    assert!(matches!(q.act(Action::Close, now()), Reply::Close));
    assert!(matches!(q.act(Action::Choose('n'), now()), Reply::Close));
    assert!(matches!(q.act(Action::Yes, now()), Reply::Quit));
    let mut c = Dialog::new(Kind::Cancel { step: "s".into() }, now());
    assert!(matches!(
        c.act(Action::Yes, now()),
        Reply::Send(EngineCommand::Cancel)
    ));
}

#[test]
fn refusals_reopen_the_dialog() {
    let mut d = Dialog::new(Kind::Note { step: None }, now());
    type_in(&mut d, "x");
    assert!(matches!(d.act(Action::Submit, now()), Reply::Send(_)));
    d.refuse("nope".into());
    assert!(!d.sent);
    assert_eq!(d.refused.as_deref(), Some("nope"));
    type_in(&mut d, "y");
    assert_eq!(d.refused, None, "typing clears the refusal");
}
