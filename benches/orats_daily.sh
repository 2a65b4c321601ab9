#!/usr/bin/env bash
# Benchmark of issue #18: orats_daily for a year of full-size days
# (aggregation + history, `gexlake daily --from --to`), next to DuckDB running
# equivalent SQL (benches/duckdb_orats_daily.sql) over the same lake in the
# same run; then the nightly increment (one new day) on a 1-year and on a
# 3-year lake, whose history the run reads from the stored orats_daily
# partitions (target: within 20 % of each other).
#
# Usage: [PRECISION=realistic|compact] benches/orats_daily.sh [TICKERS] [DAYS] [RUNS]   (needs
# the test venv: tests/run; without PRECISION, both precisions run, realistic first)
#   TICKERS  tickers a day (default 5800, a full day); DAYS trade dates a year (252).
#   BUILD=debug runs the debug binary the tests built (no cargo build): a quick check of the
#   script, e.g. `BUILD=debug benches/orats_daily.sh 20 45`.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/precision.sh
tickers="${1:-5800}"
days="${2:-252}"
runs="${3:-1}"
. benches/common.sh
. benches/year_lake.sh
mk_lake "$work/year" "$days"
year_first=$first
rows=$("$py" -c "import pyarrow.parquet as pq, glob; print(sum(pq.ParquetFile(f).metadata.num_rows for f in glob.glob('$work/year/orats_strikes/*/*.parquet')))")

# A year: gexlake (aggregation + history) against DuckDB's SQL over the same files.
sed -e "s#__LAKE__#$work/year#g" benches/duckdb_orats_daily.sql > "$work/duck.sql"
duck() {
  "$py" - "$work/duck.sql" "$work/duck.parquet" <<'PY'
import sys, duckdb
con = duckdb.connect()
con.execute("CREATE MACRO pg_round(x, n) AS CAST(round(CAST(printf('%.15g', x) AS DECIMAL(38, 12)), n) AS DOUBLE)")
con.execute(f"COPY ({open(sys.argv[1]).read()}) TO '{sys.argv[2]}' (FORMAT parquet)")
PY
}
# Each of our runs alternates with one of DuckDB's (common.sh, `interleaved`).
ours_year() { "$bin" --log-level warn daily --lake "$work/year" --from "$year_first" --to "$last"; }
pair=$(interleaved ours_year duck)
read -r ours theirs <<< "$pair"
"$py" - "$work/year" "$work/duck.parquet" <<'PY'
import sys, duckdb
lake, duck = sys.argv[1:3]
con = duckdb.connect()
total, same = con.execute(f"""
  SELECT count(*), count(*) FILTER (WHERE a.iv_rank IS NOT DISTINCT FROM b.iv_rank
                                      AND a.hv_30day IS NOT DISTINCT FROM b.hv_30day
                                      AND a.volume_ema_60d IS NOT DISTINCT FROM b.volume_ema_60d)
  FROM read_parquet('{lake}/orats_daily/*/*.parquet') a JOIN read_parquet('{duck}') b USING (symbol, asof_date)""").fetchone()
print(f"agreement: {same}/{total} rows equal (iv_rank, hv_30day, volume_ema_60d)")
PY

# The nightly increment: one more day on a 1-year and a 3-year lake whose
# orats_daily history is already computed. Each round adds a new day after the
# last to both lakes and computes it on each, one after the other (as `interleaved`
# does, so that the ratio of the two is measured over the same minutes), at least
# three rounds; the best of each is kept. Every round is a real nightly: a day not
# computed before, its history already in the lake.
mk_lake "$work/three" $((3 * days))
"$bin" --log-level warn daily --lake "$work/three" --from "$first" --to "$last"
add_day() { # add_day LAKE DATE: the year's first file, linked as the strikes of DATE
  mkdir -p "$1/orats_strikes/trade_date=$2"
  ln "${sources[0]}" "$1/orats_strikes/trade_date=$2/day.parquet"
}
one="" three=""
for i in $(seq $((runs > 3 ? runs : 3))); do
  next=$(date -u -d "$last + $i day" +%F)
  add_day "$work/year" "$next"
  add_day "$work/three" "$next"
  one=$(lesser "$one" "$(wall "$bin" --log-level warn daily --lake "$work/year" --date "$next")")
  three=$(lesser "$three" "$(wall "$bin" --log-level warn daily --lake "$work/three" --date "$next")")
done

printf '\norats_daily benchmark — %d days of %d tickers (%d strike rows, %s precision), best of %d runs, %d cores\n' \
  "$days" "$tickers" "$rows" "$PRECISION" "$runs" "$(nproc)"
printf '%-40s %8.2f s\n' "gexlake daily (a year)" "$ours"
printf '%-40s %8.2f s\n' "DuckDB equivalent SQL (a year)" "$theirs"
printf 'gexlake / DuckDB: %.2f× (target ≤ 1)\n' "$(echo "$ours / $theirs" | bc -l)"
printf '%-40s %8.3f s\n' "nightly day on a 1-year lake (best round)" "$one"
printf '%-40s %8.3f s\n' "nightly day on a 3-year lake (best round)" "$three"
printf '3-year / 1-year: %.2f× (target ≤ 1.2)\n' "$(echo "$three / $one" | bc -l)"
result "\`orats_daily\` of $days full-size days ($rows strike rows) / DuckDB equivalent SQL" \
  "$(printf '%.2f s' "$ours")" "$(printf '%.2f s' "$theirs")" "$(printf '%.2f×' "$(echo "$ours / $theirs" | bc -l)")" "≤ 1"
result "\`orats_daily\` nightly: one new day on a 3-year / a 1-year lake" \
  "$(printf '%.3f s' "$three")" "$(printf '%.3f s' "$one")" "$(printf '%.2f×' "$(echo "$three / $one" | bc -l)")" "≤ 1.2"
