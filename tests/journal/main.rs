//! Tests of the incident journal (src/journal) through its public API, on real files.

mod bitflip;
mod common;
mod faults;
mod lifecycle;
mod props;
mod simdisk;
mod torn;
mod verify;
