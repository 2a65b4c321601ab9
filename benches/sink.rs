//! Sink benchmarks on a throwaway Postgres (`cargo bench --bench sink`):
//!
//! 1. throughput: a full day of both profiles through the sink, batched (the default: batches
//!    of 1,000 rows, three in flight), batched on one connection, and one statement per row
//!    (`batch_size = 1`, one connection), for a first day (tickers registered), the next
//!    day, and the same day again (nothing changes); beside them, the server alone storing
//!    the same A3 documents, the bound on the daily_snapshots rate;
//! 2. lookup latency: the V2 handoff's shadow-scoring query on five years of
//!    `gex_metrics_snapshot` (5,800 symbols × 1,260 days ≈ 7.3M rows, loaded on the server).
//!
//! Sizes come from `GEXLAKE_BENCH_SYMBOLS` (5800), `GEXLAKE_BENCH_DAYS` (1260) and
//! `GEXLAKE_BENCH_LOOKUPS` (2000); `GEXLAKE_BENCH_DAYS=20` makes a quick run. The batched mode
//! takes the CLI's `GEXLAKE_SINK_BATCH_SIZE` and `GEXLAKE_SINK_CONCURRENCY`;
//! `GEXLAKE_BENCH_MODES=batched,per-row` runs only those modes.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use gexlake::metrics::Profile;
use gexlake::sink::{PgSink, SinkOptions};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use support::handoff::SHADOW_LOOKUP;
use support::pg::TestPostgres;
use support::synthetic::synthetic_day;

struct Sizes {
    symbols: usize,
    days: usize,
    lookups: usize,
}

impl Sizes {
    fn from_env() -> Self {
        let read = |name: &str, default: usize| match std::env::var(name) {
            Ok(value) => value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value:?} is not a count")),
            Err(_) => default,
        };
        Self {
            symbols: read("GEXLAKE_BENCH_SYMBOLS", 5800),
            days: read("GEXLAKE_BENCH_DAYS", 1260),
            lookups: read("GEXLAKE_BENCH_LOOKUPS", 2000),
        }
    }
}

fn main() {
    let sizes = Sizes::from_env();
    let pg = TestPostgres::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        throughput(&pg, &sizes).await;
        lookups(&pg, &sizes).await;
    });
}

async fn throughput(pg: &TestPostgres, sizes: &Sizes) {
    let first = NaiveDate::from_ymd_opt(2024, 3, 7).unwrap();
    let next = NaiveDate::from_ymd_opt(2024, 3, 8).unwrap();
    let days = [
        ("first day, new tickers", first),
        ("next day", next),
        ("next day again", next),
    ];
    println!(
        "\nsink throughput: {} tickers per day, both profiles",
        sizes.symbols
    );
    println!(
        "{:<8} {:<24} {:<22} {:>6} {:>8} {:>9} {:>10}",
        "mode", "table", "day", "rows", "written", "seconds", "rows/s"
    );
    // The CLI's tuning variables apply to the batched mode, as they would to a run.
    let defaults = SinkOptions::default();
    let tuned = |name: &str, default: usize| {
        std::env::var(name).ok().map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{name}={v:?}"))
        })
    };
    let batch = tuned("GEXLAKE_SINK_BATCH_SIZE", defaults.batch_size);
    let concurrency = tuned("GEXLAKE_SINK_CONCURRENCY", defaults.concurrency);
    // GEXLAKE_BENCH_MODES (e.g. "batched") runs only the named modes.
    let modes = std::env::var("GEXLAKE_BENCH_MODES").unwrap_or_default();
    for (mode, batch_size, concurrency) in [
        ("batched", batch, concurrency),
        ("batched-1", batch, 1),
        ("per-row", 1, 1),
    ] {
        if !modes.is_empty() && !modes.split(',').any(|m| m == mode) {
            continue;
        }
        let url = pg.create_database(&format!("throughput_{}", mode.replace('-', "_")));
        let options = SinkOptions {
            batch_size,
            concurrency,
            ..SinkOptions::default()
        };
        let sink = PgSink::connect_with(&url, options).await.expect("connect");
        sink.migrate().await.expect("migrate");
        let mut total = (0, Duration::ZERO);
        for (label, date) in days {
            let a3 = synthetic_day(Profile::A3, date, sizes.symbols);
            let v2 = synthetic_day(Profile::V2, date, sizes.symbols);
            let started = Instant::now();
            let daily = sink
                .upsert_daily_snapshots(&a3)
                .await
                .expect("daily_snapshots");
            let daily_time = started.elapsed();
            let started = Instant::now();
            let gex = sink
                .upsert_gex_metrics(&v2)
                .await
                .expect("gex_metrics_snapshot");
            let gex_time = started.elapsed();
            for (report, elapsed) in [(&daily, daily_time), (&gex, gex_time)] {
                assert!(
                    report.soft_failed.is_empty(),
                    "{mode} {}: {:?}",
                    report.table,
                    report.soft_failed.first()
                );
                let written = report.written.to_string();
                print_row(mode, report.table, label, sizes.symbols, &written, elapsed);
                total = (total.0 + sizes.symbols, total.1 + elapsed);
            }
        }
        print_row(mode, "both tables", "all three days", total.0, "", total.1);
        if batch_size > 1 {
            let (rows, elapsed) = server_only_documents(&url).await;
            let table = "daily_snapshots (copy)";
            print_row(
                "server",
                table,
                "next day, no client",
                rows,
                &rows.to_string(),
                elapsed,
            );
        }
    }
}

/// The baseline under the daily_snapshots rate: the server alone parsing and storing the same
/// documents (from text, into a copy of the table with its compression and key, temporary so
/// without WAL, and without conflict checks). No client can write them faster.
async fn server_only_documents(url: &str) -> (usize, Duration) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(
        "CREATE TEMP TABLE copy (LIKE daily_snapshots INCLUDING ALL);
         CREATE TEMP TABLE docs AS
             SELECT time, ticker_id, dealer_metrics_json::text AS doc FROM daily_snapshots
             WHERE time = (SELECT max(time) FROM daily_snapshots)",
    )
    .execute(&mut conn)
    .await
    .expect("copy of daily_snapshots");
    let started = Instant::now();
    let done = sqlx::query(
        "INSERT INTO copy (time, ticker_id, dealer_metrics_json, model_version)
         SELECT time, ticker_id, doc::jsonb, 1 FROM docs",
    )
    .execute(&mut conn)
    .await
    .expect("server-only insert");
    (done.rows_affected() as usize, started.elapsed())
}

fn print_row(mode: &str, table: &str, day: &str, rows: usize, written: &str, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{mode:<8} {table:<24} {day:<22} {rows:>6} {written:>8} {seconds:>9.3} {:>10.0}",
        rows as f64 / seconds
    );
}

/// Five years of rows written straight on the server, indexes built after the load as a
/// bulk load would (the schema itself comes from the migrations).
const LOAD: [&str; 6] = [
    "SET maintenance_work_mem = '512MB'",
    "ALTER TABLE gex_metrics_snapshot DROP CONSTRAINT uq_gex_symbol_ts",
    "DROP INDEX idx_gex_symbol_ts",
    "INSERT INTO gex_metrics_snapshot
         (symbol, snapshot_ts, spot_price, net_gex, net_dex, call_wall_strike, put_wall_strike,
          gamma_flip_level, contracts_analyzed)
     SELECT 'S' || lpad(s::text, 5, '0'),
            ('2021-01-04'::date + (d / 5) * 7 + d % 5 + time '16:00') AT TIME ZONE 'America/New_York',
            round((5 + random() * 495)::numeric, 2),
            ((random() - 0.5) * 1e9)::numeric,
            ((random() - 0.5) * 2e6)::numeric,
            round((5 + random() * 495)::numeric),
            round((5 + random() * 495)::numeric),
            CASE WHEN random() < 0.7 THEN round((5 + random() * 495)::numeric, 4) END,
            (random() * 400)::int
     FROM generate_series(0, $1 - 1) AS d CROSS JOIN LATERAL generate_series(0, $2 - 1) AS s",
    "ALTER TABLE gex_metrics_snapshot ADD CONSTRAINT uq_gex_symbol_ts UNIQUE (symbol, snapshot_ts)",
    "CREATE INDEX idx_gex_symbol_ts ON gex_metrics_snapshot (symbol, snapshot_ts)",
];

async fn lookups(pg: &TestPostgres, sizes: &Sizes) {
    let url = pg.create_database("lookup");
    PgSink::connect(&url)
        .await
        .expect("connect")
        .migrate()
        .await
        .expect("migrate");
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let rows = sizes.days * sizes.symbols;
    println!(
        "\nshadow-scoring lookup: loading {rows} rows ({} days × {} symbols)",
        sizes.days, sizes.symbols
    );
    let started = Instant::now();
    for statement in LOAD {
        let query = sqlx::query(statement);
        let query = if statement.contains("$1") {
            query.bind(sizes.days as i32).bind(sizes.symbols as i32)
        } else {
            query
        };
        query
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    sqlx::raw_sql("VACUUM ANALYZE gex_metrics_snapshot")
        .execute(&mut conn)
        .await
        .expect("vacuum");
    println!(
        "loaded, indexed and analysed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let symbol = |i: usize| format!("S{i:05}");
    let explain = AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {SHADOW_LOOKUP}"
    ));
    let plan: Vec<String> = sqlx::query_scalar(explain)
        .bind(symbol(0))
        .fetch_all(&mut conn)
        .await
        .expect("explain");
    println!("plan:\n  {}", plan.join("\n  "));

    let mut rng = ChaCha8Rng::seed_from_u64(20_240_308);
    let mut every_symbol: Vec<String> = (0..sizes.symbols).map(symbol).collect();
    every_symbol.shuffle(&mut rng);
    let random: Vec<String> = (0..sizes.lookups)
        .map(|_| symbol(rng.random_range(0..sizes.symbols)))
        .collect();
    println!(
        "{:<38} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "lookups", "count", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    // The first pass reads each symbol's pages for the first time since the load; the shadow
    // scorer runs all day, so the second (warm) pass is its steady state. Target: p99 < 2 ms.
    for (label, symbols) in [
        ("first lookup of each symbol (cold)", &every_symbol),
        ("random symbols, table warm", &random),
    ] {
        let mut times = Vec::with_capacity(symbols.len());
        for symbol in symbols {
            let started = Instant::now();
            lookup(&mut conn, symbol).await;
            times.push(started.elapsed());
        }
        times.sort();
        let at = |q: f64| {
            let rank = (times.len() as f64 * q).ceil() as usize;
            times[rank.clamp(1, times.len()) - 1].as_secs_f64() * 1e3
        };
        println!(
            "{label:<38} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            times.len(),
            at(0.50),
            at(0.90),
            at(0.99),
            at(1.0)
        );
    }
}

async fn lookup(conn: &mut PgConnection, symbol: &str) {
    let row = sqlx::query(SHADOW_LOOKUP)
        .bind(symbol)
        .fetch_optional(conn)
        .await
        .expect("lookup");
    assert!(row.is_some(), "no row for {symbol}");
}
