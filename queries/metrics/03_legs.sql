-- legs: each row is two contracts (METRICS.md §1), classified by the filters
-- of §3. `rejected_by` names the first rule a leg fails, NULL when eligible:
--   expired, dte_exceeded, missing_gamma, low_open_interest, low_volume.
-- g = s · gamma · oi · m · S² · 0.01 (dollars per 1 % move), evaluated left to
-- right with S² = S·S; d = delta_leg · oi · m (shares).
SELECT l.ticker, l.trade_date, l.strike, l.is_call, l.oi, l.volume,
       l.rejected_by,
       CASE WHEN l.rejected_by IS NULL
            THEN l.sign * l.gamma * l.oi * $contract_multiplier * (s.spot * s.spot) * 0.01 END AS g,
       CASE WHEN l.rejected_by IS NULL
            THEN l.delta_leg * l.oi * $contract_multiplier END AS d
FROM (
  SELECT ticker, trade_date, strike, is_call, sign, oi, volume, delta_leg, gamma,
         CASE
           WHEN $exclude_expired AND dte < 0 THEN 'expired'
           WHEN $max_dte_days IS NOT NULL AND dte > $max_dte_days THEN 'dte_exceeded'
           WHEN gamma IS NULL OR isnan(gamma) OR abs(gamma) = CAST('inf' AS DOUBLE) THEN 'missing_gamma'
           WHEN oi < greatest(1, $min_open_interest) THEN 'low_open_interest'
           WHEN volume < $min_volume THEN 'low_volume'
         END AS rejected_by
  FROM (
    SELECT ticker, trade_date, strike, true AS is_call, 1.0 AS sign, c_oi AS oi, c_volu AS volume,
           delta AS delta_leg, gamma,
           arrow_cast(expir_date, 'Int32') - arrow_cast(trade_date, 'Int32') AS dte
    FROM rows
    UNION ALL
    SELECT ticker, trade_date, strike, false, -1.0, p_oi, p_volu,
           delta - 1.0, gamma,
           arrow_cast(expir_date, 'Int32') - arrow_cast(trade_date, 'Int32')
    FROM rows
  ) both_sides
) l
JOIN spot s ON s.ticker = l.ticker AND s.trade_date = l.trade_date
