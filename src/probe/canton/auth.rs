//! Bearer tokens for the Ledger and Admin APIs.
//!
//! A [`TokenSource`] says where a token comes from: nowhere, a static value (read from an
//! environment variable or a file), or an OAuth2 client-credentials grant. A [`TokenProvider`]
//! turns it into tokens: it caches the OAuth2 token, refreshes it a margin before it expires
//! (`expires_in` of the answer or the JWT's `exp`, whichever is earlier), and lets only one
//! request to the identity provider run at a time. Tokens and client secrets live in
//! [`SecretString`]s and appear in no `Debug` output and no error message.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Default margin before expiry at which a cached token is replaced.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// How long a token without any expiry information is reused.
pub const UNKNOWN_LIFETIME: Duration = Duration::from_secs(60);
/// Default timeout for one request to the identity provider.
pub const DEFAULT_IDP_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the bearer token for an endpoint comes from.
#[derive(Clone)]
pub enum TokenSource {
    /// No token: requests carry no `authorization` metadata.
    None,
    /// A fixed token.
    Static(SecretString),
    /// An OAuth2 client-credentials grant.
    OAuth2(OAuth2Config),
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::None => f.write_str("None"),
            TokenSource::Static(_) => f.write_str("Static([redacted])"),
            TokenSource::OAuth2(c) => f.debug_tuple("OAuth2").field(c).finish(),
        }
    }
}

impl TokenSource {
    /// A static token read from the environment variable `var` (surrounding whitespace
    /// removed).
    pub fn from_env(var: &str) -> Result<Self, TokenError> {
        let value = Zeroizing::new(std::env::var(var).map_err(|_| TokenError::EnvMissing {
            var: var.to_string(),
        })?);
        let token = value.trim();
        if token.is_empty() {
            return Err(TokenError::EnvEmpty {
                var: var.to_string(),
            });
        }
        check_header_safe(token)?;
        Ok(TokenSource::Static(SecretString::from(token)))
    }

    /// A static token read from a file (surrounding whitespace removed).
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| TokenError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?);
        let text = std::str::from_utf8(&bytes).map_err(|_| TokenError::FileNotText {
            path: path.to_path_buf(),
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(TokenError::FileEmpty {
                path: path.to_path_buf(),
            });
        }
        check_header_safe(token)?;
        Ok(TokenSource::Static(SecretString::from(token)))
    }
}

/// An OAuth2 client-credentials grant (RFC 6749 §4.4), e.g. against Auth0 or Keycloak.
#[derive(Clone)]
pub struct OAuth2Config {
    /// The token endpoint. `https://`, or `http://` on a loopback address only.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
    /// The `audience` parameter (the participant's target audience), if the IdP needs one.
    pub audience: Option<String>,
    /// The `scope` parameter (e.g. `daml_ledger_api`), if the IdP needs one.
    pub scope: Option<String>,
    /// A PEM CA file to verify the IdP with instead of the platform's trust store.
    pub ca_file: Option<PathBuf>,
    /// How long before expiry the token is replaced.
    pub refresh_margin: Duration,
    /// Timeout of one request to the IdP.
    pub request_timeout: Duration,
}

impl OAuth2Config {
    /// A grant with the default margin and timeout and no audience or scope.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        OAuth2Config {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret,
            audience: None,
            scope: None,
            ca_file: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            request_timeout: DEFAULT_IDP_TIMEOUT,
        }
    }
}

impl fmt::Debug for OAuth2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Config")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .field("ca_file", &self.ca_file)
            .field("refresh_margin", &self.refresh_margin)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Why no token could be obtained. Never contains a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The environment variable is not set (or not Unicode).
    #[error("environment variable {var} is not set")]
    EnvMissing {
        /// The variable.
        var: String,
    },
    /// The environment variable is empty.
    #[error("environment variable {var} is empty")]
    EnvEmpty {
        /// The variable.
        var: String,
    },
    /// The token file cannot be read.
    #[error("cannot read token file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The token file is not UTF-8 text.
    #[error("token file {} is not text", path.display())]
    FileNotText {
        /// The file.
        path: PathBuf,
    },
    /// The token file is empty.
    #[error("token file {} is empty", path.display())]
    FileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// The token has characters that cannot go into a gRPC header.
    #[error("the token contains characters that are not allowed in a header (only visible ASCII)")]
    NotHeaderSafe,
    /// The token URL is unusable.
    #[error("invalid token URL {url}: {reason}")]
    InvalidTokenUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The IdP's CA file is unusable.
    #[error("IdP CA file {}: {reason}", path.display())]
    BadCaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The IdP could not be reached.
    #[error("identity provider {url} is unreachable: {detail}")]
    IdpUnreachable {
        /// The token URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// The IdP refused the grant.
    #[error("identity provider {url} refused the client-credentials grant (HTTP {status}){}", idp_reason(.error, .description))]
    IdpRejected {
        /// The token URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The OAuth2 `error` code, if given.
        error: Option<String>,
        /// The OAuth2 `error_description`, if given.
        description: Option<String>,
    },
    /// The IdP answered with something that is not a token response.
    #[error("identity provider {url} returned an unusable answer: {detail}")]
    IdpBadResponse {
        /// The token URL.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
}

fn idp_reason(error: &Option<String>, description: &Option<String>) -> String {
    match (error, description) {
        (Some(e), Some(d)) => format!(": {e} ({d})"),
        (Some(e), None) => format!(": {e}"),
        (None, Some(d)) => format!(": {d}"),
        (None, None) => String::new(),
    }
}

fn check_header_safe(token: &str) -> Result<(), TokenError> {
    if token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(TokenError::NotHeaderSafe)
    }
}

/// The source of "now" for token expiry; injectable for tests.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

struct Cached {
    token: SecretString,
    refresh_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

struct Inner {
    source: TokenSource,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
    cache: tokio::sync::Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

/// Hands out tokens for one endpoint; cheap to clone (shared cache).
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("source", &self.inner.source)
            .field("fetches", &self.inner.fetches.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// A provider using the system clock.
    pub fn new(source: TokenSource) -> Result<Self, TokenError> {
        Self::with_clock(source, Arc::new(SystemClock))
    }

    /// A provider using the given clock for expiry decisions.
    pub fn with_clock(source: TokenSource, clock: Arc<dyn Clock>) -> Result<Self, TokenError> {
        let http = match &source {
            TokenSource::OAuth2(config) => Some(http_client(config)?),
            TokenSource::Static(token) => {
                check_header_safe(token.expose_secret())?;
                None
            }
            TokenSource::None => None,
        };
        Ok(TokenProvider {
            inner: Arc::new(Inner {
                source,
                http,
                clock,
                cache: tokio::sync::Mutex::new(None),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// Whether requests carry a token at all.
    pub fn is_none(&self) -> bool {
        matches!(self.inner.source, TokenSource::None)
    }

    /// How many token requests were sent to the identity provider so far.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// The token to send now, or `None` when the source is [`TokenSource::None`].
    ///
    /// An OAuth2 token is reused until its refresh time; concurrent callers wait for one
    /// single request to the identity provider.
    pub async fn token(&self) -> Result<Option<SecretString>, TokenError> {
        let config = match &self.inner.source {
            TokenSource::None => return Ok(None),
            TokenSource::Static(token) => return Ok(Some(token.clone())),
            TokenSource::OAuth2(config) => config,
        };
        let mut cache = self.inner.cache.lock().await;
        let now = self.inner.clock.now();
        if let Some(cached) = cache.as_ref()
            && now < cached.refresh_at
        {
            return Ok(Some(cached.token.clone()));
        }
        let fresh = self.fetch(config).await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(Some(token))
    }

    /// When the cached token expires, if known.
    pub async fn cached_expiry(&self) -> Option<DateTime<Utc>> {
        self.inner.cache.lock().await.as_ref()?.expires_at
    }

    /// Drops the cached token (after the participant answered UNAUTHENTICATED), so that the
    /// next call fetches a new one.
    pub async fn invalidate(&self) {
        *self.inner.cache.lock().await = None;
    }

    async fn fetch(&self, config: &OAuth2Config) -> Result<Cached, TokenError> {
        let Some(http) = &self.inner.http else {
            return Err(TokenError::InvalidTokenUrl {
                url: config.token_url.clone(),
                reason: "no HTTP client".into(),
            });
        };
        let url = &config.token_url;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &config.client_id),
            ("client_secret", config.client_secret.expose_secret()),
        ];
        if let Some(audience) = &config.audience {
            form.push(("audience", audience));
        }
        if let Some(scope) = &config.scope {
            form.push(("scope", scope));
        }
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let obtained = self.inner.clock.now();
        let response = http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenError::IdpUnreachable {
                url: url.clone(),
                detail: describe_reqwest(&e),
            })?;
        let status = response.status();
        let body = Zeroizing::new(
            response
                .bytes()
                .await
                .map_err(|e| TokenError::IdpUnreachable {
                    url: url.clone(),
                    detail: describe_reqwest(&e),
                })?
                .to_vec(),
        );
        if !status.is_success() {
            let parsed: Option<IdpError> = serde_json::from_slice(&body).ok();
            return Err(TokenError::IdpRejected {
                url: url.clone(),
                status: status.as_u16(),
                error: parsed.as_ref().and_then(|p| p.error.clone()).map(short),
                description: parsed.and_then(|p| p.error_description).map(short),
            });
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| TokenError::IdpBadResponse {
                url: url.clone(),
                // serde_json's message names the position, never the content.
                detail: format!("not a token response ({})", e.classify_name()),
            })?;
        let token = answer.access_token;
        if token.expose_secret().is_empty() {
            return Err(TokenError::IdpBadResponse {
                url: url.clone(),
                detail: "access_token is empty".into(),
            });
        }
        check_header_safe(token.expose_secret())?;
        if let Some(kind) = &answer.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(TokenError::IdpBadResponse {
                url: url.clone(),
                detail: format!("token_type is {kind:?}, expected Bearer"),
            });
        }
        let from_expires_in = answer
            .expires_in
            .filter(|s| *s > 0.0 && s.is_finite())
            .and_then(|s| TimeDelta::try_milliseconds((s * 1000.0) as i64))
            .map(|d| obtained + d);
        let from_jwt = jwt_expiry(token.expose_secret());
        let expires_at = match (from_expires_in, from_jwt) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let refresh_at = refresh_time(obtained, expires_at, config.refresh_margin);
        Ok(Cached {
            token,
            refresh_at,
            expires_at,
        })
    }
}

/// When a token obtained at `obtained` and expiring at `expires_at` should be replaced:
/// `margin` before expiry, or half-way through a lifetime shorter than twice the margin.
pub fn refresh_time(
    obtained: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    margin: Duration,
) -> DateTime<Utc> {
    let margin = TimeDelta::from_std(margin).unwrap_or(TimeDelta::MAX);
    match expires_at {
        None => obtained + TimeDelta::from_std(UNKNOWN_LIFETIME).unwrap_or(TimeDelta::zero()),
        Some(expires_at) => {
            let lifetime = expires_at - obtained;
            if lifetime <= TimeDelta::zero() {
                obtained
            } else if lifetime > margin * 2 {
                expires_at - margin
            } else {
                obtained + lifetime / 2
            }
        }
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "missing or mistyped access_token",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

fn short(s: String) -> String {
    const MAX: usize = 200;
    if s.chars().count() <= MAX {
        s
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    if e.is_timeout() {
        parts.push("timed out".to_string());
    } else if e.is_connect() {
        parts.push("cannot connect".to_string());
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        "request failed".into()
    } else {
        parts.join(": ")
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

#[derive(Deserialize)]
struct IdpError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// The `exp` claim of a JWT, if the token is one. The signature is not checked: this only
/// decides when to refresh.
pub fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?,
    );
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    let secs = exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64))?;
    DateTime::from_timestamp(secs, 0)
}

fn http_client(config: &OAuth2Config) -> Result<reqwest::Client, TokenError> {
    let url = &config.token_url;
    let parsed = reqwest::Url::parse(url).map_err(|e| TokenError::InvalidTokenUrl {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    let loopback = parsed.host_str().is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(TokenError::InvalidTokenUrl {
                url: url.clone(),
                reason: "the client secret would travel in plaintext; use https:// (http:// is accepted for loopback addresses only)".into(),
            });
        }
        other => {
            return Err(TokenError::InvalidTokenUrl {
                url: url.clone(),
                reason: format!("unsupported scheme {other:?}"),
            });
        }
    }
    crate::probe::canton::ensure_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca_file) = &config.ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| TokenError::BadCaFile {
            path: ca_file.clone(),
            reason: e.to_string(),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TokenError::BadCaFile {
                path: ca_file.clone(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TokenError::BadCaFile {
                path: ca_file.clone(),
                reason: "no PEM certificate found".into(),
            });
        }
        builder = builder.tls_certs_only(certs);
    }
    builder.build().map_err(|e| TokenError::InvalidTokenUrl {
        url: url.clone(),
        reason: format!("cannot build the HTTP client ({})", describe_reqwest(&e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn refresh_happens_a_margin_before_expiry_or_half_way_for_short_tokens() {
        let t0 = t("2026-01-01T00:00:00Z");
        let margin = Duration::from_secs(60);
        assert_eq!(
            refresh_time(t0, Some(t0 + TimeDelta::seconds(3600)), margin),
            t0 + TimeDelta::seconds(3540)
        );
        assert_eq!(
            refresh_time(t0, Some(t0 + TimeDelta::seconds(100)), margin),
            t0 + TimeDelta::seconds(50)
        );
        assert_eq!(
            refresh_time(t0, Some(t0 - TimeDelta::seconds(1)), margin),
            t0
        );
        assert_eq!(
            refresh_time(t0, None, margin),
            t0 + TimeDelta::from_std(UNKNOWN_LIFETIME).expect("delta")
        );
    }

    #[test]
    fn jwt_expiry_reads_exp_and_ignores_non_jwts() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!("{}.{}.sig", b64("{}"), b64(r#"{"exp":1767225600}"#));
        assert_eq!(jwt_expiry(&jwt), Some(t("2026-01-01T00:00:00Z")));
        assert_eq!(jwt_expiry("opaque"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        let no_exp = format!("{}.{}.sig", b64("{}"), b64(r#"{"sub":"x"}"#));
        assert_eq!(jwt_expiry(&no_exp), None);
    }

    #[test]
    fn tokens_must_be_header_safe_and_are_never_shown() {
        assert!(matches!(
            TokenProvider::new(TokenSource::Static(SecretString::from("bad token\n"))),
            Err(TokenError::NotHeaderSafe)
        ));
        let source = TokenSource::Static(SecretString::from("SECRET-canary"));
        assert!(!format!("{source:?}").contains("canary"));
        let provider = TokenProvider::new(source).expect("provider");
        assert!(!format!("{provider:?}").contains("canary"));
        let mut config = OAuth2Config::new(
            "https://idp.example/token",
            "client",
            SecretString::from("client-SECRET-canary"),
        );
        config.audience = Some("aud".into());
        let text = format!("{:?}", TokenSource::OAuth2(config));
        assert!(!text.contains("canary") && text.contains("aud"), "{text}");
        assert!(!TokenError::NotHeaderSafe.to_string().contains("bad token"));
    }
}
