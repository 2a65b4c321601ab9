//! Running the metrics SQL (`queries/metrics/*.sql`) over the lake with
//! DataFusion: the dates, the session, the stage SQL and its bindings, and the
//! ticker shards the work is cut into. [`super::writer`] writes the results back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::kernels::boolean::{and, or};
use datafusion::arrow::compute::kernels::cmp::{eq, lt, lt_eq};
use datafusion::arrow::compute::{
    SortColumn, cast, concat, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::MemoryCatalogProviderList;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::collect;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext, col};
use datafusion::scalar::ScalarValue;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use tokio::task::JoinSet;

use super::params::MetricsParams;
use crate::cluster::{self, Cluster};
use crate::lake::{METRICS_DIR, STRIKES_DIR, partition_date};
use crate::orats::values::date_to_days;
use crate::store::Location;

/// The metrics pipeline, stage by stage; each file is one named step.
pub(crate) const STAGES: [(&str, &str); 6] = [
    ("scan", SCAN),
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
    session(lake, engine.into(), DataType::Utf8).await
}

/// The session of [`lake_session`], `strikes` reading `ticker` as `ticker_type`.
async fn session(
    lake: &Location,
    engine: Engine,
    ticker_type: DataType,
) -> Result<SessionContext, MetricsError> {
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
    register_strikes(&ctx, lake, ticker_type).await?;
    Ok(ctx)
}

/// The session the metrics are computed in: [`lake_session`], its `strikes`
/// reading `ticker` as `Utf8View`.
///
/// Every stage groups, joins, filters and sorts by ticker. A view holds a
/// string of up to 12 bytes inline, which covers every ORATS ticker (a longer
/// one is still correct, only stored out of line): the reader copies 16 bytes
/// a row from the dictionary page instead of building a string array, and
/// equality and hashing work on those 16 bytes instead of following offsets
/// (one full-size day of a3: best of 10 whole runs 0.171 -> 0.159 s;
/// benches/README.md, "Tickers as string views"). [`compute_sets`] returns
/// `ticker` as `Utf8`, the lake's type, so the results and their files are
/// byte-identical either way. The analysts' session keeps `Utf8`: their
/// results keep the lake's types.
pub async fn metrics_session(
    lake: &Location,
    engine: impl Into<Engine>,
) -> Result<SessionContext, MetricsError> {
    session(lake, engine.into(), DataType::Utf8View).await
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
    let format = lake_parquet_format(lake);
    let schema = format
        .infer_schema(&ctx.state(), &lake.store, &[meta])
        .await?;
    let url = ListingTableUrl::parse(lake.child_url(METRICS_DIR, true))?;
    let options = ListingOptions::new(Arc::new(format))
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

async fn register_strikes(
    ctx: &SessionContext,
    lake: &Location,
    ticker_type: DataType,
) -> Result<(), MetricsError> {
    let stored = crate::orats::layout::file_schema();
    let fields: Vec<Field> = stored
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "ticker" => f.as_ref().clone().with_data_type(ticker_type.clone()),
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, stored.metadata().clone()));
    Ok(register_dated_table(
        ctx,
        lake,
        STRIKES_DIR,
        "strikes",
        schema,
    )?)
}

/// How the lake's Parquet files are read: DataFusion's defaults, but on a local
/// lake the first read of a file takes its last 64 KiB (a full-size day's footer
/// is ~62 KB) instead of DataFusion's 512 KiB. That first read exists to save a
/// round trip to an object store, where the default stays; on a local disk every
/// byte of it is copied, and a one-day strike file of a 300-ticker lake (~550 KB,
/// its footer 8.7 KB) was read almost whole to plan a one-ticker query: a year's
/// SPY history read 131 MB for ~10 MB of footers and pages (`strace`), and
/// answered in 0.155 s instead of 0.197 s with the smaller read (best of 5).
fn lake_parquet_format(lake: &Location) -> ParquetFormat {
    const LOCAL_FOOTER_READ: usize = 64 * 1024;
    let format = ParquetFormat::default();
    if lake.is_local {
        format.with_metadata_size_hint(Some(LOCAL_FOOTER_READ))
    } else {
        format
    }
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
    let options = ListingOptions::new(Arc::new(lake_parquet_format(lake)))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("trade_date".to_string(), DataType::Date32)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The SQL of the spot stage: the stages before it (`scan`, `rows`) as CTEs,
/// then `02_spot.sql`.
///
/// `spot` feeds three later stages (legs, ticker_gex and the final step); as a
/// CTE DataFusion would plan it, scan the day and sort it once per use, so the
/// engine runs it first and registers its result as the table `spot`.
pub fn spot_sql() -> String {
    let at = STAGES
        .iter()
        .position(|(name, _)| *name == "spot")
        .expect("a spot stage");
    format!(
        "WITH {}\n{}",
        ctes(&STAGES[..at]),
        strip_comments(STAGES[at].1)
    )
}

/// The SQL of the rest of the pipeline: the other stage files as CTEs (`spot`
/// is the table [`spot_sql`] made), then the final step.
pub fn pipeline_sql() -> String {
    let stages: Vec<_> = STAGES
        .iter()
        .filter(|(name, _)| *name != "spot")
        .copied()
        .collect();
    let final_sql = strip_comments(FINAL);
    // The final file starts its own WITH; its CTEs follow ours.
    let final_body = final_sql
        .trim_start()
        .strip_prefix("WITH ")
        .expect("06_dealer_metrics.sql starts with WITH");
    format!("WITH {},\n{}", ctes(&stages), final_body)
}

/// Stages as the CTE list of a `WITH`: `name AS (sql)`, comma-separated, the
/// comment lines of each file left out.
pub(crate) fn ctes(stages: &[(&str, &str)]) -> String {
    stages
        .iter()
        .map(|(name, sql)| format!("{name} AS (\n{}\n)", strip_comments(sql)))
        .collect::<Vec<_>>()
        .join(",\n")
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
    mem_table("watchlist", ctx, watchlist_batch(tickers)?)?;
    for (name, batch) in set_tables(params, dates)? {
        mem_table(name, ctx, batch)?;
    }
    Ok(())
}

/// The helper tables of one parameter set's run: `run_dates` and `spot_overrides`.
fn set_tables(
    params: &MetricsParams,
    dates: &[NaiveDate],
) -> Result<[(&'static str, RecordBatch); 2], MetricsError> {
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
    Ok([
        ("run_dates", run_dates),
        ("spot_overrides", spot_overrides_batch(params)?),
    ])
}

/// The `watchlist(ticker)` table: the run's tickers, none for every ticker.
fn watchlist_batch(tickers: Option<&[String]>) -> Result<RecordBatch, DataFusionError> {
    let watch: Vec<&str> = tickers
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "ticker",
            DataType::Utf8,
            false,
        )])),
        vec![Arc::new(StringArray::from(watch)) as ArrayRef],
    )
    .map_err(DataFusionError::from)
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
        ("shard_start", ScalarValue::Utf8(None)),
        ("shard_end", ScalarValue::Utf8(None)),
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

/// Registers every stage of the pipeline as a view of that name (`scan`, `rows`,
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

/// The SQL of the scan stage: the strike rows every parameter set of a run reads.
const SCAN: &str = include_str!("../../queries/metrics/00_scan.sql");

/// One parameter set of a run and the dates it computes.
pub type MetricsSet<'a> = (&'a MetricsParams, &'a [NaiveDate]);

/// Computes the metrics of `dates` under `params`; rows ordered by (trade_date, ticker).
pub async fn compute(
    ctx: &SessionContext,
    params: &MetricsParams,
    dates: &[NaiveDate],
    tickers: Option<&[String]>,
) -> Result<Vec<RecordBatch>, MetricsError> {
    let mut results = compute_sets(ctx, &[(params, dates)], tickers).await?;
    Ok(results.pop().unwrap_or_default())
}

/// `batch` with every `Utf8View` column (`ticker`, in a [`metrics_session`])
/// cast to `Utf8`, the type the lake stores.
fn utf8_strings(batch: &RecordBatch) -> Result<RecordBatch, DataFusionError> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| f.data_type() == &DataType::Utf8View)
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if field.data_type() == &DataType::Utf8View {
            fields.push(field.as_ref().clone().with_data_type(DataType::Utf8));
            columns.push(cast(column, &DataType::Utf8)?);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )?)
}

/// One parameter set's work: its placeholders' values and its helper tables.
#[derive(Clone)]
struct SetJob {
    /// Where its results go in [`compute_sets`]' answer.
    index: usize,
    values: Vec<(&'static str, ScalarValue)>,
    tables: [(&'static str, RecordBatch); 2],
}

impl SetJob {
    /// The values with the shard's ticker range bound.
    fn values_in(&self, (start, end): &Shard) -> Vec<(&'static str, ScalarValue)> {
        let mut values = self.values.clone();
        bind_shard(&mut values, start, end);
        values
    }

    /// Registers the set's `run_dates` and `spot_overrides` in `ctx`.
    fn register(&self, ctx: &SessionContext) -> Result<(), MetricsError> {
        for (name, batch) in &self.tables {
            mem_table(name, ctx, batch.clone())?;
        }
        Ok(())
    }
}

fn bind_shard(
    values: &mut [(&'static str, ScalarValue)],
    start: &Option<String>,
    end: &Option<String>,
) {
    for (name, value) in values.iter_mut() {
        match *name {
            "shard_start" => *value = ScalarValue::Utf8(start.clone()),
            "shard_end" => *value = ScalarValue::Utf8(end.clone()),
            _ => {}
        }
    }
}

/// Computes several parameter sets, each over its own dates; one result per
/// set, in `sets`' order, its rows ordered by (trade_date, ticker).
///
/// The run is cut into shards of contiguous tickers, one per target partition,
/// computed side by side, each in a single DataFusion partition: every metric is
/// per ticker, so a shard needs no exchange of rows with another, and a plan
/// without repartitioning is cheaper than one partitioned by hash. Each shard runs
/// the spot stage over its own tickers, then the rest of the pipeline. With
/// several sets, each shard reads its strike rows once (`00_scan.sql`) into
/// memory, and every set's stages read them from there. Results do not depend
/// on the shards or on the sets computed together (every sum is exact and every
/// UDAF order-independent). On a cluster each set is one query, which the
/// scheduler spreads over the executors.
pub async fn compute_sets(
    ctx: &SessionContext,
    sets: &[MetricsSet<'_>],
    tickers: Option<&[String]>,
) -> Result<Vec<Vec<RecordBatch>>, MetricsError> {
    let results = compute_sets_as_read(ctx, sets, tickers).await?;
    results
        .into_iter()
        .map(|set| set.iter().map(utf8_strings).collect::<Result<Vec<_>, _>>())
        .collect::<Result<_, _>>()
        .map_err(MetricsError::from)
}

/// [`compute_sets`], its string columns of the type `strikes` reads them as.
async fn compute_sets_as_read(
    ctx: &SessionContext,
    sets: &[MetricsSet<'_>],
    tickers: Option<&[String]>,
) -> Result<Vec<Vec<RecordBatch>>, MetricsError> {
    let mut results = vec![Vec::new(); sets.len()];
    let mut jobs = Vec::new();
    for (index, (params, dates)) in sets.iter().enumerate() {
        let (Some(from), Some(to)) = (dates.iter().min(), dates.iter().max()) else {
            continue;
        };
        jobs.push(SetJob {
            index,
            values: bindings(params, *from, *to, tickers.is_none()),
            tables: set_tables(params, dates)?,
        });
    }
    let dates: BTreeSet<NaiveDate> = sets.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
        return Ok(results);
    };
    mem_table("watchlist", ctx, watchlist_batch(tickers)?)?;
    let distributed = cluster::is_distributed(ctx);
    let partitions = ctx.copied_config().target_partitions();
    let mut shards = Vec::new();
    if !distributed
        && partitions > 1
        && let Some(counts) = row_group_counts(ctx, &Vec::from_iter(dates.iter().copied())).await?
    {
        shards = ticker_shards(&counts, partitions);
        tracing::debug!(?shards, "metrics: ticker shards");
    }
    if shards.is_empty() && !distributed && jobs.len() > 1 {
        // One shard of every ticker, so that the sets still share one scan.
        shards.push((None, None));
    }
    if shards.is_empty() {
        for job in jobs {
            job.register(ctx)?;
            let result = run_pipeline(ctx, job.values).await;
            ctx.deregister_table("spot")?;
            results[job.index] = result?;
        }
        return Ok(results);
    }
    // The shared scan's bindings: every set's dates.
    let scan = (jobs.len() > 1).then(|| {
        let any = &sets[jobs[0].index].0;
        bindings(any, *first, *last, tickers.is_none())
    });
    for (index, batches) in run_shards(ctx, &jobs, shards, scan).await? {
        results[index] = batches;
    }
    Ok(results)
}

/// Runs the spot stage (`spot_sql`), registers its result as the table `spot`
/// of `ctx`, then runs the rest of the pipeline (`pipeline_sql`).
///
/// `spot` feeds three later stages; as a CTE DataFusion would plan it, scan the
/// strikes and sort them once per use, so it is computed once, first.
async fn run_pipeline(
    ctx: &SessionContext,
    values: Vec<(&'static str, ScalarValue)>,
) -> Result<Vec<RecordBatch>, MetricsError> {
    let spot_frame = ctx
        .sql(&spot_sql())
        .await?
        .with_param_values(values.clone())?;
    let planned_schema: SchemaRef = Arc::new(spot_frame.schema().as_arrow().clone());
    let spot = timed_collect("spot", spot_frame).await?;
    let spot_schema = spot.first().map_or(planned_schema, |b| b.schema());
    ctx.deregister_table("spot")?;
    ctx.register_table(
        "spot",
        Arc::new(MemTable::try_new(spot_schema, vec![spot])?),
    )?;
    let frame = ctx.sql(&pipeline_sql()).await?.with_param_values(values)?;
    timed_collect("pipeline", frame).await
}

/// Collects `frame`; logs the time spent planning it and running it (debug),
/// and the plan it ran with each operator's metrics (trace).
async fn timed_collect(
    stage: &'static str,
    frame: DataFrame,
) -> Result<Vec<RecordBatch>, MetricsError> {
    let started = Instant::now();
    let task = Arc::new(frame.task_ctx());
    let plan = frame.create_physical_plan().await?;
    let planned = started.elapsed();
    let batches = collect(Arc::clone(&plan), task).await?;
    tracing::debug!(
        stage,
        planning_ms = planned.as_secs_f64() * 1e3,
        running_ms = (started.elapsed() - planned).as_secs_f64() * 1e3,
        "metrics: stage computed"
    );
    tracing::trace!(
        stage,
        plan = %DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true),
        "metrics: stage plan, with each operator's metrics"
    );
    Ok(batches)
}

/// The tables of the run's session that every shard reads.
const SHARED_TABLES: [&str; 2] = ["strikes", "watchlist"];

/// Runs every set's pipeline once per shard, the shards concurrently; with
/// `scan` (the shared scan's bindings), each shard first reads its strike rows
/// into memory for all the sets. Returns each set's rows, merged into
/// (trade_date, ticker) order, with the set's index.
async fn run_shards(
    ctx: &SessionContext,
    jobs: &[SetJob],
    shards: Vec<Shard>,
    scan: Option<Vec<(&'static str, ScalarValue)>>,
) -> Result<Vec<(usize, Vec<RecordBatch>)>, MetricsError> {
    // Each shard plans in a single partition, in a session of its own (its
    // `spot` and helper tables are its own) sharing the run's tables, functions
    // and object stores.
    // One optimizer pass, not DataFusion's three: the later passes change
    // nothing in these plans (the physical plans of a3, of a3 and v2 from a
    // shared scan and of a watchlist run, compared line by line at one and three
    // passes: `--log-level trace` logs them), and cost ~5 ms of a shard's ~48 ms
    // of planning (benches/README.md, "Planning, and the end of a run"). Results
    // cannot depend on it: tests/determinism.rs checks a run in shards against
    // one unsharded (three passes), byte for byte.
    let config = ctx
        .copied_config()
        .with_target_partitions(1)
        .with_create_default_catalog_and_schema(true)
        .set_usize("datafusion.optimizer.max_passes", 1);
    let mut tasks = JoinSet::new();
    for (index, shard) in shards.into_iter().enumerate() {
        let state = SessionStateBuilder::new_from_existing(ctx.state())
            .with_config(config.clone())
            .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()))
            .build();
        let shard_ctx = SessionContext::new_with_state(state);
        for name in SHARED_TABLES {
            shard_ctx.register_table(name, ctx.table_provider(name).await?)?;
        }
        let jobs = jobs.to_vec();
        let scan = scan.clone();
        tasks.spawn(async move {
            if let Some(mut values) = scan {
                bind_shard(&mut values, &shard.0, &shard.1);
                let frame = shard_ctx.sql(SCAN).await?.with_param_values(values)?;
                let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
                let rows = timed_collect("scan", frame).await?;
                let ordered = ordered_by_date_and_ticker(&rows)?;
                tracing::debug!(
                    shard = index,
                    ordered,
                    rows = rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
                    bytes = rows
                        .iter()
                        .map(RecordBatch::get_array_memory_size)
                        .sum::<usize>(),
                    "metrics: shared scan held"
                );
                let schema = rows.first().map_or(schema, |b| b.schema());
                shard_ctx.deregister_table("strikes")?;
                let mut table = MemTable::try_new(schema, vec![rows])?;
                if ordered {
                    table = table.with_sort_order(vec![vec![
                        col("trade_date").sort(true, false),
                        col("ticker").sort(true, false),
                    ]]);
                }
                shard_ctx.register_table("strikes", Arc::new(table))?;
            }
            let mut done = Vec::with_capacity(jobs.len());
            for job in &jobs {
                job.register(&shard_ctx)?;
                done.push(run_pipeline(&shard_ctx, job.values_in(&shard)).await?);
            }
            Ok::<_, MetricsError>((index, done))
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let done = joined.map_err(|e| DataFusionError::External(Box::new(e)))??;
        parts.push(done);
    }
    parts.sort_by_key(|(index, _)| *index);
    let mut merged = Vec::with_capacity(jobs.len());
    for (position, job) in jobs.iter().enumerate() {
        let batches: Vec<RecordBatch> = parts
            .iter()
            .flat_map(|(_, per_job)| per_job[position].iter().cloned())
            .collect();
        merged.push((
            job.index,
            sorted_by_date_and_ticker(&batches)?.into_iter().collect(),
        ));
    }
    Ok(merged)
}

/// Whether `batches`, one after the other, are in (trade_date, ticker) order
/// with neither ever null.
///
/// The shared scan reads each date's file in turn (the listing orders the
/// `trade_date=` directories), and the lake writes every file in ticker
/// order, so this holds for every run of a lake; checked, not assumed, because
/// a table declared in an order it is not in would give wrong results. Declared
/// to DataFusion, the order lets each stage's `GROUP BY ticker, trade_date, …`
/// finish a ticker's groups as soon as its rows end instead of holding every
/// group of the shard: on a full-size day of a3 and v2, a third less memory
/// (430 → 290 MB) and 10–15 % less time (benches/README.md).
fn ordered_by_date_and_ticker(batches: &[RecordBatch]) -> Result<bool, DataFusionError> {
    let Some(first) = batches.first() else {
        return Ok(true);
    };
    let key = |name: &str| -> Result<ArrayRef, DataFusionError> {
        let index = first.schema().index_of(name)?;
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(index).as_ref()).collect();
        Ok(concat(&parts)?)
    };
    let (dates, tickers) = (key("trade_date")?, key("ticker")?);
    if dates.null_count() > 0 || tickers.null_count() > 0 {
        return Ok(false);
    }
    let rows = dates.len();
    if rows < 2 {
        return Ok(true);
    }
    // Row i and row i + 1, compared for every i at once.
    let (d0, d1) = (dates.slice(0, rows - 1), dates.slice(1, rows - 1));
    let (t0, t1) = (tickers.slice(0, rows - 1), tickers.slice(1, rows - 1));
    let in_order = or(&lt(&d0, &d1)?, &and(&eq(&d0, &d1)?, &lt_eq(&t0, &t1)?)?)?;
    Ok(in_order.true_count() == rows - 1)
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

/// A shard of a run: the tickers from the first (inclusive) to the second
/// (exclusive), `None` meaning unbounded.
type Shard = (Option<String>, Option<String>);

/// Footers (and partition listings) read at once.
const FOOTERS_IN_FLIGHT: usize = 16;

/// Rows per first ticker of each row group of the run's strike files, from
/// their footers (no scan: each file is sorted by ticker, so a row group holds
/// the tickers from its first one to the next group's). `None` when `strikes`
/// is not the lake's listing table.
async fn row_group_counts(
    ctx: &SessionContext,
    dates: &[NaiveDate],
) -> Result<Option<BTreeMap<String, u64>>, MetricsError> {
    let provider = ctx.table_provider("strikes").await?;
    let Some(table) = provider.downcast_ref::<ListingTable>() else {
        return Ok(None);
    };
    let [url] = table.table_paths().as_slice() else {
        return Ok(None);
    };
    let store = ctx.runtime_env().object_store(url)?;
    let listings: Vec<Vec<ObjectMeta>> = futures::stream::iter(dates)
        .map(|date| {
            let prefix = url.prefix().clone().join(format!("trade_date={date}"));
            store.list(Some(&prefix)).try_collect::<Vec<_>>()
        })
        .buffered(FOOTERS_IN_FLIGHT)
        .try_collect()
        .await
        .map_err(DataFusionError::from)?;
    let footers: Vec<_> = futures::stream::iter(listings.into_iter().flatten())
        .filter(|meta| std::future::ready(meta.location.extension() == Some("parquet")))
        .map(|meta| read_footer(Arc::clone(&store), meta))
        .buffer_unordered(FOOTERS_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut counts = BTreeMap::new();
    for footer in footers {
        let column = footer
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == "ticker");
        for group in footer.row_groups() {
            let first = column
                .and_then(|i| group.column(i).statistics())
                .and_then(|stats| stats.min_bytes_opt())
                .map(|min| String::from_utf8_lossy(min).into_owned())
                .unwrap_or_default();
            *counts.entry(first).or_default() += u64::try_from(group.num_rows()).unwrap_or(0);
        }
    }
    Ok(Some(counts))
}

/// Bytes read from a file's end in one request for its footer: a day's
/// strike file's footer is ~20 KB; a larger one takes a second request.
const FOOTER_PREFETCH: u64 = 64 * 1024;

/// The Parquet metadata of a file, from one ranged read of its end (two when
/// the footer is larger than [`FOOTER_PREFETCH`]).
async fn read_footer(
    store: Arc<dyn ObjectStore>,
    meta: ObjectMeta,
) -> Result<ParquetMetaData, DataFusionError> {
    let size = meta.size;
    let mut tail = store
        .get_range(&meta.location, size - FOOTER_PREFETCH.min(size)..size)
        .await?;
    let mut reader = ParquetMetaDataReader::new();
    loop {
        match reader.try_parse_sized(&tail, size) {
            Ok(()) => return Ok(reader.finish()?),
            Err(ParquetError::NeedMoreData(needed)) if (needed as u64) > tail.len() as u64 => {
                tail = store
                    .get_range(&meta.location, size - (needed as u64).min(size)..size)
                    .await?;
            }
            Err(e) => {
                return Err(DataFusionError::Context(
                    format!("reading the footer of {}", meta.location),
                    Box::new(e.into()),
                ));
            }
        }
    }
}

/// Cuts the tickers into at most `count` contiguous shards of about the same
/// number of rows, from the rows counted at each first ticker (`counts`); a
/// shard starts at a counted ticker. Fewer than two shards means: run unsharded.
fn ticker_shards(counts: &BTreeMap<String, u64>, count: usize) -> Vec<Shard> {
    let total: u64 = counts.values().sum();
    let mut bounds: Vec<String> = Vec::new();
    let mut seen = 0;
    for (ticker, rows) in counts {
        // The next shard starts once the rows before it reach its share.
        let next = bounds.len() as u64 + 1;
        if bounds.len() + 1 < count && seen > 0 && seen * count as u64 >= total * next {
            bounds.push(ticker.clone());
        }
        seen += rows;
    }
    if bounds.is_empty() {
        return Vec::new();
    }
    let starts = std::iter::once(None).chain(bounds.iter().cloned().map(Some));
    let ends = bounds
        .iter()
        .cloned()
        .map(Some)
        .chain(std::iter::once(None));
    starts.zip(ends).collect()
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

    /// A batch of (trade_date as days, ticker) rows.
    fn keyed(rows: &[(i32, Option<&str>)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ticker", DataType::Utf8, true),
            Field::new("trade_date", DataType::Date32, false),
        ]));
        let tickers: ArrayRef = Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1)));
        let dates: ArrayRef = Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.0)));
        RecordBatch::try_new(schema, vec![tickers, dates]).unwrap()
    }

    #[test]
    fn views_come_back_as_the_lakes_utf8_and_other_columns_untouched() {
        use datafusion::arrow::array::StringViewArray;
        let schema = Arc::new(Schema::new(vec![
            Field::new("ticker", DataType::Utf8View, false),
            Field::new("status", DataType::Utf8, true),
            Field::new("spot", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringViewArray::from(vec!["SPY", "A-VERY-LONG-TICKER"])),
                Arc::new(StringArray::from(vec![Some("FULL"), None])),
                Arc::new(Float64Array::from(vec![Some(480.5), None])),
            ],
        )
        .unwrap();
        let out = utf8_strings(&batch).unwrap();
        let types: Vec<DataType> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(types, [DataType::Utf8, DataType::Utf8, DataType::Float64]);
        let tickers = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(tickers.value(0), "SPY");
        assert_eq!(tickers.value(1), "A-VERY-LONG-TICKER");
        assert_eq!(out.column(1), batch.column(1));
        assert_eq!(out.column(2), batch.column(2));
        // Nothing to cast: the batch itself.
        assert_eq!(utf8_strings(&out).unwrap(), out);
    }

    #[test]
    fn order_by_date_then_ticker_is_checked_across_batches() {
        let sorted = [
            keyed(&[(1, Some("A")), (1, Some("A")), (1, Some("B"))]),
            keyed(&[(1, Some("C")), (2, Some("A")), (2, Some("Z"))]),
        ];
        assert!(ordered_by_date_and_ticker(&sorted).unwrap());
        assert!(ordered_by_date_and_ticker(&[]).unwrap());
        // A later ticker before an earlier one on the same date.
        let unsorted = [keyed(&[(1, Some("B")), (1, Some("A"))])];
        assert!(!ordered_by_date_and_ticker(&unsorted).unwrap());
        // Each batch in order, but not the second after the first.
        let boundary = [
            keyed(&[(2, Some("A")), (2, Some("B"))]),
            keyed(&[(1, Some("C")), (1, Some("D"))]),
        ];
        assert!(!ordered_by_date_and_ticker(&boundary).unwrap());
        // A null ticker is never declared in order.
        let null = [keyed(&[(1, Some("A")), (1, None)])];
        assert!(!ordered_by_date_and_ticker(&null).unwrap());
    }

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

    fn counts(rows: &[(&str, u64)]) -> BTreeMap<String, u64> {
        rows.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn bound(ticker: &str) -> Option<String> {
        Some(ticker.to_string())
    }

    #[test]
    fn shards_cut_at_counted_tickers_with_balanced_rows() {
        // Half the rows lie before SPX: two shards meet there, and together
        // they cover every ticker once (half-open ranges, unbounded ends).
        let groups = counts(&[("AAPL", 10), ("QQQ", 50), ("SPX", 20), ("ZZZ", 40)]);
        assert_eq!(
            ticker_shards(&groups, 2),
            vec![(None, bound("SPX")), (bound("SPX"), None)]
        );
        let even = counts(&[("A", 10), ("B", 10), ("C", 10), ("D", 10)]);
        assert_eq!(
            ticker_shards(&even, 2),
            vec![(None, bound("C")), (bound("C"), None)]
        );
        assert_eq!(
            ticker_shards(&even, 4),
            vec![
                (None, bound("B")),
                (bound("B"), bound("C")),
                (bound("C"), bound("D")),
                (bound("D"), None)
            ]
        );
    }

    #[test]
    fn one_partition_or_one_group_run_unsharded() {
        let groups = counts(&[("A", 10), ("B", 10), ("C", 10)]);
        assert!(ticker_shards(&groups, 1).is_empty());
        assert!(ticker_shards(&counts(&[("A", 10)]), 4).is_empty());
        assert!(ticker_shards(&BTreeMap::new(), 2).is_empty());
        // More shards asked than groups: one shard per group.
        assert_eq!(ticker_shards(&groups, 8).len(), 3);
    }
}
