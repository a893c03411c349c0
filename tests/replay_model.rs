//! T8: replay equals live. Random operator histories drive the real engine over a real journal;
//! at a random point the engine is killed (its task aborted mid-flight) and the incident is
//! reopened. The state rebuilt from the journal must equal the state a front end folded from the
//! acknowledged records, plus any records that were durable but not yet announced; resuming and
//! finishing must again agree with a replay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use canton_dr::engine::command::EngineCommand;
use canton_dr::engine::event::{EngineEvent, Waiting};
use canton_dr::engine::record::Mode;
use canton_dr::value::Value;
use proptest::prelude::*;
use secrecy::SecretString;
use support::{Driver, ScriptedProbes, World, fingerprint, obs};

const RUNBOOK: &str = r#"
id = "model"
title = "Model"
source = "tests"
recovery_budget = "5m"

[[step]]
id = "a"
kind = "manual"
title = "A"

[[step]]
id = "n"
kind = "input"
title = "N"
var = "n"
type = "integer"
expect = "value >= 0"

[[step]]
id = "end"
kind = "check"
title = "Ledger end"
probe = { kind = "canton.ledger_end" }
expect = "value.offset > vars.n"
capture = { end = "value.offset" }

[[step]]
id = "gate"
kind = "gate"
title = "Gate"
expect = "vars.n < 50"

[[step]]
id = "b"
kind = "manual"
title = "B"

[[step]]
id = "run"
kind = "command"
title = "Run"
argv = ["true"]
timeout = "10s"
"#;

/// One operator move.
#[derive(Debug, Clone)]
enum Move {
    Confirm,
    InputValid(u8),
    InputInvalid,
    Note,
    Skip,
    SkipTyped,
    Retry,
    Run,
}

fn moves() -> impl Strategy<Value = Move> {
    prop_oneof![
        3 => Just(Move::Confirm),
        2 => (0u8..100).prop_map(Move::InputValid),
        1 => Just(Move::InputInvalid),
        1 => Just(Move::Note),
        1 => Just(Move::Skip),
        1 => Just(Move::SkipTyped),
        2 => Just(Move::Retry),
        2 => Just(Move::Run),
    ]
}

fn command_for(m: &Move, w: &Waiting) -> EngineCommand {
    let step = w.step().unwrap_or_default().to_owned();
    match m {
        Move::Confirm => EngineCommand::Confirm {
            note: Some("ok".into()),
            evidence: None,
            typed: None,
        },
        Move::InputValid(n) => EngineCommand::Input {
            value: SecretString::from(n.to_string()),
        },
        Move::InputInvalid => EngineCommand::Input {
            value: SecretString::from("not a number".to_owned()),
        },
        Move::Note => EngineCommand::Note {
            text: "a note".into(),
            step: None,
        },
        Move::Skip => EngineCommand::Skip {
            reason: "model skip".into(),
            typed: None,
        },
        Move::SkipTyped => EngineCommand::Skip {
            reason: "model override".into(),
            typed: Some(step),
        },
        Move::Retry => EngineCommand::Retry,
        Move::Run => EngineCommand::Run { typed: None },
    }
}

/// Plays moves until the engine finishes, the moves run out, or `crash_after` moves were made.
async fn play(d: &mut Driver, moves: &[Move], crash_after: Option<usize>) -> bool {
    let mut i = 0;
    loop {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), d.events.recv())
            .await
            .expect("the engine went quiet while a move was expected");
        let Some(e) = e else { return true };
        match &e {
            EngineEvent::Started { state } => d.state = Some((**state).clone()),
            EngineEvent::Recorded { seq, record, .. } => {
                d.state.as_mut().unwrap().apply(*seq, record).unwrap()
            }
            _ => {}
        }
        match e {
            EngineEvent::Waiting(w) => loop {
                if crash_after == Some(i) || i >= moves.len() {
                    return false;
                }
                let m = &moves[i];
                d.send(command_for(m, &w));
                i += 1;
                // A note is journaled without a new question; keep answering the same one.
                if !matches!(m, Move::Note) {
                    break;
                }
            },
            EngineEvent::Finished(_) => return true,
            _ => {}
        }
    }
}

fn check_history(script: Vec<(bool, u8)>, first: Vec<Move>, crash_at: usize, second: Vec<Move>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let w = World::new(RUNBOOK, None);
        let probes = ScriptedProbes::default();
        for (ok, off) in &script {
            if *ok {
                probes.push(
                    "canton.ledger_end",
                    obs("end", vec![("offset", Value::Offset(i64::from(*off)))]),
                );
            } else {
                probes.push(
                    "canton.ledger_end",
                    Err(canton_dr::probe::ProbeError::new("participant unreachable")),
                );
            }
        }
        let incident = w.create(Mode::Live);
        let dir = incident.dir.clone();
        let mut d = w.start(incident, Arc::new(probes.clone()));
        let finished = play(&mut d, &first, Some(crash_at)).await;
        if !finished {
            // Kill the engine mid-flight, as a crash would.
            if let Some(t) = d.task.take() {
                t.abort();
                let _ = t.await;
            }
        }
        let live = d.state.clone().unwrap();
        let acked = live.records;
        drop(d);

        // Recovery: the acknowledged records plus possibly some durable, unannounced ones.
        let incident = canton_dr::engine::incident::Incident::open(
            &dir,
            &World::operator(),
            &canton_dr::clock::SystemClock,
        )
        .unwrap();
        let recovered = incident.state.clone();
        assert!(
            recovered.records >= acked,
            "recovered {} < acknowledged {acked}",
            recovered.records
        );
        let records = support::read_journal(&dir);
        let mut expected = live.clone();
        for (k, r) in records.iter().enumerate().skip(acked as usize) {
            expected.apply(k as u64, r).unwrap();
        }
        assert_eq!(fingerprint(&recovered), fingerprint(&expected));
        if std::env::var_os("MODEL_DEBUG").is_some() {
            eprintln!(
                "acked {acked} recovered {} finished {finished} -> {}",
                recovered.records,
                fingerprint(&recovered)
            );
        }

        // Resume and finish; the live fold and the replay agree again.
        if recovered.finish.is_none() {
            let mut d = w.start(incident, Arc::new(probes));
            // The moves may have finished the runbook, and then the engine has already stopped.
            if !play(&mut d, &second, None).await {
                d.send(EngineCommand::Quit);
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), async {
                while let Some(e) = d.events.recv().await {
                    match &e {
                        EngineEvent::Recorded { seq, record, .. } => {
                            d.state.as_mut().unwrap().apply(*seq, record).unwrap()
                        }
                        EngineEvent::Finished(_) => break,
                        _ => {}
                    }
                }
            })
            .await;
            if let Some(t) = d.task.take() {
                let _ = t.await;
            }
            let live = d.state.clone().unwrap();
            assert_eq!(fingerprint(&support::replay_dir(&dir)), fingerprint(&live));
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replay_equals_live(
        script in proptest::collection::vec((any::<bool>(), 0u8..120), 1..5),
        first in proptest::collection::vec(moves(), 0..14),
        crash_at in 0usize..14,
        second in proptest::collection::vec(moves(), 0..14),
    ) {
        check_history(script, first, crash_at, second);
    }
}
