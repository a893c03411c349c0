//! The sandbox's simulated participant: an Exchange Validator Node that speaks the Ledger API
//! v2 and Admin API wire protocol over loopback gRPC, in front of a simulated synchronizer that
//! sequences treasury transactions.
//!
//! - [`synchronizer`]: record times, deposits, withdrawals, merges and refusals; its history is
//!   the truth a drill is judged against.
//! - [`node`]: what the participant has processed, with node-local offsets; backup and restore
//!   (offsets are reassigned after a restore).
//! - [`world`]: both, advanced tick by tick, with the generated traffic.
//! - [`darsim`] and [`darread`]: synthetic DARs, and reading uploaded ones.
//! - [`treasury`]: the treasury templates and their Ledger API encoding.
//! - [`running`] and `server`: the started participant, its Rust API and its gRPC servers.
//!
//! Start one with [`Participant::start`]; the returned [`RunningParticipant`] gives the
//! addresses of both APIs and the controls the scenarios need (backup, restore, down, submit,
//! DAR upload) and the synchronizer truth the judge needs ([`RunningParticipant::history`]).

pub mod amount;
pub mod config;
pub mod darread;
pub mod darsim;
pub mod ids;
pub mod node;
pub mod packages;
pub mod running;
mod server;
pub mod synchronizer;
pub mod treasury;
pub mod world;

pub use amount::Amount;
pub use config::{
    Availability, CatchUp, DepositConfig, ExactMatch, FetchTimeShape, MergeConfig,
    ParticipantConfig, SharedRecordTimes,
};
pub use darsim::{
    SyntheticDar, exchange_treasury_dar, sandbox_dars, token_adapter_dar, write_sandbox_dars,
};
pub use node::Backup;
pub use packages::PackageInfo;
pub use running::{Participant, ParticipantError, RunningParticipant, Submission};
pub use server::convert::UpdateFilter;
pub use synchronizer::{RejectReason, Rejection, SubmitWithdrawal, TreasuryTx, TxKind};
pub use treasury::{Contract, Holding, Receipt, TransferKind, decode_created};
pub use world::SubmissionOutcome;
