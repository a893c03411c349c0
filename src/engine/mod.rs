//! The engine: incident state as a fold of the journal, the step scheduler, and the only place
//! that runs probes and commands. Driven by `EngineCommand`s, it emits `EngineEvent`s.

pub mod process;
