//! The universe: the tickers of the synthetic market and their date-independent traits (kind,
//! expiry schedule, price level, vol, smile, liquidity), real key names first.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::math::{exp, fnv, hash, mix, powf, std_normal};

/// What a ticker is; decides settlement, smile shape and forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Cash-settled equity index (SPX, NDX, …): forward-valued `stkPx`, `spot_px` filled.
    EquityIndex,
    /// Cash-settled volatility index (VIX, …): futures-like forward, upward skew.
    VolIndex,
    /// Exchange-traded fund.
    Etf,
    /// Single stock.
    Stock,
}

impl Kind {
    /// Whether options settle on the index value (no dividends, no residual rate).
    pub(super) fn cash_settled(self) -> bool {
        matches!(self, Kind::EquityIndex | Kind::VolIndex)
    }
}

/// Which expiries a ticker lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Schedule {
    /// Every weekday for six weeks (0DTE included), then Fridays, monthlies, quarterlies, LEAPS.
    Daily,
    /// Fridays for some weeks, then monthlies and January LEAPS.
    Weekly,
    /// A few monthlies, a quarterly cycle and maybe January LEAPS.
    Monthly,
    /// VIX style: Wednesdays, with the monthly 30 days before the next month's third Friday.
    Wednesday,
}

/// How expiries map to OSI roots; `standard` expiries are the monthly ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Roots {
    /// One root, the symbol without its `_`.
    Plain,
    /// SPX: both the AM root and this PM root on standard expiries, this root alone otherwise.
    Dual(&'static str),
    /// NDX, RUT, VIX: the AM root on standard expiries, this root otherwise.
    Pm(&'static str),
}

/// One ticker of the universe.
#[derive(Clone, Debug)]
pub(super) struct Profile {
    /// The `ticker` column.
    pub(super) symbol: String,
    /// OSI root of its standard expiries.
    pub(super) root: String,
    pub(super) kind: Kind,
    pub(super) roots: Roots,
    pub(super) schedule: Schedule,
    /// Whether its rows fill `spot_px`.
    pub(super) spot_filled: bool,
    /// A stale feed: `stkPx` prints 0.
    pub(super) zero_px: bool,
    /// Price level on [`REF_DAY`](super::market::REF_DAY) before the random walk.
    pub(super) price: f64,
    /// Yearly log drift, which makes old dates cheaper.
    pub(super) drift: f64,
    /// Long-run at-the-money vol.
    pub(super) vol: f64,
    /// Dividend yield.
    pub(super) div: f64,
    /// Smile slope per standardized move.
    pub(super) skew: f64,
    /// Smile curvature per squared standardized move.
    pub(super) conv: f64,
    /// Most strikes an expiry gets near the money; the step coarsens to respect it.
    pub(super) width: u32,
    /// How many notches finer than the exchange default the strike step is.
    pub(super) fine: u32,
    /// Open-interest scale, the heavy tail of activity.
    pub(super) liq: f64,
    /// Weekly expiries listed ([`Schedule::Weekly`]).
    pub(super) weeks: u32,
    /// Monthly expiries listed.
    pub(super) months: u32,
    /// Years of January LEAPS.
    pub(super) leaps: u32,
    /// Quarterly cycle (month mod 3) of a [`Schedule::Monthly`] ticker.
    pub(super) cycle: u32,
    /// Per-ticker randomness that does not depend on the date.
    pub(super) key: u64,
    /// Shared by tickers on the same underlying (SPX, SPY, XSP…) so their prices move together.
    pub(super) walk_key: u64,
}

/// (symbol, kind, schedule, price, vol, dividend, width, fine, liq, leaps, price group)
type RealName = (
    &'static str,
    Kind,
    Schedule,
    f64,
    f64,
    f64,
    u32,
    u32,
    f64,
    u32,
    &'static str,
);

/// Real names, listed first so that small samples carry every quirk; the first 20 cash-settled
/// indices have a forward `stkPx`.
const REAL: [RealName; 36] = {
    use Kind::{EquityIndex as I, Etf as E, Stock as S, VolIndex as V};
    use Schedule::{Daily as D, Monthly as M, Wednesday as X, Weekly as W};
    [
        ("SPX", I, D, 6000.0, 0.15, 0.013, 200, 0, 1000.0, 3, "SPX"),
        ("SPY", E, D, 600.0, 0.15, 0.012, 110, 2, 1500.0, 3, "SPX"),
        ("QQQ", E, D, 520.0, 0.19, 0.006, 100, 2, 900.0, 3, "NDX"),
        ("IWM", E, D, 220.0, 0.21, 0.011, 80, 2, 700.0, 3, "RUT"),
        ("NDX", I, D, 21000.0, 0.19, 0.007, 90, 0, 80.0, 2, "NDX"),
        ("RUT", I, D, 2200.0, 0.21, 0.012, 85, 0, 80.0, 2, "RUT"),
        ("XSP", I, D, 600.0, 0.15, 0.013, 60, 2, 30.0, 2, "SPX"),
        ("VIX", V, X, 17.0, 0.85, 0.0, 36, 0, 600.0, 0, "VIX"),
        ("AAPL", S, W, 230.0, 0.27, 0.0045, 90, 1, 600.0, 3, "AAPL"),
        ("TSLA", S, W, 350.0, 0.55, 0.0, 130, 1, 700.0, 3, "TSLA"),
        ("NVDA", S, W, 140.0, 0.45, 0.0003, 110, 1, 800.0, 3, "NVDA"),
        ("META", S, W, 600.0, 0.33, 0.0035, 110, 1, 300.0, 3, "META"),
        ("AMZN", S, W, 210.0, 0.32, 0.0, 90, 1, 400.0, 3, "AMZN"),
        ("MSFT", S, W, 420.0, 0.25, 0.008, 90, 1, 300.0, 3, "MSFT"),
        ("GOOGL", S, W, 180.0, 0.30, 0.005, 80, 1, 300.0, 3, "GOOGL"),
        ("AMD", S, W, 150.0, 0.50, 0.0, 80, 1, 350.0, 3, "AMD"),
        ("BRK_B", S, W, 470.0, 0.17, 0.0, 40, 1, 40.0, 2, "BRK_B"),
        ("BF_B", S, M, 40.0, 0.30, 0.022, 10, 0, 3.0, 1, "BF_B"),
        ("NA", S, M, 2.5, 1.20, 0.0, 5, 0, 1.0, 0, "NA"),
        ("NAN", E, M, 11.0, 0.15, 0.045, 4, 0, 0.3, 0, "NAN"),
        ("TRUE", S, M, 3.2, 0.70, 0.0, 6, 0, 2.0, 0, "TRUE"),
        ("DJX", I, W, 440.0, 0.16, 0.017, 40, 0, 15.0, 2, "DJX"),
        ("OEX", I, W, 2700.0, 0.16, 0.013, 40, 0, 5.0, 1, "SPX"),
        ("XEO", I, M, 2700.0, 0.16, 0.013, 30, 0, 3.0, 1, "SPX"),
        ("XND", I, W, 210.0, 0.19, 0.007, 40, 2, 10.0, 1, "NDX"),
        ("MRUT", I, W, 220.0, 0.21, 0.012, 30, 0, 5.0, 1, "RUT"),
        ("VXN", V, M, 21.0, 0.85, 0.0, 20, 0, 3.0, 0, "VIX"),
        ("RVX", V, M, 23.0, 0.80, 0.0, 15, 0, 2.0, 0, "VIX"),
        ("MXEA", I, M, 2400.0, 0.14, 0.03, 20, 0, 3.0, 1, "MXEA"),
        ("MXEF", I, M, 1150.0, 0.17, 0.025, 20, 0, 3.0, 1, "MXEF"),
        ("SOX", I, M, 5000.0, 0.32, 0.008, 20, 0, 2.0, 0, "SOX"),
        ("XAU", I, M, 180.0, 0.30, 0.01, 14, 0, 1.0, 0, "XAU"),
        ("OSX", I, M, 70.0, 0.30, 0.03, 10, 0, 1.0, 0, "OSX"),
        ("UTY", I, M, 1000.0, 0.16, 0.03, 10, 0, 1.0, 0, "UTY"),
        ("BKX", I, M, 120.0, 0.22, 0.025, 10, 0, 1.0, 0, "BKX"),
        ("HGX", I, M, 450.0, 0.25, 0.01, 10, 0, 1.0, 0, "HGX"),
    ]
};

const UNIVERSE_SALT: u64 = 0x756e_6976_6572_7365;
/// Market-wide yearly drift: prices on old dates are lower, as in the real history.
const MARKET_DRIFT: f64 = 0.08;
/// Synthetic ordinals with `spot_px` filled although `stkPx` is constant (index-like ETNs etc.):
/// with the 20 cash-settled indices this makes ~47 tickers at full scale.
const SPOT_FILLED_EVERY: usize = 211;
/// Synthetic ordinals whose `stkPx` prints 0; ordinal 3 makes a 40-ticker sample carry one.
const ZERO_PX_EVERY: usize = 1000;

/// The first `n` tickers of the universe of `seed`: the real names, then synthetic ones.
pub(super) fn universe(seed: u64, n: usize) -> Vec<Profile> {
    let mut out: Vec<Profile> = REAL.iter().take(n).map(|r| real_profile(seed, r)).collect();
    // Synthetic names are drawn in sequence, so a smaller universe is a prefix of a larger one.
    let mut taken: HashSet<String> = REAL.iter().map(|r| r.0.to_string()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ UNIVERSE_SALT));
    let mut ordinal = 0;
    while out.len() < n {
        out.push(synthetic_profile(seed, ordinal, &mut rng, &mut taken));
        ordinal += 1;
    }
    out
}

/// A real name's profile from its row of [`REAL`].
fn real_profile(seed: u64, r: &RealName) -> Profile {
    let &(symbol, kind, schedule, price, vol, div, width, fine, liq, leaps, group) = r;
    let roots = match symbol {
        "SPX" => Roots::Dual("SPXW"),
        "NDX" => Roots::Pm("NDXP"),
        "RUT" => Roots::Pm("RUTW"),
        "VIX" => Roots::Pm("VIXW"),
        _ => Roots::Plain,
    };
    let (skew, conv) = smile_shape(kind);
    let big = liq >= 100.0;
    Profile {
        symbol: symbol.to_string(),
        root: symbol.replace('_', ""),
        kind,
        roots,
        schedule,
        spot_filled: kind.cash_settled(),
        zero_px: false,
        price,
        drift: if kind == Kind::VolIndex {
            0.0
        } else {
            MARKET_DRIFT
        },
        vol,
        div,
        skew,
        conv,
        width,
        fine,
        liq,
        weeks: if big { 8 } else { 4 },
        months: if big { 9 } else { 3 },
        leaps,
        cycle: 0,
        key: hash(seed, fnv(symbol)),
        walk_key: hash(seed, fnv(group)),
    }
}

/// Typical (skew, convexity) of a kind's smile.
fn smile_shape(kind: Kind) -> (f64, f64) {
    match kind {
        Kind::EquityIndex => (-0.09, 0.015),
        Kind::VolIndex => (0.12, 0.02),
        Kind::Etf => (-0.07, 0.015),
        Kind::Stock => (-0.035, 0.02),
    }
}

/// The next synthetic ticker: a fresh name, Pareto-distributed popularity and traits drawn
/// from it.
fn synthetic_profile(
    seed: u64,
    ordinal: usize,
    rng: &mut ChaCha8Rng,
    taken: &mut HashSet<String>,
) -> Profile {
    let symbol = loop {
        let candidate = synthetic_symbol(rng);
        if taken.insert(candidate.clone()) {
            break candidate;
        }
    };
    // Pareto popularity: most names are barely traded, a few hundred are very active.
    let pop = powf(1.0 - rng.random::<f64>(), -1.0 / 1.15).min(300.0);
    let etf = rng.random::<f64>() < 0.12;
    let kind = if etf { Kind::Etf } else { Kind::Stock };
    let g1 = std_normal(rng.random::<f64>());
    let g2 = std_normal(rng.random::<f64>());
    let (price, vol) = if etf {
        (45.0 * exp(0.7 * g1), 0.25 * exp(0.5 * g2))
    } else {
        (40.0 * exp(g1), 0.45 * exp(0.45 * g2))
    };
    let div = if etf || rng.random::<f64>() < 0.4 {
        0.005 + 0.04 * rng.random::<f64>()
    } else {
        0.0
    };
    let (skew0, conv0) = smile_shape(kind);
    let skew = skew0 * (0.6 + 0.8 * rng.random::<f64>());
    let conv = conv0 * (0.6 + 0.8 * rng.random::<f64>());
    let drift = MARKET_DRIFT + 0.08 * std_normal(rng.random::<f64>());
    let cycle = rng.random::<u32>() % 3;
    let key = hash(seed, fnv(&symbol));
    Profile {
        root: symbol.clone(),
        symbol,
        kind,
        roots: Roots::Plain,
        schedule: if pop > 9.0 {
            Schedule::Weekly
        } else {
            Schedule::Monthly
        },
        spot_filled: ordinal % SPOT_FILLED_EVERY == 1,
        zero_px: ordinal % ZERO_PX_EVERY == 3,
        price: price.clamp(0.6, 2500.0),
        drift,
        vol: vol.clamp(0.08, 3.0),
        div,
        skew,
        conv,
        width: (6.0 + 2.5 * powf(pop, 0.9)).min(90.0) as u32,
        fine: u32::from(pop > 40.0),
        liq: 0.4 * powf(pop, 1.3),
        weeks: if pop > 40.0 { 6 } else { 4 },
        months: if pop > 20.0 { 6 } else { 3 },
        leaps: if pop > 4.0 { 2 } else { u32::from(pop > 1.8) },
        cycle,
        key,
        walk_key: key,
    }
}

/// 1–5 capitals, mostly 3 or 4 as listed names are.
fn synthetic_symbol(rng: &mut ChaCha8Rng) -> String {
    let len = match rng.random::<f64>() {
        u if u < 0.01 => 1,
        u if u < 0.07 => 2,
        u if u < 0.42 => 3,
        u if u < 0.97 => 4,
        _ => 5,
    };
    (0..len)
        .map(|_| char::from(b'A' + (rng.random::<u32>() % 26) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::FULL_TICKERS;

    #[test]
    fn universe_is_prefix_stable_and_spreads_chain_sizes() {
        let small = universe(1, 50);
        let large = universe(1, FULL_TICKERS);
        assert!(small.iter().zip(&large).all(|(a, b)| a.symbol == b.symbol));
        let names: HashSet<&str> = large.iter().map(|p| p.symbol.as_str()).collect();
        assert_eq!(names.len(), FULL_TICKERS);
        let cash = large.iter().filter(|p| p.kind.cash_settled()).count();
        let spot = large.iter().filter(|p| p.spot_filled).count();
        assert_eq!(cash, 20);
        assert!((40..=55).contains(&spot), "{spot} spot_px tickers");
        assert!(large.iter().filter(|p| p.zero_px).count() >= 3);
    }
}
