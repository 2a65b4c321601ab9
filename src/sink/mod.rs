//! The Postgres sink: upserts [`DealerMetrics`] into `daily_snapshots` (profile a3, the A3
//! JSON) and `gex_metrics_snapshot` (profile v2, the handoff's flat columns), and the lake's
//! `orats_daily` batches into `orats_daily`, after applying the migrations in `migrations/`
//! (which create the tables, or adopt existing ones).
//!
//! Rows are written in batches, one UNNEST statement per batch (or, for a new day of
//! `daily_snapshots`, one binary COPY), each statement its own transaction, several batches
//! in flight. A batch rejected for its data is split in halves until the offending rows
//! stand alone, so a bad row soft-fails only its ticker. Transient errors are retried with
//! exponential backoff; when the retries run out the batch's tickers soft-fail, and so do the
//! remaining batches without further attempts (the database is then considered down, which
//! bounds how long a run stalls). Soft failures are reported in [`SinkReport`], not returned
//! as errors; re-running the same rows later converges to the uninterrupted result.

mod error;
mod orats_daily;
mod redact;
mod tables;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use chrono::NaiveDate;
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};

pub use error::SinkError;
pub use redact::{DatabaseUrl, redact_url};

use crate::metrics::DealerMetrics;
use error::{
    is_insufficient_privilege, is_refused_migration, is_row_specific, is_transient,
    is_transient_migration, is_undefined_table,
};
use orats_daily::OratsDailyUpsert;
use redact::Redactor;
use tables::{MetricsUpsert, Table, TickerIds, last_per_key};

static MIGRATOR: Migrator = sqlx::migrate!();

/// Tuning of a [`PgSink`]; the default suits the daily run.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Rows per statement; 1 writes one statement per row (kept for comparisons).
    pub batch_size: usize,
    /// Retries of a transient failure before the affected tickers soft-fail.
    pub max_retries: usize,
    /// First backoff delay; it doubles per retry, with jitter.
    pub retry_min_delay: Duration,
    /// How long one attempt waits for a pooled connection (the server may be restarting).
    pub acquire_timeout: Duration,
    /// Connections in the pool (at least one more than `concurrency`).
    pub max_connections: u32,
    /// Batches in flight at once (each on its own connection): the server parses and
    /// stores the JSON documents of one batch per backend, so two or more keep more
    /// than one server core busy.
    pub concurrency: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_retries: 3,
            retry_min_delay: Duration::from_secs(1),
            acquire_timeout: Duration::from_secs(5),
            max_connections: 4,
            concurrency: 3,
        }
    }
}

/// One row that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftFail {
    /// The row's ticker.
    pub ticker: String,
    /// The row's trade date.
    pub trade_date: NaiveDate,
    /// The database's (password-free) reason.
    pub reason: String,
}

/// What one upsert call did: every distinct input row is written, unchanged or soft-failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkReport {
    /// The table written.
    pub table: &'static str,
    /// Rows inserted, or updated because a value changed.
    pub written: usize,
    /// Rows already stored with the same values, left untouched.
    pub unchanged: usize,
    /// Input rows dropped because a later input row had the same key.
    pub duplicates: usize,
    /// `gex_metrics_snapshot`: results of tickers with no counted row, which the
    /// production job writes no row for (METRICS.md §10).
    pub not_counted: usize,
    /// Transient failures that were retried.
    pub retries: usize,
    /// Rows not written.
    pub soft_failed: Vec<SoftFail>,
}

impl SinkReport {
    fn new(table: &'static str) -> Self {
        Self {
            table,
            written: 0,
            unchanged: 0,
            duplicates: 0,
            not_counted: 0,
            retries: 0,
            soft_failed: Vec::new(),
        }
    }

    fn soft_fail<R: Keyed>(&mut self, batch: &[R], reason: &str) {
        for row in batch {
            warn!(
                table = self.table,
                ticker = row.ticker(),
                trade_date = %row.trade_date(),
                reason,
                "row soft-failed"
            );
            self.soft_failed.push(SoftFail {
                ticker: row.ticker().to_string(),
                trade_date: row.trade_date(),
                reason: reason.to_string(),
            });
        }
    }

    /// Adds the counts and soft failures of a part of the same upsert.
    fn absorb(&mut self, part: SinkReport) {
        self.written += part.written;
        self.unchanged += part.unchanged;
        self.duplicates += part.duplicates;
        self.retries += part.retries;
        self.soft_failed.extend(part.soft_failed);
    }

    fn log_finished(&self, started: Instant) {
        info!(
            table = self.table,
            written = self.written,
            unchanged = self.unchanged,
            duplicates = self.duplicates,
            not_counted = self.not_counted,
            retries = self.retries,
            soft_failed = self.soft_failed.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "upsert finished"
        );
    }

    /// The soft-failed tickers, in input order.
    pub fn soft_failed_tickers(&self) -> Vec<&str> {
        self.soft_failed.iter().map(|f| f.ticker.as_str()).collect()
    }
}

/// A row of an upsert, as reports name it: its ticker (or symbol) and trade date.
pub(crate) trait Keyed {
    /// The row's ticker or symbol.
    fn ticker(&self) -> &str;
    /// The row's trade date.
    fn trade_date(&self) -> NaiveDate;
}

/// One table's upsert statement, which the batching, retries and splitting drive.
pub(crate) trait Upsert: Sync {
    /// What one input row is.
    type Row: Keyed + Sync;

    /// The table's name.
    fn table(&self) -> &'static str;

    /// Upserts `rows` (unique keys) in one statement; returns how many were inserted or
    /// changed.
    fn write<'a>(
        &'a self,
        pool: &'a PgPool,
        rows: &'a [Self::Row],
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;
}

/// A connection pool to the metrics database, and the upserts into it.
pub struct PgSink {
    pool: PgPool,
    redactor: Redactor,
    options: SinkOptions,
    migrated: OnceCell<()>,
    /// The `tickers` ids of the symbols written so far (cleared when a row soft-fails).
    ticker_ids: Mutex<TickerIds>,
}

impl fmt::Debug for PgSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSink")
            .field("url", &self.redactor.url())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl PgSink {
    /// Connects with [`SinkOptions::default`].
    pub async fn connect(url: &str) -> Result<Self, SinkError> {
        Self::connect_with(url, SinkOptions::default()).await
    }

    /// Checks that `url` accepts a connection (retrying transient failures), then opens a pool.
    pub async fn connect_with(url: &str, options: SinkOptions) -> Result<Self, SinkError> {
        let redactor = Redactor::new(url);
        let connect_options =
            PgConnectOptions::from_str(url).map_err(|e| SinkError::InvalidUrl {
                url: redactor.url().to_string(),
                reason: redactor.scrub(&e),
            })?;
        // A direct first connection reports the real cause (refused, bad password); a pool
        // would only say that it timed out.
        let mut retries = 0;
        let probe = with_retries(&options, &redactor, &mut retries, is_transient, || {
            PgConnection::connect_with(&connect_options)
        })
        .await
        .map_err(|e| SinkError::Connect {
            url: redactor.url().to_string(),
            reason: redactor.scrub(&e),
        })?;
        // The pool opens its own connections; how this one closes does not matter.
        let _ = probe.close().await;
        // Every batch in flight holds a connection, and one more registers tickers.
        let connections = options.max_connections.max(
            u32::try_from(options.concurrency)
                .unwrap_or(u32::MAX)
                .saturating_add(1),
        );
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect_options);
        info!(url = redactor.url(), "connected to Postgres");
        Ok(Self {
            pool,
            redactor,
            options,
            migrated: OnceCell::new(),
            ticker_ids: Mutex::new(TickerIds::new()),
        })
    }

    /// The database URL, password masked.
    pub fn url(&self) -> &str {
        self.redactor.url()
    }

    /// Applies the migrations, once per `PgSink` (the upserts call it first).
    ///
    /// A database that already holds every migration is left alone without taking the
    /// migrator's lock or issuing its `CREATE TABLE IF NOT EXISTS`, which PostgreSQL refuses
    /// to a role without CREATE on the schema even when the table exists. So the nightly job
    /// can run as a role that may only read and write the tables, once the schema's owner has
    /// run `gexlake migrate` (README, "Postgres").
    pub async fn migrate(&self) -> Result<(), SinkError> {
        self.migrated
            .get_or_try_init(|| async {
                let mut retries = 0;
                let current = with_retries(
                    &self.options,
                    &self.redactor,
                    &mut retries,
                    is_transient,
                    || migrations_current(&self.pool),
                )
                .await;
                let current = match current {
                    Ok(current) => current,
                    // The database stayed unavailable through the retries: the migrator
                    // would only wait as long again.
                    Err(e) if is_transient(&e) => {
                        return Err(SinkError::Migrate {
                            url: self.url().to_string(),
                            reason: self.redactor.scrub(&e),
                        });
                    }
                    // Anything else (a migrations table of another shape): the migrator
                    // decides, and reports what it finds.
                    Err(_) => false,
                };
                if current {
                    info!(url = self.url(), "migrations already applied");
                    return Ok(());
                }
                with_retries(
                    &self.options,
                    &self.redactor,
                    &mut retries,
                    is_transient_migration,
                    || MIGRATOR.run(&self.pool),
                )
                .await
                .map_err(|e| SinkError::Migrate {
                    url: self.url().to_string(),
                    reason: migration_failure(&self.redactor, &e),
                })?;
                info!(url = self.url(), "migrations applied");
                Ok(())
            })
            .await
            .copied()
    }

    /// Upserts profile-a3 results into `daily_snapshots` keyed by (time = snapshot_ts,
    /// ticker_id), registering unknown tickers.
    ///
    /// Only `dealer_metrics_json`, `model_version` and `updated_at` are written; the columns
    /// other pipelines own are never touched. `updated_at` is set when a row is inserted and
    /// bumped only when the JSON or the model version actually changes, so it records when
    /// the metrics last changed, not when a run last passed (a re-run leaves it alone).
    ///
    /// Rows at a snapshot time the table holds no row at yet (a new day, the nightly's case)
    /// are copied in with binary COPY, which costs the server less than the statements
    /// (plain INSERTs where the table's column types or a missing `updated_at` default rule
    /// the binary format out, or the server refuses COPY, as under row-level security); a
    /// batch that meets a row another writer stored meanwhile is upserted instead, with the
    /// same result.
    pub async fn upsert_daily_snapshots(
        &self,
        rows: &[DealerMetrics],
    ) -> Result<SinkReport, SinkError> {
        self.upsert(Table::DailySnapshots, rows).await
    }

    /// Upserts profile-v2 results into `gex_metrics_snapshot` keyed by (symbol, snapshot_ts):
    /// net_gex = gex_net, gamma_flip_level = gamma_flip, contracts_analyzed as the parameters
    /// count it (v2: counted rows). A ticker with nothing counted gets no row, as in production.
    ///
    /// Numbers are stored exactly (they read back as the same f64). A row is updated only when
    /// a value changed; `net_vex` and `net_charm` stay NULL and `created_at` keeps the first
    /// insert's time.
    pub async fn upsert_gex_metrics(
        &self,
        rows: &[DealerMetrics],
    ) -> Result<SinkReport, SinkError> {
        self.upsert(Table::GexMetricsSnapshot, rows).await
    }

    async fn upsert(&self, table: Table, rows: &[DealerMetrics]) -> Result<SinkReport, SinkError> {
        if let Some(m) = rows.iter().find(|m| m.params.profile != table.profile()) {
            return Err(SinkError::WrongProfile {
                table: table.name(),
                expected: table.profile(),
                found: m.params.profile,
                ticker: m.ticker.clone(),
                trade_date: m.trade_date,
            });
        }
        self.migrate().await?;
        let started = Instant::now();
        let (mut rows, duplicates) = last_per_key(rows);
        let mut report = SinkReport::new(table.name());
        report.duplicates = duplicates;
        if table == Table::GexMetricsSnapshot {
            let before = rows.len();
            rows.retain(|m| m.contracts_analyzed > 0);
            report.not_counted = before - rows.len();
        }
        let mut known = TickerIds::new();
        let mut existing = None;
        if table == Table::DailySnapshots {
            // All new symbols in one sorted statement before the batches run side by side,
            // so ticker ids do not depend on which batch reaches the server first; the
            // batches then take their ids from this map instead of asking again. Ids found
            // by earlier calls are kept, so a backfill's next day asks only for new symbols.
            let unknown: Vec<&DealerMetrics> = {
                let ids = self.ticker_ids.lock().expect("not poisoned");
                rows.iter()
                    .copied()
                    .filter(|m| !ids.contains_key(&m.ticker))
                    .collect()
            };
            if !unknown.is_empty()
                && let Some(ids) = self
                    .best_effort(
                        &mut report,
                        "ticker registration deferred to the batches",
                        || tables::ticker_ids(&self.pool, &unknown),
                    )
                    .await
            {
                self.ticker_ids.lock().expect("not poisoned").extend(ids);
            }
            known = self.ticker_ids.lock().expect("not poisoned").clone();
            // Times the table holds no row at yet (a new day) are copied in (or inserted),
            // not upserted.
            existing = self
                .best_effort(
                    &mut report,
                    "existing rows not checked; every batch upserts",
                    || tables::existing(&self.pool, &rows),
                )
                .await;
        }
        let upsert = MetricsUpsert {
            table,
            known: &known,
            existing: existing.as_ref(),
        };
        report.absorb(self.write_all(&upsert, &rows).await);
        if !report.soft_failed.is_empty() {
            // A failed row may be a ticker another writer removed: ask again next time.
            self.ticker_ids.lock().expect("not poisoned").clear();
        }
        report.log_finished(started);
        Ok(report)
    }

    /// Runs a step the batches can do without: transient failures are retried (and counted
    /// in `report`); a final failure is logged at debug level with `fallback`, what happens
    /// instead, and gives `None`.
    async fn best_effort<T, Fut>(
        &self,
        report: &mut SinkReport,
        fallback: &str,
        op: impl FnMut() -> Fut,
    ) -> Option<T>
    where
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        match with_retries(
            &self.options,
            &self.redactor,
            &mut report.retries,
            is_transient,
            op,
        )
        .await
        {
            Ok(value) => Some(value),
            Err(err) => {
                debug!(error = %self.redactor.scrub(&err), "{fallback}");
                None
            }
        }
    }

    /// Upserts the lake's `orats_daily` rows (the columns of ORATS_DAILY.md §2–3 and
    /// `asof_date`, in any batch split or order) into `orats_daily`, keyed by (asof_date, symbol).
    ///
    /// Only the contract's columns and `updated_at` are written, so the other columns of an
    /// existing V1 table survive; `updated_at` moves only when a value changes. Rounded values
    /// are bound as float8 and cast by the column type (the contract's rounding). A key given
    /// twice keeps its last row. A row with a NaN or infinite value soft-fails without being
    /// sent; a missing or mistyped column, a null key or a date beyond the calendar fails the
    /// call before anything is written ([`SinkError::OratsDailyInput`]).
    pub async fn upsert_orats_daily(
        &self,
        batches: &[RecordBatch],
    ) -> Result<SinkReport, SinkError> {
        let columns = orats_daily::columns(batches)?;
        self.migrate().await?;
        let started = Instant::now();
        let mut report = SinkReport::new(orats_daily::TABLE);
        let rows = orats_daily::rows(&columns, &mut report);
        let upsert = OratsDailyUpsert { columns: &columns };
        report.absorb(self.write_all(&upsert, &rows).await);
        report.log_finished(started);
        Ok(report)
    }

    /// Writes `rows` in batches, several in flight at once.
    async fn write_all<U: Upsert>(&self, upsert: &U, rows: &[U::Row]) -> SinkReport {
        let mut report = SinkReport::new(upsert.table());
        let unavailable: Mutex<Option<String>> = Mutex::new(None);
        // The futures are made first: a stream holding the closure would not be `Send`.
        let unavailable = &unavailable;
        let batches: Vec<_> = rows
            .chunks(self.options.batch_size.max(1))
            .enumerate()
            .map(
                |(i, batch)| async move { (i, self.write_batch(upsert, batch, unavailable).await) },
            )
            .collect();
        // Unordered, so that a finished batch frees its place for the next at once (an ordered
        // stream holds it until the batches before it finish); the parts are put back in input
        // order for the report.
        let mut parts: Vec<(usize, SinkReport)> = futures::stream::iter(batches)
            .buffer_unordered(self.options.concurrency.max(1))
            .collect()
            .await;
        parts.sort_unstable_by_key(|(i, _)| *i);
        for (_, part) in parts {
            report.absorb(part);
        }
        report
    }

    /// Writes one batch; a batch the database rejects for its data is split in halves until
    /// only the bad rows soft-fail. Once the database is unavailable (a transient error
    /// outlasted the retries) the remaining batches are not attempted.
    async fn write_batch<U: Upsert>(
        &self,
        upsert: &U,
        batch: &[U::Row],
        unavailable: &Mutex<Option<String>>,
    ) -> SinkReport {
        let table = upsert.table();
        let mut report = SinkReport::new(table);
        // A stack, so that the halves of a split batch are written in order.
        let mut pending: Vec<&[U::Row]> = vec![batch];
        while let Some(batch) = pending.pop() {
            let down = unavailable.lock().expect("not poisoned").clone();
            if let Some(reason) = down {
                let reason = format!("not attempted, the database is unavailable: {reason}");
                report.soft_fail(batch, &reason);
                continue;
            }
            let batch_started = Instant::now();
            let result = with_retries(
                &self.options,
                &self.redactor,
                &mut report.retries,
                is_transient,
                || upsert.write(&self.pool, batch),
            )
            .await;
            match result {
                Ok(changed) => {
                    let changed = usize::try_from(changed).unwrap_or(batch.len());
                    report.written += changed;
                    report.unchanged += batch.len() - changed;
                    info!(
                        table,
                        rows = batch.len(),
                        written = changed,
                        unchanged = batch.len() - changed,
                        elapsed_ms = batch_started.elapsed().as_millis(),
                        "batch upserted"
                    );
                }
                Err(err) if batch.len() > 1 && is_row_specific(&err) => {
                    debug!(
                        table,
                        rows = batch.len(),
                        error = %self.redactor.scrub(&err),
                        "batch rejected for its data; splitting it"
                    );
                    let (head, tail) = batch.split_at(batch.len() / 2);
                    pending.push(tail);
                    pending.push(head);
                }
                Err(err) => {
                    let reason = self.explain(&err).await;
                    if is_transient(&err) {
                        *unavailable.lock().expect("not poisoned") = Some(reason.clone());
                    }
                    report.soft_fail(batch, &reason);
                }
            }
        }
        report
    }

    /// `err` as a password-free reason; a pool timeout says only that it timed out, so a
    /// direct connection attempt is made to name the cause.
    async fn explain(&self, err: &sqlx::Error) -> String {
        let reason = match err {
            sqlx::Error::Database(db) => {
                format!("{err} (SQLSTATE {})", db.code().unwrap_or_default())
            }
            sqlx::Error::PoolTimedOut => {
                let options = self.pool.connect_options();
                let attempt = PgConnection::connect_with(&options);
                match tokio::time::timeout(self.options.acquire_timeout, attempt).await {
                    Ok(Ok(conn)) => {
                        let _ = conn.close().await;
                        err.to_string()
                    }
                    Ok(Err(cause)) => format!("{err}: {cause}"),
                    Err(_) => format!("{err}: connecting directly timed out too"),
                }
            }
            _ => err.to_string(),
        };
        self.redactor.scrub(&reason)
    }
}

/// Runs `op`, retrying up to `options.max_retries` times with exponential backoff while
/// `transient` says so; counts the retries.
/// Whether the database holds every migration of [`MIGRATOR`], each applied successfully
/// with the checksum of the same file, and none that [`MIGRATOR`] does not know; read only.
/// Anything else (no `_sqlx_migrations` table, a migration missing, failed or changed, one
/// from a newer version, no right to read the table) is `false`, and the migrator then
/// applies what is missing or reports what is wrong.
async fn migrations_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<(i64, Vec<u8>, bool)> = match sqlx::query_as(
        "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await
    {
        Ok(rows) => rows,
        // No migrations table, or no right to read it.
        Err(e) if is_undefined_table(&e) || is_insufficient_privilege(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    let expected: Vec<(i64, &[u8])> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    Ok(applied.len() == expected.len()
        && applied
            .iter()
            .zip(&expected)
            .all(|((version, checksum, success), (want, sum))| {
                *success && version == want && checksum.as_slice() == *sum
            }))
}

/// A failed migration's reason, password masked; a refusal for lack of privilege says how
/// to apply the migrations instead.
fn migration_failure(redactor: &Redactor, err: &sqlx::migrate::MigrateError) -> String {
    let reason = redactor.scrub(err);
    if is_refused_migration(err) {
        format!(
            "{reason} (this role may not create or alter the sink's tables: apply the \
             migrations once with `gexlake migrate --database-url URL` as the schema's owner; \
             README, \"Postgres\", lists the grants the sink needs after that)"
        )
    } else {
        reason
    }
}

async fn with_retries<T, E, Fut>(
    options: &SinkOptions,
    redactor: &Redactor,
    retries: &mut usize,
    transient: fn(&E) -> bool,
    op: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    let backoff = ExponentialBuilder::new()
        .with_min_delay(options.retry_min_delay)
        .with_max_times(options.max_retries)
        .with_jitter();
    op.retry(backoff)
        .when(transient)
        .notify(|err, delay| {
            *retries += 1;
            warn!(
                error = %redactor.scrub(err),
                retry_in_ms = delay.as_millis(),
                "transient database error; retrying"
            );
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[tokio::test]
    async fn upserts_can_run_on_spawned_tasks() {
        let sink = PgSink {
            pool: PgPoolOptions::new().connect_lazy_with(PgConnectOptions::new()),
            redactor: Redactor::new("postgres://localhost/gex"),
            options: SinkOptions::default(),
            migrated: OnceCell::new(),
            ticker_ids: Mutex::new(TickerIds::new()),
        };
        assert_send(&sink.migrate());
        assert_send(&sink.upsert_daily_snapshots(&[]));
        assert_send(&sink.upsert_gex_metrics(&[]));
        assert_send(&sink.upsert_orats_daily(&[]));
    }
}
