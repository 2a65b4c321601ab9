//! The command line: parsing flags into validated settings, running the
//! subcommand, and mapping the outcome to an exit status.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use tracing::{info, warn};

use crate::ingest::{IngestOptions, IngestReport, Outcome, Selection, discover, ingest};
use crate::logging::{self, LogFormat};
use crate::metrics::engine::DateSelection;
use crate::metrics::{
    ContractsRule, FlipRule, LegSpot, MetricsParams, MissingGamma, Profile, SpotRule, StrikeRange,
    WallRule,
};
use crate::sample::{Layout as SampleLayout, Precision, SampleSpec, write_archive};
use crate::sink::SinkOptions;
use crate::store::Location;

/// Exit status when everything worked.
pub const EXIT_OK: u8 = 0;
/// Exit status when the run could not be done at all (bad settings, unreachable store…).
pub const EXIT_FATAL: u8 = 1;
/// Exit status when some files failed (the others were processed).
pub const EXIT_FILES_FAILED: u8 = 3;
/// Exit status when some tickers soft-failed in the sink (the others were written).
pub const EXIT_TICKERS_SOFT_FAILED: u8 = 4;
/// Exit status when some rows were rejected (each is in `<lake>/_rejects/` with its line,
/// column and reason; the rest of its file was converted). Files failed (3) and tickers
/// soft-failed (4) outrank it.
pub const EXIT_ROWS_REJECTED: u8 = 6;

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
    Ingest(IngestArgs),
    /// Compute dealer metrics from the lake into `dealer_metrics` partitions.
    Metrics(MetricsArgs),
    /// Compute the symbol-level `orats_daily` rows (V1's table) from the lake's strikes.
    Daily(DailyArgs),
    /// Convert archives and compute both profiles for every new date (then --database-url: sink).
    Backfill(BackfillArgs),
    /// The unattended nightly job: pull and process the archives newer than the last one done (under a lake lock).
    Nightly(NightlyArgs),
    /// Apply the database migrations (tables daily_snapshots, gex_metrics_snapshot, orats_daily, tickers).
    Migrate(DatabaseArgs),
    /// Write deterministic ORATS-shaped sample archives.
    Sample(SampleArgs),
    #[command(flatten)]
    Analyst(crate::analyst::AnalystCommand),
}

/// Where the lake is.
#[derive(Debug, Args, Clone)]
pub struct LakeArgs {
    /// The lake: a local path or a file://, gs://, s3:// or memory:// URL.
    #[arg(long, default_value = "./lake", env = "GEXLAKE_LAKE")]
    pub lake: String,
}

/// Which archives to take.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// File-name glob for archives inside directories and prefixes.
    #[arg(long, default_value = "*.zip", env = "GEXLAKE_PATTERN")]
    pub pattern: String,
    /// Earliest date (YYYY-MM-DD) in the archive's file name.
    #[arg(long, env = "GEXLAKE_FROM")]
    pub from: Option<NaiveDate>,
    /// Latest date (YYYY-MM-DD) in the archive's file name.
    #[arg(long, env = "GEXLAKE_TO")]
    pub to: Option<NaiveDate>,
}

impl SelectArgs {
    fn selection(&self) -> Result<Selection> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            bail!("--from {from} is after --to {to}");
        }
        Ok(Selection {
            pattern: self.pattern.clone(),
            from: self.from,
            to: self.to,
        })
    }
}

/// How conversion runs.
#[derive(Debug, Args, Clone)]
pub struct ConvertArgs {
    /// Files converted at once (default: every core).
    #[arg(long, env = "GEXLAKE_JOBS")]
    pub jobs: Option<usize>,
    /// Convert again even files the ledger says are done.
    #[arg(long)]
    pub force: bool,
    /// Fail a file on its first bad row instead of rejecting the row.
    #[arg(long)]
    pub strict: bool,
}

impl ConvertArgs {
    fn jobs(&self) -> Result<usize> {
        match self.jobs {
            Some(0) => bail!("--jobs must be at least 1"),
            Some(n) => Ok(n),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }
}

#[derive(Debug, Args)]
struct IngestArgs {
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

/// Metric parameters: a profile, then flags that override its values (METRICS.md §8).
#[derive(Debug, Args, Clone)]
pub struct ParamArgs {
    /// Parameter profile the values start from.
    #[arg(long, value_enum, default_value_t = Profile::A3, env = "GEXLAKE_PROFILE")]
    pub profile: Profile,
    /// Keep expired legs (dte < 0).
    #[arg(long)]
    pub include_expired: bool,
    /// Drop legs with more calendar days to expiry than this; `none` for no cap.
    #[arg(long, value_parser = parse_max_dte)]
    pub max_dte_days: Option<MaxDte>,
    /// Minimum open interest per leg (at least 1 always applies).
    #[arg(long)]
    pub min_open_interest: Option<i64>,
    /// Minimum volume per leg.
    #[arg(long)]
    pub min_volume: Option<i64>,
    /// Walls kept per side.
    #[arg(long)]
    pub walls_top_n: Option<i64>,
    /// Half-width of the GEX-slope window as a fraction of spot (0.02 = ±2 %).
    #[arg(long)]
    pub gex_slope_range_pct: Option<f64>,
    /// Shares per contract.
    #[arg(long)]
    pub contract_multiplier: Option<i64>,
    /// |net GEX| below this is `neutral`.
    #[arg(long)]
    pub neutral_threshold: Option<f64>,
    /// Spot price for every ticker (`480.5`) or one ticker (`SPY=480.5`); repeatable.
    #[arg(long, value_parser = parse_spot_override)]
    pub spot_override: Vec<(Option<String>, f64)>,
    /// How the gamma flip is chosen among the cumulative profile's sign changes (METRICS.md §10).
    #[arg(long, value_enum)]
    pub flip_rule: Option<FlipRule>,
    /// Strikes that enter the flip search, as multiples of spot: `LOW,HIGH` (e.g. `0.2,3.0`) or `none`.
    #[arg(long, value_parser = parse_strike_range)]
    pub flip_strike_range: Option<FlipRange>,
    /// What a null, NaN or infinite gamma does to its leg.
    #[arg(long, value_enum)]
    pub missing_gamma: Option<MissingGamma>,
    /// Where each ticker's spot comes from.
    #[arg(long, value_enum)]
    pub spot_rule: Option<SpotRule>,
    /// Which spot a leg's GEX is computed at.
    #[arg(long, value_enum)]
    pub leg_spot: Option<LegSpot>,
    /// What `contracts_analyzed` counts.
    #[arg(long, value_enum)]
    pub contracts_rule: Option<ContractsRule>,
    /// Which strikes can be walls, and how ties are broken.
    #[arg(long, value_enum)]
    pub wall_rule: Option<WallRule>,
}

/// `--flip-strike-range LOW,HIGH|none`.
#[derive(Debug, Clone, Copy)]
pub struct FlipRange(Option<StrikeRange>);

fn parse_strike_range(text: &str) -> Result<FlipRange, String> {
    StrikeRange::parse_optional(text).map(FlipRange)
}

/// `--max-dte-days N|none`.
#[derive(Debug, Clone, Copy)]
pub struct MaxDte(Option<i64>);

fn parse_max_dte(text: &str) -> Result<MaxDte, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(MaxDte(None));
    }
    let n: i64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of days or `none`"))?;
    if n < 0 {
        return Err("must be 0 or more".into());
    }
    Ok(MaxDte(Some(n)))
}

fn parse_spot_override(text: &str) -> Result<(Option<String>, f64), String> {
    let (ticker, value) = match text.split_once('=') {
        Some((t, v)) => (Some(t.trim().to_string()), v),
        None => (None, text),
    };
    let spot: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a price"))?;
    if !(spot.is_finite() && spot > 0.0) {
        return Err(format!("spot must be a positive price, got {spot}"));
    }
    Ok((ticker, spot))
}

impl ParamArgs {
    /// The effective, validated parameters.
    pub fn params(&self) -> Result<MetricsParams> {
        let mut p = self.profile.params();
        if self.include_expired {
            p.exclude_expired = false;
        }
        if let Some(MaxDte(v)) = self.max_dte_days {
            p.max_dte_days = v;
        }
        if let Some(v) = self.min_open_interest {
            p.min_open_interest = v;
        }
        if let Some(v) = self.min_volume {
            p.min_volume = v;
        }
        if let Some(v) = self.walls_top_n {
            p.walls_top_n = v;
        }
        if let Some(v) = self.gex_slope_range_pct {
            p.gex_slope_range_pct = v;
        }
        if let Some(v) = self.contract_multiplier {
            p.contract_multiplier = v;
        }
        if let Some(v) = self.neutral_threshold {
            p.neutral_threshold = v;
        }
        for (ticker, spot) in &self.spot_override {
            match ticker {
                Some(t) => {
                    p.spot_overrides.insert(t.clone(), *spot);
                }
                None => p.spot_override = Some(*spot),
            }
        }
        if let Some(v) = self.flip_rule {
            p.flip_rule = v;
        }
        if let Some(FlipRange(v)) = self.flip_strike_range {
            p.flip_strike_range = v;
        }
        if let Some(v) = self.missing_gamma {
            p.missing_gamma = v;
        }
        if let Some(v) = self.spot_rule {
            p.spot_rule = v;
        }
        if let Some(v) = self.leg_spot {
            p.leg_spot = v;
        }
        if let Some(v) = self.contracts_rule {
            p.contracts_rule = v;
        }
        if let Some(v) = self.wall_rule {
            p.wall_rule = v;
        }
        validate(&p)?;
        Ok(p)
    }
}

/// Checks the values a parameter set may take, whichever way they were set.
pub fn validate(p: &MetricsParams) -> Result<()> {
    if p.min_open_interest < 0 || p.min_volume < 0 {
        bail!("--min-open-interest and --min-volume must be 0 or more");
    }
    if !(0..=1000).contains(&p.walls_top_n) {
        bail!("--walls-top-n must be between 0 and 1000");
    }
    if !(p.gex_slope_range_pct > 0.0 && p.gex_slope_range_pct < 1.0) {
        bail!("--gex-slope-range-pct must be between 0 and 1 (0.02 = ±2 %)");
    }
    if p.contract_multiplier <= 0 {
        bail!("--contract-multiplier must be positive");
    }
    if !(p.neutral_threshold >= 0.0 && p.neutral_threshold.is_finite()) {
        bail!("--neutral-threshold must be 0 or more");
    }
    Ok(())
}

/// Which trade dates to compute.
#[derive(Debug, Args, Clone)]
pub struct DateArgs {
    /// One trade date (YYYY-MM-DD); must be in the lake.
    #[arg(long, conflicts_with_all = ["from", "to", "snapshot_time"])]
    pub date: Option<NaiveDate>,
    /// The A3 snapshot time (RFC 3339 or YYYY-MM-DD): selects the trade date it falls on in New York.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub snapshot_time: Option<String>,
    /// First trade date of a range (every lake partition from here).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last trade date of a range.
    #[arg(long)]
    pub to: Option<NaiveDate>,
}

impl DateArgs {
    /// The validated selection.
    pub fn selection(&self) -> Result<DateSelection> {
        if let Some(d) = self.date {
            return Ok(DateSelection::Dates(vec![d]));
        }
        if let Some(t) = &self.snapshot_time {
            return Ok(DateSelection::Dates(vec![snapshot_date(t)?]));
        }
        range_selection(
            self.from,
            self.to,
            "give --date, --snapshot-time or --from/--to",
        )
    }
}

/// `--from`/`--to` as a range (an open end reaches the lake's first or last
/// date); `missing` is the error when neither is given.
fn range_selection(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    missing: &str,
) -> Result<DateSelection> {
    match (from, to) {
        (Some(f), Some(t)) if f > t => bail!("--from {f} is after --to {t}"),
        (Some(f), Some(t)) => Ok(DateSelection::Range(f, t)),
        (Some(f), None) => Ok(DateSelection::Range(f, NaiveDate::MAX)),
        (None, Some(t)) => Ok(DateSelection::Range(NaiveDate::MIN, t)),
        (None, None) => bail!("{missing}"),
    }
}

/// The New York trade date of a snapshot time.
fn snapshot_date(text: &str) -> Result<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d);
    }
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("--snapshot-time {text:?} is neither RFC 3339 nor YYYY-MM-DD"))?;
    Ok(t.with_timezone(&chrono_tz::America::New_York).date_naive())
}

#[derive(Debug, Args)]
struct MetricsArgs {
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

/// The metrics database.
#[derive(Args, Clone)]
pub struct DatabaseArgs {
    /// Postgres URL (postgres://user:password@host/db); the password is never logged.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Rows per upsert statement.
    #[arg(long, env = "GEXLAKE_SINK_BATCH_SIZE", default_value_t = SinkOptions::default().batch_size,
          value_parser = TypedValueParser::map(clap::value_parser!(u32).range(1..), |n| n as usize))]
    pub sink_batch_size: usize,
    /// Upsert statements in flight at once, each on its own connection (the server parses
    /// one batch's JSON per backend): 1 keeps the load on the database to one core.
    #[arg(long, env = "GEXLAKE_SINK_CONCURRENCY", default_value_t = SinkOptions::default().concurrency,
          value_parser = TypedValueParser::map(clap::value_parser!(u32).range(1..=64), |n| n as usize))]
    pub sink_concurrency: usize,
}

impl std::fmt::Debug for DatabaseArgs {
    /// Shows the URL with its password masked: settings are logged, secrets never.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field(
                "database_url",
                &self.database_url.as_deref().map(crate::sink::redact_url),
            )
            .field("sink_batch_size", &self.sink_batch_size)
            .field("sink_concurrency", &self.sink_concurrency)
            .finish()
    }
}

impl DatabaseArgs {
    /// Connects, or says which flag is missing.
    pub async fn connect(&self) -> Result<crate::sink::PgSink> {
        let Some(url) = &self.database_url else {
            bail!("no database: give --database-url or set DATABASE_URL");
        };
        let options = SinkOptions {
            batch_size: self.sink_batch_size,
            concurrency: self.sink_concurrency,
            ..SinkOptions::default()
        };
        Ok(crate::sink::PgSink::connect_with(url, options).await?)
    }
}

#[derive(Debug, Args)]
struct BackfillArgs {
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

#[derive(Debug, Args)]
struct SampleArgs {
    /// Trade date of the archive (YYYY-MM-DD); repeat or use --days for several.
    #[arg(long, required = true)]
    date: NaiveDate,
    /// Consecutive weekdays to write, starting at --date.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// Output directory.
    #[arg(long, default_value = ".")]
    out: std::path::PathBuf,
    /// Number of tickers (5,800 ≈ a real day of ~700K rows).
    #[arg(long, default_value_t = 5800)]
    tickers: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Header layout.
    #[arg(long, value_enum, default_value_t = SampleLayout::V1)]
    layout: SampleLayout,
    /// Decimals of the IVs, vols and greeks: `realistic` as real files, `compact` the fewer,
    /// more repetitive digits of earlier samples.
    #[arg(long, value_enum, default_value_t = Precision::Realistic)]
    precision: Precision,
}

/// Parses the command line, runs it and returns the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global.log_level, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

async fn run(command: Command) -> Result<u8> {
    match command {
        Command::Ingest(args) => run_ingest(args).await,
        Command::Metrics(args) => run_metrics(args).await,
        Command::Daily(args) => run_daily(args).await,
        Command::Backfill(args) => run_backfill(args).await,
        Command::Nightly(args) => run_nightly(args).await,
        Command::Migrate(args) => {
            let sink = args.connect().await?;
            sink.migrate().await?;
            info!(database = %sink.url(), "migrations applied");
            Ok(EXIT_OK)
        }
        Command::Sample(args) => run_sample(args),
        Command::Analyst(command) => crate::analyst::run(command).await,
    }
}

async fn run_ingest(args: IngestArgs) -> Result<u8> {
    let selection = args.select.selection()?;
    let lake = Location::parse(&args.lake.lake).context("--lake")?;
    let options = IngestOptions {
        lake,
        jobs: args.convert.jobs()?,
        force: args.convert.force,
        strict: args.convert.strict,
    };
    let sources = discover(&args.inputs, &selection).await?;
    info!(
        inputs = ?args.inputs,
        lake = %options.lake,
        pattern = %selection.pattern,
        from = ?selection.from,
        to = ?selection.to,
        jobs = options.jobs,
        force = options.force,
        strict = options.strict,
        files = sources.len(),
        "ingest: run header"
    );
    if sources.is_empty() {
        warn!("no archives matched");
    }
    let report = ingest(sources, &options).await;
    summarize_ingest(&report);
    Ok(if report.failed() > 0 {
        EXIT_FILES_FAILED
    } else if report.rows_rejected() > 0 {
        EXIT_ROWS_REJECTED
    } else {
        EXIT_OK
    })
}

/// Logs the final summary of an ingest run.
pub fn summarize_ingest(report: &IngestReport) {
    let converted: Vec<_> = report.converted().collect();
    let rows: u64 = converted.iter().map(|e| e.rows_out).sum();
    let rejected = report.rows_rejected();
    let bytes: u64 = converted.iter().map(|e| e.size).sum();
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    for f in &report.files {
        if let Outcome::Failed(e) = &f.outcome {
            tracing::error!(file = %f.source.name, "FAILED: {e}");
        }
    }
    info!(
        files = report.files.len(),
        converted = converted.len(),
        skipped = report.skipped(),
        failed = report.failed(),
        rows,
        rejected,
        mb = format!("{:.1}", bytes as f64 / 1e6),
        seconds = format!("{secs:.2}"),
        mb_per_s = format!("{:.1}", bytes as f64 / 1e6 / secs),
        "ingest: summary"
    );
}

async fn run_metrics(args: MetricsArgs) -> Result<u8> {
    let params = args.params.params()?;
    let selection = args.dates.selection()?;
    let lake = Location::parse(&args.lake.lake).context("--lake")?;
    let jobs = ConvertArgs {
        jobs: args.jobs,
        force: false,
        strict: false,
    }
    .jobs()?;
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
    if args.sink.is_some() && params != params.profile.params() && !args.allow_custom_params {
        bail!(
            "--sink writes the {} profile's table, but these parameters differ from the profile's ({}); \
             pass --allow-custom-params to replace its rows with them",
            params.profile,
            params.overrides().join(", ")
        );
    }
    // Connect before computing, so a bad URL fails fast.
    let sink = match args.sink {
        Some(SinkKind::Postgres) => Some(args.database.connect().await?),
        None => None,
    };
    let run = crate::pipeline::MetricsRun {
        lake,
        params,
        tickers,
        jobs,
    };
    let summary = run.run_keeping(&selection, sink.is_some()).await?;
    if let Some(sink) = &sink {
        let report = crate::pipeline::sink_results(sink, &run.params, &summary.batches).await?;
        if !report.soft_failed.is_empty() {
            return Ok(EXIT_TICKERS_SOFT_FAILED);
        }
    }
    Ok(summary.exit_code())
}

/// `daily`'s flags.
#[derive(Debug, Args)]
struct DailyArgs {
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

async fn run_daily(args: DailyArgs) -> Result<u8> {
    let selection = args.selection()?;
    let lake = Location::parse(&args.lake.lake).context("--lake")?;
    let jobs = ConvertArgs {
        jobs: args.jobs,
        force: false,
        strict: false,
    }
    .jobs()?;
    info!(lake = %lake, selection = ?selection, jobs, "daily: run header");
    let started = std::time::Instant::now();
    let sink = match &args.database.database_url {
        Some(_) => Some(args.database.connect().await?),
        None => None,
    };
    let report = crate::daily::run(&lake, &selection, jobs).await?;
    // Every date written goes to the database, the recomputed later ones too.
    let (sunk, soft_failed) = match &sink {
        Some(sink) => crate::pipeline::sink_daily(&lake, sink, &report.written).await?,
        None => (0, 0),
    };
    info!(
        dates = report.written.len(),
        recomputed = report.recomputed,
        rows = report.rows,
        skipped_symbols = report.skipped_symbols,
        sunk_rows = sunk,
        soft_failed_rows = soft_failed,
        seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
        "daily: summary"
    );
    Ok(if soft_failed > 0 {
        EXIT_TICKERS_SOFT_FAILED
    } else {
        EXIT_OK
    })
}

async fn run_backfill(args: BackfillArgs) -> Result<u8> {
    let input = match (args.file, args.dir) {
        (Some(f), None) => f,
        (None, Some(d)) => d,
        _ => bail!("give --file ARCHIVE or --dir DIRECTORY"),
    };
    let selection = args.select.selection()?;
    let lake = Location::parse(&args.lake.lake).context("--lake")?;
    let sink = match &args.database.database_url {
        Some(_) => Some(args.database.connect().await?),
        None => None,
    };
    let chain = crate::pipeline::Chain {
        ingest: IngestOptions {
            lake,
            jobs: args.convert.jobs()?,
            force: args.convert.force,
            strict: args.convert.strict,
        },
        params: args.profiles.iter().map(|p| p.params()).collect(),
        tickers: args.tickers,
    };
    let sources = discover(std::slice::from_ref(&input), &selection).await?;
    info!(
        input = %input,
        lake = %chain.ingest.lake,
        pattern = %selection.pattern,
        from = ?selection.from,
        to = ?selection.to,
        files = sources.len(),
        jobs = chain.ingest.jobs,
        profiles = ?args.profiles,
        database = %sink.as_ref().map_or("none (Parquet results only)".to_string(), |s| s.url().to_string()),
        "backfill: run header"
    );
    let report = chain.run(sources, sink.as_ref()).await?;
    Ok(report.exit_code())
}

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
    #[arg(long, default_value_t = crate::nightly::DEFAULT_LOOKBACK_DAYS, env = "GEXLAKE_LOOKBACK_DAYS")]
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
    #[arg(long, default_value = "6h", value_parser = crate::nightly::parse_duration, env = "GEXLAKE_LOCK_TIMEOUT")]
    lock_timeout: std::time::Duration,
    /// Warn (WARNING) when the source's newest archive is older than this many days in New York; 0 never warns.
    #[arg(long, default_value_t = crate::nightly::DEFAULT_STALE_AFTER_DAYS, env = "GEXLAKE_STALE_AFTER_DAYS")]
    stale_after_days: u32,
    /// Local directory for FTP downloads in progress (kept for resuming; default: the temp directory).
    #[arg(long, env = "GEXLAKE_WORK_DIR")]
    work_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    database: DatabaseArgs,
}

async fn run_nightly(args: NightlyArgs) -> Result<u8> {
    let raw = match &args.raw {
        Some(r) => Some(Location::parse(r).context("--raw")?),
        None => None,
    };
    let sink = match &args.database.database_url {
        Some(_) => Some(args.database.connect().await?),
        None => None,
    };
    let mut pull = crate::ftp::PullOptions::default();
    if let Some(dir) = args.work_dir {
        pull.work_dir = dir;
    }
    let options = crate::nightly::NightlyOptions {
        source: args.source,
        raw,
        date: args.date,
        lookback_days: args.lookback_days,
        pattern: args.pattern,
        lock_timeout: args.lock_timeout,
        stale_after_days: args.stale_after_days,
        pull,
        chain: crate::pipeline::Chain {
            ingest: IngestOptions {
                lake: Location::parse(&args.lake.lake).context("--lake")?,
                jobs: args.convert.jobs()?,
                force: args.convert.force,
                strict: args.convert.strict,
            },
            params: args.profiles.iter().map(|p| p.params()).collect(),
            tickers: args.tickers,
        },
    };
    crate::nightly::run(&options, sink.as_ref()).await
}

fn run_sample(args: SampleArgs) -> Result<u8> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut date = args.date;
    for _ in 0..args.days {
        let spec = SampleSpec {
            date,
            tickers: args.tickers,
            seed: args.seed,
            layout: args.layout,
            precision: args.precision,
        };
        let summary = write_archive(&spec, &args.out)
            .with_context(|| format!("writing the sample for {date}"))?;
        info!(path = %summary.path.display(), rows = summary.rows, bytes = summary.bytes, "sample written");
        date = next_weekday(date);
    }
    Ok(EXIT_OK)
}

/// The next Monday–Friday after `date`.
pub fn next_weekday(date: NaiveDate) -> NaiveDate {
    use chrono::{Datelike, Weekday};
    let mut d = date.succ_opt().expect("date in range");
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d = d.succ_opt().expect("date in range");
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_args_debug_hides_the_password() {
        let args = DatabaseArgs {
            database_url: Some("postgres://gex:s3cret@db.example/trading".into()),
            sink_batch_size: 1000,
            sink_concurrency: 3,
        };
        let shown = format!("{args:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.example"), "{shown}");
    }

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
