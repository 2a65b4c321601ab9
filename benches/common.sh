# Shared by the benchmark scripts (sourced): the release binary, the Python of
# the test venv, a scratch directory, and a best-of-N wall-clock timer.
# BUILD=debug takes the debug binary the tests built instead, timing each command
# once: a quick check of a script, not a measurement.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gexlake/target}"
if [ "${BUILD:-release}" = debug ]; then
  bin="$CARGO_TARGET_DIR/debug/gexlake"
  runs=1
else
  # --workspace: the same feature set as every other build (a lone --bin rebuilds DataFusion).
  cargo build --release --workspace -q
  bin="$CARGO_TARGET_DIR/release/gexlake"
fi
py="${GEXLAKE_TEST_PYTHON:-$HOME/.cache/gexlake/venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# best CMD…: the best wall time in seconds of $runs runs.
best() {
  local best="" t0 t1 s
  for _ in $(seq "$runs"); do
    t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N)
    s=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$s < $best" | bc -l)" = 1 ]; then best=$s; fi
  done
  echo "$best"
}
