//! Tests of the audit transcripts, `verify` and signed checkpoints over journals written by the
//! real journal writer (T10, T13, T18, R12–R21), and of a real drill's journal.

mod checkpoint;
mod cli;
mod common;
mod determinism;
mod drill;
mod end_to_end;
mod formats;
mod schema;
mod secrets;
mod verify;
