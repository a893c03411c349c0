//! Signed checkpoints of a journal (R14): a note in the style of a C2SP tlog checkpoint that
//! states the record count and head digest of an incident's journal, signed with an SSH key by
//! `ssh-keygen -Y sign` under the namespace `runbook-journal`.
//!
//! ```text
//! canton-dr incident <id>            origin: whose journal this is
//! <count>                            records in the journal, in decimal
//! <base64 of the 32-byte head>       the chain value after the last of them
//!                                    (blank line: the signed body ends above it)
//! -----BEGIN SSH SIGNATURE-----      the signature over the body, as ssh-keygen writes it
//! ...
//! -----END SSH SIGNATURE-----
//! ```
//!
//! Only the key's path is ever passed to `ssh-keygen`; the key itself is read by ssh-keygen
//! (which asks for a passphrase on the terminal if the key has one) or by an SSH agent.
//! Verification runs `ssh-keygen -Y verify` against an allowed-signers file and then compares
//! the checkpoint with the journal: the same count and head, or a longer journal whose record
//! at the checkpoint's count has exactly that head ("extended, prefix intact").

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::journal::{Head, Scan, format};

/// The signature namespace of journal checkpoints.
pub const NAMESPACE: &str = "runbook-journal";
/// The origin line of a checkpoint starts with this, followed by the incident id.
pub const ORIGIN_PREFIX: &str = "canton-dr incident ";
/// The program that signs and verifies.
pub const SSH_KEYGEN: &str = "ssh-keygen";

const SIG_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const SIG_END: &str = "-----END SSH SIGNATURE-----";

/// Why a checkpoint could not be made, read or checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The checkpoint file is not a signed checkpoint note.
    #[error("{}: not a canton-dr checkpoint: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line number where it helps.
        reason: String,
    },
    /// `ssh-keygen` could not be started.
    #[error("cannot run {SSH_KEYGEN} to {purpose}: {source} (install OpenSSH's ssh-keygen)")]
    Spawn {
        /// "sign" or "verify".
        purpose: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// `ssh-keygen -Y sign` failed.
    #[error("{SSH_KEYGEN} could not sign with the key {}: {message}", key.display())]
    SignFailed {
        /// The key path.
        key: PathBuf,
        /// What ssh-keygen said.
        message: String,
    },
    /// A temporary file for ssh-keygen could not be written.
    #[error("cannot prepare the signature for {SSH_KEYGEN}: {0}")]
    Scratch(std::io::Error),
}

/// The facts a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// `canton-dr incident <id>`.
    pub origin: String,
    /// Records in the journal.
    pub count: u64,
    /// The head digest after them.
    pub hash: [u8; 32],
}

impl Checkpoint {
    /// The checkpoint of an incident's journal at `head`.
    pub fn new(incident_id: &str, head: Head) -> Checkpoint {
        Checkpoint {
            origin: format!("{ORIGIN_PREFIX}{incident_id}"),
            count: head.count,
            hash: head.hash,
        }
    }

    /// The signed body: origin, count and base64 head, one per line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.count,
            BASE64.encode(self.hash)
        )
    }

    /// The incident the origin line names, if it is a canton-dr origin.
    pub fn incident_id(&self) -> Option<&str> {
        self.origin.strip_prefix(ORIGIN_PREFIX)
    }
}

/// A checkpoint with its signature, as stored in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What it states.
    pub checkpoint: Checkpoint,
    /// The exact signed text.
    pub body: String,
    /// The armored SSH signature.
    pub signature: String,
}

impl SignedCheckpoint {
    /// The file content: body, blank line, signature.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n{}", self.body, self.signature);
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// Reads a checkpoint file's content; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<SignedCheckpoint, CheckpointError> {
        let bad = |reason: String| CheckpointError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let Some((body_lines, signature)) = text.split_once("\n\n") else {
            return Err(bad(
                "no blank line separates the note from its signature".into()
            ));
        };
        let body = format!("{body_lines}\n");
        let mut lines = body_lines.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("line 1 (the origin) is empty".into()));
        }
        let count_text = lines.next().unwrap_or_default();
        let canonical = count_text == "0"
            || (!count_text.is_empty()
                && !count_text.starts_with('0')
                && count_text.bytes().all(|b| b.is_ascii_digit()));
        let count = count_text
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| {
                bad(format!(
                    "line 2 should be the record count in decimal, found {count_text:?}"
                ))
            })?;
        let hash_text = lines.next().unwrap_or_default();
        let hash: [u8; 32] = BASE64
            .decode(hash_text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                bad(format!(
                    "line 3 should be the base64 of a 32-byte head digest, found {hash_text:?}"
                ))
            })?;
        let signature = signature.trim_end_matches('\n');
        if !signature.starts_with(SIG_BEGIN) || !signature.ends_with(SIG_END) {
            return Err(bad(format!(
                "the signature after the blank line should be an SSH signature \
                 ({SIG_BEGIN} … {SIG_END})"
            )));
        }
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint {
                origin: origin.to_owned(),
                count,
                hash,
            },
            body,
            signature: format!("{signature}\n"),
        })
    }
}

/// Signs `body` with `ssh-keygen -Y sign -f KEY -n NAMESPACE`; returns the armored signature.
pub fn sign(body: &str, key: &Path, namespace: &str) -> Result<String, CheckpointError> {
    let mut child = Command::new(SSH_KEYGEN)
        .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CheckpointError::Spawn {
            purpose: "sign",
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows up as ssh-keygen's failure below.
        let _ = stdin.write_all(body.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| CheckpointError::Spawn {
            purpose: "sign",
            source,
        })?;
    let signature = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !signature.trim_start().starts_with(SIG_BEGIN) {
        return Err(CheckpointError::SignFailed {
            key: key.to_path_buf(),
            message: said(&out.stderr, &out.status),
        });
    }
    Ok(signature.trim().to_owned() + "\n")
}

fn said(stderr: &[u8], status: &std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Signing data on standard input")
        .collect();
    if text.is_empty() {
        format!("it exited with {status}")
    } else {
        text.join("; ")
    }
}

/// What signature verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A good signature by an allowed signer in the namespace.
    Good {
        /// The signer's principal.
        principal: String,
    },
    /// Not a good signature by any allowed signer in the namespace.
    Bad {
        /// What ssh-keygen said.
        detail: String,
    },
}

impl SignatureCheck {
    /// Whether the signature is good.
    pub fn is_good(&self) -> bool {
        matches!(self, SignatureCheck::Good { .. })
    }
}

/// Checks `signature` over `body` with `ssh-keygen -Y verify`, as `identity` or, without one,
/// as any principal of `allowed_signers` whose key made it.
pub fn verify_signature(
    body: &str,
    signature: &str,
    allowed_signers: &Path,
    identity: Option<&str>,
    namespace: &str,
) -> Result<SignatureCheck, CheckpointError> {
    let scratch = tempfile::Builder::new()
        .prefix("canton-dr-checkpoint")
        .tempdir()
        .map_err(CheckpointError::Scratch)?;
    let sig_path = scratch.path().join("checkpoint.sig");
    std::fs::write(&sig_path, signature).map_err(CheckpointError::Scratch)?;
    let principals: Vec<String> = match identity {
        Some(id) => vec![id.to_owned()],
        None => {
            let out = run_keygen(
                &[
                    "-Y".as_ref(),
                    "find-principals".as_ref(),
                    "-s".as_ref(),
                    sig_path.as_os_str(),
                    "-f".as_ref(),
                    allowed_signers.as_os_str(),
                ],
                None,
            )?;
            if !out.status.success() {
                return Ok(SignatureCheck::Bad {
                    detail: format!(
                        "no principal in {} has the key that made this signature ({})",
                        allowed_signers.display(),
                        said(&out.stderr, &out.status)
                    ),
                });
            }
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        }
    };
    let mut last = String::from("no principal to check");
    for principal in principals {
        let out = run_keygen(
            &[
                "-Y".as_ref(),
                "verify".as_ref(),
                "-f".as_ref(),
                allowed_signers.as_os_str(),
                "-I".as_ref(),
                principal.as_ref(),
                "-n".as_ref(),
                namespace.as_ref(),
                "-s".as_ref(),
                sig_path.as_os_str(),
            ],
            Some(body),
        )?;
        if out.status.success() {
            return Ok(SignatureCheck::Good { principal });
        }
        last = format!("as {principal:?}: {}", said(&out.stderr, &out.status));
    }
    Ok(SignatureCheck::Bad { detail: last })
}

fn run_keygen(
    args: &[&std::ffi::OsStr],
    stdin: Option<&str>,
) -> Result<std::process::Output, CheckpointError> {
    let spawn_error = |source| CheckpointError::Spawn {
        purpose: "verify",
        source,
    };
    let mut child = Command::new(SSH_KEYGEN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    child.wait_with_output().map_err(spawn_error)
}

/// How the journal relates to a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The journal has exactly the checkpoint's records and head.
    Matches,
    /// The journal has more records, and its head after the checkpoint's count is the
    /// checkpoint's head.
    Extended {
        /// Records in the journal now.
        records: u64,
    },
    /// The journal has fewer records than the checkpoint: records were removed.
    Shorter {
        /// Records in the journal now.
        records: u64,
    },
    /// The journal's head at the checkpoint's count is different: records were changed.
    Rewritten {
        /// The journal's head after the checkpoint's count of records.
        found: [u8; 32],
    },
}

impl Anchor {
    /// Whether the journal still holds what the checkpoint states.
    pub fn is_intact(&self) -> bool {
        matches!(self, Anchor::Matches | Anchor::Extended { .. })
    }
}

/// Compares a checkpoint with a scanned journal.
pub fn compare(checkpoint: &Checkpoint, scan: &Scan) -> Anchor {
    let records = scan.head.count;
    if records < checkpoint.count {
        return Anchor::Shorter { records };
    }
    let found = match checkpoint.count {
        0 => format::genesis_hash(&format::header_bytes()),
        n => match usize::try_from(n - 1)
            .ok()
            .and_then(|i| scan.records.get(i))
        {
            Some(r) => r.hash,
            None => return Anchor::Shorter { records },
        },
    };
    if found != checkpoint.hash {
        Anchor::Rewritten { found }
    } else if records == checkpoint.count {
        Anchor::Matches
    } else {
        Anchor::Extended { records }
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anchor::Matches => write!(f, "matches: the journal has exactly these records"),
            Anchor::Extended { records } => write!(
                f,
                "extended, prefix intact: the journal now has {records} records and its first \
                 ones are exactly those of the checkpoint"
            ),
            Anchor::Shorter { records } => write!(
                f,
                "DOES NOT MATCH: the journal has only {records} records (records were removed)"
            ),
            Anchor::Rewritten { found } => write!(
                f,
                "DOES NOT MATCH: at that record count the journal's head is {} (records were \
                 changed)",
                hex::encode(found)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> PathBuf {
        PathBuf::from("cp.note")
    }

    #[test]
    fn body_and_file_round_trip() {
        let cp = Checkpoint::new(
            "inc-1",
            Head {
                count: 42,
                hash: [7; 32],
            },
        );
        assert_eq!(
            cp.body(),
            "canton-dr incident inc-1\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"
        );
        assert_eq!(cp.incident_id(), Some("inc-1"));
        let signed = SignedCheckpoint {
            body: cp.body(),
            checkpoint: cp,
            signature: format!("{SIG_BEGIN}\nAAAA\n{SIG_END}\n"),
        };
        let text = signed.to_text();
        assert_eq!(SignedCheckpoint::parse(&text, &path()).unwrap(), signed);
    }

    #[test]
    fn malformed_notes_are_refused_with_the_reason() {
        let sig = format!("{SIG_BEGIN}\nAAAA\n{SIG_END}\n");
        let hash = BASE64.encode([1u8; 32]);
        let cases = [
            (format!("o\n1\n{hash}\n{sig}"), "no blank line"),
            (format!("\n1\n{hash}\n\n{sig}"), "line 1"),
            (format!("o\n01\n{hash}\n\n{sig}"), "line 2"),
            (format!("o\n-1\n{hash}\n\n{sig}"), "line 2"),
            (format!("o\n1\nAAAA\n\n{sig}"), "line 3"),
            (
                format!("o\n1\n{hash}\n\nnot a signature\n"),
                "SSH signature",
            ),
        ];
        for (text, want) in cases {
            let err = SignedCheckpoint::parse(&text, &path()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(want), "{text:?}: {msg}");
            assert!(msg.starts_with("cp.note: "), "{msg}");
        }
    }
}
