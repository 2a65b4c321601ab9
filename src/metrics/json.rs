//! The A3 `dealer_metrics_json` payload (METRICS.md §7).

use serde_json::{Value, json};

use super::model::DealerMetrics;

/// Builds the `daily_snapshots.dealer_metrics_json` document for one result.
///
/// Every key is always present; missing values are JSON `null`, never omitted.
pub fn dealer_metrics_json(m: &DealerMetrics) -> Value {
    let p = &m.params;
    json!({
        "status": m.status,
        "failure_reason": m.failure_reason,
        "spot_price": m.spot_price,
        "spot_price_source": m.spot_price_source,
        "eligible_options_count": m.eligible_options_count,
        "total_options_count": m.total_options_count,
        "gex_total": m.gex_total,
        "gex_net": m.gex_net,
        "gex_call": m.gex_call,
        "gex_put": m.gex_put,
        "net_dex": m.net_dex,
        "gamma_flip": m.gamma_flip,
        "call_walls": m.call_walls,
        "put_walls": m.put_walls,
        "gex_slope": m.gex_slope,
        "dgpi": m.dgpi,
        "position": m.position,
        "confidence": m.confidence,
        "model_version": m.model_version,
        "metadata": {
            "ticker": m.ticker,
            "trade_date": m.trade_date.to_string(),
            "snapshot_ts": m.snapshot_ts.to_rfc3339(),
            "status_reason": m.status_reason,
            "contracts_analyzed": m.eligible_options_count,
            "call_wall_strike": m.call_wall_strike,
            "put_wall_strike": m.put_wall_strike,
            "iv_rank": m.iv_rank,
            "params_name": m.params_name,
            "params_hash": m.params_hash,
            "filters": {
                "profile": p.profile.name(),
                "exclude_expired": p.exclude_expired,
                "max_dte_days": p.max_dte_days,
                "min_open_interest": p.min_open_interest,
                "min_volume": p.min_volume,
                "walls_top_n": p.walls_top_n,
                "gex_slope_range_pct": p.gex_slope_range_pct,
                "contract_multiplier": p.contract_multiplier,
                "neutral_threshold": p.neutral_threshold,
                "spot_override": p.spot_override_for(&m.ticker),
            },
            "filter_stats": m.filter_stats,
            "diagnostics": m.diagnostics,
        },
    })
}
