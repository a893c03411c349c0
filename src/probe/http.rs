//! The `http` probe: GET a named endpoint with its bearer token; JSON result.

use std::time::Duration;

use secrecy::ExposeSecret;

use crate::probe::canton::{TokenProvider, TokenSource};
use crate::probe::{Observed, ProbeError, ProbeRequest, record};
use crate::profile::HttpEndpoint;
use crate::value::{Value, json_untyped};

/// Response bodies longer than this are cut (the JSON is parsed from the whole body).
const BODY_CAP: usize = 64 * 1024;

/// A ready HTTP endpoint.
pub struct HttpProbe {
    url: String,
    client: reqwest::Client,
    tokens: TokenProvider,
}

impl HttpProbe {
    /// Builds the client for an endpoint.
    pub fn new(name: &str, e: &HttpEndpoint, tokens: TokenSource) -> Result<HttpProbe, ProbeError> {
        crate::probe::canton::ensure_crypto_provider();
        let timeout = e.timeout.to_std().unwrap_or(Duration::from_secs(30));
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &e.ca_file {
            let pem = std::fs::read(ca).map_err(|err| {
                ProbeError::new(format!(
                    "endpoint {name}: cannot read ca_file {}: {err}",
                    ca.display()
                ))
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                ProbeError::new(format!(
                    "endpoint {name}: ca_file {} holds no usable certificate: {err}",
                    ca.display()
                ))
            })? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|err| {
            ProbeError::new(format!(
                "endpoint {name}: cannot build the HTTP client: {err}"
            ))
        })?;
        let tokens = TokenProvider::new(tokens)
            .map_err(|err| ProbeError::new(format!("endpoint {name}: {err}")))?;
        Ok(HttpProbe {
            url: e.url.trim_end_matches('/').to_owned(),
            client,
            tokens,
        })
    }

    /// GETs the endpoint (plus an optional path).
    pub async fn observe(&self, req: &ProbeRequest) -> Result<Observed, ProbeError> {
        let url = match req.text("path") {
            Some(p) => format!("{}/{}", self.url, p.trim_start_matches('/')),
            None => self.url.clone(),
        };
        let mut rb = self
            .client
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = self
            .tokens
            .token()
            .await
            .map_err(|e| ProbeError::new(e.to_string()))?
        {
            let mut value = reqwest::header::HeaderValue::from_str(&format!(
                "Bearer {}",
                token.expose_secret()
            ))
            .map_err(|_| {
                ProbeError::new("the bearer token holds characters not allowed in a header")
            })?;
            value.set_sensitive(true);
            rb = rb.header(reqwest::header::AUTHORIZATION, value);
        }
        let resp = rb.send().await.map_err(|e| {
            let retryable = e.is_connect() || e.is_timeout();
            ProbeError {
                message: format!("GET {url}: {}", describe(&e)),
                retryable,
            }
        })?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| {
            ProbeError::retryable(format!(
                "GET {url}: reading the response failed: {}",
                describe(&e)
            ))
        })?;
        let json = serde_json::from_slice::<serde_json::Value>(&body)
            .map_or(Value::Null, |j| json_untyped(&j));
        let text = String::from_utf8_lossy(&body[..body.len().min(BODY_CAP)]).into_owned();
        Ok(Observed {
            summary: format!("GET {url}: HTTP {status}, {} bytes", body.len()),
            value: record([
                ("status", Value::Integer(i64::from(status))),
                ("body", Value::Text(text)),
                ("json", json),
            ]),
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}
