//! `gamma_flip(strike DOUBLE, net_gex DOUBLE [, rule TEXT, spot DOUBLE,
//! range_low DOUBLE, range_high DOUBLE]) -> DOUBLE`: the strike at which the
//! cumulative dealer gamma profile changes sign, interpolated linearly between
//! the two strikes that bracket the change — the first change in ascending
//! strikes (METRICS.md §5), or the one nearest to spot among the strikes within
//! a band around it (the production rule of §10).

use std::mem::size_of_val;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, TypeSignature, Volatility,
};

use crate::common::{GroupStates, HeapSize, float64_arg, literal_arg, text_arg, text_literal_arg};
use crate::exact_sum::ExactSum;
use crate::strikes::{SpotArg, SpotPoints, SpotStates, spot_points_fields, spot_points_state};

/// Which sign change of the cumulative profile is the flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlipRule {
    /// The first, in ascending strikes (`'first_crossing'`).
    FirstCrossing,
    /// The one nearest to spot, the lower on a tie (`'nearest_spot'`).
    NearestSpot,
}

impl FlipRule {
    /// The rule's SQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlipRule::FirstCrossing => "first_crossing",
            FlipRule::NearestSpot => "nearest_spot",
        }
    }
}

/// How to search for the flip: the rule, the spot, and the band of strikes
/// (`low·spot ≤ K ≤ high·spot`, inclusive) that enter the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlipSearch {
    /// Which sign change wins.
    pub rule: FlipRule,
    /// The underlying's price; needed by `NearestSpot` and by a range.
    pub spot: Option<f64>,
    /// `(low, high)` multiples of spot; `None`: every strike.
    pub range: Option<(f64, f64)>,
}

impl FlipSearch {
    /// The §5 search: the first crossing over every strike.
    pub const FIRST_CROSSING: FlipSearch = FlipSearch {
        rule: FlipRule::FirstCrossing,
        spot: None,
        range: None,
    };
}

/// The gamma flip of `(strike, net)` points under the first-crossing rule over
/// every strike, or `None` when the cumulative net never changes sign.
///
/// Points with a non-finite strike or net are ignored and equal strikes are
/// combined by exact summation. With strikes ascending `K_0 < K_1 < …` and
/// `C_i = C_{i-1} + net_i` (`C_0 = net_0`), the flip lies at the first
/// `i >= 1` where `C_{i-1} < 0 <= C_i` or `C_{i-1} > 0 >= C_i`:
/// `K_{i-1} + (K_i - K_{i-1}) * |C_{i-1}| / |C_i - C_{i-1}|`.
pub fn gamma_flip(points: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    gamma_flip_with(points, FlipSearch::FIRST_CROSSING)
}

/// The gamma flip of `(strike, net)` points under `search`.
///
/// With a range, only strikes in `[low·S, high·S]` are kept (none without a
/// positive spot), and the profile is cumulated over them alone. Under
/// `NearestSpot`, every `i >= 1` with `C_{i-1} != 0`, `C_i != 0` and opposite
/// signs is a crossing at `K_{i-1} + (K_i - K_{i-1}) * |C_{i-1}| / (|C_{i-1}| + |C_i|)`,
/// and the flip is the crossing nearest to spot (the lower on a tie): a
/// cumulative sum of exactly 0 is not a crossing there (METRICS.md §10).
pub fn gamma_flip_with(
    points: impl IntoIterator<Item = (f64, f64)>,
    search: FlipSearch,
) -> Option<f64> {
    let spot = search.spot.filter(|s| s.is_finite() && *s > 0.0);
    let mut points: Vec<(f64, f64)> = points
        .into_iter()
        .filter(|(k, n)| k.is_finite() && n.is_finite())
        .map(|(k, n)| (k + 0.0, n))
        .collect();
    if let Some((low, high)) = search.range {
        let (low, high) = (low * spot?, high * spot?);
        points.retain(|&(k, _)| low <= k && k <= high);
    }
    let levels = strike_levels(&mut points);
    match search.rule {
        FlipRule::FirstCrossing => first_crossing(&levels),
        FlipRule::NearestSpot => nearest_crossing(&levels, spot?),
    }
}

/// §5: the first sign change, reaching 0 included.
fn first_crossing(levels: &[(f64, f64)]) -> Option<f64> {
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

/// §10: the strict sign change nearest to `spot`, the lower on a tie.
fn nearest_crossing(levels: &[(f64, f64)], spot: f64) -> Option<f64> {
    let (&(mut k_prev, mut c_prev), rest) = levels.split_first()?;
    let mut best: Option<f64> = None;
    for &(k, net) in rest {
        let c = c_prev + net;
        if c_prev != 0.0 && c != 0.0 && (c_prev < 0.0) != (c < 0.0) {
            let level = k_prev + (k - k_prev) * c_prev.abs() / (c_prev.abs() + c.abs());
            let nearer = best.is_none_or(|b| {
                let (d, d_best) = ((level - spot).abs(), (b - spot).abs());
                d < d_best || (d == d_best && level < b)
            });
            if nearer {
                best = Some(level);
            }
        }
        (k_prev, c_prev) = (k, c);
    }
    best
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

/// `gamma_flip(strike, net_gex)` or `gamma_flip(strike, net_gex, rule, spot,
/// range_low, range_high)`; see [`gamma_flip_with`]. `rule` is the literal
/// `'first_crossing'` or `'nearest_spot'`; `spot` must be the same in every
/// row of a group where it is not null; `range_low` and `range_high` are
/// literal multiples of spot, both NULL for every strike.
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
            signature: Signature::one_of(
                vec![
                    TypeSignature::Coercible(vec![float64_arg(), float64_arg()]),
                    TypeSignature::Coercible(vec![
                        float64_arg(),
                        float64_arg(),
                        text_arg(),
                        float64_arg(),
                        float64_arg(),
                        float64_arg(),
                    ]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// The spot argument of a call, if it has one.
fn spot_arg(args: &AccumulatorArgs) -> SpotArg {
    SpotArg {
        function: "gamma_flip",
        index: (args.exprs.len() > 2).then_some(3),
    }
}

/// Reads and checks the rule and range literals of a call.
fn search(args: &AccumulatorArgs) -> Result<(FlipRule, Option<(f64, f64)>)> {
    if args.exprs.len() == 2 {
        return Ok((FlipRule::FirstCrossing, None));
    }
    let rule = match text_literal_arg(
        args,
        2,
        "gamma_flip",
        "rule",
        &["first_crossing", "nearest_spot"],
    )? {
        "nearest_spot" => FlipRule::NearestSpot,
        _ => FlipRule::FirstCrossing,
    };
    let bound = |index, name| -> Result<Option<f64>> {
        match literal_arg(args, index, "gamma_flip", name)? {
            ScalarValue::Float64(Some(x)) if x.is_finite() && *x >= 0.0 => Ok(Some(*x)),
            v if v.is_null() => Ok(None),
            other => {
                exec_err!("gamma_flip: {name} must be a finite number >= 0 or NULL, got {other}")
            }
        }
    };
    let range = match (bound(4, "range_low")?, bound(5, "range_high")?) {
        (Some(low), Some(high)) if low <= high => Some((low, high)),
        (None, None) => None,
        (low, high) => {
            return exec_err!(
                "gamma_flip: range_low and range_high must both be NULL or satisfy low <= high, got {low:?} and {high:?}"
            );
        }
    };
    Ok((rule, range))
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
        Ok(spot_points_fields(args.name))
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (rule, range) = search(&acc_args)?;
        Ok(Box::new(GammaFlipAccumulator {
            spot: spot_arg(&acc_args),
            rule,
            range,
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
        let (rule, range) = search(&args)?;
        Ok(Box::new(GammaFlipGroups {
            spot: spot_arg(&args),
            rule,
            range,
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

/// The flip of one group.
fn evaluate(state: &SpotPoints, rule: FlipRule, range: Option<(f64, f64)>) -> Option<f64> {
    let search = FlipSearch {
        rule,
        spot: state.spot,
        range,
    };
    gamma_flip_with(state.points.rows().iter().copied(), search)
}

#[derive(Debug)]
struct GammaFlipAccumulator {
    spot: SpotArg,
    rule: FlipRule,
    range: Option<(f64, f64)>,
    state: SpotPoints,
}

impl Accumulator for GammaFlipAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.spot
            .update_rows(values, None, |_, f| f(&mut self.state))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states = SpotStates::new(states);
        (0..states.len()).try_for_each(|row| self.spot.merge_row(&states, row, &mut self.state))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        spot_points_state(std::iter::once(&mut self.state))
            .iter()
            .map(|array| ScalarValue::try_from_array(array, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(evaluate(
            &self.state,
            self.rule,
            self.range,
        )))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.state.heap_bytes()
    }
}

struct GammaFlipGroups {
    spot: SpotArg,
    rule: FlipRule,
    range: Option<(f64, f64)>,
    groups: GroupStates<SpotPoints>,
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
        let groups = &mut self.groups;
        self.spot.update_rows(values, opt_filter, |row, f| {
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
            let spot = self.spot;
            self.groups
                .update(group, |state| spot.merge_row(&states, row, state))?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.groups.take(emit_to);
        let flips: Float64Array = groups
            .iter()
            .map(|state| evaluate(state, self.rule, self.range))
            .collect();
        Ok(Arc::new(flips))
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
        Ok(self.spot.convert(values, opt_filter))
    }

    fn size(&self) -> usize {
        self.groups.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strikes::StrikeNets;

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

    fn nearest(points: &[(f64, f64)], spot: f64, range: Option<(f64, f64)>) -> Option<f64> {
        gamma_flip_with(
            points.iter().copied(),
            FlipSearch {
                rule: FlipRule::NearestSpot,
                spot: Some(spot),
                range,
            },
        )
    }

    #[test]
    fn nearest_spot_picks_the_crossing_closest_to_spot() {
        // C = -10, 10, -10: crossings at 95 (90 + 10·10/20) and 105 (100 + 10·10/20).
        let points = [(90.0, -10.0), (100.0, 20.0), (110.0, -20.0)];
        assert_eq!(nearest(&points, 104.0, None), Some(105.0));
        assert_eq!(nearest(&points, 96.0, None), Some(95.0));
        // Spot 100 is 5 from both: the lower one.
        assert_eq!(nearest(&points, 100.0, None), Some(95.0));
        // The first-crossing rule keeps 95 whatever the spot.
        assert_eq!(gamma_flip(points), Some(95.0));
    }

    #[test]
    fn nearest_spot_interpolates_with_the_sum_of_magnitudes() {
        // C = -1, 3: 10 + 10·1/(1 + 3) = 12.5.
        assert_eq!(
            nearest(&[(10.0, -1.0), (20.0, 4.0)], 12.0, None),
            Some(12.5)
        );
    }

    #[test]
    fn a_cumulative_zero_is_not_a_nearest_spot_crossing() {
        // C = -100, 0, 5: first-crossing flips at 100; nearest_spot sees no
        // strict sign change (0 is neither side) and has no flip.
        let points = [(90.0, -100.0), (100.0, 100.0), (110.0, 5.0)];
        assert_eq!(gamma_flip(points), Some(100.0));
        assert_eq!(nearest(&points, 100.0, None), None);
    }

    #[test]
    fn the_range_keeps_strikes_within_low_and_high_times_spot() {
        // Spot 100, range [0.2, 3.0] = [20, 300], inclusive: 10 and 310 are out.
        // Over 20..300 alone: C = -5 (20), 5 (100), -5 (300): crossings at
        // 20 + 80·5/10 = 60 and 100 + 200·5/10 = 200; nearest to 100: 60.
        let points = [
            (10.0, 1000.0),
            (20.0, -5.0),
            (100.0, 10.0),
            (300.0, -10.0),
            (310.0, 1000.0),
        ];
        assert_eq!(nearest(&points, 100.0, Some((0.2, 3.0))), Some(60.0));
        // Without the range 10 starts the profile positive: C = 1000, 995, 1005,
        // 995, 1995 never changes sign.
        assert_eq!(nearest(&points, 100.0, None), None);
        // The range applies to the first-crossing rule too.
        let first_in_range = FlipSearch {
            rule: FlipRule::FirstCrossing,
            spot: Some(100.0),
            range: Some((0.2, 3.0)),
        };
        assert_eq!(gamma_flip_with(points, first_in_range), Some(60.0));
    }

    #[test]
    fn nearest_spot_and_ranges_need_a_positive_spot() {
        let points = [(90.0, -10.0), (100.0, 20.0)];
        let no_spot = |rule, range| FlipSearch {
            rule,
            spot: None,
            range,
        };
        assert_eq!(
            gamma_flip_with(points, no_spot(FlipRule::NearestSpot, None)),
            None
        );
        assert_eq!(
            gamma_flip_with(points, no_spot(FlipRule::FirstCrossing, Some((0.2, 3.0)))),
            None
        );
        assert_eq!(nearest(&points, 0.0, None), None);
        assert_eq!(nearest(&points, f64::NAN, None), None);
        // A single strike in range has nothing to bracket.
        assert_eq!(nearest(&points, 100.0, Some((0.95, 1.0))), None);
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
