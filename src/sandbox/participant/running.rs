//! A started participant: the tick task, both gRPC servers, and the Rust API the rest of the
//! sandbox uses (scenarios, the simulated Withdrawal Automation, the judge).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::config::{Availability, CatchUp, ParticipantConfig};
use super::darread::read_dar;
use super::darsim::{DarWriteError, exchange_treasury_dar, exchange_treasury_package_id};
use super::node::Backup;
use super::packages::{DarPackage, PackageInfo};
use super::server::{self, ServerHandle};
use super::synchronizer::{Rejection, SubmitWithdrawal, TreasuryTx};
use super::treasury::Holding;
use super::world::{Pulse, SubmissionOutcome, World};
use crate::dar::DarError;

/// Why the participant could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    #[error("cannot listen on {addr} for the {api}: {source}")]
    Bind {
        api: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the participant is down (availability {0:?})")]
    Unavailable(Availability),
    #[error("the DAR was refused: {0}")]
    Dar(#[from] DarError),
    #[error(transparent)]
    DarWrite(#[from] DarWriteError),
    #[error(
        "the backup is of synchronizer {backup}, but this participant is connected to {current}"
    )]
    BackupMismatch { backup: String, current: String },
    #[error("the backup cannot be restored: {0}")]
    InvalidBackup(String),
    #[error("withdrawal {withdrawal_id} was not submitted: {reason}")]
    InvalidSubmission {
        withdrawal_id: String,
        reason: String,
    },
    #[error("the participant has shut down")]
    Stopped,
}

/// State shared by the tick task, the servers and the handles.
pub(crate) struct Shared {
    world: Mutex<World>,
    pulse: watch::Sender<Pulse>,
    pub(crate) config: ParticipantConfig,
    /// The package id of the treasury templates.
    pub(crate) package_id: String,
    pub(crate) synchronizer_id: String,
    pub(crate) treasury: String,
    pub(crate) participant_id: String,
    /// When the participant started (the synchronizer parameters are valid from then).
    pub(crate) started_at: DateTime<Utc>,
}

impl Shared {
    /// The simulation, locked. A poisoned lock is taken over: every mutation of the world
    /// leaves it consistent between statements that could panic.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes stream followers if anything they watch changed.
    pub(crate) fn publish(&self) {
        let pulse = self.world().pulse();
        self.pulse.send_if_modified(|p| {
            let changed = *p != pulse;
            *p = pulse;
            changed
        });
    }

    /// A receiver of state changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Pulse> {
        self.pulse.subscribe()
    }

    /// Reads and adds a DAR's packages (`validate_only` changes nothing).
    pub(crate) fn upload_dar(
        &self,
        bytes: &[u8],
        validate_only: bool,
    ) -> Result<Vec<String>, ParticipantError> {
        let packages = read_dar(bytes)?;
        let ids = packages.iter().map(|p| p.package_id.clone()).collect();
        if !validate_only {
            let now = Utc::now();
            self.world().node.packages.add(&packages, now);
        }
        Ok(ids)
    }
}

/// Starts simulated participants.
pub struct Participant;

impl Participant {
    /// Binds both APIs, installs the initial DARs, and spawns the tick task and the servers.
    pub async fn start(config: ParticipantConfig) -> Result<RunningParticipant, ParticipantError> {
        let mut packages: Vec<DarPackage> = Vec::new();
        if config.install_treasury_dar {
            packages.extend(read_dar(&exchange_treasury_dar()?.bytes)?);
        }
        for dar in &config.initial_dars {
            packages.extend(read_dar(dar)?);
        }
        let ledger = bind("Ledger API", config.ledger_addr).await?;
        let admin = bind("Admin API", config.admin_addr).await?;
        let ledger_addr = local_addr("Ledger API", &ledger, config.ledger_addr)?;
        let admin_addr = local_addr("Admin API", &admin, config.admin_addr)?;

        let started_at = super::synchronizer::to_micros(Utc::now());
        let world = World::new(&config, &packages, started_at);
        let pulse = world.pulse();
        let shared = Arc::new(Shared {
            synchronizer_id: world.sync.id().to_string(),
            treasury: world.sync.treasury().to_string(),
            participant_id: world.participant_id(),
            started_at,
            world: Mutex::new(world),
            pulse: watch::channel(pulse).0,
            package_id: exchange_treasury_package_id(),
            config,
        });
        let (stop, stopped) = watch::channel(false);
        let ticker = tokio::spawn(tick_loop(Arc::clone(&shared), stopped));
        let servers = Servers {
            ledger: Some(server::spawn_ledger(Arc::clone(&shared), ledger)),
            admin: Some(server::spawn_admin(Arc::clone(&shared), admin)),
        };
        Ok(RunningParticipant {
            inner: Arc::new(Inner {
                shared,
                ledger_addr,
                admin_addr,
                servers: tokio::sync::Mutex::new(servers),
                stop,
                ticker: Mutex::new(Some(ticker)),
            }),
        })
    }
}

async fn bind(api: &'static str, addr: SocketAddr) -> Result<TcpListener, ParticipantError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ParticipantError::Bind { api, addr, source })
}

fn local_addr(
    api: &'static str,
    listener: &TcpListener,
    addr: SocketAddr,
) -> Result<SocketAddr, ParticipantError> {
    listener
        .local_addr()
        .map_err(|source| ParticipantError::Bind { api, addr, source })
}

async fn tick_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(shared.config.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    return;
                }
            }
        }
        let now = Instant::now();
        let elapsed = now.duration_since(last);
        last = now;
        shared.world().tick(Utc::now(), elapsed);
        shared.publish();
    }
}

struct Servers {
    ledger: Option<ServerHandle>,
    admin: Option<ServerHandle>,
}

struct Inner {
    shared: Arc<Shared>,
    ledger_addr: SocketAddr,
    admin_addr: SocketAddr,
    servers: tokio::sync::Mutex<Servers>,
    stop: watch::Sender<bool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            t.abort();
        }
        let servers = self.servers.get_mut();
        for handle in [servers.ledger.take(), servers.admin.take()]
            .into_iter()
            .flatten()
        {
            handle.abort();
        }
    }
}

/// A submitted withdrawal.
#[derive(Debug)]
pub struct Submission {
    /// The participant's id for the submission (also in a rejection record).
    pub id: u64,
    outcome: oneshot::Receiver<SubmissionOutcome>,
}

impl Submission {
    /// Waits for the synchronizer's decision (made at the next tick).
    pub async fn outcome(self) -> Result<SubmissionOutcome, ParticipantError> {
        self.outcome.await.map_err(|_| ParticipantError::Stopped)
    }
}

/// A running simulated participant. Clones share it; it stops when the last clone is dropped or
/// on [`RunningParticipant::shutdown`].
#[derive(Clone)]
pub struct RunningParticipant {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RunningParticipant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningParticipant")
            .field("ledger_addr", &self.inner.ledger_addr)
            .field("admin_addr", &self.inner.admin_addr)
            .finish()
    }
}

impl RunningParticipant {
    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The Ledger API address.
    pub fn ledger_addr(&self) -> SocketAddr {
        self.inner.ledger_addr
    }

    /// The Admin API address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.inner.admin_addr
    }

    /// `http://127.0.0.1:<port>` of the Ledger API.
    pub fn ledger_url(&self) -> String {
        format!("http://{}", self.inner.ledger_addr)
    }

    /// `http://127.0.0.1:<port>` of the Admin API.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.inner.admin_addr)
    }

    /// The synchronizer id (`global-domain::1220…`).
    pub fn synchronizer_id(&self) -> &str {
        &self.shared().synchronizer_id
    }

    /// The treasury party (`treasury::1220…`).
    pub fn treasury_party(&self) -> &str {
        &self.shared().treasury
    }

    /// The participant id (`PAR::participant::1220…`).
    pub fn participant_id(&self) -> &str {
        &self.shared().participant_id
    }

    /// The package id of the treasury templates.
    pub fn treasury_package_id(&self) -> &str {
        &self.shared().package_id
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &ParticipantConfig {
        &self.shared().config
    }

    /// Captures the participant's state now.
    pub fn backup(&self) -> Backup {
        let world = self.shared().world();
        world.node.backup(world.sync.id(), Utc::now())
    }

    /// Replaces the participant's state with the backup's. Open update streams end with
    /// UNAVAILABLE; when the participant is (or comes back) up it reconnects, emitting its
    /// reconnection topology transactions, and catches up at the given speed.
    pub fn restore(&self, backup: &Backup, catch_up: CatchUp) -> Result<(), ParticipantError> {
        {
            let mut world = self.shared().world();
            if backup.synchronizer_id != world.sync.id() {
                return Err(ParticipantError::BackupMismatch {
                    backup: backup.synchronizer_id.clone(),
                    current: world.sync.id().to_string(),
                });
            }
            backup
                .check(world.sync.history().len())
                .map_err(ParticipantError::InvalidBackup)?;
            let World { node, sync, .. } = &mut *world;
            node.restore(backup, catch_up, sync);
            world.epoch += 1;
        }
        self.shared().publish();
        Ok(())
    }

    /// Changes the speed of a catch-up in progress (a restored participant that is still
    /// behind); nothing changes when the participant is live.
    pub fn set_catch_up(&self, catch_up: CatchUp) {
        self.shared().world().node.set_catch_up(catch_up);
    }

    /// The current availability.
    pub fn availability(&self) -> Availability {
        self.shared().world().availability
    }

    /// Takes the participant down (UNAVAILABLE) or brings it back up.
    pub async fn set_down(&self, down: bool) -> Result<(), ParticipantError> {
        let a = if down {
            Availability::Unavailable
        } else {
            Availability::Up
        };
        self.set_availability(a).await
    }

    /// Sets the availability. `Offline` closes both listeners; leaving `Offline` listens again
    /// on the same addresses.
    pub async fn set_availability(
        &self,
        availability: Availability,
    ) -> Result<(), ParticipantError> {
        let mut servers = self.inner.servers.lock().await;
        if *self.inner.stop.borrow() {
            return Err(ParticipantError::Stopped);
        }
        self.shared().world().availability = availability;
        self.shared().publish();
        let running = servers.ledger.is_some();
        if availability == Availability::Offline && running {
            for handle in [servers.ledger.take(), servers.admin.take()]
                .into_iter()
                .flatten()
            {
                handle.stop().await;
            }
        } else if availability != Availability::Offline && !running {
            let ledger = bind("Ledger API", self.inner.ledger_addr).await?;
            let admin = bind("Admin API", self.inner.admin_addr).await?;
            servers.ledger = Some(server::spawn_ledger(Arc::clone(&self.inner.shared), ledger));
            servers.admin = Some(server::spawn_admin(Arc::clone(&self.inner.shared), admin));
        }
        Ok(())
    }

    fn require_up(&self) -> Result<(), ParticipantError> {
        if *self.inner.stop.borrow() {
            return Err(ParticipantError::Stopped);
        }
        match self.availability() {
            Availability::Up => Ok(()),
            other => Err(ParticipantError::Unavailable(other)),
        }
    }

    /// Submits a withdrawal; the synchronizer decides at the next tick. Withdrawals are not
    /// deduplicated by withdrawal id.
    pub fn submit(&self, request: SubmitWithdrawal) -> Result<Submission, ParticipantError> {
        let invalid = |reason: &str| ParticipantError::InvalidSubmission {
            withdrawal_id: request.withdrawal_id.clone(),
            reason: reason.to_string(),
        };
        if request.inputs.is_empty() {
            return Err(invalid("no inputs"));
        }
        if request.amount == super::amount::Amount::ZERO {
            return Err(invalid("the amount is zero"));
        }
        if request.destination.is_empty() {
            return Err(invalid("no destination"));
        }
        self.require_up()?;
        let (id, outcome) = self.shared().world().submit(request);
        Ok(Submission { id, outcome })
    }

    /// Sequences `count` deposits right away, all sharing one record time when
    /// `shared_record_time` (as after an ACS import). Returns their update ids.
    pub fn sequence_deposits(&self, count: u32, shared_record_time: bool) -> Vec<String> {
        let ids = self
            .shared()
            .world()
            .sequence_deposits(Utc::now(), count, shared_record_time);
        self.shared().publish();
        ids
    }

    /// Records `count` participant-local topology transactions (party allocations, user
    /// onboarding): each takes an offset on this node only, so restoring an earlier backup
    /// loses them and shifts the offsets of everything after. Returns their update ids.
    pub fn local_topology_transactions(&self, count: u32) -> Vec<String> {
        let ids = self.shared().world().local_topology(count);
        self.shared().publish();
        ids
    }

    /// Uploads a DAR, as `UploadDarFile` does; returns its package ids.
    pub fn upload_dar(&self, bytes: &[u8]) -> Result<Vec<String>, ParticipantError> {
        self.require_up()?;
        self.shared().upload_dar(bytes, false)
    }

    /// Every package the participant knows.
    pub fn known_packages(&self) -> Vec<PackageInfo> {
        self.shared().world().node.packages.list()
    }

    /// Every treasury transaction the synchronizer sequenced (the truth), in record-time order.
    pub fn history(&self) -> Vec<TreasuryTx> {
        self.shared().world().sync.history().to_vec()
    }

    /// Every withdrawal the synchronizer refused.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.shared().world().sync.rejections().to_vec()
    }

    /// The treasury's active holdings according to the synchronizer, oldest first.
    pub fn active_holdings(&self) -> Vec<Holding> {
        self.shared().world().sync.active_holdings()
    }

    /// The offset the participant currently assigns to an update (`None` if not processed).
    pub fn offset_of(&self, update_id: &str) -> Option<i64> {
        self.shared().world().node.offset_of(update_id)
    }

    /// The record time up to which the participant has processed everything.
    pub fn clean_record_time(&self) -> DateTime<Utc> {
        self.shared().world().node.clean()
    }

    /// The synchronizer's time.
    pub fn synchronizer_time(&self) -> DateTime<Utc> {
        self.shared().world().sync.time()
    }

    /// The last offset assigned (0 for an empty ledger).
    pub fn ledger_end(&self) -> i64 {
        self.shared().world().node.ledger_end()
    }

    /// Whether the participant has processed everything sequenced (not catching up).
    pub fn is_caught_up(&self) -> bool {
        let world = self.shared().world();
        world.node.mode() == super::node::Mode::Live
            && world.node.processed() == world.sync.history().len()
    }

    /// Stops the tick task and both servers, and waits for the servers to end. Afterwards the
    /// state can still be read, but nothing runs or answers.
    pub async fn shutdown(&self) {
        let mut servers = self.inner.servers.lock().await;
        self.inner.stop.send_replace(true);
        let ticker = self
            .inner
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = ticker {
            let _ = t.await;
        }
        {
            let mut world = self.shared().world();
            world.availability = Availability::Offline;
            world.epoch += 1;
        }
        self.shared().publish();
        for handle in [servers.ledger.take(), servers.admin.take()]
            .into_iter()
            .flatten()
        {
            handle.stop().await;
        }
    }
}
