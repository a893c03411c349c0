//! PostgreSQL `interval` in its binary wire form: microseconds (i64), days (i32), months (i32).
//!
//! A [`chrono::TimeDelta`] is an exact span, so only intervals without a month part convert;
//! a day counts as 24 hours (PostgreSQL's own convention when it compares intervals).

use chrono::TimeDelta;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Encodes a duration as an interval of microseconds (no days, no months).
pub fn encode(d: TimeDelta) -> Result<Vec<u8>, String> {
    let micros = d
        .num_microseconds()
        .ok_or_else(|| "the duration is too long for an interval".to_owned())?;
    if d.subsec_nanos() % 1000 != 0 {
        return Err("the duration is more precise than a microsecond".into());
    }
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&micros.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    Ok(out)
}

/// Decodes an interval; one with months is refused because a month has no fixed length.
pub fn decode(raw: &[u8]) -> Result<TimeDelta, String> {
    let bytes: [u8; 16] = raw
        .try_into()
        .map_err(|_| "interval value has the wrong length".to_owned())?;
    let micros = i64::from_be_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ]);
    let days = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let months = i32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if months != 0 {
        return Err(format!(
            "an interval of {months} month(s) has no fixed length; \
             use extract(epoch from ...) or justify_interval in the query"
        ));
    }
    let total = i64::from(days)
        .checked_mul(MICROS_PER_DAY)
        .and_then(|d| d.checked_add(micros))
        .ok_or_else(|| "the interval is too long".to_owned())?;
    Ok(TimeDelta::microseconds(total))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_microseconds() {
        let d = TimeDelta::microseconds(3_723_000_042);
        assert_eq!(decode(&encode(d).unwrap()).unwrap(), d);
        let neg = TimeDelta::microseconds(-5);
        assert_eq!(decode(&encode(neg).unwrap()).unwrap(), neg);
    }

    #[test]
    fn days_count_as_24_hours_and_months_are_refused() {
        let mut raw = Vec::new();
        raw.extend_from_slice(&1_000_000i64.to_be_bytes());
        raw.extend_from_slice(&2i32.to_be_bytes());
        raw.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(
            decode(&raw).unwrap(),
            TimeDelta::days(2) + TimeDelta::seconds(1)
        );
        raw[12..].copy_from_slice(&1i32.to_be_bytes());
        assert!(decode(&raw).unwrap_err().contains("month"));
        assert!(decode(&raw[..8]).is_err());
    }

    #[test]
    fn nanoseconds_are_refused() {
        assert!(encode(TimeDelta::nanoseconds(1500)).is_err());
    }
}
