//! Cleaning up after owners that died without stopping their cluster.

use std::fs;
use std::path::{Path, PathBuf};

use super::PgError;
use super::init::OWNER_FILE;
use super::procfs::{self, ProcessId};

/// What [`super::PgCluster::sweep_stale`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Cluster directories removed.
    pub removed: Vec<PathBuf>,
    /// Processes of dead owners' clusters that were found running and stopped.
    pub stopped_processes: Vec<i32>,
    /// Directories of dead owners left in place because they were started with `keep`.
    pub kept: Vec<PathBuf>,
    /// Directories that could not be cleaned up, with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

impl SweepReport {
    /// Did the sweep find nothing to do?
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty()
            && self.stopped_processes.is_empty()
            && self.kept.is_empty()
            && self.failed.is_empty()
    }
}

/// The owner of a cluster directory as recorded in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    process: ProcessId,
    keep: bool,
}

/// Reads the owner file; falls back to the directory name `pg-<pid>-<start>-<random>`.
fn owner_of(dir: &Path) -> Option<Owner> {
    if let Ok(text) = fs::read_to_string(dir.join(OWNER_FILE))
        && let Some(owner) = parse_owner_file(&text)
    {
        return Some(owner);
    }
    let name = dir.file_name()?.to_str()?;
    let mut parts = name.strip_prefix("pg-")?.split('-');
    let pid = parts.next()?.parse().ok()?;
    let start_time = parts.next()?.parse().ok()?;
    parts.next()?;
    Some(Owner {
        process: ProcessId { pid, start_time },
        keep: false,
    })
}

fn parse_owner_file(text: &str) -> Option<Owner> {
    let mut pid = None;
    let mut start_time = None;
    let mut keep = false;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("owner_pid", v)) => pid = v.trim().parse().ok(),
            Some(("owner_start_time", v)) => start_time = v.trim().parse().ok(),
            Some(("keep", v)) => keep = v.trim() == "true",
            _ => {}
        }
    }
    Some(Owner {
        process: ProcessId {
            pid: pid?,
            start_time: start_time?,
        },
        keep,
    })
}

/// The postmaster pid from `data/postmaster.pid` (first line), if present.
fn postmaster_pid(dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(dir.join("data").join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

pub(super) fn sweep_stale(root: &Path) -> Result<SweepReport, PgError> {
    let mut report = SweepReport::default();
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(source) => {
            return Err(PgError::Io {
                what: "listing the cluster root",
                path: root.to_owned(),
                source,
            });
        }
    };
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        let is_cluster_dir = entry.file_type().is_ok_and(|t| t.is_dir())
            && entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("pg-"));
        if !is_cluster_dir {
            continue;
        }
        let Some(owner) = owner_of(&dir) else {
            continue;
        };
        if owner.process.is_alive() {
            continue;
        }
        let (found, survivors) = procfs::terminate_all_in(&dir, postmaster_pid(&dir));
        report.stopped_processes.extend(found);
        if !survivors.is_empty() {
            report
                .failed
                .push((dir, format!("processes {survivors:?} did not stop")));
            continue;
        }
        if owner.keep {
            report.kept.push(dir);
            continue;
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => report.removed.push(dir),
            Err(e) => report.failed.push((dir, e.to_string())),
        }
    }
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;

    #[test]
    fn owner_comes_from_the_file_or_the_name() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pg-12-345-0000abcd");
        fs::create_dir(&dir).unwrap();
        assert_eq!(
            owner_of(&dir),
            Some(Owner {
                process: ProcessId {
                    pid: 12,
                    start_time: 345
                },
                keep: false
            })
        );
        fs::write(
            dir.join(OWNER_FILE),
            "owner_pid=77\nowner_start_time=88\nkeep=true\n",
        )
        .unwrap();
        assert_eq!(
            owner_of(&dir),
            Some(Owner {
                process: ProcessId {
                    pid: 77,
                    start_time: 88
                },
                keep: true
            })
        );
        assert_eq!(owner_of(&root.path().join("pg-notes")), None);
    }

    #[test]
    fn a_missing_root_is_an_empty_sweep() {
        let root = tempfile::tempdir().unwrap();
        let report = sweep_stale(&root.path().join("absent")).unwrap();
        assert!(report.is_empty());
    }

    fn which_sleep() -> PathBuf {
        ["/usr/bin/sleep", "/bin/sleep"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap()
    }

    /// A dead owner's directory with a process still working in it: the process is stopped
    /// (first SIGQUIT through postmaster.pid) and the directory removed. A live owner's
    /// directory and a kept directory stay.
    #[test]
    fn sweeps_dead_owners_only() {
        let root = tempfile::tempdir().unwrap();
        // A process that has certainly exited gives us a dead owner.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = i32::try_from(gone.id()).unwrap();
        gone.wait().unwrap();

        let stale = root.path().join(format!("pg-{gone_pid}-1-00000001"));
        fs::create_dir_all(stale.join("data")).unwrap();
        fs::write(
            stale.join(OWNER_FILE),
            format!("owner_pid={gone_pid}\nowner_start_time=1\nkeep=false\n"),
        )
        .unwrap();
        // A stand-in server: `sleep` run under the name "postgres".
        let fake_server = root.path().join("postgres");
        std::os::unix::fs::symlink(which_sleep(), &fake_server).unwrap();
        let mut orphan = std::process::Command::new(&fake_server)
            .arg("300")
            .current_dir(stale.join("data"))
            .spawn()
            .unwrap();
        let orphan_pid = i32::try_from(orphan.id()).unwrap();
        fs::write(
            stale.join("data/postmaster.pid"),
            format!("{orphan_pid}\n/ignored\n"),
        )
        .unwrap();

        let kept = root.path().join(format!("pg-{gone_pid}-1-00000002"));
        fs::create_dir_all(&kept).unwrap();
        fs::write(
            kept.join(OWNER_FILE),
            format!("owner_pid={gone_pid}\nowner_start_time=1\nkeep=true\n"),
        )
        .unwrap();

        let me = ProcessId::current().unwrap();
        let live = root
            .path()
            .join(format!("pg-{}-{}-00000003", me.pid, me.start_time));
        fs::create_dir_all(&live).unwrap();

        let report = sweep_stale(root.path()).unwrap();
        // The orphan is our child: reap it so it does not linger as a zombie.
        let status = orphan.wait().unwrap();
        assert!(!status.success(), "the orphan was signalled: {status:?}");
        assert_eq!(report.removed, vec![stale.clone()]);
        assert_eq!(report.stopped_processes, vec![orphan_pid]);
        assert_eq!(report.kept, vec![kept.clone()]);
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert!(!stale.exists());
        assert!(kept.exists());
        assert!(live.exists());
    }
}
