//! `gexlake check`: the V2 handoff's post-run sanity checks ("Sanity Checks
//! (Post-Run)") over `dealer_metrics`, as a report with thresholds.
//!
//! The `daily_*` checks judge `orats_daily` (ORATS_DAILY.md) when the lake
//! has it. The handoff's three queries become: rows per date over the last N dates,
//! the distribution of the checked date (share of non-zero GEX, share with a
//! flip, average contracts analyzed) and spot checks of AAPL, TSLA, SPY, NVDA
//! and META. Only the checked date can fail; earlier dates in the window give
//! context and warnings.
//!
//! | check | FAIL (exit 5) | WARN |
//! |---|---|---|
//! | `rows` | no row for the date, or `avg contracts` 0 | fewer tickers than `strikes` has that day |
//! | `ticker_count` | count drops by more than `--max-count-drop` (20 %) vs the previous date | an earlier date of the window did |
//! | `nonzero_gex` | share of tickers with `gex_net ≠ 0` below `--min-nonzero-share` (50 %) | an earlier date was |
//! | `flip_share` | — | share with a flip below `--min-flip-share` (10 %) |
//! | `contracts` | — | average contracts analyzed moves by more than `--max-contracts-change` (30 %) vs the previous date |
//! | `daily_rows` | `orats_daily` has no row for the date, or not one per symbol of `strikes` (1–10 characters) | — |
//! | `daily_iv_rank` | an `iv_rank` outside 0–100, or one where the dataset holds fewer than 36 dates in the 60 days | over half null with enough history |
//! | `daily_hv` | an `hv_30day` where the dataset holds fewer than 21 dates in the 46 days | over half null with enough history |
//! | `daily_volumes` | a negative volume or open interest | — |
//! | `spot_check` | a watched ticker present in `strikes` has no row, status INVALID, no spot, or `gex_net` null or 0; a flip outside the parameter set's `flip_strike_range` | no call or put wall; a wall more than 50 % from spot; spot moved more than 25 % since the previous date |
//!
//! Each parameter set in the lake (or each of `--params`) gets its own report.
//! The flip is judged against the rule that made it, never against a fixed
//! distance: the first crossing (METRICS.md §5) walks up from the lowest strike,
//! so it may lie anywhere among the strikes; the nearest-spot rule (§10) takes
//! the crossing closest to spot, which is far when the profile changes sign only
//! far away (a short-gamma index, say). Either may lie only inside its
//! `flip_strike_range`: outside it, the rule was not followed.

use anyhow::Result;
use chrono::NaiveDate;
use datafusion::scalar::ScalarValue;

use super::open;
use crate::metrics::Profile;
use crate::metrics::engine::metrics_param_sets;
use crate::orats::values::date_to_days;
use crate::outcome::Outcome;
use crate::store::Location;

mod dealer_metrics;
mod orats_daily;
mod report;

pub use dealer_metrics::{
    DateStats, SPOT_CHECK_TICKERS, SpotCheck, SpotRow, evaluate, flip_rule_text,
};
use dealer_metrics::{check_params, metric_dates};
use orats_daily::check_daily;
pub use orats_daily::{DailyStats, daily_findings};
pub use report::render;

/// What `gexlake check` checks.
#[derive(Debug)]
pub struct CheckOptions {
    /// The trade date to check (default: the latest with results for `params`).
    pub date: Option<NaiveDate>,
    /// The parameter sets to check, as in dealer_metrics' `params` column
    /// (empty: every set in the lake, one report each).
    pub params: Vec<String>,
    /// Dates shown in the rows-per-date table (ending at `date`), at least 1.
    pub last: u16,
    /// Where checks warn or fail.
    pub thresholds: Thresholds,
    /// DataFusion partitions.
    pub jobs: usize,
    /// The lake.
    pub lake: Location,
}

/// Where a check turns into a warning or a failure (fractions: 0.2 = 20 %);
/// the defaults are the table in this module's documentation.
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// Fail when the ticker count drops by more than this vs the previous date.
    pub max_count_drop: f64,
    /// Fail when fewer than this share of tickers have a non-zero net GEX.
    pub min_nonzero_share: f64,
    /// Warn when fewer than this share of tickers have a gamma flip.
    pub min_flip_share: f64,
    /// Warn when the average contracts analyzed moves by more than this vs the previous date.
    pub max_contracts_change: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_count_drop: 0.20,
            min_nonzero_share: 0.50,
            min_flip_share: 0.10,
            max_contracts_change: 0.30,
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Within thresholds.
    Pass,
    /// Worth a look; does not fail the run.
    Warn,
    /// An anomaly: `check` exits with [`EXIT_CHECK_FAILED`](crate::outcome::EXIT_CHECK_FAILED).
    Fail,
}

impl Level {
    /// How the report prints it.
    fn tag(self) -> &'static str {
        match self {
            Level::Pass => "PASS",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// One line of the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// How bad.
    pub level: Level,
    /// Which check.
    pub check: String,
    /// What was seen, with the threshold.
    pub detail: String,
}

fn finding(level: Level, check: &str, detail: String) -> Finding {
    Finding {
        level,
        check: check.to_string(),
        detail,
    }
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn share(part: i64, whole: i64) -> f64 {
    if whole > 0 {
        part as f64 / whole as f64
    } else {
        0.0
    }
}

fn date_value(date: NaiveDate) -> ScalarValue {
    ScalarValue::Date32(Some(date_to_days(date)))
}

/// Runs `gexlake check`: one report per parameter set (then one for
/// `orats_daily`), each failing one counted in [`Outcome::checks_failed`].
pub async fn run(args: CheckOptions) -> Result<Outcome> {
    let lake = args.lake.clone();
    let ctx = open(&lake, args.jobs, &Profile::A3.params()).await?;
    let mut sets = args.params.clone();
    if sets.is_empty() {
        // Every set with results; a directory left empty holds none to check.
        for set in metrics_param_sets(&lake).await? {
            if metric_dates(&lake, &set).await?.is_empty() {
                tracing::warn!(params = %set, "check: no results under this parameter set; skipped");
            } else {
                sets.push(set);
            }
        }
        sets.sort();
        if sets.is_empty() {
            anyhow::bail!("the lake {lake} has no dealer_metrics; run `gexlake metrics` first");
        }
    }
    let mut failed = 0;
    let mut checked = None;
    for (i, params) in sets.iter().enumerate() {
        let (report, set_failed, date) = check_params(&ctx, &lake, params, &args).await?;
        if i > 0 {
            println!();
        }
        println!("{report}");
        failed += usize::from(set_failed);
        checked.get_or_insert(date);
    }
    // orats_daily is one dataset whatever the parameter set: one report, for the date checked.
    if let Some(date) = checked
        && let Some((report, daily_failed)) = check_daily(&ctx, &lake, date).await?
    {
        println!("\n{report}");
        failed += usize::from(daily_failed);
    }
    Ok(Outcome {
        checks_failed: failed,
        ..Outcome::default()
    })
}

/// The levels of the findings of `check`, in order (the tests' view of a verdict).
#[cfg(test)]
fn levels(findings: &[Finding], check: &str) -> Vec<Level> {
    findings
        .iter()
        .filter(|f| f.check == check)
        .map(|f| f.level)
        .collect()
}
