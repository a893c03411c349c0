//! Everything the simulation holds, advanced one tick at a time: the synchronizer with its
//! traffic, the queue of submissions, and the participant node.
//!
//! Time is passed in, so that the same code runs on the wall clock and in unit tests.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::oneshot;

use super::amount::Amount;
use super::config::{
    Availability, DepositConfig, MergeConfig, ParticipantConfig, SharedRecordTimes,
};
use super::ids::IdGen;
use super::node::{Node, topology_update_id};
use super::packages::DarPackage;
use super::synchronizer::{RejectReason, SubmitWithdrawal, Synchronizer, to_micros};

/// The most transactions one kind of traffic generates in one tick (after a stall the
/// schedule skips ahead instead of flooding).
const MAX_PER_TICK: usize = 1_000;

/// What became of a submitted withdrawal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionOutcome {
    /// Sequenced as this update at this record time.
    Accepted {
        update_id: String,
        record_time: DateTime<Utc>,
    },
    /// Refused by the synchronizer (also kept in its rejections).
    Rejected(RejectReason),
}

struct Pending {
    id: u64,
    request: SubmitWithdrawal,
    reply: oneshot::Sender<SubmissionOutcome>,
}

/// The state the stream followers watch: any change wakes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pulse {
    pub epoch: u64,
    pub ledger_end: i64,
    pub clean: DateTime<Utc>,
    pub availability: Availability,
}

/// Deposit, shared-record-time and merge schedules.
struct Traffic {
    deposits: DepositConfig,
    shared_record_times: Option<SharedRecordTimes>,
    merges: Option<MergeConfig>,
    rng: StdRng,
    next_deposit: Option<DateTime<Utc>>,
    next_group: Option<DateTime<Utc>>,
    next_merge: Option<DateTime<Utc>>,
    customers: Vec<String>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Traffic {
    fn new(config: &ParticipantConfig, ids: &IdGen, now: DateTime<Utc>) -> Traffic {
        let customers = (0..config.deposits.customers.max(1))
            .map(|i| ids.qualified(&format!("customer-{i}"), 0))
            .collect();
        Traffic {
            deposits: config.deposits.clone(),
            shared_record_times: config.shared_record_times,
            merges: config.merges,
            rng: StdRng::seed_from_u64(config.seed),
            next_deposit: config.deposits.every.map(|d| now + delta(d)),
            next_group: config.shared_record_times.map(|g| now + delta(g.every)),
            next_merge: config.merges.map(|m| now + delta(m.every)),
            customers,
        }
    }

    /// A random deposit: customer, deposit account, amount (whole cents).
    fn random_deposit(&mut self) -> (String, String, Amount) {
        let k = self.rng.random_range(0..self.customers.len());
        let cents_unit = 100_000_000; // 10^-2 in units of 10^-10
        let lo = self.deposits.min_amount.units() / cents_unit;
        let hi = (self.deposits.max_amount.units() / cents_unit).max(lo);
        let cents = self.rng.random_range(lo.max(1)..=hi.max(1));
        (
            self.customers[k].clone(),
            format!("acct-{k:04}"),
            Amount::from_units(cents * cents_unit),
        )
    }

    /// The times at which a schedule was due up to `now`, moving the schedule on.
    fn due(
        next: &mut Option<DateTime<Utc>>,
        every: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let (Some(at), Some(every)) = (next.as_mut(), every) else {
            return Vec::new();
        };
        let step = delta(every.max(Duration::from_micros(1)));
        let mut times = Vec::new();
        while *at <= now && times.len() < MAX_PER_TICK {
            times.push(*at);
            *at += step;
        }
        if *at <= now {
            *at = now + step;
        }
        times
    }

    /// Sequences whatever traffic is due by `now`, each at the time it was due (or just after
    /// what the synchronizer already timestamped).
    fn generate(&mut self, sync: &mut Synchronizer, now: DateTime<Utc>) {
        for at in Traffic::due(&mut self.next_deposit, self.deposits.every, now) {
            let (customer, account, amount) = self.random_deposit();
            sync.deposit(at, &customer, &account, amount);
        }
        if let Some(group) = self.shared_record_times {
            for at in Traffic::due(&mut self.next_group, Some(group.every), now) {
                let deposits: Vec<_> = (0..group.size).map(|_| self.random_deposit()).collect();
                sync.deposit_group(at, &deposits);
            }
        }
        if let Some(merge) = self.merges {
            for at in Traffic::due(&mut self.next_merge, Some(merge.every), now) {
                let holdings = sync.active_holdings();
                if holdings.len() >= merge.min_holdings.max(2) {
                    let inputs: Vec<String> = holdings
                        .iter()
                        .take(merge.inputs.max(2))
                        .map(|h| h.contract_id.clone())
                        .collect();
                    sync.merge(at, &inputs);
                }
            }
        }
    }
}

/// The whole simulation.
pub struct World {
    pub(crate) sync: Synchronizer,
    pub(crate) node: Node,
    pub(crate) availability: Availability,
    /// Incremented by every restore: streams opened before it end.
    pub(crate) epoch: u64,
    ids: IdGen,
    topology_seq: u64,
    reconnect_topology: u32,
    traffic: Traffic,
    pending: VecDeque<Pending>,
    next_submission: u64,
}

impl World {
    /// A fresh simulation at `now`: the treasury party allocated (a topology transaction at
    /// offset 1), the initial packages installed and the initial deposits processed.
    pub fn new(config: &ParticipantConfig, packages: &[DarPackage], now: DateTime<Utc>) -> World {
        let ids = IdGen::new(config.seed);
        let now = to_micros(now);
        let sync = Synchronizer::new(
            ids.clone(),
            ids.qualified("global-domain", 0),
            ids.qualified("treasury", 0),
            now,
        );
        let mut node = Node::new(now);
        node.packages.add(packages, now);
        let mut world = World {
            sync,
            node,
            availability: Availability::Up,
            epoch: 0,
            traffic: Traffic::new(config, &ids, now),
            ids,
            topology_seq: 0,
            reconnect_topology: config.reconnect_topology_transactions,
            pending: VecDeque::new(),
            next_submission: 0,
        };
        let party_allocation = world.next_topology_id();
        world.node.topology(party_allocation);
        for _ in 0..config.deposits.initial {
            let (customer, account, amount) = world.traffic.random_deposit();
            world.sync.deposit(now, &customer, &account, amount);
        }
        let t = world.sync.time();
        world.node.process_upto(&world.sync, t);
        world
    }

    fn next_topology_id(&mut self) -> String {
        self.topology_seq += 1;
        topology_update_id(&self.ids, self.topology_seq)
    }

    /// The participant id, `PAR::participant::1220…`.
    pub fn participant_id(&self) -> String {
        format!("PAR::{}", self.ids.qualified("participant", 0))
    }

    /// What stream followers watch.
    pub fn pulse(&self) -> Pulse {
        Pulse {
            epoch: self.epoch,
            ledger_end: self.node.ledger_end(),
            clean: self.node.clean(),
            availability: self.availability,
        }
    }

    /// Queues a withdrawal for the next tick; returns its id and where its outcome arrives.
    pub fn submit(
        &mut self,
        request: SubmitWithdrawal,
    ) -> (u64, oneshot::Receiver<SubmissionOutcome>) {
        let (reply, outcome) = oneshot::channel();
        let id = self.next_submission;
        self.next_submission += 1;
        self.pending.push_back(Pending { id, request, reply });
        (id, outcome)
    }

    /// Sequences `count` deposits now, all with one record time when `shared_record_time`.
    /// Returns their update ids.
    pub fn sequence_deposits(
        &mut self,
        now: DateTime<Utc>,
        count: u32,
        shared_record_time: bool,
    ) -> Vec<String> {
        let deposits: Vec<_> = (0..count).map(|_| self.traffic.random_deposit()).collect();
        if shared_record_time {
            self.sync
                .deposit_group(now, &deposits)
                .iter()
                .map(|tx| tx.update_id.clone())
                .collect()
        } else {
            deposits
                .iter()
                .map(|(c, a, amount)| self.sync.deposit(now, c, a, *amount).update_id.clone())
                .collect()
        }
    }

    /// Records `count` participant-local topology transactions (party allocations, user
    /// onboarding) at the clean record time; they exist only on this node, so a restore from
    /// an earlier backup loses them and every later offset shifts. Returns their update ids.
    pub fn local_topology(&mut self, count: u32) -> Vec<String> {
        (0..count)
            .map(|_| {
                let id = self.next_topology_id();
                self.node.topology(id.clone());
                id
            })
            .collect()
    }

    /// One tick at wall-clock `now`, `elapsed` real time after the previous one: traffic and
    /// queued submissions are sequenced, the synchronizer clock moves to `now`, and a running
    /// participant processes what it can.
    pub fn tick(&mut self, now: DateTime<Utc>, elapsed: Duration) {
        self.traffic.generate(&mut self.sync, now);
        while let Some(p) = self.pending.pop_front() {
            let outcome = match self.sync.withdraw(now, p.id, &p.request) {
                Ok(tx) => SubmissionOutcome::Accepted {
                    update_id: tx.update_id.clone(),
                    record_time: tx.record_time,
                },
                Err(reason) => SubmissionOutcome::Rejected(reason),
            };
            // The submitter may have stopped waiting; the outcome is in the history anyway.
            let _ = p.reply.send(outcome);
        }
        self.sync.advance(now);
        if self.availability == Availability::Up {
            let ids = &self.ids;
            let seq = &mut self.topology_seq;
            self.node
                .step(&self.sync, elapsed, self.reconnect_topology, &mut || {
                    *seq += 1;
                    topology_update_id(ids, *seq)
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::synchronizer::TxKind;
    use super::*;
    use secrecy::SecretString;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_700_000_000_000_000 + ms * 1000).unwrap_or_default()
    }

    fn config() -> ParticipantConfig {
        let mut c = ParticipantConfig::new(SecretString::from("t"));
        c.deposits.every = Some(Duration::from_millis(100));
        c
    }

    #[test]
    fn deposits_follow_the_configured_rate() {
        let mut w = World::new(&config(), &[], t(0));
        assert_eq!(w.node.ledger_end(), 1, "party allocation");
        w.tick(t(1000), Duration::from_secs(1));
        assert_eq!(w.sync.history().len(), 10);
        assert_eq!(w.node.ledger_end(), 11);
        assert_eq!(w.node.clean(), t(1000));
        assert!(w.sync.history().iter().all(|tx| tx.kind == TxKind::Deposit));
    }

    #[test]
    fn down_participant_does_not_process_but_synchronizer_goes_on() {
        let mut w = World::new(&config(), &[], t(0));
        w.availability = Availability::Unavailable;
        w.tick(t(500), Duration::from_millis(500));
        assert_eq!(w.sync.history().len(), 5);
        assert_eq!(w.node.ledger_end(), 1);
        w.availability = Availability::Up;
        w.tick(t(500), Duration::ZERO);
        assert_eq!(w.node.ledger_end(), 6);
    }

    #[test]
    fn submissions_are_sequenced_at_the_next_tick() {
        let mut c = config();
        c.deposits.initial = 2;
        c.deposits.every = None;
        let mut w = World::new(&c, &[], t(0));
        let holding = w.sync.active_holdings()[0].clone();
        let request = SubmitWithdrawal {
            withdrawal_id: "wd-1".into(),
            inputs: vec![holding.contract_id.clone()],
            amount: Amount::from_units(1),
            destination: "dest".into(),
            max_record_time: t(10_000),
        };
        let (_, mut first) = w.submit(request.clone());
        let (_, mut second) = w.submit(request);
        assert!(first.try_recv().is_err(), "not before the tick");
        w.tick(t(10), Duration::from_millis(10));
        assert!(matches!(
            first.try_recv(),
            Ok(SubmissionOutcome::Accepted { .. })
        ));
        assert!(matches!(
            second.try_recv(),
            Ok(SubmissionOutcome::Rejected(
                RejectReason::InputsSpent { .. }
            ))
        ));
        assert_eq!(w.sync.rejections().len(), 1);
    }

    #[test]
    fn shared_record_time_groups_are_generated_when_configured() {
        let mut c = config();
        c.deposits.every = None;
        c.shared_record_times = Some(SharedRecordTimes {
            every: Duration::from_millis(300),
            size: 3,
        });
        let mut w = World::new(&c, &[], t(0));
        w.tick(t(1000), Duration::from_secs(1));
        let history = w.sync.history();
        assert_eq!(history.len(), 9);
        for group in history.chunks(3) {
            assert!(
                group
                    .iter()
                    .all(|tx| tx.record_time == group[0].record_time)
            );
        }
        assert!(history[2].record_time < history[3].record_time);
    }

    #[test]
    fn merges_consume_the_oldest_holdings() {
        let mut c = config();
        c.deposits.every = None;
        c.deposits.initial = 4;
        c.merges = Some(MergeConfig {
            every: Duration::from_millis(100),
            min_holdings: 4,
            inputs: 3,
        });
        let mut w = World::new(&c, &[], t(0));
        let oldest: Vec<String> = w
            .sync
            .active_holdings()
            .iter()
            .take(3)
            .map(|h| h.contract_id.clone())
            .collect();
        w.tick(t(100), Duration::from_millis(100));
        let merge = w.sync.history().last().cloned().expect("merge");
        assert_eq!(merge.kind, TxKind::Merge);
        assert_eq!(merge.inputs, oldest);
        assert_eq!(w.sync.active_holdings().len(), 2);
    }

    #[test]
    fn local_topology_after_a_backup_is_lost_and_later_offsets_shift_down() {
        let mut c = config();
        c.reconnect_topology_transactions = 0;
        let mut w = World::new(&c, &[], t(0));
        let backup = w.node.backup(w.sync.id(), t(0));
        let local = w.local_topology(2);
        assert_eq!(local.len(), 2);
        w.tick(t(100), Duration::from_millis(100));
        let deposit = w.sync.history()[0].update_id.clone();
        let before = w.node.offset_of(&deposit).unwrap_or_default();
        w.node
            .restore(&backup, super::super::config::CatchUp::Instant, &w.sync);
        w.tick(t(100), Duration::ZERO);
        assert_eq!(w.node.offset_of(&local[0]), None, "lost with the restore");
        assert_eq!(w.node.offset_of(&deposit), Some(before - 2));
    }

    #[test]
    fn reconnection_topology_ids_are_unique_across_restores() {
        let mut c = config();
        c.deposits.every = None;
        let mut w = World::new(&c, &[], t(0));
        let backup = w.node.backup(w.sync.id(), t(0));
        let mut seen = std::collections::HashSet::new();
        for i in 1..=3 {
            w.node
                .restore(&backup, super::super::config::CatchUp::Instant, &w.sync);
            w.tick(t(i), Duration::ZERO);
            let topology: Vec<_> = w
                .node
                .updates()
                .iter()
                .filter_map(|u| match &u.kind {
                    super::super::node::LocalKind::Topology { update_id } => {
                        Some(update_id.clone())
                    }
                    super::super::node::LocalKind::Treasury { .. } => None,
                })
                .collect();
            assert_eq!(topology.len(), 2, "party allocation and one reconnection");
            assert!(seen.insert(topology[1].clone()), "reused id");
        }
    }
}
