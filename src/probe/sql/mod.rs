//! The SQL query core: one read-only query against PostgreSQL, with typed bind parameters and
//! typed results.
//!
//! [`query`] runs on a fresh connection; [`HeldConnections`] keeps one per database between the
//! polls of a step. Every query runs inside `BEGIN READ ONLY` with a transaction-local
//! `statement_timeout`, and is rolled back. Values only ever travel as bind parameters. With
//! [`SqlTls::Require`] the connection is TLS with a verifying connector, or nothing: a server
//! without TLS is refused, never silently used in plaintext. The password travels separately
//! from the URL, as a secret, and no message names it.

mod decode;
mod held;
mod interval;
mod numeric;
mod params;
mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{ToSql, Type};

use crate::value::{Value, ValueType};

pub use held::HeldConnections;

/// How long a query may overrun its statement timeout on the client side (a silent network,
/// a server that does not answer) before we give up on it ourselves.
const CLIENT_GRACE: Duration = Duration::from_secs(5);

/// TLS for a database connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlTls {
    /// Plaintext (only sensible for a local socket or a loopback sandbox).
    Disable,
    /// TLS, verifying the server certificate and name against `ca_file`, or the system's
    /// trusted roots if `None`. A server without TLS is refused.
    Require {
        /// PEM file with the certificate authorities to trust.
        ca_file: Option<PathBuf>,
    },
}

/// Where and how to run a query.
#[derive(Debug, Clone)]
pub struct SqlTarget {
    /// `postgres://user@host:port/db` (no password; key=value connection strings work too).
    pub url: String,
    /// The password, if the server asks for one.
    pub password: Option<SecretString>,
    /// TLS policy.
    pub tls: SqlTls,
    /// Limit for establishing the connection (TCP, TLS and authentication).
    pub connect_timeout: Duration,
    /// `statement_timeout` for the query (set per transaction).
    pub statement_timeout: Duration,
}

impl SqlTarget {
    /// A target with the safe defaults: TLS required against the system roots, no password,
    /// 10 s to connect, 30 s per statement.
    pub fn new(url: impl Into<String>) -> SqlTarget {
        SqlTarget {
            url: url.into(),
            password: None,
            tls: SqlTls::Require { ca_file: None },
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// The typed result of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Column names and the type each is read as, in query order.
    pub columns: Vec<(String, ValueType)>,
    /// The rows, each a map from column name to value (`Value::Null` for NULL).
    pub rows: Vec<BTreeMap<String, Value>>,
}

/// Why a query failed. Every message names the target as `host:port/db`, never the password.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("the database URL is not valid: {reason}")]
    InvalidUrl { reason: String },
    #[error(
        "the database URL for {target} contains a password; remove it from the URL and give \
         the password separately, as a secret"
    )]
    PasswordInUrl { target: String },
    #[error("cannot reach the database {target}: {reason}")]
    Unreachable { target: String, reason: String },
    #[error("connecting to the database {target} did not finish within {}", fmt_duration(*.timeout))]
    ConnectTimeout { target: String, timeout: Duration },
    #[error("the database {target} refused the connection: {message} (SQLSTATE {sqlstate})")]
    ConnectRefused {
        target: String,
        sqlstate: String,
        message: String,
    },
    #[error(
        "the database {target} does not offer TLS, and TLS is required (there is no plaintext \
         fallback)"
    )]
    TlsRefused { target: String },
    #[error("TLS with the database {target} failed: {reason}")]
    TlsFailed { target: String, reason: String },
    #[error("TLS setup for the database {target}: {reason}")]
    TlsConfig { target: String, reason: String },
    #[error("authentication as '{user}' to the database {target} failed: {reason}")]
    AuthFailed {
        target: String,
        user: String,
        reason: String,
    },
    #[error("the query on {target} failed: {message} (SQLSTATE {sqlstate}){detail}")]
    Query {
        target: String,
        sqlstate: String,
        message: String,
        detail: String,
    },
    #[error("the query on {target} exceeded its statement timeout of {}", fmt_duration(*.timeout))]
    StatementTimeout { target: String, timeout: Duration },
    #[error(
        "the query on {target} tried to write, but checks are read-only: {message} \
         (SQLSTATE {sqlstate})"
    )]
    ReadOnly {
        target: String,
        sqlstate: String,
        message: String,
    },
    #[error("the query on {target} lacks a privilege: {message} (SQLSTATE 42501)")]
    PermissionDenied { target: String, message: String },
    #[error("the query on {target} takes {expected} parameter(s), but {given} were given")]
    ParameterCount {
        target: String,
        expected: usize,
        given: usize,
    },
    #[error("parameter ${index} of the query on {target}: {reason}")]
    Parameter {
        target: String,
        index: usize,
        reason: String,
    },
    #[error("unexpected result shape from {target}: {reason}")]
    RowShape { target: String, reason: String },
    #[error(
        "column '{column}' of the result from {target} cannot be read: {reason}; cast it in the \
         query (e.g. {column}::text)"
    )]
    Column {
        target: String,
        column: String,
        reason: String,
    },
    #[error("the connection to the database {target} was lost: {reason}")]
    ConnectionLost { target: String, reason: String },
}

fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The parsed target: the connection configuration and how to name it in messages.
struct Resolved {
    config: tokio_postgres::Config,
    name: String,
    user: String,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn resolve(target: &SqlTarget) -> Result<Resolved, SqlError> {
    let mut config: tokio_postgres::Config =
        target
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| SqlError::InvalidUrl {
                reason: error_chain(&e),
            })?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => {
            return Err(SqlError::InvalidUrl {
                reason: "it names no host".into(),
            });
        }
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .ok_or_else(|| SqlError::InvalidUrl {
            reason: format!("it names no user (for {host}:{port})"),
        })?
        .to_owned();
    let db = config.get_dbname().unwrap_or(&user).to_owned();
    let name = format!("{host}:{port}/{db}");
    if config.get_password().is_some() {
        return Err(SqlError::PasswordInUrl { target: name });
    }
    if let Some(password) = &target.password {
        config.password(password.expose_secret());
    }
    if config.get_application_name().is_none() {
        config.application_name("canton-dr");
    }
    config.connect_timeout(target.connect_timeout);
    let unix = config
        .get_hosts()
        .iter()
        .any(|h| matches!(h, Host::Unix(_)));
    match &target.tls {
        SqlTls::Disable => {
            config.ssl_mode(SslMode::Disable);
        }
        SqlTls::Require { .. } if unix => {
            return Err(SqlError::TlsConfig {
                target: name,
                reason: "TLS is not possible over a Unix socket; use a TCP host or disable TLS \
                         for the local socket"
                    .into(),
            });
        }
        SqlTls::Require { .. } => {
            config.ssl_mode(SslMode::Require);
        }
    }
    Ok(Resolved { config, name, user })
}

/// The cause chain of an error, joined with ": " (tokio-postgres puts the useful part in the
/// sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// Maps a failure while connecting.
fn connect_error(e: &tokio_postgres::Error, r: &Resolved) -> SqlError {
    let target = r.name.clone();
    if let Some(db) = e.as_db_error() {
        let sqlstate = db.code().code().to_owned();
        return match sqlstate.as_str() {
            "28P01" | "28000" => SqlError::AuthFailed {
                target,
                user: r.user.clone(),
                reason: db.message().to_owned(),
            },
            _ => SqlError::ConnectRefused {
                target,
                sqlstate,
                message: db.message().to_owned(),
            },
        };
    }
    let top = e.to_string();
    let chain = error_chain(e);
    if top.starts_with("error performing TLS handshake") {
        if chain.contains("server does not support TLS") {
            SqlError::TlsRefused { target }
        } else {
            SqlError::TlsFailed {
                target,
                reason: chain,
            }
        }
    } else if chain.contains("password missing") {
        SqlError::AuthFailed {
            target,
            user: r.user.clone(),
            reason: "the server asks for a password, and none was given".into(),
        }
    } else if top.starts_with("authentication error") {
        SqlError::AuthFailed {
            target,
            user: r.user.clone(),
            reason: chain,
        }
    } else {
        SqlError::Unreachable {
            target,
            reason: chain,
        }
    }
}

/// Maps a failure while running the query.
fn query_error(e: &tokio_postgres::Error, r: &Resolved, timeout: Duration) -> SqlError {
    let target = r.name.clone();
    let Some(db) = e.as_db_error() else {
        return SqlError::ConnectionLost {
            target,
            reason: error_chain(e),
        };
    };
    let sqlstate = db.code().code().to_owned();
    let message = db.message().to_owned();
    match sqlstate.as_str() {
        "57014" => SqlError::StatementTimeout { target, timeout },
        "25006" => SqlError::ReadOnly {
            target,
            sqlstate,
            message,
        },
        "42501" => SqlError::PermissionDenied { target, message },
        _ => {
            let mut detail = String::new();
            if let Some(d) = db.detail() {
                detail.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                detail.push_str(&format!("; hint: {h}"));
            }
            SqlError::Query {
                target,
                sqlstate,
                message,
                detail,
            }
        }
    }
}

/// Opens a connection (bounded by the connect timeout) and drives it on a spawned task.
async fn connect(target: &SqlTarget, r: &Resolved) -> Result<tokio_postgres::Client, SqlError> {
    let timed_out = || SqlError::ConnectTimeout {
        target: r.name.clone(),
        timeout: target.connect_timeout,
    };
    let client = match &target.tls {
        SqlTls::Disable => {
            let (client, connection) = tokio::time::timeout(
                target.connect_timeout,
                r.config.connect(tokio_postgres::NoTls),
            )
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| connect_error(&e, r))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "database connection ended");
                }
            });
            client
        }
        SqlTls::Require { ca_file } => {
            let tls = tls::connector(ca_file.as_deref()).map_err(|reason| SqlError::TlsConfig {
                target: r.name.clone(),
                reason,
            })?;
            let (client, connection) =
                tokio::time::timeout(target.connect_timeout, r.config.connect(tls))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|e| connect_error(&e, r))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "database connection ended");
                }
            });
            client
        }
    };
    Ok(client)
}

/// Runs one read-only query with bind parameters and returns its typed rows.
pub async fn query(
    target: &SqlTarget,
    sql: &str,
    params: &[Value],
) -> Result<QueryResult, SqlError> {
    let r = resolve(target)?;
    let mut client = connect(target, &r).await?;
    run_bounded(&mut client, target, &r, sql, params).await
}

/// Runs the query on `client`, giving up on the client side a grace period after the
/// statement timeout.
async fn run_bounded(
    client: &mut tokio_postgres::Client,
    target: &SqlTarget,
    r: &Resolved,
    sql: &str,
    params: &[Value],
) -> Result<QueryResult, SqlError> {
    let limit = target.statement_timeout.saturating_add(CLIENT_GRACE);
    match tokio::time::timeout(limit, run(client, target, r, sql, params)).await {
        Ok(result) => result,
        Err(_) => Err(SqlError::StatementTimeout {
            target: r.name.clone(),
            timeout: target.statement_timeout,
        }),
    }
}

async fn run(
    client: &mut tokio_postgres::Client,
    target: &SqlTarget,
    r: &Resolved,
    sql: &str,
    params: &[Value],
) -> Result<QueryResult, SqlError> {
    let timeout = target.statement_timeout;
    let qerr = |e: tokio_postgres::Error| query_error(&e, r, timeout);
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(qerr)?;
    // 0 would disable the timeout; the server's maximum is i32::MAX milliseconds.
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128);
    // A number we computed, not a value from a runbook or an operator, so the simple protocol
    // can set it in one round trip. Being a query, it also takes the transaction's snapshot:
    // from here on the transaction cannot be switched to READ WRITE.
    tx.batch_execute(&format!(
        "SELECT set_config('statement_timeout', '{millis}', true)"
    ))
    .await
    .map_err(qerr)?;

    let statement = tx.prepare(sql).await.map_err(qerr)?;
    let expected = statement.params().len();
    if expected != params.len() {
        return Err(SqlError::ParameterCount {
            target: r.name.clone(),
            expected,
            given: params.len(),
        });
    }
    let encoded = params
        .iter()
        .zip(statement.params())
        .enumerate()
        .map(|(i, (value, ty))| {
            params::encode(value, ty).map_err(|reason| SqlError::Parameter {
                target: r.name.clone(),
                index: i + 1,
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let columns = result_columns(&statement, r)?;

    let refs: Vec<&(dyn ToSql + Sync)> = encoded.iter().map(|e| e as &(dyn ToSql + Sync)).collect();
    let rows = tx.query(&statement, &refs).await.map_err(qerr)?;
    let rows = decode::rows(&columns, &rows).map_err(|(column, reason)| SqlError::Column {
        target: r.name.clone(),
        column,
        reason,
    })?;
    if let Err(e) = tx.rollback().await {
        tracing::debug!(error = %e, target = %r.name, "rollback after a read-only query failed");
    }
    Ok(QueryResult {
        columns: columns
            .into_iter()
            .map(|(name, _, value_type)| (name, value_type))
            .collect(),
        rows,
    })
}

/// The result columns with their types; every name must be distinct and every type readable.
fn result_columns(
    statement: &tokio_postgres::Statement,
    r: &Resolved,
) -> Result<Vec<(String, Type, ValueType)>, SqlError> {
    let mut columns: Vec<(String, Type, ValueType)> = Vec::with_capacity(statement.columns().len());
    for column in statement.columns() {
        let name = column.name().to_owned();
        if columns.iter().any(|(n, _, _)| *n == name) {
            return Err(SqlError::RowShape {
                target: r.name.clone(),
                reason: format!(
                    "column name '{name}' appears more than once; give each column its own \
                     name with AS"
                ),
            });
        }
        let Some(value_type) = decode::column_type(column.type_()) else {
            return Err(SqlError::Column {
                target: r.name.clone(),
                column: name,
                reason: format!("its type {} is not supported", column.type_().name()),
            });
        };
        columns.push((name, column.type_().clone(), value_type));
    }
    Ok(columns)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_refused_without_repeating_it() {
        let target = SqlTarget::new("postgres://reader:hunter2@db.example:5433/integration");
        let err = resolve(&target).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SqlError::PasswordInUrl { .. }), "{msg}");
        assert!(msg.contains("db.example:5433/integration"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn the_target_is_named_host_port_db() {
        let r = resolve(&SqlTarget::new("postgres://reader@10.0.0.5/integration")).unwrap();
        assert_eq!(r.name, "10.0.0.5:5432/integration");
        assert_eq!(r.user, "reader");
        let r = resolve(&SqlTarget::new("postgres://reader@10.0.0.5:6000")).unwrap();
        assert_eq!(r.name, "10.0.0.5:6000/reader");
    }

    #[test]
    fn require_always_means_require() {
        let mut target = SqlTarget::new("postgres://reader@db:5432/x?sslmode=disable");
        let r = resolve(&target).unwrap();
        assert_eq!(r.config.get_ssl_mode(), SslMode::Require);
        target.tls = SqlTls::Disable;
        assert_eq!(
            resolve(&target).unwrap().config.get_ssl_mode(),
            SslMode::Disable
        );
    }

    #[test]
    fn tls_over_a_unix_socket_is_a_clear_error() {
        let target = SqlTarget::new("host=/var/run/postgresql user=reader dbname=x");
        let err = resolve(&target).unwrap_err();
        assert!(err.to_string().contains("Unix socket"), "{err}");
    }

    #[test]
    fn urls_without_user_or_host_are_invalid() {
        assert!(matches!(
            resolve(&SqlTarget::new("postgres://db:5432/x")),
            Err(SqlError::InvalidUrl { .. })
        ));
        assert!(matches!(
            resolve(&SqlTarget::new("not a url at all")),
            Err(SqlError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn debug_of_a_target_hides_the_password() {
        let mut target = SqlTarget::new("postgres://reader@db/x");
        target.password = Some(SecretString::from("hunter2"));
        assert!(!format!("{target:?}").contains("hunter2"));
    }
}
