//! The engine: incident state as a fold of the journal, the step scheduler, and the only place
//! that runs probes and commands. Driven by `EngineCommand`s, it emits `EngineEvent`s.

pub mod command;
pub mod event;
pub mod identity;
pub mod incident;
pub mod process;
pub mod record;
pub mod resolve;
pub mod sink;
pub mod state;
