//! The single-writer lock of an incident (R10): an exclusive `flock` (std's `File::try_lock`)
//! on `<incident-dir>/journal.lock`.
//!
//! The lock file is never deleted; who holds the lock is decided by the kernel alone. The holder
//! writes `user@host pid N since T` into the file after locking, only so that a refused second
//! instance can say who holds it. The descriptor is close-on-exec (the std default), so step
//! processes never inherit it, and the lock is released when the holder exits, however it dies.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use super::LOCK_FILE;
use super::error::JournalError;
use super::fsutil::{FILE_MODE, check_incident_dir, check_private_file};
use super::writer::incident_name;

/// Who holds an incident, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderInfo {
    /// The OS user name.
    pub user: String,
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// When the lock was taken.
    pub since: DateTime<Utc>,
}

impl HolderInfo {
    /// This process: effective user, host name, pid, now.
    pub fn current() -> HolderInfo {
        let uid = nix::unistd::geteuid();
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| format!("uid {uid}"));
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown-host".to_string());
        HolderInfo {
            user,
            host,
            pid: std::process::id(),
            since: Utc::now(),
        }
    }
}

impl fmt::Display for HolderInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} pid {} since {}",
            self.user,
            self.host,
            self.pid,
            self.since.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the incident.
    #[error("incident {incident} is held by {holder}")]
    Held {
        /// The incident (directory name).
        incident: String,
        /// `user@host pid N since T` as the holder wrote it, or "another process".
        holder: String,
    },
    /// The directory or lock file failed a check, or an I/O error occurred.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The exclusive right to write an incident's journal. Released on drop.
#[derive(Debug)]
pub struct IncidentLock {
    file: File,
    path: PathBuf,
}

impl IncidentLock {
    /// Takes the lock of the incident in `dir` without waiting, and records `holder` in the lock
    /// file. Fails with [`LockError::Held`] if another open file description holds it (another
    /// process, or another acquire in this one).
    pub fn acquire(dir: &Path, holder: &HolderInfo) -> Result<IncidentLock, LockError> {
        check_incident_dir(dir)?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| JournalError::io("open the lock file", &path, e))?;
        check_private_file(&path, &file)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    incident: incident_name(dir),
                    holder: read_holder(&path),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(JournalError::io("lock", &path, e).into());
            }
        }
        let line = format!("{holder}\n");
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .and_then(|()| file.set_len(0))
            .and_then(|()| file.write_all_at(line.as_bytes(), 0))
            .and_then(|()| file.sync_all())
            .map_err(|e| JournalError::io("record the holder in", &path, e))?;
        Ok(IncidentLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for IncidentLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock too; unlocking first makes the release
        // independent of any descriptor copies.
        let _ = self.file.unlock();
    }
}

/// The holder line of a lock file, sanitised for display, or "another process".
fn read_holder(path: &Path) -> String {
    let mut raw = Vec::new();
    let read = File::open(path).and_then(|f| f.take(4096).read_to_end(&mut raw));
    if read.is_err() {
        return "another process".to_string();
    }
    let text = String::from_utf8_lossy(&raw);
    let line: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    match line.trim() {
        "" => "another process".to_string(),
        holder => holder.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(pid: u32) -> HolderInfo {
        HolderInfo {
            user: "oncall".into(),
            host: "dr-host".into(),
            pid,
            since: DateTime::parse_from_rfc3339("2026-11-22T03:15:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn second_acquire_is_refused_with_the_holder_and_drop_releases() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = super::super::create_incident_dir(tmp.path(), "inc-7").unwrap();
        let first = IncidentLock::acquire(&dir, &holder(41)).unwrap();
        let err = IncidentLock::acquire(&dir, &holder(42)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "incident inc-7 is held by oncall@dr-host pid 41 since 2026-11-22T03:15:00Z"
        );
        drop(first);
        let second = IncidentLock::acquire(&dir, &holder(42)).unwrap();
        let text = fs::read_to_string(second.path()).unwrap();
        assert_eq!(text, "oncall@dr-host pid 42 since 2026-11-22T03:15:00Z\n");
    }

    #[test]
    fn unreadable_or_empty_holder_reads_as_another_process() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("journal.lock");
        assert_eq!(read_holder(&path), "another process");
        fs::write(&path, b"\n\x07\n").unwrap();
        assert_eq!(read_holder(&path), "another process");
        fs::write(&path, b"a@b pid 1 since x\x1b[31m\nrest").unwrap();
        assert_eq!(read_holder(&path), "a@b pid 1 since x[31m");
    }

    #[test]
    fn world_readable_lock_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = super::super::create_incident_dir(tmp.path(), "inc").unwrap();
        let path = dir.join(LOCK_FILE);
        fs::write(&path, b"").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = IncidentLock::acquire(&dir, &holder(1)).unwrap_err();
        assert!(
            matches!(
                err,
                LockError::Journal(JournalError::InsecurePermissions { .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn current_holder_names_this_process() {
        let h = HolderInfo::current();
        assert_eq!(h.pid, std::process::id());
        assert!(!h.user.is_empty() && !h.host.is_empty());
        assert!(h.to_string().contains(&format!("pid {}", h.pid)));
    }
}
