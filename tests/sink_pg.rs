//! The Postgres sink against real servers (one per test, see `support::pg`):
//! migrations on blank and production-shaped databases, idempotent upserts, new days copied in
//! (or inserted where the table rules COPY out), the V2 handoff's sanity queries, bad rows, servers that die or drop connections mid-sink, and the synthetic
//! day the tests sink.

mod common;
mod support;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use gexlake::metrics::{DealerMetrics, Profile, dealer_metrics_json};
use gexlake::sink::{PgSink, SinkError, SinkOptions, SinkReport};
use serde_json::Value;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row};
use support::handoff;
use support::pg::{NIGHTLY_GRANTS, NIGHTLY_PASSWORD, NIGHTLY_ROLE, TestPostgres};
use support::synthetic::{MAJOR_TICKERS, snapshot_ts, synthetic_day, ticker};

/// About one trading day of ORATS symbols.
const TICKERS: usize = 6000;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 8).unwrap()
}

fn previous_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 7).unwrap()
}

/// Short waits so fault tests stay quick; three retries as in production.
fn fast_options() -> SinkOptions {
    SinkOptions {
        batch_size: 2000,
        retry_min_delay: Duration::from_millis(20),
        acquire_timeout: Duration::from_millis(500),
        ..SinkOptions::default()
    }
}

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(3)
        .connect(url)
        .await
        .expect("test pool connects")
}

/// Migrates through a new sink, as another process would.
async fn migrate(url: &str) -> Result<(), SinkError> {
    PgSink::connect(url).await.unwrap().migrate().await
}

/// The value of a one-row, one-column query.
async fn scalar<T>(pool: &PgPool, sql: &'static str) -> T
where
    T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

/// A database shaped like production before this sink: other pipelines' tickers (VARCHAR(10))
/// and daily_snapshots (with their own columns and rows, no model_version or updated_at), and
/// the handoff's gex_metrics_snapshot without the unique constraint, holding a duplicate.
const PRODUCTION_SCHEMA: &str = "
CREATE TABLE tickers (id SERIAL PRIMARY KEY, symbol VARCHAR(10) NOT NULL UNIQUE, name TEXT);
CREATE TABLE daily_snapshots (
    time TIMESTAMPTZ NOT NULL,
    ticker_id INTEGER NOT NULL REFERENCES tickers (id),
    close NUMERIC,
    wyckoff_json JSONB,
    dealer_metrics_json JSONB,
    PRIMARY KEY (time, ticker_id)
);
CREATE TABLE gex_metrics_snapshot (
    id SERIAL PRIMARY KEY, symbol TEXT NOT NULL, snapshot_ts TIMESTAMPTZ NOT NULL,
    spot_price NUMERIC, net_gex NUMERIC, net_dex NUMERIC, call_wall_strike NUMERIC,
    put_wall_strike NUMERIC, gamma_flip_level NUMERIC, net_vex NUMERIC, net_charm NUMERIC,
    contracts_analyzed INTEGER, created_at TIMESTAMPTZ DEFAULT now()
);
CREATE INDEX idx_gex_symbol_ts ON gex_metrics_snapshot(symbol, snapshot_ts);
INSERT INTO tickers (symbol, name) VALUES ('AAPL', 'Apple'), ('TSLA', 'Tesla');
INSERT INTO daily_snapshots (time, ticker_id, close, wyckoff_json, dealer_metrics_json) VALUES
    ('2024-03-08 16:00 America/New_York', 1, 170.73, '{\"phase\": \"B\"}', NULL),
    ('2024-03-08 16:00 America/New_York', 2, 175.34, '{\"phase\": \"C\"}', NULL),
    ('2024-03-01 16:00 America/New_York', 1, 179.66, '{\"phase\": \"A\"}', '{\"legacy\": true}');
INSERT INTO gex_metrics_snapshot (symbol, snapshot_ts, net_gex) VALUES
    ('AAPL', '2024-03-08 16:00 America/New_York', 1),
    ('AAPL', '2024-03-08 16:00 America/New_York', 2),
    ('SPY', '2024-03-01 16:00 America/New_York', 3);
";

async fn production_database(pg: &TestPostgres, name: &str) -> String {
    let url = pg.create_database(name);
    sqlx::raw_sql(PRODUCTION_SCHEMA)
        .execute(&pool(&url).await)
        .await
        .expect("production fixture");
    url
}

/// daily_snapshots by (symbol, time): (JSON text, model_version, updated_at), other
/// pipelines' rows left out.
async fn stored_daily(
    pool: &PgPool,
) -> HashMap<(String, DateTime<Utc>), (String, i32, DateTime<Utc>)> {
    type Stored = (String, DateTime<Utc>, String, i32, DateTime<Utc>);
    let rows: Vec<Stored> = sqlx::query_as(
        "SELECT t.symbol::text, d.time, d.dealer_metrics_json::text, d.model_version::int4, d.updated_at
         FROM daily_snapshots d JOIN tickers t ON t.id = d.ticker_id
         WHERE d.dealer_metrics_json IS NOT NULL AND NOT d.dealer_metrics_json ? 'legacy'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(s, t, json, v, u)| ((s, t), (json, v, u)))
        .collect()
}

/// The tickers of `expected` whose daily_snapshots row is missing, and those whose row
/// differs. Compared in SQL: jsonb equality is exact, serde_json's default float parsing is not.
async fn daily_differences(
    pool: &PgPool,
    expected: &[DealerMetrics],
) -> (Vec<String>, Vec<String>) {
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "SELECT u.symbol, d.time IS NULL
         FROM UNNEST($1::text[], $2::timestamptz[], $3::jsonb[], $4::int4[])
             WITH ORDINALITY AS u(symbol, ts, doc, version, ord)
         LEFT JOIN tickers t ON t.symbol = u.symbol
         LEFT JOIN daily_snapshots d ON d.ticker_id = t.id AND d.time = u.ts
         WHERE d.time IS NULL
            OR d.dealer_metrics_json IS DISTINCT FROM u.doc
            OR d.model_version IS DISTINCT FROM u.version
         ORDER BY u.ord",
    )
    .bind(
        expected
            .iter()
            .map(|m| m.ticker.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(expected.iter().map(|m| m.snapshot_ts).collect::<Vec<_>>())
    .bind(expected.iter().map(dealer_metrics_json).collect::<Vec<_>>())
    .bind(expected.iter().map(|m| m.model_version).collect::<Vec<_>>())
    .fetch_all(pool)
    .await
    .unwrap();
    let (missing, different): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|(_, missing)| *missing);
    let tickers = |rows: Vec<(String, bool)>| rows.into_iter().map(|(t, _)| t).collect();
    (tickers(missing), tickers(different))
}

/// The V2 columns of one stored row, numbers as f64 bits so equality is exact.
#[derive(Debug, PartialEq, Eq)]
struct GexRow {
    numbers: [Option<u64>; 6],
    contracts_analyzed: Option<i32>,
    vex_and_charm_null: bool,
}

impl GexRow {
    fn expected(m: &DealerMetrics) -> Self {
        let numbers = [
            m.spot_price,
            m.gex_net,
            m.net_dex,
            m.call_wall_strike,
            m.put_wall_strike,
            m.gamma_flip,
        ];
        Self {
            numbers: numbers.map(|v| v.map(f64::to_bits)),
            contracts_analyzed: Some(i32::try_from(m.contracts_analyzed).unwrap()),
            vex_and_charm_null: true,
        }
    }
}

/// gex_metrics_snapshot by (symbol, snapshot_ts), with created_at.
async fn stored_gex(pool: &PgPool) -> HashMap<(String, DateTime<Utc>), (GexRow, DateTime<Utc>)> {
    let rows: Vec<PgRow> = sqlx::query(
        "SELECT symbol, snapshot_ts, spot_price::float8, net_gex::float8, net_dex::float8,
                call_wall_strike::float8, put_wall_strike::float8, gamma_flip_level::float8,
                contracts_analyzed, net_vex IS NULL AND net_charm IS NULL, created_at
         FROM gex_metrics_snapshot",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let number = |i: usize| r.get::<Option<f64>, _>(i).map(f64::to_bits);
            let row = GexRow {
                numbers: [
                    number(2),
                    number(3),
                    number(4),
                    number(5),
                    number(6),
                    number(7),
                ],
                contracts_analyzed: r.get(8),
                vex_and_charm_null: r.get(9),
            };
            ((r.get(0), r.get(1)), (row, r.get(10)))
        })
        .collect()
}

async fn assert_daily_holds(pool: &PgPool, expected: &[DealerMetrics]) {
    assert_eq!(
        stored_daily(pool).await.len(),
        expected.len(),
        "daily_snapshots row count"
    );
    let (missing, different) = daily_differences(pool, expected).await;
    assert!(
        missing.is_empty() && different.is_empty(),
        "missing {missing:?}, different {different:?}"
    );
}

/// gex_metrics_snapshot holds `expected`, beside `others` rows the sink did not write.
async fn assert_gex_holds(pool: &PgPool, expected: &[DealerMetrics], others: usize) {
    let stored = stored_gex(pool).await;
    assert_eq!(
        stored.len(),
        expected.len() + others,
        "gex_metrics_snapshot row count"
    );
    for m in expected {
        let (row, _) = stored
            .get(&(m.ticker.clone(), m.snapshot_ts))
            .unwrap_or_else(|| panic!("no gex_metrics_snapshot row for {}", m.ticker));
        assert_eq!(row, &GexRow::expected(m), "V2 columns of {}", m.ticker);
    }
}

fn assert_clean(report: &SinkReport, written: usize, unchanged: usize) {
    assert!(
        report.soft_failed.is_empty(),
        "unexpected soft failures: {:?}",
        report.soft_failed
    );
    assert_eq!(
        (report.written, report.unchanged),
        (written, unchanged),
        "{report:?}"
    );
}

/// (ticker, SQLSTATE) of each soft failure.
fn sqlstates(report: &SinkReport) -> Vec<(&str, &str)> {
    report
        .soft_failed
        .iter()
        .map(|f| {
            let code = f
                .reason
                .rsplit_once("(SQLSTATE ")
                .map_or("", |(_, c)| c.trim_end_matches(')'));
            (f.ticker.as_str(), code)
        })
        .collect()
}

/// Runs a query as psql would (simple protocol, text results): the handoff's SQL verbatim.
async fn text_rows(pool: &PgPool, sql: &'static str) -> Vec<Vec<Option<String>>> {
    let rows = sqlx::raw_sql(sql).fetch_all(pool).await.expect(sql);
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.try_get_unchecked::<Option<String>, _>(i).unwrap())
                .collect()
        })
        .collect()
}

fn parse_ts(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%#z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Log lines written while the guard lives (this thread only).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        // tracing caches per callsite, process-wide, whether anyone listens; a sibling test on
        // a thread without a subscriber would cache "never" and silence this capture. A global
        // listener that drops everything keeps every callsite's interest alive.
        static BASELINE: OnceLock<()> = OnceLock::new();
        BASELINE.get_or_init(|| {
            tracing::subscriber::set_global_default(tracing_subscriber::registry())
                .expect("no other global subscriber in this test binary");
        });
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The password as typed and as it appears percent-encoded in the URL.
fn password_forms(pg: &TestPostgres) -> [String; 2] {
    let encoded = url::Url::parse(&pg.url())
        .unwrap()
        .password()
        .unwrap()
        .to_string();
    assert_ne!(
        encoded,
        pg.password(),
        "the test password should need percent-encoding"
    );
    [pg.password().to_string(), encoded]
}

fn assert_no_password(pg: &TestPostgres, text: &str) {
    for form in password_forms(pg) {
        assert!(
            !text.contains(&form),
            "password {form:?} leaked into: {text}"
        );
    }
}

/// Waits until a backend of the database waits on a lock; returns its pid.
/// The backend of `blocker`, the transaction holding the row a sink will wait on.
async fn backend_pid(blocker: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(blocker)
        .await
        .unwrap()
}

/// Waits until some backend is blocked by `blocker_pid` and returns that backend.
/// Other lock waits (a relation extension between two concurrent batches) do not count:
/// such a backend may be back in the pool, idle, by the time the test acts on it.
async fn lock_waiter(pool: &PgPool, blocker_pid: i32) -> i32 {
    for _ in 0..3000 {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(blocker_pid)
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(pid) = waiting {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the sink never waited on the blocking row");
}

#[tokio::test]
async fn migrations_create_a_blank_schema_and_adopt_a_production_one() {
    let pg = TestPostgres::start();

    let blank = pg.create_database("blank");
    migrate(&blank).await.unwrap();
    // A second process migrating again finds everything applied.
    migrate(&blank).await.unwrap();
    let blank_pool = pool(&blank).await;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_name = 'gex_metrics_snapshot' ORDER BY ordinal_position",
    )
    .fetch_all(&blank_pool)
    .await
    .unwrap();
    let numeric = "numeric";
    let expected = [
        ("id", "integer"),
        ("symbol", "text"),
        ("snapshot_ts", "timestamp with time zone"),
        ("spot_price", numeric),
        ("net_gex", numeric),
        ("net_dex", numeric),
        ("call_wall_strike", numeric),
        ("put_wall_strike", numeric),
        ("gamma_flip_level", numeric),
        ("net_vex", numeric),
        ("net_charm", numeric),
        ("contracts_analyzed", "integer"),
        ("created_at", "timestamp with time zone"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, t)| (c.to_string(), t.to_string()))
        .collect();
    assert_eq!(columns, expected);
    let constraint: String = scalar(
        &blank_pool,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'uq_gex_symbol_ts'",
    )
    .await;
    assert_eq!(constraint, "UNIQUE (symbol, snapshot_ts)");
    let index: String = scalar(
        &blank_pool,
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_gex_symbol_ts'",
    )
    .await;
    assert!(
        index.ends_with("USING btree (symbol, snapshot_ts)"),
        "{index}"
    );
    let daily_key: String = scalar(
        &blank_pool,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'daily_snapshots'::regclass AND contype = 'p'",
    )
    .await;
    assert_eq!(daily_key, "PRIMARY KEY (\"time\", ticker_id)");
    let compression: String = scalar(
        &blank_pool,
        "SELECT attcompression::text FROM pg_attribute
         WHERE attrelid = 'daily_snapshots'::regclass AND attname = 'dealer_metrics_json'",
    )
    .await;
    assert_eq!(
        compression, "l",
        "Debian's server has lz4, so the documents use it"
    );

    let production = production_database(&pg, "production").await;
    migrate(&production).await.unwrap();
    migrate(&production).await.unwrap();
    let prod_pool = pool(&production).await;
    let gex: Vec<(String, f64)> =
        sqlx::query_as("SELECT symbol, net_gex::float8 FROM gex_metrics_snapshot ORDER BY symbol")
            .fetch_all(&prod_pool)
            .await
            .unwrap();
    assert_eq!(
        gex,
        [("AAPL".to_string(), 2.0), ("SPY".to_string(), 3.0)],
        "the newest duplicate survives"
    );
    let uniques: i64 = scalar(
        &prod_pool,
        "SELECT count(*) FROM pg_constraint
         WHERE conrelid = 'gex_metrics_snapshot'::regclass AND contype = 'u'",
    )
    .await;
    assert_eq!(uniques, 1);
    let daily: Vec<(i32, String, Option<Value>, Option<i32>)> = sqlx::query_as(
        "SELECT ticker_id, close::text, wyckoff_json, model_version
         FROM daily_snapshots ORDER BY time, ticker_id",
    )
    .fetch_all(&prod_pool)
    .await
    .unwrap();
    let phase = |p: &str| Some(serde_json::json!({ "phase": p }));
    assert_eq!(
        daily,
        [
            (1, "179.66".to_string(), phase("A"), None),
            (1, "170.73".to_string(), phase("B"), None),
            (2, "175.34".to_string(), phase("C"), None),
        ]
    );
    let ticker_unique_constraints: i64 = scalar(
        &prod_pool,
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'tickers'::regclass AND contype = 'u'",
    )
    .await;
    assert_eq!(
        ticker_unique_constraints, 1,
        "the existing UNIQUE (symbol) is reused, not doubled"
    );

    // Duplicate symbols in someone else's table stop the migration with a clear message.
    let conflicted = pg.create_database("conflicted");
    sqlx::raw_sql(
        "CREATE TABLE tickers (id SERIAL PRIMARY KEY, symbol TEXT NOT NULL);
         INSERT INTO tickers (symbol) VALUES ('A'), ('A');",
    )
    .execute(&pool(&conflicted).await)
    .await
    .unwrap();
    let err = migrate(&conflicted).await.unwrap_err();
    assert!(matches!(err, SinkError::Migrate { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("tickers holds duplicate symbols"),
        "{message}"
    );
    assert!(message.contains(":***@127.0.0.1"), "{message}");
    assert_no_password(&pg, &message);
}

#[tokio::test]
async fn sinking_a_day_twice_is_idempotent_and_bumps_updated_at_only_on_change() {
    let pg = TestPostgres::start();
    let url = pg.create_database("idempotent");
    let sink = PgSink::connect(&url).await.unwrap();
    let db = pool(&url).await;
    let mut a3 = synthetic_day(Profile::A3, day(), TICKERS);
    let mut v2 = synthetic_day(Profile::V2, day(), TICKERS);

    sink.migrate().await.unwrap();
    let err = sink.upsert_daily_snapshots(&v2).await.unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::WrongProfile {
                found: Profile::V2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        stored_daily(&db).await.is_empty(),
        "nothing is written for a wrong profile"
    );

    assert_clean(&sink.upsert_daily_snapshots(&a3).await.unwrap(), TICKERS, 0);
    assert_clean(&sink.upsert_gex_metrics(&v2).await.unwrap(), TICKERS, 0);
    assert_daily_holds(&db, &a3).await;
    assert_gex_holds(&db, &v2, 0).await;
    let first_daily = stored_daily(&db).await;
    let first_gex = stored_gex(&db).await;

    // The same day again: nothing changes, not even updated_at.
    let again = sink.upsert_daily_snapshots(&a3).await.unwrap();
    assert_clean(&again, 0, TICKERS);
    assert_clean(&sink.upsert_gex_metrics(&v2).await.unwrap(), 0, TICKERS);
    assert_eq!(stored_daily(&db).await, first_daily);
    assert_eq!(stored_gex(&db).await, first_gex);

    // Ten changed results, plus a stale copy of one of them earlier in the input: the later
    // row wins, only the ten are written, and only their updated_at moves.
    let changed: Vec<usize> = (0..10).map(|k| k * 577).collect();
    let mut stale = a3[changed[0]].clone();
    stale.dgpi = Some(-99.0);
    for &i in &changed {
        a3[i].gex_net = Some(1234.5 + i as f64);
        v2[i].net_dex = Some(-0.1 - i as f64);
    }
    let mut input = vec![stale];
    input.extend(a3.iter().cloned());
    let report = sink.upsert_daily_snapshots(&input).await.unwrap();
    assert_clean(&report, 10, TICKERS - 10);
    assert_eq!(report.duplicates, 1);
    assert_clean(
        &sink.upsert_gex_metrics(&v2).await.unwrap(),
        10,
        TICKERS - 10,
    );
    assert_daily_holds(&db, &a3).await;
    assert_gex_holds(&db, &v2, 0).await;
    let after = stored_daily(&db).await;
    for (i, m) in a3.iter().enumerate() {
        let key = (m.ticker.clone(), m.snapshot_ts);
        let (before, now) = (first_daily[&key].2, after[&key].2);
        if changed.contains(&i) {
            assert!(
                now > before,
                "updated_at of changed {} did not move",
                m.ticker
            );
        } else {
            assert_eq!(now, before, "updated_at of unchanged {} moved", m.ticker);
        }
    }
    let created_at_kept = stored_gex(&db)
        .await
        .iter()
        .all(|(key, (_, created))| first_gex[key].1 == *created);
    assert!(created_at_kept, "created_at is the first insert's time");
    let tickers: i64 = scalar(&db, "SELECT count(*) FROM tickers").await;
    assert_eq!(tickers, TICKERS as i64);

    // A v2 ticker with no counted row gets no gex_metrics_snapshot row, as in
    // production (METRICS.md §10); the lake still has its INVALID result.
    let mut nothing_counted = v2[0].clone();
    nothing_counted.ticker = "NOCOUNT".into();
    (nothing_counted.contracts_analyzed, nothing_counted.status) = (0, "INVALID".into());
    let report = sink
        .upsert_gex_metrics(std::slice::from_ref(&nothing_counted))
        .await
        .unwrap();
    assert_clean(&report, 0, 0);
    assert_eq!(report.not_counted, 1);
    assert_gex_holds(&db, &v2, 0).await;
}

#[tokio::test]
async fn sinking_into_production_keeps_other_columns_and_passes_the_handoff_checks() {
    let pg = TestPostgres::start();
    let url = production_database(&pg, "production").await;
    let sink = PgSink::connect(&url).await.unwrap();
    let db = pool(&url).await;
    let a3 = synthetic_day(Profile::A3, day(), TICKERS);
    let v2 = synthetic_day(Profile::V2, day(), TICKERS);
    let v2_before = synthetic_day(Profile::V2, previous_day(), 100);

    assert_clean(&sink.upsert_daily_snapshots(&a3).await.unwrap(), TICKERS, 0);
    assert_clean(&sink.upsert_gex_metrics(&v2_before).await.unwrap(), 100, 0);
    // AAPL's row on the day exists already (from the old writer): it is updated in place.
    assert_clean(&sink.upsert_gex_metrics(&v2).await.unwrap(), TICKERS, 0);
    assert_daily_holds(&db, &a3).await;

    // The other pipeline's columns and rows survive; known tickers keep their ids.
    type Other = (String, DateTime<Utc>, Option<String>, Option<Value>, bool);
    let others: Vec<Other> = sqlx::query_as(
        "SELECT t.symbol::text, d.time, d.close::text, d.wyckoff_json,
                d.dealer_metrics_json ? 'legacy'
         FROM daily_snapshots d JOIN tickers t ON t.id = d.ticker_id
         WHERE d.close IS NOT NULL ORDER BY d.time, t.id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let (old, today) = (
        snapshot_ts(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()),
        snapshot_ts(day()),
    );
    let phase = |p: &str| Some(serde_json::json!({ "phase": p }));
    assert_eq!(
        others,
        [
            (
                "AAPL".to_string(),
                old,
                Some("179.66".to_string()),
                phase("A"),
                true
            ),
            (
                "AAPL".to_string(),
                today,
                Some("170.73".to_string()),
                phase("B"),
                false
            ),
            (
                "TSLA".to_string(),
                today,
                Some("175.34".to_string()),
                phase("C"),
                false
            ),
        ]
    );
    let ids: Vec<(String, i32)> =
        sqlx::query_as("SELECT symbol::text, id FROM tickers WHERE id <= 2 ORDER BY id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(ids, [("AAPL".to_string(), 1), ("TSLA".to_string(), 2)]);
    let new_rows_without_other_data: i64 = scalar(
        &db,
        "SELECT count(*) FROM daily_snapshots WHERE close IS NULL AND wyckoff_json IS NULL",
    )
    .await;
    assert_eq!(new_rows_without_other_data, TICKERS as i64 - 2);

    // The handoff's sanity checks, verbatim.
    let per_snapshot = text_rows(&db, handoff::SANITY_ROWS_PER_SNAPSHOT).await;
    let per_snapshot: Vec<(String, DateTime<Utc>)> = per_snapshot
        .iter()
        .map(|r| (r[0].clone().unwrap(), parse_ts(r[1].as_deref().unwrap())))
        .collect();
    assert_eq!(
        per_snapshot,
        [
            (TICKERS.to_string(), snapshot_ts(day())),
            ("100".to_string(), snapshot_ts(previous_day())),
            ("1".to_string(), old),
        ]
    );

    let spot_check = text_rows(&db, handoff::SANITY_SPOT_CHECK).await;
    assert_eq!(spot_check.len(), MAJOR_TICKERS.len());
    for row in &spot_check {
        let m = v2
            .iter()
            .find(|m| Some(m.ticker.as_str()) == row[0].as_deref())
            .unwrap();
        let number = |i: usize| {
            row[i]
                .as_deref()
                .map(|t| t.parse::<f64>().unwrap().to_bits())
        };
        let expected = GexRow::expected(m);
        let numbers = [
            expected.numbers[1],
            expected.numbers[2],
            expected.numbers[3],
            expected.numbers[4],
            expected.numbers[5],
        ];
        assert_eq!(
            [number(1), number(2), number(3), number(4), number(5)],
            numbers,
            "{row:?}"
        );
        assert_eq!(
            row[6].as_deref(),
            Some(m.contracts_analyzed.to_string().as_str())
        );
    }

    let distribution = text_rows(&db, handoff::SANITY_DISTRIBUTION).await;
    let [total, nonzero, has_flip, avg] =
        <[Option<String>; 4]>::try_from(distribution[0].clone()).unwrap();
    let nonzero_expected = v2
        .iter()
        .filter(|m| m.gex_net.is_some_and(|g| g != 0.0))
        .count();
    let flips_expected = v2.iter().filter(|m| m.gamma_flip.is_some()).count();
    let avg_expected = v2.iter().map(|m| m.contracts_analyzed as f64).sum::<f64>() / TICKERS as f64;
    assert_eq!(total.unwrap(), TICKERS.to_string());
    assert_eq!(nonzero.unwrap(), nonzero_expected.to_string());
    assert_eq!(has_flip.unwrap(), flips_expected.to_string());
    assert!((avg.unwrap().parse::<f64>().unwrap() - avg_expected).abs() < 1e-9);
    // Sensible, as the handoff means it: most symbols have GEX, many a flip, none all of them.
    assert!(nonzero_expected > TICKERS * 9 / 10 && nonzero_expected < TICKERS);
    assert!(flips_expected > TICKERS / 2 && flips_expected < TICKERS);

    let mut v2_all = v2_before.clone();
    v2_all.extend(v2.iter().cloned());
    // The fixture's SPY row (another day) stays beside the sink's rows.
    assert_gex_holds(&db, &v2_all, 1).await;
}

#[tokio::test]
async fn a_row_postgres_rejects_soft_fails_only_its_ticker() {
    let pg = TestPostgres::start();
    let url = production_database(&pg, "badrows").await;
    let sink = PgSink::connect(&url).await.unwrap();
    let db = pool(&url).await;
    let mut a3 = synthetic_day(Profile::A3, day(), TICKERS);
    let mut v2 = synthetic_day(Profile::V2, day(), TICKERS);
    // Text cannot hold NUL; production's tickers.symbol is VARCHAR(10); contracts_analyzed is
    // an INTEGER.
    a3[1500].ticker = "BAD\0A".to_string();
    a3[3100].ticker = "TOOLONGTICKER".to_string();
    v2[1500].ticker = "BAD\0V".to_string();
    v2[4200].contracts_analyzed = 3_000_000_000;

    let daily = sink.upsert_daily_snapshots(&a3).await.unwrap();
    let expected = [("BAD\0A", "22021"), ("TOOLONGTICKER", "22001")];
    assert_eq!(sqlstates(&daily), expected, "{:?}", daily.soft_failed);
    assert_eq!(
        (daily.written, daily.unchanged, daily.retries),
        (TICKERS - 2, 0, 0)
    );

    let gex = sink.upsert_gex_metrics(&v2).await.unwrap();
    let expected = [("BAD\0V", "22021"), (v2[4200].ticker.as_str(), "22003")];
    assert_eq!(sqlstates(&gex), expected, "{:?}", gex.soft_failed);
    assert_eq!(gex.written, TICKERS - 2);

    a3.retain(|m| m.ticker != "BAD\0A" && m.ticker != "TOOLONGTICKER");
    assert_daily_holds(&db, &a3).await;
    let mut v2_good = v2.clone();
    v2_good.remove(4200);
    v2_good.remove(1500);
    // The fixture's AAPL row on the day was overwritten; its SPY row is another day.
    assert_gex_holds(&db, &v2_good, 1).await;
}

/// Another pipeline's columns of AAPL's row on `day()` in the production fixture, and
/// whether the row holds a dealer_metrics_json.
async fn aapl_today(pool: &PgPool) -> (Option<String>, Option<Value>, bool) {
    sqlx::query_as(
        "SELECT d.close::text, d.wyckoff_json, d.dealer_metrics_json IS NOT NULL
         FROM daily_snapshots d JOIN tickers t ON t.id = d.ticker_id
         WHERE t.symbol = 'AAPL' AND d.time = $1",
    )
    .bind(snapshot_ts(day()))
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_document_postgres_cannot_store_soft_fails_only_its_row_and_leaves_the_row_alone() {
    let pg = TestPostgres::start();
    let url = production_database(&pg, "baddocs").await;
    let sink = PgSink::connect(&url).await.unwrap();
    let db = pool(&url).await;
    let mut a3 = synthetic_day(Profile::A3, day(), TICKERS);
    // jsonb cannot hold U+0000: the document goes out as valid JSON text (`\u0000`) and the
    // server's cast refuses its whole batch (SQLSTATE 22P05). AAPL's row exists already,
    // holding another pipeline's columns; the other bad row is in a later batch.
    let aapl = a3.iter().position(|m| m.ticker == "AAPL").unwrap();
    let later = 4321;
    a3[aapl].status_reason.push('\0');
    a3[later].diagnostics.push("nul\0".into());
    let foreign_before = aapl_today(&db).await;
    assert_eq!(
        foreign_before,
        (
            Some("170.73".to_string()),
            Some(serde_json::json!({ "phase": "B" })),
            false
        )
    );

    let report = sink.upsert_daily_snapshots(&a3).await.unwrap();
    assert_eq!(
        sqlstates(&report),
        [("AAPL", "22P05"), (a3[later].ticker.as_str(), "22P05")],
        "{:?}",
        report.soft_failed
    );
    assert_eq!(
        (report.written, report.unchanged, report.retries),
        (TICKERS - 2, 0, 0)
    );
    let good: Vec<DealerMetrics> = a3
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != aapl && *i != later)
        .map(|(_, m)| m.clone())
        .collect();
    assert_daily_holds(&db, &good).await;
    assert_eq!(
        aapl_today(&db).await,
        foreign_before,
        "the refused row is left as it was"
    );

    // Corrected and sent again, the two documents land beside the other pipeline's columns,
    // and no other row changes, not even its updated_at.
    let before = stored_daily(&db).await;
    a3[aapl].status_reason.pop();
    a3[later].diagnostics.pop();
    let report = sink.upsert_daily_snapshots(&a3).await.unwrap();
    assert_clean(&report, 2, TICKERS - 2);
    assert_daily_holds(&db, &a3).await;
    let after = stored_daily(&db).await;
    for (key, row) in &before {
        assert_eq!(&after[key], row, "{key:?} changed");
    }
    let (close, wyckoff, has_document) = aapl_today(&db).await;
    assert_eq!(
        (close, wyckoff, has_document),
        (foreign_before.0, foreign_before.1, true)
    );
}

#[tokio::test]
async fn a_server_killed_mid_sink_soft_fails_the_rest_and_a_rerun_converges() {
    let (logs, _guard) = Logs::capture();
    let pg = TestPostgres::start();
    let url = pg.create_database("crash");
    // One batch in flight, so the server can be killed at an exact point between batches.
    let options = SinkOptions {
        concurrency: 1,
        ..fast_options()
    };
    let sink = PgSink::connect_with(&url, options).await.unwrap();
    sink.migrate().await.unwrap();
    let a3 = synthetic_day(Profile::A3, day(), TICKERS);
    let v2 = synthetic_day(Profile::V2, day(), TICKERS);

    // An open transaction holding the second batch's first key makes the sink wait there, so
    // the server dies exactly after the first batch (2,000 rows) was committed.
    let db = pool(&url).await;
    let second = &a3[2000];
    sqlx::query("INSERT INTO tickers (symbol) VALUES ($1)")
        .bind(&second.ticker)
        .execute(&db)
        .await
        .unwrap();
    let mut blocker = db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO daily_snapshots (time, ticker_id) SELECT $1, id FROM tickers WHERE symbol = $2",
    )
        .bind(second.snapshot_ts)
        .bind(&second.ticker)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let blocker_pid = backend_pid(&mut blocker).await;
    let (report, ()) = tokio::join!(sink.upsert_daily_snapshots(&a3), async {
        lock_waiter(&db, blocker_pid).await;
        pg.stop();
    });
    let report = report.unwrap();
    let expected_failures: Vec<&str> = a3[2000..].iter().map(|m| m.ticker.as_str()).collect();
    assert_eq!(report.soft_failed_tickers(), expected_failures);
    assert_eq!(
        (report.written, report.retries),
        (2000, 3),
        "{:?}",
        report.soft_failed[0]
    );
    let first = &report.soft_failed[0].reason;
    assert!(
        first.contains("Connection refused"),
        "the reason names the cause: {first}"
    );
    let skipped = &report.soft_failed[2000].reason;
    assert!(
        skipped.starts_with("not attempted, the database is unavailable"),
        "{skipped}"
    );
    drop(blocker);

    // Still down: a whole table's rows soft-fail, reported, not raised.
    let down = sink.upsert_gex_metrics(&v2).await.unwrap();
    assert_eq!((down.written, down.soft_failed.len()), (0, TICKERS));

    pg.start_again();
    // Asynchronous commit may lose the last commits in a crash; whatever survived is complete.
    let db = pool(&url).await;
    let survived = stored_daily(&db).await;
    let (missing, different) = daily_differences(&db, &a3).await;
    assert!(
        different.is_empty(),
        "rows that are not whole payloads: {different:?}"
    );
    assert_eq!(survived.len() + missing.len(), TICKERS);
    let first_batch: Vec<&str> = a3[..2000].iter().map(|m| m.ticker.as_str()).collect();
    assert!(
        survived
            .keys()
            .all(|(ticker, _)| first_batch.contains(&ticker.as_str())),
        "only the first batch was committed"
    );
    let rows_total: i64 = scalar(&db, "SELECT count(*) FROM daily_snapshots").await;
    assert_eq!(
        rows_total as usize,
        survived.len(),
        "the blocker's uncommitted row died with the server"
    );

    // The same sink (its pool reconnects) re-runs both tables to the uninterrupted result.
    assert!(
        sink.upsert_daily_snapshots(&a3)
            .await
            .unwrap()
            .soft_failed
            .is_empty()
    );
    assert!(
        sink.upsert_gex_metrics(&v2)
            .await
            .unwrap()
            .soft_failed
            .is_empty()
    );
    let reference_url = pg.create_database("reference");
    let reference = PgSink::connect(&reference_url).await.unwrap();
    assert!(
        reference
            .upsert_daily_snapshots(&a3)
            .await
            .unwrap()
            .soft_failed
            .is_empty()
    );
    assert!(
        reference
            .upsert_gex_metrics(&v2)
            .await
            .unwrap()
            .soft_failed
            .is_empty()
    );
    let reference_db = pool(&reference_url).await;
    let content = |daily: HashMap<_, (String, i32, DateTime<Utc>)>| -> HashMap<_, _> {
        daily
            .into_iter()
            .map(|(k, (json, version, _))| (k, (json, version)))
            .collect()
    };
    assert_eq!(
        content(stored_daily(&db).await),
        content(stored_daily(&reference_db).await)
    );
    let columns = |gex: HashMap<_, (GexRow, DateTime<Utc>)>| -> HashMap<_, _> {
        gex.into_iter().map(|(k, (row, _))| (k, row)).collect()
    };
    assert_eq!(
        columns(stored_gex(&db).await),
        columns(stored_gex(&reference_db).await)
    );
    assert_daily_holds(&db, &a3).await;
    assert_gex_holds(&db, &v2, 0).await;

    let logs = logs.text();
    assert!(
        logs.contains("transient database error; retrying"),
        "{logs}"
    );
    assert!(logs.contains("row soft-failed"), "{logs}");
    assert_no_password(&pg, &logs);
    for failure in report.soft_failed.iter().chain(&down.soft_failed) {
        assert_no_password(&pg, &failure.reason);
    }
}

#[tokio::test]
async fn a_new_day_is_inserted_and_a_row_written_meanwhile_turns_its_batch_into_an_upsert() {
    let (logs, _guard) = Logs::capture();
    let pg = TestPostgres::start();
    let url = production_database(&pg, "meanwhile").await;
    let sink = PgSink::connect_with(&url, fast_options()).await.unwrap();
    let db = pool(&url).await;
    // The day before registers the tickers; the new day then holds no row of any pipeline.
    let before = synthetic_day(Profile::A3, previous_day(), 100);
    assert_clean(&sink.upsert_daily_snapshots(&before).await.unwrap(), 100, 0);
    let monday = NaiveDate::from_ymd_opt(2024, 3, 11).unwrap();
    let rows = synthetic_day(Profile::A3, monday, 100);
    assert_eq!(rows[0].ticker, "AAPL");

    // Another pipeline stores AAPL's close at the new day's snapshot in a transaction still
    // open when the sink looks for existing rows: the sink sees none and inserts, waits on
    // that row, and once it is committed upserts the batch instead, keeping the close.
    let mut blocker = db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO daily_snapshots (time, ticker_id, close)
         SELECT $1, id, 172.75 FROM tickers WHERE symbol = 'AAPL'",
    )
    .bind(snapshot_ts(monday))
    .execute(&mut *blocker)
    .await
    .unwrap();
    let blocker_pid = backend_pid(&mut blocker).await;
    let (report, ()) = tokio::join!(sink.upsert_daily_snapshots(&rows), async {
        lock_waiter(&db, blocker_pid).await;
        blocker.commit().await.unwrap();
    });
    let report = report.unwrap();
    assert_clean(&report, 100, 0);
    assert_eq!(
        report.retries, 0,
        "falling back to the upsert is not a retry"
    );
    let logs = logs.text();
    assert!(
        logs.contains("another writer stored rows at these times meanwhile; upserting the batch"),
        "{logs}"
    );
    let mut expected = before.clone();
    expected.extend(rows.iter().cloned());
    assert_daily_holds(&db, &expected).await;
    let close: Option<String> = sqlx::query_scalar(
        "SELECT d.close::text FROM daily_snapshots d JOIN tickers t ON t.id = d.ticker_id
         WHERE t.symbol = 'AAPL' AND d.time = $1",
    )
    .bind(snapshot_ts(monday))
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        close.as_deref(),
        Some("172.75"),
        "the other pipeline's close is kept"
    );

    // The same new day again is upserted: nothing changes.
    assert_clean(&sink.upsert_daily_snapshots(&rows).await.unwrap(), 0, 100);
    assert_daily_holds(&db, &expected).await;
}

#[tokio::test]
async fn a_terminated_connection_is_retried_and_the_batch_completes() {
    let (logs, _guard) = Logs::capture();
    let pg = TestPostgres::start();
    let url = pg.create_database("terminated");
    let sink = PgSink::connect_with(&url, fast_options()).await.unwrap();
    sink.migrate().await.unwrap();
    let v2 = synthetic_day(Profile::V2, day(), TICKERS);

    let db = pool(&url).await;
    let mut blocker = db.begin().await.unwrap();
    sqlx::query("INSERT INTO gex_metrics_snapshot (symbol, snapshot_ts) VALUES ($1, $2)")
        .bind(&v2[2000].ticker)
        .bind(v2[2000].snapshot_ts)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let blocker_pid = backend_pid(&mut blocker).await;
    let (report, ()) = tokio::join!(sink.upsert_gex_metrics(&v2), async {
        let pid = lock_waiter(&db, blocker_pid).await;
        let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&db)
            .await
            .unwrap();
        assert!(terminated);
        blocker.rollback().await.unwrap();
    });
    let report = report.unwrap();
    assert_clean(&report, TICKERS, 0);
    assert_eq!(report.retries, 1);
    assert_gex_holds(&db, &v2, 0).await;
    let logs = logs.text();
    assert!(
        logs.contains("terminating connection due to administrator command"),
        "{logs}"
    );
    assert_no_password(&pg, &logs);
}

#[tokio::test]
async fn passwords_stay_out_of_connection_errors() {
    let pg = TestPostgres::start();
    let url = pg.url();

    let sink = PgSink::connect_with(&url, fast_options()).await.unwrap();
    let shown = format!("{sink:?} {}", sink.url());
    assert!(
        shown.contains(&format!("gexlake:***@127.0.0.1:{}/postgres", pg.port())),
        "{shown}"
    );
    assert_no_password(&pg, &shown);

    let wrong = url.replace("@127.0.0.1", "nope@127.0.0.1");
    let err = PgSink::connect_with(&wrong, fast_options())
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Connect { .. }), "{err:?}");
    let message = format!("{err} {err:?}");
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert_no_password(&pg, &message);

    let unparseable = url.replace(&format!(":{}/", pg.port()), ":port/");
    let err = PgSink::connect_with(&unparseable, fast_options())
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::InvalidUrl { .. }), "{err:?}");
    assert_no_password(&pg, &format!("{err} {err:?}"));

    pg.stop();
    let err = PgSink::connect_with(&url, fast_options())
        .await
        .unwrap_err();
    let message = format!("{err} {err:?}");
    assert!(message.contains("Connection refused"), "{message}");
    assert!(
        message.contains(&format!(
            "cannot connect to postgres://gexlake:***@127.0.0.1:{}/postgres",
            pg.port()
        )),
        "{message}"
    );
    assert_no_password(&pg, &message);
}

#[tokio::test]
async fn a_tls_connection_verifies_the_server_certificate() {
    let certs = tempfile::tempdir().unwrap();
    common::make_test_certificates(&common::test_python(), certs.path());
    let pg = TestPostgres::start_with_tls(
        &certs.path().join("cert.pem"),
        &certs.path().join("key.pem"),
    );
    let url = pg.create_database("tls");
    let with = |ca: &str| {
        let ca = certs.path().join(ca);
        format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display())
    };

    // A certificate no trusted CA signed: no connection, a clear reason, no password.
    let refused = PgSink::connect_with(&with("other-ca.pem"), fast_options())
        .await
        .expect_err("an untrusted server certificate is refused");
    let reason = refused.to_string();
    assert!(
        reason.to_lowercase().contains("certificate"),
        "the error names the certificate: {reason}"
    );
    assert_no_password(&pg, &reason);

    // Trusting the test CA: the sink migrates and writes over TLS.
    let trusted = with("ca.pem");
    let sink = PgSink::connect_with(&trusted, fast_options())
        .await
        .unwrap();
    let v2 = synthetic_day(Profile::V2, day(), 50);
    assert_clean(&sink.upsert_gex_metrics(&v2).await.unwrap(), 50, 0);
    let db = pool(&trusted).await;
    let encrypted: bool = scalar(
        &db,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .await;
    assert!(encrypted, "the connection is encrypted");
    let rows: i64 = scalar(&db, "SELECT count(*) FROM gex_metrics_snapshot").await;
    assert_eq!(rows, 50);
}

// The synthetic day the tests above sink.

#[test]
fn synthetic_days_are_deterministic_and_varied() {
    let date = NaiveDate::from_ymd_opt(2024, 3, 8).unwrap();
    let day = synthetic_day(Profile::V2, date, 2000);
    assert_eq!(day, synthetic_day(Profile::V2, date, 2000));
    assert_ne!(
        day[7].gex_net,
        synthetic_day(Profile::A3, date, 8)[7].gex_net
    );
    assert_eq!(
        day[..5]
            .iter()
            .map(|m| m.ticker.as_str())
            .collect::<Vec<_>>(),
        MAJOR_TICKERS
    );
    assert_eq!(
        (
            ticker(5).as_str(),
            ticker(6).as_str(),
            ticker(5 + 26).as_str()
        ),
        ("XAAA", "XAAB", "XABA")
    );
    let count = |f: fn(&DealerMetrics) -> bool| day.iter().filter(|m| f(m)).count();
    // v2 results reach the sink only for tickers with a counted row: all have a
    // spot and contracts; a3's include tickers without a spot.
    assert_eq!(
        count(|m| m.spot_price.is_none() || m.contracts_analyzed == 0),
        0
    );
    let a3 = synthetic_day(Profile::A3, date, 2000);
    assert!(a3.iter().filter(|m| m.spot_price.is_none()).count() > 10);
    assert!(count(|m| m.gex_net == Some(0.0)) > 10);
    assert!(count(|m| m.gamma_flip.is_none()) > 100);
    assert!(count(|m| m.status == "FULL") > 1000);
    assert!(
        day.iter()
            .all(|m| m.params.name() == "v2" && m.snapshot_ts == snapshot_ts(date))
    );
}

#[test]
fn synthetic_snapshot_ts_follows_new_york_daylight_saving() {
    let winter = snapshot_ts(NaiveDate::from_ymd_opt(2024, 1, 3).unwrap());
    let summer = snapshot_ts(NaiveDate::from_ymd_opt(2024, 7, 3).unwrap());
    assert_eq!(winter.to_rfc3339(), "2024-01-03T21:00:00+00:00");
    assert_eq!(summer.to_rfc3339(), "2024-07-03T20:00:00+00:00");
}

/// How each daily_snapshots batch of a call was written, from the sink's debug log.
fn batch_paths(logs: &str) -> Vec<&str> {
    logs.lines()
        .filter(|line| line.contains("daily_snapshots batch written"))
        .map(|line| {
            let how = line.split("how=").nth(1).expect("the path is logged");
            how.split_whitespace().next().unwrap_or_default()
        })
        .collect()
}

/// A new day on `url`: the day before registers the tickers, then the new day is written and
/// must hold exactly, with an `updated_at` for every row. Returns the new day's batch paths.
async fn write_a_new_day(url: &str) -> Vec<String> {
    let sink = PgSink::connect_with(url, fast_options()).await.unwrap();
    let before = synthetic_day(Profile::A3, previous_day(), 300);
    assert_clean(&sink.upsert_daily_snapshots(&before).await.unwrap(), 300, 0);
    // A day no pipeline of the production fixture has rows at.
    let monday = NaiveDate::from_ymd_opt(2024, 3, 11).unwrap();
    let rows = synthetic_day(Profile::A3, monday, 300);
    let (logs, guard) = Logs::capture();
    let report = sink.upsert_daily_snapshots(&rows).await.unwrap();
    drop(guard);
    assert_clean(&report, 300, 0);
    let db = pool(url).await;
    let mut expected = before;
    expected.extend(rows);
    assert_daily_holds(&db, &expected).await;
    let without: i64 = scalar(
        &db,
        "SELECT count(*) FROM daily_snapshots
         WHERE dealer_metrics_json IS NOT NULL AND NOT dealer_metrics_json ? 'legacy'
           AND updated_at IS NULL",
    )
    .await;
    assert_eq!(without, 0, "every written row has its updated_at");
    // The same day again changes nothing, whichever way it was written.
    assert_clean(
        &sink.upsert_daily_snapshots(&expected[300..]).await.unwrap(),
        0,
        300,
    );
    batch_paths(&logs.text())
        .into_iter()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn new_days_are_copied_in_where_the_table_allows_it_and_inserted_elsewhere() {
    let pg = TestPostgres::start();
    let copied = |id: &str| vec![format!("Copy({id})")];

    // The sink's own schema (bigint ticker ids) and a production one (integer ids).
    let blank = pg.create_database("copy_blank");
    assert_eq!(write_a_new_day(&blank).await, copied("Int8"));
    let production = production_database(&pg, "copy_production").await;
    assert_eq!(write_a_new_day(&production).await, copied("Int4"));

    // An updated_at another pipeline added without a default: COPY would leave it NULL, so
    // the rows are inserted with now().
    let with_column = |name: &'static str, column: &'static str| {
        let pg = &pg;
        async move {
            let url = production_database(pg, name).await;
            sqlx::raw_sql(AssertSqlSafe(format!(
                "ALTER TABLE daily_snapshots ADD COLUMN {column}"
            )))
            .execute(&pool(&url).await)
            .await
            .unwrap();
            url
        }
    };
    let no_default = with_column("copy_no_default", "updated_at TIMESTAMPTZ").await;
    assert_eq!(write_a_new_day(&no_default).await, ["Insert"]);

    // A model_version of another type: the binary format would not convert it.
    let bigint_version = with_column("copy_bigint_version", "model_version BIGINT").await;
    assert_eq!(write_a_new_day(&bigint_version).await, ["Insert"]);

    // Row-level security: PostgreSQL refuses COPY FROM for a role it applies to, and the
    // batch is inserted instead (the superuser is exempt, so a writer role runs the sink,
    // with no CREATE on the schema: the migrations are applied by the owner first).
    let rls = production_database(&pg, "copy_rls").await;
    migrate(&rls).await.unwrap();
    sqlx::raw_sql(
        "CREATE ROLE rls_writer LOGIN PASSWORD 'writer-secret';
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;
         GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO rls_writer;
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO rls_writer;
         ALTER TABLE daily_snapshots ENABLE ROW LEVEL SECURITY;
         CREATE POLICY everything ON daily_snapshots USING (true) WITH CHECK (true);",
    )
    .execute(&pool(&rls).await)
    .await
    .unwrap();
    let writer = pg.url_as("copy_rls", "rls_writer", "writer-secret");
    assert_eq!(write_a_new_day(&writer).await, ["Insert"]);
}

#[tokio::test]
async fn a_role_that_may_only_read_and_write_the_tables_sinks_once_the_owner_migrated() {
    let pg = TestPostgres::start();
    let owner = pg.create_database("least_privilege");
    let owner_pool = pool(&owner).await;
    sqlx::raw_sql(NIGHTLY_ROLE)
        .execute(&owner_pool)
        .await
        .unwrap();
    let nightly = pg.url_as("least_privilege", "nightly", NIGHTLY_PASSWORD);

    // Before the owner migrated: the sink cannot create its tables and says what to do.
    let err = migrate(&nightly).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SinkError::Migrate { .. }), "{err:?}");
    assert!(
        message.contains("permission denied") && message.contains("gexlake migrate"),
        "{message}"
    );
    assert!(!message.contains(NIGHTLY_PASSWORD), "{message}");

    // The owner migrates and grants the tables' rights only.
    migrate(&owner).await.unwrap();
    sqlx::raw_sql(NIGHTLY_GRANTS)
        .execute(&owner_pool)
        .await
        .unwrap();
    // The role indeed may not create a table, not even one that exists: what the migrator's
    // own first statement would have met.
    let refused = sqlx::raw_sql("CREATE TABLE IF NOT EXISTS tickers (id INTEGER)")
        .execute(&pool(&nightly).await)
        .await
        .unwrap_err();
    assert_eq!(
        refused
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("42501"),
        "{refused}"
    );

    // The nightly role sinks a new day (COPY), then the same day again (upsert), and v2.
    let sink = PgSink::connect(&nightly).await.unwrap();
    let a3 = synthetic_day(Profile::A3, day(), 200);
    let v2 = synthetic_day(Profile::V2, day(), 200);
    assert_clean(&sink.upsert_daily_snapshots(&a3).await.unwrap(), 200, 0);
    assert_clean(&sink.upsert_daily_snapshots(&a3).await.unwrap(), 0, 200);
    assert_clean(&sink.upsert_gex_metrics(&v2).await.unwrap(), 200, 0);
    assert_daily_holds(&owner_pool, &a3).await;
    assert_gex_holds(&owner_pool, &v2, 0).await;

    // A migration the database lacks (here: one removed by hand) is not skipped: the role
    // is refused again, and nothing it may write has been touched.
    sqlx::raw_sql("DELETE FROM _sqlx_migrations WHERE version = 5")
        .execute(&owner_pool)
        .await
        .unwrap();
    let err = migrate(&nightly).await.unwrap_err();
    assert!(err.to_string().contains("gexlake migrate"), "{err}");
    assert_daily_holds(&owner_pool, &a3).await;
}
