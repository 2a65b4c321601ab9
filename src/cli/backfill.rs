//! `gexlake backfill`: convert archives, then compute (and sink) every new date.

use anyhow::{Result, bail};
use clap::Args;

use super::args::{ClusterArgs, ConvertArgs, DatabaseArgs, LakeArgs, SelectArgs};
use crate::ingest::Shard;
use crate::metrics::Profile;
use crate::outcome::Outcome;
use crate::pipeline::{Chain, run_backfill};

/// `backfill`'s flags.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// One archive (file or object URL).
    #[arg(long, conflicts_with = "dir")]
    file: Option<String>,
    /// A directory or object-store prefix of archives.
    #[arg(long)]
    dir: Option<String>,
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    convert: ConvertArgs,
    /// Profiles to compute (default: a3 and v2, each with its own parameters).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Profile::A3, Profile::V2])]
    profiles: Vec<Profile>,
    /// Watchlist (comma-separated); default every ticker.
    #[arg(long, value_delimiter = ',')]
    tickers: Option<Vec<String>>,
    /// Convert only this task's share of the archives: I/N, I from 0 to N-1
    /// (default: Cloud Run's CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT when set).
    /// Tasks sharing a lake never take the same archive; `orats_daily` is left
    /// to a `gexlake daily --from … --to …` run after every shard.
    #[arg(long, value_name = "I/N", env = "GEXLAKE_SHARD")]
    shard: Option<String>,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// The shard of `--shard`, else of Cloud Run's task variables; one task in
/// all means no sharding.
fn shard(flag: Option<&str>) -> Result<Option<Shard>> {
    let shard = match flag {
        Some(text) => Some(Shard::parse(text)?),
        None => {
            let var = |name: &str| std::env::var(name).ok();
            let (index, count) = (var("CLOUD_RUN_TASK_INDEX"), var("CLOUD_RUN_TASK_COUNT"));
            Shard::from_task_env(index.as_deref(), count.as_deref())
                .transpose()
                .map_err(|e| anyhow::anyhow!("CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT: {e}"))?
        }
    };
    Ok(shard.filter(|s| s.count > 1))
}

/// Runs `gexlake backfill`.
pub async fn run(args: BackfillArgs) -> Result<Outcome> {
    let input = match (args.file, args.dir) {
        (Some(f), None) => f,
        (None, Some(d)) => d,
        _ => bail!("give --file ARCHIVE or --dir DIRECTORY"),
    };
    let selection = args.select.selection()?;
    let lake = args.lake.location()?;
    let sink = args.database.connect_if_given().await?;
    let chain = Chain {
        ingest: args.convert.options(lake)?,
        params: args.profiles.iter().map(|p| p.params()).collect(),
        tickers: args.tickers,
        cluster: args.cluster.cluster()?,
        shard: shard(args.shard.as_deref())?,
    };
    run_backfill(&input, &selection, &chain, sink.as_ref()).await
}
