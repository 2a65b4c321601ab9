//! `log_return_stddev(at DATE|BIGINT, price DOUBLE) -> DOUBLE`: the sample
//! standard deviation of the log returns between consecutive positive prices,
//! in `at` order — the volatility of a price series inside a group or a
//! window frame.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type, Int64Type};
use datafusion::common::types::logical_date;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Coercion, ReversedUDAF, Signature, TypeSignature,
    TypeSignatureClass, Volatility,
};

use crate::common::{ListRows, float64_arg, int64_arg, list_field, list_scalar, sample_stddev};

/// The sample standard deviation (n − 1) of `ln(p_i / p_{i−1})` over the
/// points with a positive, finite price, sorted by `at` (then price, so equal
/// `at`s give one answer whatever the input order). `None` below two returns.
///
/// Only returns between two points of the input count: a window frame's
/// first point has no return, even if an earlier point exists outside it.
pub fn log_return_stddev(points: &mut [(i64, f64)]) -> Option<f64> {
    points.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    sample_stddev(points.windows(2).map(|pair| (pair[1].1 / pair[0].1).ln()))
}

/// The `log_return_stddev` aggregate UDF.
pub fn log_return_stddev_udaf() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(LogReturnStddev::new()))))
}

/// `log_return_stddev(at, price) -> DOUBLE`; see [`log_return_stddev`].
/// Rows with a null `at`, or a null, non-positive or non-finite price, are
/// skipped. Retractable, so it runs in sliding window frames such as
/// `RANGE BETWEEN INTERVAL '45 days' PRECEDING AND CURRENT ROW`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LogReturnStddev {
    signature: Signature,
}

impl Default for LogReturnStddev {
    fn default() -> Self {
        Self::new()
    }
}

impl LogReturnStddev {
    /// The UDAF implementation; prefer the shared [`log_return_stddev_udaf`].
    pub fn new() -> Self {
        let date = Coercion::new_exact(TypeSignatureClass::Native(logical_date()));
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Coercible(vec![date, float64_arg()]),
                    TypeSignature::Coercible(vec![int64_arg(), float64_arg()]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl AggregateUDFImpl for LogReturnStddev {
    fn name(&self) -> &str {
        "log_return_stddev"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            list_field(format_state_name(args.name, "ats"), DataType::Int64),
            list_field(format_state_name(args.name, "prices"), DataType::Float64),
        ])
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<LogReturnAccumulator>::default())
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

/// The points seen and not retracted, in arrival order.
#[derive(Debug, Default)]
struct LogReturnAccumulator {
    points: Vec<(i64, f64)>,
}

/// The usable `(at, price)` rows of an input batch.
fn points(values: &[ArrayRef]) -> Result<Vec<(i64, f64)>> {
    let at = cast(&values[0], &DataType::Int64)?;
    let (at, price) = (
        at.as_primitive::<Int64Type>(),
        values[1].as_primitive::<Float64Type>(),
    );
    Ok((0..at.len())
        .filter(|&row| at.is_valid(row) && price.is_valid(row))
        .map(|row| (at.value(row), price.value(row)))
        .filter(|(_, p)| p.is_finite() && *p > 0.0)
        .collect())
}

impl Accumulator for LogReturnAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.points.extend(points(values)?);
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        // A window retracts its oldest rows: they sit at the front.
        for point in points(values)? {
            if let Some(i) = self
                .points
                .iter()
                .position(|p| p.0 == point.0 && p.1.to_bits() == point.1.to_bits())
            {
                self.points.remove(i);
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut points = self.points.clone();
        Ok(ScalarValue::Float64(log_return_stddev(&mut points)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.points.capacity() * size_of::<(i64, f64)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let ats: ArrayRef = Arc::new(Int64Array::from_iter_values(
            self.points.iter().map(|p| p.0),
        ));
        let prices: ArrayRef = Arc::new(Float64Array::from_iter_values(
            self.points.iter().map(|p| p.1),
        ));
        Ok(vec![list_scalar(ats, true), list_scalar(prices, true)])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (ats, prices) = (ListRows::new(&states[0]), ListRows::new(&states[1]));
        let (a, p) = (ats.i64_values(), prices.f64_values());
        for row in 0..states[0].len() {
            if let (Some(range), Some(_)) = (ats.range(row), prices.range(row)) {
                self.points.extend(range.map(|i| (a.value(i), p[i])));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_stddev_of_consecutive_log_returns() {
        // Prices e^0, e^0.1, e^0.3, e^0.6: returns 0.1, 0.2, 0.3, whose
        // sample standard deviation is 0.1.
        let mut points: Vec<(i64, f64)> = [0.0, 0.1, 0.3, 0.6]
            .iter()
            .enumerate()
            .rev()
            .map(|(i, x)| (i as i64, f64::exp(*x)))
            .collect();
        let sd = log_return_stddev(&mut points).unwrap();
        assert!((sd - 0.1).abs() < 1e-12, "{sd}");
        // Two points make one return: no sample deviation.
        assert_eq!(log_return_stddev(&mut [(1, 10.0), (2, 11.0)]), None);
        assert_eq!(log_return_stddev(&mut []), None);
    }
}
