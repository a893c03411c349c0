//! The exchange's internal systems, simulated: while new withdrawals are enabled
//! (`withdrawal_control.enabled`), customers with a balance ask to withdraw. Each request is
//! written in one DB transaction, as step 2 of the guide's withdrawal workflow: the customer
//! debit, the pending withdrawal with `trec_tgt = now + ttl`, and the reservation of an unspent
//! holding until that trecTgt. A holding is free when it has no reservation, or when ingestion
//! has observed a record time past the reservation's end.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::db::{Conn, INSTRUMENT_ADMIN, IntegrationDb};
use super::error::SandboxError;
use super::participant::Amount;
use super::participant::treasury::INSTRUMENT;
use super::truth::{Fact, Truth};

/// The smallest amount requested (one cent, in units of 10⁻¹⁰).
const CENT: u64 = 100_000_000;

fn sql(what: &str) -> impl FnOnce(tokio_postgres::Error) -> SandboxError + '_ {
    move |source| SandboxError::Sql {
        what: format!("exchange internal systems: {what}"),
        source,
    }
}

/// Half of the smaller of a balance and a holding, in whole cents; `None` below a cent.
pub fn request_amount(balance: Amount, holding: Amount) -> Option<Amount> {
    let half = balance.min(holding).units() / 2;
    let cents = half / CENT;
    (cents > 0).then(|| Amount::from_units(cents * CENT))
}

struct Shared {
    db: IntegrationDb,
    truth: Arc<Truth>,
    ttl: Duration,
    every: Duration,
    rng: Mutex<StdRng>,
    next_id: AtomicU64,
}

/// The internal systems' withdrawal requests.
pub struct Exchange {
    shared: Arc<Shared>,
    task: tokio::sync::Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
}

impl Exchange {
    /// Requests one withdrawal per `every` (while enabled), each with `trec_tgt = now + ttl`.
    pub fn new(
        db: IntegrationDb,
        truth: Arc<Truth>,
        ttl: Duration,
        every: Duration,
        seed: u64,
    ) -> Exchange {
        Exchange {
            shared: Arc::new(Shared {
                db,
                truth,
                ttl,
                every,
                rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x7769_7468)),
                next_id: AtomicU64::new(1),
            }),
            task: tokio::sync::Mutex::new(None),
        }
    }

    /// Starts requesting withdrawals.
    pub async fn start(&self) {
        let mut task = self.task.lock().await;
        if task.as_ref().is_some_and(|(_, h)| !h.is_finished()) {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        *task = Some((stop, tokio::spawn(run(Arc::clone(&self.shared), stopped))));
    }

    /// Stops (when the sandbox shuts down).
    pub async fn stop(&self) {
        if let Some((stop, mut handle)) = self.task.lock().await.take() {
            let _ = stop.send(true);
            if tokio::time::timeout(Duration::from_secs(10), &mut handle)
                .await
                .is_err()
            {
                handle.abort();
            }
        }
    }
}

async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conn = Conn::new(shared.db.clone());
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(shared.every) => {}
        }
        if let Err(e) = request(&shared, &mut conn).await {
            tracing::debug!(error = %e, "a withdrawal request failed");
            conn.reset();
        }
    }
}

/// Writes one withdrawal request, if withdrawals are enabled and a customer and a holding are
/// available.
async fn request(shared: &Shared, conn: &mut Conn) -> Result<(), SandboxError> {
    let _gate = shared.db.shared().await;
    let client = conn.get().await?;
    let tx = client.transaction().await.map_err(sql("begin"))?;
    let enabled: bool = tx
        .query_opt(
            "SELECT enabled FROM integration.withdrawal_control WHERE singleton FOR SHARE",
            &[],
        )
        .await
        .map_err(sql("reading the withdrawals switch"))?
        .is_some_and(|r| r.get(0));
    if !enabled {
        return Ok(());
    }
    let observed: Option<DateTime<Utc>> = tx
        .query_opt(
            "SELECT observed_record_time FROM integration.ingestion_state",
            &[],
        )
        .await
        .map_err(sql("reading how far ingestion has read"))?
        .and_then(|r| r.get(0));
    let customers: Vec<(String, String)> = tx
        .query(
            "SELECT customer_id, balance::text FROM integration.customer_balances
              WHERE balance >= 0.01 ORDER BY customer_id",
            &[],
        )
        .await
        .map_err(sql("reading balances"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let holdings: Vec<(String, String)> = tx
        .query(
            "SELECT h.contract_id, h.amount::text
               FROM integration.holdings h
               LEFT JOIN integration.holding_reservations r ON r.contract_id = h.contract_id
              WHERE h.archived_update_id IS NULL AND NOT h.locked
                AND (r.contract_id IS NULL
                     OR ($1::timestamptz IS NOT NULL AND r.reserved_until < $1))
              ORDER BY h.created_record_time, h.contract_id
              LIMIT 50",
            &[&observed],
        )
        .await
        .map_err(sql("finding free holdings"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if customers.is_empty() || holdings.is_empty() {
        return Ok(());
    }
    let (customer, balance, holding, holding_amount) = {
        let mut rng = shared.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let (c, b) = &customers[rng.random_range(0..customers.len())];
        let (h, a) = &holdings[rng.random_range(0..holdings.len())];
        (c.clone(), b.clone(), h.clone(), a.clone())
    };
    let (Ok(balance), Ok(holding_amount)) = (
        Amount::from_str(&balance),
        Amount::from_str(&holding_amount),
    ) else {
        return Ok(());
    };
    let Some(amount) = request_amount(balance, holding_amount) else {
        return Ok(());
    };
    // Microseconds, the precision of the DB and of record times.
    let now = crate::clock::truncate_to_micros(Utc::now());
    let trec_tgt = now + TimeDelta::from_std(shared.ttl).unwrap_or(TimeDelta::hours(1));
    let id = format!("wd-{:05}", shared.next_id.fetch_add(1, Ordering::Relaxed));
    let receiver = format!("{customer}-wallet::external");
    let amount_text = amount.to_string();
    tx.execute(
        "DELETE FROM integration.holding_reservations WHERE contract_id = $1",
        &[&holding],
    )
    .await
    .map_err(sql("clearing an expired reservation"))?;
    tx.execute(
        "INSERT INTO integration.withdrawals
             (withdrawal_id, customer_id, receiver_party, instrument_admin, instrument_id,
              amount, status, trec_tgt, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6::text::numeric, 'pending', $7, $8)",
        &[
            &id,
            &customer,
            &receiver,
            &INSTRUMENT_ADMIN,
            &INSTRUMENT,
            &amount_text,
            &trec_tgt,
            &now,
        ],
    )
    .await
    .map_err(sql("writing a withdrawal request"))?;
    tx.execute(
        "INSERT INTO integration.customer_ledger
             (customer_id, instrument_admin, instrument_id, direction, reason, amount,
              withdrawal_id)
         VALUES ($1, $2, $3, 'debit', 'withdrawal', $4::text::numeric, $5)",
        &[&customer, &INSTRUMENT_ADMIN, &INSTRUMENT, &amount_text, &id],
    )
    .await
    .map_err(sql("debiting the customer"))?;
    tx.execute(
        "INSERT INTO integration.holding_reservations
             (contract_id, withdrawal_id, reserved_until, reserved_at)
         VALUES ($1, $2, $3, $4)",
        &[&holding, &id, &trec_tgt, &now],
    )
    .await
    .map_err(sql("reserving a holding"))?;
    tx.commit().await.map_err(sql("commit"))?;
    shared.truth.record(Fact::WithdrawalRequested {
        withdrawal_id: id,
        customer_id: customer,
        amount: amount_text,
        holdings: vec![holding],
        requested_at: now,
        trec_tgt,
    });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_take_half_of_the_smaller_amount_in_whole_cents() {
        let a = |s: &str| Amount::from_str(s).unwrap();
        assert_eq!(request_amount(a("100"), a("30")), Some(a("15")));
        assert_eq!(request_amount(a("3.03"), a("50")), Some(a("1.51")));
        assert_eq!(request_amount(a("0.01"), a("50")), None);
        assert_eq!(request_amount(a("10"), a("0.019")), None);
    }
}
