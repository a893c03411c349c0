#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed assertion
//! The simulated world in process, against a real PostgreSQL cluster and the simulated
//! participant over loopback gRPC: the ingestion's rules (a configured start offset, skipping
//! by record time while advancing the offset, recovered withdrawals after a DB restore) and
//! the control requests that drive them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canton_dr::sandbox::control::Request;
use canton_dr::sandbox::judge::{self, JudgeInput};
use canton_dr::sandbox::truth::Fact;
use canton_dr::sandbox::{Sandbox, SandboxOptions};
use secrecy::SecretString;

async fn start(dir: &tempfile::TempDir) -> Arc<Sandbox> {
    Sandbox::start(SandboxOptions {
        dir: dir.path().join("sandbox"),
        scenario: None,
        keep: false,
        idle_timeout: None,
        token: SecretString::from("test-token"),
        db_password: SecretString::from("test-reader-password"),
        exe: PathBuf::from("/nonexistent/canton-dr"),
        pg_root: None,
        identity_key: None,
        registry: canton_dr::secret::SecretRegistry::new(),
    })
    .await
    .unwrap()
}

async fn ask(sb: &Sandbox, component: &str, action: &str, args: &[(&str, &str)]) -> String {
    let mut r = Request::new(component, action);
    for (k, v) in args {
        r = r.arg(k, *v);
    }
    let resp = sb.handle(r).await;
    assert_eq!(resp.code, 0, "{component} {action}: {}", resp.message);
    resp.message
}

/// Polls the judge's view until `cond` holds (bounded).
async fn until(sb: &Sandbox, what: &str, cond: impl Fn(&JudgeInput) -> bool) -> JudgeInput {
    let started = Instant::now();
    loop {
        let input = sb.judge_input().await.unwrap();
        if cond(&input) {
            return input;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn last_offset(i: &JudgeInput) -> i64 {
    i.db.state.as_ref().map_or(0, |s| s.last_offset)
}

async fn reader(sb: &Sandbox, dir: &tempfile::TempDir) -> tokio_postgres::Client {
    let info = sb.info();
    let url = info.database_url.clone();
    let password =
        std::fs::read_to_string(dir.path().join("sandbox/secrets/integration-db-password"))
            .unwrap();
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.password(password);
    let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_start_offset_is_used_once_and_earlier_transactions_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(&dir).await;
    until(&sb, "some transactions ingested", |i| last_offset(i) >= 12).await;
    ask(&sb, "ingestion", "stop", &[]).await;
    let before = sb.judge_input().await.unwrap();
    let stopped_at = last_offset(&before);
    let threshold = before.db.state.as_ref().unwrap().last_record_time.unwrap();
    let ingested_before = before.db.ingested.len();

    let msg = ask(
        &sb,
        "ingestion",
        "set-start-offset",
        &[("START_OFFSET", "3")],
    )
    .await;
    assert!(msg.contains("offset 3"), "{msg}");
    let db = reader(&sb, &dir).await;
    let configured: Option<i64> = db
        .query_one("SELECT start_offset FROM integration.ingestion_config", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(configured, Some(3));
    ask(&sb, "ingestion", "start", &[]).await;
    let after = until(&sb, "ingestion moved past where it stopped", |i| {
        last_offset(i) > stopped_at + 3
    })
    .await;

    // The start offset was taken and cleared.
    let configured: Option<i64> = db
        .query_one("SELECT start_offset FROM integration.ingestion_config", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(configured, None);
    // Re-read transactions (record time at or before the threshold) were skipped, not
    // ingested again, and the offset still advanced past them.
    let reingested: i64 = db
        .query_one(
            "SELECT count(*) FROM integration.ingested_transactions WHERE record_time <= $1",
            &[&threshold],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(usize::try_from(reingested).unwrap(), ingested_before);
    assert!(after.db.ingested.len() > ingested_before);
    for c in judge::judge(&after) {
        if [
            judge::NO_GAP,
            judge::INGESTED_EXACTLY_ONCE,
            judge::OFFSET_VALID,
        ]
        .contains(&c.name.as_str())
        {
            assert!(c.passed, "{}: {}", c.name, c.evidence);
        }
    }
    let status: bool = db
        .query_one("SELECT running FROM integration.ingestion_status", &[])
        .await
        .unwrap()
        .get(0);
    assert!(status);
    sb.stop().await;
    assert!(!dir.path().join("sandbox").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_lost_in_a_db_restore_is_recreated_as_recovered_from_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(&dir).await;
    until(&sb, "holdings to withdraw from", |i| {
        i.db.holdings.len() >= 10
    })
    .await;
    let msg = ask(&sb, "integration", "backup", &[]).await;
    let backup = msg
        .strip_prefix("Integration DB backed up to ")
        .unwrap()
        .to_string();
    let backed_up_at = chrono::Utc::now();
    // A withdrawal requested after the backup and executed on the ledger.
    let (wid, update) = {
        let started = Instant::now();
        loop {
            let input = sb.judge_input().await.unwrap();
            let found = input.facts.iter().find_map(|f| match f {
                Fact::WithdrawalOutcome {
                    withdrawal_id,
                    update_id: Some(u),
                    ..
                } if input.facts.iter().any(|g| {
                    matches!(g,
                    Fact::WithdrawalRequested { withdrawal_id: w, requested_at, .. }
                        if w == withdrawal_id && *requested_at > backed_up_at)
                }) && input.db.ingested.contains(u) =>
                {
                    Some((withdrawal_id.clone(), u.clone()))
                }
                _ => None,
            });
            if let Some(x) = found {
                break x;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no withdrawal was executed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let requested_tgt = sb
        .judge_input()
        .await
        .unwrap()
        .facts
        .iter()
        .find_map(|f| match f {
            Fact::WithdrawalRequested {
                withdrawal_id,
                trec_tgt,
                ..
            } if *withdrawal_id == wid => Some(*trec_tgt),
            _ => None,
        })
        .unwrap();

    ask(&sb, "integration", "restore", &[("BACKUP", &backup)]).await;
    let db = reader(&sb, &dir).await;
    let gone: i64 = db
        .query_one(
            "SELECT count(*) FROM integration.withdrawals WHERE withdrawal_id = $1",
            &[&wid],
        )
        .await
        .unwrap()
        .get(0);
    // The request was written after the backup: the restored DB may already have re-ingested
    // it (ingestion runs), but then only as recovered.
    let after = until(&sb, "the withdrawal re-ingested", |i| {
        i.db.ingested.contains(&update)
    })
    .await;
    let row = db
        .query_one(
            "SELECT recovered, status, customer_id, trec_tgt, completed_update_id
               FROM integration.withdrawals WHERE withdrawal_id = $1",
            &[&wid],
        )
        .await
        .unwrap();
    let recovered: bool = row.get(0);
    let status: String = row.get(1);
    let customer: Option<String> = row.get(2);
    let trec_tgt: Option<chrono::DateTime<chrono::Utc>> = row.get(3);
    let completed_by: Option<String> = row.get(4);
    assert!(
        recovered,
        "withdrawal {wid} (present right after the restore: {gone})"
    );
    assert_eq!(status, "completed");
    assert_eq!(customer, None, "not recoverable from the ledger");
    assert_eq!(
        trec_tgt,
        Some(requested_tgt),
        "trecTgt comes from the on-chain executeBefore"
    );
    assert_eq!(completed_by.as_deref(), Some(update.as_str()));
    for c in judge::judge(&after) {
        if [
            judge::NO_GAP,
            judge::INGESTED_EXACTLY_ONCE,
            judge::NO_DOUBLE_EXECUTION,
        ]
        .contains(&c.name.as_str())
        {
            assert!(c.passed, "{}: {}", c.name, c.evidence);
        }
    }
    sb.stop().await;
}
