//! The Exchange Validator Node as its operator sees it in a Docker Compose (or Helm)
//! deployment: the validator app and participant containers, the `postgres-splice` container
//! and its volume, holding the databases `validator` and `participant-0`.
//!
//! The participant's state lives in its database as the simulated participant's backup JSON
//! (table `participant_state`), and the validator app's tiny synthetic state in `validator`
//! (table `validator_state`), so that backups are real `pg_dump` files and restores real
//! `pg_restore` runs. Restoring the participant database also restores the simulated
//! participant from the state in it; it reconnects (and reassigns offsets) when started.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use tokio_postgres::Client;

use super::db::{PARTICIPANT_DB, VALIDATOR_DB};
use super::dumps::{PgTools, dump_name, rewrite_creation_time};
use super::error::SandboxError;
use super::participant::{Availability, Backup, CatchUp, RunningParticipant};
use super::scenario::BackupOrder;
use super::truth::{Fact, Truth};

/// The containers and the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodeState {
    /// The validator app and the participant run.
    running: bool,
    /// The postgres-splice container runs.
    postgres: bool,
    /// The volume was removed and the participant database not restored since.
    wiped: bool,
}

/// The two dumps of one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFiles {
    pub validator: PathBuf,
    pub participant: PathBuf,
}

/// The validator node.
pub struct ValidatorNode {
    participant: RunningParticipant,
    base: tokio_postgres::Config,
    tools: PgTools,
    catch_up: CatchUp,
    truth: Arc<Truth>,
    state: tokio::sync::Mutex<NodeState>,
}

fn sql(what: &str) -> impl FnOnce(tokio_postgres::Error) -> SandboxError + '_ {
    move |source| SandboxError::Sql {
        what: format!("validator node: {what}"),
        source,
    }
}

/// Quotes an identifier (the database names contain '-').
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl ValidatorNode {
    /// The node around a running participant; `base` connects as the cluster's superuser.
    pub fn new(
        participant: RunningParticipant,
        base: tokio_postgres::Config,
        tools: PgTools,
        catch_up: CatchUp,
        truth: Arc<Truth>,
    ) -> ValidatorNode {
        ValidatorNode {
            participant,
            base,
            tools,
            catch_up,
            truth,
            state: tokio::sync::Mutex::new(NodeState {
                running: true,
                postgres: true,
                wiped: false,
            }),
        }
    }

    async fn connect(&self, db: &str) -> Result<Client, SandboxError> {
        let mut config = self.base.clone();
        config.dbname(db);
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(SandboxError::sql(format!("connecting to database {db}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Creates the node's tables and saves the initial state.
    pub async fn init(&self) -> Result<(), SandboxError> {
        self.create_tables().await?;
        self.save_validator_state().await?;
        self.save_participant_state().await
    }

    async fn create_tables(&self) -> Result<(), SandboxError> {
        self.connect(VALIDATOR_DB)
            .await?
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS validator_state (
                     key        text PRIMARY KEY,
                     value      text NOT NULL,
                     updated_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await
            .map_err(sql("creating validator_state"))?;
        self.connect(PARTICIPANT_DB)
            .await?
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS participant_state (
                     singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                     participant_id text NOT NULL,
                     backup         text NOT NULL,
                     saved_at       timestamptz NOT NULL
                 )",
            )
            .await
            .map_err(sql("creating participant_state"))
    }

    /// The validator app's synthetic state, as of now.
    async fn save_validator_state(&self) -> Result<(), SandboxError> {
        let client = self.connect(VALIDATOR_DB).await?;
        let rows = [
            (
                "participant_id",
                self.participant.participant_id().to_string(),
            ),
            (
                "synchronizer_id",
                self.participant.synchronizer_id().to_string(),
            ),
            (
                "treasury_party",
                self.participant.treasury_party().to_string(),
            ),
            ("migration_id", "0".to_string()),
        ];
        for (k, v) in rows {
            client
                .execute(
                    "INSERT INTO validator_state (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                    &[&k, &v],
                )
                .await
                .map_err(sql("saving the validator app's state"))?;
        }
        Ok(())
    }

    /// The participant's state, as of now, into its database.
    async fn save_participant_state(&self) -> Result<(), SandboxError> {
        let backup = self.participant.backup();
        let json = backup.to_json().map_err(|e| {
            SandboxError::Refused(format!("the participant state cannot be written: {e}"))
        })?;
        let text = String::from_utf8(json)
            .map_err(|_| SandboxError::Refused("the participant state is not UTF-8".into()))?;
        self.connect(PARTICIPANT_DB)
            .await?
            .execute(
                "INSERT INTO participant_state (singleton, participant_id, backup, saved_at)
                 VALUES (true, $1, $2, $3)
                 ON CONFLICT (singleton) DO UPDATE SET
                     participant_id = EXCLUDED.participant_id, backup = EXCLUDED.backup,
                     saved_at = EXCLUDED.saved_at",
                &[
                    &self.participant.participant_id(),
                    &text,
                    &backup.taken_at(),
                ],
            )
            .await
            .map_err(sql("saving the participant's state"))?;
        Ok(())
    }

    /// The node crashed: the participant stops answering (the disaster).
    pub async fn lose(&self) -> Result<(), SandboxError> {
        let mut s = self.state.lock().await;
        self.participant
            .set_availability(Availability::Offline)
            .await?;
        s.running = false;
        self.truth.record(Fact::WorldChanged {
            at: Utc::now(),
            what: "the validator node crashed: the participant is down".into(),
        });
        Ok(())
    }

    /// `./stop.sh`: every container stops (the participant and postgres-splice).
    pub async fn stop(&self) -> Result<String, SandboxError> {
        let mut s = self.state.lock().await;
        self.participant
            .set_availability(Availability::Offline)
            .await?;
        s.running = false;
        s.postgres = false;
        Ok("validator stopped (participant and postgres-splice)".into())
    }

    /// Helm: every validator component scaled to 0 (the database stays up).
    pub async fn scale_down(&self) -> Result<String, SandboxError> {
        let mut s = self.state.lock().await;
        self.participant
            .set_availability(Availability::Offline)
            .await?;
        s.running = false;
        Ok("validator components scaled down to 0".into())
    }

    /// `./start.sh` (or scaling back up): the participant starts from what its database holds.
    pub async fn start(&self) -> Result<String, SandboxError> {
        let mut s = self.state.lock().await;
        if s.wiped {
            return Err(SandboxError::Refused(
                "the participant database is empty since its volume was removed: restore the participant dump before starting the validator".into(),
            ));
        }
        self.participant.set_availability(Availability::Up).await?;
        s.running = true;
        s.postgres = true;
        Ok(format!(
            "validator started; the participant answers on {}",
            self.participant.ledger_url()
        ))
    }

    /// Removes the postgres-splice volume: both databases are gone.
    pub async fn volume_remove(&self) -> Result<String, SandboxError> {
        let mut s = self.state.lock().await;
        if s.running || s.postgres {
            return Err(SandboxError::Refused(
                "the volume is in use: stop the validator (and postgres-splice) first".into(),
            ));
        }
        let admin = self.connect("postgres").await?;
        for db in [VALIDATOR_DB, PARTICIPANT_DB] {
            // Each on its own: neither may run inside a transaction block.
            for statement in [
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(db)),
                format!("CREATE DATABASE {}", ident(db)),
            ] {
                admin
                    .batch_execute(&statement)
                    .await
                    .map_err(sql("re-creating a database of the removed volume"))?;
            }
        }
        s.wiped = true;
        self.truth.record(Fact::WorldChanged {
            at: Utc::now(),
            what: "the postgres-splice volume was removed".into(),
        });
        Ok("volume removed: databases validator and participant-0 are empty".into())
    }

    /// `docker compose up -d postgres-splice`.
    pub async fn postgres_start(&self) -> String {
        self.state.lock().await.postgres = true;
        "postgres-splice started".into()
    }

    /// `pg_isready` in the container.
    pub async fn postgres_ready(&self) -> bool {
        self.state.lock().await.postgres
    }

    /// Whether the validator app (and with it the participant) runs.
    pub async fn is_running(&self) -> bool {
        self.state.lock().await.running
    }

    /// `pg_dump -Fc` of one of the node's databases (`validator` or `participant-0`) into a
    /// new file in `dir`, named as the Splice backup commands name it; the state of the
    /// validator app or the participant is saved to its database first. Returns the file and
    /// when the dump was taken.
    pub async fn dump(
        &self,
        db: &str,
        dir: &Path,
    ) -> Result<(PathBuf, DateTime<Utc>), SandboxError> {
        let s = self.state.lock().await;
        if !s.postgres {
            return Err(SandboxError::Refused(
                "postgres-splice is not running: start it before taking a backup".into(),
            ));
        }
        if s.wiped {
            return Err(SandboxError::Refused(
                "the node's databases are empty since the volume was removed: there is nothing to back up".into(),
            ));
        }
        match db {
            VALIDATOR_DB => self.save_validator_state().await?,
            PARTICIPANT_DB => self.save_participant_state().await?,
            other => {
                return Err(SandboxError::Refused(format!(
                    "database {other} is not one of the validator node's"
                )));
            }
        }
        // File names have second precision: a second dump within the same second waits.
        let (path, at) = loop {
            let at = Utc::now();
            let path = dir.join(dump_name(db, at));
            if !path.exists() {
                break (path, at);
            }
            next_second().await;
        };
        self.tools.dump(db, &path).await?;
        Ok((path, at))
    }

    /// `docker compose down`.
    pub async fn compose_down(&self) -> Result<String, SandboxError> {
        let mut s = self.state.lock().await;
        self.participant
            .set_availability(Availability::Offline)
            .await?;
        s.running = false;
        s.postgres = false;
        Ok("compose project down".into())
    }

    fn require_restorable(s: &NodeState) -> Result<(), SandboxError> {
        if !s.postgres {
            return Err(SandboxError::Refused(
                "postgres-splice is not running: start it first".into(),
            ));
        }
        if s.running {
            return Err(SandboxError::Refused(
                "the validator is running: stop it before restoring its databases".into(),
            ));
        }
        Ok(())
    }

    /// Loads the validator app's dump.
    pub async fn restore_validator_db(&self, dump: &Path) -> Result<String, SandboxError> {
        let s = self.state.lock().await;
        Self::require_restorable(&s)?;
        require_file(dump)?;
        self.tools.restore(VALIDATOR_DB, dump).await?;
        self.truth.record(Fact::WorldChanged {
            at: Utc::now(),
            what: format!("database validator restored from {}", dump.display()),
        });
        Ok(format!(
            "restored database validator from {}",
            dump.display()
        ))
    }

    /// Loads the participant's dump and restores the participant from the state in it.
    pub async fn restore_participant_db(&self, dump: &Path) -> Result<String, SandboxError> {
        let mut s = self.state.lock().await;
        Self::require_restorable(&s)?;
        require_file(dump)?;
        self.tools.restore(PARTICIPANT_DB, dump).await?;
        let row = self
            .connect(PARTICIPANT_DB)
            .await?
            .query_opt("SELECT backup FROM participant_state", &[])
            .await
            .map_err(|e| {
                if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
                    SandboxError::Refused(format!(
                        "{} holds no participant state: is it the participant's dump?",
                        dump.display()
                    ))
                } else {
                    SandboxError::Sql {
                        what: "validator node: reading the restored participant state".into(),
                        source: e,
                    }
                }
            })?;
        let text: String = row.map(|r| r.get(0)).ok_or_else(|| {
            SandboxError::Refused(format!("{} holds no participant state", dump.display()))
        })?;
        let backup = Backup::from_json(text.as_bytes()).map_err(|e| {
            SandboxError::Refused(format!(
                "the participant state in {} is unreadable: {e}",
                dump.display()
            ))
        })?;
        self.participant.restore(&backup, self.catch_up)?;
        s.wiped = false;
        self.truth.record(Fact::WorldChanged {
            at: Utc::now(),
            what: format!(
                "participant restored from {} (state of {})",
                dump.display(),
                crate::value::format_timestamp(&backup.taken_at())
            ),
        });
        Ok(format!(
            "restored database participant-0 from {}; the participant's ledger end is back at offset {}",
            dump.display(),
            backup.ledger_end()
        ))
    }

    /// Takes a backup into `dir`: the validator app's dump, then (in a later second, as the
    /// header times have second precision) the participant's; or the other way round. With
    /// `age`, both dumps are made to look that much older.
    pub async fn backup(
        &self,
        dir: &Path,
        order: BackupOrder,
        age: Option<Duration>,
    ) -> Result<BackupFiles, SandboxError> {
        let _s = self.state.lock().await;
        self.save_validator_state().await?;
        let first_db = match order {
            BackupOrder::Correct => VALIDATOR_DB,
            BackupOrder::ParticipantFirst => PARTICIPANT_DB,
        };
        let second_db = if first_db == VALIDATOR_DB {
            PARTICIPANT_DB
        } else {
            VALIDATOR_DB
        };
        let mut made = Vec::new();
        for (i, db) in [first_db, second_db].into_iter().enumerate() {
            if i == 1 {
                next_second().await;
            }
            if db == PARTICIPANT_DB {
                self.save_participant_state().await?;
            }
            let at = Utc::now();
            let path = dir.join(dump_name(db, at));
            self.tools.dump(db, &path).await?;
            made.push((db, at, path));
        }
        let mut files = BackupFiles {
            validator: PathBuf::new(),
            participant: PathBuf::new(),
        };
        for (db, at, path) in made {
            let path = match age {
                Some(age) => age_dump(&path, db, at, age, dir)?,
                None => path,
            };
            if db == VALIDATOR_DB {
                files.validator = path;
            } else {
                files.participant = path;
            }
        }
        Ok(files)
    }
}

/// Moves a dump's creation time (header, name, modification time) back by `age`.
fn age_dump(
    path: &Path,
    db: &str,
    at: DateTime<Utc>,
    age: Duration,
    dir: &Path,
) -> Result<PathBuf, SandboxError> {
    let old = at - TimeDelta::from_std(age).unwrap_or(TimeDelta::days(40));
    let old = old.with_nanosecond(0).unwrap_or(old);
    rewrite_creation_time(path, old)?;
    let renamed = dir.join(dump_name(db, old));
    std::fs::rename(path, &renamed).map_err(SandboxError::io("rename", path))?;
    Ok(renamed)
}

fn require_file(path: &Path) -> Result<(), SandboxError> {
    if path.as_os_str().is_empty() {
        return Err(SandboxError::Refused("no dump file given".into()));
    }
    if !path.is_file() {
        return Err(SandboxError::Refused(format!(
            "{} is not a file",
            path.display()
        )));
    }
    Ok(())
}

/// Sleeps into the next wall-clock second.
pub(super) async fn next_second() {
    let now = Utc::now();
    let into = u64::from(now.nanosecond().min(999_999_999));
    let left = 1_000_000_000 - into;
    tokio::time::sleep(Duration::from_nanos(left + 20_000_000)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_with_dashes_are_quoted() {
        assert_eq!(ident("participant-0"), "\"participant-0\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
