//! `gexlake plot`: net GEX by strike for a ticker and date with spot, gamma
//! flip and walls marked, or the ticker's history of net GEX, spot, flip and
//! walls; SVG or PNG by the output's extension.
//!
//! The strike chart reads the `strike_gex` view and computes the flip and
//! walls with the pipeline's own UDAFs over it, so it needs no metrics run and
//! agrees with `dealer_metrics` under the same parameters. The history chart
//! reads `dealer_metrics`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::open;
use super::table::Table;
use crate::metrics::MetricsParams;
use crate::metrics::engine::lake_dates;
use crate::orats::values::date_to_days;
use crate::store::Location;

mod labels;

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

const POSITIVE: RGBColor = RGBColor(44, 160, 44);
const NEGATIVE: RGBColor = RGBColor(214, 39, 40);
const SPOT: RGBColor = RGBColor(31, 119, 180);
const FLIP: RGBColor = RGBColor(255, 127, 14);
const CALL_WALL: RGBColor = RGBColor(0, 100, 0);
const PUT_WALL: RGBColor = RGBColor(139, 0, 0);
const FAMILY: &str = "sans-serif";

/// Registers the bundled font: plotters' `ab_glyph` text path loads no system fonts.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            FAMILY,
            FontStyle::Normal,
            include_bytes!("fonts/Roboto-Regular.ttf"),
        )
        .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the bundled chart font cannot be read"))
    }
}

fn draw_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

/// Which file type to write, from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Image {
    Svg,
    Png,
}

fn image_kind(path: &Path) -> Result<Image> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Image::Svg),
        Some("png") => Ok(Image::Png),
        _ => bail!("{}: the output must end in .svg or .png", path.display()),
    }
}

/// Draws the strike chart into `path` (.svg or .png).
pub fn render_strike_chart(
    chart: &StrikeChart,
    window: Option<f64>,
    size: (u32, u32),
    path: &Path,
) -> Result<()> {
    register_font()?;
    match image_kind(path)? {
        Image::Svg => draw_strikes(
            SVGBackend::new(path, size).into_drawing_area(),
            chart,
            window,
        ),
        Image::Png => draw_strikes(
            BitMapBackend::new(path, size).into_drawing_area(),
            chart,
            window,
        ),
    }
    .with_context(|| format!("writing {}", path.display()))
}

/// Draws the history chart into `path` (.svg or .png).
pub fn render_history_chart(
    ticker: &str,
    params: &str,
    points: &[HistoryPoint],
    size: (u32, u32),
    path: &Path,
) -> Result<()> {
    register_font()?;
    match image_kind(path)? {
        Image::Svg => draw_history(
            SVGBackend::new(path, size).into_drawing_area(),
            ticker,
            params,
            points,
        ),
        Image::Png => draw_history(
            BitMapBackend::new(path, size).into_drawing_area(),
            ticker,
            params,
            points,
        ),
    }
    .with_context(|| format!("writing {}", path.display()))
}

/// The narrowest ±window around spot (2 % to 25 %) that holds 98 % of the
/// gross GEX: wide chains have far strikes that carry next to nothing.
fn auto_window(chart: &StrikeChart) -> f64 {
    let total: f64 = chart.bars.iter().map(|b| b.1.abs()).sum();
    let mut by_distance: Vec<(f64, f64)> = chart
        .bars
        .iter()
        .map(|&(k, g)| ((k / chart.spot - 1.0).abs(), g.abs()))
        .collect();
    by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut held = 0.0;
    let mut window = 0.0;
    for (distance, g) in by_distance {
        if held >= 0.98 * total {
            break;
        }
        held += g;
        window = distance;
    }
    (window * 1.1).clamp(0.02, 0.25)
}

/// The strike range shown: ±`window` around spot, widened to the flip and
/// the largest wall on each side when they lie within ±50 % of spot.
fn strike_range(chart: &StrikeChart, window: Option<f64>) -> Range<f64> {
    let window = window.unwrap_or_else(|| auto_window(chart));
    let (mut lo, mut hi) = (chart.spot * (1.0 - window), chart.spot * (1.0 + window));
    let markers = [
        chart.flip,
        chart.call_walls.first().map(|w| w.0),
        chart.put_walls.first().map(|w| w.0),
    ];
    for k in markers.into_iter().flatten() {
        if (k / chart.spot - 1.0).abs() <= 0.5 {
            lo = lo.min(k);
            hi = hi.max(k);
        }
    }
    let shown: Vec<f64> = chart
        .bars
        .iter()
        .map(|b| b.0)
        .filter(|k| (lo..=hi).contains(k))
        .collect();
    let pad = bar_width(&shown, hi - lo) + (hi - lo) * 0.015;
    (lo - pad)..(hi + pad)
}

/// 80 % of the narrowest strike spacing, so neighbouring bars never touch.
fn bar_width(strikes: &[f64], span: f64) -> f64 {
    let spacing = strikes
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    if spacing.is_finite() {
        spacing * 0.8
    } else {
        span / 60.0
    }
}

/// A vertical marker line with its label.
struct Marker {
    x: f64,
    label: String,
    color: RGBColor,
    dashed: bool,
}

/// The marker labels' font size.
const LABEL_SIZE: u32 = 13;
/// The space between a label's text and the edge of its background box.
const LABEL_PAD: i32 = 2;
/// The space between the plot's top edge and the first row of labels.
const LABEL_TOP: i32 = 6;

/// The markers within `range`, most important first, as their labels claim rows: spot, the
/// flip, then the walls by rank (call before put).
fn markers(chart: &StrikeChart, range: &Range<f64>) -> Vec<Marker> {
    let mut markers = vec![Marker {
        x: chart.spot,
        label: format!("spot {}", strike_text(chart.spot)),
        color: SPOT,
        dashed: false,
    }];
    if let Some(f) = chart.flip {
        markers.push(Marker {
            x: f,
            label: format!("flip {f:.2}"),
            color: FLIP,
            dashed: true,
        });
    }
    let wall = |side: &str, rank: usize, &(k, oi): &(f64, i64), color| Marker {
        x: k,
        label: format!(
            "{side} wall {} {} (OI {})",
            rank + 1,
            strike_text(k),
            short_number(oi as f64)
        ),
        color,
        dashed: true,
    };
    let ranks = chart.call_walls.len().max(chart.put_walls.len());
    for rank in 0..ranks {
        markers.extend(
            chart
                .call_walls
                .get(rank)
                .map(|w| wall("call", rank, w, CALL_WALL)),
        );
        markers.extend(
            chart
                .put_walls
                .get(rank)
                .map(|w| wall("put", rank, w, PUT_WALL)),
        );
    }
    markers.retain(|m| range.contains(&m.x));
    markers
}

/// The width to reserve for `text` at font `size`: the bundled font's (`measured`), or more
/// when an SVG viewer's own sans-serif could draw it wider (the SVG names the family, not the
/// font; plotters writes the size divided by 1.24, and 0.64 em a character covers DejaVu
/// Sans, the widest common default, whose digits are 0.636 em).
fn text_width(text: &str, size: u32, measured: u32) -> i32 {
    let svg = text.chars().count() as f64 * 0.64 * f64::from(size) / 1.24;
    (measured as f64).max(svg).ceil() as i32
}

fn draw_strikes<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    chart: &StrikeChart,
    window: Option<f64>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(draw_error)?;
    let (header, body) = root.split_vertically(100);
    let title = format!(
        "{} · net GEX by strike · {} · params {}",
        chart.ticker, chart.date, chart.params
    );
    header
        .draw(&Text::new(
            title,
            (24, 14),
            (FAMILY, 26).into_font().color(&BLACK),
        ))
        .map_err(draw_error)?;
    let range = strike_range(chart, window);
    let inside: Vec<&(f64, f64)> = chart.bars.iter().filter(|b| range.contains(&b.0)).collect();
    let total: f64 = chart.bars.iter().map(|b| b.1.abs()).sum();
    let outside: f64 = chart
        .bars
        .iter()
        .filter(|b| !range.contains(&b.0))
        .map(|b| b.1.abs())
        .sum();
    let mut subtitle = format!(
        "spot {} · gamma flip {} · net GEX {} per 1 % move · {} strikes",
        strike_text(chart.spot),
        chart.flip.map_or("none".to_string(), |f| format!("{f:.2}")),
        dollars(chart.gex_net),
        chart.bars.len()
    );
    if inside.len() < chart.bars.len() && total > 0.0 {
        subtitle.push_str(&format!(
            " ({} outside {}–{} hold {:.1} % of |GEX|)",
            chart.bars.len() - inside.len(),
            strike_text(range.start.max(0.0).round()),
            strike_text(range.end.round()),
            outside / total * 100.0
        ));
    }
    header
        .draw(&Text::new(
            subtitle,
            (24, 50),
            (FAMILY, 16).into_font().color(&RGBColor(70, 70, 70)),
        ))
        .map_err(draw_error)?;

    let (min_g, max_g) = inside
        .iter()
        .fold((0.0f64, 0.0f64), |(lo, hi), b| (lo.min(b.1), hi.max(b.1)));
    let span = if max_g > min_g { max_g - min_g } else { 1.0 };
    let build = |y: Range<f64>| {
        ChartBuilder::on(&body)
            .margin_left(16)
            .margin_right(28)
            .margin_bottom(12)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(range.clone(), y)
            .map_err(draw_error)
    };
    let markers = markers(chart, &range);
    // The labels are placed before anything is drawn, on a chart of the same width (the
    // x scale does not depend on the y range), so the headroom can fit their rows.
    let font = TextStyle::from((FAMILY, LABEL_SIZE).into_font());
    let provisional = build(0.0..1.0)?;
    let x_pixel = |x: f64| provisional.backend_coord(&(x, 1.0)).0;
    let mut boxes = Vec::with_capacity(markers.len());
    let mut text_widths = Vec::with_capacity(markers.len());
    let mut text_height = 0;
    for m in &markers {
        let (w, h) = root
            .estimate_text_size(&m.label, &font)
            .map_err(draw_error)?;
        text_height = text_height.max(h as i32);
        text_widths.push(w as i32);
        boxes.push(labels::Label {
            x: x_pixel(m.x),
            width: text_width(&m.label, LABEL_SIZE, w) + 2 * LABEL_PAD,
        });
    }
    let room = labels::Room {
        left: x_pixel(range.start),
        right: x_pixel(range.end),
        offset: 2,
        gap: 4,
    };
    let placed = labels::place(&boxes, room);
    let row_height = text_height + 2 * LABEL_PAD + 4;
    let plot_height = provisional.plotting_area().dim_in_pixel().1 as f64;
    // Headroom above the bars: at least 28 % of their span, more when the label rows need
    // it (up to 3/4 of the plot: past that the bars would be too flat to read).
    let need =
        ((LABEL_TOP + labels::rows(&placed) as i32 * row_height) as f64).min(plot_height * 0.75);
    let below = span * 0.05;
    let head = (span * 0.28).max(need * (span + below) / (plot_height - need));
    let y = (min_g - below)..(max_g + head);
    let mut plot = build(y.clone())?;
    let money = |v: &f64| dollar_tick(*v);
    let strike = |v: &f64| strike_text(*v);
    plot.configure_mesh()
        .x_desc("strike")
        .y_desc("net GEX per 1 % move")
        .x_label_formatter(&strike)
        .y_label_formatter(&money)
        .x_labels(12)
        .y_labels(10)
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(draw_error)?;

    for m in &markers {
        let points = vec![(m.x, y.start), (m.x, y.end)];
        let style = m.color.stroke_width(if m.color == SPOT || m.color == FLIP {
            2
        } else {
            1
        });
        if m.dashed {
            plot.draw_series(std::iter::once(DashedPathElement::new(points, 6, 4, style)))
                .map_err(draw_error)?;
        } else {
            plot.draw_series(std::iter::once(PathElement::new(points, style)))
                .map_err(draw_error)?;
        }
    }
    let strikes: Vec<f64> = inside.iter().map(|b| b.0).collect();
    // At least 3 pixels wide, so a lone strike next to a close one stays visible.
    let pixels = plot.plotting_area().dim_in_pixel().0.max(1) as f64;
    let width =
        bar_width(&strikes, range.end - range.start).max(3.0 * (range.end - range.start) / pixels);
    let bars = |positive: bool| {
        let color = if positive { POSITIVE } else { NEGATIVE };
        inside
            .iter()
            .filter(move |b| (b.1 >= 0.0) == positive)
            .map(move |&&(k, g)| {
                Rectangle::new(
                    [(k - width / 2.0, 0.0), (k + width / 2.0, g)],
                    color.mix(0.8).filled(),
                )
            })
    };
    plot.draw_series(bars(true)).map_err(draw_error)?;
    plot.draw_series(bars(false)).map_err(draw_error)?;
    plot.draw_series(std::iter::once(PathElement::new(
        vec![(range.start, 0.0), (range.end, 0.0)],
        BLACK.stroke_width(1),
    )))
    .map_err(draw_error)?;
    let top = plot.backend_coord(&(range.start, y.end)).1;
    for (i, (m, at)) in markers.iter().zip(&placed).enumerate() {
        let (b, y0) = (boxes[i], top + LABEL_TOP + at.row as i32 * row_height);
        // Left of its line, the text ends at the line whatever font the viewer draws it in;
        // the background hugs the text as drawn here (the layout reserved more).
        let before_line = at.left + b.width <= b.x;
        let (start, style) = if before_line {
            (
                at.left + b.width - LABEL_PAD,
                font.color(&m.color).pos(Pos::new(HPos::Right, VPos::Top)),
            )
        } else {
            (at.left + LABEL_PAD, font.color(&m.color))
        };
        let (left, right) = if before_line {
            (start - text_widths[i] - LABEL_PAD, start + LABEL_PAD)
        } else {
            (start - LABEL_PAD, start + text_widths[i] + LABEL_PAD)
        };
        root.draw(&Rectangle::new(
            [(left, y0), (right, y0 + text_height + 2 * LABEL_PAD)],
            WHITE.mix(0.85).filled(),
        ))
        .map_err(draw_error)?;
        root.draw(&Text::new(m.label.clone(), (start, y0 + LABEL_PAD), style))
            .map_err(draw_error)?;
    }
    let mut legend = vec![
        (
            "net GEX > 0 (dealers long gamma)".to_string(),
            POSITIVE,
            Swatch::Bar,
        ),
        (
            "net GEX < 0 (dealers short gamma)".to_string(),
            NEGATIVE,
            Swatch::Bar,
        ),
        ("spot".to_string(), SPOT, Swatch::Line),
    ];
    if chart.flip.is_some() {
        legend.push(("gamma flip".to_string(), FLIP, Swatch::Dashed));
    }
    legend.push(("call walls".to_string(), CALL_WALL, Swatch::Dashed));
    legend.push(("put walls".to_string(), PUT_WALL, Swatch::Dashed));
    draw_legend(&header, &legend, 76)?;
    root.present().map_err(draw_error)?;
    Ok(())
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Swatch {
    Bar,
    Line,
    Dashed,
}

/// A row of legend entries in the header, above the plot, where it can
/// never hide data.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor, Swatch)],
    y: i32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let style = TextStyle::from((FAMILY, 14).into_font());
    let mut x = 24;
    for (label, color, swatch) in entries {
        match swatch {
            Swatch::Bar => area.draw(&Rectangle::new(
                [(x, y + 1), (x + 14, y + 13)],
                color.mix(0.8).filled(),
            )),
            Swatch::Line => area.draw(&PathElement::new(
                vec![(x, y + 7), (x + 22, y + 7)],
                color.stroke_width(3),
            )),
            Swatch::Dashed => area.draw(&DashedPathElement::new(
                vec![(x, y + 7), (x + 22, y + 7)],
                5,
                3,
                color.stroke_width(2),
            )),
        }
        .map_err(draw_error)?;
        let (w, _) = area.estimate_text_size(label, &style).map_err(draw_error)?;
        area.draw(&Text::new(
            label.clone(),
            (x + 28, y),
            style.color(&RGBColor(60, 60, 60)),
        ))
        .map_err(draw_error)?;
        x += 28 + w as i32 + 24;
    }
    Ok(())
}

/// Splits a series at its missing values, so a line never bridges a gap.
fn segments(
    points: &[HistoryPoint],
    value: impl Fn(&HistoryPoint) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (i, p) in points.iter().enumerate() {
        match value(p) {
            Some(v) => out.last_mut().expect("never empty").push((i as f64, v)),
            None if out.last().is_some_and(|s| !s.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn draw_history<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    ticker: &str,
    params: &str,
    points: &[HistoryPoint],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(draw_error)?;
    let (header, body) = root.split_vertically(84);
    let (first, last) = (points[0].date, points[points.len() - 1].date);
    header
        .draw(&Text::new(
            format!("{ticker} · spot, gamma flip, walls and net GEX · {first} to {last} · params {params}"),
            (24, 16),
            (FAMILY, 24).into_font().color(&BLACK),
        ))
        .map_err(draw_error)?;
    let height = body.dim_in_pixel().1;
    let (upper, lower) = body.split_vertically((height as f64 * 0.58) as u32);
    let n = points.len() as f64;
    let x = -0.6..(n - 0.4);
    let labels = (n as usize).clamp(2, 10);
    let date_label = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 0.01 && i >= 0.0 && (i as usize) < points.len() {
            points[i as usize].date.format("%Y-%m-%d").to_string()
        } else {
            String::new()
        }
    };

    let prices: Vec<f64> = points
        .iter()
        .flat_map(|p| [p.spot, p.flip, p.call_wall, p.put_wall])
        .flatten()
        .collect();
    let (lo, hi) = prices
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = (hi - lo) * 0.08;
    let mut price = ChartBuilder::on(&upper)
        .margin_left(16)
        .margin_right(28)
        .x_label_area_size(10)
        .y_label_area_size(84)
        .build_cartesian_2d(x.clone(), (lo - pad)..(hi + pad))
        .map_err(draw_error)?;
    let plain = |v: &f64| strike_text(*v);
    price
        .configure_mesh()
        .y_desc("price")
        .x_labels(labels)
        .y_labels(8)
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&plain)
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(draw_error)?;
    type Pick = fn(&HistoryPoint) -> Option<f64>;
    // Spot last, on top: the walls often sit on the strike next to it.
    let lines: [(&str, RGBColor, Pick); 4] = [
        ("gamma flip", FLIP, |p| p.flip),
        ("call wall", CALL_WALL, |p| p.call_wall),
        ("put wall", PUT_WALL, |p| p.put_wall),
        ("spot", SPOT, |p| p.spot),
    ];
    let mut legend = Vec::new();
    for (name, color, pick) in lines {
        let parts = segments(points, pick);
        // Said in the legend, so a missing line is not mistaken for a drawing fault.
        let label = if parts.is_empty() {
            format!("{name}: none in this range")
        } else {
            name.to_string()
        };
        legend.push((label, color, Swatch::Line));
        for part in &parts {
            let width = if name == "spot" { 3 } else { 2 };
            price
                .draw_series(std::iter::once(PathElement::new(
                    part.clone(),
                    color.stroke_width(width),
                )))
                .map_err(draw_error)?;
            price
                .draw_series(
                    part.iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(draw_error)?;
        }
    }
    // The legend names spot first, as the strike chart does.
    legend.rotate_right(1);
    legend.push(("net GEX > 0".to_string(), POSITIVE, Swatch::Bar));
    legend.push(("net GEX < 0".to_string(), NEGATIVE, Swatch::Bar));
    draw_legend(&header, &legend, 58)?;

    let (gmin, gmax) = points
        .iter()
        .filter_map(|p| p.gex_net)
        .fold((0.0f64, 0.0f64), |(lo, hi), g| (lo.min(g), hi.max(g)));
    let span = if gmax > gmin { gmax - gmin } else { 1.0 };
    let mut gex = ChartBuilder::on(&lower)
        .margin_left(16)
        .margin_right(28)
        .margin_bottom(10)
        .x_label_area_size(48)
        .y_label_area_size(84)
        .build_cartesian_2d(x.clone(), (gmin - span * 0.05)..(gmax + span * 0.05))
        .map_err(draw_error)?;
    let money = |v: &f64| dollar_tick(*v);
    gex.configure_mesh()
        .y_desc("net GEX per 1 % move")
        .x_labels(labels)
        .y_labels(6)
        .x_label_formatter(&date_label)
        .y_label_formatter(&money)
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(draw_error)?;
    let width = if n > 120.0 { 0.45 } else { 0.35 };
    gex.draw_series(points.iter().enumerate().filter_map(|(i, p)| {
        let g = p.gex_net?;
        let color = if g >= 0.0 { POSITIVE } else { NEGATIVE };
        let i = i as f64;
        Some(Rectangle::new(
            [(i - width, 0.0), (i + width, g)],
            color.mix(0.75).filled(),
        ))
    }))
    .map_err(draw_error)?;
    gex.draw_series(std::iter::once(PathElement::new(
        vec![(x.start, 0.0), (x.end, 0.0)],
        BLACK.stroke_width(1),
    )))
    .map_err(draw_error)?;
    root.present().map_err(draw_error)?;
    Ok(())
}

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

    fn chart() -> StrikeChart {
        StrikeChart {
            ticker: "T".into(),
            date: NaiveDate::from_ymd_opt(2024, 1, 3).unwrap(),
            params: "a3".into(),
            spot: 100.0,
            flip: Some(95.857),
            gex_net: 410_000.0,
            call_walls: vec![(100.0, 1000), (105.0, 400)],
            put_walls: vec![(140.0, 500)],
            bars: vec![
                (95.0, -60_000.0),
                (100.0, 350_000.0),
                (105.0, 120_000.0),
                (200.0, 1.0),
            ],
        }
    }

    #[test]
    fn the_range_is_the_window_widened_to_near_levels() {
        let r = strike_range(&chart(), Some(0.02));
        // The flip (95.9) and the put wall (140, within 50 %) widen ±2 %; the
        // edges pad by 80 % of the 5 spacing and 1.5 % of the span.
        let pad = 4.0 + (140.0 - 95.857) * 0.015;
        assert!((r.start - (95.857 - pad)).abs() < 1e-9, "{r:?}");
        assert!((r.end - (140.0 + pad)).abs() < 1e-9, "{r:?}");
        let far = StrikeChart {
            put_walls: vec![(200.0, 500)],
            ..chart()
        };
        assert!(strike_range(&far, Some(0.02)).end < 110.0);
    }

    #[test]
    fn the_auto_window_holds_98_percent_of_gross_gex() {
        // 100 and 95/105 hold all but 1 of 530,001; the far 200 strike is left out.
        assert!((auto_window(&chart()) - 0.055).abs() < 1e-12);
        let tight = StrikeChart {
            bars: vec![(100.0, 5.0)],
            ..chart()
        };
        assert_eq!(auto_window(&tight), 0.02);
    }

    #[test]
    fn gaps_split_history_lines() {
        let p = |v: Option<f64>| HistoryPoint {
            date: NaiveDate::from_ymd_opt(2024, 1, 3).unwrap(),
            gex_net: None,
            spot: v,
            flip: None,
            call_wall: None,
            put_wall: None,
        };
        let s = segments(
            &[p(Some(1.0)), p(None), p(None), p(Some(2.0)), p(Some(3.0))],
            |h| h.spot,
        );
        assert_eq!(s, vec![vec![(0.0, 1.0)], vec![(3.0, 2.0), (4.0, 3.0)]]);
        assert!(segments(&[p(None)], |h| h.spot).is_empty());
    }
}
