#!/usr/bin/env bash
# Every benchmark of benches/README.md in one run, both sample precisions (realistic first), and
# the page's results table rendered from the rows each benchmark reports (`result` in
# benches/precision.sh, `result` in benches/sink.rs): written to benches/results.md and, with
# --write, into benches/README.md between its "results" markers. Each benchmark still measures
# gexlake and its baseline in the same run and prints its own report; the log of the whole run
# goes to benches/all.log. Takes 40–75 minutes on a 2-core machine; run it on a quiet one.
#
# Usage: benches/all.sh [--write]
set -euo pipefail
cd "$(dirname "$0")/.."
write="${1:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gexlake/target}"
export GEXLAKE_BENCH_RESULTS
GEXLAKE_BENCH_RESULTS="$(mktemp)"
trap 'rm -f "$GEXLAKE_BENCH_RESULTS"' EXIT
log=benches/all.log
# Both builds first, so that no compilation overlaps a measurement.
cargo build --release --workspace -q
cargo bench --workspace --bench sink --no-run -q 2> /dev/null
# Let the builds settle: wait (at most 3 minutes) for a 5-second window in which the CPUs are
# less than 10 % busy. Not the load average: on a shared VM it can idle above 1 with nothing
# running, and it lags the compiler by minutes.
busy_over_5s() { # percent of CPU time not idle (nor waiting on I/O) over the next 5 seconds
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  sleep 5
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  echo "$a $b" | awk '{ busy = $3 - $1; idle = $4 - $2; print int(100 * busy / (busy + idle + 1e-9)) }'
}
for _ in $(seq 36); do
  [ "$(busy_over_5s)" -lt 10 ] && break
done
started=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD 2> /dev/null || echo unknown)
: > "$log"
for bench in ingest metrics backfill analyst orats_daily cluster; do
  echo "== benches/$bench.sh" | tee -a "$log"
  t0=$(date +%s)
  bash "benches/$bench.sh" >> "$log" 2>&1
  echo "   $(($(date +%s) - t0)) s" | tee -a "$log"
done
echo "== cargo bench --bench sink" | tee -a "$log"
cargo bench --workspace --bench sink -q >> "$log" 2>&1

{
  printf '<!-- results:start -->\n'
  printf 'From one run of `benches/all.sh` (commit %s, started %s) on %s: %d cores, %s GB, load average before the run %s.\n' \
    "$commit" "$started" "$(uname -n)" "$(nproc)" "$(free -g | awk '/Mem:/ {print $2}')" "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'Each row is gexlake and its baseline measured in the same run; ratio = gexlake / baseline.\n\n'
  printf '| benchmark | precision | gexlake | baseline | ratio | target | script |\n'
  printf '|---|---|---|---|---|---|---|\n'
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | `benches/%s` |\n", $3, $2, $4, $5, $6, $7, $1 }' "$GEXLAKE_BENCH_RESULTS"
  printf '<!-- results:end -->\n'
} > benches/results.md
cat benches/results.md
if [ "$write" = --write ]; then
  python3 - benches/README.md benches/results.md <<'PY'
import re, sys
page, table = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
new, n = re.subn(r"<!-- results:start -->.*?<!-- results:end -->", lambda _: table, page, flags=re.S)
if n != 1:
    sys.exit(f"{sys.argv[1]}: no results markers")
open(sys.argv[1], "w").write(new)
PY
fi
