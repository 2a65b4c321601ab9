-- history: the windows over each symbol's rows in date order (ORATS_DAILY.md §3).
-- Input `daily_input`: the aggregates (01_aggregate.sql) of the dates being
-- computed (`is_target`) and, before them, each symbol's stored rows that the
-- windows reach back to, with their stored iv_rank and hv_30day. Derived
-- columns read the rounded values of the columns they use, as V1 read its
-- table: a stored row keeps its stored iv_rank/hv_30day, a computed one its
-- freshly rounded value. pg_round(x, n) is PostgreSQL's x::NUMERIC(p, n).
-- greatest/least skip NULLs (as in PostgreSQL): a clamp of a value that may
-- be NULL is guarded, so that it stays NULL instead of becoming the bound.
-- Three levels, each reading only what the one before rounded:
--   own      iv_rank, hv_30day, the LAG columns;
--   averages the row-window averages and z-scores over own's rounded values;
--   trends   the columns that read the rounded 60-row averages.
WITH own AS (
  SELECT d.*,
    CASE WHEN NOT is_target THEN stored_iv_rank
         -- [d − 59 days, d]: RANGE over calendar days, not rows (§5 quirk 6).
         WHEN iv_30day IS NOT NULL AND count(iv_30day) OVER days_60 >= 36
              AND max(iv_30day) OVER days_60 > min(iv_30day) OVER days_60 THEN
           pg_round(greatest(least((iv_30day - min(iv_30day) OVER days_60)
                                   / (max(iv_30day) OVER days_60 - min(iv_30day) OVER days_60) * 100,
                                   100.0), 0.0), 2)
    END AS iv_rank,
    -- [d − 45 days, d]: the returns between consecutive positive prices of the
    -- frame (log_return_stddev skips the others; the return into the frame's
    -- first price from an earlier one outside it does not count). n prices
    -- make n − 1 returns.
    CASE WHEN NOT is_target THEN stored_hv_30day
         WHEN stock_price > 0 AND count(CASE WHEN stock_price > 0 THEN 1 END) OVER days_45 - 1 >= 20 THEN
           pg_round(log_return_stddev(asof_date, stock_price) OVER days_45 * sqrt(252.0) * 100, 2)
    END AS hv_30day,
    -- The previous row, and whether it is exactly one calendar day earlier
    -- (§5 quirk 5: Mondays and days after holidays have none).
    lag(asof_date) OVER by_row AS prev_date,
    lag(call_open_interest) OVER by_row AS prev_call_open_interest,
    lag(put_open_interest) OVER by_row AS prev_put_open_interest,
    lag(total_volume) OVER by_row AS prev_total_volume
  FROM daily_input d
  WINDOW by_row AS (PARTITION BY symbol ORDER BY asof_date),
         days_60 AS (PARTITION BY symbol ORDER BY asof_date
                     RANGE BETWEEN INTERVAL '59 days' PRECEDING AND CURRENT ROW),
         days_45 AS (PARTITION BY symbol ORDER BY asof_date
                     RANGE BETWEEN INTERVAL '45 days' PRECEDING AND CURRENT ROW)
),
averages AS (
  SELECT o.*,
    -- Simple moving averages of N rows, despite the names (§5 quirk 1).
    CAST(pg_round(avg(avg_daily_volume) OVER rows_7, 0) AS BIGINT) AS volume_ema_7d,
    CAST(pg_round(avg(avg_daily_volume) OVER rows_30, 0) AS BIGINT) AS volume_ema_30d,
    CAST(pg_round(avg(avg_daily_volume) OVER rows_60, 0) AS BIGINT) AS volume_ema_60d,
    pg_round(avg(iv_rank) OVER rows_7, 2) AS iv_rank_ema_7d,
    pg_round(avg(iv_rank) OVER rows_30, 2) AS iv_rank_ema_30d,
    pg_round(avg(iv_rank) OVER rows_60, 2) AS iv_rank_ema_60d,
    stddev(iv_rank) OVER rows_60 AS iv_rank_sd_60,
    -- The 20 rows before this one, this one excluded; total_volume (§5 quirk 7).
    CASE WHEN count(total_volume) OVER before_20 >= 10 AND stddev(total_volume) OVER before_20 > 0 THEN
      pg_round(greatest(least((total_volume - avg(total_volume) OVER before_20)
                              / stddev(total_volume) OVER before_20, 3.0), -3.0), 3)
    END AS volume_zscore,
    pg_round(avg(hv_30day) OVER rows_10 - avg(hv_30day) OVER rows_30, 4) AS hv_slope,
    CASE WHEN iv_30day IS NOT NULL AND stddev(iv_30day) OVER rows_60 > 0 THEN
      pg_round(greatest(least((iv_30day - avg(iv_30day) OVER rows_60)
                              / stddev(iv_30day) OVER rows_60, 99.999), -99.999), 3)
    END AS iv_30d_zscore,
    CASE WHEN stddev(total_open_interest) OVER rows_60 > 0 THEN
      pg_round(greatest(least((total_open_interest - avg(total_open_interest) OVER rows_60)
                              / stddev(total_open_interest) OVER rows_60, 99.999), -99.999), 3)
    END AS open_interest_zscore,
    CASE WHEN avg(stock_price) OVER rows_20 > 0 THEN
      pg_round(stock_price / avg(stock_price) OVER rows_20 - 1, 4)
    END AS price_momentum_20d
  FROM own o
  WINDOW rows_7 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW),
         rows_10 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 9 PRECEDING AND CURRENT ROW),
         rows_20 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
         rows_30 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 29 PRECEDING AND CURRENT ROW),
         rows_60 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 59 PRECEDING AND CURRENT ROW),
         before_20 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING)
)
SELECT
  symbol,
  asof_date,
  call_volume,
  put_volume,
  call_open_interest,
  put_open_interest,
  total_volume,
  total_open_interest,
  avg_daily_volume,
  iv_30day,
  stock_price,
  avg_daily_premium,
  CASE WHEN prev_date = asof_date - INTERVAL '1 day' THEN call_open_interest - prev_call_open_interest END AS delta_call_oi,
  CASE WHEN prev_date = asof_date - INTERVAL '1 day' THEN put_open_interest - prev_put_open_interest END AS delta_put_oi,
  iv_rank,
  hv_30day,
  volume_ema_7d,
  volume_ema_30d,
  volume_ema_60d,
  iv_rank_ema_7d,
  iv_rank_ema_30d,
  iv_rank_ema_60d,
  volume_zscore,
  -- avg60 is the rounded iv_rank_ema_60d.
  CASE WHEN iv_rank IS NOT NULL AND iv_rank_sd_60 > 0 AND iv_rank_ema_60d IS NOT NULL THEN
    pg_round(greatest(least((iv_rank - iv_rank_ema_60d) / iv_rank_sd_60, 999.999), -999.999), 3)
  END AS iv_rank_zscore,
  CASE WHEN volume_ema_60d > 0 THEN
    pg_round(greatest(least(CAST(avg_daily_volume - volume_ema_60d AS DOUBLE) * 100 / volume_ema_60d,
                            999.999), -999.999), 3)
  END AS volume_trend_pct,
  CASE WHEN iv_rank IS NOT NULL AND iv_rank_ema_60d > 0 THEN
    pg_round(greatest(least((iv_rank - iv_rank_ema_60d) * 100 / iv_rank_ema_60d, 999.999), -999.999), 3)
  END AS iv_rank_trend_pct,
  -- A decimal IV over a percent HV (§5 quirk 4), over the rounded hv_30day.
  CASE WHEN hv_30day > 0 THEN pg_round(iv_30day / hv_30day, 4) END AS iv_hv_ratio,
  hv_slope,
  iv_30d_zscore,
  open_interest_zscore,
  CASE WHEN prev_total_volume > 0 THEN
    pg_round(greatest(least(CAST(total_volume AS DOUBLE) / prev_total_volume - 1, 9999.9999), -9999.9999), 4)
  END AS volume_accel,
  avg_daily_premium * total_volume AS premium_flow,
  price_momentum_20d,
  -- A 0–100 rank against 0.33 and 0.67 (§5 quirk 3): nearly always 2.
  CAST(CASE WHEN iv_rank IS NULL THEN NULL
            WHEN iv_rank <= 0.33 THEN 0
            WHEN iv_rank <= 0.67 THEN 1
            ELSE 2 END AS SMALLINT) AS vol_regime,
  CASE WHEN call_volume + put_volume = 0 THEN 0.0
       ELSE pg_round(CAST(call_volume - put_volume AS DOUBLE) / (call_volume + put_volume), 4)
  END AS put_call_volume_skew,
  CASE WHEN call_open_interest + put_open_interest = 0 THEN 0.0
       ELSE pg_round(CAST(call_open_interest - put_open_interest AS DOUBLE)
                     / (call_open_interest + put_open_interest), 4)
  END AS put_call_oi_skew,
  pg_round(volume_zscore * price_momentum_20d, 4) AS volume_price_interaction
FROM averages
WHERE is_target
