//! Shared helpers for engine tests: a scripted probe set, runbooks written to temp files,
//! incidents in temp data directories, and an engine driver.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canton_dr::clock::SystemClock;
use canton_dr::engine::command::{EngineCommand, EngineHandle};
use canton_dr::engine::controller::{Engine, EngineContext};
use canton_dr::engine::event::{EngineEvent, RunEnd, Waiting};
use canton_dr::engine::identity::Operator;
use canton_dr::engine::incident::{Incident, NewIncident};
use canton_dr::engine::record::{Mode, Record};
use canton_dr::engine::state::IncidentState;
use canton_dr::probe::{BoxFuture, Observed, ProbeError, ProbeRequest, Probes};
use canton_dr::profile::{Profile, ProfileSecrets};
use canton_dr::runbook::Runbook;
use tokio::sync::mpsc::UnboundedReceiver;

type Script = BTreeMap<String, VecDeque<Result<Observed, ProbeError>>>;

/// Probe results queued per probe kind; the last one repeats when the queue runs dry.
#[derive(Default, Clone)]
pub struct ScriptedProbes {
    queues: Arc<Mutex<Script>>,
    pub calls: Arc<Mutex<Vec<String>>>,
    /// Every observation (by probe kind) and every release of held connections, in order.
    pub timeline: Arc<Mutex<Vec<String>>>,
}

impl ScriptedProbes {
    pub fn push(&self, kind: &str, r: Result<Observed, ProbeError>) {
        self.queues
            .lock()
            .unwrap()
            .entry(kind.to_owned())
            .or_default()
            .push_back(r);
    }
}

impl Probes for ScriptedProbes {
    fn observe<'a>(&'a self, req: &'a ProbeRequest) -> BoxFuture<'a, Result<Observed, ProbeError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(req.display());
            self.timeline
                .lock()
                .unwrap()
                .push(req.call.kind.name.to_owned());
            let mut q = self.queues.lock().unwrap();
            let queue = q.entry(req.call.kind.name.to_owned()).or_default();
            match queue.len() {
                0 => Err(ProbeError::new(format!(
                    "no scripted result for {}",
                    req.call.kind.name
                ))),
                1 => queue.front().cloned().unwrap(),
                _ => queue.pop_front().unwrap(),
            }
        })
    }

    fn release_held(&self) {
        self.timeline.lock().unwrap().push("release".into());
    }
}

/// A temp data dir with a runbook (and optional profile) written into it.
pub struct World {
    pub dir: tempfile::TempDir,
    pub runbook: Runbook,
    pub profile: Option<Arc<Profile>>,
}

impl World {
    pub fn new(runbook_toml: &str, profile_toml: Option<&str>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let rb_path = dir.path().join("rb.toml");
        std::fs::write(&rb_path, runbook_toml).unwrap();
        let runbook = canton_dr::runbook::load(&rb_path).unwrap_or_else(|d| panic!("{d}"));
        let profile = profile_toml.map(|p| {
            let path = dir.path().join("profile.toml");
            std::fs::write(&path, p).unwrap();
            Arc::new(Profile::load(&path).unwrap_or_else(|d| panic!("{d}")))
        });
        World {
            dir,
            runbook,
            profile,
        }
    }

    pub fn incidents(&self) -> PathBuf {
        self.dir.path().join("data/incidents")
    }

    pub fn operator() -> Operator {
        Operator {
            name: "tester".into(),
            user: "tester".into(),
            host: "testhost".into(),
        }
    }

    pub fn create(&self, mode: Mode) -> Incident {
        let params = match &self.profile {
            Some(p) => p.param_values(&self.runbook).unwrap(),
            None => self
                .runbook
                .params
                .iter()
                .filter_map(|(k, p)| p.default.clone().map(|d| (k.clone(), d)))
                .collect(),
        };
        Incident::create(NewIncident {
            root: &self.incidents(),
            runbook: &self.runbook,
            profile: None,
            mode,
            operator: &World::operator(),
            clock: &SystemClock,
            params,
        })
        .unwrap()
    }

    pub fn start(&self, incident: Incident, probes: Arc<dyn Probes>) -> Driver {
        self.start_with(incident, probes, |_| {})
    }

    /// Like `start`, with a chance to change the engine's settings.
    pub fn start_with(
        &self,
        incident: Incident,
        probes: Arc<dyn Probes>,
        tweak: impl FnOnce(&mut EngineContext),
    ) -> Driver {
        let mut ctx = EngineContext::new(
            World::operator(),
            Arc::new(SystemClock),
            probes,
            incident.dir.clone(),
        );
        ctx.profile = self.profile.clone();
        ctx.secrets = Arc::new(match &self.profile {
            Some(p) => p.load_secrets().unwrap(),
            None => ProfileSecrets::default(),
        });
        ctx.kill_grace = Duration::from_millis(300);
        ctx.observe_every = Duration::from_millis(200);
        tweak(&mut ctx);
        let dir = incident.dir.clone();
        let lock = incident.lock;
        let (handle, events, task) = Engine::start(incident.state, Box::new(incident.journal), ctx);
        Driver {
            handle,
            events,
            task: Some(task),
            state: None,
            seen: Vec::new(),
            dir,
            _lock: Some(lock),
        }
    }
}

/// Drives an engine from a test.
pub struct Driver {
    pub handle: EngineHandle,
    pub events: UnboundedReceiver<EngineEvent>,
    pub task: Option<tokio::task::JoinHandle<RunEnd>>,
    /// The state folded from the events, as a front end keeps it.
    pub state: Option<IncidentState>,
    /// Every event seen, for assertions.
    pub seen: Vec<EngineEvent>,
    pub dir: PathBuf,
    _lock: Option<canton_dr::journal::IncidentLock>,
}

impl Driver {
    /// The next event (folding records into `state`), with a generous bound.
    pub async fn next(&mut self) -> EngineEvent {
        let e = tokio::time::timeout(Duration::from_secs(30), self.events.recv())
            .await
            .expect("the engine went quiet")
            .expect("the engine stopped sending");
        match &e {
            EngineEvent::Started { state } => self.state = Some((**state).clone()),
            EngineEvent::Recorded { seq, record, .. } => {
                self.state.as_mut().unwrap().apply(*seq, record).unwrap();
            }
            _ => {}
        }
        self.seen.push(e.clone());
        e
    }

    /// Skips events until the engine waits; returns what it waits for.
    pub async fn waiting(&mut self) -> Waiting {
        loop {
            match self.next().await {
                EngineEvent::Waiting(w) => return w,
                EngineEvent::Finished(end) => {
                    panic!("the engine finished ({end:?}) instead of waiting")
                }
                EngineEvent::Fatal { message } => panic!("fatal: {message}"),
                _ => {}
            }
        }
    }

    /// Skips events until a rejection, then the engine's repeated question that follows it.
    pub async fn rejected(&mut self) -> String {
        let message = loop {
            match self.next().await {
                EngineEvent::Rejected { message } => break message,
                EngineEvent::Waiting(w) => panic!("waiting for {w:?} without a rejection first"),
                EngineEvent::Finished(end) => panic!("finished ({end:?}) without a rejection"),
                _ => {}
            }
        };
        self.waiting().await;
        message
    }

    /// Runs until the engine finishes.
    pub async fn finished(&mut self) -> RunEnd {
        loop {
            if let EngineEvent::Finished(end) = self.next().await {
                return end;
            }
        }
    }

    pub fn send(&self, cmd: EngineCommand) {
        assert!(self.handle.send(cmd), "the engine has stopped");
    }

    /// Every record on disk, decoded.
    pub fn journal(&self) -> Vec<Record> {
        read_journal(&self.dir)
    }

    /// The state replayed from disk.
    pub fn replayed(&self) -> IncidentState {
        replay_dir(&self.dir)
    }
}

pub fn read_journal(dir: &Path) -> Vec<Record> {
    let bytes = std::fs::read(dir.join("journal.rbj")).unwrap();
    let scan = canton_dr::journal::scan(&bytes).unwrap();
    scan.records
        .iter()
        .map(|r| Record::decode(r.seq, &r.payload).unwrap())
        .collect()
}

pub fn replay_dir(dir: &Path) -> IncidentState {
    let bytes = std::fs::read(dir.join("journal.rbj")).unwrap();
    let scan = canton_dr::journal::scan(&bytes).unwrap();
    IncidentState::replay(scan.records.iter().map(|r| (r.seq, r.payload.as_slice()))).unwrap()
}

/// A comparable summary of a state: statuses, vars, notes, counts.
pub fn fingerprint(s: &IncidentState) -> String {
    let steps: Vec<String> = s
        .steps
        .iter()
        .zip(&s.runbook.steps)
        .map(|(st, step)| {
            format!(
                "{}={}/{}/{}",
                step.id,
                st.status.word(),
                st.attempts,
                st.observations
            )
        })
        .collect();
    let vars: Vec<String> = s
        .vars
        .iter()
        .map(|(k, v)| format!("{k}={}", v.to_json()))
        .collect();
    format!(
        "steps[{}] vars[{}] notes={} records={} finish={:?}",
        steps.join(" "),
        vars.join(" "),
        s.notes.len(),
        s.records,
        s.finish
    )
}

/// An observation with named fields.
pub fn obs(
    summary: &str,
    fields: Vec<(&str, canton_dr::value::Value)>,
) -> Result<Observed, ProbeError> {
    Ok(Observed {
        summary: summary.to_owned(),
        value: canton_dr::probe::record(fields),
    })
}
