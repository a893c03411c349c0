#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed assertion
//! The SQL query core against a real PostgreSQL server: TLS policy and verification, least
//! privilege and read-only transactions (T14), statement timeouts, typed values and bind
//! parameters.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use canton_dr::probe::sql::{HeldConnections, QueryResult, SqlError, SqlTarget, SqlTls, query};
use canton_dr::sandbox::pg::schema::READER_ROLE;
use canton_dr::sandbox::pg::{PgCluster, PgOptions, PgServerTls, apply_schema, set_role_password};
use canton_dr::value::{Value, ValueType};
use chrono::{DateTime, TimeDelta, Utc};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use secrecy::SecretString;

const DB: &str = "integration";

/// A CA certificate file (and the issuer to sign with).
struct TestCa {
    pem_file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

fn make_ca(dir: &std::path::Path, name: &str) -> TestCa {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let cert = params.self_signed(&key).unwrap();
    let pem_file = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&pem_file, cert.pem()).unwrap();
    TestCa {
        pem_file,
        issuer: Issuer::new(params, key),
    }
}

/// The shared server: TLS on (a leaf for `127.0.0.1` only, signed by `ca`), the schema
/// applied, the reader role with a password.
struct Fixture {
    cluster: PgCluster,
    ca: PathBuf,
    other_ca: PathBuf,
    reader_password: SecretString,
    _certs: tempfile::TempDir,
}

impl Fixture {
    fn start() -> Fixture {
        let certs = tempfile::tempdir().unwrap();
        let ca = make_ca(certs.path(), "right");
        let other = make_ca(certs.path(), "other");
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "sandbox postgres");
        let leaf_cert = leaf.signed_by(&leaf_key, &ca.issuer).unwrap();
        let cert_file = certs.path().join("server.crt");
        let key_file = certs.path().join("server.key");
        std::fs::write(&cert_file, leaf_cert.pem()).unwrap();
        std::fs::write(&key_file, leaf_key.serialize_pem()).unwrap();

        let root = shared_root();
        let cluster = PgCluster::start(PgOptions {
            root: Some(root),
            tls: Some(PgServerTls {
                cert_file,
                key_file,
            }),
            databases: vec![DB.into()],
            ..PgOptions::default()
        })
        .unwrap();
        let reader_password = SecretString::from("reader-pw-for-tests");
        // The schema is set up on a runtime of its own (callers may be inside one).
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let mut admin = cluster.connect(DB).await.unwrap();
                    apply_schema(&mut admin).await.unwrap();
                    set_role_password(&admin, READER_ROLE, &reader_password)
                        .await
                        .unwrap();
                });
            })
            .join()
            .unwrap();
        });
        Fixture {
            cluster,
            ca: ca.pem_file,
            other_ca: other.pem_file,
            reader_password,
            _certs: certs,
        }
    }

    /// The reader over verified TLS: what a real check uses.
    fn reader(&self) -> SqlTarget {
        SqlTarget {
            url: self.cluster.database_url(DB, READER_ROLE),
            password: Some(self.reader_password.clone()),
            tls: SqlTls::Require {
                ca_file: Some(self.ca.clone()),
            },
            connect_timeout: Duration::from_secs(20),
            statement_timeout: Duration::from_secs(20),
        }
    }

    /// The superuser over verified TLS.
    fn superuser(&self) -> SqlTarget {
        SqlTarget {
            url: self.cluster.database_url(DB, "postgres"),
            password: Some(self.cluster.password().clone()),
            ..self.reader()
        }
    }
}

/// A root the unprivileged server user can traverse, shared by this test binary's clusters.
fn shared_root() -> PathBuf {
    let root = std::env::temp_dir().join("canton-dr-sql-tests");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

/// One server for all tests that run at the same time; the last user stops it.
fn fixture() -> Arc<Fixture> {
    static SHARED: Mutex<Weak<Fixture>> = Mutex::new(Weak::new());
    let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = guard.upgrade() {
        return f;
    }
    let f = Arc::new(Fixture::start());
    *guard = Arc::downgrade(&f);
    f
}

fn only_row(result: &QueryResult) -> &std::collections::BTreeMap<String, Value> {
    assert_eq!(result.rows.len(), 1, "{result:?}");
    &result.rows[0]
}

fn ts(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------
// TLS (T14)

#[tokio::test]
async fn verified_tls_with_the_right_ca_works() {
    let f = fixture();
    let result = query(
        &f.reader(),
        "SELECT current_user::text AS who, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )
    .await
    .unwrap();
    let row = only_row(&result);
    assert_eq!(row["who"], Value::Text(READER_ROLE.into()));
    assert_eq!(row["ssl"], Value::Bool(true));
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let f = fixture();
    let mut target = f.reader();
    target.tls = SqlTls::Require {
        ca_file: Some(f.other_ca.clone()),
    };
    let err = query(&target, "SELECT 1 AS one", &[]).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SqlError::TlsFailed { .. }), "{msg}");
    assert!(msg.contains("UnknownIssuer"), "{msg}");
    assert!(
        msg.contains(&format!("127.0.0.1:{}/{DB}", f.cluster.port())),
        "{msg}"
    );
}

#[tokio::test]
async fn a_self_signed_server_is_refused_against_the_system_roots() {
    let f = fixture();
    let mut target = f.reader();
    target.tls = SqlTls::Require { ca_file: None };
    let err = query(&target, "SELECT 1 AS one", &[]).await.unwrap_err();
    assert!(
        matches!(err, SqlError::TlsFailed { .. } | SqlError::TlsConfig { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_name_the_certificate_does_not_cover_is_refused() {
    let f = fixture();
    let mut target = f.reader();
    // The leaf names 127.0.0.1 only; "localhost" reaches the same server.
    target.url = format!(
        "postgres://{READER_ROLE}@localhost:{}/{DB}",
        f.cluster.port()
    );
    let err = query(&target, "SELECT 1 AS one", &[]).await.unwrap_err();
    assert!(
        matches!(&err, SqlError::TlsFailed { reason, .. } if reason.contains("not valid for name")),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_without_tls_is_refused_with_no_plaintext_fallback() {
    let plain = PgCluster::start_async(PgOptions {
        root: Some(shared_root()),
        databases: vec![DB.into()],
        ..PgOptions::default()
    })
    .await
    .unwrap();
    let mut target = SqlTarget {
        url: plain.database_url(DB, "postgres"),
        password: Some(plain.password().clone()),
        tls: SqlTls::Require { ca_file: None },
        connect_timeout: Duration::from_secs(20),
        statement_timeout: Duration::from_secs(20),
    };
    let err = query(&target, "SELECT 1 AS one", &[]).await.unwrap_err();
    assert!(matches!(err, SqlError::TlsRefused { .. }), "{err}");
    assert!(err.to_string().contains("no plaintext"), "{err}");
    // Even a URL that asks for plaintext does not weaken Require.
    target.url.push_str("?sslmode=disable");
    let err = query(&target, "SELECT 1 AS one", &[]).await.unwrap_err();
    assert!(matches!(err, SqlError::TlsRefused { .. }), "{err}");
    // The server itself is fine: the refusal was about TLS.
    target.tls = SqlTls::Disable;
    let result = query(&target, "SELECT 1 AS one", &[]).await.unwrap();
    assert_eq!(only_row(&result)["one"], Value::Integer(1));
}

// ---------------------------------------------------------------------------------------
// Authentication and reachability

#[tokio::test]
async fn a_wrong_password_is_an_authentication_failure_that_never_shows_it() {
    let f = fixture();
    let mut target = f.reader();
    target.password = Some(SecretString::from("wrong-canary-password"));
    let err = query(&target, "SELECT 1 AS one", &[]).await.unwrap_err();
    assert!(matches!(err, SqlError::AuthFailed { .. }), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains(READER_ROLE), "{shown}");
    assert!(!shown.contains("wrong-canary-password"), "{shown}");
    assert!(!shown.contains("reader-pw-for-tests"), "{shown}");

    target.password = None;
    let err = query(&target, "SELECT 1 AS one", &[]).await.unwrap_err();
    assert!(matches!(err, SqlError::AuthFailed { .. }), "{err}");
    assert!(err.to_string().contains("none was given"), "{err}");
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut target = SqlTarget::new(format!("postgres://reader@127.0.0.1:{port}/{DB}"));
    target.tls = SqlTls::Disable;
    let err = query(&target, "SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(err, SqlError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}/{DB}")),
        "{err}"
    );
}

/// A server that accepts TCP but never answers: the connect timeout covers the TLS request,
/// not only the TCP connect.
#[tokio::test]
async fn a_silent_server_hits_the_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let mut target = SqlTarget::new(format!("postgres://reader@127.0.0.1:{port}/{DB}"));
    target.connect_timeout = Duration::from_millis(300);
    let err = query(&target, "SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(err, SqlError::ConnectTimeout { .. }), "{err}");
    silent.abort();
}

// ---------------------------------------------------------------------------------------
// Least privilege and read-only transactions (T14)

const WRITE: &str =
    "UPDATE integration.withdrawal_control SET enabled = NOT enabled RETURNING enabled";

#[tokio::test]
async fn the_reader_role_cannot_write() {
    let f = fixture();
    let err = query(&f.reader(), WRITE, &[]).await.unwrap_err();
    assert!(matches!(err, SqlError::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("25006"), "{err}");
}

#[tokio::test]
async fn even_the_superuser_cannot_write_inside_the_read_only_transaction() {
    let f = fixture();
    let err = query(&f.superuser(), WRITE, &[]).await.unwrap_err();
    assert!(matches!(err, SqlError::ReadOnly { .. }), "{err}");
    let err = query(
        &f.superuser(),
        "INSERT INTO integration.ingestion_config (singleton, start_offset) VALUES (true, 1) \
         RETURNING start_offset",
        &[],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SqlError::ReadOnly { .. }), "{err}");
    // Switching the transaction to read-write is refused too.
    let err = query(&f.superuser(), "SET TRANSACTION READ WRITE", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Query { .. }), "{err}");
    // Two statements cannot ride in one query.
    let err = query(
        &f.superuser(),
        "SELECT 1; UPDATE integration.withdrawal_control SET enabled = false",
        &[],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, SqlError::Query { sqlstate, .. } if sqlstate == "42601"),
        "{err}"
    );
    // Nothing changed.
    let result = query(
        &f.superuser(),
        "SELECT enabled FROM integration.withdrawal_control",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(only_row(&result)["enabled"], Value::Bool(true));
}

#[tokio::test]
async fn a_long_query_hits_the_statement_timeout() {
    let f = fixture();
    let mut target = f.reader();
    target.statement_timeout = Duration::from_millis(300);
    let err = query(&target, "SELECT pg_sleep(60)::text AS slept", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::StatementTimeout { .. }), "{err}");
    assert!(err.to_string().contains("300ms"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Typed results

#[tokio::test]
async fn result_types_keep_their_precision() {
    let f = fixture();
    let result = query(
        &f.reader(),
        "SELECT '2026-11-22T03:15:00.123456Z'::timestamptz AS ts, \
                '2026-01-01 00:00:00.000001'::timestamp AS ts_naive, \
                9223372036854775807::int8 AS big, \
                (-32768)::int2 AS small, \
                2147483647::int4 AS mid, \
                '-123456789012345678901234567890.123456789012345'::numeric AS num, \
                '0.0000000001'::numeric(38,10) AS tiny, \
                12.50::numeric AS scaled, \
                'NaN'::numeric AS nan, \
                'text ✓ with ''quotes'''::text AS t, \
                'v'::varchar(3) AS vc, \
                true AS b, \
                NULL::text AS n, \
                '1 day 02:03:04.000005'::interval AS iv, \
                1.5::float8 AS f, \
                '{\"a\": [1, 2]}'::jsonb AS j",
        &[],
    )
    .await
    .unwrap();
    let row = only_row(&result);
    assert_eq!(
        row["ts"],
        Value::Timestamp(ts("2026-11-22T03:15:00.123456Z"))
    );
    assert_eq!(
        row["ts_naive"],
        Value::Timestamp(ts("2026-01-01T00:00:00.000001Z"))
    );
    assert_eq!(row["big"], Value::Integer(i64::MAX));
    assert_eq!(row["small"], Value::Integer(-32768));
    assert_eq!(row["mid"], Value::Integer(2_147_483_647));
    assert_eq!(
        row["num"],
        Value::Decimal("-123456789012345678901234567890.123456789012345".into())
    );
    assert_eq!(row["tiny"], Value::Decimal("0.0000000001".into()));
    assert_eq!(row["scaled"], Value::Decimal("12.50".into()));
    assert_eq!(row["nan"], Value::Decimal("NaN".into()));
    assert_eq!(row["t"], Value::Text("text ✓ with 'quotes'".into()));
    assert_eq!(row["vc"], Value::Text("v".into()));
    assert_eq!(row["b"], Value::Bool(true));
    assert_eq!(row["n"], Value::Null);
    assert_eq!(
        row["iv"],
        Value::Duration(TimeDelta::days(1) + TimeDelta::microseconds(7_384_000_005))
    );
    assert_eq!(row["f"], Value::Decimal("1.5".into()));
    assert_eq!(row["j"], Value::Text(r#"{"a":[1,2]}"#.into()));

    let types: Vec<(&str, ValueType)> = result
        .columns
        .iter()
        .map(|(n, t)| (n.as_str(), *t))
        .collect();
    assert_eq!(types[0], ("ts", ValueType::Timestamp));
    assert_eq!(types[2], ("big", ValueType::Integer));
    assert_eq!(types[5], ("num", ValueType::Decimal));
    assert_eq!(types[9], ("t", ValueType::Text));
    assert_eq!(types[11], ("b", ValueType::Bool));
    assert_eq!(types[13], ("iv", ValueType::Duration));
    assert_eq!(result.columns.len(), 16);
}

#[tokio::test]
async fn empty_results_still_describe_their_columns() {
    let f = fixture();
    let result = query(
        &f.reader(),
        "SELECT last_record_time AS record_time, synchronizer_id FROM ingestion_state",
        &[],
    )
    .await
    .unwrap();
    assert!(result.rows.is_empty());
    assert_eq!(
        result.columns,
        vec![
            ("record_time".to_owned(), ValueType::Timestamp),
            ("synchronizer_id".to_owned(), ValueType::Text)
        ]
    );
}

#[tokio::test]
async fn unreadable_shapes_are_clear_errors() {
    let f = fixture();
    let err = query(&f.reader(), "SELECT gen_random_uuid() AS id", &[])
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SqlError::Column { .. }), "{msg}");
    assert!(
        msg.contains("'id'") && msg.contains("uuid") && msg.contains("id::text"),
        "{msg}"
    );

    let err = query(&f.reader(), "SELECT 1 AS a, 2 AS a", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::RowShape { .. }), "{err}");

    let err = query(&f.reader(), "SELECT '1 month'::interval AS m", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SqlError::Column { column, reason, .. } if column == "m" && reason.contains("month")),
        "{err}"
    );

    let err = query(&f.reader(), "SELEC 1", &[]).await.unwrap_err();
    assert!(
        matches!(&err, SqlError::Query { sqlstate, .. } if sqlstate == "42601"),
        "{err}"
    );
    let err = query(&f.reader(), "SELECT * FROM no_such_table", &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Bind parameters

#[tokio::test]
async fn bind_parameters_of_every_type_reach_the_server_exactly() {
    let f = fixture();
    let when = ts("2026-11-22T03:15:00.123456Z");
    let digits = "98765432109876543210.0123456789";
    let result = query(
        &f.reader(),
        "SELECT $1::timestamptz = '2026-11-22T03:15:00.123456Z'::timestamptz AS ts_same, \
                $1::timestamptz AS ts, \
                $2::int8 + 1 AS next_offset, \
                $3::int8 AS big, \
                $4::numeric = '98765432109876543210.0123456789'::numeric AS num_same, \
                $4::numeric AS num, \
                $5::text AS t, \
                $6::bool AS b, \
                $7::interval = interval '1 hour 30 minutes 0.000001 second' AS iv_same, \
                $7::interval AS iv, \
                $8::text IS NULL AS n, \
                $9::numeric AS int_as_numeric, \
                $10::timestamp AS naive",
        &[
            Value::Timestamp(when),
            Value::Offset(18_234),
            Value::Integer(i64::MIN),
            Value::Decimal(digits.into()),
            Value::Text("naïve ✓".into()),
            Value::Bool(false),
            Value::Duration(TimeDelta::minutes(90) + TimeDelta::microseconds(1)),
            Value::Null,
            Value::Integer(-42),
            Value::Timestamp(when),
        ],
    )
    .await
    .unwrap();
    let row = only_row(&result);
    assert_eq!(row["ts_same"], Value::Bool(true));
    assert_eq!(row["ts"], Value::Timestamp(when));
    assert_eq!(row["next_offset"], Value::Integer(18_235));
    assert_eq!(row["big"], Value::Integer(i64::MIN));
    assert_eq!(row["num_same"], Value::Bool(true));
    assert_eq!(row["num"], Value::Decimal(digits.into()));
    assert_eq!(row["t"], Value::Text("naïve ✓".into()));
    assert_eq!(row["b"], Value::Bool(false));
    assert_eq!(row["iv_same"], Value::Bool(true));
    assert_eq!(
        row["iv"],
        Value::Duration(TimeDelta::minutes(90) + TimeDelta::microseconds(1))
    );
    assert_eq!(row["n"], Value::Bool(true));
    assert_eq!(row["int_as_numeric"], Value::Decimal("-42".into()));
    assert_eq!(row["naive"], Value::Timestamp(when));
}

#[tokio::test]
async fn parameters_compare_against_table_columns() {
    let f = fixture();
    // Types inferred from the columns, not from casts in the query.
    let result = query(
        &f.reader(),
        "SELECT count(*) AS n FROM withdrawals \
          WHERE trec_tgt > $1 AND amount > $2 AND status = $3 AND recovered = $4",
        &[
            Value::Timestamp(ts("2026-01-01T00:00:00Z")),
            Value::Decimal("0.5".into()),
            Value::Text("pending".into()),
            Value::Bool(false),
        ],
    )
    .await
    .unwrap();
    assert_eq!(only_row(&result)["n"], Value::Integer(0));
}

#[tokio::test]
async fn an_injection_attempt_arrives_verbatim() {
    let f = fixture();
    let evil = "'; DROP TABLE integration.withdrawals; -- $1 \" \\ ";
    let result = query(
        &f.superuser(),
        "SELECT $1::text AS v, length($1::text) AS len, \
                to_regclass('integration.withdrawals') IS NOT NULL AS still_there",
        &[Value::Text(evil.into())],
    )
    .await
    .unwrap();
    let row = only_row(&result);
    assert_eq!(row["v"], Value::Text(evil.into()));
    assert_eq!(
        row["len"],
        Value::Integer(i64::try_from(evil.chars().count()).unwrap())
    );
    assert_eq!(row["still_there"], Value::Bool(true));
}

#[tokio::test]
async fn parameter_mistakes_are_refused_before_running() {
    let f = fixture();
    let err = query(&f.reader(), "SELECT $1::int8 AS x", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SqlError::ParameterCount {
                expected: 1,
                given: 0,
                ..
            }
        ),
        "{err}"
    );
    let err = query(
        &f.reader(),
        "SELECT $1::int8 AS x, $2::timestamptz AS y",
        &[Value::Integer(1), Value::Bool(true)],
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SqlError::Parameter { index: 2, .. }), "{msg}");
    assert!(msg.contains("$2") && msg.contains("timestamptz"), "{msg}");

    let err = query(
        &f.reader(),
        "SELECT $1::text AS x",
        &[Value::Secret(SecretString::from("canary-secret"))],
    )
    .await
    .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        matches!(err, SqlError::Parameter { index: 1, .. }),
        "{shown}"
    );
    assert!(!shown.contains("canary-secret"), "{shown}");

    let err = query(
        &f.reader(),
        "SELECT $1::numeric AS x",
        &[Value::Decimal("12,5".into())],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SqlError::Parameter { index: 1, .. }), "{err}");
}

// ---------------------------------------------------------------------------------------
// Connections held between the polls of a step

const PID: &str = "SELECT pg_backend_pid()::int8 AS pid";

async fn held_pid(held: &HeldConnections, target: &SqlTarget) -> i64 {
    let result = held.query("integration", target, PID, &[]).await.unwrap();
    match only_row(&result)["pid"] {
        Value::Integer(pid) => pid,
        ref other => panic!("pid is {other:?}"),
    }
}

/// Whether a server process with this pid still exists (asked on a connection of its own).
async fn backend_alive(f: &Fixture, pid: i64) -> bool {
    let result = query(
        &f.superuser(),
        "SELECT count(*)::int8 AS n FROM pg_stat_activity WHERE pid::int8 = $1",
        &[Value::Integer(pid)],
    )
    .await
    .unwrap();
    only_row(&result)["n"] != Value::Integer(0)
}

/// Waits (up to a generous bound) until the server process has gone: a backend exits shortly
/// after its client says goodbye or is terminated.
async fn until_gone(f: &Fixture, pid: i64) {
    for _ in 0..200 {
        if !backend_alive(f, pid).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server process {pid} is still there");
}

#[tokio::test]
async fn a_held_connection_serves_the_next_poll_and_release_closes_it() {
    let f = fixture();
    let held = HeldConnections::new();
    let first = held_pid(&held, &f.reader()).await;
    assert_eq!(held_pid(&held, &f.reader()).await, first);
    assert_eq!(held.names(), vec!["integration".to_owned()]);
    assert!(backend_alive(&f, first).await);

    held.release();
    assert!(held.names().is_empty());
    until_gone(&f, first).await;
    let next = held_pid(&held, &f.reader()).await;
    assert_ne!(next, first);
    held.release();
    until_gone(&f, next).await;
}

#[tokio::test]
async fn a_failed_query_leaves_the_held_connection_usable() {
    let f = fixture();
    let held = HeldConnections::new();
    let pid = held_pid(&held, &f.reader()).await;
    let err = held
        .query(
            "integration",
            &f.reader(),
            "SELECT * FROM no_such_table",
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Query { .. }), "{err}");
    // The failed transaction was rolled back; the next poll runs on the same connection.
    assert_eq!(held_pid(&held, &f.reader()).await, pid);
    held.release();
}

#[tokio::test]
async fn a_held_connection_the_server_terminated_is_replaced_once() {
    let f = fixture();
    let held = HeldConnections::new();
    let pid = held_pid(&held, &f.reader()).await;
    let result = query(
        &f.superuser(),
        "SELECT pg_terminate_backend($1::int4) AS done",
        &[Value::Integer(pid)],
    )
    .await
    .unwrap();
    assert_eq!(only_row(&result)["done"], Value::Bool(true));
    until_gone(&f, pid).await;

    let next = held_pid(&held, &f.reader()).await;
    assert_ne!(next, pid);
    assert_eq!(held_pid(&held, &f.reader()).await, next);
    held.release();
}

#[tokio::test]
async fn a_statement_timeout_does_not_keep_the_connection() {
    let f = fixture();
    let held = HeldConnections::new();
    let mut target = f.reader();
    target.statement_timeout = Duration::from_millis(300);
    let err = held
        .query(
            "integration",
            &target,
            "SELECT pg_sleep(60)::text AS slept",
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::StatementTimeout { .. }), "{err}");
    assert!(held.names().is_empty());
}
