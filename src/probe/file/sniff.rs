//! Recognising a dump from the first bytes of its content, and checking a gzip stream end to
//! end without holding it in memory.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;

use super::FileError;
use super::archive::{self, ArchiveFormat, ArchiveHeader, read_full};
use super::plain;
use super::tar;

/// How much of a plain dump's beginning is read for its header comments.
const PLAIN_PREFIX: usize = 64 * 1024;

/// The gzip magic bytes.
pub(super) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The dump formats, as named in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Plain,
    Custom,
    Tar,
    Directory,
    Unknown,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Custom => "custom",
            Format::Tar => "tar",
            Format::Directory => "directory",
            Format::Unknown => "unknown",
        }
    }
}

/// A creation time found inside a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeaderTime {
    pub at: DateTime<Utc>,
    /// How it was read, when that matters ("the dumping host's local time, read as UTC").
    pub note: Option<String>,
}

/// What the content of a dump says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Content {
    pub format: Format,
    pub header_ok: bool,
    /// Why the header is not ok.
    pub problem: Option<String>,
    pub database: Option<String>,
    pub time: Option<HeaderTime>,
    /// Facts worth a mention: archive version, pg_dump version, data compression.
    pub details: Vec<String>,
}

impl Content {
    pub fn unknown(problem: impl Into<String>) -> Content {
        Content {
            format: Format::Unknown,
            header_ok: false,
            problem: Some(problem.into()),
            database: None,
            time: None,
            details: Vec::new(),
        }
    }

    pub fn archive(format: Format, expected: ArchiveFormat, header: ArchiveHeader) -> Content {
        let mut details = vec![format!("archive {}", header.version())];
        if let Some(v) = &header.dump_version {
            details.push(format!("pg_dump {}", short_version(v)));
        }
        if header.newer_than_known() {
            details.push("newer than the archive versions this tool knows".into());
        }
        let problem = (header.format != expected).then(|| {
            format!(
                "its archive header names format code {}, not {}",
                format_code(header.format),
                format_code(expected)
            )
        });
        Content {
            format,
            header_ok: problem.is_none(),
            problem,
            database: header.database.as_deref().map(super::one_line),
            time: header.created.map(|t| HeaderTime {
                at: t.and_utc(),
                note: Some("the dumping host's local time, read as UTC".into()),
            }),
            details,
        }
    }
}

/// `15.8 (Debian 15.8-0+deb12u1)` → `15.8`.
fn short_version(v: &str) -> &str {
    v.split_whitespace().next().unwrap_or(v)
}

fn format_code(f: ArchiveFormat) -> String {
    match f {
        ArchiveFormat::Custom => "1 (custom)".into(),
        ArchiveFormat::Tar => "3 (tar)".into(),
        ArchiveFormat::Directory => "5 (directory)".into(),
        ArchiveFormat::Other(c) => c.to_string(),
    }
}

/// A reader that turns its first error into the end of data and keeps the error.
///
/// Sniffing then sees a damaged gzip stream as data that ends early, and the caller decides
/// what the error means.
pub(super) struct Guarded<R> {
    inner: R,
    pub error: Option<io::Error>,
}

impl<R: Read> Guarded<R> {
    pub fn new(inner: R) -> Guarded<R> {
        Guarded { inner, error: None }
    }

    /// Reads everything that is left (to check a whole gzip stream), in large chunks.
    pub fn drain(&mut self) {
        let mut buf = vec![0u8; 256 * 1024];
        while matches!(self.read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Ok(0);
        }
        loop {
            match self.inner.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    return Ok(0);
                }
            }
        }
    }
}

/// Recognises the dump whose content `r` yields, reading only what it needs: the archive
/// header, the tar members up to `toc.dat`, or the first 64 KiB of a plain dump.
pub(super) fn sniff<R: Read>(r: &mut R) -> Content {
    let mut block = [0u8; tar::BLOCK];
    let n = read_full(r, &mut block);
    let head = &block[..n];
    if n == 0 {
        return Content::unknown("it is empty");
    }
    if head.starts_with(archive::MAGIC) {
        let mut rest = head.chain(r);
        return match archive::read_header(&mut rest) {
            Ok(h) => {
                let (format, expected) = match h.format {
                    ArchiveFormat::Tar => (Format::Tar, ArchiveFormat::Tar),
                    ArchiveFormat::Directory => (Format::Directory, ArchiveFormat::Directory),
                    _ => (Format::Custom, ArchiveFormat::Custom),
                };
                Content::archive(format, expected, h)
            }
            Err(e) => Content {
                format: Format::Custom,
                ..Content::unknown(e.to_string())
            },
        };
    }
    if n == tar::BLOCK && tar::is_header(&block) {
        return sniff_tar(r, &block);
    }
    let mut prefix = head.to_vec();
    let want = PLAIN_PREFIX - prefix.len();
    // A read error ends the prefix where it happened (guarded readers keep the error).
    let _ = r.take(want as u64).read_to_end(&mut prefix);
    if !plain::is_text(&prefix) {
        return Content::unknown("it is neither a pg_dump archive nor SQL text");
    }
    let head = plain::read_head(&prefix);
    let mut details = Vec::new();
    if let Some(v) = head.dump_version {
        details.push(format!("pg_dump {}", short_version(&v)));
    }
    Content {
        format: Format::Plain,
        header_ok: head.header_ok,
        problem: head.problem,
        database: head.database.as_deref().map(super::one_line),
        time: head.started.map(|s| HeaderTime {
            at: s.at,
            note: s.note,
        }),
        details,
    }
}

fn sniff_tar<R: Read>(r: &mut R, first: &[u8; tar::BLOCK]) -> Content {
    let tar_problem = |why: String| Content {
        format: Format::Tar,
        ..Content::unknown(why)
    };
    let len = match tar::find_member(r, first, "toc.dat") {
        Ok(len) => len,
        Err(why) => return tar_problem(why),
    };
    match archive::read_header(&mut r.take(len)) {
        Ok(h) => Content::archive(Format::Tar, ArchiveFormat::Tar, h),
        Err(e) => tar_problem(format!("its toc.dat is not readable: {e}")),
    }
}

/// The outcome of reading a regular file.
#[derive(Debug)]
pub(super) struct FileContent {
    pub compressed: bool,
    /// `None` when the file is not gzip-compressed or the stream was not read to its end.
    pub gzip_error: Option<io::Error>,
    /// Whether the whole gzip stream was read.
    pub gzip_checked: bool,
    pub content: Content,
}

/// Reads a regular file: detects gzip by its magic bytes, recognises the content and, when
/// `verify` is set, reads a gzip stream to its end so that its CRC and length are checked.
pub(super) fn read_file(path: &Path, verify: bool) -> Result<FileContent, FileError> {
    let mut file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut magic = [0u8; 2];
    let mut probe = Guarded::new(&mut file);
    let got = read_full(&mut probe, &mut magic);
    if let Some(e) = probe.error {
        return Err(FileError::io(path, e));
    }
    let compressed = got == 2 && magic == GZIP_MAGIC;
    let head = (&magic[..got]).chain(file);
    if compressed {
        let mut src = Guarded::new(MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            head,
        )));
        let content = sniff(&mut src);
        if verify {
            src.drain();
        }
        Ok(FileContent {
            compressed,
            gzip_checked: verify || src.error.is_some(),
            gzip_error: src.error,
            content,
        })
    } else {
        let mut src = Guarded::new(BufReader::new(head));
        let content = sniff(&mut src);
        if let Some(e) = src.error {
            return Err(FileError::io(path, e));
        }
        Ok(FileContent {
            compressed,
            gzip_error: None,
            gzip_checked: false,
            content,
        })
    }
}

/// A gzip stream error in words.
pub(super) fn describe_gzip_error(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        "the gzip stream ends early (the file is truncated)".into()
    } else {
        format!("the gzip stream is corrupt ({e})")
    }
}

/// Checks a whole gzip file; `Ok(None)` when it is intact, `Ok(Some(error))` when not.
pub(super) fn check_gzip(path: &Path) -> Result<Option<io::Error>, FileError> {
    let file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut src = Guarded::new(MultiGzDecoder::new(BufReader::with_capacity(
        256 * 1024,
        file,
    )));
    src.drain();
    Ok(src.error)
}

/// Whether a file starts with the gzip magic.
pub(super) fn is_gzip(path: &Path) -> Result<bool, FileError> {
    let mut file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut magic = [0u8; 2];
    let mut src = Guarded::new(&mut file);
    let got = read_full(&mut src, &mut magic);
    match src.error {
        Some(e) => Err(FileError::io(path, e)),
        None => Ok(got == 2 && magic == GZIP_MAGIC),
    }
}

#[cfg(test)]
mod tests {
    use super::super::archive::build::{Spec, header};
    use super::super::tar::build::member;
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn custom(format: u8) -> Vec<u8> {
        header(&Spec {
            minor: 16,
            format,
            tm: [0, 0, 4, 20, 10, 126],
            database: "validator",
        })
    }

    #[test]
    fn recognises_each_archive_container() {
        let c = sniff(&mut custom(1).as_slice());
        assert_eq!((c.format, c.header_ok), (Format::Custom, true));
        assert_eq!(c.database.as_deref(), Some("validator"));
        assert_eq!(c.time.unwrap().at.to_rfc3339(), "2026-11-20T04:00:00+00:00");
        assert_eq!(c.details[0], "archive 1.16");

        let mut t = member("toc.dat", &custom(3));
        t.extend(member("3377.dat", b"rows"));
        t.extend([0u8; 1024]);
        let c = sniff(&mut t.as_slice());
        assert_eq!(
            (c.format, c.header_ok),
            (Format::Tar, true),
            "{:?}",
            c.problem
        );

        // A custom file whose header claims another format is not a valid custom dump.
        let c = sniff(&mut custom(4).as_slice());
        assert_eq!((c.format, c.header_ok), (Format::Custom, false));
        assert_eq!(
            c.problem.as_deref(),
            Some("its archive header names format code 4, not 1 (custom)")
        );
    }

    #[test]
    fn a_tar_without_a_readable_toc() {
        let mut t = member("toc.dat", b"not an archive header");
        t.extend([0u8; 1024]);
        let c = sniff(&mut t.as_slice());
        assert_eq!((c.format, c.header_ok), (Format::Tar, false));
        assert_eq!(
            c.problem.as_deref(),
            Some("its toc.dat is not readable: it does not start with the PGDMP magic")
        );
    }

    #[test]
    fn guarded_reads_report_a_truncated_gzip() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let gz = gzip(&data);
        let mut src = Guarded::new(MultiGzDecoder::new(&gz[..gz.len() / 2]));
        src.drain();
        let e = src.error.expect("a truncated stream is an error");
        assert_eq!(
            describe_gzip_error(&e),
            "the gzip stream ends early (the file is truncated)"
        );

        let mut src = Guarded::new(MultiGzDecoder::new(&gz[..gz.len() - 4]));
        src.drain();
        assert!(src.error.is_some(), "a missing length trailer is an error");

        let mut bad = gz.clone();
        let at = bad.len() - 6; // inside the CRC
        bad[at] ^= 0xff;
        let mut src = Guarded::new(MultiGzDecoder::new(bad.as_slice()));
        src.drain();
        let e = src.error.expect("a CRC mismatch is an error");
        assert!(
            describe_gzip_error(&e).starts_with("the gzip stream is corrupt"),
            "{e}"
        );

        let mut src = Guarded::new(MultiGzDecoder::new(gz.as_slice()));
        src.drain();
        assert!(src.error.is_none());
    }

    proptest! {
        #[test]
        fn random_bytes_are_never_a_valid_dump(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let c = sniff(&mut bytes.as_slice());
            prop_assert!(!c.header_ok);
        }
    }
}
