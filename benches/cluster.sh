#!/usr/bin/env bash
# Benchmark of issue #17: a year of metrics (profiles a3 and v2) computed in this process
# (`gexlake metrics`) and on a Ballista cluster on this machine (`gexlake scheduler` and two
# `gexlake executor`s, one slot each, `--cluster df://127.0.0.1:PORT`) over the same lake in the
# same run: the cluster's overhead ratio, the check that both lakes hold the same bytes, and the
# measured throughput per executor slot that the scaling model of benches/README.md multiplies.
#
# Usage: [PRECISION=realistic|compact] benches/cluster.sh [TICKERS] [DAYS] [RUNS]   (without
# PRECISION, both precisions run, realistic first)
#   TICKERS  tickers a day (default 5800, a full day); DAYS trade dates (252, a year).
#   BUILD=debug runs the debug binary the tests built: a quick check, e.g.
#   `BUILD=debug benches/cluster.sh 20 10`.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/precision.sh
tickers="${1:-5800}"
days="${2:-252}"
runs="${3:-1}"
. benches/common.sh
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

. benches/year_lake.sh
mk_lake "$work/local" "$days"
mk_lake "$work/cluster" "$days"
rows=$("$bin" --log-level warn sql --lake "$work/local" --format csv "SELECT count(*) AS n FROM strikes" | tail -n 1)

both() { # both LAKE [FLAGS…]: a3 and v2 over the year, in one run (here one scan of the
  # strikes feeds both; on the cluster each profile is its own query)
  local lake=$1; shift
  "$bin" --log-level warn metrics --lake "$lake" --from "$first" --to "$last" --profile a3,v2 "$@"
}
port=$(( 50000 + RANDOM % 10000 ))
"$bin" --log-level warn scheduler --bind "127.0.0.1:$port" 2> "$work/scheduler.log" & pids+=($!)
for i in 1 2; do
  "$bin" --log-level warn executor --scheduler "127.0.0.1:$port" --bind "127.0.0.1:$((port + 2 * i))" \
    --slots 1 --work-dir "$work/executor$i" 2> "$work/executor$i.log" & pids+=($!)
done
for p in "$port" $((port + 2)) $((port + 4)); do
  until (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; do sleep 0.2; done
done
# Each local run alternates with one on the cluster (common.sh, `interleaved`); the idle
# scheduler and executors wait on their sockets meanwhile.
here_once() { both "$work/local" --jobs "$(nproc)"; }
there_once() { both "$work/cluster" --cluster "df://127.0.0.1:$port" --cluster-partitions 2; }
pair=$(interleaved here_once there_once)
read -r here there <<< "$pair"

same=yes
for f in $(cd "$work/local" && ls dealer_metrics/*/*/part.parquet); do
  cmp -s "$work/local/$f" "$work/cluster/$f" || { same=no; echo "differs: $f"; }
done
results=$(cd "$work/local" && ls dealer_metrics/*/*/part.parquet | wc -l)

printf '\ncluster benchmark — %d days of %d tickers (%d strike rows, %s precision), both profiles, best of %d runs, %d cores\n' \
  "$days" "$tickers" "$rows" "$PRECISION" "$runs" "$(nproc)"
printf '%-52s %8.2f s\n' "gexlake metrics a3+v2, this process (--jobs $(nproc))" "$here"
printf '%-52s %8.2f s\n' "the same on scheduler + 2 executors × 1 slot" "$there"
printf 'cluster / local: %.2f× (the overhead of planning, shuffles and Flight on one machine)\n' "$(echo "$there / $here" | bc -l)"
printf 'same bytes in both lakes: %s (%d result files)\n' "$same" "$results"
per_slot=$(echo "$rows * 2 / $there / 2" | bc -l)
printf 'throughput per executor slot (a3 and v2 each read every row): %.0f strike rows/s\n' "$per_slot"
slot_hours=$(echo "2200000000 * 2 / $per_slot / 3600" | bc -l)
printf 'scaling model, 20 years (2.2e9 strike rows) × 2 profiles: %.2f slot-hours → %.1f min on 16 executors × 4 slots (before per-job overhead)\n' \
  "$slot_hours" "$(echo "$slot_hours * 60 / 64" | bc -l)"
result "a3 + v2 over $days full-size days on \`gexlake scheduler\` + 2 executors × 1 slot / this process (same bytes: $same)" \
  "$(printf '%.1f s' "$there")" "$(printf '%.1f s' "$here")" "$(printf '%.2f×' "$(echo "$there / $here" | bc -l)")" "reported"
