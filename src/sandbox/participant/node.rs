//! The participant's own state: the prefix of the synchronizer history it has processed, the
//! node-local offsets it assigned, its packages and its clean record time. Backups copy this
//! state; restores replace it and make the node catch up, assigning new offsets.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::config::{CatchUp, ExactMatch};
use super::ids::IdGen;
use super::packages::PackageStore;
use super::synchronizer::Synchronizer;

/// What a node-local update is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LocalKind {
    /// The treasury transaction at this index of the synchronizer history.
    Treasury { index: usize },
    /// A participant-local topology transaction.
    Topology { update_id: String },
}

/// An update the participant has processed, with the offset it assigned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LocalUpdate {
    pub offset: i64,
    pub record_time: DateTime<Utc>,
    pub kind: LocalKind,
}

/// Where the participant is in following the synchronizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Processing everything the synchronizer sequences, as it is sequenced.
    Live,
    /// Restored: on the next processing step it reconnects (emitting its topology
    /// transactions) and starts catching up.
    Reconnecting(CatchUp),
    /// Processing the history it missed at the given speed.
    CatchingUp(CatchUp),
}

/// Why `GetHighestOffsetByTimestamp` has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The participant has not processed up to the timestamp yet (OUT_OF_RANGE, retryable).
    NotProcessed { clean: DateTime<Utc> },
    /// No update has a record time at or before the requested one (OUT_OF_RANGE).
    NoOffsetYet,
    /// No update has exactly the requested record time (exact-match rule); the last one
    /// before it is at `offset`, with record time `found`.
    NoExactMatch {
        offset: i64,
        found: DateTime<Utc>,
        rule: ExactMatch,
    },
}

/// The participant's state at one instant, restorable. It can be written to a file and read
/// back ([`Backup::to_json`], [`Backup::from_json`]), so that a drill has a real backup file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Backup {
    pub(crate) synchronizer_id: String,
    pub(crate) updates: Vec<LocalUpdate>,
    pub(crate) packages: PackageStore,
    pub(crate) clean: DateTime<Utc>,
    pub(crate) processed: usize,
    pub(crate) taken_at: DateTime<Utc>,
}

impl Backup {
    /// The clean record time captured.
    pub fn clean_record_time(&self) -> DateTime<Utc> {
        self.clean
    }

    /// The ledger end captured (0 for an empty ledger).
    pub fn ledger_end(&self) -> i64 {
        self.updates.last().map_or(0, |u| u.offset)
    }

    /// When the backup was taken (wall clock).
    pub fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }

    /// The package ids captured.
    pub fn package_ids(&self) -> Vec<String> {
        self.packages
            .list()
            .into_iter()
            .map(|p| p.package_id)
            .collect()
    }

    /// Checks that the backup fits a synchronizer history of `history_len` transactions:
    /// offsets strictly increase and every processed transaction exists.
    pub fn check(&self, history_len: usize) -> Result<(), String> {
        if self.processed > history_len {
            return Err(format!(
                "it has processed {} synchronizer transactions, the synchronizer has only {history_len}",
                self.processed
            ));
        }
        let mut last = 0;
        for u in &self.updates {
            if u.offset <= last {
                return Err(format!("offset {} does not follow offset {last}", u.offset));
            }
            last = u.offset;
            if let LocalKind::Treasury { index } = u.kind
                && index >= self.processed
            {
                return Err(format!(
                    "offset {} refers to an unprocessed transaction",
                    u.offset
                ));
            }
        }
        Ok(())
    }

    /// The backup as JSON, for a backup file.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// A backup read back from [`Backup::to_json`]'s output.
    pub fn from_json(bytes: &[u8]) -> Result<Backup, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The participant's processing state.
#[derive(Debug, Clone)]
pub struct Node {
    updates: Vec<LocalUpdate>,
    offsets: HashMap<String, i64>,
    pub(crate) packages: PackageStore,
    clean: DateTime<Utc>,
    processed: usize,
    mode: Mode,
}

impl Node {
    /// A node that has processed nothing yet, clean as of `start`.
    pub fn new(start: DateTime<Utc>) -> Node {
        Node {
            updates: Vec::new(),
            offsets: HashMap::new(),
            packages: PackageStore::default(),
            clean: start,
            processed: 0,
            mode: Mode::Live,
        }
    }

    /// Every processed update, in offset order.
    pub fn updates(&self) -> &[LocalUpdate] {
        &self.updates
    }

    /// The record time up to which everything has been processed.
    pub fn clean(&self) -> DateTime<Utc> {
        self.clean
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The last assigned offset, 0 if none.
    pub fn ledger_end(&self) -> i64 {
        self.updates.last().map_or(0, |u| u.offset)
    }

    /// The offset currently assigned to an update, if processed.
    pub fn offset_of(&self, update_id: &str) -> Option<i64> {
        self.offsets.get(update_id).copied()
    }

    /// How many synchronizer transactions have been processed.
    pub fn processed(&self) -> usize {
        self.processed
    }

    fn push(&mut self, record_time: DateTime<Utc>, kind: LocalKind, update_id: &str) {
        let offset = self.ledger_end() + 1;
        self.offsets.insert(update_id.to_string(), offset);
        self.updates.push(LocalUpdate {
            offset,
            record_time,
            kind,
        });
    }

    /// Emits a participant-local topology transaction at the clean record time.
    pub fn topology(&mut self, update_id: String) {
        let t = self.clean;
        self.push(
            t,
            LocalKind::Topology {
                update_id: update_id.clone(),
            },
            &update_id,
        );
    }

    /// Processes every synchronizer transaction with a record time at or before `upto` and
    /// moves the clean time there (never backwards). Transactions sharing one record time are
    /// always processed together.
    pub fn process_upto(&mut self, sync: &Synchronizer, upto: DateTime<Utc>) {
        let history = sync.history();
        while let Some(tx) = history.get(self.processed) {
            if tx.record_time > upto {
                break;
            }
            let index = self.processed;
            self.push(tx.record_time, LocalKind::Treasury { index }, &tx.update_id);
            self.processed += 1;
        }
        self.clean = self.clean.max(upto.min(sync.time()));
    }

    /// One processing step: `elapsed` real time has passed since the previous one.
    /// `topology_ids` supplies ids for reconnection topology transactions.
    pub fn step(
        &mut self,
        sync: &Synchronizer,
        elapsed: std::time::Duration,
        reconnect_topology: u32,
        topology_ids: &mut dyn FnMut() -> String,
    ) {
        if let Mode::Reconnecting(catch_up) = self.mode {
            for _ in 0..reconnect_topology {
                self.topology(topology_ids());
            }
            self.mode = Mode::CatchingUp(catch_up);
        }
        match self.mode {
            Mode::Live | Mode::CatchingUp(CatchUp::Instant) | Mode::Reconnecting(_) => {
                self.process_upto(sync, sync.time());
                self.mode = Mode::Live;
            }
            Mode::CatchingUp(CatchUp::Rate(rate)) => {
                let advance_us =
                    (elapsed.as_secs_f64() * rate.max(0.0) * 1e6).min(i64::MAX as f64) as i64;
                let target = self
                    .clean
                    .checked_add_signed(TimeDelta::microseconds(advance_us))
                    .unwrap_or(sync.time())
                    .min(sync.time());
                self.process_upto(sync, target);
                if self.clean >= sync.time() {
                    self.mode = Mode::Live;
                }
            }
        }
    }

    /// Captures the state for a later restore.
    pub fn backup(&self, synchronizer_id: &str, now: DateTime<Utc>) -> Backup {
        Backup {
            synchronizer_id: synchronizer_id.to_string(),
            updates: self.updates.clone(),
            packages: self.packages.clone(),
            clean: self.clean,
            processed: self.processed,
            taken_at: now,
        }
    }

    /// Replaces the state with a backup's; the node then reconnects and catches up.
    pub fn restore(&mut self, backup: &Backup, catch_up: CatchUp, sync: &Synchronizer) {
        self.updates = backup.updates.clone();
        self.packages = backup.packages.clone();
        self.clean = backup.clean;
        self.processed = backup.processed;
        self.mode = Mode::Reconnecting(catch_up);
        self.reindex(sync);
    }

    /// Changes the speed of a catch-up in progress (nothing changes when live).
    pub fn set_catch_up(&mut self, catch_up: CatchUp) {
        self.mode = match self.mode {
            Mode::Live => Mode::Live,
            Mode::Reconnecting(_) => Mode::Reconnecting(catch_up),
            Mode::CatchingUp(_) => Mode::CatchingUp(catch_up),
        };
    }

    /// Rebuilds the update-id → offset index from the updates.
    fn reindex(&mut self, sync: &Synchronizer) {
        let history = sync.history();
        self.offsets = self
            .updates
            .iter()
            .filter_map(|u| {
                let id = match &u.kind {
                    LocalKind::Treasury { index } => history.get(*index)?.update_id.clone(),
                    LocalKind::Topology { update_id } => update_id.clone(),
                };
                Some((id, u.offset))
            })
            .collect();
    }

    /// `GetHighestOffsetByTimestamp` for this node's synchronizer, with Canton's rules: the
    /// last offset with a record time at or before `timestamp` (there must be one), only once
    /// the clean record time has reached `timestamp` unless `force`; with `force` and a
    /// timestamp at or after the clean time, the ledger end; and, under an exact-match rule
    /// without `force`, only if the record time found equals `timestamp`.
    pub fn highest_offset_by_timestamp(
        &self,
        timestamp: DateTime<Utc>,
        force: bool,
        rule: ExactMatch,
    ) -> Result<i64, LookupError> {
        let n = self.updates.partition_point(|u| u.record_time <= timestamp);
        let Some(found) = n.checked_sub(1).and_then(|i| self.updates.get(i)) else {
            return Err(LookupError::NoOffsetYet);
        };
        if !force && timestamp > self.clean {
            return Err(LookupError::NotProcessed { clean: self.clean });
        }
        if force && timestamp >= self.clean {
            return Ok(self.ledger_end());
        }
        if !force && rule != ExactMatch::Off && found.record_time != timestamp {
            return Err(LookupError::NoExactMatch {
                offset: found.offset,
                found: found.record_time,
                rule,
            });
        }
        Ok(found.offset)
    }
}

/// Ids for participant-local topology transactions, unique across restores.
pub fn topology_update_id(ids: &IdGen, n: u64) -> String {
    ids.update_id("topology", n)
}

#[cfg(test)]
mod tests {
    use super::super::amount::Amount;
    use super::*;
    use std::time::Duration;

    fn t(us: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_700_000_000_000_000 + us).unwrap_or_default()
    }

    fn sync() -> Synchronizer {
        Synchronizer::new(IdGen::new(1), "sync".into(), "treasury".into(), t(0))
    }

    fn ids() -> impl FnMut() -> String {
        let id_gen = IdGen::new(9);
        let mut n = 0;
        move || {
            n += 1;
            topology_update_id(&id_gen, n)
        }
    }

    #[test]
    fn offsets_are_assigned_in_order_and_clean_time_follows() {
        let mut s = sync();
        let mut node = Node::new(t(0));
        let a = s
            .deposit(t(10), "c", "a", Amount::from_whole(1))
            .update_id
            .clone();
        let b = s
            .deposit(t(20), "c", "a", Amount::from_whole(1))
            .update_id
            .clone();
        s.advance(t(25));
        node.process_upto(&s, t(15));
        assert_eq!(node.offset_of(&a), Some(1));
        assert_eq!(node.offset_of(&b), None);
        assert_eq!(node.clean(), t(15));
        node.step(&s, Duration::ZERO, 1, &mut ids());
        assert_eq!(node.offset_of(&b), Some(2));
        assert_eq!(node.clean(), t(25));
        assert_eq!(node.ledger_end(), 2);
    }

    #[test]
    fn restore_reassigns_offsets_after_a_reconnection_topology_transaction() {
        let mut s = sync();
        let mut node = Node::new(t(0));
        let mut topo = ids();
        s.deposit(t(10), "c", "a", Amount::from_whole(1));
        node.step(&s, Duration::ZERO, 1, &mut topo);
        let backup = node.backup("sync", t(11));
        let late = s
            .deposit(t(20), "c", "a", Amount::from_whole(1))
            .update_id
            .clone();
        node.step(&s, Duration::ZERO, 1, &mut topo);
        let before = node.offset_of(&late).expect("processed");

        let backup = Backup::from_json(&backup.to_json().expect("json")).expect("read back");
        assert_eq!(backup.check(s.history().len()), Ok(()));
        assert!(backup.check(0).is_err(), "more processed than sequenced");
        node.restore(&backup, CatchUp::Instant, &s);
        assert_eq!(node.offset_of(&late), None, "gone after restore");
        assert_eq!(node.ledger_end(), backup.ledger_end());
        node.step(&s, Duration::ZERO, 1, &mut topo);
        let after = node.offset_of(&late).expect("processed again");
        assert_eq!(
            after,
            before + 1,
            "shifted by the reconnection topology transaction"
        );
        assert!(matches!(node.updates()[1].kind, LocalKind::Topology { .. }));
        assert_eq!(node.updates()[1].record_time, backup.clean_record_time());
    }

    #[test]
    fn catch_up_at_a_rate_advances_clean_time_gradually() {
        let mut s = sync();
        let mut node = Node::new(t(0));
        let mut topo = ids();
        let backup = node.backup("sync", t(0));
        for i in 1..=10 {
            s.deposit(t(i * 1_000_000), "c", "a", Amount::from_whole(1));
        }
        node.restore(&backup, CatchUp::Rate(2.0), &s);
        node.step(&s, Duration::from_secs(1), 0, &mut topo);
        assert_eq!(node.clean(), t(2_000_000));
        assert_eq!(node.processed(), 2);
        assert!(matches!(node.mode(), Mode::CatchingUp(_)));
        node.step(&s, Duration::from_secs(100), 0, &mut topo);
        assert_eq!(node.processed(), 10);
        assert_eq!(node.mode(), Mode::Live);
    }

    #[test]
    fn shared_record_times_are_processed_together() {
        let mut s = sync();
        let mut node = Node::new(t(0));
        let group: Vec<(String, String, Amount)> = (0..3)
            .map(|_| ("c".into(), "a".into(), Amount::from_whole(1)))
            .collect();
        s.deposit_group(t(10), &group);
        node.process_upto(&s, t(10));
        assert_eq!(node.processed(), 3);
    }

    #[test]
    fn highest_offset_by_timestamp_follows_canton() {
        let mut s = sync();
        let mut node = Node::new(t(0));
        s.deposit(t(10), "c", "a", Amount::from_whole(1));
        s.deposit(t(20), "c", "a", Amount::from_whole(1));
        s.advance(t(30));
        node.process_upto(&s, t(30));
        let off = ExactMatch::Off;
        assert_eq!(node.highest_offset_by_timestamp(t(10), false, off), Ok(1));
        assert_eq!(node.highest_offset_by_timestamp(t(15), false, off), Ok(1));
        assert_eq!(
            node.highest_offset_by_timestamp(t(5), false, off),
            Err(LookupError::NoOffsetYet)
        );
        assert_eq!(
            node.highest_offset_by_timestamp(t(5), true, off),
            Err(LookupError::NoOffsetYet)
        );
        assert_eq!(
            node.highest_offset_by_timestamp(t(31), false, off),
            Err(LookupError::NotProcessed { clean: t(30) })
        );
        assert_eq!(node.highest_offset_by_timestamp(t(31), true, off), Ok(2));
        assert_eq!(node.highest_offset_by_timestamp(t(30), true, off), Ok(2));
        for rule in [ExactMatch::FailedPrecondition, ExactMatch::NotFound] {
            assert_eq!(node.highest_offset_by_timestamp(t(20), false, rule), Ok(2));
            assert_eq!(
                node.highest_offset_by_timestamp(t(15), false, rule),
                Err(LookupError::NoExactMatch {
                    offset: 1,
                    found: t(10),
                    rule
                })
            );
            assert_eq!(node.highest_offset_by_timestamp(t(15), true, rule), Ok(1));
        }
    }
}
