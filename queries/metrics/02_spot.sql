-- spot: S per (ticker, trade_date) (METRICS.md §2, §10 `spot_rule`).
-- 1. an override (per ticker first, then the global one);
-- 2. $spot_rule = 'earliest_expiry': stkPx of the earliest expiry, then lowest
--    strike, among rows with stkPx > 0 (cash indices carry a per-expiry forward:
--    the nearest expiry's is the spot); else the same rule on spot_px > 0;
--    $spot_rule = 'first_counted_row': the first counted row in file order
--    (source_line): its stkPx if > 0, else its spot_px;
-- 3. else no spot (null).
SELECT g.ticker, g.trade_date, g.row_count,
       COALESCE(o.spot, $spot_override, g.rule_spot) AS spot,
       CASE
         WHEN o.spot IS NOT NULL OR $spot_override IS NOT NULL THEN 'override'
         WHEN g.rule_spot IS NOT NULL THEN g.rule_source
       END AS spot_source
FROM (
  SELECT ticker, trade_date, row_count,
         CASE WHEN $spot_rule = 'first_counted_row' THEN counted_spot
              ELSE COALESCE(stk_spot, px_spot) END AS rule_spot,
         CASE WHEN $spot_rule = 'first_counted_row' THEN counted_source
              WHEN stk_spot IS NOT NULL THEN 'stkPx'
              WHEN px_spot IS NOT NULL THEN 'spot_px' END AS rule_source
  FROM (
    SELECT ticker, trade_date, count(*) AS row_count,
           first_value(stk_px ORDER BY expir_date, strike, stk_px) FILTER (WHERE stk_px > 0) AS stk_spot,
           first_value(spot_px ORDER BY expir_date, strike, spot_px) FILTER (WHERE spot_px > 0) AS px_spot,
           first_value(row_spot ORDER BY source_line, expir_date, strike, row_spot)
             FILTER (WHERE $spot_rule = 'first_counted_row' AND counted AND row_spot > 0) AS counted_spot,
           first_value(CASE WHEN stk_px > 0 THEN 'stkPx' ELSE 'spot_px' END ORDER BY source_line, expir_date, strike, row_spot)
             FILTER (WHERE $spot_rule = 'first_counted_row' AND counted AND row_spot > 0) AS counted_source
    FROM rows
    GROUP BY ticker, trade_date
  ) firsts
) g
LEFT JOIN spot_overrides o ON o.ticker = g.ticker
