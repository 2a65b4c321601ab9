//! Where things go on the charts: the strike range shown, the bars' width, the marker
//! lines and their labels' sizes, and the history's line segments. The drawing (`draw.rs`)
//! turns these into plotters calls; `labels.rs` places the marker labels.

use std::ops::Range;

use plotters::style::RGBColor;

use super::{
    CALL_WALL, FLIP, HistoryPoint, PUT_WALL, SPOT, StrikeChart, short_number, strike_text,
};

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
pub(super) fn strike_range(chart: &StrikeChart, window: Option<f64>) -> Range<f64> {
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
pub(super) fn bar_width(strikes: &[f64], span: f64) -> f64 {
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
pub(super) struct Marker {
    pub(super) x: f64,
    pub(super) label: String,
    pub(super) color: RGBColor,
    pub(super) dashed: bool,
}

/// The marker labels' font size.
pub(super) const LABEL_SIZE: u32 = 13;
/// The space between a label's text and the edge of its background box.
pub(super) const LABEL_PAD: i32 = 2;
/// The space between the plot's top edge and the first row of labels.
pub(super) const LABEL_TOP: i32 = 6;

/// The markers within `range`, most important first, as their labels claim rows: spot, the
/// flip, then the walls by rank (call before put).
pub(super) fn markers(chart: &StrikeChart, range: &Range<f64>) -> Vec<Marker> {
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
pub(super) fn text_width(text: &str, size: u32, measured: u32) -> i32 {
    let svg = text.chars().count() as f64 * 0.64 * f64::from(size) / 1.24;
    (measured as f64).max(svg).ceil() as i32
}

/// Splits a series at its missing values, so a line never bridges a gap.
pub(super) fn segments(
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
#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

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
