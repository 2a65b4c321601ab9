-- Compare parameter sets: two dealer_metrics runs of one date side by side
-- (e.g. the A3 defaults against the V2 handoff's rules), ordered by how much
-- net GEX moves between them; tickers present in only one run are kept.
--
--   gexlake sql -f queries/examples/compare_params.sql --param date=2026-02-05 --param a=a3 --param b=v2
WITH a AS (SELECT * FROM dealer_metrics WHERE params = $a AND trade_date = $date),
     b AS (SELECT * FROM dealer_metrics WHERE params = $b AND trade_date = $date)
SELECT coalesce(a.ticker, b.ticker) AS ticker,
       a.gex_net AS gex_net_a,
       b.gex_net AS gex_net_b,
       b.gex_net - a.gex_net AS gex_net_diff,
       a.gamma_flip AS flip_a,
       b.gamma_flip AS flip_b,
       a.call_walls[1]['strike'] AS call_wall_a,
       b.call_walls[1]['strike'] AS call_wall_b,
       a.put_walls[1]['strike'] AS put_wall_a,
       b.put_walls[1]['strike'] AS put_wall_b,
       a.contracts_analyzed AS contracts_a,
       b.contracts_analyzed AS contracts_b,
       a.position AS position_a,
       b.position AS position_b
FROM a FULL OUTER JOIN b ON a.ticker = b.ticker
ORDER BY abs(coalesce(b.gex_net, 0) - coalesce(a.gex_net, 0)) DESC, ticker;
