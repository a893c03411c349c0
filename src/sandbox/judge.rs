//! The judge: at the end of a drill it compares the synchronizer's history (the truth), the
//! participant's current offsets, the Integration DB and the sandbox's own record of the
//! exchange's actions, and says for each invariant whether it holds, with the evidence.
//!
//! The checks, by name:
//! - `ingested-exactly-once`: every ingested transaction exists on the ledger and its effects
//!   (a deposit's credit, a withdrawal's completion, the holdings it created) are booked once;
//! - `no-gap`: every treasury transaction at or before ingestion's offset is ingested;
//! - `ingestion-offset-valid`: ingestion's offset means, in the participant's current
//!   numbering, what ingestion thinks it means;
//! - `no-double-reservation`: no holding was reserved for two withdrawals at once (and the
//!   synchronizer refused no double spend);
//! - `no-double-execution`: no withdrawal was executed twice on the ledger;
//! - `withdrawals-reenabled-after-tsafe`: withdrawals were re-enabled only once ingestion had
//!   observed a record time past every earlier request's trecTgt.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::truth::Fact;
use crate::value::format_timestamp;

/// Check names.
pub const INGESTED_EXACTLY_ONCE: &str = "ingested-exactly-once";
pub const NO_GAP: &str = "no-gap";
pub const OFFSET_VALID: &str = "ingestion-offset-valid";
pub const NO_DOUBLE_RESERVATION: &str = "no-double-reservation";
pub const NO_DOUBLE_EXECUTION: &str = "no-double-execution";
pub const REENABLED_AFTER_T_SAFE: &str = "withdrawals-reenabled-after-tsafe";

/// Every check, in report order.
pub const CHECKS: &[&str] = &[
    INGESTED_EXACTLY_ONCE,
    NO_GAP,
    OFFSET_VALID,
    NO_DOUBLE_RESERVATION,
    NO_DOUBLE_EXECUTION,
    REENABLED_AFTER_T_SAFE,
];

/// How many examples an evidence text lists.
const EXAMPLES: usize = 5;

/// One check's outcome, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub evidence: String,
}

/// What a treasury transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    Deposit,
    Withdrawal,
    Merge,
}

impl ChainKind {
    fn word(self) -> &'static str {
        match self {
            ChainKind::Deposit => "deposit",
            ChainKind::Withdrawal => "withdrawal",
            ChainKind::Merge => "merge",
        }
    }
}

/// A treasury transaction on the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTx {
    pub update_id: String,
    pub record_time: DateTime<Utc>,
    pub kind: ChainKind,
    pub withdrawal_id: Option<String>,
    /// Its offset in the participant's current numbering (`None`: not processed yet).
    pub offset: Option<i64>,
    pub created_holdings: Vec<String>,
}

/// A withdrawal the synchronizer refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRejection {
    pub withdrawal_id: String,
    pub at: DateTime<Utc>,
    /// Refused because its inputs were already spent.
    pub double_spend: bool,
    pub reason: String,
}

/// `ingestion_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestionRow {
    pub last_offset: i64,
    pub last_record_time: Option<DateTime<Utc>>,
    pub last_update_id: Option<String>,
    pub observed_record_time: Option<DateTime<Utc>>,
}

/// What the Integration DB holds at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbSnapshot {
    pub state: Option<IngestionRow>,
    /// `ingested_transactions`: update ids.
    pub ingested: Vec<String>,
    /// Update ids of the deposit credits in `customer_ledger`.
    pub deposit_credits: Vec<String>,
    /// `withdrawals` completed: (withdrawal id, completing update id).
    pub completions: Vec<(String, String)>,
    /// `holdings`: (contract id, creating update id).
    pub holdings: Vec<(String, String)>,
}

/// Everything the judge looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeInput {
    pub chain: Vec<ChainTx>,
    pub ledger_end: i64,
    pub rejections: Vec<ChainRejection>,
    pub db: DbSnapshot,
    pub facts: Vec<Fact>,
}

/// `1220ab12cd34…` for long ids.
fn short(id: &str) -> String {
    if id.chars().count() > 16 {
        format!("{}…", id.chars().take(16).collect::<String>())
    } else {
        id.to_string()
    }
}

fn t(at: &DateTime<Utc>) -> String {
    format_timestamp(at)
}

/// "a, b, c (and 4 more)".
fn examples(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(EXAMPLES)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > EXAMPLES {
        text.push_str(&format!(" (and {} more)", items.len() - EXAMPLES));
    }
    text
}

fn check(name: &str, passed: bool, evidence: String) -> Check {
    Check {
        name: name.to_string(),
        passed,
        evidence,
    }
}

fn describe(tx: &ChainTx) -> String {
    let offset = tx.offset.map_or_else(
        || "not yet processed".to_string(),
        |o| format!("offset {o}"),
    );
    format!(
        "{} ({}, record time {}, {offset})",
        short(&tx.update_id),
        tx.kind.word(),
        t(&tx.record_time)
    )
}

/// Runs every check.
pub fn judge(input: &JudgeInput) -> Vec<Check> {
    vec![
        ingested_exactly_once(input),
        no_gap(input),
        offset_valid(input),
        no_double_reservation(input),
        no_double_execution(input),
        reenabled_after_t_safe(input),
    ]
}

fn counts<'a>(items: impl Iterator<Item = &'a String>) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i.as_str()).or_insert(0) += 1;
    }
    m
}

fn ingested_exactly_once(input: &JudgeInput) -> Check {
    let chain: BTreeMap<&str, &ChainTx> = input
        .chain
        .iter()
        .map(|tx| (tx.update_id.as_str(), tx))
        .collect();
    let ingested = counts(input.db.ingested.iter());
    let credits = counts(input.db.deposit_credits.iter());
    let completions = counts(input.db.completions.iter().map(|(_, u)| u));
    let holdings: BTreeMap<&str, &str> = input
        .db
        .holdings
        .iter()
        .map(|(c, u)| (c.as_str(), u.as_str()))
        .collect();
    let mut problems = Vec::new();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, n) in &ingested {
        if *n > 1 {
            problems.push(format!("update {} ingested {n} times", short(id)));
        }
        let Some(tx) = chain.get(id) else {
            problems.push(format!(
                "update {} is ingested but not on the ledger",
                short(id)
            ));
            continue;
        };
        *by_kind.entry(tx.kind.word()).or_insert(0) += 1;
        let booked = match tx.kind {
            ChainKind::Deposit => Some(("credited", credits.get(id).copied().unwrap_or(0))),
            ChainKind::Withdrawal => Some(("completed", completions.get(id).copied().unwrap_or(0))),
            ChainKind::Merge => None,
        };
        if let Some((word, n)) = booked
            && n != 1
        {
            problems.push(format!("{} {word} {n} times", describe(tx)));
        }
        for cid in &tx.created_holdings {
            if holdings.get(cid.as_str()) != Some(id) {
                problems.push(format!(
                    "holding {} created by {} is not recorded",
                    short(cid),
                    short(id)
                ));
            }
        }
    }
    for (id, n) in &credits {
        if !ingested.contains_key(id) {
            problems.push(format!(
                "a deposit credit books update {} ({n} times), which is not ingested",
                short(id)
            ));
        }
    }
    if problems.is_empty() {
        let kinds = by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}{}", if *n == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", ");
        check(
            INGESTED_EXACTLY_ONCE,
            true,
            format!(
                "{} transactions ingested, each exactly once with its effects booked once{}",
                ingested.len(),
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!(" ({kinds})")
                }
            ),
        )
    } else {
        check(INGESTED_EXACTLY_ONCE, false, examples(&problems))
    }
}

fn no_gap(input: &JudgeInput) -> Check {
    let Some(state) = &input.db.state else {
        return check(
            NO_GAP,
            false,
            "ingestion has no state: nothing was ever ingested".into(),
        );
    };
    let ingested: BTreeSet<&str> = input.db.ingested.iter().map(String::as_str).collect();
    let horizon = state.last_offset;
    let mut covered = 0usize;
    let mut missing = Vec::new();
    for tx in &input.chain {
        let Some(o) = tx.offset else { continue };
        if o > horizon {
            continue;
        }
        covered += 1;
        if !ingested.contains(tx.update_id.as_str()) {
            missing.push(describe(tx));
        }
    }
    if missing.is_empty() {
        check(
            NO_GAP,
            true,
            format!(
                "all {covered} treasury transactions at or before ingestion's offset {horizon} are ingested"
            ),
        )
    } else {
        check(
            NO_GAP,
            false,
            format!(
                "{} of the {covered} treasury transactions at or before ingestion's offset {horizon} were never ingested: {}",
                missing.len(),
                examples(&missing)
            ),
        )
    }
}

fn offset_valid(input: &JudgeInput) -> Check {
    let Some(state) = &input.db.state else {
        return check(OFFSET_VALID, false, "ingestion has no offset".into());
    };
    let l = state.last_offset;
    if l > input.ledger_end {
        return check(
            OFFSET_VALID,
            false,
            format!(
                "ingestion's offset {l} is past the participant's ledger end {}: it belongs to an older offset numbering",
                input.ledger_end
            ),
        );
    }
    let Some(last) = &state.last_update_id else {
        return check(
            OFFSET_VALID,
            true,
            format!(
                "offset {l} is within the ledger end {}; no transaction ingested yet",
                input.ledger_end
            ),
        );
    };
    match input.chain.iter().find(|tx| &tx.update_id == last) {
        None => check(
            OFFSET_VALID,
            false,
            format!(
                "the last ingested transaction {} is not a treasury transaction on the ledger",
                short(last)
            ),
        ),
        Some(tx) => match tx.offset {
            None => check(
                OFFSET_VALID,
                false,
                format!(
                    "the last ingested transaction {} has no offset yet on the participant, whose ledger end is {}: ingestion's offset {l} is from another numbering",
                    short(last),
                    input.ledger_end
                ),
            ),
            Some(o) if o > l => check(
                OFFSET_VALID,
                false,
                format!(
                    "the last ingested transaction {} is at offset {o} in the participant's current numbering, after ingestion's offset {l}",
                    short(last)
                ),
            ),
            Some(o) => check(
                OFFSET_VALID,
                true,
                format!(
                    "ingestion's offset {l} is within the ledger end {}, and the last ingested transaction {} is at offset {o} in the participant's current numbering",
                    input.ledger_end,
                    short(last)
                ),
            ),
        },
    }
}

/// A reservation: (withdrawal, from, until).
struct Reservation<'a> {
    withdrawal: &'a str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
}

fn no_double_reservation(input: &JudgeInput) -> Check {
    let mut released: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for f in &input.facts {
        if let Fact::ReservationReleased {
            withdrawal_id, at, ..
        } = f
        {
            released.entry(withdrawal_id.as_str()).or_insert(*at);
        }
    }
    let mut by_holding: BTreeMap<&str, Vec<Reservation<'_>>> = BTreeMap::new();
    let mut total = 0usize;
    for f in &input.facts {
        if let Fact::WithdrawalRequested {
            withdrawal_id,
            holdings,
            requested_at,
            trec_tgt,
            ..
        } = f
        {
            let until = released
                .get(withdrawal_id.as_str())
                .map_or(*trec_tgt, |r| (*r).min(*trec_tgt));
            for h in holdings {
                total += 1;
                by_holding.entry(h.as_str()).or_default().push(Reservation {
                    withdrawal: withdrawal_id,
                    from: *requested_at,
                    until,
                });
            }
        }
    }
    let mut problems = Vec::new();
    for (holding, list) in &mut by_holding {
        list.sort_by_key(|r| r.from);
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                if b.from < a.until && a.withdrawal != b.withdrawal {
                    problems.push(format!(
                        "holding {} reserved for {} until {} and again for {} at {}",
                        short(holding),
                        a.withdrawal,
                        t(&a.until),
                        b.withdrawal,
                        t(&b.from)
                    ));
                }
            }
        }
    }
    for r in input.rejections.iter().filter(|r| r.double_spend) {
        problems.push(format!(
            "the synchronizer refused {} at {}: {}",
            r.withdrawal_id,
            t(&r.at),
            r.reason
        ));
    }
    if problems.is_empty() {
        check(
            NO_DOUBLE_RESERVATION,
            true,
            format!(
                "{total} reservations of {} holdings, none overlapping another; no double spend was attempted",
                by_holding.len()
            ),
        )
    } else {
        check(NO_DOUBLE_RESERVATION, false, examples(&problems))
    }
}

fn no_double_execution(input: &JudgeInput) -> Check {
    let mut by_id: BTreeMap<&str, Vec<&ChainTx>> = BTreeMap::new();
    for tx in &input.chain {
        if let (ChainKind::Withdrawal, Some(w)) = (tx.kind, &tx.withdrawal_id) {
            by_id.entry(w.as_str()).or_default().push(tx);
        }
    }
    let twice: Vec<String> = by_id
        .iter()
        .filter(|(_, txs)| txs.len() > 1)
        .map(|(w, txs)| {
            format!(
                "{w} executed {} times: {}",
                txs.len(),
                txs.iter()
                    .map(|tx| describe(tx))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    if twice.is_empty() {
        check(
            NO_DOUBLE_EXECUTION,
            true,
            format!(
                "{} withdrawals executed on the ledger, each once",
                by_id.len()
            ),
        )
    } else {
        check(NO_DOUBLE_EXECUTION, false, examples(&twice))
    }
}

fn reenabled_after_t_safe(input: &JudgeInput) -> Check {
    let mut enabled = true;
    let mut disabled_at: Option<DateTime<Utc>> = None;
    let mut reenabled = Vec::new();
    let mut problems = Vec::new();
    for f in &input.facts {
        let Fact::WithdrawalsSwitched {
            enabled: on,
            at,
            observed_record_time,
        } = f
        else {
            continue;
        };
        match (enabled, *on) {
            (true, false) => {
                enabled = false;
                disabled_at = Some(*at);
            }
            (false, true) => {
                enabled = true;
                let since = disabled_at.unwrap_or(*at);
                let latest = input
                    .facts
                    .iter()
                    .filter_map(|f| match f {
                        Fact::WithdrawalRequested {
                            withdrawal_id,
                            requested_at,
                            trec_tgt,
                            ..
                        } if *requested_at < since => Some((trec_tgt, withdrawal_id)),
                        _ => None,
                    })
                    .max();
                match (latest, observed_record_time) {
                    (None, _) => reenabled.push(format!(
                        "re-enabled at {}; no withdrawal had been requested before they were disabled",
                        t(at)
                    )),
                    (Some((tsafe, w)), Some(obs)) if obs > tsafe => reenabled.push(format!(
                        "re-enabled at {} when ingestion had observed record time {}, past tSafe {} (the trecTgt of {w}, the latest request before the disable at {})",
                        t(at),
                        t(obs),
                        t(tsafe),
                        t(&since)
                    )),
                    (Some((tsafe, w)), obs) => problems.push(format!(
                        "re-enabled at {} when ingestion had observed only {}, before tSafe {}: {w}, requested before the disable at {}, could still be committed until its trecTgt {}",
                        t(at),
                        obs.as_ref().map_or_else(|| "no record time".to_string(), t),
                        t(tsafe),
                        t(&since),
                        t(tsafe)
                    )),
                }
            }
            _ => {}
        }
    }
    if !problems.is_empty() {
        return check(REENABLED_AFTER_T_SAFE, false, examples(&problems));
    }
    let evidence = match (reenabled.is_empty(), disabled_at) {
        (false, _) => reenabled.join("; "),
        (true, None) => "withdrawals were never disabled during the drill".into(),
        (true, Some(at)) => format!("withdrawals were disabled at {} and not re-enabled", t(&at)),
    };
    check(REENABLED_AFTER_T_SAFE, true, evidence)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn tx(n: u32, kind: ChainKind, offset: Option<i64>) -> ChainTx {
        ChainTx {
            update_id: format!("1220{n:060}"),
            record_time: at(i64::from(n)),
            kind,
            withdrawal_id: (kind == ChainKind::Withdrawal).then(|| format!("wd-{n}")),
            offset,
            created_holdings: vec![format!("00h{n}")],
        }
    }

    /// A consistent world: three deposits and a withdrawal, all ingested.
    fn world() -> JudgeInput {
        let chain = vec![
            tx(1, ChainKind::Deposit, Some(2)),
            tx(2, ChainKind::Deposit, Some(3)),
            tx(3, ChainKind::Withdrawal, Some(4)),
            tx(4, ChainKind::Deposit, Some(5)),
        ];
        let db = DbSnapshot {
            state: Some(IngestionRow {
                last_offset: 5,
                last_record_time: Some(at(4)),
                last_update_id: Some(chain[3].update_id.clone()),
                observed_record_time: Some(at(4)),
            }),
            ingested: chain.iter().map(|t| t.update_id.clone()).collect(),
            deposit_credits: vec![
                chain[0].update_id.clone(),
                chain[1].update_id.clone(),
                chain[3].update_id.clone(),
            ],
            completions: vec![("wd-3".into(), chain[2].update_id.clone())],
            holdings: chain
                .iter()
                .map(|t| (t.created_holdings[0].clone(), t.update_id.clone()))
                .collect(),
        };
        JudgeInput {
            chain,
            ledger_end: 6,
            rejections: Vec::new(),
            db,
            facts: Vec::new(),
        }
    }

    fn get<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn a_consistent_world_passes_every_check() {
        let checks = judge(&world());
        assert_eq!(checks.len(), CHECKS.len());
        for c in &checks {
            assert!(c.passed, "{}: {}", c.name, c.evidence);
        }
        assert!(
            get(&checks, INGESTED_EXACTLY_ONCE)
                .evidence
                .contains("4 transactions ingested"),
        );
        assert!(get(&checks, NO_GAP).evidence.contains("all 4"));
    }

    #[test]
    fn a_skipped_transaction_is_a_gap_named_with_its_offset() {
        let mut w = world();
        let missing = w.chain[1].update_id.clone();
        w.db.ingested.retain(|u| *u != missing);
        w.db.deposit_credits.retain(|u| *u != missing);
        w.db.holdings.retain(|(_, u)| *u != missing);
        let checks = judge(&w);
        let gap = get(&checks, NO_GAP);
        assert!(!gap.passed);
        assert!(gap.evidence.contains("1 of the 4"), "{}", gap.evidence);
        assert!(gap.evidence.contains("offset 3"), "{}", gap.evidence);
        assert!(gap.evidence.contains(&missing[..16]), "{}", gap.evidence);
        assert!(get(&checks, INGESTED_EXACTLY_ONCE).passed);
    }

    #[test]
    fn transactions_past_the_offset_are_not_a_gap() {
        let mut w = world();
        w.chain.push(tx(5, ChainKind::Deposit, Some(6)));
        w.chain.push(tx(6, ChainKind::Deposit, None));
        assert!(get(&judge(&w), NO_GAP).passed);
    }

    #[test]
    fn a_deposit_credited_twice_or_a_phantom_fails_exactly_once() {
        let mut w = world();
        let d = w.chain[0].update_id.clone();
        w.db.deposit_credits.push(d.clone());
        let c = judge(&w);
        let once = get(&c, INGESTED_EXACTLY_ONCE);
        assert!(!once.passed);
        assert!(
            once.evidence.contains("credited 2 times"),
            "{}",
            once.evidence
        );

        let mut w = world();
        w.db.ingested.push("1220phantom".into());
        let once = judge(&w).remove(0);
        assert!(
            once.evidence.contains("not on the ledger"),
            "{}",
            once.evidence
        );

        let mut w = world();
        w.db.completions.clear();
        let once = judge(&w).remove(0);
        assert!(
            once.evidence.contains("completed 0 times"),
            "{}",
            once.evidence
        );
    }

    #[test]
    fn an_offset_from_the_old_numbering_is_invalid() {
        let mut w = world();
        if let Some(s) = w.db.state.as_mut() {
            s.last_offset = 9;
        }
        let c = judge(&w);
        let v = get(&c, OFFSET_VALID);
        assert!(!v.passed);
        assert!(
            v.evidence.contains("past the participant's ledger end 6"),
            "{}",
            v.evidence
        );

        let mut w = world();
        if let Some(s) = w.db.state.as_mut() {
            s.last_offset = 4;
        }
        let v = judge(&w).remove(2);
        assert!(!v.passed);
        assert!(v.evidence.contains("at offset 5"), "{}", v.evidence);
    }

    #[test]
    fn a_withdrawal_executed_twice_is_found() {
        let mut w = world();
        let mut again = tx(7, ChainKind::Withdrawal, Some(6));
        again.withdrawal_id = Some("wd-3".into());
        w.chain.push(again);
        let c = judge(&w);
        let d = get(&c, NO_DOUBLE_EXECUTION);
        assert!(!d.passed);
        assert!(
            d.evidence.contains("wd-3 executed 2 times"),
            "{}",
            d.evidence
        );
    }

    fn request(id: &str, holding: &str, from: i64, ttl: i64) -> Fact {
        Fact::WithdrawalRequested {
            withdrawal_id: id.into(),
            customer_id: "acct-0001".into(),
            amount: "1.00".into(),
            holdings: vec![holding.into()],
            requested_at: at(from),
            trec_tgt: at(from + ttl),
        }
    }

    #[test]
    fn overlapping_reservations_fail_and_released_ones_do_not() {
        let mut w = world();
        w.facts = vec![
            request("wd-a", "00h1", 0, 10),
            request("wd-b", "00h1", 5, 10),
        ];
        let c = judge(&w);
        let r = get(&c, NO_DOUBLE_RESERVATION);
        assert!(!r.passed);
        assert!(
            r.evidence.contains("reserved for wd-a") && r.evidence.contains("again for wd-b"),
            "{}",
            r.evidence
        );

        w.facts.insert(
            1,
            Fact::ReservationReleased {
                withdrawal_id: "wd-a".into(),
                at: at(3),
                reason: "refused".into(),
            },
        );
        assert!(get(&judge(&w), NO_DOUBLE_RESERVATION).passed);

        w.facts = vec![
            request("wd-a", "00h1", 0, 10),
            request("wd-b", "00h1", 10, 10),
        ];
        assert!(
            get(&judge(&w), NO_DOUBLE_RESERVATION).passed,
            "back to back"
        );

        w.rejections.push(ChainRejection {
            withdrawal_id: "wd-b".into(),
            at: at(11),
            double_spend: true,
            reason: "double spend refused".into(),
        });
        assert!(!get(&judge(&w), NO_DOUBLE_RESERVATION).passed);
    }

    fn switch(enabled: bool, when: i64, observed: Option<i64>) -> Fact {
        Fact::WithdrawalsSwitched {
            enabled,
            at: at(when),
            observed_record_time: observed.map(at),
        }
    }

    #[test]
    fn reenabling_before_t_safe_fails_with_the_withdrawal_that_was_in_flight() {
        let mut w = world();
        w.facts = vec![
            request("wd-a", "00h1", 0, 20),
            request("wd-b", "00h2", 4, 20),
            switch(false, 5, Some(5)),
            request("wd-late", "00h3", 6, 100),
            switch(true, 9, Some(9)),
        ];
        let c = judge(&w);
        let r = get(&c, REENABLED_AFTER_T_SAFE);
        assert!(!r.passed);
        assert!(r.evidence.contains("wd-b"), "{}", r.evidence);
        assert!(r.evidence.contains(&t(&at(24))), "{}", r.evidence);

        w.facts[4] = switch(true, 30, Some(25));
        let r = judge(&w).remove(5);
        assert!(r.passed, "{}", r.evidence);
        assert!(r.evidence.contains("past tSafe"), "{}", r.evidence);

        w.facts[4] = switch(true, 30, None);
        assert!(
            !judge(&w).remove(5).passed,
            "no observed record time at all"
        );
    }

    #[test]
    fn never_disabling_or_never_reenabling_passes_and_says_so() {
        let w = world();
        assert!(judge(&w)[5].evidence.contains("never disabled"));
        let mut w = world();
        w.facts = vec![switch(false, 5, None)];
        let r = judge(&w).remove(5);
        assert!(r.passed);
        assert!(r.evidence.contains("not re-enabled"));
    }
}
