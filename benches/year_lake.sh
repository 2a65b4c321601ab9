# Sourced after common.sh by the benchmarks over years of full-size days (orats_daily.sh,
# cluster.sh): twenty sampled days of $tickers tickers at $PRECISION (one universe; prices,
# volumes and IVs move day by day) converted into $work/src, and mk_lake, which links them in
# turn under weekdays (no extra disk).
"$bin" --log-level warn sample --date 2026-01-05 --days 20 --tickers "$tickers" --precision "$PRECISION" --out "$work/in"
"$bin" --log-level warn ingest "$work/in" --lake "$work/src"
mapfile -t sources < <(ls "$work"/src/orats_strikes/*/*.parquet)
last=2026-02-05
mk_lake() { # mk_lake DIR COUNT: the COUNT weekdays up to $last; sets $first, the earliest
  local dir=$1 count=$2 d=$last i=0
  mkdir -p "$dir/orats_strikes"
  while [ "$i" -lt "$count" ]; do
    if [ "$(date -d "$d" +%u)" -le 5 ]; then
      mkdir -p "$dir/orats_strikes/trade_date=$d"
      ln "${sources[$(( i % ${#sources[@]} ))]}" "$dir/orats_strikes/trade_date=$d/day.parquet"
      first=$d
      i=$((i + 1))
    fi
    d=$(date -d "$d - 1 day" +%F)
  done
}
