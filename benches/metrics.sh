#!/usr/bin/env bash
# Benchmark of issue #3: dealer metrics (profile a3) for one full-size day from
# the lake, next to DuckDB running equivalent SQL (benches/duckdb_metrics.sql)
# over the same Parquet files, in the same run; then a year of days.
#
# Usage: [PRECISION=realistic|compact] benches/metrics.sh [DATE] [RUNS] [YEAR_DAYS]  (needs the
# test venv: tests/run; without PRECISION, both precisions run, realistic first)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/precision.sh
date="${1:-2026-02-05}"
runs="${2:-3}"
year_days="${3:-252}"
. benches/common.sh

"$bin" --log-level warn sample --date "$date" --precision "$PRECISION" --out "$work/in"
"$bin" --log-level warn ingest "$work/in" --lake "$work/lake"
rows=$("$py" -c "import pyarrow.parquet as pq, glob; print(sum(pq.ParquetFile(f).metadata.num_rows for f in glob.glob('$work/lake/orats_strikes/*/*.parquet')))")


sed -e "s#__LAKE__#$work/lake#g" -e "s#__DATE__#$date#g" benches/duckdb_metrics.sql > "$work/duck.sql"
duck() { # the whole Python process; its in-process query time is appended to $work/duck.times
  "$py" - "$work/duck.sql" "$work/duck.parquet" "$work/duck.times" <<'PY'
import sys, time, duckdb
sql = open(sys.argv[1]).read()
con = duckdb.connect()
t0 = time.perf_counter()
con.execute(f"COPY ({sql}) TO '{sys.argv[2]}' (FORMAT parquet)")
open(sys.argv[3], "a").write(f"{time.perf_counter() - t0}\n")
PY
}
ours=$(best "$bin" --log-level warn metrics --lake "$work/lake" --date "$date")
theirs=$(best duck)
inproc=$(sort -g "$work/duck.times" | head -n 1)

# The two must agree: net GEX per ticker within 1e-9 relative.
"$py" - "$work/lake" "$work/duck.parquet" "$date" <<'PY'
import sys, duckdb
lake, duck, date = sys.argv[1:4]
con = duckdb.connect()
bad, total = con.execute(f"""
  SELECT count(*) FILTER (WHERE abs(coalesce(a.gex_net, 0) - coalesce(b.gex_net, 0)) > 1e-9 * greatest(1, abs(b.gex_net))
                          OR (a.gex_net IS NULL) <> (b.gex_net IS NULL)
                          OR abs(coalesce(a.gamma_flip, 0) - coalesce(b.gamma_flip, 0)) > 1e-9 * greatest(1, abs(b.gamma_flip))),
         count(*)
  FROM read_parquet('{lake}/dealer_metrics/params=a3/trade_date={date}/part.parquet') a
  JOIN read_parquet('{duck}') b USING (ticker)""").fetchone()
print(f"agreement: {total - bad}/{total} tickers equal (gex_net, gamma_flip)")
PY

# A year: the same day's file linked under YEAR_DAYS trade dates (no extra disk).
mkdir -p "$work/year/orats_strikes"
src=$(ls "$work"/lake/orats_strikes/*/*.parquet)
d0=$(date -d "$date" +%s)
for i in $(seq 0 $((year_days - 1))); do
  d=$(date -u -d "@$((d0 - i * 86400))" +%F)
  mkdir -p "$work/year/orats_strikes/trade_date=$d"
  ln "$src" "$work/year/orats_strikes/trade_date=$d/day.parquet"
done
first=$(date -u -d "@$((d0 - (year_days - 1) * 86400))" +%F)
t0=$(date +%s.%N)
"$bin" --log-level warn metrics --lake "$work/year" --from "$first" --to "$date"
t1=$(date +%s.%N)
year=$(echo "$t1 - $t0" | bc -l)

printf '\nMetrics benchmark — %s, %s precision: %d rows, profile a3, best of %d runs, %d cores\n' "$date" "$PRECISION" "$rows" "$runs" "$(nproc)"
printf '%-32s %8.2f s\n' "gexlake metrics (one day)" "$ours"
printf '%-32s %8.2f s\n' "DuckDB equivalent SQL, process" "$theirs"
printf '%-32s %8.3f s\n' "DuckDB, in-process query time" "$inproc"
printf 'gexlake process / DuckDB process: %.2f×\n' "$(echo "$ours / $theirs" | bc -l)"
printf 'gexlake process / DuckDB in-process: %.2f× (target ≤ 1, issue #15)\n' "$(echo "$ours / $inproc" | bc -l)"
printf '%d days (one year) with gexlake: %.1f s, %.3f s a day (target < 60 s)\n' "$year_days" "$year" "$(echo "$year / $year_days" | bc -l)"
