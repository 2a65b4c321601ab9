//! `gexlake plot`: net GEX by strike for a ticker and date with spot, gamma
//! flip and walls marked, or the ticker's history of net GEX, spot, flip and
//! walls; SVG or PNG by the output's extension.
//!
//! The strike chart reads the `strike_gex` view and computes the flip and
//! walls with the pipeline's own UDAFs over it, so it needs no metrics run and
//! agrees with `dealer_metrics` under the same parameters. The history chart
//! reads `dealer_metrics`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use plotters::style::RGBColor;

use super::open;
use super::table::Table;
use crate::metrics::MetricsParams;
use crate::metrics::engine::lake_dates;
use crate::orats::values::date_to_days;
use crate::store::Location;

mod draw;
mod labels;
mod layout;

pub use draw::{render_history_chart, render_strike_chart};

/// What `gexlake plot` draws, and where.
#[derive(Debug)]
pub struct PlotOptions {
    /// The ticker.
    pub ticker: String,
    /// Trade date of the strike chart (default: the latest in the lake).
    pub date: Option<NaiveDate>,
    /// Output file, .svg or .png (default: TICKER_DATE.svg).
    pub output: Option<PathBuf>,
    /// Chart net GEX, spot, flip and walls over a date range from dealer_metrics instead.
    pub history: bool,
    /// First date of the history (default: a year before `to`).
    pub from: Option<NaiveDate>,
    /// Last date of the history (default: the latest with results).
    pub to: Option<NaiveDate>,
    /// Strikes shown: within this fraction of spot, between 0 and 1 (default:
    /// the narrowest window holding 98 % of the gross GEX, between ±2 % and ±25 %).
    pub window: Option<f64>,
    /// Image size in pixels.
    pub size: (u32, u32),
    /// DataFusion partitions.
    pub jobs: usize,
    /// The lake.
    pub lake: Location,
    /// The parameters of the strike chart's `strike_gex` and of the history's results.
    pub params: MetricsParams,
}

/// Parses `--size WIDTHxHEIGHT`, each side 200 to 8000 pixels.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{text:?} is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (200..=8000).contains(n))
    };
    match (parse(w), parse(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!(
            "{text:?}: width and height must be 200 to 8000 pixels"
        )),
    }
}

/// `x` in a short human form with 3 significant digits: 1.23B, -49.1M, 950.
pub fn short_number(x: f64) -> String {
    let a = x.abs();
    let (scaled, suffix) = match a {
        a if a >= 1e12 => (x / 1e12, "T"),
        a if a >= 1e9 => (x / 1e9, "B"),
        a if a >= 1e6 => (x / 1e6, "M"),
        a if a >= 1e3 => (x / 1e3, "K"),
        _ => (x, ""),
    };
    let s = scaled.abs();
    let decimals = if s >= 100.0 || (suffix.is_empty() && s == s.trunc()) {
        0
    } else if s >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.decimals$}{suffix}")
}

/// Dollars in short form: -$2.64B, $350K.
pub fn dollars(x: f64) -> String {
    let text = short_number(x);
    match text.strip_prefix('-') {
        Some(abs) => format!("-${abs}"),
        None => format!("${text}"),
    }
}

/// An axis tick in short form without padding zeros: $1.5B, -$2B.
fn dollar_tick(x: f64) -> String {
    let text = dollars(x);
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.contains('.') {
        format!(
            "{}{suffix}",
            number.trim_end_matches('0').trim_end_matches('.')
        )
    } else {
        text
    }
}

/// A strike price without trailing zeros: 237.5, 600.
fn strike_text(k: f64) -> String {
    let text = format!("{k:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What the strike chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct StrikeChart {
    /// The ticker.
    pub ticker: String,
    /// The trade date.
    pub date: NaiveDate,
    /// The parameter set's name.
    pub params: String,
    /// The spot the exposures were computed at.
    pub spot: f64,
    /// The gamma flip, if net GEX changes sign.
    pub flip: Option<f64>,
    /// Σ net GEX.
    pub gex_net: f64,
    /// Call walls (strike, open interest), largest first.
    pub call_walls: Vec<(f64, i64)>,
    /// Put walls (strike, open interest), largest first.
    pub put_walls: Vec<(f64, i64)>,
    /// (strike, net GEX) ascending by strike.
    pub bars: Vec<(f64, f64)>,
}

/// Reads the strike chart's data from `strike_gex`.
pub async fn strike_chart(
    ctx: &SessionContext,
    ticker: &str,
    date: NaiveDate,
    params: &MetricsParams,
) -> Result<StrikeChart> {
    let bind = || {
        vec![
            ("ticker", ScalarValue::Utf8(Some(ticker.to_string()))),
            ("date", ScalarValue::Date32(Some(date_to_days(date)))),
        ]
    };
    let bars = Table::query(
        ctx,
        "SELECT strike, net_gex, spot FROM strike_gex WHERE ticker = $ticker AND trade_date = $date ORDER BY strike",
        bind(),
    )
    .await?;
    if bars.is_empty() {
        bail!(
            "no strike with an eligible contract for {ticker} on {date} under parameters {} \
             (is the date in the lake and the ticker spelled as in ORATS?)",
            params.name()
        );
    }
    // The walls' N is a literal: the UDAF reads it when the plan is built.
    let levels = Table::query(
        ctx,
        &format!(
            "SELECT gamma_flip(strike, net_gex) AS flip,
                    top_walls(strike, call_oi, call_volume, {n}) AS call_walls,
                    top_walls(strike, put_oi, put_volume, {n}) AS put_walls,
                    exact_sum(net_gex) AS gex_net
             FROM strike_gex WHERE ticker = $ticker AND trade_date = $date",
            n = params.walls_top_n
        ),
        bind(),
    )
    .await?;
    let strikes = bars.f64("strike")?;
    let gex = bars.f64("net_gex")?;
    Ok(StrikeChart {
        ticker: ticker.to_string(),
        date,
        params: params.name(),
        spot: bars.f64("spot")?[0].with_context(|| {
            format!("{ticker} has no spot on {date} (no stkPx or spot_px above 0): no GEX to chart")
        })?,
        flip: levels.f64("flip")?[0],
        gex_net: levels.f64("gex_net")?[0].unwrap_or(0.0),
        call_walls: levels.walls("call_walls")?.swap_remove(0),
        put_walls: levels.walls("put_walls")?.swap_remove(0),
        bars: strikes
            .into_iter()
            .zip(gex)
            .filter_map(|(k, g)| Some((k?, g.unwrap_or(0.0))))
            .collect(),
    })
}

/// One date of the history chart.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPoint {
    /// The trade date.
    pub date: NaiveDate,
    /// Net GEX (null when nothing was eligible).
    pub gex_net: Option<f64>,
    /// Spot.
    pub spot: Option<f64>,
    /// Gamma flip.
    pub flip: Option<f64>,
    /// Largest call wall's strike.
    pub call_wall: Option<f64>,
    /// Largest put wall's strike.
    pub put_wall: Option<f64>,
}

/// Reads a ticker's history from `dealer_metrics`.
pub async fn history(
    ctx: &SessionContext,
    ticker: &str,
    params: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<HistoryPoint>> {
    let table = Table::query(
        ctx,
        "SELECT trade_date, gex_net, spot_price, gamma_flip, call_walls, put_walls
         FROM dealer_metrics
         WHERE params = $params AND ticker = $ticker AND trade_date BETWEEN $from AND $to
         ORDER BY trade_date",
        vec![
            ("params", ScalarValue::Utf8(Some(params.to_string()))),
            ("ticker", ScalarValue::Utf8(Some(ticker.to_string()))),
            ("from", ScalarValue::Date32(Some(date_to_days(from)))),
            ("to", ScalarValue::Date32(Some(date_to_days(to)))),
        ],
    )
    .await
    .with_context(|| {
        format!("reading dealer_metrics (has `gexlake metrics` run for params={params}?)")
    })?;
    let (dates, gex, spot, flip) = (
        table.date("trade_date")?,
        table.f64("gex_net")?,
        table.f64("spot_price")?,
        table.f64("gamma_flip")?,
    );
    let (calls, puts) = (table.walls("call_walls")?, table.walls("put_walls")?);
    Ok((0..table.len())
        .filter_map(|i| {
            Some(HistoryPoint {
                date: dates[i]?,
                gex_net: gex[i],
                spot: spot[i],
                flip: flip[i],
                call_wall: calls[i].first().map(|w| w.0),
                put_wall: puts[i].first().map(|w| w.0),
            })
        })
        .collect())
}

/// The charts' colours, shared by the layout (marker lines) and the drawing.
const POSITIVE: RGBColor = RGBColor(44, 160, 44);
const NEGATIVE: RGBColor = RGBColor(214, 39, 40);
const SPOT: RGBColor = RGBColor(31, 119, 180);
const FLIP: RGBColor = RGBColor(255, 127, 14);
const CALL_WALL: RGBColor = RGBColor(0, 100, 0);
const PUT_WALL: RGBColor = RGBColor(139, 0, 0);

/// Runs `gexlake plot`.
pub async fn run(args: PlotOptions) -> Result<()> {
    let params = args.params;
    let ticker = args.ticker.trim().to_ascii_uppercase();
    let lake = args.lake;
    let ctx = open(&lake, args.jobs, &params).await?;
    if args.history {
        let name = params.name();
        let to = match args.to {
            Some(d) => d,
            None => {
                let latest = Table::query(
                    &ctx,
                    "SELECT max(trade_date) AS d FROM dealer_metrics WHERE params = $params",
                    vec![("params", ScalarValue::Utf8(Some(name.clone())))],
                )
                .await
                .with_context(|| {
                    format!("the lake {lake} has no dealer_metrics: run `gexlake metrics` first")
                })?;
                latest.date("d")?[0]
                    .with_context(|| format!("no dealer_metrics for params={name}"))?
            }
        };
        let from = args.from.unwrap_or(to - chrono::Months::new(12));
        if from > to {
            bail!("--from {from} is after --to {to}");
        }
        let points = history(&ctx, &ticker, &name, from, to).await?;
        if points.is_empty() {
            bail!("no dealer_metrics rows for {ticker} from {from} to {to} under params={name}");
        }
        let path = args
            .output
            .unwrap_or_else(|| PathBuf::from(format!("{ticker}_{from}_{to}.svg")));
        render_history_chart(&ticker, &name, &points, args.size, &path)?;
        eprintln!("wrote {} ({} dates)", path.display(), points.len());
        return Ok(());
    }
    let date = match args.date {
        Some(d) => d,
        None => *lake_dates(&lake)
            .await?
            .last()
            .with_context(|| format!("the lake {lake} has no orats_strikes partitions"))?,
    };
    let chart = strike_chart(&ctx, &ticker, date, &params).await?;
    let path = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{ticker}_{date}.svg")));
    render_strike_chart(&chart, args.window, args.size, &path)?;
    eprintln!("wrote {} ({} strikes)", path.display(), chart.bars.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_with_three_digits() {
        assert_eq!(short_number(1_234_000_000.0), "1.23B");
        assert_eq!(short_number(-49_130_544.4), "-49.1M");
        assert_eq!(short_number(350_000.0), "350K");
        assert_eq!(short_number(950.0), "950");
        assert_eq!(short_number(0.5), "0.50");
        assert_eq!(short_number(0.0), "0");
        assert_eq!(dollars(-2_640_000_000.0), "-$2.64B");
        assert_eq!(dollars(350_000.0), "$350K");
        assert_eq!(dollar_tick(-2_000_000_000.0), "-$2B");
        assert_eq!(dollar_tick(1_500_000_000.0), "$1.5B");
        assert_eq!(dollar_tick(500_000_000.0), "$500M");
        assert_eq!(dollar_tick(0.0), "$0");
        assert_eq!(strike_text(237.5), "237.5");
        assert_eq!(strike_text(600.0), "600");
    }

    #[test]
    fn sizes_parse_within_bounds() {
        assert_eq!(parse_size("1200x700"), Ok((1200, 700)));
        assert!(parse_size("1200").is_err());
        assert!(parse_size("10x10").is_err());
    }
}
