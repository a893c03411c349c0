//! The simulated synchronizer: it assigns record times and sequences treasury transactions.
//! Its history is the truth a drill is judged against.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::amount::Amount;
use super::ids::IdGen;
use super::treasury::{Contract, Holding, INSTRUMENT, Receipt, TransferKind};

/// What a treasury transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxKind {
    /// A customer deposit: a holding and a deposit receipt created.
    Deposit,
    /// A withdrawal: inputs archived, change holding and withdrawal receipt created.
    Withdrawal,
    /// Several holdings merged into one.
    Merge,
}

/// One sequenced treasury transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreasuryTx {
    /// Unique across the synchronizer, and the same on every participant.
    pub update_id: String,
    /// The record time assigned by the synchronizer (microsecond precision).
    pub record_time: DateTime<Utc>,
    pub kind: TxKind,
    /// The command id of the submission (empty for deposits, which the treasury did not submit).
    pub command_id: String,
    /// The withdrawal id of a withdrawal.
    pub withdrawal_id: Option<String>,
    /// The holdings consumed (archived).
    pub inputs: Vec<String>,
    /// The contracts created.
    pub created: Vec<Contract>,
    /// The amount deposited, withdrawn or merged.
    pub amount: Amount,
}

/// A withdrawal submitted by the treasury.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitWithdrawal {
    /// The exchange's id of the withdrawal (not used for deduplication).
    pub withdrawal_id: String,
    /// The holdings to spend.
    pub inputs: Vec<String>,
    pub amount: Amount,
    /// The receiving party.
    pub destination: String,
    /// The target record time (trecTgt): the transaction is rejected if it would be sequenced
    /// later.
    pub max_record_time: DateTime<Utc>,
}

/// Why the synchronizer refused a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// Some inputs were already spent: a double spend, refused.
    InputsSpent {
        /// The inputs already spent, with the update that spent each.
        spent: Vec<(String, String)>,
    },
    /// Some inputs never existed (or are not treasury holdings).
    UnknownInputs { contract_ids: Vec<String> },
    /// The record time would have been after the submission's max record time.
    Expired {
        max_record_time: DateTime<Utc>,
        record_time: DateTime<Utc>,
    },
    /// The inputs do not cover the amount.
    InsufficientInputs {
        available: Amount,
        requested: Amount,
    },
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectReason::InputsSpent { spent } => {
                let list: Vec<String> = spent
                    .iter()
                    .map(|(cid, by)| format!("{cid} (spent by update {by})"))
                    .collect();
                write!(
                    f,
                    "double spend refused: inputs already spent: {}",
                    list.join(", ")
                )
            }
            RejectReason::UnknownInputs { contract_ids } if contract_ids.is_empty() => {
                f.write_str("no inputs")
            }
            RejectReason::UnknownInputs { contract_ids } => {
                write!(f, "unknown inputs: {}", contract_ids.join(", "))
            }
            RejectReason::Expired {
                max_record_time,
                record_time,
            } => write!(
                f,
                "expired: record time {} is after the max record time {}",
                crate::value::format_timestamp(record_time),
                crate::value::format_timestamp(max_record_time)
            ),
            RejectReason::InsufficientInputs {
                available,
                requested,
            } => write!(
                f,
                "inputs hold {available}, less than the {requested} requested"
            ),
        }
    }
}

/// A refused submission, kept in the synchronizer's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The id the participant gave the submission.
    pub submission_id: u64,
    pub withdrawal_id: String,
    pub inputs: Vec<String>,
    pub amount: Amount,
    pub reason: RejectReason,
    /// The synchronizer time of the decision.
    pub at: DateTime<Utc>,
}

/// The simulated synchronizer.
#[derive(Debug, Clone)]
pub struct Synchronizer {
    id: String,
    treasury: String,
    ids: IdGen,
    history: Vec<TreasuryTx>,
    rejections: Vec<Rejection>,
    /// The synchronizer time: at or after every record time assigned.
    time: DateTime<Utc>,
    /// Active treasury holdings, with a creation sequence number (lower is older).
    active: HashMap<String, (u64, Holding)>,
    /// Spent holdings and the update that spent each.
    spent: HashMap<String, String>,
    next_contract: u64,
    next_tx: u64,
}

/// Truncates to whole microseconds, the precision of record times.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

impl Synchronizer {
    /// A synchronizer whose clock starts at `now`, sequencing for the treasury party.
    pub fn new(ids: IdGen, id: String, treasury: String, now: DateTime<Utc>) -> Synchronizer {
        Synchronizer {
            id,
            treasury,
            ids,
            history: Vec::new(),
            rejections: Vec::new(),
            time: to_micros(now),
            active: HashMap::new(),
            spent: HashMap::new(),
            next_contract: 0,
            next_tx: 0,
        }
    }

    /// The synchronizer id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The treasury party.
    pub fn treasury(&self) -> &str {
        &self.treasury
    }

    /// The synchronizer time.
    pub fn time(&self) -> DateTime<Utc> {
        self.time
    }

    /// Every sequenced transaction, in record-time order.
    pub fn history(&self) -> &[TreasuryTx] {
        &self.history
    }

    /// Every refused submission, in order.
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }

    /// The treasury's active holdings, oldest first.
    pub fn active_holdings(&self) -> Vec<Holding> {
        let mut list: Vec<&(u64, Holding)> = self.active.values().collect();
        list.sort_by_key(|(seq, _)| *seq);
        list.into_iter().map(|(_, h)| h.clone()).collect()
    }

    /// Moves the clock to `now` (never backwards).
    pub fn advance(&mut self, now: DateTime<Utc>) {
        self.time = self.time.max(to_micros(now));
    }

    /// The record time for a transaction sequenced at `now`: strictly after everything the
    /// synchronizer has already timestamped.
    fn next_record_time(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let t = to_micros(now).max(self.time + TimeDelta::microseconds(1));
        self.time = t;
        t
    }

    fn new_update_id(&mut self) -> String {
        let id = self.ids.update_id("transaction", self.next_tx);
        self.next_tx += 1;
        id
    }

    fn new_holding(&mut self, amount: Amount) -> Holding {
        let contract_id = self.ids.contract_id(self.next_contract);
        let h = Holding {
            contract_id: contract_id.clone(),
            owner: self.treasury.clone(),
            instrument: INSTRUMENT.to_string(),
            amount,
        };
        self.active
            .insert(contract_id, (self.next_contract, h.clone()));
        self.next_contract += 1;
        h
    }

    fn new_contract_id(&mut self) -> String {
        let id = self.ids.contract_id(self.next_contract);
        self.next_contract += 1;
        id
    }

    /// Sequences a customer deposit at `now`.
    pub fn deposit(
        &mut self,
        now: DateTime<Utc>,
        customer: &str,
        account: &str,
        amount: Amount,
    ) -> &TreasuryTx {
        let t = self.next_record_time(now);
        self.deposit_at(t, customer, account, amount)
    }

    /// Sequences several deposits that all get one record time (as after an ACS import).
    pub fn deposit_group(
        &mut self,
        now: DateTime<Utc>,
        deposits: &[(String, String, Amount)],
    ) -> &[TreasuryTx] {
        let t = self.next_record_time(now);
        let first = self.history.len();
        for (customer, account, amount) in deposits {
            self.deposit_at(t, customer, account, *amount);
        }
        &self.history[first..]
    }

    fn deposit_at(
        &mut self,
        t: DateTime<Utc>,
        customer: &str,
        account: &str,
        amount: Amount,
    ) -> &TreasuryTx {
        let holding = self.new_holding(amount);
        let receipt = Receipt {
            contract_id: self.new_contract_id(),
            treasury: self.treasury.clone(),
            kind: TransferKind::Deposit,
            counterparty: customer.to_string(),
            account: Some(account.to_string()),
            reason: None,
            amount,
            execute_before: None,
        };
        let tx = TreasuryTx {
            update_id: self.new_update_id(),
            record_time: t,
            kind: TxKind::Deposit,
            command_id: String::new(),
            withdrawal_id: None,
            inputs: Vec::new(),
            created: vec![Contract::Holding(holding), Contract::Receipt(receipt)],
            amount,
        };
        self.push(tx)
    }

    fn push(&mut self, tx: TreasuryTx) -> &TreasuryTx {
        for input in &tx.inputs {
            self.active.remove(input);
            self.spent.insert(input.clone(), tx.update_id.clone());
        }
        let index = self.history.len();
        self.history.push(tx);
        &self.history[index]
    }

    /// Checks that every input is an active treasury holding and returns their total.
    fn check_inputs(&self, inputs: &[String]) -> Result<Amount, RejectReason> {
        let spent: Vec<(String, String)> = inputs
            .iter()
            .filter_map(|cid| self.spent.get(cid).map(|by| (cid.clone(), by.clone())))
            .collect();
        if !spent.is_empty() {
            return Err(RejectReason::InputsSpent { spent });
        }
        let unknown: Vec<String> = inputs
            .iter()
            .filter(|cid| !self.active.contains_key(*cid))
            .cloned()
            .collect();
        // The same holding listed twice is spent twice within one transaction.
        let mut seen = std::collections::HashSet::new();
        let repeated: Vec<(String, String)> = inputs
            .iter()
            .filter(|cid| !seen.insert(cid.as_str()))
            .map(|cid| (cid.clone(), "the same submission".to_string()))
            .collect();
        if !repeated.is_empty() {
            return Err(RejectReason::InputsSpent { spent: repeated });
        }
        if inputs.is_empty() || !unknown.is_empty() {
            return Err(RejectReason::UnknownInputs {
                contract_ids: unknown,
            });
        }
        let mut total = Amount::ZERO;
        for cid in inputs {
            if let Some((_, h)) = self.active.get(cid) {
                total = total.checked_add(h.amount).unwrap_or(total);
            }
        }
        Ok(total)
    }

    /// Sequences a withdrawal at `now`, or refuses it (and records the refusal).
    pub fn withdraw(
        &mut self,
        now: DateTime<Utc>,
        submission_id: u64,
        req: &SubmitWithdrawal,
    ) -> Result<&TreasuryTx, RejectReason> {
        let decision = self.decide_withdrawal(now, req);
        match decision {
            Ok((t, total)) => {
                let change = total.checked_sub(req.amount).unwrap_or(Amount::ZERO);
                let mut created = Vec::new();
                // The inputs go first, so the change holding gets a fresh contract id.
                for cid in &req.inputs {
                    self.active.remove(cid);
                }
                if change > Amount::ZERO {
                    created.push(Contract::Holding(self.new_holding(change)));
                }
                created.push(Contract::Receipt(Receipt {
                    contract_id: self.new_contract_id(),
                    treasury: self.treasury.clone(),
                    kind: TransferKind::Withdrawal,
                    counterparty: req.destination.clone(),
                    account: None,
                    reason: Some(req.withdrawal_id.clone()),
                    amount: req.amount,
                    execute_before: Some(req.max_record_time),
                }));
                let tx = TreasuryTx {
                    update_id: self.new_update_id(),
                    record_time: t,
                    kind: TxKind::Withdrawal,
                    command_id: format!("withdrawal-{}-{submission_id}", req.withdrawal_id),
                    withdrawal_id: Some(req.withdrawal_id.clone()),
                    inputs: req.inputs.clone(),
                    created,
                    amount: req.amount,
                };
                Ok(self.push(tx))
            }
            Err(reason) => {
                self.rejections.push(Rejection {
                    submission_id,
                    withdrawal_id: req.withdrawal_id.clone(),
                    inputs: req.inputs.clone(),
                    amount: req.amount,
                    reason: reason.clone(),
                    at: self.time.max(to_micros(now)),
                });
                Err(reason)
            }
        }
    }

    fn decide_withdrawal(
        &mut self,
        now: DateTime<Utc>,
        req: &SubmitWithdrawal,
    ) -> Result<(DateTime<Utc>, Amount), RejectReason> {
        let total = self.check_inputs(&req.inputs)?;
        if total < req.amount {
            return Err(RejectReason::InsufficientInputs {
                available: total,
                requested: req.amount,
            });
        }
        let candidate = to_micros(now).max(self.time + TimeDelta::microseconds(1));
        if candidate > req.max_record_time {
            return Err(RejectReason::Expired {
                max_record_time: req.max_record_time,
                record_time: candidate,
            });
        }
        Ok((self.next_record_time(now), total))
    }

    /// Merges the given holdings into one, if they are all active; `None` otherwise.
    pub fn merge(&mut self, now: DateTime<Utc>, inputs: &[String]) -> Option<&TreasuryTx> {
        let total = self.check_inputs(inputs).ok()?;
        if inputs.len() < 2 {
            return None;
        }
        let t = self.next_record_time(now);
        for cid in inputs {
            self.active.remove(cid);
        }
        let merged = self.new_holding(total);
        let tx = TreasuryTx {
            update_id: self.new_update_id(),
            record_time: t,
            kind: TxKind::Merge,
            command_id: format!("merge-{}", self.next_tx),
            withdrawal_id: None,
            inputs: inputs.to_vec(),
            created: vec![Contract::Holding(merged)],
            amount: total,
        };
        Some(self.push(tx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(us: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_700_000_000_000_000 + us).unwrap_or_default()
    }

    fn sync() -> Synchronizer {
        Synchronizer::new(
            IdGen::new(1),
            "global-domain::1220aa".into(),
            "treasury::1220bb".into(),
            t(0),
        )
    }

    fn holding_of(tx: &TreasuryTx) -> String {
        tx.created
            .iter()
            .find_map(|c| match c {
                Contract::Holding(h) => Some(h.contract_id.clone()),
                Contract::Receipt(_) => None,
            })
            .unwrap_or_default()
    }

    fn withdrawal(
        id: &str,
        inputs: Vec<String>,
        amount: u64,
        max: DateTime<Utc>,
    ) -> SubmitWithdrawal {
        SubmitWithdrawal {
            withdrawal_id: id.into(),
            inputs,
            amount: Amount::from_whole(amount),
            destination: "dest::1220cc".into(),
            max_record_time: max,
        }
    }

    #[test]
    fn record_times_strictly_increase_even_within_one_microsecond() {
        let mut s = sync();
        let a = s
            .deposit(t(10), "c", "acct-1", Amount::from_whole(1))
            .record_time;
        let b = s
            .deposit(t(10), "c", "acct-1", Amount::from_whole(1))
            .record_time;
        let c = s
            .deposit(t(5), "c", "acct-1", Amount::from_whole(1))
            .record_time;
        assert_eq!(a, t(10));
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn group_shares_one_record_time_and_later_ones_are_after_it() {
        let mut s = sync();
        let deposits: Vec<(String, String, Amount)> = (0..3)
            .map(|i| ("c".to_string(), format!("acct-{i}"), Amount::from_whole(2)))
            .collect();
        let group: Vec<DateTime<Utc>> = s
            .deposit_group(t(20), &deposits)
            .iter()
            .map(|tx| tx.record_time)
            .collect();
        assert_eq!(group, vec![t(20); 3]);
        let next = s
            .deposit(t(20), "c", "acct", Amount::from_whole(1))
            .record_time;
        assert!(next > t(20));
    }

    #[test]
    fn withdrawal_spends_inputs_and_returns_change() {
        let mut s = sync();
        let input = holding_of(s.deposit(t(1), "c", "acct", Amount::from_whole(100)));
        let tx = s
            .withdraw(
                t(2),
                0,
                &withdrawal("wd-1", vec![input.clone()], 30, t(1_000_000)),
            )
            .cloned();
        let tx = tx.expect("accepted");
        assert_eq!(tx.kind, TxKind::Withdrawal);
        assert_eq!(tx.inputs, vec![input.clone()]);
        assert_eq!(tx.withdrawal_id.as_deref(), Some("wd-1"));
        let holdings = s.active_holdings();
        assert_eq!(holdings.len(), 1);
        assert_eq!(holdings[0].amount, Amount::from_whole(70));
        assert!(tx.created.iter().any(|c| matches!(c, Contract::Receipt(r)
            if r.kind == TransferKind::Withdrawal && r.reason.as_deref() == Some("wd-1")
            && r.execute_before == Some(t(1_000_000)))));
    }

    #[test]
    fn double_spend_is_refused_and_recorded() {
        let mut s = sync();
        let input = holding_of(s.deposit(t(1), "c", "acct", Amount::from_whole(100)));
        let first = s
            .withdraw(
                t(2),
                0,
                &withdrawal("wd-1", vec![input.clone()], 10, t(100)),
            )
            .map(|tx| tx.update_id.clone());
        let first = first.expect("first accepted");
        let second = s.withdraw(
            t(3),
            1,
            &withdrawal("wd-1", vec![input.clone()], 10, t(100)),
        );
        assert_eq!(
            second.err(),
            Some(RejectReason::InputsSpent {
                spent: vec![(input.clone(), first)]
            })
        );
        assert_eq!(s.rejections().len(), 1);
        assert_eq!(s.rejections()[0].submission_id, 1);
        assert_eq!(s.history().len(), 2);
    }

    #[test]
    fn same_withdrawal_id_twice_with_different_inputs_is_accepted_twice() {
        let mut s = sync();
        let a = holding_of(s.deposit(t(1), "c", "acct", Amount::from_whole(50)));
        let b = holding_of(s.deposit(t(2), "c", "acct", Amount::from_whole(50)));
        assert!(
            s.withdraw(t(3), 0, &withdrawal("wd-7", vec![a], 20, t(100)))
                .is_ok()
        );
        assert!(
            s.withdraw(t(4), 1, &withdrawal("wd-7", vec![b], 20, t(100)))
                .is_ok()
        );
        let count = s
            .history()
            .iter()
            .filter(|tx| tx.withdrawal_id.as_deref() == Some("wd-7"))
            .count();
        assert_eq!(count, 2);
    }

    #[test]
    fn expired_unknown_repeated_and_insufficient_inputs_are_refused() {
        let mut s = sync();
        let a = holding_of(s.deposit(t(1), "c", "acct", Amount::from_whole(5)));
        let expired = s.withdraw(t(50), 0, &withdrawal("wd", vec![a.clone()], 1, t(49)));
        assert!(
            matches!(expired, Err(RejectReason::Expired { record_time, .. }) if record_time == t(50))
        );
        let unknown = s.withdraw(
            t(51),
            1,
            &withdrawal("wd", vec!["00nope".into()], 1, t(100)),
        );
        assert!(matches!(unknown, Err(RejectReason::UnknownInputs { .. })));
        let repeated = s.withdraw(
            t(52),
            2,
            &withdrawal("wd", vec![a.clone(), a.clone()], 1, t(100)),
        );
        assert!(matches!(repeated, Err(RejectReason::InputsSpent { .. })));
        let short = s.withdraw(t(53), 3, &withdrawal("wd", vec![a.clone()], 6, t(100)));
        assert!(matches!(
            short,
            Err(RejectReason::InsufficientInputs { .. })
        ));
        assert_eq!(s.rejections().len(), 4);
        assert_eq!(s.active_holdings().len(), 1, "nothing was spent");
    }

    #[test]
    fn merge_consumes_inputs_into_one_holding() {
        let mut s = sync();
        let a = holding_of(s.deposit(t(1), "c", "acct", Amount::from_whole(5)));
        let b = holding_of(s.deposit(t(2), "c", "acct", Amount::from_whole(7)));
        let tx = s.merge(t(3), &[a.clone(), b]).cloned().expect("merged");
        assert_eq!(tx.kind, TxKind::Merge);
        assert_eq!(tx.amount, Amount::from_whole(12));
        assert_eq!(s.active_holdings().len(), 1);
        assert!(s.merge(t(4), &[a]).is_none(), "spent input");
    }
}
