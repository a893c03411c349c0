//! The simulated Withdrawal Automation: it polls the Integration DB for pending withdrawals and
//! executes them on the participant with the reserved holdings as inputs and the withdrawal's
//! trecTgt as the maximum record time (`trecTgt = request time + ttl`).
//!
//! A submitted transfer is in flight on Canton for a while (the scenario's latency) before the
//! synchronizer sequences or refuses it; stopping the automation does not recall it. The
//! automation marks a withdrawal failed when the synchronizer refuses it, when it never got to
//! submit it before its trecTgt, or once ingestion has observed a record time past its trecTgt
//! without ingesting it (definitely failed); each releases the withdrawal's reservations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::db::{Conn, IntegrationDb};
use super::error::SandboxError;
use super::participant::{
    Amount, ParticipantError, RunningParticipant, SubmissionOutcome, SubmitWithdrawal,
};
use super::truth::{Fact, Truth};

/// How often the automation looks for work.
const POLL: Duration = Duration::from_millis(300);

fn sql(what: &str) -> impl FnOnce(tokio_postgres::Error) -> SandboxError + '_ {
    move |source| SandboxError::Sql {
        what: format!("withdrawal automation: {what}"),
        source,
    }
}

struct Shared {
    db: IntegrationDb,
    participant: RunningParticipant,
    truth: Arc<Truth>,
    latency: Duration,
    inflight: tokio::sync::Mutex<JoinSet<()>>,
}

struct Task {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// The automation process.
pub struct Automation {
    shared: Arc<Shared>,
    task: tokio::sync::Mutex<Option<Task>>,
}

/// A pending withdrawal ready to execute.
struct Pending {
    withdrawal_id: String,
    amount: Amount,
    receiver: String,
    trec_tgt: DateTime<Utc>,
    inputs: Vec<String>,
}

impl Automation {
    /// An automation that executes on `participant`, with transfers in flight for `latency`.
    pub fn new(
        db: IntegrationDb,
        participant: RunningParticipant,
        truth: Arc<Truth>,
        latency: Duration,
    ) -> Automation {
        Automation {
            shared: Arc::new(Shared {
                db,
                participant,
                truth,
                latency,
                inflight: tokio::sync::Mutex::new(JoinSet::new()),
            }),
            task: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether the automation runs.
    pub async fn is_running(&self) -> bool {
        self.task
            .lock()
            .await
            .as_ref()
            .is_some_and(|t| !t.handle.is_finished())
    }

    /// Starts it (nothing happens if it runs).
    pub async fn start(&self) {
        let mut task = self.task.lock().await;
        if task.as_ref().is_some_and(|t| !t.handle.is_finished()) {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let handle = tokio::spawn(run(Arc::clone(&self.shared), stopped));
        *task = Some(Task { stop, handle });
    }

    /// Stops it after its current round. Transfers already in flight stay in flight.
    pub async fn stop(&self) {
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
    }

    /// Ends the transfers still in flight (when the whole sandbox stops).
    pub async fn abort_inflight(&self) {
        self.shared.inflight.lock().await.shutdown().await;
    }
}

async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conn = Conn::new(shared.db.clone());
    loop {
        if let Err(e) = round(&shared, &mut conn).await {
            tracing::debug!(error = %e, "withdrawal automation round failed");
            conn.reset();
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Releases the reservations of withdrawals just marked failed, refunds their customers, and
/// records why.
async fn released(
    shared: &Shared,
    client: &tokio_postgres::Client,
    ids: Vec<String>,
    reason: &str,
) -> Result<(), SandboxError> {
    for id in ids {
        client
            .execute(
                "DELETE FROM integration.holding_reservations WHERE withdrawal_id = $1",
                &[&id],
            )
            .await
            .map_err(sql("releasing reservations"))?;
        client
            .execute(
                "INSERT INTO integration.customer_ledger
                     (customer_id, instrument_admin, instrument_id, direction, reason, amount,
                      withdrawal_id)
                 SELECT customer_id, instrument_admin, instrument_id, 'credit',
                        'withdrawal_refund', amount, withdrawal_id
                   FROM integration.withdrawals
                  WHERE withdrawal_id = $1 AND customer_id IS NOT NULL",
                &[&id],
            )
            .await
            .map_err(sql("refunding the customer"))?;
        shared.truth.record(Fact::ReservationReleased {
            withdrawal_id: id,
            at: Utc::now(),
            reason: reason.to_string(),
        });
    }
    Ok(())
}

async fn round(shared: &Arc<Shared>, conn: &mut Conn) -> Result<(), SandboxError> {
    let _gate = shared.db.shared().await;
    let client = conn.get().await?;
    let now = Utc::now();
    let never_submitted: Vec<String> = client
        .query(
            "UPDATE integration.withdrawals
                SET status = 'failed', updated_at = now(),
                    failure_reason = 'trecTgt passed before the transfer could be submitted'
              WHERE status = 'pending' AND trec_tgt <= $1
          RETURNING withdrawal_id",
            &[&now],
        )
        .await
        .map_err(sql("failing expired requests"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    released(shared, client, never_submitted, "expired before submission").await?;
    let definitely_failed: Vec<String> = client
        .query(
            "UPDATE integration.withdrawals
                SET status = 'failed', updated_at = now(),
                    failure_reason = 'ingestion passed trecTgt without seeing the transfer'
              WHERE status = 'submitted'
                AND trec_tgt < (SELECT observed_record_time FROM integration.ingestion_state)
          RETURNING withdrawal_id",
            &[],
        )
        .await
        .map_err(sql("failing withdrawals past their trecTgt"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    released(
        shared,
        client,
        definitely_failed,
        "ingestion passed trecTgt without the transfer",
    )
    .await?;
    let rows = client
        .query(
            "SELECT w.withdrawal_id, w.amount::text, w.receiver_party, w.trec_tgt,
                    ARRAY(SELECT r.contract_id FROM integration.holding_reservations r
                           WHERE r.withdrawal_id = w.withdrawal_id ORDER BY r.contract_id)
               FROM integration.withdrawals w
              WHERE w.status = 'pending'
              ORDER BY w.requested_at
              LIMIT 20",
            &[],
        )
        .await
        .map_err(sql("reading pending withdrawals"))?;
    for row in rows {
        let amount_text: String = row.get(1);
        let pending = Pending {
            withdrawal_id: row.get(0),
            amount: Amount::from_str(&amount_text).unwrap_or(Amount::ZERO),
            receiver: row.get(2),
            trec_tgt: row.get(3),
            inputs: row.get(4),
        };
        let claimed = client
            .execute(
                "UPDATE integration.withdrawals
                    SET status = 'submitted', submitted_at = now(), updated_at = now()
                  WHERE withdrawal_id = $1 AND status = 'pending'",
                &[&pending.withdrawal_id],
            )
            .await
            .map_err(sql("marking a withdrawal submitted"))?;
        if claimed == 1 {
            shared.truth.record(Fact::WithdrawalSubmitted {
                withdrawal_id: pending.withdrawal_id.clone(),
                at: Utc::now(),
            });
            let s = Arc::clone(shared);
            let mut inflight = shared.inflight.lock().await;
            while inflight.try_join_next().is_some() {}
            inflight.spawn(async move { in_flight(s, pending).await });
        }
    }
    Ok(())
}

/// One transfer on its way to the synchronizer.
async fn in_flight(shared: Arc<Shared>, p: Pending) {
    tokio::time::sleep(shared.latency).await;
    let request = SubmitWithdrawal {
        withdrawal_id: p.withdrawal_id.clone(),
        inputs: p.inputs.clone(),
        amount: p.amount,
        destination: p.receiver.clone(),
        max_record_time: p.trec_tgt,
    };
    let outcome = match shared.participant.submit(request) {
        Ok(submission) => submission.outcome().await,
        Err(e) => Err(e),
    };
    let result = match outcome {
        Ok(SubmissionOutcome::Accepted { update_id, .. }) => {
            shared.truth.record(Fact::WithdrawalOutcome {
                withdrawal_id: p.withdrawal_id.clone(),
                at: Utc::now(),
                update_id: Some(update_id),
                rejected: None,
            });
            Ok(())
        }
        Ok(SubmissionOutcome::Rejected(reason)) => {
            let reason = reason.to_string();
            shared.truth.record(Fact::WithdrawalOutcome {
                withdrawal_id: p.withdrawal_id.clone(),
                at: Utc::now(),
                update_id: None,
                rejected: Some(reason.clone()),
            });
            mark_failed(&shared, &p.withdrawal_id, &reason).await
        }
        Err(ParticipantError::Unavailable(_) | ParticipantError::Stopped) => {
            // Never reached the synchronizer: try again on a later round.
            back_to_pending(&shared, &p.withdrawal_id).await
        }
        Err(e) => mark_failed(&shared, &p.withdrawal_id, &e.to_string()).await,
    };
    if let Err(e) = result {
        tracing::warn!(withdrawal = %p.withdrawal_id, error = %e, "recording a transfer's outcome failed");
    }
}

async fn mark_failed(shared: &Shared, id: &str, reason: &str) -> Result<(), SandboxError> {
    let _gate = shared.db.shared().await;
    let client = shared.db.connect().await?;
    let n = client
        .execute(
            "UPDATE integration.withdrawals
                SET status = 'failed', failure_reason = $2, updated_at = now()
              WHERE withdrawal_id = $1 AND status = 'submitted'",
            &[&id, &reason],
        )
        .await
        .map_err(sql("marking a refused withdrawal failed"))?;
    if n == 1 {
        released(shared, &client, vec![id.to_string()], reason).await?;
    }
    Ok(())
}

async fn back_to_pending(shared: &Shared, id: &str) -> Result<(), SandboxError> {
    let _gate = shared.db.shared().await;
    let client = shared.db.connect().await?;
    client
        .execute(
            "UPDATE integration.withdrawals
                SET status = 'pending', submitted_at = NULL, updated_at = now()
              WHERE withdrawal_id = $1 AND status = 'submitted'",
            &[&id],
        )
        .await
        .map_err(sql("returning an unsubmitted withdrawal to pending"))?;
    Ok(())
}
