//! The two tables of dealer metrics: one UNNEST upsert statement per batch of rows.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolCopyExt;
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
/// nightly's new day), when [`COPY_DAILY_SNAPSHOTS`] cannot be used: a plain INSERT skips the
/// speculative insertion ON CONFLICT makes per row (an extra probe of the unique index and a
/// confirmation record in the WAL), about a tenth of the server's time per row (PostgreSQL
/// 15, `benches/sink.rs`). A row written by another pipeline meanwhile makes it fail as a
/// whole (unique_violation, nothing written), and the batch is then upserted.
const INSERT_DAILY_SNAPSHOTS: &str = "
INSERT INTO daily_snapshots (time, ticker_id, dealer_metrics_json, model_version, updated_at)
SELECT u.ts, u.ticker_id, u.doc::jsonb, u.model_version, now()
FROM UNNEST($1::timestamptz[], $2::int8[], $3::text[], $4::int4[])
    AS u(ts, ticker_id, doc, model_version)";

/// A new day's rows as [`INSERT_DAILY_SNAPSHOTS`] writes them, copied in PostgreSQL's binary
/// COPY format (see [`copy_data`]): no array parameters to receive and unnest, no plan, and
/// rows stored a page at a time (one WAL record a page, not one a row); 1.03–1.16× the rate of
/// the INSERT over eight runs of `benches/sink.rs` (PostgreSQL 15). The binary format converts
/// nothing, so it is used only where [`COPY_LAYOUT`] finds the column types it writes, and
/// `updated_at` takes the column's default (`now()` in the sink's migration), so only where
/// there is one. Like the INSERT it fails as a whole on a row stored meanwhile, and the batch
/// is then upserted.
const COPY_DAILY_SNAPSHOTS: &str = "COPY daily_snapshots (time, ticker_id, dealer_metrics_json, \
     model_version) FROM STDIN (FORMAT binary)";

/// Whether daily_snapshots can take [`COPY_DAILY_SNAPSHOTS`]: `time` timestamptz,
/// `dealer_metrics_json` jsonb, `model_version` integer, a default for `updated_at`; and
/// the type of `ticker_id` (an adopted table may have `integer` ids).
const COPY_LAYOUT: &str = "
SELECT bool_or(a.attname = 'time' AND a.atttypid = 'timestamptz'::regtype)
   AND bool_or(a.attname = 'dealer_metrics_json' AND a.atttypid = 'jsonb'::regtype)
   AND bool_or(a.attname = 'model_version' AND a.atttypid = 'int4'::regtype)
   AND bool_or(a.attname = 'updated_at' AND a.atthasdef),
    max(a.atttypid::regtype::text) FILTER (WHERE a.attname = 'ticker_id')
FROM pg_attribute a
WHERE a.attrelid = 'daily_snapshots'::regclass AND a.attnum > 0 AND NOT a.attisdropped";

/// Which of the given times daily_snapshots holds a row at (any pipeline's): one probe of
/// the (time, ticker_id) index per time.
const TIMES_PRESENT: &str = "
SELECT t.time FROM UNNEST($1::timestamptz[]) AS t(time)
WHERE EXISTS (SELECT 1 FROM daily_snapshots d WHERE d.time = t.time)";

/// The SQLSTATE of a unique violation.
const UNIQUE_VIOLATION: &str = "23505";

/// The SQLSTATE class of a feature the server does not support, such as COPY FROM into a
/// table with row-level security.
const FEATURE_NOT_SUPPORTED_CLASS: &str = "0A";

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
    /// `daily_snapshots`: what the table held when the upsert began; `None` (not known)
    /// upserts every batch.
    pub(crate) existing: Option<&'a Existing>,
}

/// What daily_snapshots held when an upsert began.
#[derive(Debug)]
pub(crate) struct Existing {
    /// The snapshot times of the upsert's rows the table held rows at (any pipeline's); a
    /// batch at other times only is written as new rows rather than upserted.
    present: HashSet<DateTime<Utc>>,
    /// How new rows are copied in; `None` when the table's columns do not allow it.
    copy: Option<IdType>,
}

/// The type of daily_snapshots.ticker_id, which the binary COPY format must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdType {
    /// `integer`.
    Int4,
    /// `bigint`, as the sink's migration creates it.
    Int8,
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
                let how = match self.existing {
                    Some(existing)
                        if rows
                            .iter()
                            .all(|m| !existing.present.contains(&m.snapshot_ts)) =>
                    {
                        existing.copy.map_or(Write::Insert, Write::Copy)
                    }
                    _ => Write::Upsert,
                };
                write_daily_snapshots(pool, rows, self.known, how).await
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

/// How a batch of daily_snapshots is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// New rows, copied in ([`COPY_DAILY_SNAPSHOTS`]) with ticker ids of this type.
    Copy(IdType),
    /// New rows, inserted ([`INSERT_DAILY_SNAPSHOTS`]).
    Insert,
    /// Rows that may exist ([`UPSERT_DAILY_SNAPSHOTS`]).
    Upsert,
}

/// Writes one batch as `how` says; new rows that fail as a whole because a row appeared
/// meanwhile are upserted instead, and a copy the server does not support is inserted.
async fn write_daily_snapshots(
    pool: &PgPool,
    rows: &[&DealerMetrics],
    known: &TickerIds,
    mut how: Write,
) -> Result<u64, sqlx::Error> {
    let looked_up;
    let ids = if rows.iter().all(|m| known.contains_key(&m.ticker)) {
        known
    } else {
        looked_up = ticker_ids(pool, rows).await?;
        &looked_up
    };
    let ids: Vec<i64> = rows
        .iter()
        .map(|m| {
            ids.get(&m.ticker).copied().ok_or_else(|| {
                sqlx::Error::InvalidArgument(format!(
                    "ticker {:?} is missing from tickers after registration",
                    m.ticker
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    loop {
        let result = match how {
            Write::Copy(id_type) => copy_daily_snapshots(pool, rows, &ids, id_type).await,
            Write::Insert => bind_daily_snapshots(INSERT_DAILY_SNAPSHOTS, rows, &ids)?
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
            Write::Upsert => bind_daily_snapshots(UPSERT_DAILY_SNAPSHOTS, rows, &ids)?
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
        };
        let code = match &result {
            Ok(_) => {
                debug!(rows = rows.len(), how = ?how, "daily_snapshots batch written");
                return result;
            }
            Err(sqlx::Error::Database(db)) if how != Write::Upsert => db.code(),
            Err(_) => return result,
        };
        how = match code.as_deref() {
            Some(UNIQUE_VIOLATION) => {
                debug!(
                    rows = rows.len(),
                    "daily_snapshots: another writer stored rows at these times meanwhile; upserting the batch"
                );
                Write::Upsert
            }
            Some(code)
                if matches!(how, Write::Copy(_))
                    && code.starts_with(FEATURE_NOT_SUPPORTED_CLASS) =>
            {
                debug!(
                    rows = rows.len(),
                    code, "daily_snapshots: the server refused to copy rows in; inserting them"
                );
                Write::Insert
            }
            _ => return result,
        };
    }
}

/// The statement `sql` with the four UNNEST arrays of `rows` (`ids` their ticker ids) bound.
fn bind_daily_snapshots<'q>(
    sql: &'static str,
    rows: &[&DealerMetrics],
    ids: &[i64],
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>, sqlx::Error> {
    let docs = rows
        .iter()
        .map(|m| serde_json::to_string(&DealerMetricsDocument::new(m)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    Ok(sqlx::query(sql)
        .bind(rows.iter().map(|m| m.snapshot_ts).collect::<Vec<_>>())
        .bind(ids.to_vec())
        .bind(docs)
        .bind(rows.iter().map(|m| m.model_version).collect::<Vec<_>>()))
}

/// Copies `rows` (`ids` their ticker ids) in with [`COPY_DAILY_SNAPSHOTS`], one transaction.
async fn copy_daily_snapshots(
    pool: &PgPool,
    rows: &[&DealerMetrics],
    ids: &[i64],
    id_type: IdType,
) -> Result<u64, sqlx::Error> {
    let data = copy_data(rows, ids, id_type).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut copy = pool.copy_in_raw(COPY_DAILY_SNAPSHOTS).await?;
    copy.send(data).await?;
    copy.finish().await
}

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00:00 UTC.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// `rows` in PostgreSQL's binary COPY format, columns as [`COPY_DAILY_SNAPSHOTS`] names them:
/// the signature and two empty header fields, then per row the field count and each field
/// as a length and its binary value (timestamptz: microseconds since 2000 UTC; jsonb: a
/// version byte, 1, then the document's text, serialized in place), then -1.
fn copy_data(
    rows: &[&DealerMetrics],
    ids: &[i64],
    id_type: IdType,
) -> Result<Vec<u8>, serde_json::Error> {
    const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
    const FIELDS: i16 = 4;
    // Documents are 1–2 KB.
    let mut data = Vec::with_capacity(SIGNATURE.len() + 8 + rows.len() * 2048 + 2);
    data.extend_from_slice(SIGNATURE);
    data.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    data.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for (m, id) in rows.iter().zip(ids) {
        data.extend_from_slice(&FIELDS.to_be_bytes());
        let micros = m.snapshot_ts.timestamp_micros() - POSTGRES_EPOCH_MICROS;
        data.extend_from_slice(&8i32.to_be_bytes());
        data.extend_from_slice(&micros.to_be_bytes());
        match id_type {
            IdType::Int8 => {
                data.extend_from_slice(&8i32.to_be_bytes());
                data.extend_from_slice(&id.to_be_bytes());
            }
            IdType::Int4 => {
                let id = i32::try_from(*id).map_err(|_| {
                    serde::ser::Error::custom(format!("ticker id {id} is out of integer range"))
                })?;
                data.extend_from_slice(&4i32.to_be_bytes());
                data.extend_from_slice(&id.to_be_bytes());
            }
        }
        let length_at = data.len();
        data.extend_from_slice(&0i32.to_be_bytes());
        data.push(1); // jsonb's binary format version
        serde_json::to_writer(&mut data, &DealerMetricsDocument::new(m))?;
        let length = i32::try_from(data.len() - length_at - 4)
            .map_err(|_| serde::ser::Error::custom("a document of 2 GB or more"))?;
        data[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
        data.extend_from_slice(&4i32.to_be_bytes());
        data.extend_from_slice(&m.model_version.to_be_bytes());
    }
    data.extend_from_slice(&(-1i16).to_be_bytes()); // trailer
    Ok(data)
}

/// What daily_snapshots holds of the snapshot times of `rows`, and whether new rows can be
/// copied in.
pub(crate) async fn existing(
    pool: &PgPool,
    rows: &[&DealerMetrics],
) -> Result<Existing, sqlx::Error> {
    let times: BTreeSet<DateTime<Utc>> = rows.iter().map(|m| m.snapshot_ts).collect();
    let times: Vec<DateTime<Utc>> = times.into_iter().collect();
    let present: Vec<DateTime<Utc>> = sqlx::query_scalar(TIMES_PRESENT)
        .bind(&times)
        .fetch_all(pool)
        .await?;
    let (columns_match, id_type): (Option<bool>, Option<String>) =
        sqlx::query_as(COPY_LAYOUT).fetch_one(pool).await?;
    let copy = match id_type.as_deref() {
        _ if columns_match != Some(true) => None,
        Some("bigint") => Some(IdType::Int8),
        Some("integer") => Some(IdType::Int4),
        _ => None,
    };
    Ok(Existing {
        present: present.into_iter().collect(),
        copy,
    })
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
