//! The sandbox: a simulated exchange validator and Integration DB for drills and tests.

pub mod participant;
pub mod pg;
