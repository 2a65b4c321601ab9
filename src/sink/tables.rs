//! The two tables of dealer metrics: one UNNEST upsert statement per batch of rows.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use tracing::debug;

use super::{Keyed, Upsert};
use crate::metrics::json::DealerMetricsDocument;
use crate::metrics::{DealerMetrics, Profile};

/// A table the sink writes, and the profile whose results it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// A3 JSON per (time, ticker_id).
    DailySnapshots,
    /// V2 flat columns per (symbol, snapshot_ts).
    GexMetricsSnapshot,
}

/// Only the sink's columns change on conflict; `updated_at` moves only when they do.
///
/// The documents arrive as JSON text and become `jsonb` in the SELECT. The server parses
/// each one exactly once either way, but a `jsonb[]` parameter is parsed into one array of
/// values a third larger than the text, which the planner and UNNEST then copy whole: binding
/// `jsonb[]` took 10–20 % more server time per row (PostgreSQL 15; `benches/sink.rs` runs both).
const UPSERT_DAILY_SNAPSHOTS: &str = "
INSERT INTO daily_snapshots AS d (time, ticker_id, dealer_metrics_json, model_version, updated_at)
SELECT u.ts, u.ticker_id, u.doc::jsonb, u.model_version, now()
FROM UNNEST($1::timestamptz[], $2::int8[], $3::text[], $4::int4[])
    AS u(ts, ticker_id, doc, model_version)
ON CONFLICT (time, ticker_id) DO UPDATE
SET dealer_metrics_json = EXCLUDED.dealer_metrics_json,
    model_version = EXCLUDED.model_version,
    updated_at = EXCLUDED.updated_at
WHERE (d.dealer_metrics_json, d.model_version)
    IS DISTINCT FROM (EXCLUDED.dealer_metrics_json, EXCLUDED.model_version)";

/// The same rows as [`UPSERT_DAILY_SNAPSHOTS`] for a day the table holds no row of yet (the
/// nightly's new day): a plain INSERT skips the speculative insertion ON CONFLICT makes per
/// row (an extra probe of the unique index and a confirmation record in the WAL), about a
/// tenth of the server's time per row (PostgreSQL 15, `benches/sink.rs`). A row written by
/// another pipeline meanwhile makes it fail as a whole (unique_violation, nothing written),
/// and the batch is then upserted.
const INSERT_DAILY_SNAPSHOTS: &str = "
INSERT INTO daily_snapshots (time, ticker_id, dealer_metrics_json, model_version, updated_at)
SELECT u.ts, u.ticker_id, u.doc::jsonb, u.model_version, now()
FROM UNNEST($1::timestamptz[], $2::int8[], $3::text[], $4::int4[])
    AS u(ts, ticker_id, doc, model_version)";

/// Which of the given times daily_snapshots holds a row at (any pipeline's): one probe of
/// the (time, ticker_id) index per time.
const TIMES_PRESENT: &str = "
SELECT t.time FROM UNNEST($1::timestamptz[]) AS t(time)
WHERE EXISTS (SELECT 1 FROM daily_snapshots d WHERE d.time = t.time)";

/// The SQLSTATE of a unique violation.
const UNIQUE_VIOLATION: &str = "23505";

/// Numbers arrive as text so NUMERIC keeps every digit (see [`numeric_text`]); net_vex and
/// net_charm are not computed by model 1, so they are left NULL on insert and never touched.
const UPSERT_GEX_METRICS_SNAPSHOT: &str = "
INSERT INTO gex_metrics_snapshot AS g
    (symbol, snapshot_ts, spot_price, net_gex, net_dex, call_wall_strike, put_wall_strike,
     gamma_flip_level, contracts_analyzed)
SELECT u.symbol, u.snapshot_ts, u.spot_price::numeric, u.net_gex::numeric, u.net_dex::numeric,
    u.call_wall_strike::numeric, u.put_wall_strike::numeric, u.gamma_flip_level::numeric,
    u.contracts_analyzed
FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::int8[])
    AS u(symbol, snapshot_ts, spot_price, net_gex, net_dex, call_wall_strike, put_wall_strike,
         gamma_flip_level, contracts_analyzed)
ON CONFLICT (symbol, snapshot_ts) DO UPDATE
SET spot_price = EXCLUDED.spot_price,
    net_gex = EXCLUDED.net_gex,
    net_dex = EXCLUDED.net_dex,
    call_wall_strike = EXCLUDED.call_wall_strike,
    put_wall_strike = EXCLUDED.put_wall_strike,
    gamma_flip_level = EXCLUDED.gamma_flip_level,
    contracts_analyzed = EXCLUDED.contracts_analyzed
WHERE (g.spot_price, g.net_gex, g.net_dex, g.call_wall_strike, g.put_wall_strike,
       g.gamma_flip_level, g.contracts_analyzed)
    IS DISTINCT FROM (EXCLUDED.spot_price, EXCLUDED.net_gex, EXCLUDED.net_dex,
       EXCLUDED.call_wall_strike, EXCLUDED.put_wall_strike, EXCLUDED.gamma_flip_level,
       EXCLUDED.contracts_analyzed)";

const SELECT_TICKER_IDS: &str =
    "SELECT symbol::text, id::int8 FROM tickers WHERE symbol = ANY($1::text[])";

/// Only called with symbols just found missing: an INSERT … ON CONFLICT for known symbols
/// would still draw (and waste) a sequence value per row, every day.
const REGISTER_TICKERS: &str =
    "INSERT INTO tickers (symbol) SELECT unnest($1::text[]) ON CONFLICT (symbol) DO NOTHING";

impl Table {
    /// The table's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::DailySnapshots => "daily_snapshots",
            Table::GexMetricsSnapshot => "gex_metrics_snapshot",
        }
    }

    /// The profile whose results the table takes.
    pub(crate) fn profile(self) -> Profile {
        match self {
            Table::DailySnapshots => Profile::A3,
            Table::GexMetricsSnapshot => Profile::V2,
        }
    }
}

/// The upsert of dealer metrics into one of the two tables.
pub(crate) struct MetricsUpsert<'a> {
    /// The table written.
    pub(crate) table: Table,
    /// Ticker ids already registered; others are looked up (and registered) per batch.
    pub(crate) known: &'a TickerIds,
    /// `daily_snapshots`: the snapshot times the table already held rows at when the upsert
    /// began; a batch at other times only is inserted rather than upserted. `None` (not
    /// known) upserts every batch.
    pub(crate) present: Option<&'a HashSet<DateTime<Utc>>>,
}

impl<'r> Upsert for MetricsUpsert<'r> {
    type Row = &'r DealerMetrics;

    fn table(&self) -> &'static str {
        self.table.name()
    }

    async fn write<'a>(
        &'a self,
        pool: &'a PgPool,
        rows: &'a [Self::Row],
    ) -> Result<u64, sqlx::Error> {
        match self.table {
            Table::DailySnapshots => {
                let new_rows = self
                    .present
                    .is_some_and(|present| rows.iter().all(|m| !present.contains(&m.snapshot_ts)));
                write_daily_snapshots(pool, rows, self.known, new_rows).await
            }
            Table::GexMetricsSnapshot => write_gex_metrics_snapshot(pool, rows).await,
        }
    }
}

impl Keyed for &DealerMetrics {
    fn ticker(&self) -> &str {
        &self.ticker
    }

    fn trade_date(&self) -> NaiveDate {
        self.trade_date
    }
}

/// Keeps the last row per (ticker, snapshot_ts), in input order: one statement cannot update
/// a row twice, and a later row is the newer result. Returns the rows and how many were dropped.
pub(crate) fn last_per_key(rows: &[DealerMetrics]) -> (Vec<&DealerMetrics>, usize) {
    let mut last: HashMap<(&str, DateTime<Utc>), usize> = HashMap::with_capacity(rows.len());
    for (i, m) in rows.iter().enumerate() {
        last.insert((m.ticker.as_str(), m.snapshot_ts), i);
    }
    let kept: Vec<&DealerMetrics> = rows
        .iter()
        .enumerate()
        .filter(|(i, m)| last[&(m.ticker.as_str(), m.snapshot_ts)] == *i)
        .map(|(_, m)| m)
        .collect();
    let dropped = rows.len() - kept.len();
    (kept, dropped)
}

/// Writes one batch: inserted when `new_rows` (no row of the table was at these times when
/// the upsert began), upserted otherwise or when a row appeared meanwhile.
async fn write_daily_snapshots(
    pool: &PgPool,
    rows: &[&DealerMetrics],
    known: &TickerIds,
    new_rows: bool,
) -> Result<u64, sqlx::Error> {
    let looked_up;
    let ids = if rows.iter().all(|m| known.contains_key(&m.ticker)) {
        known
    } else {
        looked_up = ticker_ids(pool, rows).await?;
        &looked_up
    };
    let mut times = Vec::with_capacity(rows.len());
    let mut ticker_ids = Vec::with_capacity(rows.len());
    let mut docs = Vec::with_capacity(rows.len());
    let mut versions = Vec::with_capacity(rows.len());
    for m in rows {
        let id = ids.get(&m.ticker).copied().ok_or_else(|| {
            sqlx::Error::InvalidArgument(format!(
                "ticker {:?} is missing from tickers after registration",
                m.ticker
            ))
        })?;
        times.push(m.snapshot_ts);
        ticker_ids.push(id);
        let doc = serde_json::to_string(&DealerMetricsDocument::new(m))
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        docs.push(doc);
        versions.push(m.model_version);
    }
    let statement = |sql: &'static str| {
        sqlx::query(sql)
            .bind(&times)
            .bind(&ticker_ids)
            .bind(&docs)
            .bind(&versions)
    };
    if new_rows {
        match statement(INSERT_DAILY_SNAPSHOTS).execute(pool).await {
            Ok(done) => return Ok(done.rows_affected()),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => {
                debug!(
                    rows = rows.len(),
                    "daily_snapshots: another writer stored rows at these times meanwhile; upserting the batch"
                );
            }
            Err(err) => return Err(err),
        }
    }
    let done = statement(UPSERT_DAILY_SNAPSHOTS).execute(pool).await?;
    Ok(done.rows_affected())
}

/// The snapshot times of `rows` at which daily_snapshots already holds a row.
pub(crate) async fn times_present(
    pool: &PgPool,
    rows: &[&DealerMetrics],
) -> Result<HashSet<DateTime<Utc>>, sqlx::Error> {
    let times: BTreeSet<DateTime<Utc>> = rows.iter().map(|m| m.snapshot_ts).collect();
    let times: Vec<DateTime<Utc>> = times.into_iter().collect();
    let present: Vec<DateTime<Utc>> = sqlx::query_scalar(TIMES_PRESENT)
        .bind(&times)
        .fetch_all(pool)
        .await?;
    Ok(present.into_iter().collect())
}

async fn write_gex_metrics_snapshot(
    pool: &PgPool,
    rows: &[&DealerMetrics],
) -> Result<u64, sqlx::Error> {
    let numbers = |f: fn(&DealerMetrics) -> Option<f64>| -> Vec<Option<String>> {
        rows.iter().map(|m| numeric_text(f(m))).collect()
    };
    let done = sqlx::query(UPSERT_GEX_METRICS_SNAPSHOT)
        .bind(rows.iter().map(|m| m.ticker.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|m| m.snapshot_ts).collect::<Vec<_>>())
        .bind(numbers(|m| m.spot_price))
        .bind(numbers(|m| m.gex_net))
        .bind(numbers(|m| m.net_dex))
        .bind(numbers(|m| m.call_wall_strike))
        .bind(numbers(|m| m.put_wall_strike))
        .bind(numbers(|m| m.gamma_flip))
        .bind(
            rows.iter()
                .map(|m| m.contracts_analyzed)
                .collect::<Vec<_>>(),
        )
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Ticker ids by symbol.
pub(crate) type TickerIds = HashMap<String, i64>;

/// The id of every ticker in `rows`, registering unknown symbols first, in symbol order.
pub(crate) async fn ticker_ids(
    pool: &PgPool,
    rows: &[&DealerMetrics],
) -> Result<TickerIds, sqlx::Error> {
    let symbols: BTreeSet<&str> = rows.iter().map(|m| m.ticker.as_str()).collect();
    let symbols: Vec<&str> = symbols.into_iter().collect();
    let mut ids = fetch_ticker_ids(pool, &symbols).await?;
    let missing: Vec<&str> = symbols
        .into_iter()
        .filter(|s| !ids.contains_key(*s))
        .collect();
    if !missing.is_empty() {
        sqlx::query(REGISTER_TICKERS)
            .bind(&missing)
            .execute(pool)
            .await?;
        debug!(
            count = missing.len(),
            first = missing[0],
            "registered new tickers"
        );
        // Read back rather than RETURNING: a concurrent writer may have registered some first.
        ids.extend(fetch_ticker_ids(pool, &missing).await?);
    }
    Ok(ids)
}

async fn fetch_ticker_ids(
    pool: &PgPool,
    symbols: &[&str],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(SELECT_TICKER_IDS)
        .bind(symbols)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().collect())
}

/// NUMERIC input for `value`: Rust's shortest round-trip decimal, so the stored number reads
/// back (`::float8`) as the same f64 — a float8 → numeric cast would keep only 15 digits.
fn numeric_text(value: Option<f64>) -> Option<String> {
    value.map(|v| match v {
        v if v.is_nan() => "NaN".to_string(),
        f64::INFINITY => "Infinity".to_string(),
        f64::NEG_INFINITY => "-Infinity".to_string(),
        v => format!("{v:e}"),
    })
}

// The integration tests' synthetic day, included by path so that no test support is compiled
// into the library.
#[cfg(test)]
#[path = "../../tests/support/synthetic.rs"]
mod synthetic;

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::synthetic::synthetic_day;
    use super::*;

    #[test]
    fn numeric_text_round_trips_every_finite_value() {
        for v in [
            0.1,
            -1234.5678901234567,
            1e-300,
            6.02214076e23,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ] {
            let text = numeric_text(Some(v)).unwrap();
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{v} -> {text}"
            );
        }
        assert_eq!(numeric_text(Some(1500.0)).as_deref(), Some("1.5e3"));
        assert_eq!(numeric_text(Some(f64::NAN)).as_deref(), Some("NaN"));
        assert_eq!(
            numeric_text(Some(f64::NEG_INFINITY)).as_deref(),
            Some("-Infinity")
        );
        assert_eq!(numeric_text(None), None);
    }

    #[test]
    fn last_per_key_keeps_the_latest_row_in_input_order() {
        let date = NaiveDate::from_ymd_opt(2024, 1, 3).unwrap();
        let mut rows = synthetic_day(Profile::V2, date, 4);
        let mut newer = rows[1].clone();
        newer.net_dex = Some(42.0);
        rows.push(newer.clone());
        let (kept, dropped) = last_per_key(&rows);
        assert_eq!(dropped, 1);
        let tickers: Vec<&str> = kept.iter().map(|m| m.ticker.as_str()).collect();
        assert_eq!(
            tickers,
            [
                &rows[0].ticker,
                &rows[2].ticker,
                &rows[3].ticker,
                &newer.ticker
            ]
        );
        assert_eq!(kept[3], &newer);
    }
}
