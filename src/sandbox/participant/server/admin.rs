//! Admin API services: offset lookup by record time, synchronizer time and synchronizer
//! parameters.

use std::sync::Arc;

use chrono::Utc;
use prost::Message;
use sha2::Digest;
use tonic::{Request, Response, Status};

use super::super::config::{ExactMatch, FetchTimeShape};
use super::super::node::LookupError;
use super::super::running::Shared;
use super::convert;
use crate::probe::canton::proto::com::digitalasset::canton::admin::participant::v30 as party_admin;
use crate::probe::canton::proto::com::digitalasset::canton::protocol::v30 as protocol;
use crate::probe::canton::proto::com::digitalasset::canton::time::admin::v30 as time_admin;
use crate::probe::canton::proto::com::digitalasset::canton::topology::admin::v30 as topology_admin;
use crate::probe::canton::proto::fetch_time_any_shape::synchronizer_time_service_server::SynchronizerTimeService;
use crate::value::format_timestamp;

/// Defaults of the synchronizer parameters other than the configurable tolerance.
const CONFIRMATION_RESPONSE_TIMEOUT_S: u64 = 30;
const MEDIATOR_REACTION_TIMEOUT_S: u64 = 30;
const PREPARATION_TOLERANCE_S: u64 = 24 * 3600;
const MEDIATOR_DEDUPLICATION_TIMEOUT_S: u64 = 48 * 3600;

/// The Admin API services.
#[derive(Clone)]
pub(crate) struct AdminApi {
    shared: Arc<Shared>,
}

impl AdminApi {
    pub(crate) fn new(shared: Arc<Shared>) -> AdminApi {
        AdminApi { shared }
    }

    fn unknown_synchronizer(id: &str) -> Status {
        Status::invalid_argument(canton_error(
            "INVALID_ARGUMENT_PARTY_MANAGEMENT_ERROR",
            8,
            &format!("Synchronizer id {id} is unknown"),
        ))
    }

    /// The synchronizer a `FetchTime` request names, read according to the configured shape.
    /// A request of the other shape is misread the way a real server of that version would.
    fn fetch_time_target(&self, field: Option<&[u8]>) -> Result<(), Status> {
        let Some(bytes) = field else {
            return Ok(());
        };
        let ours = &self.shared.synchronizer_id;
        match self.shared.config.fetch_time_shape {
            FetchTimeShape::V34 => {
                let synchronizer = topology_admin::Synchronizer::decode(bytes).map_err(|_| {
                    Status::internal(
                        "Failed to parse the request: invalid protobuf byte sequence in field 1",
                    )
                })?;
                match synchronizer.kind {
                    Some(topology_admin::synchronizer::Kind::Id(id)) if &id == ours => Ok(()),
                    Some(topology_admin::synchronizer::Kind::PhysicalId(id))
                        if id
                            .strip_prefix(ours.as_str())
                            .is_some_and(|rest| rest.starts_with("::")) =>
                    {
                        Ok(())
                    }
                    Some(
                        topology_admin::synchronizer::Kind::Id(id)
                        | topology_admin::synchronizer::Kind::PhysicalId(id),
                    ) => Err(Status::invalid_argument(format!(
                        "INVALID_ARGUMENT: synchronizer {id} is not connected to this participant"
                    ))),
                    None => Err(Status::invalid_argument(
                        "MISSING_FIELD: The submitted request is missing a mandatory field: synchronizer.kind",
                    )),
                }
            }
            FetchTimeShape::V33 => {
                let id = std::str::from_utf8(bytes).map_err(|_| {
                    Status::internal("Failed to parse the request: field 1 is not valid UTF-8")
                })?;
                if id == ours {
                    Ok(())
                } else {
                    Err(Status::invalid_argument(format!(
                        "INVALID_ARGUMENT: cannot parse the synchronizer id {id:?}"
                    )))
                }
            }
        }
    }
}

#[tonic::async_trait]
impl party_admin::party_management_service_server::PartyManagementService for AdminApi {
    async fn get_highest_offset_by_timestamp(
        &self,
        request: Request<party_admin::GetHighestOffsetByTimestampRequest>,
    ) -> Result<Response<party_admin::GetHighestOffsetByTimestampResponse>, Status> {
        let req = request.into_inner();
        if req.synchronizer_id != self.shared.synchronizer_id {
            return Err(AdminApi::unknown_synchronizer(&req.synchronizer_id));
        }
        let timestamp = req.timestamp.as_ref().ok_or_else(|| {
            Status::invalid_argument(
                "MISSING_FIELD: The submitted request is missing a mandatory field: timestamp",
            )
        })?;
        let timestamp = convert::from_timestamp(timestamp).ok_or_else(|| {
            Status::invalid_argument("INVALID_ARGUMENT: the timestamp is out of range")
        })?;
        let rule = self.shared.config.exact_match;
        let result = self
            .shared
            .world()
            .node
            .highest_offset_by_timestamp(timestamp, req.force, rule);
        let sync = &self.shared.synchronizer_id;
        let requested = format_timestamp(&timestamp);
        let no_offset = |reason: String| {
            Status::out_of_range(canton_error(
                "INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR",
                12,
                &format!(
                    "No ledger offset found for the requested timestamp {requested} on synchronizer {sync} (using force flag = {}): {reason}",
                    req.force
                ),
            ))
        };
        match result {
            Ok(ledger_offset) => Ok(Response::new(
                party_admin::GetHighestOffsetByTimestampResponse { ledger_offset },
            )),
            Err(LookupError::NoOffsetYet) => Err(no_offset(format!(
                "The participant has no ledger offset at or before {requested} yet"
            ))),
            Err(LookupError::NotProcessed { clean }) => Err(no_offset(format!(
                "Not all events have been processed fully and/or published to the Ledger API DB until the requested timestamp {requested} (clean synchronizer record time {}); retry later",
                format_timestamp(&clean)
            ))),
            Err(LookupError::NoExactMatch {
                offset,
                found,
                rule,
            }) => {
                let cause = format!(
                    "Timestamp mismatch: requested={requested} != recordTime={} at offset {offset} on synchronizer {sync}",
                    format_timestamp(&found)
                );
                match rule {
                    ExactMatch::NotFound => Err(Status::not_found(canton_error(
                        "EXACT_RECORD_TIME_MATCH_NOT_FOUND",
                        11,
                        &cause,
                    ))),
                    ExactMatch::FailedPrecondition | ExactMatch::Off => {
                        Err(Status::failed_precondition(canton_error(
                            "INVALID_STATE_PARTY_MANAGEMENT_ERROR",
                            9,
                            &cause,
                        )))
                    }
                }
            }
        }
    }
}

/// A message in the form Canton gives its errors: `ERROR_ID(category,correlation): cause`.
fn canton_error(id: &str, category: u8, cause: &str) -> String {
    format!("{id}({category},00000000): {cause}")
}

#[tonic::async_trait]
impl SynchronizerTimeService for AdminApi {
    async fn fetch_time(
        &self,
        request: Request<time_admin::FetchTimeRequestWire>,
    ) -> Result<Response<time_admin::FetchTimeResponse>, Status> {
        let req = request.into_inner();
        self.fetch_time_target(req.synchronizer.as_deref())?;
        if req.freshness_bound.is_none() {
            return Err(Status::invalid_argument(
                "MISSING_FIELD: The submitted request is missing a mandatory field: freshness_bound",
            ));
        }
        let time = {
            let mut world = self.shared.world();
            world.sync.advance(Utc::now());
            world.sync.time()
        };
        Ok(Response::new(time_admin::FetchTimeResponse {
            timestamp: Some(convert::timestamp(time)),
        }))
    }
}

#[tonic::async_trait]
impl topology_admin::topology_manager_read_service_server::TopologyManagerReadService for AdminApi {
    async fn list_synchronizer_parameters_state(
        &self,
        request: Request<topology_admin::ListSynchronizerParametersStateRequest>,
    ) -> Result<Response<topology_admin::ListSynchronizerParametersStateResponse>, Status> {
        let req = request.into_inner();
        let ours = self.shared.synchronizer_id.clone();
        let store_matches = match req
            .base_query
            .as_ref()
            .and_then(|q| q.store.as_ref())
            .and_then(|s| s.store.as_ref())
        {
            None => true,
            Some(topology_admin::store_id::Store::Synchronizer(s)) => match s.kind.as_ref() {
                None => true,
                Some(
                    topology_admin::synchronizer::Kind::Id(id)
                    | topology_admin::synchronizer::Kind::PhysicalId(id),
                ) => id.starts_with(ours.as_str()),
            },
            Some(_) => false,
        };
        let filter_matches = ours.starts_with(req.filter_synchronizer_id.as_str());
        let results = if store_matches && filter_matches {
            let d = |secs| Some(convert::duration(std::time::Duration::from_secs(secs)));
            let started = convert::timestamp(self.shared.started_at);
            vec![
                topology_admin::list_synchronizer_parameters_state_response::Result {
                    context: Some(topology_admin::BaseResult {
                        store: Some(topology_admin::StoreId {
                            store: Some(topology_admin::store_id::Store::Synchronizer(
                                topology_admin::Synchronizer {
                                    kind: Some(topology_admin::synchronizer::Kind::Id(
                                        ours.clone(),
                                    )),
                                },
                            )),
                        }),
                        sequenced: Some(started),
                        valid_from: Some(started),
                        valid_until: None,
                        operation: protocol::enums::TopologyChangeOp::AddReplace as i32,
                        transaction_hash: sha2::Sha256::digest(ours.as_bytes()).to_vec(),
                        serial: 1,
                    }),
                    item: Some(protocol::DynamicSynchronizerParameters {
                        confirmation_response_timeout: d(CONFIRMATION_RESPONSE_TIMEOUT_S),
                        mediator_reaction_timeout: d(MEDIATOR_REACTION_TIMEOUT_S),
                        ledger_time_record_time_tolerance: Some(convert::duration(
                            self.shared.config.ledger_time_record_time_tolerance,
                        )),
                        mediator_deduplication_timeout: d(MEDIATOR_DEDUPLICATION_TIMEOUT_S),
                        preparation_time_record_time_tolerance: d(PREPARATION_TOLERANCE_S),
                    }),
                },
            ]
        } else {
            Vec::new()
        };
        Ok(Response::new(
            topology_admin::ListSynchronizerParametersStateResponse { results },
        ))
    }
}
