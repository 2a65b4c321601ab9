#!/usr/bin/env bash
# Benchmark of issues #3 and #15: dealer metrics of one full-size day from the
# lake, profile a3 alone, then a3 and v2 together (as backfill computes them, from
# one scan of the strikes), next to DuckDB running equivalent SQL
# (benches/duckdb_metrics.sql, benches/duckdb_metrics_v2.sql) over the same
# Parquet files, in the same run; then the same over a year of days.
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


# DuckDB runs benches/duckdb_metrics.sql (a3) and benches/duckdb_metrics_v2.sql (v2).
sql() { # PROFILE FROM TO: the DuckDB SQL file of that profile and date range over $LAKE
  local file=benches/duckdb_metrics.sql out="$work/duck_$1_$2_$3.sql"
  if [ "$1" = v2 ]; then file=benches/duckdb_metrics_v2.sql; fi
  sed -e "s#__LAKE__#$LAKE#g" -e "s#__FROM__#$2#g" -e "s#__TO__#$3#g" "$file" > "$out"
  echo "$out"
}
duck() { # TIMES SQL…: the whole Python process running each query to $work/duck_N.parquet
  # (N its place); the queries' in-process time, together, is appended to TIMES
  "$py" - "$work" "$@" <<'PY'
import sys, time, duckdb
work, times, files = sys.argv[1], sys.argv[2], sys.argv[3:]
con = duckdb.connect()
t0 = time.perf_counter()
for i, f in enumerate(files):
    con.execute(f"COPY ({open(f).read()}) TO '{work}/duck_{i}.parquet' (FORMAT parquet)")
open(times, "a").write(f"{time.perf_counter() - t0}\n")
PY
}
agree() { # PROFILE N: gexlake's results of $date against DuckDB's $work/duck_N.parquet
  "$py" - "$work/lake" "$work/duck_$2.parquet" "$date" "$1" <<'PY'
import sys, duckdb
lake, duck, date, profile = sys.argv[1:5]
con = duckdb.connect()
bad, total = con.execute(f"""
  SELECT count(*) FILTER (WHERE a.ticker IS NULL OR b.ticker IS NULL
                          OR abs(coalesce(a.gex_net, 0) - coalesce(b.gex_net, 0)) > 1e-9 * greatest(1, abs(b.gex_net))
                          OR (a.gex_net IS NULL) <> (b.gex_net IS NULL)
                          OR abs(coalesce(a.gamma_flip, 0) - coalesce(b.gamma_flip, 0)) > 1e-9 * greatest(1, abs(b.gamma_flip))
                          OR (a.gamma_flip IS NULL) <> (b.gamma_flip IS NULL)),
         count(*)
  FROM read_parquet('{lake}/dealer_metrics/params={profile}/trade_date={date}/part.parquet') a
  FULL JOIN read_parquet('{duck}') b USING (ticker)""").fetchone()
print(f"agreement, {profile}: {total - bad}/{total} tickers equal (gex_net, gamma_flip)")
if bad:
    sys.exit(f"gexlake and DuckDB disagree on {bad} {profile} tickers")
PY
}
min_of() { sort -g "$1" | head -n 1; }
ratio() { echo "$1 / $2" | bc -l; }

# One day: a3 alone, then a3 and v2 together (one scan of the strikes feeds both).
LAKE="$work/lake"
a3_day=$(sql a3 "$date" "$date")
v2_day=$(sql v2 "$date" "$date")
# Each of our runs alternates with one of DuckDB's (common.sh, `interleaved`).
ours_a3() { "$bin" --log-level warn metrics --lake "$work/lake" --date "$date" --profile a3; }
duck_a3() { duck "$work/a3.times" "$a3_day"; }
ours_both() { "$bin" --log-level warn metrics --lake "$work/lake" --date "$date" --profile a3,v2; }
duck_both() { duck "$work/both.times" "$a3_day" "$v2_day"; }
pair=$(interleaved ours_a3 duck_a3)
read -r ours theirs <<< "$pair"
inproc=$(min_of "$work/a3.times")
agree a3 0
pair=$(interleaved ours_both duck_both)
read -r ours_both theirs_both <<< "$pair"
inproc_both=$(min_of "$work/both.times")
agree a3 0
agree v2 1

# A year: the same day's file linked under YEAR_DAYS trade dates (no extra disk); one run each.
mkdir -p "$work/year/orats_strikes"
src=$(ls "$work"/lake/orats_strikes/*/*.parquet)
d0=$(date -d "$date" +%s)
for i in $(seq 0 $((year_days - 1))); do
  d=$(date -u -d "@$((d0 - i * 86400))" +%F)
  mkdir -p "$work/year/orats_strikes/trade_date=$d"
  ln "$src" "$work/year/orats_strikes/trade_date=$d/day.parquet"
done
first=$(date -u -d "@$((d0 - (year_days - 1) * 86400))" +%F)
LAKE="$work/year"
a3_year=$(sql a3 "$first" "$date")
v2_year=$(sql v2 "$first" "$date")
year=$(wall "$bin" --log-level warn metrics --lake "$work/year" --from "$first" --to "$date" --profile a3)
duck "$work/a3_year.times" "$a3_year" > /dev/null
year_duck=$(min_of "$work/a3_year.times")
year_both=$(wall "$bin" --log-level warn metrics --lake "$work/year" --from "$first" --to "$date" --profile a3,v2)
duck "$work/both_year.times" "$a3_year" "$v2_year" > /dev/null
year_duck_both=$(min_of "$work/both_year.times")

printf '\nMetrics benchmark — %s, %s precision: %d rows, one day best of %d runs, %d cores\n' "$date" "$PRECISION" "$rows" "$runs" "$(nproc)"
printf '%-36s %9s %9s %9s %8s %8s\n' "" "gexlake" "DuckDB" "DuckDB" "ratio to" "ratio to"
printf '%-36s %9s %9s %9s %8s %8s\n' "work" "process" "process" "queries" "process" "queries"
printf '%-36s %8.3fs %8.3fs %8.3fs %7.2f× %7.2f×\n' "a3, one day" "$ours" "$theirs" "$inproc" "$(ratio "$ours" "$theirs")" "$(ratio "$ours" "$inproc")"
printf '%-36s %8.3fs %8.3fs %8.3fs %7.2f× %7.2f×\n' "a3 + v2 together, one day" "$ours_both" "$theirs_both" "$inproc_both" "$(ratio "$ours_both" "$theirs_both")" "$(ratio "$ours_both" "$inproc_both")"
printf '%-36s %8.2fs %9s %8.2fs %8s %7.2f×\n' "a3, $year_days days" "$year" "" "$year_duck" "" "$(ratio "$year" "$year_duck")"
printf '%-36s %8.2fs %9s %8.2fs %8s %7.2f×\n' "a3 + v2 together, $year_days days" "$year_both" "" "$year_duck_both" "" "$(ratio "$year_both" "$year_duck_both")"
echo "gexlake: its whole process; target ≤ 1 against DuckDB's in-process query time (issue #15); results checked equal"
result "metrics a3, one full-size day ($rows rows): whole process / DuckDB in-process" \
  "$(printf '%.3f s' "$ours")" "$(printf 'DuckDB %.3f s (its process %.3f s)' "$inproc" "$theirs")" \
  "$(printf '%.2f×' "$(ratio "$ours" "$inproc")")" "≤ 1"
result "metrics a3 + v2 together, one day" \
  "$(printf '%.3f s' "$ours_both")" "$(printf 'DuckDB both %.3f s (its process %.3f s)' "$inproc_both" "$theirs_both")" \
  "$(printf '%.2f×' "$(ratio "$ours_both" "$inproc_both")")" "≤ 1"
result "metrics a3, $year_days days" \
  "$(printf '%.1f s' "$year")" "$(printf 'DuckDB %.1f s' "$year_duck")" "$(printf '%.2f×' "$(ratio "$year" "$year_duck")")" "≤ 1"
result "metrics a3 + v2 together, $year_days days" \
  "$(printf '%.1f s' "$year_both")" "$(printf 'DuckDB both %.1f s' "$year_duck_both")" \
  "$(printf '%.2f×' "$(ratio "$year_both" "$year_duck_both")")" "≤ 1"
