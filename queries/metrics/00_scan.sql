-- scan: the strike rows of a run's dates, watchlist and shard, typed for the
-- metrics. Read once when several parameter sets are computed together
-- (backfill computes a3 and v2): the engine keeps this result in memory as each
-- shard's table `strikes`, and every set's stages (01_rows.sql onwards) read it
-- instead of the lake, so the files are read and decoded once for all of them.
-- The columns and casts are those of 01_rows.sql's innermost step, whose casts
-- are then no-ops; a column missing here fails those stages loudly. Doubles,
-- not the lake's decimals: half the memory, and the casts done once.
SELECT ticker, trade_date, expir_date, source_line, c_oi, p_oi, c_volu, p_volu,
       CAST(strike AS DOUBLE) AS strike, CAST(stk_px AS DOUBLE) AS stk_px,
       CAST(spot_px AS DOUBLE) AS spot_px, CAST(delta AS DOUBLE) AS delta,
       CAST(gamma AS DOUBLE) AS gamma
FROM strikes
WHERE trade_date BETWEEN $from_date AND $to_date
  AND ($all_tickers OR ticker IN (SELECT ticker FROM watchlist))
  AND ($shard_start IS NULL OR ticker >= $shard_start)
  AND ($shard_end IS NULL OR ticker < $shard_end)
