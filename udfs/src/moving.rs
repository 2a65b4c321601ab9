//! Moving statistics over a window: `moving_count`, `moving_avg`,
//! `moving_stddev`, `moving_min`, `moving_max` and
//! `moving_log_return_stddev`, each in two forms:
//!
//! - `f(x) OVER w` — over the rows of `w`'s frame (`ROWS BETWEEN 59
//!   PRECEDING AND CURRENT ROW`, …);
//! - `f(x, at, days) OVER (PARTITION BY … ORDER BY at)` — over the rows whose
//!   `at` (a DATE or an integer) lies in `[at − days, at]`: what a frame
//!   `RANGE BETWEEN days PRECEDING AND CURRENT ROW` holds, `days` a literal.
//!
//! They compute what `count`, `avg`, `stddev`, `min` and `max` compute over
//! the same rows (nulls skipped), but as window functions that read the rows
//! in place: DataFusion evaluates an aggregate in a sliding frame by handing
//! it one-row array slices to add and retract for every row, which costs
//! ~250 ns a row and function before any arithmetic, and a `RANGE` frame's
//! bounds another ~600 ns (found by `ScalarValue` arithmetic and comparisons
//! a row). A frame of the `orats_daily` history step holds at most 60 rows,
//! so adding it afresh costs less than that bookkeeping, and gives each
//! row's result from the frame's values alone, added in the frame's order,
//! as PostgreSQL computes a moving `avg(float8)` (it recomputes such frames
//! rather than subtracting the row that leaves, which would carry rounding
//! from earlier frames into later ones). The day form finds its bounds with
//! two cursors over the whole partition at once.
//!
//! ```sql
//! SELECT moving_avg(volume) OVER (PARTITION BY symbol ORDER BY day
//!                                 ROWS BETWEEN 6 PRECEDING AND CURRENT ROW),
//!        moving_max(iv, day, 59) OVER (PARTITION BY symbol ORDER BY day)
//! ```

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, new_empty_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::types::logical_date;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Coercion, PartitionEvaluator, Signature, TypeSignature, TypeSignatureClass, Volatility,
    WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::expressions::Literal;

use crate::common::{float64_arg, int64_arg, sample_stddev};

/// Which statistic a moving function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Statistic {
    /// Non-null values (BIGINT, never null).
    Count,
    /// Mean of the non-null values, summed in frame order; null when none.
    Avg,
    /// Sample standard deviation (n − 1) of the non-null values, from their
    /// mean (two passes); null below two values.
    Stddev,
    /// Least non-null value; null when none.
    Min,
    /// Greatest non-null value; null when none.
    Max,
    /// Sample standard deviation of `ln(x_i / x_{i−1})` between consecutive
    /// positive, finite values in frame order (a price series' volatility);
    /// null below two returns. Only returns between two rows of the frame
    /// count.
    LogReturnStddev,
}

impl Statistic {
    /// Every statistic, in the order of [`moving_udwfs`].
    pub const ALL: [Statistic; 6] = [
        Statistic::Count,
        Statistic::Avg,
        Statistic::Stddev,
        Statistic::Min,
        Statistic::Max,
        Statistic::LogReturnStddev,
    ];

    /// The SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Count => "moving_count",
            Statistic::Avg => "moving_avg",
            Statistic::Stddev => "moving_stddev",
            Statistic::Min => "moving_min",
            Statistic::Max => "moving_max",
            Statistic::LogReturnStddev => "moving_log_return_stddev",
        }
    }

    /// The SQL type of the result: BIGINT for the count, DOUBLE otherwise.
    pub fn data_type(self) -> DataType {
        match self {
            Statistic::Count => DataType::Int64,
            _ => DataType::Float64,
        }
    }

    /// The statistic of `values` (a frame's rows, in order, nulls as `None`).
    pub fn of(self, values: impl Iterator<Item = Option<f64>> + Clone) -> ScalarValue {
        let present = values.flatten();
        match self {
            Statistic::Count => ScalarValue::Int64(Some(present.count() as i64)),
            Statistic::Avg => ScalarValue::Float64(mean(present)),
            Statistic::Stddev => ScalarValue::Float64(sample_stddev(present)),
            Statistic::Min => ScalarValue::Float64(present.min_by(f64::total_cmp)),
            Statistic::Max => ScalarValue::Float64(present.max_by(f64::total_cmp)),
            Statistic::LogReturnStddev => {
                let prices = present.filter(|p| p.is_finite() && *p > 0.0);
                let returns = prices
                    .clone()
                    .zip(prices.skip(1))
                    .map(|(before, after)| (after / before).ln());
                ScalarValue::Float64(sample_stddev(returns))
            }
        }
    }
}

/// The mean of `values`, added in order; `None` when empty.
fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, sum) = values.fold((0usize, 0.0), |(n, sum), v| (n + 1, sum + v));
    (n > 0).then(|| sum / n as f64)
}

/// The moving window UDFs, one per [`Statistic`], shared instances.
pub fn moving_udwfs() -> Vec<Arc<WindowUDF>> {
    static UDWFS: OnceLock<Vec<Arc<WindowUDF>>> = OnceLock::new();
    UDWFS
        .get_or_init(|| {
            Statistic::ALL
                .iter()
                .map(|s| Arc::new(WindowUDF::from(Moving::new(*s))))
                .collect()
        })
        .clone()
}

/// `moving_*(x) OVER w` and `moving_*(x, at, days) OVER w`; see [`Statistic`]
/// and the module. `x` is any numeric, read as DOUBLE.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Moving {
    statistic: Statistic,
    signature: Signature,
}

impl Moving {
    /// The window UDF computing `statistic`; prefer the shared [`moving_udwfs`].
    pub fn new(statistic: Statistic) -> Self {
        let date = Coercion::new_exact(TypeSignatureClass::Native(logical_date()));
        Self {
            statistic,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Coercible(vec![float64_arg()]),
                    TypeSignature::Coercible(vec![float64_arg(), date, int64_arg()]),
                    TypeSignature::Coercible(vec![float64_arg(), int64_arg(), int64_arg()]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl WindowUDFImpl for Moving {
    fn name(&self) -> &str {
        self.statistic.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let name = self.name();
        let days = match args.input_exprs() {
            [_] => None,
            [_, _, days] => match days
                .downcast_ref::<Literal>()
                .map(|literal| literal.value())
            {
                Some(ScalarValue::Int64(Some(days))) if *days >= 0 => Some(*days),
                _ => return exec_err!("{name}: days must be a literal whole number ≥ 0"),
            },
            _ => return exec_err!("{name}: takes (x) or (x, at, days)"),
        };
        Ok(Box::new(MovingEvaluator {
            statistic: self.statistic,
            days,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        // A count is never null; the other statistics are null over no value.
        let nullable = self.statistic != Statistic::Count;
        Ok(Arc::new(Field::new(
            field_args.name(),
            self.statistic.data_type(),
            nullable,
        )))
    }
}

/// One window partition's evaluation: over the SQL frame (`days` is `None`),
/// or over the rows dated `[at − days, at]`.
#[derive(Debug)]
struct MovingEvaluator {
    statistic: Statistic,
    days: Option<i64>,
}

/// The values of `x` in `range`, nulls as `None`.
fn frame(x: &Float64Array, range: Range<usize>) -> impl Iterator<Item = Option<f64>> + Clone {
    range.map(|row| x.is_valid(row).then(|| x.value(row)))
}

impl PartitionEvaluator for MovingEvaluator {
    fn uses_window_frame(&self) -> bool {
        self.days.is_none()
    }

    fn supports_bounded_execution(&self) -> bool {
        // The day form reads the whole partition at once.
        self.days.is_none()
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        let x = values[0].as_primitive::<Float64Type>();
        Ok(self.statistic.of(frame(x, range.clone())))
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let (Some(days), [x, at, ..]) = (self.days, values) else {
            return exec_err!(
                "{}: evaluate_all needs (x, at, days)",
                self.statistic.name()
            );
        };
        let x = x.as_primitive::<Float64Type>();
        let at = cast(at, &DataType::Int64)?;
        let at = at.as_primitive::<Int64Type>();
        let mut results = Vec::with_capacity(num_rows);
        // Rows [start, end) are those dated within [at_i − days, at_i]: start
        // moves past rows dated before the bound, end past the current row's
        // peers (rows of the same date belong to each other's frames).
        let (mut start, mut end) = (0, 0);
        for row in 0..num_rows {
            if at.is_null(row) {
                results.push(self.statistic.of(frame(x, 0..0)));
                continue;
            }
            let day = at.value(row);
            if row > 0 && at.is_valid(row - 1) && at.value(row - 1) > day {
                return exec_err!(
                    "{}: the window must be ordered by its `at` argument, ascending",
                    self.statistic.name()
                );
            }
            let first = day.saturating_sub(days);
            while start < row && (at.is_null(start) || at.value(start) < first) {
                start += 1;
            }
            end = end.max(row + 1);
            while end < num_rows && at.is_valid(end) && at.value(end) == day {
                end += 1;
            }
            results.push(self.statistic.of(frame(x, start..end)));
        }
        if results.is_empty() {
            return Ok(new_empty_array(&self.statistic.data_type()));
        }
        ScalarValue::iter_to_array(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(s: Statistic, values: &[Option<f64>]) -> ScalarValue {
        s.of(values.iter().copied())
    }

    #[test]
    fn each_statistic_skips_nulls() {
        let v = [Some(1.0), None, Some(4.0), Some(2.0)];
        assert_eq!(of(Statistic::Count, &v), ScalarValue::Int64(Some(3)));
        assert_eq!(
            of(Statistic::Avg, &v),
            ScalarValue::Float64(Some(7.0 / 3.0))
        );
        // Mean 7/3; squares 16/9 + 25/9 + 1/9 = 42/9; over n − 1 = 2: 7/3.
        let ScalarValue::Float64(Some(sd)) = of(Statistic::Stddev, &v) else {
            panic!("a stddev of three values")
        };
        assert!((sd - (7.0f64 / 3.0).sqrt()).abs() < 1e-15, "{sd}");
        assert_eq!(of(Statistic::Min, &v), ScalarValue::Float64(Some(1.0)));
        assert_eq!(of(Statistic::Max, &v), ScalarValue::Float64(Some(4.0)));
        let none = [None, None];
        assert_eq!(of(Statistic::Count, &none), ScalarValue::Int64(Some(0)));
        for s in [
            Statistic::Avg,
            Statistic::Stddev,
            Statistic::Min,
            Statistic::Max,
        ] {
            assert_eq!(of(s, &none), ScalarValue::Float64(None), "{s:?}");
        }
        assert_eq!(
            of(Statistic::Stddev, &[Some(3.0)]),
            ScalarValue::Float64(None)
        );
    }

    #[test]
    fn log_returns_join_consecutive_positive_prices() {
        // 100 → 110 → (0 and null skipped) → 121: two returns of ln 1.1.
        let v = [Some(100.0), Some(110.0), Some(0.0), None, Some(121.0)];
        assert_eq!(
            of(Statistic::LogReturnStddev, &v),
            ScalarValue::Float64(Some(0.0))
        );
        // 100 → 200 → 100: returns ln 2 and −ln 2, mean 0, sd √2 · ln 2.
        let ScalarValue::Float64(Some(sd)) = of(
            Statistic::LogReturnStddev,
            &[Some(100.0), Some(200.0), Some(100.0)],
        ) else {
            panic!("two returns")
        };
        assert!((sd - 2f64.sqrt() * 2f64.ln()).abs() < 1e-15, "{sd}");
        assert_eq!(
            of(
                Statistic::LogReturnStddev,
                &[Some(100.0), Some(-1.0), Some(100.0)]
            ),
            ScalarValue::Float64(None)
        );
    }
}
