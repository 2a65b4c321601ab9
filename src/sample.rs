//! Deterministic, realistic ORATS SMV Strikes archives for demos, tests and benchmarks.
//!
//! [`write_archive`] writes one trading day as `ORATS_SMV_Strikes_YYYYMMDD.zip` holding one
//! deflated CSV member, shaped like the real files described in `ORATS_FORMAT.md`: ~5,800
//! tickers and ~700K rows at full scale, heavy-tailed chain sizes (SPX ~20K rows, the long tail
//! 10–100), weeklies, 0DTE expiries and LEAPS, duplicate SPX/SPXW keys on third Fridays,
//! forward-valued `stkPx` for cash-settled indices, mostly blank `spot_px`, the awkward tickers
//! `NA`, `NAN`, `TRUE`, `BRK_B`, tickers with `stkPx` 0, blank cells, gamma 0 in the wings and
//! scientific notation in the theoretical values.
//!
//! Determinism: the same [`SampleSpec`] gives the same bytes on every platform. Randomness comes
//! from ChaCha8 streams and splitmix hashes keyed by (seed, ticker, date), and `exp`/`ln` are
//! computed here from basic IEEE operations, because libm results differ in the last bit between
//! platforms and a single flipped digit would break byte equality.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Tickers in a full-size day, the default universe.
pub const FULL_TICKERS: usize = 5800;

const HEADER_V1: &str = "ticker,cOpra,pOpra,stkPx,expirDate,yte,strike,cVolu,cOi,pVolu,pOi,\
cBidPx,cValue,cAskPx,pBidPx,pValue,pAskPx,cBidIv,cMidIv,cAskIv,smoothSmvVol,pBidIv,pMidIv,\
pAskIv,iRate,divRate,residualRateData,delta,gamma,theta,vega,rho,phi,driftlessTheta,extVol,\
extCTheo,extPTheo,spot_px,trade_date";
const HEADER_V2: &str = "ticker,stkPx,expirDate,yte,strike,cVolu,cOi,pVolu,pOi,\
cBidPx,cValue,cAskPx,pBidPx,pValue,pAskPx,cBidIv,cMidIv,cAskIv,smoothSmvVol,pBidIv,pMidIv,\
pAskIv,iRate,divRate,residualRateData,delta,gamma,theta,vega,rho,phi,driftlessTheta,extVol,\
extCTheo,extPTheo,spot_px,trade_date";

/// Column layout of the CSV member, i.e. which generation of ORATS files to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Layout {
    /// 39 columns including the `cOpra`/`pOpra` OSI symbols (files since 2021-05-28).
    V1,
    /// 37 columns without OSI symbols (files 2007-01-03 … 2021-05-27).
    V2,
}

impl Layout {
    /// The exact header line, without its line end.
    pub fn header(self) -> &'static str {
        match self {
            Layout::V1 => HEADER_V1,
            Layout::V2 => HEADER_V2,
        }
    }

    /// Number of fields on every line.
    pub fn columns(self) -> usize {
        match self {
            Layout::V1 => 39,
            Layout::V2 => 37,
        }
    }
}

/// What to generate: one trading day of one synthetic market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleSpec {
    /// Trade date: the `trade_date` column, the file names and the market state.
    pub date: NaiveDate,
    /// Universe size; the real key names come first, and below [`FULL_TICKERS`] every chain
    /// keeps only every k-th strike (k = FULL_TICKERS / tickers, at most 40) so a small sample
    /// stays small while keeping every expiry and quirk.
    pub tickers: usize,
    /// Seed of the synthetic market: ticker names, prices and every value derive from it.
    pub seed: u64,
    /// Column layout.
    pub layout: Layout,
}

impl SampleSpec {
    /// A full-size day: [`FULL_TICKERS`] tickers, seed 1, layout v1.
    pub fn new(date: NaiveDate) -> Self {
        SampleSpec {
            date,
            tickers: FULL_TICKERS,
            seed: 1,
            layout: Layout::V1,
        }
    }
}

/// What [`write_archive`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleSummary {
    /// Path of the ZIP archive.
    pub path: PathBuf,
    /// Data rows in the CSV member (the header excluded).
    pub rows: u64,
    /// Uncompressed size of the CSV member in bytes.
    pub csv_bytes: u64,
    /// Size of the ZIP archive in bytes.
    pub bytes: u64,
}

/// Archive file name for a trade date: `ORATS_SMV_Strikes_YYYYMMDD.zip`.
pub fn archive_name(date: NaiveDate) -> String {
    format!("ORATS_SMV_Strikes_{}.zip", date.format("%Y%m%d"))
}

/// CSV member name inside the archive: `ORATS_SMV_Strikes_YYYYMMDD.csv`.
pub fn member_name(date: NaiveDate) -> String {
    format!("ORATS_SMV_Strikes_{}.csv", date.format("%Y%m%d"))
}

/// Streams the CSV of one day (header and rows) into `out`; returns the number of data rows.
pub fn write_csv<W: Write>(spec: &SampleSpec, out: W) -> io::Result<u64> {
    generate(spec, out).map(|sink| sink.rows)
}

/// Writes `out_dir/ORATS_SMV_Strikes_YYYYMMDD.zip` (creating `out_dir`), streaming the CSV
/// straight into the deflater; the file appears under its final name only once complete.
pub fn write_archive(spec: &SampleSpec, out_dir: &Path) -> io::Result<SampleSummary> {
    fs::create_dir_all(out_dir)?;
    let name = archive_name(spec.date);
    let path = out_dir.join(&name);
    let partial = out_dir.join(format!(".{name}.partial"));
    let written = write_zip(spec, &partial);
    let (rows, csv_bytes) = match written {
        Ok(counts) => counts,
        Err(e) => {
            // The partial file is garbage whatever happened; the write error is what matters.
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, &path)?;
    let bytes = fs::metadata(&path)?.len();
    Ok(SampleSummary {
        path,
        rows,
        csv_bytes,
        bytes,
    })
}

fn write_zip(spec: &SampleSpec, path: &Path) -> io::Result<(u64, u64)> {
    let mut zip = ZipWriter::new(BufWriter::new(File::create(path)?));
    let (y, m, d) = (spec.date.year(), spec.date.month(), spec.date.day());
    // ORATS publishes around 21:30 ET; a fixed stamp keeps the archive bytes reproducible.
    let stamp = u16::try_from(y)
        .ok()
        .and_then(|y| DateTime::from_date_and_time(y, m as u8, d as u8, 21, 30, 0).ok())
        .unwrap_or_default();
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(stamp)
        .unix_permissions(0o644)
        // A member beyond 4 GiB needs ZIP64; only absurdly large universes get there.
        .large_file(spec.tickers > 10 * FULL_TICKERS);
    zip.start_file(member_name(spec.date), options)
        .map_err(io::Error::other)?;
    let (rows, bytes) = generate(spec, &mut zip).map(|sink| (sink.rows, sink.bytes))?;
    zip.finish().map_err(io::Error::other)?.flush()?;
    Ok((rows, bytes))
}

// ---------------------------------------------------------------------------------------------
// Universe: the tickers and their date-independent traits.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    EquityIndex,
    VolIndex,
    Etf,
    Stock,
}

impl Kind {
    fn cash_settled(self) -> bool {
        matches!(self, Kind::EquityIndex | Kind::VolIndex)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schedule {
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
enum Roots {
    Plain,
    /// SPX: both the AM root and this PM root on standard expiries, this root alone otherwise.
    Dual(&'static str),
    /// NDX, RUT, VIX: the AM root on standard expiries, this root otherwise.
    Pm(&'static str),
}

#[derive(Clone, Debug)]
struct Profile {
    symbol: String,
    root: String,
    kind: Kind,
    roots: Roots,
    schedule: Schedule,
    spot_filled: bool,
    zero_px: bool,
    /// Price level on [`REF_DAY`] before the random walk.
    price: f64,
    /// Yearly log drift, which makes old dates cheaper.
    drift: f64,
    vol: f64,
    div: f64,
    skew: f64,
    conv: f64,
    /// Most strikes an expiry gets near the money; the step coarsens to respect it.
    width: u32,
    /// How many notches finer than the exchange default the strike step is.
    fine: u32,
    /// Open-interest scale, the heavy tail of activity.
    liq: f64,
    weeks: u32,
    months: u32,
    leaps: u32,
    cycle: u32,
    /// Per-ticker randomness that does not depend on the date.
    key: u64,
    /// Shared by tickers on the same underlying (SPX, SPY, XSP…) so their prices move together.
    walk_key: u64,
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

fn universe(seed: u64, n: usize) -> Vec<Profile> {
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

fn smile_shape(kind: Kind) -> (f64, f64) {
    match kind {
        Kind::EquityIndex => (-0.09, 0.015),
        Kind::VolIndex => (0.12, 0.02),
        Kind::Etf => (-0.07, 0.015),
        Kind::Stock => (-0.035, 0.02),
    }
}

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

// ---------------------------------------------------------------------------------------------
// Market state of a ticker on a date.

/// 2026-01-02, the date the price levels in [`REAL`] refer to.
const REF_DAY: i64 = 739_618;
const WALK_DAYS: i64 = 128;
const REGIME_DAYS: i64 = 32;

impl Profile {
    /// Spot and short-term vol level on a day: a moving sum of hashed daily shocks, so
    /// consecutive days differ by one daily move and the history is mean-reverting.
    fn market(&self, day: i64) -> (f64, f64) {
        let years = (day - REF_DAY) as f64 / 365.25;
        let walk: f64 = (0..WALK_DAYS)
            .map(|i| hashed_gauss(hash(self.walk_key, (day - i) as u64)))
            .sum();
        let regime: f64 = (0..REGIME_DAYS)
            .map(|i| hashed_gauss(hash(self.walk_key ^ 0x5151, (day - i) as u64)))
            .sum();
        let daily = 0.8 * self.vol / (2.0f64 * 252.0).sqrt();
        let spot = self.price * exp(self.drift * years + daily * walk);
        let level = self.vol * exp(0.25 * regime / (REGIME_DAYS as f64).sqrt());
        (spot, level)
    }
}

/// Approximate yearly short rates 2007…2026, so old files carry near-zero rates.
const RATES: [f64; 20] = [
    0.050, 0.019, 0.002, 0.002, 0.001, 0.0015, 0.001, 0.001, 0.0015, 0.004, 0.010, 0.018, 0.021,
    0.004, 0.001, 0.017, 0.050, 0.051, 0.042, 0.037,
];

fn short_rate(date: NaiveDate) -> f64 {
    let x = date.year() as f64 + date.ordinal0() as f64 / 365.0 - 2007.5;
    let last = (RATES.len() - 1) as f64;
    let x = x.clamp(0.0, last);
    let i = (x.floor() as usize).min(RATES.len() - 2);
    let f = x - i as f64;
    RATES[i] * (1.0 - f) + RATES[i + 1] * f
}

// ---------------------------------------------------------------------------------------------
// Expiry calendar (weekdays; exchange holidays are not modelled).

fn third_friday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Fri, 3)
}

fn is_third_friday(d: NaiveDate) -> bool {
    d.weekday() == Weekday::Fri && (15..=21).contains(&d.day())
}

/// The VIX monthly: 30 days before the third Friday of the following month.
fn vix_monthly(year: i32, month: u32) -> Option<NaiveDate> {
    let (y, m) = next_month(year, month);
    third_friday(y, m).map(|f| f - Days::new(30))
}

fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

/// Monthly dates from `d`'s month on, not before `d`, until `until` (inclusive).
fn monthlies(
    d: NaiveDate,
    until: NaiveDate,
    monthly: fn(i32, u32) -> Option<NaiveDate>,
) -> impl Iterator<Item = NaiveDate> {
    let (mut y, mut m) = (d.year(), d.month());
    std::iter::from_fn(move || {
        let date = monthly(y, m)?;
        (y, m) = next_month(y, m);
        Some(date)
    })
    .filter(move |x| *x >= d)
    .take_while(move |x| *x <= until)
}

fn days_after(d: NaiveDate, n: u64) -> NaiveDate {
    d + Days::new(n)
}

fn expiries(p: &Profile, d: NaiveDate) -> BTreeSet<NaiveDate> {
    let mut set = BTreeSet::new();
    let weekdays_until = |until: NaiveDate, keep: fn(Weekday) -> bool| {
        d.iter_days()
            .take_while(move |x| *x <= until)
            .filter(move |x| keep(x.weekday()))
    };
    let is_workday = |w: Weekday| !matches!(w, Weekday::Sat | Weekday::Sun);
    let is_friday = |w: Weekday| w == Weekday::Fri;
    match p.schedule {
        Schedule::Daily => {
            set.extend(weekdays_until(days_after(d, 42), is_workday));
            set.extend(weekdays_until(days_after(d, 91), is_friday));
            set.extend(monthlies(d, days_after(d, 400), third_friday));
            set.extend(
                monthlies(d, days_after(d, 730), third_friday).filter(|x| x.month() % 3 == 0),
            );
            let leaps_end = days_after(d, 365 * u64::from(p.leaps) + 31);
            set.extend(monthlies(d, leaps_end, third_friday).filter(|x| x.month() == 12));
        }
        Schedule::Weekly => {
            set.extend(weekdays_until(
                days_after(d, 7 * u64::from(p.weeks)),
                is_friday,
            ));
            let months_end = days_after(d, 31 * u64::from(p.months));
            set.extend(monthlies(d, months_end, third_friday));
            set.extend(
                monthlies(d, days_after(d, 365), third_friday).filter(|x| x.month() % 3 == 0),
            );
            set.extend(january_leaps(d, p.leaps));
        }
        Schedule::Monthly => {
            let near: Vec<NaiveDate> = monthlies(d, days_after(d, 400), third_friday)
                .take(p.months as usize)
                .collect();
            let last = near.last().copied().unwrap_or(d);
            set.extend(near);
            set.extend(
                monthlies(last, days_after(d, 400), third_friday)
                    .filter(|x| *x > last && x.month() % 3 == p.cycle)
                    .take(2),
            );
            set.extend(january_leaps(d, p.leaps));
        }
        Schedule::Wednesday => {
            set.extend(weekdays_until(days_after(d, 42), |w| w == Weekday::Wed));
            set.extend(monthlies(d, days_after(d, 220), vix_monthly));
        }
    }
    set
}

fn january_leaps(d: NaiveDate, years: u32) -> impl Iterator<Item = NaiveDate> {
    (1..=years as i32).filter_map(move |k| third_friday(d.year() + k, 1))
}

fn is_standard(p: &Profile, e: NaiveDate) -> bool {
    match p.schedule {
        Schedule::Wednesday => vix_monthly(e.year(), e.month()) == Some(e),
        _ => is_third_friday(e),
    }
}

fn roots_for(p: &Profile, standard: bool) -> [Option<&str>; 2] {
    match (p.roots, standard) {
        (Roots::Plain, _) => [Some(&p.root), None],
        (Roots::Dual(pm), true) => [Some(&p.root), Some(pm)],
        (Roots::Dual(pm) | Roots::Pm(pm), false) => [Some(pm), None],
        (Roots::Pm(_), true) => [Some(&p.root), None],
    }
}

// ---------------------------------------------------------------------------------------------
// Strike grids, in thousandths (the OSI unit) so that grid arithmetic is exact.

const NICE_STEPS: [i64; 10] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
];
/// Largest strike an 8-digit OSI field holds.
const MAX_STRIKE: i64 = 99_999_999;
const BAND_SIGMAS: f64 = 2.2;
const WING_SIGMAS: f64 = 6.0;
/// Wings are sized as if the expiry were at least this far away (listed months ago).
const WING_T_FLOOR: f64 = 0.25;
/// Calls are listed up to e^1.1 ≈ 3 × spot, however long the expiry.
const MAX_UPSIDE: f64 = 1.1;
/// Each wing holds at most width / WING_SHARE strikes.
const WING_SHARE: u32 = 2;
const MIN_BAND: f64 = 0.03;
/// Band sizing treats near expiries as at least this long, so a 0DTE still lists a chain.
const T_BAND_FLOOR: f64 = 2.0 / 365.0;

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

fn nice_step(i: usize) -> i64 {
    NICE_STEPS[i.min(NICE_STEPS.len() - 1)]
}

/// Fills `out` with the sorted strikes of one expiry: a fine grid over ±2.2σ√T (coarsened until
/// it fits `width`) and coarser wings far out, because chains keep the strikes listed months
/// ago; then keeps every `thin`-th strike counted from the money.
fn strike_grid(p: &Profile, spot: f64, sigma: f64, t: f64, thin: usize, out: &mut Vec<i64>) {
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

// ---------------------------------------------------------------------------------------------
// Row generation.

/// Bytes buffered before handing a chunk to the writer (the deflater works best on big chunks).
const FLUSH_AT: usize = 1 << 17;
const SMV_MIN: f64 = 0.01;
const SMV_MAX: f64 = 9.999_999;
/// Pricing treats a 0DTE as a quarter of a day from expiry.
const T_PRICE_FLOOR: f64 = 0.25 / 365.0;

struct Sink<W: Write> {
    out: W,
    buf: Vec<u8>,
    rows: u64,
    bytes: u64,
}

impl<W: Write> Sink<W> {
    fn end_row(&mut self) -> io::Result<()> {
        self.buf.push(b'\n');
        self.rows += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

fn generate<W: Write>(spec: &SampleSpec, out: W) -> io::Result<Sink<W>> {
    let mut profiles = universe(spec.seed, spec.tickers);
    profiles.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let mut sink = Sink {
        out,
        buf: Vec::with_capacity(FLUSH_AT + 4096),
        rows: 0,
        bytes: 0,
    };
    sink.buf.extend_from_slice(spec.layout.header().as_bytes());
    sink.buf.push(b'\n');
    let day = Day {
        date: spec.date,
        ordinal: i64::from(spec.date.num_days_from_ce()),
        rate: short_rate(spec.date),
        thin: (FULL_TICKERS / spec.tickers.max(1)).clamp(1, 40),
        layout: spec.layout,
        trade_date: date_bytes(spec.date),
    };
    let mut strikes = Vec::new();
    for p in &profiles {
        write_ticker(p, &day, &mut sink, &mut strikes)?;
    }
    sink.flush()?;
    Ok(sink)
}

struct Day {
    date: NaiveDate,
    ordinal: i64,
    rate: f64,
    thin: usize,
    layout: Layout,
    trade_date: Vec<u8>,
}

/// Everything shared by the rows of one expiry.
struct Expiry<'a> {
    p: &'a Profile,
    yymmdd: Vec<u8>,
    /// `stkPx,expirDate,yte,` preformatted.
    head: Vec<u8>,
    /// `iRate,divRate,residualRateData,` preformatted.
    rates: Vec<u8>,
    /// `spot_px,trade_date` preformatted.
    tail: &'a [u8],
    key: u64,
    t: f64,
    sqrt_t: f64,
    sqrt_smile: f64,
    sqrt_oi: f64,
    rate: f64,
    disc: f64,
    fwd: f64,
    sigma: f64,
    round_unit: i64,
    oi_term: f64,
    vol_term: f64,
    activity: f64,
    oi_day: f64,
}

fn write_ticker<W: Write>(
    p: &Profile,
    day: &Day,
    sink: &mut Sink<W>,
    strikes: &mut Vec<i64>,
) -> io::Result<()> {
    let (spot, level) = p.market(day.ordinal);
    let mut rng = ChaCha8Rng::seed_from_u64(hash(p.key, day.ordinal as u64));
    let activity = exp(0.6 * gauss(&mut rng));
    let oi_day = exp(0.05 * gauss(&mut rng));
    let mut tail = Vec::with_capacity(32);
    if p.spot_filled {
        put_fixed(&mut tail, spot, 2);
    }
    tail.push(b',');
    tail.extend_from_slice(&day.trade_date);
    let round_unit = match spot {
        s if s >= 1000.0 => 100_000,
        s if s >= 100.0 => 10_000,
        s if s >= 20.0 => 5_000,
        _ => 1_000,
    };
    for date in expiries(p, day.date) {
        let days = (date - day.date).num_days();
        let t = days as f64 / 365.0;
        let rate = (day.rate + 0.002 * t.min(3.0) + 0.0004 * gauss(&mut rng)).max(0.0);
        let resid = if p.kind.cash_settled() {
            0.0
        } else {
            0.002 * gauss(&mut rng)
        };
        let fwd = match p.kind {
            // Vol-index futures revert to their long-run level: contango when spot is low.
            Kind::VolIndex => spot + (1.15 * p.price - spot) * (1.0 - exp(-3.0 * t)),
            _ => spot * exp((rate - p.div + resid) * t),
        };
        let disc = exp(-rate * t);
        let sigma = match p.kind {
            Kind::VolIndex => level * (0.55 + 0.45 * exp(-t / 0.25)),
            _ => p.vol + (level - p.vol) * exp(-t / 0.3),
        };
        let standard = is_standard(p, date);
        let mut head = Vec::with_capacity(40);
        match (p.zero_px, p.kind.cash_settled()) {
            (true, _) => head.push(b'0'),
            (false, true) => put_fixed(&mut head, disc * fwd, 2),
            (false, false) => put_fixed(&mut head, spot, 2),
        }
        head.push(b',');
        head.extend_from_slice(&date_bytes(date));
        head.push(b',');
        put_fixed(&mut head, t, 5);
        head.push(b',');
        let mut rates = Vec::with_capacity(24);
        put_fixed(&mut rates, rate, 4);
        rates.push(b',');
        put_fixed(&mut rates, p.div, 4);
        rates.push(b',');
        put_fixed(&mut rates, resid, 4);
        rates.push(b',');
        let mut yymmdd = Vec::with_capacity(6);
        let yy = date.year().rem_euclid(100) as u32;
        put_padded(
            &mut yymmdd,
            u64::from(yy * 10_000 + date.month() * 100 + date.day()),
            6,
        );
        let e = Expiry {
            p,
            yymmdd,
            head,
            rates,
            tail: &tail,
            key: hash(p.key, u64::from(date.num_days_from_ce() as u32)),
            t,
            sqrt_t: t.max(T_PRICE_FLOOR).sqrt(),
            sqrt_smile: t.max(7.0 / 365.0).sqrt(),
            sqrt_oi: t.max(14.0 / 365.0).sqrt(),
            rate,
            disc,
            fwd,
            sigma,
            round_unit,
            oi_term: (0.4 + 0.6 * exp(-t / 0.7)) * if standard { 2.0 } else { 1.0 },
            vol_term: (exp(-8.0 * t) + 0.05) * if days == 0 { 2.0 } else { 1.0 },
            activity,
            oi_day,
        };
        strike_grid(p, spot, sigma, t, day.thin, strikes);
        for &k in strikes.iter() {
            for root in roots_for(p, standard).into_iter().flatten() {
                write_row(&e, day.layout, k, root, &mut rng, sink)?;
            }
        }
    }
    Ok(())
}

fn write_row<W: Write>(
    e: &Expiry<'_>,
    layout: Layout,
    strike: i64,
    root: &str,
    rng: &mut ChaCha8Rng,
    sink: &mut Sink<W>,
) -> io::Result<()> {
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

    let delta = n1;
    let flat = (delta * 1e5).round() == 0.0 || (delta * 1e5).round() == 1e5;
    let gamma = if flat { 0.0 } else { pdf1 / (df * sst) };
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

    let b = &mut sink.buf;
    b.extend_from_slice(p.symbol.as_bytes());
    b.push(b',');
    if layout == Layout::V1 {
        for right in [b'C', b'P'] {
            b.extend_from_slice(root.as_bytes());
            b.extend_from_slice(&e.yymmdd);
            b.push(right);
            put_padded(b, strike as u64, 8);
            b.push(b',');
        }
    }
    b.extend_from_slice(&e.head);
    put_strike(b, strike);
    for v in [c_vol, c_oi, p_vol, p_oi] {
        b.push(b',');
        put_u64(b, v);
    }
    for v in [c_bid, call, c_ask, p_bid, put, p_ask] {
        b.push(b',');
        put_fixed(b, v, 2);
    }
    b.push(b',');
    if blank >= 0.004 {
        put_fixed(b, c_bid_iv, 4);
    }
    for v in [c_mid_iv, c_ask_iv] {
        b.push(b',');
        put_fixed(b, v, 4);
    }
    b.push(b',');
    put_fixed(b, sigma, 6);
    b.push(b',');
    if !(0.004..0.016).contains(&blank) {
        put_fixed(b, p_bid_iv, 4);
    }
    for v in [p_mid_iv, p_ask_iv] {
        b.push(b',');
        put_fixed(b, v, 4);
    }
    b.push(b',');
    b.extend_from_slice(&e.rates);
    put_fixed(b, delta, 5);
    b.push(b',');
    put_fixed(b, gamma, 8);
    for v in [theta, vega, rho, phi, driftless] {
        b.push(b',');
        put_fixed(b, v, 6);
    }
    b.push(b',');
    if !(0.016..0.018).contains(&blank) {
        put_fixed(b, ext_vol, 4);
    }
    b.push(b',');
    put_theo(b, ext_call);
    b.push(b',');
    if junk_put {
        put_sci(b, junk_mantissa * 1e15);
    } else {
        put_theo(b, ext_put);
    }
    b.push(b',');
    b.extend_from_slice(e.tail);
    sink.end_row()
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

const MAX_QUOTE_IV: f64 = 5.0;

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

// ---------------------------------------------------------------------------------------------
// Formatting into the row buffer (no `fmt` machinery: this is the hot loop).

const POW10: [f64; 9] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
const POW10_U: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

fn put_u64(b: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

fn put_padded(b: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    for slot in tmp[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    b.extend_from_slice(&tmp[..width]);
}

/// Fixed decimals; a value that rounds to zero prints `0` (never `-0.00`).
fn put_fixed(b: &mut Vec<u8>, x: f64, dp: usize) {
    let scaled = (x * POW10[dp]).round();
    if scaled == 0.0 || !scaled.is_finite() {
        b.push(b'0');
        return;
    }
    if scaled.abs() >= 1e18 {
        put_sci(b, x);
        return;
    }
    if scaled < 0.0 {
        b.push(b'-');
    }
    let n = scaled.abs() as u64;
    put_u64(b, n / POW10_U[dp]);
    if dp > 0 {
        b.push(b'.');
        put_padded(b, n % POW10_U[dp], dp);
    }
}

/// Two significant digits in the `1.5E-05` / `2.3E+15` style of the real files.
fn put_sci(b: &mut Vec<u8>, x: f64) {
    if x < 0.0 {
        b.push(b'-');
    }
    let mut a = x.abs();
    let mut e = 0i32;
    while a >= 10.0 {
        a /= 10.0;
        e += 1;
    }
    while a < 1.0 {
        a *= 10.0;
        e -= 1;
    }
    let mut m = (a * 10.0).round() as u64;
    if m >= 100 {
        m /= 10;
        e += 1;
    }
    b.extend_from_slice(&[b'0' + (m / 10) as u8, b'.', b'0' + (m % 10) as u8, b'E']);
    b.push(if e < 0 { b'-' } else { b'+' });
    put_padded(b, u64::from(e.unsigned_abs()), 2);
}

/// Theoretical values: cents, with sub-cent remnants in scientific notation, dust as 0.
fn put_theo(b: &mut Vec<u8>, x: f64) {
    if !(1e-6..0.005).contains(&x) {
        put_fixed(b, x, 2);
    } else if x >= 1e-4 {
        put_fixed(b, x, 4);
    } else {
        put_sci(b, x);
    }
}

/// Strike with trailing zeros trimmed: `4700`, `192.5`, `0.5`.
fn put_strike(b: &mut Vec<u8>, milli: i64) {
    let milli = milli.unsigned_abs();
    put_u64(b, milli / 1000);
    let mut frac = milli % 1000;
    if frac != 0 {
        b.push(b'.');
        let mut digits = 3;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        put_padded(b, frac, digits);
    }
}

/// `M/D/YYYY` without zero padding.
fn date_bytes(d: NaiveDate) -> Vec<u8> {
    let mut b = Vec::with_capacity(10);
    put_u64(&mut b, u64::from(d.month()));
    b.push(b'/');
    put_u64(&mut b, u64::from(d.day()));
    b.push(b'/');
    put_u64(&mut b, d.year().max(0) as u64);
    b
}

// ---------------------------------------------------------------------------------------------
// Platform-stable math and hashing.

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b))
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Uniform in (0, 1) from a hash.
fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Cheap bounded near-normal (Irwin–Hall of four 16-bit uniforms).
fn hashed_gauss(h: u64) -> f64 {
    let s: u64 = (0..4).map(|i| (h >> (16 * i)) & 0xffff).sum();
    (s as f64 / 65536.0 - 2.0) * 3f64.sqrt()
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    hashed_gauss(rng.random::<u64>())
}

fn powf(x: f64, e: f64) -> f64 {
    exp(e * ln(x))
}

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// e^x from a degree-13 Taylor polynomial after reduction by powers of two.
fn exp(x: f64) -> f64 {
    if x < -700.0 {
        return 0.0;
    }
    if x > 700.0 {
        return f64::MAX;
    }
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = x - k * LN2_HI - k * LN2_LO;
    const C: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let poly = C.iter().rev().fold(0.0, |acc, c| acc * r + c);
    poly * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// Natural log from the atanh series on the mantissa; callers pass positive normal numbers.
fn ln(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return f64::NEG_INFINITY;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let f = (m - 1.0) / (m + 1.0);
    let f2 = f * f;
    let series = [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0]
        .iter()
        .fold(0.0, |acc, n| acc * f2 + 1.0 / n);
    2.0 * f * series + e as f64 * std::f64::consts::LN_2
}

fn npdf(x: f64) -> f64 {
    exp(-0.5 * x * x) * (1.0 / (2.0 * std::f64::consts::PI).sqrt())
}

/// (N(x), N(−x)), each tail with small relative error (Numerical Recipes' erfc).
fn ncdf_pair(x: f64) -> (f64, f64) {
    let a = x.abs() * std::f64::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = [
        0.170_872_77,
        -0.822_152_23,
        1.488_515_87,
        -1.135_203_98,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_68,
        -1.265_512_23,
    ]
    .iter()
    .fold(0.0, |acc, c| acc * t + c);
    let tail = 0.5 * t * exp(-a * a + poly);
    if x >= 0.0 {
        (1.0 - tail, tail)
    } else {
        (tail, 1.0 - tail)
    }
}

/// Inverse normal CDF (Acklam), for heavy-tailed draws.
fn std_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        let num = C.iter().fold(0.0, |acc, c| acc * q + c);
        let den = D.iter().fold(0.0, |acc, d| acc * q + d) * q + 1.0;
        num / den
    };
    if p < 0.024_25 {
        tail((-2.0 * ln(p)).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * ln(1.0 - p)).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        let num = A.iter().fold(0.0, |acc, a| acc * r + a) * q;
        let den = B.iter().fold(0.0, |acc, b| acc * r + b) * r + 1.0;
        num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn spec(tickers: usize) -> SampleSpec {
        SampleSpec {
            tickers,
            ..SampleSpec::new(date(2026, 2, 5))
        }
    }

    fn csv(spec: &SampleSpec) -> String {
        let mut out = Vec::new();
        let rows = write_csv(spec, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count() as u64, rows + 1);
        text
    }

    fn rows(text: &str) -> Vec<Vec<&str>> {
        text.lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect()
    }

    fn col(layout: Layout, name: &str) -> usize {
        layout.header().split(',').position(|c| c == name).unwrap()
    }

    #[test]
    fn same_spec_same_bytes_other_seed_or_date_other_bytes() {
        let a = csv(&spec(40));
        assert_eq!(a, csv(&spec(40)));
        assert_ne!(
            a,
            csv(&SampleSpec {
                seed: 2,
                ..spec(40)
            })
        );
        assert_ne!(
            a,
            csv(&SampleSpec {
                date: date(2026, 2, 6),
                ..spec(40)
            })
        );
    }

    #[test]
    fn headers_are_exact_and_every_row_has_every_field() {
        let v1 = "ticker,cOpra,pOpra,stkPx,expirDate,yte,strike,cVolu,cOi,pVolu,pOi,cBidPx,\
                  cValue,cAskPx,pBidPx,pValue,pAskPx,cBidIv,cMidIv,cAskIv,smoothSmvVol,pBidIv,\
                  pMidIv,pAskIv,iRate,divRate,residualRateData,delta,gamma,theta,vega,rho,phi,\
                  driftlessTheta,extVol,extCTheo,extPTheo,spot_px,trade_date";
        let v2 = v1.replace("cOpra,pOpra,", "");
        for (layout, header) in [(Layout::V1, v1.to_string()), (Layout::V2, v2)] {
            let text = csv(&SampleSpec { layout, ..spec(45) });
            assert!(!text.contains('\r') && !text.starts_with('\u{feff}') && !text.contains('"'));
            assert_eq!(text.lines().next().unwrap(), header);
            assert_eq!(header.split(',').count(), layout.columns());
            assert!(text.ends_with('\n'));
            for row in rows(&text) {
                assert_eq!(row.len(), layout.columns(), "{row:?}");
            }
        }
    }

    #[test]
    fn dates_are_unpadded_and_yte_counts_calendar_days() {
        let text = csv(&spec(40));
        let (e, y, t) = (
            col(Layout::V1, "expirDate"),
            col(Layout::V1, "yte"),
            col(Layout::V1, "trade_date"),
        );
        for row in rows(&text) {
            assert_eq!(row[t], "2/5/2026");
            let parts: Vec<&str> = row[e].split('/').collect();
            assert_eq!(parts.len(), 3);
            assert!(parts.iter().all(|p| !p.starts_with('0')), "{}", row[e]);
            let exp = NaiveDate::parse_from_str(row[e], "%m/%d/%Y").unwrap();
            let days = (exp - date(2026, 2, 5)).num_days();
            assert!((0..=3 * 366 + 31).contains(&days));
            let mut want = Vec::new();
            put_fixed(&mut want, days as f64 / 365.0, 5);
            assert_eq!(row[y].as_bytes(), want);
        }
    }

    #[test]
    fn spx_lists_both_roots_on_third_fridays_and_expiring_options() {
        let text = csv(&spec(60));
        let rows = rows(&text);
        let spx: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == "SPX").collect();
        let pairs = spx
            .windows(2)
            .filter(|w| w[0][4] == w[1][4] && w[0][6] == w[1][6])
            .inspect(|w| {
                assert!(w[0][1].starts_with("SPX2") && w[1][1].starts_with("SPXW2"));
                assert_eq!(w[0][1][3..], w[1][1][4..]);
            })
            .count();
        assert!(pairs > 20, "{pairs} duplicate SPX keys");
        for r in spx.iter().filter(|r| r[1].starts_with("SPX2")) {
            let exp = NaiveDate::parse_from_str(r[4], "%m/%d/%Y").unwrap();
            assert!(
                is_third_friday(exp),
                "AM root only on third Fridays: {}",
                r[1]
            );
        }
        for name in ["SPX", "SPY", "QQQ", "IWM"] {
            assert!(
                rows.iter()
                    .any(|r| r[0] == name && r[5] == "0" && r[4] == "2/5/2026"),
                "{name} 0DTE"
            );
        }
        // OSI: root + YYMMDD + C/P + strike × 1000 on 8 digits; share classes drop the '_'.
        for r in &rows {
            let (c, p) = (r[1], r[2]);
            let root = &c[..c.len() - 15];
            assert_eq!(&c[c.len() - 9..c.len() - 8], "C");
            assert_eq!(
                p,
                format!(
                    "{root}{}P{}",
                    &c[root.len()..root.len() + 6],
                    &c[c.len() - 8..]
                )
            );
            let milli: f64 = c[c.len() - 8..].parse().unwrap();
            assert_eq!(milli / 1000.0, r[6].parse::<f64>().unwrap());
        }
        assert!(
            rows.iter()
                .any(|r| r[0] == "BRK_B" && r[1].starts_with("BRKB"))
        );
        assert!(
            rows.iter()
                .any(|r| r[0] == "NDX" && r[1].starts_with("NDXP"))
        );
        assert!(
            rows.iter()
                .any(|r| r[0] == "VIX" && r[1].starts_with("VIXW"))
        );
    }

    #[test]
    fn rows_are_sorted_by_ticker_expiry_strike_and_root() {
        let text = csv(&spec(120));
        let key = |r: &Vec<&str>| {
            let exp = NaiveDate::parse_from_str(r[4], "%m/%d/%Y").unwrap();
            (
                r[0].to_string(),
                exp,
                r[6].parse::<f64>().unwrap(),
                r[1].len(),
            )
        };
        let rows = rows(&text);
        let mut seen = HashSet::new();
        for w in rows.windows(2) {
            let (a, b) = (key(&w[0]), key(&w[1]));
            assert!(a < b, "{:?} !< {:?}", w[0], w[1]);
            if a.0 != b.0 {
                assert!(seen.insert(a.0.clone()), "{} not contiguous", a.0);
            }
        }
        let tickers: HashSet<&str> = rows.iter().map(|r| r[0]).collect();
        assert_eq!(tickers.len(), 120);
        for quirk in ["NA", "NAN", "TRUE", "BRK_B", "BF_B", "SPX", "AAPL", "VIX"] {
            assert!(tickers.contains(quirk), "{quirk}");
        }
        assert!(tickers.iter().all(|t| {
            (1..=5).contains(&t.len()) && t.bytes().all(|c| c.is_ascii_uppercase() || c == b'_')
        }));
    }

    #[test]
    fn spot_px_only_on_index_like_tickers_and_stkpx_forward_for_cash_indices() {
        let text = csv(&spec(400));
        let rows = rows(&text);
        let (spot, stk) = (col(Layout::V1, "spot_px"), col(Layout::V1, "stkPx"));
        let filled: HashSet<&str> = rows
            .iter()
            .filter(|r| !r[spot].is_empty())
            .map(|r| r[0])
            .collect();
        for t in ["SPX", "NDX", "RUT", "VIX", "XSP", "DJX"] {
            assert!(filled.contains(t), "{t}");
        }
        for t in ["SPY", "AAPL", "NA", "BRK_B"] {
            assert!(!filled.contains(t), "{t}");
        }
        let stk_of = |t: &str| -> HashSet<&str> {
            rows.iter().filter(|r| r[0] == t).map(|r| r[stk]).collect()
        };
        assert!(
            stk_of("SPX").len() > 10,
            "SPX stkPx is a forward per expiry"
        );
        assert_eq!(stk_of("AAPL").len(), 1, "a stock prints one stkPx");
        assert!(
            rows.iter().any(|r| r[stk] == "0"),
            "a stale ticker with stkPx 0"
        );
    }

    #[test]
    fn values_look_like_orats() {
        let text = csv(&spec(400));
        let rows = rows(&text);
        let l = Layout::V1;
        let num = |r: &Vec<&str>, c: &str| r[col(l, c)].parse::<f64>().ok();
        let mut gamma0 = 0;
        for r in &rows {
            for c in ["cVolu", "cOi", "pVolu", "pOi"] {
                r[col(l, c)].parse::<u64>().unwrap();
            }
            let smv = num(r, "smoothSmvVol").unwrap();
            assert!((0.01..=9.999999).contains(&smv), "{smv}");
            let delta = num(r, "delta").unwrap();
            assert!((0.0..=1.0).contains(&delta));
            let gamma = num(r, "gamma").unwrap();
            assert!(gamma >= 0.0);
            gamma0 += usize::from(gamma == 0.0);
            for c in [
                "cBidPx", "cAskPx", "pBidPx", "pAskPx", "extCTheo", "extPTheo",
            ] {
                assert!(num(r, c).unwrap() >= 0.0, "{c}");
            }
            assert!(num(r, "cBidPx") <= num(r, "cAskPx"));
        }
        let share = gamma0 as f64 / rows.len() as f64;
        assert!((0.05..0.30).contains(&share), "gamma 0 share {share}");
        let cells = |c: &'static str| rows.iter().map(move |r| r[col(l, c)]);
        assert!(cells("pBidIv").any(str::is_empty), "blank pBidIv");
        assert!(
            cells("extPTheo")
                .chain(cells("extCTheo"))
                .any(|v| v.contains("E-"))
        );
        assert!(cells("extPTheo").any(|v| v.contains("E+15")));
        assert!(cells("cMidIv").any(|v| v.len() == 6 && v.starts_with("0.")));
    }

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

    #[test]
    fn full_day_has_realistic_size() {
        // Counting strikes (no pricing) keeps this fast in debug builds.
        let d = date(2026, 2, 5);
        let mut strikes = Vec::new();
        let mut spot_rows = 0;
        let mut per_ticker: Vec<(String, usize)> = universe(1, FULL_TICKERS)
            .iter()
            .map(|p| {
                let (spot, level) = p.market(i64::from(d.num_days_from_ce()));
                let n: usize = expiries(p, d)
                    .into_iter()
                    .map(|e| {
                        let t = (e - d).num_days() as f64 / 365.0;
                        let sigma = p.vol + (level - p.vol) * exp(-t / 0.3);
                        strike_grid(p, spot, sigma, t, 1, &mut strikes);
                        let roots = roots_for(p, is_standard(p, e))
                            .into_iter()
                            .flatten()
                            .count();
                        strikes.len() * roots
                    })
                    .sum();
                spot_rows += if p.spot_filled { n } else { 0 };
                (p.symbol.clone(), n)
            })
            .collect();
        let total: usize = per_ticker.iter().map(|x| x.1).sum();
        assert!((650_000..=900_000).contains(&total), "{total} rows");
        let blank = 1.0 - spot_rows as f64 / total as f64;
        assert!((0.92..0.97).contains(&blank), "blank spot_px share {blank}");
        per_ticker.sort_by_key(|x| x.1);
        let of = |t: &str| per_ticker.iter().find(|x| x.0 == t).unwrap().1;
        assert!((15_000..=22_000).contains(&of("SPX")), "SPX {}", of("SPX"));
        assert!(of("SPY") > 3_000 && of("AAPL") > 1_000 && of("TSLA") > 1_000);
        let median = per_ticker[per_ticker.len() / 2].1;
        assert!((10..=100).contains(&median), "median {median}");
    }

    #[test]
    fn archive_holds_one_member_equal_to_the_csv() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(40);
        let summary = write_archive(&spec, dir.path()).unwrap();
        assert_eq!(
            summary.path,
            dir.path().join("ORATS_SMV_Strikes_20260205.zip")
        );
        assert_eq!(summary.bytes, fs::metadata(&summary.path).unwrap().len());
        let mut zip = zip::ZipArchive::new(File::open(&summary.path).unwrap()).unwrap();
        assert_eq!(zip.len(), 1);
        let mut member = zip.by_index(0).unwrap();
        assert_eq!(member.name().unwrap(), "ORATS_SMV_Strikes_20260205.csv");
        assert_eq!(member.compression(), CompressionMethod::Deflated);
        let mut text = String::new();
        io::Read::read_to_string(&mut member, &mut text).unwrap();
        assert_eq!(text, csv(&spec));
        assert_eq!(summary.csv_bytes, text.len() as u64);
        assert_eq!(summary.rows + 1, text.lines().count() as u64);
    }

    #[test]
    fn committed_sample_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SampleSpec {
            tickers: 40,
            ..SampleSpec::new(date(2026, 2, 5))
        };
        let summary = write_archive(&spec, dir.path()).unwrap();
        let committed = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(
                || env!("CARGO_MANIFEST_DIR").into(),
                std::path::PathBuf::from,
            )
            .join("data")
            .join(archive_name(spec.date));
        assert!(
            fs::read(&summary.path).unwrap() == fs::read(committed).unwrap(),
            "data/ sample differs: regenerate with `gexlake sample --date 2026-02-05 --tickers 40 --out data`"
        );
    }

    #[test]
    fn math_matches_std_closely() {
        assert_eq!(REF_DAY, i64::from(date(2026, 1, 2).num_days_from_ce()));
        for i in -2000..2000 {
            let x = f64::from(i) * 0.013;
            assert!((exp(x) / x.exp() - 1.0).abs() < 1e-14, "exp {x}");
            let y = exp(x);
            assert!(
                (ln(y) - y.ln()).abs() < 1e-13 * (1.0 + y.ln().abs()),
                "ln {y}"
            );
        }
        let (n, m) = ncdf_pair(1.0);
        assert!((n - 0.841_344_746).abs() < 1e-7 && (n + m - 1.0).abs() < 1e-15);
        assert!((std_normal(0.975) - 1.959_964).abs() < 1e-5);
        let fmt = |f: fn(&mut Vec<u8>, f64), x| {
            let mut b = Vec::new();
            f(&mut b, x);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(fmt(|b, x| put_fixed(b, x, 2), -0.001), "0");
        assert_eq!(fmt(|b, x| put_fixed(b, x, 4), 0.0706), "0.0706");
        assert_eq!(fmt(|b, x| put_fixed(b, x, 2), 4712.3456), "4712.35");
        assert_eq!(fmt(put_sci, 2.3e15), "2.3E+15");
        assert_eq!(fmt(put_sci, 1.5e-5), "1.5E-05");
        assert_eq!(fmt(|b, x| put_strike(b, x as i64), 192_500.0), "192.5");
        assert_eq!(fmt(|b, x| put_strike(b, x as i64), 4_700_000.0), "4700");
    }
}
