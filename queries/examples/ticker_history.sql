-- Ticker history: one ticker's spot, net GEX, gamma flip and largest walls
-- day by day from dealer_metrics, with the day-over-day change of net GEX and
-- where spot trades against the flip (above it: dealers long gamma, moves damped).
--
--   gexlake sql -f queries/examples/ticker_history.sql --param ticker=SPY --param from=2026-01-01 --param to=2026-02-06 --param params=a3
--   gexlake plot SPY --history --from 2026-01-01 --to 2026-02-06   (the same as a chart)
SELECT trade_date,
       spot_price,
       gex_net,
       gex_net - lag(gex_net) OVER (ORDER BY trade_date) AS gex_net_change,
       gamma_flip,
       round(spot_price / gamma_flip - 1, 4) AS spot_vs_flip,
       call_walls[1]['strike'] AS call_wall,
       put_walls[1]['strike'] AS put_wall,
       net_dex,
       position,
       status,
       contracts_analyzed
FROM dealer_metrics
WHERE params = $params AND ticker = $ticker AND trade_date BETWEEN $from AND $to
ORDER BY trade_date;
