-- ticker_gex: per (ticker, trade_date) exposures, levels and counts
-- (METRICS.md §4–5, §10). Strikes without an eligible leg have a NULL net_gex
-- and zero OI, so the flip and slope UDAFs pass over them; only strikes with a
-- counted row can be walls. The flip follows $flip_rule over the strikes in
-- $flip_range_low·S … $flip_range_high·S (NULL bounds: every strike); the
-- walls follow $wall_rule, first_line ranking equal-OI strikes under
-- 'first_listed'.
SELECT ticker, trade_date,
       exact_sum(net_gex) AS gex_net,
       exact_sum(abs(net_gex)) AS gex_total,
       exact_sum(call_gex) AS gex_call,
       exact_sum(put_gex) AS gex_put,
       exact_sum(net_dex) AS net_dex,
       gamma_flip(strike, net_gex, $flip_rule, spot, $flip_range_low, $flip_range_high) AS gamma_flip,
       top_walls(strike, wall_call_oi, wall_call_volume, $walls_top_n, $wall_rule, first_line)
         FILTER (WHERE counted_rows > 0) AS call_walls,
       top_walls(strike, wall_put_oi, wall_put_volume, $walls_top_n, $wall_rule, first_line)
         FILTER (WHERE counted_rows > 0) AS put_walls,
       gex_slope(strike, net_gex, spot, $gex_slope_range_pct) AS gex_slope,
       min(strike) FILTER (WHERE eligible_legs > 0) AS min_strike,
       max(strike) FILTER (WHERE eligible_legs > 0) AS max_strike,
       count(*) FILTER (WHERE eligible_legs > 0) AS eligible_strikes,
       sum(eligible_legs) AS eligible_legs,
       sum(eligible_oi) AS eligible_oi,
       sum(counted_rows) AS counted_rows,
       sum(legs) AS legs,
       sum(expired) AS expired,
       sum(dte_exceeded) AS dte_exceeded,
       sum(missing_gamma) AS missing_gamma,
       sum(uncounted_row) AS uncounted_row,
       sum(low_open_interest) AS low_open_interest,
       sum(low_volume) AS low_volume
FROM strike_gex
GROUP BY ticker, trade_date, spot
