//! The engine: incident state as a fold of the journal, the step scheduler, and the only place
//! that runs probes and commands. Driven by `EngineCommand`s, it emits `EngineEvent`s.

pub mod command;
pub mod controller;
pub mod event;
pub mod identity;
pub mod incident;
pub mod process;
pub mod record;
pub mod resolve;
mod run_command;
mod run_operator;
mod run_probe;
pub mod sink;
pub mod state;
