//! [`CantonClient`]: the Ledger API and Admin API calls the probes need, returning plain Rust
//! values. Channels are connected on first use (and reconnected by tonic afterwards); the
//! Ledger API version is read once per client and decides the `FetchTime` request shape.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::Stream;
use secrecy::ExposeSecret;
use serde::Serialize;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};
use zeroize::Zeroizing;

use super::auth::{TokenProvider, TokenSource};
use super::convert::{chrono_to_timestamp, duration_to_chrono, timestamp_to_chrono};
use super::error::{CantonError, OffsetAtError, Right, from_status, offset_at_error};
use super::proto::com::daml::ledger::api::v2 as lapi;
use super::proto::com::daml::ledger::api::v2::admin as lapi_admin;
use super::proto::com::digitalasset::canton::admin::participant::v30 as participant;
use super::proto::com::digitalasset::canton::protocol::v30 as protocol;
use super::proto::com::digitalasset::canton::topology::admin::v30 as topology;
use super::proto::fetch_time_any_shape::synchronizer_time_service_client::SynchronizerTimeServiceClient;
use super::transport::{EndpointConfig, PreparedEndpoint};
use super::updates::Update;
use super::version::{ApiVersion, FetchTimeShape};

/// Default freshness bound sent with `FetchTime` (the server requires one).
pub const DEFAULT_FRESHNESS_BOUND: Duration = Duration::from_secs(5);

/// How to reach one participant: its Ledger API, optionally its Admin API, and the tokens.
#[derive(Debug, Clone)]
pub struct CantonConfig {
    /// The Ledger API endpoint (port 5001 on a Splice validator).
    pub ledger: EndpointConfig,
    /// The Admin API endpoint (port 5002), needed for offsets by record time, synchronizer
    /// time and synchronizer parameters.
    pub admin: Option<EndpointConfig>,
    /// Token for the Ledger API.
    pub ledger_token: TokenSource,
    /// Token for the Admin API (none unless the Admin API has auth configured).
    pub admin_token: TokenSource,
    /// Force a `FetchTime` request shape instead of deriving it from the Ledger API version.
    pub fetch_time_shape: Option<FetchTimeShape>,
    /// The freshness bound sent with `FetchTime`.
    pub freshness_bound: Duration,
}

impl CantonConfig {
    /// A Ledger-API-only configuration without tokens.
    pub fn ledger_only(ledger: EndpointConfig) -> Self {
        CantonConfig {
            ledger,
            admin: None,
            ledger_token: TokenSource::None,
            admin_token: TokenSource::None,
            fetch_time_shape: None,
            freshness_bound: DEFAULT_FRESHNESS_BOUND,
        }
    }
}

/// A participant connected to a synchronizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectedSynchronizer {
    /// The local alias.
    pub alias: String,
    /// The synchronizer id.
    pub id: String,
    /// The permission (only meaningful when asked for a party).
    pub permission: Permission,
}

/// A participant's permission on a synchronizer for a party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Not reported (no party given).
    Unspecified,
    /// May submit.
    Submission,
    /// May confirm.
    Confirmation,
    /// May only observe.
    Observation,
}

/// A package known to the participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageDetails {
    /// The package id.
    pub package_id: String,
    /// The package name from its metadata.
    pub name: String,
    /// The package version from its metadata.
    pub version: String,
    /// The size of the archive payload in bytes.
    pub size: u64,
    /// Since when the participant knows it.
    pub known_since: Option<DateTime<Utc>>,
}

/// The options of an update stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatesRequest {
    /// Start after this offset (0: from the ledger begin).
    pub begin_exclusive: i64,
    /// Stop at this offset; `None` streams forever.
    pub end_inclusive: Option<i64>,
    /// Parties whose transactions to read; empty reads for any party (needs admin rights).
    pub parties: Vec<String>,
    /// Events as archive/create deltas (`false`) or as ledger effects with exercises (`true`).
    pub ledger_effects: bool,
}

struct Api {
    endpoint: PreparedEndpoint,
    tokens: TokenProvider,
    channel: tokio::sync::OnceCell<Channel>,
}

impl Api {
    fn new(config: &EndpointConfig, token: &TokenSource) -> Result<Self, CantonError> {
        let endpoint = PreparedEndpoint::new(config)?;
        let tokens = TokenProvider::new(token.clone()).map_err(|source| CantonError::Token {
            endpoint: endpoint.url().to_string(),
            source,
        })?;
        Ok(Api {
            endpoint,
            tokens,
            channel: tokio::sync::OnceCell::new(),
        })
    }

    fn url(&self) -> &str {
        self.endpoint.url()
    }

    async fn channel(&self) -> Result<Channel, CantonError> {
        self.channel
            .get_or_try_init(|| self.endpoint.connect())
            .await
            .cloned()
    }

    /// A request with the bearer token (marked sensitive) and, for unary calls, the timeout.
    async fn request<T>(&self, message: T, unary: bool) -> Result<Request<T>, CantonError> {
        let mut request = Request::new(message);
        if unary {
            request.set_timeout(self.endpoint.request_timeout());
        }
        let token = self
            .tokens
            .token()
            .await
            .map_err(|source| CantonError::Token {
                endpoint: self.url().to_string(),
                source,
            })?;
        if let Some(token) = token {
            let header = Zeroizing::new(format!("Bearer {}", token.expose_secret()));
            let mut value =
                MetadataValue::try_from(header.as_str()).map_err(|_| CantonError::Token {
                    endpoint: self.url().to_string(),
                    source: super::auth::TokenError::NotHeaderSafe,
                })?;
            value.set_sensitive(true);
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }

    async fn failed(&self, method: &'static str, right: Right, status: &Status) -> CantonError {
        if status.code() == tonic::Code::Unauthenticated {
            self.tokens.invalidate().await;
        }
        from_status(
            self.url(),
            method,
            right,
            Some(self.endpoint.request_timeout()),
            status,
        )
    }

    /// One unary call: connect, authorise, call, map the status.
    async fn unary<Req, Resp, F, Fut>(
        &self,
        method: &'static str,
        right: Right,
        message: Req,
        call: F,
    ) -> Result<Resp, CantonError>
    where
        F: FnOnce(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let channel = self.channel().await?;
        let request = self.request(message, true).await?;
        match call(channel, request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failed(method, right, &status).await),
        }
    }
}

/// A client for one participant's Ledger API and (optionally) Admin API.
pub struct CantonClient {
    ledger: Api,
    admin: Option<Api>,
    shape_override: Option<FetchTimeShape>,
    freshness_bound: Duration,
    version: tokio::sync::OnceCell<String>,
}

impl fmt::Debug for CantonClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CantonClient")
            .field("ledger", &self.ledger.url())
            .field("ledger_token", &self.ledger.tokens)
            .field("admin", &self.admin.as_ref().map(Api::url))
            .field("admin_token", &self.admin.as_ref().map(|a| &a.tokens))
            .field("fetch_time_shape", &self.shape_override)
            .field("version", &self.version.get())
            .finish()
    }
}

const VERSION: &str = "VersionService.GetLedgerApiVersion";
const LEDGER_END: &str = "StateService.GetLedgerEnd";
const CONNECTED: &str = "StateService.GetConnectedSynchronizers";
const LIST_PACKAGES: &str = "PackageService.ListPackages";
const KNOWN_PACKAGES: &str = "PackageManagementService.ListKnownPackages";
const VALIDATE_DAR: &str = "PackageManagementService.ValidateDarFile";
const UPLOAD_DAR: &str = "PackageManagementService.UploadDarFile";
const OFFSET_AT: &str = "PartyManagementService.GetHighestOffsetByTimestamp";
const FETCH_TIME: &str = "SynchronizerTimeService.FetchTime";
const SYNC_PARAMS: &str = "TopologyManagerReadService.ListSynchronizerParametersState";
const GET_UPDATES: &str = "UpdateService.GetUpdates";

impl CantonClient {
    /// Checks the configuration and reads its files; connects on the first call.
    pub fn new(config: &CantonConfig) -> Result<Self, CantonError> {
        let ledger = Api::new(&config.ledger, &config.ledger_token)?;
        let admin = config
            .admin
            .as_ref()
            .map(|admin| Api::new(admin, &config.admin_token))
            .transpose()?;
        Ok(CantonClient {
            ledger,
            admin,
            shape_override: config.fetch_time_shape,
            freshness_bound: config.freshness_bound,
            version: tokio::sync::OnceCell::new(),
        })
    }

    /// The Ledger API endpoint URL.
    pub fn ledger_url(&self) -> &str {
        self.ledger.url()
    }

    /// The Admin API endpoint URL, if configured.
    pub fn admin_url(&self) -> Option<&str> {
        self.admin.as_ref().map(Api::url)
    }

    /// A Ledger API request built exactly as this client sends its unary calls: the bearer
    /// token as sensitive `authorization` metadata and the request timeout. Useful for calls
    /// this client does not wrap, and for checking what goes on the wire.
    pub async fn ledger_request<T>(&self, message: T) -> Result<Request<T>, CantonError> {
        self.ledger.request(message, true).await
    }

    fn admin(&self, method: &'static str) -> Result<&Api, CantonError> {
        self.admin
            .as_ref()
            .ok_or(CantonError::AdminNotConfigured { method })
    }

    /// The Ledger API version, e.g. `3.4.9` (needs no token on a real participant; the
    /// configured token is sent anyway). Read once per client.
    pub async fn api_version(&self) -> Result<String, CantonError> {
        self.version
            .get_or_try_init(|| async {
                let response = self
                    .ledger
                    .unary(
                        VERSION,
                        Right::Read,
                        lapi::GetLedgerApiVersionRequest {},
                        |ch, req| async move {
                            lapi::version_service_client::VersionServiceClient::new(ch)
                                .get_ledger_api_version(req)
                                .await
                        },
                    )
                    .await?;
                Ok(response.version)
            })
            .await
            .cloned()
    }

    /// The current ledger end offset (0 for an empty ledger).
    pub async fn ledger_end(&self) -> Result<i64, CantonError> {
        let response = self
            .ledger
            .unary(
                LEDGER_END,
                Right::Read,
                lapi::GetLedgerEndRequest {},
                |ch, req| async move {
                    lapi::state_service_client::StateServiceClient::new(ch)
                        .get_ledger_end(req)
                        .await
                },
            )
            .await?;
        if response.offset < 0 {
            return Err(self.invalid(LEDGER_END, format!("negative offset {}", response.offset)));
        }
        Ok(response.offset)
    }

    /// The synchronizers the participant is connected to.
    pub async fn connected_synchronizers(&self) -> Result<Vec<ConnectedSynchronizer>, CantonError> {
        self.connected_synchronizers_for("").await
    }

    /// The synchronizers on which `party` is hosted (all of them for an empty party), with
    /// the participant's permission for it.
    pub async fn connected_synchronizers_for(
        &self,
        party: &str,
    ) -> Result<Vec<ConnectedSynchronizer>, CantonError> {
        let request = lapi::GetConnectedSynchronizersRequest {
            party: party.to_string(),
            ..Default::default()
        };
        let response = self
            .ledger
            .unary(CONNECTED, Right::Read, request, |ch, req| async move {
                lapi::state_service_client::StateServiceClient::new(ch)
                    .get_connected_synchronizers(req)
                    .await
            })
            .await?;
        Ok(response
            .connected_synchronizers
            .into_iter()
            .map(|s| ConnectedSynchronizer {
                permission: match lapi::ParticipantPermission::try_from(s.permission) {
                    Ok(lapi::ParticipantPermission::Submission) => Permission::Submission,
                    Ok(lapi::ParticipantPermission::Confirmation) => Permission::Confirmation,
                    Ok(lapi::ParticipantPermission::Observation) => Permission::Observation,
                    _ => Permission::Unspecified,
                },
                alias: s.synchronizer_alias,
                id: s.synchronizer_id,
            })
            .collect())
    }

    /// The ids of all packages the participant has (any valid token).
    pub async fn list_packages(&self) -> Result<Vec<String>, CantonError> {
        let response = self
            .ledger
            .unary(
                LIST_PACKAGES,
                Right::Read,
                lapi::ListPackagesRequest {},
                |ch, req| async move {
                    lapi::package_service_client::PackageServiceClient::new(ch)
                        .list_packages(req)
                        .await
                },
            )
            .await?;
        Ok(response.package_ids)
    }

    /// The details of all packages the participant knows (needs participant_admin).
    pub async fn list_known_packages(&self) -> Result<Vec<PackageDetails>, CantonError> {
        let response = self
            .ledger
            .unary(
                KNOWN_PACKAGES,
                Right::Admin,
                lapi_admin::ListKnownPackagesRequest {},
                |ch, req| async move {
                    lapi_admin::package_management_service_client::PackageManagementServiceClient::new(ch)
                        .list_known_packages(req)
                        .await
                },
            )
            .await?;
        response
            .package_details
            .into_iter()
            .map(|p| {
                let known_since = match &p.known_since {
                    None => None,
                    Some(ts) => Some(timestamp_to_chrono(ts).ok_or_else(|| {
                        self.invalid(
                            KNOWN_PACKAGES,
                            format!("known_since of package {} is out of range", p.package_id),
                        )
                    })?),
                };
                Ok(PackageDetails {
                    package_id: p.package_id,
                    name: p.name,
                    version: p.version,
                    size: p.package_size,
                    known_since,
                })
            })
            .collect()
    }

    /// Checks a DAR against the participant without storing or vetting anything (needs
    /// participant_admin). The synchronizer id is sent only when given.
    pub async fn validate_dar(
        &self,
        dar: Vec<u8>,
        synchronizer_id: Option<&str>,
    ) -> Result<(), CantonError> {
        let request = lapi_admin::ValidateDarFileRequest {
            dar_file: dar,
            submission_id: String::new(),
            synchronizer_id: synchronizer_id.unwrap_or_default().to_string(),
        };
        self.ledger
            .unary(VALIDATE_DAR, Right::Admin, request, |ch, req| async move {
                lapi_admin::package_management_service_client::PackageManagementServiceClient::new(
                    ch,
                )
                .max_encoding_message_size(usize::MAX)
                .validate_dar_file(req)
                .await
            })
            .await?;
        Ok(())
    }

    /// Uploads (and vets) a DAR (needs participant_admin). The synchronizer id is sent only
    /// when given; a participant connected to several synchronizers needs it.
    pub async fn upload_dar(
        &self,
        dar: Vec<u8>,
        submission_id: &str,
        synchronizer_id: Option<&str>,
    ) -> Result<(), CantonError> {
        let request = lapi_admin::UploadDarFileRequest {
            dar_file: dar,
            submission_id: submission_id.to_string(),
            vetting_change: 0,
            synchronizer_id: synchronizer_id.unwrap_or_default().to_string(),
        };
        self.ledger
            .unary(UPLOAD_DAR, Right::Admin, request, |ch, req| async move {
                lapi_admin::package_management_service_client::PackageManagementServiceClient::new(
                    ch,
                )
                .max_encoding_message_size(usize::MAX)
                .upload_dar_file(req)
                .await
            })
            .await?;
        Ok(())
    }

    /// The highest offset on `synchronizer_id` whose record time is at or before `at`
    /// (Admin API `GetHighestOffsetByTimestamp`). See [`OffsetAtError`] for the failures an
    /// operator must tell apart.
    pub async fn offset_at(
        &self,
        synchronizer_id: &str,
        at: DateTime<Utc>,
        force: bool,
    ) -> Result<i64, OffsetAtError> {
        let admin = self.admin(OFFSET_AT)?;
        let channel = admin.channel().await?;
        let request = admin
            .request(
                participant::GetHighestOffsetByTimestampRequest {
                    synchronizer_id: synchronizer_id.to_string(),
                    timestamp: Some(chrono_to_timestamp(at)),
                    force,
                },
                true,
            )
            .await?;
        let result =
            participant::party_management_service_client::PartyManagementServiceClient::new(
                channel,
            )
            .get_highest_offset_by_timestamp(request)
            .await;
        match result {
            Ok(response) => {
                let offset = response.into_inner().ledger_offset;
                if offset < 0 {
                    return Err(self
                        .invalid_admin(OFFSET_AT, format!("negative offset {offset}"))
                        .into());
                }
                Ok(offset)
            }
            Err(status) => {
                if status.code() == tonic::Code::Unauthenticated {
                    admin.tokens.invalidate().await;
                }
                Err(offset_at_error(
                    admin.url(),
                    OFFSET_AT,
                    Some(admin.endpoint.request_timeout()),
                    synchronizer_id,
                    at,
                    &status,
                ))
            }
        }
    }

    /// The `FetchTime` request shape for this participant: the configured override, or the
    /// one its Ledger API version implies.
    pub async fn fetch_time_shape(&self) -> Result<FetchTimeShape, CantonError> {
        if let Some(shape) = self.shape_override {
            return Ok(shape);
        }
        let version = self.api_version().await?;
        let parsed = ApiVersion::parse(&version).ok_or_else(|| {
            self.invalid(
                VERSION,
                format!(
                    "version {version:?} is not major.minor.patch; set the FetchTime request shape explicitly (fetch_time_shape = \"v33\" or \"v34\")"
                ),
            )
        })?;
        Ok(FetchTimeShape::for_version(parsed))
    }

    /// The latest time observed on the synchronizer (Admin API `FetchTime`), in the request
    /// shape the participant's version expects.
    pub async fn synchronizer_time(
        &self,
        synchronizer_id: &str,
    ) -> Result<DateTime<Utc>, CantonError> {
        let admin = self.admin(FETCH_TIME)?;
        let shape = self.fetch_time_shape().await?;
        let message = shape.request(synchronizer_id, self.freshness_bound);
        let response = admin
            .unary(FETCH_TIME, Right::Admin, message, |ch, req| async move {
                SynchronizerTimeServiceClient::new(ch).fetch_time(req).await
            })
            .await?;
        let ts = response
            .timestamp
            .ok_or_else(|| self.invalid_admin(FETCH_TIME, "no timestamp".into()))?;
        timestamp_to_chrono(&ts)
            .ok_or_else(|| self.invalid_admin(FETCH_TIME, "timestamp out of range".into()))
    }

    /// The synchronizer's current `ledger_time_record_time_tolerance` (Admin API
    /// `ListSynchronizerParametersState`, head state of the synchronizer's store).
    pub async fn record_time_tolerance(
        &self,
        synchronizer_id: &str,
    ) -> Result<TimeDelta, CantonError> {
        let admin = self.admin(SYNC_PARAMS)?;
        let store = topology::StoreId {
            store: Some(topology::store_id::Store::Synchronizer(
                topology::Synchronizer {
                    kind: Some(topology::synchronizer::Kind::Id(
                        synchronizer_id.to_string(),
                    )),
                },
            )),
        };
        let request = topology::ListSynchronizerParametersStateRequest {
            base_query: Some(topology::BaseQuery {
                store: Some(store),
                proposals: false,
                operation: protocol::enums::TopologyChangeOp::AddReplace as i32,
                time_query: Some(topology::base_query::TimeQuery::HeadState(())),
                filter_signed_key: String::new(),
                protocol_version: None,
            }),
            filter_synchronizer_id: synchronizer_id.to_string(),
        };
        let response = admin
            .unary(SYNC_PARAMS, Right::Admin, request, |ch, req| async move {
                topology::topology_manager_read_service_client::TopologyManagerReadServiceClient::new(ch)
                    .list_synchronizer_parameters_state(req)
                    .await
            })
            .await?;
        // The head state has one current mapping; if several come back, prefer the one that
        // is still valid and, among those, the latest.
        let current = response
            .results
            .into_iter()
            .filter_map(|r| {
                let context = r.context.unwrap_or_default();
                let open = context.valid_until.is_none();
                let from = context
                    .valid_from
                    .as_ref()
                    .and_then(timestamp_to_chrono)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                r.item.map(|item| (open, from, item))
            })
            .max_by_key(|(open, from, _)| (*open, *from))
            .map(|(_, _, item)| item)
            .ok_or_else(|| {
                self.invalid_admin(
                    SYNC_PARAMS,
                    format!("no synchronizer parameters for {synchronizer_id}"),
                )
            })?;
        let tolerance = current.ledger_time_record_time_tolerance.ok_or_else(|| {
            self.invalid_admin(
                SYNC_PARAMS,
                "ledger_time_record_time_tolerance is missing".into(),
            )
        })?;
        duration_to_chrono(&tolerance).ok_or_else(|| {
            self.invalid_admin(
                SYNC_PARAMS,
                "ledger_time_record_time_tolerance is malformed".into(),
            )
        })
    }

    /// The transactions (ACS-delta shape, verbose) and checkpoints after `begin_exclusive`,
    /// up to `end_inclusive` or forever, for `parties` (any party when empty).
    pub async fn updates(
        &self,
        begin_exclusive: i64,
        end_inclusive: Option<i64>,
        parties: &[String],
    ) -> Result<UpdateStream, CantonError> {
        self.updates_with(&UpdatesRequest {
            begin_exclusive,
            end_inclusive,
            parties: parties.to_vec(),
            ledger_effects: false,
        })
        .await
    }

    /// Like [`updates`](Self::updates), with every option.
    pub async fn updates_with(
        &self,
        options: &UpdatesRequest,
    ) -> Result<UpdateStream, CantonError> {
        let wildcard = || lapi::Filters {
            cumulative: vec![lapi::CumulativeFilter {
                identifier_filter: Some(lapi::cumulative_filter::IdentifierFilter::WildcardFilter(
                    lapi::WildcardFilter {
                        include_created_event_blob: false,
                    },
                )),
            }],
        };
        let event_format = lapi::EventFormat {
            filters_by_party: options
                .parties
                .iter()
                .map(|p| (p.clone(), wildcard()))
                .collect(),
            filters_for_any_party: options.parties.is_empty().then(wildcard),
            verbose: true,
        };
        let shape = if options.ledger_effects {
            lapi::TransactionShape::LedgerEffects
        } else {
            lapi::TransactionShape::AcsDelta
        };
        let message = lapi::GetUpdatesRequest {
            begin_exclusive: options.begin_exclusive,
            end_inclusive: options.end_inclusive,
            update_format: Some(lapi::UpdateFormat {
                include_transactions: Some(lapi::TransactionFormat {
                    event_format: Some(event_format),
                    transaction_shape: shape as i32,
                }),
                include_reassignments: None,
            }),
        };
        let channel = self.ledger.channel().await?;
        let request = self.ledger.request(message, false).await?;
        let right = if options.parties.is_empty() {
            Right::Admin
        } else {
            Right::Read
        };
        match lapi::update_service_client::UpdateServiceClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024)
            .get_updates(request)
            .await
        {
            Ok(response) => Ok(UpdateStream {
                inner: response.into_inner(),
                endpoint: self.ledger.url().to_string(),
                right,
            }),
            Err(status) => Err(self.ledger.failed(GET_UPDATES, right, &status).await),
        }
    }

    fn invalid(&self, method: &'static str, detail: String) -> CantonError {
        CantonError::InvalidResponse {
            endpoint: self.ledger.url().to_string(),
            method,
            detail,
        }
    }

    fn invalid_admin(&self, method: &'static str, detail: String) -> CantonError {
        CantonError::InvalidResponse {
            endpoint: self.admin_url().unwrap_or_default().to_string(),
            method,
            detail,
        }
    }
}

/// The stream of [`Update`]s returned by [`CantonClient::updates`].
pub struct UpdateStream {
    inner: Streaming<lapi::GetUpdatesResponse>,
    endpoint: String,
    right: Right,
}

impl fmt::Debug for UpdateStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateStream")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl UpdateStream {
    /// The next update, `None` at the end of a bounded stream.
    pub async fn next_update(&mut self) -> Option<Result<Update, CantonError>> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for UpdateStream {
    type Item = Result<Update, CantonError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(status))) => Poll::Ready(Some(Err(from_status(
                &this.endpoint,
                GET_UPDATES,
                this.right,
                None,
                &status,
            )))),
            Poll::Ready(Some(Ok(response))) => {
                Poll::Ready(Some(Update::try_from(response).map_err(|detail| {
                    CantonError::InvalidResponse {
                        endpoint: this.endpoint.clone(),
                        method: GET_UPDATES,
                        detail,
                    }
                })))
            }
        }
    }
}
