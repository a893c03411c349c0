//! The Canton clients over real loopback gRPC against a configurable test participant
//! (`server.rs`), a loopback OAuth2 token endpoint (`idp.rs`) and a test PKI (`certs.rs`).

mod certs;
mod idp;
mod server;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use canton_dr::probe::canton::auth::{Clock, TokenProvider, jwt_expiry};
use canton_dr::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use canton_dr::probe::canton::proto::com::daml::ledger::api::v2::admin as lapi_admin;
use canton_dr::probe::canton::proto::com::digitalasset::canton::topology::admin::v30 as topology;
use canton_dr::probe::canton::{
    CantonClient, CantonConfig, CantonError, EndpointConfig, FetchTimeShape, OAuth2Config,
    OffsetAtError, Permission, ReceivedFetchTime, TlsConfig, TokenError, TokenSource, Update,
};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use server::{Behaviour, Running, ServerTls};
use tonic::Code;

const SYNC: &str =
    "global-domain::1220be58c29e65de40bf273be1dc2b266d43a9a002ea5b18955aeef7aac881bb471a";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn ts(s: &str) -> prost_types::Timestamp {
    canton_dr::probe::canton::convert::chrono_to_timestamp(t(s))
}

/// Ledger and Admin API on the same test participant, plaintext, no tokens.
fn config_for(server: &Running) -> CantonConfig {
    let mut config = CantonConfig::ledger_only(EndpointConfig::new(server.http_url(), None));
    config.admin = Some(EndpointConfig::new(server.http_url(), None));
    config
}

async fn client_for(server: &Running) -> CantonClient {
    CantonClient::new(&config_for(server)).expect("client")
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn ledger_api_calls_return_plain_values() {
    let server = server::start(
        Behaviour {
            version: "3.4.9".into(),
            ledger_end: 4711,
            synchronizers: vec![
                ("global".into(), SYNC.into(), 1),
                ("private".into(), "private::1220ff".into(), 3),
            ],
            packages: vec!["aa".into(), "bb".into()],
            known_packages: vec![lapi_admin::PackageDetails {
                package_id: "de2cc2f9".into(),
                package_size: 148_192,
                known_since: Some(ts("2026-01-02T03:04:05.123456Z")),
                name: "canton-builtin-admin-workflow-ping".into(),
                version: "3.4.0".into(),
            }],
            ..Behaviour::default()
        },
        None,
    )
    .await;
    let client = client_for(&server).await;
    assert_eq!(client.api_version().await.expect("version"), "3.4.9");
    assert_eq!(client.ledger_end().await.expect("end"), 4711);

    let syncs = client.connected_synchronizers().await.expect("syncs");
    assert_eq!(syncs.len(), 2);
    assert_eq!(syncs[0].alias, "global");
    assert_eq!(syncs[0].id, SYNC);
    assert_eq!(syncs[0].permission, Permission::Submission);
    assert_eq!(syncs[1].permission, Permission::Observation);
    client
        .connected_synchronizers_for("treasury::1220")
        .await
        .expect("for party");
    server.seen(|s| assert_eq!(s.connected[1].party, "treasury::1220"));

    assert_eq!(
        client.list_packages().await.expect("packages"),
        vec!["aa", "bb"]
    );
    let known = client.list_known_packages().await.expect("known");
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].package_id, "de2cc2f9");
    assert_eq!(known[0].name, "canton-builtin-admin-workflow-ping");
    assert_eq!(known[0].version, "3.4.0");
    assert_eq!(known[0].size, 148_192);
    assert_eq!(known[0].known_since, Some(t("2026-01-02T03:04:05.123456Z")));
    // Unary calls carry the request timeout to the server.
    server.seen(|s| {
        assert!(
            s.timeouts
                .iter()
                .any(|(m, timeout)| *m == "GetLedgerEnd" && timeout.is_some())
        );
    });
}

#[tokio::test]
async fn dar_validation_and_upload_send_the_synchronizer_only_when_given() {
    let server = server::start(Behaviour::default(), None).await;
    let client = client_for(&server).await;
    let dar = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/dars/canton-builtin-admin-workflow-ping.dar"
    ))
    .expect("dar");
    client
        .validate_dar(dar.clone(), None)
        .await
        .expect("validate");
    client
        .validate_dar(dar.clone(), Some(SYNC))
        .await
        .expect("validate with sync");
    client
        .upload_dar(dar.clone(), "sub-1", None)
        .await
        .expect("upload");
    client
        .upload_dar(dar.clone(), "sub-2", Some(SYNC))
        .await
        .expect("upload with sync");
    server.seen(|s| {
        assert_eq!(s.validate[0].dar_file, dar);
        assert_eq!(s.validate[0].synchronizer_id, "");
        assert_eq!(s.validate[1].synchronizer_id, SYNC);
        assert_eq!(s.upload[0].submission_id, "sub-1");
        assert_eq!(s.upload[0].synchronizer_id, "");
        assert_eq!(s.upload[1].synchronizer_id, SYNC);
        assert_eq!(s.upload[1].dar_file.len(), dar.len());
    });
    // An empty synchronizer id is not written to the wire at all (proto3 default), so
    // "not given" and "field 4 absent" are the same thing.
    let empty = lapi_admin::UploadDarFileRequest {
        dar_file: vec![1],
        submission_id: String::new(),
        vetting_change: 0,
        synchronizer_id: String::new(),
    };
    assert_eq!(prost::Message::encode_to_vec(&empty), vec![0x0a, 1, 1]);
}

#[tokio::test]
async fn offset_at_sends_the_exact_timestamp_and_force_flag() {
    let server = server::start(
        Behaviour {
            offset: 981,
            ..Behaviour::default()
        },
        None,
    )
    .await;
    let client = client_for(&server).await;
    let at = t("2025-11-27T06:50:00.123456Z");
    assert_eq!(
        client.offset_at(SYNC, at, false).await.expect("offset"),
        981
    );
    let acs_import = t("0001-01-01T00:00:00Z");
    assert_eq!(
        client
            .offset_at(SYNC, acs_import, true)
            .await
            .expect("offset"),
        981
    );
    server.seen(|s| {
        assert_eq!(s.offset[0].synchronizer_id, SYNC);
        assert_eq!(
            s.offset[0].timestamp,
            Some(prost_types::Timestamp {
                seconds: at.timestamp(),
                nanos: 123_456_000
            })
        );
        assert!(!s.offset[0].force);
        assert_eq!(
            s.offset[1].timestamp.as_ref().map(|t| t.seconds),
            Some(-62_135_596_800)
        );
        assert!(s.offset[1].force);
    });
}

async fn offset_error(code: Code, message: &str) -> OffsetAtError {
    let server = server::start(Behaviour::default(), None).await;
    server.participant.set(|b| {
        b.failures
            .insert("GetHighestOffsetByTimestamp", (code, message.to_string()));
    });
    let client = client_for(&server).await;
    client
        .offset_at(SYNC, t("2025-11-27T06:50:00Z"), false)
        .await
        .expect_err("must fail")
}

#[tokio::test]
async fn offset_at_maps_out_of_range_to_not_caught_up() {
    let err = offset_error(
        Code::OutOfRange,
        "INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR(12,0): Not all events have been processed fully until the requested timestamp",
    )
    .await;
    assert!(matches!(err, OffsetAtError::NotCaughtUp { .. }), "{err:?}");
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with("participant has not caught up to the requested time yet"),
        "{text}"
    );
    assert!(
        text.contains("2025-11-27T06:50:00.000000Z") && text.contains(SYNC),
        "{text}"
    );
}

#[tokio::test]
async fn offset_at_maps_the_exact_record_time_rule_of_3_4_10() {
    let err = offset_error(
        Code::FailedPrecondition,
        "INVALID_STATE_PARTY_MANAGEMENT_ERROR(9,0): Timestamp mismatch: requested=2025-11-27T06:50:00Z != recordTime=2025-11-27T06:49:59.5Z. (Context: offset=12 -> synchronizer offset=12)",
    )
    .await;
    assert!(
        matches!(err, OffsetAtError::NoExactRecordTime { .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with("no transaction has exactly this record time on this participant"),
        "{text}"
    );
    assert!(
        text.contains("minus 1 microsecond") && text.contains("force"),
        "{text}"
    );
}

#[tokio::test]
async fn offset_at_maps_the_exact_record_time_rule_of_3_5() {
    let err = offset_error(
        Code::NotFound,
        "EXACT_RECORD_TIME_MATCH_NOT_FOUND(11,0): No exact match for requested timestamp 2025-11-27T06:50:00Z. The closest prior event was at 2025-11-27T06:49:59Z (offset=12).",
    )
    .await;
    assert!(
        matches!(err, OffsetAtError::NoExactRecordTime { .. }),
        "{err:?}"
    );
    // The participant's hint about the closest earlier event is kept.
    assert!(err.to_string().contains("closest prior event"), "{err}");
}

#[tokio::test]
async fn offset_at_maps_an_unknown_synchronizer() {
    let err = offset_error(
        Code::InvalidArgument,
        "INVALID_ARGUMENT_PARTY_MANAGEMENT_ERROR(8,0): Synchronizer id global-domain::1220be is unknown",
    )
    .await;
    assert!(
        matches!(err, OffsetAtError::UnknownSynchronizer { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("does not know synchronizer"),
        "{err}"
    );
}

#[tokio::test]
async fn offset_at_passes_other_failures_through_as_canton_errors() {
    let err = offset_error(
        Code::FailedPrecondition,
        "INVALID_STATE_PARTY_MANAGEMENT_ERROR(9,0): Synchronizer offset missing",
    )
    .await;
    match &err {
        OffsetAtError::Canton(CantonError::Status { code, method, .. }) => {
            assert_eq!(*code, Code::FailedPrecondition);
            assert_eq!(
                *method,
                "PartyManagementService.GetHighestOffsetByTimestamp"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("FAILED_PRECONDITION"), "{err}");
}

#[tokio::test]
async fn offset_at_without_admin_endpoint_says_so() {
    let server = server::start(Behaviour::default(), None).await;
    let client = CantonClient::new(&CantonConfig::ledger_only(EndpointConfig::new(
        server.http_url(),
        None,
    )))
    .expect("client");
    let err = client
        .offset_at(SYNC, t("2025-11-27T06:50:00Z"), false)
        .await
        .expect_err("no admin");
    assert!(
        matches!(
            err,
            OffsetAtError::Canton(CantonError::AdminNotConfigured { .. })
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- FetchTime shapes

async fn fetch_time_with(
    version: &str,
    server_shape: FetchTimeShape,
    forced: Option<FetchTimeShape>,
) -> (Running, Result<DateTime<Utc>, CantonError>) {
    let server = server::start(
        Behaviour {
            version: version.into(),
            fetch_time_shape: server_shape,
            synchronizer_time: ts("2026-02-03T04:05:06.654321Z"),
            ..Behaviour::default()
        },
        None,
    )
    .await;
    let mut config = config_for(&server);
    config.fetch_time_shape = forced;
    let client = CantonClient::new(&config).expect("client");
    let result = client.synchronizer_time(SYNC).await;
    (server, result)
}

#[tokio::test]
async fn fetch_time_uses_the_3_3_shape_for_a_3_3_participant() {
    let (server, result) = fetch_time_with("3.3.0", FetchTimeShape::V33, None).await;
    assert_eq!(result.expect("time"), t("2026-02-03T04:05:06.654321Z"));
    server.seen(|s| {
        assert_eq!(
            s.fetch_time,
            vec![Ok(ReceivedFetchTime::V33 {
                synchronizer_id: SYNC.into()
            })]
        );
    });
}

#[tokio::test]
async fn fetch_time_uses_the_3_4_shape_for_a_3_4_participant() {
    let (server, result) = fetch_time_with("3.4.9", FetchTimeShape::V34, None).await;
    assert_eq!(result.expect("time"), t("2026-02-03T04:05:06.654321Z"));
    server.seen(|s| {
        assert_eq!(
            s.fetch_time,
            vec![Ok(ReceivedFetchTime::V34Id {
                synchronizer_id: SYNC.into()
            })]
        );
    });
}

#[tokio::test]
async fn fetch_time_shape_can_be_forced_and_a_wrong_shape_is_refused() {
    // Forced to 3.3 against a 3.3 server that misreports its version as 3.4: works.
    let (server, result) =
        fetch_time_with("3.4.9", FetchTimeShape::V33, Some(FetchTimeShape::V33)).await;
    result.expect("forced shape works");
    server.seen(|s| {
        assert_eq!(
            s.fetch_time[0].as_ref().ok().and_then(|r| r.shape()),
            Some(FetchTimeShape::V33)
        )
    });
    // Without the override the client trusts the version and the participant refuses.
    let (_server, result) = fetch_time_with("3.4.9", FetchTimeShape::V33, None).await;
    let err = result.expect_err("wrong shape");
    assert!(
        matches!(
            err,
            CantonError::Status {
                code: Code::InvalidArgument,
                ..
            }
        ),
        "{err:?}"
    );
    // An unparseable version asks for the override.
    let (_server, result) = fetch_time_with("banana", FetchTimeShape::V34, None).await;
    let err = result.expect_err("unknown version");
    assert!(err.to_string().contains("fetch_time_shape"), "{err}");
}

// ---------------------------------------------------------------- synchronizer parameters

#[tokio::test]
async fn record_time_tolerance_reads_the_current_parameters() {
    let server = server::start(
        Behaviour {
            parameter_results: vec![
                server::parameters_result(30, 1_000, Some(2_000)),
                server::parameters_result(60, 2_000, None),
            ],
            ..Behaviour::default()
        },
        None,
    )
    .await;
    let client = client_for(&server).await;
    assert_eq!(
        client.record_time_tolerance(SYNC).await.expect("tolerance"),
        TimeDelta::seconds(60)
    );
    server.seen(|s| {
        let request = &s.parameters[0];
        assert_eq!(request.filter_synchronizer_id, SYNC);
        let query = request.base_query.as_ref().expect("base query");
        assert!(matches!(
            query.time_query,
            Some(topology::base_query::TimeQuery::HeadState(()))
        ));
        let store = query.store.as_ref().and_then(|s| s.store.as_ref());
        assert!(
            matches!(store, Some(topology::store_id::Store::Synchronizer(topology::Synchronizer { kind: Some(topology::synchronizer::Kind::Id(id)) })) if id == SYNC),
            "{store:?}"
        );
    });
}

#[tokio::test]
async fn record_time_tolerance_without_results_is_a_clear_error() {
    let server = server::start(Behaviour::default(), None).await;
    let client = client_for(&server).await;
    let err = client.record_time_tolerance(SYNC).await.expect_err("empty");
    assert!(
        err.to_string()
            .contains("no synchronizer parameters for global-domain::1220be58"),
        "{err}"
    );
}

// ---------------------------------------------------------------- updates

#[tokio::test]
async fn updates_stream_transactions_and_checkpoints_to_the_microsecond() {
    let tx = lapi::GetUpdatesResponse {
        update: Some(lapi::get_updates_response::Update::Transaction(
            lapi::Transaction {
                update_id: "1220aa".into(),
                offset: 5,
                synchronizer_id: SYNC.into(),
                record_time: Some(ts("2026-03-01T10:00:00.000001Z")),
                effective_at: Some(ts("2026-03-01T09:59:59.999999Z")),
                ..Default::default()
            },
        )),
    };
    let checkpoint = lapi::GetUpdatesResponse {
        update: Some(lapi::get_updates_response::Update::OffsetCheckpoint(
            lapi::OffsetCheckpoint {
                offset: 6,
                synchronizer_times: vec![lapi::SynchronizerTime {
                    synchronizer_id: SYNC.into(),
                    record_time: Some(ts("2026-03-01T10:00:01.500000Z")),
                }],
            },
        )),
    };
    let later = lapi::GetUpdatesResponse {
        update: Some(lapi::get_updates_response::Update::Transaction(
            lapi::Transaction {
                update_id: "1220bb".into(),
                offset: 9,
                synchronizer_id: SYNC.into(),
                record_time: Some(ts("2026-03-01T10:00:02Z")),
                ..Default::default()
            },
        )),
    };
    let server = server::start(
        Behaviour {
            updates: vec![tx, checkpoint, later],
            ..Behaviour::default()
        },
        None,
    )
    .await;
    let client = client_for(&server).await;
    let parties = vec!["treasury::1220".to_string()];
    let stream = client.updates(4, Some(8), &parties).await.expect("stream");
    let updates: Vec<Update> = stream.map(|u| u.expect("update")).collect().await;
    assert_eq!(updates.len(), 2);
    match &updates[0] {
        Update::Transaction(t0) => {
            assert_eq!(t0.update_id, "1220aa");
            assert_eq!(t0.offset, 5);
            assert_eq!(t0.record_time, t("2026-03-01T10:00:00.000001Z"));
            assert_eq!(t0.effective_at, Some(t("2026-03-01T09:59:59.999999Z")));
        }
        other => panic!("unexpected {other:?}"),
    }
    match &updates[1] {
        Update::Checkpoint(c) => {
            assert_eq!(c.offset, 6);
            assert_eq!(
                c.synchronizer_times[0].record_time,
                t("2026-03-01T10:00:01.5Z")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    server.seen(|s| {
        let request = &s.updates[0];
        assert_eq!(request.begin_exclusive, 4);
        assert_eq!(request.end_inclusive, Some(8));
        let format = request
            .update_format
            .as_ref()
            .and_then(|f| f.include_transactions.as_ref())
            .expect("transaction format");
        assert_eq!(
            format.transaction_shape,
            lapi::TransactionShape::AcsDelta as i32
        );
        let events = format.event_format.as_ref().expect("event format");
        assert!(events.verbose);
        assert!(events.filters_by_party.contains_key("treasury::1220"));
        assert!(events.filters_for_any_party.is_none());
    });
}

// ---------------------------------------------------------------- failures

#[tokio::test]
async fn an_unreachable_endpoint_is_reported_as_such() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let client = CantonClient::new(&CantonConfig::ledger_only(EndpointConfig::new(&url, None)))
        .expect("client");
    let err = client.ledger_end().await.expect_err("unreachable");
    match &err {
        CantonError::Unreachable { endpoint, detail } => {
            assert_eq!(endpoint, &url);
            assert!(detail.contains("connection refused"), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .starts_with(&format!("{url} is unreachable")),
        "{err}"
    );
}

#[tokio::test]
async fn unauthenticated_permission_denied_and_unimplemented_are_specific() {
    let server = server::start(
        Behaviour {
            required_token: Some("the-right-token".into()),
            without_topology: true,
            ..Behaviour::default()
        },
        None,
    )
    .await;
    let client = client_for(&server).await;
    // The version service needs no token.
    client.api_version().await.expect("version without token");
    let err = client.ledger_end().await.expect_err("no token");
    match &err {
        CantonError::Unauthenticated {
            endpoint, method, ..
        } => {
            assert_eq!(endpoint, &server.http_url());
            assert_eq!(*method, "StateService.GetLedgerEnd");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("UNAUTHENTICATED"), "{err}");

    server.participant.set(|b| {
        b.required_token = None;
        b.failures.insert(
            "ListKnownPackages",
            (Code::PermissionDenied, "PERMISSION_DENIED(7,0): Claims do not authorize the use of administrative services.".into()),
        );
    });
    let err = client.list_known_packages().await.expect_err("denied");
    assert!(
        matches!(err, CantonError::PermissionDenied { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("participant_admin"), "{err}");

    let err = client
        .record_time_tolerance(SYNC)
        .await
        .expect_err("unimplemented");
    match &err {
        CantonError::Unimplemented { method, .. } => {
            assert_eq!(
                *method,
                "TopologyManagerReadService.ListSynchronizerParametersState"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("Canton version"), "{err}");
}

#[tokio::test]
async fn a_slow_call_ends_with_deadline_exceeded() {
    let server = server::start(Behaviour::default(), None).await;
    server.participant.set(|b| {
        b.delays.insert("GetLedgerEnd", Duration::from_secs(30));
    });
    let mut config = config_for(&server);
    config.ledger.request_timeout = Duration::from_millis(300);
    let client = CantonClient::new(&config).expect("client");
    let err = client.ledger_end().await.expect_err("too slow");
    assert!(
        matches!(err, CantonError::DeadlineExceeded { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("DEADLINE_EXCEEDED"), "{err}");
}

#[tokio::test]
async fn other_statuses_keep_code_and_message() {
    let server = server::start(Behaviour::default(), None).await;
    server.participant.set(|b| {
        b.failures.insert(
            "ValidateDarFile",
            (
                Code::InvalidArgument,
                "DAR_PARSE_ERROR(8,0): Failed to parse the DAR".into(),
            ),
        );
    });
    let client = client_for(&server).await;
    let err = client
        .validate_dar(vec![1, 2, 3], None)
        .await
        .expect_err("invalid");
    assert_eq!(
        err.to_string(),
        format!(
            "PackageManagementService.ValidateDarFile on {} failed with INVALID_ARGUMENT: DAR_PARSE_ERROR(8,0): Failed to parse the DAR",
            server.http_url()
        )
    );
}

#[tokio::test]
async fn endpoint_settings_are_checked_before_connecting() {
    let pki = certs::generate();
    let err = CantonClient::new(&CantonConfig::ledger_only(EndpointConfig::new(
        "https://localhost:5001",
        None,
    )))
    .expect_err("https without tls");
    assert!(
        err.to_string()
            .contains("needs TLS settings with a CA file"),
        "{err}"
    );
    let err = CantonClient::new(&CantonConfig::ledger_only(EndpointConfig::new(
        "http://localhost:5001",
        Some(TlsConfig::with_ca(pki.path("ca.pem"))),
    )))
    .expect_err("http with tls");
    assert!(err.to_string().contains("use https://"), "{err}");
    let err = CantonClient::new(&CantonConfig::ledger_only(EndpointConfig::new(
        "ftp://localhost:5001",
        None,
    )))
    .expect_err("scheme");
    assert!(err.to_string().contains("unsupported scheme"), "{err}");
    let err = CantonClient::new(&CantonConfig::ledger_only(EndpointConfig::new(
        "https://localhost:5001",
        Some(TlsConfig::with_ca(pki.path("missing.pem"))),
    )))
    .expect_err("missing ca");
    assert!(
        err.to_string()
            .starts_with("cannot read CA certificate file"),
        "{err}"
    );
    let err = CantonClient::new(&CantonConfig::ledger_only(EndpointConfig::new(
        "https://localhost:5001",
        Some(TlsConfig::with_ca(pki.path("not-pem.txt"))),
    )))
    .expect_err("bad ca");
    assert!(
        err.to_string().contains("no PEM certificate found"),
        "{err}"
    );
}

// ---------------------------------------------------------------- TLS (T15)

async fn tls_server(pki: &certs::Pki, require_client_cert: bool) -> Running {
    server::start(
        Behaviour {
            ledger_end: 77,
            ..Behaviour::default()
        },
        Some(ServerTls {
            cert_pem: pki.server_cert_pem.clone(),
            key_pem: pki.server_key_pem.clone(),
            client_ca_pem: require_client_cert.then(|| pki.ca_pem.clone()),
        }),
    )
    .await
}

fn tls_client(server: &Running, tls: TlsConfig) -> CantonClient {
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    CantonClient::new(&CantonConfig::ledger_only(EndpointConfig::new(
        url,
        Some(tls),
    )))
    .expect("client")
}

#[tokio::test]
async fn tls_with_the_right_ca_and_name_works() {
    let pki = certs::generate();
    let server = tls_server(&pki, false).await;
    let mut tls = TlsConfig::with_ca(pki.path("ca.pem"));
    tls.domain_name = Some("localhost".into());
    assert_eq!(
        tls_client(&server, tls).ledger_end().await.expect("tls"),
        77
    );
}

#[tokio::test]
async fn tls_with_a_wrong_domain_name_is_refused() {
    let pki = certs::generate();
    let server = tls_server(&pki, false).await;
    let mut tls = TlsConfig::with_ca(pki.path("ca.pem"));
    tls.domain_name = Some("participant.other.example".into());
    let err = tls_client(&server, tls)
        .ledger_end()
        .await
        .expect_err("wrong name");
    match &err {
        CantonError::Tls { detail, .. } => {
            assert!(
                detail.contains("not valid for the expected name"),
                "{detail}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // Without a domain name the URL's host (127.0.0.1) is checked, and is not in the cert.
    let err = tls_client(&server, TlsConfig::with_ca(pki.path("ca.pem")))
        .ledger_end()
        .await
        .expect_err("ip not in cert");
    assert!(matches!(err, CantonError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn tls_with_an_unknown_ca_is_refused() {
    let pki = certs::generate();
    let server = tls_server(&pki, false).await;
    let mut tls = TlsConfig::with_ca(pki.path("other-ca.pem"));
    tls.domain_name = Some("localhost".into());
    let err = tls_client(&server, tls)
        .ledger_end()
        .await
        .expect_err("unknown ca");
    match &err {
        CantonError::Tls { detail, endpoint } => {
            assert!(
                detail.contains("not signed by the configured CA"),
                "{detail}"
            );
            assert!(endpoint.starts_with("https://127.0.0.1:"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("TLS handshake with https://127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_against_a_plaintext_server_is_refused() {
    let server = server::start(Behaviour::default(), None).await;
    let pki = certs::generate();
    let mut tls = TlsConfig::with_ca(pki.path("ca.pem"));
    tls.domain_name = Some("localhost".into());
    let err = tls_client(&server, tls)
        .ledger_end()
        .await
        .expect_err("plaintext");
    assert!(matches!(err, CantonError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let pki = certs::generate();
    let server = tls_server(&pki, true).await;
    let mut tls = TlsConfig::with_ca(pki.path("ca.pem"));
    tls.domain_name = Some("localhost".into());
    let err = tls_client(&server, tls.clone())
        .ledger_end()
        .await
        .expect_err("no client cert");
    match &err {
        CantonError::Tls { detail, .. } => {
            assert!(detail.contains("requires a client certificate"), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }
    tls.client_cert_file = Some(pki.path("client.pem"));
    tls.client_key_file = Some(pki.path("client.key"));
    assert_eq!(
        tls_client(&server, tls).ledger_end().await.expect("mtls"),
        77
    );
}

// ---------------------------------------------------------------- tokens (T15)

struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().expect("lock") = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("lock")
    }
}

fn oauth(idp: &idp::Idp) -> OAuth2Config {
    let mut config = OAuth2Config::new(
        &idp.url,
        "exchange-dr",
        SecretString::from("client-secret-CANARY-4f1d"),
    );
    config.audience = Some("https://canton.network.global".into());
    config.scope = Some("daml_ledger_api".into());
    config
}

#[tokio::test]
async fn the_idp_receives_a_client_credentials_grant_with_audience_and_scope() {
    let idp = idp::start(idp::Mode::Opaque {
        expires_in: Some(3600),
    })
    .await;
    let provider = TokenProvider::new(TokenSource::OAuth2(oauth(&idp))).expect("provider");
    let token = provider.token().await.expect("token").expect("some");
    assert_eq!(token.expose_secret(), "opaque-token-1");
    let requests = idp.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 1);
    let form = &requests[0];
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "exchange-dr");
    assert_eq!(form["client_secret"], "client-secret-CANARY-4f1d");
    assert_eq!(form["audience"], "https://canton.network.global");
    assert_eq!(form["scope"], "daml_ledger_api");
    // Cached: no second request.
    provider.token().await.expect("token");
    assert_eq!(idp.token_count(), 1);
}

#[tokio::test]
async fn the_token_is_refreshed_before_exp() {
    let t0 = t("2026-05-01T12:00:00Z");
    let exp = t0 + TimeDelta::seconds(300);
    let idp = idp::start(idp::Mode::Jwt {
        exp: exp.timestamp(),
        expires_in: None,
    })
    .await;
    let clock = Arc::new(ManualClock(Mutex::new(t0)));
    let mut config = oauth(&idp);
    config.refresh_margin = Duration::from_secs(60);
    let provider =
        TokenProvider::with_clock(TokenSource::OAuth2(config), clock.clone()).expect("provider");
    let first = provider.token().await.expect("token").expect("some");
    assert_eq!(jwt_expiry(first.expose_secret()), Some(exp));
    assert_eq!(provider.cached_expiry().await, Some(exp));

    clock.set(t0 + TimeDelta::seconds(239));
    let same = provider.token().await.expect("token").expect("some");
    assert_eq!(same.expose_secret(), first.expose_secret());
    assert_eq!(idp.token_count(), 1);

    // Past exp - margin but still before exp: a new token is fetched.
    let now = t0 + TimeDelta::seconds(241);
    clock.set(now);
    assert!(now < exp);
    idp.set_mode(idp::Mode::Jwt {
        exp: (now + TimeDelta::seconds(300)).timestamp(),
        expires_in: None,
    });
    let second = provider.token().await.expect("token").expect("some");
    assert_eq!(idp.token_count(), 2);
    assert_ne!(second.expose_secret(), first.expose_secret());

    // expires_in shorter than the JWT exp wins.
    idp.set_mode(idp::Mode::Jwt {
        exp: (now + TimeDelta::seconds(3600)).timestamp(),
        expires_in: Some(120),
    });
    provider.invalidate().await;
    provider.token().await.expect("token");
    assert_eq!(
        provider.cached_expiry().await,
        Some(now + TimeDelta::seconds(120))
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_idp_request() {
    let idp = idp::start(idp::Mode::Opaque {
        expires_in: Some(600),
    })
    .await;
    let provider = TokenProvider::new(TokenSource::OAuth2(oauth(&idp))).expect("provider");
    let calls = (0..8).map(|_| {
        let p = provider.clone();
        tokio::spawn(async move { p.token().await })
    });
    let tokens = futures::future::join_all(calls).await;
    for token in tokens {
        let token = token.expect("join").expect("token").expect("some");
        assert_eq!(token.expose_secret(), "opaque-token-1");
    }
    assert_eq!(idp.token_count(), 1);
    assert_eq!(provider.fetch_count(), 1);
}

#[tokio::test]
async fn a_refused_grant_is_a_clear_error_without_the_secret() {
    let idp = idp::start(idp::Mode::Reject).await;
    let provider = TokenProvider::new(TokenSource::OAuth2(oauth(&idp))).expect("provider");
    let err = provider.token().await.expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 401") && text.contains("invalid_client"),
        "{text}"
    );
    assert!(!text.contains("CANARY"), "{text}");
    assert!(!format!("{err:?}").contains("CANARY"));
}

#[tokio::test]
async fn the_oauth_token_reaches_the_participant_as_a_sensitive_bearer_header() {
    let idp = idp::start(idp::Mode::Opaque {
        expires_in: Some(600),
    })
    .await;
    let server = server::start(
        Behaviour {
            ledger_end: 12,
            required_token: Some("opaque-token-1".into()),
            ..Behaviour::default()
        },
        None,
    )
    .await;
    let mut config = config_for(&server);
    config.ledger_token = TokenSource::OAuth2(oauth(&idp));
    let client = CantonClient::new(&config).expect("client");
    assert_eq!(client.ledger_end().await.expect("authorised"), 12);
    server.seen(|s| {
        assert!(s.authorization.iter().any(|(m, a)| *m == "GetLedgerEnd"
            && a.as_deref() == Some("Bearer opaque-token-1")));
    });

    // T15 canary: no Debug output of config, client, provider or request shows the token or
    // the client secret.
    let request = client
        .ledger_request(lapi::GetLedgerEndRequest {})
        .await
        .expect("request");
    assert!(request.metadata().get("authorization").is_some());
    let outputs = [
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{request:?}"),
        format!("{:?}", config.ledger_token),
    ];
    for out in outputs {
        assert!(!out.contains("opaque-token-1"), "token leaked: {out}");
        assert!(!out.contains("CANARY"), "secret leaked: {out}");
    }
    assert!(format!("{request:?}").contains("Sensitive"));
}

#[tokio::test]
async fn a_static_token_from_env_or_file_is_sent_and_never_shown() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("token");
    std::fs::write(&file, "  static-TOKEN-canary-77\n").expect("write");
    let source = TokenSource::from_file(&file).expect("file token");
    assert_eq!(format!("{source:?}"), "Static([redacted])");
    let server = server::start(
        Behaviour {
            required_token: Some("static-TOKEN-canary-77".into()),
            ..Behaviour::default()
        },
        None,
    )
    .await;
    let mut config = config_for(&server);
    config.ledger_token = source;
    let client = CantonClient::new(&config).expect("client");
    client.ledger_end().await.expect("static token accepted");
    assert!(!format!("{client:?}{config:?}").contains("canary-77"));

    // A wrong token is UNAUTHENTICATED, and the message does not echo it.
    std::fs::write(&file, "wrong-TOKEN-canary-88").expect("write");
    config.ledger_token = TokenSource::from_file(&file).expect("file token");
    let client = CantonClient::new(&config).expect("client");
    let err = client.ledger_end().await.expect_err("wrong token");
    assert!(
        matches!(err, CantonError::Unauthenticated { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("canary-88"));

    // Env var sources: missing and empty are distinct errors.
    let missing = TokenSource::from_env("CANTON_DR_TEST_SURELY_UNSET_VAR").expect_err("unset");
    assert!(
        matches!(missing, TokenError::EnvMissing { .. }),
        "{missing:?}"
    );
    std::fs::write(&file, "\n").expect("write");
    assert!(matches!(
        TokenSource::from_file(&file),
        Err(TokenError::FileEmpty { .. })
    ));
}

#[test]
fn a_plaintext_token_url_is_allowed_only_on_loopback() {
    let config = OAuth2Config::new(
        "http://idp.example.com/oauth/token",
        "c",
        SecretString::from("s"),
    );
    let err = TokenProvider::new(TokenSource::OAuth2(config)).expect_err("plaintext");
    assert!(err.to_string().contains("plaintext"), "{err}");
    for ok in [
        "http://127.0.0.1:1/t",
        "http://localhost:1/t",
        "http://[::1]:1/t",
        "https://idp.example.com/t",
    ] {
        let config = OAuth2Config::new(ok, "c", SecretString::from("s"));
        TokenProvider::new(TokenSource::OAuth2(config)).expect(ok);
    }
}
