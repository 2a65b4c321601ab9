#!/usr/bin/env bash
# Benchmark of issue #6: analyst queries with `gexlake sql` next to DuckDB on
# the same Parquet files, in the same run.
#
#   history  — one ticker over a year: SPY's net GEX, flip and walls from
#              dealer_metrics, and SPY's daily open interest from the raw strikes;
#   section  — one day across every ticker: the day's dealer_metrics ranked by
#              net GEX, and per-ticker totals from that day's strikes.
#
# Each query runs RUNS times per tool; the best time is kept. "end to end" is a
# whole command as an analyst types it (gexlake sql … vs python -c 'duckdb…');
# "query" is the time inside the process, without start-up (gexlake --timing,
# and a timer around DuckDB's query on a fresh connection).
#
# Usage: [PRECISION=realistic|compact] benches/analyst.sh [DAYS] [TICKERS] [RUNS]
# (default 250 300 5; both precisions, realistic first, without PRECISION)
# Needs the test venv's DuckDB (tests/run installs it). The lake is built once
# into $GEXLAKE_BENCH_DIR (default
# ~/.cache/gexlake/bench-analyst-DAYSxTICKERS-PRECISION) and reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/precision.sh
days="${1:-250}"
tickers="${2:-300}"
runs="${3:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gexlake/target}"
cargo build --release --workspace -q
bin="$CARGO_TARGET_DIR/release/gexlake"
py="${GEXLAKE_TEST_PYTHON:-$HOME/.cache/gexlake/venv/bin/python}"
work="${GEXLAKE_BENCH_DIR:-$HOME/.cache/gexlake/bench-analyst-${days}x${tickers}-$PRECISION}"
lake="$work/lake"
start=2025-02-03

if [ ! -f "$work/.done" ]; then
  rm -rf "$work"
  mkdir -p "$work"
  t0=$(date +%s.%N)
  "$bin" --log-level warn sample --date "$start" --days "$days" --tickers "$tickers" --precision "$PRECISION" --out "$work/in"
  "$bin" --log-level warn ingest "$work/in" --lake "$lake"
  "$bin" --log-level warn metrics --lake "$lake" --from "$start"
  rm -rf "$work/in"
  printf 'built the lake in %.0f s\n' "$(echo "$(date +%s.%N) - $t0" | bc -l)"
  touch "$work/.done"
fi
last=$(ls "$lake/dealer_metrics/params=a3" | sed -n 's/^trade_date=//p' | sort | tail -n 1)
rows=$("$py" -c "import duckdb; print(duckdb.sql(\"SELECT count(*) FROM read_parquet('$lake/orats_strikes/*/*.parquet')\").fetchall()[0][0])")

# name | gexlake SQL | DuckDB SQL (same columns, same rows)
dm="read_parquet('$lake/dealer_metrics/*/*/*.parquet', hive_partitioning = true)"
st="read_parquet('$lake/orats_strikes/*/*.parquet', hive_partitioning = true)"
queries=(
  "history: SPY dealer_metrics, 1 year"
  "SELECT trade_date, spot_price, gex_net, gamma_flip, call_walls[1]['strike'] AS call_wall, put_walls[1]['strike'] AS put_wall FROM dealer_metrics WHERE params = 'a3' AND ticker = 'SPY' ORDER BY trade_date"
  "SELECT trade_date, spot_price, gex_net, gamma_flip, call_walls[1].strike AS call_wall, put_walls[1].strike AS put_wall FROM $dm WHERE params = 'a3' AND ticker = 'SPY' ORDER BY trade_date"

  "history: SPY strikes (OI), 1 year"
  "SELECT trade_date, sum(c_oi) AS call_oi, sum(p_oi) AS put_oi, sum(c_volu + p_volu) AS volume, count(*) AS n FROM strikes WHERE ticker = 'SPY' GROUP BY trade_date ORDER BY trade_date"
  "SELECT trade_date, sum(c_oi) AS call_oi, sum(p_oi) AS put_oi, sum(c_volu + p_volu) AS volume, count(*) AS n FROM $st WHERE ticker = 'SPY' GROUP BY trade_date ORDER BY trade_date"

  "section: dealer_metrics, 1 day"
  "SELECT ticker, gex_net, gamma_flip, spot_price, position FROM dealer_metrics WHERE params = 'a3' AND trade_date = DATE '$last' ORDER BY gex_net DESC NULLS LAST, ticker"
  "SELECT ticker, gex_net, gamma_flip, spot_price, position FROM $dm WHERE params = 'a3' AND trade_date = DATE '$last' ORDER BY gex_net DESC NULLS LAST, ticker"

  "section: strikes per ticker, 1 day"
  "SELECT ticker, count(*) AS n, sum(c_oi) AS call_oi, sum(p_oi) AS put_oi, sum(gamma * (c_oi - p_oi)) AS gamma_oi FROM strikes WHERE trade_date = DATE '$last' GROUP BY ticker ORDER BY ticker"
  "SELECT ticker, count(*) AS n, sum(c_oi) AS call_oi, sum(p_oi) AS put_oi, sum(gamma * (c_oi - p_oi)) AS gamma_oi FROM $st WHERE trade_date = DATE '$last' GROUP BY ticker ORDER BY ticker"
)

now() { date +%s.%N; }
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }

ours_e2e() { "$bin" --log-level warn sql --lake "$lake" --format csv "$1" > "$work/ours.csv"; }
ours_query() { "$bin" --log-level warn sql --lake "$lake" --format csv --timing "$1" 2>&1 > /dev/null | sed -n 's/.* in \([0-9.]*\) s$/\1/p'; }
duck_e2e() { "$py" -c "import duckdb, sys; duckdb.sql(sys.argv[1]).write_csv(sys.argv[2])" "$1" "$work/duck.csv"; }
duck_query() {
  "$py" -c "
import duckdb, sys, time
con = duckdb.connect()
t = time.perf_counter(); con.sql(sys.argv[1]).fetchall(); print(time.perf_counter() - t)" "$1"
}

printf '\nAnalyst benchmark: %s trade dates × %s tickers (%s strike rows, %s precision), %s cores, best of %s\n' \
  "$(ls "$lake/orats_strikes" | wc -l)" "$tickers" "$rows" "$PRECISION" "$(nproc)" "$runs"
printf '%-36s %12s %12s %7s   %12s %12s %7s\n' "query" "gexlake e2e" "DuckDB e2e" "ratio" "gexlake qry" "DuckDB qry" "ratio"
for ((i = 0; i < ${#queries[@]}; i += 3)); do
  name="${queries[i]}" ours_sql="${queries[i + 1]}" duck_sql="${queries[i + 2]}"
  # Both must return the same rows (compared as numbers to 1e-9).
  ours_e2e "$ours_sql"
  duck_e2e "$duck_sql"
  "$py" - "$work/ours.csv" "$work/duck.csv" "$name" <<'PY'
import csv, math, sys
def rows(path):
    with open(path) as f:
        return list(csv.reader(f))[1:]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
def same(x, y):
    if x == y:
        return True
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        return False
    return math.isclose(fx, fy, rel_tol=1e-9, abs_tol=1e-9)
bad = len(a) != len(b) or any(not same(x, y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
if bad:
    sys.exit(f"{sys.argv[3]}: gexlake and DuckDB disagree ({len(a)} vs {len(b)} rows)")
PY
  oe="" de="" oq="" dq=""
  for _ in $(seq "$runs"); do
    t0=$(now); ours_e2e "$ours_sql"; oe=$(min "$oe" "$(echo "$(now) - $t0" | bc -l)")
    t0=$(now); duck_e2e "$duck_sql"; de=$(min "$de" "$(echo "$(now) - $t0" | bc -l)")
    oq=$(min "$oq" "$(ours_query "$ours_sql")")
    dq=$(min "$dq" "$(duck_query "$duck_sql")")
  done
  printf '%-36s %10.3f s %10.3f s %6.2f×   %10.3f s %10.3f s %6.2f×\n' "$name" "$oe" "$de" \
    "$(echo "$oe / $de" | bc -l)" "$oq" "$dq" "$(echo "$oq / $dq" | bc -l)"
  result "analyst, $name ($tickers tickers a day): whole command / DuckDB from Python (query time inside each)" \
    "$(printf '%.3f s (%.3f s)' "$oe" "$oq")" "$(printf '%.3f s (%.3f s)' "$de" "$dq")" \
    "$(printf '%.2f× (%.2f×)' "$(echo "$oe / $de" | bc -l)" "$(echo "$oq / $dq" | bc -l)")" "≤ 1"
done
echo "ratio = gexlake / DuckDB (target ≤ 1); results checked equal before timing"
