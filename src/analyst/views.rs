//! The `strike_gex` view: per (ticker, trade_date, strike), the exposure the
//! metrics pipeline computes under one parameter set.
//!
//! The view is built from the pipeline's own stage files
//! (`queries/metrics/00_scan.sql` … `04_strike_gex.sql`), bound to the
//! parameters, so its numbers are the ones behind `dealer_metrics`: Σ `net_gex`
//! over a ticker's strikes is its `gex_net`, and the pipeline's UDAFs over its
//! rows give the same flip and walls.

use chrono::NaiveDate;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::SessionContext;

use crate::metrics::MetricsParams;
use crate::metrics::engine;

/// The name of the view.
pub const STRIKE_GEX: &str = "strike_gex";

/// The pipeline stages the view is made of, in order, each a CTE: the
/// pipeline's own stage files from `scan` through `strike_gex`.
fn stages() -> &'static [(&'static str, &'static str)] {
    &engine::STAGES[..5]
}

/// The view's SQL: the stages, then one row per strike with an eligible leg
/// (strikes whose every leg was filtered out carry no exposure and would only
/// add NULL rows), with the spot the exposures were computed at.
fn view_sql(params_name: &str) -> String {
    format!(
        "WITH {}\n\
         SELECT k.ticker, k.trade_date, k.strike,\n\
                {params} AS params,\n\
                s.spot, s.spot_source,\n\
                k.net_gex, k.call_gex, k.put_gex, k.net_dex,\n\
                k.call_oi, k.put_oi, k.call_volume, k.put_volume,\n\
                k.eligible_legs\n\
         FROM strike_gex k\n\
         JOIN spot s ON s.ticker = k.ticker AND s.trade_date = k.trade_date\n\
         WHERE k.eligible_legs > 0",
        engine::ctes(stages()),
        params = sql_string(params_name),
    )
}

/// `text` as a SQL string literal.
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The widest dates Arrow's Date32 prints: 0001-01-01 and 9999-12-31.
fn all_dates() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(1, 1, 1).expect("a valid date"),
        NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date"),
    )
}

/// Registers `strike_gex` in `ctx` (which must have `strikes`) under `params`.
///
/// The stage files read two helper tables (`watchlist`, `spot_overrides`);
/// the view is planned in a private context that has them, so the analyst's
/// namespace holds only the view. The plan keeps its own reference to the
/// `strikes` table, and DataFusion inlines the view into each query, so
/// filters on `trade_date` still prune partitions.
pub async fn register_strike_gex(ctx: &SessionContext, params: &MetricsParams) -> Result<()> {
    let mut planner = SessionContext::new_with_config(ctx.copied_config());
    gexlake_udfs::register_all(&mut planner as &mut dyn FunctionRegistry)?;
    planner.register_table("strikes", ctx.table_provider("strikes").await?)?;
    // No run dates and an empty watchlist: `all_tickers` is bound true.
    engine::register_run_tables(&planner, params, &[], None)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    // Every date and ticker; a query's own `trade_date` and `ticker` filters narrow it.
    let (first, last) = all_dates();
    let view = planner
        .sql(&view_sql(&params.name()))
        .await?
        .with_param_values(engine::bindings(params, first, last, true))?;
    ctx.deregister_table(STRIKE_GEX)?;
    ctx.register_table(STRIKE_GEX, view.into_view())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_sql_has_every_stage_and_quotes_the_name() {
        let sql = view_sql("a3-0'1");
        let names: Vec<&str> = stages().iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["scan", "rows", "spot", "legs", STRIKE_GEX]);
        for (name, _) in stages() {
            assert!(sql.contains(&format!("{name} AS (")), "{name}");
        }
        assert!(sql.contains("'a3-0''1' AS params"), "{sql}");
    }

    #[test]
    fn date_bounds_are_the_extremes_arrow_prints() {
        let (first, last) = all_dates();
        let bounds = engine::bindings(&crate::metrics::Profile::A3.params(), first, last, true);
        assert_eq!(bounds[0].1.to_string(), "0001-01-01");
        assert_eq!(bounds[1].1.to_string(), "9999-12-31");
    }
}
