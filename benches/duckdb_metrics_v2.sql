-- The v2 metrics (METRICS.md §10, the production GEX job) of a range of trade
-- dates, written for DuckDB: the v2 baseline next to benches/duckdb_metrics.sql
-- (a3). Same rules as queries/metrics/*.sql run with `--profile v2`, with its
-- parameters inlined: expired legs kept, no DTE cap, min OI 1, min volume 0,
-- walls top 3, slope window ±2 %, multiplier 100, neutral below 1e6;
-- flip_rule nearest_spot over strikes in [0.2, 3.0]·S, missing_gamma zero,
-- spot_rule first_counted_row, leg_spot row, contracts_rule rows,
-- wall_rule first_listed. Window functions, arg_min and ordered lists stand in
-- for the UDAFs; fsum (compensated) for exact_sum.
-- Placeholders replaced by the script: __LAKE__, __FROM__, __TO__ (inclusive).
-- In doubles, as queries/metrics/01_rows.sql casts the lake's decimals.
-- "File order" is source_line, the row's line in its ORATS file (sorted by
-- ticker, expiry, strike; it also orders rows of one expiry and strike with
-- different OPRA roots). Every ticker with rows gets a result row, as in
-- dealer_metrics; one with no counted row has contracts_analyzed 0 and null
-- metrics (gex_metrics_snapshot skips it).
WITH rows AS (
  -- Each row judged once: its own spot, gamma (null → 0), whether it can count
  -- at all (own spot > 0 and strike > 0), and whether each leg is eligible.
  SELECT *,
         row_ok AND NOT coalesce(c_oi < 1 OR c_volu < 0, false) AS c_ok,
         row_ok AND NOT coalesce(p_oi < 1 OR p_volu < 0, false) AS p_ok
  FROM (
    SELECT *, row_spot IS NOT NULL AND strike > 0 AS row_ok
    FROM (
      SELECT ticker, trade_date, expir_date, source_line, strike::DOUBLE AS strike,
             stk_px::DOUBLE AS stk_px, spot_px::DOUBLE AS spot_px, c_oi, p_oi, c_volu, p_volu,
             delta::DOUBLE AS delta,
             CASE WHEN gamma::DOUBLE IS NULL OR isnan(gamma::DOUBLE) OR isinf(gamma::DOUBLE) THEN 0.0
                  ELSE gamma::DOUBLE END AS gamma,
             CASE WHEN stk_px > 0 THEN stk_px::DOUBLE WHEN spot_px > 0 THEN spot_px::DOUBLE END AS row_spot
      FROM read_parquet('__LAKE__/orats_strikes/**/*.parquet', hive_partitioning = true)
      WHERE trade_date BETWEEN DATE '__FROM__' AND DATE '__TO__'
    )
  )
),
spot AS (
  -- S: the own spot of the first counted row (a row with an eligible leg) in file order.
  SELECT ticker, trade_date, count(*) AS row_count,
         arg_min(row_spot, (source_line, expir_date, strike)) FILTER (WHERE c_ok OR p_ok) AS spot,
         arg_min(CASE WHEN stk_px > 0 THEN 'stkPx' ELSE 'spot_px' END, (source_line, expir_date, strike))
           FILTER (WHERE c_ok OR p_ok) AS spot_source
  FROM rows GROUP BY ticker, trade_date
),
legs AS (
  -- Two legs a row; GEX at the row's own spot, put DEX −|delta − 1|. A counted
  -- row's legs all feed the walls (OI and volume), eligible or not.
  SELECT ticker, trade_date, strike, source_line, true AS is_call, c_ok AS eligible, c_ok OR p_ok AS counted,
         c_oi AS oi, c_volu AS volume,
         1.0 * gamma * c_oi * 100 * (row_spot * row_spot) * 0.01 AS g,
         delta * c_oi * 100 AS d
  FROM rows
  UNION ALL
  SELECT ticker, trade_date, strike, source_line, false, p_ok, c_ok OR p_ok,
         p_oi, p_volu,
         -1.0 * gamma * p_oi * 100 * (row_spot * row_spot) * 0.01,
         -abs(delta - 1.0) * p_oi * 100
  FROM rows
),
strike_gex AS (
  SELECT ticker, trade_date, strike,
         fsum(g) FILTER (WHERE eligible) AS net_gex,
         fsum(g) FILTER (WHERE eligible AND is_call) AS call_gex,
         fsum(g) FILTER (WHERE eligible AND NOT is_call) AS put_gex,
         fsum(d) FILTER (WHERE eligible) AS net_dex,
         count(*) FILTER (WHERE eligible) AS eligible_legs,
         count(*) FILTER (WHERE counted AND is_call) AS counted_rows,
         -- first_listed walls: OI and volume over the counted rows, zeros included;
         -- the strike's first counted line breaks ties.
         coalesce(sum(oi) FILTER (WHERE counted AND is_call), 0)::BIGINT AS call_oi,
         coalesce(sum(volume) FILTER (WHERE counted AND is_call), 0)::BIGINT AS call_volume,
         coalesce(sum(oi) FILTER (WHERE counted AND NOT is_call), 0)::BIGINT AS put_oi,
         coalesce(sum(volume) FILTER (WHERE counted AND NOT is_call), 0)::BIGINT AS put_volume,
         min(source_line) FILTER (WHERE counted) AS first_line
  FROM legs GROUP BY ticker, trade_date, strike
),
strikes AS (
  SELECT g.*, s.spot FROM strike_gex g JOIN spot s USING (ticker, trade_date) WHERE s.spot IS NOT NULL
),
cumulative AS (
  -- nearest_spot: the profile cumulated over the strikes in [0.2·S, 3.0·S] alone.
  SELECT *, lag(strike) OVER w AS k_prev, lag(c) OVER w AS c_prev
  FROM (
    SELECT ticker, trade_date, spot, strike,
           sum(net_gex) OVER (PARTITION BY ticker, trade_date ORDER BY strike ROWS UNBOUNDED PRECEDING) AS c
    FROM strikes WHERE net_gex IS NOT NULL AND strike >= 0.2 * spot AND strike <= 3.0 * spot
  )
  WINDOW w AS (PARTITION BY ticker, trade_date ORDER BY strike)
),
flip AS (
  -- Every strict sign change (a cumulative 0 is none); the nearest to S wins, the lower on a tie.
  SELECT ticker, trade_date,
         arg_min(level, (abs(level - spot), level)) AS gamma_flip
  FROM (
    SELECT ticker, trade_date, spot,
           k_prev + (strike - k_prev) * abs(c_prev) / (abs(c_prev) + abs(c)) AS level
    FROM cumulative
    WHERE c_prev <> 0 AND c <> 0 AND (c_prev < 0) <> (c < 0)
  ) GROUP BY ticker, trade_date
),
ticker_gex AS (
  SELECT ticker, trade_date, any_value(spot) AS spot,
         fsum(net_gex) AS gex_net, fsum(abs(net_gex)) AS gex_total,
         fsum(call_gex) AS gex_call, fsum(put_gex) AS gex_put, fsum(net_dex) AS net_dex,
         fsum(net_gex) FILTER (WHERE strike >= spot * 0.98 AND strike < spot) AS lower_gex,
         fsum(net_gex) FILTER (WHERE strike >= spot AND strike <= spot * 1.02) AS upper_gex,
         count(net_gex) FILTER (WHERE strike >= spot * 0.98 AND strike <= spot * 1.02) AS window_strikes,
         -- Walls: every strike with a counted row is a candidate, 0 OI included;
         -- OI descending, then the strike listed first, then the lower strike.
         (list({'strike': strike, 'open_interest': call_oi, 'volume': call_volume}
               ORDER BY call_oi DESC, first_line, strike) FILTER (WHERE counted_rows > 0))[1:3] AS call_walls,
         (list({'strike': strike, 'open_interest': put_oi, 'volume': put_volume}
               ORDER BY put_oi DESC, first_line, strike) FILTER (WHERE counted_rows > 0))[1:3] AS put_walls,
         sum(eligible_legs) AS eligible, sum(counted_rows) AS contracts_analyzed
  FROM strikes GROUP BY ticker, trade_date
),
result AS (
  -- Every (ticker, date) with rows; without a counted row there is no spot and every metric is null.
  SELECT s.ticker, s.trade_date, s.spot, s.spot_source,
         coalesce(t.eligible, 0) AS eligible, coalesce(t.contracts_analyzed, 0) AS contracts_analyzed,
         CASE WHEN t.eligible > 0 THEN t.gex_net END AS gex_net,
         CASE WHEN t.eligible > 0 THEN t.gex_total END AS gex_total,
         CASE WHEN t.eligible > 0 THEN coalesce(t.gex_call, 0.0) END AS gex_call,
         CASE WHEN t.eligible > 0 THEN coalesce(t.gex_put, 0.0) END AS gex_put,
         CASE WHEN t.eligible > 0 THEN coalesce(t.net_dex, 0.0) END AS net_dex,
         f.gamma_flip,
         coalesce(t.call_walls, []) AS call_walls, coalesce(t.put_walls, []) AS put_walls,
         CASE WHEN t.window_strikes > 0
              THEN (coalesce(t.upper_gex, 0) - coalesce(t.lower_gex, 0)) / (2 * 0.02 * t.spot) END AS gex_slope
  FROM spot s
  LEFT JOIN ticker_gex t USING (ticker, trade_date)
  LEFT JOIN flip f USING (ticker, trade_date)
)
SELECT ticker, trade_date, spot, spot_source, eligible, contracts_analyzed,
       gex_net, gex_total, gex_call, gex_put, net_dex, gamma_flip, call_walls, put_walls, gex_slope,
       CASE WHEN gex_net IS NOT NULL THEN greatest(-100, least(100,
         (CASE WHEN gex_net = 0 THEN 0 ELSE sign(gex_net) * log10(abs(gex_net) + 1) * 10 END)
         * (CASE WHEN gex_slope IS NOT NULL AND gex_slope <> 0 THEN 1 + greatest(-0.3, least(0.3, gex_slope * 0.01)) ELSE 1 END))) END AS dgpi,
       CASE WHEN gex_net IS NULL THEN 'unknown' WHEN abs(gex_net) < 1e6 THEN 'neutral' WHEN gex_net > 0 THEN 'long_gamma' ELSE 'short_gamma' END AS position
FROM result
ORDER BY trade_date, ticker
