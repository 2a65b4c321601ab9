#!/usr/bin/env bash
# Benchmark of issue #2: converting one full-size ORATS day on one core.
#
# Measures, in the same run and on the same generated archive:
#   inflate only       unzip -p FILE > /dev/null
#   gexlake            gexlake ingest FILE --jobs 1 --force
#   DuckDB             read_csv → COPY TO parquet on the unzipped CSV (threads=1, and all threads)
# and reports wall times, MB/s of ZIP input, the ratios and the Parquet/ZIP size ratio.
# Target: gexlake ≤ 2× inflate-only; faster than DuckDB; Parquet ≤ ZIP bytes.
#
# Usage: [PRECISION=realistic|compact] benches/ingest.sh [DATE] [RUNS] [TICKERS]   (needs a
# release build and the test venv: tests/run). TICKERS sizes the day: the default ~5,800 gives
# ~750K rows, 7800 gives ~1M rows. Without PRECISION, both precisions run, realistic first.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/precision.sh
date="${1:-2026-02-05}"
runs="${2:-3}"
tickers="${3:-}"
. benches/common.sh

"$bin" --log-level warn sample --date "$date" ${tickers:+--tickers "$tickers"} --precision "$PRECISION" --out "$work/in"
zip="$(ls "$work"/in/*.zip)"
unzip -p "$zip" > "$work/day.csv"
zip_bytes=$(stat -c %s "$zip")
csv_bytes=$(stat -c %s "$work/day.csv")
rows=$(($(wc -l < "$work/day.csv") - 1))


# Each conversion alternates with one `unzip -p` (common.sh, `interleaved`).
inflate_once() { unzip -p "$zip" > /dev/null; }
ingest_once() { "$bin" --log-level warn ingest "$zip" --jobs 1 --force --lake "$work/lake"; }
pair=$(interleaved inflate_once ingest_once)
read -r inflate ours <<< "$pair"
parquet_bytes=$(stat -c %s "$work"/lake/orats_strikes/trade_date=*/*.parquet)
# Peak memory of one conversion (GNU time's maximum resident set size, in KB).
rss_kb=$( { /usr/bin/time -f '%M' "$bin" --log-level warn ingest "$zip" --jobs 1 --force --lake "$work/lake" > /dev/null; } 2>&1 | tail -n 1)
duck() {
  "$py" - "$work/day.csv" "$work/duck.parquet" "$1" <<'PY'
import sys, time, duckdb
csv, out, threads = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
if threads != "all":
    con.execute(f"SET threads={threads}")
con.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
PY
}
duck1=$(best duck 1)
duckall=$(best duck all)

mb=$(echo "$zip_bytes / 1000000" | bc -l)
printf '\nIngest benchmark — %s, %s precision: %d rows, ZIP %.1f MB (%.1f B a row), CSV %.1f MB (%.1f B a row), best of %d runs, %d cores\n' \
  "$date" "$PRECISION" "$rows" "$mb" "$(echo "$zip_bytes / $rows" | bc -l)" "$(echo "$csv_bytes / 1000000" | bc -l)" \
  "$(echo "$csv_bytes / $rows" | bc -l)" "$runs" "$(nproc)"
printf '%-38s %8s %10s %8s\n' "what" "seconds" "ZIP MB/s" "ratio"
row() { printf '%-38s %8.2f %10.1f %8.2f\n' "$1" "$2" "$(echo "$mb / $2" | bc -l)" "$(echo "$2 / $inflate" | bc -l)"; }
row "inflate only (unzip -p)" "$inflate"
row "gexlake ingest --jobs 1" "$ours"
row "DuckDB read_csv→parquet, 1 thread" "$duck1"
row "DuckDB read_csv→parquet, all threads" "$duckall"
printf '\ngexlake / inflate-only: %.2f× (target ≤ 2)\n' "$(echo "$ours / $inflate" | bc -l)"
printf 'gexlake / DuckDB 1 thread: %.2f× (target < 1)\n' "$(echo "$ours / $duck1" | bc -l)"
printf 'Parquet / ZIP bytes: %d / %d = %.3f (target ≤ 1)\n' "$parquet_bytes" "$zip_bytes" "$(echo "$parquet_bytes / $zip_bytes" | bc -l)"
printf 'peak RSS of gexlake ingest: %d MB (target < 1024)\n' "$((rss_kb / 1024))"
result "ingest one full-size day ($rows rows, $(printf '%.1f' "$mb") MB ZIP), \`--jobs 1\` / \`unzip -p\`" \
  "$(printf '%.2f s' "$ours")" "$(printf '%.2f s' "$inflate")" "$(printf '%.2f×' "$(echo "$ours / $inflate" | bc -l)")" "≤ 2×"
result "same / DuckDB \`read_csv\` → Parquet, 1 thread" \
  "$(printf '%.2f s' "$ours")" "$(printf '%.2f s' "$duck1")" "$(printf '%.2f×' "$(echo "$ours / $duck1" | bc -l)")" "< 1"
result "lake Parquet bytes / ZIP bytes" \
  "$(printf '%.1f MB' "$(echo "$parquet_bytes / 1000000" | bc -l)")" "$(printf '%.1f MB' "$mb")" \
  "$(printf '%.3f' "$(echo "$parquet_bytes / $zip_bytes" | bc -l)")" "≤ 1"
result "peak RSS of that conversion" "$((rss_kb / 1024)) MB" "" "" "< 1 GB"
# Item 1 of #15: the sample's bytes a row against the real 2024-01-03 file (716,822 rows, 223 MB of
# CSV in a 67 MB ZIP: 311 and 93.5 bytes a row); realistic days must be within 10 % of both.
result "\`gexlake sample\` day: CSV / ZIP bytes a row, against the real 2024-01-03 file" \
  "$(printf '%.1f / %.1f B' "$(echo "$csv_bytes / $rows" | bc -l)" "$(echo "$zip_bytes / $rows" | bc -l)")" \
  "311 / 93.5 B" \
  "$(printf '%.2f / %.2f' "$(echo "$csv_bytes / $rows / 311" | bc -l)" "$(echo "$zip_bytes / $rows / 93.5" | bc -l)")" \
  "$(if [ "$PRECISION" = realistic ]; then echo "within 10 %"; else echo "(older, compact digits)"; fi)"
