//! Where canton-dr keeps things: XDG directories, overridable by environment variables.

use std::path::{Path, PathBuf};

/// Environment variable overriding the data directory (incidents, logs).
pub const DATA_ENV: &str = "CANTON_DR_DATA";
/// Environment variable overriding the configuration directory (profiles, runbooks).
pub const CONFIG_ENV: &str = "CANTON_DR_CONFIG";

/// Resolved directories.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data: PathBuf,
    pub config: PathBuf,
}

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Paths {
    /// The directories from the environment and XDG defaults; `data` overrides both.
    pub fn resolve(data: Option<&Path>) -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "canton-dr");
        let data = data
            .map(Path::to_path_buf)
            .or_else(|| env_dir(DATA_ENV))
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from(".canton-dr"));
        let config = env_dir(CONFIG_ENV)
            .or_else(|| dirs.as_ref().map(|d| d.config_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from(".canton-dr/config"));
        Paths { data, config }
    }

    /// Where incidents live.
    pub fn incidents(&self) -> PathBuf {
        self.data.join("incidents")
    }

    /// Where the log file goes.
    pub fn logs(&self) -> PathBuf {
        self.data.join("logs")
    }

    /// Where sandboxes kept with `--keep-sandbox` live.
    pub fn sandboxes(&self) -> PathBuf {
        self.data.join("sandboxes")
    }
}
