//! The values of a ticker's rows on a date: each expiry's forward, discount and vol, then each
//! contract's Black–Scholes value and greeks, open interest, volume, quotes and their IVs.

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::calendar::is_standard;
use super::math::{exp, fnv, gauss, hash, ln, mix, ncdf_pair, npdf, std_normal, unit};
use super::universe::{Kind, Profile};

/// Bounds of `smoothSmvVol` (ORATS_FORMAT.md).
const SMV_MIN: f64 = 0.01;
const SMV_MAX: f64 = 9.999_999;
/// Pricing treats a 0DTE as a quarter of a day from expiry.
const T_PRICE_FLOOR: f64 = 0.25 / 365.0;
/// An ask implying a vol above this has no meaningful vol; ORATS prints 0 there.
const MAX_QUOTE_IV: f64 = 5.0;

/// A ticker's state on the trade date, shared by all its expiries.
pub(super) struct TickerDay {
    /// Spot price.
    pub(super) spot: f64,
    /// Short-term vol level.
    pub(super) level: f64,
    /// The day's trading activity (scales volumes).
    activity: f64,
    /// The day's drift of open interest.
    oi_day: f64,
    /// Strikes that are multiples of this (thousandths) draw more open interest.
    round_unit: i64,
}

impl TickerDay {
    /// The ticker's market on day `ordinal`, drawing the day's activity from `rng`.
    pub(super) fn new(p: &Profile, ordinal: i64, rng: &mut ChaCha8Rng) -> Self {
        let (spot, level) = p.market(ordinal);
        let activity = exp(0.6 * gauss(rng));
        let oi_day = exp(0.05 * gauss(rng));
        let round_unit = match spot {
            s if s >= 1000.0 => 100_000,
            s if s >= 100.0 => 10_000,
            s if s >= 20.0 => 5_000,
            _ => 1_000,
        };
        TickerDay {
            spot,
            level,
            activity,
            oi_day,
            round_unit,
        }
    }
}

/// Everything shared by the rows of one expiry.
pub(super) struct Expiry<'a> {
    /// The ticker.
    pub(super) p: &'a Profile,
    /// Its spot on the trade date.
    spot: f64,
    /// Whether this is a standard (monthly) expiry.
    pub(super) standard: bool,
    /// Contract keys derive from it, so open interest persists from day to day.
    key: u64,
    /// Years to expiry (calendar days / 365): the `yte` column.
    pub(super) t: f64,
    sqrt_t: f64,
    sqrt_smile: f64,
    sqrt_oi: f64,
    /// The `iRate` column.
    pub(super) rate: f64,
    /// The `residualRateData` column.
    pub(super) resid: f64,
    disc: f64,
    fwd: f64,
    /// At-the-money vol of the expiry.
    pub(super) sigma: f64,
    round_unit: i64,
    oi_term: f64,
    vol_term: f64,
    activity: f64,
    oi_day: f64,
}

impl<'a> Expiry<'a> {
    /// The expiry `date` of `p` seen on `trade_date`, drawing its rates from `rng`.
    pub(super) fn new(
        p: &'a Profile,
        ticker: &TickerDay,
        short_rate: f64,
        trade_date: NaiveDate,
        date: NaiveDate,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let spot = ticker.spot;
        let days = (date - trade_date).num_days();
        let t = days as f64 / 365.0;
        let rate = (short_rate + 0.002 * t.min(3.0) + 0.0004 * gauss(rng)).max(0.0);
        let resid = if p.kind.cash_settled() {
            0.0
        } else {
            0.002 * gauss(rng)
        };
        let fwd = match p.kind {
            // Vol-index futures revert to their long-run level: contango when spot is low.
            Kind::VolIndex => spot + (1.15 * p.price - spot) * (1.0 - exp(-3.0 * t)),
            _ => spot * exp((rate - p.div + resid) * t),
        };
        let sigma = match p.kind {
            Kind::VolIndex => ticker.level * (0.55 + 0.45 * exp(-t / 0.25)),
            _ => p.vol + (ticker.level - p.vol) * exp(-t / 0.3),
        };
        let standard = is_standard(p, date);
        Expiry {
            p,
            spot,
            standard,
            key: hash(p.key, u64::from(date.num_days_from_ce() as u32)),
            t,
            sqrt_t: t.max(T_PRICE_FLOOR).sqrt(),
            sqrt_smile: t.max(7.0 / 365.0).sqrt(),
            sqrt_oi: t.max(14.0 / 365.0).sqrt(),
            rate,
            resid,
            disc: exp(-rate * t),
            fwd,
            sigma,
            round_unit: ticker.round_unit,
            oi_term: (0.4 + 0.6 * exp(-t / 0.7)) * if standard { 2.0 } else { 1.0 },
            vol_term: (exp(-8.0 * t) + 0.05) * if days == 0 { 2.0 } else { 1.0 },
            activity: ticker.activity,
            oi_day: ticker.oi_day,
        }
    }

    /// The `stkPx` column: a discounted forward for cash-settled indices, 0 for a stale feed.
    pub(super) fn stk_px(&self) -> f64 {
        match (self.p.zero_px, self.p.kind.cash_settled()) {
            (true, _) => 0.0,
            (false, true) => self.disc * self.fwd,
            (false, false) => self.spot,
        }
    }
}

/// The values of one row (one strike and root of an expiry), before formatting.
pub(super) struct Row {
    /// `cVolu`, `cOi`, `pVolu`, `pOi`.
    pub(super) counts: [u64; 4],
    /// `cBidPx`, `cValue`, `cAskPx`, `pBidPx`, `pValue`, `pAskPx`.
    pub(super) prices: [f64; 6],
    /// `cBidIv` (`None`: blank), `cMidIv`, `cAskIv`.
    pub(super) call_ivs: (Option<f64>, f64, f64),
    /// `smoothSmvVol`.
    pub(super) smv: f64,
    /// `pBidIv` (`None`: blank), `pMidIv`, `pAskIv`.
    pub(super) put_ivs: (Option<f64>, f64, f64),
    /// `delta`.
    pub(super) delta: f64,
    /// `gamma`.
    pub(super) gamma: f64,
    /// `theta`, `vega`, `rho`, `phi`, `driftlessTheta`.
    pub(super) greeks: [f64; 5],
    /// `extVol` (`None`: blank).
    pub(super) ext_vol: Option<f64>,
    /// `extCTheo`.
    pub(super) ext_call: f64,
    /// `extPTheo`.
    pub(super) ext_put: f64,
    /// `extPTheo` is garbage such as 2.3E+15, written in scientific notation as the real files do.
    pub(super) ext_put_garbage: bool,
}

/// Prices the contract at `strike` (thousandths) under OSI `root`, drawing its day's noise from
/// `rng` in a fixed order (the row's bytes depend on it).
pub(super) fn price(e: &Expiry<'_>, strike: i64, root: &str, rng: &mut ChaCha8Rng) -> Row {
    let p = e.p;
    let k = strike as f64 / 1000.0;
    let lk = ln(k / e.fwd);
    // The smile flattens beyond ±4 standardized moves, as fitted surfaces are extrapolated.
    let z = (lk / (e.sigma * e.sqrt_smile)).clamp(-4.0, 4.0);
    let sigma = (e.sigma * (1.0 + p.skew * z + p.conv * z * z)).clamp(SMV_MIN, SMV_MAX);
    let sst = sigma * e.sqrt_t;
    let d1 = (-lk + 0.5 * sst * sst) / sst;
    let d2 = d1 - sst;
    let pdf1 = npdf(d1);
    let (n1, m1) = ncdf_pair(d1);
    let (n2, m2) = ncdf_pair(d2);
    let df = e.disc * e.fwd;
    let call = (df * n1 - e.disc * k * n2).max(0.0);
    let put = (e.disc * k * m2 - df * m1).max(0.0);
    let vega_raw = df * pdf1 * e.sqrt_t;

    // Where delta has reached 0 or 1 to 5 decimals, ORATS has gamma 0: the delta is flat there,
    // whatever the decimals it is written to.
    let flat = (n1 * 1e5).round() == 0.0 || (n1 * 1e5).round() == 1e5;
    let (delta, gamma) = if flat {
        (n1.round(), 0.0)
    } else {
        (n1, pdf1 / (df * sst))
    };
    let decay = -df * pdf1 * sigma / (2.0 * e.sqrt_t);
    let theta = (decay - e.rate * k * e.disc * n2 + p.div * df * n1) / 365.0;
    let vega = vega_raw / 100.0;
    let rho = k * e.t * e.disc * n2 / 100.0;
    let phi = -e.t * df * n1 / 100.0;
    let driftless = decay / 365.0;

    // Open interest is keyed by contract (not date) so it persists from one day to the next.
    let zoi = lk / (e.sigma * e.sqrt_oi);
    let near = exp(-zoi * zoi / 4.5);
    let round = if strike % e.round_unit == 0 { 2.5 } else { 1.0 };
    let index_puts = if p.kind == Kind::EquityIndex {
        1.8
    } else {
        1.1
    };
    let (call_side, put_side) = if k >= e.fwd {
        (1.0, 0.5)
    } else {
        (0.5, index_puts)
    };
    let oi_base = 8.0 * p.liq * near * round * e.oi_term * e.oi_day;
    let contract = hash(e.key ^ fnv(root), strike as u64);
    let c_oi = open_interest(oi_base * call_side, contract);
    let p_oi = open_interest(oi_base * put_side, contract ^ 0x7075_7473);
    let vol_base = 2.0 * p.liq * near * near * e.vol_term * e.activity;
    let c_vol = volume(vol_base * call_side, rng);
    let p_vol = volume(vol_base * put_side, rng);

    let spread = 0.02 + 0.15 / (p.liq + 1.0).sqrt();
    let intrinsic = e.disc * (e.fwd - k);
    let (c_bid, c_ask) = quote(call, intrinsic.max(0.0), spread, p.liq);
    let (p_bid, p_ask) = quote(put, (-intrinsic).max(0.0), spread, p.liq);
    let c_noise = 1.0 + 0.01 * gauss(rng);
    let p_noise = 1.0 + 0.01 * gauss(rng);
    let (c_bid_iv, c_mid_iv, c_ask_iv) = quote_ivs(sigma * c_noise, call, c_bid, c_ask, vega_raw);
    let (p_bid_iv, p_mid_iv, p_ask_iv) = quote_ivs(sigma * p_noise, put, p_bid, p_ask, vega_raw);
    let ext_vol = sigma * (1.0 + 0.004 * gauss(rng));
    let ext_call = (call + vega_raw * (ext_vol - sigma)).max(0.0);
    let ext_put = (put + vega_raw * (ext_vol - sigma)).max(0.0);
    let blank = rng.random::<f64>();
    let junk = rng.random::<f64>();
    let junk_mantissa = 1.0 + 9.0 * rng.random::<f64>();
    // Stale feeds (stkPx 0) and a few stray rows carry garbage like 2.3E+15 in extPTheo.
    let junk_put = (p.zero_px && junk < 0.3) || junk < 2e-5;

    Row {
        counts: [c_vol, c_oi, p_vol, p_oi],
        prices: [c_bid, call, c_ask, p_bid, put, p_ask],
        call_ivs: ((blank >= 0.004).then_some(c_bid_iv), c_mid_iv, c_ask_iv),
        smv: sigma,
        put_ivs: (
            (!(0.004..0.016).contains(&blank)).then_some(p_bid_iv),
            p_mid_iv,
            p_ask_iv,
        ),
        delta,
        gamma,
        greeks: [theta, vega, rho, phi, driftless],
        ext_vol: (!(0.016..0.018).contains(&blank)).then_some(ext_vol),
        ext_call,
        ext_put: if junk_put {
            junk_mantissa * 1e15
        } else {
            ext_put
        },
        ext_put_garbage: junk_put,
    }
}

/// Zero-inflated lognormal open interest, keyed by contract so it is stable across days.
fn open_interest(mean: f64, contract: u64) -> u64 {
    let u = unit(contract);
    if u < exp(-mean / 2.0) {
        return 0;
    }
    let g = std_normal(unit(mix(contract)));
    (mean * exp(1.1 * g - 0.6)).round() as u64
}

/// Zero-inflated lognormal volume, drawn afresh every day.
fn volume(mean: f64, rng: &mut ChaCha8Rng) -> u64 {
    let u = rng.random::<f64>();
    let g = gauss(rng);
    if u < exp(-mean) {
        return 0;
    }
    (mean * exp(g - 0.5)).round() as u64
}

/// Bid and ask around a theoretical value on the exchange tick grid; market makers quote the
/// time value wide and the intrinsic value tight.
fn quote(value: f64, intrinsic: f64, spread: f64, liq: f64) -> (f64, f64) {
    let tick = match value {
        v if v < 3.0 && liq >= 30.0 => 0.01,
        v if v < 100.0 => 0.05,
        _ => 0.10,
    };
    let half = ((value - intrinsic).max(0.0) * spread + 0.002 * intrinsic).max(tick);
    let bid = (((value - half) / tick).floor() * tick).max(0.0);
    let ask = (((value + half) / tick).ceil() * tick).max(tick);
    (bid, ask)
}

/// Bid/mid/ask implied vols from a first-order vega expansion; 0 where undefined, as ORATS.
fn quote_ivs(sigma: f64, value: f64, bid: f64, ask: f64, vega_raw: f64) -> (f64, f64, f64) {
    if vega_raw < 1e-6 {
        return (0.0, sigma, 0.0);
    }
    let bid_iv = if bid > 0.0 {
        (sigma - (value - bid) / vega_raw).max(0.0)
    } else {
        0.0
    };
    let ask_iv = sigma + (ask - value) / vega_raw;
    // An ask too far above the model has no meaningful vol; ORATS prints 0 there.
    let ask_iv = if ask_iv > MAX_QUOTE_IV { 0.0 } else { ask_iv };
    let mid_iv = if bid_iv > 0.0 && ask_iv > 0.0 {
        0.5 * (bid_iv + ask_iv)
    } else {
        sigma
    };
    (bid_iv, mid_iv, ask_iv)
}
