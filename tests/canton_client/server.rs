//! A small configurable participant for the client tests: every service the client calls,
//! with canned answers, per-method error injection and delays, an optional required bearer
//! token, optional TLS / mutual TLS, and a record of what it received.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canton_dr::probe::canton::FetchTimeShape;
use canton_dr::probe::canton::ReceivedFetchTime;
use canton_dr::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use canton_dr::probe::canton::proto::com::daml::ledger::api::v2::admin as lapi_admin;
use canton_dr::probe::canton::proto::com::digitalasset::canton::admin::participant::v30 as participant;
use canton_dr::probe::canton::proto::com::digitalasset::canton::protocol::v30 as protocol;
use canton_dr::probe::canton::proto::com::digitalasset::canton::time::admin::v30 as time;
use canton_dr::probe::canton::proto::com::digitalasset::canton::topology::admin::v30 as topology;
use canton_dr::probe::canton::proto::fetch_time_any_shape::synchronizer_time_service_server as fetch_time_server;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::metadata::MetadataMap;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};

/// What the participant answers.
#[derive(Clone)]
pub struct Behaviour {
    pub version: String,
    pub ledger_end: i64,
    pub synchronizers: Vec<(String, String, i32)>,
    pub packages: Vec<String>,
    pub known_packages: Vec<lapi_admin::PackageDetails>,
    pub offset: i64,
    /// The `FetchTime` request shape this participant understands; the other is refused.
    pub fetch_time_shape: FetchTimeShape,
    pub synchronizer_time: prost_types::Timestamp,
    pub parameter_results: Vec<topology::list_synchronizer_parameters_state_response::Result>,
    pub updates: Vec<lapi::GetUpdatesResponse>,
    /// Method name -> status returned instead of an answer.
    pub failures: HashMap<&'static str, (Code, String)>,
    /// Method name -> time to wait before answering.
    pub delays: HashMap<&'static str, Duration>,
    /// If set, every method but GetLedgerApiVersion needs `authorization: Bearer <token>`.
    pub required_token: Option<String>,
    /// Leave TopologyManagerReadService out (its calls are then UNIMPLEMENTED).
    pub without_topology: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            version: "3.4.9".into(),
            ledger_end: 0,
            synchronizers: Vec::new(),
            packages: Vec::new(),
            known_packages: Vec::new(),
            offset: 0,
            fetch_time_shape: FetchTimeShape::V34,
            synchronizer_time: prost_types::Timestamp::default(),
            parameter_results: Vec::new(),
            updates: Vec::new(),
            failures: HashMap::new(),
            delays: HashMap::new(),
            required_token: None,
            without_topology: false,
        }
    }
}

/// What the participant received.
#[derive(Default)]
pub struct Seen {
    pub authorization: Vec<(&'static str, Option<String>)>,
    pub connected: Vec<lapi::GetConnectedSynchronizersRequest>,
    pub validate: Vec<lapi_admin::ValidateDarFileRequest>,
    pub upload: Vec<lapi_admin::UploadDarFileRequest>,
    pub offset: Vec<participant::GetHighestOffsetByTimestampRequest>,
    pub fetch_time: Vec<Result<ReceivedFetchTime, String>>,
    pub parameters: Vec<topology::ListSynchronizerParametersStateRequest>,
    pub updates: Vec<lapi::GetUpdatesRequest>,
    pub timeouts: Vec<(&'static str, Option<String>)>,
}

#[derive(Clone)]
pub struct Participant {
    behaviour: Arc<Mutex<Behaviour>>,
    pub seen: Arc<Mutex<Seen>>,
}

impl Participant {
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().expect("lock"));
    }

    fn behaviour(&self) -> Behaviour {
        self.behaviour.lock().expect("lock").clone()
    }

    async fn enter(
        &self,
        method: &'static str,
        metadata: &MetadataMap,
    ) -> Result<Behaviour, Status> {
        let b = self.behaviour();
        let auth = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let timeout = metadata
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        {
            let mut seen = self.seen.lock().expect("lock");
            seen.authorization.push((method, auth.clone()));
            seen.timeouts.push((method, timeout));
        }
        if let Some(delay) = b.delays.get(method) {
            tokio::time::sleep(*delay).await;
        }
        if method != "GetLedgerApiVersion"
            && let Some(required) = &b.required_token
        {
            match auth {
                None => {
                    return Err(Status::unauthenticated(
                        "The command is missing a (valid) JWT token",
                    ));
                }
                Some(a) if a != format!("Bearer {required}") => {
                    return Err(Status::unauthenticated(
                        "The provided JWT token is not valid",
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some((code, message)) = b.failures.get(method) {
            return Err(Status::new(*code, message.clone()));
        }
        Ok(b)
    }
}

#[tonic::async_trait]
impl lapi::version_service_server::VersionService for Participant {
    async fn get_ledger_api_version(
        &self,
        request: Request<lapi::GetLedgerApiVersionRequest>,
    ) -> Result<Response<lapi::GetLedgerApiVersionResponse>, Status> {
        let b = self
            .enter("GetLedgerApiVersion", request.metadata())
            .await?;
        Ok(Response::new(lapi::GetLedgerApiVersionResponse {
            version: b.version,
            features: None,
        }))
    }
}

#[tonic::async_trait]
impl lapi::state_service_server::StateService for Participant {
    async fn get_connected_synchronizers(
        &self,
        request: Request<lapi::GetConnectedSynchronizersRequest>,
    ) -> Result<Response<lapi::GetConnectedSynchronizersResponse>, Status> {
        let b = self
            .enter("GetConnectedSynchronizers", request.metadata())
            .await?;
        self.seen
            .lock()
            .expect("lock")
            .connected
            .push(request.into_inner());
        Ok(Response::new(lapi::GetConnectedSynchronizersResponse {
            connected_synchronizers: b
                .synchronizers
                .into_iter()
                .map(|(alias, id, permission)| {
                    lapi::get_connected_synchronizers_response::ConnectedSynchronizer {
                        synchronizer_alias: alias,
                        synchronizer_id: id,
                        permission,
                    }
                })
                .collect(),
        }))
    }

    async fn get_ledger_end(
        &self,
        request: Request<lapi::GetLedgerEndRequest>,
    ) -> Result<Response<lapi::GetLedgerEndResponse>, Status> {
        let b = self.enter("GetLedgerEnd", request.metadata()).await?;
        Ok(Response::new(lapi::GetLedgerEndResponse {
            offset: b.ledger_end,
        }))
    }
}

#[tonic::async_trait]
impl lapi::package_service_server::PackageService for Participant {
    async fn list_packages(
        &self,
        request: Request<lapi::ListPackagesRequest>,
    ) -> Result<Response<lapi::ListPackagesResponse>, Status> {
        let b = self.enter("ListPackages", request.metadata()).await?;
        Ok(Response::new(lapi::ListPackagesResponse {
            package_ids: b.packages,
        }))
    }
}

#[tonic::async_trait]
impl lapi_admin::package_management_service_server::PackageManagementService for Participant {
    async fn list_known_packages(
        &self,
        request: Request<lapi_admin::ListKnownPackagesRequest>,
    ) -> Result<Response<lapi_admin::ListKnownPackagesResponse>, Status> {
        let b = self.enter("ListKnownPackages", request.metadata()).await?;
        Ok(Response::new(lapi_admin::ListKnownPackagesResponse {
            package_details: b.known_packages,
        }))
    }

    async fn upload_dar_file(
        &self,
        request: Request<lapi_admin::UploadDarFileRequest>,
    ) -> Result<Response<lapi_admin::UploadDarFileResponse>, Status> {
        self.enter("UploadDarFile", request.metadata()).await?;
        self.seen
            .lock()
            .expect("lock")
            .upload
            .push(request.into_inner());
        Ok(Response::new(lapi_admin::UploadDarFileResponse {}))
    }

    async fn validate_dar_file(
        &self,
        request: Request<lapi_admin::ValidateDarFileRequest>,
    ) -> Result<Response<lapi_admin::ValidateDarFileResponse>, Status> {
        self.enter("ValidateDarFile", request.metadata()).await?;
        self.seen
            .lock()
            .expect("lock")
            .validate
            .push(request.into_inner());
        Ok(Response::new(lapi_admin::ValidateDarFileResponse {}))
    }
}

#[tonic::async_trait]
impl participant::party_management_service_server::PartyManagementService for Participant {
    async fn get_highest_offset_by_timestamp(
        &self,
        request: Request<participant::GetHighestOffsetByTimestampRequest>,
    ) -> Result<Response<participant::GetHighestOffsetByTimestampResponse>, Status> {
        let b = self
            .enter("GetHighestOffsetByTimestamp", request.metadata())
            .await?;
        self.seen
            .lock()
            .expect("lock")
            .offset
            .push(request.into_inner());
        Ok(Response::new(
            participant::GetHighestOffsetByTimestampResponse {
                ledger_offset: b.offset,
            },
        ))
    }
}

#[tonic::async_trait]
impl fetch_time_server::SynchronizerTimeService for Participant {
    async fn fetch_time(
        &self,
        request: Request<time::FetchTimeRequestWire>,
    ) -> Result<Response<time::FetchTimeResponse>, Status> {
        let b = self.enter("FetchTime", request.metadata()).await?;
        let wire = request.into_inner();
        let received = ReceivedFetchTime::classify(&wire);
        self.seen
            .lock()
            .expect("lock")
            .fetch_time
            .push(received.clone());
        if wire.freshness_bound.is_none() {
            return Err(Status::invalid_argument(
                "freshnessBound: required field is missing",
            ));
        }
        // Like a real participant of the configured version: the other shape does not parse.
        match received.map(|r| r.shape()) {
            Ok(Some(shape)) if shape == b.fetch_time_shape => {}
            _ => return Err(Status::invalid_argument("Failed to parse the request")),
        }
        Ok(Response::new(time::FetchTimeResponse {
            timestamp: Some(b.synchronizer_time),
        }))
    }
}

#[tonic::async_trait]
impl topology::topology_manager_read_service_server::TopologyManagerReadService for Participant {
    async fn list_synchronizer_parameters_state(
        &self,
        request: Request<topology::ListSynchronizerParametersStateRequest>,
    ) -> Result<Response<topology::ListSynchronizerParametersStateResponse>, Status> {
        let b = self
            .enter("ListSynchronizerParametersState", request.metadata())
            .await?;
        self.seen
            .lock()
            .expect("lock")
            .parameters
            .push(request.into_inner());
        Ok(Response::new(
            topology::ListSynchronizerParametersStateResponse {
                results: b.parameter_results,
            },
        ))
    }
}

#[tonic::async_trait]
impl lapi::update_service_server::UpdateService for Participant {
    type GetUpdatesStream =
        tokio_stream::Iter<std::vec::IntoIter<Result<lapi::GetUpdatesResponse, Status>>>;

    async fn get_updates(
        &self,
        request: Request<lapi::GetUpdatesRequest>,
    ) -> Result<Response<Self::GetUpdatesStream>, Status> {
        let b = self.enter("GetUpdates", request.metadata()).await?;
        let request = request.into_inner();
        let end = request.end_inclusive;
        let begin = request.begin_exclusive;
        self.seen.lock().expect("lock").updates.push(request);
        let items: Vec<_> = b
            .updates
            .into_iter()
            .filter(|u| {
                let offset = match &u.update {
                    Some(lapi::get_updates_response::Update::Transaction(t)) => t.offset,
                    Some(lapi::get_updates_response::Update::OffsetCheckpoint(c)) => c.offset,
                    _ => 0,
                };
                offset > begin && end.is_none_or(|e| offset <= e)
            })
            .map(Ok)
            .collect();
        Ok(Response::new(tokio_stream::iter(items)))
    }
}

/// TLS settings of the test participant.
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
    /// Require client certificates signed by this CA.
    pub client_ca_pem: Option<String>,
}

pub struct Running {
    pub addr: SocketAddr,
    pub participant: Participant,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Running {
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen<R>(&self, f: impl FnOnce(&Seen) -> R) -> R {
        f(&self.participant.seen.lock().expect("lock"))
    }
}

pub async fn start(behaviour: Behaviour, tls: Option<ServerTls>) -> Running {
    canton_dr::probe::canton::ensure_crypto_provider();
    let without_topology = behaviour.without_topology;
    let participant = Participant {
        behaviour: Arc::new(Mutex::new(behaviour)),
        seen: Arc::new(Mutex::new(Seen::default())),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        let mut config =
            ServerTlsConfig::new().identity(Identity::from_pem(tls.cert_pem, tls.key_pem));
        if let Some(ca) = tls.client_ca_pem {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder.tls_config(config).expect("server tls");
    }
    let p = participant.clone();
    let router = builder
        .add_service(lapi::version_service_server::VersionServiceServer::new(
            p.clone(),
        ))
        .add_service(lapi::state_service_server::StateServiceServer::new(
            p.clone(),
        ))
        .add_service(lapi::package_service_server::PackageServiceServer::new(
            p.clone(),
        ))
        .add_service(lapi::update_service_server::UpdateServiceServer::new(
            p.clone(),
        ))
        .add_service(
            lapi_admin::package_management_service_server::PackageManagementServiceServer::new(
                p.clone(),
            )
            .max_decoding_message_size(64 * 1024 * 1024),
        )
        .add_service(
            participant::party_management_service_server::PartyManagementServiceServer::new(
                p.clone(),
            ),
        )
        .add_service(fetch_time_server::SynchronizerTimeServiceServer::new(
            p.clone(),
        ))
        .add_optional_service((!without_topology).then(|| {
            topology::topology_manager_read_service_server::TopologyManagerReadServiceServer::new(
                p.clone(),
            )
        }));
    let task = tokio::spawn(async move {
        let _ = router
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
    });
    Running {
        addr,
        participant,
        task,
    }
}

/// A `DynamicSynchronizerParameters` result with the given tolerance and validity.
pub fn parameters_result(
    tolerance_secs: i64,
    valid_from_secs: i64,
    valid_until_secs: Option<i64>,
) -> topology::list_synchronizer_parameters_state_response::Result {
    let ts = |s| prost_types::Timestamp {
        seconds: s,
        nanos: 0,
    };
    topology::list_synchronizer_parameters_state_response::Result {
        context: Some(topology::BaseResult {
            valid_from: Some(ts(valid_from_secs)),
            valid_until: valid_until_secs.map(ts),
            operation: protocol::enums::TopologyChangeOp::AddReplace as i32,
            ..Default::default()
        }),
        item: Some(protocol::DynamicSynchronizerParameters {
            ledger_time_record_time_tolerance: Some(prost_types::Duration {
                seconds: tolerance_secs,
                nanos: 0,
            }),
            ..Default::default()
        }),
    }
}
