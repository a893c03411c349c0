//! The sandbox: a simulated exchange validator and Integration DB for drills and tests.
//!
//! - [`participant`] and [`pg`]: the simulated participant and the throwaway PostgreSQL
//!   cluster holding the Integration DB and the validator node's databases;
//! - [`ingestion`], [`automation`], [`exchange`]: Tx History Ingestion, the Withdrawal
//!   Automation and the exchange's internal systems, simulated;
//! - [`validator`] and [`dumps`]: the validator node as its operator sees it, with real
//!   `pg_dump` backups and `pg_restore` restores;
//! - [`scenario`] and [`disaster`]: what a drill rehearses and how the disaster is set up;
//! - [`running`], [`control`], [`site`], [`info`]: the running sandbox, its control socket,
//!   the profile it generates and the `sandbox.json` it publishes;
//! - [`identity`], [`backup_job`]: the participant's node identity and the site's backup
//!   tooling (identities endpoint, secret store, dumps, upload, retention);
//! - [`judge`], [`backup_judge`] and [`score`]: the verdict on a drill (a restore or a backup)
//!   and its score; [`keyscan`] looks for key material where it must not be.

pub mod automation;
pub mod backup_job;
pub mod backup_judge;
pub mod control;
pub mod db;
pub mod disaster;
pub mod dumps;
pub mod error;
pub mod exchange;
pub mod identity;
pub mod info;
pub mod ingestion;
pub mod judge;
pub mod keyscan;
pub mod participant;
pub mod pg;
pub mod running;
pub mod scenario;
pub mod score;
pub mod site;
pub mod truth;
pub mod validator;

pub use error::SandboxError;
pub use info::SandboxInfo;
pub use running::{Sandbox, SandboxOptions};
