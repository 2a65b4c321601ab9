//! Dealer metrics (METRICS.md): parameters, the SQL engine over the lake, the
//! result model and the JSON payload.

pub mod engine;
pub mod json;
pub mod model;
pub mod params;
pub mod rows;

pub use json::dealer_metrics_json;
pub use model::{DealerMetrics, FilterStats, Wall};
pub use params::{
    ContractsRule, FlipRule, LegSpot, MetricsParams, MissingGamma, Profile, SpotRule, StrikeRange,
    WallRule,
};
