//! Probes: one module per probe kind behind one trait.
//!
//! The engine hands a probe call with its arguments already resolved to values; a probe
//! observes (or, for a built-in action, acts) and returns a record of typed fields that matches
//! the catalog in `crate::runbook::catalog`. A failing expectation is not an error: an error means
//! the probe could not observe at all.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use crate::runbook::model::ProbeCall;
use crate::value::Value;

pub mod canton;
pub mod file;
pub mod http;
pub mod set;
pub mod sql;

/// A boxed future, for object-safe async probes.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A probe call with its arguments resolved.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    pub call: ProbeCall,
    pub args: BTreeMap<String, Value>,
    /// The step asking, for messages and for the journal records of built-in actions.
    pub step: String,
}

impl ProbeRequest {
    /// A text argument.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.args.get(name) {
            Some(Value::Null) | None => None,
            Some(v) => Some(v.to_string()),
        }
    }

    /// The call with its values filled in, for the journal.
    pub fn display(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}({})", self.call.kind.name, args.join(", "))
    }
}

/// What a probe observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The result fields named in the catalog.
    pub value: Value,
    /// One line for people ("ledger end 18234", "3 of 5 DARs missing").
    pub summary: String,
}

/// A probe that could not observe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProbeError {
    pub message: String,
    /// The condition may clear by itself (a participant catching up, a server starting).
    pub retryable: bool,
}

impl ProbeError {
    pub fn new(message: impl Into<String>) -> ProbeError {
        ProbeError {
            message: message.into(),
            retryable: false,
        }
    }

    pub fn retryable(message: impl Into<String>) -> ProbeError {
        ProbeError {
            message: message.into(),
            retryable: true,
        }
    }
}

/// Runs probes and built-in actions.
pub trait Probes: Send + Sync {
    /// Observes once.
    fn observe<'a>(&'a self, req: &'a ProbeRequest) -> BoxFuture<'a, Result<Observed, ProbeError>>;

    /// Closes any connection held between the observations of one step. The engine calls it
    /// when a step ends and whenever it waits for the operator, so that no idle connection of
    /// ours stands in the way of what the next step, or the operator, does to a database.
    fn release_held(&self) {}

    /// Validates, uploads and checks one DAR file (part of the `canton.upload_dars` action, which
    /// the engine journals one DAR at a time). Returns the DAR's display name.
    fn upload_dar<'a>(
        &'a self,
        file: &'a std::path::Path,
        synchronizer: Option<&'a str>,
        submission_id: &'a str,
    ) -> BoxFuture<'a, Result<String, ProbeError>> {
        let _ = (synchronizer, submission_id);
        Box::pin(async move {
            Err(ProbeError::new(format!(
                "this probe set cannot upload DARs ({})",
                file.display()
            )))
        })
    }
}

/// A record value from named fields.
pub fn record<I, K>(fields: I) -> Value
where
    I: IntoIterator<Item = (K, Value)>,
    K: Into<String>,
{
    Value::Map(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
}
