//! Analysts' access to the lake: `gexlake sql`, `plot` and `check`.

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

/// The analysts' subcommands (flattened into the main command line).
#[derive(Debug, clap::Subcommand)]
pub enum AnalystCommand {
    /// Query the lake with SQL (tables `strikes`, `dealer_metrics`).
    Sql(SqlArgs),
}

/// `gexlake sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The query.
    query: String,
    #[command(flatten)]
    lake: crate::cli::LakeArgs,
}

/// Runs an analyst subcommand; returns the exit status.
pub async fn run(command: AnalystCommand) -> Result<u8> {
    match command {
        AnalystCommand::Sql(args) => {
            let lake = Location::parse(&args.lake.lake).context("--lake")?;
            let ctx = session(&lake, 2).await?;
            println!("{}", query_table(&ctx, &args.query).await?);
            Ok(crate::cli::EXIT_OK)
        }
    }
}
