//! Every UDAF, run through DataFusion SQL under several execution plans
//! (partial/final over 4 partitions, a single target partition, partial
//! aggregation skipped via `convert_to_state`, and the plain `Accumulator`
//! instead of the `GroupsAccumulator`), must equal a single-pass reference
//! computed with the crate's plain functions, bit for bit, and must not
//! change when the rows are shuffled.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, Schema};
use datafusion::catalog::MemTable;
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::{SessionConfig, SessionContext};

use gexlake_udfs::count_codes::count_codes;
use gexlake_udfs::exact_sum::exact_sum;
use gexlake_udfs::gamma_flip::{FlipRule, FlipSearch, gamma_flip, gamma_flip_with};
use gexlake_udfs::gex_slope::gex_slope;
use gexlake_udfs::top_walls::{Listed, Wall, WallRule, top_walls, top_walls_by};

const WINDOW_PCT: f64 = 0.05;
const TOP_N: usize = 3;
/// The codes `count_codes` counts: 1..=CODES.
const CODES: usize = 6;
/// The flip band of the nearest-spot columns, as multiples of spot.
const FLIP_RANGE: (f64, f64) = (0.9, 1.1);
/// Groups `g` with `g % 97 == NAN_GROUP` may hold NaN in `x`.
const NAN_GROUP: i64 = 5;

/// splitmix64, for reproducible pseudo-random data without dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A double with a full random mantissa over a wide range of exponents,
    /// so that naive summation would depend on the order.
    fn wide(&mut self, exponents: i32) -> f64 {
        let mantissa = (self.next() >> 11) as f64;
        let exponent = self.below(exponents as u64) as i32 - exponents / 2 - 53;
        let sign = if self.chance(50) { -1.0 } else { 1.0 };
        sign * mantissa * 2f64.powi(exponent)
    }
}

#[derive(Debug, Clone)]
struct Row {
    g: i64,
    x: Option<f64>,
    strike: Option<f64>,
    net: Option<f64>,
    spot: Option<f64>,
    oi: Option<i64>,
    volume: Option<i64>,
    listed: Option<i64>,
    /// Two codes in 1..=CODES, as a call's and a put's rejection codes.
    code: Option<i64>,
    code2: Option<i64>,
}

fn generate(groups: usize, seed: u64) -> Vec<Row> {
    let mut rng = Rng(seed);
    let mut rows = Vec::new();
    for g in 0..groups as i64 {
        // Some groups never see a spot; the others have one spot value that
        // is missing on some rows.
        let spot = (g % 11 != 0).then_some(95.0 + (g % 10) as f64);
        // Few groups get more rows, so that every partition sees several
        // batches and skipping partial aggregation can kick in.
        let count = if groups <= 5 {
            20 + rng.below(20)
        } else {
            1 + rng.below(12)
        };
        for _ in 0..count {
            // NaN poisons a whole sum, so it is confined to a few groups
            // that the ungrouped query leaves out.
            let x = if rng.chance(5) {
                None
            } else if g % 97 == NAN_GROUP && rng.chance(20) {
                Some(f64::NAN)
            } else {
                Some(rng.wide(120))
            };
            let strike = (!rng.chance(3)).then(|| 80.0 + 2.5 * rng.below(16) as f64);
            let net = if rng.chance(5) {
                None
            } else if rng.chance(1) {
                Some(f64::INFINITY)
            } else {
                Some(rng.wide(30) * 1e6)
            };
            rows.push(Row {
                g,
                x,
                strike,
                net,
                spot: spot.filter(|_| !rng.chance(30)),
                oi: (!rng.chance(10)).then(|| rng.below(1000) as i64 - 50),
                volume: (!rng.chance(10)).then(|| rng.below(100) as i64),
                // Few distinct listings, so that equal open interest ties on them too.
                listed: (!rng.chance(10)).then(|| rng.below(8) as i64),
                code: (!rng.chance(40)).then(|| 1 + rng.below(CODES as u64) as i64),
                code2: (!rng.chance(40)).then(|| 1 + rng.below(CODES as u64) as i64),
            });
        }
    }
    rows
}

/// Results of one group, as bits so that comparisons are exact.
#[derive(Debug, PartialEq)]
struct Results {
    sum: Option<u64>,
    /// `exact_sum(x, net)`: both columns' values as addends.
    sum2: Option<u64>,
    flip: Option<u64>,
    slope: Option<u64>,
    walls: Vec<(u64, i64, i64)>,
    /// `gamma_flip(strike, net, 'nearest_spot', spot, FLIP_RANGE)`.
    flip_near: Option<u64>,
    /// `top_walls(strike, oi, volume, TOP_N, 'first_listed', listed)`.
    walls_listed: Vec<(u64, i64, i64)>,
    /// `count_codes(CODES, code, code2)`.
    codes: Vec<i64>,
}

fn bits(x: Option<f64>) -> Option<u64> {
    x.map(f64::to_bits)
}

/// The single-pass reference for one group, straight from the definitions.
fn reference(rows: &[&Row], spot_override: Option<f64>) -> Results {
    let xs: Vec<f64> = rows.iter().filter_map(|r| r.x).collect();
    let xs2: Vec<f64> = rows.iter().flat_map(|r| [r.x, r.net]).flatten().collect();
    let points: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.strike?, r.net?)))
        .collect();
    let spot = spot_override.or_else(|| rows.iter().find_map(|r| r.spot));
    let walls = top_walls(
        rows.iter().filter_map(|r| {
            Some(Wall {
                strike: r.strike?,
                open_interest: r.oi.unwrap_or(0),
                volume: r.volume.unwrap_or(0),
            })
        }),
        TOP_N,
    )
    .expect("no overflow in test data");
    let walls_listed = top_walls_by(
        rows.iter().filter_map(|r| {
            Some(Listed {
                wall: Wall {
                    strike: r.strike?,
                    open_interest: r.oi.unwrap_or(0),
                    volume: r.volume.unwrap_or(0),
                },
                listed: r.listed.unwrap_or(i64::MAX),
            })
        }),
        TOP_N,
        WallRule::FirstListed,
    )
    .expect("no overflow in test data");
    let near = FlipSearch {
        rule: FlipRule::NearestSpot,
        spot,
        range: Some(FLIP_RANGE),
    };
    let as_bits = |walls: &[Wall]| -> Vec<(u64, i64, i64)> {
        walls
            .iter()
            .map(|w| (w.strike.to_bits(), w.open_interest, w.volume))
            .collect()
    };
    Results {
        sum: bits((!xs.is_empty()).then(|| exact_sum(xs))),
        sum2: bits((!xs2.is_empty()).then(|| exact_sum(xs2))),
        flip: bits(gamma_flip(points.iter().copied())),
        slope: bits(spot.and_then(|s| gex_slope(points.iter().copied(), s, WINDOW_PCT))),
        walls: as_bits(&walls),
        flip_near: bits(gamma_flip_with(points.iter().copied(), near)),
        walls_listed: as_bits(&walls_listed),
        codes: count_codes(CODES, rows.iter().flat_map(|r| [r.code, r.code2]).flatten())
            .expect("codes in range"),
    }
}

fn reference_by_group(rows: &[Row]) -> BTreeMap<i64, Results> {
    let mut groups: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    rows.iter()
        .for_each(|r| groups.entry(r.g).or_default().push(r));
    groups
        .into_iter()
        .map(|(g, rows)| (g, reference(&rows, None)))
        .collect()
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
        Field::new("strike", DataType::Float64, true),
        Field::new("net", DataType::Float64, true),
        Field::new("spot", DataType::Float64, true),
        Field::new("oi", DataType::Int64, true),
        Field::new("volume", DataType::Int64, true),
        Field::new("listed", DataType::Int64, true),
        Field::new("code", DataType::Int64, true),
        Field::new("code2", DataType::Int64, true),
    ]))
}

fn batch(rows: &[Row]) -> RecordBatch {
    let f = |get: fn(&Row) -> Option<f64>| -> ArrayRef {
        Arc::new(rows.iter().map(get).collect::<Float64Array>())
    };
    let i = |get: fn(&Row) -> Option<i64>| -> ArrayRef {
        Arc::new(rows.iter().map(get).collect::<Int64Array>())
    };
    RecordBatch::try_new(
        schema(),
        vec![
            i(|r| Some(r.g)),
            f(|r| r.x),
            f(|r| r.strike),
            f(|r| r.net),
            f(|r| r.spot),
            i(|r| r.oi),
            i(|r| r.volume),
            i(|r| r.listed),
            i(|r| r.code),
            i(|r| r.code2),
        ],
    )
    .expect("valid batch")
}

/// A table of `rows` dealt round-robin into `partitions` partitions of
/// small batches (about 40 batches in all, of at least 2 rows).
fn table(rows: &[Row], partitions: usize) -> Arc<MemTable> {
    let batch_rows = (rows.len() / 40).max(2);
    let mut parts: Vec<Vec<Row>> = vec![Vec::new(); partitions];
    for (i, chunk) in rows.chunks(2 * batch_rows).enumerate() {
        parts[i % partitions].extend_from_slice(chunk);
    }
    let batches = parts
        .iter()
        .map(|part| part.chunks(batch_rows).map(batch).collect())
        .collect();
    Arc::new(MemTable::try_new(schema(), batches).expect("valid table"))
}

/// Forces the plain `Accumulator` (through DataFusion's adapter) by hiding
/// the `GroupsAccumulator` of the wrapped UDAF.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AccumulatorOnly {
    inner: Arc<AggregateUDF>,
    name: String,
}

impl AggregateUDFImpl for AccumulatorOnly {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.accumulator(acc_args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

#[derive(Debug, Clone, Copy)]
enum Plan {
    /// Partial aggregation per partition, then a final stage over 4.
    FourPartitions,
    /// All partitions coalesced into one final stage.
    OnePartition,
    /// Partial aggregation gives up at once and converts rows to states.
    SkipPartial,
}

fn context(plan: Plan, rows: &[Row], partitions: usize) -> SessionContext {
    let config = SessionConfig::new().with_batch_size(64);
    let config = match plan {
        Plan::FourPartitions => config.with_target_partitions(4),
        Plan::OnePartition => config.with_target_partitions(1),
        Plan::SkipPartial => config
            .with_target_partitions(4)
            .set_usize(
                "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
                0,
            )
            .set_str(
                "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
                "0.0",
            ),
    };
    let mut ctx = SessionContext::new_with_config(config);
    gexlake_udfs::register_all(&mut ctx).expect("registered");
    for udaf in gexlake_udfs::functions() {
        let name = format!("{}_acc", udaf.name());
        ctx.register_udaf(AggregateUDF::from(AccumulatorOnly { inner: udaf, name }));
    }
    ctx.register_table("t", table(rows, partitions))
        .expect("registered table");
    ctx
}

/// Rows that partial aggregation passed on without aggregating them.
fn skipped_rows(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name("skipped_aggregation_rows"))
        .map_or(0, |v| v.as_usize());
    own + plan.children().into_iter().map(skipped_rows).sum::<usize>()
}

/// Runs `sql`, whose columns are `g, sum, flip, slope, sum2, walls, flip_near,
/// walls_listed, codes`, and returns
/// the results by group together with the number of skipped rows.
async fn run(ctx: &SessionContext, sql: &str) -> (BTreeMap<i64, Results>, usize) {
    let plan = ctx
        .sql(sql)
        .await
        .expect("planned")
        .create_physical_plan()
        .await
        .expect("physical plan");
    let batches = collect(Arc::clone(&plan), ctx.task_ctx())
        .await
        .expect("executed");
    let mut out = BTreeMap::new();
    for batch in &batches {
        let g = batch.column(0).as_primitive::<Int64Type>();
        let float = |i: usize, row: usize| {
            let a = batch.column(i).as_primitive::<Float64Type>();
            a.is_valid(row).then(|| a.value(row).to_bits())
        };
        let walls = |i: usize, row: usize| {
            let lists = batch.column(i).as_list::<i32>();
            assert!(lists.is_valid(row), "top_walls is never NULL");
            let list = lists.value(row);
            let walls = list.as_struct();
            let strike = walls.column(0).as_primitive::<Float64Type>();
            let oi = walls.column(1).as_primitive::<Int64Type>();
            let volume = walls.column(2).as_primitive::<Int64Type>();
            (0..walls.len())
                .map(|i| (strike.value(i).to_bits(), oi.value(i), volume.value(i)))
                .collect::<Vec<_>>()
        };
        for row in 0..batch.num_rows() {
            let results = Results {
                sum: float(1, row),
                sum2: float(4, row),
                flip: float(2, row),
                slope: float(3, row),
                walls: walls(5, row),
                flip_near: float(6, row),
                walls_listed: walls(7, row),
                codes: {
                    let lists = batch.column(8).as_list::<i32>();
                    assert!(lists.is_valid(row), "count_codes is never NULL");
                    lists
                        .value(row)
                        .as_primitive::<Int64Type>()
                        .values()
                        .to_vec()
                },
            };
            let key = if g.is_valid(row) { g.value(row) } else { -1 };
            assert!(out.insert(key, results).is_none(), "one row per group");
        }
    }
    (out, skipped_rows(&plan))
}

fn grouped_sql(suffix: &str) -> String {
    format!(
        "SELECT g, exact_sum{suffix}(x), gamma_flip{suffix}(strike, net), \
         gex_slope{suffix}(strike, net, spot, {WINDOW_PCT}), exact_sum{suffix}(x, net), \
         top_walls{suffix}(strike, oi, volume, {TOP_N}), \
         gamma_flip{suffix}(strike, net, 'nearest_spot', spot, {low}, {high}), \
         top_walls{suffix}(strike, oi, volume, {TOP_N}, 'first_listed', listed), \
         count_codes{suffix}({CODES}, code, code2) FROM t GROUP BY g",
        low = FLIP_RANGE.0,
        high = FLIP_RANGE.1,
    )
}

fn ungrouped_sql(suffix: &str) -> String {
    format!(
        "SELECT NULL::bigint, exact_sum{suffix}(x), gamma_flip{suffix}(strike, net), \
         gex_slope{suffix}(strike, net, 100.0, {WINDOW_PCT}), exact_sum{suffix}(x, net), \
         top_walls{suffix}(strike, oi, volume, {TOP_N}), \
         gamma_flip{suffix}(strike, net, 'nearest_spot', 100.0, {low}, {high}), \
         top_walls{suffix}(strike, oi, volume, {TOP_N}, 'first_listed', listed), \
         count_codes{suffix}({CODES}, code, code2) FROM t WHERE g % 97 <> {NAN_GROUP}",
        low = FLIP_RANGE.0,
        high = FLIP_RANGE.1,
    )
}

/// Shuffles with Fisher-Yates.
fn shuffled(rows: &[Row], seed: u64) -> Vec<Row> {
    let mut rng = Rng(seed);
    let mut rows = rows.to_vec();
    for i in (1..rows.len()).rev() {
        rows.swap(i, rng.below(i as u64 + 1) as usize);
    }
    rows
}

async fn check(groups: usize) {
    let rows = generate(groups, 0xC0FFEE + groups as u64);
    let expected = reference_by_group(&rows);
    assert_eq!(expected.len(), groups);
    let all: Vec<&Row> = rows.iter().filter(|r| r.g % 97 != NAN_GROUP).collect();
    let expected_all = BTreeMap::from([(-1, reference(&all, Some(100.0)))]);

    let shuffled = shuffled(&rows, groups as u64);
    for (data, partitions) in [(&rows, 3), (&shuffled, 5)] {
        for plan in [Plan::FourPartitions, Plan::OnePartition, Plan::SkipPartial] {
            let ctx = context(plan, data, partitions);
            for suffix in ["", "_acc"] {
                let what = format!("{groups} groups, {plan:?}, suffix {suffix:?}");
                let (got, skipped) = run(&ctx, &grouped_sql(suffix)).await;
                for (g, results) in &expected {
                    assert_eq!(got.get(g), Some(results), "group {g}, {what}");
                }
                assert_eq!(got.len(), expected.len(), "{what}");
                if matches!(plan, Plan::SkipPartial) && groups > 0 {
                    assert!(skipped > 0, "convert_to_state never ran: {what}");
                }
                let (got, _) = run(&ctx, &ungrouped_sql(suffix)).await;
                assert_eq!(got, expected_all, "no GROUP BY, {what}");
            }
        }
    }
}

#[tokio::test]
async fn no_groups() {
    check(0).await;
}

#[tokio::test]
async fn one_group() {
    check(1).await;
}

#[tokio::test]
async fn five_groups() {
    check(5).await;
}

#[tokio::test]
async fn three_hundred_groups() {
    check(300).await;
}

#[tokio::test]
async fn three_thousand_groups() {
    check(3000).await;
}

/// The reference itself must see order effects that the UDAFs hide: naive
/// summation of the generated data changes under shuffling.
#[test]
fn generated_data_is_order_sensitive_for_naive_sums() {
    let rows = generate(300, 7);
    let naive = |rows: &[Row]| {
        rows.iter()
            .filter_map(|r| r.x.filter(|x| x.is_finite()))
            .fold(0.0f64, |a, x| a + x)
    };
    let shuffled = shuffled(&rows, 1);
    assert_ne!(naive(&rows).to_bits(), naive(&shuffled).to_bits());
    let exact = |rows: &[Row]| exact_sum(rows.iter().filter_map(|r| r.x.filter(|x| x.is_finite())));
    assert_eq!(exact(&rows).to_bits(), exact(&shuffled).to_bits());
}
