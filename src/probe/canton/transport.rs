//! Endpoints: from an [`EndpointConfig`] to a connected tonic [`Channel`].
//!
//! Plaintext is used only for `http://` URLs. An `https://` URL needs a [`TlsConfig`] with an
//! explicit CA file: there is no fallback to system roots and no fallback to plaintext.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};
use zeroize::Zeroizing;

use super::error::{CantonError, classify_transport_error};

/// Default time allowed to establish a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for one unary request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a Canton gRPC API listens and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// `http://host:port` (plaintext) or `https://host:port` (TLS, requires `tls`).
    pub url: String,
    /// TLS settings; required for `https://` URLs and refused for `http://` ones.
    pub tls: Option<TlsConfig>,
    /// Time allowed to establish the connection, TLS handshake included.
    pub connect_timeout: Duration,
    /// Time allowed for each unary request (streams are not limited).
    pub request_timeout: Duration,
}

impl EndpointConfig {
    /// A plaintext or TLS endpoint with default timeouts.
    pub fn new(url: impl Into<String>, tls: Option<TlsConfig>) -> Self {
        EndpointConfig {
            url: url.into(),
            tls,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("url", &self.url)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// TLS settings of an endpoint. The files are read when the client is built.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file with the CA certificate(s) that must have signed the server certificate.
    pub ca_file: PathBuf,
    /// The name the server certificate must be valid for; defaults to the URL's host.
    pub domain_name: Option<String>,
    /// PEM client certificate for mutual TLS (together with `client_key_file`).
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key for mutual TLS (together with `client_cert_file`).
    pub client_key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Server authentication only, against the given CA.
    pub fn with_ca(ca_file: impl Into<PathBuf>) -> Self {
        TlsConfig {
            ca_file: ca_file.into(),
            domain_name: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths only: the key file's content is never read into a Debug-able value.
        f.debug_struct("TlsConfig")
            .field("ca_file", &self.ca_file)
            .field("domain_name", &self.domain_name)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .finish()
    }
}

/// An endpoint whose settings have been checked and whose files have been read, ready to
/// connect (and to reconnect).
#[derive(Clone)]
pub struct PreparedEndpoint {
    url: String,
    endpoint: Endpoint,
    request_timeout: Duration,
}

impl fmt::Debug for PreparedEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedEndpoint")
            .field("url", &self.url)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl PreparedEndpoint {
    /// Checks the settings and reads the CA, certificate and key files.
    pub fn new(config: &EndpointConfig) -> Result<Self, CantonError> {
        let url = config.url.trim().to_string();
        let invalid = |reason: String| CantonError::InvalidEndpoint {
            url: url.clone(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| invalid(format!("not a valid URL ({e})")))?;
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("the URL has no host".into()))?
            .to_string();
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(invalid(format!(
                "a gRPC endpoint takes no path, found {:?}",
                uri.path()
            )));
        }
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| invalid(e.to_string()))?
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true);
        match (uri.scheme_str(), &config.tls) {
            (Some("http"), None) => {}
            (Some("http"), Some(_)) => {
                return Err(invalid(
                    "TLS settings are given but the URL is http:// (plaintext); use https://"
                        .into(),
                ));
            }
            (Some("https"), None) => {
                return Err(invalid(
                    "an https:// endpoint needs TLS settings with a CA file (tls.ca_file)".into(),
                ));
            }
            (Some("https"), Some(tls)) => {
                let tls_config = client_tls(tls, &host, &url)?;
                endpoint = endpoint
                    .tls_config(tls_config)
                    .map_err(|e| invalid(format!("TLS settings rejected: {e}")))?;
            }
            (Some(other), _) => {
                return Err(invalid(format!(
                    "unsupported scheme {other:?}; use http:// or https://"
                )));
            }
            (None, _) => {
                return Err(invalid(
                    "the URL has no scheme; use http://host:port or https://host:port".into(),
                ));
            }
        }
        Ok(PreparedEndpoint {
            url,
            endpoint,
            request_timeout: config.request_timeout,
        })
    }

    /// The URL, as used in messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The time allowed for one unary request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Connects now (TCP and TLS), so that an unreachable endpoint or a TLS failure is
    /// reported here with a specific error.
    pub async fn connect(&self) -> Result<Channel, CantonError> {
        self.endpoint
            .connect()
            .await
            .map_err(|e| classify_transport_error(&self.url, &e))
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>, CantonError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| CantonError::ReadFile {
            what,
            path: path.to_path_buf(),
            source,
        })
}

fn bad_file(what: &'static str, path: &Path, reason: &str) -> CantonError {
    CantonError::BadFile {
        what,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn client_tls(tls: &TlsConfig, host: &str, url: &str) -> Result<ClientTlsConfig, CantonError> {
    crate::probe::canton::ensure_crypto_provider();
    let ca = read_file("CA certificate", &tls.ca_file)?;
    let certs = CertificateDer::pem_slice_iter(&ca)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_file("CA certificate", &tls.ca_file, &e.to_string()))?;
    if certs.is_empty() {
        return Err(bad_file(
            "CA certificate",
            &tls.ca_file,
            "no PEM certificate found",
        ));
    }
    let domain = tls
        .domain_name
        .clone()
        .unwrap_or_else(|| host.trim_matches(['[', ']']).to_string());
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&*ca))
        .domain_name(domain)
        .assume_http2(true);
    match (&tls.client_cert_file, &tls.client_key_file) {
        (None, None) => {}
        (Some(cert_file), Some(key_file)) => {
            let cert = read_file("client certificate", cert_file)?;
            let n = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad_file("client certificate", cert_file, &e.to_string()))?
                .len();
            if n == 0 {
                return Err(bad_file(
                    "client certificate",
                    cert_file,
                    "no PEM certificate found",
                ));
            }
            let key = read_file("client key", key_file)?;
            // Checked only for shape; the parsed key is dropped (and zeroized) at once.
            PrivateKeyDer::from_pem_slice(&key)
                .map_err(|_| bad_file("client key", key_file, "no PEM private key found"))?;
            config = config.identity(Identity::from_pem(&*cert, &*key));
        }
        _ => {
            return Err(CantonError::InvalidEndpoint {
                url: url.to_string(),
                reason: "mutual TLS needs both client_cert_file and client_key_file".into(),
            });
        }
    }
    Ok(config)
}
