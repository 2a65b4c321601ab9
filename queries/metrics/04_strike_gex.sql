-- strike_gex: per (ticker, trade_date, strike) over all expiries (METRICS.md §4).
-- net_gex is Σ g of the strike's eligible legs, calls and puts; the call/put OI
-- and volume of eligible legs feed the walls; rejected legs are counted per rule
-- for filter_stats. Every floating-point sum is exact_sum: the correctly rounded
-- sum (over both arguments' values when given two, as if each leg were a row),
-- so results are bit-identical whatever the order rows arrive in.
SELECT ticker, trade_date, strike,
       exact_sum(c_g, p_g) AS net_gex,
       exact_sum(c_g) AS call_gex,
       exact_sum(p_g) AS put_gex,
       exact_sum(c_d, p_d) AS net_dex,
       count(*) FILTER (WHERE c_rejected_by IS NULL)
         + count(*) FILTER (WHERE p_rejected_by IS NULL) AS eligible_legs,
       sum(CASE WHEN c_rejected_by IS NULL THEN c_oi ELSE 0 END
         + CASE WHEN p_rejected_by IS NULL THEN p_oi ELSE 0 END) AS eligible_oi,
       sum(CASE WHEN c_rejected_by IS NULL THEN c_oi ELSE 0 END) AS call_oi,
       sum(CASE WHEN c_rejected_by IS NULL THEN c_volu ELSE 0 END) AS call_volume,
       sum(CASE WHEN p_rejected_by IS NULL THEN p_oi ELSE 0 END) AS put_oi,
       sum(CASE WHEN p_rejected_by IS NULL THEN p_volu ELSE 0 END) AS put_volume,
       2 * count(*) AS legs,
       sum(CASE c_rejected_by WHEN 'expired' THEN 1 ELSE 0 END
         + CASE p_rejected_by WHEN 'expired' THEN 1 ELSE 0 END) AS expired,
       sum(CASE c_rejected_by WHEN 'dte_exceeded' THEN 1 ELSE 0 END
         + CASE p_rejected_by WHEN 'dte_exceeded' THEN 1 ELSE 0 END) AS dte_exceeded,
       sum(CASE c_rejected_by WHEN 'missing_gamma' THEN 1 ELSE 0 END
         + CASE p_rejected_by WHEN 'missing_gamma' THEN 1 ELSE 0 END) AS missing_gamma,
       sum(CASE c_rejected_by WHEN 'low_open_interest' THEN 1 ELSE 0 END
         + CASE p_rejected_by WHEN 'low_open_interest' THEN 1 ELSE 0 END) AS low_open_interest,
       sum(CASE c_rejected_by WHEN 'low_volume' THEN 1 ELSE 0 END
         + CASE p_rejected_by WHEN 'low_volume' THEN 1 ELSE 0 END) AS low_volume
FROM legs
GROUP BY ticker, trade_date, strike
