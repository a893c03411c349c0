//! Clients for the Canton Ledger API v2 and Admin API.
//!
//! - [`proto`]: code generated from canton-dr's own minimal `.proto` files (clients and
//!   servers; the sandbox serves the same services).
//! - [`transport`]: endpoints, plaintext or TLS with an explicit CA, optional mutual TLS.
//! - [`auth`]: bearer tokens (static or OAuth2 client credentials), cached and refreshed.
//! - [`client`]: [`CantonClient`], the calls the probes make, returning plain Rust values.
//! - [`updates`]: the update stream's transactions and checkpoints as plain Rust values.
//! - [`version`]: Ledger API versions and the `FetchTime` request shapes of 3.3 and 3.4.
//! - [`error`]: [`CantonError`] and [`OffsetAtError`].

pub mod auth;
pub mod client;
pub mod convert;
pub mod error;
pub mod proto;
pub mod transport;
pub mod updates;
pub mod version;

pub use auth::{OAuth2Config, TokenError, TokenProvider, TokenSource};
pub use client::{
    CantonClient, CantonConfig, ConnectedSynchronizer, PackageDetails, Permission, UpdateStream,
    UpdatesRequest,
};
pub use error::{CantonError, OffsetAtError};
pub use transport::{EndpointConfig, TlsConfig};
pub use updates::{Checkpoint, DamlRecord, DamlValue, LedgerEvent, TransactionUpdate, Update};
pub use version::{ApiVersion, FetchTimeShape, ReceivedFetchTime};

/// Installs ring as the process-wide rustls crypto provider unless one is installed already.
/// Safe to call any number of times.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: some provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
pub mod probes;
