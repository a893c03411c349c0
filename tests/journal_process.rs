//! Journal tests that need whole processes: the single-writer lock across processes (T4, R10)
//! and file modes under different umasks (T13, R21).
//!
//! This binary has its own `main` (no libtest harness): the umask is process-wide, so these tests
//! run one after another on the main thread, and the lock tests re-execute this binary in a
//! helper role (`CDR_JOURNAL_TEST_ROLE`). Accepts a name filter, `--exact` and `--list` like a
//! libtest binary.

use std::env;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canton_dr::journal::{
    self, HolderInfo, IncidentLock, Journal, JournalError, LockError, OpenOutcome, Tail,
};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::{Mode, umask};
use nix::unistd::Pid;

const ROLE: &str = "CDR_JOURNAL_TEST_ROLE";
const DIR: &str = "CDR_JOURNAL_TEST_DIR";
const WRITER_ID: &str = "CDR_JOURNAL_TEST_WRITER";
const DEADLINE: &str = "CDR_JOURNAL_TEST_DEADLINE_MS";

type TestFn = fn();

const TESTS: &[(&str, TestFn)] = &[
    (
        "lock_is_refused_while_held_and_released_by_kill_despite_a_grandchild",
        lock_is_refused_while_held_and_released_by_kill_despite_a_grandchild,
    ),
    (
        "two_concurrent_writers_exactly_one_writes",
        two_concurrent_writers_exactly_one_writes,
    ),
    (
        "modes_are_private_under_any_umask",
        modes_are_private_under_any_umask,
    ),
    (
        "loosened_or_foreign_files_are_refused",
        loosened_or_foreign_files_are_refused,
    ),
];

fn main() {
    if let Ok(role) = env::var(ROLE) {
        match role.as_str() {
            "hold" => role_hold(),
            "writer" => role_writer(),
            other => panic!("unknown helper role {other}"),
        }
        return;
    }
    let args: Vec<String> = env::args().skip(1).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let selected: Vec<&(&str, TestFn)> = TESTS
        .iter()
        .filter(|(name, _)| match &filter {
            None => true,
            Some(f) if exact => name == f,
            Some(f) => name.contains(f.as_str()),
        })
        .collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for (name, _) in &selected {
                println!("{name}: test");
            }
        }
        return;
    }
    println!("\nrunning {} tests", selected.len());
    for (name, test) in &selected {
        print!("test {name} ... ");
        std::io::stdout().flush().expect("flush");
        test();
        println!("ok");
    }
    println!(
        "\ntest result: ok. {} passed; 0 failed; {} filtered out\n",
        selected.len(),
        TESTS.len() - selected.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn incident() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = journal::create_incident_dir(tmp.path(), "incident").expect("incident dir");
    (tmp, dir)
}

fn helper(role: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(env::current_exe().expect("current exe"));
    cmd.env(ROLE, role)
        .env(DIR, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    cmd
}

fn read_line(child: &mut Child) -> String {
    let out = child.stdout.as_mut().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).expect("read helper output") == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8(line).expect("utf-8")
}

/// Kills a process (not our child) when dropped, so that a failing test leaves nothing behind.
struct KillOnDrop(Pid);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
    }
}

fn alive(pid: Pid) -> bool {
    kill(pid, None).is_ok()
}

fn recovery(r: &journal::TornRepair) -> Vec<u8> {
    format!(
        "{{\"kind\":\"RECOVERY\",\"truncated_bytes\":{}}}",
        r.truncated_bytes
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Helper roles (run in a child process)

/// Takes the lock, journals one record, starts a long-running grandchild and waits forever.
// The grandchild is never waited for on purpose: it must outlive this helper.
#[allow(clippy::zombie_processes)]
fn role_hold() {
    let dir = PathBuf::from(env::var(DIR).expect("dir"));
    let _lock = IncidentLock::acquire(&dir, &HolderInfo::current()).expect("acquire");
    let mut j = Journal::create(&dir).expect("create");
    j.append(b"{\"kind\":\"INCIDENT_CREATED\"}")
        .expect("append");
    let sleeper = Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    println!("ready {}", sleeper.id());
    std::io::stdout().flush().expect("flush");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Until the deadline: holds the lock once it has it and appends records; otherwise counts
/// refusals. Then reports and waits for stdin to close before releasing anything.
fn role_writer() {
    let dir = PathBuf::from(env::var(DIR).expect("dir"));
    let id = env::var(WRITER_ID).expect("writer id");
    let deadline_ms: u128 = env::var(DEADLINE).expect("deadline").parse().expect("ms");
    let now_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis()
    };
    let mut held: Option<(IncidentLock, Journal)> = None;
    let (mut wrote, mut refused) = (0u64, 0u64);
    while now_ms() < deadline_ms {
        match &mut held {
            Some((_, j)) => {
                let payload = format!("{{\"writer\":\"{id}\",\"n\":{wrote}}}");
                j.append(payload.as_bytes()).expect("append");
                wrote += 1;
            }
            None => match IncidentLock::acquire(&dir, &HolderInfo::current()) {
                Ok(lock) => {
                    let j = if dir.join(journal::JOURNAL_FILE).exists() {
                        Journal::open(&dir, recovery).expect("open").0
                    } else {
                        Journal::create(&dir).expect("create")
                    };
                    held = Some((lock, j));
                }
                Err(LockError::Held { .. }) => {
                    refused += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("writer {id}: {e}"),
            },
        }
    }
    println!("writer {id} wrote {wrote} refused {refused}");
    std::io::stdout().flush().expect("flush");
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    drop(held);
}

// ---------------------------------------------------------------------------------------------
// T4

fn lock_is_refused_while_held_and_released_by_kill_despite_a_grandchild() {
    let (_tmp, dir) = incident();
    let mut holder = helper("hold", &dir).spawn().expect("spawn holder");
    let ready = read_line(&mut holder);
    let sleeper = Pid::from_raw(
        ready
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected helper output {ready:?}")),
    );
    let _cleanup = KillOnDrop(sleeper);
    let journal_before = fs::read(dir.join(journal::JOURNAL_FILE)).expect("read journal");

    // A second instance is refused at once and told who holds the incident.
    let err = IncidentLock::acquire(&dir, &HolderInfo::current()).expect_err("held");
    let LockError::Held { holder: who, .. } = &err else {
        panic!("expected Held, got {err}");
    };
    let me = HolderInfo::current();
    assert!(
        who.starts_with(&format!(
            "{}@{} pid {} since ",
            me.user,
            me.host,
            holder.id()
        )),
        "{who}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("incident incident is held by {}@", me.user)),
        "{err}"
    );
    assert_eq!(
        fs::read(dir.join(journal::JOURNAL_FILE)).expect("read"),
        journal_before
    );

    // The grandchild did not inherit the lock descriptor.
    let lock_path = fs::canonicalize(dir.join(journal::LOCK_FILE)).expect("canonical");
    for fd in fs::read_dir(format!("/proc/{sleeper}/fd")).expect("list grandchild fds") {
        let target = fs::read_link(fd.expect("fd").path()).unwrap_or_default();
        assert_ne!(target, lock_path, "the grandchild holds the lock file open");
    }

    // kill -9 the holder: the lock is free although its grandchild still runs.
    holder.kill().expect("SIGKILL holder");
    holder.wait().expect("reap holder");
    assert!(
        alive(sleeper),
        "the grandchild must outlive the holder for this test"
    );
    let lock = IncidentLock::acquire(&dir, &HolderInfo::current()).expect("acquire after kill");
    let (_, records, outcome) = Journal::open(&dir, recovery).expect("open");
    assert_eq!((records.len(), outcome), (1, OpenOutcome::Clean));
    drop(lock);
}

fn two_concurrent_writers_exactly_one_writes() {
    let (_tmp, dir) = incident();
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 2000;
    let mut writers: Vec<Child> = ["a", "b"]
        .iter()
        .map(|id| {
            helper("writer", &dir)
                .env(WRITER_ID, id)
                .env(DEADLINE, deadline.to_string())
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    let reports: Vec<(String, u64, u64)> = writers
        .iter_mut()
        .map(|w| {
            let line = read_line(w);
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[..] {
                ["writer", id, "wrote", wrote, "refused", refused] => (
                    id.to_string(),
                    wrote.parse().expect("count"),
                    refused.parse().expect("count"),
                ),
                _ => panic!("unexpected writer output {line:?}"),
            }
        })
        .collect();
    for w in &mut writers {
        drop(w.stdin.take());
    }
    for w in &mut writers {
        assert!(w.wait().expect("wait writer").success());
    }

    let writing: Vec<&(String, u64, u64)> = reports.iter().filter(|r| r.1 > 0).collect();
    assert_eq!(
        writing.len(),
        1,
        "exactly one writer may write: {reports:?}"
    );
    let (winner, wrote, _) = writing[0];
    let loser = reports.iter().find(|r| r.1 == 0).expect("a refused writer");
    assert!(loser.2 > 0, "the other writer must have tried: {reports:?}");

    let report = journal::verify(&dir, None, Some(*wrote)).expect("verify");
    assert!(report.ok(), "{report}");
    let bytes = fs::read(dir.join(journal::JOURNAL_FILE)).expect("read");
    let s = journal::scan(&bytes).expect("scan");
    let tag = format!("\"writer\":\"{winner}\"");
    assert!(
        s.records
            .iter()
            .all(|r| String::from_utf8_lossy(&r.payload).contains(&tag)),
        "records from more than one writer"
    );
}

// ---------------------------------------------------------------------------------------------
// T13

fn assert_private_tree(dir: &Path, umask_bits: u32) {
    for entry in fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        let meta = fs::symlink_metadata(&path).expect("stat");
        let mode = meta.mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "umask {umask_bits:03o}: {}", path.display());
            assert_private_tree(&path, umask_bits);
        } else {
            assert_eq!(mode, 0o600, "umask {umask_bits:03o}: {}", path.display());
        }
    }
}

fn modes_are_private_under_any_umask() {
    for bits in [0o022, 0o002, 0o000, 0o077] {
        let previous = umask(Mode::from_bits_truncate(bits));
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("data").join("canton-dr");
        let dir = journal::create_incident_dir(&root, "incident").expect("incident dir");
        let lock = IncidentLock::acquire(&dir, &HolderInfo::current()).expect("lock");
        let mut j = Journal::create(&dir).expect("create");
        j.append(b"{\"kind\":\"INCIDENT_CREATED\"}")
            .expect("append");
        drop(j);
        // A torn tail makes a quarantine copy; an export goes through write_atomic.
        let path = dir.join(journal::JOURNAL_FILE);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(&[1, 2, 3]).expect("tear");
        drop(f);
        let (_, _, outcome) = Journal::open(&dir, recovery).expect("repair");
        assert!(matches!(outcome, OpenOutcome::TornRepaired { .. }));
        journal::write_atomic(&dir, "transcript.md", b"# transcript\n").expect("export");
        drop(lock);
        umask(previous);

        let names: Vec<String> = fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_private_tree(&root, bits);
        for d in [&tmp.path().join("data"), &root] {
            assert_eq!(fs::metadata(d).expect("stat").mode() & 0o777, 0o700);
        }
    }
}

fn loosened_or_foreign_files_are_refused() {
    let (_tmp, dir) = incident();
    let mut j = Journal::create(&dir).expect("create");
    j.append(b"{}").expect("append");
    drop(j);
    let path = dir.join(journal::JOURNAL_FILE);

    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Journal::open(&dir, recovery).expect_err("0644 journal");
    assert!(
        matches!(err, JournalError::InsecurePermissions { .. }),
        "{err}"
    );
    assert!(journal::accept_truncation(&dir, 8, recovery).is_err());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");

    let lock_path = dir.join(journal::LOCK_FILE);
    drop(IncidentLock::acquire(&dir, &HolderInfo::current()).expect("lock"));
    fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o660)).expect("chmod");
    let err = IncidentLock::acquire(&dir, &HolderInfo::current()).expect_err("0660 lock");
    assert!(
        matches!(
            err,
            LockError::Journal(JournalError::InsecurePermissions { .. })
        ),
        "{err}"
    );
    fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o600)).expect("chmod");

    if nix::unistd::geteuid().is_root() {
        let nobody = nix::unistd::Uid::from_raw(65534);
        nix::unistd::chown(&path, Some(nobody), None).expect("chown");
        let err = Journal::open(&dir, recovery).expect_err("foreign owner");
        assert!(
            matches!(err, JournalError::WrongOwner { owner: 65534, .. }),
            "{err}"
        );
        nix::unistd::chown(dir.as_path(), Some(nobody), None).expect("chown dir");
        let err = IncidentLock::acquire(&dir, &HolderInfo::current()).expect_err("foreign dir");
        assert!(
            matches!(err, LockError::Journal(JournalError::WrongOwner { .. })),
            "{err}"
        );
        nix::unistd::chown(dir.as_path(), Some(nix::unistd::geteuid()), None).expect("chown back");
    } else {
        print!("(ownership checks need root to chown; not run) ");
    }
    let untouched = journal::scan(&fs::read(&path).expect("read")).expect("scan");
    assert_eq!((untouched.tail, untouched.records.len()), (Tail::Clean, 1));
}
