//! `gexlake check`: the V2 handoff's sanity checks over the lake's results.

use anyhow::Result;
use chrono::NaiveDate;
use clap::Args;

use super::args::{LakeArgs, jobs};
use crate::analyst::check::{CheckOptions, Thresholds};
use crate::outcome::Outcome;

/// `check`'s flags.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The trade date to check (default: the latest with results for --params).
    #[arg(long)]
    date: Option<NaiveDate>,
    /// The parameter sets to check, as in dealer_metrics' `params` column
    /// (comma-separated; default: every set in the lake, one report each).
    #[arg(long, value_delimiter = ',')]
    params: Vec<String>,
    /// Dates shown in the rows-per-date table (ending at --date).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    last: u16,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    /// DataFusion partitions (default: every core).
    #[arg(long, env = "GEXLAKE_JOBS")]
    jobs: Option<usize>,
    #[command(flatten)]
    lake: LakeArgs,
}

/// Where a check turns into a warning or a failure (fractions: 0.2 = 20 %).
#[derive(Debug, Args)]
struct ThresholdArgs {
    /// Fail when the ticker count drops by more than this vs the previous date.
    #[arg(long, default_value_t = Thresholds::default().max_count_drop)]
    max_count_drop: f64,
    /// Fail when fewer than this share of tickers have a non-zero net GEX.
    #[arg(long, default_value_t = Thresholds::default().min_nonzero_share)]
    min_nonzero_share: f64,
    /// Warn when fewer than this share of tickers have a gamma flip.
    #[arg(long, default_value_t = Thresholds::default().min_flip_share)]
    min_flip_share: f64,
    /// Warn when the average contracts analyzed moves by more than this vs the previous date.
    #[arg(long, default_value_t = Thresholds::default().max_contracts_change)]
    max_contracts_change: f64,
}

/// Runs `gexlake check`.
pub async fn run(args: CheckArgs) -> Result<Outcome> {
    let jobs = jobs(args.jobs)?;
    let t = args.thresholds;
    crate::analyst::check::run(CheckOptions {
        date: args.date,
        params: args.params,
        last: args.last,
        thresholds: Thresholds {
            max_count_drop: t.max_count_drop,
            min_nonzero_share: t.min_nonzero_share,
            min_flip_share: t.min_flip_share,
            max_contracts_change: t.max_contracts_change,
        },
        jobs,
        lake: args.lake.location()?,
    })
    .await
}
