//! The probe set of a run: every probe kind, wired to the profile's endpoints, databases and
//! secrets. Clients are built on first use, so a profile without a Ledger API can still run
//! runbooks that never ask the participant.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::clock::Clock;
use crate::probe::canton::{
    CantonClient, CantonConfig, EndpointConfig, OAuth2Config, TlsConfig, TokenSource,
};
use crate::probe::http::HttpProbe;
use crate::probe::{BoxFuture, Observed, ProbeError, ProbeRequest, Probes, record};
use crate::profile::AuthSecret;
use crate::profile::{GrpcEndpoint, Profile, ProfileSecrets};
use crate::value::Value;

/// Every probe, for one profile.
pub struct ProbeSet {
    profile: Option<Arc<Profile>>,
    secrets: Arc<ProfileSecrets>,
    clock: Arc<dyn Clock>,
    canton: OnceCell<Result<CantonClient, ProbeError>>,
    http: tokio::sync::Mutex<BTreeMap<String, Arc<HttpProbe>>>,
    sql: crate::probe::sql::HeldConnections,
}

impl ProbeSet {
    pub fn new(
        profile: Option<Arc<Profile>>,
        secrets: Arc<ProfileSecrets>,
        clock: Arc<dyn Clock>,
    ) -> ProbeSet {
        ProbeSet {
            profile,
            secrets,
            clock,
            canton: OnceCell::new(),
            http: tokio::sync::Mutex::new(BTreeMap::new()),
            sql: crate::probe::sql::HeldConnections::new(),
        }
    }

    /// The Canton client, built from the profile on first use.
    pub async fn canton(&self) -> Result<&CantonClient, ProbeError> {
        let built = self
            .canton
            .get_or_init(|| async { self.build_canton() })
            .await;
        built.as_ref().map_err(Clone::clone)
    }

    fn build_canton(&self) -> Result<CantonClient, ProbeError> {
        let profile = self.profile.as_ref().ok_or_else(|| {
            ProbeError::new("this probe talks to the participant, but no profile is loaded")
        })?;
        let ledger = profile.ledger_api.as_ref().ok_or_else(|| {
            ProbeError::new(format!("profile {} has no [ledger_api]", profile.name))
        })?;
        let config = CantonConfig {
            ledger: endpoint(ledger),
            admin: profile.admin_api.as_ref().map(endpoint),
            ledger_token: token_source(self.secrets.ledger_api.as_ref()),
            admin_token: token_source(self.secrets.admin_api.as_ref()),
            fetch_time_shape: profile
                .ledger_api
                .as_ref()
                .and_then(|l| l.canton_version.as_deref())
                .and_then(crate::probe::canton::ApiVersion::parse)
                .map(crate::probe::canton::FetchTimeShape::for_version),
            freshness_bound: Duration::from_secs(5),
        };
        CantonClient::new(&config).map_err(|e| ProbeError::new(e.to_string()))
    }

    async fn http(&self, name: &str) -> Result<Arc<HttpProbe>, ProbeError> {
        let mut cache = self.http.lock().await;
        if let Some(p) = cache.get(name) {
            return Ok(p.clone());
        }
        let profile = self
            .profile
            .as_ref()
            .ok_or_else(|| ProbeError::new("an http probe needs a profile"))?;
        let e = profile.endpoints.get(name).ok_or_else(|| {
            ProbeError::new(format!("profile {} has no endpoint '{name}'", profile.name))
        })?;
        let probe = Arc::new(HttpProbe::new(
            name,
            e,
            token_source(self.secrets.endpoints.get(name)),
        )?);
        cache.insert(name.to_owned(), probe.clone());
        Ok(probe)
    }

    async fn run(&self, req: &ProbeRequest) -> Result<Observed, ProbeError> {
        let kind = req.call.kind.name;
        match kind {
            k if k.starts_with("canton.") => {
                let client = self.canton().await?;
                crate::probe::canton::probes::observe(client, req).await
            }
            "file.dars" => {
                let dir = req.text("dir").unwrap_or_default();
                let dars = crate::probe::canton::probes::read_dars(Path::new(&dir))?;
                let rows: Vec<Value> = dars
                    .iter()
                    .map(|(f, d)| crate::probe::canton::probes::dar_row(f, d))
                    .collect();
                Ok(Observed {
                    summary: format!("{} DARs in {dir}", dars.len()),
                    value: record([
                        ("count", Value::Integer(dars.len() as i64)),
                        ("dars", Value::List(rows)),
                    ]),
                })
            }
            k if k.starts_with("file.") => {
                // Reading a multi-gigabyte dump blocks: keep it off the async workers.
                let req = req.clone();
                let now = self.clock.now();
                tokio::task::spawn_blocking(move || crate::probe::file::observe(&req, now))
                    .await
                    .map_err(|e| {
                        ProbeError::new(format!("the file probe stopped unexpectedly: {e}"))
                    })?
            }
            "sql" => self.sql(req).await,
            "http" => {
                let name = req.text("endpoint").unwrap_or_default();
                self.http(&name).await?.observe(req).await
            }
            other => Err(ProbeError::new(format!(
                "probe kind '{other}' is not available here"
            ))),
        }
    }
}

impl ProbeSet {
    /// The `sql` probe: the profile's query for the name, read-only, with bind parameters.
    async fn sql(&self, req: &ProbeRequest) -> Result<Observed, ProbeError> {
        let name = req.text("query").unwrap_or_default();
        let profile = self
            .profile
            .as_ref()
            .ok_or_else(|| ProbeError::new("an sql probe needs a profile"))?;
        let q = profile.queries.get(&name).ok_or_else(|| {
            ProbeError::new(format!("profile {} has no query '{name}'", profile.name))
        })?;
        let db = profile.databases.get(&q.database).ok_or_else(|| {
            ProbeError::new(format!(
                "query '{name}' uses database '{}', which profile {} does not define",
                q.database, profile.name
            ))
        })?;
        let target = crate::probe::sql::SqlTarget {
            url: db.url.clone(),
            password: self.secrets.databases.get(&q.database).cloned(),
            tls: match db.tls {
                crate::profile::DbTls::Disable => crate::probe::sql::SqlTls::Disable,
                crate::profile::DbTls::Require => crate::probe::sql::SqlTls::Require {
                    ca_file: db.ca_file.clone(),
                },
            },
            connect_timeout: db
                .connect_timeout
                .to_std()
                .unwrap_or(Duration::from_secs(5)),
            statement_timeout: db
                .statement_timeout
                .to_std()
                .unwrap_or(Duration::from_secs(15)),
        };
        let params: Vec<Value> = match req.args.get("params") {
            Some(Value::List(l)) => l.clone(),
            _ => Vec::new(),
        };
        let result = self
            .sql
            .query(&q.database, &target, &q.sql, &params)
            .await
            .map_err(|e| {
                let retryable = matches!(
                    e,
                    crate::probe::sql::SqlError::Unreachable { .. }
                        | crate::probe::sql::SqlError::ConnectTimeout { .. }
                        | crate::probe::sql::SqlError::ConnectRefused { .. }
                        | crate::probe::sql::SqlError::ConnectionLost { .. }
                        | crate::probe::sql::SqlError::StatementTimeout { .. }
                );
                ProbeError {
                    message: format!("query '{name}': {e}"),
                    retryable,
                }
            })?;
        sql_observed(&name, req, result)
    }
}

/// Shapes a query result as the runbook declared it: the first row's columns, `row_count`
/// and `rows`, each column converted to its declared type.
fn sql_observed(
    name: &str,
    req: &ProbeRequest,
    result: crate::probe::sql::QueryResult,
) -> Result<Observed, ProbeError> {
    use crate::runbook::expr::Ty;
    let declared: Vec<(String, crate::value::ValueType)> = match &req.call.result_ty {
        Ty::Record(fields) => fields
            .iter()
            .filter(|(k, _)| k.as_str() != "row_count" && k.as_str() != "rows")
            .filter_map(|(k, t)| t.value_type().map(|vt| (k.clone(), vt)))
            .collect(),
        _ => Vec::new(),
    };
    let returned: Vec<&str> = result.columns.iter().map(|(c, _)| c.as_str()).collect();
    for (col, _) in &declared {
        if !returned.contains(&col.as_str()) {
            return Err(ProbeError::new(format!(
                "query '{name}' did not return column '{col}' (it returned: {}); fix the query in the profile",
                if returned.is_empty() {
                    "no columns".to_owned()
                } else {
                    returned.join(", ")
                }
            )));
        }
    }
    let mut rows = Vec::with_capacity(result.rows.len());
    for row in &result.rows {
        let mut out = std::collections::BTreeMap::new();
        for (col, ty) in &declared {
            let v = row.get(col).cloned().unwrap_or(Value::Null);
            let v = match v {
                Value::Null => Value::Null,
                v => v
                    .coerce(*ty)
                    .map_err(|e| ProbeError::new(format!("query '{name}', column '{col}': {e}")))?,
            };
            out.insert(col.clone(), v);
        }
        rows.push(out);
    }
    let mut fields: Vec<(String, Value)> = declared
        .iter()
        .map(|(col, _)| {
            (
                col.clone(),
                rows.first()
                    .and_then(|r| r.get(col).cloned())
                    .unwrap_or(Value::Null),
            )
        })
        .collect();
    let count = rows.len();
    let first = rows
        .first()
        .map(|r| {
            r.iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    fields.push(("row_count".into(), Value::Integer(count as i64)));
    fields.push((
        "rows".into(),
        Value::List(rows.into_iter().map(Value::Map).collect()),
    ));
    Ok(Observed {
        summary: match count {
            0 => format!("query '{name}': no rows"),
            1 => format!("query '{name}': {first}"),
            n => format!("query '{name}': {n} rows; first: {first}"),
        },
        value: record(fields),
    })
}

impl Probes for ProbeSet {
    fn observe<'a>(&'a self, req: &'a ProbeRequest) -> BoxFuture<'a, Result<Observed, ProbeError>> {
        Box::pin(self.run(req))
    }

    fn release_held(&self) {
        self.sql.release();
    }

    fn upload_dar<'a>(
        &'a self,
        file: &'a Path,
        synchronizer: Option<&'a str>,
        submission_id: &'a str,
    ) -> BoxFuture<'a, Result<String, ProbeError>> {
        Box::pin(async move {
            let client = self.canton().await?;
            crate::probe::canton::probes::upload_one(client, file, synchronizer, submission_id)
                .await
        })
    }
}

fn endpoint(e: &GrpcEndpoint) -> EndpointConfig {
    EndpointConfig {
        url: e.url.clone(),
        tls: e.tls.as_ref().map(|t| TlsConfig {
            ca_file: t.ca_file.clone(),
            domain_name: t.domain_name.clone(),
            client_cert_file: t.client_cert_file.clone(),
            client_key_file: t.client_key_file.clone(),
        }),
        connect_timeout: e.connect_timeout.to_std().unwrap_or(Duration::from_secs(5)),
        request_timeout: e
            .request_timeout
            .to_std()
            .unwrap_or(Duration::from_secs(30)),
    }
}

fn token_source(a: Option<&AuthSecret>) -> TokenSource {
    match a {
        None => TokenSource::None,
        Some(AuthSecret::Token(t)) => TokenSource::Static(t.clone()),
        Some(AuthSecret::OAuth2 {
            token_url,
            client_id,
            client_secret,
            audience,
            scope,
        }) => {
            let mut c =
                OAuth2Config::new(token_url.clone(), client_id.clone(), client_secret.clone());
            c.audience = audience.clone();
            c.scope = scope.clone();
            TokenSource::OAuth2(c)
        }
    }
}
