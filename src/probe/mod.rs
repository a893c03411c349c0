//! Probes: one module per probe kind behind one trait.
pub mod canton;
pub mod sql;
