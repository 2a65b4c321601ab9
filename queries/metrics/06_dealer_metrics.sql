-- dealer_metrics: one row per (ticker, trade_date) of the run (METRICS.md §6–7).
-- The universe is every (ticker, date) with rows, or the watchlist × the run's
-- dates, so a watched ticker without rows still gets an INVALID row; a shard of
-- the run (01_rows.sql) keeps its own tickers.
WITH universe AS (
  SELECT ticker, trade_date FROM (
    SELECT ticker, trade_date FROM spot WHERE $all_tickers
    UNION ALL
    SELECT w.ticker, d.trade_date FROM watchlist w CROSS JOIN run_dates d WHERE NOT $all_tickers
  ) u
  WHERE ($shard_start IS NULL OR ticker >= $shard_start)
    AND ($shard_end IS NULL OR ticker < $shard_end)
),
base AS (
  SELECT u.ticker, u.trade_date, d.snapshot_ts,
         COALESCE(s.row_count, 0) AS row_count,
         s.spot, s.spot_source,
         COALESCE(t.eligible_legs, 0) AS eligible,
         COALESCE(t.counted_rows, 0) AS counted_rows,
         COALESCE(t.eligible_oi, 0) AS eligible_oi,
         2 * COALESCE(s.row_count, 0) AS total_legs,
         t.eligible_strikes, t.min_strike, t.max_strike,
         -- No eligible leg (or no spot): every exposure, level and index is NULL, not 0.
         CASE WHEN t.eligible_legs > 0 AND s.spot IS NOT NULL THEN t.gex_net END AS gex_net,
         CASE WHEN t.eligible_legs > 0 AND s.spot IS NOT NULL THEN t.gex_total END AS gex_total,
         CASE WHEN t.eligible_legs > 0 AND s.spot IS NOT NULL THEN COALESCE(t.gex_call, 0.0) END AS gex_call,
         CASE WHEN t.eligible_legs > 0 AND s.spot IS NOT NULL THEN COALESCE(t.gex_put, 0.0) END AS gex_put,
         CASE WHEN t.eligible_legs > 0 AND s.spot IS NOT NULL THEN COALESCE(t.net_dex, 0.0) END AS net_dex,
         CASE WHEN s.spot IS NOT NULL THEN t.gamma_flip END AS gamma_flip,
         CASE WHEN s.spot IS NOT NULL THEN t.gex_slope END AS gex_slope,
         -- No spot: no walls either (A3 §2.4), as for every other level.
         CASE WHEN s.spot IS NOT NULL THEN t.call_walls END AS call_walls,
         CASE WHEN s.spot IS NOT NULL THEN t.put_walls END AS put_walls,
         COALESCE(t.expired, 0) AS expired,
         COALESCE(t.dte_exceeded, 0) AS dte_exceeded,
         COALESCE(t.missing_gamma, 0) AS missing_gamma,
         COALESCE(t.uncounted_row, 0) AS uncounted_row,
         COALESCE(t.low_open_interest, 0) AS low_open_interest,
         COALESCE(t.low_volume, 0) AS low_volume
  FROM universe u
  JOIN run_dates d ON d.trade_date = u.trade_date
  LEFT JOIN spot s ON s.ticker = u.ticker AND s.trade_date = u.trade_date
  LEFT JOIN ticker_gex t ON t.ticker = u.ticker AND t.trade_date = u.trade_date
),
indexed AS (
  SELECT *,
         -- DGPI: log-scaled net GEX, tilted by the slope (±30 % at most), in [-100, 100].
         CASE WHEN gex_net IS NOT NULL THEN
           greatest(-100.0, least(100.0,
             (CASE WHEN gex_net = 0 THEN 0.0 ELSE signum(gex_net) * log10(abs(gex_net) + 1.0) * 10.0 END)
             * (CASE WHEN gex_slope IS NOT NULL AND gex_slope <> 0
                     THEN 1.0 + greatest(-0.3, least(0.3, gex_slope * 0.01)) ELSE 1.0 END)))
         END AS dgpi,
         CASE
           WHEN gex_net IS NULL THEN 'unknown'
           WHEN abs(gex_net) < $neutral_threshold THEN 'neutral'
           WHEN gex_net > 0 THEN 'long_gamma'
           ELSE 'short_gamma'
         END AS position,
         CASE
           WHEN spot IS NULL OR eligible < 5 THEN 'invalid'
           WHEN eligible >= 10 AND eligible_oi >= 1000 THEN 'high'
           ELSE 'medium'
         END AS confidence
  FROM base
),
classified AS (
  SELECT *,
         CASE
           WHEN eligible >= 25 AND gex_total > 0 AND position <> 'unknown' AND confidence IN ('high', 'medium') THEN 'FULL'
           WHEN eligible >= 1 AND gex_total > 0 THEN 'LIMITED'
           ELSE 'INVALID'
         END AS status,
         CASE
           WHEN row_count = 0 THEN 'no_options_available: no rows for the ticker and date'
           WHEN spot IS NULL THEN 'missing_spot_price: no override, stkPx > 0 or spot_px > 0'
           WHEN eligible = 0 THEN 'all_contracts_filtered: no eligible leg'
           WHEN NOT gex_total > 0 THEN 'zero_gex_total: gex_total is 0'
           WHEN eligible < 25 THEN 'limited: ' || eligible || ' eligible legs < 25'
           WHEN confidence = 'invalid' THEN 'limited: confidence invalid'
           ELSE 'full: eligible >= 25, gex_total > 0, position known, confidence ' || confidence
         END AS status_reason,
         -- concat_ws skips NULLs, so the list holds only the codes that apply, in §6 order.
         concat_ws(',',
           CASE WHEN spot IS NULL AND row_count > 0 THEN 'missing_spot_price' END,
           CASE WHEN row_count = 0 THEN 'no_options_available' END,
           CASE WHEN row_count > 0 AND eligible = 0 THEN 'all_contracts_filtered' END,
           CASE WHEN gamma_flip IS NULL AND eligible_strikes >= 2 AND spot IS NOT NULL THEN 'no_flip' END,
           CASE WHEN spot IS NOT NULL AND (spot < min_strike OR spot > max_strike) THEN 'spot_outside_strikes' END,
           CASE WHEN eligible < 5 THEN 'low_contract_count' END,
           CASE WHEN position = 'neutral' THEN 'near_zero_net_gex' END
         ) AS diagnostic_codes
  FROM indexed
)
SELECT ticker, trade_date, snapshot_ts,
       status, status_reason,
       CASE WHEN status <> 'FULL' THEN status_reason END AS failure_reason,
       spot AS spot_price, spot_source AS spot_price_source,
       eligible AS eligible_options_count, total_legs AS total_options_count,
       CASE WHEN $contracts_rule = 'rows' THEN counted_rows ELSE eligible END AS contracts_analyzed,
       gex_total, gex_net, gex_call, gex_put, net_dex, gamma_flip,
       COALESCE(call_walls, []) AS call_walls,
       COALESCE(put_walls, []) AS put_walls,
       gex_slope, dgpi, CAST(NULL AS DOUBLE) AS iv_rank, position, confidence,
       named_struct('total', total_legs, 'expired', expired, 'dte_exceeded', dte_exceeded,
                    'missing_gamma', missing_gamma, 'uncounted_row', uncounted_row,
                    'low_open_interest', low_open_interest,
                    'low_volume', low_volume) AS filter_stats,
       string_to_array(diagnostic_codes, ',') AS diagnostics
FROM classified
ORDER BY trade_date, ticker
