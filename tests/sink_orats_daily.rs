//! The `orats_daily` upsert against a real server (see `support::pg`): hand-built
//! batches round-trip with the contract's rounding, re-runs change nothing, a V1 table keeps
//! its other columns, and a row Postgres refuses soft-fails alone without leaking the password.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int16Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema};
use gexlake::sink::{PgSink, SinkError, SinkReport};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool, Row};
use support::pg::{NIGHTLY_GRANTS, NIGHTLY_PASSWORD, NIGHTLY_ROLE, TestPostgres};

/// The agreed lake schema after the key (ORATS_DAILY.md §2–3), written out independently of
/// the sink's own list.
const LAKE_COLUMNS: [(&str, DataType); 35] = [
    ("call_volume", DataType::Int64),
    ("put_volume", DataType::Int64),
    ("call_open_interest", DataType::Int64),
    ("put_open_interest", DataType::Int64),
    ("total_volume", DataType::Int64),
    ("total_open_interest", DataType::Int64),
    ("avg_daily_volume", DataType::Int64),
    ("iv_30day", DataType::Float64),
    ("stock_price", DataType::Float64),
    ("avg_daily_premium", DataType::Int64),
    ("delta_call_oi", DataType::Int64),
    ("delta_put_oi", DataType::Int64),
    ("iv_rank", DataType::Float64),
    ("hv_30day", DataType::Float64),
    ("volume_ema_7d", DataType::Int64),
    ("volume_ema_30d", DataType::Int64),
    ("volume_ema_60d", DataType::Int64),
    ("iv_rank_ema_7d", DataType::Float64),
    ("iv_rank_ema_30d", DataType::Float64),
    ("iv_rank_ema_60d", DataType::Float64),
    ("volume_zscore", DataType::Float64),
    ("iv_rank_zscore", DataType::Float64),
    ("volume_trend_pct", DataType::Float64),
    ("iv_rank_trend_pct", DataType::Float64),
    ("iv_hv_ratio", DataType::Float64),
    ("hv_slope", DataType::Float64),
    ("iv_30d_zscore", DataType::Float64),
    ("open_interest_zscore", DataType::Float64),
    ("volume_accel", DataType::Float64),
    ("premium_flow", DataType::Int64),
    ("price_momentum_20d", DataType::Float64),
    ("vol_regime", DataType::Int16),
    ("put_call_volume_skew", DataType::Float64),
    ("put_call_oi_skew", DataType::Float64),
    ("volume_price_interaction", DataType::Float64),
];

/// A value of a hand-built row; columns a row does not name are null.
#[derive(Debug, Clone, Copy)]
enum Cell {
    I(i64),
    F(f64),
    S(i16),
}

use Cell::{F, I, S};

/// One lake row: key and the non-null cells.
struct LakeRow {
    symbol: &'static str,
    date: NaiveDate,
    cells: Vec<(&'static str, Cell)>,
}

fn date(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
}

fn row(symbol: &'static str, d: &str, cells: &[(&'static str, Cell)]) -> LakeRow {
    for (name, _) in cells {
        assert!(
            LAKE_COLUMNS.iter().any(|(c, _)| c == name),
            "no column {name}"
        );
    }
    LakeRow {
        symbol,
        date: date(d),
        cells: cells.to_vec(),
    }
}

/// A record batch of the lake's `orats_daily` schema holding `rows`.
fn lake_batch(rows: &[&LakeRow]) -> RecordBatch {
    let mut fields = vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("asof_date", DataType::Date32, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.symbol))),
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| Date32Type::from_naive_date(r.date)),
        )),
    ];
    for (name, data_type) in &LAKE_COLUMNS {
        let cell = |r: &&LakeRow| r.cells.iter().find(|(c, _)| c == name).map(|(_, v)| *v);
        let array: ArrayRef = match data_type {
            DataType::Int64 => Arc::new(Int64Array::from_iter(rows.iter().map(|r| {
                cell(r).map(|v| match v {
                    I(v) => v,
                    other => panic!("{name} is Int64, got {other:?}"),
                })
            }))),
            DataType::Float64 => Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
                cell(r).map(|v| match v {
                    F(v) => v,
                    other => panic!("{name} is Float64, got {other:?}"),
                })
            }))),
            DataType::Int16 => Arc::new(Int16Array::from_iter(rows.iter().map(|r| {
                cell(r).map(|v| match v {
                    S(v) => v,
                    other => panic!("{name} is Int16, got {other:?}"),
                })
            }))),
            other => unreachable!("no {other} column"),
        };
        fields.push(Field::new(*name, data_type.clone(), true));
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// AAPL on 2024-03-08 with every column set: bounds of the clamps, values the contract's
/// rounding takes away from zero where rounding the binary double would not.
fn aapl_full() -> LakeRow {
    row(
        "AAPL",
        "2024-03-08",
        &[
            ("call_volume", I(1200)),
            ("put_volume", I(800)),
            ("call_open_interest", I(50000)),
            ("put_open_interest", I(40000)),
            ("total_volume", I(2000)),
            ("total_open_interest", I(90000)),
            ("avg_daily_volume", I(2000)),
            ("iv_30day", F(0.2534567890123456)),
            ("stock_price", F(170.73)),
            ("avg_daily_premium", I(123456)),
            ("delta_call_oi", I(-150)),
            ("delta_put_oi", I(300)),
            ("iv_rank", F(12.35)),
            // The double 2.675 is 2.67499999…: 15 significant digits make it 2.675, then 2.68.
            ("hv_30day", F(2.675)),
            ("volume_ema_7d", I(1900)),
            ("volume_ema_30d", I(1800)),
            ("volume_ema_60d", I(1700)),
            ("iv_rank_ema_7d", F(10.5)),
            ("iv_rank_ema_30d", F(100.0)),
            ("iv_rank_ema_60d", F(0.0)),
            ("volume_zscore", F(-3.0)),
            ("iv_rank_zscore", F(-999.999)),
            ("volume_trend_pct", F(17.647)),
            ("iv_rank_trend_pct", F(999.999)),
            ("iv_hv_ratio", F(0.1235)),
            // −2.000249999… as a double: half away from zero after 15 digits gives −2.0003.
            ("hv_slope", F(-2.00025)),
            ("iv_30d_zscore", F(99.999)),
            ("open_interest_zscore", F(-99.999)),
            ("volume_accel", F(9999.9999)),
            ("premium_flow", I(246_912_000)),
            ("price_momentum_20d", F(19.0)),
            ("vol_regime", S(2)),
            ("put_call_volume_skew", F(0.2)),
            ("put_call_oi_skew", F(-1.0)),
            ("volume_price_interaction", F(-57.0)),
        ],
    )
}

/// What `aapl_full` reads back as, every column as Postgres prints it.
const AAPL_FULL_STORED: [(&str, &str); 37] = [
    ("asof_date", "2024-03-08"),
    ("symbol", "AAPL"),
    ("call_volume", "1200"),
    ("put_volume", "800"),
    ("call_open_interest", "50000"),
    ("put_open_interest", "40000"),
    ("total_volume", "2000"),
    ("total_open_interest", "90000"),
    ("avg_daily_volume", "2000"),
    ("iv_30day", "0.2534567890123456"),
    ("stock_price", "170.73"),
    ("avg_daily_premium", "123456"),
    ("delta_call_oi", "-150"),
    ("delta_put_oi", "300"),
    ("iv_rank", "12.35"),
    ("hv_30day", "2.68"),
    ("volume_ema_7d", "1900"),
    ("volume_ema_30d", "1800"),
    ("volume_ema_60d", "1700"),
    ("iv_rank_ema_7d", "10.50"),
    ("iv_rank_ema_30d", "100.00"),
    ("iv_rank_ema_60d", "0.00"),
    ("volume_zscore", "-3.000"),
    ("iv_rank_zscore", "-999.999"),
    ("volume_trend_pct", "17.647"),
    ("iv_rank_trend_pct", "999.999"),
    ("iv_hv_ratio", "0.1235"),
    ("hv_slope", "-2.0003"),
    ("iv_30d_zscore", "99.999"),
    ("open_interest_zscore", "-99.999"),
    ("volume_accel", "9999.9999"),
    ("premium_flow", "246912000"),
    ("price_momentum_20d", "19.0000"),
    ("vol_regime", "2"),
    ("put_call_volume_skew", "0.2000"),
    ("put_call_oi_skew", "-1.0000"),
    ("volume_price_interaction", "-57.0000"),
];

/// A day with no volume and no history: nearly everything null.
fn spy_sparse() -> LakeRow {
    row(
        "SPY",
        "2024-03-08",
        &[
            ("call_volume", I(0)),
            ("put_volume", I(0)),
            ("total_volume", I(0)),
            ("avg_daily_volume", I(0)),
            ("put_call_volume_skew", F(0.0)),
        ],
    )
}

fn aapl_previous() -> LakeRow {
    row(
        "AAPL",
        "2024-03-07",
        &[
            ("iv_30day", F(0.25)),
            ("stock_price", F(168.0)),
            ("iv_rank", F(0.33)),
            ("vol_regime", S(0)),
        ],
    )
}

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("test pool connects")
}

/// Every row of orats_daily as (asof_date, symbol) → the non-null columns of `columns` as
/// Postgres prints them (simple protocol: text results).
async fn stored(
    pool: &PgPool,
    columns: &[&str],
) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let sql = format!(
        "SELECT asof_date, symbol, {} FROM orats_daily",
        columns.join(", ")
    );
    let rows = sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let text = |i: usize| r.try_get_unchecked::<Option<String>, _>(i).unwrap();
            let key = (text(0).unwrap(), text(1).unwrap());
            let values = columns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| text(i + 2).map(|v| (c.to_string(), v)))
                .collect();
            (key, values)
        })
        .collect()
}

/// updated_at by (asof_date, symbol).
async fn updated_at(pool: &PgPool) -> BTreeMap<(String, String), DateTime<Utc>> {
    let rows: Vec<(String, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT asof_date::text, symbol, updated_at FROM orats_daily")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().map(|(d, s, t)| ((d, s), t)).collect()
}

/// The key and the contract's columns.
fn contract_columns() -> Vec<&'static str> {
    let mut columns = vec!["asof_date", "symbol"];
    columns.extend(LAKE_COLUMNS.iter().map(|(c, _)| *c));
    columns
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(c, v)| (c.to_string(), v.to_string()))
        .collect()
}

fn key(d: &str, symbol: &str) -> (String, String) {
    (d.to_string(), symbol.to_string())
}

fn assert_clean(report: &SinkReport, written: usize, unchanged: usize, duplicates: usize) {
    assert!(report.soft_failed.is_empty(), "{:?}", report.soft_failed);
    assert_eq!(report.table, "orats_daily");
    assert_eq!(
        (report.written, report.unchanged, report.duplicates),
        (written, unchanged, duplicates),
        "{report:?}"
    );
}

/// The password as typed and as the URL percent-encodes it.
fn assert_no_password(pg: &TestPostgres, text: &str) {
    let url = url::Url::parse(&pg.url()).unwrap();
    for form in [pg.password(), url.password().unwrap()] {
        assert!(
            !text.contains(form),
            "password {form:?} leaked into: {text}"
        );
    }
}

#[tokio::test]
async fn orats_daily_round_trips_with_the_contract_rounding_and_reruns_change_nothing() {
    let pg = TestPostgres::start();
    let url = pg.create_database("orats_round_trip");
    let sink = PgSink::connect(&url).await.unwrap();
    let db = pool(&url).await;
    let (aapl, spy, previous) = (aapl_full(), spy_sparse(), aapl_previous());
    // A stale AAPL 2024-03-07 in the first batch; the later copy in the second batch wins.
    let stale = row(
        "AAPL",
        "2024-03-07",
        &[("iv_rank", F(50.0)), ("vol_regime", S(1))],
    );

    let first = sink
        .upsert_orats_daily(&[lake_batch(&[&stale, &spy]), lake_batch(&[&aapl, &previous])])
        .await
        .unwrap();
    assert_clean(&first, 3, 0, 1);
    let columns = contract_columns();
    let rows = stored(&db, &columns).await;
    let want = BTreeMap::from([
        (
            key("2024-03-07", "AAPL"),
            expected(&[
                ("asof_date", "2024-03-07"),
                ("symbol", "AAPL"),
                ("iv_30day", "0.25"),
                ("stock_price", "168"),
                ("iv_rank", "0.33"),
                ("vol_regime", "0"),
            ]),
        ),
        (key("2024-03-08", "AAPL"), expected(&AAPL_FULL_STORED)),
        (
            key("2024-03-08", "SPY"),
            expected(&[
                ("asof_date", "2024-03-08"),
                ("symbol", "SPY"),
                ("call_volume", "0"),
                ("put_volume", "0"),
                ("total_volume", "0"),
                ("avg_daily_volume", "0"),
                ("put_call_volume_skew", "0.0000"),
            ]),
        ),
    ]);
    assert_eq!(rows, want);
    let before = updated_at(&db).await;

    // The same rows in one batch, in another order: nothing is written, updated_at stays.
    let again = sink
        .upsert_orats_daily(&[lake_batch(&[&previous, &spy, &aapl])])
        .await
        .unwrap();
    assert_clean(&again, 0, 3, 0);
    assert_eq!(stored(&db, &columns).await, want);
    assert_eq!(updated_at(&db).await, before);

    // One changed value: that row alone is written and its updated_at moves.
    let spy_changed = row(
        "SPY",
        "2024-03-08",
        &[("call_volume", I(5)), ("put_call_volume_skew", F(1.0))],
    );
    let changed = sink
        .upsert_orats_daily(&[lake_batch(&[&spy_changed]), lake_batch(&[&aapl])])
        .await
        .unwrap();
    assert_clean(&changed, 1, 1, 0);
    let spy_key = key("2024-03-08", "SPY");
    let mut want_changed = want.clone();
    want_changed.insert(
        spy_key.clone(),
        expected(&[
            ("asof_date", "2024-03-08"),
            ("symbol", "SPY"),
            ("call_volume", "5"),
            ("put_call_volume_skew", "1.0000"),
        ]),
    );
    assert_eq!(stored(&db, &columns).await, want_changed);
    let after = updated_at(&db).await;
    for (key, time) in &after {
        if *key == spy_key {
            assert!(*time > before[key], "updated_at of the changed row moved");
        } else {
            assert_eq!(*time, before[key], "updated_at of unchanged {key:?} moved");
        }
    }

    // An empty input writes nothing and fails nothing.
    assert_clean(&sink.upsert_orats_daily(&[]).await.unwrap(), 0, 0, 0);
}

#[tokio::test]
async fn the_migration_keeps_a_v1_orats_daily_table_and_the_upsert_its_other_columns() {
    let pg = TestPostgres::start();
    let url = pg.create_database("orats_v1");
    let db = pool(&url).await;
    // V1's shape: its own id, a narrower symbol, an iv_rank of another precision, a column
    // this sink knows nothing about, its unique key in the other column order.
    sqlx::raw_sql(
        "CREATE TABLE orats_daily (
             id SERIAL PRIMARY KEY,
             symbol VARCHAR(10) NOT NULL,
             asof_date DATE NOT NULL,
             call_volume BIGINT,
             iv_rank NUMERIC(6, 2),
             legacy_note TEXT,
             UNIQUE (symbol, asof_date)
         );
         INSERT INTO orats_daily (symbol, asof_date, call_volume, iv_rank, legacy_note) VALUES
             ('AAPL', '2024-03-08', 5, 1.5, 'keep me'),
             ('MSFT', '2024-03-01', 7, NULL, 'untouched');",
    )
    .execute(&db)
    .await
    .unwrap();

    let sink = PgSink::connect(&url).await.unwrap();
    sink.migrate().await.unwrap();
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = 'orats_daily'::regclass AND NOT attisdropped AND attname IN
             ('id', 'symbol', 'iv_rank', 'legacy_note', 'hv_30day', 'vol_regime', 'updated_at')
         ORDER BY attnum",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let types: Vec<(&str, &str)> = types
        .iter()
        .map(|(c, t)| (c.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("id", "integer"),
            ("symbol", "character varying(10)"),
            ("iv_rank", "numeric(6,2)"),
            ("legacy_note", "text"),
            ("hv_30day", "numeric(12,2)"),
            ("vol_regime", "smallint"),
            ("updated_at", "timestamp with time zone"),
        ],
        "V1's columns keep their types, the contract's missing ones are added"
    );
    let uniques: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_index WHERE indrelid = 'orats_daily'::regclass AND indisunique",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        uniques, 2,
        "the primary key and V1's own (symbol, asof_date)"
    );

    let report = sink
        .upsert_orats_daily(&[lake_batch(&[&aapl_full()])])
        .await
        .unwrap();
    assert_clean(&report, 1, 0, 0);
    let rows = stored(
        &db,
        &["id", "legacy_note", "call_volume", "iv_rank", "hv_30day"],
    )
    .await;
    assert_eq!(
        rows,
        BTreeMap::from([
            (
                key("2024-03-01", "MSFT"),
                expected(&[
                    ("id", "2"),
                    ("legacy_note", "untouched"),
                    ("call_volume", "7"),
                ])
            ),
            (
                key("2024-03-08", "AAPL"),
                expected(&[
                    ("id", "1"),
                    ("legacy_note", "keep me"),
                    ("call_volume", "1200"),
                    ("iv_rank", "12.35"),
                    ("hv_30day", "2.68"),
                ])
            ),
        ])
    );

    // A table holding one key twice stops the migration with a clear message: those rows
    // may carry V1 columns that cannot be recomputed.
    let twice = pg.create_database("orats_v1_twice");
    sqlx::raw_sql(
        "CREATE TABLE orats_daily (symbol TEXT, asof_date DATE, legacy_note TEXT);
         INSERT INTO orats_daily VALUES ('A', '2024-03-08', 'x'), ('A', '2024-03-08', 'y');",
    )
    .execute(&pool(&twice).await)
    .await
    .unwrap();
    let err = PgSink::connect(&twice)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SinkError::Migrate { .. }), "{err:?}");
    assert!(
        message.contains("orats_daily holds several rows per (asof_date, symbol)"),
        "{message}"
    );
    assert_no_password(&pg, &message);
}

#[tokio::test]
async fn a_row_postgres_refuses_soft_fails_alone_and_bad_input_fails_before_writing() {
    let pg = TestPostgres::start();
    let url = pg.create_database("orats_bad_rows");
    let sink = PgSink::connect(&url).await.unwrap();
    let db = pool(&url).await;
    let good: Vec<LakeRow> = ["A", "B", "C", "D"]
        .into_iter()
        .map(|s| row(s, "2024-03-08", &[("iv_rank", F(99.99))]))
        .collect();
    // iv_rank is 0–100, so NUMERIC(5, 2): 1000 overflows it. A NaN is refused before sending.
    let overflow = row("BIG", "2024-03-08", &[("iv_rank", F(1000.0))]);
    let nan = row("NAN", "2024-03-07", &[("hv_slope", F(f64::NAN))]);
    let batch = lake_batch(&[&good[0], &good[1], &overflow, &good[2], &nan, &good[3]]);

    let report = sink
        .upsert_orats_daily(std::slice::from_ref(&batch))
        .await
        .unwrap();
    assert_eq!((report.written, report.unchanged), (4, 0), "{report:?}");
    let failed: Vec<(&str, NaiveDate)> = report
        .soft_failed
        .iter()
        .map(|f| (f.ticker.as_str(), f.trade_date))
        .collect();
    assert_eq!(
        failed,
        [("NAN", date("2024-03-07")), ("BIG", date("2024-03-08"))]
    );
    let reasons: Vec<&str> = report
        .soft_failed
        .iter()
        .map(|f| f.reason.as_str())
        .collect();
    assert_eq!(
        reasons[0],
        "hv_slope is NaN: the table holds finite numbers only"
    );
    assert!(
        reasons[1].contains("numeric field overflow") && reasons[1].ends_with("(SQLSTATE 22003)"),
        "{}",
        reasons[1]
    );
    for reason in reasons {
        assert_no_password(&pg, reason);
    }
    let rows = stored(&db, &["iv_rank"]).await;
    let symbols: Vec<&str> = rows.keys().map(|(_, s)| s.as_str()).collect();
    assert_eq!(symbols, ["A", "B", "C", "D"]);
    assert!(rows.values().all(|v| v["iv_rank"] == "99.99"));

    // A batch missing a column fails the whole call, naming the batch and the column, and
    // nothing of the other batches is written.
    let without_regime: Vec<usize> = (0..batch.num_columns())
        .filter(|&i| batch.schema().field(i).name() != "vol_regime")
        .collect();
    let other = lake_batch(&[&row("NEW", "2024-03-11", &[])]);
    let err = sink
        .upsert_orats_daily(&[other, batch.project(&without_regime).unwrap()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, SinkError::OratsDailyInput { batch: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "orats_daily input batch 1: column vol_regime is missing"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orats_daily")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 4);
}

#[tokio::test]
async fn a_role_that_may_only_read_and_write_orats_daily_upserts_once_the_owner_migrated() {
    let pg = TestPostgres::start();
    let owner = pg.create_database("orats_least_privilege");
    let owner_pool = pool(&owner).await;
    sqlx::raw_sql(NIGHTLY_ROLE)
        .execute(&owner_pool)
        .await
        .unwrap();
    PgSink::connect(&owner)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    sqlx::raw_sql(NIGHTLY_GRANTS)
        .execute(&owner_pool)
        .await
        .unwrap();
    let nightly = pg.url_as("orats_least_privilege", "nightly", NIGHTLY_PASSWORD);

    let sink = PgSink::connect(&nightly).await.unwrap();
    let (aapl, spy) = (aapl_full(), spy_sparse());
    let report = sink
        .upsert_orats_daily(&[lake_batch(&[&aapl, &spy])])
        .await
        .unwrap();
    assert_clean(&report, 2, 0, 0);
    let again = sink
        .upsert_orats_daily(&[lake_batch(&[&aapl, &spy])])
        .await
        .unwrap();
    assert_clean(&again, 0, 2, 0);
    let rows = stored(&owner_pool, &contract_columns()).await;
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        [key("2024-03-08", "AAPL"), key("2024-03-08", "SPY")]
    );
}
