//! PostgreSQL `numeric` in its binary wire form, to and from exact decimal text.
//!
//! The wire form is: digit count (i16), weight of the first digit in powers of 10 000 (i16),
//! sign (u16: 0x0000 positive, 0x4000 negative, 0xC000 NaN, 0xD000 +Infinity,
//! 0xF000 -Infinity), display scale (u16, digits after the point), then the base-10 000 digits
//! (i16 each). Nothing passes through a float, so no digit is lost.

const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;
/// The largest display scale PostgreSQL accepts.
const MAX_DSCALE: usize = 0x3FFF;

/// Decodes the binary form into decimal text (`-12.3400`, `NaN`, `Infinity`), keeping the
/// display scale the server reports.
pub fn decode(raw: &[u8]) -> Result<String, String> {
    let header = |i: usize| -> Result<u16, String> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "numeric value is truncated".to_owned())
    };
    let ndigits = usize::from(header(0)?);
    let weight = i32::from(header(2)? as i16);
    let sign = header(4)?;
    let dscale = usize::from(header(6)?);
    match sign {
        SIGN_NAN => return Ok("NaN".into()),
        SIGN_PINF => return Ok("Infinity".into()),
        SIGN_NINF => return Ok("-Infinity".into()),
        SIGN_POS | SIGN_NEG => {}
        other => return Err(format!("numeric value has an unknown sign 0x{other:04x}")),
    }
    if raw.len() != 8 + 2 * ndigits {
        return Err("numeric value has the wrong length".into());
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        let d = header(8 + 2 * i)?;
        if d > 9999 {
            return Err(format!("numeric digit {d} is out of range"));
        }
        digits.push(d);
    }
    // The base-10 000 digit at power `p` (weight - index).
    let digit_at = |power: i32| -> u16 {
        let index = weight - power;
        usize::try_from(index)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };

    let mut out = String::new();
    if sign == SIGN_NEG && !digits.iter().all(|d| *d == 0) {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for power in (0..=weight).rev() {
            let d = digit_at(power);
            if power == weight {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::with_capacity(dscale + 4);
        let mut power = -1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit_at(power)));
            power -= 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Ok(out)
}

/// Encodes decimal text (`12.50`, `-0.001`, `1e3`, `+7.`) into the binary form, keeping the
/// number of digits written after the point as the display scale.
pub fn encode(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "nan" | "inf" | "infinity") {
        return Err(format!("'{text}' is not a finite number"));
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => {
            let exp: i32 = body[i + 1..]
                .parse()
                .map_err(|_| format!("'{text}' has an invalid exponent"))?;
            (&body[..i], exp)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(format!("'{text}' is not a decimal number"));
    }
    if exponent.unsigned_abs() > 10_000 {
        return Err(format!("'{text}' has an exponent out of range"));
    }
    // All digits, and where the decimal point falls among them.
    let mut digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let mut point = i64::try_from(int_part.len()).map_err(|_| "number too long".to_owned())?
        + i64::from(exponent);
    let dscale_signed = i64::try_from(frac_part.len()).map_err(|_| "number too long".to_owned())?
        - i64::from(exponent);
    let dscale = usize::try_from(dscale_signed.max(0)).map_err(|_| "number too long".to_owned())?;
    if dscale > MAX_DSCALE {
        return Err(format!(
            "'{text}' has more digits after the point than PostgreSQL allows"
        ));
    }
    if point < 0 {
        let pad = usize::try_from(-point).map_err(|_| "number too long".to_owned())?;
        digits.splice(0..0, std::iter::repeat_n(0, pad));
        point = 0;
    }
    let point = usize::try_from(point).map_err(|_| "number too long".to_owned())?;
    if point > digits.len() {
        digits.resize(point, 0);
    }
    let (int_digits, frac_digits) = digits.split_at(point);

    // Group into base-10 000 digits aligned on the decimal point.
    let int_pad = (4 - int_digits.len() % 4) % 4;
    let mut groups: Vec<u16> = Vec::new();
    let padded_int: Vec<u8> = std::iter::repeat_n(0, int_pad)
        .chain(int_digits.iter().copied())
        .collect();
    for chunk in padded_int.chunks(4) {
        groups.push(chunk.iter().fold(0u16, |acc, d| acc * 10 + u16::from(*d)));
    }
    let int_groups = groups.len();
    for chunk in frac_digits.chunks(4) {
        let mut g = chunk.iter().fold(0u16, |acc, d| acc * 10 + u16::from(*d));
        for _ in chunk.len()..4 {
            g *= 10;
        }
        groups.push(g);
    }
    let mut weight = i64::try_from(int_groups).map_err(|_| "number too long".to_owned())? - 1;
    // Strip leading and trailing zero groups.
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= i64::try_from(leading).map_err(|_| "number too long".to_owned())?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let weight = i16::try_from(weight).map_err(|_| format!("'{text}' is too large for numeric"))?;
    let ndigits = u16::try_from(groups.len())
        .map_err(|_| format!("'{text}' has too many digits for numeric"))?;
    let sign = if negative && !groups.is_empty() {
        SIGN_NEG
    } else {
        SIGN_POS
    };
    let dscale = u16::try_from(dscale).map_err(|_| "number too long".to_owned())?;

    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(text: &str) -> String {
        decode(&encode(text).unwrap()).unwrap()
    }

    #[test]
    fn known_values() {
        for (input, expected) in [
            ("0", "0"),
            ("0.00", "0.00"),
            ("-0.0", "0.0"),
            ("12.50", "12.50"),
            ("-12.50", "-12.50"),
            ("10000", "10000"),
            ("0.0001", "0.0001"),
            ("0.00001", "0.00001"),
            (
                "123456789012345678901234567.1234567890",
                "123456789012345678901234567.1234567890",
            ),
            ("1e3", "1000"),
            ("1.5e-3", "0.0015"),
            ("+7.", "7"),
            (".5", "0.5"),
            ("000123.4500", "123.4500"),
        ] {
            assert_eq!(round_trip(input), expected, "{input}");
        }
    }

    #[test]
    fn wire_form_of_a_known_value() {
        // 12345.678 = [1, 2345, 6780] with weight 1, dscale 3.
        let bytes = encode("12345.678").unwrap();
        assert_eq!(
            bytes,
            vec![0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C]
        );
    }

    #[test]
    fn special_values_decode_and_are_not_encoded() {
        assert_eq!(decode(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).unwrap(), "NaN");
        assert_eq!(decode(&[0, 0, 0, 0, 0xD0, 0, 0, 0]).unwrap(), "Infinity");
        assert!(encode("NaN").is_err());
        assert!(encode("-inf").is_err());
        assert!(encode("1.2.3").is_err());
        assert!(encode("12a").is_err());
        assert!(encode("").is_err());
        assert!(encode("1e99999").is_err());
    }

    #[test]
    fn malformed_wire_data_is_an_error_not_a_panic() {
        assert!(decode(&[0, 1]).is_err());
        assert!(decode(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(decode(&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]).is_err());
        assert!(decode(&[0, 0, 0, 0, 0x12, 0x34, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn any_plain_decimal_round_trips(
            neg in any::<bool>(),
            int in "[1-9][0-9]{0,30}|0",
            frac in proptest::option::of("[0-9]{1,20}"),
        ) {
            let text = match &frac {
                Some(f) => format!("{}{int}.{f}", if neg { "-" } else { "" }),
                None => format!("{}{int}", if neg { "-" } else { "" }),
            };
            let back = round_trip(&text);
            let is_zero = text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.');
            let expected = if is_zero { text.trim_start_matches('-').to_owned() } else { text.clone() };
            prop_assert_eq!(back, expected);
        }
    }
}
