//! The V2 handoff's queries on `gex_metrics_snapshot`, verbatim.

/// Sanity check 1: rows per snapshot, newest five snapshots.
pub const SANITY_ROWS_PER_SNAPSHOT: &str = "SELECT COUNT(*), snapshot_ts FROM gex_metrics_snapshot GROUP BY snapshot_ts ORDER BY snapshot_ts DESC LIMIT 5;";

/// Sanity check 2: the major tickers on the latest snapshot.
pub const SANITY_SPOT_CHECK: &str = "SELECT symbol, net_gex, net_dex, call_wall_strike, put_wall_strike, gamma_flip_level, contracts_analyzed
FROM gex_metrics_snapshot
WHERE symbol IN ('AAPL', 'TSLA', 'SPY', 'NVDA', 'META')
  AND snapshot_ts = (SELECT MAX(snapshot_ts) FROM gex_metrics_snapshot);";

/// Sanity check 3: how many symbols of the latest snapshot have GEX and a flip.
pub const SANITY_DISTRIBUTION: &str = "SELECT
    COUNT(*) as total,
    COUNT(*) FILTER (WHERE net_gex != 0) as nonzero_gex,
    COUNT(*) FILTER (WHERE gamma_flip_level IS NOT NULL) as has_flip,
    AVG(contracts_analyzed) as avg_contracts
FROM gex_metrics_snapshot
WHERE snapshot_ts = (SELECT MAX(snapshot_ts) FROM gex_metrics_snapshot);";

/// The shadow-scoring lookup: the latest row for one symbol (`$1`).
pub const SHADOW_LOOKUP: &str = "SELECT net_gex, net_dex, call_wall_strike, put_wall_strike,
           gamma_flip_level, spot_price, contracts_analyzed
    FROM gex_metrics_snapshot
    WHERE symbol = $1
    ORDER BY snapshot_ts DESC LIMIT 1";
