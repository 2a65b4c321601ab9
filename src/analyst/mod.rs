//! Analysts' access to the lake: `gexlake sql`, `plot` and `check`.
//!
//! Every command works on one DataFusion session over the lake ([`session_with`]):
//! `strikes` (the ORATS rows, `trade_date` partitions), `dealer_metrics` (every
//! parameter set, `params` and `trade_date` partitions) and the `strike_gex`
//! view (per strike GEX under one parameter set, [`views`]), with the gexlake
//! UDAFs registered.

pub mod check;
pub mod plot;
pub mod shell;
pub mod sql;
pub mod table;
pub mod views;

use anyhow::Result;
use datafusion::prelude::SessionContext;

use crate::cluster::Cluster;
use crate::metrics::engine::{Engine, lake_dates, lake_session, register_dealer_metrics};
use crate::metrics::{MetricsParams, Profile};
use crate::outcome::Outcome;
use crate::store::Location;
use sql::{Output, Param, RunError};

/// A DataFusion session with `strikes`, `dealer_metrics` and `orats_daily`
/// (when present) and `strike_gex` under profile a3.
pub async fn session(lake: &Location, engine: impl Into<Engine>) -> Result<SessionContext> {
    session_with(lake, engine, &Profile::A3.params()).await
}

/// A DataFusion session with `strikes`, `dealer_metrics` and `orats_daily`
/// (when present) and `strike_gex` under `params`.
pub async fn session_with(
    lake: &Location,
    engine: impl Into<Engine>,
    params: &MetricsParams,
) -> Result<SessionContext> {
    let ctx = lake_session(lake, engine).await?;
    register_dealer_metrics(&ctx, lake).await?;
    crate::daily::register_table(&ctx, lake).await?;
    views::register_strike_gex(&ctx, params).await?;
    for setting in [
        // Planning errors then carry the position of the offending name.
        "SET datafusion.sql_parser.collect_spans = true",
        // An analyst's query reads each file once; gathering statistics while
        // planning parses every footer a second time (a third of a one-year
        // history query). Row groups are still pruned when files are opened.
        "SET datafusion.execution.collect_statistics = false",
    ] {
        ctx.sql(setting).await?.collect().await?;
    }
    Ok(ctx)
}

/// What `gexlake sql` runs, on which lake, and where its results go.
pub struct SqlOptions {
    /// The lake.
    pub lake: Location,
    /// DataFusion partitions.
    pub jobs: usize,
    /// The Ballista cluster the statements run on; `None` runs them here.
    pub cluster: Option<Cluster>,
    /// The parameters of the `strike_gex` view.
    pub params: MetricsParams,
    /// Values bound to `$NAME` in the SQL.
    pub bindings: Vec<Param>,
    /// The statements to run; `None` opens the interactive shell.
    pub script: Option<String>,
    /// Where results are written.
    pub output: Output,
}

/// Opens the session of `lake`, warning when the lake has no ORATS rows
/// (a mistyped path would otherwise just give empty results).
async fn open(
    lake: &Location,
    engine: impl Into<Engine>,
    params: &MetricsParams,
) -> Result<SessionContext> {
    if lake_dates(lake).await?.is_empty() {
        tracing::warn!(
            "the lake {lake} has no orats_strikes partitions (check --lake or GEXLAKE_LAKE)"
        );
    }
    session_with(lake, engine, params).await
}

/// Runs `gexlake sql`: the script, or the interactive shell. A failing
/// statement prints its error and counts in [`Outcome::statements_failed`].
pub async fn run_sql(options: SqlOptions) -> Result<Outcome> {
    let SqlOptions {
        lake,
        jobs,
        cluster,
        params,
        bindings,
        script,
        mut output,
    } = options;
    let ctx = open(&lake, Engine { jobs, cluster }, &params).await?;
    let Some(script) = script else {
        let banner = format!(
            "gexlake sql on {lake}: strikes, dealer_metrics, strike_gex (parameters {})",
            params.name()
        );
        shell::run_shell(&ctx, &banner, bindings, output).await?;
        return Ok(Outcome::default());
    };
    match sql::run_script(&ctx, &script, &bindings, &mut output).await {
        Ok(()) => Ok(Outcome::default()),
        Err(e) if e.is_broken_pipe() => Ok(Outcome::default()),
        Err(RunError::Sql(e)) => {
            eprintln!("{e}");
            Ok(Outcome {
                statements_failed: 1,
                ..Outcome::default()
            })
        }
        Err(e) => Err(e.into()),
    }
}
