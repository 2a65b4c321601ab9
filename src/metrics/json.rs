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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{FilterStats, MODEL_VERSION, Profile, Wall};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn invalid_row() -> DealerMetrics {
        DealerMetrics {
            ticker: "NOSPOT".into(),
            trade_date: NaiveDate::from_ymd_opt(2024, 1, 3).unwrap(),
            params_name: "a3".into(),
            params_hash: Profile::A3.params().hash(),
            params: Profile::A3.params(),
            status: "INVALID".into(),
            status_reason: "missing_spot_price".into(),
            failure_reason: Some("missing_spot_price".into()),
            spot_price: None,
            spot_price_source: None,
            snapshot_ts: Utc.with_ymd_and_hms(2024, 1, 3, 21, 0, 0).unwrap(),
            eligible_options_count: 0,
            total_options_count: 4,
            gex_total: None,
            gex_net: None,
            gex_call: None,
            gex_put: None,
            net_dex: None,
            gamma_flip: None,
            call_walls: vec![],
            put_walls: vec![Wall {
                strike: 95.0,
                open_interest: 500,
                volume: 5,
            }],
            call_wall_strike: None,
            put_wall_strike: Some(95.0),
            gex_slope: None,
            dgpi: None,
            iv_rank: None,
            position: "unknown".into(),
            confidence: "invalid".into(),
            filter_stats: FilterStats {
                total: 4,
                ..Default::default()
            },
            diagnostics: vec!["missing_spot_price".into()],
            model_version: MODEL_VERSION,
        }
    }

    #[test]
    fn every_a3_key_is_present_and_nulls_are_written() {
        let v = dealer_metrics_json(&invalid_row());
        let keys = [
            "status",
            "failure_reason",
            "spot_price",
            "spot_price_source",
            "eligible_options_count",
            "total_options_count",
            "gex_total",
            "gex_net",
            "gamma_flip",
            "call_walls",
            "put_walls",
            "gex_slope",
            "dgpi",
            "position",
            "confidence",
            "metadata",
            "net_dex",
            "gex_call",
            "gex_put",
            "model_version",
        ];
        let object = v.as_object().unwrap();
        for key in keys {
            assert!(object.contains_key(key), "missing {key}");
        }
        assert!(v["gex_net"].is_null() && v["gamma_flip"].is_null() && v["spot_price"].is_null());
        assert_eq!(v["status"], "INVALID");
        assert_eq!(v["put_walls"][0]["open_interest"], 500);
        assert_eq!(v["call_walls"], serde_json::json!([]));
        let meta = &v["metadata"];
        assert_eq!(meta["filters"]["min_open_interest"], 100);
        assert!(meta["filters"]["max_dte_days"].is_number());
        assert_eq!(meta["filter_stats"]["total"], 4);
        assert_eq!(meta["diagnostics"][0], "missing_spot_price");
        assert_eq!(meta["snapshot_ts"], "2024-01-03T21:00:00+00:00");
    }
}
