//! The sandbox's own record of what happened in the simulated exchange: withdrawal requests
//! and their reservations, submissions and their outcomes, the withdrawals switch, restores.
//!
//! It lives in the sandbox process (and, for people, in `world.jsonl` in the sandbox
//! directory), never in the Integration DB, so a DB restore cannot rewrite it. The judge
//! compares it with the DB and the synchronizer's history.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum Fact {
    /// The exchange's internal systems requested a withdrawal and reserved holdings for it
    /// until its trecTgt.
    WithdrawalRequested {
        withdrawal_id: String,
        customer_id: String,
        amount: String,
        holdings: Vec<String>,
        requested_at: DateTime<Utc>,
        trec_tgt: DateTime<Utc>,
    },
    /// A withdrawal's reservations were released before its trecTgt (it definitely failed).
    ReservationReleased {
        withdrawal_id: String,
        at: DateTime<Utc>,
        reason: String,
    },
    /// The Withdrawal Automation handed a transfer to the participant.
    WithdrawalSubmitted {
        withdrawal_id: String,
        at: DateTime<Utc>,
    },
    /// The synchronizer sequenced or refused a submitted transfer.
    WithdrawalOutcome {
        withdrawal_id: String,
        at: DateTime<Utc>,
        update_id: Option<String>,
        rejected: Option<String>,
    },
    /// New withdrawal requests were enabled or disabled; `observed_record_time` is how far
    /// ingestion had read at that moment.
    WithdrawalsSwitched {
        enabled: bool,
        at: DateTime<Utc>,
        observed_record_time: Option<DateTime<Utc>>,
    },
    /// Something was restored or lost (a database, the participant).
    WorldChanged { at: DateTime<Utc>, what: String },
}

/// The record, shared by every component.
#[derive(Debug, Default)]
pub struct Truth {
    facts: Mutex<Vec<Fact>>,
    file: Mutex<Option<File>>,
}

impl Truth {
    /// A record that is also appended, one JSON object per line, to `path`.
    pub fn with_file(path: &Path) -> std::io::Result<Truth> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(Truth {
            facts: Mutex::new(Vec::new()),
            file: Mutex::new(Some(file)),
        })
    }

    /// Records a fact.
    pub fn record(&self, fact: Fact) {
        if let Some(f) = self
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            && let Ok(line) = serde_json::to_string(&fact)
        {
            // The file is for people; the record in memory is what the judge reads.
            let _ = writeln!(f, "{line}");
        }
        self.facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(fact);
    }

    /// Everything recorded so far, in order.
    pub fn facts(&self) -> Vec<Fact> {
        self.facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_kept_in_order_and_written_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("world.jsonl");
        let truth = Truth::with_file(&path).unwrap();
        let at = Utc::now();
        truth.record(Fact::WorldChanged {
            at,
            what: "participant lost".into(),
        });
        truth.record(Fact::WithdrawalsSwitched {
            enabled: false,
            at,
            observed_record_time: None,
        });
        assert_eq!(truth.facts().len(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back: Fact = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(back, truth.facts()[1]);
        assert!(
            lines[0].contains("\"fact\":\"world_changed\""),
            "{}",
            lines[0]
        );
    }
}
