//! Walking a day into CSV rows: tickers in name order, then expiries, strikes and roots, each
//! row priced by [`pricing`](super::pricing) and written into a buffer handed on in big chunks.

use std::io::{self, Write};

use chrono::{Datelike, NaiveDate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::calendar::{expiries, roots_for};
use super::format::{
    Decimals, date_bytes, put_fixed, put_padded, put_sci, put_strike, put_theo, put_u64,
};
use super::market::short_rate;
use super::math::hash;
use super::pricing::{Expiry, Row, TickerDay, price};
use super::spec::{FULL_TICKERS, Layout, SampleSpec};
use super::strikes::strike_grid;
use super::universe::{Profile, universe};

/// Bytes buffered before handing a chunk to the writer (the deflater works best on big chunks).
const FLUSH_AT: usize = 1 << 17;

/// The row buffer in front of the writer, counting what went through.
pub(super) struct Sink<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Data rows written.
    pub(super) rows: u64,
    /// Bytes handed to `out`.
    pub(super) bytes: u64,
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

/// Writes the CSV of `spec`'s day (header and rows) into `out`.
pub(super) fn generate<W: Write>(spec: &SampleSpec, out: W) -> io::Result<Sink<W>> {
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
        decimals: Decimals::of(spec.precision),
        trade_date: date_bytes(spec.date),
    };
    let mut strikes = Vec::new();
    for p in &profiles {
        write_ticker(p, &day, &mut sink, &mut strikes)?;
    }
    sink.flush()?;
    Ok(sink)
}

/// What every row of the day shares.
struct Day {
    date: NaiveDate,
    ordinal: i64,
    /// The short rate.
    rate: f64,
    /// Every `thin`-th strike is kept (small samples).
    thin: usize,
    layout: Layout,
    /// Decimals of the model-valued columns.
    decimals: Decimals,
    /// `trade_date` preformatted.
    trade_date: Vec<u8>,
}

/// An expiry's cells that are the same on all its rows, preformatted.
struct ExpiryCells<'a> {
    /// `YYMMDD` of the OSI symbols.
    yymmdd: Vec<u8>,
    /// `stkPx,expirDate,yte,`.
    head: Vec<u8>,
    /// `iRate,divRate,residualRateData,`.
    rates: Vec<u8>,
    /// `spot_px,trade_date`.
    tail: &'a [u8],
}

/// Writes every row of one ticker: its expiries in date order, strikes ascending, AM root first.
fn write_ticker<W: Write>(
    p: &Profile,
    day: &Day,
    sink: &mut Sink<W>,
    strikes: &mut Vec<i64>,
) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(hash(p.key, day.ordinal as u64));
    let ticker = TickerDay::new(p, day.ordinal, &mut rng);
    let mut tail = Vec::with_capacity(32);
    if p.spot_filled {
        put_fixed(&mut tail, ticker.spot, 2);
    }
    tail.push(b',');
    tail.extend_from_slice(&day.trade_date);
    for date in expiries(p, day.date) {
        let e = Expiry::new(p, &ticker, day.rate, day.date, date, &mut rng);
        let mut head = Vec::with_capacity(40);
        put_fixed(&mut head, e.stk_px(), 2);
        head.push(b',');
        head.extend_from_slice(&date_bytes(date));
        head.push(b',');
        put_fixed(&mut head, e.t, 5);
        head.push(b',');
        let mut rates = Vec::with_capacity(24);
        put_fixed(&mut rates, e.rate, 4);
        rates.push(b',');
        put_fixed(&mut rates, p.div, 4);
        rates.push(b',');
        put_fixed(&mut rates, e.resid, 4);
        rates.push(b',');
        let mut yymmdd = Vec::with_capacity(6);
        let yy = date.year().rem_euclid(100) as u32;
        put_padded(
            &mut yymmdd,
            u64::from(yy * 10_000 + date.month() * 100 + date.day()),
            6,
        );
        let cells = ExpiryCells {
            yymmdd,
            head,
            rates,
            tail: &tail,
        };
        strike_grid(p, ticker.spot, e.sigma, e.t, day.thin, strikes);
        for &k in strikes.iter() {
            for root in roots_for(p, e.standard).into_iter().flatten() {
                let row = price(&e, k, root, &mut rng);
                write_row(p, day, &cells, k, root, &row, sink)?;
            }
        }
    }
    Ok(())
}

/// Writes one priced row in the day's layout and decimals.
fn write_row<W: Write>(
    p: &Profile,
    day: &Day,
    e: &ExpiryCells<'_>,
    strike: i64,
    root: &str,
    row: &Row,
    sink: &mut Sink<W>,
) -> io::Result<()> {
    let dp = day.decimals;
    let b = &mut sink.buf;
    b.extend_from_slice(p.symbol.as_bytes());
    b.push(b',');
    if day.layout == Layout::V1 {
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
    for v in row.counts {
        b.push(b',');
        put_u64(b, v);
    }
    for v in row.prices {
        b.push(b',');
        put_fixed(b, v, 2);
    }
    put_ivs(b, row.call_ivs, dp.iv);
    b.push(b',');
    put_fixed(b, row.smv, dp.smv);
    put_ivs(b, row.put_ivs, dp.iv);
    b.push(b',');
    b.extend_from_slice(&e.rates);
    put_fixed(b, row.delta, dp.delta);
    b.push(b',');
    put_fixed(b, row.gamma, dp.gamma);
    for v in row.greeks {
        b.push(b',');
        put_fixed(b, v, dp.greeks);
    }
    b.push(b',');
    if let Some(v) = row.ext_vol {
        put_fixed(b, v, dp.ext_vol);
    }
    b.push(b',');
    put_theo(b, row.ext_call);
    b.push(b',');
    if row.ext_put_garbage {
        put_sci(b, row.ext_put);
    } else {
        put_theo(b, row.ext_put);
    }
    b.push(b',');
    b.extend_from_slice(e.tail);
    sink.end_row()
}

/// One side's bid, mid and ask IVs, each after a comma; a bid without an IV
/// (no bid quote) is a blank cell.
fn put_ivs(b: &mut Vec<u8>, (bid, mid, ask): (Option<f64>, f64, f64), decimals: usize) {
    b.push(b',');
    if let Some(v) = bid {
        put_fixed(b, v, decimals);
    }
    for v in [mid, ask] {
        b.push(b',');
        put_fixed(b, v, decimals);
    }
}
