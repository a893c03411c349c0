//! The TUI's terminal layer in a real pseudo-terminal: keys typed into a pty reach the
//! dialogs, commands reach the engine, and the terminal is restored on the way out — after a
//! quit and after a panic — with the farewell line printed on the normal screen. The program
//! under test is this test binary re-run in a helper role, driving `run_incident` over a
//! scripted engine (the CLI's own end-to-end flows are in `tui_e2e.rs`).

mod pty;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use canton_dr::engine::command::{EngineCommand, EngineHandle};
use canton_dr::engine::event::{EngineEvent, RunEnd, Waiting};
use canton_dr::engine::record::{EmbeddedFile, Event, Mode, Outcome, Record, RunbookRef};
use canton_dr::engine::state::IncidentState;
use canton_dr::runbook::model::Evidence;
use canton_dr::tui::{TuiOptions, run_incident};
use canton_dr::value::ValueType;
use portable_pty::CommandBuilder;
use pty::Pty;
use secrecy::ExposeSecret;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

const ROLE: &str = "CANTON_DR_TUI_TERMINAL_ROLE";
const ID: &str = "20261122-031500-basic-3f2a";
const BASIC: &str = include_str!("runbooks/valid/basic.toml");

fn rec(event: Event) -> Record {
    Record {
        ts: chrono::Utc::now(),
        mono_ms: 0,
        user: "root".into(),
        operator: "alice".into(),
        host: "dr-host".into(),
        event,
    }
}

fn state() -> IncidentState {
    let opened = rec(Event::IncidentOpened {
        incident_id: ID.into(),
        mode: Mode::Drill,
        runbook: RunbookRef {
            id: "basic".into(),
            title: "A small runbook exercising every step kind".into(),
            source: "canton-dr test corpus".into(),
            sha256: "0".repeat(64),
            files: vec![EmbeddedFile {
                name: "basic.toml".into(),
                path: "basic.toml".into(),
                text: BASIC.into(),
            }],
        },
        profile: None,
        tool_version: "0.1.0".into(),
        params: BTreeMap::new(),
    });
    IncidentState::open(1, &opened).expect("the basic runbook opens")
}

fn done(step: &str) -> Event {
    Event::StepCompleted {
        step: step.into(),
        attempt: 1,
        outcome: Outcome::Confirmed,
        duration_ms: 500,
        captures: BTreeMap::new(),
        note: None,
        evidence: None,
        exit_code: None,
        output: None,
        redactions: BTreeMap::new(),
    }
}

/// A scripted engine: confirm, enter the ttl, run the destructive `stop`, quit. Returns what
/// it was sent, one line per command.
async fn scripted_engine(
    mut commands: UnboundedReceiver<EngineCommand>,
    events: UnboundedSender<EngineEvent>,
) -> Vec<String> {
    let mut seq = 1;
    let mut record = |e: Event| {
        seq += 1;
        let _ = events.send(EngineEvent::Recorded {
            seq,
            head: format!("{seq:064x}"),
            record: Box::new(rec(e)),
        });
    };
    let _ = events.send(EngineEvent::Started {
        state: Box::new(state()),
    });
    record(Event::SessionStarted {
        pid: std::process::id(),
        resumed: false,
        tool_version: "0.1.0".into(),
    });
    let _ = events.send(EngineEvent::Waiting(Waiting::Confirm {
        step: "confirm-incident".into(),
        destructive: false,
        evidence: Evidence::Optional,
    }));
    let mut log = Vec::new();
    while let Some(cmd) = commands.recv().await {
        match cmd {
            EngineCommand::Confirm { .. } => {
                log.push("confirm".to_owned());
                record(done("confirm-incident"));
                let _ = events.send(EngineEvent::Waiting(Waiting::Input {
                    step: "ttl".into(),
                    var: "ttl".into(),
                    ty: ValueType::Duration,
                    prompt: "Withdrawal ttl".into(),
                    default: Some("48h".into()),
                }));
            }
            EngineCommand::Input { value } => {
                log.push(format!("input {}", value.expose_secret()));
                record(done("ttl"));
                let _ = events.send(EngineEvent::Waiting(Waiting::Run {
                    step: "stop".into(),
                    destructive: true,
                    preview: "ingestion_stop".into(),
                }));
            }
            EngineCommand::Run { typed } => {
                log.push(format!("run {}", typed.unwrap_or_default()));
                record(Event::StepStarted {
                    step: "stop".into(),
                    attempt: 1,
                    action: "ingestion_stop".into(),
                    action_sha256: "0".repeat(64),
                    side_effects: true,
                    inputs: BTreeMap::new(),
                });
            }
            EngineCommand::Quit => {
                log.push("quit".to_owned());
                record(Event::SessionEnded {
                    reason: "the operator quit; the incident can be resumed".into(),
                });
                let _ = events.send(EngineEvent::Finished(RunEnd::Quit));
                break;
            }
            other => log.push(format!("unexpected {other:?}")),
        }
    }
    log
}

fn session() -> i32 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (cmd_tx, cmd_rx) = unbounded_channel();
        let (ev_tx, ev_rx) = unbounded_channel();
        let engine = tokio::spawn(scripted_engine(cmd_rx, ev_tx));
        let exit = run_incident(EngineHandle::new(cmd_tx), ev_rx, TuiOptions::default()).await;
        let log = engine.await.expect("engine task");
        let want = ["confirm", "input 2h", "run stop", "quit"];
        match exit {
            Ok(e) if e.end == Some(RunEnd::Quit) && log == want => 0,
            other => {
                eprintln!("unexpected end: {other:?}, commands {log:?}");
                3
            }
        }
    })
}

fn helper(role: &str) -> ! {
    let code = match role {
        "session" => session(),
        "panic" => {
            let mut screen = canton_dr::tui::terminal::Screen::enter().expect("enter the screen");
            screen
                .terminal
                .draw(|f| f.render_widget("about to panic", f.area()))
                .expect("draw");
            panic!("deliberate panic while the screen is up");
        }
        "not-a-tty" => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let (tx, _rx_cmd) = unbounded_channel();
            let (_tx_ev, rx) = unbounded_channel();
            match rt.block_on(run_incident(
                EngineHandle::new(tx),
                rx,
                TuiOptions::default(),
            )) {
                Err(e) if format!("{e}").contains("--headless") => 0,
                other => {
                    eprintln!("unexpected: {other:?}");
                    3
                }
            }
        }
        other => {
            eprintln!("unknown role {other}");
            2
        }
    };
    std::process::exit(code)
}

fn in_pty(test: &str, role: &str) -> Pty {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = CommandBuilder::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    cmd.env(ROLE, role);
    cmd.env("RUST_BACKTRACE", "0");
    Pty::spawn(cmd, 100, 30)
}

#[test]
fn keys_reach_the_dialogs_and_quitting_restores_the_terminal() {
    if let Ok(role) = std::env::var(ROLE) {
        helper(&role);
    }
    let mut p = in_pty(
        "keys_reach_the_dialogs_and_quitting_restores_the_terminal",
        "session",
    );
    p.wait_for("NEXT");
    assert!(
        p.parser.screen().alternate_screen(),
        "the TUI uses the alternate screen"
    );
    p.send("\r");
    p.wait_for("Confirm step 'confirm-incident'");
    p.send("\r");
    p.wait_for("Enter ttl");
    p.send("2h");
    p.wait_for("reads as 2h");
    p.send("\r");
    p.wait_for("DESTRUCTIVE: you will type 'stop'");
    p.send("\r");
    p.wait_for("Run destructive step 'stop'");
    p.send("sto");
    p.wait_for("type the step id 'stop' exactly");
    p.send("p\r");
    p.wait_for("RUNNING");
    p.send("q");
    p.wait_for("quitting cancels it");
    p.send("y");
    let code = p.wait_exit();
    assert_eq!(
        code,
        0,
        "the helper checks the commands it received:\n{}",
        p.screen()
    );
    assert!(
        !p.parser.screen().alternate_screen(),
        "back on the normal screen"
    );
    assert!(p.cooked(), "line editing and echo are back");
    let screen = p.screen();
    assert!(
        screen.contains(&format!("resume with `canton-dr resume {ID}`")),
        "{screen}"
    );
}

#[test]
fn a_panic_restores_the_terminal_before_it_is_reported() {
    if let Ok(role) = std::env::var(ROLE) {
        helper(&role);
    }
    let mut p = in_pty(
        "a_panic_restores_the_terminal_before_it_is_reported",
        "panic",
    );
    let code = p.wait_exit();
    assert_ne!(code, 0);
    let raw = String::from_utf8_lossy(&p.raw).into_owned();
    let entered = raw
        .find("\x1b[?1049h")
        .expect("entered the alternate screen");
    let left = raw.rfind("\x1b[?1049l").expect("left the alternate screen");
    let reported = raw
        .find("deliberate panic while the screen is up")
        .expect("the panic is reported");
    assert!(
        entered < left && left < reported,
        "left the screen before the report"
    );
    assert!(!p.parser.screen().alternate_screen());
    assert!(p.cooked(), "line editing and echo are back");
    assert!(p.screen().contains("deliberate panic"), "{}", p.screen());
}

#[test]
fn without_a_terminal_the_screen_refuses_and_points_to_headless() {
    if let Ok(role) = std::env::var(ROLE) {
        helper(&role);
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([
            "without_a_terminal_the_screen_refuses_and_points_to_headless",
            "--exact",
            "--nocapture",
        ])
        .env(ROLE, "not-a-tty")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run the helper");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
