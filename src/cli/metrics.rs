//! `gexlake metrics`: compute dealer metrics for a date selection, and upsert
//! them with `--sink postgres`.

use anyhow::{Result, bail};
use clap::Args;

use super::args::{ClusterArgs, DatabaseArgs, DateArgs, LakeArgs, jobs};
use super::params::ParamArgs;
use crate::outcome::Outcome;
use crate::pipeline::{MetricsRun, run_metrics};

/// `metrics`' flags.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    dates: DateArgs,
    #[command(flatten)]
    params: ParamArgs,
    /// Watchlist (comma-separated); default every ticker in the lake.
    #[arg(long, value_delimiter = ',')]
    tickers: Option<Vec<String>>,
    /// Shards of tickers computed side by side, one core each (default: every core).
    #[arg(long, env = "GEXLAKE_JOBS")]
    jobs: Option<usize>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Also upsert the results into Postgres (a3 → daily_snapshots, v2 → gex_metrics_snapshot).
    #[arg(long, value_enum)]
    sink: Option<SinkKind>,
    /// Let --sink write parameters that differ from the profile's own (they replace its rows).
    #[arg(long, requires = "sink")]
    allow_custom_params: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Where results go besides the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SinkKind {
    /// The Postgres database of --database-url.
    Postgres,
}

/// Runs `gexlake metrics`.
pub async fn run(args: MetricsArgs) -> Result<Outcome> {
    let param_sets = args.params.param_sets()?;
    let selection = args.dates.selection()?;
    let lake = args.lake.location()?;
    let jobs = jobs(args.jobs)?;
    let cluster = args.cluster.cluster()?;
    let tickers = args.tickers.map(|t| {
        let mut t: Vec<String> = t
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        t.sort();
        t.dedup();
        t
    });
    for params in &param_sets {
        if args.sink.is_some() && *params != params.profile.params() && !args.allow_custom_params {
            bail!(
                "--sink writes the {} profile's table, but these parameters differ from the profile's ({}); \
                 pass --allow-custom-params to replace its rows with them",
                params.profile,
                params.overrides().join(", ")
            );
        }
    }
    // Connect before computing, so a bad URL fails fast.
    let sink = match args.sink {
        Some(SinkKind::Postgres) => Some(args.database.connect().await?),
        None => None,
    };
    let runs: Vec<MetricsRun> = param_sets
        .into_iter()
        .map(|params| MetricsRun {
            lake: lake.clone(),
            params,
            tickers: tickers.clone(),
            jobs,
            cluster: cluster.clone(),
        })
        .collect();
    run_metrics(&runs, &selection, sink.as_ref()).await
}
