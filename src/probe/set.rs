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

impl Probes for ProbeSet {
    fn observe<'a>(&'a self, req: &'a ProbeRequest) -> BoxFuture<'a, Result<Observed, ProbeError>> {
        Box::pin(self.run(req))
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
