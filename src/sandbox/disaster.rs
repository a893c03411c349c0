//! Applying a scenario's disaster to a freshly started sandbox: let the world run, take the
//! backup (with its faults), let the world run on, and lose the validator node or the
//! Integration DB's data. A backup drill loses nothing: its world only gets an earlier backup
//! for the retention to delete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::backup_job::BackupJob;
use super::db::{INTEGRATION_DB, IntegrationDb};
use super::dumps::{PgTools, dump_name};
use super::error::SandboxError;
use super::ingestion::Ingestion;
use super::participant::RunningParticipant;
use super::participant::darsim::{PackageSpec, build_dar};
use super::scenario::{Disaster, DisasterKind, split_dar_name};
use super::truth::{Fact, Truth};
use super::validator::ValidatorNode;

/// The deposits in the group whose record time ingestion stops in the middle of.
const SPLIT_GROUP: u32 = 3;

/// The world the disaster acts on.
pub struct World<'a> {
    pub participant: &'a RunningParticipant,
    pub node: &'a ValidatorNode,
    pub ingestion: &'a Ingestion,
    pub db: &'a IntegrationDb,
    pub truth: &'a Truth,
    pub backups_dir: PathBuf,
    pub tools: &'a PgTools,
    pub job: &'a BackupJob,
}

/// Backs the Integration DB up (`pg_dump -Fc`) into `dir`; returns the file.
pub async fn integration_backup(tools: &PgTools, dir: &Path) -> Result<PathBuf, SandboxError> {
    let path = dir.join(dump_name(INTEGRATION_DB, Utc::now()));
    tools.dump(INTEGRATION_DB, &path).await?;
    Ok(path)
}

/// What the disaster left behind.
#[derive(Debug, Clone, Default)]
pub struct Aftermath {
    pub backups: BTreeMap<String, PathBuf>,
    /// Time spent letting the world run.
    pub waited: Duration,
}

/// The DAR a scenario uploads after the backup.
pub fn dar_after_backup(full: &str) -> Result<super::participant::SyntheticDar, SandboxError> {
    let (name, version) = split_dar_name(full)
        .ok_or_else(|| SandboxError::Refused(format!("'{full}' is not name-version")))?;
    build_dar(&PackageSpec::new(name, version), &[])
        .map_err(|e| SandboxError::Refused(e.to_string()))
}

async fn let_run(d: Duration, waited: &mut Duration) {
    tokio::time::sleep(d).await;
    *waited += d;
}

/// Applies `disaster`.
pub async fn apply(w: &World<'_>, disaster: &Disaster) -> Result<Aftermath, SandboxError> {
    let mut after = Aftermath::default();
    let_run(disaster.warmup, &mut after.waited).await;
    match disaster.kind {
        DisasterKind::ValidatorRestore => {
            let files = w
                .node
                .backup(&w.backups_dir, disaster.backup_order, disaster.backup_age)
                .await?;
            after.backups.insert("validator".into(), files.validator);
            after
                .backups
                .insert("participant".into(), files.participant);
            for full in &disaster.dars_after_backup {
                w.participant.upload_dar(&dar_after_backup(full)?.bytes)?;
            }
            if disaster.local_updates_after_backup > 0 {
                w.participant
                    .local_topology_transactions(disaster.local_updates_after_backup);
            }
            let_run(disaster.after_backup, &mut after.waited).await;
            if disaster.split_shared_record_time {
                split_group(w, &mut after.waited).await?;
            }
            w.node.lose().await?;
        }
        DisasterKind::IntegrationDbRestore => {
            let path = integration_backup(w.tools, &w.backups_dir).await?;
            after.backups.insert("integration".into(), path);
            let_run(disaster.after_backup, &mut after.waited).await;
            lose_integration_data(w).await?;
        }
        DisasterKind::ValidatorBackup => {
            if let Some(age) = disaster.previous_backup_age {
                let earlier = w.job.seed_previous(w.node, age).await?;
                after
                    .backups
                    .insert("earlier-validator".into(), earlier.validator);
                after
                    .backups
                    .insert("earlier-participant".into(), earlier.participant);
            }
        }
    }
    Ok(after)
}

/// Sequences deposits sharing one record time and lets ingestion stop right after the first.
async fn split_group(w: &World<'_>, waited: &mut Duration) -> Result<(), SandboxError> {
    let ids = w.participant.sequence_deposits(SPLIT_GROUP, true);
    let first = ids
        .first()
        .cloned()
        .ok_or_else(|| SandboxError::Refused("no deposit was sequenced".into()))?;
    w.ingestion.halt_after(first.clone());
    let started = Instant::now();
    while w.ingestion.is_running().await {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(SandboxError::Refused(format!(
                "ingestion did not reach update {first} within 60s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    *waited += started.elapsed();
    w.truth.record(Fact::WorldChanged {
        at: Utc::now(),
        what: format!(
            "ingestion stopped after the first of {SPLIT_GROUP} transactions sharing one record time ({first})"
        ),
    });
    Ok(())
}

/// A faulty maintenance job deletes the Integration DB's data (its ingestion state survives).
async fn lose_integration_data(w: &World<'_>) -> Result<(), SandboxError> {
    let _gate = w.db.exclusive().await;
    let client = w.db.connect().await?;
    client
        .batch_execute(
            "TRUNCATE integration.holding_reservations, integration.customer_ledger,
                      integration.withdrawals, integration.holdings,
                      integration.ingested_transactions",
        )
        .await
        .map_err(SandboxError::sql("deleting the Integration DB's data"))?;
    w.truth.record(Fact::WorldChanged {
        at: Utc::now(),
        what: "the Integration DB's holdings, withdrawals, reservations and customer ledger were deleted".into(),
    });
    Ok(())
}
