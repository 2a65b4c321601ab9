//! `top_walls(strike DOUBLE, open_interest BIGINT, volume BIGINT, n BIGINT
//! [, rule TEXT, listed BIGINT]) -> List<Struct<strike, open_interest, volume>>`:
//! the `n` strikes with the most open interest, the "walls" that pin or repel
//! the underlying — ties to the lower strike (METRICS.md §5), or to the strike
//! listed first in the source file with every strike a candidate (§10).

use std::mem::size_of_val;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, TypeSignature, Volatility,
};

use crate::common::{
    GroupStates, HeapSize, ListRows, float64_arg, int64_arg, list_array, list_field, literal_arg,
    selected_rows, text_arg, text_literal_arg,
};

/// A strike with its open interest and volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wall {
    /// The strike price.
    pub strike: f64,
    /// Open interest (summed over rows when aggregated).
    pub open_interest: i64,
    /// Volume (summed over rows when aggregated).
    pub volume: i64,
}

/// Which strikes can be walls, and how equal open interest is ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallRule {
    /// Strikes with positive open interest; ties to the lower strike
    /// (`'lower_strike_ties'`, METRICS.md §5).
    LowerStrikeTies,
    /// Every strike, 0 open interest included; ties to the strike listed first,
    /// then the lower strike (`'first_listed'`, §10).
    FirstListed,
}

impl WallRule {
    /// The rule's SQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WallRule::LowerStrikeTies => "lower_strike_ties",
            WallRule::FirstListed => "first_listed",
        }
    }
}

/// A wall candidate with the position of its first listing (smaller is
/// earlier; rows without one rank last).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Listed {
    /// The strike and its counts.
    pub wall: Wall,
    /// Where the strike was first listed, e.g. its first line in the source file.
    pub listed: i64,
}

/// The top `n` walls of `rows` under the §5 rule: see [`top_walls_by`].
pub fn top_walls(rows: impl IntoIterator<Item = Wall>, n: usize) -> Result<Vec<Wall>> {
    let rows = rows.into_iter().map(|wall| Listed {
        wall,
        listed: i64::MAX,
    });
    top_walls_by(rows, n, WallRule::LowerStrikeTies)
}

/// The top `n` walls of `rows`: rows with a non-finite strike are ignored,
/// rows of equal strike are summed (their first listing is the smallest),
/// under `LowerStrikeTies` strikes whose summed open interest is not positive
/// are dropped, and the rest are ordered by open interest descending, then
/// (under `FirstListed`) first listing ascending, then strike ascending.
/// Errors if a sum overflows BIGINT.
pub fn top_walls_by(
    rows: impl IntoIterator<Item = Listed>,
    n: usize,
    rule: WallRule,
) -> Result<Vec<Wall>> {
    let mut buffer = WallRows::default();
    rows.into_iter().try_for_each(|row| buffer.push(row))?;
    buffer.fold()?;
    let mut walls = buffer.rows;
    if rule == WallRule::LowerStrikeTies {
        walls.retain(|w| w.wall.open_interest > 0);
    }
    walls.sort_unstable_by(|a, b| {
        let listed = match rule {
            WallRule::FirstListed => a.listed.cmp(&b.listed),
            WallRule::LowerStrikeTies => std::cmp::Ordering::Equal,
        };
        b.wall
            .open_interest
            .cmp(&a.wall.open_interest)
            .then(listed)
            .then(a.wall.strike.total_cmp(&b.wall.strike))
    });
    walls.truncate(n);
    Ok(walls.into_iter().map(|w| w.wall).collect())
}

/// Slack before the first fold, so that small groups are never sorted while
/// rows are still arriving.
const FOLD_SLACK: usize = 64;

/// The rows of one group; equal strikes are summed whenever the buffer has
/// doubled, so memory follows the number of distinct strikes.
#[derive(Debug, Clone, Default)]
struct WallRows {
    rows: Vec<Listed>,
    folded: usize,
}

impl WallRows {
    /// Adds a row, skipping it when its strike is not finite.
    fn push(&mut self, row: Listed) -> Result<()> {
        if row.wall.strike.is_finite() {
            // `+ 0.0` turns -0.0 into 0.0 so both spellings are one strike.
            let mut row = row;
            row.wall.strike += 0.0;
            self.rows.push(row);
            if self.rows.len() >= 2 * self.folded + FOLD_SLACK {
                self.fold()?;
            }
        }
        Ok(())
    }

    /// Sums equal strikes; afterwards rows are sorted by strike.
    fn fold(&mut self) -> Result<()> {
        self.rows
            .sort_unstable_by(|a, b| a.wall.strike.total_cmp(&b.wall.strike));
        let mut kept = 0;
        for i in 0..self.rows.len() {
            let row = self.rows[i];
            if kept > 0 && self.rows[kept - 1].wall.strike == row.wall.strike {
                let first = &mut self.rows[kept - 1];
                let wall = &mut first.wall;
                let (Some(oi), Some(volume)) = (
                    wall.open_interest.checked_add(row.wall.open_interest),
                    wall.volume.checked_add(row.wall.volume),
                ) else {
                    return exec_err!(
                        "top_walls: open interest or volume at strike {} overflows BIGINT",
                        row.wall.strike
                    );
                };
                (wall.open_interest, wall.volume) = (oi, volume);
                first.listed = first.listed.min(row.listed);
            } else {
                self.rows[kept] = row;
                kept += 1;
            }
        }
        self.rows.truncate(kept);
        self.folded = kept;
        Ok(())
    }
}

impl HeapSize for WallRows {
    fn heap_bytes(&self) -> usize {
        self.rows.capacity() * size_of::<Listed>()
    }
}

/// The fields of each returned struct.
fn wall_fields() -> Fields {
    Fields::from(vec![
        Field::new("strike", DataType::Float64, false),
        Field::new("open_interest", DataType::Int64, false),
        Field::new("volume", DataType::Int64, false),
    ])
}

/// One list of walls per group.
fn walls_array(groups: &[Vec<Wall>]) -> ArrayRef {
    let walls = || groups.iter().flatten();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(walls().map(|w| w.strike).collect::<Float64Array>()),
        Arc::new(walls().map(|w| w.open_interest).collect::<Int64Array>()),
        Arc::new(walls().map(|w| w.volume).collect::<Int64Array>()),
    ];
    let child: ArrayRef = Arc::new(StructArray::new(wall_fields(), columns, None));
    list_array(child, groups.iter().map(Vec::len), None)
}

/// The `top_walls` aggregate UDF.
pub fn top_walls_udaf() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(TopWalls::new()))))
}

/// `top_walls(strike, open_interest, volume, n)` or `top_walls(strike,
/// open_interest, volume, n, rule, listed)`; see [`top_walls_by`]. Null open
/// interest or volume count as 0, rows with a null strike are ignored, `n`
/// must be a non-negative literal, `rule` the literal `'lower_strike_ties'` or
/// `'first_listed'`, and `listed` ranks a row's strike by where it was listed
/// (null: last). Returns an empty list, not NULL, when no strike qualifies.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TopWalls {
    signature: Signature,
}

impl Default for TopWalls {
    fn default() -> Self {
        Self::new()
    }
}

impl TopWalls {
    /// The UDAF implementation; prefer the shared [`top_walls_udaf`].
    pub fn new() -> Self {
        let counts = || vec![float64_arg(), int64_arg(), int64_arg(), int64_arg()];
        let mut ranked = counts();
        ranked.extend([text_arg(), int64_arg()]);
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Coercible(counts()),
                    TypeSignature::Coercible(ranked),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// How one call ranks: `n` and the rule, read from its literals.
#[derive(Debug, Clone, Copy)]
struct Ranking {
    n: usize,
    rule: WallRule,
}

impl Ranking {
    /// Reads and checks the `n` and `rule` literals.
    fn of(args: &AccumulatorArgs) -> Result<Self> {
        let n = match literal_arg(args, 3, "top_walls", "n")? {
            ScalarValue::Int64(Some(n)) if *n >= 0 => usize::try_from(*n).unwrap_or(usize::MAX),
            other => return exec_err!("top_walls: n must be a non-negative integer, got {other}"),
        };
        let rule = if args.exprs.len() > 4 {
            match text_literal_arg(
                args,
                4,
                "top_walls",
                "rule",
                &["lower_strike_ties", "first_listed"],
            )? {
                "first_listed" => WallRule::FirstListed,
                _ => WallRule::LowerStrikeTies,
            }
        } else {
            WallRule::LowerStrikeTies
        };
        Ok(Ranking { n, rule })
    }

    fn walls(self, rows: Vec<Listed>) -> Result<Vec<Wall>> {
        top_walls_by(rows, self.n, self.rule)
    }
}

impl AggregateUDFImpl for TopWalls {
    fn name(&self) -> &str {
        "top_walls"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(wall_fields()),
            true,
        ))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            list_field(format_state_name(args.name, "strikes"), DataType::Float64),
            list_field(
                format_state_name(args.name, "open_interest"),
                DataType::Int64,
            ),
            list_field(format_state_name(args.name, "volume"), DataType::Int64),
            list_field(format_state_name(args.name, "listed"), DataType::Int64),
        ])
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(TopWallsAccumulator {
            ranking: Ranking::of(&acc_args)?,
            rows: WallRows::default(),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(TopWallsGroups {
            ranking: Ranking::of(&args)?,
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

/// A count cell: null is 0.
fn count(a: &Int64Array, i: usize) -> i64 {
    if a.is_valid(i) { a.value(i) } else { 0 }
}

/// A listing cell: null ranks last.
fn listing(a: &Int64Array, i: usize) -> i64 {
    if a.is_valid(i) { a.value(i) } else { i64::MAX }
}

/// The selected input rows of a batch, as wall candidates: rows with a null
/// strike or rejected by the filter are skipped, null counts become 0.
fn input_walls<'a>(
    values: &'a [ArrayRef],
    filter: Option<&BooleanArray>,
) -> impl Iterator<Item = (usize, Listed)> + 'a {
    let mask = selected_rows(&[&values[0]], filter);
    let strike = values[0].as_primitive::<Float64Type>();
    let (oi, volume) = (
        values[1].as_primitive::<Int64Type>(),
        values[2].as_primitive::<Int64Type>(),
    );
    let listed = values.get(5).map(|a| a.as_primitive::<Int64Type>());
    (0..strike.len())
        .filter(move |&row| mask.as_ref().is_none_or(|mask| mask.is_valid(row)))
        .map(move |row| {
            let wall = Wall {
                strike: strike.value(row),
                open_interest: count(oi, row),
                volume: count(volume, row),
            };
            let listed = listed.map_or(i64::MAX, |a| listing(a, row));
            (row, Listed { wall, listed })
        })
}

/// The `(strikes, open_interest, volume, listed)` list state columns, read row-wise.
struct WallStates<'a> {
    strikes: ListRows<'a>,
    oi: &'a Int64Array,
    volume: &'a Int64Array,
    listed: &'a Int64Array,
}

impl<'a> WallStates<'a> {
    fn new(states: &'a [ArrayRef]) -> Self {
        Self {
            strikes: ListRows::new(&states[0]),
            oi: ListRows::new(&states[1]).i64_values(),
            volume: ListRows::new(&states[2]).i64_values(),
            listed: ListRows::new(&states[3]).i64_values(),
        }
    }

    /// Adds row `row` to `target`. All four lists share offsets; null
    /// counts inside them (from `convert_to_state`) are 0, null listings last.
    fn merge(&self, row: usize, target: &mut WallRows) -> Result<()> {
        let Some(range) = self.strikes.range(row) else {
            return Ok(());
        };
        let strikes = self.strikes.f64_values();
        range.into_iter().try_for_each(|i| {
            target.push(Listed {
                wall: Wall {
                    strike: strikes[i],
                    open_interest: count(self.oi, i),
                    volume: count(self.volume, i),
                },
                listed: listing(self.listed, i),
            })
        })
    }
}

/// The state columns for folded `groups`.
fn state_arrays<'a>(groups: impl Iterator<Item = &'a mut WallRows>) -> Result<Vec<ArrayRef>> {
    let mut lengths = Vec::new();
    let (mut strikes, mut oi, mut volume, mut listed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for group in groups {
        group.fold()?;
        lengths.push(group.rows.len());
        for row in &group.rows {
            strikes.push(row.wall.strike);
            oi.push(row.wall.open_interest);
            volume.push(row.wall.volume);
            listed.push(row.listed);
        }
    }
    let list = |child: ArrayRef| list_array(child, lengths.iter().copied(), None);
    Ok(vec![
        list(Arc::new(Float64Array::from(strikes))),
        list(Arc::new(Int64Array::from(oi))),
        list(Arc::new(Int64Array::from(volume))),
        list(Arc::new(Int64Array::from(listed))),
    ])
}

#[derive(Debug)]
struct TopWallsAccumulator {
    ranking: Ranking,
    rows: WallRows,
}

impl Accumulator for TopWallsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        input_walls(values, None).try_for_each(|(_, row)| self.rows.push(row))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let walls = WallStates::new(states);
        (0..states[0].len()).try_for_each(|row| walls.merge(row, &mut self.rows))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        state_arrays(std::iter::once(&mut self.rows))?
            .iter()
            .map(|array| ScalarValue::try_from_array(array, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let walls = self.ranking.walls(self.rows.rows.clone())?;
        ScalarValue::try_from_array(&walls_array(&[walls]), 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.rows.heap_bytes()
    }
}

struct TopWallsGroups {
    ranking: Ranking,
    groups: GroupStates<WallRows>,
}

impl GroupsAccumulator for TopWallsGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups);
        for (row, wall) in input_walls(values, opt_filter) {
            self.groups
                .update(group_indices[row], |rows| rows.push(wall))?;
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
        let walls = WallStates::new(values);
        for (row, &group) in group_indices.iter().enumerate() {
            self.groups.update(group, |rows| walls.merge(row, rows))?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.groups.take(emit_to);
        let walls = groups
            .into_iter()
            .map(|rows| self.ranking.walls(rows.rows))
            .collect::<Result<Vec<_>>>()?;
        Ok(walls_array(&walls))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let mut groups = self.groups.take(emit_to);
        state_arrays(groups.iter_mut())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // One single-row list per input row; the count columns keep their
        // nulls, which merging reads as 0 (and a missing listing as last).
        let nulls = selected_rows(&[&values[0]], opt_filter);
        let strike = values[0].as_primitive::<Float64Type>();
        let strikes: ArrayRef = Arc::new(Float64Array::new(strike.values().clone(), None));
        let listed = values.get(5).map_or_else(
            || Arc::new(Int64Array::new_null(strike.len())) as ArrayRef,
            Arc::clone,
        );
        let singles = |child: ArrayRef| {
            list_array(child, std::iter::repeat_n(1, strike.len()), nulls.clone())
        };
        Ok(vec![
            singles(strikes),
            singles(Arc::clone(&values[1])),
            singles(Arc::clone(&values[2])),
            singles(listed),
        ])
    }

    fn size(&self) -> usize {
        self.groups.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(strike: f64, open_interest: i64, volume: i64) -> Wall {
        Wall {
            strike,
            open_interest,
            volume,
        }
    }

    #[test]
    fn worked_example() {
        let rows = [
            wall(95.0, 200, 5),
            wall(100.0, 1000, 10),
            wall(105.0, 400, 3),
        ];
        assert_eq!(
            top_walls(rows, 3).unwrap(),
            [
                wall(100.0, 1000, 10),
                wall(105.0, 400, 3),
                wall(95.0, 200, 5)
            ]
        );
    }

    #[test]
    fn takes_only_n() {
        let rows = [
            wall(95.0, 200, 5),
            wall(100.0, 1000, 10),
            wall(105.0, 400, 3),
        ];
        assert_eq!(top_walls(rows, 1).unwrap(), [wall(100.0, 1000, 10)]);
        assert_eq!(top_walls(rows, 0).unwrap(), []);
        assert_eq!(top_walls(rows, 10).unwrap().len(), 3);
    }

    #[test]
    fn empty_input_is_empty() {
        assert_eq!(top_walls([], 3).unwrap(), []);
    }

    #[test]
    fn ties_go_to_the_lower_strike() {
        let rows = [wall(110.0, 500, 1), wall(90.0, 500, 2), wall(100.0, 500, 3)];
        assert_eq!(
            top_walls(rows, 2).unwrap(),
            [wall(90.0, 500, 2), wall(100.0, 500, 3)]
        );
    }

    #[test]
    fn duplicate_strikes_are_summed_before_ranking() {
        // 95 sums to 900 and overtakes 100.
        let rows = [
            wall(95.0, 300, 1),
            wall(100.0, 800, 7),
            wall(95.0, 600, 2),
            wall(-0.0, 1, 1),
            wall(0.0, 1, 1),
        ];
        assert_eq!(
            top_walls(rows, 3).unwrap(),
            [wall(95.0, 900, 3), wall(100.0, 800, 7), wall(0.0, 2, 2)]
        );
    }

    #[test]
    fn non_positive_open_interest_is_dropped() {
        // 105 has volume but no open interest; 110 nets to zero.
        let rows = [
            wall(100.0, 10, 0),
            wall(105.0, 0, 99),
            wall(110.0, 5, 1),
            wall(110.0, -5, 1),
            wall(115.0, -3, 1),
        ];
        assert_eq!(top_walls(rows, 5).unwrap(), [wall(100.0, 10, 0)]);
    }

    #[test]
    fn non_finite_strikes_are_ignored() {
        let rows = [
            wall(f64::NAN, 1000, 1),
            wall(f64::INFINITY, 1000, 1),
            wall(100.0, 1, 1),
        ];
        assert_eq!(top_walls(rows, 5).unwrap(), [wall(100.0, 1, 1)]);
    }

    fn listed(strike: f64, open_interest: i64, listed: i64) -> Listed {
        Listed {
            wall: wall(strike, open_interest, 0),
            listed,
        }
    }

    #[test]
    fn first_listed_breaks_ties_by_listing_and_keeps_zero_oi() {
        // Equal OI 500 at 90, 100, 110; the file listed 110 first, then 90.
        let rows = [
            listed(90.0, 500, 7),
            listed(100.0, 500, 9),
            listed(110.0, 500, 3),
            listed(120.0, 0, 1),
        ];
        assert_eq!(
            top_walls_by(rows, 3, WallRule::FirstListed).unwrap(),
            [wall(110.0, 500, 0), wall(90.0, 500, 0), wall(100.0, 500, 0)]
        );
        // The §5 rule on the same rows: lower strike first, 120 (no OI) dropped.
        assert_eq!(
            top_walls_by(rows, 4, WallRule::LowerStrikeTies).unwrap(),
            [wall(90.0, 500, 0), wall(100.0, 500, 0), wall(110.0, 500, 0)]
        );
    }

    #[test]
    fn first_listed_names_a_wall_without_open_interest() {
        // No call OI at all: every strike ties at 0 and the first listed wins.
        let rows = [
            listed(95.0, 0, 12),
            listed(90.0, 0, 30),
            listed(100.0, 0, 11),
        ];
        assert_eq!(
            top_walls_by(rows, 1, WallRule::FirstListed).unwrap(),
            [wall(100.0, 0, 0)]
        );
        assert_eq!(
            top_walls_by(rows, 1, WallRule::LowerStrikeTies).unwrap(),
            []
        );
    }

    #[test]
    fn a_strike_is_listed_where_its_first_row_is() {
        // 90 has rows at lines 50 and 2, 100 one row at line 10: 90 was listed first.
        let rows = [
            listed(90.0, 300, 50),
            listed(100.0, 500, 10),
            listed(90.0, 200, 2),
        ];
        assert_eq!(
            top_walls_by(rows, 2, WallRule::FirstListed).unwrap(),
            [wall(90.0, 500, 0), wall(100.0, 500, 0)]
        );
    }

    #[test]
    fn overflow_is_an_error() {
        let rows = [wall(100.0, i64::MAX, 0), wall(100.0, 1, 0)];
        let err = top_walls(rows, 1).unwrap_err().to_string();
        assert!(err.contains("overflows BIGINT"), "{err}");
    }

    #[test]
    fn folding_while_buffering_keeps_the_sums() {
        let mut rows = WallRows::default();
        for i in 0..1000 {
            let listed = Listed {
                wall: wall(f64::from(i % 10), 1, 2),
                listed: 5000 - i64::from(i),
            };
            rows.push(listed).unwrap();
        }
        assert!(rows.rows.len() < 200);
        rows.fold().unwrap();
        // The earliest listing of strike 9 is row 999's (listed 4001).
        let first = rows.rows.iter().find(|r| r.wall.strike == 9.0).unwrap();
        assert_eq!(first.listed, 4001);
        let walls = top_walls(rows.rows.iter().map(|r| r.wall), 2).unwrap();
        assert_eq!(walls, [wall(0.0, 100, 200), wall(1.0, 100, 200)]);
    }
}
