-- rows: the ORATS rows of the run's dates and watchlist (METRICS.md §1).
-- $from_date/$to_date are bound as literals, so the listing is pruned to the
-- matching trade_date partitions before any file is opened. A run may be split
-- into shards of contiguous tickers computed side by side: $shard_first and
-- $shard_last bound one (NULL: every ticker), pruning the row groups of the
-- ticker-sorted files outside it.
SELECT ticker, trade_date, expir_date, strike, stk_px, spot_px,
       c_oi, p_oi, c_volu, p_volu, delta, gamma
FROM strikes
WHERE trade_date BETWEEN $from_date AND $to_date
  AND ($all_tickers OR ticker IN (SELECT ticker FROM watchlist))
  AND ($shard_first IS NULL OR ticker BETWEEN $shard_first AND $shard_last)
