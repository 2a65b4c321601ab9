//! The jobs users run, chaining the stages: ingest, metrics over a date range
//! (with its run header, heartbeats and summary), `orats_daily`, and the
//! backfill chain of all three into the sink. Each job takes typed, validated
//! settings and returns the [`Outcome`] that decides the exit status.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use futures::{StreamExt, TryStreamExt};
use tracing::{debug, info, warn};

use crate::cluster::Cluster;
use crate::ingest::{IngestOptions, Selection, Shard, discover, ingest};
use crate::metrics::engine::{DateSelection, Engine, compute_sets, metrics_session, resolve_dates};
use crate::metrics::rows::from_batches;
use crate::metrics::writer::write_partitions;
use crate::metrics::{MetricsParams, Profile};
use crate::outcome::Outcome;
use crate::progress::{Heartbeat, Progress};
use crate::sink::{PgSink, SinkReport};
use crate::store::Location;

/// Trade dates computed in one query: bounds the memory of the strike-level
/// aggregation (~200K strikes a day) while keeping per-query overhead small.
pub const DATES_PER_QUERY: usize = 5;
/// Trade dates in one query on a cluster: each query is a job the scheduler
/// plans into stages and schedules, which costs far more than a local query,
/// and the strike-level work is spread over the executors' memory.
pub const DATES_PER_CLUSTER_QUERY: usize = 25;

/// The dates computed in one query, here or on `cluster`.
fn dates_per_query(cluster: Option<&Cluster>) -> usize {
    if cluster.is_some() {
        DATES_PER_CLUSTER_QUERY
    } else {
        DATES_PER_QUERY
    }
}

/// A metrics run over the lake.
#[derive(Debug, Clone)]
pub struct MetricsRun {
    /// The lake.
    pub lake: Location,
    /// Effective parameters.
    pub params: MetricsParams,
    /// Watchlist; `None` for every ticker.
    pub tickers: Option<Vec<String>>,
    /// DataFusion target partitions.
    pub jobs: usize,
    /// The Ballista cluster the queries run on; `None` runs them here.
    pub cluster: Option<Cluster>,
}

impl MetricsRun {
    fn engine(&self) -> Engine {
        Engine {
            jobs: self.jobs,
            cluster: self.cluster.clone(),
        }
    }
}

/// What a metrics run produced.
#[derive(Debug, Default, Clone)]
pub struct MetricsSummary {
    /// Dates computed.
    pub dates: Vec<NaiveDate>,
    /// Result rows written.
    pub rows: usize,
    /// Rows per status (`FULL`, `LIMITED`, `INVALID`).
    pub by_status: BTreeMap<String, usize>,
    /// Lake-relative paths written.
    pub written: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
    /// The result batches, when kept for a sink.
    pub batches: Vec<RecordBatch>,
}

impl MetricsRun {
    /// Computes and writes the metrics of the selected dates.
    pub async fn run(&self, selection: &DateSelection) -> Result<MetricsSummary> {
        self.run_keeping(selection, false).await
    }

    /// Like [`MetricsRun::run`]; with `keep`, the result batches are returned too.
    pub async fn run_keeping(
        &self,
        selection: &DateSelection,
        keep: bool,
    ) -> Result<MetricsSummary> {
        let dates = resolve_dates(&self.lake, selection).await?;
        let mut summaries = run_together(std::slice::from_ref(self), &[dates], keep).await?;
        Ok(summaries.pop().unwrap_or_default())
    }

    fn log_header(&self, dates: &[NaiveDate]) {
        let overrides = self.params.overrides();
        info!(
            lake = %self.lake,
            params = %self.params.name(),
            params_hash = %self.params.hash(),
            profile = %self.params.profile,
            overrides = %if overrides.is_empty() { "none (profile defaults)".to_string() } else { overrides.join(", ") },
            effective = %serde_json::to_string(&self.params).unwrap_or_default(),
            dates = dates.len(),
            first = %dates.first().map(|d| d.to_string()).unwrap_or_default(),
            last = %dates.last().map(|d| d.to_string()).unwrap_or_default(),
            tickers = %self.tickers.as_ref().map_or("all in the lake".to_string(), |t| t.len().to_string()),
            jobs = self.jobs,
            cluster = %self.cluster.as_ref().map_or("none (this process)".to_string(), |c| format!("{c} ({} partitions)", c.partitions)),
            "metrics: run header"
        );
    }

    fn log_summary(&self, summary: &MetricsSummary) {
        info!(
            params = %self.params.name(),
            dates = summary.dates.len(),
            rows = summary.rows,
            full = summary.by_status.get("FULL").copied().unwrap_or(0),
            limited = summary.by_status.get("LIMITED").copied().unwrap_or(0),
            invalid = summary.by_status.get("INVALID").copied().unwrap_or(0),
            seconds = format!("{:.2}", summary.elapsed.as_secs_f64()),
            per_date_s = format!("{:.3}", summary.elapsed.as_secs_f64() / summary.dates.len().max(1) as f64),
            "metrics: summary"
        );
    }
}

/// Computes and writes several runs over one lake, each over its own dates
/// (`dates[i]` for `runs[i]`), chunk by chunk of their dates: in each chunk one
/// scan of the strikes feeds every run that has dates in it (backfill's a3 and
/// v2). The runs share the first one's lake, watchlist, jobs and cluster. Each
/// run gets its own run header, summary and written partitions; the summaries'
/// time is the whole call's, shared by the runs computed together.
pub async fn run_together(
    runs: &[MetricsRun],
    dates: &[Vec<NaiveDate>],
    keep: bool,
) -> Result<Vec<MetricsSummary>> {
    let started = Instant::now();
    let Some(first) = runs.first() else {
        return Ok(Vec::new());
    };
    for (run, dates) in runs.iter().zip(dates) {
        run.log_header(dates);
    }
    let ctx = metrics_session(&first.lake, first.engine()).await?;
    let every: Vec<NaiveDate> = dates
        .iter()
        .flatten()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let progress = Progress::files(every.len() as u64, "metrics");
    let heartbeat = Heartbeat::start("metrics", every.len() as u64);
    let mut summaries: Vec<MetricsSummary> = dates
        .iter()
        .map(|d| MetricsSummary {
            dates: d.clone(),
            ..Default::default()
        })
        .collect();
    let mut rows_done = 0;
    for chunk in every.chunks(dates_per_query(first.cluster.as_ref())) {
        let t = Instant::now();
        let in_chunk: Vec<Vec<NaiveDate>> = dates
            .iter()
            .map(|d| d.iter().filter(|d| chunk.contains(d)).copied().collect())
            .collect();
        let sets: Vec<_> = runs
            .iter()
            .zip(&in_chunk)
            .map(|(run, d)| (&run.params, d.as_slice()))
            .collect();
        let results = compute_sets(&ctx, &sets, first.tickers.as_deref()).await?;
        for (((run, summary), batches), d) in
            runs.iter().zip(&mut summaries).zip(results).zip(&in_chunk)
        {
            if d.is_empty() {
                continue;
            }
            let written = write_partitions(&run.lake, &run.params, &batches).await?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            count_status(&batches, &mut summary.by_status);
            if tracing::enabled!(tracing::Level::DEBUG) {
                log_tickers(&batches, &run.params)?;
            }
            summary.rows += rows;
            rows_done += rows;
            summary.written.extend(written);
            if keep {
                summary.batches.extend(batches);
            }
        }
        debug!(
            dates = chunk.len(),
            sets = in_chunk.iter().filter(|d| !d.is_empty()).count(),
            seconds = format!("{:.3}", t.elapsed().as_secs_f64()),
            "metrics: chunk done"
        );
        for d in chunk {
            progress.advance(&format!("{d}, {rows_done} rows"));
            heartbeat.tick(&format!("{d} done, {rows_done} rows"));
        }
    }
    progress.finish();
    heartbeat.stop();
    for (run, summary) in runs.iter().zip(&mut summaries) {
        summary.elapsed = started.elapsed();
        run.log_summary(summary);
    }
    Ok(summaries)
}

/// DEBUG: each ticker's filter stats and intermediate metrics (A3's debug level).
fn log_tickers(batches: &[RecordBatch], params: &MetricsParams) -> Result<()> {
    for m in from_batches(batches, params)? {
        let f = &m.filter_stats;
        debug!(
            ticker = %m.ticker,
            trade_date = %m.trade_date,
            params = %m.params_name,
            status = %m.status,
            status_reason = %m.status_reason,
            spot = ?m.spot_price,
            spot_source = ?m.spot_price_source,
            legs = f.total,
            eligible = m.eligible_options_count,
            contracts = m.contracts_analyzed,
            expired = f.expired,
            dte_exceeded = f.dte_exceeded,
            missing_gamma = f.missing_gamma,
            uncounted_row = f.uncounted_row,
            low_open_interest = f.low_open_interest,
            low_volume = f.low_volume,
            gex_net = ?m.gex_net,
            gex_call = ?m.gex_call,
            gex_put = ?m.gex_put,
            gamma_flip = ?m.gamma_flip,
            call_wall = ?m.call_wall_strike,
            put_wall = ?m.put_wall_strike,
            gex_slope = ?m.gex_slope,
            dgpi = ?m.dgpi,
            "metrics: ticker"
        );
    }
    Ok(())
}

fn count_status(batches: &[RecordBatch], counts: &mut BTreeMap<String, usize>) {
    for b in batches {
        let Ok(idx) = b.schema().index_of("status") else {
            continue;
        };
        let Some(status) = b.column(idx).as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        for i in 0..status.len() {
            if status.is_valid(i) {
                *counts.entry(status.value(i).to_string()).or_default() += 1;
            }
        }
    }
}

/// Upserts a metrics run's rows into the table its profile feeds: a3 →
/// `daily_snapshots` (the A3 JSON), v2 → `gex_metrics_snapshot` (flat columns).
pub async fn sink_results(
    sink: &PgSink,
    params: &MetricsParams,
    batches: &[RecordBatch],
) -> Result<SinkReport> {
    let rows = from_batches(batches, params)?;
    sink.migrate().await?;
    let report = match params.profile {
        Profile::A3 => sink.upsert_daily_snapshots(&rows).await?,
        Profile::V2 => sink.upsert_gex_metrics(&rows).await?,
    };
    info!(
        table = report.table,
        written = report.written,
        unchanged = report.unchanged,
        retries = report.retries,
        soft_failed = report.soft_failed.len(),
        "sink: summary"
    );
    Ok(report)
}

/// What `backfill` and `nightly` do after finding their sources.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Ingest settings (lake, jobs, force, strict).
    pub ingest: IngestOptions,
    /// Parameter sets to compute (a3 and v2 by default).
    pub params: Vec<MetricsParams>,
    /// Watchlist; `None` for every ticker.
    pub tickers: Option<Vec<String>>,
    /// The Ballista cluster the metrics and `orats_daily` queries run on.
    pub cluster: Option<Cluster>,
    /// This task's share of the archives (`backfill --shard I/N`): the
    /// history-dependent `orats_daily` step is then left to a final
    /// `gexlake daily` run after every shard.
    pub shard: Option<Shard>,
}

/// What a chained run did.
#[derive(Debug, Default)]
pub struct ChainReport {
    /// The ingest stage.
    pub ingest: crate::ingest::IngestReport,
    /// Per parameter set: the dates computed.
    pub computed: Vec<(String, Vec<NaiveDate>)>,
    /// Per sunk chunk of dates: the parameter set, rows stored and tickers soft-failed.
    pub sunk: Vec<(String, usize, usize)>,
    /// Time per stage: ingest, metrics, sink (a chunk's sink runs while the next chunk's
    /// metrics are computed, so the last two overlap).
    pub stage_seconds: [f64; 3],
    /// Result rows computed (one per ticker and date), over every parameter set.
    pub ticker_rows: usize,
    /// Result rows per status (`FULL`, `LIMITED`, `INVALID`), over every parameter set.
    pub by_status: BTreeMap<String, usize>,
    /// The `orats_daily` stage: every date written (those of the run and the later
    /// ones whose history they changed).
    pub daily: crate::daily::DailyReport,
}

impl ChainReport {
    /// What did not work: failed files and rejected rows of the ingest, rows
    /// soft-failed in the sink.
    pub fn outcome(&self) -> Outcome {
        Outcome {
            soft_failed: self.sunk.iter().map(|(_, _, soft)| soft).sum(),
            ..self.ingest.outcome()
        }
    }
}

/// The lake-relative marker recording that a date's rows of a parameter set
/// reached a database (identified by its password-free URL).
fn sink_marker(sink: &PgSink, params_name: &str, date: NaiveDate) -> String {
    use sha2::{Digest, Sha256};
    let db = hex::encode(Sha256::digest(sink.url().as_bytes()));
    format!("_sink/{}/params={params_name}/{date}.json", &db[..12])
}

/// Dates whose freshness is checked at once (a few requests each on GCS/S3).
const CHECKS_AT_ONCE: usize = 16;

/// Whether a parameter set's results for `date` must be computed (or sunk)
/// again: the result is missing or older than one of the date's
/// `orats_strikes` files (a source converted again, then the run killed), or
/// the sink marker is missing or older than the result.
async fn needs_work(
    lake: &Location,
    sink: Option<&PgSink>,
    name: &str,
    date: NaiveDate,
) -> Result<bool> {
    use object_store::ObjectStoreExt;
    let result_path = lake.child(&format!(
        "{}/part.parquet",
        crate::lake::metrics_partition(name, date)
    ));
    let result = match lake.store.head(&result_path).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    if newest_strikes_file(lake, date)
        .await?
        .is_some_and(|t| t > result.last_modified)
    {
        return Ok(true);
    }
    match sink {
        Some(sink) => marker_is_stale(lake, sink, name, date, result.last_modified).await,
        None => Ok(false),
    }
}

/// Whether the sink marker of `name` and `date` is missing or older than
/// `written`, the time the rows it records were written to the lake.
async fn marker_is_stale(
    lake: &Location,
    sink: &PgSink,
    name: &str,
    date: NaiveDate,
    written: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    use object_store::ObjectStoreExt;
    match lake
        .store
        .head(&lake.child(&sink_marker(sink, name, date)))
        .await
    {
        Ok(marker) => Ok(marker.last_modified < written),
        Err(object_store::Error::NotFound { .. }) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Records a sink marker for each of `dates` on which no row of `report`
/// soft-failed: those dates' rows of `name` are in the database.
async fn write_markers(
    lake: &Location,
    sink: &PgSink,
    name: &str,
    dates: &[NaiveDate],
    report: &SinkReport,
) -> Result<()> {
    let failed: std::collections::BTreeSet<NaiveDate> =
        report.soft_failed.iter().map(|f| f.trade_date).collect();
    for d in dates.iter().filter(|d| !failed.contains(d)) {
        let marker = serde_json::json!({"table": report.table, "params": name, "trade_date": d});
        crate::lake::writer::publish(
            &lake.store,
            &lake.child(&sink_marker(sink, name, *d)),
            bytes::Bytes::from(marker.to_string()),
        )
        .await?;
    }
    Ok(())
}

/// When the newest of a date's `orats_strikes` files was written.
async fn newest_strikes_file(
    lake: &Location,
    date: NaiveDate,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    let inputs = lake.child(&format!("{}/trade_date={date}", crate::lake::STRIKES_DIR));
    Ok(lake
        .store
        .list(Some(&inputs))
        .try_fold(
            None,
            |newest: Option<chrono::DateTime<chrono::Utc>>, m| async move {
                Ok(newest.max(Some(m.last_modified)))
            },
        )
        .await?)
}

/// Whether `date`'s `orats_daily` partition must be computed again: it is
/// missing or older than one of the date's `orats_strikes` files.
async fn daily_needs_work(lake: &Location, date: NaiveDate) -> Result<bool> {
    use object_store::ObjectStoreExt;
    let path = lake.child(&crate::lake::daily_file(date));
    let written = match lake.store.head(&path).await {
        Ok(meta) => meta.last_modified,
        Err(object_store::Error::NotFound { .. }) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    Ok(newest_strikes_file(lake, date)
        .await?
        .is_some_and(|t| t > written))
}

/// The `params` segment of `orats_daily`'s sink markers (no parameter set has
/// this name: profile names are `a3`, `v2` and `<profile>-<hash8>`).
const DAILY_MARKER: &str = "orats_daily";

/// Whether `date`'s `orats_daily` partition still has to reach the database:
/// its sink marker is missing or older than the partition.
async fn daily_needs_sink(lake: &Location, sink: &PgSink, date: NaiveDate) -> Result<bool> {
    use object_store::ObjectStoreExt;
    let written = match lake
        .store
        .head(&lake.child(&crate::lake::daily_file(date)))
        .await
    {
        Ok(meta) => meta.last_modified,
        Err(object_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    marker_is_stale(lake, sink, DAILY_MARKER, date, written).await
}

/// Upserts the `orats_daily` partitions of `dates` into Postgres, a month of
/// dates at a time, and records a sink marker for each date none of whose rows
/// soft-failed. Returns (rows stored, rows soft-failed).
pub async fn sink_daily(
    lake: &Location,
    sink: &PgSink,
    dates: &[NaiveDate],
) -> Result<(usize, usize)> {
    let (mut stored, mut soft) = (0, 0);
    for chunk in dates.chunks(DAILY_DATES_PER_UPSERT) {
        let mut batches = Vec::with_capacity(chunk.len());
        for date in chunk {
            batches.push(crate::daily::stored::read_partition(lake, *date).await?);
        }
        let report = sink.upsert_orats_daily(&batches).await?;
        info!(
            table = report.table,
            dates = chunk.len(),
            written = report.written,
            unchanged = report.unchanged,
            retries = report.retries,
            soft_failed = report.soft_failed.len(),
            "sink: summary"
        );
        write_markers(lake, sink, DAILY_MARKER, chunk, &report).await?;
        stored += report.written + report.unchanged;
        soft += report.soft_failed.len();
    }
    Ok((stored, soft))
}

/// The dates of `dates` for which `stale` holds, in order; the checks run
/// [`CHECKS_AT_ONCE`] at a time (a few requests each on GCS/S3).
async fn stale_dates<F, Fut>(
    dates: &std::collections::BTreeSet<NaiveDate>,
    stale: F,
) -> Result<Vec<NaiveDate>>
where
    F: Fn(NaiveDate) -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let checks: Vec<(NaiveDate, bool)> = futures::stream::iter(dates.iter().copied())
        .map(|d| {
            let check = stale(d);
            async move { Ok::<_, anyhow::Error>((d, check.await?)) }
        })
        .buffered(CHECKS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(checks
        .into_iter()
        .filter(|(_, stale)| *stale)
        .map(|(d, _)| d)
        .collect())
}

/// `orats_daily` dates upserted per statement group: about 5,600 rows a date.
const DAILY_DATES_PER_UPSERT: usize = 20;

/// Sinks one chunk's results, then records a sink marker for each of its dates
/// that no ticker soft-failed on. Returns (params name, rows stored, soft failures).
async fn sink_chunk(
    lake: &Location,
    sink: &PgSink,
    params: &MetricsParams,
    chunk: &[NaiveDate],
    summary: &MetricsSummary,
) -> Result<(String, usize, usize)> {
    let name = params.name();
    let sunk = sink_results(sink, params, &summary.batches).await?;
    write_markers(lake, sink, &name, chunk, &sunk).await?;
    Ok((name, sunk.written + sunk.unchanged, sunk.soft_failed.len()))
}

impl Chain {
    fn engine(&self) -> Engine {
        Engine {
            jobs: self.ingest.jobs,
            cluster: self.cluster.clone(),
        }
    }

    /// Ingests the sources, then computes every parameter set for each date
    /// that is new or whose results (or sink marker) are missing or stale,
    /// then sinks. Each step is idempotent and leaves a record only when
    /// complete, so a killed run, run again, ends in the state an
    /// uninterrupted run reaches.
    pub async fn run(
        &self,
        sources: Vec<crate::ingest::Source>,
        sink: Option<&PgSink>,
    ) -> Result<ChainReport> {
        use crate::lake::ledger;
        let lake = &self.ingest.lake;
        let t0 = Instant::now();
        let sources = match &self.shard {
            Some(shard) => {
                let all = sources.len();
                let mine: Vec<_> = sources.into_iter().filter(|s| shard.takes(s)).collect();
                info!(shard = %shard, archives = mine.len(), of = all, "backfill: this shard's archives");
                mine
            }
            None => sources,
        };
        let selected = sources.clone();
        let ingest = ingest(sources, &self.ingest).await;
        ingest.log_summary();
        let stage_ingest = t0.elapsed().as_secs_f64();

        // Every date the selected sources hold, per their ledger entries.
        let touched: std::collections::BTreeSet<NaiveDate> =
            ingest.touched_dates().into_iter().collect();
        let mut dates = touched.clone();
        for s in &selected {
            if let Some(entry) =
                ledger::read(&lake.store, &lake.child(&crate::lake::ledger_file(&s.stem))).await?
            {
                dates.extend(entry.partitions.iter().map(|p| p.trade_date));
            }
        }
        let mut report = ChainReport {
            ingest,
            ..Default::default()
        };
        // The dates each parameter set has to (re)compute.
        let mut todos = Vec::with_capacity(self.params.len());
        for params in &self.params {
            let name = params.name();
            let touched = &touched;
            let todo = stale_dates(&dates, |d| {
                let name = name.clone();
                async move { Ok(touched.contains(&d) || needs_work(lake, sink, &name, d).await?) }
            })
            .await?;
            if todo.is_empty() {
                info!(params = %name, "metrics: every date is up to date");
            }
            todos.push((params, name, todo));
        }
        // Chunks of every set's dates: in each, one scan of the strikes feeds every
        // set that has dates in it.
        let every: Vec<NaiveDate> = todos
            .iter()
            .flat_map(|(_, _, todo)| todo.iter().copied())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let work: Vec<Vec<(&MetricsParams, Vec<NaiveDate>)>> = every
            .chunks(dates_per_query(self.cluster.as_ref()))
            .map(|chunk| {
                todos
                    .iter()
                    .map(|(params, _, todo)| {
                        let dates = chunk.iter().filter(|d| todo.contains(d)).copied();
                        (*params, dates.collect::<Vec<_>>())
                    })
                    .filter(|(_, dates)| !dates.is_empty())
                    .collect()
            })
            .collect();
        // A chunk is sunk while the next one is computed: the sink mostly waits on the
        // server, so the cores stay busy. At most one sink runs at a time, and a chunk's
        // sink markers are written only after its rows are in the database.
        let (mut metrics_s, mut sink_s) = (0.0, 0.0);
        let mut computed: Vec<(&MetricsParams, Vec<NaiveDate>, MetricsSummary)> = Vec::new();
        for next in work.into_iter().map(Some).chain([None]) {
            let compute_next = async {
                let Some(sets) = next else {
                    return Ok(None);
                };
                let t = Instant::now();
                let runs: Vec<MetricsRun> = sets
                    .iter()
                    .map(|(params, _)| MetricsRun {
                        lake: lake.clone(),
                        params: (*params).clone(),
                        tickers: self.tickers.clone(),
                        jobs: self.ingest.jobs,
                        cluster: self.cluster.clone(),
                    })
                    .collect();
                let dates: Vec<Vec<NaiveDate>> = sets.iter().map(|(_, d)| d.clone()).collect();
                let summaries = run_together(&runs, &dates, sink.is_some()).await?;
                let done: Vec<_> = sets
                    .into_iter()
                    .zip(summaries)
                    .map(|((params, dates), summary)| (params, dates, summary))
                    .collect();
                Ok::<_, anyhow::Error>(Some((done, t.elapsed())))
            };
            let previous = std::mem::take(&mut computed);
            let sink_previous = async {
                let Some(sink) = sink else {
                    return Ok::<_, anyhow::Error>((Vec::new(), 0.0));
                };
                let t = Instant::now();
                let mut sunk = Vec::new();
                for (params, dates, summary) in &previous {
                    sunk.push(sink_chunk(lake, sink, params, dates, summary).await?);
                }
                Ok((sunk, t.elapsed().as_secs_f64()))
            };
            let (next_done, sunk) = tokio::join!(compute_next, sink_previous);
            let (sunk, elapsed) = sunk?;
            report.sunk.extend(sunk);
            sink_s += elapsed;
            if let Some((done, elapsed)) = next_done? {
                metrics_s += elapsed.as_secs_f64();
                for (_, _, summary) in &done {
                    report.ticker_rows += summary.rows;
                    for (status, n) in &summary.by_status {
                        *report.by_status.entry(status.clone()).or_default() += n;
                    }
                }
                computed = done;
            }
        }
        // orats_daily: the dates whose strikes are new or newer than their
        // partition (a killed run leaves them missing), then every later date
        // whose history they change.
        let t = Instant::now();
        let daily_todo = stale_dates(&dates, |d| {
            let touched = &touched;
            async move { Ok(touched.contains(&d) || daily_needs_work(lake, d).await?) }
        })
        .await?;
        if let Some(shard) = &self.shard {
            // Each date's history reaches into other shards' dates.
            info!(
                shard = %shard,
                dates = daily_todo.len(),
                "orats_daily: left to the run after the shards (gexlake daily --from FIRST --to LAST)"
            );
        } else if daily_todo.is_empty() {
            info!("orats_daily: every date is up to date");
        } else {
            report.daily = crate::daily::compute_dates(lake, &daily_todo, self.engine()).await?;
        }
        if let (Some(sink), None) = (sink, &self.shard) {
            // The dates just written, and those a killed run left unsunk.
            let mut to_sink: std::collections::BTreeSet<NaiveDate> =
                report.daily.written.iter().copied().collect();
            to_sink.extend(stale_dates(&dates, |d| daily_needs_sink(lake, sink, d)).await?);
            let to_sink: Vec<NaiveDate> = to_sink.into_iter().collect();
            let (stored, soft) = sink_daily(lake, sink, &to_sink).await?;
            report.sunk.push((DAILY_MARKER.to_string(), stored, soft));
        }
        let daily_s = t.elapsed().as_secs_f64();
        report.computed = todos
            .into_iter()
            .filter(|(_, _, todo)| !todo.is_empty())
            .map(|(_, name, todo)| (name, todo))
            .collect();
        report.stage_seconds = [stage_ingest, metrics_s, sink_s];
        let files = report.ingest.files.len().max(1) as f64;
        let status = |s: &str| report.by_status.get(s).copied().unwrap_or(0);
        let total_s = t0.elapsed().as_secs_f64();
        info!(
            files = report.ingest.files.len(),
            converted_files = report.ingest.converted().count(),
            failed_files = report.ingest.failed(),
            rows_rejected = report.ingest.rows_rejected(),
            dates = dates.len(),
            first_date = %dates.first().map(|d| d.to_string()).unwrap_or_default(),
            last_date = %dates.last().map(|d| d.to_string()).unwrap_or_default(),
            computed = %report.computed.iter().map(|(n, d)| format!("{n}:{}", d.len())).collect::<Vec<_>>().join(" "),
            ticker_rows = report.ticker_rows,
            full = status("FULL"),
            limited = status("LIMITED"),
            invalid = status("INVALID"),
            sunk_rows = report.sunk.iter().map(|s| s.1).sum::<usize>(),
            soft_failed_tickers = report.sunk.iter().map(|s| s.2).sum::<usize>(),
            ingest_s = format!("{stage_ingest:.2}"),
            metrics_s = format!("{metrics_s:.2}"),
            sink_s = format!("{sink_s:.2}"),
            daily_dates = report.daily.written.len(),
            daily_recomputed = report.daily.recomputed,
            daily_skipped_symbols = report.daily.skipped_symbols,
            daily_s = format!("{daily_s:.2}"),
            per_file_s = format!("{:.3}", stage_ingest / files),
            per_ticker_ms = format!("{:.3}", (metrics_s + sink_s) * 1e3 / report.ticker_rows.max(1) as f64),
            total_s = format!("{total_s:.2}"),
            "run summary"
        );
        Ok(report)
    }
}

/// The `ingest` job: converts the archives that `inputs` name into the lake, once.
pub async fn run_ingest(
    inputs: &[String],
    selection: &Selection,
    options: &IngestOptions,
) -> Result<Outcome> {
    let sources = discover(inputs, selection).await?;
    info!(
        inputs = ?inputs,
        lake = %options.lake,
        pattern = %selection.pattern,
        from = ?selection.from,
        to = ?selection.to,
        jobs = options.jobs,
        force = options.force,
        strict = options.strict,
        files = sources.len(),
        "ingest: run header"
    );
    if sources.is_empty() {
        warn!("no archives matched");
    }
    let report = ingest(sources, options).await;
    report.log_summary();
    Ok(report.outcome())
}

/// The `metrics` job: computes and writes the runs' metrics for the selected
/// dates (several runs together, from one read of the strikes), then upserts
/// each run's rows when given a sink.
pub async fn run_metrics(
    runs: &[MetricsRun],
    selection: &DateSelection,
    sink: Option<&PgSink>,
) -> Result<Outcome> {
    let Some(first) = runs.first() else {
        return Ok(Outcome::default());
    };
    let dates = resolve_dates(&first.lake, selection).await?;
    let summaries = run_together(runs, &vec![dates; runs.len()], sink.is_some()).await?;
    let mut soft_failed = 0;
    if let Some(sink) = sink {
        for (run, summary) in runs.iter().zip(&summaries) {
            soft_failed += sink_results(sink, &run.params, &summary.batches)
                .await?
                .soft_failed
                .len();
        }
    }
    Ok(Outcome {
        soft_failed,
        ..Outcome::default()
    })
}

/// The `daily` job: computes `orats_daily` for the selected dates (and the
/// later ones whose history they change), then upserts every date written
/// when given a sink.
pub async fn run_daily(
    lake: &Location,
    selection: &DateSelection,
    engine: Engine,
    sink: Option<&PgSink>,
) -> Result<Outcome> {
    info!(
        lake = %lake,
        selection = ?selection,
        jobs = engine.jobs,
        cluster = %engine.cluster.as_ref().map_or("none (this process)".to_string(), |c| c.to_string()),
        "daily: run header"
    );
    let started = Instant::now();
    let report = crate::daily::run(lake, selection, engine).await?;
    // Every date written goes to the database, the recomputed later ones too.
    let (sunk, soft_failed) = match sink {
        Some(sink) => sink_daily(lake, sink, &report.written).await?,
        None => (0, 0),
    };
    info!(
        dates = report.written.len(),
        recomputed = report.recomputed,
        rows = report.rows,
        skipped_symbols = report.skipped_symbols,
        sunk_rows = sunk,
        soft_failed_rows = soft_failed,
        seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
        "daily: summary"
    );
    Ok(Outcome {
        soft_failed,
        ..Outcome::default()
    })
}

/// The `backfill` job: the archives of `input` through [`Chain::run`].
pub async fn run_backfill(
    input: &str,
    selection: &Selection,
    chain: &Chain,
    sink: Option<&PgSink>,
) -> Result<Outcome> {
    let sources = discover(&[input.to_string()], selection).await?;
    let profiles: Vec<Profile> = chain.params.iter().map(|p| p.profile).collect();
    info!(
        input = %input,
        lake = %chain.ingest.lake,
        pattern = %selection.pattern,
        from = ?selection.from,
        to = ?selection.to,
        files = sources.len(),
        jobs = chain.ingest.jobs,
        cluster = %chain.cluster.as_ref().map_or("none (this process)".to_string(), |c| c.to_string()),
        shard = %chain.shard.map_or("none (every archive)".to_string(), |s| s.to_string()),
        profiles = ?profiles,
        database = %sink.map_or("none (Parquet results only)".to_string(), |s| s.url().to_string()),
        "backfill: run header"
    );
    Ok(chain.run(sources, sink).await?.outcome())
}
