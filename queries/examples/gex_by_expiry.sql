-- GEX by expiry: one ticker's gamma exposure per expiration date, computed
-- from the raw ORATS rows (`strikes`) with the parameters and spot that a
-- metrics run recorded in dealer_metrics for that ticker and date, so the
-- expiries add up to that run's gex_net. Shows where the exposure sits on the
-- curve (0DTE and weeklies vs monthlies and LEAPS).
--
--   gexlake sql -f queries/examples/gex_by_expiry.sql --param ticker=SPY --param date=2026-02-05 --param params=a3
--   (params=v2 for the V2 handoff's rules: expired legs kept, no DTE cap, OI >= 1)
WITH run AS (
  SELECT spot_price AS spot, exclude_expired, max_dte_days, min_open_interest, min_volume,
         contract_multiplier
  FROM dealer_metrics
  WHERE params = $params AND ticker = $ticker AND trade_date = $date
),
legs AS (
  -- Each ORATS row is a call and a put (METRICS.md §1).
  SELECT expir_date, arrow_cast(expir_date, 'Int32') - arrow_cast(trade_date, 'Int32') AS dte,
         true AS is_call, 1.0 AS sign, c_oi AS oi, c_volu AS volume, gamma
  FROM strikes WHERE ticker = $ticker AND trade_date = $date
  UNION ALL
  SELECT expir_date, arrow_cast(expir_date, 'Int32') - arrow_cast(trade_date, 'Int32'),
         false, -1.0, p_oi, p_volu, gamma
  FROM strikes WHERE ticker = $ticker AND trade_date = $date
),
eligible AS (
  -- The filters of METRICS.md §3 with the run's values.
  SELECT l.*, l.sign * l.gamma * l.oi * r.contract_multiplier * (r.spot * r.spot) * 0.01 AS g
  FROM legs l CROSS JOIN run r
  WHERE NOT (r.exclude_expired AND l.dte < 0)
    AND (r.max_dte_days IS NULL OR l.dte <= r.max_dte_days)
    AND l.gamma IS NOT NULL AND NOT isnan(l.gamma) AND abs(l.gamma) <> CAST('inf' AS DOUBLE)
    AND l.oi >= greatest(1, r.min_open_interest)
    AND l.volume >= r.min_volume
)
SELECT expir_date,
       dte,
       sum(g) AS net_gex,
       sum(CASE WHEN is_call THEN g ELSE 0 END) AS call_gex,
       sum(CASE WHEN NOT is_call THEN g ELSE 0 END) AS put_gex,
       round(sum(abs(g)) / sum(sum(abs(g))) OVER (), 4) AS share_of_gross,
       sum(CASE WHEN is_call THEN oi ELSE 0 END) AS call_oi,
       sum(CASE WHEN NOT is_call THEN oi ELSE 0 END) AS put_oi,
       count(*) AS contracts
FROM eligible
GROUP BY expir_date, dte
ORDER BY expir_date;
