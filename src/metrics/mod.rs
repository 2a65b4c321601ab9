//! Dealer metrics (METRICS.md): parameters, the SQL engine over the lake, the
//! result model and the JSON payload.

pub mod engine;
pub mod json;
pub mod model;
pub mod params;
pub mod rows;

pub use json::dealer_metrics_json;
pub use model::{DealerMetrics, FilterStats, MODEL_VERSION, Wall};
pub use params::{MetricsParams, Profile};
