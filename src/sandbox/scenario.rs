//! Scenarios: declarative files (`assets/scenarios/*.toml`, embedded in the binary) that say
//! which runbook a drill rehearses, how the simulated world behaves, which disaster has
//! happened (with which faults), what the correct procedure answers, and what the judge must
//! conclude.
//!
//! Scenario clocks are in seconds: a ttl of `"6s"` stands for the hours a real exchange uses,
//! so that a whole drill takes well under a minute.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Every scenario shipped with canton-dr: (file name, text).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "validator-restore.toml",
        include_str!("../../assets/scenarios/validator-restore.toml"),
    ),
    (
        "non-unique-record-times.toml",
        include_str!("../../assets/scenarios/non-unique-record-times.toml"),
    ),
    (
        "slow-catch-up.toml",
        include_str!("../../assets/scenarios/slow-catch-up.toml"),
    ),
    (
        "extra-missing-dar.toml",
        include_str!("../../assets/scenarios/extra-missing-dar.toml"),
    ),
    (
        "old-backup.toml",
        include_str!("../../assets/scenarios/old-backup.toml"),
    ),
    (
        "backups-wrong-order.toml",
        include_str!("../../assets/scenarios/backups-wrong-order.toml"),
    ),
    (
        "ingestion-restarted-early.toml",
        include_str!("../../assets/scenarios/ingestion-restarted-early.toml"),
    ),
    (
        "integration-db-restore.toml",
        include_str!("../../assets/scenarios/integration-db-restore.toml"),
    ),
    (
        "withdrawals-enabled-early.toml",
        include_str!("../../assets/scenarios/withdrawals-enabled-early.toml"),
    ),
    (
        "validator-backup.toml",
        include_str!("../../assets/scenarios/validator-backup.toml"),
    ),
    (
        "backup-participant-first.toml",
        include_str!("../../assets/scenarios/backup-participant-first.toml"),
    ),
];

/// Placeholders the answers of a scenario may use; the drill fills them in.
pub const PLACEHOLDERS: &[&str] = &[
    "scenario",
    "validator_dump",
    "participant_dump",
    "integration_backup",
];

/// Why a scenario cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario file {file}: {message}")]
    Invalid { file: String, message: String },
    #[error("no scenario '{name}'; the scenarios are: {known}")]
    Unknown { name: String, known: String },
    #[error("scenario '{scenario}' rehearses runbook '{expected}', not '{given}'")]
    WrongRunbook {
        scenario: String,
        expected: String,
        given: String,
    },
    #[error("no scenario rehearses runbook '{0}'")]
    NoneForRunbook(String),
    #[error("scenario '{scenario}': the answers use {{{placeholder}}}, which has no value here")]
    Placeholder {
        scenario: String,
        placeholder: String,
    },
}

/// One scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The name a drill is started with (`--scenario NAME`).
    pub name: String,
    /// The id of the runbook it rehearses.
    pub runbook: String,
    /// One line for lists.
    pub title: String,
    /// What happened and what the operator must do, for the briefing.
    pub description: String,
    /// What the drill must end in.
    pub expect: Expectation,
    pub world: WorldSettings,
    pub disaster: Disaster,
    /// The `--auto` answers: an answers file (see `canton-dr run --answers`), with
    /// `{placeholders}` for what is only known once the sandbox runs.
    pub answers: toml::Table,
}

/// What a drill of the scenario must end in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// The runbook completes and the judge says PASS.
    Pass,
    /// The runbook completes and the judge says FAIL, with at least this check failing.
    Fail { check: String },
    /// The run stops at this step (a check that catches the fault), before anything changes.
    StopsAt { step: String },
}

impl Expectation {
    /// Words for lists: `PASS`, `FAIL (no-gap)`, `stops at check-dump-order`.
    pub fn describe(&self) -> String {
        match self {
            Expectation::Pass => "PASS".into(),
            Expectation::Fail { check } => format!("FAIL ({check})"),
            Expectation::StopsAt { step } => format!("stops at {step}"),
        }
    }
}

/// How the simulated world behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldSettings {
    /// Seeds identifiers and amounts.
    pub seed: u64,
    /// The Canton version the participant reports (and whose API rules it follows).
    pub canton_version: String,
    /// How often the synchronizer sequences and the participant processes.
    pub tick: Duration,
    /// One customer deposit per this much time.
    pub deposit_every: Duration,
    /// Deposits already on the ledger when the sandbox starts.
    pub initial_deposits: u32,
    /// Distinct depositing customers.
    pub customers: u32,
    /// The exchange's internal systems request one withdrawal per this much time (while
    /// withdrawals are enabled).
    pub withdrawal_every: Duration,
    /// trecTgt = request time + ttl.
    pub ttl: Duration,
    /// Time between the Withdrawal Automation submitting a transfer and the synchronizer
    /// sequencing it: how long a withdrawal is in flight on Canton.
    pub inflight_latency: Duration,
    /// How fast a restored participant catches up: `None` at once, else record-time seconds
    /// per second.
    pub catch_up_rate: Option<f64>,
    /// The synchronizer's ledger time record time tolerance.
    pub tolerance: Duration,
    /// Topology transactions a restored participant emits when it reconnects.
    pub reconnect_topology_transactions: u32,
    /// Groups of deposits sharing one record time (as after an ACS import).
    pub shared_record_times: Option<SharedGroups>,
    /// The site's backup retention: the backup job deletes dumps older than this.
    pub retention: Duration,
}

/// Deposit groups with a shared record time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedGroups {
    pub every: Duration,
    pub size: u32,
}

impl Default for WorldSettings {
    fn default() -> Self {
        WorldSettings {
            seed: 1,
            canton_version: "3.4.9".into(),
            tick: Duration::from_millis(200),
            deposit_every: Duration::from_millis(500),
            initial_deposits: 24,
            customers: 8,
            withdrawal_every: Duration::from_millis(800),
            ttl: Duration::from_secs(6),
            inflight_latency: Duration::from_millis(600),
            catch_up_rate: None,
            tolerance: Duration::from_secs(2),
            reconnect_topology_transactions: 1,
            shared_record_times: None,
            retention: Duration::from_secs(86_400),
        }
    }
}

/// Which disaster has happened when the drill begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisasterKind {
    /// The validator node is lost; its databases must be restored from a backup.
    ValidatorRestore,
    /// The Integration DB's data is lost; it must be restored from a backup.
    IntegrationDbRestore,
    /// Nothing is lost: the operator takes the validator node's backup (identities and both
    /// databases), uploads it and applies the retention.
    ValidatorBackup,
}

/// Which of a backup's two dumps was taken first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupOrder {
    /// The validator app's database strictly before the participant's, as Splice requires.
    Correct,
    /// The participant's first: not a consistent backup.
    ParticipantFirst,
}

/// The disaster and its faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Disaster {
    pub kind: DisasterKind,
    /// The world runs this long before the backup.
    pub warmup: Duration,
    /// The world runs this long between the backup and the loss.
    pub after_backup: Duration,
    /// For a restore, the order of the backup's dumps; for a backup drill, the order in which
    /// the site's dump commands really dump (participant first: a misconfigured backup job).
    pub backup_order: BackupOrder,
    /// The dumps' creation times are moved back by this much (an old backup).
    pub backup_age: Option<Duration>,
    /// Backup drills: a backup this old is already local and at the destination when the
    /// drill begins (the retention must delete it).
    pub previous_backup_age: Option<Duration>,
    /// DARs (`name-version`) uploaded after the backup: the restored participant lacks them.
    pub dars_after_backup: Vec<String>,
    /// Participant-local topology transactions after the backup (party allocations): lost by
    /// the restore, so later offsets shift down.
    pub local_updates_after_backup: u32,
    /// Just before the loss, a group of deposits sharing one record time is sequenced and
    /// ingestion stops after ingesting only the first of them.
    pub split_shared_record_time: bool,
}

// ---- the file format --------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    runbook: String,
    title: String,
    description: String,
    expect: RawExpect,
    #[serde(default)]
    world: RawWorld,
    disaster: RawDisaster,
    answers: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    verdict: Option<String>,
    failing_check: Option<String>,
    stops_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorld {
    seed: Option<u64>,
    canton_version: Option<String>,
    tick: Option<String>,
    deposit_every: Option<String>,
    initial_deposits: Option<u32>,
    customers: Option<u32>,
    withdrawal_every: Option<String>,
    ttl: Option<String>,
    inflight_latency: Option<String>,
    catch_up: Option<toml::Value>,
    tolerance: Option<String>,
    reconnect_topology_transactions: Option<u32>,
    shared_record_times: Option<RawGroups>,
    retention: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroups {
    every: String,
    size: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisaster {
    kind: String,
    warmup: Option<String>,
    after_backup: Option<String>,
    backup_order: Option<String>,
    backup_age: Option<String>,
    previous_backup_age: Option<String>,
    #[serde(default)]
    dars_after_backup: Vec<String>,
    #[serde(default)]
    local_updates_after_backup: u32,
    #[serde(default)]
    split_shared_record_time: bool,
}

fn duration(field: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| {
        format!("{field} = \"{text}\" is not a duration (e.g. \"500ms\", \"6s\", \"40d\"): {e}")
    })
}

fn opt_duration(field: &str, text: Option<&String>, default: Duration) -> Result<Duration, String> {
    text.map_or(Ok(default), |t| duration(field, t))
}

impl Scenario {
    /// Parses a scenario file's text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            file: file.to_string(),
            message,
        };
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            invalid(match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            })
        })?;
        Scenario::from_raw(raw).map_err(invalid)
    }

    fn from_raw(raw: RawScenario) -> Result<Scenario, String> {
        if raw.name.is_empty()
            || !raw
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "name '{}' must be lowercase letters, digits and '-'",
                raw.name
            ));
        }
        let expect = match (
            raw.expect.verdict.as_deref(),
            raw.expect.failing_check,
            raw.expect.stops_at,
        ) {
            (Some("PASS"), None, None) => Expectation::Pass,
            (Some("FAIL"), Some(check), None) => Expectation::Fail { check },
            (None, None, Some(step)) => Expectation::StopsAt { step },
            _ => {
                return Err("expect must be { verdict = \"PASS\" }, { verdict = \"FAIL\", failing_check = \"…\" } or { stops_at = \"step-id\" }".into());
            }
        };
        let w = raw.world;
        let d = WorldSettings::default();
        let catch_up_rate = match w.catch_up {
            None => None,
            Some(toml::Value::String(s)) if s == "instant" => None,
            Some(toml::Value::Float(r)) if r > 0.0 => Some(r),
            Some(toml::Value::Integer(r)) if r > 0 => Some(r as f64),
            Some(other) => {
                return Err(format!(
                    "world.catch_up = {other} must be \"instant\" or a positive rate (record-time seconds per second)"
                ));
            }
        };
        let shared_record_times = match w.shared_record_times {
            None => None,
            Some(g) => {
                if g.size < 2 {
                    return Err("world.shared_record_times.size must be at least 2".into());
                }
                Some(SharedGroups {
                    every: duration("world.shared_record_times.every", &g.every)?,
                    size: g.size,
                })
            }
        };
        let world = WorldSettings {
            seed: w.seed.unwrap_or(d.seed),
            canton_version: w.canton_version.unwrap_or(d.canton_version),
            tick: opt_duration("world.tick", w.tick.as_ref(), d.tick)?,
            deposit_every: opt_duration(
                "world.deposit_every",
                w.deposit_every.as_ref(),
                d.deposit_every,
            )?,
            initial_deposits: w.initial_deposits.unwrap_or(d.initial_deposits),
            customers: w.customers.unwrap_or(d.customers).max(1),
            withdrawal_every: opt_duration(
                "world.withdrawal_every",
                w.withdrawal_every.as_ref(),
                d.withdrawal_every,
            )?,
            ttl: opt_duration("world.ttl", w.ttl.as_ref(), d.ttl)?,
            inflight_latency: opt_duration(
                "world.inflight_latency",
                w.inflight_latency.as_ref(),
                d.inflight_latency,
            )?,
            catch_up_rate,
            tolerance: opt_duration("world.tolerance", w.tolerance.as_ref(), d.tolerance)?,
            reconnect_topology_transactions: w
                .reconnect_topology_transactions
                .unwrap_or(d.reconnect_topology_transactions),
            shared_record_times,
            retention: opt_duration("world.retention", w.retention.as_ref(), d.retention)?,
        };
        if world.tick.is_zero() || world.deposit_every.is_zero() || world.withdrawal_every.is_zero()
        {
            return Err("world.tick, deposit_every and withdrawal_every must be positive".into());
        }
        if world.ttl < Duration::from_secs(1) {
            return Err("world.ttl must be at least 1s".into());
        }
        let r = raw.disaster;
        let kind = match r.kind.as_str() {
            "validator-restore" => DisasterKind::ValidatorRestore,
            "integration-db-restore" => DisasterKind::IntegrationDbRestore,
            "validator-backup" => DisasterKind::ValidatorBackup,
            other => {
                return Err(format!(
                    "disaster.kind '{other}' is not validator-restore, integration-db-restore or validator-backup"
                ));
            }
        };
        let backup_order = match r.backup_order.as_deref() {
            None | Some("correct") => BackupOrder::Correct,
            Some("participant-first") => BackupOrder::ParticipantFirst,
            Some(other) => {
                return Err(format!(
                    "disaster.backup_order '{other}' is not \"correct\" or \"participant-first\""
                ));
            }
        };
        for dar in &r.dars_after_backup {
            if split_dar_name(dar).is_none() {
                return Err(format!(
                    "disaster.dars_after_backup: '{dar}' is not name-version (e.g. exchange-token-usdx-1.0.0)"
                ));
            }
        }
        if r.split_shared_record_time && kind != DisasterKind::ValidatorRestore {
            return Err(
                "disaster.split_shared_record_time only applies to validator-restore".into(),
            );
        }
        if kind == DisasterKind::ValidatorBackup {
            if r.backup_age.is_some()
                || !r.dars_after_backup.is_empty()
                || r.local_updates_after_backup > 0
            {
                return Err("disaster.backup_age, dars_after_backup and local_updates_after_backup do not apply to validator-backup (its backup is taken during the drill; see previous_backup_age)".into());
            }
        } else if r.previous_backup_age.is_some() {
            return Err("disaster.previous_backup_age only applies to validator-backup".into());
        }
        let disaster = Disaster {
            kind,
            warmup: opt_duration("disaster.warmup", r.warmup.as_ref(), Duration::from_secs(2))?,
            after_backup: opt_duration(
                "disaster.after_backup",
                r.after_backup.as_ref(),
                Duration::from_secs(2),
            )?,
            backup_order,
            backup_age: r
                .backup_age
                .as_ref()
                .map(|a| duration("disaster.backup_age", a))
                .transpose()?,
            previous_backup_age: r
                .previous_backup_age
                .as_ref()
                .map(|a| duration("disaster.previous_backup_age", a))
                .transpose()?,
            dars_after_backup: r.dars_after_backup,
            local_updates_after_backup: r.local_updates_after_backup,
            split_shared_record_time: r.split_shared_record_time,
        };
        let scenario = Scenario {
            name: raw.name,
            runbook: raw.runbook,
            title: raw.title,
            description: raw.description.trim().to_string(),
            expect,
            world,
            disaster,
            answers: raw.answers,
        };
        scenario.check_placeholders()?;
        Ok(scenario)
    }

    /// Every placeholder the answers use is a known one.
    fn check_placeholders(&self) -> Result<(), String> {
        let mut used = Vec::new();
        collect_placeholders(&toml::Value::Table(self.answers.clone()), &mut used);
        for p in used {
            if !PLACEHOLDERS.contains(&p.as_str()) {
                return Err(format!(
                    "the answers use {{{p}}}; known placeholders: {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The answers as the text of an answers file, with the placeholders filled in.
    pub fn answers_text(&self, values: &BTreeMap<String, String>) -> Result<String, ScenarioError> {
        let mut all = values.clone();
        all.insert("scenario".into(), self.name.clone());
        let filled = fill(&toml::Value::Table(self.answers.clone()), &all).map_err(|p| {
            ScenarioError::Placeholder {
                scenario: self.name.clone(),
                placeholder: p,
            }
        })?;
        toml::to_string(&filled).map_err(|e| ScenarioError::Invalid {
            file: self.name.clone(),
            message: format!("the answers cannot be written back: {e}"),
        })
    }
}

/// Splits `exchange-token-usdx-1.0.0` into (`exchange-token-usdx`, `1.0.0`).
pub fn split_dar_name(full: &str) -> Option<(&str, &str)> {
    let (name, version) = full.rsplit_once('-')?;
    let ok = !name.is_empty()
        && !version.is_empty()
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some((name, version))
}

fn placeholders_in(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    out.push(name.to_string());
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

fn collect_placeholders(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.extend(placeholders_in(s)),
        toml::Value::Array(a) => a.iter().for_each(|x| collect_placeholders(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| collect_placeholders(x, out)),
        _ => {}
    }
}

/// Replaces `{name}` in every string; the error names a placeholder without a value.
fn fill(v: &toml::Value, values: &BTreeMap<String, String>) -> Result<toml::Value, String> {
    Ok(match v {
        toml::Value::String(s) => {
            let mut text = s.clone();
            for p in placeholders_in(s) {
                let value = values.get(&p).ok_or_else(|| p.clone())?;
                text = text.replace(&format!("{{{p}}}"), value);
            }
            toml::Value::String(text)
        }
        toml::Value::Array(a) => toml::Value::Array(
            a.iter()
                .map(|x| fill(x, values))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => {
            let mut out = toml::Table::new();
            for (k, x) in t {
                out.insert(k.clone(), fill(x, values)?);
            }
            toml::Value::Table(out)
        }
        other => other.clone(),
    })
}

/// Every shipped scenario, in the order of [`SHIPPED`].
pub fn shipped() -> Result<Vec<Scenario>, ScenarioError> {
    SHIPPED
        .iter()
        .map(|(file, text)| Scenario::parse(file, text))
        .collect()
}

/// A shipped scenario by name.
pub fn find(name: &str) -> Result<Scenario, ScenarioError> {
    let all = shipped()?;
    let known = all
        .iter()
        .map(|s| s.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    all.into_iter()
        .find(|s| s.name == name)
        .ok_or(ScenarioError::Unknown {
            name: name.to_string(),
            known,
        })
}

/// The scenario a drill of `runbook` uses: `name` if given (it must rehearse that runbook),
/// else the scenario named like the runbook.
pub fn for_runbook(runbook: &str, name: Option<&str>) -> Result<Scenario, ScenarioError> {
    match name {
        Some(n) => {
            let s = find(n)?;
            if s.runbook != runbook {
                return Err(ScenarioError::WrongRunbook {
                    scenario: s.name,
                    expected: s.runbook,
                    given: runbook.to_string(),
                });
            }
            Ok(s)
        }
        None => shipped()?
            .into_iter()
            .find(|s| s.name == runbook && s.runbook == runbook)
            .ok_or_else(|| ScenarioError::NoneForRunbook(runbook.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
runbook = "validator-restore"
title = "t"
description = "d"
expect = { verdict = "PASS" }
[disaster]
kind = "validator-restore"
[answers.steps.a]
value = "{validator_dump}"
"#;

    #[test]
    fn every_shipped_scenario_parses_and_names_a_shipped_runbook() {
        let all = shipped().unwrap();
        assert_eq!(all.len(), SHIPPED.len());
        let mut names = std::collections::BTreeSet::new();
        for s in &all {
            assert!(
                names.insert(s.name.clone()),
                "duplicate scenario {}",
                s.name
            );
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("runbooks")
                .join(format!("{}.toml", s.runbook));
            assert!(path.is_file(), "{}: no runbook {}", s.name, s.runbook);
        }
        for runbook in [
            "validator-restore",
            "integration-db-restore",
            "validator-backup",
        ] {
            assert_eq!(for_runbook(runbook, None).unwrap().name, runbook);
        }
    }

    #[test]
    fn defaults_fill_the_world_and_the_disaster() {
        let s = Scenario::parse("t.toml", MINIMAL).unwrap();
        assert_eq!(s.world, WorldSettings::default());
        assert_eq!(s.disaster.kind, DisasterKind::ValidatorRestore);
        assert_eq!(s.disaster.backup_order, BackupOrder::Correct);
        assert_eq!(s.expect, Expectation::Pass);
    }

    #[test]
    fn answers_are_filled_in_and_unknown_placeholders_refused() {
        let s = Scenario::parse("t.toml", MINIMAL).unwrap();
        let mut values = BTreeMap::new();
        values.insert(
            "validator_dump".to_string(),
            "/x/validator.dump".to_string(),
        );
        let text = s.answers_text(&values).unwrap();
        assert!(text.contains("/x/validator.dump"), "{text}");
        let err = s.answers_text(&BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("{validator_dump}"), "{err}");

        let bad = MINIMAL.replace("{validator_dump}", "{nope}");
        let err = Scenario::parse("t.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("{nope}") && err.contains("t.toml"), "{err}");
    }

    #[test]
    fn bad_settings_are_reported_with_the_field() {
        let bad = MINIMAL.replace("[disaster]", "[world]\nttl = \"soon\"\n[disaster]");
        let err = Scenario::parse("t.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("world.ttl"), "{err}");
        let bad = MINIMAL.replace(
            "expect = { verdict = \"PASS\" }",
            "expect = { verdict = \"FAIL\" }",
        );
        let err = Scenario::parse("t.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("failing_check"), "{err}");
        let bad = MINIMAL.replace("kind = \"validator-restore\"", "kind = \"meteor\"");
        let err = Scenario::parse("t.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("meteor"), "{err}");
        let bad = MINIMAL.replace("[disaster]", "[disaster]\nprevious_backup_age = \"3d\"");
        let err = Scenario::parse("t.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("only applies to validator-backup"), "{err}");
        let bad = MINIMAL.replace(
            "kind = \"validator-restore\"",
            "kind = \"validator-backup\"\nbackup_age = \"40d\"",
        );
        let err = Scenario::parse("t.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("previous_backup_age"), "{err}");
    }

    #[test]
    fn a_scenario_of_another_runbook_is_refused() {
        let err = for_runbook("integration-db-restore", Some("validator-restore"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rehearses runbook 'validator-restore'"),
            "{err}"
        );
    }

    #[test]
    fn dar_names_split_at_the_version() {
        assert_eq!(
            split_dar_name("exchange-token-usdx-1.0.0"),
            Some(("exchange-token-usdx", "1.0.0"))
        );
        assert_eq!(split_dar_name("nover"), None);
        assert_eq!(split_dar_name("x-1.a"), None);
    }
}
