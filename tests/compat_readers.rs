//! Other engines read the lake as it is (issue #2, "DuckDB, pyarrow and polars must read the
//! lake with hive partitioning and no other options"): `orats_strikes` and `dealer_metrics`,
//! with the same counts and sums as `gexlake sql`, and `trade_date` as a date. The decimal
//! columns compute with no cast in DuckDB and `gexlake sql` alike (issue #15), and the
//! README's one line gives pandas (through pyarrow) and polars users float columns.
//!
//! Python comes from $GEXLAKE_TEST_PYTHON (set by `tests/run`), else `python3`; it must have
//! duckdb, pyarrow and polars, or the test fails saying so.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{CliRun, run_gexlake, test_python};
use serde_json::Value;

/// The readers, each with the options the issue allows and nothing else.
const SCRIPT: &str = r#"
import json, math, sys
from decimal import Decimal
try:
    import duckdb, polars as pl, polars.selectors as cs, pyarrow as pa, pyarrow.compute as pc, pyarrow.dataset as ds
except ImportError as e:
    print(f"missing Python package: {e}; run tests/run", file=sys.stderr)
    sys.exit(2)

lake = sys.argv[1]
S, M = f"{lake}/orats_strikes", f"{lake}/dealer_metrics"
out = {}

def iso(v):
    return v if isinstance(v, str) else v.isoformat()

def num(v):
    # Sums of DECIMAL columns come back as Decimal: exact, as text.
    return str(v) if isinstance(v, Decimal) else v

# DuckDB
con = duckdb.connect()
strikes = f"read_parquet('{S}/**/*.parquet', hive_partitioning=true)"
metrics = f"read_parquet('{M}/**/*.parquet', hive_partitioning=true)"
n, oi, t, d, k, opra = con.execute(f"select count(*), sum(c_oi), count(distinct ticker), count(distinct trade_date), sum(strike), count(c_opra) from {strikes}").fetchone()
out["duckdb"] = {
    "strikes": [n, oi, t, d, num(k), opra],
    "per_date": [[iso(a), b] for a, b in con.execute(f"select trade_date, count(*) from {strikes} group by 1 order by 1").fetchall()],
    # The analyst's expressions on the DECIMAL columns, with no cast.
    "analyst": [num(v) for v in con.execute(f"select sum(gamma * c_oi * 100 * stk_px * stk_px), sum(power(stk_px, 2)), typeof(any_value(gamma)) from {strikes}").fetchone()],
    "date_type": con.execute(f"select typeof(trade_date) from {strikes} limit 1").fetchone()[0],
    "metrics": [[p, c, g, dd] for p, c, g, dd in con.execute(f"select params, count(*), sum(gex_net), count(distinct trade_date) from {metrics} group by 1 order by 1").fetchall()],
    "metrics_date_type": con.execute(f"select typeof(trade_date) from {metrics} limit 1").fetchone()[0],
}

# pyarrow
def arrow_summary(table):
    td = table.column("trade_date")
    dates = sorted({iso(v) for v in td.to_pylist()})
    per_date = {x: 0 for x in dates}
    for v in td.to_pylist():
        per_date[iso(v)] += 1
    return td, dates, per_date

st = ds.dataset(S, partitioning="hive").to_table()
td, dates, per_date = arrow_summary(st)
mt = ds.dataset(M, partitioning="hive").to_table()
groups = {}
for p, g, dd in zip(mt.column("params").to_pylist(), mt.column("gex_net").to_pylist(), mt.column("trade_date").to_pylist()):
    c = groups.setdefault(p, [0, 0.0, set()])
    c[0] += 1
    c[1] += g or 0.0
    c[2].add(iso(dd))
out["pyarrow"] = {
    "strikes": [st.num_rows, pc.sum(st.column("c_oi")).as_py(), len(pc.unique(st.column("ticker"))), len(dates),
                num(pc.sum(st.column("strike")).as_py()), len(st) - st.column("c_opra").null_count],
    "per_date": [[x, per_date[x]] for x in dates],
    "date_type": str(td.type),
    "metrics": [[p, c[0], c[1], len(c[2])] for p, c in sorted(groups.items())],
    "metrics_date_type": str(mt.column("trade_date").type),
}
# With an explicit partitioning schema pyarrow types the date (for the record).
typed = ds.dataset(S, partitioning=ds.partitioning(pa.schema([("trade_date", pa.date32())]), flavor="hive"))
out["pyarrow_typed"] = {"date_type": str(typed.schema.field("trade_date").type), "rows": typed.count_rows()}

# The README's line for pandas users, `df.astype({c: "float64" ...})` on the Decimal object
# columns, calls float() on each Decimal: the double of its text.
decimal_names = [f.name for f in st.schema if pa.types.is_decimal(f.type)]
as_floats = {c: [None if v is None else float(v) for v in st.column(c).to_pylist()] for c in decimal_names}

# polars
sf = pl.scan_parquet(f"{S}/**/*.parquet", hive_partitioning=True).collect()
# The README's line for polars users: every DECIMAL column as Float64.
pf = pl.scan_parquet(f"{S}/**/*.parquet", hive_partitioning=True).with_columns(cs.decimal().cast(pl.Float64)).collect()
# Bit for bit the pandas line's doubles, column by column, in pyarrow's row order (the files'
# rows in the same order: both read them file by file, each file in its order).
pf_sorted = pf.sort(["trade_date", "ticker", "expir_date", "strike", "c_opra", "source_line"])
pa_order = pl.from_arrow(st.select(["trade_date", "ticker", "expir_date", "strike", "c_opra", "source_line"])).with_row_index("i")
pa_order = pa_order.sort(["trade_date", "ticker", "expir_date", "strike", "c_opra", "source_line"])["i"].to_list()
differ = [c for c in decimal_names
          if [as_floats[c][i] for i in pa_order] != pf_sorted[c].to_list()]
out["polars_floats"] = {
    "decimal_columns": sum(isinstance(t, pl.Decimal) for t in sf.schema.values()),
    "float_columns": sum(t == pl.Float64 for t in pf.schema.values()),
    "sum_gamma": pf["gamma"].sum(),
    "power": (pf["stk_px"] ** 2).sum(),
    "differ_from_pandas": differ,
}
out["pandas_floats"] = {
    "decimal_columns": len(decimal_names),
    "float_columns": len(decimal_names) + sum(pa.types.is_float64(f.type) for f in st.schema),
    "sum_gamma": math.fsum(v for v in as_floats["gamma"] if v is not None),
}
mf = pl.scan_parquet(f"{M}/**/*.parquet", hive_partitioning=True).collect()
pd_ = sf.group_by("trade_date").len().sort("trade_date")
mg = mf.group_by("params").agg(pl.len().alias("n"), pl.col("gex_net").sum().alias("g"), pl.col("trade_date").n_unique().alias("d")).sort("params")
out["polars"] = {
    "strikes": [sf.height, sf["c_oi"].sum(), sf["ticker"].n_unique(), sf["trade_date"].n_unique(), num(sf["strike"].sum()),
                sf.height - sf["c_opra"].null_count()],
    "per_date": [[iso(a), b] for a, b in pd_.iter_rows()],
    "date_type": str(sf.schema["trade_date"]),
    "metrics": [list(r) for r in mg.iter_rows()],
    "metrics_date_type": str(mf.schema["trade_date"]),
}
print(json.dumps(out))
"#;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The rows of a `gexlake sql` table (the header excluded), cells trimmed.
fn table(run: &CliRun) -> Vec<Vec<String>> {
    let rows: Vec<Vec<String>> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert!(!rows.is_empty(), "no table in {run}");
    rows[1..].to_vec()
}

fn sql(lake: &Path, query: &str) -> Vec<Vec<String>> {
    let run = run_gexlake(&["sql", "--lake", s(lake), query]);
    run.expect_code(0);
    table(&run)
}

/// A decimal's text without trailing zeros after the point (`12.500` → `12.5`, `7.0` → `7`).
fn normal(decimal: &str) -> &str {
    if decimal.contains('.') {
        decimal.trim_end_matches('0').trim_end_matches('.')
    } else {
        decimal
    }
}

/// An exact sum of a DECIMAL column: the same decimal, however each reader prints it.
#[track_caller]
fn assert_decimal(reader: &str, what: &str, got: &Value, want: &str) {
    let got = got
        .as_str()
        .unwrap_or_else(|| panic!("{reader} {what}: {got} is not a decimal's text"));
    assert_eq!(normal(got), normal(want), "{reader} {what} vs gexlake sql");
}

#[track_caller]
fn assert_float(reader: &str, what: &str, got: &Value, want: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{reader} {what}: {got} is not a number"));
    let tolerance = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tolerance,
        "{reader} {what}: {got} vs gexlake sql {want}"
    );
}

/// DuckDB, pyarrow and polars read `orats_strikes` and `dealer_metrics` with hive partitioning
/// and nothing else, and agree with `gexlake sql` (DataFusion) on row counts, per-date counts,
/// sums of c_oi, strike and gex_net (per parameter set), distinct tickers and dates, and
/// non-null OPRA symbols; DuckDB and polars give trade_date as a date.
#[test]
fn duckdb_pyarrow_and_polars_read_the_lake_like_gexlake() {
    let python = test_python();
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let lake = tmp.path().join("lake");
    run_gexlake(&[
        "sample",
        "--date",
        "2024-01-03",
        "--days",
        "3",
        "--tickers",
        "20",
        "--out",
        s(&raw),
    ])
    .expect_code(0);
    // A v2 day too, so null OPRA symbols are part of the comparison.
    run_gexlake(&[
        "sample",
        "--date",
        "2024-01-08",
        "--tickers",
        "20",
        "--layout",
        "v2",
        "--out",
        s(&raw),
    ])
    .expect_code(0);
    run_gexlake(&["ingest", s(&raw), "--lake", s(&lake)]).expect_code(0);
    run_gexlake(&[
        "metrics",
        "--lake",
        s(&lake),
        "--from",
        "2024-01-03",
        "--to",
        "2024-01-08",
    ])
    .expect_code(0);
    run_gexlake(&[
        "metrics",
        "--lake",
        s(&lake),
        "--date",
        "2024-01-04",
        "--profile",
        "v2",
    ])
    .expect_code(0);
    run_gexlake(&[
        "metrics",
        "--lake",
        s(&lake),
        "--date",
        "2024-01-05",
        "--min-open-interest",
        "500",
    ])
    .expect_code(0);

    // What gexlake itself (DataFusion) says.
    let totals = sql(
        &lake,
        "SELECT count(*) AS n, sum(c_oi) AS oi, count(DISTINCT ticker) AS t, count(DISTINCT trade_date) AS d, \
         sum(strike) AS k, count(c_opra) AS opra, arrow_typeof(min(trade_date)) AS ty FROM strikes",
    );
    let totals = &totals[0];
    assert_eq!(totals[6], "Date32");
    let per_date = sql(
        &lake,
        "SELECT trade_date, count(*) AS n FROM strikes GROUP BY trade_date ORDER BY trade_date",
    );
    assert_eq!(per_date.len(), 4);
    let metrics = sql(
        &lake,
        "SELECT params, count(*) AS n, sum(gex_net) AS g, count(DISTINCT trade_date) AS d FROM dealer_metrics \
         GROUP BY params ORDER BY params",
    );
    assert_eq!(metrics.len(), 3, "three parameter sets: {metrics:?}");

    let output = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(s(&lake))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {}: {e} (run tests/run, or set GEXLAKE_TEST_PYTHON)",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "{} failed (run tests/run to install duckdb, pyarrow and polars):\n{}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let readers: BTreeMap<String, Value> = serde_json::from_slice(&output.stdout).unwrap();

    let int = |v: &str| v.parse::<i64>().unwrap();
    for reader in ["duckdb", "pyarrow", "polars"] {
        let r = &readers[reader];
        let st = r["strikes"].as_array().unwrap();
        assert_eq!(st[0].as_i64(), Some(int(&totals[0])), "{reader}: rows");
        assert_eq!(st[1].as_i64(), Some(int(&totals[1])), "{reader}: sum(c_oi)");
        assert_eq!(
            st[2].as_i64(),
            Some(int(&totals[2])),
            "{reader}: distinct tickers"
        );
        assert_eq!(
            st[3].as_i64(),
            Some(int(&totals[3])),
            "{reader}: distinct trade dates"
        );
        assert_decimal(reader, "sum(strike)", &st[4], &totals[4]);
        assert_eq!(
            st[5].as_i64(),
            Some(int(&totals[5])),
            "{reader}: non-null c_opra"
        );
        let dates: Vec<(String, i64)> = r["per_date"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_i64().unwrap()))
            .collect();
        let want: Vec<(String, i64)> = per_date
            .iter()
            .map(|r| (r[0].clone(), int(&r[1])))
            .collect();
        assert_eq!(dates, want, "{reader}: rows per trade_date");

        let m = r["metrics"].as_array().unwrap();
        assert_eq!(m.len(), metrics.len(), "{reader}: parameter sets {m:?}");
        for (got, want) in m.iter().zip(&metrics) {
            assert_eq!(got[0].as_str(), Some(want[0].as_str()), "{reader}: params");
            assert_eq!(
                got[1].as_i64(),
                Some(int(&want[1])),
                "{reader}: rows of {}",
                want[0]
            );
            assert_float(
                reader,
                &format!("sum(gex_net) of {}", want[0]),
                &got[2],
                want[2].parse().unwrap(),
            );
            assert_eq!(
                got[3].as_i64(),
                Some(int(&want[3])),
                "{reader}: dates of {}",
                want[0]
            );
        }
    }
    // trade_date comes back as a date from the hive path alone.
    assert_eq!(readers["duckdb"]["date_type"], "DATE");
    assert_eq!(readers["duckdb"]["metrics_date_type"], "DATE");
    assert_eq!(readers["polars"]["date_type"], "Date");
    assert_eq!(readers["polars"]["metrics_date_type"], "Date");
    // pyarrow's hive discovery infers only integers and strings: with no other option the
    // partition value is the ISO text (compared as such above); given the partition schema it
    // is a date32.
    for key in ["date_type", "metrics_date_type"] {
        let ty = readers["pyarrow"][key].as_str().unwrap();
        assert!(
            ty == "string" || ty.starts_with("date32"),
            "pyarrow {key}: {ty}"
        );
    }
    assert_eq!(readers["pyarrow_typed"]["date_type"], "date32[day]");

    // `gamma * c_oi * 100 * stk_px * stk_px` and `power(stk_px, 2)` with no cast: DuckDB's
    // exact decimal product sums to gexlake's to the last digit.
    let analyst = sql(
        &lake,
        "SELECT sum(gamma * c_oi * 100 * stk_px * stk_px) AS g, sum(power(stk_px, 2)) AS p, \
         arrow_typeof(min(gamma)) AS ty, sum(CAST(gamma AS DOUBLE)) AS sg FROM strikes",
    );
    let analyst = &analyst[0];
    assert_eq!(analyst[2], "Decimal128(15, 8)");
    let duck = readers["duckdb"]["analyst"].as_array().unwrap();
    assert_decimal("duckdb", "sum(gamma·oi·100·S·S)", &duck[0], &analyst[0]);
    assert_float(
        "duckdb",
        "sum(power(stk_px, 2))",
        &duck[1],
        analyst[1].parse().unwrap(),
    );
    assert_eq!(duck[2], "DECIMAL(15,8)");
    // The README's lines: every DECIMAL column becomes a float column, the same values.
    let sum_gamma: f64 = analyst[3].parse().unwrap();
    for reader in ["pandas_floats", "polars_floats"] {
        let r = &readers[reader];
        assert_eq!(r["decimal_columns"], 28, "{reader}");
        assert_eq!(
            r["float_columns"], 30,
            "{reader}: 28 decimals and the two theo columns"
        );
        assert_float(reader, "sum(gamma)", &r["sum_gamma"], sum_gamma);
    }
    assert_float(
        "polars_floats",
        "sum(stk_px ** 2)",
        &readers["polars_floats"]["power"],
        analyst[1].parse().unwrap(),
    );
    assert_eq!(
        readers["polars_floats"]["differ_from_pandas"],
        serde_json::json!([]),
        "polars' and pandas' doubles are the same bits"
    );
    assert_eq!(
        readers["pyarrow_typed"]["rows"].as_i64(),
        Some(int(&totals[0]))
    );
}
