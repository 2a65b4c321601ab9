//! The result types of the dealer-metrics stage: one [`DealerMetrics`] per
//! (ticker, trade_date, parameter set), exactly the fields of METRICS.md §7.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::params::MetricsParams;

/// One wall: a strike and the open interest and volume summed over its expiries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wall {
    /// The strike price.
    pub strike: f64,
    /// Open interest at the strike, summed over expiries (one side).
    pub open_interest: i64,
    /// Volume at the strike, summed over expiries (same side).
    pub volume: i64,
}

/// Rejected legs counted under the first rule each fails (METRICS.md §3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterStats {
    /// All legs considered (2 × rows).
    pub total: i64,
    /// `dte < 0` with `exclude_expired`.
    pub expired: i64,
    /// `dte > max_dte_days`.
    pub dte_exceeded: i64,
    /// Gamma null, NaN or infinite (with `missing_gamma = reject`).
    pub missing_gamma: i64,
    /// Rows not counted under `leg_spot = row`: no own spot, or a strike ≤ 0
    /// (METRICS.md §10; always 0 under the §1–9 rules).
    pub uncounted_row: i64,
    /// `oi < max(1, min_open_interest)`.
    pub low_open_interest: i64,
    /// `volume < min_volume`.
    pub low_volume: i64,
}

/// Dealer metrics of one ticker on one trade date under one parameter set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealerMetrics {
    /// Underlying symbol.
    pub ticker: String,
    /// ORATS trade date.
    pub trade_date: NaiveDate,
    /// Name of the parameter set (`a3`, `v2`, or `<profile>-<hash8>`).
    pub params_name: String,
    /// Stable hash of the effective parameters (hex SHA-256).
    pub params_hash: String,
    /// The effective parameters.
    pub params: MetricsParams,
    /// `FULL`, `LIMITED` or `INVALID`.
    pub status: String,
    /// The rule that decided `status`.
    pub status_reason: String,
    /// Why the result is not `FULL`; null when it is.
    pub failure_reason: Option<String>,
    /// The spot price used, if any.
    pub spot_price: Option<f64>,
    /// `override`, `stkPx` or `spot_px`; null without a spot.
    pub spot_price_source: Option<String>,
    /// trade_date 16:00 America/New_York.
    pub snapshot_ts: DateTime<Utc>,
    /// Eligible legs.
    pub eligible_options_count: i64,
    /// 2 × rows for the ticker and date.
    pub total_options_count: i64,
    /// Eligible legs, or counted rows under `contracts_rule = rows` (METRICS.md §10).
    pub contracts_analyzed: i64,
    /// Σ_K |net_K|.
    pub gex_total: Option<f64>,
    /// Σ_K net_K.
    pub gex_net: Option<f64>,
    /// Σ g over eligible call legs.
    pub gex_call: Option<f64>,
    /// Σ g over eligible put legs (≤ 0).
    pub gex_put: Option<f64>,
    /// Σ delta-exposure over eligible legs (shares).
    pub net_dex: Option<f64>,
    /// Interpolated zero crossing of cumulative strike GEX.
    pub gamma_flip: Option<f64>,
    /// Top call strikes by open interest.
    pub call_walls: Vec<Wall>,
    /// Top put strikes by open interest.
    pub put_walls: Vec<Wall>,
    /// `call_walls[0].strike`.
    pub call_wall_strike: Option<f64>,
    /// `put_walls[0].strike`.
    pub put_wall_strike: Option<f64>,
    /// GEX slope in the window around spot.
    pub gex_slope: Option<f64>,
    /// Dealer Gamma Pressure Index in [-100, 100].
    pub dgpi: Option<f64>,
    /// IV rank (always null in model_version 1).
    pub iv_rank: Option<f64>,
    /// `long_gamma`, `short_gamma`, `neutral` or `unknown`.
    pub position: String,
    /// `high`, `medium` or `invalid` (`low` is reserved).
    pub confidence: String,
    /// Per-rule counts of rejected legs.
    pub filter_stats: FilterStats,
    /// Diagnostic codes, in the order METRICS.md §6 lists them.
    pub diagnostics: Vec<String>,
    /// Metrics model version: 1 under the rules of METRICS.md §1–9, 2 under §10's.
    pub model_version: i32,
}
