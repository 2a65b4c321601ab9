//! `gexlake daily`: compute `orats_daily` for a date selection, and upsert it
//! with a database URL.

use anyhow::Result;
use chrono::NaiveDate;
use clap::Args;

use super::args::{ClusterArgs, DatabaseArgs, LakeArgs, jobs, range_selection};
use crate::metrics::engine::{DateSelection, Engine};
use crate::outcome::Outcome;
use crate::pipeline::run_daily;

/// `daily`'s flags.
#[derive(Debug, Args)]
pub struct DailyArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// One trade date (YYYY-MM-DD); its orats_strikes partition must be in the lake.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    date: Option<NaiveDate>,
    /// First trade date of a range (every strikes partition from here).
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Last trade date of a range.
    #[arg(long)]
    to: Option<NaiveDate>,
    /// DataFusion partitions (default: every core).
    #[arg(long, env = "GEXLAKE_JOBS")]
    jobs: Option<usize>,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    database: DatabaseArgs,
}

impl DailyArgs {
    fn selection(&self) -> Result<DateSelection> {
        match self.date {
            Some(d) => Ok(DateSelection::Dates(vec![d])),
            None => range_selection(self.from, self.to, "give --date or --from/--to"),
        }
    }
}

/// Runs `gexlake daily`.
pub async fn run(args: DailyArgs) -> Result<Outcome> {
    let selection = args.selection()?;
    let lake = args.lake.location()?;
    let engine = Engine {
        jobs: jobs(args.jobs)?,
        cluster: args.cluster.cluster()?,
    };
    let sink = args.database.connect_if_given().await?;
    run_daily(&lake, &selection, engine, sink.as_ref()).await
}
