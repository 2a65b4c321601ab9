//! Strike grids, in thousandths (the OSI unit) so that grid arithmetic is exact: a fine band
//! around the money and coarser wings far out, as chains keep the strikes listed months ago.

use super::math::exp;
use super::universe::Profile;

/// Exchange strike steps, finest first.
const NICE_STEPS: [i64; 10] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
];
/// Largest strike an 8-digit OSI field holds.
const MAX_STRIKE: i64 = 99_999_999;
/// The fine band spans ±BAND_SIGMAS·σ√T around the money.
const BAND_SIGMAS: f64 = 2.2;
/// The wings reach ±WING_SIGMAS·σ√T.
const WING_SIGMAS: f64 = 6.0;
/// Wings are sized as if the expiry were at least this far away (listed months ago).
const WING_T_FLOOR: f64 = 0.25;
/// Calls are listed up to e^1.1 ≈ 3 × spot, however long the expiry.
const MAX_UPSIDE: f64 = 1.1;
/// Each wing holds at most width / WING_SHARE strikes.
const WING_SHARE: u32 = 2;
/// Narrowest fine band (log-moneyness half-width), for very low vols.
const MIN_BAND: f64 = 0.03;
/// Band sizing treats near expiries as at least this long, so a 0DTE still lists a chain.
const T_BAND_FLOOR: f64 = 2.0 / 365.0;

/// Index in [`NICE_STEPS`] of the exchange's usual step at this price, made `fine` notches finer.
fn base_step_index(spot: f64, fine: u32) -> usize {
    let i: usize = match spot {
        s if s < 25.0 => 0,
        s if s < 75.0 => 1,
        s if s < 200.0 => 2,
        s if s < 10_000.0 => 3,
        _ => 4,
    };
    i.saturating_sub(fine as usize)
}

/// The `i`-th step, the coarsest beyond the end.
fn nice_step(i: usize) -> i64 {
    NICE_STEPS[i.min(NICE_STEPS.len() - 1)]
}

/// Fills `out` with the sorted strikes of one expiry: a fine grid over ±2.2σ√T (coarsened until
/// it fits `width`) and coarser wings far out, because chains keep the strikes listed months
/// ago; then keeps every `thin`-th strike counted from the money.
pub(super) fn strike_grid(
    p: &Profile,
    spot: f64,
    sigma: f64,
    t: f64,
    thin: usize,
    out: &mut Vec<i64>,
) {
    out.clear();
    let half = (BAND_SIGMAS * sigma * t.max(T_BAND_FLOOR).sqrt()).max(MIN_BAND);
    let (lo, hi) = (spot * exp(-half) * 1000.0, spot * exp(half) * 1000.0);
    let mut idx = base_step_index(spot, p.fine);
    while (hi - lo) / nice_step(idx) as f64 > f64::from(p.width) && idx < NICE_STEPS.len() - 1 {
        idx += 1;
    }
    let step = nice_step(idx);
    let first = ((lo / step as f64).ceil() as i64).max(1);
    let last = ((hi / step as f64).floor() as i64)
        .min(MAX_STRIKE / step)
        .max(first);
    let (lo, hi) = (first * step, last * step);
    let wing_count = f64::from((p.width / WING_SHARE).max(4));
    let wing_half = (WING_SIGMAS * sigma * t.max(WING_T_FLOOR).sqrt()).max(half);
    let lo_wing = (spot * exp(-wing_half) * 1000.0).max(1.0);
    let hi_wing = (spot * exp(wing_half.min(MAX_UPSIDE)) * 1000.0).min(MAX_STRIKE as f64);
    // Each wing gets the finest step that reaches its end within `wing_count` strikes.
    let wing_step = |span: f64| {
        let mut i = idx;
        while span / nice_step(i) as f64 > wing_count && i < NICE_STEPS.len() - 1 {
            i += 1;
        }
        nice_step(i)
    };
    let below = wing_step(lo as f64 - lo_wing);
    let from = ((lo_wing / below as f64).ceil() as i64).max(1);
    out.extend((from..).map(|i| i * below).take_while(|k| *k < lo));
    out.extend((first..=last).map(|i| i * step));
    let above = wing_step(hi_wing - hi as f64);
    let to = (hi_wing / above as f64).floor() as i64;
    out.extend((hi / above + 1..=to).map(|i| i * above));
    if thin > 1 && !out.is_empty() {
        let target = spot * 1000.0;
        let atm = out
            .iter()
            .enumerate()
            .min_by(|a, b| {
                (*a.1 as f64 - target)
                    .abs()
                    .total_cmp(&(*b.1 as f64 - target).abs())
            })
            .map_or(0, |(i, _)| i);
        let mut i = 0usize;
        out.retain(|_| {
            let keep = i.abs_diff(atm) % thin == 0;
            i += 1;
            keep
        });
    }
}
