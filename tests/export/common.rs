//! Journals for the export tests, written with the real journal writer: a realistic drill of
//! `tests/runbooks/valid/basic.toml` holding every kind of record, and variations of it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use canton_dr::engine::record::{
    EmbeddedFile, Event, InDoubtChoice, ItemPhase, Mode, Observation, Outcome, Output, ProfileRef,
    Record, RunbookRef,
};
use canton_dr::journal::{self, Journal};
use canton_dr::value::parse_timestamp;
use serde_json::json;
use tempfile::TempDir;

/// The id of the fixture incident.
pub const ID: &str = "20261122-031500-basic-00a1";
/// The runbook the fixture runs.
pub const RUNBOOK: &str = "tests/runbooks/valid/basic.toml";

/// A JWT-shaped token and a database URL with a password, planted in the secret fixture.
pub const JWT: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvcHMtYm90IiwiYXVkIjoiY2FudG9uIn0.QmFkU2lnbmF0dXJlVmFsdWVGb3JUZXN0cw";
/// The password inside [`DB_URL`].
pub const DB_PASSWORD: &str = "Sup3rS3cretPw";
/// A database URL with a password.
pub const DB_URL: &str = "postgres://ledger_ro:Sup3rS3cretPw@db.internal:5432/integration";

/// A temporary data directory and the incident directory inside it.
pub struct Fixture {
    pub tmp: TempDir,
    pub dir: PathBuf,
}

impl Fixture {
    /// The journal file.
    pub fn journal(&self) -> PathBuf {
        self.dir.join(journal::JOURNAL_FILE)
    }

    /// The data directory to pass as `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
}

/// A private temporary directory.
pub fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("cdr-export-test")
        .tempdir()
        .expect("create a temporary directory")
}

/// An empty incident directory `<tmp>/data/incidents/<ID>`.
pub fn incident_dir() -> Fixture {
    let tmp = tempdir();
    let root = tmp.path().join("data").join("incidents");
    let dir = journal::create_incident_dir(&root, ID).expect("create the incident directory");
    Fixture { tmp, dir }
}

/// Builds records with times relative to 2026-11-22T03:15:00Z.
pub struct Clock {
    base: chrono::DateTime<chrono::Utc>,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            base: parse_timestamp("2026-11-22T03:15:00Z").expect("timestamp"),
        }
    }

    /// A record `ms` milliseconds into the incident, by alice on host dr-1.
    pub fn rec(&self, ms: u64, event: Event) -> Record {
        self.rec_by(ms, "alice", event)
    }

    /// A record `ms` milliseconds into the incident by `operator`.
    pub fn rec_by(&self, ms: u64, operator: &str, event: Event) -> Record {
        Record {
            ts: self.base + chrono::TimeDelta::milliseconds(ms as i64),
            mono_ms: ms,
            user: "ops".into(),
            operator: operator.into(),
            host: "dr-1".into(),
            event,
        }
    }
}

/// The opening record of the fixture: the runbook embedded, a profile, one parameter.
pub fn opened(clock: &Clock, mode: Mode) -> Record {
    let rb = canton_dr::runbook::load(Path::new(RUNBOOK)).expect("the fixture runbook loads");
    let mut params = BTreeMap::new();
    params.insert("dar_dir".to_owned(), json!("/srv/dars"));
    clock.rec(
        0,
        Event::IncidentOpened {
            incident_id: ID.into(),
            mode,
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
            profile: Some(ProfileRef {
                name: "sandbox".into(),
                path: "sandbox/profile.toml".into(),
                sha256: "5d41402abc4b2a76b9719d911017c592ae7a26bf3d8d2b4f1c2e2d5e0c8a9b7e".into(),
                text: "name = \"sandbox\"\n".into(),
            }),
            tool_version: "0.1.0".into(),
            params,
        },
    )
}

fn obs(call: &str, value: serde_json::Value, summary: &str, held: Option<bool>) -> Observation {
    Observation {
        call: call.into(),
        value,
        summary: summary.into(),
        held,
        error: None,
        retryable: false,
    }
}

fn output(stdout: &str, stderr: &str) -> Option<Output> {
    Some(Output {
        stdout: stdout.into(),
        stderr: stderr.into(),
        stdout_bytes: stdout.len() as u64,
        stderr_bytes: stderr.len() as u64,
        truncated: false,
        sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
    })
}

fn completed(
    step: &str,
    attempt: u32,
    outcome: Outcome,
    duration_ms: u64,
    captures: serde_json::Value,
) -> Event {
    let captures = match captures {
        serde_json::Value::Object(m) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    Event::StepCompleted {
        step: step.into(),
        attempt,
        outcome,
        duration_ms,
        captures,
        note: None,
        evidence: None,
        exit_code: None,
        output: None,
        redactions: BTreeMap::new(),
    }
}

fn started(step: &str, attempt: u32, action: &str, side_effects: bool) -> Event {
    Event::StepStarted {
        step: step.into(),
        attempt,
        action: action.into(),
        action_sha256: format!("{:0>64}", attempt),
        side_effects,
        inputs: BTreeMap::new(),
    }
}

/// Every record of the realistic drill, in order. It holds every record kind except
/// `run_aborted` (see [`aborted_records`]): a retry, a crash with a torn tail and its recovery,
/// a step left in doubt and marked done, a timeout, an override, a built-in action's items, a
/// step not applicable, notes, warnings and the judge's report.
pub fn drill_records() -> Vec<Record> {
    let c = Clock::new();
    let mut v = vec![opened(&c, Mode::Drill)];
    v.push(c.rec(
        150,
        Event::SessionStarted {
            pid: 4242,
            resumed: false,
            tool_version: "0.1.0".into(),
        },
    ));
    v.push(c.rec(12_000, {
        let mut e = completed("confirm-incident", 1, Outcome::Confirmed, 11_800, json!({}));
        if let Event::StepCompleted { note, evidence, .. } = &mut e {
            *note = Some("Ticket opened; bridge call *started*.".into());
            *evidence = Some("INC-4711".into());
        }
        e
    }));
    v.push(c.rec(
        12_500,
        Event::NoteAdded {
            step: Some("confirm-incident".into()),
            text: "Validator pod restored from the 02:00 backup.\nSecond line <b>kept</b> as text."
                .into(),
        },
    ));
    v.push(c.rec(
        20_000,
        completed("ttl", 1, Outcome::Confirmed, 7_400, json!({"ttl": "48h"})),
    ));
    v.push(c.rec(21_000, started("stop", 1, "ingestion_stop", true)));
    v.push(c.rec(
        21_050,
        Event::StepSpawned {
            step: "stop".into(),
            attempt: 1,
            pid: 5001,
            pgid: 5001,
            start_time: 991_022,
        },
    ));
    v.push(c.rec(
        23_000,
        Event::StepFailed {
            step: "stop".into(),
            attempt: 1,
            reason: "exited with code 1".into(),
            duration_ms: 2_000,
            exit_code: Some(1),
            signal: None,
            output: output("", "ingestion: service busy, try again\n"),
            redactions: BTreeMap::new(),
        },
    ));
    v.push(c.rec(
        23_100,
        Event::Warning {
            step: Some("stop".into()),
            message: "ingestion_stop failed; the operator chose to run it again".into(),
        },
    ));
    v.push(c.rec(30_000, started("stop", 2, "ingestion_stop", true)));
    v.push(c.rec(
        30_050,
        Event::StepSpawned {
            step: "stop".into(),
            attempt: 2,
            pid: 5017,
            pgid: 5017,
            start_time: 991_730,
        },
    ));
    v.push(c.rec(
        33_000,
        Event::ProbeObserved {
            step: "stop".into(),
            attempt: 2,
            observation: obs(
                "command(json=true, run=ingestion_status)",
                json!({"exit_code": 3, "stdout": "stopped"}),
                "exit code 3",
                Some(true),
            ),
        },
    ));
    v.push(c.rec(33_100, {
        let mut e = completed("stop", 2, Outcome::Passed, 3_100, json!({}));
        if let Event::StepCompleted {
            exit_code,
            output: out,
            redactions,
            ..
        } = &mut e
        {
            *exit_code = Some(0);
            *out = output("ingestion stopped\n", "");
            redactions.insert("registered".into(), 1);
        }
        e
    }));
    v.push(c.rec(34_000, started("read", 1, "sql last_ingested()", false)));
    v.push(c.rec(
        34_400,
        Event::ProbeObserved {
            step: "read".into(),
            attempt: 1,
            observation: obs(
                "sql(query=last_ingested)",
                json!({"row_count": 1, "record_time": "2026-11-22T01:59:58.123456Z",
                       "synchronizer_id": "global-domain::1220ab", "offset": 18234}),
                "1 row",
                Some(true),
            ),
        },
    ));
    v.push(c.rec(
        34_500,
        completed(
            "read",
            1,
            Outcome::Passed,
            500,
            json!({"t_recovery": "2026-11-22T01:59:58.123456Z",
                   "synchronizer_id": "global-domain::1220ab"}),
        ),
    ));
    v.push(c.rec(
        35_000,
        started(
            "offset",
            1,
            "canton.offset_at(at=2026-11-22T01:59:58.123456Z, synchronizer=global-domain::1220ab)",
            false,
        ),
    ));
    v.push(c.rec(
        35_300,
        Event::ProbeObserved {
            step: "offset".into(),
            attempt: 1,
            observation: Observation {
                call: "canton.offset_at(at=2026-11-22T01:59:58.123456Z, synchronizer=global-domain::1220ab)".into(),
                value: serde_json::Value::Null,
                summary: "not caught up yet".into(),
                held: None,
                error: Some("OUT_OF_RANGE: the participant has not caught up to that time".into()),
                retryable: true,
            },
        },
    ));
    v.push(c.rec(
        40_300,
        Event::ProbeObserved {
            step: "offset".into(),
            attempt: 1,
            observation: obs(
                "canton.offset_at(at=2026-11-22T01:59:58.123456Z, synchronizer=global-domain::1220ab)",
                json!({"offset": 18240}),
                "offset 18240",
                Some(true),
            ),
        },
    ));
    v.push(c.rec(
        40_400,
        completed(
            "offset",
            1,
            Outcome::Passed,
            5_400,
            json!({"off_recovery": 18240}),
        ),
    ));
    v.push(c.rec(41_000, {
        let mut e = started("set-offset", 1, "ingestion_set_offset", true);
        if let Event::StepStarted { inputs, .. } = &mut e {
            inputs.insert("START_OFFSET".into(), json!(18240));
        }
        e
    }));
    v.push(c.rec(
        41_050,
        Event::StepSpawned {
            step: "set-offset".into(),
            attempt: 1,
            pid: 5100,
            pgid: 5100,
            start_time: 992_001,
        },
    ));
    // canton-dr crashed here; the next session repaired the torn tail.
    v.push(c.rec_by(
        95_000,
        "bob",
        Event::Recovery {
            kind: "torn_tail".into(),
            truncated_bytes: 37,
            sha256_of_removed_bytes:
                "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
            quarantine: "journal.rbj.torn-2114-20261122T031635Z".into(),
            reason: Some("a record was half-written when canton-dr last stopped".into()),
        },
    ));
    v.push(c.rec_by(
        95_100,
        "bob",
        Event::SessionStarted {
            pid: 6001,
            resumed: true,
            tool_version: "0.1.0".into(),
        },
    ));
    v.push(c.rec_by(
        120_000,
        "bob",
        Event::InDoubtResolved {
            step: "set-offset".into(),
            attempt: 1,
            choice: InDoubtChoice::MarkDone {
                evidence: "ingestion log: start offset set to 18240 at 03:15:42".into(),
            },
        },
    ));
    v.push(c.rec_by(
        121_000,
        "bob",
        started(
            "caught-up",
            1,
            "sql ingested_since(2026-11-22T01:59:58.123456Z)",
            false,
        ),
    ));
    v.push(c.rec_by(
        421_000,
        "bob",
        Event::StepTimedOut {
            step: "caught-up".into(),
            attempt: 1,
            duration_ms: 300_000,
            signal: None,
            output: None,
            redactions: BTreeMap::new(),
        },
    ));
    v.push(c.rec_by(
        430_000,
        "bob",
        Event::StepSkipped {
            step: "caught-up".into(),
            reason: "ingestion verified by hand: 12 transactions since t_recovery".into(),
            overridden: true,
        },
    ));
    v.push(c.rec_by(
        431_000,
        "bob",
        started("dars", 1, "canton.upload_dars(dir=/srv/dars)", true),
    ));
    for (ms, item, phase, detail) in [
        (431_100, "splice-amulet-0.1.9.dar", ItemPhase::Started, ""),
        (
            432_000,
            "splice-amulet-0.1.9.dar",
            ItemPhase::Done,
            "uploaded, 3 packages",
        ),
        (
            432_100,
            "exchange-treasury-2.4.0.dar",
            ItemPhase::Started,
            "",
        ),
        (
            433_000,
            "exchange-treasury-2.4.0.dar",
            ItemPhase::Done,
            "already known",
        ),
    ] {
        v.push(c.rec_by(
            ms,
            "bob",
            Event::ActionItem {
                step: "dars".into(),
                attempt: 1,
                item: item.into(),
                phase,
                detail: detail.into(),
            },
        ));
    }
    v.push(c.rec_by(
        433_100,
        "bob",
        completed("dars", 1, Outcome::Passed, 2_100, json!({"uploaded": 1})),
    ));
    v.push(c.rec_by(
        440_000,
        "bob",
        Event::StepNotApplicable {
            step: "safe".into(),
            condition: "now > vars.t_recovery + vars.ttl".into(),
        },
    ));
    v.push(c.rec_by(
        441_000,
        "bob",
        started("shell", 1, "sh -c 'echo \"$OFF\"'", true),
    ));
    v.push(c.rec_by(441_200, "bob", {
        let mut e = completed("shell", 1, Outcome::Passed, 200, json!({}));
        if let Event::StepCompleted {
            exit_code,
            output: out,
            ..
        } = &mut e
        {
            *exit_code = Some(0);
            *out = output("18240\n", "");
        }
        e
    }));
    v.push(c.rec_by(
        442_000,
        "bob",
        Event::NoteAdded {
            step: None,
            text: "Debrief: all invariants held; `caught-up` needs a longer timeout.".into(),
        },
    ));
    v.push(c.rec_by(
        442_100,
        "bob",
        Event::Warning {
            step: None,
            message: "free space on the data directory is below 1 GiB".into(),
        },
    ));
    v.push(c.rec_by(
        443_000,
        "bob",
        Event::RunCompleted {
            steps_passed: 7,
            steps_skipped: 2,
        },
    ));
    v.push(c.rec_by(
        443_500,
        "bob",
        Event::DrillJudged {
            verdict: "PASS".into(),
            report: json!({
                "verdict": "PASS",
                "checks": [
                    {"name": "nothing ingested twice", "passed": true, "evidence": "0 duplicate update ids"},
                    {"name": "no withdrawal executed twice", "passed": true, "evidence": "3 withdrawals, 3 distinct"}
                ],
                "score": {
                    "total_seconds": 443.0, "budget_seconds": 600, "within_budget": true,
                    "steps": [
                        {"id": "confirm-incident", "seconds": 11.8, "budget_seconds": null, "attempts": 1},
                        {"id": "stop", "seconds": 5.1, "budget_seconds": null, "attempts": 2}
                    ],
                    "retries": 1, "skips": 1,
                    "deviations": ["caught-up was overridden after timing out"]
                }
            }),
        },
    ));
    v.push(c.rec_by(
        443_600,
        "bob",
        Event::SessionEnded {
            reason: "run completed".into(),
        },
    ));
    v
}

/// A short live incident that was aborted, with the `run_aborted` record.
pub fn aborted_records() -> Vec<Record> {
    let c = Clock::new();
    vec![
        opened(&c, Mode::Live),
        c.rec(
            100,
            Event::SessionStarted {
                pid: 77,
                resumed: false,
                tool_version: "0.1.0".into(),
            },
        ),
        c.rec(
            9_000,
            Event::StepSkipped {
                step: "confirm-incident".into(),
                reason: "false alarm".into(),
                overridden: false,
            },
        ),
        c.rec(
            10_000,
            Event::RunAborted {
                reason: "false alarm: the validator was healthy".into(),
            },
        ),
        c.rec(
            10_100,
            Event::SessionEnded {
                reason: "run aborted".into(),
            },
        ),
    ]
}

/// The drill with secret-shaped text planted in every kind of text field.
pub fn secret_records() -> Vec<Record> {
    let mut v = drill_records();
    let c = Clock::new();
    let at = v.len() - 3;
    let planted = vec![
        c.rec(
            441_500,
            Event::NoteAdded {
                step: Some("shell".into()),
                text: format!("used {DB_URL} with Authorization: Bearer {JWT}"),
            },
        ),
        c.rec(
            441_600,
            Event::Warning {
                step: None,
                message: format!("token={JWT}"),
            },
        ),
    ];
    for (i, r) in planted.into_iter().enumerate() {
        v.insert(at + i, r);
    }
    for r in &mut v {
        match &mut r.event {
            Event::StepStarted {
                step,
                inputs,
                action,
                ..
            } if step.as_str() == "shell" => {
                inputs.insert("DATABASE_URL".into(), json!(DB_URL));
                inputs.insert("db_password".into(), json!(DB_PASSWORD));
                action.push_str(&format!(" --dsn {DB_URL}"));
            }
            Event::StepCompleted {
                step,
                output: Some(o),
                ..
            } if step.as_str() == "shell" => {
                o.stdout = format!("connecting to {DB_URL}\naccess_token: {JWT}\n");
            }
            Event::ProbeObserved {
                step, observation, ..
            } if step.as_str() == "read" => {
                observation.value["connection"] = json!({ "url": DB_URL, "token": JWT });
                observation.summary = format!("1 row via {DB_URL}");
            }
            Event::StepCompleted { step, captures, .. } if step.as_str() == "read" => {
                captures.insert("dsn".into(), json!(DB_URL));
            }
            Event::DrillJudged { report, .. } => {
                report["checks"][0]["evidence"] = json!(format!("checked with {JWT}"));
            }
            _ => {}
        }
    }
    v
}

/// Writes `records` into a new journal in `dir` with the real writer.
pub fn write_journal(dir: &Path, records: &[Record]) {
    let mut j = Journal::create(dir).expect("create the journal");
    for r in records {
        j.append(&r.encode()).expect("append a record");
    }
}

/// A fixture incident holding `records`.
pub fn incident_with(records: &[Record]) -> Fixture {
    let f = incident_dir();
    write_journal(&f.dir, records);
    f
}

/// The realistic drill incident.
pub fn drill_incident() -> Fixture {
    incident_with(&drill_records())
}

/// Every file name in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
