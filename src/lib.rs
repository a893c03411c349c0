//! canton-dr: guided, crash-safe and auditable disaster recovery for a Canton Network exchange
//! integration (a Splice validator node and the Canton Integration DB).
//!
//! Dependencies point one way: `tui`, `export` and `cli` use `engine`, which uses `journal`,
//! `probe` and `runbook`. Nothing outside `tui` uses ratatui or crossterm.

pub mod cli;
pub mod clock;
pub mod dar;
pub mod engine;
pub mod export;
pub mod journal;
pub mod probe;
pub mod profile;
pub mod runbook;
pub mod sandbox;
pub mod secret;
pub mod tui;
pub mod value;
