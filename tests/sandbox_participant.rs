//! The sandbox's simulated participant over real loopback gRPC: tonic clients generated from the
//! same protos, and canton-dr's own Canton client where it proves the probes work against it.
//! Every wait polls a condition with a generous bound; nothing asserts on elapsed time.

use std::future::Future;
use std::time::Duration;

use canton_dr::probe::canton::convert::chrono_to_timestamp;
use canton_dr::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use canton_dr::probe::canton::proto::com::daml::ledger::api::v2::admin as lapi_admin;
use canton_dr::probe::canton::proto::com::digitalasset::canton::admin::participant::v30 as party_admin;
use canton_dr::probe::canton::proto::com::digitalasset::canton::time::admin::v30::FetchTimeRequestWire;
use canton_dr::probe::canton::proto::fetch_time_any_shape::synchronizer_time_service_client::SynchronizerTimeServiceClient;
use canton_dr::probe::canton::{
    CantonClient, CantonConfig, EndpointConfig, FetchTimeShape, OffsetAtError, TokenSource, Update,
};
use canton_dr::sandbox::participant::{
    Amount, Availability, CatchUp, Contract, ParticipantConfig, ParticipantError, RejectReason,
    RunningParticipant, SharedRecordTimes, SubmissionOutcome, SubmitWithdrawal, TransferKind,
    TxKind, decode_created, exchange_treasury_dar, token_adapter_dar,
};
use canton_dr::sandbox::participant::{Participant, darsim};
use chrono::{DateTime, TimeDelta, Utc};
use lapi::get_updates_response::Update as WireUpdate;
use secrecy::SecretString;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

const TOKEN: &str = "sandbox-drill-token-7f3a";
/// Bound of every wait: 1500 polls of 20 ms.
const POLLS: u32 = 1500;
const POLL: Duration = Duration::from_millis(20);

fn config() -> ParticipantConfig {
    let mut c = ParticipantConfig::new(SecretString::from(TOKEN));
    c.tick = Duration::from_millis(20);
    c.deposits.every = None;
    c.checkpoint_interval = Duration::from_millis(100);
    c
}

async fn start(config: ParticipantConfig) -> RunningParticipant {
    Participant::start(config)
        .await
        .expect("participant starts")
}

async fn channel(url: String) -> Channel {
    Endpoint::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

fn authed<T>(message: T) -> Request<T> {
    with_token(message, &format!("Bearer {TOKEN}"))
}

fn with_token<T>(message: T, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", value.parse().expect("header"));
    request
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..POLLS {
        if condition() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("gave up waiting for {what}");
}

async fn poll<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..POLLS {
        if let Some(v) = attempt().await {
            return v;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("gave up waiting for {what}");
}

/// Sequences deposits and waits until the participant has processed them.
async fn deposits(p: &RunningParticipant, count: u32, shared_record_time: bool) -> Vec<String> {
    let ids = p.sequence_deposits(count, shared_record_time);
    wait_until("the deposits to be processed", || {
        ids.iter().all(|id| p.offset_of(id).is_some())
    })
    .await;
    ids
}

/// Deposits one at a time, each at least 2 µs of record time after the previous one, so that a
/// time strictly between two of them exists.
async fn deposits_apart(p: &RunningParticipant, count: u32) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let id = deposits(p, 1, false).await.remove(0);
        let t = record_time_of(p, &id);
        wait_until("the synchronizer clock to move on", || {
            p.synchronizer_time() > t + TimeDelta::microseconds(1)
        })
        .await;
        ids.push(id);
    }
    ids
}

fn record_time_of(p: &RunningParticipant, update_id: &str) -> DateTime<Utc> {
    p.history()
        .into_iter()
        .find(|tx| tx.update_id == update_id)
        .map(|tx| tx.record_time)
        .expect("in history")
}

fn canton_client(p: &RunningParticipant) -> CantonClient {
    let mut config = CantonConfig::ledger_only(EndpointConfig::new(p.ledger_url(), None));
    config.admin = Some(EndpointConfig::new(p.admin_url(), None));
    config.ledger_token = TokenSource::Static(SecretString::from(TOKEN));
    config.admin_token = TokenSource::Static(SecretString::from(TOKEN));
    CantonClient::new(&config).expect("client")
}

async fn offset_by_time(
    p: &RunningParticipant,
    synchronizer_id: &str,
    at: DateTime<Utc>,
    force: bool,
) -> Result<i64, tonic::Status> {
    let mut client =
        party_admin::party_management_service_client::PartyManagementServiceClient::new(
            channel(p.admin_url()).await,
        );
    client
        .get_highest_offset_by_timestamp(authed(party_admin::GetHighestOffsetByTimestampRequest {
            synchronizer_id: synchronizer_id.to_string(),
            timestamp: Some(chrono_to_timestamp(at)),
            force,
        }))
        .await
        .map(|r| r.into_inner().ledger_offset)
}

fn treasury_format(party: &str, ledger_effects: bool) -> lapi::UpdateFormat {
    let shape = if ledger_effects {
        lapi::TransactionShape::LedgerEffects
    } else {
        lapi::TransactionShape::AcsDelta
    };
    lapi::UpdateFormat {
        include_transactions: Some(lapi::TransactionFormat {
            event_format: Some(lapi::EventFormat {
                filters_by_party: [(party.to_string(), lapi::Filters::default())].into(),
                filters_for_any_party: None,
                verbose: true,
            }),
            transaction_shape: shape as i32,
        }),
        include_reassignments: None,
    }
}

async fn updates(
    p: &RunningParticipant,
    begin_exclusive: i64,
    end_inclusive: Option<i64>,
) -> Result<tonic::Streaming<lapi::GetUpdatesResponse>, tonic::Status> {
    let mut client =
        lapi::update_service_client::UpdateServiceClient::new(channel(p.ledger_url()).await);
    client
        .get_updates(authed(lapi::GetUpdatesRequest {
            begin_exclusive,
            end_inclusive,
            update_format: Some(treasury_format(p.treasury_party(), false)),
        }))
        .await
        .map(|r| r.into_inner())
}

async fn next_message(
    stream: &mut tonic::Streaming<lapi::GetUpdatesResponse>,
) -> Option<WireUpdate> {
    let message = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("a message within the bound")
        .expect("no stream error");
    message.map(|m| m.update.expect("an update"))
}

// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_service_is_open_and_every_other_service_needs_the_token() {
    let p = start(config()).await;
    let ledger = channel(p.ledger_url()).await;
    let admin = channel(p.admin_url()).await;

    let version = lapi::version_service_client::VersionServiceClient::new(ledger.clone())
        .get_ledger_api_version(lapi::GetLedgerApiVersionRequest {})
        .await
        .expect("no token needed")
        .into_inner();
    assert_eq!(version.version, "3.4.9");
    let delay = version
        .features
        .and_then(|f| f.offset_checkpoint)
        .and_then(|c| c.max_offset_checkpoint_emission_delay)
        .expect("checkpoint delay");
    assert_eq!((delay.seconds, delay.nanos), (0, 100_000_000));

    let mut state = lapi::state_service_client::StateServiceClient::new(ledger.clone());
    for bad in [
        None,
        Some("Bearer wrong-token".to_string()),
        Some(TOKEN.to_string()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("bearer {TOKEN}")),
    ] {
        let request = match &bad {
            None => Request::new(lapi::GetLedgerEndRequest {}),
            Some(v) => with_token(lapi::GetLedgerEndRequest {}, v),
        };
        let status = state.get_ledger_end(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{bad:?}");
        assert!(
            !status.message().contains(TOKEN),
            "the token leaked: {status:?}"
        );
    }
    let end = state
        .get_ledger_end(authed(lapi::GetLedgerEndRequest {}))
        .await
        .expect("with the token")
        .into_inner();
    assert_eq!(end.offset, p.ledger_end());

    let status = lapi::package_service_client::PackageServiceClient::new(ledger.clone())
        .list_packages(lapi::ListPackagesRequest {})
        .await
        .expect_err("needs a token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = party_admin::party_management_service_client::PartyManagementServiceClient::new(
        admin.clone(),
    )
    .get_highest_offset_by_timestamp(party_admin::GetHighestOffsetByTimestampRequest {
        synchronizer_id: p.synchronizer_id().to_string(),
        timestamp: Some(chrono_to_timestamp(Utc::now())),
        force: true,
    })
    .await
    .expect_err("needs a token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = SynchronizerTimeServiceClient::new(admin)
        .fetch_time(FetchTimeShape::V34.request(p.synchronizer_id(), Duration::from_secs(5)))
        .await
        .expect_err("needs a token");
    assert_eq!(status.code(), Code::Unauthenticated);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_packages_describe_the_participant() {
    let p = start(config()).await;
    let ledger = channel(p.ledger_url()).await;
    let connected = lapi::state_service_client::StateServiceClient::new(ledger.clone())
        .get_connected_synchronizers(authed(lapi::GetConnectedSynchronizersRequest {
            party: p.treasury_party().to_string(),
            participant_id: String::new(),
            identity_provider_id: String::new(),
        }))
        .await
        .expect("connected")
        .into_inner()
        .connected_synchronizers;
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].synchronizer_id, p.synchronizer_id());
    assert!(p.synchronizer_id().starts_with("global-domain::1220"));
    assert_eq!(p.synchronizer_id().len(), "global-domain::1220".len() + 64);

    let ids = lapi::package_service_client::PackageServiceClient::new(ledger)
        .list_packages(authed(lapi::ListPackagesRequest {}))
        .await
        .expect("packages")
        .into_inner()
        .package_ids;
    let treasury = exchange_treasury_dar().expect("dar");
    let mut expected = treasury.package_ids.clone();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(ids.contains(&p.treasury_package_id().to_string()));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn highest_offset_by_timestamp_follows_canton_without_the_exact_match_rule() {
    let p = start(config()).await;
    let ids = deposits_apart(&p, 2).await;
    let (first, second) = (&ids[0], &ids[1]);
    let t1 = record_time_of(&p, first);
    let t2 = record_time_of(&p, second);
    let sync = p.synchronizer_id().to_string();

    assert_eq!(
        offset_by_time(&p, &sync, t1, false).await.ok(),
        p.offset_of(first)
    );
    assert_eq!(
        offset_by_time(&p, &sync, t2, false).await.ok(),
        p.offset_of(second)
    );
    let between = t1 + TimeDelta::microseconds(1);
    assert!(between < t2);
    assert_eq!(
        offset_by_time(&p, &sync, between, false).await.ok(),
        p.offset_of(first)
    );

    let unknown = offset_by_time(&p, "other-domain::1220ab", t1, false)
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().contains("other-domain::1220ab"),
        "{unknown:?}"
    );

    let future = Utc::now() + TimeDelta::hours(1);
    let status = offset_by_time(&p, &sync, future, false)
        .await
        .expect_err("not processed");
    assert_eq!(status.code(), Code::OutOfRange);
    assert!(
        status
            .message()
            .contains("Not all events have been processed fully"),
        "{status:?}"
    );
    // force and a timestamp at or beyond the clean time: the ledger end.
    assert_eq!(
        offset_by_time(&p, &sync, future, true).await.ok(),
        Some(p.ledger_end())
    );

    // The same through canton-dr's own client, which maps the codes to typed errors.
    let client = canton_client(&p);
    assert_eq!(
        client.offset_at(&sync, t2, false).await.ok(),
        p.offset_of(second)
    );
    assert!(matches!(
        client.offset_at(&sync, future, false).await,
        Err(OffsetAtError::NotCaughtUp { .. })
    ));
    assert!(matches!(
        client.offset_at("other-domain::1220ab", t1, false).await,
        Err(OffsetAtError::UnknownSynchronizer { .. })
    ));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_match_rule_fails_the_precondition_in_3_4_10_and_is_not_found_in_3_5() {
    for (version, code) in [
        ("3.4.10", Code::FailedPrecondition),
        ("3.5.0", Code::NotFound),
    ] {
        let p = start(config().with_version(version)).await;
        let ids = deposits_apart(&p, 2).await;
        let t1 = record_time_of(&p, &ids[0]);
        let sync = p.synchronizer_id().to_string();
        assert_eq!(
            offset_by_time(&p, &sync, t1, false).await.ok(),
            p.offset_of(&ids[0]),
            "{version}"
        );
        let between = t1 + TimeDelta::microseconds(1);
        let status = offset_by_time(&p, &sync, between, false)
            .await
            .expect_err("no exact match");
        assert_eq!(status.code(), code, "{version}: {status:?}");
        assert_eq!(
            offset_by_time(&p, &sync, between, true).await.ok(),
            p.offset_of(&ids[0]),
            "{version}: force skips the rule"
        );
        assert!(matches!(
            canton_client(&p).offset_at(&sync, between, false).await,
            Err(OffsetAtError::NoExactRecordTime { .. })
        ));
        p.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_reassigns_offsets_and_catching_up_turns_out_of_range_into_an_answer() {
    let p = start(config()).await;
    deposits(&p, 3, false).await;
    let backup = p.backup();
    let after = deposits(&p, 4, false).await;
    let before: Vec<i64> = after
        .iter()
        .map(|id| p.offset_of(id).expect("offset"))
        .collect();
    let last_time = record_time_of(&p, &after[3]);
    let sync = p.synchronizer_id().to_string();
    assert_eq!(
        offset_by_time(&p, &sync, last_time, false).await.ok(),
        Some(before[3])
    );

    p.set_down(true).await.expect("down");
    p.restore(&backup, CatchUp::Rate(0.000_001))
        .expect("restore");
    assert_eq!(p.ledger_end(), backup.ledger_end());
    assert!(
        after.iter().all(|id| p.offset_of(id).is_none()),
        "processed after the backup: gone"
    );
    p.set_down(false).await.expect("up");

    // Catching up at a crawl: the last transaction's record time is out of range.
    let status = offset_by_time(&p, &sync, last_time, false)
        .await
        .expect_err("not yet");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(!p.is_caught_up());

    p.set_catch_up(CatchUp::Rate(50.0));
    let answer = poll("the participant to catch up", || {
        let p = p.clone();
        let sync = sync.clone();
        async move { offset_by_time(&p, &sync, last_time, false).await.ok() }
    })
    .await;
    let now: Vec<i64> = after
        .iter()
        .map(|id| p.offset_of(id).expect("offset"))
        .collect();
    assert_eq!(answer, now[3]);
    for (old, new) in before.iter().zip(&now) {
        assert_eq!(
            *new,
            old + 1,
            "shifted by the reconnection topology transaction"
        );
    }

    // The update stream delivers the same transactions at their new offsets.
    let mut stream = updates(&p, backup.ledger_end(), None)
        .await
        .expect("stream");
    let mut seen = Vec::new();
    while seen.len() < after.len() {
        if let Some(WireUpdate::Transaction(tx)) = next_message(&mut stream).await {
            seen.push((tx.update_id, tx.offset));
        }
    }
    let expected: Vec<(String, i64)> = after.iter().cloned().zip(now.iter().copied()).collect();
    assert_eq!(seen, expected);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_stream_resumes_from_an_offset_and_follows_live() {
    let p = start(config()).await;
    let ids = deposits(&p, 5, false).await;
    let begin = p.offset_of(&ids[1]).expect("offset");
    let mut stream = updates(&p, begin, None).await.expect("stream");

    let mut transactions: Vec<lapi::Transaction> = Vec::new();
    let mut checkpoints: Vec<lapi::OffsetCheckpoint> = Vec::new();
    let mut order: Vec<(bool, i64)> = Vec::new();
    let mut live: Vec<String> = Vec::new();
    while transactions.len() < 3 + 2 || checkpoints.is_empty() {
        match next_message(&mut stream).await.expect("the stream follows") {
            WireUpdate::Transaction(tx) => {
                order.push((true, tx.offset));
                transactions.push(tx);
            }
            WireUpdate::OffsetCheckpoint(cp) => {
                order.push((false, cp.offset));
                checkpoints.push(cp);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Once the history is delivered, the participant processes more: the stream follows.
        if transactions.len() == 3 && live.is_empty() {
            live = p.sequence_deposits(2, false);
        }
    }
    let got: Vec<&str> = transactions.iter().map(|t| t.update_id.as_str()).collect();
    let want: Vec<&str> = ids[2..]
        .iter()
        .chain(live.iter())
        .map(String::as_str)
        .collect();
    assert_eq!(got, want, "resumes right after the offset, then live");
    for tx in &transactions {
        assert_eq!(tx.synchronizer_id, p.synchronizer_id());
        assert_eq!(
            tx.record_time,
            Some(chrono_to_timestamp(record_time_of(&p, &tx.update_id)))
        );
        assert!(tx.events.iter().all(|e| e.event.is_some()));
    }
    // Offsets never go back, and a checkpoint never claims less than was delivered before it.
    assert!(order.windows(2).all(|w| w[0].1 <= w[1].1), "{order:?}");
    for cp in &checkpoints {
        assert_eq!(cp.synchronizer_times.len(), 1);
        assert_eq!(
            cp.synchronizer_times[0].synchronizer_id,
            p.synchronizer_id()
        );
    }

    // Bounded: ends after end_inclusive.
    let end = p.offset_of(&ids[3]).expect("offset");
    let mut bounded = updates(&p, begin, Some(end)).await.expect("stream");
    let mut bounded_ids = Vec::new();
    while let Some(update) = next_message(&mut bounded).await {
        if let WireUpdate::Transaction(tx) = update {
            assert!(tx.offset <= end);
            bounded_ids.push(tx.update_id);
        }
    }
    assert_eq!(bounded_ids, ids[2..4].to_vec());

    // Offsets beyond the ledger end are refused as Canton does.
    let status = updates(&p, p.ledger_end() + 100, None)
        .await
        .expect_err("after the end");
    assert_eq!(status.code(), Code::OutOfRange);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canton_client_reads_treasury_transactions_and_checkpoints() {
    let p = start(config()).await;
    let ids = deposits(&p, 3, false).await;
    let client = canton_client(&p);
    let mut stream = client
        .updates(0, Some(p.ledger_end()), &[p.treasury_party().to_string()])
        .await
        .expect("stream");
    let mut seen = Vec::new();
    let mut last_checkpoint = None;
    while let Some(update) = stream.next_update().await {
        match update.expect("update") {
            Update::Transaction(tx) => seen.push(tx.update_id),
            Update::Checkpoint(cp) => last_checkpoint = Some(cp),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ids);
    let cp = last_checkpoint.expect("a checkpoint at the ledger end");
    assert_eq!(cp.offset, p.ledger_end());
    assert!(cp.synchronizer_times[0].record_time >= record_time_of(&p, &ids[2]));
    assert_eq!(client.ledger_end().await.expect("end"), p.ledger_end());
    assert_eq!(client.api_version().await.expect("version"), "3.4.9");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dars_uploaded_after_a_backup_are_gone_after_restore() {
    let p = start(config()).await;
    let ledger = channel(p.ledger_url()).await;
    let mut packages =
        lapi_admin::package_management_service_client::PackageManagementServiceClient::new(ledger);
    let known = |list: &[lapi_admin::PackageDetails]| -> Vec<String> {
        let mut ids: Vec<String> = list.iter().map(|d| d.package_id.clone()).collect();
        ids.sort();
        ids
    };
    let treasury = exchange_treasury_dar().expect("dar");
    let adapter = token_adapter_dar().expect("dar");

    let backup = p.backup();
    // Validation has no side effect.
    packages
        .validate_dar_file(authed(lapi_admin::ValidateDarFileRequest {
            dar_file: adapter.bytes.clone(),
            submission_id: "v1".into(),
            synchronizer_id: String::new(),
        }))
        .await
        .expect("valid");
    let list = packages
        .list_known_packages(authed(lapi_admin::ListKnownPackagesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .package_details;
    assert!(!known(&list).contains(&adapter.main_package_id));

    packages
        .upload_dar_file(authed(lapi_admin::UploadDarFileRequest {
            dar_file: adapter.bytes.clone(),
            submission_id: "u1".into(),
            vetting_change: 0,
            synchronizer_id: p.synchronizer_id().to_string(),
        }))
        .await
        .expect("uploaded");
    let list = packages
        .list_known_packages(authed(lapi_admin::ListKnownPackagesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .package_details;
    let adapter_details = list
        .iter()
        .find(|d| d.package_id == adapter.main_package_id)
        .expect("uploaded package listed");
    assert_eq!(
        (
            adapter_details.name.as_str(),
            adapter_details.version.as_str()
        ),
        ("token-adapter", "2.1.0")
    );
    assert!(adapter_details.package_size > 0 && adapter_details.known_since.is_some());
    // The shared dependency was known already: three packages in all.
    assert_eq!(list.len(), 3);

    let bad = packages
        .upload_dar_file(authed(lapi_admin::UploadDarFileRequest {
            dar_file: b"not a zip at all".to_vec(),
            submission_id: "u2".into(),
            vetting_change: 0,
            synchronizer_id: String::new(),
        }))
        .await
        .expect_err("refused");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("zip"), "{bad:?}");

    p.set_down(true).await.expect("down");
    p.restore(&backup, CatchUp::Instant).expect("restore");
    p.set_down(false).await.expect("up");
    let list = packages
        .list_known_packages(authed(lapi_admin::ListKnownPackagesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .package_details;
    let mut expected = treasury.package_ids.clone();
    expected.sort();
    assert_eq!(
        known(&list),
        expected,
        "the upload after the backup is gone"
    );

    // Re-uploading brings it back (what the runbook's step 4 does).
    p.upload_dar(&adapter.bytes).expect("re-upload");
    assert!(
        p.known_packages()
            .iter()
            .any(|k| k.package_id == adapter.main_package_id)
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_spend_is_rejected_but_a_repeated_withdrawal_id_is_not_deduplicated() {
    let mut c = config();
    c.deposits.initial = 3;
    let p = start(c).await;
    let holdings = p.active_holdings();
    assert_eq!(holdings.len(), 3);
    let trec_tgt = Utc::now() + TimeDelta::minutes(10);
    let withdrawal = |id: &str, input: &str| SubmitWithdrawal {
        withdrawal_id: id.into(),
        inputs: vec![input.to_string()],
        amount: Amount::from_units(1),
        destination: "customer-0::1220ab".into(),
        max_record_time: trec_tgt,
    };

    let first = p
        .submit(withdrawal("wd-1", &holdings[0].contract_id))
        .expect("submitted");
    let spent_again = p
        .submit(withdrawal("wd-2", &holdings[0].contract_id))
        .expect("submitted");
    let first = first.outcome().await.expect("outcome");
    let SubmissionOutcome::Accepted { update_id, .. } = first else {
        panic!("first spend refused: {first:?}");
    };
    let refused = spent_again.outcome().await.expect("outcome");
    assert!(
        matches!(&refused, SubmissionOutcome::Rejected(RejectReason::InputsSpent { spent })
            if spent == &vec![(holdings[0].contract_id.clone(), update_id.clone())]),
        "{refused:?}"
    );
    let rejections = p.rejections();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].withdrawal_id, "wd-2");

    // The same withdrawal id twice, with different inputs: both go through.
    let a = p
        .submit(withdrawal("wd-9", &holdings[1].contract_id))
        .expect("submitted");
    let b = p
        .submit(withdrawal("wd-9", &holdings[2].contract_id))
        .expect("submitted");
    assert!(matches!(
        a.outcome().await,
        Ok(SubmissionOutcome::Accepted { .. })
    ));
    assert!(matches!(
        b.outcome().await,
        Ok(SubmissionOutcome::Accepted { .. })
    ));
    let history = p.history();
    assert_eq!(
        history
            .iter()
            .filter(|tx| tx.withdrawal_id.as_deref() == Some("wd-9"))
            .count(),
        2
    );

    // Past trecTgt: expired.
    let change = p.active_holdings()[0].contract_id.clone();
    let mut late = withdrawal("wd-late", &change);
    late.max_record_time = Utc::now() - TimeDelta::seconds(1);
    let outcome = p
        .submit(late)
        .expect("submitted")
        .outcome()
        .await
        .expect("outcome");
    assert!(
        matches!(
            outcome,
            SubmissionOutcome::Rejected(RejectReason::Expired { .. })
        ),
        "{outcome:?}"
    );

    // The withdrawal reaches the update stream with its receipt.
    wait_until("the withdrawal to be processed", || {
        p.offset_of(&update_id).is_some()
    })
    .await;
    let offset = p.offset_of(&update_id).expect("offset");
    let mut stream = updates(&p, offset - 1, Some(offset)).await.expect("stream");
    let mut tx = None;
    while let Some(update) = next_message(&mut stream).await {
        if let WireUpdate::Transaction(t) = update {
            tx = Some(t);
        }
    }
    let tx = tx.expect("the withdrawal");
    assert_eq!(tx.update_id, update_id);
    let archived: Vec<&str> = tx
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Some(lapi::event::Event::Archived(a)) => Some(a.contract_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(archived, vec![holdings[0].contract_id.as_str()]);
    let receipt = tx
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Some(lapi::event::Event::Created(c)) => decode_created(c).ok(),
            _ => None,
        })
        .find_map(|c| match c {
            Contract::Receipt(r) => Some(r),
            Contract::Holding(_) => None,
        })
        .expect("a receipt");
    assert_eq!(receipt.kind, TransferKind::Withdrawal);
    assert_eq!(receipt.reason.as_deref(), Some("wd-1"));
    assert_eq!(
        receipt.execute_before,
        Some(DateTime::from_timestamp_micros(trec_tgt.timestamp_micros()).expect("t"))
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_record_times_are_produced_when_configured() {
    let mut c = config();
    c.shared_record_times = Some(SharedRecordTimes {
        every: Duration::from_millis(100),
        size: 3,
    });
    let p = start(c).await;
    wait_until("two groups", || p.history().len() >= 6).await;
    let history = p.history();
    let group: Vec<_> = history
        .iter()
        .filter(|tx| tx.record_time == history[0].record_time)
        .collect();
    assert_eq!(group.len(), 3, "three transactions share one record time");
    assert!(group.iter().all(|tx| tx.kind == TxKind::Deposit));
    let t = history[0].record_time;
    wait_until("the group to be processed", || {
        p.offset_of(&group[2].update_id).is_some()
    })
    .await;
    let sync = p.synchronizer_id().to_string();
    // The lookup lands on the last of the group; one microsecond earlier, before the group.
    assert_eq!(
        offset_by_time(&p, &sync, t, false).await.ok(),
        p.offset_of(&group[2].update_id)
    );
    let before = offset_by_time(&p, &sync, t - TimeDelta::microseconds(1), false)
        .await
        .expect("earlier");
    assert_eq!(Some(before + 1), p.offset_of(&group[0].update_id));

    // And on demand, through the Rust API.
    let ids = deposits(&p, 4, true).await;
    let times: Vec<DateTime<Utc>> = ids.iter().map(|id| record_time_of(&p, id)).collect();
    assert!(times.iter().all(|t| *t == times[0]));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_time_answers_its_own_request_shape_only() {
    for (version, good, bad) in [
        ("3.4.9", FetchTimeShape::V34, FetchTimeShape::V33),
        ("3.3.1", FetchTimeShape::V33, FetchTimeShape::V34),
    ] {
        let mut c = config().with_version(version);
        c.ledger_time_record_time_tolerance = Duration::from_secs(90);
        let p = start(c).await;
        let mut time = SynchronizerTimeServiceClient::new(channel(p.admin_url()).await);
        let before = Utc::now() - TimeDelta::seconds(1);
        let answer = time
            .fetch_time(authed(
                good.request(p.synchronizer_id(), Duration::from_secs(5)),
            ))
            .await
            .expect("the right shape")
            .into_inner()
            .timestamp
            .expect("timestamp");
        assert!(answer.seconds >= before.timestamp(), "{version}");
        let status = time
            .fetch_time(authed(
                bad.request(p.synchronizer_id(), Duration::from_secs(5)),
            ))
            .await
            .expect_err("the other shape is misread");
        assert_ne!(status.code(), Code::Ok, "{version}");
        let unbounded = time
            .fetch_time(authed(FetchTimeRequestWire {
                synchronizer: good
                    .request(p.synchronizer_id(), Duration::ZERO)
                    .synchronizer,
                freshness_bound: None,
            }))
            .await
            .expect_err("freshness bound required");
        assert_eq!(unbounded.code(), Code::InvalidArgument);

        // canton-dr's client picks the shape from the version and reads the tolerance.
        let client = canton_client(&p);
        assert!(
            client
                .synchronizer_time(p.synchronizer_id())
                .await
                .expect("time")
                >= before
        );
        assert_eq!(
            client
                .record_time_tolerance(p.synchronizer_id())
                .await
                .expect("tolerance"),
            TimeDelta::seconds(90)
        );
        p.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_while_down_and_refused_while_offline() {
    let p = start(config()).await;
    let ledger = channel(p.ledger_url()).await;
    let mut state = lapi::state_service_client::StateServiceClient::new(ledger.clone());
    let mut version = lapi::version_service_client::VersionServiceClient::new(ledger);
    let mut stream = updates(&p, 0, None).await.expect("stream");

    p.set_down(true).await.expect("down");
    assert_eq!(p.availability(), Availability::Unavailable);
    let status = state
        .get_ledger_end(authed(lapi::GetLedgerEndRequest {}))
        .await
        .expect_err("down");
    assert_eq!(status.code(), Code::Unavailable);
    let status = version
        .get_ledger_api_version(lapi::GetLedgerApiVersionRequest {})
        .await
        .expect_err("down");
    assert_eq!(status.code(), Code::Unavailable);
    let status = offset_by_time(&p, p.synchronizer_id(), Utc::now(), true)
        .await
        .expect_err("down");
    assert_eq!(status.code(), Code::Unavailable);
    // An open stream ends with UNAVAILABLE.
    let mut ended = None;
    for _ in 0..POLLS {
        match tokio::time::timeout(Duration::from_secs(30), stream.message()).await {
            Ok(Err(status)) => {
                ended = Some(status.code());
                break;
            }
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Err(_) => break,
        }
    }
    let ended = ended.expect("the stream failed");
    assert_eq!(ended, Code::Unavailable);
    let refused = p.submit(SubmitWithdrawal {
        withdrawal_id: "wd".into(),
        inputs: vec!["00ab".into()],
        amount: Amount::from_whole(1),
        destination: "d".into(),
        max_record_time: Utc::now(),
    });
    assert!(refused.is_err());

    p.set_down(false).await.expect("up");
    let end = state
        .get_ledger_end(authed(lapi::GetLedgerEndRequest {}))
        .await
        .expect("up again");
    assert_eq!(end.into_inner().offset, p.ledger_end());

    // Offline: nothing listens; back up, the same address answers again.
    let addr = p.ledger_addr();
    p.set_availability(Availability::Offline)
        .await
        .expect("offline");
    let refused = Endpoint::from_shared(p.ledger_url())
        .expect("url")
        .connect()
        .await;
    assert!(refused.is_err(), "nothing listens while offline");
    p.set_availability(Availability::Up).await.expect("up");
    assert_eq!(p.ledger_addr(), addr);
    let fresh = channel(p.ledger_url()).await;
    let end = lapi::state_service_client::StateServiceClient::new(fresh)
        .get_ledger_end(authed(lapi::GetLedgerEndRequest {}))
        .await
        .expect("listening again");
    assert_eq!(end.into_inner().offset, p.ledger_end());

    // After shutdown nothing restarts, and nothing listens.
    p.shutdown().await;
    assert!(matches!(
        p.set_down(false).await,
        Err(ParticipantError::Stopped)
    ));
    let adapter = token_adapter_dar().expect("dar");
    assert!(matches!(
        p.upload_dar(&adapter.bytes),
        Err(ParticipantError::Stopped)
    ));
    let refused = Endpoint::from_shared(p.ledger_url())
        .expect("url")
        .connect()
        .await;
    assert!(refused.is_err(), "nothing listens after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_deposits_carry_a_deposit_receipt() {
    let mut c = config();
    c.deposits.every = Some(Duration::from_millis(30));
    let p = start(c).await;
    wait_until("a few deposits", || p.history().len() >= 3).await;
    let first = p.history()[0].clone();
    assert_eq!(first.kind, TxKind::Deposit);
    wait_until("the deposit to be processed", || {
        p.offset_of(&first.update_id).is_some()
    })
    .await;
    let offset = p.offset_of(&first.update_id).expect("offset");
    let mut stream = updates(&p, offset - 1, Some(offset)).await.expect("stream");
    let mut contracts = Vec::new();
    while let Some(update) = next_message(&mut stream).await {
        if let WireUpdate::Transaction(tx) = update {
            for e in tx.events {
                if let Some(lapi::event::Event::Created(c)) = e.event {
                    assert_eq!(
                        c.template_id.as_ref().map(|t| t.package_id.as_str()),
                        Some(p.treasury_package_id())
                    );
                    contracts.push(decode_created(&c).expect("treasury contract"));
                }
            }
        }
    }
    assert_eq!(contracts.len(), 2);
    let holding = contracts.iter().find_map(|c| match c {
        Contract::Holding(h) => Some(h.clone()),
        Contract::Receipt(_) => None,
    });
    let receipt = contracts.iter().find_map(|c| match c {
        Contract::Receipt(r) => Some(r.clone()),
        Contract::Holding(_) => None,
    });
    let (holding, receipt) = (holding.expect("holding"), receipt.expect("receipt"));
    assert_eq!(holding.owner, p.treasury_party());
    assert_eq!(receipt.kind, TransferKind::Deposit);
    assert_eq!(receipt.amount, holding.amount);
    assert!(
        receipt
            .account
            .as_deref()
            .is_some_and(|a| a.starts_with("acct-"))
    );
    assert!(receipt.counterparty.starts_with("customer-"));
    let _ = darsim::sandbox_dars().expect("dars");
    p.shutdown().await;
}
