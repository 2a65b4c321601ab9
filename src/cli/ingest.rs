//! `gexlake ingest`: convert archives into the lake, once.

use anyhow::Result;
use clap::Args;

use super::args::{ConvertArgs, LakeArgs, SelectArgs};
use crate::outcome::Outcome;
use crate::pipeline::run_ingest;

/// `ingest`'s flags.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Archives: files, directories or object-store prefixes.
    #[arg(required = true)]
    inputs: Vec<String>,
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    convert: ConvertArgs,
}

/// Runs `gexlake ingest`.
pub async fn run(args: IngestArgs) -> Result<Outcome> {
    let selection = args.select.selection()?;
    let options = args.convert.options(args.lake.location()?)?;
    run_ingest(&args.inputs, &selection, &options).await
}
