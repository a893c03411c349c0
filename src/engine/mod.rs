//! The engine: incident state as a fold of the journal, the step scheduler, and the only place
//! that runs probes and commands. Driven by `EngineCommand`s, it emits `EngineEvent`s.

pub mod clock;
pub mod command;
pub mod event;
pub mod identity;
pub mod record;
// pub mod resolve; (needs profile)
// pub mod sink; (needs the journal writer)
pub mod state;
// Wired in once the journal writer, process runner and redactor land:
// pub mod controller; mod run_command; mod run_operator; mod run_probe;
