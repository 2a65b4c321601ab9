-- GEX by strike: one ticker's net, call and put gamma exposure and open
-- interest per strike on one date, with the running total whose zero crossing
-- is the gamma flip. Reads the strike_gex view, so the filters and the spot
-- are those of the session's parameters (profile a3 unless --profile v2 or
-- the metrics flags say otherwise), exactly as dealer_metrics computes them.
--
--   gexlake sql -f queries/examples/gex_by_strike.sql --param ticker=SPY --param date=2026-02-05
--   gexlake sql -f queries/examples/gex_by_strike.sql --param ticker=SPY --param date=2026-02-05 --profile v2 --format csv
SELECT strike,
       round(strike / spot - 1, 4) AS moneyness,
       net_gex,
       call_gex,
       put_gex,
       sum(net_gex) OVER (ORDER BY strike) AS cumulative_gex,
       call_oi,
       put_oi,
       spot,
       params
FROM strike_gex
WHERE ticker = $ticker AND trade_date = $date
ORDER BY strike;
