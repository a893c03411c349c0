//! The sandbox: a simulated exchange validator and Integration DB for drills and tests.

pub mod automation;
pub mod db;
pub mod error;
pub mod exchange;
pub mod ingestion;
pub mod participant;
pub mod pg;
pub mod scenario;
pub mod truth;

pub use error::SandboxError;
