//! Parsing of single ORATS cells. Each function returns a short reason on
//! failure; the caller adds file, line and column.

use chrono::NaiveDate;

/// Days from 0001-01-01 (CE) to 1970-01-01, to turn chrono dates into Date32.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Whether a cell is blank (empty or only spaces): a blank is null, never 0.
pub fn is_blank(cell: &[u8]) -> bool {
    cell.iter().all(|b| *b == b' ')
}

fn trim(cell: &[u8]) -> &[u8] {
    cell.trim_ascii()
}

/// Parses `M/D/YYYY` (with or without zero padding) or `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(cell: &[u8]) -> Result<i32, &'static str> {
    let cell = trim(cell);
    let (y, m, d) = if let Some((a, rest)) = split_once(cell, b'/') {
        let (b, c) = split_once(rest, b'/').ok_or("date is not M/D/YYYY or YYYY-MM-DD")?;
        (number(c, 4)?, number(a, 2)?, number(b, 2)?)
    } else if let Some((a, rest)) = split_once(cell, b'-') {
        let (b, c) = split_once(rest, b'-').ok_or("date is not M/D/YYYY or YYYY-MM-DD")?;
        if a.len() != 4 {
            return Err("date is not M/D/YYYY or YYYY-MM-DD");
        }
        (number(a, 4)?, number(b, 2)?, number(c, 2)?)
    } else {
        return Err("date is not M/D/YYYY or YYYY-MM-DD");
    };
    let date = NaiveDate::from_ymd_opt(y as i32, m, d).ok_or("date does not exist")?;
    Ok(date_to_days(date))
}

/// Days since 1970-01-01 of a date (the Arrow Date32 value).
pub fn date_to_days(date: NaiveDate) -> i32 {
    use chrono::Datelike;
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

/// The date of an Arrow Date32 value.
pub fn days_to_date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_DAYS_FROM_CE)
        .expect("Date32 value within chrono's range")
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = memchr::memchr(sep, s)?;
    Some((&s[..i], &s[i + 1..]))
}

fn number(digits: &[u8], max_len: usize) -> Result<u32, &'static str> {
    if digits.is_empty() || digits.len() > max_len || !digits.iter().all(u8::is_ascii_digit) {
        return Err("date is not M/D/YYYY or YYYY-MM-DD");
    }
    Ok(digits
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// Parses a decimal or scientific-notation number (`0.0706`, `2.3E+15`).
pub fn parse_float(cell: &[u8]) -> Result<f64, &'static str> {
    let cell = trim(cell);
    match plain_decimal(cell) {
        Some(value) => Ok(value),
        None => lexical_core::parse::<f64>(cell).map_err(|_| "not a number"),
    }
}

/// 2^53: integers up to it are exact doubles.
const EXACT_INTEGER_LIMIT: u64 = 1 << 53;

/// Powers of ten that are exact doubles (10^0 ..= 10^22).
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common shape of an ORATS number, `-?D+(.D+)?` with at most 15 digits, parsed
/// without the general algorithm: its digits form an integer below 2^53 and it has at most 22
/// decimals, so both the integer and the power of ten are exact doubles and one IEEE division
/// rounds the quotient correctly (Clinger's fast path) — the same bits the general parser
/// gives. Every other shape (exponents, more digits, `.5`, `1.`) returns `None`.
fn plain_decimal(cell: &[u8]) -> Option<f64> {
    let (negative, digits) = match cell {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, cell),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut i = 0;
    while let Some(d) = digits
        .get(i)
        .map(|b| b.wrapping_sub(b'0'))
        .filter(|d| *d <= 9)
    {
        mantissa = mantissa * 10 + u64::from(d);
        i += 1;
    }
    let mut decimals = 0;
    if i < digits.len() {
        // Only `.` followed by digits may come after at least one digit.
        if digits[i] != b'.' || i == 0 || i + 1 == digits.len() {
            return None;
        }
        for &b in &digits[i + 1..] {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            mantissa = mantissa * 10 + u64::from(d);
        }
        decimals = digits.len() - i - 1;
    }
    if mantissa > EXACT_INTEGER_LIMIT {
        return None;
    }
    let value = mantissa as f64 / EXACT_POWERS_OF_TEN[decimals];
    Some(if negative { -value } else { value })
}

/// `10^k` for `k` in `0..=18`: every power of ten an `i64` holds.
const POW10_I64: [i64; 19] = {
    let mut p = [1i64; 19];
    let mut k = 1;
    while k < 19 {
        p[k] = p[k - 1] * 10;
        k += 1;
    }
    p
};

/// Parses a decimal or scientific-notation number (`0.0706`, `-1.5E-05`, `4700`) into
/// its value times `10^scale`, exactly, with no floating-point step: the digits are read
/// as an integer and the decimal point moved. Only a cell whose value is a whole number
/// of `10^-scale` fits (trailing zeros beyond the scale are fine, `0.10` at scale 1 is 1);
/// one with more decimals, or with more than `precision` digits once scaled, is an error,
/// never rounded. `-0` is 0 (a decimal has one zero); `NaN` and `inf` are not decimals.
pub fn parse_decimal(cell: &[u8], scale: i8, precision: u8) -> Result<i64, &'static str> {
    let cell = trim(cell);
    match plain_scaled(cell, scale, precision) {
        Some(value) => Ok(value),
        None => any_decimal(cell, scale, precision),
    }
}

/// [`parse_decimal`] for every shape, of a trimmed cell.
fn any_decimal(cell: &[u8], scale: i8, precision: u8) -> Result<i64, &'static str> {
    const NOT_A_NUMBER: &str = "not a number";
    const TOO_PRECISE: &str = "more decimals than the lake stores for this column";
    const TOO_LARGE: &str = "more digits than the lake stores for this column";
    let (negative, rest) = match cell {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, cell),
    };
    let (number, exponent) = match memchr::memchr2(b'e', b'E', rest) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    // The significant digits as an integer; zeros after the last non-zero digit are
    // only counted, so `0.500000000000000000000` does not overflow.
    let mut mantissa: i64 = 0;
    let mut pending_zeros: i64 = 0;
    let mut digits = 0;
    let mut decimals: i64 = 0;
    let mut seen_point = false;
    for &b in number {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                decimals += i64::from(seen_point);
                if b == b'0' {
                    pending_zeros += 1;
                    continue;
                }
                let digit = i64::from(b - b'0');
                mantissa = if mantissa == 0 {
                    digit
                } else {
                    usize::try_from(pending_zeros + 1)
                        .ok()
                        .and_then(|shift| POW10_I64.get(shift))
                        .and_then(|p| mantissa.checked_mul(*p))
                        .and_then(|m| m.checked_add(digit))
                        .ok_or(TOO_LARGE)?
                };
                pending_zeros = 0;
            }
            b'.' if !seen_point => seen_point = true,
            _ => return Err(NOT_A_NUMBER),
        }
    }
    if digits == 0 {
        return Err(NOT_A_NUMBER);
    }
    let exponent = match exponent {
        None => 0,
        Some(e) => {
            let (e_negative, e_digits) = match e {
                [b'-', rest @ ..] => (true, rest),
                [b'+', rest @ ..] => (false, rest),
                _ => (false, e),
            };
            if e_digits.is_empty() || e_digits.len() > 4 || !e_digits.iter().all(u8::is_ascii_digit)
            {
                return Err(NOT_A_NUMBER);
            }
            let e = e_digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
            if e_negative { -e } else { e }
        }
    };
    if mantissa == 0 {
        return Ok(0);
    }
    // value = mantissa · 10^shift / 10^scale; a negative shift means the significant
    // digits end past the scale: the value is no whole number of 10^-scale.
    let shift = pending_zeros - decimals + exponent + i64::from(scale);
    if shift < 0 {
        return Err(TOO_PRECISE);
    }
    let scaled = usize::try_from(shift)
        .ok()
        .and_then(|s| POW10_I64.get(s))
        .and_then(|p| mantissa.checked_mul(*p))
        .ok_or(TOO_LARGE)?;
    if scaled >= POW10_I64[usize::from(precision)] {
        return Err(TOO_LARGE);
    }
    Ok(if negative { -scaled } else { scaled })
}

/// The common shape of an ORATS number, `-?D*(.D*)?` with at most 18 digits, scaled in one
/// pass with no overflow possible (18 digits are below 10^18 < 2^63). `None` for every other
/// shape and for any value [`any_decimal`] would refuse, so that the general path gives the
/// answer and the error: exponents, a sign of `+`, more digits, no digit, more decimals than
/// `scale` holds once trailing zeros go, more than `precision` digits once scaled.
///
/// Reading eight digits at a time in one word (simdjson's way) was measured slower here: the
/// cells are short and the word must be padded first.
#[inline]
fn plain_scaled(cell: &[u8], scale: i8, precision: u8) -> Option<i64> {
    let (negative, digits) = match cell {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, cell),
    };
    if digits.len() > 18 || !(0..=18).contains(&scale) {
        return None;
    }
    let mut mantissa: i64 = 0;
    let mut point = None;
    for (i, &b) in digits.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d <= 9 {
            mantissa = mantissa * 10 + i64::from(d);
        } else if b == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    if digits.len() == usize::from(point.is_some()) {
        return None;
    }
    let decimals = point.map_or(0, |i| digits.len() - i - 1);
    let scale = usize::try_from(scale).ok()?;
    let scaled = if decimals <= scale {
        mantissa.checked_mul(POW10_I64[scale - decimals])?
    } else {
        // Only trailing zeros may go past the scale.
        let excess = POW10_I64[decimals - scale];
        if mantissa % excess != 0 {
            return None;
        }
        mantissa / excess
    };
    if scaled >= POW10_I64[usize::from(precision).min(18)] {
        return None;
    }
    Some(if negative { -scaled } else { scaled })
}

/// Parses a non-negative integer count; `12.0` is accepted, `1.5` and `-3` are not.
pub fn parse_count(cell: &[u8]) -> Result<i64, &'static str> {
    let cell = trim(cell);
    let value = match lexical_core::parse::<i64>(cell) {
        Ok(v) => v,
        Err(_) => {
            let f = lexical_core::parse::<f64>(cell).map_err(|_| "not an integer")?;
            if f.fract() != 0.0 || !f.is_finite() || f.abs() > 9.0e15 {
                return Err("not an integer");
            }
            f as i64
        }
    };
    if value < 0 {
        return Err("negative count");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        date_to_days(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn dates_with_and_without_padding_and_iso() {
        assert_eq!(parse_date(b"1/3/2024"), Ok(day(2024, 1, 3)));
        assert_eq!(parse_date(b"01/03/2024"), Ok(day(2024, 1, 3)));
        assert_eq!(parse_date(b"12/31/2007"), Ok(day(2007, 12, 31)));
        assert_eq!(parse_date(b"2024-01-03"), Ok(day(2024, 1, 3)));
        assert_eq!(parse_date(b"1/3/2024\r"), Ok(day(2024, 1, 3)));
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(days_to_date(day(2026, 2, 5)).to_string(), "2026-02-05");
    }

    #[test]
    fn bad_dates_say_why() {
        assert_eq!(parse_date(b"2/30/2024"), Err("date does not exist"));
        assert!(parse_date(b"20240103").is_err());
        assert!(parse_date(b"1/3").is_err());
        assert!(parse_date(b"a/b/cccc").is_err());
        assert!(parse_date(b"24-01-03").is_err());
        assert!(parse_date(b"").is_err());
    }

    #[test]
    fn floats_decimal_and_scientific() {
        assert_eq!(parse_float(b"0.0706"), Ok(0.0706));
        assert_eq!(parse_float(b"2.3E+15"), Ok(2.3e15));
        assert_eq!(parse_float(b"1.5E-05"), Ok(1.5e-5));
        assert_eq!(parse_float(b"-0.00000443"), Ok(-0.00000443));
        assert_eq!(parse_float(b"147.69"), Ok(147.69));
        assert_eq!(parse_float(b"12abc"), Err("not a number"));
        assert_eq!(parse_float(b"1,5"), Err("not a number"));
    }

    #[test]
    fn decimals_are_exact_scaled_integers() {
        let d = |cell: &str, scale| parse_decimal(cell.as_bytes(), scale, 15);
        assert_eq!(d("0.0706", 6), Ok(70_600));
        assert_eq!(d("147.69", 2), Ok(14_769));
        assert_eq!(d("4700", 3), Ok(4_700_000));
        assert_eq!(d("192.5", 3), Ok(192_500));
        assert_eq!(d("-0.00000443", 8), Ok(-443));
        assert_eq!(d(" 1.00000000 ", 8), Ok(100_000_000));
        assert_eq!(
            d("0.50000000000000000000000000", 1),
            Ok(5),
            "trailing zeros"
        );
        assert_eq!(d("000012.30", 2), Ok(1_230), "leading zeros");
        assert_eq!(d("1.5E-05", 6), Ok(15));
        assert_eq!(d("2.3E+14", 0), Ok(230_000_000_000_000));
        assert_eq!(
            d("0.00000000000000000000001", 23),
            Ok(1),
            "leading zeros after the point"
        );
        assert_eq!(d("1e3", 2), Ok(100_000));
        assert_eq!(d("+1.5", 1), Ok(15));
        assert_eq!(d(".5", 1), Ok(5));
        assert_eq!(d("1.", 1), Ok(10));
        assert_eq!(d("-0", 8), Ok(0));
        assert_eq!(d("0E+99", 2), Ok(0));
        assert_eq!(d("999999999999999", 0), Ok(999_999_999_999_999));
    }

    #[test]
    fn decimals_never_round() {
        let d = |cell: &str, scale| parse_decimal(cell.as_bytes(), scale, 15);
        let too_precise = Err("more decimals than the lake stores for this column");
        let too_large = Err("more digits than the lake stores for this column");
        assert_eq!(d("0.123456789", 8), too_precise);
        assert_eq!(d("0.001", 2), too_precise);
        assert_eq!(d("1.5E-05", 5), too_precise);
        assert_eq!(d("1.3E-05", 2), too_precise);
        assert_eq!(d("1000000000000000", 0), too_large);
        assert_eq!(d("10000000", 8), too_large);
        assert_eq!(d("2.3E+15", 2), too_large);
        assert_eq!(d("9999999999999999999999", 0), too_large);
        assert_eq!(d("1E+9999", 0), too_large);
        for bad in [
            "", "-", ".", "1.2.3", "NaN", "inf", "1,5", "--1", "1e", "1e+", "12abc", "0x10",
        ] {
            assert_eq!(d(bad, 2), Err("not a number"), "{bad:?}");
        }
    }

    /// A repeatable stream of pseudo-random words (xorshift*) from a non-zero seed.
    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed;
        move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }
    }

    /// Every decimal that fits gives, cast to a double as DataFusion and DuckDB cast it
    /// (`v as f64 / 10^s`), the same bits as parsing its text: the metrics cannot tell.
    #[test]
    fn decimal_casts_give_the_parsed_doubles() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for _ in 0..200_000 {
            let r = next();
            let scale = (r % 9) as i8;
            let magnitude = (next() % 1_000_000_000_000_000) as i64;
            let v = if r & 1 << 40 == 0 {
                magnitude
            } else {
                -magnitude
            };
            let s = scale as usize;
            let text = if s == 0 {
                v.to_string()
            } else {
                let a = v.unsigned_abs();
                let p = 10u64.pow(scale as u32);
                format!("{}{}.{:0s$}", if v < 0 { "-" } else { "" }, a / p, a % p)
            };
            assert_eq!(parse_decimal(text.as_bytes(), scale, 15), Ok(v), "{text}");
            let cast = v as f64 / 10_f64.powi(i32::from(scale));
            let parsed = parse_float(text.as_bytes()).unwrap();
            assert_eq!(cast.to_bits(), (parsed + 0.0).to_bits(), "{text}");
        }
    }

    /// The one-pass path answers only where the general one agrees, and answers for the
    /// shapes ORATS writes.
    #[test]
    fn the_plain_path_agrees_with_the_general_one() {
        for (cell, scale) in [
            ("0.0706", 6),
            ("-0.00000443", 8),
            ("4700", 3),
            ("147.69", 2),
        ] {
            assert!(plain_scaled(cell.as_bytes(), scale, 15).is_some(), "{cell}");
        }
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"0000123456789..-+eE x";
        let (mut answered, mut refused) = (0, 0);
        for _ in 0..400_000 {
            let r = next();
            let len = (r % 21) as usize;
            let cell: Vec<u8> = (0..len)
                .map(|i| {
                    // Mostly digits, so that long valid numbers come up too.
                    let pick = next();
                    if i > 0 && !pick.is_multiple_of(4) {
                        b'0' + (pick % 10) as u8
                    } else {
                        alphabet[(pick % alphabet.len() as u64) as usize]
                    }
                })
                .collect();
            let scale = ((r >> 8) % 12) as i8;
            let precision = [6, 15, 18][((r >> 16) % 3) as usize];
            match plain_scaled(&cell, scale, precision) {
                Some(v) => {
                    answered += 1;
                    assert_eq!(
                        any_decimal(&cell, scale, precision),
                        Ok(v),
                        "{:?} at scale {scale}",
                        String::from_utf8_lossy(&cell)
                    );
                }
                None => refused += 1,
            }
        }
        assert!(
            answered > 50_000 && refused > 50_000,
            "{answered} / {refused}"
        );
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count(b"0"), Ok(0));
        assert_eq!(parse_count(b"123456"), Ok(123456));
        assert_eq!(parse_count(b"12.0"), Ok(12));
        assert_eq!(parse_count(b"1.5"), Err("not an integer"));
        assert_eq!(parse_count(b"-3"), Err("negative count"));
        assert_eq!(parse_count(b"x"), Err("not an integer"));
    }

    #[test]
    fn blanks() {
        assert!(is_blank(b""));
        assert!(is_blank(b"  "));
        assert!(!is_blank(b"0"));
    }

    /// The fast path gives the general parser's bits on every number it takes, and leaves
    /// every other shape to it.
    #[test]
    fn plain_decimals_parse_to_the_same_bits_as_lexical() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            // xorshift64*: deterministic, no crate needed for test inputs.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut taken = 0;
        for _ in 0..400_000 {
            let r = next();
            let int_digits = 1 + (r % 9) as usize;
            let frac_digits = ((r >> 8) % 10) as usize;
            let mut text = String::new();
            if (r >> 16) % 3 == 0 {
                text.push('-');
            }
            let mut digits = next();
            for k in 0..int_digits + frac_digits {
                if k == int_digits {
                    text.push('.');
                }
                text.push(char::from(b'0' + (digits % 10) as u8));
                digits /= 10;
                if digits == 0 {
                    digits = next();
                }
            }
            let expected = lexical_core::parse::<f64>(text.as_bytes()).unwrap();
            let got = parse_float(text.as_bytes()).unwrap();
            assert_eq!(got.to_bits(), expected.to_bits(), "{text}");
            taken += usize::from(plain_decimal(text.as_bytes()).is_some());
        }
        assert!(taken > 300_000, "the fast path took only {taken}");
        for text in [
            "0",
            "-0",
            "-0.0",
            "0.0706",
            "9007199254740992",
            "9007199254740993",
            "0.1",
            "1234567.891",
            "123456789012345.6",
            "2.3E+15",
            "1e-7",
            ".5",
            "1.",
            "-.5",
            "1.2.3",
            "NaN",
            "inf",
            "+1.5",
            "1,5",
            "--1",
        ] {
            let expected = lexical_core::parse::<f64>(text.as_bytes());
            let got = parse_float(text.as_bytes());
            match (expected, got) {
                (Ok(e), Ok(g)) => assert_eq!(g.to_bits(), e.to_bits(), "{text}"),
                (Err(_), Err(_)) => {}
                (e, g) => panic!("{text}: lexical {e:?}, fast path {g:?}"),
            }
        }
    }
}
