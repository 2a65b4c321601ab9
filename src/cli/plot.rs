//! `gexlake plot`: chart net GEX by strike, or its history.

use std::path::PathBuf;

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::Args;

use super::args::{LakeArgs, jobs};
use super::params::ParamArgs;
use crate::analyst::plot::{PlotOptions, parse_size};
use crate::outcome::Outcome;

/// `plot`'s flags.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The ticker.
    ticker: String,
    /// Trade date of the strike chart (default: the latest in the lake).
    #[arg(long, conflicts_with = "history")]
    date: Option<NaiveDate>,
    /// Output file, .svg or .png (default: TICKER_DATE.svg).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Chart net GEX, spot, flip and walls over a date range from dealer_metrics instead.
    #[arg(long)]
    history: bool,
    /// First date of the history (default: a year before --to).
    #[arg(long, requires = "history")]
    from: Option<NaiveDate>,
    /// Last date of the history (default: the latest with results).
    #[arg(long, requires = "history")]
    to: Option<NaiveDate>,
    /// Strikes shown: within this fraction of spot (0.1 = ±10 %). Default: the
    /// narrowest window holding 98 % of the gross GEX, between ±2 % and ±25 %.
    /// The flip and the largest walls are shown too when within ±50 %.
    #[arg(long)]
    window: Option<f64>,
    /// Image size in pixels.
    #[arg(long, default_value = "1200x700", value_parser = parse_size)]
    size: (u32, u32),
    /// DataFusion partitions (default: every core).
    #[arg(long, env = "GEXLAKE_JOBS")]
    jobs: Option<usize>,
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten, next_help_heading = "Parameters (as for `gexlake metrics`)")]
    params: ParamArgs,
}

/// Runs `gexlake plot`.
pub async fn run(args: PlotArgs) -> Result<Outcome> {
    if args.window.is_some_and(|w| !(w > 0.0 && w < 1.0)) {
        bail!("--window must be between 0 and 1 (0.1 = ±10 % of spot)");
    }
    let params = args.params.params()?;
    let jobs = jobs(args.jobs)?;
    crate::analyst::plot::run(PlotOptions {
        ticker: args.ticker,
        date: args.date,
        output: args.output,
        history: args.history,
        from: args.from,
        to: args.to,
        window: args.window,
        size: args.size,
        jobs,
        lake: args.lake.location()?,
        params,
    })
    .await?;
    Ok(Outcome::default())
}
