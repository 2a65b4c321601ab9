//! Dealer metrics (METRICS.md): parameters, the SQL engine over the lake, the
//! result model, the JSON payload and the writing of results to the lake.

pub mod engine;
pub mod json;
pub mod model;
pub mod params;
pub mod rows;
pub mod writer;

pub use json::dealer_metrics_json;
pub use model::{DealerMetrics, FilterStats, Wall};
pub use params::{
    ContractsRule, FlipRule, LegSpot, MetricsParams, MissingGamma, Profile, SpotRule, StrikeRange,
    WallRule,
};
