//! What the secret canary tests (T11) share: unique random canaries, every encoded form of
//! one, a search of bytes for all of them, a sampler of the process table that keeps the
//! command line of every process a drill spawns, and the drill and export commands.

#![allow(dead_code)] // each test binary uses its part

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::Rng;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Drills run one at a time (the machine has two cores).
pub fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_canton-dr")
}

/// The secrets of one drill, each a unique random value with characters that URL encoding
/// changes.
#[derive(Debug, Clone)]
pub struct Canaries {
    pub token: String,
    pub db_password: String,
    pub identity_key: String,
}

fn random_hex() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    hex::encode(bytes)
}

impl Canaries {
    pub fn new() -> Canaries {
        Canaries {
            token: format!("tok+{}/canary@T", random_hex()),
            db_password: format!("pw/{}+canary@P", random_hex()),
            identity_key: format!("key@{}/canary+K", random_hex()),
        }
    }

    /// (name, value) of each.
    pub fn all(&self) -> [(&'static str, &str); 3] {
        [
            ("token", self.token.as_str()),
            ("db password", self.db_password.as_str()),
            ("identity key", self.identity_key.as_str()),
        ]
    }

    /// The environment a drill gets them from.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("CANTON_DR_SANDBOX_TOKEN", &self.token)
            .env("CANTON_DR_SANDBOX_DB_PASSWORD", &self.db_password)
            .env("CANTON_DR_SANDBOX_IDENTITY_KEY", &self.identity_key);
    }
}

/// Percent-encodes every byte that is not an unreserved URL character.
fn percent(value: &[u8], upper: bool) -> String {
    value
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// Every form of `value` searched for: (form name, bytes).
pub fn forms(value: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("raw", value.to_vec()),
        ("base64", STANDARD.encode(value).into_bytes()),
        (
            "base64 unpadded",
            STANDARD_NO_PAD.encode(value).into_bytes(),
        ),
        ("base64url", URL_SAFE.encode(value).into_bytes()),
        (
            "base64url unpadded",
            URL_SAFE_NO_PAD.encode(value).into_bytes(),
        ),
        ("percent-encoded", percent(value, true).into_bytes()),
        ("percent-encoded lower", percent(value, false).into_bytes()),
        ("hex", hex::encode(value).into_bytes()),
        ("HEX", hex::encode_upper(value).into_bytes()),
    ]
}

/// Every form of every canary, searched in one pass.
pub struct Needles {
    matcher: aho_corasick::AhoCorasick,
    labels: Vec<String>,
}

impl Needles {
    pub fn new(canaries: &[(&'static str, Vec<u8>)]) -> Needles {
        let mut labels = Vec::new();
        let mut patterns = Vec::new();
        for (name, value) in canaries {
            for (form, needle) in forms(value) {
                labels.push(format!("{name} ({form})"));
                patterns.push(needle);
            }
        }
        Needles {
            matcher: aho_corasick::AhoCorasick::new(&patterns).expect("needles"),
            labels,
        }
    }

    /// Where the canaries show up in `bytes`: "token (base64)" and so on.
    pub fn hits(&self, bytes: &[u8]) -> Vec<String> {
        let found: BTreeSet<usize> = self
            .matcher
            .find_overlapping_iter(bytes)
            .map(|m| m.pattern().as_usize())
            .collect();
        found.into_iter().map(|i| self.labels[i].clone()).collect()
    }
}

/// Every regular file under `dir` (symbolic links not followed) except under `skip`.
pub fn files_under(dir: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if skip.iter().any(|s| path.starts_with(s)) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            out.extend(files_under(&path, skip));
        } else if meta.is_file() {
            out.push(path);
        }
    }
    out
}

/// Searches every file under `dir` (except `skip`); returns "file: canary (form)" per hit and
/// how many files were read.
pub fn leaks_in_files(dir: &Path, skip: &[PathBuf], needles: &Needles) -> (Vec<String>, usize) {
    let mut leaks = Vec::new();
    let mut read = 0;
    for f in files_under(dir, skip) {
        let Ok(bytes) = std::fs::read(&f) else {
            continue; // removed meanwhile
        };
        read += 1;
        for h in needles.hits(&bytes) {
            leaks.push(format!("{}: {h}", f.display()));
        }
    }
    (leaks, read)
}

/// A process seen while sampling.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Every distinct command line it had.
    pub cmdlines: BTreeSet<Vec<u8>>,
}

/// Samples the process table until stopped: every descendant of the roots (a process counts
/// as one from the first sample that shows its parent as one), and every process whose
/// command line mentions one of the watched strings, has its `/proc/<pid>/cmdline` kept.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    roots: Arc<Mutex<BTreeSet<i32>>>,
    handle: JoinHandle<(BTreeMap<i32, Seen>, u64)>,
}

fn stat_ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

impl Sampler {
    pub fn start(watch: Vec<String>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let roots = Arc::new(Mutex::new(BTreeSet::new()));
        let (s, r) = (Arc::clone(&stop), Arc::clone(&roots));
        let handle = std::thread::spawn(move || {
            let mut known: BTreeSet<i32> = BTreeSet::new();
            let mut seen: BTreeMap<i32, Seen> = BTreeMap::new();
            let mut samples = 0u64;
            loop {
                let last = s.load(Ordering::SeqCst);
                known.extend(r.lock().unwrap_or_else(PoisonError::into_inner).iter());
                let mut table: Vec<(i32, i32, Vec<u8>)> = Vec::new();
                if let Ok(dir) = std::fs::read_dir("/proc") {
                    for e in dir.flatten() {
                        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse().ok()) else {
                            continue;
                        };
                        let Some(ppid) = stat_ppid(pid) else { continue };
                        let cmdline =
                            std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                        table.push((pid, ppid, cmdline));
                    }
                }
                // Parents before children need not hold: repeat until nothing is added.
                loop {
                    let before = known.len();
                    for (pid, ppid, cmdline) in &table {
                        let watched = watch
                            .iter()
                            .any(|w| cmdline.windows(w.len()).any(|x| x == w.as_bytes()));
                        if known.contains(ppid) || watched {
                            known.insert(*pid);
                        }
                    }
                    if known.len() == before {
                        break;
                    }
                }
                for (pid, _, cmdline) in table {
                    if known.contains(&pid) && !cmdline.is_empty() {
                        seen.entry(pid).or_default().cmdlines.insert(cmdline);
                    }
                }
                samples += 1;
                if last {
                    return (seen, samples);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Sampler {
            stop,
            roots,
            handle,
        }
    }

    /// Follows `pid` and its descendants from the next sample on.
    pub fn follow(&self, pid: u32) {
        if let Ok(pid) = i32::try_from(pid) {
            self.roots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(pid);
        }
    }

    /// Takes one last sample and returns what was seen, and how many samples were taken.
    pub fn finish(self) -> (BTreeMap<i32, Seen>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("the sampler thread")
    }
}

/// The output of a finished command.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Ran {
    pub fn text(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

/// Runs `canton-dr --data-dir DATA ARGS` with the canaries in its environment, its pid
/// followed by `sampler`; fails the test after `limit`.
pub fn run(
    data: &Path,
    args: &[&str],
    canaries: &Canaries,
    extra_env: &[(&str, &str)],
    sampler: &Sampler,
    limit: Duration,
) -> Ran {
    let mut cmd = Command::new(bin());
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("CANTON_DR_OPERATOR", "canary-test")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    canaries.apply(&mut cmd);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start canton-dr");
    sampler.follow(child.id());
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "canton-dr {args:?} gave no result within {}s",
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ran {
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// The one incident under `data`.
pub fn incident(data: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(data.join("incidents"))
        .expect("incidents")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// The pids the journal says command steps ran as.
pub fn step_pids(incident: &Path) -> Vec<i32> {
    let bytes = std::fs::read(incident.join("journal.rbj")).expect("journal");
    let scan = canton_dr::journal::scan(&bytes).expect("scan");
    scan.records
        .iter()
        .filter_map(|r| {
            match canton_dr::engine::record::Record::decode(r.seq, &r.payload)
                .ok()?
                .event
            {
                canton_dr::engine::record::Event::StepSpawned { pid, .. } => {
                    i32::try_from(pid).ok()
                }
                _ => None,
            }
        })
        .collect()
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next()),
            Some("Z" | "X")
        )
    })
}

/// Stops the drill's sandbox (left running) and waits until it and its directories are gone.
pub fn shut_down(
    data: &Path,
    incident: &Path,
    canaries: &Canaries,
    sampler: &Sampler,
    info: &serde_json::Value,
) -> Ran {
    let sandbox = incident.join("sandbox");
    let out = run(
        data,
        &[
            "sandbox",
            "ctl",
            "--dir",
            sandbox.to_str().expect("utf-8"),
            "sandbox",
            "shutdown",
        ],
        canaries,
        &[],
        sampler,
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let pid = info["pid"].as_i64().expect("pid");
    let pg_dir = PathBuf::from(info["pg_dir"].as_str().expect("pg_dir"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while alive(pid) || sandbox.exists() || pg_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "the sandbox (pid {pid}) or its directories are left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    out
}

/// Stops a drill's sandbox when dropped, unless it is already gone: a failed assertion must
/// not leave a sandbox running.
pub struct SandboxGuard {
    pub dir: PathBuf,
}

impl Drop for SandboxGuard {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = Command::new(bin())
                .args(["sandbox", "ctl", "--dir"])
                .arg(&self.dir)
                .args(["sandbox", "shutdown"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// What `sandbox up --json` printed into the incident's sandbox log.
pub fn sandbox_info(incident: &Path) -> serde_json::Value {
    let log = std::fs::read_to_string(incident.join("sandbox.log")).expect("sandbox.log");
    let line = log
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no sandbox.json line in the log:\n{log}"));
    serde_json::from_str(line).expect("sandbox info")
}
