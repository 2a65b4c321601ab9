//! Drawing the charts with plotters: the bundled font, the SVG or PNG backend chosen by the
//! output's extension, then titles, axes, bars, lines, marker labels and legends, at the
//! places the layout (`layout.rs`, `labels.rs`) gives.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{
    LABEL_PAD, LABEL_SIZE, LABEL_TOP, bar_width, markers, segments, strike_range, text_width,
};
use super::{
    CALL_WALL, FLIP, HistoryPoint, NEGATIVE, POSITIVE, PUT_WALL, SPOT, StrikeChart, dollar_tick,
    dollars, labels, strike_text,
};

const FAMILY: &str = "sans-serif";

/// Registers the bundled font: plotters' `ab_glyph` text path loads no system fonts.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            FAMILY,
            FontStyle::Normal,
            include_bytes!("../fonts/Roboto-Regular.ttf"),
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
