//! Verifying an incident's journal (T10): its checksums and hash chain, the head and record
//! count kept elsewhere, and optionally a signed checkpoint.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::engine::record::{Event, Record};
use crate::journal::{Mismatch, Scan, VerifyReport};

use super::ExportError;
use super::checkpoint::{self, Anchor, Checkpoint, SignatureCheck, SignedCheckpoint};

/// A checkpoint to check the journal against.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointRequest<'a> {
    /// The signed checkpoint file.
    pub path: &'a Path,
    /// The `ssh-keygen` allowed-signers file.
    pub allowed_signers: &'a Path,
    /// The principal that must have signed; any allowed signer when `None`.
    pub identity: Option<&'a str>,
}

/// What checking a checkpoint found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointResult {
    /// The checkpoint file.
    pub path: PathBuf,
    /// What it states.
    pub checkpoint: Checkpoint,
    /// The namespace the signature was checked in.
    pub namespace: String,
    /// The signature check.
    pub signature: SignatureCheck,
    /// The incident the journal belongs to (from its opening record).
    pub incident_id: Option<String>,
    /// How the journal relates to it.
    pub anchor: Anchor,
}

impl CheckpointResult {
    /// Whether the checkpoint names this journal's incident.
    pub fn origin_matches(&self) -> bool {
        match (&self.incident_id, self.checkpoint.incident_id()) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => false,
        }
    }

    /// Good signature, this incident, and the journal still holds what it states.
    pub fn ok(&self) -> bool {
        self.signature.is_good() && self.origin_matches() && self.anchor.is_intact()
    }
}

/// The outcome of `canton-dr verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Checksums, chain, tail and expectations.
    pub report: VerifyReport,
    /// The checkpoint check, if one was asked for.
    pub checkpoint: Option<CheckpointResult>,
}

impl Verification {
    /// Whether everything checked is intact and matches.
    pub fn ok(&self) -> bool {
        self.report.ok() && self.checkpoint.as_ref().is_none_or(CheckpointResult::ok)
    }

    /// The outcome as one JSON object, for scripts.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.report;
        let mismatches: Vec<String> = r.mismatches.iter().map(ToString::to_string).collect();
        let checkpoint = self.checkpoint.as_ref().map(|c| {
            serde_json::json!({
                "path": c.path.display().to_string(),
                "origin": c.checkpoint.origin,
                "origin_matches": c.origin_matches(),
                "records": c.checkpoint.count,
                "head": hex::encode(c.checkpoint.hash),
                "namespace": c.namespace,
                "signature_good": c.signature.is_good(),
                "signer": match &c.signature {
                    SignatureCheck::Good { principal } => Some(principal.clone()),
                    SignatureCheck::Bad { .. } => None,
                },
                "signature_detail": match &c.signature {
                    SignatureCheck::Good { .. } => None,
                    SignatureCheck::Bad { detail } => Some(detail.clone()),
                },
                "anchor": match c.anchor {
                    Anchor::Matches => "matches",
                    Anchor::Extended { .. } => "extended",
                    Anchor::Shorter { .. } => "shorter",
                    Anchor::Rewritten { .. } => "rewritten",
                },
                "anchor_detail": c.anchor.to_string(),
                "ok": c.ok(),
            })
        });
        serde_json::json!({
            "journal": r.path.display().to_string(),
            "records": r.records,
            "head": r.head.hex(),
            "tail": r.tail.to_string(),
            "tail_clean": r.tail == crate::journal::Tail::Clean,
            "defect": r.defect.map(|d| d.to_string()),
            "valid_len": r.valid_len,
            "file_len": r.file_len,
            "expect_head": r.expect_head.map(hex::encode),
            "expect_count": r.expect_count,
            "mismatches": mismatches,
            "checkpoint": checkpoint,
            "ok": self.ok(),
        })
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.report;
        writeln!(f, "journal: {}", r.path.display())?;
        writeln!(f, "records={}", r.records)?;
        writeln!(f, "head={}", r.head.hex())?;
        match (r.tail, r.defect) {
            (crate::journal::Tail::Clean, _) => writeln!(f, "tail: clean ({} bytes)", r.file_len)?,
            (tail, Some(defect)) => writeln!(f, "tail: {tail} ({defect})")?,
            (tail, None) => writeln!(f, "tail: {tail}")?,
        }
        if let Some(expected) = r.expect_head {
            let verdict = if expected == r.head.hash {
                "matches".to_owned()
            } else {
                "DOES NOT MATCH".to_owned()
            };
            writeln!(f, "expected head {}: {verdict}", hex::encode(expected))?;
        }
        if let Some(expected) = r.expect_count {
            let verdict = if expected == r.records {
                "matches"
            } else {
                "DOES NOT MATCH"
            };
            writeln!(f, "expected records={expected}: {verdict}")?;
        }
        for m in &r.mismatches {
            writeln!(f, "mismatch: {m}")?;
        }
        if let Some(c) = &self.checkpoint {
            writeln!(f, "checkpoint: {}", c.path.display())?;
            writeln!(
                f,
                "  states: {} records, head {}",
                c.checkpoint.count,
                hex::encode(c.checkpoint.hash)
            )?;
            if c.origin_matches() {
                writeln!(f, "  origin: {} (this incident)", c.checkpoint.origin)?;
            } else {
                writeln!(
                    f,
                    "  origin: {} DOES NOT MATCH this journal's incident ({})",
                    c.checkpoint.origin,
                    c.incident_id.as_deref().unwrap_or("unknown")
                )?;
            }
            match &c.signature {
                SignatureCheck::Good { principal } => writeln!(
                    f,
                    "  signature: good, by {principal:?} in namespace {}",
                    c.namespace
                )?,
                SignatureCheck::Bad { detail } => {
                    writeln!(f, "  signature: BAD in namespace {}: {detail}", c.namespace)?
                }
            }
            writeln!(f, "  journal: {}", c.anchor)?;
        }
        write!(f, "result: {}", if self.ok() { "OK" } else { "FAILED" })
    }
}

/// The incident id in a journal's opening record, if it can be read.
pub fn incident_id_of(scan: &Scan) -> Option<String> {
    scan.records
        .iter()
        .filter_map(|r| Record::decode(r.seq, &r.payload).ok())
        .find_map(|r| match r.event {
            Event::IncidentOpened { incident_id, .. } => Some(incident_id),
            _ => None,
        })
}

/// The verification report of a scanned journal (the same checks as
/// [`crate::journal::verify()`], over bytes already read).
fn report(
    path: &Path,
    scan: &Scan,
    expect_head: Option<[u8; 32]>,
    expect_count: Option<u64>,
) -> VerifyReport {
    let mut mismatches = Vec::new();
    if let Some(expected) = expect_head.filter(|h| *h != scan.head.hash) {
        mismatches.push(Mismatch::Head {
            expected,
            actual: scan.head.hash,
        });
    }
    if let Some(expected) = expect_count.filter(|c| *c != scan.head.count) {
        mismatches.push(Mismatch::Count {
            expected,
            actual: scan.head.count,
        });
    }
    VerifyReport {
        path: path.to_path_buf(),
        records: scan.head.count,
        head: scan.head,
        tail: scan.tail,
        defect: scan.defect,
        valid_len: scan.valid_len,
        file_len: scan.file_len,
        expect_head,
        expect_count,
        mismatches,
    }
}

/// Verifies the journal at `journal` (read once, never written) against the expectations and,
/// optionally, a signed checkpoint.
pub fn verify_incident(
    journal: &Path,
    expect_head: Option<[u8; 32]>,
    expect_count: Option<u64>,
    checkpoint: Option<CheckpointRequest<'_>>,
) -> Result<Verification, ExportError> {
    let (path, scan) = super::read_journal(journal)?;
    let report = report(&path, &scan, expect_head, expect_count);
    let checkpoint = match checkpoint {
        None => None,
        Some(req) => {
            let text = std::fs::read_to_string(req.path).map_err(|source| ExportError::Io {
                op: "read the checkpoint",
                path: req.path.to_path_buf(),
                source,
            })?;
            let signed = SignedCheckpoint::parse(&text, req.path)?;
            let signature = checkpoint::verify_signature(
                &signed.body,
                &signed.signature,
                req.allowed_signers,
                req.identity,
                checkpoint::NAMESPACE,
            )?;
            Some(CheckpointResult {
                path: req.path.to_path_buf(),
                anchor: checkpoint::compare(&signed.checkpoint, &scan),
                checkpoint: signed.checkpoint,
                namespace: checkpoint::NAMESPACE.to_owned(),
                signature,
                incident_id: incident_id_of(&scan),
            })
        }
    };
    Ok(Verification { report, checkpoint })
}
