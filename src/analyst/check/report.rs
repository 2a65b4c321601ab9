//! The check report as text: the rows-per-date table, the spot-check table, then the
//! findings and the verdict.

use std::fmt::Write as _;

use chrono::NaiveDate;

use super::dealer_metrics::{DateStats, SPOT_CHECK_TICKERS, SpotCheck};
use super::{Finding, Level, pct, share};
use crate::analyst::plot::{dollars, short_number};

fn money(x: Option<f64>) -> String {
    x.map_or("—".into(), dollars)
}

fn shares(x: Option<f64>) -> String {
    x.map_or("—".into(), short_number)
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
pub(super) fn write_checks(out: &mut String, findings: &[Finding]) {
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
