//! The simulated Tx History Ingestion: a real gRPC client of the participant's
//! `UpdateService.GetUpdates` that writes the Integration DB, one DB transaction per update,
//! the way the exchange integration guide recommends:
//!
//! - every update (transaction, offset checkpoint, topology) advances `last_offset`;
//!   transactions and checkpoints advance `observed_record_time`;
//! - an ingested transaction writes its holdings (created and archived), the customer credit
//!   of a deposit, and completes its withdrawal, or re-creates it as `recovered` when the
//!   withdrawal id is unknown (its request was lost in a DB restore);
//! - when (re)started it skips transactions whose record time is at or before the last
//!   ingested one, still advancing its offset; with `skip_known_update_ids` it skips by
//!   update id instead (for non-unique record times);
//! - it starts from `ingestion_config.start_offset` when that is set (and clears it), else
//!   from `ingestion_state.last_offset`; it keeps `ingestion_status` (running, heartbeat).
//!
//! Before each write it checks that `last_offset` is still where it left it; if not (the DB
//! was restored under it), it starts over from what the DB says.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::Client;

use super::db::{Conn, INSTRUMENT_ADMIN, IntegrationDb};
use super::error::SandboxError;
use super::participant::Amount;
use super::participant::treasury::{self, TransferKind};
use crate::probe::canton::CantonClient;
use crate::probe::canton::updates::{
    CreatedEvent, DamlRecord, DamlValue, LedgerEvent, TransactionUpdate, Update,
};

/// What ingestion does with one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write its effects.
    Ingest,
    /// Its record time is at or before the last ingested one when ingestion (re)started.
    SkipRecordTime,
    /// Its update id is already ingested (skip-known-updates mode).
    SkipKnown,
}

/// The skipping rules of one ingestion session, fixed when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The last ingested record time when the session started.
    pub threshold: Option<DateTime<Utc>>,
    /// Skip by update id instead of by record time.
    pub skip_known: bool,
}

/// The guide's rule: skip what was ingested before, recognised by record time (or by update
/// id when record times are not unique).
pub fn decide(record_time: DateTime<Utc>, rules: &Rules, known: bool) -> Decision {
    if rules.skip_known {
        return if known {
            Decision::SkipKnown
        } else {
            Decision::Ingest
        };
    }
    match rules.threshold {
        Some(t) if record_time <= t => Decision::SkipRecordTime,
        _ => Decision::Ingest,
    }
}

/// The treasury effects of a transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub created_holdings: Vec<HoldingView>,
    pub archived_holdings: Vec<String>,
    pub receipts: Vec<ReceiptView>,
}

/// A created holding as ingestion reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldingView {
    pub contract_id: String,
    pub owner: String,
    pub instrument: String,
    pub amount: Amount,
}

/// A transfer receipt as ingestion reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptView {
    pub kind: TransferKind,
    pub counterparty: String,
    pub account: Option<String>,
    pub reason: Option<String>,
    pub amount: Amount,
    pub execute_before: Option<DateTime<Utc>>,
}

impl Effects {
    /// The kind recorded in `ingested_transactions`.
    pub fn kind(&self) -> &'static str {
        if self
            .receipts
            .iter()
            .any(|r| r.kind == TransferKind::Withdrawal)
        {
            "withdrawal"
        } else if self
            .receipts
            .iter()
            .any(|r| r.kind == TransferKind::Deposit)
        {
            "deposit"
        } else if !self.archived_holdings.is_empty() {
            "merge"
        } else {
            "other"
        }
    }
}

fn text(r: &DamlRecord, label: &str) -> Option<String> {
    r.get(label).and_then(DamlValue::as_str).map(str::to_string)
}

fn optional(r: &DamlRecord, label: &str) -> Option<DamlValue> {
    match r.get(label) {
        Some(DamlValue::Optional(Some(v))) => Some((**v).clone()),
        _ => None,
    }
}

fn amount(r: &DamlRecord, label: &str) -> Option<Amount> {
    text(r, label)?.parse().ok()
}

fn created(ev: &CreatedEvent) -> Option<Result<Created, String>> {
    if ev.template_id.module_name != treasury::MODULE {
        return None;
    }
    let a = &ev.arguments;
    let bad = |field: &str| {
        format!(
            "contract {}: field {field} is missing or malformed",
            ev.contract_id
        )
    };
    match ev.template_id.entity_name.as_str() {
        treasury::HOLDING => Some(
            match (text(a, "owner"), text(a, "instrument"), amount(a, "amount")) {
                (Some(owner), Some(instrument), Some(amount)) => {
                    Ok(Created::Holding(HoldingView {
                        contract_id: ev.contract_id.clone(),
                        owner,
                        instrument,
                        amount,
                    }))
                }
                (None, _, _) => Err(bad("owner")),
                (_, None, _) => Err(bad("instrument")),
                (_, _, None) => Err(bad("amount")),
            },
        ),
        treasury::TRANSFER_RECEIPT => {
            let kind = match a.get("kind") {
                Some(DamlValue::Enum(c)) if c == "Deposit" => TransferKind::Deposit,
                Some(DamlValue::Enum(c)) if c == "Withdrawal" => TransferKind::Withdrawal,
                _ => return Some(Err(bad("kind"))),
            };
            let Some(counterparty) = text(a, "counterparty") else {
                return Some(Err(bad("counterparty")));
            };
            let Some(amount) = amount(a, "amount") else {
                return Some(Err(bad("amount")));
            };
            let opt_text = |l: &str| match optional(a, l) {
                Some(v) => v.as_str().map(str::to_string),
                None => None,
            };
            let execute_before = match optional(a, "executeBefore") {
                Some(DamlValue::Timestamp(t)) => Some(t),
                _ => None,
            };
            Some(Ok(Created::Receipt(ReceiptView {
                kind,
                counterparty,
                account: opt_text("account"),
                reason: opt_text("reason"),
                amount,
                execute_before,
            })))
        }
        _ => None,
    }
}

enum Created {
    Holding(HoldingView),
    Receipt(ReceiptView),
}

/// Reads the treasury contracts a transaction created and the holdings it archived.
pub fn effects(tx: &TransactionUpdate) -> Result<Effects, String> {
    let mut out = Effects::default();
    for event in &tx.events {
        match event {
            LedgerEvent::Created(c) => match created(c) {
                Some(Ok(Created::Holding(h))) => out.created_holdings.push(h),
                Some(Ok(Created::Receipt(r))) => out.receipts.push(r),
                Some(Err(e)) => return Err(e),
                None => {}
            },
            LedgerEvent::Archived(a)
                if a.template_id.module_name == treasury::MODULE
                    && a.template_id.entity_name == treasury::HOLDING =>
            {
                out.archived_holdings.push(a.contract_id.clone());
            }
            _ => {}
        }
    }
    Ok(out)
}

/// How one write went.
enum Applied {
    Done,
    /// `last_offset` is not where this session left it: the DB changed under it.
    Moved,
}

fn sql(what: &str) -> impl FnOnce(tokio_postgres::Error) -> SandboxError + '_ {
    move |source| SandboxError::Sql {
        what: format!("ingestion: {what}"),
        source,
    }
}

const UPSERT_STATE: &str = "
    INSERT INTO integration.ingestion_state
        (singleton, last_offset, last_record_time, synchronizer_id, last_update_id,
         observed_record_time, updated_at)
    VALUES (true, $1, $2, $3, $4, $5, now())
    ON CONFLICT (singleton) DO UPDATE SET
        last_offset = EXCLUDED.last_offset,
        last_record_time = COALESCE(EXCLUDED.last_record_time, ingestion_state.last_record_time),
        synchronizer_id = COALESCE(EXCLUDED.synchronizer_id, ingestion_state.synchronizer_id),
        last_update_id = COALESCE(EXCLUDED.last_update_id, ingestion_state.last_update_id),
        observed_record_time = GREATEST(ingestion_state.observed_record_time,
                                        EXCLUDED.observed_record_time),
        updated_at = now()";

/// Writes one update in one DB transaction, if `last_offset` is still `expected`.
async fn apply(
    client: &mut Client,
    expected: i64,
    update: &Update,
    rules: &Rules,
) -> Result<(Applied, Option<Decision>), SandboxError> {
    let tx = client.transaction().await.map_err(sql("begin"))?;
    let current: i64 = tx
        .query_opt(
            "SELECT last_offset FROM integration.ingestion_state WHERE singleton FOR UPDATE",
            &[],
        )
        .await
        .map_err(sql("reading the ingestion state"))?
        .map_or(0, |r| r.get(0));
    if current != expected {
        return Ok((Applied::Moved, None));
    }
    let offset = update.offset();
    let none_time: Option<DateTime<Utc>> = None;
    let none_text: Option<String> = None;
    let decision = match update {
        Update::Transaction(t) => {
            let known = if rules.skip_known {
                tx.query_opt(
                    "SELECT 1 FROM integration.ingested_transactions WHERE update_id = $1",
                    &[&t.update_id],
                )
                .await
                .map_err(sql("looking up an update id"))?
                .is_some()
            } else {
                false
            };
            let decision = decide(t.record_time, rules, known);
            if decision == Decision::Ingest {
                ingest(&tx, t).await?;
                tx.execute(
                    UPSERT_STATE,
                    &[
                        &offset,
                        &Some(t.record_time),
                        &Some(t.synchronizer_id.clone()),
                        &Some(t.update_id.clone()),
                        &Some(t.record_time),
                    ],
                )
                .await
                .map_err(sql("writing the ingestion state"))?;
            } else {
                tx.execute(
                    UPSERT_STATE,
                    &[
                        &offset,
                        &none_time,
                        &none_text,
                        &none_text,
                        &Some(t.record_time),
                    ],
                )
                .await
                .map_err(sql("advancing the offset past a skipped transaction"))?;
            }
            Some(decision)
        }
        Update::Checkpoint(c) => {
            let observed = c.synchronizer_times.iter().map(|s| s.record_time).max();
            tx.execute(
                UPSERT_STATE,
                &[&offset, &none_time, &none_text, &none_text, &observed],
            )
            .await
            .map_err(sql("writing an offset checkpoint"))?;
            None
        }
        Update::Topology(_) | Update::Reassignment(_) => {
            tx.execute(
                UPSERT_STATE,
                &[&offset, &none_time, &none_text, &none_text, &none_time],
            )
            .await
            .map_err(sql("advancing the offset"))?;
            None
        }
    };
    tx.commit().await.map_err(sql("commit"))?;
    Ok((Applied::Done, decision))
}

/// Writes a transaction's effects.
async fn ingest(
    tx: &tokio_postgres::Transaction<'_>,
    t: &TransactionUpdate,
) -> Result<(), SandboxError> {
    let fx = effects(t).map_err(|e| {
        SandboxError::Refused(format!("ingestion cannot read update {}: {e}", t.update_id))
    })?;
    tx.execute(
        "INSERT INTO integration.ingested_transactions
             (update_id, ledger_offset, record_time, synchronizer_id, kind)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &t.update_id,
            &t.offset,
            &t.record_time,
            &t.synchronizer_id,
            &fx.kind(),
        ],
    )
    .await
    .map_err(sql("recording the transaction"))?;
    for cid in &fx.archived_holdings {
        tx.execute(
            "UPDATE integration.holdings
                SET archived_update_id = $2, archived_offset = $3, archived_record_time = $4
              WHERE contract_id = $1 AND archived_update_id IS NULL",
            &[cid, &t.update_id, &t.offset, &t.record_time],
        )
        .await
        .map_err(sql("archiving a holding"))?;
        tx.execute(
            "DELETE FROM integration.holding_reservations WHERE contract_id = $1",
            &[cid],
        )
        .await
        .map_err(sql("releasing the reservation of a spent holding"))?;
    }
    for h in &fx.created_holdings {
        tx.execute(
            "INSERT INTO integration.holdings
                 (contract_id, owner_party, instrument_admin, instrument_id, amount,
                  created_update_id, created_offset, created_record_time)
             VALUES ($1, $2, $3, $4, $5::text::numeric, $6, $7, $8)",
            &[
                &h.contract_id,
                &h.owner,
                &INSTRUMENT_ADMIN,
                &h.instrument,
                &h.amount.to_string(),
                &t.update_id,
                &t.offset,
                &t.record_time,
            ],
        )
        .await
        .map_err(sql("recording a holding"))?;
    }
    for r in &fx.receipts {
        match r.kind {
            TransferKind::Deposit => {
                let customer = r.account.clone().unwrap_or_else(|| r.counterparty.clone());
                tx.execute(
                    "INSERT INTO integration.customer_ledger
                         (customer_id, instrument_admin, instrument_id, direction, reason, amount,
                          update_id, record_time)
                     VALUES ($1, $2, $3, 'credit', 'deposit', $4::text::numeric, $5, $6)",
                    &[
                        &customer,
                        &INSTRUMENT_ADMIN,
                        &treasury::INSTRUMENT,
                        &r.amount.to_string(),
                        &t.update_id,
                        &t.record_time,
                    ],
                )
                .await
                .map_err(sql("crediting a deposit"))?;
            }
            TransferKind::Withdrawal => complete_withdrawal(tx, t, r).await?,
        }
    }
    Ok(())
}

async fn complete_withdrawal(
    tx: &tokio_postgres::Transaction<'_>,
    t: &TransactionUpdate,
    r: &ReceiptView,
) -> Result<(), SandboxError> {
    let Some(wid) = r.reason.clone() else {
        tracing::warn!(update = %t.update_id, "a withdrawal receipt without a withdrawal id");
        return Ok(());
    };
    let updated = tx
        .execute(
            "UPDATE integration.withdrawals
                SET status = 'completed', failure_reason = NULL, completed_update_id = $2,
                    completed_record_time = $3, updated_at = now()
              WHERE withdrawal_id = $1 AND completed_update_id IS NULL",
            &[&wid, &t.update_id, &t.record_time],
        )
        .await
        .map_err(sql("completing a withdrawal"))?;
    if updated == 0 {
        let exists = tx
            .query_opt(
                "SELECT 1 FROM integration.withdrawals WHERE withdrawal_id = $1",
                &[&wid],
            )
            .await
            .map_err(sql("looking up a withdrawal"))?
            .is_some();
        if exists {
            tracing::warn!(withdrawal = %wid, update = %t.update_id, "a withdrawal completed a second time on the ledger");
        } else {
            // The request was lost (a DB restore): re-create it from the on-chain data.
            tx.execute(
                "INSERT INTO integration.withdrawals
                     (withdrawal_id, customer_id, receiver_party, instrument_admin, instrument_id,
                      amount, status, trec_tgt, completed_update_id, completed_record_time,
                      recovered, updated_at)
                 VALUES ($1, NULL, $2, $3, $4, $5::text::numeric, 'completed', $6, $7, $8,
                         true, now())",
                &[
                    &wid,
                    &r.counterparty,
                    &INSTRUMENT_ADMIN,
                    &treasury::INSTRUMENT,
                    &r.amount.to_string(),
                    &r.execute_before,
                    &t.update_id,
                    &t.record_time,
                ],
            )
            .await
            .map_err(sql("re-creating a recovered withdrawal"))?;
        }
    }
    tx.execute(
        "DELETE FROM integration.holding_reservations WHERE withdrawal_id = $1",
        &[&wid],
    )
    .await
    .map_err(sql("releasing a completed withdrawal's reservations"))?;
    Ok(())
}

/// Where a session starts.
struct Start {
    offset: i64,
    rules: Rules,
}

/// Reads the configuration and state, applies and clears a configured start offset, and marks
/// ingestion running — in one DB transaction.
async fn begin(client: &mut Client) -> Result<Start, SandboxError> {
    let tx = client.transaction().await.map_err(sql("begin"))?;
    let config = tx
        .query_opt(
            "SELECT start_offset, skip_known_update_ids FROM integration.ingestion_config
              WHERE singleton FOR UPDATE",
            &[],
        )
        .await
        .map_err(sql("reading the ingestion configuration"))?;
    let (start_offset, skip_known): (Option<i64>, bool) =
        config.map_or((None, false), |r| (r.get(0), r.get(1)));
    let state = tx
        .query_opt(
            "SELECT last_offset, last_record_time FROM integration.ingestion_state
              WHERE singleton FOR UPDATE",
            &[],
        )
        .await
        .map_err(sql("reading the ingestion state"))?;
    let (last_offset, threshold): (i64, Option<DateTime<Utc>>) =
        state.map_or((0, None), |r| (r.get(0), r.get(1)));
    let offset = match start_offset {
        Some(o) => {
            let none_time: Option<DateTime<Utc>> = None;
            let none_text: Option<String> = None;
            tx.execute(
                UPSERT_STATE,
                &[&o, &none_time, &none_text, &none_text, &none_time],
            )
            .await
            .map_err(sql("applying the configured start offset"))?;
            tx.execute(
                "UPDATE integration.ingestion_config
                    SET start_offset = NULL, updated_at = now(), updated_by = 'tx-history-ingestion'",
                &[],
            )
            .await
            .map_err(sql("clearing the configured start offset"))?;
            o
        }
        None => last_offset,
    };
    tx.execute(
        "UPDATE integration.ingestion_status
            SET running = true, heartbeat_at = now(), stopped_at = NULL",
        &[],
    )
    .await
    .map_err(sql("marking ingestion running"))?;
    tx.commit().await.map_err(sql("commit"))?;
    Ok(Start {
        offset,
        rules: Rules {
            threshold,
            skip_known,
        },
    })
}

struct Shared {
    db: IntegrationDb,
    canton: CantonClient,
    treasury: String,
    /// Stop by itself right after ingesting this update (a scenario's fault injection).
    halt_after: Mutex<Option<String>>,
}

struct Task {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// The ingestion process: started and stopped by the control commands.
pub struct Ingestion {
    shared: Arc<Shared>,
    task: tokio::sync::Mutex<Option<Task>>,
}

enum End {
    Stopped,
    Halted,
    Resync,
}

impl Ingestion {
    /// Ingestion for `treasury`'s transactions, reading through `canton`.
    pub fn new(db: IntegrationDb, canton: CantonClient, treasury: String) -> Ingestion {
        Ingestion {
            shared: Arc::new(Shared {
                db,
                canton,
                treasury,
                halt_after: Mutex::new(None),
            }),
            task: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether the process runs.
    pub async fn is_running(&self) -> bool {
        self.task
            .lock()
            .await
            .as_ref()
            .is_some_and(|t| !t.handle.is_finished())
    }

    /// Starts the process (nothing happens if it runs). It marks itself running in the DB
    /// before this returns.
    pub async fn start(&self) -> Result<(), SandboxError> {
        let mut task = self.task.lock().await;
        if task.as_ref().is_some_and(|t| !t.handle.is_finished()) {
            return Ok(());
        }
        {
            let _gate = self.shared.db.shared().await;
            let client = self.shared.db.connect().await?;
            client
                .execute(
                    "UPDATE integration.ingestion_status
                        SET running = true, started_at = now(), heartbeat_at = now(),
                            stopped_at = NULL, instance_id = $1",
                    &[&format!("sandbox-ingestion-{}", std::process::id())],
                )
                .await
                .map_err(sql("marking ingestion running"))?;
        }
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::clone(&self.shared);
        let handle = tokio::spawn(run(shared, stopped));
        *task = Some(Task { stop, handle });
        Ok(())
    }

    /// Stops the process after the update it is writing, and marks it stopped in the DB.
    pub async fn stop(&self) -> Result<(), SandboxError> {
        if let Some(t) = self.task.lock().await.take() {
            let _ = t.stop.send(true);
            let mut handle = t.handle;
            if tokio::time::timeout(Duration::from_secs(10), &mut handle)
                .await
                .is_err()
            {
                handle.abort();
            }
        }
        mark_stopped(&self.shared.db).await
    }

    /// Makes the process stop by itself right after it ingests `update_id`.
    pub fn halt_after(&self, update_id: String) {
        *self
            .shared
            .halt_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(update_id);
    }
}

async fn mark_stopped(db: &IntegrationDb) -> Result<(), SandboxError> {
    let _gate = db.shared().await;
    let client = db.connect().await?;
    client
        .execute(
            "UPDATE integration.ingestion_status SET running = false, stopped_at = now()",
            &[],
        )
        .await
        .map_err(sql("marking ingestion stopped"))?;
    Ok(())
}

async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut generation = shared.db.generation();
    let mut conn = Conn::new(shared.db.clone());
    loop {
        if *stop.borrow() {
            return;
        }
        match session(&shared, &mut conn, &mut stop, &mut generation).await {
            Ok(End::Stopped) => return,
            Ok(End::Halted) => {
                if let Err(e) = mark_stopped(&shared.db).await {
                    tracing::warn!(error = %e, "ingestion halted but could not record it");
                }
                return;
            }
            Ok(End::Resync) => {}
            Err(e) => {
                tracing::debug!(error = %e, "ingestion session ended; retrying");
                conn.reset();
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

async fn session(
    shared: &Shared,
    conn: &mut Conn,
    stop: &mut watch::Receiver<bool>,
    generation: &mut watch::Receiver<u64>,
) -> Result<End, SandboxError> {
    generation.mark_unchanged();
    let start = {
        let _gate = shared.db.shared().await;
        begin(conn.get().await?).await?
    };
    let mut stream = shared
        .canton
        .updates(start.offset, None, std::slice::from_ref(&shared.treasury))
        .await
        .map_err(|e| SandboxError::Canton(e.to_string()))?;
    let mut cursor = start.offset;
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(End::Stopped),
            _ = generation.changed() => return Ok(End::Resync),
            _ = beat.tick() => {
                let _gate = shared.db.shared().await;
                conn.get()
                    .await?
                    .execute(
                        "UPDATE integration.ingestion_status SET heartbeat_at = now() WHERE running",
                        &[],
                    )
                    .await
                    .map_err(sql("heartbeat"))?;
            }
            next = stream.next_update() => {
                let update = match next {
                    None => return Ok(End::Resync),
                    Some(Err(e)) => return Err(SandboxError::Canton(e.to_string())),
                    Some(Ok(u)) => u,
                };
                let _gate = shared.db.shared().await;
                let (applied, _) = apply(conn.get().await?, cursor, &update, &start.rules).await?;
                match applied {
                    Applied::Moved => return Ok(End::Resync),
                    Applied::Done => cursor = update.offset(),
                }
                if let Update::Transaction(t) = &update {
                    let mut halt = shared.halt_after.lock().unwrap_or_else(PoisonError::into_inner);
                    if halt.as_deref() == Some(t.update_id.as_str()) {
                        *halt = None;
                        return Ok(End::Halted);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::probe::canton::updates::{ArchivedEvent, TemplateId};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn record_time_rule_skips_at_and_before_the_threshold() {
        let rules = Rules {
            threshold: Some(t(10)),
            skip_known: false,
        };
        assert_eq!(decide(t(9), &rules, false), Decision::SkipRecordTime);
        assert_eq!(decide(t(10), &rules, false), Decision::SkipRecordTime);
        assert_eq!(decide(t(11), &rules, false), Decision::Ingest);
        // The rule ignores whether the update is known: it is about record times.
        assert_eq!(decide(t(10), &rules, true), Decision::SkipRecordTime);
    }

    #[test]
    fn nothing_is_skipped_before_anything_was_ingested() {
        let rules = Rules {
            threshold: None,
            skip_known: false,
        };
        assert_eq!(decide(t(0), &rules, false), Decision::Ingest);
    }

    #[test]
    fn skip_known_mode_goes_by_update_id_only() {
        let rules = Rules {
            threshold: Some(t(10)),
            skip_known: true,
        };
        // Same record time as the last ingested, not yet ingested: ingested (the rest of a
        // group sharing tRecovery).
        assert_eq!(decide(t(10), &rules, false), Decision::Ingest);
        assert_eq!(decide(t(10), &rules, true), Decision::SkipKnown);
        assert_eq!(decide(t(12), &rules, true), Decision::SkipKnown);
    }

    fn tid(entity: &str) -> TemplateId {
        TemplateId {
            package_id: "pkg".into(),
            module_name: treasury::MODULE.into(),
            entity_name: entity.into(),
        }
    }

    fn created(cid: &str, entity: &str, fields: Vec<(&str, DamlValue)>) -> LedgerEvent {
        LedgerEvent::Created(CreatedEvent {
            offset: 5,
            node_id: 0,
            contract_id: cid.into(),
            template_id: tid(entity),
            package_name: "exchange-treasury".into(),
            arguments: DamlRecord {
                record_id: None,
                fields: fields
                    .into_iter()
                    .map(|(l, v)| (l.to_string(), v))
                    .collect(),
            },
            signatories: vec!["treasury::1220aa".into()],
            observers: Vec::new(),
            witness_parties: Vec::new(),
            created_at: None,
        })
    }

    fn some(v: DamlValue) -> DamlValue {
        DamlValue::Optional(Some(Box::new(v)))
    }

    fn withdrawal_tx() -> TransactionUpdate {
        TransactionUpdate {
            update_id: "1220u".into(),
            command_id: String::new(),
            workflow_id: String::new(),
            effective_at: None,
            offset: 5,
            synchronizer_id: "sync".into(),
            record_time: t(3),
            events: vec![
                LedgerEvent::Archived(ArchivedEvent {
                    offset: 5,
                    node_id: 0,
                    contract_id: "00in".into(),
                    template_id: tid(treasury::HOLDING),
                    package_name: "exchange-treasury".into(),
                    witness_parties: Vec::new(),
                }),
                created(
                    "00change",
                    treasury::HOLDING,
                    vec![
                        ("owner", DamlValue::Party("treasury::1220aa".into())),
                        ("instrument", DamlValue::Text("Amulet".into())),
                        ("amount", DamlValue::Numeric("7.5000000000".into())),
                    ],
                ),
                created(
                    "00receipt",
                    treasury::TRANSFER_RECEIPT,
                    vec![
                        ("treasury", DamlValue::Party("treasury::1220aa".into())),
                        ("kind", DamlValue::Enum("Withdrawal".into())),
                        ("counterparty", DamlValue::Party("dest".into())),
                        ("account", DamlValue::Optional(None)),
                        ("reason", some(DamlValue::Text("wd-9".into()))),
                        ("amount", DamlValue::Numeric("2.5".into())),
                        ("executeBefore", some(DamlValue::Timestamp(t(60)))),
                    ],
                ),
            ],
        }
    }

    #[test]
    fn a_withdrawal_is_read_with_its_id_and_target_record_time() {
        let fx = effects(&withdrawal_tx()).unwrap();
        assert_eq!(fx.kind(), "withdrawal");
        assert_eq!(fx.archived_holdings, vec!["00in".to_string()]);
        assert_eq!(fx.created_holdings.len(), 1);
        assert_eq!(fx.created_holdings[0].amount, "7.5".parse().unwrap());
        assert_eq!(fx.created_holdings[0].owner, "treasury::1220aa");
        let r = &fx.receipts[0];
        assert_eq!(r.reason.as_deref(), Some("wd-9"));
        assert_eq!(r.account, None);
        assert_eq!(r.execute_before, Some(t(60)));
    }

    #[test]
    fn a_malformed_receipt_is_reported_not_ingested() {
        let mut tx = withdrawal_tx();
        if let LedgerEvent::Created(c) = &mut tx.events[2] {
            c.arguments.fields.retain(|(l, _)| l != "amount");
        }
        let err = effects(&tx).unwrap_err();
        assert!(err.contains("00receipt") && err.contains("amount"), "{err}");
    }

    #[test]
    fn merges_and_foreign_templates() {
        let mut tx = withdrawal_tx();
        tx.events.truncate(2);
        assert_eq!(effects(&tx).unwrap().kind(), "merge");
        tx.events = vec![LedgerEvent::Created(CreatedEvent {
            template_id: TemplateId {
                package_id: "p".into(),
                module_name: "Other.Module".into(),
                entity_name: "Thing".into(),
            },
            ..match created("00x", treasury::HOLDING, vec![]) {
                LedgerEvent::Created(c) => c,
                _ => unreachable!(),
            }
        })];
        let fx = effects(&tx).unwrap();
        assert_eq!(fx, Effects::default());
        assert_eq!(fx.kind(), "other");
    }
}
