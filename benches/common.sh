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

# wall CMD…: the wall time in seconds of one run of CMD (its stdout discarded).
wall() {
  local t0 t1
  t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
# lesser A B: the smaller of two times; A may be empty (no time yet).
lesser() {
  if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi
}

# best CMD…: the best wall time in seconds of $runs runs.
best() {
  local best="" s
  for _ in $(seq "$runs"); do
    s=$(wall "$@")
    best=$(lesser "$best" "$s")
  done
  echo "$best"
}

# interleaved A B: the best wall times of the commands A and B (each one word: a function
# taking no arguments), run alternately, $runs times each, as "BEST_A BEST_B". A ratio of
# the two is then measured over the same minutes: this VM's speed drifts by up to a third
# within an hour, and two blocks of runs minutes apart can tilt a ratio by more than the
# margin it is read against.
interleaved() {
  local a="" b="" s
  for _ in $(seq "$runs"); do
    s=$(wall "$1")
    a=$(lesser "$a" "$s")
    s=$(wall "$2")
    b=$(lesser "$b" "$s")
  done
  echo "$a $b"
}
