//! `gexlake migrate`: apply the database migrations.

use anyhow::Result;
use tracing::info;

use super::args::DatabaseArgs;
use crate::outcome::Outcome;

/// Runs `gexlake migrate`.
pub async fn run(args: DatabaseArgs) -> Result<Outcome> {
    let sink = args.connect().await?;
    sink.migrate().await?;
    info!(database = %sink.url(), "migrations applied");
    Ok(Outcome::default())
}
