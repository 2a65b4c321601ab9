-- The V2 handoff's table, column for column. Production already has it (without the unique
-- constraint), hence IF NOT EXISTS everywhere.
CREATE TABLE IF NOT EXISTS gex_metrics_snapshot (
    id                 SERIAL PRIMARY KEY,
    symbol             TEXT NOT NULL,
    snapshot_ts        TIMESTAMPTZ NOT NULL,
    spot_price         NUMERIC,
    net_gex            NUMERIC,
    net_dex            NUMERIC,
    call_wall_strike   NUMERIC,
    put_wall_strike    NUMERIC,
    gamma_flip_level   NUMERIC,
    net_vex            NUMERIC,
    net_charm          NUMERIC,
    contracts_analyzed INTEGER,
    created_at         TIMESTAMPTZ DEFAULT now()
);

-- Redundant beside uq_gex_symbol_ts's own index, but production has it and the handoff lists
-- it; dropping an index other readers may name in hints is not this migration's call.
CREATE INDEX IF NOT EXISTS idx_gex_symbol_ts ON gex_metrics_snapshot (symbol, snapshot_ts);

-- uq_gex_symbol_ts makes the upsert idempotent. Rows written before it existed may repeat a
-- (symbol, snapshot_ts): only the newest of each (highest id) is kept. That is the row a
-- last-write-wins upsert would have left, and every row here is derived data the sink can
-- recompute from the lake, so nothing unrecoverable is lost. The count is raised as a NOTICE.
DO $$
DECLARE
    removed bigint;
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_constraint
        WHERE conrelid = 'gex_metrics_snapshot'::regclass AND conname = 'uq_gex_symbol_ts'
    ) THEN
        DELETE FROM gex_metrics_snapshot older
        USING gex_metrics_snapshot newer
        WHERE newer.symbol = older.symbol
          AND newer.snapshot_ts = older.snapshot_ts
          AND newer.id > older.id;
        GET DIAGNOSTICS removed = ROW_COUNT;
        IF removed > 0 THEN
            RAISE NOTICE 'gex_metrics_snapshot: removed % older duplicate rows before adding uq_gex_symbol_ts',
                removed;
        END IF;
        ALTER TABLE gex_metrics_snapshot
            ADD CONSTRAINT uq_gex_symbol_ts UNIQUE (symbol, snapshot_ts);
    END IF;
END
$$;
