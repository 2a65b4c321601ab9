//! Analysts' access to the lake: `gexlake sql`, `plot` and `check`.
//!
//! Every command works on one DataFusion session over the lake ([`session_with`]):
//! `strikes` (the ORATS rows, `trade_date` partitions), `dealer_metrics` (every
//! parameter set, `params` and `trade_date` partitions) and the `strike_gex`
//! view (per strike GEX under one parameter set, [`views`]), with the gexlake
//! UDAFs registered.

pub mod check;
pub mod plot;
pub mod shell;
pub mod sql;
pub mod table;
pub mod views;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::cli::{EXIT_FATAL, EXIT_OK, LakeArgs, ParamArgs};
use crate::metrics::engine::{lake_dates, lake_session, register_dealer_metrics};
use crate::metrics::{MetricsParams, Profile};
use crate::store::Location;
use sql::{Format, Output, Param, RunError};

/// Exit status of `gexlake check` when a check fails (the report says which).
pub const EXIT_CHECK_FAILED: u8 = 5;

/// A DataFusion session with `strikes`, `dealer_metrics` and `orats_daily`
/// (when present) and `strike_gex` under profile a3.
pub async fn session(lake: &Location, jobs: usize) -> Result<SessionContext> {
    session_with(lake, jobs, &Profile::A3.params()).await
}

/// A DataFusion session with `strikes`, `dealer_metrics` and `orats_daily`
/// (when present) and `strike_gex` under `params`.
pub async fn session_with(
    lake: &Location,
    jobs: usize,
    params: &MetricsParams,
) -> Result<SessionContext> {
    let ctx = lake_session(lake, jobs).await?;
    register_dealer_metrics(&ctx, lake).await?;
    crate::daily::register_table(&ctx, lake).await?;
    views::register_strike_gex(&ctx, params).await?;
    for setting in [
        // Planning errors then carry the position of the offending name.
        "SET datafusion.sql_parser.collect_spans = true",
        // An analyst's query reads each file once; gathering statistics while
        // planning parses every footer a second time (a third of a one-year
        // history query). Row groups are still pruned when files are opened.
        "SET datafusion.execution.collect_statistics = false",
    ] {
        ctx.sql(setting).await?.collect().await?;
    }
    Ok(ctx)
}

/// The analysts' subcommands (flattened into the main command line).
#[derive(Debug, clap::Subcommand)]
pub enum AnalystCommand {
    /// Query the lake with SQL: tables strikes, dealer_metrics, orats_daily and strike_gex.
    ///
    /// With no query and no -f, reads statements from stdin, or opens an
    /// interactive shell (history in ~/.gexlake_history) when stdin is a terminal.
    Sql(SqlArgs),
    /// Chart net GEX by strike for a ticker and date (SVG or PNG), or its history.
    Plot(plot::PlotArgs),
    /// The V2 handoff's post-run sanity checks over dealer_metrics, as a report.
    Check(check::CheckArgs),
}

/// `gexlake sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// SQL to run (statements separated by `;`).
    #[arg(conflicts_with = "file")]
    query: Option<String>,
    /// Read the SQL from this file.
    #[arg(short = 'f', long)]
    file: Option<PathBuf>,
    /// Bind `$NAME` in the SQL (repeatable). YYYY-MM-DD is a DATE, a whole number
    /// a BIGINT, a decimal a DOUBLE; anything else, or 'quoted', is text.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = sql::parse_param)]
    params: Vec<Param>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the results to this file instead of stdout (required for parquet).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print each statement's row count and time on stderr.
    #[arg(long)]
    timing: bool,
    /// DataFusion partitions (default: every core).
    #[arg(long, env = "GEXLAKE_JOBS")]
    jobs: Option<usize>,
    #[command(flatten)]
    lake: LakeArgs,
    #[command(
        flatten,
        next_help_heading = "strike_gex parameters (as for `gexlake metrics`)"
    )]
    strike_params: ParamArgs,
}

/// Runs an analyst subcommand; returns the exit status.
pub async fn run(command: AnalystCommand) -> Result<u8> {
    match command {
        AnalystCommand::Sql(args) => run_sql(args).await,
        AnalystCommand::Plot(args) => plot::run(args).await,
        AnalystCommand::Check(args) => check::run(args).await,
    }
}

/// The number of DataFusion partitions: `--jobs`, else every core.
fn jobs(flag: Option<usize>) -> Result<usize> {
    match flag {
        Some(0) => anyhow::bail!("--jobs must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// Opens the session of `--lake`, warning when the lake has no ORATS rows
/// (a mistyped path would otherwise just give empty results).
async fn open(
    lake: &LakeArgs,
    jobs: usize,
    params: &MetricsParams,
) -> Result<(Location, SessionContext)> {
    let location = Location::parse(&lake.lake).context("--lake")?;
    if lake_dates(&location).await?.is_empty() {
        tracing::warn!(
            "the lake {location} has no orats_strikes partitions (check --lake or GEXLAKE_LAKE)"
        );
    }
    let ctx = session_with(&location, jobs, params).await?;
    Ok((location, ctx))
}

async fn run_sql(args: SqlArgs) -> Result<u8> {
    let mut params = args.strike_params.params()?;
    // `--param flip_rule=nearest_spot` and the like also set strike_gex's parameters.
    for (name, value) in &args.params {
        let text = match value {
            ScalarValue::Utf8(Some(text)) => text.clone(),
            other => other.to_string(),
        };
        params
            .set(name, &text)
            .map_err(|e| anyhow::anyhow!("--param {e}"))?;
    }
    crate::cli::validate(&params)?;
    let output = Output::new(args.format, args.output.as_ref(), args.timing)?;
    let script = match (&args.query, &args.file) {
        (Some(q), _) => Some(q.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        (None, None) if std::io::stdin().is_terminal() => None,
        (None, None) => {
            Some(std::io::read_to_string(std::io::stdin()).context("reading SQL from stdin")?)
        }
    };
    let (location, ctx) = open(&args.lake, jobs(args.jobs)?, &params).await?;
    let Some(script) = script else {
        let banner = format!(
            "gexlake sql on {location}: strikes, dealer_metrics, strike_gex (parameters {})",
            params.name()
        );
        shell::run_shell(&ctx, &banner, args.params, output).await?;
        return Ok(EXIT_OK);
    };
    let mut output = output;
    match sql::run_script(&ctx, &script, &args.params, &mut output).await {
        Ok(()) => Ok(EXIT_OK),
        Err(e) if e.is_broken_pipe() => Ok(EXIT_OK),
        Err(RunError::Sql(e)) => {
            eprintln!("{e}");
            Ok(EXIT_FATAL)
        }
        Err(e) => Err(e.into()),
    }
}
