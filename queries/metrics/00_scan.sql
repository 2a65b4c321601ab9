-- scan: the strike rows of a run's dates, watchlist and shard, typed for the
-- metrics: the first stage of every pipeline, which 01_rows.sql reads.
-- When several parameter sets are computed together (backfill computes a3 and
-- v2), the engine runs this stage alone once per shard and keeps its result in
-- memory as that shard's table `strikes`; every set's pipeline then reads that
-- table, this stage included (its filters and casts are then no-ops), so the
-- files are read and decoded once for all the sets.
-- $from_date/$to_date are bound as literals, so the listing is pruned to the
-- matching trade_date partitions before any file is opened. A run may be split
-- into shards of contiguous tickers computed side by side: one holds the
-- tickers from $shard_start (inclusive) to $shard_end (exclusive), NULL meaning
-- unbounded, pruning the row groups of the ticker-sorted files outside it.
-- The lake stores prices and greeks as exact decimals; the metrics compute in
-- doubles (half the memory of the decimals when held), and each cast gives the
-- double of the CSV cell's text (README, "The lake"). source_line is the row's
-- line in its source file: "file order" for the §10 rules.
SELECT ticker, trade_date, expir_date, source_line, c_oi, p_oi, c_volu, p_volu,
       CAST(strike AS DOUBLE) AS strike, CAST(stk_px AS DOUBLE) AS stk_px,
       CAST(spot_px AS DOUBLE) AS spot_px, CAST(delta AS DOUBLE) AS delta,
       CAST(gamma AS DOUBLE) AS gamma
FROM strikes
WHERE trade_date BETWEEN $from_date AND $to_date
  AND ($all_tickers OR ticker IN (SELECT ticker FROM watchlist))
  AND ($shard_start IS NULL OR ticker >= $shard_start)
  AND ($shard_end IS NULL OR ticker < $shard_end)
