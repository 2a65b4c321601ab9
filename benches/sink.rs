//! Sink benchmarks on a throwaway Postgres (`cargo bench --bench sink`):
//!
//! 1. throughput: a full day of both profiles through the sink, batched (the default: batches
//!    of 500 rows, four in flight), batched on one connection, and one statement per row
//!    (`batch_size = 1`, one connection), for a first day (tickers registered), the next
//!    day, and the same day again (nothing changes);
//! 2. daily_snapshots paths: new days written alternately by the sink (a day the table holds
//!    no row of is copied in, binary COPY; ticker ids remembered from earlier days) and by the
//!    previous path (batches of 1,000 rows inserted from UNNEST arrays with the documents
//!    bound as text, three in flight in order), rows/s and the server's and the client's CPU
//!    time side by side, against the 50K rows/s target; beside them two bounds on any client,
//!    every round: the server alone storing the same documents in two backends into a copy of
//!    the table with its key, foreign key and WAL (what any writer of new rows pays), and into
//!    a bare temporary copy (no foreign key, no WAL); the sink's rate as a ratio of each;
//! 3. lookup latency: the V2 handoff's shadow-scoring query on five years of
//!    `gex_metrics_snapshot` (5,800 symbols × 1,260 days ≈ 7.3M rows, loaded on the server).
//!
//! Sizes come from `GEXLAKE_BENCH_SYMBOLS` (5800), `GEXLAKE_BENCH_DAYS` (1260),
//! `GEXLAKE_BENCH_LOOKUPS` (2000) and `GEXLAKE_BENCH_ROUNDS` (5, new days per path in 2);
//! `GEXLAKE_BENCH_DAYS=20` makes a quick run. The batched mode and the sink's path in 2 take
//! the CLI's `GEXLAKE_SINK_BATCH_SIZE` and `GEXLAKE_SINK_CONCURRENCY`;
//! `GEXLAKE_BENCH_MODES=batched,per-row,paths` runs only those parts of 1 and 2.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use gexlake::metrics::json::DealerMetricsDocument;
use gexlake::metrics::{DealerMetrics, Profile};
use gexlake::sink::{PgSink, SinkOptions};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use support::handoff::SHADOW_LOOKUP;
use support::pg::TestPostgres;
use support::synthetic::synthetic_day;

struct Sizes {
    symbols: usize,
    days: usize,
    lookups: usize,
    rounds: usize,
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
            rounds: read("GEXLAKE_BENCH_ROUNDS", 5),
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
    // GEXLAKE_BENCH_MODES (e.g. "batched,paths") runs only the named modes.
    let modes = std::env::var("GEXLAKE_BENCH_MODES").unwrap_or_default();
    let wanted = |mode: &str| modes.is_empty() || modes.split(',').any(|m| m == mode);
    runtime.block_on(async {
        throughput(&pg, &sizes, &wanted).await;
        if wanted("paths") {
            daily_snapshots_paths(&pg, &sizes).await;
        }
        lookups(&pg, &sizes).await;
    });
}

/// New days the batched mode writes after the first, each table's "next day" rate being their
/// median: one day of a few thousand rows, timed once, swung by a third from run to run.
const NEXT_DAYS: usize = 5;

async fn throughput(pg: &TestPostgres, sizes: &Sizes, wanted: &dyn Fn(&str) -> bool) {
    let first = NaiveDate::from_ymd_opt(2024, 3, 7).unwrap();
    let next = NaiveDate::from_ymd_opt(2024, 3, 8).unwrap();
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
    let batch = tuned("GEXLAKE_SINK_BATCH_SIZE", defaults.batch_size);
    let concurrency = tuned("GEXLAKE_SINK_CONCURRENCY", defaults.concurrency);
    // Rows a second over both tables and the three days (first, next, the last next again),
    // per mode; and each table's new days, batched.
    let mut overall: HashMap<&str, f64> = HashMap::new();
    let mut next_days: HashMap<&str, Vec<f64>> = HashMap::new();
    for (mode, batch_size, concurrency) in [
        ("batched", batch, concurrency),
        ("batched-1", batch, 1),
        ("per-row", 1, 1),
    ] {
        if !wanted(mode) {
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
        // The slower modes write one new day; the batched one NEXT_DAYS, for a median.
        let new_days = if mode == "batched" { NEXT_DAYS } else { 1 };
        let mut days = vec![("first day, new tickers".to_string(), first, true)];
        let mut date = next;
        for n in 1..=new_days {
            let label = if n == 1 {
                "next day".to_string()
            } else {
                format!("next day {n}")
            };
            days.push((label, date, n == new_days));
            date = date.succ_opt().expect("a next day");
        }
        let last = days.last().expect("a next day").1;
        days.push(("next day again".to_string(), last, true));
        let mut total = (0, Duration::ZERO);
        for (label, date, in_total) in days {
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
                print_row(mode, report.table, &label, sizes.symbols, &written, elapsed);
                if in_total {
                    total = (total.0 + sizes.symbols, total.1 + elapsed);
                }
                if mode == "batched" && label.starts_with("next day") && label != "next day again" {
                    next_days
                        .entry(report.table)
                        .or_default()
                        .push(sizes.symbols as f64 / elapsed.as_secs_f64());
                }
            }
        }
        print_row(
            mode,
            "both tables",
            "first, next, again",
            total.0,
            "",
            total.1,
        );
        overall.insert(mode, total.0 as f64 / total.1.as_secs_f64());
    }
    for table in ["daily_snapshots", "gex_metrics_snapshot"] {
        let Some(rates) = next_days.get_mut(table) else {
            continue;
        };
        let count = rates.len();
        result(
            &format!(
                "sink, `{table}`, a new day of {} tickers after the first, batched (median of {count} days)",
                sizes.symbols
            ),
            &format!("{:.0} rows/s", median(rates)),
            "",
            "",
            "≥ 50K rows/s",
        );
    }
    if let Some(batched) = overall.get("batched") {
        let per_row = overall.get("per-row");
        result(
            "sink, both tables, three days (first, next, same again), batched",
            &format!("{batched:.0} rows/s"),
            &per_row.map_or(String::new(), |r| {
                format!("one statement a row {r:.0} rows/s")
            }),
            &per_row.map_or(String::new(), |r| format!("{:.1}×", batched / r)),
            "",
        );
    }
}

/// A new day's batch as the sink wrote it before new rows were copied in: the documents
/// bound as text in UNNEST arrays, one INSERT a batch.
const PREVIOUS_INSERT: &str = "
INSERT INTO daily_snapshots (time, ticker_id, dealer_metrics_json, model_version, updated_at)
SELECT u.ts, u.ticker_id, u.doc::jsonb, u.model_version, now()
FROM UNNEST($1::timestamptz[], $2::int8[], $3::text[], $4::int4[])
    AS u(ts, ticker_id, doc, model_version)";

/// Issue #15's goal for writing a new day into daily_snapshots.
const TARGET_ROWS_PER_SECOND: f64 = 50_000.0;

/// New days written alternately by the sink and by the previous path; the server's and the
/// client's CPU time are printed beside the rates because on a shared machine they vary far
/// less than the wall clock.
async fn daily_snapshots_paths(pg: &TestPostgres, sizes: &Sizes) {
    let url = pg.create_database("paths");
    let defaults = SinkOptions::default();
    let options = SinkOptions {
        batch_size: tuned("GEXLAKE_SINK_BATCH_SIZE", defaults.batch_size),
        concurrency: tuned("GEXLAKE_SINK_CONCURRENCY", defaults.concurrency),
        ..defaults
    };
    let sink = PgSink::connect_with(&url, options.clone())
        .await
        .expect("connect");
    let mut day = NaiveDate::from_ymd_opt(2024, 4, 1).unwrap();
    // The first day registers the tickers, so both paths then write new rows only.
    let first_rows = synthetic_day(Profile::A3, day, sizes.symbols);
    let first = sink
        .upsert_daily_snapshots(&first_rows)
        .await
        .expect("first day");
    assert!(first.soft_failed.is_empty(), "{:?}", first.soft_failed);
    let previous = PgPoolOptions::new()
        .max_connections(PREVIOUS_CONCURRENCY as u32 + 1)
        .connect(&url)
        .await
        .expect("pool");
    // The previous sink remembered ticker ids between days too.
    let ids: HashMap<String, i64> =
        sqlx::query_as("SELECT symbol::text, id::int8 FROM tickers WHERE symbol = ANY($1::text[])")
            .bind(
                first_rows
                    .iter()
                    .map(|m| m.ticker.as_str())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&previous)
            .await
            .expect("ticker ids")
            .into_iter()
            .collect();
    let mut monitor = PgConnection::connect(&url).await.expect("connect");
    let names = [
        "previous (INSERT of UNNEST arrays)".to_string(),
        format!(
            "sink (COPY, {} rows × {} in flight)",
            options.batch_size, options.concurrency
        ),
    ];
    let mut rates: [Vec<f64>; 2] = Default::default();
    let mut server_ms: [Vec<u64>; 2] = Default::default();
    let mut client_ms: [Vec<u64>; 2] = Default::default();
    let mut bound = Vec::with_capacity(sizes.rounds);
    let mut floor = Vec::with_capacity(sizes.rounds);
    for round in 0..sizes.rounds {
        // Alternating which path goes first keeps either from always following the other.
        for path in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            day = day.succ_opt().expect("a next day");
            let rows = synthetic_day(Profile::A3, day, sizes.symbols);
            let cpu_before = server_cpu_ms(&mut monitor).await;
            let client_before = process_cpu_ms("self");
            let started = Instant::now();
            let written = if path == 0 {
                previous_path(&previous, &rows, &ids).await
            } else {
                let report = sink.upsert_daily_snapshots(&rows).await.expect("sink");
                assert!(report.soft_failed.is_empty(), "{:?}", report.soft_failed);
                report.written
            };
            let elapsed = started.elapsed();
            client_ms[path].push(process_cpu_ms("self").saturating_sub(client_before));
            assert_eq!(written, rows.len(), "{}: every row is new", names[path]);
            rates[path].push(rows.len() as f64 / elapsed.as_secs_f64());
            server_ms[path].push(server_cpu_ms(&mut monitor).await.saturating_sub(cpu_before));
        }
        // The bounds in the same round, as the machine's speed drifts between rounds.
        let (rows, elapsed) = server_only_documents(&url, 2, Target::Bare).await;
        bound.push(rows as f64 / elapsed.as_secs_f64());
        let (rows, elapsed) = server_only_documents(&url, 2, Target::LikeTheTable).await;
        floor.push(rows as f64 / elapsed.as_secs_f64());
    }
    println!(
        "\ndaily_snapshots, a new day of {} tickers: {} days per path, medians",
        sizes.symbols, sizes.rounds
    );
    println!(
        "{:<48} {:>10} {:>15} {:>15}",
        "path", "rows/s", "server CPU ms", "client CPU ms"
    );
    let rate = [median(&mut rates[0]), median(&mut rates[1])];
    let cpu = [median(&mut server_ms[0]), median(&mut server_ms[1])];
    let client = [median(&mut client_ms[0]), median(&mut client_ms[1])];
    for path in 0..2 {
        println!(
            "{:<48} {:>10.0} {:>15} {:>15}",
            names[path], rate[path], cpu[path], client[path]
        );
    }
    result(
        &format!(
            "sink, `daily_snapshots`, a new day of {} tickers (median of {} days)",
            sizes.symbols, sizes.rounds
        ),
        &format!("{:.0} rows/s", rate[1]),
        &format!(
            "previous path (INSERT of UNNEST arrays) {:.0} rows/s",
            rate[0]
        ),
        &format!("{:.2}×", rate[1] / rate[0]),
        "≥ 50K rows/s",
    );
    println!(
        "sink / previous: {:.2}× the rate, {:.2}× the server CPU; target {TARGET_ROWS_PER_SECOND:.0} rows/s {}",
        rate[1] / rate[0],
        cpu[1] as f64 / cpu[0].max(1) as f64,
        if rate[1] >= TARGET_ROWS_PER_SECOND {
            "met"
        } else {
            "not met"
        }
    );
    let (rows, elapsed) = server_only_documents(&url, 1, Target::Bare).await;
    println!(
        "{:<48} {:>10.0}",
        "server alone, bare table, 1 backend",
        rows as f64 / elapsed.as_secs_f64()
    );
    let bound = median(&mut bound);
    println!(
        "{:<48} {bound:>10.0}",
        "server alone, bare table, 2 backends"
    );
    let floor = median(&mut floor);
    println!(
        "{:<48} {floor:>10.0}",
        "server alone, like daily_snapshots, 2 backends"
    );
    result(
        &format!(
            "same / the server alone storing the same documents in 2 backends into a copy of the table with its key, foreign key and WAL (no client; median of {} days)",
            sizes.rounds
        ),
        &format!("{:.0} rows/s", rate[1]),
        &format!("{floor:.0} rows/s"),
        &format!("{:.2}×", rate[1] / floor),
        "reported",
    );
    result(
        &format!(
            "same / the server alone, the same documents into a bare temporary copy (no client, foreign key or WAL; median of {} days)",
            sizes.rounds
        ),
        &format!("{:.0} rows/s", rate[1]),
        &format!("{bound:.0} rows/s"),
        &format!("{:.2}×", rate[1] / bound),
        "reported",
    );
}

/// The previous sink's batches for a new day.
const PREVIOUS_BATCH_SIZE: usize = 1000;
/// The previous sink's batches in flight (taken in order).
const PREVIOUS_CONCURRENCY: usize = 3;

/// The previous path: batches of UNNEST arrays with the documents bound as text, inserted,
/// as many in flight as the previous sink ran. Returns the rows written.
async fn previous_path(pool: &PgPool, rows: &[DealerMetrics], ids: &HashMap<String, i64>) -> usize {
    futures::stream::iter(rows.chunks(PREVIOUS_BATCH_SIZE))
        .map(|batch| async move {
            let docs: Vec<String> = batch
                .iter()
                .map(|m| serde_json::to_string(&DealerMetricsDocument::new(m)).expect("document"))
                .collect();
            sqlx::query(PREVIOUS_INSERT)
                .bind(batch.iter().map(|m| m.snapshot_ts).collect::<Vec<_>>())
                .bind(batch.iter().map(|m| ids[&m.ticker]).collect::<Vec<_>>())
                .bind(docs)
                .bind(batch.iter().map(|m| m.model_version).collect::<Vec<_>>())
                .execute(pool)
                .await
                .map(|done| done.rows_affected() as usize)
        })
        .buffered(PREVIOUS_CONCURRENCY)
        .try_fold(0, |sum, written| async move { Ok(sum + written) })
        .await
        .expect("previous path")
}

/// CPU time (user + system) of the database's other backends so far, from `/proc` (the
/// server runs on this machine; Linux counts it in 1/100 s).
async fn server_cpu_ms(monitor: &mut PgConnection) -> u64 {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut *monitor)
    .await
    .expect("backends");
    pids.into_iter()
        .map(|pid| process_cpu_ms(&pid.to_string()))
        .sum()
}

/// CPU time (user + system) of process `pid` (or `self`) so far, from `/proc` (Linux counts
/// it in 1/100 s); 0 when the process is gone.
fn process_cpu_ms(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The fields after the parenthesised command name; utime and stime are 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    (ticks(11).unwrap_or(0) + ticks(12).unwrap_or(0)) * 10
}

/// The CLI's sink tuning variable `name`, or `default`.
fn tuned(name: &str, default: usize) -> usize {
    std::env::var(name).ok().map_or(default, |v| {
        v.parse().unwrap_or_else(|_| panic!("{name}={v:?}"))
    })
}

fn median<T: Copy + PartialOrd>(values: &mut [T]) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    values[values.len() / 2]
}

/// One row of the benchmark page, appended to `$GEXLAKE_BENCH_RESULTS` when set (as the
/// shell benchmarks do, `benches/precision.sh`); the sink's rows do not depend on the
/// sample precision.
fn result(benchmark: &str, gexlake: &str, baseline: &str, ratio: &str, target: &str) {
    let Ok(path) = std::env::var("GEXLAKE_BENCH_RESULTS") else {
        return;
    };
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    writeln!(
        file,
        "sink.rs\t-\t{benchmark}\t{gexlake}\t{baseline}\t{ratio}\t{target}"
    )
    .unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// Where [`server_only_documents`] stores the documents.
#[derive(Clone, Copy)]
enum Target {
    /// A temporary copy of daily_snapshots with its compression and key: no WAL, no foreign
    /// key.
    Bare,
    /// A copy of daily_snapshots with its compression, key and foreign key to `tickers`,
    /// logged: what any writer of new rows pays.
    LikeTheTable,
}

/// Bounds under the daily_snapshots rate: the server alone parsing and storing the latest
/// day's documents (from text, without conflict checks) into `target`, split over `backends`
/// sessions running side by side. No client can write them faster.
async fn server_only_documents(url: &str, backends: usize, target: Target) -> (usize, Duration) {
    // (made once, shared by the sessions; made by each session for itself; the table)
    let (shared, setup, table) = match target {
        Target::Bare => (
            None,
            "CREATE TEMP TABLE copy (LIKE daily_snapshots INCLUDING ALL);",
            "copy",
        ),
        Target::LikeTheTable => (
            Some(
                "DROP TABLE IF EXISTS floor_copy;
                 CREATE TABLE floor_copy (LIKE daily_snapshots INCLUDING ALL);
                 ALTER TABLE floor_copy ADD FOREIGN KEY (ticker_id) REFERENCES tickers (id);",
            ),
            "",
            "floor_copy",
        ),
    };
    if let Some(shared) = shared {
        let mut conn = PgConnection::connect(url).await.expect("connect");
        sqlx::raw_sql(shared)
            .execute(&mut conn)
            .await
            .expect("copy of daily_snapshots");
    }
    let mut sessions = Vec::with_capacity(backends);
    for share in 0..backends {
        let mut conn = PgConnection::connect(url).await.expect("connect");
        sqlx::raw_sql(AssertSqlSafe(format!(
            "{setup}
             CREATE TEMP TABLE docs AS
                 SELECT time, ticker_id, dealer_metrics_json::text AS doc FROM daily_snapshots
                 WHERE time = (SELECT max(time) FROM daily_snapshots)
                   AND ticker_id % {backends} = {share}"
        )))
        .execute(&mut conn)
        .await
        .expect("documents of the latest day");
        sessions.push(conn);
    }
    let insert = format!(
        "INSERT INTO {table} (time, ticker_id, dealer_metrics_json, model_version)
         SELECT time, ticker_id, doc::jsonb, 1 FROM docs"
    );
    let started = Instant::now();
    let inserted = futures::future::join_all(
        sessions
            .iter_mut()
            .map(|conn| sqlx::query(AssertSqlSafe(insert.clone())).execute(conn)),
    )
    .await;
    let elapsed = started.elapsed();
    let rows = inserted
        .into_iter()
        .map(|done| done.expect("server-only insert").rows_affected() as usize)
        .sum();
    (rows, elapsed)
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
        result(
            &format!(
                "shadow-scoring lookup, {label}, {} symbols × {} days",
                sizes.symbols, sizes.days
            ),
            &format!("p50 {:.2} ms, p99 {:.2} ms", at(0.50), at(0.99)),
            "",
            "",
            "p99 < 2 ms",
        );
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
