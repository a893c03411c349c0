//! The header of a pg_dump archive: a custom-format file, or the `toc.dat` of a tar or
//! directory-format dump.
//!
//! Layout (PostgreSQL's `pg_backup_archiver.c`, `WriteHead`/`ReadHead`): the magic `PGDMP`;
//! the version as major, minor and (from 1.1 on) revision bytes; the integer size byte; the
//! offset size byte (from 1.7 on); the format byte; the compression (a byte from 1.15 on, an
//! integer level from 1.4, a byte before); from 1.4 on the creation time as seven integers
//! (`struct tm`: sec, min, hour, mday, mon, year, isdst) and the database name; from 1.10 on
//! the server and pg_dump version strings.
//!
//! An integer is a sign byte (from 1.1 on) followed by `int size` bytes, least significant
//! first. A string is its length as an integer (-1 for none) followed by its bytes.
//! pg_dump 12 to 15 write version 1.14, 16 writes 1.15 and 17 writes 1.16. The format byte is
//! 1 for custom and 3 for tar; a directory dump's `toc.dat` also says 3 (tar), since the two
//! layouts are compatible.

use std::fmt;
use std::io::{self, Read};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

/// The magic bytes every archive starts with.
pub(super) const MAGIC: &[u8; 5] = b"PGDMP";

/// The newest archive minor version this reader knows (pg_dump 17).
const NEWEST_KNOWN_MINOR: u8 = 16;

/// The longest header string accepted (database names are at most 63 bytes).
const MAX_STR: i64 = 4096;

/// The container format recorded in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArchiveFormat {
    Custom,
    Tar,
    /// Code 5, which pg_dump uses in memory but never writes to a header.
    Directory,
    /// A code pg_dump does not write for an archive (0 unknown, 2 files, 4 null, or garbage).
    Other(u8),
}

impl ArchiveFormat {
    fn from_code(code: u8) -> ArchiveFormat {
        match code {
            1 => ArchiveFormat::Custom,
            3 => ArchiveFormat::Tar,
            5 => ArchiveFormat::Directory,
            other => ArchiveFormat::Other(other),
        }
    }
}

/// A parsed archive header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ArchiveHeader {
    pub major: u8,
    pub minor: u8,
    pub rev: u8,
    pub format: ArchiveFormat,
    /// How table data is compressed inside the archive ("none", "gzip", "lz4", "zstd").
    pub compression: &'static str,
    /// The creation time as the dumping host's local wall-clock time (archives from 1.4 on).
    pub created: Option<NaiveDateTime>,
    pub database: Option<String>,
    /// The pg_dump version that wrote the archive (from 1.10 on).
    pub dump_version: Option<String>,
}

impl ArchiveHeader {
    /// `1.14` (with the revision when it is not 0).
    pub fn version(&self) -> String {
        if self.rev == 0 {
            format!("{}.{}", self.major, self.minor)
        } else {
            format!("{}.{}.{}", self.major, self.minor, self.rev)
        }
    }

    /// Whether the archive is newer than the layouts this reader knows (read with the newest).
    pub fn newer_than_known(&self) -> bool {
        self.minor > NEWEST_KNOWN_MINOR
    }
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeaderError {
    /// The data does not start with `PGDMP`.
    NoMagic,
    /// The data ends inside the header.
    Truncated(&'static str),
    /// A field holds a value pg_dump never writes.
    Invalid(String),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::NoMagic => f.write_str("it does not start with the PGDMP magic"),
            HeaderError::Truncated(field) => {
                write!(f, "the archive header ends early (in the {field})")
            }
            HeaderError::Invalid(why) => write!(f, "the archive header is corrupt: {why}"),
        }
    }
}

/// Reads an archive header from the start of `r`. Reads only the header's bytes.
pub(super) fn read_header<R: Read>(r: &mut R) -> Result<ArchiveHeader, HeaderError> {
    let mut magic = [0u8; 5];
    if read_full(r, &mut magic) < magic.len() || &magic != MAGIC {
        return Err(HeaderError::NoMagic);
    }
    let mut h = Reader {
        r,
        int_size: 0,
        version: (0, 0),
    };
    let major = h.byte("version")?;
    let minor = h.byte("version")?;
    let rev = if major > 1 || (major == 1 && minor > 0) {
        h.byte("version")?
    } else {
        0
    };
    if major != 1 {
        return Err(HeaderError::Invalid(format!(
            "archive version {major}.{minor} is not one pg_dump writes"
        )));
    }
    h.version = (major, minor);
    let int_size = h.byte("integer size")?;
    if !(1..=8).contains(&int_size) {
        return Err(HeaderError::Invalid(format!(
            "an integer size of {int_size} bytes is implausible"
        )));
    }
    h.int_size = int_size;
    if minor >= 7 {
        let off_size = h.byte("offset size")?;
        if !(1..=16).contains(&off_size) {
            return Err(HeaderError::Invalid(format!(
                "an offset size of {off_size} bytes is implausible"
            )));
        }
    }
    let format = ArchiveFormat::from_code(h.byte("format")?);
    let compression = if minor >= 15 {
        match h.byte("compression")? {
            0 => "none",
            1 => "gzip",
            2 => "lz4",
            3 => "zstd",
            other => {
                return Err(HeaderError::Invalid(format!(
                    "compression algorithm {other} is unknown"
                )));
            }
        }
    } else {
        let level = if minor >= 4 {
            h.int("compression")?
        } else if minor >= 2 {
            i64::from(h.byte("compression")?)
        } else {
            -1
        };
        match level {
            0 => "none",
            -1..=9 => "gzip",
            other => {
                return Err(HeaderError::Invalid(format!(
                    "compression level {other} is out of range"
                )));
            }
        }
    };
    let mut header = ArchiveHeader {
        major,
        minor,
        rev,
        format,
        compression,
        created: None,
        database: None,
        dump_version: None,
    };
    if minor >= 4 {
        let mut tm = [0i64; 7];
        for v in &mut tm {
            *v = h.int("creation time")?;
        }
        header.created = Some(creation_time(&tm)?);
        header.database = h.string("database name")?;
    }
    if minor >= 10 {
        h.string("server version")?;
        header.dump_version = h.string("pg_dump version")?;
    }
    Ok(header)
}

/// The `struct tm` fields (sec, min, hour, mday, mon 0-11, year since 1900, isdst) as a
/// wall-clock time.
fn creation_time(tm: &[i64; 7]) -> Result<NaiveDateTime, HeaderError> {
    let [sec, min, hour, mday, mon, year, _isdst] = *tm;
    let bad = || {
        HeaderError::Invalid(format!(
            "the creation time fields (year {}, month {}, day {mday}, {hour}:{min}:{sec}) \
             are not a valid date and time",
            year.saturating_add(1900),
            mon.saturating_add(1)
        ))
    };
    let year = i32::try_from(year.saturating_add(1900)).map_err(|_| bad())?;
    if !(1970..=9999).contains(&year) {
        return Err(bad());
    }
    let small = |v: i64| u32::try_from(v).map_err(|_| bad());
    let date = NaiveDate::from_ymd_opt(year, small(mon)?.saturating_add(1), small(mday)?)
        .ok_or_else(bad)?;
    // A leap second (tm_sec 60) is the first second of the next minute.
    let (sec, extra) = match small(sec)? {
        60 => (59, TimeDelta::seconds(1)),
        s => (s, TimeDelta::zero()),
    };
    let time = NaiveTime::from_hms_opt(small(hour)?, small(min)?, sec).ok_or_else(bad)?;
    Ok(date.and_time(time) + extra)
}

struct Reader<'a, R> {
    r: &'a mut R,
    int_size: u8,
    version: (u8, u8),
}

impl<R: Read> Reader<'_, R> {
    fn byte(&mut self, field: &'static str) -> Result<u8, HeaderError> {
        let mut b = [0u8; 1];
        if read_full(self.r, &mut b) < 1 {
            return Err(HeaderError::Truncated(field));
        }
        Ok(b[0])
    }

    fn int(&mut self, field: &'static str) -> Result<i64, HeaderError> {
        let negative = if self.version > (1, 0) {
            self.byte(field)? != 0
        } else {
            false
        };
        let mut value: u64 = 0;
        for i in 0..self.int_size {
            value |= u64::from(self.byte(field)?) << (8 * u32::from(i));
        }
        // Header integers are small; anything that does not fit is corruption.
        let value = i64::try_from(value)
            .map_err(|_| HeaderError::Invalid(format!("the {field} holds an impossible value")))?;
        Ok(if negative { -value } else { value })
    }

    fn string(&mut self, field: &'static str) -> Result<Option<String>, HeaderError> {
        let len = self.int(field)?;
        if len < 0 {
            return Ok(None);
        }
        if len > MAX_STR {
            return Err(HeaderError::Invalid(format!(
                "the {field} is {len} bytes long"
            )));
        }
        let len = usize::try_from(len).unwrap_or(0);
        let mut buf = vec![0u8; len];
        if read_full(self.r, &mut buf) < len {
            return Err(HeaderError::Truncated(field));
        }
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }
}

/// Reads until `buf` is full or the data ends; returns how many bytes were read. Read errors
/// count as the end (the caller's reader records them).
pub(super) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    filled
}

#[cfg(test)]
pub(super) mod build {
    //! Writes archive headers the way pg_dump does, for tests.

    /// The fields of a synthetic header.
    pub struct Spec {
        pub minor: u8,
        pub format: u8,
        /// Local wall-clock creation time: sec, min, hour, mday, mon (0-11), year - 1900.
        pub tm: [i64; 6],
        pub database: &'static str,
    }

    fn int(out: &mut Vec<u8>, v: i64) {
        out.push(u8::from(v < 0));
        out.extend_from_slice(&(v.unsigned_abs() as u32).to_le_bytes());
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        int(out, s.len() as i64);
        out.extend_from_slice(s.as_bytes());
    }

    /// The header bytes, as pg_dump of the matching version writes them.
    pub fn header(spec: &Spec) -> Vec<u8> {
        let mut out = b"PGDMP".to_vec();
        out.extend_from_slice(&[1, spec.minor, 0, 4]);
        if spec.minor >= 7 {
            out.push(8); // offset size
        }
        out.push(spec.format);
        if spec.minor >= 15 {
            out.push(1); // gzip
        } else {
            int(&mut out, -1); // default compression level
        }
        for v in spec.tm {
            int(&mut out, v);
        }
        int(&mut out, 0); // isdst
        string(&mut out, spec.database);
        if spec.minor >= 10 {
            string(&mut out, "15.8");
            string(&mut out, "15.8 (Debian 15.8-0+deb12u1)");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::{Spec, header};
    use super::*;
    use proptest::prelude::*;

    fn spec(minor: u8) -> Spec {
        Spec {
            minor,
            format: 1,
            tm: [2, 0, 4, 20, 10, 126], // 2026-11-20 04:00:02
            database: "participant-3",
        }
    }

    #[test]
    fn reads_the_layouts_of_pg_dump_12_to_17() {
        for minor in [14u8, 15, 16] {
            let bytes = header(&spec(minor));
            let h = read_header(&mut bytes.as_slice()).unwrap();
            assert_eq!(h.version(), format!("1.{minor}"));
            assert_eq!(h.format, ArchiveFormat::Custom);
            assert_eq!(h.compression, "gzip");
            assert_eq!(
                h.created.unwrap().to_string(),
                "2026-11-20 04:00:02",
                "version 1.{minor}"
            );
            assert_eq!(h.database.as_deref(), Some("participant-3"));
            assert_eq!(
                h.dump_version.as_deref(),
                Some("15.8 (Debian 15.8-0+deb12u1)")
            );
            assert!(!h.newer_than_known());
        }
    }

    #[test]
    fn reads_only_the_header() {
        let mut bytes = header(&spec(14));
        let len = bytes.len();
        bytes.extend_from_slice(b"rest of the archive");
        let mut r = bytes.as_slice();
        read_header(&mut r).unwrap();
        assert_eq!(r.len(), bytes.len() - len);
    }

    #[test]
    fn a_truncated_header_says_where_it_ends() {
        let bytes = header(&spec(16));
        let e = read_header(&mut &bytes[..20]).unwrap_err();
        assert_eq!(e, HeaderError::Truncated("creation time"));
        assert_eq!(
            e.to_string(),
            "the archive header ends early (in the creation time)"
        );
        let e = read_header(&mut &bytes[..bytes.len() - 3]).unwrap_err();
        assert_eq!(e, HeaderError::Truncated("pg_dump version"));
    }

    #[test]
    fn corrupt_fields_are_named() {
        let mut bytes = header(&spec(14));
        bytes[5] = 2; // major version
        assert!(
            read_header(&mut bytes.as_slice())
                .unwrap_err()
                .to_string()
                .contains("archive version 2.14")
        );

        let mut bytes = header(&spec(14));
        bytes[8] = 77; // integer size
        assert_eq!(
            read_header(&mut bytes.as_slice()).unwrap_err().to_string(),
            "the archive header is corrupt: an integer size of 77 bytes is implausible"
        );

        let mut s = spec(15);
        s.tm[4] = 12; // month 13
        let e = read_header(&mut header(&s).as_slice()).unwrap_err();
        assert!(e.to_string().contains("month 13"), "{e}");

        let e = read_header(&mut &b"PGDNP\x01\x0e"[..]).unwrap_err();
        assert_eq!(e, HeaderError::NoMagic);
    }

    #[test]
    fn a_leap_second_rolls_over() {
        let mut s = spec(14);
        s.tm[0] = 60;
        s.tm[1] = 59;
        let h = read_header(&mut header(&s).as_slice()).unwrap();
        assert_eq!(h.created.unwrap().to_string(), "2026-11-20 05:00:00");
    }

    proptest! {
        #[test]
        fn any_bytes_after_the_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&tail);
            let _ = read_header(&mut bytes.as_slice());
        }

        #[test]
        fn any_plausible_header_round_trips(
            minor in 4u8..=16,
            sec in 0i64..60, min in 0i64..60, hour in 0i64..24,
            mday in 1i64..=28, mon in 0i64..12, year in 70i64..200,
        ) {
            let s = Spec { minor, format: 3, tm: [sec, min, hour, mday, mon, year], database: "validator" };
            let h = read_header(&mut header(&s).as_slice()).unwrap();
            prop_assert_eq!(h.format, ArchiveFormat::Tar);
            let created = h.created.unwrap();
            use chrono::{Datelike, Timelike};
            prop_assert_eq!(i64::from(created.year()), year + 1900);
            prop_assert_eq!(i64::from(created.month0()), mon);
            prop_assert_eq!(i64::from(created.second()), sec);
            prop_assert_eq!(h.database.as_deref(), Some("validator"));
        }
    }
}
