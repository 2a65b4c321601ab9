//! `gexlake migrate-lake`: rewrite `orats_strikes` files of earlier versions in today's format.

use anyhow::Result;
use clap::Args;
use tracing::info;

use super::args::LakeArgs;
use crate::lake::migrate::migrate_strikes;
use crate::outcome::Outcome;

/// `migrate-lake`'s flags.
#[derive(Debug, Args)]
pub struct MigrateLakeArgs {
    #[command(flatten)]
    lake: LakeArgs,
}

/// Runs `gexlake migrate-lake`: files that cannot be migrated are logged, left as they
/// were and counted as failed files (exit 3).
pub async fn run(args: MigrateLakeArgs) -> Result<Outcome> {
    let lake = args.lake.location()?;
    let report = migrate_strikes(&lake).await?;
    info!(
        lake = %lake,
        migrated = report.migrated,
        current = report.current,
        failed = report.failed,
        "migrate-lake: summary"
    );
    Ok(Outcome {
        files_failed: report.failed,
        ..Outcome::default()
    })
}
