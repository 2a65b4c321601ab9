//! `pg_round(x DOUBLE, places BIGINT) -> DOUBLE`: a double rounded the way
//! PostgreSQL stores it in a `NUMERIC(p, places)` column.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::common::{float64_arg, int64_arg};

/// Digits PostgreSQL keeps when it turns a double into a numeric (`DBL_DIG`).
const SIGNIFICANT_DIGITS: usize = 15;

/// `x` as PostgreSQL's `x::NUMERIC(p, places)` would hold it, back as a double.
///
/// PostgreSQL first writes the double with 15 significant digits (`%.15g`),
/// then rounds that decimal half away from zero to `places` decimals. So
/// 2.675 (the double 2.67499999999999982236431605997495353221893310546875)
/// becomes 2.68, where rounding the double itself gives 2.67. A negative
/// `places` rounds to tens, hundreds… Zero is always +0.0 (a numeric has no
/// sign of zero); NaN and infinities pass through unchanged.
pub fn pg_round(x: f64, places: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    fast(x, places).unwrap_or_else(|| by_text(x, places))
}

/// Powers of ten up to 10^15, each exact as a double.
const TENS: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// [`pg_round`] without text, when the answer cannot depend on it: `y = |x| ·
/// 10^places` lies far enough from the next half (…​.5) that neither the
/// 15-digit decimal (within 5·10⁻¹⁵ of `x`, relative) nor the product's own
/// rounding (2⁻⁵³, relative) can move it across. Then the rounded value is a
/// whole number `k` below 10¹⁴, and `k / 10^places` is the double nearest the
/// decimal, as parsing its text would give (both exact, one correctly rounded
/// division). `None` near a half, for large values and for places outside
/// 0–15: the caller writes the text.
fn fast(x: f64, places: i32) -> Option<f64> {
    let scale = *TENS.get(usize::try_from(places).ok()?)?;
    let y = x.abs() * scale;
    if y >= 1e14 {
        return None;
    }
    let whole = y.floor();
    let fraction = y - whole;
    if (fraction - 0.5).abs() <= 1e-14 * y {
        return None;
    }
    let k = if fraction > 0.5 { whole + 1.0 } else { whole };
    if k == 0.0 {
        return Some(0.0);
    }
    Some((k / scale).copysign(x))
}

/// [`pg_round`] the way PostgreSQL does it: through the `%.15g` text.
fn by_text(x: f64, places: i32) -> f64 {
    // `{:.14e}` is `%.15g`'s digits in scientific form, e.g. "-2.67500000000000e0".
    let text = format!("{:.*e}", SIGNIFICANT_DIGITS - 1, x);
    let (mantissa, exponent) = text.split_once('e').expect("{:e} has an exponent");
    let exponent: i64 = exponent.parse().expect("{:e} exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // Digits left of the cut: those before the decimal point plus `places`.
    let keep = exponent + 1 + i64::from(places);
    let kept = match usize::try_from(keep) {
        Err(_) => 0,
        Ok(keep) if keep >= digits.len() => return x_from_digits(negative, &digits, exponent),
        Ok(keep) => {
            let mut kept = digits[..keep]
                .iter()
                .fold(0u64, |acc, d| acc * 10 + u64::from(*d));
            if digits[keep] >= 5 {
                kept += 1;
            }
            kept
        }
    };
    if kept == 0 {
        return 0.0;
    }
    let sign = if negative { "-" } else { "" };
    format!("{sign}{kept}e{}", -i64::from(places))
        .parse()
        .expect("a formatted decimal parses")
}

/// The double nearest the 15-digit decimal itself (nothing to round).
fn x_from_digits(negative: bool, digits: &[u8], exponent: i64) -> f64 {
    let mantissa: u64 = digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(*d));
    if mantissa == 0 {
        return 0.0;
    }
    let sign = if negative { "-" } else { "" };
    let scale = exponent - (digits.len() as i64 - 1);
    format!("{sign}{mantissa}e{scale}")
        .parse()
        .expect("a formatted decimal parses")
}

/// The `pg_round` scalar UDF.
pub fn pg_round_udf() -> Arc<ScalarUDF> {
    static UDF: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    Arc::clone(UDF.get_or_init(|| Arc::new(ScalarUDF::from(PgRound::new()))))
}

/// `pg_round(x, places) -> DOUBLE`; see [`pg_round`]. Null when either
/// argument is null.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgRound {
    signature: Signature,
}

impl Default for PgRound {
    fn default() -> Self {
        Self::new()
    }
}

impl PgRound {
    /// The UDF implementation; prefer the shared [`pg_round_udf`].
    pub fn new() -> Self {
        Self {
            signature: Signature::coercible(
                vec![float64_arg(), int64_arg()],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for PgRound {
    fn name(&self) -> &str {
        "pg_round"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?;
        let (values, places) = (
            arrays[0].as_primitive::<Float64Type>(),
            arrays[1].as_primitive::<Int64Type>(),
        );
        let mut out = Vec::with_capacity(values.len());
        for row in 0..values.len() {
            if values.is_null(row) || places.is_null(row) {
                out.push(None);
                continue;
            }
            let Ok(n) = i32::try_from(places.value(row)) else {
                return exec_err!("pg_round: places {} is out of range", places.value(row));
            };
            out.push(Some(pg_round(values.value(row), n)));
        }
        let result: ArrayRef = Arc::new(Float64Array::from(out));
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&result, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::splitmix;

    #[test]
    fn rounds_the_fifteen_digit_decimal_half_away_from_zero() {
        // 2.675 is stored just below 2.675, but its %.15g text is 2.675.
        assert_eq!(pg_round(2.675, 2), 2.68);
        assert_eq!(pg_round(-2.675, 2), -2.68);
        assert_eq!(pg_round(0.125, 2), 0.13);
        assert_eq!(pg_round(2.5, 0), 3.0);
        assert_eq!(pg_round(-2.5, 0), -3.0);
        assert_eq!(pg_round(1.2345, 3), 1.235);
        // 0.1 + 0.2 is 0.30000000000000004: %.15g makes it 0.3.
        assert_eq!(pg_round(0.1 + 0.2, 10), 0.3);
        assert_eq!(pg_round(123.456, -1), 120.0);
        assert_eq!(pg_round(99.995, 2), 100.0);
        assert_eq!(pg_round(0.004, 2), 0.0);
        assert_eq!(pg_round(0.005, 2), 0.01);
        assert_eq!(pg_round(0.0004, 1), 0.0);
        assert!(pg_round(-0.001, 2).is_sign_positive());
        assert!(pg_round(f64::NAN, 2).is_nan());
        assert_eq!(pg_round(f64::INFINITY, 2), f64::INFINITY);
    }

    #[test]
    fn the_shortcut_gives_the_text_path_s_answer_bit_for_bit() {
        let mut seed = 7;
        let mut next = || splitmix(&mut seed);
        let mut taken = 0;
        let mut check = |x: f64, places: i32| {
            let text = by_text(x, places);
            if let Some(quick) = fast(x, places) {
                taken += 1;
                assert_eq!(
                    quick.to_bits(),
                    text.to_bits(),
                    "pg_round({x:e}, {places}): shortcut {quick:e}, text {text:e}"
                );
            }
            assert_eq!(pg_round(x, places).to_bits(), text.to_bits());
        };
        for _ in 0..100_000 {
            let places = (next() % 7) as i32 - 1;
            // Values of every magnitude the history step rounds (1e-6 to 1e13)…
            let magnitude = 10f64.powi((next() % 20) as i32 - 6);
            let unit = (next() >> 11) as f64 / (1u64 << 53) as f64;
            let sign = if next().is_multiple_of(2) { 1.0 } else { -1.0 };
            check(sign * unit * magnitude, places);
            // …and halves and their neighbours, a few ulps either side, where
            // the 15-digit text decides.
            let whole = (next() % 1_000_000) as f64;
            let places = (next() % 5) as i32;
            let half = sign * (whole + 0.5) / 10f64.powi(places);
            let mut near = half;
            for _ in 0..4 {
                near = near.next_down();
            }
            for _ in 0..9 {
                check(near, places);
                near = near.next_up();
            }
            // Sums that carry binary noise, as averages of decimals do.
            let a = (next() % 100_000) as f64 / 1000.0;
            let b = (next() % 100_000) as f64 / 1000.0;
            check((a + b) / 3.0, places);
            check(a * 0.1 + b * 0.7, places);
        }
        assert!(taken > 250_000, "the shortcut answered only {taken} times");
    }
}
