//! `gexlake backfill` end to end, as a user runs it: a generated week of archives (a clean
//! day, one with bad rows, a header-only holiday, a corrupt one) into a local lake and a real
//! Postgres, checked against a separate `gexlake metrics` run; and a backfill killed with
//! SIGKILL at several moments, then re-run, ending byte for byte where an uninterrupted run ends.

mod common;
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use gexlake::sample::{Layout, SampleSpec, archive_name, member_name, write_csv};
use rand::{Rng, SeedableRng};
use sqlx::Row;
use support::pg::TestPostgres;

/// Longest a single gexlake run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(120);

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// The binary with the caller's gexlake settings removed, JSON logs, output captured.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gexlake"));
    cmd.args(["--log-format", "json"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("GEXLAKE_") || key == "RUST_LOG" || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Waits for `child` at most [`RUN_LIMIT`]; returns its exit code (None when killed) and stderr.
fn finish(child: Child, what: &str) -> (Option<i32>, String) {
    common::wait_with_stderr(child, RUN_LIMIT, what)
}

/// Runs gexlake to completion and asserts its exit status.
#[track_caller]
fn gexlake(args: &[&str], expected: i32) -> String {
    let (code, stderr) = finish(
        command(args).spawn().expect("start gexlake"),
        &format!("gexlake {args:?}"),
    );
    assert_eq!(code, Some(expected), "gexlake {args:?}\n{stderr}");
    stderr
}

/// The `run summary` event of a JSON log.
fn run_summary(stderr: &str) -> serde_json::Value {
    let line = stderr
        .lines()
        .find(|l| l.contains("\"run summary\""))
        .expect("a run summary");
    serde_json::from_str(line).unwrap()
}

fn sample_csv(day: NaiveDate, seed: u64) -> Vec<u8> {
    let spec = SampleSpec {
        tickers: 20,
        seed,
        layout: Layout::V1,
        ..SampleSpec::new(day)
    };
    let mut csv = Vec::new();
    write_csv(&spec, &mut csv).unwrap();
    csv
}

fn write_archive(dir: &Path, day: NaiveDate, csv: &[u8]) -> PathBuf {
    let path = dir.join(archive_name(day));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.start_file(member_name(day), zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(csv).unwrap();
    zip.finish().unwrap();
    path
}

/// Mon–Fri 2026-02-02…06: clean, bad rows, header-only holiday, corrupt, clean.
fn week(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    write_archive(dir, date("2026-02-02"), &sample_csv(date("2026-02-02"), 1));
    let mut bad = sample_csv(date("2026-02-03"), 2);
    bad.extend_from_slice(b"ZZZ,too,few,fields\n");
    let mut wrong_number = String::from_utf8(sample_csv(date("2026-02-03"), 3))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .replacen(",", ",not-a-number-", 4);
    wrong_number.push('\n');
    bad.extend_from_slice(wrong_number.as_bytes());
    write_archive(dir, date("2026-02-03"), &bad);
    write_archive(
        dir,
        date("2026-02-04"),
        format!("{}\n", Layout::V1.header()).as_bytes(),
    );
    let good = write_archive(dir, date("2026-02-05"), &sample_csv(date("2026-02-05"), 4));
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&good, &bytes[..bytes.len() / 2]).unwrap();
    write_archive(dir, date("2026-02-06"), &sample_csv(date("2026-02-06"), 5));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Rows of one query as text, sorted; a failing query (no table yet) gives its error.
fn try_rows(url: &str, sql: &str) -> Result<Vec<String>, sqlx::Error> {
    runtime().block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let fetched = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&pool).await;
        pool.close().await;
        let mut out: Vec<String> = fetched?.iter().map(|r| r.get::<String, _>(0)).collect();
        out.sort();
        Ok(out)
    })
}

#[track_caller]
fn rows(url: &str, sql: &str) -> Vec<String> {
    try_rows(url, sql).unwrap()
}

/// (ticker, trade date) → net GEX per table: gex_metrics_snapshot (v2) and daily_snapshots (a3).
fn database_gex(url: &str, table: &str) -> BTreeMap<(String, String), Option<f64>> {
    let sql = match table {
        "v2" => {
            "SELECT concat_ws('|', symbol, (snapshot_ts AT TIME ZONE 'America/New_York')::date, net_gex::float8) FROM gex_metrics_snapshot"
        }
        _ => {
            "SELECT concat_ws('|', t.symbol, (d.time AT TIME ZONE 'America/New_York')::date, (d.dealer_metrics_json->>'gex_net')::float8) \
              FROM daily_snapshots d JOIN tickers t ON t.id = d.ticker_id"
        }
    };
    rows(url, sql)
        .into_iter()
        .map(|line| {
            let mut parts = line.split('|');
            let ticker = parts.next().unwrap().to_string();
            let day = parts.next().unwrap().to_string();
            let gex = parts.next().and_then(|v| v.parse::<f64>().ok());
            ((ticker, day), gex)
        })
        .collect()
}

/// (ticker, trade date) → gex_net from a lake's `dealer_metrics/params=<params>` Parquet files.
fn parquet_gex(lake: &Path, params: &str) -> BTreeMap<(String, String), Option<f64>> {
    let mut out = BTreeMap::new();
    let dir = lake.join("dealer_metrics").join(format!("params={params}"));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let day = entry
            .file_name()
            .to_string_lossy()
            .trim_start_matches("trade_date=")
            .to_string();
        let bytes = bytes::Bytes::from(std::fs::read(entry.path().join("part.parquet")).unwrap());
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let ticker = datafusion::arrow::compute::cast(
                batch.column_by_name("ticker").unwrap(),
                &DataType::Utf8,
            )
            .unwrap();
            let ticker = ticker.as_string::<i32>();
            let gex = batch
                .column_by_name("gex_net")
                .unwrap()
                .as_primitive::<Float64Type>();
            for i in 0..batch.num_rows() {
                let value = gex.is_valid(i).then(|| gex.value(i));
                out.insert((ticker.value(i).to_string(), day.clone()), value);
            }
        }
    }
    out
}

#[track_caller]
fn assert_same_gex(
    database: &BTreeMap<(String, String), Option<f64>>,
    parquet: &BTreeMap<(String, String), Option<f64>>,
) {
    assert_eq!(
        database.keys().collect::<Vec<_>>(),
        parquet.keys().collect::<Vec<_>>(),
        "the database and the metrics run hold different (ticker, date) rows"
    );
    for (key, expected) in parquet {
        match (database[key], expected) {
            (None, None) => {}
            (Some(a), Some(b)) => assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "{key:?}: database {a}, Parquet {b}"
            ),
            (a, b) => panic!("{key:?}: database {a:?}, Parquet {b:?}"),
        }
    }
}

/// Rejected rows alone make the run exit 6 (the file converts and its metrics are computed);
/// a re-run, which skips the converted file, exits 0.
#[test]
fn rejected_rows_alone_exit_6() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("archives");
    std::fs::create_dir_all(&input).unwrap();
    let mut csv = sample_csv(date("2026-02-03"), 7);
    csv.extend_from_slice(b"ZZZ,too,few,fields\n");
    write_archive(&input, date("2026-02-03"), &csv);
    let lake = dir.path().join("lake");
    let args = [
        "backfill",
        "--dir",
        input.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
    ];
    let stderr = gexlake(&args, 6);
    let summary = run_summary(&stderr);
    assert_eq!(summary["rows_rejected"], 1, "{summary}");
    assert_eq!(summary["failed_files"], 0, "{summary}");
    assert!(
        lake.join("dealer_metrics/params=a3/trade_date=2026-02-03/part.parquet")
            .is_file()
    );
    gexlake(&args, 0);
}

#[test]
fn a_week_with_bad_files_lands_in_the_lake_and_postgres() {
    let pg = TestPostgres::start();
    let url = pg.create_database("week");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("archives");
    week(&input);
    let lake = dir.path().join("lake");
    let (input_s, lake_s) = (input.to_str().unwrap(), lake.to_str().unwrap());

    let stderr = gexlake(
        &[
            "backfill",
            "--dir",
            input_s,
            "--lake",
            lake_s,
            "--database-url",
            &url,
            "--jobs",
            "2",
        ],
        3,
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("FAILED") && l.contains("ORATS_SMV_Strikes_20260205.zip")),
        "the corrupt file is named as failed:\n{stderr}"
    );
    assert!(
        !stderr.contains(pg.password()),
        "the database password leaked into the log"
    );
    let summary = run_summary(&stderr);
    assert_eq!(summary["failed_files"], 1, "{summary}");

    // The bad rows went to _rejects; the holiday has a ledger entry and no partition.
    let ledger = |day: &str| -> serde_json::Value {
        let path = lake.join(format!("_ingest/ORATS_SMV_Strikes_{day}.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    assert_eq!(ledger("20260203")["rows_rejected"], 2);
    assert!(
        lake.join("_rejects/ORATS_SMV_Strikes_20260203.csv")
            .is_file()
    );
    assert_eq!(ledger("20260204")["rows_out"], 0);
    assert!(
        !lake
            .join("_ingest/ORATS_SMV_Strikes_20260205.json")
            .exists()
    );

    // A separate lake, converted and computed by the single-stage commands.
    let fresh = dir.path().join("fresh");
    let fresh_s = fresh.to_str().unwrap();
    gexlake(&["ingest", input_s, "--lake", fresh_s], 3);
    for profile in ["a3", "v2"] {
        gexlake(
            &[
                "metrics",
                "--lake",
                fresh_s,
                "--from",
                "2026-02-02",
                "--to",
                "2026-02-06",
                "--profile",
                profile,
            ],
            0,
        );
    }
    let v2 = parquet_gex(&fresh, "v2");
    let days: std::collections::BTreeSet<&str> = v2.keys().map(|(_, d)| d.as_str()).collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["2026-02-02", "2026-02-03", "2026-02-06"]
    );
    assert_same_gex(&database_gex(&url, "v2"), &v2);
    assert_same_gex(&database_gex(&url, "a3"), &parquet_gex(&fresh, "a3"));
    assert_eq!(
        parquet_gex(&lake, "v2"),
        v2,
        "backfill's own Parquet equals the metrics run's"
    );

    // Run again: nothing new, the corrupt file fails again, the database is unchanged.
    let before = database_gex(&url, "v2");
    let again = gexlake(
        &[
            "backfill",
            "--dir",
            input_s,
            "--lake",
            lake_s,
            "--database-url",
            &url,
            "--jobs",
            "2",
        ],
        3,
    );
    assert!(
        !again.contains("\"message\":\"converted\""),
        "nothing is converted twice:\n{again}"
    );
    assert_eq!(database_gex(&url, "v2"), before);

    // orats_daily reached Postgres with the lake's rows (ORATS_DAILY.md §4).
    let in_db = rows(
        &url,
        "SELECT concat_ws('|', asof_date, symbol, total_volume, call_open_interest, avg_daily_premium) \
         FROM orats_daily ORDER BY asof_date, symbol",
    );
    let out = command(&[
        "sql",
        "--lake",
        lake_s,
        "--format",
        "csv",
        "SELECT concat_ws('|', asof_date, symbol, total_volume, call_open_interest, avg_daily_premium) AS r \
         FROM orats_daily ORDER BY asof_date, symbol",
    ])
    .stdout(Stdio::piped())
    .output()
    .unwrap();
    let in_lake: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    assert!(in_lake.len() >= 30, "{} lake rows", in_lake.len());
    // Postgres orders text by its locale's collation: compare as sets.
    let (mut in_db, mut in_lake) = (in_db, in_lake);
    in_db.sort();
    in_lake.sort();
    assert_eq!(in_db, in_lake);
}

/// Everything a run leaves: lake files by relative path (bytes; sink markers without the
/// database's hash) and the database's rows without ids and write times.
fn state(lake: &Path, url: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![lake.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(lake)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            // A write staged by the local store when the process was killed: `name#<digits>`,
            // invisible to every reader (object_store's listing skips it).
            if relative
                .rsplit_once('#')
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                continue;
            }
            let key = match relative.strip_prefix("_sink/") {
                Some(rest) => format!("_sink/{}", rest.split_once('/').unwrap().1),
                None => relative,
            };
            out.insert(key, std::fs::read(&path).unwrap());
        }
    }
    let queries = [
        ("db/tickers", "SELECT symbol FROM tickers"),
        (
            "db/daily_snapshots",
            "SELECT concat_ws('|', t.symbol, d.time, d.dealer_metrics_json::text, d.model_version) \
             FROM daily_snapshots d JOIN tickers t ON t.id = d.ticker_id",
        ),
        (
            "db/orats_daily",
            "SELECT concat_ws('|', asof_date, symbol, total_volume, iv_30day, stock_price, iv_rank, \
             hv_30day, volume_zscore, vol_regime) FROM orats_daily",
        ),
        (
            "db/gex_metrics_snapshot",
            "SELECT concat_ws('|', symbol, snapshot_ts, spot_price, net_gex, net_dex, call_wall_strike, \
             put_wall_strike, gamma_flip_level, net_vex, net_charm, contracts_analyzed) FROM gex_metrics_snapshot",
        ),
    ];
    for (key, sql) in queries {
        let text =
            try_rows(url, sql).map_or_else(|e| format!("error: {e}"), |rows| rows.join("\n"));
        out.insert(key.to_string(), text.into_bytes());
    }
    out
}

#[track_caller]
fn assert_same_state(
    actual: &BTreeMap<String, Vec<u8>>,
    expected: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: different files or tables"
    );
    for (key, bytes) in expected {
        assert!(
            actual[key] == *bytes,
            "{what}: {key} differs from the uninterrupted run's"
        );
    }
}

#[test]
fn a_backfill_killed_at_any_moment_resumes_to_the_uninterrupted_state() {
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("archives");
    std::fs::create_dir_all(&input).unwrap();
    // Six weekdays: more than one metrics query (5 dates each) and several files per job.
    let mut day = date("2026-02-02");
    for seed in 0..6 {
        write_archive(&input, day, &sample_csv(day, 10 + seed));
        day = gexlake::cli::sample::next_weekday(day);
    }
    let input_s = input.to_str().unwrap();
    let backfill = |lake: &Path, url: &str| -> Command {
        command(&[
            "backfill",
            "--dir",
            input_s,
            "--lake",
            lake.to_str().unwrap(),
            "--database-url",
            url,
            "--jobs",
            "2",
        ])
    };

    let reference_url = pg.create_database("reference");
    let reference_lake = dir.path().join("reference");
    let (code, stderr) = finish(
        backfill(&reference_lake, &reference_url).spawn().unwrap(),
        "reference backfill",
    );
    assert_eq!(code, Some(0), "{stderr}");
    let events = stderr.lines().count();
    let reference = state(&reference_lake, &reference_url);
    assert!(
        reference
            .keys()
            .any(|k| k.starts_with("dealer_metrics/params=v2/"))
    );

    // Kill points follow the run's progress, not the clock (machines differ in speed): one in
    // each fifth of the reference run's log events, at a seeded random event in it, plus a
    // seeded random 0–30 ms, so kills land inside conversions, queries, uploads and upserts.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20260205);
    let (mut killed_before_the_end, mut left_unfinished) = (0, 0);
    for slot in 0..5usize {
        let span = (events - 2) as f64 / 5.0;
        let after = 1 + (span * (slot as f64 + rng.random_range(0.0..1.0))) as usize;
        let jitter = Duration::from_millis(rng.random_range(0..30));
        let url = pg.create_database(&format!("killed_{slot}"));
        let lake = dir.path().join(format!("killed_{slot}"));
        let mut child = backfill(&lake, &url).spawn().unwrap();
        let lines = std::io::BufReader::new(child.stderr.take().unwrap());
        let (seen, progress) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for _ in std::io::BufRead::lines(lines) {
                let _ = seen.send(());
            }
        });
        let deadline = Instant::now() + RUN_LIMIT;
        for _ in 0..after {
            if progress
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_err()
            {
                break;
            }
        }
        std::thread::sleep(jitter);
        // Child::kill is SIGKILL: no handler, no cleanup.
        let was_running = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let code = child.wait().unwrap().code();
        reader.join().unwrap();
        if was_running && code.is_none() {
            killed_before_the_end += 1;
        }
        let interrupted = state(&lake, &url);
        if interrupted != reference {
            left_unfinished += 1;
        }
        let delay = format!("log event {after} of {events} + {jitter:?}");
        eprintln!(
            "kill after {delay}: {} of {} lake files and tables as in the reference",
            reference
                .iter()
                .filter(|(k, v)| interrupted.get(*k) == Some(*v))
                .count(),
            reference.len()
        );
        let (code, stderr) = finish(backfill(&lake, &url).spawn().unwrap(), "resumed backfill");
        assert_eq!(
            code,
            Some(0),
            "resumed after a kill after {delay}:\n{stderr}"
        );
        assert_same_state(
            &state(&lake, &url),
            &reference,
            &format!("killed after {delay}"),
        );
    }
    assert!(
        killed_before_the_end >= 4,
        "most kills must land while the backfill runs ({killed_before_the_end} of 5)"
    );
    assert!(
        left_unfinished >= 3,
        "most kills must leave work to finish ({left_unfinished} of 5)"
    );
}
