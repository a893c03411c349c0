//! The site's backup tooling around the validator node, as the validator-backup runbook's
//! named commands use it:
//!
//! - the identities endpoint writes the node identities dump into a new private file;
//! - the secret store (a private directory of the sandbox) takes the dump, and the local copy
//!   is deleted;
//! - `pg_dump -Fc` of `validator`, then of `participant-0`, into the local backup directory;
//! - the upload copies a pair of dumps to the backup destination (another directory);
//! - the retention deletes local and remote dumps older than the retention period.
//!
//! A scenario may misconfigure the dumps (the participant's database dumped first); the job
//! then behaves like a backup script that runs the two dumps in the wrong order.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::db::{PARTICIPANT_DB, VALIDATOR_DB};
use super::error::SandboxError;
use super::identity::NodeIdentity;
use super::scenario::BackupOrder;
use super::validator::{BackupFiles, ValidatorNode, next_second};

/// The secret store's directory in the sandbox directory.
pub const SECRET_STORE: &str = "secret-store";
/// The backup destination's directory in the sandbox directory.
pub const DESTINATION: &str = "backup-destination";
/// No identities dump is larger than this.
const MAX_IDENTITIES: u64 = 64 * 1024 * 1024;
/// The prefix of identities dump files.
pub const IDENTITIES_PREFIX: &str = "participant-identities-";

/// One dump copied to the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub local: PathBuf,
    pub remote: PathBuf,
}

/// What the job has done so far (for the judge).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobRecord {
    /// Identities dumps the endpoint wrote.
    pub identities_written: Vec<PathBuf>,
    /// Identities dumps handed to the secret store (their place in the store).
    pub stored: Vec<PathBuf>,
    /// The dumps of the last upload.
    pub uploaded: Vec<Uploaded>,
    /// The backup that was already there when the drill began (local and remote files).
    pub previous: Vec<PathBuf>,
    /// How often the retention ran.
    pub retention_runs: u32,
    /// What the retention deleted.
    pub deleted: Vec<PathBuf>,
}

#[derive(Debug, Default)]
struct JobState {
    record: JobRecord,
    /// The last validator dump and when it was taken.
    last_validator: Option<DateTime<Utc>>,
    /// A participant dump the misconfigured job took before the validator's.
    early_participant: Option<PathBuf>,
}

/// The backup tooling of the sandbox's site.
pub struct BackupJob {
    order: BackupOrder,
    retention: Duration,
    local: PathBuf,
    remote: PathBuf,
    store: PathBuf,
    state: tokio::sync::Mutex<JobState>,
}

fn mkdir_private(path: &Path) -> Result<(), SandboxError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(SandboxError::io("create", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .map_err(SandboxError::io("restrict", path))
}

/// Writes a new file (never an existing one) readable by its owner only, and syncs it.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(SandboxError::io("create", path))?;
    f.write_all(bytes)
        .map_err(SandboxError::io("write", path))?;
    f.sync_all().map_err(SandboxError::io("sync", path))
}

fn sync_dir(dir: &Path) -> Result<(), SandboxError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SandboxError::io("sync", dir))
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl BackupJob {
    /// The tooling for the sandbox in `dir`: local dumps in `local`, the destination and the
    /// secret store created (0700) in `dir`.
    pub fn new(
        dir: &Path,
        local: PathBuf,
        order: BackupOrder,
        retention: Duration,
    ) -> Result<BackupJob, SandboxError> {
        let remote = dir.join(DESTINATION);
        let store = dir.join(SECRET_STORE);
        mkdir_private(&remote)?;
        mkdir_private(&store)?;
        Ok(BackupJob {
            order,
            retention,
            local,
            remote,
            store,
            state: tokio::sync::Mutex::new(JobState::default()),
        })
    }

    /// The secret store's directory.
    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    /// The backup destination's directory.
    pub fn destination(&self) -> &Path {
        &self.remote
    }

    /// The local backup directory.
    pub fn local_dir(&self) -> &Path {
        &self.local
    }

    /// The retention period.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// What the job has done so far.
    pub async fn record(&self) -> JobRecord {
        self.state.lock().await.record.clone()
    }

    /// Puts a backup taken `age` ago in place, locally and at the destination (the drill
    /// begins with it there). Returns the copies at the destination.
    pub async fn seed_previous(
        &self,
        node: &ValidatorNode,
        age: Duration,
    ) -> Result<BackupFiles, SandboxError> {
        let files = node
            .backup(&self.local, BackupOrder::Correct, Some(age))
            .await?;
        let remote = BackupFiles {
            validator: self.remote.join(file_name(&files.validator)),
            participant: self.remote.join(file_name(&files.participant)),
        };
        copy_private(&files.validator, &remote.validator)?;
        copy_private(&files.participant, &remote.participant)?;
        self.state.lock().await.record.previous.extend([
            files.validator,
            files.participant,
            remote.validator.clone(),
            remote.participant.clone(),
        ]);
        Ok(remote)
    }

    /// The identities endpoint: writes the node identities dump into a new 0600 file in the
    /// local backup directory and returns its path. Refused while the validator is down.
    pub async fn fetch_identities(
        &self,
        node: &ValidatorNode,
        identity: &NodeIdentity,
    ) -> Result<PathBuf, SandboxError> {
        if !node.is_running().await {
            return Err(SandboxError::Refused(
                "the validator app does not answer (it is stopped): start it to fetch the node identities".into(),
            ));
        }
        let mut state = self.state.lock().await;
        let path = self
            .local
            .join(format!("{IDENTITIES_PREFIX}{}.json", stamp(Utc::now())));
        write_new_private(&path, &identity.dump_json())?;
        state.record.identities_written.push(path.clone());
        Ok(path)
    }

    /// The secret store takes the identities dump `file` (one the endpoint wrote), then the
    /// local copy is deleted. Returns where the store keeps it.
    pub async fn store_identities(&self, file: &Path) -> Result<PathBuf, SandboxError> {
        let real = fs::canonicalize(file).map_err(SandboxError::io("find", file))?;
        let local = fs::canonicalize(&self.local).map_err(SandboxError::io("find", &self.local))?;
        let named = real
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(IDENTITIES_PREFIX));
        if real.parent() != Some(local.as_path()) || !named {
            return Err(SandboxError::Refused(format!(
                "{} is not an identities dump the validator wrote (those are {}/{IDENTITIES_PREFIX}*.json)",
                file.display(),
                self.local.display()
            )));
        }
        let meta = fs::symlink_metadata(&real).map_err(SandboxError::io("inspect", &real))?;
        if !meta.is_file() || meta.len() > MAX_IDENTITIES {
            return Err(SandboxError::Refused(format!(
                "{} is not a regular file of an identities dump's size",
                file.display()
            )));
        }
        let mut state = self.state.lock().await;
        let bytes =
            zeroize::Zeroizing::new(fs::read(&real).map_err(SandboxError::io("read", &real))?);
        let stored = self.store.join(file_name(&real));
        write_new_private(&stored, &bytes)?;
        sync_dir(&self.store)?;
        fs::remove_file(&real).map_err(SandboxError::io("delete", &real))?;
        sync_dir(&local)?;
        state.record.stored.push(stored.clone());
        Ok(stored)
    }

    /// `pg_dump` of the validator app's database; returns the file. A misconfigured job
    /// (participant first) dumps the participant's database before it.
    pub async fn dump_validator(&self, node: &ValidatorNode) -> Result<PathBuf, SandboxError> {
        let mut state = self.state.lock().await;
        if self.order == BackupOrder::ParticipantFirst {
            let (early, _) = node.dump(PARTICIPANT_DB, &self.local).await?;
            state.early_participant = Some(early);
            next_second().await;
        }
        let (path, at) = node.dump(VALIDATOR_DB, &self.local).await?;
        state.last_validator = Some(at);
        Ok(path)
    }

    /// `pg_dump` of the participant's database; returns the file. A real validator dump takes
    /// longer than a second, so a participant dump never shares its header second.
    pub async fn dump_participant(&self, node: &ValidatorNode) -> Result<PathBuf, SandboxError> {
        let mut state = self.state.lock().await;
        if let Some(early) = state.early_participant.take() {
            return Ok(early);
        }
        if let Some(at) = state.last_validator
            && at.timestamp() >= Utc::now().timestamp()
        {
            next_second().await;
        }
        let (path, _) = node.dump(PARTICIPANT_DB, &self.local).await?;
        Ok(path)
    }

    /// Copies the two dumps to the destination; returns their copies.
    pub async fn upload(
        &self,
        validator: &Path,
        participant: &Path,
    ) -> Result<Vec<PathBuf>, SandboxError> {
        let mut state = self.state.lock().await;
        let mut done = Vec::new();
        for local in [validator, participant] {
            let meta = fs::metadata(local).map_err(SandboxError::io("find", local))?;
            if !meta.is_file() {
                return Err(SandboxError::Refused(format!(
                    "{} is not a file",
                    local.display()
                )));
            }
            let remote = self.remote.join(file_name(local));
            copy_private(local, &remote)?;
            done.push(Uploaded {
                local: local.to_path_buf(),
                remote,
            });
        }
        sync_dir(&self.remote)?;
        let remotes = done.iter().map(|u| u.remote.clone()).collect();
        state.record.uploaded = done;
        Ok(remotes)
    }

    /// Deletes local and remote dumps older than the retention period (by modification
    /// time, as `find -mtime` does); returns what it deleted and how many dumps it kept.
    pub async fn apply_retention(&self) -> Result<(Vec<PathBuf>, usize), SandboxError> {
        let mut state = self.state.lock().await;
        let limit = Utc::now() - TimeDelta::from_std(self.retention).unwrap_or(TimeDelta::MAX);
        let mut deleted = Vec::new();
        let mut kept = 0;
        for dir in [&self.local, &self.remote] {
            for (path, at) in dumps_in(dir)? {
                if at < limit {
                    fs::remove_file(&path).map_err(SandboxError::io("delete", &path))?;
                    deleted.push(path);
                } else {
                    kept += 1;
                }
            }
            sync_dir(dir)?;
        }
        state.record.retention_runs += 1;
        state.record.deleted.extend(deleted.iter().cloned());
        Ok((deleted, kept))
    }
}

/// The `*.dump` files in `dir` with their modification times.
pub fn dumps_in(dir: &Path) -> Result<Vec<(PathBuf, DateTime<Utc>)>, SandboxError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(SandboxError::io("list", dir))? {
        let entry = entry.map_err(SandboxError::io("list", dir))?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "dump") {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(SandboxError::io("inspect", &path))?;
        if !meta.is_file() {
            continue;
        }
        let modified = meta
            .modified()
            .map_err(SandboxError::io("read the time of", &path))?;
        out.push((path, DateTime::<Utc>::from(modified)));
    }
    out.sort();
    Ok(out)
}

/// Copies `from` to `to` (0600, through a temporary file, keeping the modification time).
fn copy_private(from: &Path, to: &Path) -> Result<(), SandboxError> {
    let bytes = fs::read(from).map_err(SandboxError::io("read", from))?;
    let modified = fs::metadata(from)
        .and_then(|m| m.modified())
        .map_err(SandboxError::io("read the time of", from))?;
    let tmp = to.with_extension("part");
    let _ = fs::remove_file(&tmp);
    write_new_private(&tmp, &bytes)?;
    fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(modified))
        .map_err(SandboxError::io("set the time of", &tmp))?;
    fs::rename(&tmp, to).map_err(SandboxError::io("rename", &tmp))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn copies_keep_the_time_and_are_private_and_dumps_are_listed_by_time() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("validator-x.dump");
        fs::write(&a, b"PGDMP...").unwrap();
        let old = Utc::now() - TimeDelta::days(3);
        fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(old.into())
            .unwrap();
        let sub = d.path().join("remote");
        mkdir_private(&sub).unwrap();
        let b = sub.join("validator-x.dump");
        copy_private(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"PGDMP...");
        let mode = fs::metadata(&b).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::write(sub.join("notes.txt"), b"x").unwrap();
        let listed = dumps_in(&sub).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1.timestamp(), old.timestamp());
        assert!(write_new_private(&b, b"again").is_err(), "never overwrites");
    }
}
