//! Backups as real `pg_dump` custom-format archives, restores with `pg_restore`, and the one
//! liberty the sandbox takes with a dump: moving its creation time back (an old backup).
//!
//! `pg_dump` records when it ran in the archive header as seven integers (`struct tm`: sec,
//! min, hour, mday, mon, year − 1900, isdst), in the dumping host's local time; the sandbox
//! runs it with `TZ=UTC`. No clock-faking tool is needed: for a backup "40 days old" the dump
//! is written now and those seven integers are rewritten in place, along with the file name
//! and modification time, so that every way of reading its age agrees.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use secrecy::ExposeSecret;

use super::error::SandboxError;
use super::pg::PgCluster;

/// How long one `pg_dump` or `pg_restore` may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// `pg_dump` and `pg_restore` of the cluster's PostgreSQL version, connecting as the superuser
/// with the password in a 0600 password file (never in argv or the environment).
#[derive(Debug, Clone)]
pub struct PgTools {
    bin_dir: PathBuf,
    port: u16,
    user: String,
    passfile: PathBuf,
}

impl PgTools {
    /// The tools next to the cluster's server binaries; writes the password file into
    /// `secrets_dir`.
    pub fn new(
        cluster: &PgCluster,
        bin_dir: PathBuf,
        secrets_dir: &Path,
    ) -> Result<PgTools, SandboxError> {
        let passfile = secrets_dir.join("pgpass");
        let line = format!(
            "{}:{}:*:{}:{}\n",
            cluster.host(),
            cluster.port(),
            cluster.superuser(),
            escape_pgpass(cluster.password().expose_secret())
        );
        write_private(&passfile, line.as_bytes())?;
        for tool in ["pg_dump", "pg_restore"] {
            if !bin_dir.join(tool).is_file() {
                return Err(SandboxError::Refused(format!(
                    "{tool} is not in {} (install the PostgreSQL client programs of the server's version)",
                    bin_dir.display()
                )));
            }
        }
        Ok(PgTools {
            bin_dir,
            port: cluster.port(),
            user: cluster.superuser().to_string(),
            passfile,
        })
    }

    async fn run(&self, tool: &str, args: &[&str], target: &str) -> Result<(), SandboxError> {
        let mut cmd = tokio::process::Command::new(self.bin_dir.join(tool));
        cmd.args([
            "-h",
            super::pg::HOST,
            "-p",
            &self.port.to_string(),
            "-U",
            &self.user,
        ])
        .args(args)
        .env_clear()
        .env("PGPASSFILE", &self.passfile)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
        let output = tokio::time::timeout(TOOL_TIMEOUT, cmd.output())
            .await
            .map_err(|_| SandboxError::Tool {
                tool: tool.to_string(),
                target: target.to_string(),
                status: format!("no result within {}s", TOOL_TIMEOUT.as_secs()),
                output: String::new(),
            })?
            .map_err(SandboxError::io("run", &self.bin_dir.join(tool)))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        Err(SandboxError::Tool {
            tool: tool.to_string(),
            target: target.to_string(),
            status: output.status.to_string(),
            output: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        })
    }

    /// `pg_dump -Fc` of database `db` into `out`.
    pub async fn dump(&self, db: &str, out: &Path) -> Result<(), SandboxError> {
        let out_text = out.to_string_lossy().into_owned();
        self.run("pg_dump", &["-Fc", "-d", db, "-f", &out_text], db)
            .await?;
        fs::set_permissions(out, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(SandboxError::io("restrict", out))
    }

    /// `pg_restore --clean --if-exists --single-transaction` of `file` into database `db`:
    /// every object of the dump is dropped and re-created, all or nothing.
    pub async fn restore(&self, db: &str, file: &Path) -> Result<(), SandboxError> {
        let file_text = file.to_string_lossy().into_owned();
        self.run(
            "pg_restore",
            &[
                "--clean",
                "--if-exists",
                "--single-transaction",
                "-d",
                db,
                &file_text,
            ],
            db,
        )
        .await
    }
}

/// Escapes `\` and `:` for a password file.
fn escape_pgpass(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(SandboxError::io("write", path))?;
    f.write_all(bytes)
        .map_err(SandboxError::io("write", path))?;
    f.sync_all().map_err(SandboxError::io("sync", path))
}

/// A dump's file name as the Splice documentation's backup commands write it:
/// `validator-2026-01-05T10:00:00+00:00.dump`.
pub fn dump_name(database: &str, at: DateTime<Utc>) -> String {
    format!("{database}-{}.dump", at.format("%Y-%m-%dT%H:%M:%S+00:00"))
}

/// Where the creation time lives in an archive header, read from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimeFields {
    /// Byte offset of the first of the seven integers.
    offset: u64,
    /// Bytes per integer after the sign byte.
    int_size: u8,
}

/// Why a header could not be rewritten.
fn bad(path: &Path, why: &str) -> SandboxError {
    SandboxError::Refused(format!(
        "{} is not a pg_dump archive whose creation time can be rewritten: {why}",
        path.display()
    ))
}

/// Finds the creation time fields of a custom-format archive header (archive versions 1.4 and
/// later; PostgreSQL's `WriteHead`).
fn locate_time(header: &[u8], path: &Path) -> Result<TimeFields, SandboxError> {
    let byte = |i: usize| {
        header
            .get(i)
            .copied()
            .ok_or_else(|| bad(path, "the header is truncated"))
    };
    if header.get(..5) != Some(b"PGDMP".as_slice()) {
        return Err(bad(path, "it does not start with PGDMP"));
    }
    let (major, minor) = (byte(5)?, byte(6)?);
    if major != 1 || minor < 4 {
        return Err(bad(
            path,
            &format!("archive version {major}.{minor} has no creation time"),
        ));
    }
    let mut i = 8; // magic, major, minor, revision
    let int_size = byte(i)?;
    if !(1..=8).contains(&int_size) {
        return Err(bad(path, "implausible integer size"));
    }
    i += 1;
    if minor >= 7 {
        i += 1; // offset size
    }
    i += 1; // format
    if minor >= 15 {
        i += 1; // compression algorithm
    } else {
        i += 1 + usize::from(int_size); // compression level as an integer
    }
    let end = i + 7 * (1 + usize::from(int_size));
    if header.len() < end {
        return Err(bad(path, "the header is truncated"));
    }
    Ok(TimeFields {
        offset: i as u64,
        int_size,
    })
}

fn encode_int(v: i64, int_size: u8) -> Vec<u8> {
    let mut out = vec![u8::from(v < 0)];
    let mut m = v.unsigned_abs();
    for _ in 0..int_size {
        out.push((m & 0xff) as u8);
        m >>= 8;
    }
    out
}

/// Rewrites the creation time in the header of the custom-format archive at `path` to `at`
/// (written as UTC wall-clock time, not daylight saving).
pub fn rewrite_creation_time(path: &Path, at: DateTime<Utc>) -> Result<(), SandboxError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(SandboxError::io("open", path))?;
    let mut header = vec![0u8; 128];
    let n = read_up_to(&mut file, &mut header).map_err(SandboxError::io("read", path))?;
    header.truncate(n);
    let fields = locate_time(&header, path)?;
    let values = [
        i64::from(at.second()),
        i64::from(at.minute()),
        i64::from(at.hour()),
        i64::from(at.day()),
        i64::from(at.month0()),
        i64::from(at.year() - 1900),
        0,
    ];
    let mut bytes = Vec::new();
    for v in values {
        bytes.extend(encode_int(v, fields.int_size));
    }
    file.seek(SeekFrom::Start(fields.offset))
        .map_err(SandboxError::io("seek in", path))?;
    file.write_all(&bytes)
        .map_err(SandboxError::io("rewrite", path))?;
    file.set_modified(at.into())
        .map_err(SandboxError::io("set the modification time of", path))?;
    file.sync_all().map_err(SandboxError::io("sync", path))
}

fn decode_int(bytes: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for (j, b) in bytes.iter().skip(1).enumerate().take(7) {
        v |= i64::from(*b) << (8 * j);
    }
    if bytes.first() == Some(&1) { -v } else { v }
}

/// The creation time in the header of the custom-format archive at `path` (as written with
/// `TZ=UTC`, so read as UTC).
pub fn creation_time(path: &Path) -> Result<DateTime<Utc>, SandboxError> {
    let mut file = File::open(path).map_err(SandboxError::io("open", path))?;
    let mut header = vec![0u8; 128];
    let n = read_up_to(&mut file, &mut header).map_err(SandboxError::io("read", path))?;
    header.truncate(n);
    let fields = locate_time(&header, path)?;
    let width = 1 + usize::from(fields.int_size);
    let start = usize::try_from(fields.offset).unwrap_or(usize::MAX);
    let v: Vec<i64> = (0..7)
        .map(|k| {
            let at = start + k * width;
            header.get(at..at + width).map(decode_int).unwrap_or(-1)
        })
        .collect();
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(v[5] + 1900).unwrap_or(0),
        u32::try_from(v[4] + 1).unwrap_or(0),
        u32::try_from(v[3]).unwrap_or(0),
    );
    let time = date.and_then(|d| {
        d.and_hms_opt(
            u32::try_from(v[2]).unwrap_or(99),
            u32::try_from(v[1]).unwrap_or(99),
            u32::try_from(v[0]).unwrap_or(99),
        )
    });
    time.map(|t| t.and_utc())
        .ok_or_else(|| bad(path, "the creation time in its header is not a valid time"))
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The start of a pg_dump 15 custom archive (version 1.14, 4-byte integers), creation time
    /// 2026-03-04 05:06:07.
    fn header_1_14() -> Vec<u8> {
        let mut h = b"PGDMP".to_vec();
        h.extend([1, 14, 0, 4, 8, 1]); // version 1.14.0, int size, offset size, custom format
        h.extend(encode_int(-1, 4)); // compression level
        for v in [7, 6, 5, 4, 2, 126, 0] {
            h.extend(encode_int(v, 4));
        }
        h.extend(encode_int(11, 4));
        h.extend(b"participant");
        h
    }

    fn read_time(h: &[u8]) -> Vec<i64> {
        let f = locate_time(h, Path::new("x")).unwrap();
        let w = 1 + usize::from(f.int_size);
        (0..7)
            .map(|k| {
                let at = f.offset as usize + k * w;
                let mut v: i64 = 0;
                for (j, b) in h[at + 1..at + w].iter().enumerate() {
                    v |= i64::from(*b) << (8 * j);
                }
                if h[at] == 1 { -v } else { v }
            })
            .collect()
    }

    #[test]
    fn the_creation_time_is_rewritten_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("participant-0-x.dump");
        let mut bytes = header_1_14();
        bytes.extend([0xAA; 40]);
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read_time(&bytes), vec![7, 6, 5, 4, 2, 126, 0]);
        let at = DateTime::parse_from_rfc3339("2025-12-31T23:58:09Z")
            .unwrap()
            .with_timezone(&Utc);
        rewrite_creation_time(&path, at).unwrap();
        let after = fs::read(&path).unwrap();
        assert_eq!(read_time(&after), vec![9, 58, 23, 31, 11, 125, 0]);
        assert_eq!(after.len(), bytes.len());
        assert_eq!(
            &after[after.len() - 40..],
            &[0xAA; 40][..],
            "the rest is untouched"
        );
        let mtime: DateTime<Utc> = fs::metadata(&path).unwrap().modified().unwrap().into();
        assert_eq!(mtime, at);
        assert_eq!(creation_time(&path).unwrap(), at);
    }

    #[test]
    fn other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dump");
        fs::write(&path, b"-- plain SQL\n").unwrap();
        let err = rewrite_creation_time(&path, Utc::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("PGDMP"), "{err}");
        let mut old = header_1_14();
        old[6] = 3;
        fs::write(&path, &old).unwrap();
        let err = rewrite_creation_time(&path, Utc::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("1.3"), "{err}");
    }

    #[test]
    fn names_follow_the_splice_backup_commands() {
        let at = DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            dump_name("validator", at),
            "validator-2026-01-05T10:00:00+00:00.dump"
        );
    }
}
