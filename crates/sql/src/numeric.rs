//! PostgreSQL's binary `numeric` over the whole range of Atoll's decimals.
//!
//! Atoll's `numeric` is an Arrow `Decimal128`: up to 38 significant digits, scale 0..=38. The
//! result encoder we use (arrow-pg) converts through `rust_decimal`, which holds 28 digits; a
//! wider value failed to encode, and since that encoder does not move past a failed row the
//! node buffered the same error without end (issue 19: one row grew a node past 24 GB). So
//! decimals are encoded here, in both directions, straight from the scaled integer.
//!
//! The wire form (PostgreSQL's `numeric_send`): four big-endian 16-bit words, then the digits.
//! `ndigits` base-10000 digits follow; `weight` is the power of 10000 of the first one; `sign`
//! is 0x0000 (positive), 0x4000 (negative) or 0xC000 (NaN); `dscale` is the number of decimal
//! digits after the point that the value displays. Leading and trailing zero digits are left
//! out, so zero is `ndigits = 0`.

use crate::error::{code, Result, SqlError};

/// Decimal digits in one base-10000 digit.
const DIGITS_PER_WORD: usize = 4;
const SIGN_POSITIVE: u16 = 0x0000;
const SIGN_NEGATIVE: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
/// Most significant digits a `Decimal128` holds, and its largest scale.
const PRECISION_MAX: u32 = 38;
/// More base-10000 digits than a 38-digit value at scale 38 can need (with zero padding);
/// bounds the work a hostile message can ask for.
const WORDS_MAX: usize = 24;

/// PostgreSQL's binary form of `value` / 10^`scale`.
pub fn encode(value: i128, scale: i8) -> Vec<u8> {
    let scale = usize::try_from(scale).unwrap_or(0);
    let digits = value.unsigned_abs().to_string();
    // Pad so that the integer part has at least one digit and the point sits at `scale`.
    let padded = format!("{}{digits}", "0".repeat((scale + 1).saturating_sub(digits.len())));
    let (integer, fraction) = padded.split_at(padded.len() - scale);
    let integer_words = integer.len().div_ceil(DIGITS_PER_WORD);
    let integer = format!("{}{integer}", "0".repeat(integer_words * DIGITS_PER_WORD - integer.len()));
    let fraction_words = fraction.len().div_ceil(DIGITS_PER_WORD);
    let fraction = format!("{fraction}{}", "0".repeat(fraction_words * DIGITS_PER_WORD - fraction.len()));
    let all = format!("{integer}{fraction}");
    let mut words: Vec<i16> = all
        .as_bytes()
        .chunks(DIGITS_PER_WORD)
        .map(|chunk| chunk.iter().fold(0i16, |word, digit| word * 10 + i16::from(digit - b'0')))
        .collect();
    let mut weight = integer_words as i16 - 1;
    let leading = words.iter().take_while(|w| **w == 0).count();
    words.drain(..leading);
    weight -= leading as i16;
    while words.last() == Some(&0) {
        words.pop();
    }
    if words.is_empty() {
        weight = 0;
    }
    let sign = if value < 0 { SIGN_NEGATIVE } else { SIGN_POSITIVE };
    let mut out = Vec::with_capacity(8 + 2 * words.len());
    out.extend_from_slice(&(words.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(scale as u16).to_be_bytes());
    for word in words {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out
}

/// The scaled integer and scale of a binary `numeric`; 22P03 for a malformed message, 22003
/// for a value a 38-digit decimal cannot hold (NaN, more digits, or a larger scale).
pub fn decode(bytes: &[u8]) -> Result<(i128, i8)> {
    let malformed = || SqlError::new(code::INVALID_BINARY_REPRESENTATION, "invalid binary data for type numeric");
    let out_of_range =
        || SqlError::new(code::NUMERIC_OUT_OF_RANGE, "numeric value out of range for a 38-digit decimal");
    let word = |i: usize| -> Result<u16> {
        let pair = bytes.get(2 * i..2 * i + 2).ok_or_else(malformed)?;
        Ok(u16::from_be_bytes([pair[0], pair[1]]))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = u32::from(word(3)?);
    if bytes.len() != 8 + 2 * ndigits {
        return Err(malformed());
    }
    if sign == SIGN_NAN {
        return Err(out_of_range());
    }
    if sign != SIGN_POSITIVE && sign != SIGN_NEGATIVE {
        return Err(malformed());
    }
    if dscale > PRECISION_MAX || ndigits > WORDS_MAX {
        return Err(out_of_range());
    }
    let mut value: i128 = 0;
    for i in 0..ndigits {
        let digit = word(4 + i)?;
        if digit >= 10_000 {
            return Err(malformed());
        }
        // This digit's power of ten once the value is scaled by 10^dscale.
        let exponent = DIGITS_PER_WORD as i32 * (weight - i as i32) + dscale as i32;
        let term = if exponent >= 0 {
            10i128.checked_pow(exponent as u32).and_then(|p| p.checked_mul(i128::from(digit)))
        } else {
            // Digits past the display scale: PostgreSQL never sends them non-zero.
            let divisor = 10i128.checked_pow(exponent.unsigned_abs()).ok_or_else(malformed)?;
            (i128::from(digit) % divisor == 0).then(|| i128::from(digit) / divisor)
        };
        value = term.and_then(|t| value.checked_add(t)).ok_or_else(out_of_range)?;
    }
    if value >= 10i128.pow(PRECISION_MAX) {
        return Err(out_of_range());
    }
    let value = if sign == SIGN_NEGATIVE { -value } else { value };
    Ok((value, dscale as i8))
}

/// The scaled integer and scale of a `numeric` written as text, with an optional exponent
/// (`-1E-38`, as drivers send small values); 22P02 for what is not a number, 22003 for what a
/// 38-digit decimal cannot hold.
pub fn parse(text: &str) -> Result<(i128, i8)> {
    let invalid = || {
        SqlError::new(code::INVALID_TEXT_REPRESENTATION, format!("invalid input syntax for type numeric: \"{text}\""))
    };
    let out_of_range =
        || SqlError::new(code::NUMERIC_OUT_OF_RANGE, "numeric value out of range for a 38-digit decimal");
    let trimmed = text.trim();
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if ["nan", "infinity", "inf"].contains(&unsigned.to_ascii_lowercase().as_str()) {
        return Err(out_of_range());
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i32>().map_err(|_| invalid())?),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if integer.len() + fraction.len() == 0 || !all_digits(integer) || !all_digits(fraction) {
        return Err(invalid());
    }
    let digits = format!("{integer}{fraction}");
    let digits = digits.trim_start_matches('0');
    let mut scale = i64::try_from(fraction.len()).map_err(|_| out_of_range())? - i64::from(exponent);
    let mut digits = digits.to_string();
    // Zeros past the last significant digit go before the scale is checked.
    while (scale > i64::from(PRECISION_MAX) || (scale > 0 && digits.len() > PRECISION_MAX as usize))
        && digits.ends_with('0')
    {
        digits.pop();
        scale -= 1;
    }
    if scale < 0 {
        digits.push_str(&"0".repeat(usize::try_from(-scale).map_err(|_| out_of_range())?.min(40)));
        scale = 0;
    }
    if scale > i64::from(PRECISION_MAX) || digits.len() > PRECISION_MAX as usize {
        return Err(out_of_range());
    }
    let value: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| out_of_range())? };
    Ok((if negative { -value } else { value }, scale as i8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(bytes: &[u8]) -> Vec<i16> {
        bytes.chunks(2).map(|p| i16::from_be_bytes([p[0], p[1]])).collect()
    }

    #[test]
    fn encodes_as_postgresql_numeric_send_does() {
        // Reference values read off PostgreSQL 15's `numeric_send`.
        assert_eq!(words(&encode(0, 0)), vec![0, 0, 0, 0]);
        assert_eq!(words(&encode(0, 2)), vec![0, 0, 0, 2]);
        assert_eq!(words(&encode(12345, 2)), vec![2, 0, 0, 2, 123, 4500]);
        assert_eq!(words(&encode(-1, 0)), vec![1, 0, 0x4000, 0, 1]);
        assert_eq!(words(&encode(10_000, 0)), vec![1, 1, 0, 0, 1]);
        assert_eq!(words(&encode(5, 5)), vec![1, -2, 0, 5, 5000]);
        // 9e27 at scale 10: the value that made the node buffer forever.
        let wide = 9_000_000_000_000_000_000_000_000_000i128 * 10i128.pow(10);
        assert_eq!(words(&encode(wide, 10)), vec![1, 6, 0, 10, 9000]);
    }

    #[test]
    fn every_precision_and_scale_round_trips() {
        for scale in 0..=38i8 {
            for digits in 1..=38u32 {
                let max = 10i128.pow(digits) - 1;
                for value in [max, -max, 10i128.pow(digits - 1), 7, -7, 0] {
                    assert_eq!(decode(&encode(value, scale)).expect("decode"), (value, scale), "{value} scale {scale}");
                }
            }
        }
    }

    #[test]
    fn text_with_exponents_and_signs_parses_as_postgresql_reads_it() {
        assert_eq!(parse("-1E-38").expect("parse"), (-1, 38));
        assert_eq!(parse("1.5e3").expect("parse"), (1500, 0));
        assert_eq!(parse("+0.250").expect("parse"), (250, 3));
        assert_eq!(parse(" 12 ").expect("parse"), (12, 0));
        assert_eq!(parse(".5").expect("parse"), (5, 1));
        let (one, scale) = parse("1.000000000000000000000000000000000000000000").expect("parse");
        assert_eq!(one, 10i128.pow(scale as u32), "trailing zeros go to fit 38 digits");
        assert_eq!(parse(&"9".repeat(38)).expect("parse").0, 10i128.pow(38) - 1);
        for (text, state) in [
            ("1e39", code::NUMERIC_OUT_OF_RANGE),
            (&"9".repeat(39), code::NUMERIC_OUT_OF_RANGE),
            ("1e-39", code::NUMERIC_OUT_OF_RANGE),
            ("NaN", code::NUMERIC_OUT_OF_RANGE),
            ("1e99999999999", code::INVALID_TEXT_REPRESENTATION),
            ("12a", code::INVALID_TEXT_REPRESENTATION),
            ("", code::INVALID_TEXT_REPRESENTATION),
            ("-", code::INVALID_TEXT_REPRESENTATION),
            ("1.2.3", code::INVALID_TEXT_REPRESENTATION),
        ] {
            assert_eq!(parse(text).expect_err(text).code, state, "{text}");
        }
    }

    #[test]
    fn hostile_messages_are_refused_with_a_sqlstate() {
        let message = |ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]| {
            let mut out = Vec::new();
            for w in [ndigits, weight, sign as i16, dscale as i16].iter().chain(digits) {
                out.extend_from_slice(&w.to_be_bytes());
            }
            out
        };
        let state = |bytes: &[u8]| decode(bytes).expect_err("refused").code;
        assert_eq!(state(&[0, 1]), code::INVALID_BINARY_REPRESENTATION);
        assert_eq!(state(&message(2, 0, 0, 0, &[1])), code::INVALID_BINARY_REPRESENTATION);
        assert_eq!(state(&message(1, 0, 0, 0, &[10_000])), code::INVALID_BINARY_REPRESENTATION);
        assert_eq!(state(&message(1, 0, 0x1234, 0, &[1])), code::INVALID_BINARY_REPRESENTATION);
        assert_eq!(state(&message(0, 0, SIGN_NAN, 0, &[])), code::NUMERIC_OUT_OF_RANGE);
        assert_eq!(state(&message(1, 10, 0, 0, &[1])), code::NUMERIC_OUT_OF_RANGE);
        assert_eq!(state(&message(1, i16::MAX, 0, 0, &[1])), code::NUMERIC_OUT_OF_RANGE);
        assert_eq!(state(&message(0, 0, 0, 39, &[])), code::NUMERIC_OUT_OF_RANGE);
        assert_eq!(state(&message(1, -20, 0, 2, &[1])), code::INVALID_BINARY_REPRESENTATION);
    }
}
