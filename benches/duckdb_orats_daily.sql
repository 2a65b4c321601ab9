-- orats_daily over every date of a lake, written for DuckDB: the baseline of
-- benches/orats_daily.sh. The rules of queries/orats_daily/*.sql
-- (ORATS_DAILY.md) in DuckDB's dialect: pg_round as a macro over a DECIMAL,
-- the HV's log returns from a list of the frame's prices.
-- Placeholder replaced by the script: __LAKE__; the script defines the macro
-- pg_round(x, n) first.
WITH agg AS (
  SELECT upper(trim(ticker)) AS symbol, trade_date AS asof_date,
         sum(c_volu) AS call_volume, sum(p_volu) AS put_volume,
         sum(c_oi) AS call_open_interest, sum(p_oi) AS put_open_interest,
         sum(CASE WHEN c_volu + p_volu > 0 AND (coalesce(c_mid_iv, 0) > 0 OR coalesce(p_mid_iv, 0) > 0) THEN
               CASE WHEN c_mid_iv > 0 AND p_mid_iv > 0 THEN (c_mid_iv + p_mid_iv) / 2
                    WHEN c_mid_iv > 0 THEN c_mid_iv ELSE p_mid_iv END * (c_volu + p_volu) END)
           / sum(CASE WHEN c_volu + p_volu > 0 AND (coalesce(c_mid_iv, 0) > 0 OR coalesce(p_mid_iv, 0) > 0)
                      THEN c_volu + p_volu END) AS iv_30day,
         arg_min(CASE WHEN stk_px > 0 THEN stk_px ELSE spot_px END, (expir_date, strike, ticker))
           FILTER (WHERE stk_px > 0 OR spot_px > 0) AS stock_price,
         CAST(trunc(sum(c_volu * coalesce(c_value, 0) + p_volu * coalesce(p_value, 0))) AS BIGINT) AS avg_daily_premium
  -- In doubles, as queries/orats_daily/01_aggregate.sql casts the lake's decimals.
  FROM (SELECT * REPLACE (strike::DOUBLE AS strike, stk_px::DOUBLE AS stk_px, spot_px::DOUBLE AS spot_px,
                          c_mid_iv::DOUBLE AS c_mid_iv, p_mid_iv::DOUBLE AS p_mid_iv,
                          c_value::DOUBLE AS c_value, p_value::DOUBLE AS p_value)
        FROM read_parquet('__LAKE__/orats_strikes/**/*.parquet', hive_partitioning = true))
  WHERE length(trim(ticker)) BETWEEN 1 AND 10
  GROUP BY ALL
),
d AS (
  SELECT *, call_volume + put_volume AS total_volume,
         call_open_interest + put_open_interest AS total_open_interest,
         call_volume + put_volume AS avg_daily_volume
  FROM agg
),
own AS (
  SELECT d.*,
    CASE WHEN iv_30day IS NOT NULL AND count(iv_30day) OVER d60 >= 36 AND max(iv_30day) OVER d60 > min(iv_30day) OVER d60
         THEN pg_round(greatest(least((iv_30day - min(iv_30day) OVER d60) / (max(iv_30day) OVER d60 - min(iv_30day) OVER d60) * 100, 100), 0), 2) END AS iv_rank,
    list(stock_price ORDER BY asof_date) FILTER (WHERE stock_price > 0) OVER d45 AS prices,
    lag(asof_date) OVER r AS prev_date,
    lag(call_open_interest) OVER r AS prev_coi,
    lag(put_open_interest) OVER r AS prev_poi,
    lag(total_volume) OVER r AS prev_tv
  FROM d
  WINDOW r AS (PARTITION BY symbol ORDER BY asof_date),
         d60 AS (PARTITION BY symbol ORDER BY asof_date RANGE BETWEEN INTERVAL 59 DAYS PRECEDING AND CURRENT ROW),
         d45 AS (PARTITION BY symbol ORDER BY asof_date RANGE BETWEEN INTERVAL 45 DAYS PRECEDING AND CURRENT ROW)
),
own2 AS (
  SELECT * EXCLUDE (prices),
    CASE WHEN stock_price > 0 AND len(prices) - 1 >= 20 THEN
      pg_round(list_stddev_samp(list_transform(range(1, len(prices)), lambda i: ln(prices[i + 1] / prices[i]))) * sqrt(252) * 100, 2)
    END AS hv_30day
  FROM own
),
av AS (
  SELECT o.*,
    CAST(pg_round(avg(avg_daily_volume) OVER r7, 0) AS BIGINT) AS volume_ema_7d,
    CAST(pg_round(avg(avg_daily_volume) OVER r30, 0) AS BIGINT) AS volume_ema_30d,
    CAST(pg_round(avg(avg_daily_volume) OVER r60, 0) AS BIGINT) AS volume_ema_60d,
    pg_round(avg(iv_rank) OVER r7, 2) AS iv_rank_ema_7d,
    pg_round(avg(iv_rank) OVER r30, 2) AS iv_rank_ema_30d,
    pg_round(avg(iv_rank) OVER r60, 2) AS iv_rank_ema_60d,
    stddev_samp(iv_rank) OVER r60 AS iv_rank_sd,
    CASE WHEN count(total_volume) OVER b20 >= 10 AND stddev_samp(total_volume) OVER b20 > 0 THEN
      pg_round(greatest(least((total_volume - avg(total_volume) OVER b20) / stddev_samp(total_volume) OVER b20, 3), -3), 3) END AS volume_zscore,
    pg_round(avg(hv_30day) OVER r10 - avg(hv_30day) OVER r30, 4) AS hv_slope,
    CASE WHEN stddev_samp(iv_30day) OVER r60 > 0 THEN
      pg_round(greatest(least((iv_30day - avg(iv_30day) OVER r60) / stddev_samp(iv_30day) OVER r60, 99.999), -99.999), 3) END AS iv_30d_zscore,
    CASE WHEN stddev_samp(total_open_interest) OVER r60 > 0 THEN
      pg_round(greatest(least((total_open_interest - avg(total_open_interest) OVER r60) / stddev_samp(total_open_interest) OVER r60, 99.999), -99.999), 3) END AS open_interest_zscore,
    CASE WHEN avg(stock_price) OVER r20 > 0 THEN pg_round(stock_price / avg(stock_price) OVER r20 - 1, 4) END AS price_momentum_20d
  FROM own2 o
  WINDOW r7 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW),
         r10 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 9 PRECEDING AND CURRENT ROW),
         r20 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
         r30 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 29 PRECEDING AND CURRENT ROW),
         r60 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 59 PRECEDING AND CURRENT ROW),
         b20 AS (PARTITION BY symbol ORDER BY asof_date ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING)
)
SELECT symbol, asof_date, call_volume, put_volume, call_open_interest, put_open_interest,
       total_volume, total_open_interest, avg_daily_volume, iv_30day, stock_price, avg_daily_premium,
       CASE WHEN prev_date = asof_date - 1 THEN call_open_interest - prev_coi END AS delta_call_oi,
       CASE WHEN prev_date = asof_date - 1 THEN put_open_interest - prev_poi END AS delta_put_oi,
       iv_rank, hv_30day, volume_ema_7d, volume_ema_30d, volume_ema_60d,
       iv_rank_ema_7d, iv_rank_ema_30d, iv_rank_ema_60d, volume_zscore,
       CASE WHEN iv_rank_sd > 0 AND iv_rank_ema_60d IS NOT NULL THEN
         pg_round(greatest(least((iv_rank - iv_rank_ema_60d) / iv_rank_sd, 999.999), -999.999), 3) END AS iv_rank_zscore,
       CASE WHEN volume_ema_60d > 0 THEN
         pg_round(greatest(least((avg_daily_volume - volume_ema_60d) * 100.0 / volume_ema_60d, 999.999), -999.999), 3) END AS volume_trend_pct,
       CASE WHEN iv_rank_ema_60d > 0 THEN
         pg_round(greatest(least((iv_rank - iv_rank_ema_60d) * 100 / iv_rank_ema_60d, 999.999), -999.999), 3) END AS iv_rank_trend_pct,
       CASE WHEN hv_30day > 0 THEN pg_round(iv_30day / hv_30day, 4) END AS iv_hv_ratio,
       hv_slope, iv_30d_zscore, open_interest_zscore,
       CASE WHEN prev_tv > 0 THEN pg_round(greatest(least(total_volume / prev_tv - 1, 9999.9999), -9999.9999), 4) END AS volume_accel,
       avg_daily_premium * total_volume AS premium_flow,
       price_momentum_20d,
       CAST(CASE WHEN iv_rank IS NULL THEN NULL WHEN iv_rank <= 0.33 THEN 0 WHEN iv_rank <= 0.67 THEN 1 ELSE 2 END AS SMALLINT) AS vol_regime,
       CASE WHEN call_volume + put_volume = 0 THEN 0 ELSE pg_round((call_volume - put_volume) / (call_volume + put_volume), 4) END AS put_call_volume_skew,
       CASE WHEN call_open_interest + put_open_interest = 0 THEN 0 ELSE pg_round((call_open_interest - put_open_interest) / (call_open_interest + put_open_interest), 4) END AS put_call_oi_skew,
       pg_round(volume_zscore * price_momentum_20d, 4) AS volume_price_interaction
FROM av
