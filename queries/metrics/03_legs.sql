-- legs: each row is two contracts, a call and a put (METRICS.md §1), kept side
-- by side (c_ and p_ columns) so the strike aggregation reads each row once;
-- rows.sql has judged them (`*_rejected_by`, NULL when eligible).
-- g = s · gamma · oi · m · P² · 0.01 (dollars per 1 % move, s = +1 call, −1 put),
-- evaluated left to right with P² = P·P, where P is the ticker's spot S, or the
-- row's own spot when $leg_spot = 'row' (§10); d = delta_leg · oi · m (shares),
-- with delta_leg = delta for the call and delta − 1 for the put (−|delta − 1|
-- under $leg_spot = 'row', as the production job computes it).
SELECT ticker, trade_date, spot, strike, source_line, counted,
       c_oi, c_volu, p_oi, p_volu,
       c_rejected_by, p_rejected_by,
       CASE WHEN c_rejected_by IS NULL
            THEN 1.0 * gamma * c_oi * $contract_multiplier * (leg_spot * leg_spot) * 0.01 END AS c_g,
       CASE WHEN p_rejected_by IS NULL
            THEN -1.0 * gamma * p_oi * $contract_multiplier * (leg_spot * leg_spot) * 0.01 END AS p_g,
       CASE WHEN c_rejected_by IS NULL
            THEN delta * c_oi * $contract_multiplier END AS c_d,
       CASE WHEN p_rejected_by IS NULL
            THEN put_delta * p_oi * $contract_multiplier END AS p_d
FROM (
  SELECT r.ticker, r.trade_date, s.spot, r.strike, r.source_line, r.counted,
         r.c_oi, r.c_volu, r.p_oi, r.p_volu, r.c_rejected_by, r.p_rejected_by,
         r.gamma, r.delta,
         CASE WHEN $leg_spot = 'row' THEN r.row_spot ELSE s.spot END AS leg_spot,
         CASE WHEN $leg_spot = 'row' THEN -abs(r.delta - 1.0) ELSE r.delta - 1.0 END AS put_delta
  FROM rows r
  JOIN spot s ON s.ticker = r.ticker AND s.trade_date = r.trade_date
) joined
