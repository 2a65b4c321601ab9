-- IV rank leaders: the day's symbols with the highest IV rank in orats_daily
-- (V1's symbol-level table), with their 30-day historical volatility, the
-- IV/HV ratio (decimal IV over percent HV, as V1 computes it) and volume
-- against its 60-row average. Symbols under a volume floor are left out, as
-- V1's scanners do; symbols without a rank yet (under 36 days of history)
-- come last.
--
--   gexlake sql -f queries/examples/iv_rank_leaders.sql --param date=2026-02-05 --param min_volume=1000 --param n=20
SELECT symbol,
       stock_price,
       iv_30day,
       iv_rank,
       hv_30day,
       iv_hv_ratio,
       total_volume,
       volume_ema_60d,
       volume_trend_pct,
       put_call_volume_skew
FROM orats_daily
WHERE trade_date = $date AND avg_daily_volume >= $min_volume
ORDER BY iv_rank DESC NULLS LAST, symbol
LIMIT $n;
