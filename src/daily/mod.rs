//! The symbol-level `orats_daily` dataset (ORATS_DAILY.md): V1's per-symbol
//! volumes, open interest, IV, price and their history, from the lake.
//!
//! - `plan`: which dates a run writes (the requested ones and the later
//!   stored dates whose history they change);
//! - `compute`: the SQL of `queries/orats_daily/` (aggregation, history);
//! - `stored`: reading stored partitions and the earlier rows windows need;
//! - `write`: encoding and publishing one date's file.
//!
//! Computing a date reads its strikes and, for history, only the stored
//! `orats_daily` rows its windows reach (each symbol's previous 59 rows), so a
//! nightly date costs the same on a long lake as on a short one.

pub mod compute;
pub mod first_dates;
pub mod plan;
pub mod schema;
pub mod stored;
pub mod write;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use futures::{StreamExt, TryStreamExt};
use tracing::info;

use crate::metrics::engine::{DateSelection, Engine, MetricsError, lake_session, resolve_dates};
use crate::orats::values::date_to_days;
use crate::store::Location;
use plan::{DailyPlan, Source};
use schema::input_schema;

/// Dates whose strikes are aggregated in one query: bounds the memory of the
/// hash aggregation (~750K strike rows a date), while one query per date
/// would repeat planning and listing.
const AGGREGATE_DATES: usize = 32;

/// Dates whose history step runs in one query (a year's ~1.5M rows): the step
/// also reads each symbol's 59 rows before the chunk, whose window results are
/// thrown away, so a chunk much smaller than a year pays mostly for context.
const HISTORY_DATES: usize = 256;

/// Why `orats_daily` could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum DailyError {
    /// Listing the lake, resolving dates or opening the session failed.
    #[error(transparent)]
    Lake(#[from] MetricsError),
    /// DataFusion failed (a bug in the SQL, or unreadable files).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// The lake could not be read or written.
    #[error("lake {lake}: {source}")]
    Store {
        /// The lake.
        lake: String,
        /// The store error.
        source: object_store::Error,
    },
    /// A stored `orats_daily` file is not one this version wrote.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Writing Parquet failed.
    #[error("writing orats_daily Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl From<ArrowError> for DailyError {
    fn from(e: ArrowError) -> Self {
        DailyError::DataFusion(DataFusionError::from(e))
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyReport {
    /// Every date written, ascending (requested and recomputed): the dates to
    /// upsert into Postgres.
    pub written: Vec<NaiveDate>,
    /// Of those, the later stored dates recomputed for their history.
    pub recomputed: usize,
    /// Rows written.
    pub rows: u64,
    /// Symbols skipped as empty or longer than 10 characters (summed over dates).
    pub skipped_symbols: u64,
}

/// Computes the `orats_daily` rows of `selection` (dates with `orats_strikes`
/// partitions) and every later stored date whose history they change, and
/// writes each date's partition, on `engine` (local partitions or a cluster).
pub async fn run(
    lake: &Location,
    selection: &DateSelection,
    engine: impl Into<Engine>,
) -> Result<DailyReport, DailyError> {
    let requested = resolve_dates(lake, selection).await?;
    compute_dates(lake, &requested, engine).await
}

/// [`run`] for dates already known to have strikes partitions.
pub async fn compute_dates(
    lake: &Location,
    requested: &[NaiveDate],
    engine: impl Into<Engine>,
) -> Result<DailyReport, DailyError> {
    compute_dates_in_chunks(lake, requested, engine, HISTORY_DATES).await
}

/// [`compute_dates`] with the history step run `history_dates` dates at a
/// time (each chunk's context: the rows before it). The rows do not depend on
/// the chunking; only memory and speed do.
pub async fn compute_dates_in_chunks(
    lake: &Location,
    requested: &[NaiveDate],
    engine: impl Into<Engine>,
    history_dates: usize,
) -> Result<DailyReport, DailyError> {
    let stored = stored::daily_dates(lake).await?;
    let plan = DailyPlan::new(requested, &stored);
    let mut report = DailyReport {
        recomputed: plan.recomputed(),
        ..DailyReport::default()
    };
    let Some(first) = plan.first() else {
        return Ok(report);
    };
    let engine = engine.into();
    let mut first_dates = first_dates::FirstDates::load(lake, &stored).await?;
    let mut stored_after = stored.clone();
    let ctx = lake_session(lake, engine.clone()).await?;
    // The history step reads no lake file: on a cluster it runs here, where
    // its input already is (no plan carrying a year's rows to the scheduler).
    let history_ctx = match engine.cluster {
        Some(_) => lake_session(lake, engine.jobs).await?,
        None => ctx.clone(),
    };
    // Context: each symbol's last rows before the chunk being computed.
    let mut context = datafusion::arrow::array::RecordBatch::new_empty(input_schema());
    let mut resolved: BTreeSet<String> = BTreeSet::new();
    for chunk in plan.targets.chunks(history_dates.max(1)) {
        let from_strikes: Vec<NaiveDate> = chunk
            .iter()
            .filter(|(_, source)| *source == Source::Strikes)
            .map(|(date, _)| *date)
            .collect();
        let t = std::time::Instant::now();
        let mut inputs = Vec::new();
        for dates in from_strikes.chunks(AGGREGATE_DATES) {
            let aggregated = compute::aggregate(&ctx, dates).await?;
            report.skipped_symbols += aggregated.skipped_symbols;
            inputs.push(aggregated.rows);
        }
        let aggregate_s = t.elapsed().as_secs_f64();
        for (date, source) in chunk {
            if *source == Source::Stored {
                let rows = stored::read_partition(lake, *date).await?;
                inputs.push(stored::as_input(&rows, true)?);
            }
        }
        let targets = concat_batches(&input_schema(), &inputs)?;
        // Symbols met for the first time in this run: their stored rows
        // before the run's first date.
        let new: BTreeSet<String> = stored::symbols(&targets)
            .difference(&resolved)
            .cloned()
            .collect();
        if !new.is_empty() {
            let earlier = stored::lookback(lake, &stored, first, &new, &first_dates).await?;
            context = concat_batches(&input_schema(), &[context, earlier])?;
            resolved.extend(new);
        }
        let input = concat_batches(&input_schema(), &[context.clone(), targets])?;
        let t = std::time::Instant::now();
        let rows = compute::history(&history_ctx, input).await?;
        let history_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        // The index first: if a partition write fails, it is early, never late.
        stored_after.extend(chunk.iter().map(|(date, _)| *date));
        first_dates.record(lake, &rows, &stored_after).await?;
        let days = stored::row_dates(&rows);
        // Each date encoded on a blocking thread, `jobs` at a time: a year's
        // 252 files are ~10 ms of zstd each.
        let mut writes = futures::stream::iter(chunk.iter().map(|(date, _)| {
            let day = date_to_days(*date);
            let start = days.partition_point(|d| *d < day);
            let end = days.partition_point(|d| *d <= day);
            let slice = rows.slice(start, end - start);
            async move {
                let n = slice.num_rows() as u64;
                write::write_day(lake, *date, slice)
                    .await
                    .map(|()| (*date, n))
            }
        }))
        .buffered(engine.jobs.max(1));
        while let Some((date, n)) = writes.try_next().await? {
            report.rows += n;
            report.written.push(date);
        }
        // The computed rows become context for the next chunk, with their
        // rounded iv_rank and hv_30day as stored.
        let computed = stored::as_input(&rows, false)?;
        let all = concat_batches(&input_schema(), &[context, computed])?;
        context = stored::last_rows_per_symbol(&all, stored::ROWS_BEFORE)?;
        info!(
            from = %chunk[0].0,
            to = %chunk[chunk.len() - 1].0,
            dates = chunk.len(),
            rows = rows.num_rows(),
            aggregate_s = format!("{aggregate_s:.3}"),
            history_s = format!("{history_s:.3}"),
            write_s = format!("{:.3}", t.elapsed().as_secs_f64()),
            "orats_daily: dates written"
        );
    }
    Ok(report)
}

/// Registers the `orats_daily` table (`trade_date` its partition column) in
/// `ctx` when the lake has the dataset; returns whether it did.
pub async fn register_table(
    ctx: &datafusion::prelude::SessionContext,
    lake: &Location,
) -> Result<bool, DailyError> {
    if stored::daily_dates(lake).await?.is_empty() {
        return Ok(false);
    }
    crate::metrics::engine::register_dated_table(
        ctx,
        lake,
        crate::lake::DAILY_DIR,
        "orats_daily",
        schema::daily_schema(),
    )?;
    Ok(true)
}
