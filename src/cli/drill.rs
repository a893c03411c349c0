//! `canton-dr drill`: rehearse a runbook against the built-in sandbox with a disaster already
//! happened, then judge the outcome and score it; and `canton-dr resume` of a drill.
//!
//! The sandbox runs as a child process in its own session in `<incident dir>/sandbox`, so a
//! drill killed with SIGKILL leaves its world running for `canton-dr resume`; an idle watchdog
//! ends a world nobody comes back to.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value as J;

use crate::cli::answers::Answers;
use crate::cli::exit;
use crate::cli::paths::Paths;
use crate::cli::run::{ResumeArgs, load_profile, profile_ref};
use crate::cli::session::{self, AfterRun, FrontEnd, SessionEnd, SessionSetup};
use crate::clock::{Clock, SystemClock};
use crate::engine::event::{EngineEvent, RunEnd};
use crate::engine::identity::Operator;
use crate::engine::incident::{self, Incident, NewIncident};
use crate::engine::record::{Event, Mode, Record};
use crate::engine::state::{Finish, IncidentState};
use crate::journal::{self, Journal};
use crate::runbook::Runbook;
use crate::runbook::model::StepKind;
use crate::sandbox::control::{self, Request};
use crate::sandbox::judge::Check;
use crate::sandbox::scenario::{self, Scenario};
use crate::sandbox::{SandboxInfo, score};
use crate::secret::SecretRegistry;

/// How a drill was started, kept in the incident directory for `resume`.
const DRILL_FILE: &str = "drill.json";
/// The sandbox's output, kept in the incident directory.
const SANDBOX_LOG: &str = "sandbox.log";
/// How long a sandbox may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How often a running drill tells its sandbox it is still there.
const HEARTBEAT: Duration = Duration::from_secs(20);

/// Arguments of `drill`.
#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    /// The runbook to rehearse (validator-restore, integration-db-restore, or a file)
    #[arg(required_unless_present = "list")]
    pub runbook: Option<String>,
    /// The scenario [default: the one named like the runbook]; see --list
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Line mode instead of the interactive screen
    #[arg(long)]
    pub headless: bool,
    /// Answer every question the way the scenario's procedure does (implies --headless)
    #[arg(long)]
    pub auto: bool,
    /// Answers for line mode (implies --headless)
    #[arg(long, value_name = "FILE", conflicts_with = "auto")]
    pub answers: Option<PathBuf>,
    /// Leave the sandbox running after the drill, for exploration
    #[arg(long)]
    pub keep_sandbox: bool,
    /// The sandbox stops by itself after this long without the drill ("off": never)
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub sandbox_idle_timeout: String,
    /// List the runbooks and scenarios
    #[arg(long)]
    pub list: bool,
    /// With --list: one JSON object
    #[arg(long, requires = "list")]
    pub json: bool,
    /// No colours on screen (also: NO_COLOR)
    #[arg(long)]
    pub no_color: bool,
}

/// `drill.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DrillFile {
    scenario: String,
    auto: bool,
    keep_sandbox: bool,
}

/// The verdict and report, once journaled.
type Judged = Arc<Mutex<Option<(String, J)>>>;

/// Runs `drill`.
pub async fn run(
    args: &DrillArgs,
    paths: &Paths,
    operator: Operator,
    registry: SecretRegistry,
) -> color_eyre::Result<u8> {
    if args.list {
        return Ok(list(args.json, paths));
    }
    let Some(name) = args.runbook.as_deref() else {
        eprintln!("canton-dr: name the runbook to rehearse, or use --list");
        return Ok(exit::USAGE);
    };
    if let Err(e) = crate::cli::sandbox::idle_timeout(&args.sandbox_idle_timeout) {
        eprintln!("canton-dr: {e}");
        return Ok(exit::USAGE);
    }
    let headless = args.headless || args.auto || args.answers.is_some();
    let no_color = args.no_color || session::no_color_env();
    // Decided before anything starts: a drill without a terminal needs --headless.
    let front = match session::front_end(headless, args.answers.as_deref(), no_color) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "canton-dr: {e} (add --auto to let canton-dr answer as the scenario's procedure does)"
            );
            return Ok(exit::USAGE);
        }
    };
    let runbook =
        match crate::cli::run::runbook_to_start(name, paths, "drill a runbook that includes it") {
            Ok(runbook) => runbook,
            Err(code) => return Ok(code),
        };
    let scenario = match scenario::for_runbook(&runbook.id, args.scenario.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };

    let id = incident::new_id(&runbook.id, SystemClock.now());
    let dir = match journal::create_incident_dir(&paths.incidents(), &id) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::FAILED);
        }
    };
    let drill_file = DrillFile {
        scenario: scenario.name.clone(),
        auto: args.auto,
        keep_sandbox: args.keep_sandbox,
    };
    if let Err(e) = write_drill_file(&dir, &drill_file) {
        eprintln!("canton-dr: {e}");
        return Ok(exit::FAILED);
    }
    let sandbox_dir = dir.join("sandbox");
    eprintln!(
        "canton-dr: drill {id}: starting the sandbox for scenario {} ({})",
        scenario.name, scenario.title
    );
    let mut child = match spawn_sandbox(&dir, &sandbox_dir, &scenario, args, paths) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::FAILED);
        }
    };
    let info = match wait_ready(&mut child, &dir, &sandbox_dir).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            let _ = std::fs::remove_dir_all(&sandbox_dir);
            return Ok(exit::FAILED);
        }
    };
    eprintln!(
        "canton-dr: the sandbox is ready in {:.1}s (pid {}, {})",
        info.ready_ms as f64 / 1000.0,
        info.pid,
        sandbox_dir.display()
    );
    let mut child = Some(child);
    let started = start_incident(
        &runbook, &scenario, &info, &dir, &id, paths, &operator, &registry,
    );
    let (incident, loaded) = match started {
        Ok(x) => x,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            stop_sandbox(&sandbox_dir, &info, child.as_mut()).await;
            return Ok(exit::FAILED);
        }
    };
    let front = match (front, args.auto) {
        (FrontEnd::Headless { .. }, true) => match auto_answers(&scenario, &info, &runbook) {
            Ok(answers) => FrontEnd::Headless { answers },
            Err(e) => {
                eprintln!("canton-dr: {e}");
                stop_sandbox(&sandbox_dir, &info, child.as_mut()).await;
                return Ok(exit::FAILED);
            }
        },
        (FrontEnd::Tui { no_color, .. }, _) => FrontEnd::Tui {
            no_color,
            drill_hints: drill_hints(&scenario, &info, &runbook),
        },
        (f, _) => f,
    };
    if matches!(front, FrontEnd::Headless { .. }) {
        eprintln!("{}", briefing(&scenario, &info));
    }
    let judged: Judged = Arc::new(Mutex::new(None));
    let end = drive(
        incident,
        loaded,
        front,
        &operator,
        registry,
        &sandbox_dir,
        &judged,
    )
    .await?;
    Ok(conclude(
        &end,
        &judged,
        &info,
        &sandbox_dir,
        args.keep_sandbox,
        child.as_mut(),
        headless,
    )
    .await)
}

/// Creates the incident (mode DRILL) in `dir` with the sandbox's profile, and journals the
/// briefing.
#[allow(clippy::too_many_arguments)]
fn start_incident(
    runbook: &Runbook,
    scenario: &Scenario,
    info: &SandboxInfo,
    dir: &Path,
    id: &str,
    paths: &Paths,
    operator: &Operator,
    registry: &SecretRegistry,
) -> Result<(Incident, crate::cli::run::LoadedProfile), String> {
    let loaded = load_profile(&info.profile, runbook, registry)?;
    let params = loaded
        .profile
        .param_values(runbook)
        .map_err(|e| format!("{}: {e}", info.profile.display()))?;
    let mut incident = Incident::create_in(
        dir.to_path_buf(),
        id.to_string(),
        NewIncident {
            root: &paths.incidents(),
            runbook,
            profile: Some(profile_ref(&loaded.profile)),
            mode: Mode::Drill,
            operator,
            clock: &SystemClock,
            params,
        },
    )
    .map_err(|e| e.to_string())?;
    journal_note(&mut incident, operator, briefing(scenario, info))?;
    Ok((incident, loaded))
}

/// What the operator is told at the start.
fn briefing(scenario: &Scenario, info: &SandboxInfo) -> String {
    let mut text = format!(
        "Drill scenario {}: {}\n{}",
        scenario.name, scenario.title, scenario.description
    );
    if !info.backups.is_empty() {
        text.push_str("\nBackups:");
        for (what, path) in &info.backups {
            text.push_str(&format!("\n  {what}: {}", path.display()));
        }
    }
    text.push_str(&format!(
        "\nThe sandbox: {} (profile {})",
        info.dir.display(),
        info.profile.display()
    ));
    text
}

/// Appends an operator note to a freshly opened incident.
fn journal_note(incident: &mut Incident, operator: &Operator, text: String) -> Result<(), String> {
    let record = Record {
        ts: Utc::now(),
        mono_ms: incident.state.last_mono_ms,
        user: operator.user.clone(),
        operator: operator.name.clone(),
        host: operator.host.clone(),
        event: Event::NoteAdded { step: None, text },
    };
    let ack = incident
        .journal
        .append(&record.encode())
        .map_err(|e| e.to_string())?;
    incident
        .state
        .apply(ack.seq, &record)
        .map_err(|e| e.to_string())
}

/// The `--auto` answers: the scenario's, with the sandbox's backup paths filled in, and every
/// command step left in doubt by a crash run again (the sandbox's commands can be repeated).
fn auto_answers(
    scenario: &Scenario,
    info: &SandboxInfo,
    runbook: &Runbook,
) -> Result<Answers, String> {
    let mut values = std::collections::BTreeMap::new();
    for (what, key) in [
        ("validator", "validator_dump"),
        ("participant", "participant_dump"),
        ("integration", "integration_backup"),
    ] {
        if let Some(p) = info.backups.get(what) {
            values.insert(key.to_string(), p.display().to_string());
        }
    }
    let text = scenario.answers_text(&values).map_err(|e| e.to_string())?;
    let mut answers = Answers::parse(&text)
        .map_err(|e| format!("scenario {}: its answers: {e}", scenario.name))?;
    for step in &runbook.steps {
        if matches!(step.kind, StepKind::Command(_)) {
            answers
                .steps
                .entry(step.id.clone())
                .or_default()
                .in_doubt
                .get_or_insert_with(|| "rerun".to_string());
        }
    }
    Ok(answers)
}

/// What the interactive screen fills into an input step's dialog: the sandbox's files the
/// scenario's correct procedure enters (the backup dumps an operator would find on their own
/// backup storage, not in a sandbox directory). Decisions (yes or no) are left to the operator.
/// Nothing when the scenario's answers cannot be read; the drill then runs without hints.
fn drill_hints(
    scenario: &Scenario,
    info: &SandboxInfo,
    runbook: &Runbook,
) -> std::collections::BTreeMap<String, String> {
    let Ok(answers) = auto_answers(scenario, info, runbook) else {
        return Default::default();
    };
    runbook
        .steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Input { .. }))
        .filter_map(|s| {
            let value = answers.steps.get(&s.id)?.value.clone()?;
            std::path::Path::new(&value)
                .is_file()
                .then(|| (s.id.clone(), value))
        })
        .collect()
}

/// Runs the session with the judge as its after-run hook and a heartbeat to the sandbox.
async fn drive(
    incident: Incident,
    loaded: crate::cli::run::LoadedProfile,
    front: FrontEnd,
    operator: &Operator,
    registry: SecretRegistry,
    sandbox_dir: &Path,
    judged: &Judged,
) -> color_eyre::Result<SessionEnd> {
    let heartbeat = {
        let dir = sandbox_dir.to_path_buf();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                let _ = control::call(
                    &dir,
                    &Request::new("sandbox", "ping"),
                    Duration::from_secs(5),
                )
                .await;
            }
        })
    };
    let after = judge_hook(
        incident.dir.clone(),
        sandbox_dir.to_path_buf(),
        operator.clone(),
        Arc::clone(judged),
    );
    let end = session::run(
        incident,
        SessionSetup {
            operator: operator.clone(),
            profile: Some(loaded.profile),
            secrets: loaded.secrets,
            registry,
            front,
            probes: None,
            after: Some(after),
        },
    )
    .await;
    heartbeat.abort();
    end
}

fn judge_hook(dir: PathBuf, sandbox_dir: PathBuf, operator: Operator, judged: Judged) -> AfterRun {
    Box::new(move |end| {
        Box::pin(async move {
            if end != RunEnd::Completed {
                return Vec::new();
            }
            match judge_and_record(&dir, &sandbox_dir, &operator).await {
                Ok((verdict, report, events)) => {
                    *judged.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some((verdict, report));
                    events
                }
                Err(e) => {
                    eprintln!("canton-dr: the drill could not be judged: {e}");
                    Vec::new()
                }
            }
        })
    })
}

/// Asks the sandbox's judge, scores the finished incident from its journal, and journals the
/// verdict (the incident is still locked by this session).
async fn judge_and_record(
    dir: &Path,
    sandbox_dir: &Path,
    operator: &Operator,
) -> Result<(String, J, Vec<EngineEvent>), String> {
    let torn = |r: &journal::TornRepair| {
        Record {
            ts: Utc::now(),
            mono_ms: 0,
            user: operator.user.clone(),
            operator: operator.name.clone(),
            host: operator.host.clone(),
            event: Event::Recovery {
                kind: "torn_tail".into(),
                truncated_bytes: r.truncated_bytes,
                sha256_of_removed_bytes: r.sha256_of_removed_bytes.clone(),
                quarantine: r.quarantine_path.display().to_string(),
                reason: Some("a record was half-written when the drill ended".into()),
            },
        }
        .encode()
    };
    let (mut journal, records, _) = Journal::open(dir, torn).map_err(|e| e.to_string())?;
    let state = IncidentState::replay(records.iter().map(|r| (r.seq, r.payload.as_slice())))
        .map_err(|e| e.to_string())?;
    if let Some((verdict, report)) = &state.drill {
        return Ok((verdict.clone(), report.clone(), Vec::new()));
    }
    // A backup drill's judge also searches the incident (journal, logs) for key material.
    let resp = control::call(
        sandbox_dir,
        &Request::new("sandbox", "judge").arg("SCAN", dir.display().to_string()),
        Duration::from_secs(120),
    )
    .await
    .map_err(|e| e.to_string())?;
    if resp.code != control::OK {
        return Err(resp.message);
    }
    let checks: Vec<Check> = serde_json::from_value(resp.data)
        .map_err(|e| format!("the judge's answer is unreadable: {e}"))?;
    let (verdict, report) = score::report(&checks, score::score(&state));
    let record = Record {
        ts: Utc::now(),
        mono_ms: state.last_mono_ms,
        user: operator.user.clone(),
        operator: operator.name.clone(),
        host: operator.host.clone(),
        event: Event::DrillJudged {
            verdict: verdict.clone(),
            report: report.clone(),
        },
    };
    let ack = journal
        .append(&record.encode())
        .map_err(|e| e.to_string())?;
    Ok((
        verdict,
        report,
        vec![EngineEvent::Recorded {
            seq: ack.seq,
            head: ack.head.hex(),
            record: Box::new(record),
        }],
    ))
}

/// After the session: stop the sandbox when the drill is over, print the verdict and where
/// the incident is; returns the exit code.
async fn conclude(
    end: &SessionEnd,
    judged: &Judged,
    info: &SandboxInfo,
    sandbox_dir: &Path,
    keep: bool,
    child: Option<&mut Child>,
    headless: bool,
) -> u8 {
    let id = &end.incident_id;
    match end.end {
        RunEnd::Completed | RunEnd::Aborted => {
            if keep && end.end == RunEnd::Completed {
                eprintln!(
                    "canton-dr: the sandbox keeps running in {} (stop it with `canton-dr sandbox ctl --dir {} sandbox shutdown`)",
                    sandbox_dir.display(),
                    sandbox_dir.display()
                );
            } else {
                stop_sandbox(sandbox_dir, info, child).await;
            }
        }
        _ => {
            eprintln!(
                "canton-dr: the drill's sandbox keeps running for `canton-dr resume {id}`{}; stop it with `canton-dr sandbox ctl --dir {} sandbox shutdown`",
                info.idle_timeout_secs
                    .map(|s| format!(
                        " (it stops by itself after {} idle)",
                        crate::value::format_duration(chrono::TimeDelta::seconds(s as i64))
                    ))
                    .unwrap_or_default(),
                sandbox_dir.display()
            );
            return end.exit_code;
        }
    }
    if end.end == RunEnd::Aborted {
        return end.exit_code;
    }
    let judged = judged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let code = match &judged {
        Some((verdict, report)) => {
            if headless {
                println!("{}", render_report(verdict, report));
            } else {
                eprintln!("canton-dr: drill verdict {verdict}");
            }
            if verdict == "PASS" {
                exit::OK
            } else {
                exit::FAILED
            }
        }
        None => exit::FAILED,
    };
    eprintln!(
        "canton-dr: the drill's incident is in {}; export its transcript with `canton-dr export {id} --format md` (or html, json)",
        end.incident_dir.display()
    );
    code
}

/// The verdict and report as lines for line mode.
fn render_report(verdict: &str, report: &J) -> String {
    let mut out = vec![format!("drill verdict: {verdict}")];
    for c in report["checks"].as_array().into_iter().flatten() {
        out.push(format!(
            "  {} {}: {}",
            if c["passed"].as_bool() == Some(true) {
                "PASS"
            } else {
                "FAIL"
            },
            c["name"].as_str().unwrap_or("?"),
            c["evidence"].as_str().unwrap_or("")
        ));
    }
    let s = &report["score"];
    out.push(format!(
        "score: {:.1}s of a {}s budget ({}), {} retries, {} skips",
        s["total_seconds"].as_f64().unwrap_or(0.0),
        s["budget_seconds"]
            .as_i64()
            .map_or_else(|| "—".to_string(), |b| b.to_string()),
        if s["within_budget"].as_bool() == Some(true) {
            "within budget"
        } else {
            "over budget"
        },
        s["retries"].as_u64().unwrap_or(0),
        s["skips"].as_u64().unwrap_or(0)
    ));
    for d in s["deviations"].as_array().into_iter().flatten() {
        out.push(format!("  deviation: {}", d.as_str().unwrap_or("")));
    }
    out.join("\n")
}

fn write_drill_file(dir: &Path, f: &DrillFile) -> Result<(), String> {
    let path = dir.join(DRILL_FILE);
    let text = serde_json::to_vec_pretty(f).map_err(|e| e.to_string())?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(&text)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_drill_file(dir: &Path) -> Option<DrillFile> {
    serde_json::from_slice(&std::fs::read(dir.join(DRILL_FILE)).ok()?).ok()
}

/// Starts `canton-dr sandbox up` as a child in its own session, its output in the incident
/// directory.
fn spawn_sandbox(
    incident_dir: &Path,
    sandbox_dir: &Path,
    scenario: &Scenario,
    args: &DrillArgs,
    paths: &Paths,
) -> Result<Child, String> {
    let log_path = incident_dir.join(SANDBOX_LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let err = log
        .try_clone()
        .map_err(|e| format!("cannot use {}: {e}", log_path.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find canton-dr itself: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--data-dir")
        .arg(&paths.data)
        .args(["sandbox", "up", "--dir"])
        .arg(sandbox_dir)
        .args(["--scenario", &scenario.name, "--json", "--idle-timeout"])
        .arg(&args.sandbox_idle_timeout)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err));
    #[allow(unsafe_code)]
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent; nothing
    // else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start the sandbox: {e}"))
}

fn log_tail(incident_dir: &Path) -> String {
    let text = std::fs::read_to_string(incident_dir.join(SANDBOX_LOG)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(8).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Waits for the sandbox's `sandbox.json`.
async fn wait_ready(
    child: &mut Child,
    incident_dir: &Path,
    sandbox_dir: &Path,
) -> Result<SandboxInfo, String> {
    let started = Instant::now();
    loop {
        if let Ok(info) = SandboxInfo::read(sandbox_dir) {
            return Ok(info);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the sandbox stopped before it was ready ({status}); the end of {}:\n{}",
                incident_dir.join(SANDBOX_LOG).display(),
                log_tail(incident_dir)
            ));
        }
        if started.elapsed() > READY_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the sandbox was not ready within {}s; the end of {}:\n{}",
                READY_TIMEOUT.as_secs(),
                incident_dir.join(SANDBOX_LOG).display(),
                log_tail(incident_dir)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `pid` is a live (not zombie) process.
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("X");
    !matches!(state, "Z" | "X")
}

/// Asks the sandbox to shut down and waits until its process is gone.
async fn stop_sandbox(sandbox_dir: &Path, info: &SandboxInfo, mut child: Option<&mut Child>) {
    let _ = control::call(
        sandbox_dir,
        &Request::new("sandbox", "shutdown"),
        Duration::from_secs(10),
    )
    .await;
    let started = Instant::now();
    loop {
        if let Some(c) = child.as_mut()
            && let Ok(Some(_)) = c.try_wait()
        {
            return;
        }
        if !process_alive(info.pid) {
            return;
        }
        if started.elapsed() > Duration::from_secs(90) {
            eprintln!(
                "canton-dr: the sandbox (pid {}) did not stop within 90s; it is sent SIGTERM",
                info.pid
            );
            if let Ok(pid) = i32::try_from(info.pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `resume` for a drill: reconnects to its sandbox, finishes the runbook, judges.
pub async fn resume(
    mut incident: Incident,
    args: &ResumeArgs,
    _paths: &Paths,
    operator: Operator,
    registry: SecretRegistry,
) -> color_eyre::Result<u8> {
    let sandbox_dir = incident.dir.join("sandbox");
    if let (Some(Finish::Completed), Some((verdict, report))) =
        (&incident.state.finish, &incident.state.drill)
    {
        // Finished and judged: there is nothing to resume, only the verdict to show.
        println!("{}", render_report(verdict, report));
        return Ok(if verdict == "PASS" {
            exit::OK
        } else {
            exit::FAILED
        });
    }
    let info = SandboxInfo::read(&sandbox_dir).ok();
    let alive = match &info {
        Some(i) if process_alive(i.pid) => control::call(
            &sandbox_dir,
            &Request::new("sandbox", "ping"),
            Duration::from_secs(5),
        )
        .await
        .is_ok_and(|r| r.code == control::OK),
        _ => false,
    };
    let (Some(info), true) = (info, alive) else {
        return Ok(world_lost(&mut incident, &operator, &sandbox_dir));
    };
    let drill = read_drill_file(&incident.dir);
    let runbook = incident.state.runbook.clone();
    let loaded = match load_profile(&info.profile, &runbook, &registry) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::FAILED);
        }
    };
    let headless = args.headless || args.answers.is_some();
    let no_color = args.no_color || session::no_color_env();
    let front = match session::front_end(headless, args.answers.as_deref(), no_color) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let front = match (&front, &drill) {
        (FrontEnd::Headless { .. }, Some(d)) if d.auto && args.answers.is_none() => {
            let answers = scenario::find(&d.scenario)
                .map_err(|e| e.to_string())
                .and_then(|s| auto_answers(&s, &info, &runbook));
            match answers {
                Ok(answers) => FrontEnd::Headless { answers },
                Err(e) => {
                    eprintln!("canton-dr: {e}");
                    return Ok(exit::FAILED);
                }
            }
        }
        (FrontEnd::Tui { no_color, .. }, Some(d)) => FrontEnd::Tui {
            no_color: *no_color,
            drill_hints: scenario::find(&d.scenario)
                .map(|s| drill_hints(&s, &info, &runbook))
                .unwrap_or_default(),
        },
        _ => front,
    };
    eprintln!(
        "canton-dr: resuming drill {} ({} records) against its sandbox (pid {}, {})",
        incident.id,
        incident.state.records,
        info.pid,
        sandbox_dir.display()
    );
    let judged: Judged = Arc::new(Mutex::new(None));
    let keep = drill.as_ref().is_some_and(|d| d.keep_sandbox);
    let end = drive(
        incident,
        loaded,
        front,
        &operator,
        registry,
        &sandbox_dir,
        &judged,
    )
    .await?;
    Ok(conclude(&end, &judged, &info, &sandbox_dir, keep, None, headless).await)
}

/// The sandbox of a drill is gone: say so, end the incident for good, and clean up.
fn world_lost(incident: &mut Incident, operator: &Operator, sandbox_dir: &Path) -> u8 {
    eprintln!(
        "canton-dr: the drill's world is lost: the sandbox of drill {} is no longer running, so the drill cannot be resumed. Start a new drill with `canton-dr drill {}`.",
        incident.id, incident.state.runbook.id
    );
    if incident.state.finish.is_none() {
        for event in [
            Event::RunAborted {
                reason: "the drill's sandbox is gone; the drill cannot be resumed".into(),
            },
            Event::SessionEnded {
                reason: "run aborted".into(),
            },
        ] {
            let record = Record {
                ts: Utc::now(),
                mono_ms: incident.state.last_mono_ms,
                user: operator.user.clone(),
                operator: operator.name.clone(),
                host: operator.host.clone(),
                event,
            };
            if let Err(e) = incident.journal.append(&record.encode()) {
                eprintln!("canton-dr: the incident's end could not be journaled: {e}");
                break;
            }
        }
    }
    // A sandbox in a deep directory keeps its socket in a private directory of its own.
    if let Ok(socket) = std::fs::read_link(sandbox_dir.join(control::SOCKET_NAME))
        && let Some(parent) = socket.parent()
        && parent
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("canton-dr-ctl-"))
    {
        let _ = std::fs::remove_dir_all(parent);
    }
    if sandbox_dir.exists()
        && let Err(e) = std::fs::remove_dir_all(sandbox_dir)
    {
        eprintln!("canton-dr: cannot remove {}: {e}", sandbox_dir.display());
    }
    let root = crate::sandbox::pg::default_root();
    if let Err(e) = crate::sandbox::pg::PgCluster::sweep_stale(&root) {
        eprintln!(
            "canton-dr: cleaning up stale sandbox databases in {}: {e}",
            root.display()
        );
    }
    exit::FAILED
}

/// `drill --list`.
fn list(json: bool, paths: &Paths) -> u8 {
    let mut runbooks: Vec<(String, String, PathBuf, Option<i64>)> = Vec::new();
    for dir in crate::runbook::find::search_dirs(&paths.config) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            if let Ok(r) = crate::runbook::load(&f)
                && !r.fragment
                && !runbooks.iter().any(|(id, ..)| *id == r.id)
            {
                runbooks.push((
                    r.id.clone(),
                    r.title.clone(),
                    f,
                    r.recovery_budget.map(|b| b.num_seconds()),
                ));
            }
        }
    }
    let scenarios = match scenario::shipped() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return exit::FAILED;
        }
    };
    if json {
        let out = serde_json::json!({
            "runbooks": runbooks.iter().map(|(id, title, path, budget)| serde_json::json!({
                "id": id, "title": title, "path": path, "budget_seconds": budget,
            })).collect::<Vec<_>>(),
            "scenarios": scenarios.iter().map(|s| serde_json::json!({
                "name": s.name, "runbook": s.runbook, "title": s.title,
                "expect": s.expect.describe(),
                "default": s.name == s.runbook,
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
        return exit::OK;
    }
    let mut out = String::from("Runbooks:\n");
    for (id, title, _, budget) in &runbooks {
        out.push_str(&format!(
            "  {id:<26} {title}{}\n",
            budget
                .map(|b| format!(
                    " (budget {})",
                    crate::value::format_duration(chrono::TimeDelta::seconds(b))
                ))
                .unwrap_or_default()
        ));
    }
    out.push_str("\nScenarios (canton-dr drill RUNBOOK --scenario NAME):\n");
    for s in &scenarios {
        out.push_str(&format!(
            "  {:<26} {:<24} {}{} — expect {}\n",
            s.name,
            s.runbook,
            s.title,
            if s.name == s.runbook {
                " (default)"
            } else {
                ""
            },
            s.expect.describe()
        ));
    }
    print!("{out}");
    exit::OK
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn info(backups: &[(&str, &str)]) -> SandboxInfo {
        SandboxInfo {
            pid: 1,
            dir: "/s".into(),
            scenario: None,
            ledger_api: String::new(),
            admin_api: String::new(),
            database_url: String::new(),
            profile: "/s/profile.toml".into(),
            control_socket: "/s/control.sock".into(),
            dar_dir: "/s/dars".into(),
            backups: backups
                .iter()
                .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
                .collect(),
            secret_store: "/s/secret-store".into(),
            backup_destination: "/s/backup-destination".into(),
            synchronizer_id: String::new(),
            treasury_party: String::new(),
            pg_dir: "/p".into(),
            started_at: Utc::now(),
            ready_ms: 0,
            scenario_wait_ms: 0,
            idle_timeout_secs: None,
        }
    }

    #[test]
    fn auto_answers_fill_the_backups_and_rerun_commands_in_doubt() {
        let scenario = scenario::find("validator-restore").unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/validator-restore.toml");
        let runbook = crate::runbook::load(&path).unwrap();
        let i = info(&[
            ("validator", "/b/validator-x.dump"),
            ("participant", "/b/participant-0-x.dump"),
        ]);
        let a = auto_answers(&scenario, &i, &runbook).unwrap();
        assert_eq!(
            a.steps["validator-dump"].value.as_deref(),
            Some("/b/validator-x.dump")
        );
        assert_eq!(
            a.steps["participant-dump"].value.as_deref(),
            Some("/b/participant-0-x.dump")
        );
        assert_eq!(a.steps["stop-ingestion"].in_doubt.as_deref(), Some("rerun"));
        assert_eq!(
            a.steps["restore-compose.remove-volume"].typed.as_deref(),
            Some("restore-compose.remove-volume")
        );
        let err = auto_answers(&scenario, &info(&[]), &runbook).unwrap_err();
        assert!(err.contains("_dump}") && err.contains("no value"), "{err}");
    }

    #[test]
    fn the_screen_is_given_the_backup_files_but_no_decision() {
        let scenario = scenario::find("validator-restore").unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/validator-restore.toml");
        let runbook = crate::runbook::load(&path).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let validator = dir.path().join("validator-x.dump");
        std::fs::write(&validator, b"PGDMP").unwrap();
        let missing = dir.path().join("participant-0-x.dump");
        let i = info(&[
            ("validator", validator.to_str().unwrap()),
            ("participant", missing.to_str().unwrap()),
        ]);
        let hints = drill_hints(&scenario, &i, &runbook);
        // The scenario also answers the record-times question: that stays the operator's
        // call. A dump that is not there is not offered.
        assert_eq!(
            hints,
            [("validator-dump".to_owned(), validator.display().to_string())].into()
        );
        assert!(drill_hints(&scenario, &info(&[]), &runbook).is_empty());
    }

    #[test]
    fn the_report_reads_as_lines() {
        let report = serde_json::json!({
            "verdict": "FAIL",
            "checks": [{"name": "no-gap", "passed": false, "evidence": "2 missing"}],
            "score": {"total_seconds": 12.5, "budget_seconds": 2700, "within_budget": true,
                      "steps": [], "retries": 1, "skips": 1, "deviations": ["skipped step x: y"]}
        });
        let text = render_report("FAIL", &report);
        assert!(text.contains("FAIL no-gap: 2 missing"), "{text}");
        assert!(
            text.contains("12.5s of a 2700s budget (within budget), 1 retries, 1 skips"),
            "{text}"
        );
        assert!(text.contains("deviation: skipped step x: y"), "{text}");
    }
}
