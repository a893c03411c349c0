//! Incidents on disk: one directory per incident under the data directory, holding the journal
//! (the only source of truth) and its lock.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::engine::identity::Operator;
use crate::engine::record::{EmbeddedFile, Event, Mode, ProfileRef, Record, RunbookRef};
use crate::engine::state::{Finish, IncidentState, ReplayError, StepStatus};
use crate::journal::{
    self, HolderInfo, IncidentLock, Journal, JournalError, LockError, OpenOutcome, StoredRecord,
};
use crate::runbook::Runbook;
use crate::value::Value;

/// An incident opened for writing: its journal, the lock that makes this process its only
/// writer, and the state replayed from the journal.
pub struct Incident {
    pub id: String,
    pub dir: PathBuf,
    pub journal: Journal,
    pub lock: IncidentLock,
    pub state: IncidentState,
    /// How the journal was found (clean, or repaired).
    pub opened: OpenOutcome,
}

/// Why an incident could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("incident {id}: {source}")]
    Replay {
        id: String,
        #[source]
        source: ReplayError,
    },
    #[error("no incident '{0}' (list them with `canton-dr incidents`)")]
    NotFound(String),
    #[error("no incident to resume in {0}")]
    NoneToResume(String),
    #[error("{0}")]
    Other(String),
}

/// Makes a new incident id: `20261122-031500-validator-restore-3f2a`.
pub fn new_id(runbook_id: &str, now: DateTime<Utc>) -> String {
    let suffix: u16 = rand::random();
    format!("{}-{runbook_id}-{suffix:04x}", now.format("%Y%m%d-%H%M%S"))
}

/// Everything needed to open a new incident.
pub struct NewIncident<'a> {
    pub root: &'a Path,
    pub runbook: &'a Runbook,
    pub profile: Option<ProfileRef>,
    pub mode: Mode,
    pub operator: &'a Operator,
    pub clock: &'a dyn Clock,
    pub params: BTreeMap<String, Value>,
}

fn holder(operator: &Operator) -> HolderInfo {
    let mut h = HolderInfo::current();
    h.user = operator.user.clone();
    h.host = operator.host.clone();
    h
}

impl Incident {
    /// Creates the incident directory and journal and records the opening.
    pub fn create(n: NewIncident<'_>) -> Result<Incident, IncidentError> {
        let id = new_id(&n.runbook.id, n.clock.now());
        let dir = journal::create_incident_dir(n.root, &id)?;
        Incident::create_in(dir, id, n)
    }

    /// Like [`Incident::create`], in a directory made beforehand with
    /// [`journal::create_incident_dir`] (a drill starts its sandbox there first).
    pub fn create_in(
        dir: PathBuf,
        id: String,
        n: NewIncident<'_>,
    ) -> Result<Incident, IncidentError> {
        let now = n.clock.now();
        let lock = IncidentLock::acquire(&dir, &holder(n.operator))?;
        let mut journal = Journal::create(&dir)?;
        let record = Record {
            ts: now,
            mono_ms: 0,
            user: n.operator.user.clone(),
            operator: n.operator.name.clone(),
            host: n.operator.host.clone(),
            event: Event::IncidentOpened {
                incident_id: id.clone(),
                mode: n.mode,
                runbook: RunbookRef {
                    id: n.runbook.id.clone(),
                    title: n.runbook.title.clone(),
                    source: n.runbook.source.clone(),
                    sha256: n.runbook.sha256.clone(),
                    files: n
                        .runbook
                        .files
                        .iter()
                        .map(|f| EmbeddedFile {
                            name: f.name.clone(),
                            path: f.path.display().to_string(),
                            text: f.text.clone(),
                        })
                        .collect(),
                },
                profile: n.profile,
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                params: n
                    .params
                    .iter()
                    .filter(|(_, v)| !v.contains_secret())
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            },
        };
        let payload = record.encode();
        if payload.len() > journal::MAX_RECORD {
            return Err(IncidentError::Other(format!(
                "the runbook and profile together are {} bytes, more than one journal record holds ({} bytes)",
                payload.len(),
                journal::MAX_RECORD
            )));
        }
        let ack = journal.append(&payload)?;
        let state =
            IncidentState::open(ack.seq, &record).map_err(|source| IncidentError::Replay {
                id: id.clone(),
                source,
            })?;
        Ok(Incident {
            id,
            dir,
            journal,
            lock,
            state,
            opened: OpenOutcome::Clean,
        })
    }

    /// Opens an existing incident for writing: takes the lock, repairs a torn tail (journaling
    /// the repair), refuses a damaged journal, and replays it.
    pub fn open(
        dir: &Path,
        operator: &Operator,
        clock: &dyn Clock,
    ) -> Result<Incident, IncidentError> {
        let id = incident_id(dir);
        if !dir.join(journal::JOURNAL_FILE).is_file() {
            return Err(IncidentError::NotFound(id));
        }
        journal::check_incident_dir(dir)?;
        let lock = IncidentLock::acquire(dir, &holder(operator))?;
        let last_mono = last_mono_ms(dir);
        let now = clock.now();
        let on_torn = |repair: &journal::TornRepair| {
            Record {
                ts: now,
                mono_ms: last_mono,
                user: operator.user.clone(),
                operator: operator.name.clone(),
                host: operator.host.clone(),
                event: Event::Recovery {
                    kind: "torn_tail".into(),
                    truncated_bytes: repair.truncated_bytes,
                    sha256_of_removed_bytes: repair.sha256_of_removed_bytes.clone(),
                    quarantine: repair.quarantine_path.display().to_string(),
                    reason: Some("a record was half-written when canton-dr last stopped".into()),
                },
            }
            .encode()
        };
        let (mut journal, mut records, opened) = Journal::open(dir, on_torn)?;
        record_interrupted_repairs(dir, &mut journal, &mut records, operator, clock, last_mono)?;
        let state = replay(&id, &records)?;
        Ok(Incident {
            id,
            dir: dir.to_path_buf(),
            journal,
            lock,
            state,
            opened,
        })
    }

    /// The operator's repair of a damaged journal: cut at `offset`, quarantine the original,
    /// journal why.
    pub fn repair(
        dir: &Path,
        offset: u64,
        reason: &str,
        operator: &Operator,
        clock: &dyn Clock,
    ) -> Result<Incident, IncidentError> {
        let id = incident_id(dir);
        let lock = IncidentLock::acquire(dir, &holder(operator))?;
        let last_mono = last_mono_ms(dir);
        let now = clock.now();
        let make = |repair: &journal::TornRepair| {
            Record {
                ts: now,
                mono_ms: last_mono,
                user: operator.user.clone(),
                operator: operator.name.clone(),
                host: operator.host.clone(),
                event: Event::Recovery {
                    kind: "operator_truncation".into(),
                    truncated_bytes: repair.truncated_bytes,
                    sha256_of_removed_bytes: repair.sha256_of_removed_bytes.clone(),
                    quarantine: repair.quarantine_path.display().to_string(),
                    reason: Some(reason.to_owned()),
                },
            }
            .encode()
        };
        let (journal, records, opened) = journal::accept_truncation(dir, offset, make)?;
        let state = replay(&id, &records)?;
        Ok(Incident {
            id,
            dir: dir.to_path_buf(),
            journal,
            lock,
            state,
            opened,
        })
    }
}

/// Appends the RECOVERY record of every repair that was cut but never recorded (a crash
/// between a repair's cut and its record), so that no repair of the journal goes unrecorded.
fn record_interrupted_repairs(
    dir: &Path,
    journal: &mut Journal,
    records: &mut Vec<StoredRecord>,
    operator: &Operator,
    clock: &dyn Clock,
    last_mono: u64,
) -> Result<(), IncidentError> {
    let known: std::collections::BTreeSet<String> = records
        .iter()
        .filter_map(|r| match Record::decode(r.seq, &r.payload) {
            Ok(Record {
                event: Event::Recovery { quarantine, .. },
                ..
            }) => Path::new(&quarantine)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    for found in journal::interrupted_repairs(dir, |name| known.contains(name))? {
        let (kind, reason) = match found.label {
            "torn" => (
                "torn_tail",
                "a record was half-written when canton-dr last stopped; the repair was \
                 interrupted before it was recorded",
            ),
            _ => (
                "operator_truncation",
                "the operator's repair was interrupted before it was recorded; its reason is \
                 not known",
            ),
        };
        let payload = Record {
            ts: clock.now(),
            mono_ms: last_mono,
            user: operator.user.clone(),
            operator: operator.name.clone(),
            host: operator.host.clone(),
            event: Event::Recovery {
                kind: kind.into(),
                truncated_bytes: found.repair.truncated_bytes,
                sha256_of_removed_bytes: found.repair.sha256_of_removed_bytes.clone(),
                quarantine: found.repair.quarantine_path.display().to_string(),
                reason: Some(reason.into()),
            },
        }
        .encode();
        let offset = journal.durable_len();
        let ack = journal.append(&payload)?;
        records.push(StoredRecord {
            seq: ack.seq,
            offset,
            payload,
            hash: ack.head.hash,
        });
    }
    Ok(())
}

/// The incident id of a directory (its name).
pub fn incident_id(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn replay(id: &str, records: &[StoredRecord]) -> Result<IncidentState, IncidentError> {
    IncidentState::replay(records.iter().map(|r| (r.seq, r.payload.as_slice()))).map_err(|source| {
        IncidentError::Replay {
            id: id.to_owned(),
            source,
        }
    })
}

/// The monotonic time of the last readable record (so a recovery record never goes back in
/// time).
fn last_mono_ms(dir: &Path) -> u64 {
    let Ok(bytes) = fs::read(dir.join(journal::JOURNAL_FILE)) else {
        return 0;
    };
    let Ok(scan) = journal::scan(&bytes) else {
        return 0;
    };
    scan.records
        .last()
        .and_then(|r| Record::decode(r.seq, &r.payload).ok())
        .map_or(0, |r| r.mono_ms)
}

/// Finds an incident directory by id, unique id prefix, or path. `None` picks the most recent
/// unfinished incident.
pub fn locate(root: &Path, wanted: Option<&str>) -> Result<PathBuf, IncidentError> {
    if let Some(w) = wanted {
        let p = PathBuf::from(w);
        if p.join(journal::JOURNAL_FILE).is_file() {
            return Ok(p);
        }
        let exact = root.join(w);
        if exact.join(journal::JOURNAL_FILE).is_file() {
            return Ok(exact);
        }
        let matches: Vec<PathBuf> = list_dirs(root)
            .into_iter()
            .filter(|d| incident_id(d).starts_with(w) || incident_id(d).contains(w))
            .collect();
        return match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(IncidentError::NotFound(w.to_owned())),
            many => Err(IncidentError::Other(format!(
                "'{w}' matches {} incidents: {}; give more of the id",
                many.len(),
                many.iter()
                    .map(|d| incident_id(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    }
    let summaries = list(root);
    summaries
        .into_iter()
        .filter(|s| s.is_unfinished())
        .max_by_key(|s| s.last_at)
        .map(|s| s.dir)
        .ok_or_else(|| IncidentError::NoneToResume(root.display().to_string()))
}

fn list_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(journal::JOURNAL_FILE).is_file())
        .collect();
    out.sort();
    out
}

/// What `incidents` and the start screen show about an incident.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub id: String,
    #[serde(skip)]
    pub dir: PathBuf,
    pub runbook: String,
    pub title: String,
    pub mode: Option<Mode>,
    pub opened_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    pub operator: String,
    /// completed, aborted, in-progress, failed, in-doubt, damaged or unreadable.
    pub status: String,
    /// A sentence: where it stands.
    pub detail: String,
    pub steps_settled: usize,
    pub steps_total: usize,
    pub records: u64,
    pub head: String,
}

impl Summary {
    /// Not completed and not aborted.
    pub fn is_unfinished(&self) -> bool {
        !matches!(self.status.as_str(), "completed" | "aborted" | "unreadable")
    }
}

/// Summaries of every incident under `root`, newest first. Reads journals without taking locks
/// and never changes anything.
pub fn list(root: &Path) -> Vec<Summary> {
    let mut out: Vec<Summary> = list_dirs(root).iter().map(|d| summarize(d)).collect();
    out.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(b.id.cmp(&a.id)));
    out
}

/// Reads one incident for display.
pub fn summarize(dir: &Path) -> Summary {
    let id = incident_id(dir);
    let mut s = Summary {
        id: id.clone(),
        dir: dir.to_path_buf(),
        runbook: String::new(),
        title: String::new(),
        mode: None,
        opened_at: None,
        last_at: None,
        operator: String::new(),
        status: "unreadable".into(),
        detail: String::new(),
        steps_settled: 0,
        steps_total: 0,
        records: 0,
        head: String::new(),
    };
    let bytes = match fs::read(dir.join(journal::JOURNAL_FILE)) {
        Ok(b) => b,
        Err(e) => {
            s.detail = format!("cannot read the journal: {e}");
            return s;
        }
    };
    let scan = match journal::scan(&bytes) {
        Ok(scan) => scan,
        Err(e) => {
            s.detail = e.to_string();
            return s;
        }
    };
    s.records = scan.records.len() as u64;
    s.head = hex::encode(&scan.head.hash[..6]);
    let state =
        match IncidentState::replay(scan.records.iter().map(|r| (r.seq, r.payload.as_slice()))) {
            Ok(st) => st,
            Err(e) => {
                s.detail = e.to_string();
                return s;
            }
        };
    s.runbook = state.runbook.id.clone();
    s.title = state.runbook.title.clone();
    s.mode = Some(state.mode);
    s.opened_at = Some(state.opened_at);
    s.last_at = Some(state.last_at);
    s.operator = state.opened_by.clone();
    s.steps_total = state.steps.len();
    s.steps_settled = state.steps.iter().filter(|x| x.status.is_settled()).count();
    let (status, detail) = match (&scan.tail, &state.finish) {
        (journal::Tail::AmbiguousBadLastFrame { .. } | journal::Tail::Corrupt { .. }, _) => (
            "damaged",
            "the journal is damaged; `canton-dr resume` explains the repair".to_owned(),
        ),
        (_, Some(Finish::Completed)) => ("completed", "every step is settled".to_owned()),
        (_, Some(Finish::Aborted(r))) => ("aborted", format!("aborted: {r}")),
        _ => {
            if !state.in_doubt().is_empty() {
                (
                    "in-doubt",
                    "a step was interrupted by a crash; resume to decide about it".to_owned(),
                )
            } else {
                match state.cursor() {
                    Some(i) => {
                        let step = &state.runbook.steps[i];
                        match &state.steps[i].status {
                            StepStatus::Failed { reason } => {
                                ("failed", format!("step '{}' failed: {reason}", step.id))
                            }
                            StepStatus::TimedOut => {
                                ("failed", format!("step '{}' timed out", step.id))
                            }
                            _ => (
                                "in-progress",
                                format!("at step {}/{}: {}", i + 1, state.steps.len(), step.title),
                            ),
                        }
                    }
                    None => (
                        "in-progress",
                        "every step is settled; resume to finish".to_owned(),
                    ),
                }
            }
        }
    };
    s.status = status.to_owned();
    s.detail = detail;
    s
}
