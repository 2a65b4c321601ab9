//! The per-group `(strike, net)` buffers of the aggregates over a strike
//! profile, and the `(spot, strikes, nets)` state that `gamma_flip` and
//! `gex_slope` share.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err};

use crate::common::{HeapSize, ListRows, list_array, list_field, rows, selected_rows};
use crate::exact_sum::ExactSum;

/// Slack before the first fold, so that small groups are never sorted while
/// rows are still arriving.
const FOLD_SLACK: usize = 64;

/// The `(strike, net)` rows of one group. Equal strikes are folded into the
/// exact partials of their summed net whenever the buffer has doubled, so
/// memory follows the number of distinct strikes rather than of rows, and
/// the exact per-strike sums are unchanged by folding.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrikeNets {
    rows: Vec<(f64, f64)>,
    folded: usize,
}

impl StrikeNets {
    /// Adds a row, skipping it unless both strike and net are finite.
    pub(crate) fn push(&mut self, strike: f64, net: f64) {
        if strike.is_finite() && net.is_finite() {
            // `+ 0.0` turns -0.0 into 0.0 so both spellings are one strike.
            self.rows.push((strike + 0.0, net));
            if self.rows.len() >= 2 * self.folded + FOLD_SLACK {
                self.fold();
            }
        }
    }

    /// Combines equal strikes; afterwards rows are sorted by strike.
    pub(crate) fn fold(&mut self) {
        self.rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut folded = Vec::with_capacity(self.rows.len());
        let mut state = Vec::new();
        for run in self.rows.chunk_by(|a, b| a.0 == b.0) {
            let strike = run[0].0;
            if let [row] = run {
                folded.push(*row);
                continue;
            }
            let mut sum = ExactSum::new();
            run.iter().for_each(|&(_, net)| sum.add(net));
            state.clear();
            sum.write_state(&mut state);
            if state.is_empty() {
                // The strike must survive a zero net: it is still a level of
                // the profile and may lie inside a slope window.
                folded.push((strike, 0.0));
            }
            folded.extend(state.iter().map(|&net| (strike, net)));
        }
        self.rows = folded;
        self.folded = self.rows.len();
    }

    /// The buffered rows, in no particular order.
    pub(crate) fn rows(&self) -> &[(f64, f64)] {
        &self.rows
    }
}

impl HeapSize for StrikeNets {
    fn heap_bytes(&self) -> usize {
        self.rows.capacity() * size_of::<(f64, f64)>()
    }
}

/// Merges row `row` of a pair of `List<Float64>` state columns holding
/// strikes and nets into `target`.
pub(crate) fn merge_strike_nets(
    strikes: &ListRows,
    nets: &ListRows,
    row: usize,
    target: &mut StrikeNets,
) {
    if let (Some(range), Some(_)) = (strikes.range(row), nets.range(row)) {
        let (k, n) = (strikes.f64_values(), nets.f64_values());
        range.for_each(|i| target.push(k[i], n[i]));
    }
}

/// Writes folded strike buffers as the `(strikes, nets)` list state columns.
pub(crate) fn strike_nets_state<'a>(
    buffers: impl Iterator<Item = &'a mut StrikeNets>,
) -> [ArrayRef; 2] {
    let mut strikes = Vec::new();
    let mut nets = Vec::new();
    let mut lengths = Vec::new();
    for buffer in buffers {
        buffer.fold();
        lengths.push(buffer.rows.len());
        for &(k, n) in &buffer.rows {
            strikes.push(k);
            nets.push(n);
        }
    }
    [
        list_array(
            Arc::new(Float64Array::from(strikes)),
            lengths.iter().copied(),
            None,
        ),
        list_array(Arc::new(Float64Array::from(nets)), lengths, None),
    ]
}

/// `convert_to_state` for `(strike, net)` inputs: one single-row list per
/// input row, null where the row is null or filtered out (merging skips
/// non-finite values, as updating does).
pub(crate) fn strike_nets_convert(
    strike: &ArrayRef,
    net: &ArrayRef,
    filter: Option<&BooleanArray>,
) -> [ArrayRef; 2] {
    let nulls = selected_rows(&[strike, net], filter);
    let singles = |array: &ArrayRef| {
        let values = array.as_primitive::<Float64Type>().values().clone();
        let child: ArrayRef = Arc::new(Float64Array::new(values, None));
        list_array(child, std::iter::repeat_n(1, array.len()), nulls.clone())
    };
    [singles(strike), singles(net)]
}

/// One group of an aggregate over `(strike, net)` points around a spot: the
/// spot, once seen, and the strike rows.
#[derive(Debug, Default)]
pub(crate) struct SpotPoints {
    pub(crate) spot: Option<f64>,
    pub(crate) points: StrikeNets,
}

impl HeapSize for SpotPoints {
    fn heap_bytes(&self) -> usize {
        self.points.heap_bytes()
    }
}

impl SpotPoints {
    /// Records a non-null spot; a different one in the same group is an
    /// error of `function`, since the result would be ambiguous.
    pub(crate) fn set_spot(&mut self, spot: f64, function: &str) -> Result<()> {
        match self.spot {
            None => self.spot = Some(spot),
            Some(s) if s == spot || (s.is_nan() && spot.is_nan()) => {}
            Some(s) => {
                return exec_err!(
                    "{function}: spot must be constant within a group, found {s} and {spot}"
                );
            }
        }
        Ok(())
    }
}

/// Where an aggregate's spot argument is, if it has one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpotArg {
    /// The aggregate's name, for errors.
    pub(crate) function: &'static str,
    /// The argument's position; `None` when the call has no spot.
    pub(crate) index: Option<usize>,
}

impl SpotArg {
    /// Feeds the selected rows of an input batch (`strike` and `net` are
    /// arguments 0 and 1) to the states `state_of(row)`.
    pub(crate) fn update_rows(
        self,
        values: &[ArrayRef],
        filter: Option<&BooleanArray>,
        mut state_of: impl FnMut(usize, &mut dyn FnMut(&mut SpotPoints) -> Result<()>) -> Result<()>,
    ) -> Result<()> {
        let (strike, net) = (&values[0], &values[1]);
        let mask = selected_rows(&[], filter);
        let has_point = selected_rows(&[strike, net], None);
        let (k, n) = (
            strike.as_primitive::<Float64Type>().values(),
            net.as_primitive::<Float64Type>().values(),
        );
        let spot = self.index.map(|i| values[i].as_primitive::<Float64Type>());
        for row in rows(strike.len(), mask.as_ref()) {
            state_of(row, &mut |state: &mut SpotPoints| {
                if let Some(s) = spot.filter(|s| s.is_valid(row)) {
                    state.set_spot(s.value(row), self.function)?;
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
    pub(crate) fn merge_row(
        self,
        states: &SpotStates,
        row: usize,
        state: &mut SpotPoints,
    ) -> Result<()> {
        if states.spot.is_valid(row) {
            state.set_spot(states.spot.value(row), self.function)?;
        }
        merge_strike_nets(&states.strikes, &states.nets, row, &mut state.points);
        Ok(())
    }

    /// `convert_to_state`: one single-row state per input row.
    pub(crate) fn convert(
        self,
        values: &[ArrayRef],
        filter: Option<&BooleanArray>,
    ) -> Vec<ArrayRef> {
        let spot: ArrayRef = match self.index {
            Some(i) => {
                let nulls = selected_rows(&[&values[i]], filter);
                let spot = values[i].as_primitive::<Float64Type>();
                Arc::new(Float64Array::new(spot.values().clone(), nulls))
            }
            None => Arc::new(Float64Array::new_null(values[0].len())),
        };
        let [strikes, nets] = strike_nets_convert(&values[0], &values[1], filter);
        vec![spot, strikes, nets]
    }
}

/// The `(spot, strikes, nets)` state columns, read row-wise.
pub(crate) struct SpotStates<'a> {
    spot: &'a Float64Array,
    strikes: ListRows<'a>,
    nets: ListRows<'a>,
}

impl<'a> SpotStates<'a> {
    /// Views the three state columns.
    pub(crate) fn new(states: &'a [ArrayRef]) -> Self {
        Self {
            spot: states[0].as_primitive::<Float64Type>(),
            strikes: ListRows::new(&states[1]),
            nets: ListRows::new(&states[2]),
        }
    }

    /// Rows in the state batch.
    pub(crate) fn len(&self) -> usize {
        self.spot.len()
    }
}

/// The `(spot, strikes, nets)` state fields of aggregate `name`.
pub(crate) fn spot_points_fields(name: &str) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(
            datafusion::logical_expr::utils::format_state_name(name, "spot"),
            DataType::Float64,
            true,
        )),
        list_field(
            datafusion::logical_expr::utils::format_state_name(name, "strikes"),
            DataType::Float64,
        ),
        list_field(
            datafusion::logical_expr::utils::format_state_name(name, "nets"),
            DataType::Float64,
        ),
    ]
}

/// The `(spot, strikes, nets)` state columns of `states`.
pub(crate) fn spot_points_state<'a>(
    states: impl Iterator<Item = &'a mut SpotPoints>,
) -> Vec<ArrayRef> {
    let mut spots = Vec::new();
    let mut points = Vec::new();
    for state in states {
        spots.push(state.spot);
        points.push(&mut state.points);
    }
    let [strikes, nets] = strike_nets_state(points.into_iter());
    vec![Arc::new(Float64Array::from(spots)), strikes, nets]
}
