-- strike_gex: per (ticker, trade_date, strike) over all expiries (METRICS.md §4).
-- net_gex is Σ g of the strike's eligible legs; the call/put OI and volume of
-- eligible legs feed the walls; rejected legs are counted per rule for
-- filter_stats. Every floating-point sum is exact_sum: the correctly rounded
-- sum, so results are bit-identical whatever the order rows arrive in.
SELECT ticker, trade_date, strike,
       exact_sum(g) AS net_gex,
       exact_sum(CASE WHEN is_call THEN g END) AS call_gex,
       exact_sum(CASE WHEN NOT is_call THEN g END) AS put_gex,
       exact_sum(d) AS net_dex,
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
FROM legs
GROUP BY ticker, trade_date, strike
