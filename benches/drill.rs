//! Drill benchmarks (a plain harness: one drill takes seconds, far too long for criterion's
//! sampling).
//!
//! - sandbox start to ready: `canton-dr sandbox up --json` until its JSON line (cluster,
//!   schema, participant, ingestion; no scenario);
//! - a full `--auto` drill of each disaster and of the backup, its wall time split into the sandbox's start,
//!   waiting on the scenario (the world running before the disaster, and the runbook's wait
//!   steps polling until the world gets there) and the tool's own overhead (everything else:
//!   engine, journal, probes, commands, judge, shutdown).
//!
//! `cargo bench --bench drill`; `CANTON_DR_BENCH_RUNS` sets the runs per measurement (3).

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use canton_dr::engine::state::IncidentState;
use canton_dr::runbook::model::StepKind;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_canton-dr")
}

fn runs() -> usize {
    std::env::var("CANTON_DR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn summary(name: &str, values: &mut [f64]) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    println!(
        "{name:<44} median {median:>6.2}s  min {:>6.2}s  max {:>6.2}s  ({} runs)",
        values[0],
        values[values.len() - 1],
        values.len()
    );
}

fn sandbox_start() -> Option<f64> {
    let data = tempfile::tempdir().ok()?;
    let dir = data.path().join("s");
    let started = Instant::now();
    let mut child = Command::new(bin())
        .arg("--data-dir")
        .arg(data.path())
        .args(["sandbox", "up", "--json", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let ready = started.elapsed();
    let _ = Command::new(bin())
        .args(["sandbox", "ctl", "--dir"])
        .arg(&dir)
        .args(["sandbox", "shutdown"])
        .output();
    let _ = child.wait();
    (!line.is_empty()).then(|| secs(ready))
}

struct DrillTimes {
    wall: f64,
    sandbox_start: f64,
    scenario_wait: f64,
    overhead: f64,
}

fn drill(runbook: &str) -> Option<DrillTimes> {
    let data = tempfile::tempdir().ok()?;
    let started = Instant::now();
    let out = Command::new(bin())
        .arg("--data-dir")
        .arg(data.path())
        .args(["drill", runbook, "--auto"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let wall = secs(started.elapsed());
    if !out.status.success() {
        eprintln!(
            "drill {runbook} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let incident = std::fs::read_dir(data.path().join("incidents"))
        .ok()?
        .next()?
        .ok()?
        .path();
    let info = sandbox_json(&incident)?;
    let ready = info["ready_ms"].as_f64()? / 1000.0;
    let setup_wait = info["scenario_wait_ms"].as_f64()? / 1000.0;
    let bytes = std::fs::read(incident.join("journal.rbj")).ok()?;
    let scan = canton_dr::journal::scan(&bytes).ok()?;
    let state =
        IncidentState::replay(scan.records.iter().map(|r| (r.seq, r.payload.as_slice()))).ok()?;
    let waits: f64 = state
        .runbook
        .steps
        .iter()
        .zip(&state.steps)
        .filter(|(step, _)| matches!(step.kind, StepKind::Wait { .. } | StepKind::Gate { .. }))
        .map(|(_, st)| st.duration_ms as f64 / 1000.0)
        .sum();
    let scenario_wait = setup_wait + waits;
    Some(DrillTimes {
        wall,
        sandbox_start: ready - setup_wait,
        scenario_wait,
        overhead: wall - scenario_wait - (ready - setup_wait),
    })
}

fn sandbox_json(incident: &Path) -> Option<serde_json::Value> {
    let log = std::fs::read_to_string(incident.join("sandbox.log")).ok()?;
    serde_json::from_str(log.lines().find(|l| l.starts_with('{'))?).ok()
}

fn main() {
    let n = runs();
    let mut starts: Vec<f64> = (0..n).filter_map(|_| sandbox_start()).collect();
    if starts.is_empty() {
        eprintln!("the sandbox could not start; is PostgreSQL installed?");
        std::process::exit(1);
    }
    summary("sandbox start to ready (no scenario)", &mut starts);
    for runbook in [
        "validator-restore",
        "integration-db-restore",
        "validator-backup",
    ] {
        let times: Vec<DrillTimes> = (0..n).filter_map(|_| drill(runbook)).collect();
        if times.is_empty() {
            continue;
        }
        let col = |f: fn(&DrillTimes) -> f64| times.iter().map(f).collect::<Vec<_>>();
        summary(
            &format!("drill {runbook} --auto: wall time"),
            &mut col(|t| t.wall),
        );
        summary(
            "  of which sandbox start (cluster, participant, backup)",
            &mut col(|t| t.sandbox_start),
        );
        summary(
            "  of which waiting on the scenario",
            &mut col(|t| t.scenario_wait),
        );
        summary(
            "  of which canton-dr's own overhead",
            &mut col(|t| t.overhead),
        );
    }
}
