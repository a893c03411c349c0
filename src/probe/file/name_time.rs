//! When a dump was taken, read from its file name.
//!
//! Recognised (anywhere in the name, the first match wins):
//! - `YYYYMMDD_HHMMSS` (also with `-` or `T` between date and time), as the validator
//!   toolkit's `backup.sh` writes: `validator_20240115_140002.sql.gz`;
//! - ISO 8601 / RFC 3339, `YYYY-MM-DDTHH:MM:SS` with optional fraction and zone (`Z`,
//!   `+00:00`, `+0000`, `+00`), as the Splice docs' `date -u +%Y-%m-%dT%H:%M:%S%:z` writes:
//!   `validator-2026-11-20T04:00:00+00:00.dump`; `_` or a space may stand for `T`, and `-` for
//!   the colons of the time (names on file systems that forbid `:`);
//! - the compact ISO form `YYYYMMDDTHHMMSSZ`.
//!
//! A time without a zone is read as UTC.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// A time found in a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NameTime {
    pub at: DateTime<Utc>,
    /// Whether the name carried a zone (else the time was read as UTC).
    pub zoned: bool,
}

/// The first date and time in `name`, if any.
pub(super) fn time_in_name(name: &str) -> Option<NameTime> {
    let b = name.as_bytes();
    (0..b.len())
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
        .find_map(|i| extended(&b[i..]).or_else(|| compact(&b[i..])))
}

/// `n` ASCII digits at the start of `b`, as a number.
fn digits(b: &[u8], n: usize) -> Option<u32> {
    if b.len() < n || !b[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    b[..n].iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn not_digit_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_none_or(|c| !c.is_ascii_digit())
}

fn date(y: u32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// `YYYY-MM-DD(T| |_)HH:MM:SS[.fff][zone]`.
fn extended(b: &[u8]) -> Option<NameTime> {
    let y = digits(b, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let day = date(y, digits(&b[5..], 2)?, digits(&b[8..], 2)?)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ' | b'_')) {
        return None;
    }
    let sep = *b.get(13)?;
    if !matches!(sep, b':' | b'-') || b.get(16) != Some(&sep) {
        return None;
    }
    let (h, mi, s) = (
        digits(&b[11..], 2)?,
        digits(&b[14..], 2)?,
        digits(&b[17..], 2)?,
    );
    let mut i = 19;
    let mut micros = 0u32;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        // Keep at most six digits: values carry microseconds.
        let frac = &b[start..i.min(start + 6)];
        micros = digits(frac, frac.len())? * 10u32.pow(6 - frac.len() as u32);
    }
    let time = NaiveTime::from_hms_micro_opt(h, mi, s, micros)?;
    finish(day.and_time(time), &b[i..])
}

/// `YYYYMMDD(_|-|T)HHMMSS[zone]`.
fn compact(b: &[u8]) -> Option<NameTime> {
    let day = date(digits(b, 4)?, digits(&b[4..], 2)?, digits(&b[6..], 2)?)?;
    if !matches!(b.get(8), Some(b'_' | b'-' | b'T' | b't')) {
        return None;
    }
    let time = NaiveTime::from_hms_opt(
        digits(&b[9..], 2)?,
        digits(&b[11..], 2)?,
        digits(&b[13..], 2)?,
    )?;
    finish(day.and_time(time), &b[15..])
}

/// Applies the zone at the start of `rest`, if any, and checks the match ends there.
fn finish(local: NaiveDateTime, rest: &[u8]) -> Option<NameTime> {
    let (offset, used) = zone(rest).unwrap_or((None, 0));
    if !not_digit_at(rest, used) {
        return None;
    }
    Some(match offset {
        Some(off) => NameTime {
            at: off
                .from_local_datetime(&local)
                .single()?
                .with_timezone(&Utc),
            zoned: true,
        },
        None => NameTime {
            at: local.and_utc(),
            zoned: used > 0,
        },
    })
}

/// A zone designator: `Z` (UTC, `None` offset with length 1), `±HH:MM`, `±HHMM` or `±HH`.
fn zone(b: &[u8]) -> Option<(Option<FixedOffset>, usize)> {
    match b.first()? {
        b'Z' | b'z' => Some((None, 1)),
        sign @ (b'+' | b'-') => {
            let h = digits(&b[1..], 2)?;
            let (m, used) = if b.get(3) == Some(&b':') {
                (digits(&b[4..], 2)?, 6)
            } else if let Some(m) = digits(&b[3..], 2) {
                (m, 5)
            } else {
                (0, 3)
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i32::try_from(h * 3600 + m * 60).ok()?;
            let secs = if *sign == b'-' { -secs } else { secs };
            Some((Some(FixedOffset::east_opt(secs)?), used))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str) -> Option<(String, bool)> {
        time_in_name(name).map(|t| {
            (
                t.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                t.zoned,
            )
        })
    }

    #[test]
    fn toolkit_names() {
        assert_eq!(
            at("validator_20240115_140002.sql.gz"),
            Some(("2024-01-15T14:00:02.000000Z".into(), false))
        );
        assert_eq!(
            at("participant_0_20240115_140002.sql.gz"),
            Some(("2024-01-15T14:00:02.000000Z".into(), false))
        );
    }

    #[test]
    fn splice_doc_names() {
        assert_eq!(
            at("validator-2026-11-20T04:00:00+00:00.dump"),
            Some(("2026-11-20T04:00:00.000000Z".into(), true))
        );
        assert_eq!(
            at("participant-3-2026-11-20T04:00:00Z.dump"),
            Some(("2026-11-20T04:00:00.000000Z".into(), true))
        );
        assert_eq!(
            at("participant-3-2026-11-20T05:30:00+01:30.dump"),
            Some(("2026-11-20T04:00:00.000000Z".into(), true))
        );
    }

    #[test]
    fn other_iso_forms() {
        assert_eq!(
            at("validator-2026-11-20T04:00:00.dump"),
            Some(("2026-11-20T04:00:00.000000Z".into(), false))
        );
        assert_eq!(
            at("v-2026-11-20T04:00:00.123456789-0500.dump"),
            Some(("2026-11-20T09:00:00.123456Z".into(), true))
        );
        assert_eq!(
            at("v-2026-11-20_04-00-00.sql"),
            Some(("2026-11-20T04:00:00.000000Z".into(), false))
        );
        assert_eq!(
            at("v-20261120T040000Z.dump"),
            Some(("2026-11-20T04:00:00.000000Z".into(), true))
        );
        // A dash after the seconds that is not an offset belongs to the rest of the name.
        assert_eq!(
            at("v-2026-11-20T04:00:00-full.dump"),
            Some(("2026-11-20T04:00:00.000000Z".into(), false))
        );
    }

    #[test]
    fn names_without_a_time() {
        assert_eq!(at("validator.dump"), None);
        assert_eq!(at("validator-2026-11-20.dump"), None);
        assert_eq!(at("participant_0_2024011_140002.sql.gz"), None);
        assert_eq!(at("v-20241345_140002.sql"), None); // month 13
        assert_eq!(at("v-2024-01-15T25:00:00Z.sql"), None);
        assert_eq!(at("v-120240115_140002.sql"), None); // nine digits
        assert_eq!(at("v-20240115_1400021.sql"), None); // seven digits
    }
}
