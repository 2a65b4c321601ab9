//! The `backfill` and `metrics` commands as a user runs them, on the committed sample in data/.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn gexlake(dir: &Path, args: &[&str]) -> Output {
    Command::new(common::gexlake_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .output()
        .expect("gexlake runs")
}

/// The `ticker` column of a `dealer_metrics` file is the lake's `Utf8`.
fn assert_ticker_is_utf8(file: &[u8]) {
    let batches = common::parquet_batches(file);
    let schema = batches.first().expect("rows").schema();
    assert_eq!(
        schema.field_with_name("ticker").unwrap().data_type(),
        &datafusion::arrow::datatypes::DataType::Utf8
    );
}

fn data_dir() -> String {
    common::manifest_dir()
        .join("data")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn backfill_then_metrics_with_other_parameters_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let out = gexlake(dir.path(), &["backfill", "--dir", &data_dir()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lake = dir.path().join("lake");
    for params in ["a3", "v2"] {
        for date in ["2026-02-04", "2026-02-05", "2026-02-06"] {
            let file = lake.join(format!(
                "dealer_metrics/params={params}/trade_date={date}/part.parquet"
            ));
            assert!(file.is_file(), "{}", file.display());
        }
    }
    let before =
        std::fs::read(lake.join("dealer_metrics/params=a3/trade_date=2026-02-05/part.parquet"))
            .unwrap();
    // The engine reads tickers as Utf8View; the files keep the lake's Utf8.
    assert_ticker_is_utf8(&before);

    let out = gexlake(
        dir.path(),
        &[
            "metrics",
            "--date",
            "2026-02-05",
            "--min-open-interest",
            "500",
            "--max-dte-days",
            "none",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sets: Vec<String> = std::fs::read_dir(lake.join("dealer_metrics"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(sets.len(), 3, "{sets:?}");
    assert!(
        sets.iter()
            .any(|s| s.starts_with("params=a3-") && s.len() == "params=a3-".len() + 8)
    );
    let other = sets.iter().find(|s| s.starts_with("params=a3-")).unwrap();
    assert_ticker_is_utf8(
        &std::fs::read(lake.join(format!(
            "dealer_metrics/{other}/trade_date=2026-02-05/part.parquet"
        )))
        .unwrap(),
    );
    // The profile's own results are untouched by another parameter set's run.
    let after =
        std::fs::read(lake.join("dealer_metrics/params=a3/trade_date=2026-02-05/part.parquet"))
            .unwrap();
    assert_eq!(before, after);

    // Both sets are queryable side by side, each row naming its parameters.
    let out = gexlake(
        dir.path(),
        &[
            "sql",
            "SELECT params, min(min_open_interest) AS m, count(*) AS n FROM dealer_metrics \
             WHERE trade_date = DATE '2026-02-05' AND profile = 'a3' GROUP BY params ORDER BY params",
        ],
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("| a3 ") && table.contains("| 100 "),
        "{table}"
    );
    assert!(table.contains("| 500 "), "{table}");

    // A §10 rule set back on v2 from the command line: a set of its own, the
    // rule and model_version recorded in every row, v2's own results untouched.
    let v2_before =
        std::fs::read(lake.join("dealer_metrics/params=v2/trade_date=2026-02-05/part.parquet"))
            .unwrap();
    let out = gexlake(
        dir.path(),
        &[
            "metrics",
            "--date",
            "2026-02-05",
            "--profile",
            "v2",
            "--flip-rule",
            "first_crossing",
            "--flip-strike-range",
            "none",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v2_after =
        std::fs::read(lake.join("dealer_metrics/params=v2/trade_date=2026-02-05/part.parquet"))
            .unwrap();
    assert_eq!(v2_before, v2_after);
    let out = gexlake(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT params, flip_rule, flip_strike_range_low, wall_rule, model_version, \
                    count(*) AS n FROM dealer_metrics \
             WHERE trade_date = DATE '2026-02-05' AND profile = 'v2' \
             GROUP BY params, flip_rule, flip_strike_range_low, wall_rule, model_version \
             ORDER BY params",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with("v2,nearest_spot,0.2,first_listed,2,"),
        "{text}"
    );
    assert!(lines[2].starts_with("v2-"), "{text}");
    assert!(
        lines[2].contains(",first_crossing,,first_listed,2,"),
        "{text}"
    );

    // `gexlake sql --param` sets strike_gex's parameters like the flags do.
    let out = gexlake(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "--param",
            "wall_rule=first_listed",
            "--param",
            "flip_strike_range=0.5,2",
            "SELECT DISTINCT params FROM strike_gex WHERE trade_date = DATE '2026-02-05'",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = text.lines().nth(1).unwrap_or_default();
    assert!(name.starts_with("a3-") && name.len() == 11, "{text}");
    let out = gexlake(
        dir.path(),
        &["sql", "--param", "wall_rule=first", "SELECT 1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wall_rule") && err.contains("first_listed"),
        "{err}"
    );
}

#[test]
fn a_date_without_a_partition_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = gexlake(dir.path(), &["ingest", &data_dir()]);
    assert!(out.status.success());
    let out = gexlake(dir.path(), &["metrics", "--date", "2026-03-02"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no orats_strikes partition for 2026-03-02"),
        "{err}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_a_header_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = gexlake(
        dir.path(),
        &[
            "--log-format",
            "json",
            "backfill",
            "--dir",
            &data_dir(),
            "--profiles",
            "a3",
        ],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(messages.contains(&"backfill: run header"), "{messages:?}");
    assert!(messages.contains(&"metrics: summary"), "{messages:?}");
    assert!(messages.contains(&"run summary"), "{messages:?}");
    let header = events
        .iter()
        .find(|e| e["message"] == "metrics: run header")
        .unwrap();
    assert_eq!(header["params"], "a3");
}

/// `metrics --profile a3,v2` computes both from one read of the strikes, the
/// flags applying to each: the same files as two runs of one profile each, one
/// run header and summary per profile. Commands that take one parameter set
/// refuse a list.
#[test]
fn metrics_of_several_profiles_equal_one_run_each() {
    let dir = tempfile::tempdir().unwrap();
    let out = gexlake(dir.path(), &["ingest", &data_dir(), "--lake", "base"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["alone", "together"] {
        common::copy_tree(&dir.path().join("base"), &dir.path().join(name));
    }
    let range = [
        "--from",
        "2026-02-04",
        "--to",
        "2026-02-06",
        "--min-volume",
        "2",
    ];
    for profile in ["a3", "v2"] {
        let mut args = vec!["metrics", "--lake", "alone", "--profile", profile];
        args.extend(range);
        let out = gexlake(dir.path(), &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut args = vec![
        "--log-format",
        "json",
        "metrics",
        "--lake",
        "together",
        "--profile",
        "a3,v2",
    ];
    args.extend(range);
    let out = gexlake(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let params_of = |message: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["message"] == message)
            .map(|e| e["params"].as_str().unwrap().to_string())
            .collect()
    };
    let headers = params_of("metrics: run header");
    assert_eq!(headers.len(), 2, "{stderr}");
    assert!(
        headers[0].starts_with("a3-") && headers[1].starts_with("v2-"),
        "{headers:?}"
    );
    assert_eq!(params_of("metrics: summary"), headers);

    let alone = common::tree(&dir.path().join("alone/dealer_metrics"));
    let together = common::tree(&dir.path().join("together/dealer_metrics"));
    assert_eq!(alone.len(), 6, "{:?}", alone.keys());
    assert_eq!(alone, together);

    let out = gexlake(
        dir.path(),
        &[
            "sql",
            "--lake",
            "together",
            "--profile",
            "a3,v2",
            "SELECT 1",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("takes one --profile, not a3,v2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
