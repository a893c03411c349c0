//! Connections held between the observations of one step.
//!
//! A wait step polls the same query every few seconds for as long as ingestion takes to catch
//! up; opening a connection for each poll would cost a TCP and TLS handshake and a password
//! exchange every time. [`HeldConnections`] keeps one connection per database for the caller
//! to reuse, and [`HeldConnections::release`] closes them all. The engine releases them when a
//! step ends and whenever it waits for the operator, so no idle connection of ours is in the way
//! of a `DROP DATABASE` or a restore that the next step, or the operator, runs.
//!
//! Every query still runs in its own read-only transaction, so a held connection carries no
//! state from one poll to the next. A held connection that broke in between (the server
//! restarted, an administrator terminated it) is replaced by a fresh one, once: the query only
//! reads, so running it again is safe.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use super::{QueryResult, SqlError, SqlTarget, connect, resolve, run_bounded};
use crate::value::Value;

/// Open connections, one per database name, for reuse until [`HeldConnections::release`].
#[derive(Default)]
pub struct HeldConnections {
    held: Mutex<BTreeMap<String, tokio_postgres::Client>>,
}

impl std::fmt::Debug for HeldConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldConnections")
            .field("databases", &self.names())
            .finish()
    }
}

impl HeldConnections {
    /// No connection held.
    pub fn new() -> HeldConnections {
        HeldConnections::default()
    }

    /// Runs one read-only query against `target` (named `database` for reuse): on the held
    /// connection for that name if there is one and it is open, on a new one otherwise, which
    /// is then held. A held connection that turns out to be broken is replaced once.
    pub async fn query(
        &self,
        database: &str,
        target: &SqlTarget,
        sql: &str,
        params: &[Value],
    ) -> Result<QueryResult, SqlError> {
        let r = resolve(target)?;
        if let Some(mut client) = self.take(database) {
            let out = run_bounded(&mut client, target, &r, sql, params).await;
            match &out {
                Err(e) if is_broken(e) => {
                    tracing::debug!(target = %r.name, error = %e, "a held database connection broke; connecting again");
                }
                _ => {
                    self.keep(database, client, &out);
                    return out;
                }
            }
        }
        let mut client = connect(target, &r).await?;
        let out = run_bounded(&mut client, target, &r, sql, params).await;
        self.keep(database, client, &out);
        out
    }

    /// Closes every held connection.
    pub fn release(&self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        // Dropping a client ends its connection task, which says goodbye to the server.
        held.clear();
    }

    /// The names of the databases with a held connection.
    pub fn names(&self) -> Vec<String> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.keys().cloned().collect()
    }

    fn take(&self, database: &str) -> Option<tokio_postgres::Client> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.remove(database).filter(|c| !c.is_closed())
    }

    /// Holds `client` for the next query, unless the connection is closed or in an unknown
    /// state (a query abandoned at the client-side timeout may still be running on it).
    fn keep(
        &self,
        database: &str,
        client: tokio_postgres::Client,
        out: &Result<QueryResult, SqlError>,
    ) {
        let unknown_state = matches!(out, Err(SqlError::StatementTimeout { .. }));
        if client.is_closed() || unknown_state || matches!(out, Err(e) if is_broken(e)) {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(database.to_owned(), client);
    }
}

/// Whether the error says the connection itself is gone (rather than the query being wrong):
/// a lost connection, or the server ending the session (SQLSTATE class 57P: administrator
/// shutdown, crash shutdown, cannot connect now; class 08: connection exception).
fn is_broken(e: &SqlError) -> bool {
    match e {
        SqlError::ConnectionLost { .. } => true,
        SqlError::Query { sqlstate, .. } => {
            sqlstate.starts_with("57P") || sqlstate.starts_with("08")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_connections_are_told_apart_from_wrong_queries() {
        let lost = SqlError::ConnectionLost {
            target: "h:1/db".into(),
            reason: "connection closed".into(),
        };
        let terminated = SqlError::Query {
            target: "h:1/db".into(),
            sqlstate: "57P01".into(),
            message: "terminating connection due to administrator command".into(),
            detail: String::new(),
        };
        let wrong = SqlError::Query {
            target: "h:1/db".into(),
            sqlstate: "42P01".into(),
            message: "relation \"nope\" does not exist".into(),
            detail: String::new(),
        };
        let cancelled = SqlError::Query {
            target: "h:1/db".into(),
            sqlstate: "57014".into(),
            message: "canceling statement due to statement timeout".into(),
            detail: String::new(),
        };
        assert!(is_broken(&lost));
        assert!(is_broken(&terminated));
        assert!(!is_broken(&wrong));
        assert!(!is_broken(&cancelled));
    }

    #[test]
    fn release_with_nothing_held_is_harmless() {
        let held = HeldConnections::new();
        held.release();
        assert!(held.names().is_empty());
    }
}
