-- rows: the ORATS rows of the run's dates and watchlist (METRICS.md §1), each
-- classified once for every later stage (§3, §10):
--   dte            calendar days from trade_date to expiry;
--   row_spot       the row's own spot: stk_px if > 0, else spot_px if > 0, else NULL;
--   gamma          as quoted, or 0 for a null, NaN or infinite one when
--                  $missing_gamma = 'zero' (the leg then adds no GEX but still counts);
--   c_/p_rejected_by  the code of the first filter each leg fails, NULL when
--                  eligible: 1 expired, 2 dte_exceeded, 3 missing_gamma,
--                  4 uncounted_row (shared by both legs: with $leg_spot = 'row' a row
--                  without its own spot, or with a strike <= 0, is not counted), then
--                  5 low_open_interest and 6 low_volume (each leg's own OI and
--                  volume). Codes, not names: strike_gex compares them twelve times a
--                  row, and a row of names would be copied through every later stage
--                  (the names cost ~10 % of a run); strike_gex names the counts;
--   counted        the row has an eligible leg (§10's "counted row").
-- It reads the strike rows from the scan stage (00_scan.sql).
SELECT ticker, trade_date, expir_date, strike, stk_px, spot_px, source_line,
       c_oi, p_oi, c_volu, p_volu, delta, gamma, dte, row_spot,
       c_rejected_by, p_rejected_by,
       c_rejected_by IS NULL OR p_rejected_by IS NULL AS counted
FROM (
  SELECT *,
         COALESCE(row_rejected_by, CASE
           WHEN c_oi < greatest(1, $min_open_interest) THEN 5
           WHEN c_volu < $min_volume THEN 6
         END) AS c_rejected_by,
         COALESCE(row_rejected_by, CASE
           WHEN p_oi < greatest(1, $min_open_interest) THEN 5
           WHEN p_volu < $min_volume THEN 6
         END) AS p_rejected_by
  FROM (
    SELECT ticker, trade_date, expir_date, strike, stk_px, spot_px, source_line,
           c_oi, p_oi, c_volu, p_volu, delta, dte, row_spot,
           CASE WHEN gamma_finite THEN raw_gamma WHEN $missing_gamma = 'zero' THEN 0.0 END AS gamma,
           CASE
             WHEN $exclude_expired AND dte < 0 THEN 1
             WHEN $max_dte_days IS NOT NULL AND dte > $max_dte_days THEN 2
             WHEN NOT gamma_finite AND $missing_gamma = 'reject' THEN 3
             WHEN $leg_spot = 'row' AND (row_spot IS NULL OR NOT strike > 0) THEN 4
           END AS row_rejected_by
    FROM (
      SELECT ticker, trade_date, expir_date, strike, stk_px, spot_px, source_line,
             c_oi, p_oi, c_volu, p_volu, delta, gamma AS raw_gamma,
             arrow_cast(expir_date, 'Int32') - arrow_cast(trade_date, 'Int32') AS dte,
             CASE WHEN stk_px > 0 THEN stk_px WHEN spot_px > 0 THEN spot_px END AS row_spot,
             COALESCE(NOT isnan(gamma) AND abs(gamma) <> CAST('inf' AS DOUBLE), false) AS gamma_finite
      FROM scan
    ) scanned
  ) classified
) legs_judged
