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

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::open;
use super::table::Table;
use crate::lake::{METRICS_DIR, partition_date};
use crate::metrics::engine::metrics_param_sets;
use crate::metrics::{FlipRule, MetricsParams, Profile};
use crate::orats::values::date_to_days;
use crate::outcome::Outcome;
use crate::store::Location;

/// The tickers the handoff spot-checks.
pub const SPOT_CHECK_TICKERS: [&str; 5] = ["AAPL", "TSLA", "SPY", "NVDA", "META"];

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

/// The distribution of one date's results (the handoff's third query).
#[derive(Debug, Clone, PartialEq)]
pub struct DateStats {
    /// The trade date.
    pub date: NaiveDate,
    /// Rows (tickers).
    pub tickers: i64,
    /// Rows with `gex_net` ≠ 0 (null counts as zero, as in the handoff's SQL).
    pub nonzero_gex: i64,
    /// Rows with a gamma flip.
    pub has_flip: i64,
    /// Average `contracts_analyzed`.
    pub avg_contracts: f64,
    /// Rows with status FULL.
    pub full: i64,
    /// Rows with status INVALID.
    pub invalid: i64,
}

/// One watched ticker on the checked date (the handoff's second query).
#[derive(Debug, Clone, PartialEq)]
pub struct SpotCheck {
    /// The ticker.
    pub ticker: String,
    /// Its row, if it has one.
    pub row: Option<SpotRow>,
    /// Its spot on the previous date of the window, if any.
    pub previous_spot: Option<f64>,
}

/// The handoff's spot-check columns.
#[derive(Debug, Clone, PartialEq)]
pub struct SpotRow {
    /// FULL, LIMITED or INVALID.
    pub status: String,
    /// Spot price.
    pub spot: Option<f64>,
    /// Net GEX.
    pub gex_net: Option<f64>,
    /// Net DEX.
    pub net_dex: Option<f64>,
    /// Strike of the largest call wall.
    pub call_wall: Option<f64>,
    /// Strike of the largest put wall.
    pub put_wall: Option<f64>,
    /// Gamma flip.
    pub flip: Option<f64>,
    /// Contracts analyzed.
    pub contracts: i64,
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

/// The verdict on `window` (ascending dates; the last is the checked date).
/// `strikes_tickers` is the number of tickers in `strikes` that day.
pub fn evaluate(
    window: &[DateStats],
    strikes_tickers: i64,
    spot: &[SpotCheck],
    t: &Thresholds,
    rules: &MetricsParams,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(today) = window.last() else {
        return out;
    };
    if today.tickers == 0 {
        out.push(finding(
            Level::Fail,
            "rows",
            format!("{} has no rows", today.date),
        ));
        return out;
    }
    if today.tickers < strikes_tickers {
        out.push(finding(
            Level::Warn,
            "rows",
            format!(
                "{} tickers, but strikes has {strikes_tickers} that day (a watchlist run?)",
                today.tickers
            ),
        ));
    } else {
        out.push(finding(
            Level::Pass,
            "rows",
            format!("{} tickers (strikes: {strikes_tickers})", today.tickers),
        ));
    }
    for (i, day) in window.iter().enumerate() {
        let is_today = i + 1 == window.len();
        let bad = if is_today { Level::Fail } else { Level::Warn };
        if let Some(previous) = i.checked_sub(1).map(|j| &window[j]) {
            let change = share(day.tickers - previous.tickers, previous.tickers);
            if -change > t.max_count_drop {
                out.push(finding(
                    bad,
                    "ticker_count",
                    format!(
                        "{}: {} tickers vs {} on {} ({:+.1} %; fails beyond -{})",
                        day.date,
                        day.tickers,
                        previous.tickers,
                        previous.date,
                        change * 100.0,
                        pct(t.max_count_drop)
                    ),
                ));
            } else if is_today {
                out.push(finding(
                    Level::Pass,
                    "ticker_count",
                    format!(
                        "{} vs {} on {} ({:+.1} %)",
                        day.tickers,
                        previous.tickers,
                        previous.date,
                        change * 100.0
                    ),
                ));
            }
            let moved = if previous.avg_contracts > 0.0 {
                (day.avg_contracts - previous.avg_contracts) / previous.avg_contracts
            } else {
                0.0
            };
            if is_today && moved.abs() > t.max_contracts_change {
                out.push(finding(
                    Level::Warn,
                    "contracts",
                    format!(
                        "average contracts analyzed {:.1} vs {:.1} on {} ({:+.1} %; warns beyond ±{})",
                        day.avg_contracts,
                        previous.avg_contracts,
                        previous.date,
                        moved * 100.0,
                        pct(t.max_contracts_change)
                    ),
                ));
            }
        }
        let nonzero = share(day.nonzero_gex, day.tickers);
        if nonzero < t.min_nonzero_share {
            out.push(finding(
                bad,
                "nonzero_gex",
                format!(
                    "{}: {} of tickers have a non-zero net GEX (fails below {})",
                    day.date,
                    pct(nonzero),
                    pct(t.min_nonzero_share)
                ),
            ));
        } else if is_today {
            out.push(finding(
                Level::Pass,
                "nonzero_gex",
                format!(
                    "{} non-zero (fails below {})",
                    pct(nonzero),
                    pct(t.min_nonzero_share)
                ),
            ));
        }
    }
    if today.avg_contracts <= 0.0 {
        out.push(finding(
            Level::Fail,
            "contracts",
            "no contract analyzed at all".to_string(),
        ));
    }
    let flips = share(today.has_flip, today.tickers);
    let level = if flips < t.min_flip_share {
        Level::Warn
    } else {
        Level::Pass
    };
    out.push(finding(
        level,
        "flip_share",
        format!(
            "{} have a gamma flip (warns below {})",
            pct(flips),
            pct(t.min_flip_share)
        ),
    ));
    for check in spot {
        out.extend(spot_findings(check, rules));
    }
    out
}

fn spot_findings(check: &SpotCheck, rules: &MetricsParams) -> Vec<Finding> {
    let name = format!("spot_check {}", check.ticker);
    let Some(row) = &check.row else {
        return vec![finding(
            Level::Fail,
            &name,
            "in strikes but no dealer_metrics row".into(),
        )];
    };
    let mut out = Vec::new();
    let mut fail = Vec::new();
    if row.status == "INVALID" {
        fail.push("status INVALID".to_string());
    }
    match row.gex_net {
        None => fail.push("net GEX is null".into()),
        Some(0.0) => fail.push("net GEX is 0".into()),
        Some(_) => {}
    }
    let Some(spot) = row.spot.filter(|s| *s > 0.0) else {
        fail.push("no spot".into());
        out.push(finding(Level::Fail, &name, fail.join("; ")));
        return out;
    };
    let mut warn = Vec::new();
    if let Some(flip) = row.flip {
        match flip_judgement(flip, spot, rules) {
            Some((Level::Fail, why)) => fail.push(why),
            Some((_, why)) => warn.push(why),
            None => {}
        }
    }
    if !fail.is_empty() {
        out.push(finding(Level::Fail, &name, fail.join("; ")));
    }
    if row.call_wall.is_none() || row.put_wall.is_none() {
        warn.push("no call or put wall".to_string());
    }
    for (label, level) in [("call wall", row.call_wall), ("put wall", row.put_wall)] {
        if let Some(k) = level
            && (k / spot - 1.0).abs() > 0.5
        {
            warn.push(format!("{label} {k:.2} is more than 50 % from spot {spot}"));
        }
    }
    if let Some(previous) = check.previous_spot.filter(|p| *p > 0.0)
        && (spot / previous - 1.0).abs() > 0.25
    {
        warn.push(format!(
            "spot moved from {previous} to {spot} (> 25 %: split or bad price?)"
        ));
    }
    if !warn.is_empty() {
        out.push(finding(Level::Warn, &name, warn.join("; ")));
    }
    if out.is_empty() {
        out.push(finding(
            Level::Pass,
            &name,
            format!("{}, {} contracts", row.status, row.contracts),
        ));
    }
    out
}

/// Judges a flip's place against the rule that made it (see the module
/// documentation): `None` when the rule allows it there.
fn flip_judgement(flip: f64, spot: f64, rules: &MetricsParams) -> Option<(Level, String)> {
    let range = rules.flip_strike_range?;
    (!(range.low * spot <= flip && flip <= range.high * spot)).then(|| {
        (
            Level::Fail,
            format!(
                "flip {flip:.2} lies outside the {} band [{}, {}] × spot {spot}",
                rules.flip_rule, range.low, range.high
            ),
        )
    })
}

/// How the flip of `rules` is chosen, for the report.
pub fn flip_rule_text(rules: &MetricsParams) -> String {
    let band = rules
        .flip_strike_range
        .map_or("every strike".to_string(), |r| {
            format!("strikes in [{}, {}] × spot", r.low, r.high)
        });
    match rules.flip_rule {
        FlipRule::FirstCrossing => format!(
            "first_crossing over {band} (the first sign change up from the lowest strike: its distance from spot is not judged)"
        ),
        FlipRule::NearestSpot => format!(
            "nearest_spot over {band} (the sign change closest to spot, however far: a flip outside the band fails)"
        ),
    }
}

/// The dates with results for `params`, ascending.
async fn metric_dates(lake: &Location, params: &str) -> Result<Vec<NaiveDate>> {
    let prefix = lake.child(&format!("{METRICS_DIR}/params={params}"));
    let listing = lake
        .store
        .list_with_delimiter(Some(&prefix))
        .await
        .with_context(|| format!("listing {lake}/{METRICS_DIR}"))?;
    let mut dates: Vec<NaiveDate> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().and_then(partition_date))
        .collect();
    dates.sort();
    Ok(dates)
}

fn date_value(date: NaiveDate) -> ScalarValue {
    ScalarValue::Date32(Some(date_to_days(date)))
}

async fn date_stats(
    ctx: &SessionContext,
    params: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DateStats>> {
    let table = Table::query(
        ctx,
        "SELECT trade_date, count(*) AS tickers,
                count(*) FILTER (WHERE gex_net <> 0) AS nonzero_gex,
                count(gamma_flip) AS has_flip,
                avg(contracts_analyzed) AS avg_contracts,
                count(*) FILTER (WHERE status = 'FULL') AS full,
                count(*) FILTER (WHERE status = 'INVALID') AS invalid
         FROM dealer_metrics
         WHERE params = $params AND trade_date BETWEEN $from AND $to
         GROUP BY trade_date ORDER BY trade_date",
        vec![
            ("params", ScalarValue::Utf8(Some(params.to_string()))),
            ("from", date_value(from)),
            ("to", date_value(to)),
        ],
    )
    .await?;
    let (dates, tickers, nonzero) = (
        table.date("trade_date")?,
        table.i64("tickers")?,
        table.i64("nonzero_gex")?,
    );
    let (flips, contracts) = (table.i64("has_flip")?, table.f64("avg_contracts")?);
    let (full, invalid) = (table.i64("full")?, table.i64("invalid")?);
    Ok((0..table.len())
        .filter_map(|i| {
            Some(DateStats {
                date: dates[i]?,
                tickers: tickers[i].unwrap_or(0),
                nonzero_gex: nonzero[i].unwrap_or(0),
                has_flip: flips[i].unwrap_or(0),
                avg_contracts: contracts[i].unwrap_or(0.0),
                full: full[i].unwrap_or(0),
                invalid: invalid[i].unwrap_or(0),
            })
        })
        .collect())
}

async fn spot_checks(
    ctx: &SessionContext,
    params: &str,
    date: NaiveDate,
    previous: Option<NaiveDate>,
) -> Result<(i64, Vec<SpotCheck>)> {
    let watched = SPOT_CHECK_TICKERS.map(|t| format!("'{t}'")).join(", ");
    let present = Table::query(
        ctx,
        "SELECT ticker, count(*) OVER () AS tickers FROM (SELECT DISTINCT ticker FROM strikes WHERE trade_date = $date)",
        vec![("date", date_value(date))],
    )
    .await?;
    let strikes_tickers = present.first_i64("tickers")?;
    let present: Vec<String> = present.text("ticker")?.into_iter().flatten().collect();
    let rows = Table::query(
        ctx,
        &format!(
            "SELECT ticker, trade_date, status, spot_price, gex_net, net_dex, call_walls, put_walls,
                    gamma_flip, contracts_analyzed
             FROM dealer_metrics
             WHERE params = $params AND trade_date IN ($date, $previous) AND ticker IN ({watched})"
        ),
        vec![
            ("params", ScalarValue::Utf8(Some(params.to_string()))),
            ("date", date_value(date)),
            (
                "previous",
                previous.map_or(ScalarValue::Date32(None), date_value),
            ),
        ],
    )
    .await?;
    let (tickers, dates, status) = (
        rows.text("ticker")?,
        rows.date("trade_date")?,
        rows.text("status")?,
    );
    let (spots, gex, dex, flips) = (
        rows.f64("spot_price")?,
        rows.f64("gex_net")?,
        rows.f64("net_dex")?,
        rows.f64("gamma_flip")?,
    );
    let (calls, puts, contracts) = (
        rows.walls("call_walls")?,
        rows.walls("put_walls")?,
        rows.i64("contracts_analyzed")?,
    );
    let mut today: BTreeMap<String, SpotRow> = BTreeMap::new();
    let mut before: BTreeMap<String, f64> = BTreeMap::new();
    for i in 0..rows.len() {
        let Some(ticker) = tickers[i].clone() else {
            continue;
        };
        if dates[i] == Some(date) {
            today.insert(
                ticker,
                SpotRow {
                    status: status[i].clone().unwrap_or_default(),
                    spot: spots[i],
                    gex_net: gex[i],
                    net_dex: dex[i],
                    call_wall: calls[i].first().map(|w| w.0),
                    put_wall: puts[i].first().map(|w| w.0),
                    flip: flips[i],
                    contracts: contracts[i].unwrap_or(0),
                },
            );
        } else if let Some(s) = spots[i] {
            before.insert(ticker, s);
        }
    }
    let checks = SPOT_CHECK_TICKERS
        .iter()
        .filter(|t| present.iter().any(|p| p == *t))
        .map(|t| SpotCheck {
            ticker: t.to_string(),
            row: today.get(*t).cloned(),
            previous_spot: before.get(*t).copied(),
        })
        .collect();
    Ok((strikes_tickers, checks))
}

fn money(x: Option<f64>) -> String {
    x.map_or("—".into(), super::plot::dollars)
}

fn shares(x: Option<f64>) -> String {
    x.map_or("—".into(), super::plot::short_number)
}

fn level(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{v:.2}"))
}

/// The report as text.
pub fn render(
    header: &str,
    window: &[DateStats],
    date: NaiveDate,
    spot: &[SpotCheck],
    findings: &[Finding],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}\n\nRows per date");
    let _ = writeln!(
        out,
        "  {:<10}  {:>7}  {:>8}  {:>16}  {:>16}  {:>13}  {:>6}  {:>7}",
        "trade_date",
        "tickers",
        "change",
        "non-zero GEX",
        "with flip",
        "avg contracts",
        "FULL",
        "INVALID"
    );
    for (i, day) in window.iter().enumerate() {
        let change = match i.checked_sub(1).map(|j| &window[j]) {
            Some(p) => format!(
                "{:+.1} %",
                share(day.tickers - p.tickers, p.tickers) * 100.0
            ),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<10}  {:>7}  {:>8}  {:>16}  {:>16}  {:>13.1}  {:>6}  {:>7}",
            day.date.to_string(),
            day.tickers,
            change,
            format!(
                "{} ({})",
                day.nonzero_gex,
                pct(share(day.nonzero_gex, day.tickers))
            ),
            format!(
                "{} ({})",
                day.has_flip,
                pct(share(day.has_flip, day.tickers))
            ),
            day.avg_contracts,
            day.full,
            day.invalid
        );
    }
    let _ = writeln!(out, "\nSpot checks ({date})");
    if spot.is_empty() {
        let _ = writeln!(
            out,
            "  none of {} is in strikes that day",
            SPOT_CHECK_TICKERS.join(", ")
        );
    } else {
        let _ = writeln!(
            out,
            "  {:<6}  {:<8}  {:>10}  {:>9}  {:>9}  {:>10}  {:>10}  {:>10}  {:>9}",
            "ticker",
            "status",
            "spot",
            "net GEX",
            "net DEX",
            "call wall",
            "put wall",
            "flip",
            "contracts"
        );
        for check in spot {
            match &check.row {
                Some(r) => {
                    let _ = writeln!(
                        out,
                        "  {:<6}  {:<8}  {:>10}  {:>9}  {:>9}  {:>10}  {:>10}  {:>10}  {:>9}",
                        check.ticker,
                        r.status,
                        level(r.spot),
                        money(r.gex_net),
                        shares(r.net_dex),
                        level(r.call_wall),
                        level(r.put_wall),
                        level(r.flip),
                        r.contracts
                    );
                }
                None => {
                    let _ = writeln!(out, "  {:<6}  (no row)", check.ticker);
                }
            }
        }
    }
    write_checks(&mut out, findings);
    out
}

/// The findings, then the verdict line.
fn write_checks(out: &mut String, findings: &[Finding]) {
    let _ = writeln!(out, "\nChecks");
    for f in findings {
        let _ = writeln!(out, "  {}  {:<18} {}", f.level.tag(), f.check, f.detail);
    }
    let failed = findings.iter().filter(|f| f.level == Level::Fail).count();
    let warned = findings.iter().filter(|f| f.level == Level::Warn).count();
    let verdict = if failed > 0 { "FAIL" } else { "PASS" };
    let _ = write!(
        out,
        "\nResult: {verdict} ({failed} failed, {warned} warnings)"
    );
}

/// One date of `orats_daily`, as the `daily_*` checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyStats {
    /// Rows for the date.
    pub rows: i64,
    /// Symbols `strikes` has that day (trimmed, upper-cased, 1–10 characters).
    pub symbols: i64,
    /// Rows with an `iv_rank` outside 0–100.
    pub iv_rank_out_of_range: i64,
    /// Rows with `iv_rank` null.
    pub iv_rank_null: i64,
    /// Rows with `hv_30day` null.
    pub hv_null: i64,
    /// Rows with a negative volume or open interest.
    pub negative: i64,
    /// Dates the dataset holds in `[date − 59, date]` (iv_rank's window).
    pub dates_60: i64,
    /// Dates the dataset holds in `[date − 45, date]` (hv_30day's window).
    pub dates_46: i64,
}

/// The verdict on one date of `orats_daily`. A null rate is judged against
/// the history the dataset holds: with too few dates a value must be null
/// everywhere; with enough, most symbols should have one.
pub fn daily_findings(d: &DailyStats) -> Vec<Finding> {
    let mut out = Vec::new();
    out.push(if d.rows == 0 || d.rows != d.symbols {
        finding(
            Level::Fail,
            "daily_rows",
            format!("{} rows for {} symbols in strikes", d.rows, d.symbols),
        )
    } else {
        finding(
            Level::Pass,
            "daily_rows",
            format!("{} rows, one per symbol", d.rows),
        )
    });
    let known_ranks = d.rows - d.iv_rank_null;
    out.push(if d.iv_rank_out_of_range > 0 {
        finding(
            Level::Fail,
            "daily_iv_rank",
            format!("{} iv_rank outside 0–100", d.iv_rank_out_of_range),
        )
    } else if d.dates_60 < 36 && known_ranks > 0 {
        finding(
            Level::Fail,
            "daily_iv_rank",
            format!(
                "{known_ranks} iv_rank known with {} dates in the 60 days (36 needed)",
                d.dates_60
            ),
        )
    } else if d.dates_60 >= 36 && share(d.iv_rank_null, d.rows) > 0.5 {
        finding(
            Level::Warn,
            "daily_iv_rank",
            format!(
                "{} of iv_rank null with {} dates of history",
                pct(share(d.iv_rank_null, d.rows)),
                d.dates_60
            ),
        )
    } else {
        finding(
            Level::Pass,
            "daily_iv_rank",
            format!(
                "{} null, {} dates in the 60 days",
                pct(share(d.iv_rank_null, d.rows)),
                d.dates_60
            ),
        )
    });
    let known_hv = d.rows - d.hv_null;
    out.push(if d.dates_46 < 21 && known_hv > 0 {
        finding(
            Level::Fail,
            "daily_hv",
            format!(
                "{known_hv} hv_30day known with {} dates in the 46 days (21 needed)",
                d.dates_46
            ),
        )
    } else if d.dates_46 >= 21 && share(d.hv_null, d.rows) > 0.5 {
        finding(
            Level::Warn,
            "daily_hv",
            format!(
                "{} of hv_30day null with {} dates of history",
                pct(share(d.hv_null, d.rows)),
                d.dates_46
            ),
        )
    } else {
        finding(
            Level::Pass,
            "daily_hv",
            format!(
                "{} null, {} dates in the 46 days",
                pct(share(d.hv_null, d.rows)),
                d.dates_46
            ),
        )
    });
    out.push(if d.negative > 0 {
        finding(
            Level::Fail,
            "daily_volumes",
            format!(
                "{} rows with a negative volume or open interest",
                d.negative
            ),
        )
    } else {
        finding(Level::Pass, "daily_volumes", "none negative".to_string())
    });
    out
}

/// `orats_daily`'s figures for `date`, or `None` when the lake has no such dataset.
async fn daily_stats(
    ctx: &SessionContext,
    lake: &Location,
    date: NaiveDate,
) -> Result<Option<DailyStats>> {
    let dates = crate::daily::stored::daily_dates(lake).await?;
    if dates.is_empty() {
        return Ok(None);
    }
    let within = |days: i64| {
        dates
            .range(date - chrono::Duration::days(days)..=date)
            .count() as i64
    };
    let (dates_60, dates_46) = (within(59), within(45));
    let mut stats = DailyStats {
        rows: 0,
        symbols: 0,
        iv_rank_out_of_range: 0,
        iv_rank_null: 0,
        hv_null: 0,
        negative: 0,
        dates_60,
        dates_46,
    };
    if dates.contains(&date) {
        let table = Table::query(
            ctx,
            "SELECT count(*) AS rows_,
                    count(*) FILTER (WHERE iv_rank < 0 OR iv_rank > 100) AS out_of_range,
                    count(*) FILTER (WHERE iv_rank IS NULL) AS iv_null,
                    count(*) FILTER (WHERE hv_30day IS NULL) AS hv_null,
                    count(*) FILTER (WHERE call_volume < 0 OR put_volume < 0 OR total_volume < 0
                                     OR call_open_interest < 0 OR put_open_interest < 0) AS negative
             FROM orats_daily WHERE trade_date = $date",
            vec![("date", date_value(date))],
        )
        .await?;
        stats.rows = table.first_i64("rows_")?;
        stats.iv_rank_out_of_range = table.first_i64("out_of_range")?;
        stats.iv_rank_null = table.first_i64("iv_null")?;
        stats.hv_null = table.first_i64("hv_null")?;
        stats.negative = table.first_i64("negative")?;
    }
    let symbols = Table::query(
        ctx,
        "SELECT count(DISTINCT upper(trim(ticker))) AS symbols FROM strikes
         WHERE trade_date = $date AND character_length(trim(ticker)) BETWEEN 1 AND 10",
        vec![("date", date_value(date))],
    )
    .await?;
    stats.symbols = symbols.first_i64("symbols")?;
    Ok(Some(stats))
}

/// The parameters a set's results were made with, from their `parameters`
/// column (results written before a parameter existed read as its model-1 value).
async fn recorded_params(
    ctx: &SessionContext,
    params: &str,
    date: NaiveDate,
) -> Result<MetricsParams> {
    let table = Table::query(
        ctx,
        "SELECT parameters FROM dealer_metrics WHERE params = $params AND trade_date = $date LIMIT 1",
        vec![
            ("params", ScalarValue::Utf8(Some(params.to_string()))),
            ("date", date_value(date)),
        ],
    )
    .await?;
    let text = table
        .text("parameters")?
        .into_iter()
        .flatten()
        .next()
        .with_context(|| format!("no dealer_metrics row for params={params} on {date}"))?;
    serde_json::from_str(&text)
        .with_context(|| format!("params={params}: unreadable parameters {text:?}"))
}

/// One parameter set's report, whether a check failed, and the date checked.
async fn check_params(
    ctx: &SessionContext,
    lake: &Location,
    params: &str,
    args: &CheckOptions,
) -> Result<(String, bool, NaiveDate)> {
    let dates = metric_dates(lake, params).await?;
    if dates.is_empty() {
        let sets = metrics_param_sets(lake).await?;
        anyhow::bail!(
            "the lake {lake} has no dealer_metrics for params={params} (it has: {}); run `gexlake metrics` or pick --params",
            if sets.is_empty() {
                "none".to_string()
            } else {
                sets.join(", ")
            }
        );
    }
    let date = args.date.unwrap_or(dates[dates.len() - 1]);
    let upto: Vec<NaiveDate> = dates.iter().copied().filter(|d| *d <= date).collect();
    let shown = &upto[upto.len().saturating_sub(args.last as usize)..];
    let mut header = format!(
        "gexlake check: {date}, params {params}, lake {lake} (last {} dates)",
        shown.len()
    );
    if shown.last() != Some(&date) {
        let findings = vec![finding(
            Level::Fail,
            "rows",
            format!("no dealer_metrics for {date} under params={params}"),
        )];
        return Ok((render(&header, &[], date, &[], &findings), true, date));
    }
    let rules = recorded_params(ctx, params, date).await?;
    let _ = write!(
        header,
        "\nflip rule: {}\nmodel_version {}",
        flip_rule_text(&rules),
        rules.model_version()
    );
    let window = date_stats(ctx, params, shown[0], date).await?;
    let previous = shown.len().checked_sub(2).map(|i| shown[i]);
    let (strikes_tickers, spot) = spot_checks(ctx, params, date, previous).await?;
    let findings = evaluate(&window, strikes_tickers, &spot, &args.thresholds, &rules);
    let failed = findings.iter().any(|f| f.level == Level::Fail);
    Ok((
        render(&header, &window, date, &spot, &findings),
        failed,
        date,
    ))
}

/// The `orats_daily` checks of `date` as a report, and whether one failed;
/// `None` when the lake has no `orats_daily`.
async fn check_daily(
    ctx: &SessionContext,
    lake: &Location,
    date: NaiveDate,
) -> Result<Option<(String, bool)>> {
    let Some(daily) = daily_stats(ctx, lake, date).await? else {
        return Ok(None);
    };
    let findings = daily_findings(&daily);
    let mut out = format!("gexlake check: {date}, orats_daily, lake {lake}\n");
    write_checks(&mut out, &findings);
    let failed = findings.iter().any(|f| f.level == Level::Fail);
    Ok(Some((out, failed)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32, tickers: i64, nonzero: i64, flips: i64, contracts: f64) -> DateStats {
        DateStats {
            date: NaiveDate::from_ymd_opt(2026, 2, d).unwrap(),
            tickers,
            nonzero_gex: nonzero,
            has_flip: flips,
            avg_contracts: contracts,
            full: 0,
            invalid: 0,
        }
    }

    fn v2() -> MetricsParams {
        Profile::V2.params()
    }

    fn row() -> SpotRow {
        SpotRow {
            status: "FULL".into(),
            spot: Some(100.0),
            gex_net: Some(1e9),
            net_dex: Some(1e6),
            call_wall: Some(105.0),
            put_wall: Some(95.0),
            flip: Some(99.0),
            contracts: 500,
        }
    }

    fn levels(findings: &[Finding], check: &str) -> Vec<Level> {
        findings
            .iter()
            .filter(|f| f.check == check)
            .map(|f| f.level)
            .collect()
    }

    #[test]
    fn a_healthy_window_passes() {
        let window = [day(4, 100, 90, 40, 50.0), day(5, 98, 88, 41, 52.0)];
        let spot = [SpotCheck {
            ticker: "SPY".into(),
            row: Some(row()),
            previous_spot: Some(101.0),
        }];
        let f = evaluate(&window, 98, &spot, &Thresholds::default(), &v2());
        assert!(f.iter().all(|f| f.level == Level::Pass), "{f:?}");
        assert_eq!(levels(&f, "spot_check SPY"), [Level::Pass]);
    }

    #[test]
    fn a_drop_beyond_20_percent_fails_today_and_warns_before() {
        let t = Thresholds::default();
        let today = evaluate(
            &[day(4, 100, 90, 40, 50.0), day(5, 79, 70, 30, 50.0)],
            79,
            &[],
            &t,
            &v2(),
        );
        assert_eq!(levels(&today, "ticker_count"), [Level::Fail]);
        let exactly = evaluate(
            &[day(4, 100, 90, 40, 50.0), day(5, 80, 70, 30, 50.0)],
            80,
            &[],
            &t,
            &v2(),
        );
        assert_eq!(levels(&exactly, "ticker_count"), [Level::Pass]);
        let earlier = evaluate(
            &[
                day(3, 100, 90, 40, 50.0),
                day(4, 70, 60, 30, 50.0),
                day(5, 70, 60, 30, 50.0),
            ],
            70,
            &[],
            &t,
            &v2(),
        );
        assert_eq!(levels(&earlier, "ticker_count"), [Level::Warn, Level::Pass]);
    }

    #[test]
    fn shares_and_contracts_have_thresholds() {
        let t = Thresholds::default();
        let f = evaluate(
            &[day(4, 100, 90, 40, 50.0), day(5, 100, 49, 9, 20.0)],
            120,
            &[],
            &t,
            &v2(),
        );
        assert_eq!(levels(&f, "nonzero_gex"), [Level::Fail]);
        assert_eq!(levels(&f, "flip_share"), [Level::Warn]);
        assert_eq!(levels(&f, "contracts"), [Level::Warn]);
        assert_eq!(levels(&f, "rows"), [Level::Warn]);
        let empty = evaluate(&[day(5, 0, 0, 0, 0.0)], 10, &[], &t, &v2());
        assert_eq!(levels(&empty, "rows"), [Level::Fail]);
    }

    #[test]
    fn spot_checks_fail_on_invalid_rows_and_warn_on_odd_levels() {
        let missing = spot_findings(
            &SpotCheck {
                ticker: "AAPL".into(),
                row: None,
                previous_spot: None,
            },
            &v2(),
        );
        assert_eq!(missing[0].level, Level::Fail);
        let invalid = spot_findings(
            &SpotCheck {
                ticker: "AAPL".into(),
                row: Some(SpotRow {
                    status: "INVALID".into(),
                    gex_net: None,
                    ..row()
                }),
                previous_spot: None,
            },
            &v2(),
        );
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].level, Level::Fail);
        assert!(
            invalid[0]
                .detail
                .contains("status INVALID; net GEX is null"),
            "{invalid:?}"
        );
        let odd = spot_findings(
            &SpotCheck {
                ticker: "TSLA".into(),
                row: Some(SpotRow {
                    call_wall: Some(400.0),
                    put_wall: None,
                    ..row()
                }),
                previous_spot: Some(50.0),
            },
            &v2(),
        );
        assert_eq!(odd.len(), 1);
        assert_eq!(odd[0].level, Level::Warn);
        for part in ["no call or put wall", "call wall 400", "spot moved from 50"] {
            assert!(odd[0].detail.contains(part), "{part}: {odd:?}");
        }
    }

    fn with_flip(flip: f64) -> SpotCheck {
        SpotCheck {
            ticker: "SPY".into(),
            row: Some(SpotRow {
                flip: Some(flip),
                ..row()
            }),
            previous_spot: None,
        }
    }

    fn daily(rows: i64, iv_null: i64, hv_null: i64, dates_60: i64, dates_46: i64) -> DailyStats {
        DailyStats {
            rows,
            symbols: 100,
            iv_rank_out_of_range: 0,
            iv_rank_null: iv_null,
            hv_null,
            negative: 0,
            dates_60,
            dates_46,
        }
    }

    #[test]
    fn the_flip_is_judged_against_its_rule() {
        let a3 = Profile::A3.params();
        // Spot 100. The first crossing over every strike may lie anywhere: 20
        // is no alarm; nor is v2's nearest crossing at 40, inside [20, 300].
        assert_eq!(spot_findings(&with_flip(20.0), &a3)[0].level, Level::Pass);
        assert_eq!(spot_findings(&with_flip(99.0), &v2())[0].level, Level::Pass);
        assert_eq!(spot_findings(&with_flip(40.0), &v2())[0].level, Level::Pass);
        assert_eq!(
            spot_findings(&with_flip(300.0), &v2())[0].level,
            Level::Pass
        );
        // Outside the band the rule cannot have put it: a failure naming it.
        let outside = spot_findings(&with_flip(310.0), &v2());
        assert_eq!(outside[0].level, Level::Fail);
        assert!(
            outside[0]
                .detail
                .contains("flip 310.00 lies outside the nearest_spot band [0.2, 3] × spot 100"),
            "{outside:?}"
        );
        // A band on the first-crossing rule binds it too.
        let mut banded = a3.clone();
        banded.flip_strike_range = v2().flip_strike_range;
        assert_eq!(
            spot_findings(&with_flip(19.0), &banded)[0].level,
            Level::Fail
        );
    }

    #[test]
    fn the_report_names_the_flip_rule() {
        assert!(
            flip_rule_text(&Profile::A3.params()).starts_with("first_crossing over every strike")
        );
        assert!(flip_rule_text(&v2()).starts_with("nearest_spot over strikes in [0.2, 3] × spot"));
    }

    #[test]
    fn daily_null_rates_are_judged_against_the_history_length() {
        // 30 dates of history: no iv_rank may be known yet, every HV may be.
        let young = daily_findings(&daily(100, 100, 10, 30, 30));
        assert!(young.iter().all(|f| f.level == Level::Pass), "{young:?}");
        let impossible = daily_findings(&daily(100, 90, 100, 30, 20));
        assert_eq!(levels(&impossible, "daily_iv_rank"), [Level::Fail]);
        assert_eq!(levels(&impossible, "daily_hv"), [Level::Pass]);
        let known_hv_too_early = daily_findings(&daily(100, 100, 99, 30, 20));
        assert_eq!(levels(&known_hv_too_early, "daily_hv"), [Level::Fail]);
        // 41 dates: most ranks should be known.
        let mostly_null = daily_findings(&daily(100, 60, 60, 41, 31));
        assert_eq!(levels(&mostly_null, "daily_iv_rank"), [Level::Warn]);
        assert_eq!(levels(&mostly_null, "daily_hv"), [Level::Warn]);
        let missing_rows = daily_findings(&daily(99, 0, 0, 41, 31));
        assert_eq!(levels(&missing_rows, "daily_rows"), [Level::Fail]);
        let bad = daily_findings(&DailyStats {
            iv_rank_out_of_range: 1,
            negative: 2,
            ..daily(100, 0, 0, 41, 31)
        });
        assert_eq!(levels(&bad, "daily_iv_rank"), [Level::Fail]);
        assert_eq!(levels(&bad, "daily_volumes"), [Level::Fail]);
    }
}
