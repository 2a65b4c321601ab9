//! `gex_slope(strike DOUBLE, net_gex DOUBLE, spot DOUBLE, window_pct DOUBLE)
//! -> DOUBLE`: how fast net dealer gamma changes across spot, from the net
//! gamma just above spot minus the net gamma just below it.

use std::mem::size_of_val;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};

use crate::common::{GroupStates, HeapSize, float64_arg, literal_arg};
use crate::exact_sum::ExactSum;
use crate::strikes::{SpotArg, SpotPoints, SpotStates, spot_points_fields, spot_points_state};

/// The slope of net gamma around `spot` over a window of `window_pct`.
///
/// With `S = spot` and `w = window_pct`: `lower` is the exact sum of the nets
/// with `S(1-w) <= K < S`, `upper` that with `S <= K <= S(1+w)`, and the
/// slope is `(upper - lower) / (2 w S)`. `None` when `S` is not positive (or
/// NaN), or no strike lies in `[S(1-w), S(1+w)]`. Points with a non-finite
/// strike or net are ignored.
pub fn gex_slope(
    points: impl IntoIterator<Item = (f64, f64)>,
    spot: f64,
    window_pct: f64,
) -> Option<f64> {
    // Also rejects a NaN spot.
    if spot.is_nan() || spot <= 0.0 {
        return None;
    }
    let (low, high) = (spot * (1.0 - window_pct), spot * (1.0 + window_pct));
    let mut lower = ExactSum::new();
    let mut upper = ExactSum::new();
    for (k, net) in points {
        if !(k.is_finite() && net.is_finite()) {
            continue;
        }
        if low <= k && k < spot {
            lower.add(net);
        } else if spot <= k && k <= high {
            upper.add(net);
        }
    }
    if lower.is_empty() && upper.is_empty() {
        return None;
    }
    let (lower, upper) = (lower.value().unwrap_or(0.0), upper.value().unwrap_or(0.0));
    Some((upper - lower) / (2.0 * window_pct * spot))
}

/// The `gex_slope` aggregate UDF.
pub fn gex_slope_udaf() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(GexSlope::new()))))
}

/// `gex_slope(strike, net_gex, spot, window_pct) -> DOUBLE`; see
/// [`gex_slope`]. `spot` must be the same in every row of a group where it
/// is not null, and `window_pct` a positive literal.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GexSlope {
    signature: Signature,
}

impl Default for GexSlope {
    fn default() -> Self {
        Self::new()
    }
}

impl GexSlope {
    /// The UDAF implementation; prefer the shared [`gex_slope_udaf`].
    pub fn new() -> Self {
        Self {
            signature: Signature::coercible(
                vec![float64_arg(), float64_arg(), float64_arg(), float64_arg()],
                Volatility::Immutable,
            ),
        }
    }
}

/// Reads and checks the `window_pct` literal.
fn window_pct(args: &AccumulatorArgs) -> Result<f64> {
    match literal_arg(args, 3, "gex_slope", "window_pct")? {
        ScalarValue::Float64(Some(w)) if w.is_finite() && *w > 0.0 => Ok(*w),
        other => exec_err!("gex_slope: window_pct must be a positive finite number, got {other}"),
    }
}

impl AggregateUDFImpl for GexSlope {
    fn name(&self) -> &str {
        "gex_slope"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(spot_points_fields(args.name))
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(GexSlopeAccumulator {
            window_pct: window_pct(&acc_args)?,
            state: SpotPoints::default(),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GexSlopeGroups {
            window_pct: window_pct(&args)?,
            groups: GroupStates::default(),
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

/// The spot is the third argument.
const SPOT: SpotArg = SpotArg {
    function: "gex_slope",
    index: Some(2),
};

/// The slope of one group, once its spot is known.
fn evaluate(state: &SpotPoints, window_pct: f64) -> Option<f64> {
    let spot = state.spot?;
    gex_slope(state.points.rows().iter().copied(), spot, window_pct)
}

#[derive(Debug)]
struct GexSlopeAccumulator {
    window_pct: f64,
    state: SpotPoints,
}

impl Accumulator for GexSlopeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        SPOT.update_rows(values, None, |_, f| f(&mut self.state))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states = SpotStates::new(states);
        (0..states.len()).try_for_each(|row| SPOT.merge_row(&states, row, &mut self.state))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        spot_points_state(std::iter::once(&mut self.state))
            .iter()
            .map(|array| ScalarValue::try_from_array(array, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(evaluate(&self.state, self.window_pct)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.state.heap_bytes()
    }
}

struct GexSlopeGroups {
    window_pct: f64,
    groups: GroupStates<SpotPoints>,
}

impl GroupsAccumulator for GexSlopeGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups);
        let groups = &mut self.groups;
        SPOT.update_rows(values, opt_filter, |row, f| {
            groups.update(group_indices[row], |state| f(state))
        })
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups);
        let states = SpotStates::new(values);
        for (row, &group) in group_indices.iter().enumerate() {
            self.groups
                .update(group, |state| SPOT.merge_row(&states, row, state))?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.groups.take(emit_to);
        let slopes: Float64Array = groups
            .iter()
            .map(|state| evaluate(state, self.window_pct))
            .collect();
        Ok(Arc::new(slopes))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let mut groups = self.groups.take(emit_to);
        Ok(spot_points_state(groups.iter_mut()))
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        Ok(SPOT.convert(values, opt_filter))
    }

    fn size(&self) -> usize {
        self.groups.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRIKES: [(f64, f64); 3] = [(95.0, -60000.0), (100.0, 350000.0), (105.0, 120000.0)];

    #[test]
    fn worked_example() {
        // Only 100 lies in [98, 102]: (350000 - 0) / (2 * 0.02 * 100).
        assert_eq!(gex_slope(STRIKES, 100.0, 0.02), Some(87500.0));
    }

    #[test]
    fn lower_and_upper_sides() {
        // [95, 105]: lower = -60000 (95), upper = 350000 + 120000.
        // (470000 + 60000) / (2 * 0.05 * 100) = 530000 / 10.
        assert_eq!(gex_slope(STRIKES, 100.0, 0.05), Some(53000.0));
        // Spot 102, w = 0.05: [96.9, 107.1]; lower = 100, upper = 105:
        // (120000 - 350000) / (2 * 0.05 * 102).
        let expected = (120000.0 - 350000.0) / (2.0 * 0.05 * 102.0);
        assert_eq!(gex_slope(STRIKES, 102.0, 0.05), Some(expected));
    }

    #[test]
    fn strike_at_spot_is_upper_and_window_edges_are_inclusive() {
        // S = 100, w = 0.5: [50, 150]; 50 is lower, 100 and 150 are upper.
        let points = [
            (50.0, 4.0),
            (100.0, 1.0),
            (150.0, 2.0),
            (49.0, 1e9),
            (151.0, 1e9),
        ];
        assert_eq!(gex_slope(points, 100.0, 0.5), Some((3.0 - 4.0) / 100.0));
    }

    #[test]
    fn null_results() {
        assert_eq!(gex_slope([], 100.0, 0.02), None);
        // Nothing in [98, 102].
        assert_eq!(gex_slope([(95.0, 1.0), (105.0, 1.0)], 100.0, 0.02), None);
        assert_eq!(gex_slope(STRIKES, 0.0, 0.02), None);
        assert_eq!(gex_slope(STRIKES, -100.0, 0.02), None);
        assert_eq!(gex_slope(STRIKES, f64::NAN, 0.02), None);
    }

    #[test]
    fn zero_net_inside_window_is_a_zero_slope() {
        assert_eq!(
            gex_slope([(100.0, 5.0), (100.0, -5.0)], 100.0, 0.02),
            Some(0.0)
        );
    }

    #[test]
    fn sides_are_summed_exactly() {
        // Naively 1e20 + 1 - 1e20 = 0 on the upper side; exactly it is 1.
        let points = [(100.0, 1e20), (101.0, 1.0), (102.0, -1e20)];
        assert_eq!(gex_slope(points, 100.0, 0.02), Some(1.0 / 4.0));
    }

    #[test]
    fn non_finite_points_are_ignored() {
        let points = [(100.0, 4.0), (f64::NAN, 1.0), (101.0, f64::INFINITY)];
        assert_eq!(gex_slope(points, 100.0, 0.02), Some(1.0));
    }

    #[test]
    fn conflicting_spots_are_an_error() {
        let mut state = SpotPoints::default();
        state.set_spot(100.0, "gex_slope").unwrap();
        state.set_spot(100.0, "gex_slope").unwrap();
        let err = state.set_spot(101.0, "gex_slope").unwrap_err().to_string();
        assert!(err.contains("spot must be constant"), "{err}");
    }
}
