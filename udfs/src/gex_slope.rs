//! `gex_slope(strike DOUBLE, net_gex DOUBLE, spot DOUBLE, window_pct DOUBLE)
//! -> DOUBLE`: how fast net dealer gamma changes across spot, from the net
//! gamma just above spot minus the net gamma just below it.

use std::mem::size_of_val;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};

use crate::common::{
    GroupStates, HeapSize, ListRows, StrikeNets, float64_arg, list_field, literal_arg,
    merge_strike_nets, rows, selected_rows, strike_nets_convert, strike_nets_state,
};
use crate::exact_sum::ExactSum;

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
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "spot"),
                DataType::Float64,
                true,
            )),
            list_field(format_state_name(args.name, "strikes"), DataType::Float64),
            list_field(format_state_name(args.name, "nets"), DataType::Float64),
        ])
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(GexSlopeAccumulator {
            window_pct: window_pct(&acc_args)?,
            state: SlopeState::default(),
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

/// One group: its spot, once seen, and its strike rows.
#[derive(Debug, Default)]
struct SlopeState {
    spot: Option<f64>,
    points: StrikeNets,
}

impl HeapSize for SlopeState {
    fn heap_bytes(&self) -> usize {
        self.points.heap_bytes()
    }
}

impl SlopeState {
    /// Records a non-null spot; a different one in the same group is an
    /// error, since the window would be ambiguous.
    fn set_spot(&mut self, spot: f64) -> Result<()> {
        match self.spot {
            None => self.spot = Some(spot),
            Some(s) if s == spot || (s.is_nan() && spot.is_nan()) => {}
            Some(s) => {
                return exec_err!(
                    "gex_slope: spot must be constant within a group, found {s} and {spot}"
                );
            }
        }
        Ok(())
    }

    fn evaluate(&self, window_pct: f64) -> Option<f64> {
        let spot = self.spot?;
        gex_slope(self.points.rows().iter().copied(), spot, window_pct)
    }
}

/// Feeds the selected rows of an input batch to the states `state_of(row)`.
fn update_rows(
    values: &[ArrayRef],
    filter: Option<&BooleanArray>,
    mut state_of: impl FnMut(usize, &mut dyn FnMut(&mut SlopeState) -> Result<()>) -> Result<()>,
) -> Result<()> {
    let (strike, net, spot) = (&values[0], &values[1], &values[2]);
    let mask = selected_rows(&[], filter);
    let has_point = selected_rows(&[strike, net], None);
    let (k, n) = (
        strike.as_primitive::<Float64Type>().values(),
        net.as_primitive::<Float64Type>().values(),
    );
    let s = spot.as_primitive::<Float64Type>();
    for row in rows(strike.len(), mask.as_ref()) {
        state_of(row, &mut |state: &mut SlopeState| {
            if s.is_valid(row) {
                state.set_spot(s.value(row))?;
            }
            if has_point.as_ref().is_none_or(|m| m.is_valid(row)) {
                state.points.push(k[row], n[row]);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Merges row `row` of the `(spot, strikes, nets)` state columns.
fn merge_row(
    spot: &Float64Array,
    strikes: &ListRows,
    nets: &ListRows,
    row: usize,
    state: &mut SlopeState,
) -> Result<()> {
    if spot.is_valid(row) {
        state.set_spot(spot.value(row))?;
    }
    merge_strike_nets(strikes, nets, row, &mut state.points);
    Ok(())
}

/// The `(spot, strikes, nets)` state columns of `states`.
fn state_arrays<'a>(states: impl Iterator<Item = &'a mut SlopeState>) -> Vec<ArrayRef> {
    let mut spots = Vec::new();
    let mut points = Vec::new();
    for state in states {
        spots.push(state.spot);
        points.push(&mut state.points);
    }
    let [strikes, nets] = strike_nets_state(points.into_iter());
    vec![Arc::new(Float64Array::from(spots)), strikes, nets]
}

#[derive(Debug)]
struct GexSlopeAccumulator {
    window_pct: f64,
    state: SlopeState,
}

impl Accumulator for GexSlopeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        update_rows(values, None, |_, f| f(&mut self.state))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let spot = states[0].as_primitive::<Float64Type>();
        let (strikes, nets) = (ListRows::new(&states[1]), ListRows::new(&states[2]));
        (0..spot.len()).try_for_each(|row| merge_row(spot, &strikes, &nets, row, &mut self.state))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        state_arrays(std::iter::once(&mut self.state))
            .iter()
            .map(|array| ScalarValue::try_from_array(array, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.state.evaluate(self.window_pct)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.state.heap_bytes()
    }
}

struct GexSlopeGroups {
    window_pct: f64,
    groups: GroupStates<SlopeState>,
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
        update_rows(values, opt_filter, |row, f| {
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
        let spot = values[0].as_primitive::<Float64Type>();
        let (strikes, nets) = (ListRows::new(&values[1]), ListRows::new(&values[2]));
        for (row, &group) in group_indices.iter().enumerate() {
            self.groups
                .update(group, |state| merge_row(spot, &strikes, &nets, row, state))?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.groups.take(emit_to);
        let slopes: Float64Array = groups
            .iter()
            .map(|state| state.evaluate(self.window_pct))
            .collect();
        Ok(Arc::new(slopes))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let mut groups = self.groups.take(emit_to);
        Ok(state_arrays(groups.iter_mut()))
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let spot = values[2].as_primitive::<Float64Type>();
        let spot_nulls = selected_rows(&[&values[2]], opt_filter);
        let spot: ArrayRef = Arc::new(Float64Array::new(spot.values().clone(), spot_nulls));
        let [strikes, nets] = strike_nets_convert(&values[0], &values[1], opt_filter);
        Ok(vec![spot, strikes, nets])
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
        let mut state = SlopeState::default();
        state.set_spot(100.0).unwrap();
        state.set_spot(100.0).unwrap();
        let err = state.set_spot(101.0).unwrap_err().to_string();
        assert!(err.contains("spot must be constant"), "{err}");
    }
}
