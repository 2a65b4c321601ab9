//! `exact_sum(x DOUBLE) -> DOUBLE`: the correctly rounded sum of the non-null
//! inputs, identical whatever their order and however DataFusion splits the
//! aggregation into partial and final stages.
//!
//! The running sum is Shewchuk's expansion of non-overlapping partials, as in
//! Python's `math.fsum`, so every partial state holds the exact sum of its
//! rows and merging states is exact. Unlike `fsum` it never overflows in the
//! middle: magnitudes from 2^1022 up are split off into an integer carry, so
//! `[f64::MAX, f64::MAX, -f64::MAX]` sums to `f64::MAX` in every order.

use std::mem::size_of_val;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, TypeSignature, Volatility,
};

use crate::common::{
    GroupStates, HeapSize, ListRows, float64_arg, list_array, list_field, list_scalar, rows,
    selected_rows,
};

/// 2^1022: the unit of the carry. Partials stay below it in magnitude, so no
/// sum of two of them can overflow.
const CARRY_UNIT: f64 = f64::from_bits(0x7FD0_0000_0000_0000);
/// 2^1023, the largest power of two, used to write two carry units at once.
const TWO_CARRY_UNITS: f64 = f64::from_bits(0x7FE0_0000_0000_0000);
/// 2^1020, a carry unit in the quarter scale used to round huge sums.
const QUARTER_CARRY_UNIT: f64 = f64::from_bits(0x7FB0_0000_0000_0000);
/// 2^-1000: partials below it are too small to be scaled by 1/4 exactly, and
/// too small to matter for a result at or above 2^1022 other than by sign.
const TINY: f64 = f64::from_bits(0x0170_0000_0000_0000);

const SEEN: u8 = 1;
const POS_INF: u8 = 2;
const NEG_INF: u8 = 4;
const NAN: u8 = 8;
const SPECIAL: u8 = POS_INF | NEG_INF | NAN;

/// Partials kept inline; sums of a handful of doubles rarely need more, so
/// most groups never allocate.
const INLINE: usize = 3;

#[derive(Debug, Clone)]
enum Partials {
    Inline { len: u8, buf: [f64; INLINE] },
    Heap(Vec<f64>),
}

impl Default for Partials {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            buf: [0.0; INLINE],
        }
    }
}

impl Partials {
    fn as_slice(&self) -> &[f64] {
        match self {
            Self::Inline { len, buf } => &buf[..*len as usize],
            Self::Heap(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [f64] {
        match self {
            Self::Inline { len, buf } => &mut buf[..*len as usize],
            Self::Heap(v) => v,
        }
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Self::Inline { len, .. } => *len = n as u8,
            Self::Heap(v) => v.truncate(n),
        }
    }

    fn push(&mut self, x: f64) {
        match self {
            Self::Inline { len, buf } if (*len as usize) < INLINE => {
                buf[*len as usize] = x;
                *len += 1;
            }
            Self::Inline { buf, .. } => {
                let mut v = Vec::with_capacity(2 * INLINE);
                v.extend_from_slice(buf);
                v.push(x);
                *self = Self::Heap(v);
            }
            Self::Heap(v) => v.push(x),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Self::Inline { .. } => 0,
            Self::Heap(v) => v.capacity() * size_of::<f64>(),
        }
    }
}

/// Adds `x` to the non-overlapping expansion `p`, ordered by increasing
/// magnitude (Shewchuk's grow-expansion with zero elimination). The low
/// parts are written back to `p`; returns their count and the new top.
#[inline]
fn grow(p: &mut [f64], mut x: f64) -> (usize, f64) {
    let mut n = 0;
    for j in 0..p.len() {
        let (hi, lo) = two_sum(x, p[j]);
        if lo != 0.0 {
            p[n] = lo;
            n += 1;
        }
        x = hi;
    }
    (n, x)
}

/// Knuth's TwoSum: `x + y` rounded, and the exact error of that rounding,
/// whatever the operands' magnitudes (no comparison, so no branch to
/// mispredict; the same two values as Dekker's Fast2Sum after ordering them).
#[inline(always)]
fn two_sum(x: f64, y: f64) -> (f64, f64) {
    let hi = x + y;
    let y_part = hi - x;
    let x_part = hi - y_part;
    (hi, (x - x_part) + (y - y_part))
}

/// Adds `x` to an expansion that owns its storage.
fn grow_vec(p: &mut Vec<f64>, x: f64) {
    let (n, top) = grow(p, x);
    p.truncate(n);
    if top != 0.0 {
        p.push(top);
    }
}

/// The correctly rounded value of a non-overlapping expansion, with
/// `math.fsum`'s correction for halfway cases that span several partials.
fn round_expansion(p: &[f64]) -> f64 {
    let Some((&top, rest)) = p.split_last() else {
        return 0.0;
    };
    let mut n = rest.len();
    let mut hi = top;
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = p[n];
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
        // `lo` is exactly half an ulp and the remaining partials push the
        // true sum past the halfway point, so round away from `hi`.
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

/// The correctly rounded value of `partials + carry * 2^1022`.
fn round_with_carry(partials: &[f64], carry: i64) -> f64 {
    let mut p = partials.to_vec();
    let mut carry = carry;
    let sign = carry.signum() as f64;
    if p.last().is_some_and(|&top| top * sign < 0.0) {
        // The top partial opposes the carry and is smaller than one unit, so
        // folding one unit in moves the sum towards zero and cannot overflow.
        grow_vec(&mut p, sign * CARRY_UNIT);
        carry -= carry.signum();
    }
    if carry == 0 {
        return round_expansion(&p);
    }
    // The expansion now shares the carry's sign, so |sum| >= |carry| * 2^1022.
    if carry.abs() >= 4 {
        return sign * f64::INFINITY;
    }
    // Round a quarter of the sum, which is at least 2^1020 and so normal;
    // scaling back by 4 is then exact, or overflows exactly when the sum
    // rounds to infinity. Partials below `TINY` only break ties there, and do
    // so through the sign of the largest of them alone.
    let mut quarter = Vec::with_capacity(p.len() + 2);
    let tiny = p.iter().take_while(|x| x.abs() < TINY).count();
    if tiny > 0 {
        grow_vec(&mut quarter, p[tiny - 1].signum() * f64::from_bits(1));
    }
    for &x in &p[tiny..] {
        grow_vec(&mut quarter, x * 0.25);
    }
    grow_vec(&mut quarter, carry as f64 * QUARTER_CARRY_UNIT);
    round_expansion(&quarter) * 4.0
}

/// An exact running sum of doubles, rounded once when read.
///
/// Order-independent: the same multiset of inputs gives the same bits, and
/// [`ExactSum::merge`] is exact, so partial sums can be combined freely.
#[derive(Debug, Clone, Default)]
pub struct ExactSum {
    partials: Partials,
    /// Multiples of 2^1022 split off the partials so they never overflow.
    carry: i64,
    flags: u8,
}

impl ExactSum {
    /// An empty sum, whose value is `None`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value. NaN, or both infinities, make the sum NaN; otherwise
    /// an infinity makes it that infinity.
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.flags |= SEEN;
        if !x.is_finite() {
            self.add_special(x);
        } else if self.flags & SPECIAL == 0 {
            // Once the sum is special, finite values cannot change it.
            self.add_finite(x);
        }
    }

    fn add_special(&mut self, x: f64) {
        if x.is_nan() {
            self.flags |= NAN;
        } else if x > 0.0 {
            self.flags |= POS_INF;
        } else {
            self.flags |= NEG_INF;
        }
    }

    #[inline]
    fn add_finite(&mut self, mut x: f64) {
        // The common case first: inline partials, no carry.
        if x.abs() < CARRY_UNIT
            && let Partials::Inline { len, buf } = &mut self.partials
        {
            let (n, top) = grow(&mut buf[..*len as usize], x);
            *len = n as u8;
            if top.abs() < CARRY_UNIT {
                if top != 0.0 {
                    self.partials.push(top);
                }
                return;
            }
            // The top reached a carry unit: the general path splits it.
            x = top;
        }
        loop {
            // Exact: x - 2^1022 is either in Sterbenz's range or a multiple
            // of x's own ulp that is representable.
            while x.abs() >= CARRY_UNIT {
                let sign = x.signum();
                x -= sign * CARRY_UNIT;
                self.carry += sign as i64;
            }
            if x == 0.0 {
                return;
            }
            let (n, top) = grow(self.partials.as_mut_slice(), x);
            self.partials.truncate(n);
            if top.abs() < CARRY_UNIT {
                if top != 0.0 {
                    self.partials.push(top);
                }
                return;
            }
            // The new top reached a carry unit: split it and add the rest
            // back, which also restores the non-overlapping order.
            x = top;
        }
    }

    /// Adds all of another sum, exactly.
    pub fn merge(&mut self, other: &ExactSum) {
        self.flags |= other.flags & SEEN;
        if other.flags & SPECIAL != 0 {
            self.add_special(other.special_value());
        }
        if self.flags & SPECIAL != 0 {
            return;
        }
        for &x in other.partials.as_slice() {
            self.add_finite(x);
        }
        self.carry += other.carry;
    }

    /// The sum rounded to the nearest double (ties to even), or `None` when
    /// nothing was added. An exact zero is `+0.0`.
    pub fn value(&self) -> Option<f64> {
        if self.flags & SEEN == 0 {
            return None;
        }
        if self.flags & SPECIAL != 0 {
            return Some(self.special_value());
        }
        Some(if self.carry == 0 {
            round_expansion(self.partials.as_slice())
        } else {
            round_with_carry(self.partials.as_slice(), self.carry)
        })
    }

    /// Whether anything has been added.
    pub fn is_empty(&self) -> bool {
        self.flags & SEEN == 0
    }

    fn special_value(&self) -> f64 {
        match self.flags & SPECIAL {
            POS_INF => f64::INFINITY,
            NEG_INF => f64::NEG_INFINITY,
            _ => f64::NAN,
        }
    }

    /// Appends doubles whose exact sum equals this sum, for a state that is
    /// merged by adding its values back one by one.
    pub(crate) fn write_state(&self, out: &mut Vec<f64>) {
        if self.flags & SPECIAL != 0 {
            out.push(self.special_value());
            return;
        }
        out.extend_from_slice(self.partials.as_slice());
        let sign = self.carry.signum() as f64;
        let units = self.carry.unsigned_abs();
        out.extend(std::iter::repeat_n(
            sign * TWO_CARRY_UNITS,
            (units / 2) as usize,
        ));
        if units % 2 == 1 {
            out.push(sign * CARRY_UNIT);
        }
    }

    /// Adds a state written by [`ExactSum::write_state`]; an empty state
    /// still counts as input, with sum zero.
    pub(crate) fn merge_state(&mut self, values: &[f64]) {
        self.flags |= SEEN;
        values.iter().for_each(|&x| self.add(x));
    }
}

impl HeapSize for ExactSum {
    fn heap_bytes(&self) -> usize {
        self.partials.heap_bytes()
    }
}

/// The correctly rounded sum of `values`, independent of their order; `0.0`
/// when empty, like Python's `math.fsum`.
pub fn exact_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = ExactSum::new();
    values.into_iter().for_each(|x| sum.add(x));
    sum.value().unwrap_or(0.0)
}

/// The `exact_sum` aggregate UDF.
pub fn exact_sum_udaf() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(ExactSumUdaf::new()))))
}

/// `exact_sum(x DOUBLE [, y DOUBLE]) -> DOUBLE`: the correctly rounded sum of
/// every non-null value of the group's `x` (and `y`: a row holding two
/// addends, e.g. a call and a put, is summed as two rows would be, with no
/// rounding of their pair). NULL when no input is non-null.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExactSumUdaf {
    signature: Signature,
}

impl Default for ExactSumUdaf {
    fn default() -> Self {
        Self::new()
    }
}

impl ExactSumUdaf {
    /// The UDAF implementation; prefer the shared [`exact_sum_udaf`].
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Coercible(vec![float64_arg()]),
                    TypeSignature::Coercible(vec![float64_arg(), float64_arg()]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl AggregateUDFImpl for ExactSumUdaf {
    fn name(&self) -> &str {
        "exact_sum"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![list_field(
            format_state_name(args.name, "partials"),
            DataType::Float64,
        )])
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<ExactSumAccumulator>::default())
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::<ExactSumGroups>::default())
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

/// Adds the non-null values of every argument's batch to `sum`.
fn update_one(sum: &mut ExactSum, args: &[ArrayRef]) {
    for values in args {
        let mask = selected_rows(&[values], None);
        let x = values.as_primitive::<Float64Type>().values();
        rows(x.len(), mask.as_ref()).for_each(|row| sum.add(x[row]));
    }
}

#[derive(Debug, Default)]
struct ExactSumAccumulator {
    sum: ExactSum,
}

impl Accumulator for ExactSumAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        update_one(&mut self.sum, values);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = ListRows::new(&states[0]);
        let values = lists.f64_values();
        for row in 0..states[0].len() {
            if let Some(range) = lists.range(row) {
                self.sum.merge_state(&values[range]);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut values = Vec::new();
        self.sum.write_state(&mut values);
        let child: ArrayRef = Arc::new(Float64Array::from(values));
        Ok(vec![list_scalar(child, !self.sum.is_empty())])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.sum.value()))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.sum.heap_bytes()
    }
}

/// Per-group exact sums for `GROUP BY`, the hot path.
#[derive(Debug, Default)]
struct ExactSumGroups {
    sums: GroupStates<ExactSum>,
}

impl GroupsAccumulator for ExactSumGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.sums.resize(total_num_groups);
        for arg in values {
            let mask = selected_rows(&[arg], opt_filter);
            let x = arg.as_primitive::<Float64Type>().values();
            for row in rows(x.len(), mask.as_ref()) {
                self.sums.update(group_indices[row], |sum| sum.add(x[row]));
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.sums.resize(total_num_groups);
        let lists = ListRows::new(&values[0]);
        let partials = lists.f64_values();
        for (row, &group) in group_indices.iter().enumerate() {
            if let Some(range) = lists.range(row) {
                self.sums
                    .update(group, |sum| sum.merge_state(&partials[range]));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let sums = self.sums.take(emit_to);
        Ok(Arc::new(
            sums.iter().map(ExactSum::value).collect::<Float64Array>(),
        ))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let sums = self.sums.take(emit_to);
        let mut values = Vec::with_capacity(sums.len());
        let mut lengths = Vec::with_capacity(sums.len());
        for sum in &sums {
            let start = values.len();
            sum.write_state(&mut values);
            lengths.push(values.len() - start);
        }
        let nulls = NullBuffer::from(sums.iter().map(|sum| !sum.is_empty()).collect::<Vec<_>>());
        let child: ArrayRef = Arc::new(Float64Array::from(values));
        Ok(vec![list_array(child, lengths, Some(nulls))])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        if let [arg] = values {
            // Each row becomes a one-partial state; merging re-adds it exactly,
            // and rejected rows become null lists.
            let x = arg.as_primitive::<Float64Type>();
            let nulls = selected_rows(&[arg], opt_filter);
            let child: ArrayRef = Arc::new(Float64Array::new(x.values().clone(), None));
            return Ok(vec![list_array(
                child,
                std::iter::repeat_n(1, x.len()),
                nulls,
            )]);
        }
        // Several addends per row: each row's state is the exact sum of its own.
        let masks: Vec<_> = values
            .iter()
            .map(|a| selected_rows(&[a], opt_filter))
            .collect();
        let xs: Vec<&[f64]> = values
            .iter()
            .map(|a| a.as_primitive::<Float64Type>().values().as_ref())
            .collect();
        let len = values.first().map_or(0, |a| a.len());
        let mut partials = Vec::new();
        let mut lengths = Vec::with_capacity(len);
        let mut valid = Vec::with_capacity(len);
        for row in 0..len {
            let mut sum = ExactSum::new();
            for (x, mask) in xs.iter().zip(&masks) {
                if mask.as_ref().is_none_or(|m| m.is_valid(row)) {
                    sum.add(x[row]);
                }
            }
            let start = partials.len();
            sum.write_state(&mut partials);
            lengths.push(partials.len() - start);
            valid.push(!sum.is_empty());
        }
        let child: ArrayRef = Arc::new(Float64Array::from(partials));
        Ok(vec![list_array(
            child,
            lengths,
            Some(NullBuffer::from(valid)),
        )])
    }

    fn size(&self) -> usize {
        self.sums.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::splitmix;

    /// 2^e for a normal exponent, built from its bits so it is exact.
    fn pow2(e: i32) -> f64 {
        f64::from_bits(((e + 1023) as u64) << 52)
    }

    /// Every permutation of `values`, by Heap's algorithm.
    fn permutations(values: &[f64]) -> Vec<Vec<f64>> {
        fn heap(k: usize, v: &mut Vec<f64>, out: &mut Vec<Vec<f64>>) {
            if k <= 1 {
                out.push(v.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, v, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                v.swap(j, k - 1);
            }
        }
        let mut out = Vec::new();
        heap(values.len(), &mut values.to_vec(), &mut out);
        out
    }

    fn assert_all_orders(values: &[f64], expected: f64) {
        for order in permutations(values) {
            let got = exact_sum(order.iter().copied());
            assert_eq!(
                got.to_bits(),
                expected.to_bits(),
                "{order:?}: got {got:e}, expected {expected:e}"
            );
        }
    }

    #[test]
    fn empty_is_zero_and_value_none() {
        assert_eq!(exact_sum([]).to_bits(), 0.0f64.to_bits());
        assert_eq!(ExactSum::new().value(), None);
    }

    #[test]
    fn cancellation_that_naive_summation_loses() {
        // Naive left-to-right summation returns 0.0 or 2.0 depending on order.
        assert_all_orders(&[1e100, 1.0, -1e100, 1.0], 2.0);
        assert_all_orders(&[0.1, 0.2, -0.3], 2.7755575615628914e-17);
    }

    #[test]
    fn zero_sum_is_positive_zero() {
        assert_all_orders(&[1.5, -1.5], 0.0);
        assert_eq!(exact_sum([-0.0]).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn halfway_case_spanning_partials_rounds_correctly() {
        // 1 + 2^-53 is a tie that rounds to even (1.0); the extra 2^-105 is
        // past halfway, so the correctly rounded sum is 1 + 2^-52.
        let tie = pow2(-53);
        assert_all_orders(&[1.0, tie, pow2(-105)], 1.0 + pow2(-52));
        assert_all_orders(&[1.0, tie, -(pow2(-105))], 1.0);
        assert_all_orders(&[1.0, tie], 1.0);
    }

    #[test]
    fn non_finite_inputs() {
        assert!(exact_sum([1.0, f64::NAN, 2.0]).is_nan());
        assert!(exact_sum([f64::INFINITY, 1.0, f64::NEG_INFINITY]).is_nan());
        assert_all_orders(&[f64::INFINITY, 1.0, f64::INFINITY], f64::INFINITY);
        assert_all_orders(&[f64::NEG_INFINITY, -1e308, 5.0], f64::NEG_INFINITY);
        assert_all_orders(&[f64::MAX, f64::MAX, f64::NEG_INFINITY], f64::NEG_INFINITY);
    }

    #[test]
    fn intermediate_overflow_is_exact() {
        // Python's fsum raises "intermediate overflow" for some of these
        // orders; the exact sums are in range.
        assert_all_orders(&[f64::MAX, f64::MAX, -f64::MAX], f64::MAX);
        assert_all_orders(&[f64::MAX, f64::MAX, -f64::MAX, -f64::MAX, 1.0], 1.0);
        assert_all_orders(&[-f64::MAX, -f64::MAX, f64::MAX, 3.5], -f64::MAX + 3.5);
        assert_all_orders(&[1e308, 1e308, 1e308, -1e308, -1e308], 1e308);
    }

    #[test]
    fn overflowing_sums_round_to_infinity_at_the_ieee_threshold() {
        // MAX = (2^53 - 1) * 2^971; MAX + 2^970 is halfway to 2^1024 and
        // ties-to-even rounds it to infinity, anything less stays at MAX.
        let half_ulp = pow2(970);
        assert_all_orders(&[f64::MAX, half_ulp], f64::INFINITY);
        assert_all_orders(&[f64::MAX, half_ulp, -(pow2(900))], f64::MAX);
        assert_all_orders(&[f64::MAX, half_ulp, -1e-300], f64::MAX);
        assert_all_orders(&[f64::MAX, f64::MAX], f64::INFINITY);
        assert_all_orders(&[-f64::MAX, -half_ulp], f64::NEG_INFINITY);
        // A sum just above 2^1023 that needs the carry to be rounded: 2^1023
        // plus 1.5 ulp of it rounds to 2^1023 + 2 ulp (ties to even).
        let ulp = pow2(971);
        assert_all_orders(
            &[pow2(1022), pow2(1022), ulp, ulp / 2.0],
            pow2(1023) + 2.0 * ulp,
        );
        // The carry decides a tie only through a tiny trailing partial.
        assert_all_orders(
            &[pow2(1022), pow2(1022), ulp / 2.0, 1e-310],
            pow2(1023) + ulp,
        );
        assert_all_orders(&[pow2(1022), pow2(1022), ulp / 2.0, -1e-310], pow2(1023));
    }

    #[test]
    fn merge_and_state_round_trip_are_exact() {
        let values = [
            1e308,
            3.0,
            1e308,
            -1e-300,
            7e307,
            0.1,
            f64::MIN_POSITIVE / 8.0,
        ];
        let mut whole = ExactSum::new();
        values.iter().for_each(|&x| whole.add(x));
        for split in 0..=values.len() {
            let (left, right) = values.split_at(split);
            let mut a = ExactSum::new();
            left.iter().for_each(|&x| a.add(x));
            let mut b = ExactSum::new();
            right.iter().for_each(|&x| b.add(x));
            let mut merged = a.clone();
            merged.merge(&b);
            assert_eq!(
                merged.value().map(f64::to_bits),
                whole.value().map(f64::to_bits)
            );

            let mut state = Vec::new();
            a.write_state(&mut state);
            b.write_state(&mut state);
            let mut restored = ExactSum::new();
            restored.merge_state(&state);
            assert_eq!(
                restored.value().map(f64::to_bits),
                whole.value().map(f64::to_bits)
            );
        }
    }

    #[test]
    fn empty_state_counts_as_zero_input() {
        let mut sum = ExactSum::new();
        sum.merge_state(&[]);
        assert_eq!(sum.value(), Some(0.0));
    }

    #[test]
    fn special_state_round_trips() {
        for (inputs, expected) in [
            (vec![f64::INFINITY, 2.0], f64::INFINITY),
            (vec![f64::NEG_INFINITY], f64::NEG_INFINITY),
            (vec![f64::INFINITY, f64::NEG_INFINITY], f64::NAN),
        ] {
            let mut sum = ExactSum::new();
            inputs.iter().for_each(|&x| sum.add(x));
            let mut state = Vec::new();
            sum.write_state(&mut state);
            let mut restored = ExactSum::new();
            restored.merge_state(&state);
            let got = restored.value().unwrap();
            assert!(
                got == expected || (got.is_nan() && expected.is_nan()),
                "{inputs:?}"
            );
        }
    }

    #[test]
    fn matches_integer_reference_on_random_inputs() {
        // Inputs are integers times 2^-40 that fit a double exactly, so their
        // exact sum fits an i128, and Rust's i128 -> f64 conversion (round to
        // nearest, ties to even) gives an independent reference. Sparse
        // inputs (one or two set bits) make exact ties common.
        let mut seed = 42;
        let scale = pow2(-40);
        for case in 0..4000 {
            let n = (splitmix(&mut seed) % 40) as usize;
            let mut ints = Vec::with_capacity(n);
            for _ in 0..n {
                let magnitude = if case % 2 == 0 {
                    (splitmix(&mut seed) >> 2) >> (splitmix(&mut seed) % 62)
                } else {
                    (1u64 << (splitmix(&mut seed) % 62)) | (1u64 << (splitmix(&mut seed) % 62))
                };
                let sign = if splitmix(&mut seed) & 1 == 0 { 1 } else { -1 };
                // Round to a double first so the input itself is exact.
                ints.push(((sign * magnitude as i64) as f64) as i128);
            }
            let expected = ints.iter().sum::<i128>() as f64 * scale;
            let got = exact_sum(ints.iter().map(|&i| i as f64 * scale));
            assert_eq!(got.to_bits(), expected.to_bits(), "{ints:?}");
        }
    }

    #[test]
    fn many_partials_spill_to_the_heap() {
        // 4^k * 2^-40 never combine, so every one stays a partial.
        let values: Vec<f64> = (0..40).map(|k| pow2(2 * k - 40)).collect();
        let mut sum = ExactSum::new();
        values.iter().for_each(|&x| sum.add(x));
        assert!(sum.heap_bytes() > 0);
        // sum of 4^k for k < 40 is (4^40 - 1) / 3, then scaled by 2^-40.
        let expected = (((1i128 << 80) - 1) / 3) as f64 * pow2(-40);
        assert_eq!(sum.value().map(f64::to_bits), Some(expected.to_bits()));
        let mut reversed = ExactSum::new();
        values.iter().rev().for_each(|&x| reversed.add(x));
        assert_eq!(reversed.value().map(f64::to_bits), Some(expected.to_bits()));
    }
}
