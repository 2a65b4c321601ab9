//! The checks of `dealer_metrics` (one parameter set): the date's distribution against the
//! window before it, and the spot checks of the watched tickers, with the queries that
//! gather their figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::report::render;
use super::{CheckOptions, Finding, Level, Thresholds, date_value, finding, pct, share};
use crate::analyst::table::Table;
use crate::lake::{METRICS_DIR, partition_date};
use crate::metrics::engine::metrics_param_sets;
use crate::metrics::{FlipRule, MetricsParams};
use crate::store::Location;

/// The tickers the handoff spot-checks.
pub const SPOT_CHECK_TICKERS: [&str; 5] = ["AAPL", "TSLA", "SPY", "NVDA", "META"];

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
pub(super) async fn metric_dates(lake: &Location, params: &str) -> Result<Vec<NaiveDate>> {
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
pub(super) async fn check_params(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyst::check::levels;
    use crate::metrics::Profile;

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
}
