//! Errors of the Canton clients: one [`CantonError`] with a specific message per cause, each
//! naming the endpoint (and the method, when a call failed), and [`OffsetAtError`] for the
//! offset-by-record-time lookup whose failures mean different things to an operator.

use std::error::Error as StdError;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use tonic::{Code, Status};

use super::auth::TokenError;

/// Everything that can go wrong talking to a Canton participant.
#[derive(Debug, thiserror::Error)]
pub enum CantonError {
    /// The endpoint settings are unusable (URL, scheme, TLS combination).
    #[error("invalid endpoint {url}: {reason}")]
    InvalidEndpoint {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CA, certificate or key file could not be read.
    #[error("cannot read {what} file {}: {source}", path.display())]
    ReadFile {
        /// Which file ("CA certificate", "client key", …).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A CA, certificate or key file has unusable content.
    #[error("{what} file {} is unusable: {reason}", path.display())]
    BadFile {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An Admin API method was called but no Admin API endpoint is configured.
    #[error("{method} needs the Admin API, but no Admin API endpoint is configured")]
    AdminNotConfigured {
        /// The method that needed it.
        method: &'static str,
    },
    /// No connection could be made (refused, unresolvable host, timeout).
    #[error("{endpoint} is unreachable: {detail}")]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// Why.
        detail: String,
    },
    /// The TLS handshake failed (unknown CA, wrong name, client certificate refused, …).
    #[error("TLS handshake with {endpoint} failed: {detail}")]
    Tls {
        /// The endpoint URL.
        endpoint: String,
        /// Why.
        detail: String,
    },
    /// The participant did not accept the credentials (missing, expired or invalid token).
    #[error(
        "{endpoint} refused {method}: UNAUTHENTICATED ({message}); check the token source, its audience or scope, and its expiry"
    )]
    Unauthenticated {
        /// The endpoint URL.
        endpoint: String,
        /// The gRPC method.
        method: &'static str,
        /// The participant's message.
        message: String,
    },
    /// The token is valid but lacks a right.
    #[error("{endpoint} refused {method}: PERMISSION_DENIED ({message}); {hint}")]
    PermissionDenied {
        /// The endpoint URL.
        endpoint: String,
        /// The gRPC method.
        method: &'static str,
        /// The participant's message.
        message: String,
        /// Which right is probably missing.
        hint: &'static str,
    },
    /// The call did not finish within the request timeout (or the server's deadline).
    #[error("{method} on {endpoint} did not finish in time (DEADLINE_EXCEEDED){}", timeout_note(*.timeout))]
    DeadlineExceeded {
        /// The endpoint URL.
        endpoint: String,
        /// The gRPC method.
        method: &'static str,
        /// The client-side timeout, when it was the client that gave up.
        timeout: Option<std::time::Duration>,
    },
    /// The participant does not offer the method.
    #[error(
        "{endpoint} does not implement {method} (UNIMPLEMENTED); the Canton version there may not support it, or the service is not exposed on this port"
    )]
    Unimplemented {
        /// The endpoint URL.
        endpoint: String,
        /// The gRPC method.
        method: &'static str,
    },
    /// The service is temporarily unavailable (for example still starting up).
    #[error("{method} on {endpoint} is unavailable right now (UNAVAILABLE): {message}")]
    Unavailable {
        /// The endpoint URL.
        endpoint: String,
        /// The gRPC method.
        method: &'static str,
        /// The participant's message.
        message: String,
    },
    /// Any other gRPC status.
    #[error("{method} on {endpoint} failed with {}: {message}", code_name(*.code))]
    Status {
        /// The endpoint URL.
        endpoint: String,
        /// The gRPC method.
        method: &'static str,
        /// The gRPC status code.
        code: Code,
        /// The participant's message.
        message: String,
    },
    /// No token could be obtained for the endpoint.
    #[error("no token for {endpoint}: {source}")]
    Token {
        /// The endpoint URL.
        endpoint: String,
        /// Why.
        source: TokenError,
    },
    /// The answer was well-formed protobuf but not what the API promises.
    #[error("{method} on {endpoint} returned an unusable answer: {detail}")]
    InvalidResponse {
        /// The endpoint URL.
        endpoint: String,
        /// The gRPC method.
        method: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

fn timeout_note(timeout: Option<std::time::Duration>) -> String {
    match timeout {
        Some(t) => format!(" within {}", humantime::format_duration(t)),
        None => String::new(),
    }
}

/// The conventional upper-case name of a gRPC status code (`OUT_OF_RANGE`, …).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl CantonError {
    /// Whether trying again later may succeed without any change by the operator.
    pub fn is_retryable(&self) -> bool {
        match self {
            CantonError::Unreachable { .. }
            | CantonError::Unavailable { .. }
            | CantonError::DeadlineExceeded { .. } => true,
            CantonError::Status { code, .. } => {
                matches!(code, Code::ResourceExhausted | Code::Aborted)
            }
            _ => false,
        }
    }

    /// The gRPC status code behind this error, if the participant answered with one.
    pub fn code(&self) -> Option<Code> {
        Some(match self {
            CantonError::Unauthenticated { .. } => Code::Unauthenticated,
            CantonError::PermissionDenied { .. } => Code::PermissionDenied,
            CantonError::DeadlineExceeded { .. } => Code::DeadlineExceeded,
            CantonError::Unimplemented { .. } => Code::Unimplemented,
            CantonError::Unavailable { .. } => Code::Unavailable,
            CantonError::Status { code, .. } => *code,
            _ => return None,
        })
    }
}

/// Whether a method needs the `participant_admin` right (for the PERMISSION_DENIED hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Right {
    /// Any valid token (read access).
    Read,
    /// The participant_admin claim.
    Admin,
}

/// Maps a gRPC status from `method` on `endpoint` to a [`CantonError`].
pub(crate) fn from_status(
    endpoint: &str,
    method: &'static str,
    right: Right,
    timeout: Option<std::time::Duration>,
    status: &Status,
) -> CantonError {
    let endpoint = endpoint.to_string();
    let message = status.message().to_string();
    match status.code() {
        Code::Unauthenticated => CantonError::Unauthenticated {
            endpoint,
            method,
            message,
        },
        Code::PermissionDenied => CantonError::PermissionDenied {
            endpoint,
            method,
            message,
            hint: match right {
                Right::Admin => {
                    "this method needs a token with the participant_admin right (an admin user)"
                }
                Right::Read => "the token's user may lack read rights for the requested parties",
            },
        },
        Code::DeadlineExceeded => CantonError::DeadlineExceeded {
            endpoint,
            method,
            timeout: None,
        },
        Code::Cancelled if message == tonic::TimeoutExpired(()).to_string() => {
            CantonError::DeadlineExceeded {
                endpoint,
                method,
                timeout,
            }
        }
        Code::Unimplemented => CantonError::Unimplemented { endpoint, method },
        code => {
            if let Some(source) = StdError::source(status)
                && let Some(err) = transport_cause(&endpoint, source)
            {
                return err;
            }
            if code == Code::Unavailable {
                CantonError::Unavailable {
                    endpoint,
                    method,
                    message,
                }
            } else {
                CantonError::Status {
                    endpoint,
                    method,
                    code,
                    message,
                }
            }
        }
    }
}

/// Maps an error from establishing a connection to [`CantonError::Tls`] or
/// [`CantonError::Unreachable`].
pub(crate) fn classify_transport_error(
    endpoint: &str,
    err: &(dyn StdError + 'static),
) -> CantonError {
    transport_cause(endpoint, err).unwrap_or_else(|| CantonError::Unreachable {
        endpoint: endpoint.to_string(),
        detail: chain_text(err),
    })
}

fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        "connection failed".into()
    } else {
        parts.join(": ")
    }
}

fn find_rustls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(e) = err.downcast_ref::<rustls::Error>() {
        return Some(e);
    }
    if let Some(io) = err.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
    {
        return inner.downcast_ref::<rustls::Error>();
    }
    None
}

/// Looks through an error's source chain for a TLS or connection failure.
fn transport_cause(endpoint: &str, err: &(dyn StdError + 'static)) -> Option<CantonError> {
    let mut next = Some(err);
    // The most specific explanation wins: an OS error kind, then DNS, then a generic one.
    let mut from_kind: Option<String> = None;
    let mut from_dns: Option<String> = None;
    let mut generic: Option<String> = None;
    while let Some(e) = next {
        if let Some(tls) = find_rustls(e) {
            return Some(CantonError::Tls {
                endpoint: endpoint.to_string(),
                detail: describe_tls(tls),
            });
        }
        let text = e.to_string();
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            // TLS failures that arrive after the handshake come as text inside an I/O error.
            if io.kind() == std::io::ErrorKind::InvalidData
                && let Some(detail) = describe_tls_text(&text)
            {
                return Some(CantonError::Tls {
                    endpoint: endpoint.to_string(),
                    detail,
                });
            }
            use std::io::ErrorKind as K;
            let what = match io.kind() {
                K::ConnectionRefused => Some(
                    "connection refused (is the participant running and listening on this port?)",
                ),
                K::TimedOut => Some("the connection attempt timed out"),
                K::HostUnreachable => Some("no route to the host"),
                K::NetworkUnreachable => Some("the network is unreachable"),
                K::AddrNotAvailable => Some("the address is not available"),
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                    Some("the connection was closed by the other side")
                }
                _ => None,
            };
            if let Some(what) = what
                && from_kind.is_none()
            {
                from_kind = Some(what.to_string());
            }
        }
        if text.starts_with("dns error") && from_dns.is_none() {
            from_dns = Some(format!("cannot resolve the host name ({})", chain_text(e)));
        } else if generic.is_none()
            && (text.contains("tcp connect error")
                || e.downcast_ref::<tonic::TimeoutExpired>().is_some()
                || text.contains("timed out"))
        {
            generic = Some(if text.contains("timed out") {
                "the connection attempt timed out".to_string()
            } else {
                chain_text(e)
            });
        }
        next = e.source();
    }
    from_kind
        .or(from_dns)
        .or(generic)
        .map(|detail| CantonError::Unreachable {
            endpoint: endpoint.to_string(),
            detail,
        })
}

/// TLS alerts reported as text (after the handshake, e.g. a refused client certificate).
fn describe_tls_text(text: &str) -> Option<String> {
    let alert = text.strip_prefix("received fatal alert: ")?;
    Some(match alert.trim() {
        "CertificateRequired" => "the server requires a client certificate (set tls.client_cert_file and tls.client_key_file)".into(),
        "BadCertificate" | "UnknownCA" | "CertificateUnknown" => {
            "the server rejected the client certificate".into()
        }
        other => format!("the server aborted the TLS session ({other})"),
    })
}

fn describe_tls(err: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(C::UnknownIssuer) => {
            "the server certificate is not signed by the configured CA (check tls.ca_file)".into()
        }
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the server certificate is not valid for the expected name (check tls.domain_name)"
                .into()
        }
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server certificate has expired".into()
        }
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the server certificate is not valid yet (check the clocks)".into()
        }
        E::AlertReceived(A::CertificateRequired) => {
            "the server requires a client certificate (set tls.client_cert_file and tls.client_key_file)".into()
        }
        E::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => {
            "the server rejected the client certificate".into()
        }
        E::InvalidMessage(_) => {
            "the server did not answer with TLS (is it a plaintext endpoint? then use http://)"
                .into()
        }
        other => other.to_string(),
    }
}

/// Why an offset could not be looked up by record time
/// (`PartyManagementService.GetHighestOffsetByTimestamp`).
#[derive(Debug, thiserror::Error)]
pub enum OffsetAtError {
    /// OUT_OF_RANGE: the participant has not processed the synchronizer up to the requested
    /// time yet. Retry later (a `wait` step polls on this).
    #[error(
        "participant has not caught up to the requested time yet ({} on synchronizer {synchronizer_id}); retry later: {message}",
        rfc3339(at)
    )]
    NotCaughtUp {
        /// The synchronizer asked about.
        synchronizer_id: String,
        /// The requested record time.
        at: DateTime<Utc>,
        /// The participant's message.
        message: String,
    },
    /// FAILED_PRECONDITION (Canton 3.4.10+) or NOT_FOUND (3.5+): without `force`, the
    /// record time found must equal the requested one, and it does not.
    #[error(
        "no transaction has exactly this record time on this participant ({} on synchronizer {synchronizer_id}): {message}. Use the record time of a transaction that was ingested, or look up the offset at that time minus 1 microsecond and skip update ids already ingested, or pass force",
        rfc3339(at)
    )]
    NoExactRecordTime {
        /// The synchronizer asked about.
        synchronizer_id: String,
        /// The requested record time.
        at: DateTime<Utc>,
        /// The participant's message (it may name the closest earlier record time).
        message: String,
    },
    /// INVALID_ARGUMENT: the participant does not know the synchronizer.
    #[error(
        "the participant does not know synchronizer {synchronizer_id} (INVALID_ARGUMENT): {message}; check the synchronizer id (the connected synchronizers probe lists them)"
    )]
    UnknownSynchronizer {
        /// The synchronizer asked about.
        synchronizer_id: String,
        /// The participant's message.
        message: String,
    },
    /// Any other failure.
    #[error(transparent)]
    Canton(#[from] CantonError),
}

impl OffsetAtError {
    /// Whether polling again may succeed (only "not caught up" and transient failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            OffsetAtError::NotCaughtUp { .. } => true,
            OffsetAtError::Canton(e) => e.is_retryable(),
            _ => false,
        }
    }
}

pub(crate) fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Maps the status of a failed `GetHighestOffsetByTimestamp` call.
pub(crate) fn offset_at_error(
    endpoint: &str,
    method: &'static str,
    timeout: Option<std::time::Duration>,
    synchronizer_id: &str,
    at: DateTime<Utc>,
    status: &Status,
) -> OffsetAtError {
    let message = status.message().to_string();
    let lower = message.to_ascii_lowercase();
    let synchronizer_id = synchronizer_id.to_string();
    match status.code() {
        Code::OutOfRange => OffsetAtError::NotCaughtUp {
            synchronizer_id,
            at,
            message,
        },
        Code::FailedPrecondition
            if lower.contains("timestamp mismatch")
                || lower.contains("synchronizeroffsetrecordtimeinvariantviolation") =>
        {
            OffsetAtError::NoExactRecordTime {
                synchronizer_id,
                at,
                message,
            }
        }
        Code::NotFound
            if lower.contains("exact_record_time_match_not_found")
                || lower.contains("no exact match") =>
        {
            OffsetAtError::NoExactRecordTime {
                synchronizer_id,
                at,
                message,
            }
        }
        Code::InvalidArgument if lower.contains("unknown") => OffsetAtError::UnknownSynchronizer {
            synchronizer_id,
            message,
        },
        _ => OffsetAtError::Canton(from_status(endpoint, method, Right::Admin, timeout, status)),
    }
}
