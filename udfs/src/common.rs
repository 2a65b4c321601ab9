//! Arrow plumbing shared by the aggregates: argument coercions, row
//! selection, list-encoded states, literal arguments and per-group state
//! bookkeeping.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::types::{NativeType, logical_float64, logical_int64};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Coercion, EmitTo, TypeSignatureClass};
use datafusion::physical_expr::expressions::Literal;

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

/// The sample standard deviation (n − 1) of `values`, in two passes (the
/// mean first, then the squared deviations from it, each added in order);
/// `None` below two values.
pub(crate) fn sample_stddev(values: impl Iterator<Item = f64> + Clone) -> Option<f64> {
    let (n, sum) = values
        .clone()
        .fold((0usize, 0.0), |(n, sum), v| (n + 1, sum + v));
    if n < 2 {
        return None;
    }
    let mean = sum / n as f64;
    let squares: f64 = values.map(|v| (v - mean) * (v - mean)).sum();
    Some((squares / (n - 1) as f64).sqrt())
}

/// splitmix64, for reproducible pseudo-random test data.
#[cfg(test)]
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
