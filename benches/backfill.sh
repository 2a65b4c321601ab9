#!/usr/bin/env bash
# Benchmark of issue #5: `gexlake backfill` of DAYS full-size generated days (5,800 tickers,
# ~750K rows each) into a fresh lake and a throwaway Postgres, end to end: seconds per day,
# seconds per day per core, and each stage's share (the run summary's ingest_s / metrics_s /
# sink_s). Next to it, measured on the same files, the single-stage baselines that
# benches/ingest.sh and benches/metrics.sh measure: one day converted on one core, and one
# day's metrics per profile.
# Target: ≤ 2.5 s per day per core end to end.
#
# Also the backfill's peak RSS: memory grows with --jobs (conversions and metrics shards side
# by side), so JOBS=8 shows what an 8-core laptop needs even on this 2-core machine.
#
# Usage: [JOBS=N] [PRECISION=realistic|compact] benches/backfill.sh [DAYS] [FIRST_DATE]   (DAYS
# defaults to 20, JOBS to every core, PRECISION to both, realistic first; needs PostgreSQL and
# the test venv: tests/run installs both)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/precision.sh
days="${1:-20}"
first="${2:-2026-01-05}"
runs=1
. benches/common.sh

# A throwaway server, as tests/support/pg.rs does it: initdb in a temporary directory, loopback
# only, durability off; run as `postgres` when we are root (the server refuses root).
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
pgdir="$(mktemp -d)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" -eq 0 ]; then chown postgres "$pgdir"; fi
cleanup() {
  as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate -w stop > /dev/null 2>&1 || true
  rm -rf "$pgdir" "$work"
}
trap cleanup EXIT
as_pg "$pgbin/initdb" -D "$pgdir/data" -U gexlake --auth=trust -E UTF8 --no-locale --no-sync > /dev/null
port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -o \
  "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start > /dev/null
url="postgres://gexlake@127.0.0.1:$port/postgres"

echo "generating $days full-size days from $first ($PRECISION precision) …" >&2
"$bin" --log-level warn sample --date "$first" --days "$days" --precision "$PRECISION" --out "$work/in"
zip_mb=$(du -sm "$work/in" | cut -f1)
cores=$(nproc)
jobs="${JOBS:-$cores}"

t0=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/rss_kb" "$bin" --log-format json backfill --dir "$work/in" \
  --lake "$work/lake" --database-url "$url" --jobs "$jobs" 2> "$work/backfill.log"
t1=$(date +%s.%N)
wall=$(echo "$t1 - $t0" | bc -l)

# Single-stage baselines on the same files: one day converted on one core (as benches/ingest.sh),
# one day's metrics per profile from the lake just built (as benches/metrics.sh).
day_zip="$(ls "$work"/in/*.zip | head -n 1)"
day="$(basename "$day_zip" .zip | sed -E 's/.*_([0-9]{4})([0-9]{2})([0-9]{2})$/\1-\2-\3/')"
ingest1=$(best "$bin" --log-level warn ingest "$day_zip" --jobs 1 --force --lake "$work/scratch")
metrics_a3=$(best "$bin" --log-level warn metrics --lake "$work/lake" --date "$day" --profile a3)
metrics_v2=$(best "$bin" --log-level warn metrics --lake "$work/lake" --date "$day" --profile v2)

read -r ingest_s metrics_s sink_s rows soft < <("$py" - "$work/backfill.log" <<'PY'
import json, sys
summary = next(e for e in map(json.loads, open(sys.argv[1])) if e.get("message") == "run summary")
print(summary["ingest_s"], summary["metrics_s"], summary["sink_s"], summary["ticker_rows"], summary["soft_failed_tickers"])
PY
)
pct() { echo "100 * $1 / $wall" | bc -l; }
printf '\nBackfill benchmark — %d full-size days (%s precision, %d MB of ZIPs), %d cores, --jobs %d, Postgres sink\n' \
  "$days" "$PRECISION" "$zip_mb" "$cores" "$jobs"
printf '%-34s %9.1f s\n' "backfill wall time" "$wall"
printf '%-34s %9.2f s\n' "per day" "$(echo "$wall / $days" | bc -l)"
printf '%-34s %9.2f s   (target ≤ 2.5)\n' "per day per core" "$(echo "$wall * $cores / $days" | bc -l)"
printf '%-34s %9d MB (a laptop with 8 GB must cope)\n' "peak RSS" "$(($(tail -n 1 "$work/rss_kb") / 1024))"
printf '%-34s %9s\n' "result rows (ticker-days, a3+v2)" "$rows"
printf '%-34s %9s\n' "soft-failed tickers" "$soft"
printf '\nstage                       seconds   share   per day\n'
for stage in ingest metrics sink; do
  s=$(eval echo "\$${stage}_s")
  printf '%-25s %9.1f %6.1f%% %8.2f s\n' "$stage" "$s" "$(pct "$s")" "$(echo "$s / $days" | bc -l)"
done
# A chunk's sink runs while the next chunk's metrics are computed, so the two stages' times
# overlap; after ingest, the rest of the run is their combined wall time.
rest=$(echo "$wall - $ingest_s" | bc -l)
printf '%-25s %9.1f %6.1f%% %8.2f s\n' "metrics + sink, overlapped" "$rest" "$(pct "$rest")" "$(echo "$rest / $days" | bc -l)"
printf '\nsingle-stage baselines (same files)\n'
printf '%-34s %9.2f s\n' "ingest one day, --jobs 1" "$ingest1"
printf '%-34s %9.2f s\n' "metrics one day, profile a3" "$metrics_a3"
printf '%-34s %9.2f s\n' "metrics one day, profile v2" "$metrics_v2"
printf '%-34s %9.2f s   (ingest on one core + both metrics on all cores, no sink)\n' "one day, stages alone" \
  "$(echo "$ingest1 + $metrics_a3 + $metrics_v2" | bc -l)"
result "backfill of $days full-size days with Postgres, \`--jobs $jobs\`: seconds a day per core" \
  "$(printf '%.2f s' "$(echo "$wall * $cores / $days" | bc -l)")" \
  "$(printf 'the stages alone %.2f s a day' "$(echo "$ingest1 + $metrics_a3 + $metrics_v2" | bc -l)")" "" "≤ 2.5 s"
result "peak RSS of that backfill" "$(($(tail -n 1 "$work/rss_kb") / 1024)) MB" "" "" "a laptop with 8 GB"
