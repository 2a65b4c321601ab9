//! DataFusion UDFs for dealer gamma-exposure metrics and the `orats_daily` history.
//!
//! | function | result |
//! | --- | --- |
//! | `exact_sum(x)` | correctly rounded, order-independent sum |
//! | `count_codes(n, code)` | how many times each code `1..=n` occurs |
//! | `gamma_flip(strike, net_gex)` | strike where cumulative net gamma changes sign |
//! | `top_walls(strike, open_interest, volume, n)` | the `n` strikes with most open interest |
//! | `gex_slope(strike, net_gex, spot, window_pct)` | net gamma slope across spot |
//! | `log_return_stddev(at, price)` | sample stddev of consecutive log returns (window-ready) |
//! | `pg_round(x, places)` (scalar) | `x` rounded as PostgreSQL's `NUMERIC(p, places)` holds it |
//! | `moving_count`, `moving_avg`, `moving_stddev`, `moving_min`, `moving_max`, `moving_log_return_stddev` (window, `f(x) OVER w`) | the statistic of the window frame's rows, computed from the frame in place |
//!
//! Every aggregate returns the same bits whatever the input order and however
//! DataFusion splits the work into partial and final stages. Each module
//! holds the maths as a plain function, its UDAF, and a shared `*_udaf()`
//! instance; [`register_all`] adds them all to a session:
//!
//! ```
//! use datafusion::prelude::SessionContext;
//!
//! let mut ctx = SessionContext::new();
//! let replaced = gexlake_udfs::register_all(&mut ctx)?;
//! assert!(replaced.is_empty());
//! # Ok::<(), datafusion::error::DataFusionError>(())
//! ```

mod common;
pub mod count_codes;
pub mod exact_sum;
pub mod gamma_flip;
pub mod gex_slope;
pub mod log_return_stddev;
pub mod moving;
pub mod pg_round;
mod strikes;
pub mod top_walls;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::logical_expr::registry::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};

/// All aggregate UDFs of this crate.
pub fn functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        exact_sum::exact_sum_udaf(),
        count_codes::count_codes_udaf(),
        gamma_flip::gamma_flip_udaf(),
        top_walls::top_walls_udaf(),
        gex_slope::gex_slope_udaf(),
        log_return_stddev::log_return_stddev_udaf(),
    ]
}

/// All scalar UDFs of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![pg_round::pg_round_udf()]
}

/// All window UDFs of this crate.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    moving::moving_udwfs()
}

/// Registers every function of [`functions`], [`scalar_functions`] and
/// [`window_functions`] with
/// `registry` (for example a `SessionContext` or `SessionState`).
///
/// Returns the names of the functions that were already registered and have
/// been replaced, so that the caller can decide whether to warn: empty for a
/// fresh session, every name when called twice.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<Vec<String>> {
    let mut replaced = Vec::new();
    for udaf in functions() {
        if let Some(previous) = registry.register_udaf(udaf)? {
            replaced.push(previous.name().to_string());
        }
    }
    for udf in scalar_functions() {
        if let Some(previous) = registry.register_udf(udf)? {
            replaced.push(previous.name().to_string());
        }
    }
    for udwf in window_functions() {
        if let Some(previous) = registry.register_udwf(udwf)? {
            replaced.push(previous.name().to_string());
        }
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[test]
    fn names_do_not_collide_with_built_in_functions() {
        let ctx = SessionContext::new();
        let state = ctx.state();
        for udaf in functions() {
            let name = udaf.name();
            assert!(!state.aggregate_functions().contains_key(name), "{name}");
            assert!(!state.scalar_functions().contains_key(name), "{name}");
            assert!(!state.window_functions().contains_key(name), "{name}");
            for alias in udaf.aliases() {
                assert!(!state.aggregate_functions().contains_key(alias), "{alias}");
            }
        }
        let scalar = scalar_functions().into_iter().map(|f| f.name().to_string());
        let window = window_functions().into_iter().map(|f| f.name().to_string());
        for name in scalar.chain(window) {
            assert!(!state.aggregate_functions().contains_key(&name), "{name}");
            assert!(!state.scalar_functions().contains_key(&name), "{name}");
            assert!(!state.window_functions().contains_key(&name), "{name}");
        }
    }

    #[test]
    fn register_all_reports_replacements() {
        let mut ctx = SessionContext::new();
        assert_eq!(register_all(&mut ctx).unwrap(), Vec::<String>::new());
        let mut again = register_all(&mut ctx).unwrap();
        again.sort();
        assert_eq!(
            again,
            [
                "count_codes",
                "exact_sum",
                "gamma_flip",
                "gex_slope",
                "log_return_stddev",
                "moving_avg",
                "moving_count",
                "moving_log_return_stddev",
                "moving_max",
                "moving_min",
                "moving_stddev",
                "pg_round",
                "top_walls"
            ]
        );
        assert!(ctx.udaf("gamma_flip").is_ok());
    }
}
