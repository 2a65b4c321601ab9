-- strike_gex: per (ticker, trade_date, strike) over all expiries (METRICS.md §4).
-- net_gex is Σ g of the strike's eligible legs, calls and puts; the call/put OI
-- and volume of eligible legs feed the walls; rejected legs are counted per rule
-- for filter_stats (the codes of 01_rows.sql: 1 expired, 2 dte_exceeded,
-- 3 missing_gamma, 4 uncounted_row, 5 low_open_interest, 6 low_volume):
-- count_codes counts the six codes of both legs in one pass (one aggregate,
-- which DataFusion computes once for the six columns, instead of twelve
-- filtered counts each comparing every row).
-- Every floating-point sum is exact_sum: the correctly rounded sum (over both
-- arguments' values when given two, as if each leg were a row), so results are
-- bit-identical whatever the order rows arrive in.
-- For $wall_rule = 'first_listed' (§10) a wall's OI and volume are summed over
-- the strike's counted rows, 0 included, and first_line (the smallest
-- source_line of a counted row) says which strike the file listed first.
-- `spot` is one value per (ticker, trade_date); grouping by it carries it to
-- ticker_gex without joining the spot table again.
SELECT ticker, trade_date, spot, strike,
       exact_sum(c_g, p_g) AS net_gex,
       exact_sum(c_g) AS call_gex,
       exact_sum(p_g) AS put_gex,
       exact_sum(c_d, p_d) AS net_dex,
       count(*) FILTER (WHERE c_rejected_by IS NULL)
         + count(*) FILTER (WHERE p_rejected_by IS NULL) AS eligible_legs,
       coalesce(sum(c_oi) FILTER (WHERE c_rejected_by IS NULL), 0)
         + coalesce(sum(p_oi) FILTER (WHERE p_rejected_by IS NULL), 0) AS eligible_oi,
       coalesce(sum(c_oi) FILTER (WHERE c_rejected_by IS NULL), 0) AS call_oi,
       coalesce(sum(c_volu) FILTER (WHERE c_rejected_by IS NULL), 0) AS call_volume,
       coalesce(sum(p_oi) FILTER (WHERE p_rejected_by IS NULL), 0) AS put_oi,
       coalesce(sum(p_volu) FILTER (WHERE p_rejected_by IS NULL), 0) AS put_volume,
       count(*) FILTER (WHERE counted) AS counted_rows,
       min(source_line) FILTER (WHERE counted) AS first_line,
       CASE WHEN $wall_rule = 'first_listed' THEN coalesce(sum(c_oi) FILTER (WHERE counted), 0)
            ELSE coalesce(sum(c_oi) FILTER (WHERE c_rejected_by IS NULL), 0) END AS wall_call_oi,
       CASE WHEN $wall_rule = 'first_listed' THEN coalesce(sum(c_volu) FILTER (WHERE counted), 0)
            ELSE coalesce(sum(c_volu) FILTER (WHERE c_rejected_by IS NULL), 0) END AS wall_call_volume,
       CASE WHEN $wall_rule = 'first_listed' THEN coalesce(sum(p_oi) FILTER (WHERE counted), 0)
            ELSE coalesce(sum(p_oi) FILTER (WHERE p_rejected_by IS NULL), 0) END AS wall_put_oi,
       CASE WHEN $wall_rule = 'first_listed' THEN coalesce(sum(p_volu) FILTER (WHERE counted), 0)
            ELSE coalesce(sum(p_volu) FILTER (WHERE p_rejected_by IS NULL), 0) END AS wall_put_volume,
       2 * count(*) AS legs,
       count_codes(6, c_rejected_by, p_rejected_by)[1] AS expired,
       count_codes(6, c_rejected_by, p_rejected_by)[2] AS dte_exceeded,
       count_codes(6, c_rejected_by, p_rejected_by)[3] AS missing_gamma,
       count_codes(6, c_rejected_by, p_rejected_by)[4] AS uncounted_row,
       count_codes(6, c_rejected_by, p_rejected_by)[5] AS low_open_interest,
       count_codes(6, c_rejected_by, p_rejected_by)[6] AS low_volume
FROM legs
GROUP BY ticker, trade_date, spot, strike
