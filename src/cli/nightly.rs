//! `gexlake nightly`: the unattended job, configured entirely by flags or
//! their environment variables.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;

use super::args::{ConvertArgs, DatabaseArgs, LakeArgs};
use crate::ftp::PullOptions;
use crate::metrics::Profile;
use crate::nightly::{
    DEFAULT_LOOKBACK_DAYS, DEFAULT_STALE_AFTER_DAYS, NightlyOptions, parse_duration,
};
use crate::outcome::Outcome;
use crate::pipeline::Chain;
use crate::store::Location;

/// `nightly`'s flags; every one can also be set by environment.
#[derive(Debug, Args)]
pub struct NightlyArgs {
    /// Where new archives appear: a directory, a gs:// or s3:// prefix, or ftp://host[:port]/dir/ (ftps:// for explicit TLS; user and password from ORATS_FTP_USER / ORATS_FTP_PASSWORD).
    #[arg(long, env = "GEXLAKE_SOURCE", hide_env_values = true)]
    source: String,
    /// Where archives downloaded from FTP are kept (any location); required with FTP sources.
    #[arg(long, env = "GEXLAKE_RAW")]
    raw: Option<String>,
    #[command(flatten)]
    lake: LakeArgs,
    /// Process the archive of exactly this date (YYYY-MM-DD, by file name) instead of the new ones.
    #[arg(long, env = "GEXLAKE_DATE")]
    date: Option<NaiveDate>,
    /// Days before the newest archive done that are looked at again, so a failed night is retried.
    #[arg(long, default_value_t = DEFAULT_LOOKBACK_DAYS, env = "GEXLAKE_LOOKBACK_DAYS")]
    lookback_days: u32,
    /// File-name glob of archives.
    #[arg(long, default_value = "*.zip", env = "GEXLAKE_PATTERN")]
    pattern: String,
    #[command(flatten)]
    convert: ConvertArgs,
    /// Profiles to compute (default: a3 and v2, each with its own parameters).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Profile::A3, Profile::V2], env = "GEXLAKE_PROFILES")]
    profiles: Vec<Profile>,
    /// Watchlist (comma-separated); default every ticker.
    #[arg(long, value_delimiter = ',', env = "GEXLAKE_TICKERS")]
    tickers: Option<Vec<String>>,
    /// Take over a lock older than this (its holder died): 90m, 6h, 1d.
    #[arg(long, default_value = "6h", value_parser = parse_duration, env = "GEXLAKE_LOCK_TIMEOUT")]
    lock_timeout: std::time::Duration,
    /// Warn (WARNING) when the source's newest archive is older than this many days in New York; 0 never warns.
    #[arg(long, default_value_t = DEFAULT_STALE_AFTER_DAYS, env = "GEXLAKE_STALE_AFTER_DAYS")]
    stale_after_days: u32,
    /// Local directory for FTP downloads in progress (kept for resuming; default: the temp directory).
    #[arg(long, env = "GEXLAKE_WORK_DIR")]
    work_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Runs `gexlake nightly`.
pub async fn run(args: NightlyArgs) -> Result<Outcome> {
    let raw = match &args.raw {
        Some(r) => Some(Location::parse(r).context("--raw")?),
        None => None,
    };
    let sink = args.database.connect_if_given().await?;
    let mut pull = PullOptions::default();
    if let Some(dir) = args.work_dir {
        pull.work_dir = dir;
    }
    let options = NightlyOptions {
        source: args.source,
        raw,
        date: args.date,
        lookback_days: args.lookback_days,
        pattern: args.pattern,
        lock_timeout: args.lock_timeout,
        stale_after_days: args.stale_after_days,
        pull,
        chain: Chain {
            ingest: args.convert.options(args.lake.location()?)?,
            params: args.profiles.iter().map(|p| p.params()).collect(),
            tickers: args.tickers,
            cluster: None,
            shard: None,
        },
    };
    crate::nightly::run(&options, sink.as_ref()).await
}
