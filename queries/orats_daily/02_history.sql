-- history: the windows over each symbol's rows in date order (ORATS_DAILY.md §3).
-- Input `daily_input`: the aggregates (01_aggregate.sql) of the dates being
-- computed (`is_target`) and, before them, each symbol's stored rows that the
-- windows reach back to, with their stored iv_rank and hv_30day. Derived
-- columns read the rounded values of the columns they use, as V1 read its
-- table: a stored row keeps its stored iv_rank/hv_30day, a computed one its
-- freshly rounded value. pg_round(x, n) is PostgreSQL's x::NUMERIC(p, n).
-- greatest/least skip NULLs (as in PostgreSQL): a clamp of a value that may
-- be NULL is guarded, so that it stays NULL instead of becoming the bound.
-- moving_*(x) OVER w are count/avg/stddev/min/max of w's frame (gexlake-udfs
-- `moving`), each frame added afresh in row order as PostgreSQL computes a
-- moving avg(float8); DataFusion's sliding aggregates add the entering row and
-- subtract the leaving one, which carries rounding from frame to frame (V1's
-- numbers differ in the last place, and a few rounded values with them) and
-- costs several times more a row. Three levels, each reading only what the
-- one before rounded:
--   own      iv_rank, hv_30day, the LAG columns (over `frames`);
--   averages the row-window averages and z-scores over own's rounded values;
--   trends   the columns that read the rounded 60-row averages.
WITH frames AS (
  -- Each row's calendar-day frames (§5 quirk 6: calendar days, not rows):
  -- moving_*(x, asof_date, n) reads the symbol's rows dated [d − n days, d],
  -- what RANGE BETWEEN INTERVAL 'n days' PRECEDING AND CURRENT ROW holds.
  SELECT d.*,
    moving_count(iv_30day, asof_date, 59) OVER by_row AS iv_count_60d,
    moving_min(iv_30day, asof_date, 59) OVER by_row AS iv_min_60d,
    moving_max(iv_30day, asof_date, 59) OVER by_row AS iv_max_60d,
    -- The positive prices of [d − 45 days, d] and the returns between
    -- consecutive ones (the return into the frame's first price from an
    -- earlier one outside it does not count): n prices make n − 1 returns.
    moving_count(CASE WHEN stock_price > 0 THEN stock_price END, asof_date, 45) OVER by_row
      AS prices_45d,
    moving_log_return_stddev(stock_price, asof_date, 45) OVER by_row AS return_sd_45d,
    -- The previous row, and whether it is exactly one calendar day earlier
    -- (§5 quirk 5: Mondays and days after holidays have none).
    lag(asof_date) OVER by_row AS prev_date,
    lag(call_open_interest) OVER by_row AS prev_call_open_interest,
    lag(put_open_interest) OVER by_row AS prev_put_open_interest,
    lag(total_volume) OVER by_row AS prev_total_volume
  FROM daily_input d
  WINDOW by_row AS (PARTITION BY symbol ORDER BY asof_date)
),
own AS (
  SELECT f.*,
    CASE WHEN NOT is_target THEN stored_iv_rank
         WHEN iv_30day IS NOT NULL AND iv_count_60d >= 36 AND iv_max_60d > iv_min_60d THEN
           pg_round(greatest(least((iv_30day - iv_min_60d) / (iv_max_60d - iv_min_60d) * 100,
                                   100.0), 0.0), 2)
    END AS iv_rank,
    CASE WHEN NOT is_target THEN stored_hv_30day
         WHEN stock_price > 0 AND prices_45d - 1 >= 20 THEN
           pg_round(return_sd_45d * sqrt(252.0) * 100, 2)
    END AS hv_30day
  FROM frames f
),
averages AS (
  SELECT o.*,
    -- Simple moving averages of N rows, despite the names (§5 quirk 1).
    CAST(pg_round(moving_avg(avg_daily_volume) OVER rows_7, 0) AS BIGINT) AS volume_ema_7d,
    CAST(pg_round(moving_avg(avg_daily_volume) OVER rows_30, 0) AS BIGINT) AS volume_ema_30d,
    CAST(pg_round(moving_avg(avg_daily_volume) OVER rows_60, 0) AS BIGINT) AS volume_ema_60d,
    pg_round(moving_avg(iv_rank) OVER rows_7, 2) AS iv_rank_ema_7d,
    pg_round(moving_avg(iv_rank) OVER rows_30, 2) AS iv_rank_ema_30d,
    pg_round(moving_avg(iv_rank) OVER rows_60, 2) AS iv_rank_ema_60d,
    moving_stddev(iv_rank) OVER rows_60 AS iv_rank_sd_60,
    -- The 20 rows before this one, this one excluded; total_volume (§5 quirk 7).
    CASE WHEN moving_count(total_volume) OVER before_20 >= 10 AND moving_stddev(total_volume) OVER before_20 > 0 THEN
      pg_round(greatest(least((total_volume - moving_avg(total_volume) OVER before_20)
                              / moving_stddev(total_volume) OVER before_20, 3.0), -3.0), 3)
    END AS volume_zscore,
    -- V1 subtracted two NUMERIC averages of two-place values: exact decimals.
    -- In doubles the difference of two ~50s carries ~1e-14 of noise, which
    -- decides the rounding when the exact value is a tie (…5 in the fifth
    -- place). Rounding to 10 places first restores the exact decimal: two such
    -- averages (≤ 30 values each) that are not a tie lie ≥ 1.6e-7 from one.
    pg_round(pg_round(moving_avg(hv_30day) OVER rows_10 - moving_avg(hv_30day) OVER rows_30, 10), 4)
      AS hv_slope,
    CASE WHEN iv_30day IS NOT NULL AND moving_stddev(iv_30day) OVER rows_60 > 0 THEN
      pg_round(greatest(least((iv_30day - moving_avg(iv_30day) OVER rows_60)
                              / moving_stddev(iv_30day) OVER rows_60, 99.999), -99.999), 3)
    END AS iv_30d_zscore,
    CASE WHEN moving_stddev(total_open_interest) OVER rows_60 > 0 THEN
      pg_round(greatest(least((total_open_interest - moving_avg(total_open_interest) OVER rows_60)
                              / moving_stddev(total_open_interest) OVER rows_60, 99.999), -99.999), 3)
    END AS open_interest_zscore,
    CASE WHEN moving_avg(stock_price) OVER rows_20 > 0 THEN
      pg_round(stock_price / moving_avg(stock_price) OVER rows_20 - 1, 4)
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
