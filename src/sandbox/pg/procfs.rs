//! What `/proc` tells us about processes: start times (to recognise a pid that was reused),
//! liveness, and which processes work inside a cluster directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A process identified by its pid and its start time (clock ticks since boot, field 22 of
/// `/proc/<pid>/stat`), which together survive pid reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    /// The process id.
    pub pid: i32,
    /// Start time in clock ticks after boot.
    pub start_time: u64,
}

impl ProcessId {
    /// The calling process.
    pub fn current() -> Option<ProcessId> {
        let pid = i32::try_from(std::process::id()).ok()?;
        Some(ProcessId {
            pid,
            start_time: start_time(pid)?,
        })
    }

    /// Is this very process (same pid, same start time) still running (and not a zombie)?
    pub fn is_alive(&self) -> bool {
        match stat_fields(self.pid) {
            Some(fields) => {
                fields.state != 'Z' && fields.state != 'X' && fields.start_time == self.start_time
            }
            None => false,
        }
    }
}

/// The fields of `/proc/<pid>/stat` that we use.
struct StatFields {
    state: char,
    start_time: u64,
}

/// Reads the state (field 3) and start time (field 22) of a process.
fn stat_fields(pid: i32) -> Option<StatFields> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<StatFields> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 was the state; field 22 is 19 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(StatFields { state, start_time })
}

/// The start time of a process, if it exists.
pub fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid).map(|f| f.start_time)
}

/// Is `pid` a live process (not a zombie)?
pub fn pid_alive(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|f| f.state != 'Z' && f.state != 'X')
}

/// Live processes whose working directory or command line points into `dir`.
///
/// PostgreSQL's postmaster and all its backends run with the data directory as their working
/// directory, so this finds a cluster's processes even when `postmaster.pid` is gone.
pub fn processes_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let dir_text = dir.to_string_lossy().into_owned();
    let dir_prefix = format!("{dir_text}/");
    let own = i32::try_from(std::process::id()).unwrap_or(-1);
    let mut found = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == own || !pid_alive(pid) {
            continue;
        }
        let cwd_inside = std::fs::read_link(entry.path().join("cwd"))
            .ok()
            .is_some_and(|cwd| path_inside(&cwd, dir));
        let cmdline_mentions = std::fs::read(entry.path().join("cmdline"))
            .ok()
            .is_some_and(|raw| {
                raw.split(|b| *b == 0)
                    .map(String::from_utf8_lossy)
                    .any(|arg| arg == dir_text || arg.contains(&dir_prefix))
            });
        if cwd_inside || cmdline_mentions {
            found.push(pid);
        }
    }
    found
}

/// The programs a cluster runs: the server (every backend keeps the executable's name as its
/// `comm`) and `initdb` while it creates the data directory.
const SERVER_PROGRAMS: [&str; 3] = ["postgres", "postmaster", "initdb"];

/// Like [`processes_in`], but only the cluster's own server programs: an operator's shell or
/// `tail` of the log in that directory is never touched.
pub fn server_processes_in(dir: &Path) -> Vec<i32> {
    processes_in(dir)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| SERVER_PROGRAMS.contains(&comm.trim_end()))
        })
        .collect()
}

/// Is `path` (as read from `/proc/<pid>/cwd`, possibly suffixed " (deleted)") inside `dir`?
fn path_inside(path: &Path, dir: &Path) -> bool {
    if path.starts_with(dir) {
        return true;
    }
    let text = path.to_string_lossy();
    text.strip_suffix(" (deleted)")
        .is_some_and(|p| PathBuf::from(p).starts_with(dir))
}

/// Sends `signal` to `pid`, ignoring a process that is already gone.
pub fn signal(pid: i32, signal: Signal) {
    let _ = kill(Pid::from_raw(pid), signal);
}

/// Waits (polling, bounded by `limit`) until no server process works inside `dir`.
/// Returns the processes still there when the time ran out.
pub fn wait_until_gone(dir: &Path, limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let left = server_processes_in(dir);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops every server process working inside `dir`: SIGQUIT to `postmaster` (immediate
/// shutdown, it takes its backends along), then SIGKILL to whatever is left. Returns the
/// processes found there, and those still alive at the end (normally none).
pub fn terminate_all_in(dir: &Path, postmaster: Option<i32>) -> (Vec<i32>, Vec<i32>) {
    let present = server_processes_in(dir);
    if present.is_empty() {
        return (present, Vec::new());
    }
    if let Some(pm) = postmaster.filter(|pm| present.contains(pm)) {
        signal(pm, Signal::SIGQUIT);
    }
    let left = wait_until_gone(dir, Duration::from_secs(5));
    for pid in &left {
        signal(*pid, Signal::SIGKILL);
    }
    let survivors = wait_until_gone(dir, Duration::from_secs(5));
    (present, survivors)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let line = "4242 (post) gres (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000 10 18446744073709551615";
        let f = parse_stat(line).unwrap();
        assert_eq!(f.state, 'S');
        assert_eq!(f.start_time, 987_654);
    }

    #[test]
    fn the_current_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessId::current().unwrap();
        assert!(me.is_alive());
        let reused = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!reused.is_alive());
    }

    #[test]
    fn finds_a_process_by_its_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(dir.path())
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        assert_eq!(processes_in(dir.path()), vec![pid]);
        assert!(
            server_processes_in(dir.path()).is_empty(),
            "a program that is not the server is never a kill candidate"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(processes_in(dir.path()).is_empty());
    }

    #[test]
    fn deleted_directories_still_match() {
        assert!(path_inside(
            Path::new("/tmp/x/data (deleted)"),
            Path::new("/tmp/x")
        ));
        assert!(!path_inside(Path::new("/tmp/xy"), Path::new("/tmp/x")));
    }
}
