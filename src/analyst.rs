//! Analysts' access to the lake: `gexlake sql`.

use anyhow::{Context, Result};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;

use crate::metrics::engine::{lake_session, register_dealer_metrics};
use crate::store::Location;

/// A DataFusion session with `strikes` and, when present, `dealer_metrics`.
pub async fn session(lake: &Location, jobs: usize) -> Result<SessionContext> {
    let ctx = lake_session(lake, jobs).await?;
    register_dealer_metrics(&ctx, lake).await?;
    Ok(ctx)
}

/// Runs one query and returns it as a table.
pub async fn query_table(ctx: &SessionContext, sql: &str) -> Result<String> {
    let batches = ctx.sql(sql).await.context("SQL")?.collect().await?;
    Ok(pretty_format_batches(&batches)?.to_string())
}
