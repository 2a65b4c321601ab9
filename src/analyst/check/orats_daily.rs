//! The checks of `orats_daily` on the checked date: a row per symbol, `iv_rank` and
//! `hv_30day` known only with the history they need, no negative volume.

use anyhow::Result;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;

use super::report::write_checks;
use super::{Finding, Level, date_value, finding, pct, share};
use crate::analyst::table::Table;
use crate::store::Location;

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
    out.push(if d.iv_rank_out_of_range > 0 {
        finding(
            Level::Fail,
            "daily_iv_rank",
            format!("{} iv_rank outside 0–100", d.iv_rank_out_of_range),
        )
    } else {
        history_nulls(
            "daily_iv_rank",
            "iv_rank",
            d.iv_rank_null,
            d.rows,
            (d.dates_60, 60, 36),
        )
    });
    out.push(history_nulls(
        "daily_hv",
        "hv_30day",
        d.hv_null,
        d.rows,
        (d.dates_46, 46, 21),
    ));
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

/// The `orats_daily` checks of `date` as a report, and whether one failed;
/// `None` when the lake has no `orats_daily`.
pub(super) async fn check_daily(
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

/// The null-rate check of a history column: values known with fewer than
/// `needed` dates in its `window` days fail (the windows cannot have made
/// them), more than half null with enough history warns. `history` is
/// (dates in the window, window days, dates needed).
fn history_nulls(
    check: &'static str,
    column: &str,
    nulls: i64,
    rows: i64,
    (dates, window, needed): (i64, u32, i64),
) -> Finding {
    let known = rows - nulls;
    if dates < needed && known > 0 {
        finding(
            Level::Fail,
            check,
            format!(
                "{known} {column} known with {dates} dates in the {window} days ({needed} needed)"
            ),
        )
    } else if dates >= needed && share(nulls, rows) > 0.5 {
        finding(
            Level::Warn,
            check,
            format!(
                "{} of {column} null with {dates} dates of history",
                pct(share(nulls, rows))
            ),
        )
    } else {
        finding(
            Level::Pass,
            check,
            format!(
                "{} null, {dates} dates in the {window} days",
                pct(share(nulls, rows))
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyst::check::levels;

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
