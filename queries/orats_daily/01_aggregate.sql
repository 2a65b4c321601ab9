-- aggregate: one row per (symbol, trade date) of the ORATS rows (ORATS_DAILY.md §1–2).
-- $from_date/$to_date are bound as literals, so the listing is pruned to the
-- day's trade_date partitions. Symbols that are empty or longer than 10
-- characters are grouped too, flagged `skipped`: the engine counts and drops
-- them, so one scan gives both the rows and the summary's skip count.
-- Blank counts and prices are nulls in the lake: this path reads them as 0.
-- Sums of doubles use exact_sum, so the result does not depend on the order
-- the rows arrive in (the engine's byte-for-byte determinism).
SELECT symbol, asof_date, skipped,
       call_volume, put_volume, call_open_interest, put_open_interest,
       call_volume + put_volume AS total_volume,
       call_open_interest + put_open_interest AS total_open_interest,
       -- The same day's volume, despite the name (§5 quirk 1).
       call_volume + put_volume AS avg_daily_volume,
       iv_30day, stock_price, avg_daily_premium
FROM (
  SELECT
    upper(trim(ticker)) AS symbol,
    trade_date AS asof_date,
    character_length(upper(trim(ticker))) NOT BETWEEN 1 AND 10 AS skipped,
    sum(COALESCE(c_volu, 0)) AS call_volume,
    sum(COALESCE(p_volu, 0)) AS put_volume,
    sum(COALESCE(c_oi, 0)) AS call_open_interest,
    sum(COALESCE(p_oi, 0)) AS put_open_interest,
    -- iv_30day: the volume-weighted mid IV over every expiry (§5 quirk 2).
    exact_sum(CASE WHEN iv_weight > 0 AND (c_iv > 0 OR p_iv > 0) THEN
                CASE WHEN c_iv > 0 AND p_iv > 0 THEN (c_iv + p_iv) / 2
                     WHEN c_iv > 0 THEN c_iv
                     ELSE p_iv END * iv_weight
              END)
      / sum(CASE WHEN iv_weight > 0 AND (c_iv > 0 OR p_iv > 0) THEN iv_weight END) AS iv_30day,
    -- stock_price: the first row in file order (expiry, then strike) with a
    -- positive stkPx or spot_px; ties (two raw tickers of one symbol) fall back
    -- to the raw ticker, then the price, so the pick is deterministic.
    first_value(CASE WHEN stk_px > 0 THEN stk_px ELSE spot_px END
                ORDER BY expir_date, strike, ticker, CASE WHEN stk_px > 0 THEN stk_px ELSE spot_px END)
      FILTER (WHERE stk_px > 0 OR spot_px > 0) AS stock_price,
    -- Premium in dollars per share × contracts (no ×100), truncated toward zero.
    CAST(trunc(exact_sum(COALESCE(c_volu, 0) * COALESCE(c_value, 0.0)
                       + COALESCE(p_volu, 0) * COALESCE(p_value, 0.0))) AS BIGINT) AS avg_daily_premium
  FROM (
    -- The lake stores prices and IVs as exact decimals; V1 computed in doubles, and
    -- each cast gives the double of the CSV cell's text (README, "The lake").
    SELECT ticker, trade_date, expir_date, CAST(strike AS DOUBLE) AS strike,
           c_volu, p_volu, c_oi, p_oi,
           CAST(c_value AS DOUBLE) AS c_value, CAST(p_value AS DOUBLE) AS p_value,
           CAST(stk_px AS DOUBLE) AS stk_px, CAST(spot_px AS DOUBLE) AS spot_px,
           COALESCE(c_volu, 0) + COALESCE(p_volu, 0) AS iv_weight,
           COALESCE(CAST(c_mid_iv AS DOUBLE), 0.0) AS c_iv,
           COALESCE(CAST(p_mid_iv AS DOUBLE), 0.0) AS p_iv
    FROM strikes
    WHERE trade_date BETWEEN $from_date AND $to_date
  ) r
  GROUP BY upper(trim(ticker)), trade_date
) g
