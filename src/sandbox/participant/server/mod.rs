//! The participant's gRPC servers: the Ledger API and the Admin API on separate listeners,
//! behind a gate that answers UNAVAILABLE while the participant is down and checks the bearer
//! token on every service except `VersionService`.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Interceptor;
use tonic::transport::Server;
use tonic::{Request, Status};

use super::config::Availability;
use super::running::Shared;
use crate::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use crate::probe::canton::proto::com::digitalasset::canton::admin::participant::v30 as party_admin;
use crate::probe::canton::proto::com::digitalasset::canton::topology::admin::v30 as topology_admin;
use crate::probe::canton::proto::fetch_time_any_shape::synchronizer_time_service_server::SynchronizerTimeServiceServer;

mod admin;
pub mod convert;
mod ledger;
mod updates;

/// How long a stopping server may take to finish its open calls before it is aborted.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Lets a call through only while the participant is up and, where required, with the right
/// bearer token.
#[derive(Clone)]
pub(crate) struct Gate {
    shared: Arc<Shared>,
    authenticate: bool,
}

impl Gate {
    fn new(shared: &Arc<Shared>, authenticate: bool) -> Gate {
        Gate {
            shared: Arc::clone(shared),
            authenticate,
        }
    }
}

impl Interceptor for Gate {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        check_up(&self.shared)?;
        if self.authenticate {
            let presented = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let expected = self.shared.config.token.expose_secret();
            if !presented.is_some_and(|p| same_secret(p, expected)) {
                return Err(Status::unauthenticated(
                    "UNAUTHENTICATED: the request has no valid bearer token in the authorization header",
                ));
            }
        }
        Ok(request)
    }
}

/// Fails with UNAVAILABLE unless the participant is up.
pub(crate) fn check_up(shared: &Shared) -> Result<(), Status> {
    match shared.world().availability {
        Availability::Up => Ok(()),
        _ => Err(unavailable()),
    }
}

/// The status of a participant that is down.
pub(crate) fn unavailable() -> Status {
    Status::unavailable("the participant is not running: it is being restored or restarted")
}

/// Compares two secrets in time independent of where they differ (and of their lengths, which
/// are hashed away first).
fn same_secret(a: &str, b: &str) -> bool {
    let da = Sha256::digest(a.as_bytes());
    let db = Sha256::digest(b.as_bytes());
    da.iter()
        .zip(db.iter())
        .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// A running server task.
pub(crate) struct ServerHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting, lets open calls finish for a short grace period, then aborts.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Aborts at once.
    pub(crate) fn abort(self) {
        self.task.abort();
    }
}

fn spawn(
    router: tonic::transport::server::Router,
    listener: TcpListener,
    api: &'static str,
) -> ServerHandle {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let incoming = TcpListenerStream::new(listener);
        let signal = async {
            let _ = stopped.await;
        };
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, signal).await {
            tracing::warn!("the simulated participant's {api} server stopped: {e}");
        }
    });
    ServerHandle { stop, task }
}

/// Serves the Ledger API on `listener`.
pub(crate) fn spawn_ledger(shared: Arc<Shared>, listener: TcpListener) -> ServerHandle {
    let api = ledger::LedgerApi::new(Arc::clone(&shared));
    let updates = updates::Updates::new(Arc::clone(&shared));
    let router = Server::builder()
        .add_service(lapi::version_service_server::VersionServiceServer::with_interceptor(
            api.clone(),
            Gate::new(&shared, false),
        ))
        .add_service(lapi::state_service_server::StateServiceServer::with_interceptor(
            api.clone(),
            Gate::new(&shared, true),
        ))
        .add_service(lapi::package_service_server::PackageServiceServer::with_interceptor(
            api.clone(),
            Gate::new(&shared, true),
        ))
        .add_service(
            lapi::admin::package_management_service_server::PackageManagementServiceServer::with_interceptor(
                api,
                Gate::new(&shared, true),
            ),
        )
        .add_service(lapi::update_service_server::UpdateServiceServer::with_interceptor(
            updates,
            Gate::new(&shared, true),
        ));
    spawn(router, listener, "Ledger API")
}

/// Serves the Admin API on `listener`.
pub(crate) fn spawn_admin(shared: Arc<Shared>, listener: TcpListener) -> ServerHandle {
    let api = admin::AdminApi::new(Arc::clone(&shared));
    let router = Server::builder()
        .add_service(
            party_admin::party_management_service_server::PartyManagementServiceServer::with_interceptor(
                api.clone(),
                Gate::new(&shared, true),
            ),
        )
        .add_service(SynchronizerTimeServiceServer::with_interceptor(
            api.clone(),
            Gate::new(&shared, true),
        ))
        .add_service(
            topology_admin::topology_manager_read_service_server::TopologyManagerReadServiceServer::with_interceptor(
                api,
                Gate::new(&shared, true),
            ),
        );
    spawn(router, listener, "Admin API")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
