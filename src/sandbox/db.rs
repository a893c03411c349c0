//! The Integration DB as the simulated components see it: connections as the superuser, a gate
//! that a restore closes while it replaces the database, and a generation number every restore
//! increments so that components holding state from before re-read it.

use std::sync::Arc;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, watch};
use tokio_postgres::Client;

use super::error::SandboxError;

/// The Integration DB's database name in the sandbox cluster.
pub const INTEGRATION_DB: &str = "integration";
/// The validator app's database (Splice's `validator`).
pub const VALIDATOR_DB: &str = "validator";
/// The participant's database (Splice compose: `participant-<migration id>`).
pub const PARTICIPANT_DB: &str = "participant-0";
/// The instrument admin recorded for treasury holdings.
pub const INSTRUMENT_ADMIN: &str = "DSO";

/// Shared access to the Integration DB.
#[derive(Clone)]
pub struct IntegrationDb {
    config: tokio_postgres::Config,
    gate: Arc<RwLock<()>>,
    generation: Arc<watch::Sender<u64>>,
}

impl IntegrationDb {
    /// Access through `config` (the superuser on the integration database).
    pub fn new(config: tokio_postgres::Config) -> IntegrationDb {
        IntegrationDb {
            config,
            gate: Arc::new(RwLock::new(())),
            generation: Arc::new(watch::channel(0).0),
        }
    }

    /// A new connection; the connection task runs on the current runtime.
    pub async fn connect(&self) -> Result<Client, SandboxError> {
        let (client, connection) = self
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(SandboxError::sql("connecting to the Integration DB"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "an Integration DB connection of the sandbox ended");
            }
        });
        Ok(client)
    }

    /// Held around one unit of work; waits while a restore runs.
    pub async fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().await
    }

    /// Held by a restore: waits for running units of work, blocks new ones.
    pub async fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().await
    }

    /// Watches the restore generation.
    pub fn generation(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Marks the database as replaced.
    pub fn bump_generation(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

/// A connection that is made on first use and again after it broke.
pub struct Conn {
    db: IntegrationDb,
    client: Option<Client>,
}

impl Conn {
    /// No connection yet.
    pub fn new(db: IntegrationDb) -> Conn {
        Conn { db, client: None }
    }

    /// The connection, reconnecting if needed.
    pub async fn get(&mut self) -> Result<&mut Client, SandboxError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.db.connect().await?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| SandboxError::Refused("no Integration DB connection".into()))
    }

    /// Drops the connection (after an error), so the next use reconnects.
    pub fn reset(&mut self) {
        self.client = None;
    }
}
