-- legs: each row is two contracts, a call and a put (METRICS.md §1), kept side
-- by side (c_ and p_ columns) so the strike aggregation reads each row once.
-- `*_rejected_by` names the first filter of §3 a leg fails, NULL when eligible:
--   expired, dte_exceeded, missing_gamma (shared by both legs of a row),
--   then low_open_interest, low_volume (each leg's own OI and volume).
-- g = s · gamma · oi · m · S² · 0.01 (dollars per 1 % move, s = +1 call, −1 put),
-- evaluated left to right with S² = S·S; d = delta_leg · oi · m (shares), with
-- delta_leg = delta for the call and delta − 1 for the put.
SELECT r.ticker, r.trade_date, s.spot, r.strike,
       r.c_oi, r.c_volu, r.p_oi, r.p_volu,
       r.c_rejected_by, r.p_rejected_by,
       CASE WHEN r.c_rejected_by IS NULL
            THEN 1.0 * r.gamma * r.c_oi * $contract_multiplier * (s.spot * s.spot) * 0.01 END AS c_g,
       CASE WHEN r.p_rejected_by IS NULL
            THEN -1.0 * r.gamma * r.p_oi * $contract_multiplier * (s.spot * s.spot) * 0.01 END AS p_g,
       CASE WHEN r.c_rejected_by IS NULL
            THEN r.delta * r.c_oi * $contract_multiplier END AS c_d,
       CASE WHEN r.p_rejected_by IS NULL
            THEN (r.delta - 1.0) * r.p_oi * $contract_multiplier END AS p_d
FROM (
  SELECT ticker, trade_date, strike, c_oi, c_volu, p_oi, p_volu, gamma, delta,
         COALESCE(row_rejected_by, CASE
           WHEN c_oi < greatest(1, $min_open_interest) THEN 'low_open_interest'
           WHEN c_volu < $min_volume THEN 'low_volume'
         END) AS c_rejected_by,
         COALESCE(row_rejected_by, CASE
           WHEN p_oi < greatest(1, $min_open_interest) THEN 'low_open_interest'
           WHEN p_volu < $min_volume THEN 'low_volume'
         END) AS p_rejected_by
  FROM (
    SELECT ticker, trade_date, strike, c_oi, c_volu, p_oi, p_volu, gamma, delta,
           CASE
             WHEN $exclude_expired AND dte < 0 THEN 'expired'
             WHEN $max_dte_days IS NOT NULL AND dte > $max_dte_days THEN 'dte_exceeded'
             WHEN gamma IS NULL OR isnan(gamma) OR abs(gamma) = CAST('inf' AS DOUBLE) THEN 'missing_gamma'
           END AS row_rejected_by
    FROM (
      SELECT *, arrow_cast(expir_date, 'Int32') - arrow_cast(trade_date, 'Int32') AS dte
      FROM rows
    ) dated
  ) classified
) r
JOIN spot s ON s.ticker = r.ticker AND s.trade_date = r.trade_date
