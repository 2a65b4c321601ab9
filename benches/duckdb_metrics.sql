-- The a3 metrics of a range of trade dates, written for DuckDB: the baseline of
-- benches/metrics.sh. Same rules as queries/metrics/*.sql (METRICS.md), in
-- DuckDB's dialect (window functions for the flip and walls instead of UDAFs).
-- Placeholders replaced by the script: __LAKE__, __FROM__ and __TO__ (an inclusive
-- range of trade dates). In doubles, as queries/metrics/01_rows.sql casts the
-- lake's decimals.
WITH rows AS (
  SELECT ticker, trade_date, expir_date, strike::DOUBLE AS strike, stk_px::DOUBLE AS stk_px,
         spot_px::DOUBLE AS spot_px, c_oi, p_oi, c_volu, p_volu, delta::DOUBLE AS delta, gamma::DOUBLE AS gamma
  FROM read_parquet('__LAKE__/orats_strikes/**/*.parquet', hive_partitioning = true)
  WHERE trade_date BETWEEN DATE '__FROM__' AND DATE '__TO__'
),
spot AS (
  SELECT ticker, trade_date, count(*) AS row_count,
         COALESCE(arg_min(stk_px, (expir_date, strike, stk_px)) FILTER (WHERE stk_px > 0),
                  arg_min(spot_px, (expir_date, strike, spot_px)) FILTER (WHERE spot_px > 0)) AS spot
  FROM rows GROUP BY ticker, trade_date
),
legs AS (
  SELECT l.*, s.spot,
         CASE
           WHEN dte < 0 THEN 'expired'
           WHEN dte > 90 THEN 'dte_exceeded'
           WHEN gamma IS NULL OR isnan(gamma) OR isinf(gamma) THEN 'missing_gamma'
           WHEN oi < 100 THEN 'low_open_interest'
           WHEN volume < 1 THEN 'low_volume'
         END AS rejected_by
  FROM (
    SELECT ticker, trade_date, strike, true AS is_call, 1.0 AS sign, c_oi AS oi, c_volu AS volume, delta AS delta_leg, gamma,
           expir_date - trade_date AS dte FROM rows
    UNION ALL
    SELECT ticker, trade_date, strike, false, -1.0, p_oi, p_volu, delta - 1.0, gamma, expir_date - trade_date FROM rows
  ) l JOIN spot s USING (ticker, trade_date)
),
strike_gex AS (
  SELECT ticker, trade_date, strike, any_value(spot) AS spot,
         sum(sign * gamma * oi * 100 * (spot * spot) * 0.01) FILTER (WHERE rejected_by IS NULL) AS net_gex,
         sum(CASE WHEN is_call THEN sign * gamma * oi * 100 * (spot * spot) * 0.01 END) FILTER (WHERE rejected_by IS NULL) AS call_gex,
         sum(CASE WHEN NOT is_call THEN sign * gamma * oi * 100 * (spot * spot) * 0.01 END) FILTER (WHERE rejected_by IS NULL) AS put_gex,
         sum(delta_leg * oi * 100) FILTER (WHERE rejected_by IS NULL) AS net_dex,
         count(*) FILTER (WHERE rejected_by IS NULL) AS eligible_legs,
         sum(oi) FILTER (WHERE rejected_by IS NULL) AS eligible_oi,
         sum(CASE WHEN is_call THEN oi ELSE 0 END) FILTER (WHERE rejected_by IS NULL) AS call_oi,
         sum(CASE WHEN is_call THEN volume ELSE 0 END) FILTER (WHERE rejected_by IS NULL) AS call_volume,
         sum(CASE WHEN NOT is_call THEN oi ELSE 0 END) FILTER (WHERE rejected_by IS NULL) AS put_oi,
         sum(CASE WHEN NOT is_call THEN volume ELSE 0 END) FILTER (WHERE rejected_by IS NULL) AS put_volume,
         count(*) AS legs,
         count(*) FILTER (WHERE rejected_by = 'expired') AS expired,
         count(*) FILTER (WHERE rejected_by = 'dte_exceeded') AS dte_exceeded,
         count(*) FILTER (WHERE rejected_by = 'missing_gamma') AS missing_gamma,
         count(*) FILTER (WHERE rejected_by = 'low_open_interest') AS low_open_interest,
         count(*) FILTER (WHERE rejected_by = 'low_volume') AS low_volume
  FROM legs GROUP BY ticker, trade_date, strike
),
cumulative AS (
  SELECT *, lag(strike) OVER w AS k_prev, lag(c) OVER w AS c_prev
  FROM (
    SELECT ticker, trade_date, strike, net_gex,
           sum(net_gex) OVER (PARTITION BY ticker, trade_date ORDER BY strike ROWS UNBOUNDED PRECEDING) AS c
    FROM strike_gex WHERE net_gex IS NOT NULL
  )
  WINDOW w AS (PARTITION BY ticker, trade_date ORDER BY strike)
),
flip AS (
  SELECT ticker, trade_date,
         arg_min(k_prev + (strike - k_prev) * abs(c_prev) / abs(c - c_prev), strike)
           FILTER (WHERE (c_prev < 0 AND c >= 0) OR (c_prev > 0 AND c <= 0)) AS gamma_flip
  FROM cumulative GROUP BY ticker, trade_date
),
walls AS (
  SELECT ticker, trade_date,
         list({'strike': strike, 'open_interest': call_oi, 'volume': call_volume} ORDER BY call_oi DESC, strike)
           FILTER (WHERE call_rank <= 3 AND call_oi > 0) AS call_walls,
         list({'strike': strike, 'open_interest': put_oi, 'volume': put_volume} ORDER BY put_oi DESC, strike)
           FILTER (WHERE put_rank <= 3 AND put_oi > 0) AS put_walls
  FROM (
    SELECT *, row_number() OVER (PARTITION BY ticker, trade_date ORDER BY call_oi DESC, strike) AS call_rank,
              row_number() OVER (PARTITION BY ticker, trade_date ORDER BY put_oi DESC, strike) AS put_rank
    FROM strike_gex WHERE eligible_legs > 0
  ) GROUP BY ticker, trade_date
),
ticker_gex AS (
  SELECT ticker, trade_date,
         sum(net_gex) AS gex_net, sum(abs(net_gex)) AS gex_total,
         sum(call_gex) AS gex_call, sum(put_gex) AS gex_put, sum(net_dex) AS net_dex,
         sum(net_gex) FILTER (WHERE strike >= spot * 0.98 AND strike < spot) AS lower_gex,
         sum(net_gex) FILTER (WHERE strike >= spot AND strike <= spot * 1.02) AS upper_gex,
         count(*) FILTER (WHERE net_gex IS NOT NULL AND strike BETWEEN spot * 0.98 AND spot * 1.02) AS window_strikes,
         any_value(spot) AS spot,
         sum(eligible_legs) AS eligible, sum(eligible_oi) AS eligible_oi,
         sum(legs) AS legs, sum(expired) AS expired, sum(dte_exceeded) AS dte_exceeded,
         sum(missing_gamma) AS missing_gamma, sum(low_open_interest) AS low_open_interest, sum(low_volume) AS low_volume
  FROM strike_gex GROUP BY ticker, trade_date
),
result AS (
  SELECT t.*, f.gamma_flip, w.call_walls, w.put_walls,
         CASE WHEN window_strikes > 0 THEN (COALESCE(upper_gex, 0) - COALESCE(lower_gex, 0)) / (2 * 0.02 * t.spot) END AS gex_slope
  FROM ticker_gex t
  LEFT JOIN flip f USING (ticker, trade_date)
  LEFT JOIN walls w USING (ticker, trade_date)
)
SELECT ticker, trade_date, spot, eligible, gex_net, gex_total, gex_call, gex_put, net_dex, gamma_flip, call_walls, put_walls, gex_slope,
       CASE WHEN gex_net IS NOT NULL THEN greatest(-100, least(100,
         (CASE WHEN gex_net = 0 THEN 0 ELSE sign(gex_net) * log10(abs(gex_net) + 1) * 10 END)
         * (CASE WHEN gex_slope IS NOT NULL AND gex_slope <> 0 THEN 1 + greatest(-0.3, least(0.3, gex_slope * 0.01)) ELSE 1 END))) END AS dgpi,
       CASE WHEN gex_net IS NULL THEN 'unknown' WHEN abs(gex_net) < 1e6 THEN 'neutral' WHEN gex_net > 0 THEN 'long_gamma' ELSE 'short_gamma' END AS position
FROM result
ORDER BY trade_date, ticker
