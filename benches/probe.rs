//! Probe overhead benchmarks: what a probe costs over the plain client call it wraps, on
//! loopback.
//!
//! One throwaway PostgreSQL cluster (the reference Integration DB schema, 1,000 ingested
//! transactions, TLS on with a test CA) and one simulated participant serve every measurement:
//!
//! - `sql` and `sql_tls`: the profile's named query `last_ingested` as the read-only role,
//!   plaintext and over verified TLS —
//!   - `raw_connected`: the same SQL on one connected tokio-postgres client, in a `READ ONLY`
//!     transaction with `SET LOCAL statement_timeout`, rolled back (what the probe does once
//!     it has a connection);
//!   - `raw_connect_per_call`: the same, on a fresh connection each time (what a check step
//!     pays: the probe holds a connection only for the polls of one step);
//!   - `probe_check`: the `sql` probe through `ProbeSet::observe` as a check step runs it:
//!     profile lookup, a connection of its own, query, typed decoding, shaping the observed
//!     record, and the release of the connection when the step ends;
//!   - `probe_poll`: the same probe as the polls of a wait step after the first one run it,
//!     on the connection the probe set holds for the length of the step;
//! - `canton_ledger_end`: `StateService/GetLedgerEnd` with the bearer token on a connected
//!   tonic channel (`raw_tonic`), and the `canton.ledger_end` probe through
//!   `ProbeSet::observe` (`probe`; its channel is connected by the first call and reused).
//!
//! Criterion measures each of these on its own. On a shared machine the load changes from one
//! benchmark to the next, so after each group the bench also measures its members interleaved
//! (one batch of each per round, in rotating order, for a few seconds) and compares each probe
//! with its raw counterpart round by round. The summary at the end comes from those rounds:
//! median times per call, the median ratio probe / raw and the median overhead probe − raw.
//! Then the participant and the cluster are stopped.
//!
//! `cargo bench --bench probe` (add `--profile dev` to reuse the dev build); about a minute
//! and a half. A filter (`cargo bench --bench probe -- canton`) measures only what matches.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canton_dr::clock::SystemClock;
use canton_dr::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use canton_dr::probe::set::ProbeSet;
use canton_dr::probe::{ProbeRequest, Probes};
use canton_dr::profile::{Profile, ProfileSecrets};
use canton_dr::runbook::catalog::ProbeKind;
use canton_dr::runbook::expr::Ty;
use canton_dr::runbook::model::ProbeCall;
use canton_dr::sandbox::participant::{Participant, ParticipantConfig, RunningParticipant};
use canton_dr::sandbox::pg::schema::READER_ROLE;
use canton_dr::sandbox::pg::{PgCluster, PgOptions, PgServerTls, apply_schema, set_role_password};
use canton_dr::value::Value;
use chrono::{DateTime, Utc};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use secrecy::{ExposeSecret, SecretString};
use tokio::runtime::Runtime;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// The Integration DB's database name.
const DB: &str = "integration";
/// The named query measured (the one the validator-restore runbook reads tRecovery with).
const QUERY: &str = "last_ingested";
/// The same query, bound to the database entry that requires TLS.
const QUERY_TLS: &str = "last_ingested_tls";
/// Ingested transactions written before measuring.
const ROWS: i64 = 1_000;
/// The statement timeout, as the profile's default gives it to the probe.
const STATEMENT_TIMEOUT: &str = "15s";

/// The SQL of the sandbox profile's `last_ingested` query.
fn last_ingested_sql() -> &'static str {
    canton_dr::sandbox::site::QUERIES
        .iter()
        .find(|(name, _)| *name == QUERY)
        .map(|(_, sql)| *sql)
        .expect("the sandbox profile defines last_ingested")
}

/// A test CA and a server certificate for 127.0.0.1 signed by it.
struct Certs {
    ca_file: PathBuf,
    server: PgServerTls,
}

fn make_certs(dir: &Path) -> Certs {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "probe bench CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().expect("server key");
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
    leaf.distinguished_name
        .push(DnType::CommonName, "probe bench postgres");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .expect("server certificate");
    let ca_file = dir.join("ca.pem");
    let cert_file = dir.join("server.crt");
    let key_file = dir.join("server.key");
    std::fs::write(&ca_file, ca_cert.pem()).expect("write CA");
    std::fs::write(&cert_file, leaf_cert.pem()).expect("write server certificate");
    std::fs::write(&key_file, leaf_key.serialize_pem()).expect("write server key");
    Certs {
        ca_file,
        server: PgServerTls {
            cert_file,
            key_file,
        },
    }
}

/// A 0600 secret file.
fn secret_file(path: &Path, secret: &SecretString) {
    std::fs::write(path, secret.expose_secret()).expect("write a secret file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .expect("make a secret file 0600");
}

/// Everything the measurements run against.
struct Fixture {
    cluster: PgCluster,
    participant: RunningParticipant,
    /// Runs the participant's servers and ticker, apart from the measured client.
    server_rt: Runtime,
    /// The measured client side: raw clients and probes alike.
    rt: Runtime,
    probes: ProbeSet,
    reader_password: SecretString,
    token: SecretString,
    ca_file: PathBuf,
    _files: tempfile::TempDir,
}

impl Fixture {
    fn start() -> Fixture {
        let files = tempfile::tempdir().expect("scratch directory");
        let certs = make_certs(files.path());
        let cluster = PgCluster::start(PgOptions {
            tls: Some(certs.server.clone()),
            databases: vec![DB.into()],
            ..PgOptions::default()
        })
        .expect("start a throwaway PostgreSQL cluster (are the server binaries installed?)");
        let reader_password = SecretString::from("probe-bench-reader");
        let token = SecretString::from("probe-bench-token");

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        rt.block_on(async {
            let mut admin = cluster.connect(DB).await.expect("connect as superuser");
            apply_schema(&mut admin).await.expect("apply the schema");
            set_role_password(&admin, READER_ROLE, &reader_password)
                .await
                .expect("set the reader's password");
            admin
                .batch_execute(&format!(
                    "INSERT INTO integration.ingested_transactions \
                         (update_id, ledger_offset, record_time, synchronizer_id, kind) \
                     SELECT 'update-' || i, i, \
                            timestamptz '2026-11-22 03:00:00+00' + i * interval '1.5 s', \
                            'global-synchronizer::1220bench', 'deposit' \
                     FROM generate_series(1, {ROWS}) AS i; \
                     INSERT INTO integration.ingestion_state \
                         (last_offset, last_record_time, synchronizer_id, last_update_id, \
                          observed_record_time) \
                     SELECT ledger_offset, record_time, synchronizer_id, update_id, record_time \
                     FROM integration.ingested_transactions \
                     ORDER BY ledger_offset DESC LIMIT 1; \
                     ANALYZE;"
                ))
                .await
                .expect("write the rows");
        });

        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("participant runtime");
        let mut config = ParticipantConfig::new(token.clone());
        // A quiet ledger with some history: the ticker adds no deposits while measuring.
        config.deposits.every = None;
        config.deposits.initial = 100;
        let participant = server_rt
            .block_on(Participant::start(config))
            .expect("start the simulated participant");

        let token_file = files.path().join("ledger-token");
        let db_password_file = files.path().join("db-password");
        secret_file(&token_file, &token);
        secret_file(&db_password_file, &reader_password);
        let url = cluster.database_url(DB, READER_ROLE);
        let sql = last_ingested_sql();
        let text = format!(
            r#"name = "probe-bench"

[ledger_api]
url = "{ledger}"
auth = {{ token = {{ file = "{token}" }} }}

[databases.integration]
url = "{url}"
password = {{ file = "{password}" }}
tls = "disable"

[databases.integration_tls]
url = "{url}"
password = {{ file = "{password}" }}
tls = "require"
ca_file = "{ca}"

[queries.{QUERY}]
database = "integration"
sql = "{sql}"

[queries.{QUERY_TLS}]
database = "integration_tls"
sql = "{sql}"
"#,
            ledger = participant.ledger_url(),
            token = token_file.display(),
            password = db_password_file.display(),
            ca = certs.ca_file.display(),
        );
        let profile_path = files.path().join("profile.toml");
        std::fs::write(&profile_path, &text).expect("write the profile");
        let profile = Profile::load(&profile_path)
            .unwrap_or_else(|d| panic!("the bench profile is invalid: {d:?}"));
        let secrets: ProfileSecrets = profile
            .load_secrets()
            .unwrap_or_else(|e| panic!("the bench profile's secrets: {e}"));
        let probes = ProbeSet::new(
            Some(Arc::new(profile)),
            Arc::new(secrets),
            Arc::new(SystemClock),
        );
        Fixture {
            cluster,
            participant,
            server_rt,
            rt,
            probes,
            reader_password,
            token,
            ca_file: certs.ca_file,
            _files: files,
        }
    }

    /// The reader role's connection settings, as the probe builds them.
    fn reader_config(&self, tls: bool) -> tokio_postgres::Config {
        let mut config: tokio_postgres::Config = self
            .cluster
            .database_url(DB, READER_ROLE)
            .parse()
            .expect("database URL");
        config
            .password(self.reader_password.expose_secret())
            .application_name("canton-dr")
            .connect_timeout(Duration::from_secs(5))
            .ssl_mode(if tls {
                tokio_postgres::config::SslMode::Require
            } else {
                tokio_postgres::config::SslMode::Disable
            });
        config
    }

    /// A verifying TLS connector for the test CA, built once.
    fn tls_connector(&self) -> tokio_postgres_rustls::MakeRustlsConnect {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let pem = std::fs::read(&self.ca_file).expect("read the CA");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.expect("CA PEM")).expect("add the CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_postgres_rustls::MakeRustlsConnect::new(config)
    }

    /// Stops the participant and the cluster, and waits for both.
    fn stop(self) {
        let Fixture {
            cluster,
            participant,
            server_rt,
            rt,
            probes,
            ..
        } = self;
        drop(probes);
        drop(rt);
        server_rt.block_on(participant.shutdown());
        drop(server_rt);
        let dir = cluster.dir().to_path_buf();
        let postmaster = nix::unistd::Pid::from_raw(cluster.postmaster_pid());
        if let Err(e) = cluster.stop() {
            eprintln!("stopping the PostgreSQL cluster failed: {e}");
        }
        let listening = [participant.ledger_addr(), participant.admin_addr()]
            .iter()
            .any(|a| std::net::TcpStream::connect(a).is_ok());
        let server_alive = nix::sys::signal::kill(postmaster, None).is_ok();
        if listening || server_alive || dir.exists() {
            eprintln!(
                "warning: leftovers: participant listening {listening}, PostgreSQL server \
                 running {server_alive}, {} present {}",
                dir.display(),
                dir.exists()
            );
        } else {
            eprintln!(
                "stopped: the participant no longer listens, the PostgreSQL server has exited \
                 and {} is removed",
                dir.display()
            );
        }
    }
}

/// Connects and drives the connection on the current runtime.
async fn connect(
    config: &tokio_postgres::Config,
    tls: Option<&tokio_postgres_rustls::MakeRustlsConnect>,
) -> tokio_postgres::Client {
    match tls {
        None => {
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect (plaintext)");
            tokio::spawn(connection);
            client
        }
        Some(tls) => {
            let (client, connection) = config.connect(tls.clone()).await.expect("connect (TLS)");
            tokio::spawn(connection);
            client
        }
    }
}

/// The row `last_ingested` returns, decoded by hand.
#[derive(Debug, PartialEq)]
struct LastIngested {
    record_time: DateTime<Utc>,
    synchronizer_id: String,
    update_id: String,
    last_offset: i64,
}

/// The query as plain tokio-postgres code does it: `READ ONLY`, `SET LOCAL statement_timeout`,
/// the query, rollback.
async fn raw_query(client: &mut tokio_postgres::Client, sql: &str) -> Vec<LastIngested> {
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .expect("BEGIN READ ONLY");
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"
    ))
    .await
    .expect("SET LOCAL statement_timeout");
    let rows = tx.query(sql, &[]).await.expect("the query");
    let out = rows
        .iter()
        .map(|r| LastIngested {
            record_time: r.get("record_time"),
            synchronizer_id: r.get("synchronizer_id"),
            update_id: r.get("update_id"),
            last_offset: r.get("last_offset"),
        })
        .collect();
    tx.rollback().await.expect("ROLLBACK");
    out
}

/// A probe request as the engine builds it for a step.
fn request(kind: &str, args: &[(&str, Value)], result_ty: Ty) -> ProbeRequest {
    ProbeRequest {
        call: ProbeCall {
            kind: ProbeKind::find(kind).expect("a catalog probe kind"),
            args: BTreeMap::new(),
            result_ty,
        },
        args: args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        step: "bench".into(),
    }
}

/// The `sql` probe request for a named query, with the columns the runbook declares.
fn sql_request(query: &str) -> ProbeRequest {
    request(
        "sql",
        &[("query", Value::Text(query.into()))],
        Ty::record([
            ("record_time".to_owned(), Ty::Timestamp),
            ("synchronizer_id".to_owned(), Ty::String),
            ("update_id".to_owned(), Ty::String),
            ("last_offset".to_owned(), Ty::Offset),
        ]),
    )
}

/// Runs `$body` `$iters` times on the client runtime and evaluates to the time taken.
macro_rules! timed {
    ($rt:expr, $iters:expr, $body:expr) => {
        $rt.block_on(async {
            let start = Instant::now();
            for _ in 0..$iters {
                black_box($body);
            }
            start.elapsed()
        })
    };
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sampling_mode(SamplingMode::Flat);
}

/// Whether this run measures (`cargo bench`), rather than testing or listing the benchmarks.
fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"))
}

/// How long the interleaved measurement of one group runs.
const PAIRED_TIME: Duration = Duration::from_secs(8);
/// The fewest rounds of an interleaved measurement.
const PAIRED_MIN_ROUNDS: usize = 30;
/// The time one batch of calls should take at least (short calls are batched). Within a
/// batch, what a call leaves behind (a server process ending after a disconnect) overlaps the
/// next call of the same side, as it does in criterion's measurement.
const BATCH_TARGET: Duration = Duration::from_millis(20);
/// An unmeasured pause after each batch, so that what its last call left behind is done
/// before the next side starts (it would otherwise be charged to that side).
const SETTLE: Duration = Duration::from_millis(5);

/// Calls per batch for a call that takes about `per_call`.
fn batch_size(per_call: Duration) -> u32 {
    let per_call = per_call.as_nanos().max(1);
    (BATCH_TARGET.as_nanos() / per_call).clamp(1, 100) as u32
}

/// The median of some numbers.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Interleaved rounds: per round, one batch of every side, in an order that rotates from
/// round to round; each entry is a side's time per call in nanoseconds. Load from elsewhere
/// on a shared machine then falls on every side alike, and each probe can be compared with
/// its raw counterpart measured moments before or after it.
struct Rounds {
    names: Vec<&'static str>,
    per_call_ns: Vec<Vec<f64>>,
}

impl Rounds {
    fn run(
        rt: &Runtime,
        names: &[&'static str],
        mut side: impl FnMut(usize, u32) -> Duration,
    ) -> Rounds {
        // The client runtime runs only inside `block_on`: pause inside it, so that the
        // connection tasks of dropped clients finish their goodbyes during the pause.
        let settle = || rt.block_on(async { tokio::time::sleep(SETTLE).await });
        // Warm up every side and size its batches.
        let batches: Vec<u32> = (0..names.len())
            .map(|i| {
                side(i, 3);
                settle();
                let size = batch_size(side(i, 5) / 5);
                settle();
                size
            })
            .collect();
        let mut per_call_ns = Vec::new();
        let deadline = Instant::now() + PAIRED_TIME;
        while per_call_ns.len() < PAIRED_MIN_ROUNDS || Instant::now() < deadline {
            let round = per_call_ns.len();
            let mut times = vec![0.0; names.len()];
            for j in 0..names.len() {
                let i = (j + round) % names.len();
                times[i] = side(i, batches[i]).as_nanos() as f64 / f64::from(batches[i]);
                settle();
            }
            per_call_ns.push(times);
        }
        Rounds {
            names: names.to_vec(),
            per_call_ns,
        }
    }

    fn index(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| *n == name)
            .expect("a measured side")
    }

    /// One row of the summary: the probe against a raw side.
    fn pair(&self, label: &'static str, probe: &str, raw: &str) -> Pair {
        let (p, r) = (self.index(probe), self.index(raw));
        let column = |i: usize| self.per_call_ns.iter().map(|t| t[i]).collect::<Vec<_>>();
        Pair {
            label,
            probe_ns: median(column(p)),
            raw_ns: median(column(r)),
            ratio: median(self.per_call_ns.iter().map(|t| t[p] / t[r]).collect()),
            overhead_ns: median(self.per_call_ns.iter().map(|t| t[p] - t[r]).collect()),
            rounds: self.per_call_ns.len(),
        }
    }
}

/// A probe compared with the raw call it wraps.
struct Pair {
    label: &'static str,
    /// Median time per probe call.
    probe_ns: f64,
    /// Median time per raw call.
    raw_ns: f64,
    /// Median over rounds of probe / raw.
    ratio: f64,
    /// Median over rounds of probe − raw.
    overhead_ns: f64,
    rounds: usize,
}

/// The three SQL measurements, plaintext or over verified TLS.
fn sql_group(c: &mut Criterion, f: &Fixture, tls: bool, pairs: &mut Vec<Pair>) {
    let name = if tls { "sql_tls" } else { "sql" };
    let query = if tls { QUERY_TLS } else { QUERY };
    let sql = last_ingested_sql();
    let config = f.reader_config(tls);
    let connector = tls.then(|| f.tls_connector());
    let req = sql_request(query);

    // The probe and the raw client read the same row before anything is measured.
    let mut client = f.rt.block_on(connect(&config, connector.as_ref()));
    let raw = f.rt.block_on(raw_query(&mut client, sql));
    assert_eq!(raw.len(), 1, "{raw:?}");
    assert_eq!(raw[0].last_offset, ROWS);
    let observed =
        f.rt.block_on(f.probes.observe(&req))
            .unwrap_or_else(|e| panic!("the sql probe failed: {e}"));
    assert_eq!(observed.value.field("row_count"), Some(&Value::Integer(1)));
    assert_eq!(
        observed.value.field("update_id"),
        Some(&Value::Text(raw[0].update_id.clone())),
        "{}",
        observed.summary
    );
    if tls {
        let ssl: bool =
            f.rt.block_on(client.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            ))
            .expect("read pg_stat_ssl")
            .get(0);
        assert!(ssl, "the TLS measurements must run over TLS");
    }

    let ran = std::cell::Cell::new(false);
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    group.bench_function("raw_connected", |b| {
        ran.set(true);
        b.iter_custom(|iters| timed!(f.rt, iters, raw_query(&mut client, sql).await))
    });
    group.bench_function("raw_connect_per_call", |b| {
        ran.set(true);
        b.iter_custom(|iters| {
            timed!(f.rt, iters, {
                let mut fresh = connect(&config, connector.as_ref()).await;
                raw_query(&mut fresh, sql).await
            })
        })
    });
    group.bench_function("probe_check", |b| {
        ran.set(true);
        b.iter_custom(|iters| timed!(f.rt, iters, probe_check(&f.probes, &req).await))
    });
    group.bench_function("probe_poll", |b| {
        ran.set(true);
        b.iter_custom(|iters| {
            timed!(
                f.rt,
                iters,
                f.probes.observe(&req).await.expect("the sql probe")
            )
        })
    });
    f.probes.release_held();
    group.finish();

    if !(ran.get() && measuring()) {
        return;
    }
    eprintln!("{name}: interleaved measurement for the summary");
    let rounds = Rounds::run(
        &f.rt,
        &[
            "raw_connected",
            "raw_connect_per_call",
            "probe_check",
            "probe_poll",
        ],
        |side, n| match side {
            0 => timed!(f.rt, n, raw_query(&mut client, sql).await),
            1 => timed!(f.rt, n, {
                let mut fresh = connect(&config, connector.as_ref()).await;
                raw_query(&mut fresh, sql).await
            }),
            2 => timed!(f.rt, n, probe_check(&f.probes, &req).await),
            _ => {
                // The first poll of a wait step connects; the ones measured here follow it.
                f.rt.block_on(f.probes.observe(&req))
                    .expect("the sql probe");
                let t = timed!(
                    f.rt,
                    n,
                    f.probes.observe(&req).await.expect("the sql probe")
                );
                f.probes.release_held();
                t
            }
        },
    );
    let (connected, per_call) = if tls {
        (
            "sql over TLS, wait-step poll / connected client",
            "sql over TLS, check / own connection",
        )
    } else {
        (
            "sql, wait-step poll / connected client",
            "sql, check / own connection",
        )
    };
    pairs.push(rounds.pair(per_call, "probe_check", "raw_connect_per_call"));
    pairs.push(rounds.pair(connected, "probe_poll", "raw_connected"));
    let check_vs_connected = rounds.pair("check vs connected", "probe_check", "raw_connected");
    eprintln!(
        "{name}: a check (own connection) costs {:.1}x a query on a connected client",
        check_vs_connected.ratio
    );
    let share = rounds.pair("connecting", "raw_connect_per_call", "raw_connected");
    eprintln!(
        "{name}: a connection of its own adds {} per query (median over {} rounds)",
        fmt_time(share.overhead_ns),
        share.rounds
    );
}

fn canton_group(c: &mut Criterion, f: &Fixture, pairs: &mut Vec<Pair>) {
    let name = "canton_ledger_end";
    let req = request(
        "canton.ledger_end",
        &[],
        Ty::record(
            ProbeKind::find("canton.ledger_end")
                .expect("canton.ledger_end")
                .fixed_outputs()
                .into_iter()
                .map(|(k, t)| (k.to_owned(), t)),
        ),
    );
    let channel: Channel = f.rt.block_on(async {
        Endpoint::from_shared(f.participant.ledger_url())
            .expect("ledger URL")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("connect to the Ledger API")
    });
    let mut bearer: MetadataValue<Ascii> = format!("Bearer {}", f.token.expose_secret())
        .parse()
        .expect("header value");
    bearer.set_sensitive(true);
    let raw_call = || {
        let channel = channel.clone();
        let bearer = bearer.clone();
        async move {
            let mut request = tonic::Request::new(lapi::GetLedgerEndRequest {});
            request.metadata_mut().insert("authorization", bearer);
            lapi::state_service_client::StateServiceClient::new(channel)
                .get_ledger_end(request)
                .await
                .expect("GetLedgerEnd")
                .into_inner()
                .offset
        }
    };

    // Both read the same, non-empty ledger end before anything is measured.
    let raw = f.rt.block_on(raw_call());
    assert!(raw > 0, "the participant has history");
    let observed =
        f.rt.block_on(f.probes.observe(&req))
            .unwrap_or_else(|e| panic!("the canton.ledger_end probe failed: {e}"));
    assert_eq!(observed.value.field("offset"), Some(&Value::Offset(raw)));

    let ran = std::cell::Cell::new(false);
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    group.bench_function("raw_tonic", |b| {
        ran.set(true);
        b.iter_custom(|iters| timed!(f.rt, iters, raw_call().await))
    });
    group.bench_function("probe", |b| {
        ran.set(true);
        b.iter_custom(|iters| {
            timed!(
                f.rt,
                iters,
                f.probes.observe(&req).await.expect("the ledger end probe")
            )
        })
    });
    group.finish();

    if !(ran.get() && measuring()) {
        return;
    }
    eprintln!("{name}: interleaved measurement for the summary");
    let rounds = Rounds::run(&f.rt, &["raw_tonic", "probe"], |side, n| match side {
        0 => timed!(f.rt, n, raw_call().await),
        _ => timed!(
            f.rt,
            n,
            f.probes.observe(&req).await.expect("the ledger end probe")
        ),
    });
    pairs.push(rounds.pair(
        "canton.ledger_end: probe / raw GetLedgerEnd",
        "probe",
        "raw_tonic",
    ));
}

/// The target: a probe costs less than this many times the raw call…
const TARGET_RATIO: f64 = 1.2;
/// …and less than this much more (1 ms).
const TARGET_OVERHEAD_NS: f64 = 1_000_000.0;

/// The `sql` probe as a check step runs it: observe once, then release the connection, as the
/// engine does when the step ends.
async fn probe_check(probes: &ProbeSet, req: &ProbeRequest) {
    let observed = probes.observe(req).await.expect("the sql probe");
    probes.release_held();
    black_box(observed);
}

fn fmt_time(ns: f64) -> String {
    if ns.abs() >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else {
        format!("{:.0} µs", ns / 1_000.0)
    }
}

fn summary(pairs: &[Pair]) {
    if pairs.is_empty() {
        return;
    }
    println!("\nProbe overhead (medians of interleaved rounds; ratio and overhead per round):");
    println!(
        "  {:<50} {:>9} {:>9} {:>7} {:>9} {:>7}  target (< {TARGET_RATIO}x and < {})",
        "pair",
        "probe",
        "raw",
        "ratio",
        "overhead",
        "rounds",
        fmt_time(TARGET_OVERHEAD_NS)
    );
    for p in pairs {
        let met = p.ratio < TARGET_RATIO && p.overhead_ns < TARGET_OVERHEAD_NS;
        println!(
            "  {:<50} {:>9} {:>9} {:>6.2}x {:>9} {:>7}  {}",
            p.label,
            fmt_time(p.probe_ns),
            fmt_time(p.raw_ns),
            p.ratio,
            fmt_time(p.overhead_ns),
            p.rounds,
            if met { "met" } else { "missed" }
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let fixture = Fixture::start();
    let mut pairs = Vec::new();
    sql_group(&mut c, &fixture, false, &mut pairs);
    sql_group(&mut c, &fixture, true, &mut pairs);
    canton_group(&mut c, &fixture, &mut pairs);
    c.final_summary();
    fixture.stop();
    summary(&pairs);
}
