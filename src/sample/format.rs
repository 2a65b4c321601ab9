//! Writing values into the row buffer (no `fmt` machinery: this is the hot loop), and each
//! column's decimals at each [`Precision`].

use chrono::{Datelike, NaiveDate};

use super::spec::Precision;

/// Decimals of the model-valued columns at one [`Precision`]. The other columns are quoted
/// alike at both, as in the real files: prices and `stkPx` to the cent (the tick grid), `yte` to
/// 5, the rates to 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Decimals {
    /// `cBidIv`, `cMidIv`, `cAskIv`, `pBidIv`, `pMidIv`, `pAskIv`.
    pub(super) iv: usize,
    /// `smoothSmvVol`.
    pub(super) smv: usize,
    /// `extVol`.
    pub(super) ext_vol: usize,
    /// `delta`.
    pub(super) delta: usize,
    /// `gamma`.
    pub(super) gamma: usize,
    /// `theta`, `vega`, `rho`, `phi`, `driftlessTheta`.
    pub(super) greeks: usize,
}

impl Decimals {
    /// The decimals a precision writes.
    pub(super) fn of(precision: Precision) -> Self {
        match precision {
            // ORATS_FORMAT.md: real files quote IVs and vols to 6 decimals, greeks to 8.
            Precision::Realistic => Decimals {
                iv: 6,
                smv: 6,
                ext_vol: 6,
                delta: 8,
                gamma: 8,
                greeks: 8,
            },
            Precision::Compact => Decimals {
                iv: 4,
                smv: 6,
                ext_vol: 4,
                delta: 5,
                gamma: 8,
                greeks: 6,
            },
        }
    }
}

/// Powers of ten by decimal count, as floats (scaling) and integers (splitting).
const POW10: [f64; 9] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
const POW10_U: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// A non-negative integer.
pub(super) fn put_u64(b: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

/// The last `width` digits of `n`, zero-padded.
pub(super) fn put_padded(b: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    for slot in tmp[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    b.extend_from_slice(&tmp[..width]);
}

/// Fixed decimals; a value that rounds to zero prints `0` (never `-0.00`).
pub(super) fn put_fixed(b: &mut Vec<u8>, x: f64, dp: usize) {
    let scaled = (x * POW10[dp]).round();
    if scaled == 0.0 || !scaled.is_finite() {
        b.push(b'0');
        return;
    }
    if scaled.abs() >= 1e18 {
        put_sci(b, x);
        return;
    }
    if scaled < 0.0 {
        b.push(b'-');
    }
    let n = scaled.abs() as u64;
    put_u64(b, n / POW10_U[dp]);
    if dp > 0 {
        b.push(b'.');
        put_padded(b, n % POW10_U[dp], dp);
    }
}

/// Two significant digits in the `1.5E-05` / `2.3E+15` style of the real files.
pub(super) fn put_sci(b: &mut Vec<u8>, x: f64) {
    if x < 0.0 {
        b.push(b'-');
    }
    let mut a = x.abs();
    let mut e = 0i32;
    while a >= 10.0 {
        a /= 10.0;
        e += 1;
    }
    while a < 1.0 {
        a *= 10.0;
        e -= 1;
    }
    let mut m = (a * 10.0).round() as u64;
    if m >= 100 {
        m /= 10;
        e += 1;
    }
    b.extend_from_slice(&[b'0' + (m / 10) as u8, b'.', b'0' + (m % 10) as u8, b'E']);
    b.push(if e < 0 { b'-' } else { b'+' });
    put_padded(b, u64::from(e.unsigned_abs()), 2);
}

/// Theoretical values: cents, with sub-cent remnants in scientific notation, dust as 0.
pub(super) fn put_theo(b: &mut Vec<u8>, x: f64) {
    if !(1e-6..0.005).contains(&x) {
        put_fixed(b, x, 2);
    } else if x >= 1e-4 {
        put_fixed(b, x, 4);
    } else {
        put_sci(b, x);
    }
}

/// Strike with trailing zeros trimmed: `4700`, `192.5`, `0.5`.
pub(super) fn put_strike(b: &mut Vec<u8>, milli: i64) {
    let milli = milli.unsigned_abs();
    put_u64(b, milli / 1000);
    let mut frac = milli % 1000;
    if frac != 0 {
        b.push(b'.');
        let mut digits = 3;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        put_padded(b, frac, digits);
    }
}

/// `M/D/YYYY` without zero padding.
pub(super) fn date_bytes(d: NaiveDate) -> Vec<u8> {
    let mut b = Vec::with_capacity(10);
    put_u64(&mut b, u64::from(d.month()));
    b.push(b'/');
    put_u64(&mut b, u64::from(d.day()));
    b.push(b'/');
    put_u64(&mut b, d.year().max(0) as u64);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        write(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn numbers_print_as_in_orats_files() {
        assert_eq!(text(|b| put_fixed(b, -0.001, 2)), "0");
        assert_eq!(text(|b| put_fixed(b, 0.0706, 4)), "0.0706");
        assert_eq!(text(|b| put_fixed(b, 0.0706, 6)), "0.070600");
        assert_eq!(text(|b| put_fixed(b, 4712.3456, 2)), "4712.35");
        assert_eq!(text(|b| put_fixed(b, -0.123_456_789, 8)), "-0.12345679");
        assert_eq!(text(|b| put_sci(b, 2.3e15)), "2.3E+15");
        assert_eq!(text(|b| put_sci(b, 1.5e-5)), "1.5E-05");
        assert_eq!(text(|b| put_theo(b, 0.0042)), "0.0042");
        assert_eq!(text(|b| put_theo(b, 3e-5)), "3.0E-05");
        assert_eq!(text(|b| put_strike(b, 192_500)), "192.5");
        assert_eq!(text(|b| put_strike(b, 4_700_000)), "4700");
        let d = NaiveDate::from_ymd_opt(2024, 1, 3).unwrap();
        assert_eq!(text(|b| b.extend(date_bytes(d))), "1/3/2024");
    }
}
