//! `count_codes(n, code [, code]) -> LIST<BIGINT>`: how many times each of the
//! codes `1..=n` occurs in the group, in one pass.
//!
//! The metrics judge every leg once and keep the code of the first filter it
//! fails (`queries/metrics/01_rows.sql`); the strike stage then counts the
//! legs each filter rejected. As `count(*) FILTER (WHERE code = k)`, once per
//! code and per leg of a row, that is twelve filtered aggregates, each
//! evaluating its own comparison over every row: 4–6 % of a one-day run. One
//! `count_codes` reads each code once and adds one to its counter.

use std::mem::size_of_val;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, TypeSignature, Volatility,
};

use crate::common::{
    ListRows, int64_arg, list_array, list_field, literal_arg, rows, selected_rows,
};

/// The most codes one call may count: a counter per code is kept for every
/// group, so `n` is a small enumeration, not a range of values.
pub const MAX_CODES: usize = 64;

/// Counts of the codes `1..=n` among `codes` (nulls skipped): element `k - 1`
/// is how many are `k`. An error names the first code outside `1..=n`.
pub fn count_codes(n: usize, codes: impl IntoIterator<Item = i64>) -> Result<Vec<i64>> {
    let mut counts = vec![0; n];
    for code in codes {
        add(&mut counts, code)?;
    }
    Ok(counts)
}

/// Adds one to the counter of `code`.
#[inline]
fn add(counts: &mut [i64], code: i64) -> Result<()> {
    match usize::try_from(code)
        .ok()
        .and_then(|k| k.checked_sub(1))
        .and_then(|i| counts.get_mut(i))
    {
        Some(count) => {
            *count += 1;
            Ok(())
        }
        None => exec_err!("count_codes: code {code} is outside 1..={}", counts.len()),
    }
}

/// The `count_codes` aggregate UDF.
pub fn count_codes_udaf() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(CountCodes::new()))))
}

/// `count_codes(n BIGINT, code BIGINT [, code2 BIGINT]) -> LIST<BIGINT>`: the
/// `n` counts of the codes `1..=n` among the group's non-null `code` values
/// (and `code2`'s: a row holding two codes, e.g. a call's and a put's, counts
/// as two rows would). `n` must be a literal in `1..=64`; a code outside
/// `1..=n` is an error. Never NULL: a group without codes counts `n` zeros.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CountCodes {
    signature: Signature,
}

impl Default for CountCodes {
    fn default() -> Self {
        Self::new()
    }
}

impl CountCodes {
    /// The UDAF implementation; prefer the shared [`count_codes_udaf`].
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Coercible(vec![int64_arg(), int64_arg()]),
                    TypeSignature::Coercible(vec![int64_arg(), int64_arg(), int64_arg()]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// Reads and checks the `n` literal.
fn codes_of(args: &AccumulatorArgs) -> Result<usize> {
    match literal_arg(args, 0, "count_codes", "n")? {
        ScalarValue::Int64(Some(n)) if (1..=MAX_CODES as i64).contains(n) => Ok(*n as usize),
        other => exec_err!("count_codes: n must be an integer in 1..={MAX_CODES}, got {other}"),
    }
}

fn counts_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

impl AggregateUDFImpl for CountCodes {
    fn name(&self) -> &str {
        "count_codes"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(counts_type())
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![list_field(
            format_state_name(args.name, "counts"),
            DataType::Int64,
        )])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CountCodesAccumulator {
            counts: vec![0; codes_of(&args)?],
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(CountCodesGroups {
            n: codes_of(&args)?,
            counts: Vec::new(),
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

/// Calls `count(row, code)` for every code of a call's code columns (the
/// arguments after `n`) that counts: non-null and, with a `FILTER`, selected.
fn for_each_code(
    args: &[ArrayRef],
    filter: Option<&BooleanArray>,
    mut count: impl FnMut(usize, i64) -> Result<()>,
) -> Result<()> {
    for column in args.iter().skip(1) {
        let mask = selected_rows(&[column], filter);
        let codes = column.as_primitive::<Int64Type>().values();
        for row in rows(codes.len(), mask.as_ref()) {
            count(row, codes[row])?;
        }
    }
    Ok(())
}

/// The `n` counters of group (or row) `index` in `counts`, `n` a group side by side.
fn counters(counts: &mut [i64], n: usize, index: usize) -> &mut [i64] {
    &mut counts[index * n..(index + 1) * n]
}

/// Counts as a `LIST<BIGINT>` array, one list of `n` counts per group.
fn counts_array(n: usize, counts: Vec<i64>) -> ArrayRef {
    let groups = counts.len() / n;
    list_array(
        Arc::new(Int64Array::from(counts)),
        std::iter::repeat_n(n, groups),
        None,
    )
}

#[derive(Debug)]
struct CountCodesAccumulator {
    counts: Vec<i64>,
}

impl Accumulator for CountCodesAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for_each_code(values, None, |_, code| add(&mut self.counts, code))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = ListRows::new(&states[0]);
        let values = lists.i64_values().values();
        for row in 0..states[0].len() {
            if let Some(range) = lists.range(row) {
                merge(&mut self.counts, &values[range])?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&counts_array(self.counts.len(), self.counts.clone()), 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.counts.capacity() * size_of::<i64>()
    }
}

/// Adds a state's counts to `counts`.
fn merge(counts: &mut [i64], state: &[i64]) -> Result<()> {
    if state.len() != counts.len() {
        return exec_err!(
            "count_codes: a state of {} counts merged into one of {}",
            state.len(),
            counts.len()
        );
    }
    counts.iter_mut().zip(state).for_each(|(c, s)| *c += s);
    Ok(())
}

/// Per-group counts for `GROUP BY`, the hot path: `n` counters a group, side
/// by side in one vector.
#[derive(Debug)]
struct CountCodesGroups {
    n: usize,
    counts: Vec<i64>,
}

impl CountCodesGroups {
    fn take(&mut self, emit_to: EmitTo) -> Vec<i64> {
        match emit_to {
            EmitTo::All => std::mem::take(&mut self.counts),
            EmitTo::First(groups) => {
                let rest = self.counts.split_off(groups * self.n);
                std::mem::replace(&mut self.counts, rest)
            }
        }
    }
}

impl GroupsAccumulator for CountCodesGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.counts.resize(total_num_groups * self.n, 0);
        let n = self.n;
        for_each_code(values, opt_filter, |row, code| {
            add(counters(&mut self.counts, n, group_indices[row]), code)
        })
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.counts.resize(total_num_groups * self.n, 0);
        let lists = ListRows::new(&values[0]);
        let states = lists.i64_values().values();
        for (row, &group) in group_indices.iter().enumerate() {
            if let Some(range) = lists.range(row) {
                merge(counters(&mut self.counts, self.n, group), &states[range])?;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let counts = self.take(emit_to);
        Ok(counts_array(self.n, counts))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(emit_to)?])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row becomes the counts of its own codes.
        let len = values.first().map_or(0, |a| a.len());
        let mut counts = vec![0; len * self.n];
        for_each_code(values, opt_filter, |row, code| {
            add(counters(&mut counts, self.n, row), code)
        })?;
        Ok(vec![counts_array(self.n, counts)])
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.counts.capacity() * size_of::<i64>()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Array;

    use super::*;

    #[test]
    fn counts_each_code_and_only_codes_in_range() {
        assert_eq!(count_codes(3, [1, 3, 3, 2, 3]).unwrap(), vec![1, 1, 3]);
        assert_eq!(count_codes(2, []).unwrap(), vec![0, 0]);
        for bad in [0, -1, 4] {
            let err = count_codes(3, [1, bad]).unwrap_err().to_string();
            assert!(
                err.contains(&format!("code {bad} is outside 1..=3")),
                "{err}"
            );
        }
    }

    #[test]
    fn groups_emit_the_first_groups_and_keep_the_rest() {
        let mut groups = CountCodesGroups {
            n: 2,
            counts: Vec::new(),
        };
        let codes: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(2), Some(2)]));
        let n: ArrayRef = Arc::new(Int64Array::from(vec![2; 4]));
        groups
            .update_batch(&[n, codes], &[0, 0, 1, 2], None, 3)
            .unwrap();
        let first = groups.evaluate(EmitTo::First(2)).unwrap();
        let first = first.as_list::<i32>();
        assert_eq!(first.len(), 2);
        assert_eq!(first.value(0).as_primitive::<Int64Type>().values(), &[1, 0]);
        assert_eq!(first.value(1).as_primitive::<Int64Type>().values(), &[0, 1]);
        let rest = groups.evaluate(EmitTo::All).unwrap();
        let rest = rest.as_list::<i32>();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest.value(0).as_primitive::<Int64Type>().values(), &[0, 1]);
    }
}
