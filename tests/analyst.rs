//! The analysts' commands end to end on a small sample lake (3 dates, 40
//! tickers, profiles a3 and v2): `gexlake sql` (formats, parameters, errors,
//! stdin, partition pruning, the `strike_gex` view against `dealer_metrics`),
//! every file of `queries/examples/`, `gexlake plot` and `gexlake check`.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::gexlake_bin;
use serde_json::Value;

/// Runs the CLI; panics with its output when it cannot start.
fn gexlake(args: &[&str]) -> Output {
    Command::new(gexlake_bin())
        .args(["--log-level", "warn"])
        .args(args)
        .env_remove("GEXLAKE_LAKE")
        .env_remove("GEXLAKE_PROFILE")
        .output()
        .expect("gexlake runs")
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A lake built once for every test: sample archives → ingest → metrics a3 and v2 → orats_daily.
fn lake() -> &'static Path {
    static LAKE: OnceLock<tempfile::TempDir> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        build_lake(dir.path(), &[("2026-02-04", 3, 40)]);
        dir
    })
    .path()
}

/// Writes samples (start date, weekdays, tickers) and makes `dir/lake` from them.
fn build_lake(dir: &Path, samples: &[(&str, u32, usize)]) {
    let archives = dir.join("archives");
    for (date, days, tickers) in samples {
        ok(&gexlake(&[
            "sample",
            "--date",
            date,
            "--days",
            &days.to_string(),
            "--tickers",
            &tickers.to_string(),
            "--out",
            archives.to_str().unwrap(),
        ]));
    }
    let lake = dir.join("lake");
    let lake = lake.to_str().unwrap();
    ok(&gexlake(&[
        "ingest",
        archives.to_str().unwrap(),
        "--lake",
        lake,
    ]));
    for profile in ["a3", "v2"] {
        ok(&gexlake(&[
            "metrics",
            "--lake",
            lake,
            "--from",
            "2026-01-01",
            "--to",
            "2026-12-31",
            "--profile",
            profile,
        ]));
    }
    ok(&gexlake(&[
        "daily",
        "--lake",
        lake,
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
    ]));
}

fn lake_arg() -> String {
    lake().join("lake").to_string_lossy().into_owned()
}

/// `gexlake sql` with `--format json`, parsed.
fn sql_json(args: &[&str]) -> Vec<BTreeMap<String, Value>> {
    let lake = lake_arg();
    let mut all = vec!["sql", "--lake", lake.as_str(), "--format", "json"];
    all.extend_from_slice(args);
    let text = ok(&gexlake(&all));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn num(row: &BTreeMap<String, Value>, key: &str) -> f64 {
    row.get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{key} is not a number in {row:?}"))
}

#[track_caller]
fn assert_rel(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "{what}: {a} vs {b}"
    );
}

/// The dealer_metrics row of (params, ticker, date).
fn metrics_row(params: &str, ticker: &str, date: &str) -> BTreeMap<String, Value> {
    let rows = sql_json(&[
        "SELECT * FROM dealer_metrics WHERE params = $p AND ticker = $t AND trade_date = $d",
        "--param",
        &format!("p={params}"),
        "--param",
        &format!("t={ticker}"),
        "--param",
        &format!("d={date}"),
    ]);
    assert_eq!(rows.len(), 1, "{params} {ticker} {date}");
    rows.into_iter().next().unwrap()
}

fn example(name: &str) -> String {
    common::manifest_dir()
        .join("queries/examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn strike_gex_adds_up_to_dealer_metrics_under_both_profiles() {
    // Each profile's own flip rule and band (METRICS.md §5, §10), passed to the UDAF.
    for (profile, flip_rule, low, high) in [
        (
            "a3",
            "first_crossing",
            "CAST(NULL AS DOUBLE)",
            "CAST(NULL AS DOUBLE)",
        ),
        ("v2", "nearest_spot", "0.2", "3.0"),
    ] {
        // Net GEX and the flip of every (ticker, date) from the view, next to the run's.
        let sql = format!(
            "SELECT m.ticker, m.trade_date, m.gex_net, v.net, m.gamma_flip, v.flip, v.params
             FROM dealer_metrics m
             JOIN (SELECT ticker, trade_date, params, sum(net_gex) AS net,
                          gamma_flip(strike, net_gex, '{flip_rule}', spot, {low}, {high}) AS flip
                   FROM strike_gex GROUP BY ticker, trade_date, params) v
               ON v.ticker = m.ticker AND v.trade_date = m.trade_date AND v.params = m.params"
        );
        let rows = sql_json(&[&sql, "--profile", profile]);
        let with_gex = rows.iter().filter(|r| !r["gex_net"].is_null()).count();
        assert!(
            with_gex >= 60,
            "{profile}: {with_gex} of {} rows with GEX",
            rows.len()
        );
        for r in &rows {
            assert_eq!(r["params"], profile);
            // A ticker without a spot has OI per strike but no GEX, in both.
            match (r["gex_net"].as_f64(), r["net"].as_f64()) {
                (Some(a), Some(b)) => assert_rel(b, a, &format!("{profile} {:?} net", r["ticker"])),
                (a, b) => assert_eq!(a, b, "net of {:?}", r["ticker"]),
            }
            match (r["gamma_flip"].as_f64(), r["flip"].as_f64()) {
                (Some(a), Some(b)) => assert_rel(a, b, "flip"),
                (a, b) => assert_eq!(a, b, "flip of {:?}", r["ticker"]),
            }
        }
    }
}

#[test]
fn every_example_runs_and_makes_sense() {
    let files: Vec<String> = std::fs::read_dir(common::manifest_dir().join("queries/examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    let checked = [
        "gex_by_strike.sql",
        "gex_by_expiry.sql",
        "ticker_history.sql",
        "top_net_gex.sql",
        "compare_params.sql",
        "iv_rank_leaders.sql",
    ];
    for f in &files {
        assert!(checked.contains(&f.as_str()), "{f} has no test here");
        let text = std::fs::read_to_string(example(f)).unwrap();
        assert!(
            text.starts_with("-- ") && text.contains("gexlake sql -f queries/examples/"),
            "{f}: header"
        );
    }
    let spy = metrics_row("a3", "SPY", "2026-02-05");
    let gex_net = num(&spy, "gex_net");

    let strikes = sql_json(&[
        "-f",
        &example("gex_by_strike.sql"),
        "--param",
        "ticker=SPY",
        "--param",
        "date=2026-02-05",
    ]);
    assert!(strikes.len() >= 5, "{} strikes", strikes.len());
    let total: f64 = strikes.iter().map(|r| num(r, "net_gex")).sum();
    assert_rel(total, gex_net, "Σ strikes");
    assert_rel(
        num(strikes.last().unwrap(), "cumulative_gex"),
        gex_net,
        "cumulative",
    );
    assert!(
        strikes
            .windows(2)
            .all(|w| num(&w[0], "strike") < num(&w[1], "strike"))
    );
    assert_rel(num(&strikes[0], "spot"), num(&spy, "spot_price"), "spot");

    for params in ["a3", "v2"] {
        let run = metrics_row(params, "SPY", "2026-02-05");
        let expiries = sql_json(&[
            "-f",
            &example("gex_by_expiry.sql"),
            "--param",
            "ticker=SPY",
            "--param",
            "date=2026-02-05",
            "--param",
            &format!("params={params}"),
        ]);
        assert!(expiries.len() >= 3, "{params}: {} expiries", expiries.len());
        let total: f64 = expiries.iter().map(|r| num(r, "net_gex")).sum();
        assert_rel(total, num(&run, "gex_net"), &format!("{params} Σ expiries"));
        let contracts: f64 = expiries.iter().map(|r| num(r, "contracts")).sum();
        assert_eq!(
            contracts,
            num(&run, "contracts_analyzed"),
            "{params} contracts"
        );
        let shares: f64 = expiries.iter().map(|r| num(r, "share_of_gross")).sum();
        assert!((shares - 1.0).abs() < 0.01, "{params} shares {shares}");
        if params == "a3" {
            assert!(
                expiries
                    .iter()
                    .all(|r| (0.0..=90.0).contains(&num(r, "dte"))),
                "a3 caps DTE at 90"
            );
        }
    }

    let history = sql_json(&[
        "-f",
        &example("ticker_history.sql"),
        "--param",
        "ticker=SPY",
        "--param",
        "from=2026-01-01",
        "--param",
        "to=2026-02-06",
        "--param",
        "params=a3",
    ]);
    let dates: Vec<&str> = history
        .iter()
        .map(|r| r["trade_date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-02-04", "2026-02-05", "2026-02-06"]);
    assert!(history[0]["gex_net_change"].is_null());
    assert_rel(
        num(&history[1], "gex_net_change"),
        num(&history[1], "gex_net") - num(&history[0], "gex_net"),
        "change",
    );
    assert_rel(num(&history[1], "gex_net"), gex_net, "history gex_net");
    assert_eq!(history[1]["call_wall"], spy["call_walls"][0]["strike"]);

    let top = sql_json(&[
        "-f",
        &example("top_net_gex.sql"),
        "--param",
        "date=2026-02-05",
        "--param",
        "params=v2",
        "--param",
        "n=7",
    ]);
    assert_eq!(top.len(), 7);
    assert!(
        top.windows(2)
            .all(|w| num(&w[0], "gex_net") >= num(&w[1], "gex_net"))
    );
    let best = sql_json(&[
        "SELECT max(gex_net) AS m FROM dealer_metrics WHERE params = 'v2' AND trade_date = DATE '2026-02-05'",
    ]);
    assert_eq!(num(&top[0], "gex_net"), num(&best[0], "m"));

    let compared = sql_json(&[
        "-f",
        &example("compare_params.sql"),
        "--param",
        "date=2026-02-05",
        "--param",
        "a=a3",
        "--param",
        "b=v2",
    ]);
    assert_eq!(compared.len(), 40, "every ticker once");
    let spy_row = compared.iter().find(|r| r["ticker"] == "SPY").unwrap();
    assert_eq!(num(spy_row, "gex_net_a"), gex_net);
    assert_eq!(
        num(spy_row, "gex_net_b"),
        num(&metrics_row("v2", "SPY", "2026-02-05"), "gex_net")
    );
    let diffs: Vec<f64> = compared
        .iter()
        .map(|r| {
            (r["gex_net_b"].as_f64().unwrap_or(0.0) - r["gex_net_a"].as_f64().unwrap_or(0.0)).abs()
        })
        .collect();
    assert!(diffs.windows(2).all(|w| w[0] >= w[1]), "ordered by |diff|");

    // orats_daily: one row per ticker; three dates are too few for a rank,
    // so the leaders come by symbol, all above the volume floor.
    let busy = sql_json(&[
        "SELECT count(*) AS n, count(*) FILTER (WHERE avg_daily_volume >= 1000) AS busy, count(iv_rank) AS ranked
         FROM orats_daily WHERE trade_date = DATE '2026-02-05'",
    ]);
    assert_eq!(num(&busy[0], "n"), 40.0, "one row per ticker");
    assert_eq!(num(&busy[0], "ranked"), 0.0, "no rank from 3 dates");
    let leaders = sql_json(&[
        "-f",
        &example("iv_rank_leaders.sql"),
        "--param",
        "date=2026-02-05",
        "--param",
        "min_volume=1000",
        "--param",
        "n=5",
    ]);
    assert_eq!(leaders.len() as f64, num(&busy[0], "busy").min(5.0));
    assert!(leaders.iter().all(|r| num(r, "total_volume") >= 1000.0));
    assert!(
        leaders
            .windows(2)
            .all(|w| w[0]["symbol"].as_str() < w[1]["symbol"].as_str())
    );
}

#[test]
fn filters_on_trade_date_prune_partitions() {
    let lake = lake_arg();
    for (table, column) in [
        ("strikes", "ticker"),
        ("dealer_metrics", "ticker"),
        ("strike_gex", "ticker"),
    ] {
        let plan = ok(&gexlake(&[
            "sql",
            "--lake",
            &lake,
            "--format",
            "csv",
            &format!("EXPLAIN SELECT {column} FROM {table} WHERE trade_date = $d"),
            "--param",
            "d=2026-02-05",
        ]));
        assert!(plan.contains("trade_date=2026-02-05/"), "{table}: {plan}");
        assert!(
            !plan.contains("trade_date=2026-02-04/") && !plan.contains("trade_date=2026-02-06/"),
            "{table} reads other dates: {plan}"
        );
    }
}

#[test]
fn parameters_take_types_from_their_text() {
    let rows = sql_json(&[
        "SELECT arrow_typeof($d) AS d, arrow_typeof($i) AS i, arrow_typeof($f) AS f, arrow_typeof($s) AS s, $q AS q",
        "--param",
        "d=2026-02-05",
        "--param",
        "i=42",
        "--param",
        "f=0.25",
        "--param",
        "s=SPY",
        "--param",
        "q='0042'",
    ]);
    assert_eq!(rows[0]["d"], "Date32");
    assert_eq!(rows[0]["i"], "Int64");
    assert_eq!(rows[0]["f"], "Float64");
    assert_eq!(rows[0]["s"], "Utf8");
    assert_eq!(rows[0]["q"], "0042");
}

#[test]
fn sql_errors_point_at_their_position_and_exit_1() {
    let lake = lake_arg();
    let unknown = gexlake(&[
        "sql",
        "--lake",
        &lake,
        "SELECT ticker,\n       nope FROM strikes",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("SQL error at line 2, column 8"), "{err}");
    assert!(
        err.contains(" 2 |        nope FROM strikes\n   |        ^^^^"),
        "{err}"
    );

    let parse = gexlake(&["sql", "--lake", &lake, "SELECT 1;\nSELEC 2"]);
    assert_eq!(parse.status.code(), Some(1));
    let err = String::from_utf8_lossy(&parse.stderr);
    assert!(
        err.contains("line 2, column 1") && err.contains("SELEC"),
        "{err}"
    );
    assert!(
        parse.stdout.is_empty(),
        "nothing runs when the script does not parse"
    );

    let unbound = gexlake(&[
        "sql",
        "--lake",
        &lake,
        "SELECT * FROM strikes WHERE ticker = $ticker",
    ]);
    assert_eq!(unbound.status.code(), Some(1));
    let err = String::from_utf8_lossy(&unbound.stderr);
    assert!(err.contains("$ticker"), "{err}");
}

#[test]
fn formats_write_the_same_rows() {
    let lake = lake_arg();
    let query = "SELECT ticker, trade_date, gex_net, call_walls FROM dealer_metrics
                 WHERE params = 'a3' AND ticker IN ('SPY', 'NA') ORDER BY ticker, trade_date";
    let csv = ok(&gexlake(&[
        "sql", "--lake", &lake, "--format", "csv", query,
    ]));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["ticker", "trade_date", "gex_net", "call_walls"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 6);
    let walls: Value = serde_json::from_str(&records[3][3]).unwrap();
    assert!(
        walls[0]["strike"].is_number(),
        "nested cells are JSON: {walls}"
    );

    let ndjson = ok(&gexlake(&[
        "sql", "--lake", &lake, "--format", "ndjson", query,
    ]));
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[3]["call_walls"], walls);
    // Nulls are written, not omitted (NA has no eligible contract under a3).
    assert!(lines[0].as_object().unwrap().contains_key("gex_net"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.parquet");
    ok(&gexlake(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "parquet",
        "--output",
        file.to_str().unwrap(),
        query,
    ]));
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).unwrap())
            .unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().file_metadata().num_rows(), 6);

    let no_file = gexlake(&["sql", "--lake", &lake, "--format", "parquet", "SELECT 1"]);
    assert_eq!(no_file.status.code(), Some(1));

    let empty = ok(&gexlake(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "json",
        "SELECT 1 AS x WHERE false",
    ]));
    assert_eq!(empty.trim(), "[]");
    let table = ok(&gexlake(&[
        "sql",
        "--lake",
        &lake,
        "SELECT 1 AS x WHERE false",
    ]));
    assert!(
        table.contains("| x |"),
        "empty tables keep their header: {table}"
    );
}

#[test]
fn statements_come_from_stdin_when_it_is_not_a_terminal() {
    let mut child = Command::new(gexlake_bin())
        .args([
            "--log-level",
            "warn",
            "sql",
            "--lake",
            &lake_arg(),
            "--format",
            "csv",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"CREATE VIEW spy AS SELECT * FROM dealer_metrics WHERE ticker = 'SPY';\nSELECT count(*) AS n FROM spy;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(ok(&out), "n\n6\n");
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn plots_are_written_as_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_arg();
    let out = |name: &str| -> PathBuf { dir.path().join(name) };
    let svg = out("spy.svg");
    ok(&gexlake(&[
        "plot",
        "SPY",
        "--lake",
        &lake,
        "--date",
        "2026-02-05",
        "-o",
        svg.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&svg).unwrap();
    let spy = metrics_row("a3", "SPY", "2026-02-05");
    let spot = spy["spot_price"].as_f64().unwrap();
    for part in [
        "<svg",
        "SPY · net GEX by strike · 2026-02-05 · params a3",
        &format!("spot {spot}"),
        "call wall 1",
    ] {
        assert!(text.contains(part), "{part} missing from the SVG");
    }
    assert!(text.matches("<rect").count() > 5, "bars are drawn");

    let png = out("spy.png");
    ok(&gexlake(&[
        "plot",
        "SPY",
        "--lake",
        &lake,
        "--date",
        "2026-02-05",
        "--size",
        "900x500",
        "--profile",
        "v2",
        "-o",
        png.to_str().unwrap(),
    ]));
    assert_eq!(png_size(&png), (900, 500));

    let history = out("history.png");
    ok(&gexlake(&[
        "plot",
        "SPY",
        "--lake",
        &lake,
        "--history",
        "--from",
        "2026-02-01",
        "--to",
        "2026-02-28",
        "-o",
        history.to_str().unwrap(),
    ]));
    assert_eq!(png_size(&history), (1200, 700));

    let unknown = gexlake(&[
        "plot",
        "NOPE",
        "--lake",
        &lake,
        "--date",
        "2026-02-05",
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("NOPE on 2026-02-05"));
    let wrong = gexlake(&[
        "plot",
        "SPY",
        "--lake",
        &lake,
        "-o",
        out("spy.jpg").to_str().unwrap(),
    ]);
    assert_eq!(wrong.status.code(), Some(1));
}

/// A `<text>` of an SVG: its attributes x, y, font-size, text-anchor and dy, and its text.
#[derive(Debug)]
struct SvgText {
    x: f64,
    y: f64,
    size: f64,
    anchor: String,
    dy: String,
    text: String,
}

impl SvgText {
    /// The box (left, top, right, bottom) the text covers in a common sans-serif, estimated
    /// from its length: 0.6 em a character, 1.2 em high from the top. Only for text anchored
    /// at its top (`dy="0.76em"`, as plotters writes it) and its start or end.
    #[track_caller]
    fn bounds(&self) -> (f64, f64, f64, f64) {
        assert_eq!(self.dy, "0.76em", "{self:?} is anchored at its top");
        let width = self.text.chars().count() as f64 * 0.6 * self.size;
        let left = match self.anchor.as_str() {
            "start" => self.x,
            "end" => self.x - width,
            other => panic!("text-anchor {other} in {self:?}"),
        };
        (left, self.y, left + width, self.y + 1.2 * self.size)
    }
}

/// The value of attribute `name` in an element's opening tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    tag[at..].split('"').next()
}

/// Every `<text>` element of an SVG document.
fn svg_texts(svg: &str) -> Vec<SvgText> {
    svg.split("<text")
        .skip(1)
        .map(|part| {
            let (tag, rest) = part.split_once('>').unwrap();
            let number = |name| attribute(tag, name).unwrap().parse::<f64>().unwrap();
            let text = |name| attribute(tag, name).unwrap_or_default().to_string();
            SvgText {
                x: number("x"),
                y: number("y"),
                size: number("font-size"),
                anchor: text("text-anchor"),
                dy: text("dy"),
                text: rest.split("</text>").next().unwrap().trim().to_string(),
            }
        })
        .collect()
}

#[test]
fn plot_labels_of_close_levels_do_not_overlap() {
    // Spot 100 and, by METRICS.md §4-5 under a3 (g = ±gamma·OI·10,000):
    //   net_60 = -0.001·5000·10⁴ = -50,000 (the call has no OI)
    //   net_99.5 = 0.05·100·10⁴ - 0.05·2000·10⁴ = -950,000
    //   net_100 = 0.05·4000·10⁴ - 0.05·1000·10⁴ = 1,500,000
    //   net_100.5 = 0.03·500·10⁴ - 0.03·150·10⁴ = 105,000
    // The cumulative -50,000 → -1,000,000 → 500,000 crosses at 99.5 + 0.5·1e6/1.5e6 = 99.83.
    // Call walls 100 (4,000), 100.5 (500), 99.5 (100); put walls 60 (5,000), 99.5 (2,000),
    // 100 (1,000). The put wall at 60 stretches the chart to about 60–103, 25 px a strike:
    // seven of the eight levels lie within 25 px of each other.
    let dir = tempfile::tempdir().unwrap();
    let leg = |strike, c_oi, p_oi, gamma| common::Leg {
        c_oi,
        p_oi,
        c_volu: if c_oi > 0 { 10 } else { 0 },
        gamma,
        ..common::Leg::new("T", strike)
    };
    let rows = [
        leg(60.0, 0, 5000, "0.001"),
        leg(99.5, 100, 2000, "0.05"),
        leg(100.0, 4000, 1000, "0.05"),
        leg(100.5, 500, 150, "0.03"),
    ];
    let archives = dir.path().join("archives");
    std::fs::create_dir(&archives).unwrap();
    common::write_zip(&archives, "20240103", &common::csv(&rows));
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    ok(&gexlake(&[
        "ingest",
        archives.to_str().unwrap(),
        "--lake",
        lake,
    ]));
    let svg = dir.path().join("t.svg");
    ok(&gexlake(&[
        "plot",
        "T",
        "--lake",
        lake,
        "--date",
        "2024-01-03",
        "-o",
        svg.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&svg).unwrap();
    let texts = svg_texts(&text);
    let expected = [
        "spot 100",
        "flip 99.83",
        "call wall 1 100 ",
        "call wall 2 100.5 ",
        "call wall 3 99.5 ",
        "put wall 1 60 ",
        "put wall 2 99.5 ",
        "put wall 3 100 ",
    ];
    let labels: Vec<&SvgText> = expected
        .iter()
        .map(|start| {
            let found: Vec<&SvgText> = texts
                .iter()
                .filter(|t| t.text == *start || (start.ends_with(' ') && t.text.starts_with(start)))
                .collect();
            assert_eq!(found.len(), 1, "label {start:?} in {texts:?}");
            found[0]
        })
        .collect();
    for (i, a) in labels.iter().enumerate() {
        let (al, at, ar, ab) = a.bounds();
        for b in &labels[..i] {
            let (bl, bt, br, bb) = b.bounds();
            let apart = ar <= bl || br <= al || ab <= bt || bb <= at;
            assert!(apart, "{:?} overlaps {:?}", a.text, b.text);
        }
    }
    // The spot line is the one vertical polyline in the spot's colour; its label is beside it.
    let spot_x: Vec<f64> = text
        .split("<polyline")
        .skip(1)
        .filter(|p| attribute(p, "stroke") == Some("#1F77B4"))
        .filter_map(|p| {
            let xs: Vec<f64> = attribute(p, "points")?
                .split_whitespace()
                .map(|xy| xy.split(',').next().unwrap().parse().unwrap())
                .collect();
            (xs.len() == 2 && xs[0] == xs[1]).then_some(xs[0])
        })
        .collect();
    assert_eq!(spot_x.len(), 1, "one spot line");
    let (l, _, r, _) = labels[0].bounds();
    let distance = (l - spot_x[0]).max(spot_x[0] - r).max(0.0);
    assert!(
        distance <= 6.0,
        "the spot label is {distance} px from its line"
    );
}

#[test]
fn check_passes_a_healthy_lake_and_fails_a_shrunken_day() {
    let healthy = gexlake(&["check", "--lake", &lake_arg(), "--date", "2026-02-06"]);
    let report = ok(&healthy);
    for part in [
        "Rows per date",
        "2026-02-04",
        "Spot checks (2026-02-06)",
        "AAPL",
        "META",
        "PASS  ticker_count",
        "Result: PASS",
    ] {
        assert!(report.contains(part), "{part} missing:\n{report}");
    }
    // One report per parameter set, each naming the rule behind its flips, and
    // no alarm on the sample: v2's SPY flip lies far from spot, as the
    // nearest-spot rule allows (its only bound is the [0.2, 3.0] band).
    // Then one for orats_daily, which does not depend on the parameters.
    let reports: Vec<&str> = report.split("gexlake check: ").skip(1).collect();
    assert_eq!(reports.len(), 3, "{report}");
    assert!(
        reports[2].starts_with("2026-02-06, orats_daily"),
        "{report}"
    );
    assert!(reports[2].contains("PASS  daily_rows"), "{report}");
    assert!(
        reports[0].contains("params a3")
            && reports[0].contains("flip rule: first_crossing over every strike"),
        "{report}"
    );
    assert!(
        reports[1].contains("params v2")
            && reports[1].contains("flip rule: nearest_spot over strikes in [0.2, 3] × spot"),
        "{report}"
    );
    for r in &reports {
        assert!(r.contains("Result: PASS (0 failed, 0 warnings)"), "{r}");
    }

    // The fourth day has half the tickers of the third.
    let dir = tempfile::tempdir().unwrap();
    build_lake(dir.path(), &[("2026-02-04", 3, 40), ("2026-02-09", 1, 20)]);
    let lake = dir.path().join("lake");
    let shrunk = gexlake(&["check", "--lake", lake.to_str().unwrap()]);
    assert_eq!(
        shrunk.status.code(),
        Some(i32::from(gexlake::outcome::EXIT_CHECK_FAILED)),
        "{shrunk:?}"
    );
    let report = String::from_utf8_lossy(&shrunk.stdout);
    assert!(
        report.contains("gexlake check: 2026-02-09"),
        "the latest date by default:\n{report}"
    );
    assert!(report.contains("FAIL  ticker_count"), "{report}");
    assert!(report.contains("-50.0 %"), "{report}");
    // The day before is still fine when checked on its own.
    let before = gexlake(&[
        "check",
        "--lake",
        lake.to_str().unwrap(),
        "--date",
        "2026-02-06",
        "--params",
        "a3",
        "--min-nonzero-share",
        "0.3",
    ]);
    ok(&before);
    let missing = gexlake(&[
        "check",
        "--lake",
        lake.to_str().unwrap(),
        "--date",
        "2026-02-07",
    ]);
    assert_eq!(
        missing.status.code(),
        Some(i32::from(gexlake::outcome::EXIT_CHECK_FAILED))
    );
}

#[test]
fn dealer_metrics_are_found_past_an_empty_parameter_directory() {
    // A parameter set left with an empty date directory (files removed by hand) sorts
    // first; the table still comes from the sets that hold results, with all their rows.
    let dir = tempfile::tempdir().unwrap();
    build_lake(dir.path(), &[("2026-02-04", 1, 5)]);
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("dealer_metrics/params=a0/trade_date=2026-02-04")).unwrap();
    let out = ok(&gexlake(&[
        "sql",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT params, count(*) AS n FROM dealer_metrics GROUP BY params ORDER BY params",
    ]));
    assert_eq!(out.trim(), "params,n\na3,5\nv2,5", "{out}");
}
