//! Arrow plumbing shared by the aggregates: argument coercions, row
//! selection, list-encoded states, literal arguments and per-group strike
//! buffers.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::types::{NativeType, logical_float64, logical_int64};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Coercion, EmitTo, TypeSignatureClass};
use datafusion::physical_expr::expressions::Literal;

use crate::exact_sum::ExactSum;

/// A DOUBLE parameter that also accepts any other numeric type, cast to DOUBLE.
pub(crate) fn float64_arg() -> Coercion {
    Coercion::new_implicit(
        TypeSignatureClass::Native(logical_float64()),
        vec![TypeSignatureClass::Numeric],
        NativeType::Float64,
    )
}

/// A BIGINT parameter that also accepts any other integer type, cast to BIGINT.
pub(crate) fn int64_arg() -> Coercion {
    Coercion::new_implicit(
        TypeSignatureClass::Native(logical_int64()),
        vec![TypeSignatureClass::Integer],
        NativeType::Int64,
    )
}

/// Validity of the rows an aggregate consumes: a row that is null in any of
/// `required`, or that the `FILTER` clause rejects, is skipped.
pub(crate) fn selected_rows(
    required: &[&ArrayRef],
    filter: Option<&BooleanArray>,
) -> Option<NullBuffer> {
    // A null filter value rejects the row, as in SQL.
    let mut mask = filter.map(|filter| match filter.nulls() {
        Some(nulls) => NullBuffer::new(filter.values() & nulls.inner()),
        None => NullBuffer::new(filter.values().clone()),
    });
    for array in required {
        mask = NullBuffer::union(mask.as_ref(), array.logical_nulls().as_ref());
    }
    mask
}

/// Indices of the rows of a `len`-row batch that `mask` selects.
pub(crate) fn rows(len: usize, mask: Option<&NullBuffer>) -> impl Iterator<Item = usize> + '_ {
    (0..len).filter(move |&row| mask.is_none_or(|mask| mask.is_valid(row)))
}

/// The state field for a list of `item` values; null entries stand for
/// groups that saw no input.
pub(crate) fn list_field(name: String, item: DataType) -> FieldRef {
    Arc::new(Field::new_list(
        name,
        Field::new_list_field(item, true),
        true,
    ))
}

/// A list array whose row `i` holds the next `lengths[i]` values of `child`.
pub(crate) fn list_array(
    child: ArrayRef,
    lengths: impl IntoIterator<Item = usize>,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let field = Arc::new(Field::new_list_field(child.data_type().clone(), true));
    Arc::new(ListArray::new(
        field,
        OffsetBuffer::from_lengths(lengths),
        child,
        nulls,
    ))
}

/// A one-row list scalar holding all of `child`, or a null list of its type.
pub(crate) fn list_scalar(child: ArrayRef, valid: bool) -> ScalarValue {
    let (child, nulls) = if valid {
        (child, None)
    } else {
        (child.slice(0, 0), Some(NullBuffer::new_null(1)))
    };
    let len = child.len();
    let list = list_array(child, [len], nulls);
    ScalarValue::List(Arc::new(list.as_list::<i32>().clone()))
}

/// Row-wise access to a list-encoded state column.
pub(crate) struct ListRows<'a> {
    list: &'a ListArray,
}

impl<'a> ListRows<'a> {
    /// Views `array`, which must be a `List` state column.
    pub(crate) fn new(array: &'a ArrayRef) -> Self {
        Self {
            list: array.as_list::<i32>(),
        }
    }

    /// Child positions of `row`, or `None` for a null entry.
    pub(crate) fn range(&self, row: usize) -> Option<Range<usize>> {
        if self.list.is_null(row) {
            return None;
        }
        let offsets = self.list.value_offsets();
        Some(offsets[row] as usize..offsets[row + 1] as usize)
    }

    /// The child values of a `List<Float64>`. States written by this crate
    /// never hold null doubles, so the raw buffer is the data.
    pub(crate) fn f64_values(&self) -> &'a [f64] {
        self.list.values().as_primitive::<Float64Type>().values()
    }

    /// The child array of a `List<Int64>`.
    pub(crate) fn i64_values(&self) -> &'a Int64Array {
        self.list.values().as_primitive::<Int64Type>()
    }
}

/// Argument `index` of the call, which must be a literal constant.
pub(crate) fn literal_arg<'a>(
    args: &AccumulatorArgs<'a>,
    index: usize,
    function: &str,
    parameter: &str,
) -> Result<&'a ScalarValue> {
    match args
        .exprs
        .get(index)
        .and_then(|e| e.downcast_ref::<Literal>())
    {
        Some(literal) => Ok(literal.value()),
        None => exec_err!("{function}: {parameter} must be a literal constant"),
    }
}

/// Heap memory of a per-group state, for `GroupsAccumulator::size`.
pub(crate) trait HeapSize {
    /// Bytes owned on the heap, excluding the value itself.
    fn heap_bytes(&self) -> usize;
}

/// One state per group, with the heap total kept current so that `size` is
/// O(1) rather than O(groups).
#[derive(Debug, Default)]
pub(crate) struct GroupStates<T> {
    states: Vec<T>,
    heap: usize,
}

impl<T: Default + HeapSize> GroupStates<T> {
    /// Makes room for groups `0..total`.
    pub(crate) fn resize(&mut self, total: usize) {
        self.states.resize_with(total, T::default);
    }

    /// Applies `f` to the state of `group`.
    #[inline]
    pub(crate) fn update<R>(&mut self, group: usize, f: impl FnOnce(&mut T) -> R) -> R {
        let state = &mut self.states[group];
        let before = state.heap_bytes();
        let result = f(state);
        self.heap = self.heap - before + state.heap_bytes();
        result
    }

    /// Removes and returns the states that `emit_to` selects.
    pub(crate) fn take(&mut self, emit_to: EmitTo) -> Vec<T> {
        let taken = emit_to.take_needed(&mut self.states);
        self.heap -= taken.iter().map(T::heap_bytes).sum::<usize>();
        taken
    }

    /// Bytes used by all states.
    pub(crate) fn size(&self) -> usize {
        self.states.capacity() * size_of::<T>() + self.heap
    }
}

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

/// A text argument that must be a literal naming one of `choices`.
pub(crate) fn text_literal_arg<'a>(
    args: &AccumulatorArgs,
    index: usize,
    function: &str,
    parameter: &str,
    choices: &[&'a str],
) -> Result<&'a str> {
    let value = literal_arg(args, index, function, parameter)?;
    let text = match value {
        ScalarValue::Utf8(Some(t))
        | ScalarValue::LargeUtf8(Some(t))
        | ScalarValue::Utf8View(Some(t)) => Some(t.as_str()),
        _ => None,
    };
    match text.and_then(|t| choices.iter().find(|c| **c == t)) {
        Some(choice) => Ok(choice),
        None => exec_err!(
            "{function}: {parameter} must be one of {}, got {value}",
            choices.join(", ")
        ),
    }
}

/// A text parameter: any string type, as it is.
pub(crate) fn text_arg() -> Coercion {
    Coercion::new_exact(TypeSignatureClass::Native(
        datafusion::common::types::logical_string(),
    ))
}
