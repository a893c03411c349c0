//! Conversions between protobuf well-known types and chrono, exact to the nanosecond (Canton
//! itself uses microseconds, which therefore survive unchanged).

use chrono::{DateTime, TimeDelta, Utc};

/// A protobuf timestamp as a UTC instant; `None` when out of range or malformed.
pub fn timestamp_to_chrono(ts: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    DateTime::from_timestamp(ts.seconds, nanos)
}

/// A UTC instant as a protobuf timestamp.
pub fn chrono_to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        // Always below 1e9 for chrono's UTC instants (no leap-second representation here).
        nanos: i32::try_from(t.timestamp_subsec_nanos().min(999_999_999)).unwrap_or(0),
    }
}

/// A protobuf duration as a chrono delta; `None` when malformed (mixed signs, nanos out of
/// range) or out of range.
pub fn duration_to_chrono(d: &prost_types::Duration) -> Option<TimeDelta> {
    if d.nanos.abs() >= 1_000_000_000
        || (d.seconds > 0 && d.nanos < 0)
        || (d.seconds < 0 && d.nanos > 0)
    {
        return None;
    }
    TimeDelta::try_seconds(d.seconds)?.checked_add(&TimeDelta::nanoseconds(i64::from(d.nanos)))
}

/// A chrono delta as a protobuf duration.
pub fn chrono_to_duration(d: TimeDelta) -> prost_types::Duration {
    let seconds = d.num_seconds();
    let rest = d - TimeDelta::seconds(seconds);
    prost_types::Duration {
        seconds,
        nanos: i32::try_from(rest.num_nanoseconds().unwrap_or(0)).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_survive_both_ways() {
        let t = DateTime::parse_from_rfc3339("2025-11-27T06:50:00.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        let ts = chrono_to_timestamp(t);
        assert_eq!(ts.nanos, 123_456_000);
        assert_eq!(timestamp_to_chrono(&ts), Some(t));
    }

    #[test]
    fn the_acs_import_record_time_is_representable() {
        let t = DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let ts = chrono_to_timestamp(t);
        assert_eq!(ts.seconds, -62_135_596_800);
        assert_eq!(timestamp_to_chrono(&ts), Some(t));
    }

    #[test]
    fn malformed_values_are_refused() {
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(timestamp_to_chrono(&bad), None);
        let bad = prost_types::Duration {
            seconds: 1,
            nanos: -5,
        };
        assert_eq!(duration_to_chrono(&bad), None);
        let ok = prost_types::Duration {
            seconds: 60,
            nanos: 0,
        };
        assert_eq!(duration_to_chrono(&ok), Some(TimeDelta::seconds(60)));
        assert_eq!(
            duration_to_chrono(&chrono_to_duration(TimeDelta::microseconds(-1_500_001))),
            Some(TimeDelta::microseconds(-1_500_001))
        );
    }
}
