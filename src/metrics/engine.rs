//! Running the metrics SQL (`queries/metrics/*.sql`) over the lake with
//! DataFusion: the dates, the session, the stage SQL and its bindings, and the
//! ticker shards the work is cut into. [`super::writer`] writes the results back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;
use datafusion::arrow::array::{
    ArrayRef, AsArray, Date32Array, Float64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::{
    SortColumn, cast, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use object_store::ObjectStoreExt;
use tokio::task::JoinSet;

use super::params::MetricsParams;
use crate::cluster::{self, Cluster};
use crate::lake::{METRICS_DIR, STRIKES_DIR, partition_date};
use crate::orats::values::date_to_days;
use crate::store::Location;

/// The metrics pipeline, stage by stage; each file is one named step.
pub(crate) const STAGES: [(&str, &str); 5] = [
    ("rows", include_str!("../../queries/metrics/01_rows.sql")),
    ("spot", include_str!("../../queries/metrics/02_spot.sql")),
    ("legs", include_str!("../../queries/metrics/03_legs.sql")),
    (
        "strike_gex",
        include_str!("../../queries/metrics/04_strike_gex.sql"),
    ),
    (
        "ticker_gex",
        include_str!("../../queries/metrics/05_ticker_gex.sql"),
    ),
];
/// The final step, selecting the result rows.
const FINAL: &str = include_str!("../../queries/metrics/06_dealer_metrics.sql");

/// Why metrics could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// DataFusion failed (a bug in the SQL, or unreadable files).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// The lake could not be listed or written.
    #[error("lake {lake}: {source}")]
    Store {
        /// The lake.
        lake: String,
        /// The store error.
        source: object_store::Error,
    },
    /// Writing Parquet failed.
    #[error("writing metrics Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A requested date has no `orats_strikes` partition.
    #[error("the lake {lake} has no orats_strikes partition for {}: ingest the archive first", list_dates(.missing))]
    MissingDates {
        /// The lake.
        lake: String,
        /// The dates without partitions.
        missing: Vec<NaiveDate>,
    },
    /// A date range holds no partition at all.
    #[error("the lake {lake} has no orats_strikes partition between {from} and {to}")]
    EmptyRange {
        /// The lake.
        lake: String,
        /// Range start.
        from: NaiveDate,
        /// Range end.
        to: NaiveDate,
    },
}

fn list_dates(dates: &[NaiveDate]) -> String {
    dates
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which trade dates to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateSelection {
    /// Exactly these dates; each must have a lake partition.
    Dates(Vec<NaiveDate>),
    /// Every lake partition in this inclusive range (at least one).
    Range(NaiveDate, NaiveDate),
}

/// `trade_date` 16:00 in New York (EST or EDT as the date demands), in UTC.
pub fn snapshot_ts(date: NaiveDate) -> DateTime<Utc> {
    let local = date.and_hms_opt(16, 0, 0).expect("16:00 exists");
    New_York
        .from_local_datetime(&local)
        .single()
        .expect("16:00 is never in a DST gap or overlap")
        .with_timezone(&Utc)
}

/// The names of the sub-directories of a lake directory (hive partition segments).
pub(crate) async fn subdirectories(
    lake: &Location,
    relative: &str,
) -> Result<Vec<String>, MetricsError> {
    let listing = lake
        .store
        .list_with_delimiter(Some(&lake.child(relative)))
        .await
        .map_err(|source| MetricsError::Store {
            lake: lake.url(),
            source,
        })?;
    Ok(listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect())
}

/// The trade dates with an `orats_strikes` partition in the lake.
pub async fn lake_dates(lake: &Location) -> Result<BTreeSet<NaiveDate>, MetricsError> {
    let segments = subdirectories(lake, STRIKES_DIR).await?;
    Ok(segments.iter().filter_map(|s| partition_date(s)).collect())
}

/// Resolves a selection against the lake's partitions.
pub async fn resolve_dates(
    lake: &Location,
    selection: &DateSelection,
) -> Result<Vec<NaiveDate>, MetricsError> {
    let available = lake_dates(lake).await?;
    match selection {
        DateSelection::Dates(dates) => {
            let missing: Vec<NaiveDate> = dates
                .iter()
                .filter(|d| !available.contains(d))
                .copied()
                .collect();
            if !missing.is_empty() {
                return Err(MetricsError::MissingDates {
                    lake: lake.url(),
                    missing,
                });
            }
            let mut dates = dates.clone();
            dates.sort();
            dates.dedup();
            Ok(dates)
        }
        DateSelection::Range(from, to) => {
            let dates: Vec<NaiveDate> = available.range(*from..=*to).copied().collect();
            if dates.is_empty() {
                return Err(MetricsError::EmptyRange {
                    lake: lake.url(),
                    from: *from,
                    to: *to,
                });
            }
            Ok(dates)
        }
    }
}

/// Where the SQL runs: in this process on `jobs` partitions, or on a
/// Ballista cluster (`--cluster df://HOST:PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// DataFusion target partitions of a local run.
    pub jobs: usize,
    /// The cluster's scheduler, when the queries run there.
    pub cluster: Option<Cluster>,
}

impl From<usize> for Engine {
    /// A local engine on `jobs` partitions.
    fn from(jobs: usize) -> Self {
        Engine {
            jobs,
            cluster: None,
        }
    }
}

/// A DataFusion session over the lake: `strikes` registered with its
/// `trade_date` partitions, the gexlake UDAFs available; local, or sending
/// its queries to the engine's cluster.
pub async fn lake_session(
    lake: &Location,
    engine: impl Into<Engine>,
) -> Result<SessionContext, MetricsError> {
    let engine = engine.into();
    let config = SessionConfig::new()
        .with_target_partitions(engine.jobs.max(1))
        .with_information_schema(true);
    let ctx = match &engine.cluster {
        Some(cluster) => cluster::session(cluster, config).await?,
        None => {
            let mut ctx = SessionContext::new_with_config(config);
            gexlake_udfs::register_all(&mut ctx as &mut dyn FunctionRegistry)?;
            ctx
        }
    };
    ctx.register_object_store(&lake.store_url, lake.store.clone());
    register_strikes(&ctx, lake).await?;
    Ok(ctx)
}

/// Registers `dealer_metrics` (every parameter set; `params` and `trade_date`
/// are partition columns) when the lake has results.
pub async fn register_dealer_metrics(
    ctx: &SessionContext,
    lake: &Location,
) -> Result<bool, MetricsError> {
    // The schema of one file (the newest date of a parameter set): every file is
    // written with the same schema, and reading one footer instead of the footers
    // of every date keeps a session over years of results quick. Parameter sets
    // are tried in name order until one has a readable file.
    let mut sample = None;
    let mut param_sets = metrics_param_sets(lake).await?;
    param_sets.sort();
    for params in param_sets {
        let params_dir = format!("{METRICS_DIR}/params={params}");
        let Some(newest) = subdirectories(lake, &params_dir).await?.into_iter().max() else {
            continue;
        };
        let path = lake.child(&format!("{params_dir}/{newest}/part.parquet"));
        match lake.store.head(&path).await {
            Ok(meta) => {
                sample = Some(meta);
                break;
            }
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(source) => {
                return Err(MetricsError::Store {
                    lake: lake.url(),
                    source,
                });
            }
        }
    }
    let Some(meta) = sample else {
        return Ok(false);
    };
    let format = ParquetFormat::default();
    let schema = format
        .infer_schema(&ctx.state(), &lake.store, &[meta])
        .await?;
    let url = ListingTableUrl::parse(lake.child_url(METRICS_DIR, true))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("params".to_string(), DataType::Utf8),
            ("trade_date".to_string(), DataType::Date32),
        ]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.deregister_table("dealer_metrics")?;
    ctx.register_table("dealer_metrics", Arc::new(ListingTable::try_new(config)?))?;
    Ok(true)
}

async fn register_strikes(ctx: &SessionContext, lake: &Location) -> Result<(), MetricsError> {
    let schema = crate::orats::layout::file_schema();
    Ok(register_dated_table(
        ctx,
        lake,
        STRIKES_DIR,
        "strikes",
        schema,
    )?)
}

/// Registers the lake directory `dir` as table `name`: Parquet files of
/// `schema` under `trade_date=YYYY-MM-DD` partitions (the partition column
/// `trade_date`), replacing a table of that name.
pub(crate) fn register_dated_table(
    ctx: &SessionContext,
    lake: &Location,
    dir: &str,
    name: &str,
    schema: SchemaRef,
) -> Result<(), DataFusionError> {
    let url = ListingTableUrl::parse(lake.child_url(dir, true))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("trade_date".to_string(), DataType::Date32)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The SQL of the spot stage: `rows` as a CTE, then `02_spot.sql`.
///
/// `spot` feeds three later stages (legs, ticker_gex and the final step); as a
/// CTE DataFusion would plan it, scan the day and sort it once per use, so the
/// engine runs it first and registers its result as the table `spot`.
pub fn spot_sql() -> String {
    let (rows, spot) = (&STAGES[0], &STAGES[1]);
    format!(
        "WITH {} AS (\n{}\n)\n{}",
        rows.0,
        strip_comments(rows.1),
        strip_comments(spot.1)
    )
}

/// The SQL of the rest of the pipeline: the other stage files as CTEs (`spot`
/// is the table [`spot_sql`] made), then the final step.
pub fn pipeline_sql() -> String {
    let ctes: Vec<String> = STAGES
        .iter()
        .filter(|(name, _)| *name != "spot")
        .map(|(name, sql)| format!("{name} AS (\n{}\n)", strip_comments(sql)))
        .collect();
    let final_sql = strip_comments(FINAL);
    // The final file starts its own WITH; its CTEs follow ours.
    let final_body = final_sql
        .trim_start()
        .strip_prefix("WITH ")
        .expect("06_dealer_metrics.sql starts with WITH");
    format!("WITH {},\n{}", ctes.join(",\n"), final_body)
}

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn mem_table(name: &str, ctx: &SessionContext, batch: RecordBatch) -> Result<(), MetricsError> {
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// The `spot_overrides(ticker, spot)` table of a parameter set (per-ticker spots).
pub fn spot_overrides_batch(params: &MetricsParams) -> Result<RecordBatch, DataFusionError> {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("ticker", DataType::Utf8, false),
            Field::new("spot", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(params.spot_overrides.keys())) as ArrayRef,
            Arc::new(Float64Array::from_iter_values(
                params.spot_overrides.values().copied(),
            )),
        ],
    )
    .map_err(DataFusionError::from)
}

/// Registers the run's helper tables the stage files read: `run_dates`
/// (trade_date, snapshot_ts), `watchlist` (ticker) and `spot_overrides` (ticker, spot).
pub(crate) fn register_run_tables(
    ctx: &SessionContext,
    params: &MetricsParams,
    dates: &[NaiveDate],
    tickers: Option<&[String]>,
) -> Result<(), MetricsError> {
    let run_dates = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("trade_date", DataType::Date32, false),
            Field::new(
                "snapshot_ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ])),
        vec![
            Arc::new(Date32Array::from_iter_values(
                dates.iter().map(|d| date_to_days(*d)),
            )) as ArrayRef,
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    dates.iter().map(|d| snapshot_ts(*d).timestamp_micros()),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .map_err(DataFusionError::from)?;
    mem_table("run_dates", ctx, run_dates)?;
    let watch: Vec<&str> = tickers
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let watchlist = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "ticker",
            DataType::Utf8,
            false,
        )])),
        vec![Arc::new(StringArray::from(watch)) as ArrayRef],
    )
    .map_err(DataFusionError::from)?;
    mem_table("watchlist", ctx, watchlist)?;
    mem_table("spot_overrides", ctx, spot_overrides_batch(params)?)?;
    Ok(())
}

/// The values of the stage files' placeholders for a run over `from..=to`.
pub(crate) fn bindings(
    params: &MetricsParams,
    from: NaiveDate,
    to: NaiveDate,
    all_tickers: bool,
) -> Vec<(&'static str, ScalarValue)> {
    vec![
        ("from_date", ScalarValue::Date32(Some(date_to_days(from)))),
        ("to_date", ScalarValue::Date32(Some(date_to_days(to)))),
        ("all_tickers", ScalarValue::Boolean(Some(all_tickers))),
        // Every ticker; `compute` binds a shard's range.
        ("shard_first", ScalarValue::Utf8(None)),
        ("shard_last", ScalarValue::Utf8(None)),
        ("spot_override", ScalarValue::Float64(params.spot_override)),
        (
            "exclude_expired",
            ScalarValue::Boolean(Some(params.exclude_expired)),
        ),
        ("max_dte_days", ScalarValue::Int64(params.max_dte_days)),
        (
            "min_open_interest",
            ScalarValue::Int64(Some(params.min_open_interest)),
        ),
        ("min_volume", ScalarValue::Int64(Some(params.min_volume))),
        ("walls_top_n", ScalarValue::Int64(Some(params.walls_top_n))),
        (
            "gex_slope_range_pct",
            ScalarValue::Float64(Some(params.gex_slope_range_pct)),
        ),
        (
            "contract_multiplier",
            ScalarValue::Int64(Some(params.contract_multiplier)),
        ),
        (
            "neutral_threshold",
            ScalarValue::Float64(Some(params.neutral_threshold)),
        ),
        ("flip_rule", text(params.flip_rule.as_str())),
        (
            "flip_range_low",
            ScalarValue::Float64(params.flip_strike_range.map(|r| r.low)),
        ),
        (
            "flip_range_high",
            ScalarValue::Float64(params.flip_strike_range.map(|r| r.high)),
        ),
        ("missing_gamma", text(params.missing_gamma.as_str())),
        ("spot_rule", text(params.spot_rule.as_str())),
        ("leg_spot", text(params.leg_spot.as_str())),
        ("contracts_rule", text(params.contracts_rule.as_str())),
        ("wall_rule", text(params.wall_rule.as_str())),
    ]
}

fn text(value: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(value.to_string()))
}

/// Registers every stage of the pipeline as a view of that name (`rows`,
/// `spot`, `legs`, `strike_gex`, `ticker_gex`, and the final step as
/// `dealer_metrics`), bound to `params` and the run's dates, over the
/// session's `strikes` table; the helper tables are registered too. Each stage
/// can then be queried on its own — the sqllogictest suite of the queries
/// (`tests/slt/`) checks them one by one.
pub async fn register_stage_views(
    ctx: &SessionContext,
    params: &MetricsParams,
    dates: &[NaiveDate],
    tickers: Option<&[String]>,
) -> Result<(), MetricsError> {
    let (Some(from), Some(to)) = (dates.iter().min(), dates.iter().max()) else {
        return Ok(());
    };
    register_run_tables(ctx, params, dates, tickers)?;
    let values = bindings(params, *from, *to, tickers.is_none());
    let final_step = ("dealer_metrics", FINAL);
    for (name, sql) in STAGES.iter().chain(std::iter::once(&final_step)) {
        let sql = strip_comments(sql);
        let view = ctx
            .sql(&sql)
            .await?
            .with_param_values(values.clone())?
            .into_view();
        ctx.deregister_table(*name)?;
        ctx.register_table(*name, view)?;
    }
    Ok(())
}

/// Computes the metrics of `dates` under `params`; rows ordered by (trade_date, ticker).
///
/// The spot stage runs first over the whole run. The rest of the pipeline then
/// runs as shards of contiguous tickers, one per target partition, side by
/// side, each in a single DataFusion partition: every metric is per ticker, so
/// a shard needs no exchange of rows with another, and a plan without
/// repartitioning is cheaper than one partitioned by hash. Results do not
/// depend on the shards (every sum is exact and every UDAF order-independent).
pub async fn compute(
    ctx: &SessionContext,
    params: &MetricsParams,
    dates: &[NaiveDate],
    tickers: Option<&[String]>,
) -> Result<Vec<RecordBatch>, MetricsError> {
    let (Some(from), Some(to)) = (dates.iter().min(), dates.iter().max()) else {
        return Ok(Vec::new());
    };
    register_run_tables(ctx, params, dates, tickers)?;
    let values = bindings(params, *from, *to, tickers.is_none());
    let spot_frame = ctx
        .sql(&spot_sql())
        .await?
        .with_param_values(values.clone())?;
    let planned_schema: SchemaRef = Arc::new(spot_frame.schema().as_arrow().clone());
    let spot = spot_frame.collect().await?;
    let spot_schema = spot.first().map_or(planned_schema, |b| b.schema());
    // On a cluster the scheduler spreads one query over the executors.
    let shard_count = if cluster::is_distributed(ctx) {
        1
    } else {
        ctx.copied_config().target_partitions()
    };
    let shards = ticker_shards(&spot, tickers.unwrap_or_default(), shard_count)?;
    ctx.deregister_table("spot")?;
    ctx.register_table(
        "spot",
        Arc::new(MemTable::try_new(spot_schema, vec![spot])?),
    )?;
    let result = run_shards(ctx, &values, shards).await;
    ctx.deregister_table("spot")?;
    result
}

/// Runs the pipeline once per shard, concurrently, and merges the results
/// into (trade_date, ticker) order.
async fn run_shards(
    ctx: &SessionContext,
    values: &[(&'static str, ScalarValue)],
    shards: Vec<(String, String)>,
) -> Result<Vec<RecordBatch>, MetricsError> {
    let sql = Arc::new(pipeline_sql());
    if shards.len() <= 1 {
        let frame = ctx.sql(&sql).await?.with_param_values(values.to_vec())?;
        return Ok(frame.collect().await?);
    }
    // Each shard plans in a single partition; the session's tables are shared
    // (a default catalog created anew would hide them).
    let config = ctx
        .copied_config()
        .with_target_partitions(1)
        .with_create_default_catalog_and_schema(false);
    let state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_config(config)
        .build();
    let mut tasks = JoinSet::new();
    for (index, (first, last)) in shards.into_iter().enumerate() {
        let shard_ctx = SessionContext::new_with_state(state.clone());
        let mut values = values.to_vec();
        for (name, value) in values.iter_mut() {
            match *name {
                "shard_first" => *value = ScalarValue::Utf8(Some(first.clone())),
                "shard_last" => *value = ScalarValue::Utf8(Some(last.clone())),
                _ => {}
            }
        }
        let sql = Arc::clone(&sql);
        tasks.spawn(async move {
            let frame = shard_ctx.sql(&sql).await?.with_param_values(values)?;
            Ok::<_, DataFusionError>((index, frame.collect().await?))
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let done = joined.map_err(|e| DataFusionError::External(Box::new(e)))??;
        parts.push(done);
    }
    parts.sort_by_key(|(index, _)| *index);
    let batches: Vec<RecordBatch> = parts.into_iter().flat_map(|(_, b)| b).collect();
    Ok(sorted_by_date_and_ticker(&batches)?.into_iter().collect())
}

/// The rows of `batches` as one batch in (trade_date, ticker) order, `None`
/// when there are none.
fn sorted_by_date_and_ticker(
    batches: &[RecordBatch],
) -> Result<Option<RecordBatch>, DataFusionError> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let all = concat_batches(&first.schema(), batches)?;
    let key = |name: &str| -> Result<SortColumn, DataFusionError> {
        Ok(SortColumn {
            values: Arc::clone(all.column(all.schema().index_of(name)?)),
            options: None,
        })
    };
    let order = lexsort_to_indices(&[key("trade_date")?, key("ticker")?], None)?;
    Ok(Some(take_record_batch(&all, &order)?))
}

/// Splits the run's tickers (those with rows, in `spot`, and the watchlist)
/// into at most `count` contiguous ranges `(first, last)` of about the same
/// number of rows. Fewer than two ranges means: run unsharded.
fn ticker_shards(
    spot: &[RecordBatch],
    watchlist: &[String],
    count: usize,
) -> Result<Vec<(String, String)>, DataFusionError> {
    let mut weights: BTreeMap<String, u64> = watchlist.iter().map(|t| (t.clone(), 0)).collect();
    for batch in spot {
        // Cast, whichever string and integer types the plan chose.
        let column = |name: &str, to: &DataType| -> Result<ArrayRef, DataFusionError> {
            Ok(cast(batch.column(batch.schema().index_of(name)?), to)?)
        };
        let tickers = column("ticker", &DataType::Utf8)?;
        let tickers = tickers.as_string::<i32>();
        let counts = column("row_count", &DataType::Int64)?;
        let counts = counts.as_primitive::<Int64Type>();
        for (ticker, rows) in tickers.iter().zip(counts.iter()) {
            if let Some(ticker) = ticker {
                *weights.entry(ticker.to_string()).or_default() += rows.unwrap_or(0) as u64;
            }
        }
    }
    let total: u64 = weights.values().sum();
    if count < 2 || weights.len() < count || total == 0 {
        return Ok(Vec::new());
    }
    let mut shards = Vec::with_capacity(count);
    let mut first: Option<&String> = None;
    let mut seen = 0;
    for (ticker, rows) in &weights {
        let start = first.get_or_insert(ticker);
        seen += rows;
        // Close the shard once it holds its share of the rows so far.
        if seen * count as u64 >= total * (shards.len() as u64 + 1) && shards.len() + 1 < count {
            shards.push(((*start).clone(), ticker.clone()));
            first = None;
        }
    }
    if let (Some(start), Some((last, _))) = (first, weights.last_key_value()) {
        shards.push((start.clone(), last.clone()));
    }
    Ok(shards)
}

/// Lists the parameter sets that have results in the lake.
pub async fn metrics_param_sets(lake: &Location) -> Result<Vec<String>, MetricsError> {
    let segments = subdirectories(lake, METRICS_DIR).await?;
    Ok(segments
        .iter()
        .filter_map(|s| s.strip_prefix("params=").map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_is_16_new_york_with_dst() {
        let winter = NaiveDate::from_ymd_opt(2024, 1, 3).unwrap();
        let summer = NaiveDate::from_ymd_opt(2024, 7, 3).unwrap();
        assert_eq!(
            snapshot_ts(winter).to_rfc3339(),
            "2024-01-03T21:00:00+00:00"
        );
        assert_eq!(
            snapshot_ts(summer).to_rfc3339(),
            "2024-07-03T20:00:00+00:00"
        );
        // The day after the spring change (2024-03-10) is already EDT.
        let after_change = NaiveDate::from_ymd_opt(2024, 3, 11).unwrap();
        assert_eq!(
            snapshot_ts(after_change).to_rfc3339(),
            "2024-03-11T20:00:00+00:00"
        );
    }

    #[test]
    fn pipeline_sql_names_every_stage() {
        let sql = pipeline_sql();
        for (name, _) in STAGES {
            let as_cte = format!("{name} AS (");
            if name == "spot" {
                assert!(!sql.contains(&as_cte) && spot_sql().contains("rows AS ("));
            } else {
                assert!(sql.contains(&as_cte), "{name}");
            }
        }
        assert!(sql.contains("universe AS ("));
        assert!(!sql.contains("--"));
    }

    fn spot_counts(rows: &[(&str, i64)]) -> Vec<RecordBatch> {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "ticker",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            (
                "row_count",
                Arc::new(datafusion::arrow::array::Int64Array::from_iter_values(
                    rows.iter().map(|r| r.1),
                )) as ArrayRef,
            ),
        ])
        .unwrap();
        vec![batch]
    }

    #[test]
    fn shards_cover_every_ticker_once_with_balanced_rows() {
        // In ticker order the first half of the rows is reached at SPX, which
        // closes the first of two shards; a ticker is never split.
        let spot = spot_counts(&[("AAPL", 10), ("SPX", 60), ("QQQ", 20), ("ZZZ", 30)]);
        let shards = ticker_shards(&spot, &[], 2).unwrap();
        assert_eq!(
            shards,
            vec![
                ("AAPL".to_string(), "SPX".to_string()),
                ("ZZZ".to_string(), "ZZZ".to_string())
            ]
        );
        let even = spot_counts(&[("A", 10), ("B", 10), ("C", 10), ("D", 10)]);
        assert_eq!(
            ticker_shards(&even, &[], 2).unwrap(),
            vec![
                ("A".to_string(), "B".to_string()),
                ("C".to_string(), "D".to_string())
            ]
        );
        // A date range lists a ticker once per date: its rows add up.
        let two_dates = [
            spot_counts(&[("A", 5), ("B", 5)]),
            spot_counts(&[("A", 5), ("C", 5)]),
        ]
        .concat();
        assert_eq!(
            ticker_shards(&two_dates, &[], 2).unwrap(),
            vec![
                ("A".to_string(), "A".to_string()),
                ("B".to_string(), "C".to_string())
            ]
        );
    }

    #[test]
    fn watched_tickers_without_rows_fall_in_a_shard() {
        let spot = spot_counts(&[("B", 10), ("D", 10)]);
        let watch = ["A", "B", "C", "D", "E"].map(String::from);
        let shards = ticker_shards(&spot, &watch, 3).unwrap();
        assert_eq!(shards.first().unwrap().0, "A");
        assert_eq!(shards.last().unwrap().1, "E");
        for pair in shards.windows(2) {
            assert!(pair[0].1 < pair[1].0, "{shards:?}");
        }
    }

    #[test]
    fn one_partition_or_too_few_tickers_run_unsharded() {
        let spot = spot_counts(&[("A", 10), ("B", 10), ("C", 10)]);
        assert!(ticker_shards(&spot, &[], 1).unwrap().is_empty());
        assert!(ticker_shards(&spot, &[], 4).unwrap().is_empty());
        assert!(ticker_shards(&[], &[], 2).unwrap().is_empty());
    }
}
