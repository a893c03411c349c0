//! The append-only, hash-chained incident journal: framing, scanning, repair, verification,
//! the single-writer lock and the incident directory.
