//! `sandbox.json`: what a running sandbox offers (endpoints, database URL, profile, backups),
//! written when it is ready and printed by `canton-dr sandbox up`. It holds no secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::SandboxError;

/// The file's name in the sandbox directory.
pub const INFO_FILE: &str = "sandbox.json";

/// A running sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxInfo {
    /// The sandbox process.
    pub pid: u32,
    pub dir: PathBuf,
    /// The scenario applied at start, if any.
    pub scenario: Option<String>,
    pub ledger_api: String,
    pub admin_api: String,
    /// The Integration DB as the read-only role (the password is in the profile's file).
    pub database_url: String,
    pub profile: PathBuf,
    pub control_socket: PathBuf,
    pub dar_dir: PathBuf,
    /// Backup files the scenario made: `validator`, `participant`, `integration`, or for a
    /// backup drill the earlier backup at the destination (`earlier-validator`,
    /// `earlier-participant`).
    pub backups: BTreeMap<String, PathBuf>,
    /// The simulated secret store (node identities dumps go there).
    #[serde(default)]
    pub secret_store: PathBuf,
    /// The simulated backup destination (uploads go there).
    #[serde(default)]
    pub backup_destination: PathBuf,
    pub synchronizer_id: String,
    pub treasury_party: String,
    /// The PostgreSQL cluster's directory (removed when the sandbox stops).
    pub pg_dir: PathBuf,
    pub started_at: DateTime<Utc>,
    /// From start to ready.
    pub ready_ms: u64,
    /// Of which spent letting the scenario's world run (warm-up, time after the backup).
    pub scenario_wait_ms: u64,
    /// Stops by itself after this long without a control request (none: never).
    pub idle_timeout_secs: Option<u64>,
}

impl SandboxInfo {
    /// Writes `dir/sandbox.json` (mode 0600) in one step: readers never see half of it.
    pub fn write(&self, dir: &Path) -> Result<(), SandboxError> {
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| SandboxError::Refused(format!("cannot write sandbox.json: {e}")))?;
        let tmp = dir.join(".sandbox.json.tmp");
        super::dumps::write_private(&tmp, &text)?;
        std::fs::rename(&tmp, dir.join(INFO_FILE)).map_err(SandboxError::io("rename", &tmp))
    }

    /// Reads `dir/sandbox.json`.
    pub fn read(dir: &Path) -> Result<SandboxInfo, SandboxError> {
        let path = dir.join(INFO_FILE);
        let bytes = std::fs::read(&path).map_err(SandboxError::io("read", &path))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| SandboxError::Refused(format!("{} is unreadable: {e}", path.display())))
    }
}
