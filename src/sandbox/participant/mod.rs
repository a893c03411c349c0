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

pub mod amount;
pub mod config;
pub mod darread;
pub mod darsim;
pub mod ids;
pub mod node;
pub mod packages;
pub mod synchronizer;
pub mod treasury;
pub mod world;
