//! `gexlake sql`: SQL over the lake, from the command line, a file, stdin or
//! an interactive shell.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use datafusion::scalar::ScalarValue;

use super::args::{ClusterArgs, LakeArgs, jobs};
use super::params::{ParamArgs, validate};
use crate::analyst::sql::{Format, Output, Param, parse_param};
use crate::analyst::{SqlOptions, run_sql};
use crate::outcome::Outcome;

/// `sql`'s flags.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// SQL to run (statements separated by `;`).
    #[arg(conflicts_with = "file")]
    query: Option<String>,
    /// Read the SQL from this file.
    #[arg(short = 'f', long)]
    file: Option<PathBuf>,
    /// Bind `$NAME` in the SQL (repeatable). YYYY-MM-DD is a DATE, a whole number
    /// a BIGINT, a decimal a DOUBLE; anything else, or 'quoted', is text.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
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
    cluster: ClusterArgs,
    #[command(flatten)]
    lake: LakeArgs,
    #[command(
        flatten,
        next_help_heading = "strike_gex parameters (as for `gexlake metrics`)"
    )]
    strike_params: ParamArgs,
}

/// Runs `gexlake sql`.
pub async fn run(args: SqlArgs) -> Result<Outcome> {
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
    validate(&params)?;
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
    let jobs = jobs(args.jobs)?;
    run_sql(SqlOptions {
        lake: args.lake.location()?,
        jobs,
        cluster: args.cluster.cluster()?,
        params,
        bindings: args.params,
        script,
        output,
    })
    .await
}
