-- GEX by expiry: one ticker's gamma exposure per expiration date, computed
-- from the raw ORATS rows (`strikes`) with the parameters and spot that a
-- metrics run recorded in dealer_metrics for that ticker and date, so the
-- expiries add up to that run's gex_net and contracts_analyzed. Shows where
-- the exposure sits on the curve (0DTE and weeklies vs monthlies and LEAPS).
--
--   gexlake sql -f queries/examples/gex_by_expiry.sql --param ticker=SPY --param date=2026-02-05 --param params=a3
--   (params=v2 for the production rules of METRICS.md §10: expired legs kept, no DTE cap,
--   OI >= 1, each row at its own spot, a missing gamma read as 0, contracts counted as rows)
WITH run AS (
  -- Results written before the §10 rules existed have no rule columns: the §1–9 rules.
  SELECT spot_price AS spot, exclude_expired, max_dte_days, min_open_interest, min_volume,
         contract_multiplier,
         COALESCE(missing_gamma, 'reject') AS missing_gamma,
         COALESCE(leg_spot, 'ticker') AS leg_spot,
         COALESCE(contracts_rule, 'legs') AS contracts_rule
  FROM dealer_metrics
  WHERE params = $params AND ticker = $ticker AND trade_date = $date
),
judged AS (
  -- Each ORATS row is a call and a put (METRICS.md §1); the filters of §3 and
  -- the rules of §10 with the run's values.
  SELECT expir_date, dte, c_oi, c_volu, p_oi, p_volu, gamma_ok, gamma,
         r.contract_multiplier AS m, r.min_open_interest, r.min_volume, r.contracts_rule,
         CASE WHEN r.leg_spot = 'row' THEN row_spot ELSE r.spot END AS p,
         NOT (r.exclude_expired AND dte < 0)
           AND (r.max_dte_days IS NULL OR dte <= r.max_dte_days)
           AND (gamma_ok OR r.missing_gamma = 'zero')
           AND (r.leg_spot = 'ticker' OR (row_spot IS NOT NULL AND strike > 0)) AS row_ok
  FROM (
    SELECT expir_date, strike, c_oi, c_volu, p_oi, p_volu,
           arrow_cast(expir_date, 'Int32') - arrow_cast(trade_date, 'Int32') AS dte,
           CASE WHEN stk_px > 0 THEN stk_px WHEN spot_px > 0 THEN spot_px END AS row_spot,
           COALESCE(NOT isnan(gamma) AND abs(gamma) <> CAST('inf' AS DOUBLE), false) AS gamma_ok,
           gamma
    FROM (
      -- In doubles, as the metrics compute (the lake's decimals cast exactly to the
      -- doubles of the CSV text), so the expiries add up to the run's bits.
      SELECT expir_date, trade_date, c_oi, c_volu, p_oi, p_volu,
             CAST(strike AS DOUBLE) AS strike, CAST(stk_px AS DOUBLE) AS stk_px,
             CAST(spot_px AS DOUBLE) AS spot_px, CAST(gamma AS DOUBLE) AS gamma
      FROM strikes WHERE ticker = $ticker AND trade_date = $date
    ) typed
  ) s CROSS JOIN run r
),
legs AS (
  SELECT *,
         row_ok AND c_oi >= greatest(1, min_open_interest) AND c_volu >= min_volume AS c_ok,
         row_ok AND p_oi >= greatest(1, min_open_interest) AND p_volu >= min_volume AS p_ok,
         CASE WHEN gamma_ok THEN gamma ELSE 0.0 END AS g_rate
  FROM judged
),
exposures AS (
  SELECT expir_date, dte, c_ok, p_ok, c_oi, p_oi, contracts_rule,
         CASE WHEN c_ok THEN 1.0 * g_rate * c_oi * m * (p * p) * 0.01 ELSE 0.0 END AS c_g,
         CASE WHEN p_ok THEN -1.0 * g_rate * p_oi * m * (p * p) * 0.01 ELSE 0.0 END AS p_g
  FROM legs
)
SELECT expir_date,
       dte,
       sum(c_g + p_g) AS net_gex,
       sum(c_g) AS call_gex,
       sum(p_g) AS put_gex,
       round(sum(abs(c_g) + abs(p_g)) / sum(sum(abs(c_g) + abs(p_g))) OVER (), 4) AS share_of_gross,
       sum(CASE WHEN c_ok THEN c_oi ELSE 0 END) AS call_oi,
       sum(CASE WHEN p_ok THEN p_oi ELSE 0 END) AS put_oi,
       CASE WHEN min(contracts_rule) = 'rows' THEN count(*) FILTER (WHERE c_ok OR p_ok)
            ELSE count(*) FILTER (WHERE c_ok) + count(*) FILTER (WHERE p_ok) END AS contracts
FROM exposures
GROUP BY expir_date, dte
HAVING bool_or(c_ok OR p_ok)
ORDER BY expir_date;
