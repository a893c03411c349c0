//! Where the engine writes records: the journal in production, anything durable in tests.

/// A record made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    /// The head digest after this record, as 64 hex digits.
    pub head: String,
}

/// A record could not be made durable; the engine stops (R4).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// An append-only, synced record store.
pub trait Sink: Send {
    /// Appends one record and returns only once it is durable.
    fn append(&mut self, payload: &[u8]) -> Result<Appended, SinkError>;
}

impl Sink for crate::journal::Journal {
    fn append(&mut self, payload: &[u8]) -> Result<Appended, SinkError> {
        crate::journal::Journal::append(self, payload)
            .map(|ack| Appended {
                seq: ack.seq,
                head: ack.head.hex(),
            })
            .map_err(|e| SinkError(e.to_string()))
    }
}
