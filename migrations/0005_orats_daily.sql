-- orats_daily: one row per (asof_date, symbol), the V1 job's symbol-level table (contract:
-- ORATS_DAILY.md §2–4). Production already has it, written by V1 with columns of its own, so
-- nothing here replaces, narrows or retypes what exists: a V1 table only gains the columns it
-- lacks, and its own types win (the upsert binds float8 and lets the column type cast).
--
-- Rounded columns are NUMERIC(p, N): a float8 → numeric(p, N) cast is exactly the contract's
-- rounding (15 significant digits, then half away from zero to N places). p is as tight as the
-- contract's bounds allow, so a value the computation should never produce (outside its clamp)
-- is refused and reported instead of stored; unbounded columns get room to spare:
--   iv_rank, iv_rank_ema_*            (5, 2)  0 … 100
--   hv_30day                          (12, 2) unbounded; even prices jumping ×10^10 and back
--                                             every day give only ≈ 37,000
--   volume_zscore                     (4, 3)  ±3
--   iv_rank_zscore, *_trend_pct       (6, 3)  ±999.999
--   iv_30d_zscore, open_interest_zscore (5, 3) ±99.999
--   iv_hv_ratio                       (16, 4) unbounded: decimal IV / percent HV ≥ 0.01
--   hv_slope                          (14, 4) |avg − avg| of hv_30day values, below hv's 10^10
--   volume_accel                      (8, 4)  ±9999.9999
--   price_momentum_20d                (8, 4)  −1 … 19 (the price is one of the 20 it is
--                                             averaged with, all positive), room left
--   put_call_volume_skew, _oi_skew    (5, 4)  −1 … 1 (volumes and OI are never negative)
--   volume_price_interaction          (8, 4)  ±3 × (−1 … 19) = ±57
CREATE TABLE IF NOT EXISTS orats_daily (
    asof_date                DATE NOT NULL,
    symbol                   TEXT NOT NULL,
    call_volume              BIGINT,
    put_volume               BIGINT,
    call_open_interest       BIGINT,
    put_open_interest        BIGINT,
    total_volume             BIGINT,
    total_open_interest      BIGINT,
    avg_daily_volume         BIGINT,
    iv_30day                 DOUBLE PRECISION,
    stock_price              DOUBLE PRECISION,
    avg_daily_premium        BIGINT,
    delta_call_oi            BIGINT,
    delta_put_oi             BIGINT,
    iv_rank                  NUMERIC(5, 2),
    hv_30day                 NUMERIC(12, 2),
    volume_ema_7d            BIGINT,
    volume_ema_30d           BIGINT,
    volume_ema_60d           BIGINT,
    iv_rank_ema_7d           NUMERIC(5, 2),
    iv_rank_ema_30d          NUMERIC(5, 2),
    iv_rank_ema_60d          NUMERIC(5, 2),
    volume_zscore            NUMERIC(4, 3),
    iv_rank_zscore           NUMERIC(6, 3),
    volume_trend_pct         NUMERIC(6, 3),
    iv_rank_trend_pct        NUMERIC(6, 3),
    iv_hv_ratio              NUMERIC(16, 4),
    hv_slope                 NUMERIC(14, 4),
    iv_30d_zscore            NUMERIC(5, 3),
    open_interest_zscore     NUMERIC(5, 3),
    volume_accel             NUMERIC(8, 4),
    premium_flow             BIGINT,
    price_momentum_20d       NUMERIC(8, 4),
    vol_regime               SMALLINT,
    put_call_volume_skew     NUMERIC(5, 4),
    put_call_oi_skew         NUMERIC(5, 4),
    volume_price_interaction NUMERIC(8, 4),
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (asof_date, symbol)
);

-- The key columns are added without NOT NULL: a table that lacked them has rows without them.
ALTER TABLE orats_daily
    ADD COLUMN IF NOT EXISTS asof_date                DATE,
    ADD COLUMN IF NOT EXISTS symbol                   TEXT,
    ADD COLUMN IF NOT EXISTS call_volume              BIGINT,
    ADD COLUMN IF NOT EXISTS put_volume               BIGINT,
    ADD COLUMN IF NOT EXISTS call_open_interest       BIGINT,
    ADD COLUMN IF NOT EXISTS put_open_interest        BIGINT,
    ADD COLUMN IF NOT EXISTS total_volume             BIGINT,
    ADD COLUMN IF NOT EXISTS total_open_interest      BIGINT,
    ADD COLUMN IF NOT EXISTS avg_daily_volume         BIGINT,
    ADD COLUMN IF NOT EXISTS iv_30day                 DOUBLE PRECISION,
    ADD COLUMN IF NOT EXISTS stock_price              DOUBLE PRECISION,
    ADD COLUMN IF NOT EXISTS avg_daily_premium        BIGINT,
    ADD COLUMN IF NOT EXISTS delta_call_oi            BIGINT,
    ADD COLUMN IF NOT EXISTS delta_put_oi             BIGINT,
    ADD COLUMN IF NOT EXISTS iv_rank                  NUMERIC(5, 2),
    ADD COLUMN IF NOT EXISTS hv_30day                 NUMERIC(12, 2),
    ADD COLUMN IF NOT EXISTS volume_ema_7d            BIGINT,
    ADD COLUMN IF NOT EXISTS volume_ema_30d           BIGINT,
    ADD COLUMN IF NOT EXISTS volume_ema_60d           BIGINT,
    ADD COLUMN IF NOT EXISTS iv_rank_ema_7d           NUMERIC(5, 2),
    ADD COLUMN IF NOT EXISTS iv_rank_ema_30d          NUMERIC(5, 2),
    ADD COLUMN IF NOT EXISTS iv_rank_ema_60d          NUMERIC(5, 2),
    ADD COLUMN IF NOT EXISTS volume_zscore            NUMERIC(4, 3),
    ADD COLUMN IF NOT EXISTS iv_rank_zscore           NUMERIC(6, 3),
    ADD COLUMN IF NOT EXISTS volume_trend_pct         NUMERIC(6, 3),
    ADD COLUMN IF NOT EXISTS iv_rank_trend_pct        NUMERIC(6, 3),
    ADD COLUMN IF NOT EXISTS iv_hv_ratio              NUMERIC(16, 4),
    ADD COLUMN IF NOT EXISTS hv_slope                 NUMERIC(14, 4),
    ADD COLUMN IF NOT EXISTS iv_30d_zscore            NUMERIC(5, 3),
    ADD COLUMN IF NOT EXISTS open_interest_zscore     NUMERIC(5, 3),
    ADD COLUMN IF NOT EXISTS volume_accel             NUMERIC(8, 4),
    ADD COLUMN IF NOT EXISTS premium_flow             BIGINT,
    ADD COLUMN IF NOT EXISTS price_momentum_20d       NUMERIC(8, 4),
    ADD COLUMN IF NOT EXISTS vol_regime               SMALLINT,
    ADD COLUMN IF NOT EXISTS put_call_volume_skew     NUMERIC(5, 4),
    ADD COLUMN IF NOT EXISTS put_call_oi_skew         NUMERIC(5, 4),
    ADD COLUMN IF NOT EXISTS volume_price_interaction NUMERIC(8, 4),
    ADD COLUMN IF NOT EXISTS updated_at               TIMESTAMPTZ NOT NULL DEFAULT now();

-- The sink upserts with ON CONFLICT (asof_date, symbol): any unique index on exactly those two
-- columns serves (V1's own, whatever its name; not a deferrable one, which ON CONFLICT refuses
-- as an arbiter). A table without one gets
-- orats_daily_asof_date_symbol_key. Duplicates stop the migration: their rows may carry V1
-- columns nothing here can recompute, so choosing a survivor is for the table's owners.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_index i
        WHERE i.indrelid = 'orats_daily'::regclass
          AND i.indisunique AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indnkeyatts = 2
          AND ARRAY(
                SELECT a.attname::text
                FROM pg_attribute a
                WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                ORDER BY 1
              ) = ARRAY['asof_date', 'symbol']
    ) THEN
        IF EXISTS (
            SELECT 1 FROM orats_daily GROUP BY asof_date, symbol HAVING count(*) > 1
        ) THEN
            RAISE EXCEPTION 'orats_daily holds several rows per (asof_date, symbol): merge them, then migrate again';
        END IF;
        ALTER TABLE orats_daily
            ADD CONSTRAINT orats_daily_asof_date_symbol_key UNIQUE (asof_date, symbol);
    END IF;
END
$$;
