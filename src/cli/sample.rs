//! `gexlake sample`: write deterministic ORATS-shaped archives.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use tracing::info;

use crate::outcome::Outcome;
use crate::sample::{Layout, Precision, SampleSpec, write_archive};

/// `sample`'s flags.
#[derive(Debug, Args)]
pub struct SampleArgs {
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
    #[arg(long, value_enum, default_value_t = Layout::V1)]
    layout: Layout,
    /// Decimals of the IVs, vols and greeks: `realistic` as real files, `compact` the fewer,
    /// more repetitive digits of earlier samples.
    #[arg(long, value_enum, default_value_t = Precision::Realistic)]
    precision: Precision,
}

/// Runs `gexlake sample`: one archive per weekday from `--date`.
pub fn run(args: SampleArgs) -> Result<Outcome> {
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
    Ok(Outcome::default())
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
