//! What can go wrong in the sandbox.

use std::path::PathBuf;

use super::participant::ParticipantError;
use super::pg::{PgError, SchemaError};
use super::scenario::ScenarioError;

/// Why the sandbox (or one of its components) could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("{what}: {}", super::pg::describe_pg_error(.source))]
    Sql {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(transparent)]
    Participant(#[from] ParticipantError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} on {target} failed ({status}): {output}")]
    Tool {
        tool: String,
        target: String,
        status: String,
        output: String,
    },
    #[error("the participant's Ledger API: {0}")]
    Canton(String),
    /// The action does not fit the world's current state; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
}

impl SandboxError {
    /// Wraps a PostgreSQL error with what was being done.
    pub fn sql(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> SandboxError {
        let what = what.into();
        move |source| SandboxError::Sql { what, source }
    }

    /// Wraps an I/O error with the action and the path.
    pub fn io(
        what: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> SandboxError {
        let path = path.to_path_buf();
        move |source| SandboxError::Io { what, path, source }
    }
}
