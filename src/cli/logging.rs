//! Logs go to a file in the data directory, never to the terminal the UI owns.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

use tracing_subscriber::EnvFilter;

use crate::cli::paths::Paths;

/// Environment variable with the log filter (e.g. `debug`, `canton_dr=trace`).
pub const LOG_ENV: &str = "CANTON_DR_LOG";

/// Starts logging to `<data>/logs/canton-dr.log` (mode 0600). Logging is best effort: a
/// read-only data directory must not stop an incident.
pub fn init(paths: &Paths) -> Option<()> {
    let dir = paths.logs();
    fs::create_dir_all(&dir).ok()?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join("canton-dr.log"))
        .ok()?;
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init()
        .ok()
}
