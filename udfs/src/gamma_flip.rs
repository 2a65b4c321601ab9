//! `gamma_flip(strike DOUBLE, net_gex DOUBLE) -> DOUBLE`: the strike at which
//! the cumulative dealer gamma profile first changes sign, interpolated
//! linearly between the two strikes that bracket the change.

use std::mem::size_of_val;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};

use crate::common::{
    GroupStates, HeapSize, ListRows, StrikeNets, float64_arg, list_field, merge_strike_nets, rows,
    selected_rows, strike_nets_convert, strike_nets_state,
};
use crate::exact_sum::ExactSum;

/// The gamma flip of `(strike, net)` points, or `None` when the cumulative
/// net never changes sign.
///
/// Points with a non-finite strike or net are ignored and equal strikes are
/// combined by exact summation. With strikes ascending `K_0 < K_1 < …` and
/// `C_i = C_{i-1} + net_i` (`C_0 = net_0`), the flip lies at the first
/// `i >= 1` where `C_{i-1} < 0 <= C_i` or `C_{i-1} > 0 >= C_i`:
/// `K_{i-1} + (K_i - K_{i-1}) * |C_{i-1}| / |C_i - C_{i-1}|`.
pub fn gamma_flip(points: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    let mut points: Vec<(f64, f64)> = points
        .into_iter()
        .filter(|(k, n)| k.is_finite() && n.is_finite())
        .map(|(k, n)| (k + 0.0, n))
        .collect();
    let levels = strike_levels(&mut points);
    let (&(mut k_prev, mut c_prev), rest) = levels.split_first()?;
    for &(k, net) in rest {
        let c = c_prev + net;
        if (c_prev < 0.0 && c >= 0.0) || (c_prev > 0.0 && c <= 0.0) {
            return Some(k_prev + (k - k_prev) * c_prev.abs() / (c - c_prev).abs());
        }
        (k_prev, c_prev) = (k, c);
    }
    None
}

/// Sorts finite points by strike and returns each distinct strike with the
/// correctly rounded exact sum of its nets, in ascending strike order.
fn strike_levels(points: &mut [(f64, f64)]) -> Vec<(f64, f64)> {
    points.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    points
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| {
            let mut sum = ExactSum::new();
            run.iter().for_each(|&(_, net)| sum.add(net));
            (run[0].0, sum.value().unwrap_or(0.0))
        })
        .collect()
}

/// The `gamma_flip` aggregate UDF.
pub fn gamma_flip_udaf() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(GammaFlip::new()))))
}

/// `gamma_flip(strike DOUBLE, net_gex DOUBLE) -> DOUBLE`; see [`gamma_flip`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GammaFlip {
    signature: Signature,
}

impl Default for GammaFlip {
    fn default() -> Self {
        Self::new()
    }
}

impl GammaFlip {
    /// The UDAF implementation; prefer the shared [`gamma_flip_udaf`].
    pub fn new() -> Self {
        Self {
            signature: Signature::coercible(
                vec![float64_arg(), float64_arg()],
                Volatility::Immutable,
            ),
        }
    }
}

impl AggregateUDFImpl for GammaFlip {
    fn name(&self) -> &str {
        "gamma_flip"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            list_field(format_state_name(args.name, "strikes"), DataType::Float64),
            list_field(format_state_name(args.name, "nets"), DataType::Float64),
        ])
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<GammaFlipAccumulator>::default())
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::<GammaFlipGroups>::default())
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

#[derive(Debug, Default)]
struct GammaFlipAccumulator {
    points: StrikeNets,
}

impl Accumulator for GammaFlipAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let mask = selected_rows(&[&values[0], &values[1]], None);
        let strike = values[0].as_primitive::<Float64Type>().values();
        let net = values[1].as_primitive::<Float64Type>().values();
        rows(strike.len(), mask.as_ref()).for_each(|row| self.points.push(strike[row], net[row]));
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (strikes, nets) = (ListRows::new(&states[0]), ListRows::new(&states[1]));
        for row in 0..states[0].len() {
            merge_strike_nets(&strikes, &nets, row, &mut self.points);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        strike_nets_state(std::iter::once(&mut self.points))
            .iter()
            .map(|list| ScalarValue::try_from_array(list, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(gamma_flip(
            self.points.rows().iter().copied(),
        )))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.points.heap_bytes()
    }
}

#[derive(Debug, Default)]
struct GammaFlipGroups {
    groups: GroupStates<StrikeNets>,
}

impl GroupsAccumulator for GammaFlipGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups);
        let mask = selected_rows(&[&values[0], &values[1]], opt_filter);
        let strike = values[0].as_primitive::<Float64Type>().values();
        let net = values[1].as_primitive::<Float64Type>().values();
        for row in rows(strike.len(), mask.as_ref()) {
            self.groups.update(group_indices[row], |points| {
                points.push(strike[row], net[row])
            });
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups);
        let (strikes, nets) = (ListRows::new(&values[0]), ListRows::new(&values[1]));
        for (row, &group) in group_indices.iter().enumerate() {
            self.groups.update(group, |points| {
                merge_strike_nets(&strikes, &nets, row, points)
            });
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.groups.take(emit_to);
        let flips: Float64Array = groups
            .iter()
            .map(|points| gamma_flip(points.rows().iter().copied()))
            .collect();
        Ok(Arc::new(flips))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let mut groups = self.groups.take(emit_to);
        Ok(strike_nets_state(groups.iter_mut()).into())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        Ok(strike_nets_convert(&values[0], &values[1], opt_filter).into())
    }

    fn size(&self) -> usize {
        self.groups.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(x: Option<f64>) -> Option<u64> {
        x.map(f64::to_bits)
    }

    #[test]
    fn worked_example() {
        let points = [(95.0, -60000.0), (100.0, 350000.0), (105.0, 120000.0)];
        assert_eq!(
            bits(gamma_flip(points)),
            bits(Some(95.0 + 5.0 * 60000.0 / 350000.0))
        );
        // Input order does not matter.
        let reversed = [(105.0, 120000.0), (100.0, 350000.0), (95.0, -60000.0)];
        assert_eq!(
            bits(gamma_flip(reversed)),
            bits(Some(95.0 + 5.0 * 60000.0 / 350000.0))
        );
    }

    #[test]
    fn empty_and_single_strike_have_no_flip() {
        assert_eq!(gamma_flip([]), None);
        assert_eq!(gamma_flip([(100.0, -5.0)]), None);
        // Two rows at one strike are still a single level.
        assert_eq!(gamma_flip([(100.0, -5.0), (100.0, 9.0)]), None);
    }

    #[test]
    fn no_sign_change_has_no_flip() {
        assert_eq!(gamma_flip([(90.0, 1.0), (95.0, 2.0), (100.0, 3.0)]), None);
        assert_eq!(
            gamma_flip([(90.0, -1.0), (95.0, -2.0), (100.0, -3.0)]),
            None
        );
        // Starting at zero is neither side, and staying at zero never flips.
        assert_eq!(gamma_flip([(90.0, 0.0), (95.0, 0.0)]), None);
    }

    #[test]
    fn positive_to_negative_flip() {
        // C = 30, -10: flip = 100 + 10 * 30 / 40 = 107.5.
        assert_eq!(gamma_flip([(100.0, 30.0), (110.0, -40.0)]), Some(107.5));
    }

    #[test]
    fn crossing_exactly_to_zero_flips_at_that_strike() {
        // C = -100, 0: flip = 90 + 10 * 100 / 100 = 100.
        assert_eq!(
            gamma_flip([(90.0, -100.0), (100.0, 100.0), (110.0, 5.0)]),
            Some(100.0)
        );
        // C = 100, 0: the "<= 0" side.
        assert_eq!(gamma_flip([(90.0, 100.0), (100.0, -100.0)]), Some(100.0));
    }

    #[test]
    fn leaving_zero_is_not_a_flip() {
        // C = 0, 5, -5: only the second step crosses, from 5 down to -5:
        // 100 + 10 * 5 / 10 = 105.
        assert_eq!(
            gamma_flip([(90.0, 0.0), (100.0, 5.0), (110.0, -10.0)]),
            Some(105.0)
        );
    }

    #[test]
    fn first_crossing_wins() {
        // C = -10, 10, -10: the first crossing is between 90 and 100.
        assert_eq!(
            gamma_flip([(90.0, -10.0), (100.0, 20.0), (110.0, -20.0)]),
            Some(95.0)
        );
    }

    #[test]
    fn duplicate_strikes_are_summed_before_cumulating() {
        // 95 sums to -60000 from three rows.
        let points = [
            (100.0, 350000.0),
            (95.0, -100000.0),
            (105.0, 120000.0),
            (95.0, 30000.0),
            (95.0, 10000.0),
        ];
        assert_eq!(
            bits(gamma_flip(points)),
            bits(Some(95.0 + 5.0 * 60000.0 / 350000.0))
        );
    }

    #[test]
    fn zero_net_strike_still_moves_the_bracket() {
        // C = -10, -10, 10: the crossing is between 95 and 100, not 90 and 100.
        let points = [(90.0, -10.0), (95.0, 4.0), (95.0, -4.0), (100.0, 20.0)];
        assert_eq!(gamma_flip(points), Some(97.5));
    }

    #[test]
    fn duplicates_sum_exactly() {
        // Naively 1e20 + 1 - 1e20 is 0 at strike 90, so there would be no
        // crossing; exactly it is 1, and C = 1, -1 crosses at 95.
        let points = [(90.0, 1e20), (90.0, 1.0), (90.0, -1e20), (100.0, -2.0)];
        assert_eq!(gamma_flip(points), Some(95.0));
    }

    #[test]
    fn non_finite_rows_are_ignored() {
        let points = [
            (90.0, -10.0),
            (f64::NAN, 5.0),
            (95.0, f64::NAN),
            (f64::INFINITY, 1.0),
            (97.0, f64::NEG_INFINITY),
            (100.0, 20.0),
        ];
        assert_eq!(gamma_flip(points), Some(95.0));
    }

    #[test]
    fn negative_zero_strike_is_zero() {
        // Combined at strike 0: C = -1 + 0.5 = -0.5 then 1.5: flip = 0 + 10 * 0.5 / 2.
        let points = [(-0.0, -1.0), (0.0, 0.5), (10.0, 2.0)];
        assert_eq!(gamma_flip(points), Some(2.5));
    }

    #[test]
    fn folding_keeps_the_result() {
        let mut points = StrikeNets::default();
        let mut raw = Vec::new();
        for i in 0..1000 {
            let strike = 80.0 + f64::from(i % 37);
            let net = f64::from(i % 11) * 1e3 - 5e3 + f64::from(i) * 1e-7;
            points.push(strike, net);
            raw.push((strike, net));
        }
        // 1000 rows over 37 strikes must have been folded on the way.
        assert!(points.rows().len() < 300);
        assert_eq!(
            bits(gamma_flip(points.rows().iter().copied())),
            bits(gamma_flip(raw))
        );
    }
}
