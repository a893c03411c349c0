//! Generated code for canton-dr's own minimal `.proto` files (see `proto/` and `build.rs`).
//!
//! The modules mirror the protobuf packages: `com::daml::ledger::api::v2` (Ledger API),
//! `com::daml::ledger::api::v2::admin`, `com::digitalasset::canton::{admin::participant,
//! time::admin, topology::admin, protocol}::v30` (Admin API) and `daml_lf` (DAR archives).
//! Every service has a client (`*_client`) and a server (`*_server`) so that the sandbox can
//! serve exactly what the probes call.

#![allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/canton_protos.rs"));

/// `SynchronizerTimeService.FetchTime` with a request that keeps field 1 as raw bytes
/// ([`FetchTimeRequestWire`](com::digitalasset::canton::time::admin::v30::FetchTimeRequestWire)),
/// so one client or server can speak either the Canton 3.3 or the 3.4 request shape.
pub mod fetch_time_any_shape {
    include!(concat!(
        env!("OUT_DIR"),
        "/com.digitalasset.canton.time.admin.v30.SynchronizerTimeService.rs"
    ));
}
