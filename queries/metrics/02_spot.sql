-- spot: S per (ticker, trade_date) (METRICS.md §2).
-- 1. an override (per ticker first, then the global one);
-- 2. stkPx of the earliest expiry, then lowest strike, among rows with stkPx > 0
--    (cash indices carry a per-expiry forward: the nearest expiry's is the spot);
-- 3. the same rule on spot_px > 0; 4. else no spot (null).
SELECT g.ticker, g.trade_date, g.row_count,
       COALESCE(o.spot, $spot_override, g.stk_spot, g.px_spot) AS spot,
       CASE
         WHEN o.spot IS NOT NULL OR $spot_override IS NOT NULL THEN 'override'
         WHEN g.stk_spot IS NOT NULL THEN 'stkPx'
         WHEN g.px_spot IS NOT NULL THEN 'spot_px'
       END AS spot_source
FROM (
  SELECT ticker, trade_date, count(*) AS row_count,
         first_value(stk_px ORDER BY expir_date, strike, stk_px) FILTER (WHERE stk_px > 0) AS stk_spot,
         first_value(spot_px ORDER BY expir_date, strike, spot_px) FILTER (WHERE spot_px > 0) AS px_spot
  FROM rows
  GROUP BY ticker, trade_date
) g
LEFT JOIN spot_overrides o ON o.ticker = g.ticker
