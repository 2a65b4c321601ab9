//! The command line: parsing flags into validated settings, running the
//! subcommand's job, and mapping its outcome to an exit status.
//!
//! Each subcommand has a module holding its flags and turning them into the
//! typed settings its job takes, before any work starts; [`args`] and
//! [`params`] hold the flag groups several subcommands share.

pub mod args;
pub mod backfill;
pub mod check;
pub mod daily;
#[cfg(feature = "cluster")]
pub mod executor;
pub mod ingest;
pub mod metrics;
pub mod migrate;
pub mod migrate_lake;
pub mod nightly;
pub mod params;
pub mod plot;
pub mod sample;
#[cfg(feature = "cluster")]
pub mod scheduler;
pub mod sql;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::logging::{self, LogFormat};
use crate::outcome::{EXIT_FATAL, Outcome};

/// ORATS option archives → a Parquet lake → dealer gamma-exposure metrics → Postgres.
#[derive(Debug, Parser)]
#[command(name = "gexlake", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
struct GlobalOptions {
    /// Log level: error, warn, info, debug or trace (RUST_LOG overrides).
    #[arg(long, global = true, default_value = "info", env = "GEXLAKE_LOG_LEVEL")]
    log_level: String,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "GEXLAKE_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert ORATS ZIP archives into the lake (once; re-runs skip what is done).
    Ingest(ingest::IngestArgs),
    /// Compute dealer metrics from the lake into `dealer_metrics` partitions.
    Metrics(metrics::MetricsArgs),
    /// Compute the symbol-level `orats_daily` rows (V1's table) from the lake's strikes.
    Daily(daily::DailyArgs),
    /// Convert archives and compute both profiles for every new date (then --database-url: sink).
    Backfill(backfill::BackfillArgs),
    /// The unattended nightly job: pull and process the archives newer than the last one done (under a lake lock).
    Nightly(nightly::NightlyArgs),
    /// Apply the database migrations (tables daily_snapshots, gex_metrics_snapshot, orats_daily, tickers).
    Migrate(args::DatabaseArgs),
    /// Rewrite `orats_strikes` files of earlier versions (Float64 prices and greeks) as today's exact decimals.
    MigrateLake(migrate_lake::MigrateLakeArgs),
    /// Write deterministic ORATS-shaped sample archives.
    Sample(sample::SampleArgs),
    /// Query the lake with SQL: tables strikes, dealer_metrics, orats_daily and strike_gex.
    ///
    /// With no query and no -f, reads statements from stdin, or opens an
    /// interactive shell (history in ~/.gexlake_history) when stdin is a terminal.
    Sql(sql::SqlArgs),
    /// Chart net GEX by strike for a ticker and date (SVG or PNG), or its history.
    Plot(plot::PlotArgs),
    /// The V2 handoff's post-run sanity checks over dealer_metrics, as a report.
    Check(check::CheckArgs),
    /// Run a Ballista scheduler for `--cluster df://HOST:PORT` (gexlake's functions and stores built in).
    #[cfg(feature = "cluster")]
    Scheduler(scheduler::SchedulerArgs),
    /// Run a Ballista executor serving a `gexlake scheduler`.
    #[cfg(feature = "cluster")]
    Executor(executor::ExecutorArgs),
}

/// Parses the command line, runs it and returns the exit status, leaving the
/// async runtime running: the caller is to end the process (`main.rs` does, at
/// once), not to go on with other work.
pub fn main() -> u8 {
    let cli = Cli::parse();
    logging::init(&cli.global.log_level, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return EXIT_FATAL;
        }
    };
    let code = match runtime.block_on(run(cli.command)) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            let message = format!("{e:#}");
            tracing::error!("{message}");
            if let Some(hint) = crate::cluster::explain(&message) {
                tracing::error!("{hint}");
            }
            EXIT_FATAL
        }
    };
    // Shutting the runtime down would only join idle threads before the exit.
    std::mem::forget(runtime);
    code
}

async fn run(command: Command) -> Result<Outcome> {
    match command {
        Command::Ingest(args) => ingest::run(args).await,
        Command::Metrics(args) => metrics::run(args).await,
        Command::Daily(args) => daily::run(args).await,
        Command::Backfill(args) => backfill::run(args).await,
        Command::Nightly(args) => nightly::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::MigrateLake(args) => migrate_lake::run(args).await,
        Command::Sample(args) => sample::run(args),
        Command::Sql(args) => sql::run(args).await,
        Command::Plot(args) => plot::run(args).await,
        Command::Check(args) => check::run(args).await,
        #[cfg(feature = "cluster")]
        Command::Scheduler(args) => scheduler::run(args).await,
        #[cfg(feature = "cluster")]
        Command::Executor(args) => executor::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_tuning_flags_reach_the_database_args() {
        let cli = Cli::try_parse_from([
            "gexlake",
            "migrate",
            "--sink-batch-size",
            "250",
            "--sink-concurrency",
            "1",
        ])
        .unwrap();
        let Command::Migrate(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!((args.sink_batch_size, args.sink_concurrency), (250, 1));
        let defaults = Cli::try_parse_from(["gexlake", "migrate"]).unwrap();
        let Command::Migrate(args) = defaults.command else {
            panic!("parsed as another command");
        };
        assert_eq!((args.sink_batch_size, args.sink_concurrency), (1000, 3));
        for bad in [["--sink-concurrency", "0"], ["--sink-batch-size", "0"]] {
            let err = Cli::try_parse_from(["gexlake", "migrate", bad[0], bad[1]]).unwrap_err();
            assert!(err.to_string().contains(bad[0]), "{err}");
        }
    }
}
