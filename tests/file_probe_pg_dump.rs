//! The file probes against dumps written by the real `pg_dump` of a throwaway PostgreSQL
//! cluster, cross-checked with `pg_restore -l` where PostgreSQL itself reads the header.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use canton_dr::probe::file::observe;
use canton_dr::probe::{Observed, ProbeRequest};
use canton_dr::runbook::catalog::ProbeKind;
use canton_dr::runbook::expr::Ty;
use canton_dr::runbook::model::ProbeCall;
use canton_dr::value::Value;
use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, Utc};

/// The newest PostgreSQL installation under /usr/lib/postgresql.
fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL must be installed under /usr/lib/postgresql for this test")
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_dump").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/pg_dump: install the PostgreSQL server packages")
        .1
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A PostgreSQL cluster in a temporary directory, reachable only through a Unix socket there,
/// run as the unprivileged `postgres` user. Stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    uid: u32,
    gid: u32,
}

impl Cluster {
    fn start() -> Cluster {
        let bin = pg_bin();
        let user = nix::unistd::User::from_name("postgres")
            .expect("look up the postgres user")
            .expect("a postgres user must exist to run the server as non-root");
        let dir = tempfile::tempdir().expect("temp dir");
        nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).expect("chown temp dir");
        let cluster = Cluster {
            bin,
            dir,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        };
        run(cluster
            .as_postgres("initdb")
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
            .arg("--no-locale")
            .arg("-D")
            .arg(cluster.data()));
        let opts = format!(
            "-k {} -c listen_addresses= -p 5432 -c fsync=off",
            cluster.dir.path().display()
        );
        run(cluster
            .as_postgres("pg_ctl")
            .args(["-w", "-s", "-D"])
            .arg(cluster.data())
            .arg("-l")
            .arg(cluster.dir.path().join("server.log"))
            .args(["-o", &opts, "start"]));
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.uid(self.uid)
            .gid(self.gid)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        cmd
    }

    /// A client tool connected to the cluster, run as the invoking user.
    fn client(&self, tool: &str, tz: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TZ", tz)
            .env("PGHOST", self.dir.path())
            .env("PGPORT", "5432")
            .env("PGUSER", "postgres");
        cmd
    }

    fn sql(&self, db: &str, sql: &str) {
        run(self.client("psql", "UTC").args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            "-c",
            sql,
        ]));
    }

    /// `pg_dump` with the dumping host's clock in zone `tz`.
    fn dump(&self, tz: &str, args: &[&str], out: &Path) {
        run(self.client("pg_dump", tz).args(args).arg("-f").arg(out));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .args(["-w", "-s", "-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
    }
}

fn request(kind: &str, args: &[(&str, &Path)]) -> ProbeRequest {
    ProbeRequest {
        call: ProbeCall {
            kind: ProbeKind::find(kind).expect("catalog kind"),
            args: BTreeMap::new(),
            result_ty: Ty::Dyn,
        },
        args: args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::Text(v.display().to_string())))
            .collect(),
        step: "pg-dump-test".into(),
    }
}

fn dump(path: &Path) -> Observed {
    let o = observe(&request("file.dump", &[("path", path)]), Utc::now())
        .unwrap_or_else(|e| panic!("file.dump {}: {e}", path.display()));
    let fields: Vec<&str> = match &o.value {
        Value::Map(m) => m.keys().map(String::as_str).collect(),
        other => panic!("not a record: {other:?}"),
    };
    let expected: Vec<&str> = ProbeKind::find("file.dump")
        .expect("catalog kind")
        .fixed_outputs()
        .iter()
        .map(|(n, _)| *n)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(fields, expected);
    o
}

fn get<'a>(o: &'a Observed, name: &str) -> &'a Value {
    o.value.field(name).expect("field present")
}

fn text(o: &Observed, name: &str) -> Option<String> {
    match get(o, name) {
        Value::Text(t) => Some(t.clone()),
        Value::Null => None,
        other => panic!("{name}: {other:?}"),
    }
}

fn flag(o: &Observed, name: &str) -> bool {
    match get(o, name) {
        Value::Bool(b) => *b,
        other => panic!("{name}: {other:?}"),
    }
}

fn taken_at(o: &Observed) -> DateTime<Utc> {
    match get(o, "taken_at") {
        Value::Timestamp(t) => *t,
        other => panic!("taken_at: {other:?}"),
    }
}

/// What `pg_restore -l` (run with TZ=UTC, the zone the dump was written in) says about an
/// archive: its creation time and database name.
fn pg_restore_header(cluster: &Cluster, path: &Path) -> (NaiveDateTime, String) {
    let out = run(cluster.client("pg_restore", "UTC").arg("-l").arg(path));
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let created = listing
        .lines()
        .find_map(|l| l.strip_prefix("; Archive created at "))
        .and_then(|s| NaiveDateTime::parse_from_str(s.get(..19)?, "%Y-%m-%d %H:%M:%S").ok())
        .unwrap_or_else(|| panic!("no creation time in:\n{listing}"));
    let db = listing
        .lines()
        .find_map(|l| l.trim_start_matches(';').trim().strip_prefix("dbname: "))
        .unwrap_or_else(|| panic!("no dbname in:\n{listing}"))
        .to_owned();
    (created, db)
}

fn assert_header_time_within(o: &Observed, from: DateTime<Utc>, to: DateTime<Utc>) {
    assert_eq!(
        text(o, "time_basis").as_deref(),
        Some("header"),
        "{}",
        o.summary
    );
    let t = taken_at(o);
    assert!(
        from <= t && t <= to,
        "taken_at {t} should lie between {from} and {to}: {}",
        o.summary
    );
}

fn copy_with(src: &Path, dst: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(src).expect("read dump");
    edit(&mut bytes);
    fs::write(dst, bytes).expect("write copy");
}

#[test]
fn dumps_written_by_pg_dump() {
    let cluster = Cluster::start();
    for db in ["validator", "participant-0"] {
        run(cluster.client("createdb", "UTC").arg(db));
        cluster.sql(
            db,
            "CREATE TABLE offsets (o bigint PRIMARY KEY, record_time timestamptz NOT NULL);
             INSERT INTO offsets SELECT g, now() FROM generate_series(1, 2000) g;",
        );
    }
    let out = tempfile::tempdir().expect("output dir");
    let at = |name: &str| out.path().join(name);

    let before = Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .expect("trunc");
    let custom = at("validator-2026-11-20T04:00:00+00:00.dump");
    cluster.dump("UTC", &["-Fc", "validator"], &custom);
    let tar = at("participant-0-2026-11-20T04:00:00Z.tar");
    cluster.dump("UTC", &["-Ft", "participant-0"], &tar);
    let directory = at("validator.dir");
    cluster.dump("UTC", &["-Fd", "validator"], &directory);
    let verbose = at("validator.sql");
    cluster.dump("UTC", &["-v", "-C", "validator"], &verbose);
    let plain = at("participant.sql");
    cluster.dump("UTC", &["participant-0"], &plain);
    // The same host clock read in another zone: two hours ahead of UTC.
    let early_validator = at("early-validator.dump");
    cluster.dump("UTC", &["-Fc", "validator"], &early_validator);
    let late_participant = at("late-participant.dump");
    cluster.dump("XST-2", &["-Fc", "participant-0"], &late_participant);
    let late_validator = at("late-validator.dump");
    cluster.dump("XST-2", &["-Fc", "validator"], &late_validator);
    let early_participant = at("early-participant.dump");
    cluster.dump("UTC", &["-Fc", "participant-0"], &early_participant);
    let after = Utc::now();

    // Custom format: header, database and time agree with pg_restore's reading.
    let o = dump(&custom);
    assert_eq!(
        text(&o, "format").as_deref(),
        Some("custom"),
        "{}",
        o.summary
    );
    assert!(flag(&o, "header_ok") && flag(&o, "gzip_ok") && !flag(&o, "compressed"));
    assert_eq!(text(&o, "database").as_deref(), Some("validator"));
    assert_header_time_within(&o, before, after);
    let (created, db) = pg_restore_header(&cluster, &custom);
    assert_eq!(taken_at(&o), created.and_utc());
    assert_eq!(db, "validator");
    assert!(
        o.summary
            .starts_with("validator-2026-11-20T04:00:00+00:00.dump: custom format (archive 1.")
            && o.summary
                .contains("(from the dump header; the dumping host's local time, read as UTC)"),
        "{}",
        o.summary
    );

    // Tar format, for a database whose name needs quoting.
    let o = dump(&tar);
    assert_eq!(text(&o, "format").as_deref(), Some("tar"), "{}", o.summary);
    assert!(flag(&o, "header_ok"), "{}", o.summary);
    assert_eq!(text(&o, "database").as_deref(), Some("participant-0"));
    assert_header_time_within(&o, before, after);
    let (created, db) = pg_restore_header(&cluster, &tar);
    assert_eq!(taken_at(&o), created.and_utc());
    assert_eq!(db, "participant-0");

    // Directory format: toc.dat plus gzip-compressed data members.
    let o = dump(&directory);
    assert_eq!(
        text(&o, "format").as_deref(),
        Some("directory"),
        "{}",
        o.summary
    );
    assert!(
        flag(&o, "header_ok") && flag(&o, "compressed") && flag(&o, "gzip_ok"),
        "{}",
        o.summary
    );
    assert_eq!(text(&o, "database").as_deref(), Some("validator"));
    assert_header_time_within(&o, before, after);
    let member = fs::read_dir(&directory)
        .expect("list dump dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "gz"))
        .expect("a .dat.gz member");
    copy_with(&member, &member, |b| b.truncate(b.len() - 5));
    let o = dump(&directory);
    assert!(!flag(&o, "gzip_ok"), "{}", o.summary);
    assert!(
        o.summary.contains("gzip check failed: member "),
        "{}",
        o.summary
    );

    // Plain, verbose and with CREATE DATABASE: "Started on" and the database entry.
    let o = dump(&verbose);
    assert_eq!(text(&o, "format").as_deref(), Some("plain"));
    assert!(flag(&o, "header_ok"), "{}", o.summary);
    assert_eq!(text(&o, "database").as_deref(), Some("validator"));
    assert_header_time_within(&o, before, after);
    assert!(
        o.summary.contains("(from the dump header)"),
        "a UTC Started on line is exact: {}",
        o.summary
    );

    // Plain without -v, gzip-compressed by gzip(1) under the toolkit's name: the name's time.
    run(Command::new("gzip").arg("-k").arg(&plain));
    let toolkit = at("participant_0_20240115_140002.sql.gz");
    fs::rename(at("participant.sql.gz"), &toolkit).expect("rename");
    let o = dump(&toolkit);
    assert!(flag(&o, "compressed") && flag(&o, "gzip_ok") && flag(&o, "header_ok"));
    assert_eq!(text(&o, "format").as_deref(), Some("plain"));
    assert_eq!(text(&o, "database"), None);
    assert_eq!(text(&o, "time_basis").as_deref(), Some("name"));
    assert_eq!(taken_at(&o).to_rfc3339(), "2024-01-15T14:00:02+00:00");

    // Without any time in it or its name: the modification time.
    let o = dump(&plain);
    assert_eq!(text(&o, "time_basis").as_deref(), Some("mtime"));

    // A truncated and a corrupted copy of the gzip file.
    let cut = at("participant_0_20240115_140002-cut.sql.gz");
    copy_with(&toolkit, &cut, |b| b.truncate(b.len() * 2 / 3));
    let o = dump(&cut);
    assert!(
        flag(&o, "compressed") && !flag(&o, "gzip_ok"),
        "{}",
        o.summary
    );
    assert!(o.summary.contains("ends early"), "{}", o.summary);
    let flipped = at("participant_0_20240115_140002-flipped.sql.gz");
    copy_with(&toolkit, &flipped, |b| {
        let mid = b.len() / 2;
        b[mid] ^= 0x55;
    });
    assert!(!flag(&dump(&flipped), "gzip_ok"));

    // A gzip-compressed custom dump.
    run(Command::new("gzip").arg("-k").arg(&custom));
    let o = dump(&PathBuf::from(format!("{}.gz", custom.display())));
    assert_eq!(text(&o, "format").as_deref(), Some("custom"));
    assert!(flag(&o, "compressed") && flag(&o, "gzip_ok") && flag(&o, "header_ok"));
    assert_eq!(text(&o, "time_basis").as_deref(), Some("header"));

    // Corrupted custom headers.
    let bad = at("bad-magic.dump");
    copy_with(&custom, &bad, |b| b[0] = b'Q');
    let o = dump(&bad);
    assert!(!flag(&o, "header_ok"));
    assert_eq!(text(&o, "format").as_deref(), Some("unknown"));
    let bad = at("bad-int-size.dump");
    copy_with(&custom, &bad, |b| b[8] = 99);
    let o = dump(&bad);
    assert!(!flag(&o, "header_ok"));
    assert_eq!(text(&o, "format").as_deref(), Some("custom"));
    assert!(
        o.summary.contains("integer size of 99 bytes"),
        "{}",
        o.summary
    );
    let bad = at("cut-header.dump");
    copy_with(&custom, &bad, |b| b.truncate(30));
    let o = dump(&bad);
    assert!(!flag(&o, "header_ok"));
    assert!(o.summary.contains("ends early"), "{}", o.summary);

    // Order: the participant's clock reads two hours ahead, so it is after the validator's;
    // the other pair is the wrong way round.
    let order = |first: &Path, second: &Path| {
        observe(
            &request("file.dump_order", &[("first", first), ("second", second)]),
            Utc::now(),
        )
        .expect("file.dump_order")
    };
    let o = order(&early_validator, &late_participant);
    assert_eq!(get(&o, "ordered"), &Value::Bool(true), "{}", o.summary);
    assert_eq!(text(&o, "basis").as_deref(), Some("header"));
    let o = order(&late_validator, &early_participant);
    assert_eq!(get(&o, "ordered"), &Value::Bool(false), "{}", o.summary);
    assert!(o.summary.contains("was NOT taken before"), "{}", o.summary);
}
