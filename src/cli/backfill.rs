//! `gexlake backfill`: convert archives, then compute (and sink) every new date.

use anyhow::{Result, bail};
use clap::Args;

use super::args::{ConvertArgs, DatabaseArgs, LakeArgs, SelectArgs};
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
    #[command(flatten)]
    database: DatabaseArgs,
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
    };
    run_backfill(&input, &selection, &chain, sink.as_ref()).await
}
