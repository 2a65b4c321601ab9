-- Top net GEX: the tickers with the largest positive net gamma exposure on one
-- date (dealers long gamma: moves damped, pinning likely), with their flip and
-- walls. Order by gex_net ASC for the most negative (moves amplified).
--
--   gexlake sql -f queries/examples/top_net_gex.sql --param date=2026-02-05 --param params=a3 --param n=20
SELECT ticker,
       gex_net,
       gex_total,
       round(gex_net / gex_total, 3) AS net_to_gross,
       spot_price,
       gamma_flip,
       call_walls[1]['strike'] AS call_wall,
       put_walls[1]['strike'] AS put_wall,
       position,
       status
FROM dealer_metrics
WHERE params = $params AND trade_date = $date AND gex_net IS NOT NULL
ORDER BY gex_net DESC, ticker
LIMIT $n;
