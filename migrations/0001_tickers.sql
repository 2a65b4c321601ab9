-- Symbols shared by every pipeline. Production databases already have this table (owned by
-- the ingest pipelines), so nothing here replaces or narrows what exists.
CREATE TABLE IF NOT EXISTS tickers (
    id         BIGSERIAL PRIMARY KEY,
    symbol     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT uq_tickers_symbol UNIQUE (symbol)
);

-- The sink registers unknown symbols with INSERT … ON CONFLICT (symbol), which needs a unique
-- index on symbol alone. An existing table without one gets uq_tickers_symbol. If it already
-- holds duplicate symbols the migration stops: other tables reference those ids, so choosing
-- a survivor is a decision for the table's owners, not for this migration.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = 'tickers'::regclass
          AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indnkeyatts = 1 AND a.attname = 'symbol'
    ) THEN
        IF EXISTS (SELECT 1 FROM tickers GROUP BY symbol HAVING count(*) > 1) THEN
            RAISE EXCEPTION 'tickers holds duplicate symbols: merge them, then migrate again';
        END IF;
        ALTER TABLE tickers ADD CONSTRAINT uq_tickers_symbol UNIQUE (symbol);
    END IF;
END
$$;
