-- One row per (time, ticker); other pipelines own the other columns of this table, so an
-- existing table only gains the sink's columns if they are missing.
CREATE TABLE IF NOT EXISTS daily_snapshots (
    time                TIMESTAMPTZ NOT NULL,
    ticker_id           BIGINT NOT NULL REFERENCES tickers (id),
    dealer_metrics_json JSONB,
    model_version       INTEGER,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (time, ticker_id)
);

ALTER TABLE daily_snapshots
    ADD COLUMN IF NOT EXISTS dealer_metrics_json JSONB,
    ADD COLUMN IF NOT EXISTS model_version INTEGER,
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- The sink upserts with ON CONFLICT (time, ticker_id): any unique index on exactly those two
-- columns serves. A table without one gets daily_snapshots_time_ticker_id_key; duplicates
-- stop the migration because the rows carry other pipelines' data that must not be dropped.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_index i
        WHERE i.indrelid = 'daily_snapshots'::regclass
          AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indnkeyatts = 2
          AND ARRAY(
                SELECT a.attname::text
                FROM pg_attribute a
                WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                ORDER BY 1
              ) = ARRAY['ticker_id', 'time']
    ) THEN
        IF EXISTS (
            SELECT 1 FROM daily_snapshots GROUP BY time, ticker_id HAVING count(*) > 1
        ) THEN
            RAISE EXCEPTION 'daily_snapshots holds several rows per (time, ticker_id): merge them, then migrate again';
        END IF;
        ALTER TABLE daily_snapshots
            ADD CONSTRAINT daily_snapshots_time_ticker_id_key UNIQUE (time, ticker_id);
    END IF;
END
$$;
