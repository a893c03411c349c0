//! Token amounts as exact fixed-point numbers with the ten decimal places of a Daml `Numeric 10`.

use std::fmt;
use std::str::FromStr;

/// Decimal places of an [`Amount`].
pub const SCALE: u32 = 10;
const UNIT: u64 = 10_u64.pow(SCALE);

/// A non-negative token amount, exact to 10 decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(u64);

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an amount: {reason}")]
pub struct AmountError {
    pub text: String,
    pub reason: &'static str,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// A whole number of tokens (saturating at the largest representable amount).
    pub fn from_whole(whole: u64) -> Amount {
        Amount(whole.saturating_mul(UNIT))
    }

    /// From the smallest unit (10⁻¹⁰ of a token).
    pub fn from_units(units: u64) -> Amount {
        Amount(units)
    }

    /// In the smallest unit (10⁻¹⁰ of a token).
    pub fn units(self) -> u64 {
        self.0
    }

    /// The sum, unless it overflows.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// The difference, unless it would be negative.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

impl fmt::Display for Amount {
    /// Always with 10 decimal places, as the Ledger API renders a `Numeric 10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:010}", self.0 / UNIT, self.0 % UNIT)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Amount, AmountError> {
        let err = |reason| AmountError {
            text: s.to_string(),
            reason,
        };
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("expected digits before the decimal point"));
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("expected digits after the decimal point"));
        }
        if frac.len() > SCALE as usize {
            return Err(err("more than 10 decimal places"));
        }
        let whole: u64 = whole.parse().map_err(|_| err("too large"))?;
        let mut frac_units: u64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_units += u64::from(b - b'0') * 10_u64.pow(SCALE - 1 - i as u32);
        }
        whole
            .checked_mul(UNIT)
            .and_then(|w| w.checked_add(frac_units))
            .map(Amount)
            .ok_or_else(|| err("too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_ten_places_and_parses_back() {
        let a = Amount::from_units(123_450_000_001);
        assert_eq!(a.to_string(), "12.3450000001");
        assert_eq!("12.3450000001".parse::<Amount>(), Ok(a));
        assert_eq!("7".parse::<Amount>(), Ok(Amount::from_whole(7)));
        assert_eq!(
            "7.5".parse::<Amount>().map(|a| a.to_string()).as_deref(),
            Ok("7.5000000000")
        );
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "-1",
            "1.2.3",
            "1e5",
            ".5",
            "1.00000000001",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<Amount>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Amount::from_whole(3);
        let b = Amount::from_whole(5);
        assert_eq!(b.checked_sub(a), Some(Amount::from_whole(2)));
        assert_eq!(a.checked_sub(b), None);
        assert_eq!(Amount::from_units(u64::MAX).checked_add(a), None);
    }
}
