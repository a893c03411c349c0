//! Synthetic incidents for the TUI's tests: the test corpus's `basic` runbook opened in a
//! journal, and records to feed it.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::engine::record::{EmbeddedFile, Event, Mode, Outcome, Record, RunbookRef};
use crate::engine::state::IncidentState;
use crate::runbook::Runbook;

/// The text of `tests/runbooks/valid/basic.toml`.
pub const BASIC: &str = include_str!("../../tests/runbooks/valid/basic.toml");

/// A fixed point in time: 2026-11-22T03:15:00Z.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_317_300, 0).unwrap_or_default()
}

/// A record at `t0 + secs`.
pub fn rec(secs: i64, event: Event) -> Record {
    Record {
        ts: t0() + TimeDelta::seconds(secs),
        mono_ms: u64::try_from(secs * 1000).unwrap_or(0),
        user: "root".into(),
        operator: "alice".into(),
        host: "dr-host".into(),
        event,
    }
}

/// The opening record of an incident running `text`.
pub fn opened_with(id: &str, mode: Mode, text: &str) -> Record {
    rec(
        0,
        Event::IncidentOpened {
            incident_id: id.into(),
            mode,
            runbook: RunbookRef {
                id: "basic".into(),
                title: "A small runbook exercising every step kind".into(),
                source: "canton-dr test corpus".into(),
                sha256: "0".repeat(64),
                files: vec![EmbeddedFile {
                    name: "basic.toml".into(),
                    path: "basic.toml".into(),
                    text: text.into(),
                }],
            },
            profile: None,
            tool_version: "0.1.0".into(),
            params: BTreeMap::new(),
        },
    )
}

/// The incident id the fixtures use.
pub const ID: &str = "20261122-031500-basic-3f2a";

/// A freshly opened incident of the basic runbook.
pub fn state(mode: Mode) -> IncidentState {
    match IncidentState::open(1, &opened_with(ID, mode, BASIC)) {
        Ok(s) => s,
        Err(e) => panic!("the basic runbook opens: {e}"),
    }
}

/// The basic runbook, validated.
pub fn runbook() -> Runbook {
    state(Mode::Drill).runbook
}

/// A step completing.
pub fn completed(step: &str, outcome: Outcome, ms: u64) -> Event {
    Event::StepCompleted {
        step: step.into(),
        attempt: 1,
        outcome,
        duration_ms: ms,
        captures: BTreeMap::new(),
        note: None,
        evidence: None,
        exit_code: None,
        output: None,
        redactions: BTreeMap::new(),
    }
}

/// A step starting.
pub fn started(step: &str, action: &str, side_effects: bool) -> Event {
    Event::StepStarted {
        step: step.into(),
        attempt: 1,
        action: action.into(),
        action_sha256: "0".repeat(64),
        side_effects,
        inputs: BTreeMap::new(),
    }
}
