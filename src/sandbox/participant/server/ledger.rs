//! Ledger API services: version, state, packages and package management.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::super::running::{ParticipantError, Shared};
use super::convert;
use crate::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use lapi::admin as lapi_admin;

/// The unary Ledger API services.
#[derive(Clone)]
pub(crate) struct LedgerApi {
    shared: Arc<Shared>,
}

impl LedgerApi {
    pub(crate) fn new(shared: Arc<Shared>) -> LedgerApi {
        LedgerApi { shared }
    }

    fn check_synchronizer(&self, synchronizer_id: &str) -> Result<(), Status> {
        if synchronizer_id.is_empty() || synchronizer_id == self.shared.synchronizer_id {
            Ok(())
        } else {
            Err(Status::invalid_argument(format!(
                "INVALID_ARGUMENT: synchronizer {synchronizer_id} is not connected to this participant"
            )))
        }
    }

    fn read_dar(&self, bytes: &[u8], validate_only: bool) -> Result<Vec<String>, Status> {
        self.shared
            .upload_dar(bytes, validate_only)
            .map_err(|e| match e {
                ParticipantError::Dar(e) => Status::invalid_argument(format!(
                    "INVALID_DAR: the DAR file cannot be read: {e}"
                )),
                other => Status::internal(other.to_string()),
            })
    }
}

#[tonic::async_trait]
impl lapi::version_service_server::VersionService for LedgerApi {
    async fn get_ledger_api_version(
        &self,
        _request: Request<lapi::GetLedgerApiVersionRequest>,
    ) -> Result<Response<lapi::GetLedgerApiVersionResponse>, Status> {
        Ok(Response::new(lapi::GetLedgerApiVersionResponse {
            version: self.shared.config.ledger_api_version.clone(),
            features: Some(lapi::FeaturesDescriptor {
                offset_checkpoint: Some(lapi::OffsetCheckpointFeature {
                    max_offset_checkpoint_emission_delay: Some(convert::duration(
                        self.shared.config.checkpoint_interval,
                    )),
                }),
            }),
        }))
    }
}

#[tonic::async_trait]
impl lapi::state_service_server::StateService for LedgerApi {
    async fn get_connected_synchronizers(
        &self,
        request: Request<lapi::GetConnectedSynchronizersRequest>,
    ) -> Result<Response<lapi::GetConnectedSynchronizersResponse>, Status> {
        let req = request.into_inner();
        let party_hosted = req.party.is_empty() || req.party == self.shared.treasury;
        let this_participant =
            req.participant_id.is_empty() || req.participant_id == self.shared.participant_id;
        let connected = if party_hosted && this_participant {
            vec![
                lapi::get_connected_synchronizers_response::ConnectedSynchronizer {
                    synchronizer_alias: "global".to_string(),
                    synchronizer_id: self.shared.synchronizer_id.clone(),
                    permission: lapi::ParticipantPermission::Submission as i32,
                },
            ]
        } else {
            Vec::new()
        };
        Ok(Response::new(lapi::GetConnectedSynchronizersResponse {
            connected_synchronizers: connected,
        }))
    }

    async fn get_ledger_end(
        &self,
        _request: Request<lapi::GetLedgerEndRequest>,
    ) -> Result<Response<lapi::GetLedgerEndResponse>, Status> {
        let offset = self.shared.world().node.ledger_end();
        Ok(Response::new(lapi::GetLedgerEndResponse { offset }))
    }
}

#[tonic::async_trait]
impl lapi::package_service_server::PackageService for LedgerApi {
    async fn list_packages(
        &self,
        _request: Request<lapi::ListPackagesRequest>,
    ) -> Result<Response<lapi::ListPackagesResponse>, Status> {
        let package_ids = self
            .shared
            .world()
            .node
            .packages
            .list()
            .into_iter()
            .map(|p| p.package_id)
            .collect();
        Ok(Response::new(lapi::ListPackagesResponse { package_ids }))
    }
}

#[tonic::async_trait]
impl lapi_admin::package_management_service_server::PackageManagementService for LedgerApi {
    async fn list_known_packages(
        &self,
        _request: Request<lapi_admin::ListKnownPackagesRequest>,
    ) -> Result<Response<lapi_admin::ListKnownPackagesResponse>, Status> {
        let package_details = self
            .shared
            .world()
            .node
            .packages
            .list()
            .into_iter()
            .map(|p| lapi_admin::PackageDetails {
                package_id: p.package_id,
                package_size: p.size,
                known_since: Some(convert::timestamp(p.known_since)),
                name: p.name,
                version: p.version,
            })
            .collect();
        Ok(Response::new(lapi_admin::ListKnownPackagesResponse {
            package_details,
        }))
    }

    async fn upload_dar_file(
        &self,
        request: Request<lapi_admin::UploadDarFileRequest>,
    ) -> Result<Response<lapi_admin::UploadDarFileResponse>, Status> {
        let req = request.into_inner();
        self.check_synchronizer(&req.synchronizer_id)?;
        self.read_dar(&req.dar_file, false)?;
        self.shared.publish();
        Ok(Response::new(lapi_admin::UploadDarFileResponse {}))
    }

    async fn validate_dar_file(
        &self,
        request: Request<lapi_admin::ValidateDarFileRequest>,
    ) -> Result<Response<lapi_admin::ValidateDarFileResponse>, Status> {
        let req = request.into_inner();
        self.check_synchronizer(&req.synchronizer_id)?;
        self.read_dar(&req.dar_file, true)?;
        Ok(Response::new(lapi_admin::ValidateDarFileResponse {}))
    }
}
