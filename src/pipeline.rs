//! The jobs users run, chaining the stages: metrics over a date range (with
//! its run header, heartbeats and summary).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use tracing::{debug, info};

use crate::metrics::MetricsParams;
use crate::metrics::engine::{DateSelection, compute, lake_session, resolve_dates, write_partitions};
use crate::progress::{Heartbeat, Progress};
use crate::store::Location;

/// Trade dates computed in one query: bounds the memory of the strike-level
/// aggregation (~200K strikes a day) while keeping per-query overhead small.
pub const DATES_PER_QUERY: usize = 5;

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

impl MetricsSummary {
    /// Exit status: soft failures (INVALID tickers) are results, not errors.
    pub fn exit_code(&self) -> u8 {
        crate::cli::EXIT_OK
    }
}

impl MetricsRun {
    /// Computes and writes the metrics of the selected dates.
    pub async fn run(&self, selection: &DateSelection) -> Result<MetricsSummary> {
        self.run_keeping(selection, false).await
    }

    /// Like [`MetricsRun::run`]; with `keep`, the result batches are returned too.
    pub async fn run_keeping(&self, selection: &DateSelection, keep: bool) -> Result<MetricsSummary> {
        let started = Instant::now();
        let dates = resolve_dates(&self.lake, selection).await?;
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
            "metrics: run header"
        );
        let ctx = lake_session(&self.lake, self.jobs).await?;
        let progress = Progress::files(dates.len() as u64, "metrics");
        let heartbeat = Heartbeat::start("metrics", dates.len() as u64);
        let mut summary = MetricsSummary {
            dates: dates.clone(),
            ..Default::default()
        };
        for chunk in dates.chunks(DATES_PER_QUERY) {
            let t = Instant::now();
            let batches = compute(&ctx, &self.params, chunk, self.tickers.as_deref()).await?;
            let written = write_partitions(&self.lake, &self.params, &batches).await?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            count_status(&batches, &mut summary.by_status);
            summary.rows += rows;
            summary.written.extend(written);
            debug!(
                dates = chunk.len(),
                rows,
                seconds = format!("{:.3}", t.elapsed().as_secs_f64()),
                "metrics: chunk done"
            );
            for d in chunk {
                progress.advance(&format!("{d}, {} rows", summary.rows));
                heartbeat.tick(&format!("{d} done, {} rows", summary.rows));
            }
            if keep {
                summary.batches.extend(batches);
            }
        }
        progress.finish();
        heartbeat.stop();
        summary.elapsed = started.elapsed();
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
        Ok(summary)
    }
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
