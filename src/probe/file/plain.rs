//! The head of a plain-format (SQL script) pg_dump.
//!
//! pg_dump starts a plain dump with the comment block
//! ```text
//! --
//! -- PostgreSQL database dump
//! --
//! ```
//! followed by `-- Dumped from database version …` and `-- Dumped by pg_dump version …`; with
//! `-v` it also writes `-- Started on YYYY-MM-DD HH:MM:SS ZONE`; with `-C` it writes the
//! database's `-- Name: …; Type: DATABASE; …` entry and a `\connect` to it.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// What the head of a plain dump says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct PlainHead {
    /// Starts with pg_dump's comment block.
    pub header_ok: bool,
    /// Why not, when it does not.
    pub problem: Option<String>,
    pub database: Option<String>,
    pub started: Option<Started>,
    pub dump_version: Option<String>,
}

/// The `-- Started on` time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Started {
    pub at: DateTime<Utc>,
    /// How the zone was read, when that is worth saying (an unknown or missing zone).
    pub note: Option<String>,
}

const HEADER: &str = "--\n-- PostgreSQL database dump\n--\n";
const CLUSTER_HEADER: &str = "--\n-- PostgreSQL database cluster dump\n--\n";

/// Whether `prefix` looks like text: no NUL byte and valid UTF-8 (a multi-byte character cut
/// at the end of the prefix is allowed).
pub(super) fn is_text(prefix: &[u8]) -> bool {
    if prefix.is_empty() || prefix.contains(&0) {
        return false;
    }
    match std::str::from_utf8(prefix) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && prefix.len() - e.valid_up_to() < 4,
    }
}

/// Reads the head of a plain dump from the first bytes of the file.
pub(super) fn read_head(prefix: &[u8]) -> PlainHead {
    let text = String::from_utf8_lossy(prefix).replace("\r\n", "\n");
    let mut head = PlainHead {
        header_ok: text.starts_with(HEADER),
        ..PlainHead::default()
    };
    if !head.header_ok {
        head.problem = Some(if text.starts_with(CLUSTER_HEADER) {
            "it is a pg_dumpall cluster dump, not a single-database pg_dump".into()
        } else {
            "it does not start with pg_dump's \"PostgreSQL database dump\" comment".into()
        });
        return head;
    }
    // Ignore a last line cut by the end of the prefix.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    for line in complete.lines() {
        if let Some(v) = line.strip_prefix("-- Dumped by pg_dump version ") {
            head.dump_version.get_or_insert_with(|| v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("-- Started on ")
            && head.started.is_none()
        {
            head.started = started_on(v.trim());
        } else if let Some(v) = line.strip_prefix("-- Name: ")
            && head.database.is_none()
        {
            head.database = database_entry(v);
        } else if let Some(v) = line.strip_prefix("\\connect ")
            && head.database.is_none()
        {
            head.database = connect_target(v.trim());
        }
    }
    head
}

/// `validator; Type: DATABASE; Schema: -; Owner: cnadmin` → `validator`.
fn database_entry(rest: &str) -> Option<String> {
    let (name, tail) = rest.split_once("; Type: ")?;
    (tail.starts_with("DATABASE;") && !name.is_empty()).then(|| name.to_owned())
}

/// The database of a `\connect` line: `validator`, `"Mixed Case"`, or
/// `-reuse-previous=on "dbname='participant-3'"` (pg_dump's form for names that are not
/// plain identifiers).
fn connect_target(arg: &str) -> Option<String> {
    if let Some(conn) = arg.strip_prefix("-reuse-previous=on ") {
        let conninfo = unquote_ident(conn.trim())?;
        let value = conninfo.strip_prefix("dbname=")?;
        return conninfo_value(value);
    }
    if arg.starts_with('-') {
        return None;
    }
    let name = if arg.starts_with('"') {
        unquote_ident(arg)?
    } else {
        arg.split_whitespace().next()?.to_owned()
    };
    (!name.is_empty()).then_some(name)
}

/// `"a""b"` → `a"b`.
fn unquote_ident(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\"\"", "\""))
}

/// A libpq connection-string value: bare, or single-quoted with backslash escapes.
fn conninfo_value(v: &str) -> Option<String> {
    let Some(quoted) = v.strip_prefix('\'') else {
        return v.split_whitespace().next().map(str::to_owned);
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '\'' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// `2026-11-20 04:00:02 UTC` (pg_dump's `%Y-%m-%d %H:%M:%S %Z`).
fn started_on(v: &str) -> Option<Started> {
    let local = NaiveDateTime::parse_from_str(v.get(..19)?, "%Y-%m-%d %H:%M:%S").ok()?;
    let zone = v.get(19..).unwrap_or("").trim();
    if zone.is_empty() {
        return Some(Started {
            at: local.and_utc(),
            note: Some("no zone given: read as UTC".into()),
        });
    }
    if matches!(
        zone.to_ascii_uppercase().as_str(),
        "UTC" | "GMT" | "UCT" | "UT" | "Z" | "ETC/UTC" | "COORDINATED UNIVERSAL TIME"
    ) {
        return Some(Started {
            at: local.and_utc(),
            note: None,
        });
    }
    if let Some(offset) = numeric_offset(zone) {
        let at = offset
            .from_local_datetime(&local)
            .single()?
            .with_timezone(&Utc);
        return Some(Started { at, note: None });
    }
    Some(Started {
        at: local.and_utc(),
        note: Some(format!("zone '{zone}' is not a UTC offset: read as UTC")),
    })
}

/// `+0100`, `-05:00`, `+03`.
fn numeric_offset(zone: &str) -> Option<FixedOffset> {
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERBOSE: &str = "--\n-- PostgreSQL database dump\n--\n\n\
        -- Dumped from database version 15.8 (Debian 15.8-0+deb12u1)\n\
        -- Dumped by pg_dump version 15.8 (Debian 15.8-0+deb12u1)\n\n\
        -- Started on 2026-11-20 04:00:02 UTC\n\n\
        SET statement_timeout = 0;\n";

    #[test]
    fn reads_version_and_start() {
        let h = read_head(VERBOSE.as_bytes());
        assert!(h.header_ok);
        assert_eq!(
            h.dump_version.as_deref(),
            Some("15.8 (Debian 15.8-0+deb12u1)")
        );
        let s = h.started.unwrap();
        assert_eq!(s.at.to_rfc3339(), "2026-11-20T04:00:02+00:00");
        assert_eq!(s.note, None);
        assert_eq!(h.database, None);
    }

    #[test]
    fn start_zones() {
        let s = started_on("2026-11-20 05:00:02 +0100").unwrap();
        assert_eq!(s.at.to_rfc3339(), "2026-11-20T04:00:02+00:00");
        let s = started_on("2026-11-20 05:00:02 CET").unwrap();
        assert_eq!(s.at.to_rfc3339(), "2026-11-20T05:00:02+00:00");
        assert_eq!(
            s.note.as_deref(),
            Some("zone 'CET' is not a UTC offset: read as UTC")
        );
        assert!(started_on("yesterday").is_none());
    }

    #[test]
    fn database_from_create_and_connect() {
        let dump = "--\n-- PostgreSQL database dump\n--\n\n\
            -- Name: participant-3; Type: DATABASE; Schema: -; Owner: cnadmin\n\
            CREATE DATABASE \"participant-3\";\n";
        assert_eq!(
            read_head(dump.as_bytes()).database.as_deref(),
            Some("participant-3")
        );

        assert_eq!(connect_target("validator").as_deref(), Some("validator"));
        assert_eq!(connect_target("\"Va\"\"l\"").as_deref(), Some("Va\"l"));
        assert_eq!(
            connect_target("-reuse-previous=on \"dbname='participant-3'\"").as_deref(),
            Some("participant-3")
        );
        assert_eq!(
            connect_target(r#"-reuse-previous=on "dbname='it\'s'""#).as_deref(),
            Some("it's")
        );
        assert_eq!(connect_target("- postgres"), None);
    }

    #[test]
    fn other_text_is_not_a_pg_dump() {
        let h = read_head(b"CREATE TABLE t (x int);\n");
        assert!(!h.header_ok);
        assert!(h.problem.unwrap().contains("PostgreSQL database dump"));
        let h = read_head(b"--\n-- PostgreSQL database cluster dump\n--\n");
        assert!(h.problem.unwrap().contains("pg_dumpall"));
        assert!(is_text("-- é".as_bytes()));
        assert!(is_text(&"-- é".as_bytes()[..4])); // cut inside the é
        assert!(!is_text(b"\x00\x01"));
        assert!(!is_text(b"\xff\xfe--"));
    }
}
