# Sourced first by every benchmark script (after its `cd` to the repository): runs the script
# once per sample precision, realistic first (the digits of real ORATS files), then compact (the
# fewer, more repetitive digits of earlier samples, which flatter sizes and speeds), so every
# figure can be read at both. PRECISION=realistic or PRECISION=compact runs that one only.
if [ -z "${PRECISION:-}" ]; then
  for precision in realistic compact; do
    printf '\n=== sample precision: %s\n' "$precision"
    PRECISION=$precision bash "benches/$(basename "$0")" "$@"
  done
  exit 0
fi
case "$PRECISION" in
  realistic | compact) ;;
  *) echo "PRECISION must be realistic or compact, not $PRECISION" >&2; exit 2 ;;
esac

# result BENCHMARK GEXLAKE BASELINE RATIO TARGET: one row of the benchmark page. Appended with
# the script's name and the precision to $GEXLAKE_BENCH_RESULTS when set (benches/all.sh sets it
# and renders the rows as benches/README.md's table); a script run alone prints its own report.
result() {
  if [ -n "${GEXLAKE_BENCH_RESULTS:-}" ]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(basename "$0")" "$PRECISION" "$1" "$2" "$3" "$4" "$5" \
      >> "$GEXLAKE_BENCH_RESULTS"
  fi
}
