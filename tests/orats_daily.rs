//! `orats_daily` (ORATS_DAILY.md) end to end over a small lake written here:
//! values computed by hand from the contract, the out-of-order run equal to
//! the in-order one byte for byte, errors, and an independent implementation
//! of the contract in Python (pandas) compared column by column.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Weekday};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Float64Type, Int16Type, Int64Type};
use gexlake::daily::DailyReport;
use gexlake::metrics::engine::DateSelection;
use gexlake::orats::layout::file_schema;
use gexlake::orats::values::date_to_days;
use gexlake::store::Location;
use parquet::arrow::ArrowWriter;

/// One ORATS row: the cells this path reads (the rest are blank).
#[derive(Clone, Debug)]
struct Row {
    ticker: String,
    expiry: NaiveDate,
    strike: f64,
    stk_px: Option<f64>,
    spot_px: Option<f64>,
    c_volu: i64,
    p_volu: i64,
    c_oi: i64,
    p_oi: i64,
    c_mid_iv: Option<f64>,
    p_mid_iv: Option<f64>,
    c_value: Option<f64>,
    p_value: Option<f64>,
}

impl Row {
    fn new(ticker: &str, expiry: NaiveDate, strike: f64) -> Self {
        Row {
            ticker: ticker.to_string(),
            expiry,
            strike,
            stk_px: None,
            spot_px: None,
            c_volu: 0,
            p_volu: 0,
            c_oi: 0,
            p_oi: 0,
            c_mid_iv: None,
            p_mid_iv: None,
            c_value: None,
            p_value: None,
        }
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Writes `rows` as the date's `orats_strikes` partition, as ingest would
/// (blank cells are nulls).
fn write_strikes(lake: &Path, day: NaiveDate, rows: &[Row]) {
    write_strikes_named(lake, day, rows, "fixture");
}

/// [`write_strikes`] into `<name>.parquet` (a second file of the date).
fn write_strikes_named(lake: &Path, day: NaiveDate, rows: &[Row], name: &str) {
    let schema = file_schema();
    let n = rows.len();
    let floats = |f: &dyn Fn(&Row) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let ints = |f: &dyn Fn(&Row) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            "ticker" => Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.ticker.as_str()),
            )) as ArrayRef,
            "expir_date" => Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| date_to_days(r.expiry)),
            )),
            "strike" => floats(&|r| Some(r.strike)),
            "stk_px" => floats(&|r| r.stk_px),
            "spot_px" => floats(&|r| r.spot_px),
            "c_volu" => ints(&|r| r.c_volu),
            "p_volu" => ints(&|r| r.p_volu),
            "c_oi" => ints(&|r| r.c_oi),
            "p_oi" => ints(&|r| r.p_oi),
            "c_mid_iv" => floats(&|r| r.c_mid_iv),
            "p_mid_iv" => floats(&|r| r.p_mid_iv),
            "c_value" => floats(&|r| r.c_value),
            "p_value" => floats(&|r| r.p_value),
            _ => new_null_array(field.data_type(), n),
        })
        // The fixture's prices are decimals with a few digits: the lake's DECIMAL holds them.
        .zip(schema.fields())
        .map(|(column, field)| cast(&column, field.data_type()).unwrap())
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let dir = lake.join(format!("orats_strikes/trade_date={day}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join(format!("{name}.parquet"))).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn run_daily(lake: &Path, selection: DateSelection) -> DailyReport {
    run_daily_jobs(lake, selection, 2)
}

/// [`run_daily`] with `jobs` DataFusion partitions.
fn run_daily_jobs(lake: &Path, selection: DateSelection, jobs: usize) -> DailyReport {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let location = Location::parse(lake.to_str().unwrap()).unwrap();
    runtime
        .block_on(gexlake::daily::run(&location, &selection, jobs))
        .unwrap_or_else(|e| panic!("daily run failed: {e}"))
}

fn run_daily_err(lake: &Path, selection: DateSelection) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let location = Location::parse(lake.to_str().unwrap()).unwrap();
    match runtime.block_on(gexlake::daily::run(&location, &selection, 1)) {
        Ok(report) => panic!("expected an error, the run wrote {:?}", report.written),
        Err(e) => e.to_string(),
    }
}

fn daily_bytes(lake: &Path, day: NaiveDate) -> Vec<u8> {
    std::fs::read(lake.join(format!("orats_daily/trade_date={day}/part.parquet")))
        .unwrap_or_else(|e| panic!("orats_daily for {day}: {e}"))
}

fn daily_batch(lake: &Path, day: NaiveDate) -> RecordBatch {
    let batches = common::parquet_batches(&daily_bytes(lake, day));
    datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// One symbol's row of a date's file.
struct DailyRow {
    batch: RecordBatch,
    row: usize,
}

impl DailyRow {
    fn get(lake: &Path, day: NaiveDate, symbol: &str) -> Self {
        let batch = daily_batch(lake, day);
        let row = batch
            .column_by_name("symbol")
            .unwrap()
            .as_string::<i32>()
            .iter()
            .position(|s| s == Some(symbol))
            .unwrap_or_else(|| panic!("no {symbol} on {day}"));
        DailyRow { batch, row }
    }

    fn f(&self, name: &str) -> Option<f64> {
        let c = self.batch.column_by_name(name).unwrap();
        let c = c.as_primitive::<Float64Type>();
        c.is_valid(self.row).then(|| c.value(self.row))
    }

    fn i(&self, name: &str) -> Option<i64> {
        let c = self.batch.column_by_name(name).unwrap();
        let c = c.as_primitive::<Int64Type>();
        c.is_valid(self.row).then(|| c.value(self.row))
    }

    fn regime(&self) -> Option<i16> {
        let c = self.batch.column_by_name("vol_regime").unwrap();
        let c = c.as_primitive::<Int16Type>();
        c.is_valid(self.row).then(|| c.value(self.row))
    }
}

/// The fixture's trading days: weekdays from 2024-01-02 to 2024-03-15
/// without the holidays 2024-01-15 (MLK) and 2024-02-19 (Presidents' Day).
fn trading_days() -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let mut d = date(2024, 1, 2);
    while d <= date(2024, 3, 15) {
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        if !weekend && d != date(2024, 1, 15) && d != date(2024, 2, 19) {
            days.push(d);
        }
        d = d.succ_opt().unwrap();
    }
    days
}

/// AAA on its i-th trading day: one strike; volumes 100 + i calls and 50
/// puts, open interest 1000 + 10 i and 500; both mid IVs 0.20 + 0.01 (i mod
/// 10); price 100 on even days and 110 on odd ones. BBB: 33 calls and 31
/// puts every day, price 50, no IV.
fn fixture_day(i: usize) -> Vec<Row> {
    const IVS: [f64; 10] = [0.20, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.28, 0.29];
    let expiry = date(2024, 6, 21);
    let mut aaa = Row::new("AAA", expiry, 100.0);
    aaa.stk_px = Some(if i.is_multiple_of(2) { 100.0 } else { 110.0 });
    aaa.c_volu = 100 + i as i64;
    aaa.p_volu = 50;
    aaa.c_oi = 1000 + 10 * i as i64;
    aaa.p_oi = 500;
    aaa.c_mid_iv = Some(IVS[i % 10]);
    aaa.p_mid_iv = Some(IVS[i % 10]);
    let mut bbb = Row::new("BBB", expiry, 50.0);
    bbb.stk_px = Some(50.0);
    bbb.c_volu = 33;
    bbb.p_volu = 31;
    bbb.c_oi = 31;
    bbb.p_oi = 33;
    bbb.c_value = Some(1.25);
    bbb.p_value = Some(0.5);
    vec![aaa, bbb]
}

/// CCC, on the last day only: four rows (one under a lower-case ticker),
/// plus two rows whose symbols are skipped.
fn ccc_rows() -> Vec<Row> {
    let (jan, feb) = (date(2024, 1, 19), date(2024, 2, 16));
    // A: no price; 10 calls at call IV 0.30 only.
    let mut a = Row::new("CCC", jan, 90.0);
    a.spot_px = Some(0.0);
    a.c_volu = 10;
    a.c_oi = 5;
    a.c_mid_iv = Some(0.30);
    a.c_value = Some(1.5);
    // B: stkPx 0 but spot_px 101.5 — the first priced row in file order.
    let mut b = Row::new("CCC", jan, 100.0);
    b.stk_px = Some(0.0);
    b.spot_px = Some(101.5);
    b.c_volu = 20;
    b.p_volu = 10;
    b.c_oi = 6;
    b.p_oi = 7;
    b.c_mid_iv = Some(0.20);
    b.p_mid_iv = Some(0.60);
    b.c_value = Some(0.25);
    b.p_value = Some(0.3);
    // C: a lower strike but a later expiry, so after B; no volume, so its IV
    // does not count.
    let mut c = Row::new("CCC", feb, 50.0);
    c.stk_px = Some(102.0);
    c.c_mid_iv = Some(0.90);
    c.p_mid_iv = Some(0.90);
    // D: the same symbol spelt "ccc ".
    let mut d = Row::new("ccc ", feb, 60.0);
    d.stk_px = Some(102.0);
    d.c_volu = 1;
    d.p_volu = 1;
    d.c_oi = 7;
    d.p_value = Some(0.99);
    let blank = Row::new("  ", jan, 10.0);
    let long = Row::new("TOOLONGSYMBOL", jan, 10.0);
    vec![a, b, c, d, blank, long]
}

fn write_fixture(lake: &Path) -> Vec<NaiveDate> {
    let days = trading_days();
    for (i, day) in days.iter().enumerate() {
        let mut rows = fixture_day(i);
        if i == days.len() - 1 {
            rows.extend(ccc_rows());
        }
        write_strikes(lake, *day, &rows);
    }
    days
}

#[test]
fn hand_computed_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let days = write_fixture(lake);
    // Rows 0–20 are 2024-01-02…01-31 (MLK day is row-less), 21 is 02-01,
    // 35 is 02-22, 40 is 02-29; the last, 51, is 03-15.
    assert_eq!(
        (days[20], days[35], days[40]),
        (date(2024, 1, 31), date(2024, 2, 22), date(2024, 2, 29))
    );
    assert_eq!(days.len(), 52);
    let report = run_daily(lake, DateSelection::Range(days[0], days[51]));
    assert_eq!(report.written, days);
    assert_eq!((report.recomputed, report.rows), (0, 2 * 52 + 1));
    // "" and "TOOLONGSYMBOL" on the last day.
    assert_eq!(report.skipped_symbols, 2);

    let aaa = |i: usize| DailyRow::get(lake, days[i], "AAA");
    // Row 0: volumes 100 + 50; no previous row.
    let first = aaa(0);
    assert_eq!(first.i("call_volume"), Some(100));
    assert_eq!(first.i("total_volume"), Some(150));
    assert_eq!(first.i("avg_daily_volume"), Some(150));
    assert_eq!(first.i("total_open_interest"), Some(1500));
    assert_eq!(first.f("iv_30day"), Some(0.20));
    assert_eq!(first.i("delta_call_oi"), None);
    assert_eq!(first.f("volume_accel"), None);
    assert_eq!(first.i("volume_ema_7d"), Some(150));
    // Row 1 (Wed 01-03): one calendar day after row 0: ΔOI = 1010 − 1000.
    // avg(150, 151) = 150.5 → 151 (half away from zero).
    // volume_accel = 151/150 − 1 = 0.00666… → 0.0067.
    // price_momentum_20d = 110 / avg(100, 110) − 1 = 0.047619… → 0.0476.
    let second = aaa(1);
    assert_eq!(second.i("delta_call_oi"), Some(10));
    assert_eq!(second.i("delta_put_oi"), Some(0));
    assert_eq!(second.i("volume_ema_7d"), Some(151));
    assert_eq!(second.f("volume_accel"), Some(0.0067));
    assert_eq!(second.f("price_momentum_20d"), Some(0.0476));
    // Mondays and the day after a holiday compare with a missing calendar day.
    assert_eq!(days[4], date(2024, 1, 8));
    assert_eq!(aaa(4).i("delta_call_oi"), None);
    assert_eq!(days[9], date(2024, 1, 16));
    assert_eq!(aaa(9).i("delta_call_oi"), None);
    assert_eq!(aaa(10).i("delta_call_oi"), Some(10));
    // volume_zscore: row 9 has 9 earlier rows (null); row 10 has 10, volumes
    // 150…159 (mean 154.5, sd √(82.5/9) = 3.0276504) and 160:
    // 5.5 / 3.0276504 = 1.8165902 → 1.817. From row 20 on, the 20 earlier
    // volumes are v−20…v−1 (sd √35 = 5.9160798): 10.5 / 5.9160798 = 1.7748239 → 1.775.
    assert_eq!(aaa(9).f("volume_zscore"), None);
    assert_eq!(aaa(10).f("volume_zscore"), Some(1.817));
    assert_eq!(aaa(30).f("volume_zscore"), Some(1.775));
    // hv_30day: row 19 has 19 returns (null); row 20 has 20 returns of
    // ±ln 1.1 = ±0.0953101798, ten each, mean 0: sd = 0.0953101798·√(20/19)
    // = 0.0977861812; × √252 (15.8745079) × 100 = 155.2308 → 155.23.
    assert_eq!(aaa(19).f("hv_30day"), None);
    assert_eq!(aaa(20).f("hv_30day"), Some(155.23));
    // iv_30day / hv_30day (decimal over percent): 0.20 / 155.23 = 0.0012884 → 0.0013.
    assert_eq!(aaa(20).f("iv_hv_ratio"), Some(0.0013));
    // iv_rank: row 34 has 35 values in its 60 days (null); row 35 (IV 0.25)
    // has 36, min 0.20, max 0.29: 0.05/0.09·100 = 55.5555… → 55.56; the
    // quirky vol_regime compares it with 0.67: 2. Row 40 is the minimum: 0 → regime 0.
    assert_eq!(aaa(34).f("iv_rank"), None);
    assert_eq!(aaa(34).regime(), None);
    assert_eq!(aaa(35).f("iv_rank"), Some(55.56));
    assert_eq!(aaa(35).regime(), Some(2));
    assert_eq!(aaa(40).f("iv_rank"), Some(0.0));
    assert_eq!(aaa(40).regime(), Some(0));
    // iv_rank_ema_7d at row 36: ranks of rows 35 (55.56) and 36 (IV 0.26:
    // 0.06/0.09 = 66.67): (55.56 + 66.67)/2 = 61.115 → 61.12 (half away).
    assert_eq!(aaa(36).f("iv_rank"), Some(66.67));
    assert_eq!(aaa(36).f("iv_rank_ema_7d"), Some(61.12));

    // BBB: (33 − 31)/(33 + 31) = 0.03125 → 0.0313 (half away, not to even);
    // open interest the other way round: −0.0313. Constant volumes: no
    // deviation, so no z-score. Premium 33·1.25 + 31·0.5 = 56.75 → 56.
    let bbb = DailyRow::get(lake, days[30], "BBB");
    assert_eq!(bbb.f("put_call_volume_skew"), Some(0.0313));
    assert_eq!(bbb.f("put_call_oi_skew"), Some(-0.0313));
    assert_eq!(bbb.f("volume_zscore"), None);
    assert_eq!(bbb.f("iv_30day"), None);
    assert_eq!(bbb.f("iv_rank"), None);
    assert_eq!(bbb.i("avg_daily_premium"), Some(56));
    assert_eq!(bbb.i("premium_flow"), Some(56 * 64));

    // CCC: calls 10 + 20 + 1, puts 10 + 1; IV (0.30·10 + 0.40·30)/40 = 0.375;
    // price: B's spot_px (A has none, C comes later by expiry); premium
    // 15 + 5 + 3 + 0.99 = 23.99 → 23.
    let ccc = DailyRow::get(lake, days[51], "CCC");
    assert_eq!(ccc.i("call_volume"), Some(31));
    assert_eq!(ccc.i("put_volume"), Some(11));
    assert_eq!(ccc.i("call_open_interest"), Some(18));
    assert_eq!(ccc.f("iv_30day"), Some(0.375));
    assert_eq!(ccc.f("stock_price"), Some(101.5));
    assert_eq!(ccc.i("avg_daily_premium"), Some(23));
    assert_eq!(ccc.i("premium_flow"), Some(23 * 42));
    let last = daily_batch(lake, days[51]);
    let symbols: Vec<&str> = last.column(0).as_string::<i32>().iter().flatten().collect();
    assert_eq!(symbols, ["AAA", "BBB", "CCC"]);
}

#[test]
fn out_of_order_runs_equal_the_in_order_run_byte_for_byte() {
    let ordered = tempfile::tempdir().unwrap();
    let days = write_fixture(ordered.path());
    run_daily(ordered.path(), DateSelection::Range(days[0], days[51]));

    // The later half first, then a date in the middle, then everything; on
    // one partition instead of two, which must not change a byte either.
    let shuffled = tempfile::tempdir().unwrap();
    write_fixture(shuffled.path());
    run_daily_jobs(shuffled.path(), DateSelection::Range(days[30], days[51]), 1);
    let middle = run_daily_jobs(shuffled.path(), DateSelection::Dates(vec![days[10]]), 1);
    // Day 10 changes the history of every stored date after it.
    assert_eq!(middle.written.len(), 1 + 22);
    assert_eq!(middle.recomputed, 22);
    let first_half = run_daily_jobs(shuffled.path(), DateSelection::Range(days[0], days[29]), 1);
    assert_eq!(first_half.written, days);
    for day in &days {
        assert!(
            daily_bytes(ordered.path(), *day) == daily_bytes(shuffled.path(), *day),
            "{day} differs"
        );
    }
    // A nightly-style run of the last date alone reads its history from the
    // stored partitions and rewrites the same bytes.
    let before = daily_bytes(ordered.path(), days[51]);
    let nightly = run_daily(ordered.path(), DateSelection::Dates(vec![days[51]]));
    assert_eq!(nightly.written, [days[51]]);
    assert!(before == daily_bytes(ordered.path(), days[51]));
}

#[test]
fn a_missing_strikes_partition_is_an_error_naming_the_date() {
    let dir = tempfile::tempdir().unwrap();
    write_strikes(dir.path(), date(2024, 1, 2), &fixture_day(0));
    let err = run_daily_err(dir.path(), DateSelection::Dates(vec![date(2024, 1, 3)]));
    assert!(
        err.contains("2024-01-03") && err.contains("orats_strikes"),
        "{err}"
    );
}

#[test]
fn a_day_without_rows_writes_an_empty_partition() {
    let dir = tempfile::tempdir().unwrap();
    let day = date(2024, 1, 2);
    // Only skipped symbols: no row survives.
    write_strikes(
        dir.path(),
        day,
        &[Row::new("", day, 1.0), Row::new("ELEVENCHARS", day, 1.0)],
    );
    let report = run_daily(dir.path(), DateSelection::Dates(vec![day]));
    assert_eq!((report.rows, report.skipped_symbols), (0, 2));
    let batches = common::parquet_batches(&daily_bytes(dir.path(), day));
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
}

/// A small deterministic generator (64-bit LCG), so the history is the same
/// on every run without a random-number crate.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Five months of four symbols whose prices walk: AAPL and SPY every day,
/// GAPS missing about a day in four, ZERO sometimes priced only by spot_px
/// or not at all; volumes (some zero), open interest and IVs (some blank)
/// drawn at random, three strikes a day.
fn write_walk(lake: &Path) -> Vec<NaiveDate> {
    write_walk_of(lake, &["AAPL", "SPY", "GAPS", "ZERO"])
}

/// [`write_walk`] for some of its symbols.
fn write_walk_of(lake: &Path, symbols: &[&str]) -> Vec<NaiveDate> {
    let mut rng = Lcg(7);
    let mut days = Vec::new();
    let mut d = date(2024, 1, 2);
    let holidays = [
        date(2024, 1, 15),
        date(2024, 2, 19),
        date(2024, 3, 29),
        date(2024, 5, 27),
    ];
    while d <= date(2024, 5, 31) {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d) {
            days.push(d);
        }
        d = d.succ_opt().unwrap();
    }
    let mut prices = [180.0, 470.0, 35.0, 12.0];
    for day in &days {
        let mut rows = Vec::new();
        for (s, symbol) in ["AAPL", "SPY", "GAPS", "ZERO"].iter().enumerate() {
            prices[s] *= (0.06 * (rng.unit() - 0.5)).exp();
            // Rounded to cents, like quotes.
            let price = (prices[s] * 100.0).round() / 100.0;
            if *symbol == "GAPS" && rng.unit() < 0.25 || !symbols.contains(symbol) {
                continue;
            }
            for (k, expiry) in [date(2024, 6, 21), date(2024, 6, 21), date(2024, 9, 20)]
                .iter()
                .enumerate()
            {
                let mut row = Row::new(symbol, *expiry, (price * (0.9 + 0.1 * k as f64)).round());
                row.stk_px = Some(price);
                if *symbol == "ZERO" {
                    let u = rng.unit();
                    row.stk_px = Some(0.0);
                    row.spot_px = if u < 0.8 { Some(price) } else { None };
                }
                let volume = |rng: &mut Lcg| {
                    if rng.unit() < 0.1 {
                        0
                    } else {
                        (rng.unit() * 500.0) as i64
                    }
                };
                row.c_volu = volume(&mut rng);
                row.p_volu = volume(&mut rng);
                row.c_oi = (rng.unit() * 5000.0) as i64;
                row.p_oi = (rng.unit() * 5000.0) as i64;
                let iv = |rng: &mut Lcg| {
                    (rng.unit() >= 0.15)
                        .then(|| ((0.1 + 0.5 * rng.unit()) * 1000.0).round() / 1000.0)
                };
                row.c_mid_iv = iv(&mut rng);
                row.p_mid_iv = iv(&mut rng);
                row.c_value = Some((rng.unit() * 2000.0).round() / 100.0);
                row.p_value = Some((rng.unit() * 2000.0).round() / 100.0);
                rows.push(row);
            }
        }
        write_strikes(lake, *day, &rows);
    }
    days
}

#[test]
fn the_history_chunking_changes_no_byte() {
    // A year runs as one history chunk; short chunks carry each symbol's last
    // rows from one chunk to the next, and must give the same files.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let days = write_walk(&lake);
    run_daily(&lake, DateSelection::Range(days[0], days[days.len() - 1]));
    let whole: Vec<Vec<u8>> = days.iter().map(|d| daily_bytes(&lake, *d)).collect();
    std::fs::remove_dir_all(lake.join("orats_daily")).unwrap();
    let location = Location::parse(lake.to_str().unwrap()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(gexlake::daily::compute_dates_in_chunks(
            &location, &days, 2, 7,
        ))
        .unwrap();
    assert_eq!(report.written, days);
    for (day, bytes) in days.iter().zip(&whole) {
        assert!(
            daily_bytes(&lake, *day) == *bytes,
            "{day} differs with 7-date chunks"
        );
    }
}

#[test]
fn an_independent_implementation_agrees_column_by_column() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let days = write_walk(&lake);
    run_daily(&lake, DateSelection::Range(days[0], days[days.len() - 1]));
    let reference = dir.path().join("reference.parquet");
    let script = common::manifest_dir().join("tests/orats_daily_reference.py");
    let out = std::process::Command::new(common::test_python())
        .arg(&script)
        .arg(&lake)
        .arg(&reference)
        .output()
        .expect("run the reference implementation");
    assert!(
        out.status.success(),
        "reference implementation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = common::parquet_batches(&std::fs::read(&reference).unwrap());
    let theirs = datafusion::arrow::compute::concat_batches(&theirs[0].schema(), &theirs).unwrap();
    let ours: Vec<RecordBatch> = days.iter().map(|d| daily_batch(&lake, *d)).collect();
    let ours = datafusion::arrow::compute::concat_batches(&ours[0].schema(), &ours).unwrap();
    assert_eq!(ours.num_rows(), theirs.num_rows());
    assert!(ours.num_rows() > 350, "{} rows", ours.num_rows());
    let options = datafusion::arrow::util::display::FormatOptions::default().with_null("NULL");
    let mut mismatches = Vec::new();
    let mut known = std::collections::BTreeMap::new();
    for field in ours.schema().fields() {
        let name = field.name();
        let mine = ours.column_by_name(name).unwrap();
        let other = theirs
            .column_by_name(name)
            .unwrap_or_else(|| panic!("the reference has no {name}"));
        let other = datafusion::arrow::compute::cast(other, field.data_type()).unwrap();
        known.insert(name.clone(), mine.len() - mine.null_count());
        let (a, b) = (
            datafusion::arrow::util::display::ArrayFormatter::try_new(mine.as_ref(), &options)
                .unwrap(),
            datafusion::arrow::util::display::ArrayFormatter::try_new(other.as_ref(), &options)
                .unwrap(),
        );
        for row in 0..ours.num_rows() {
            let (x, y) = (a.value(row).to_string(), b.value(row).to_string());
            if x != y {
                let symbol = ours.column(0).as_string::<i32>().value(row);
                mismatches.push(format!(
                    "row {row} {symbol} {name}: ours {x}, reference {y}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(30)].join("\n")
    );
    // The comparison covered real values, not columns of nulls.
    for column in [
        "iv_rank",
        "hv_30day",
        "iv_rank_zscore",
        "hv_slope",
        "delta_call_oi",
        "volume_price_interaction",
    ] {
        assert!(
            known[column] > 50,
            "{column}: only {} values",
            known[column]
        );
    }
}

#[test]
fn a_nightly_date_reads_only_the_history_its_windows_need() {
    // Three symbols on every one of ~104 dates: the last date's windows
    // reach 59 rows back, so the first 30 dates' partitions are never read —
    // replaced by garbage, the run still writes the same bytes.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let days = write_walk_of(lake, &["AAPL", "SPY", "ZERO"]);
    assert!(days.len() > 100, "{} days", days.len());
    let last = days[days.len() - 1];
    run_daily(lake, DateSelection::Range(days[0], last));
    let expected = daily_bytes(lake, last);
    for day in &days[..30] {
        std::fs::write(
            lake.join(format!("orats_daily/trade_date={day}/part.parquet")),
            b"not parquet",
        )
        .unwrap();
    }
    let report = run_daily(lake, DateSelection::Dates(vec![last]));
    assert_eq!(report.written, [last]);
    assert!(daily_bytes(lake, last) == expected);
    // A new listing has no earlier rows: its look-back reads nothing (the
    // index of first dates says so), so the damaged partitions stay unread.
    let mut newco = Row::new("NEWCO", date(2024, 6, 21), 10.0);
    newco.stk_px = Some(10.5);
    newco.c_volu = 7;
    write_strikes_named(lake, last, &[newco], "listing");
    let report = run_daily(lake, DateSelection::Dates(vec![last]));
    assert_eq!(report.written, [last]);
    let rows = daily_batch(lake, last);
    let symbols: Vec<&str> = rows.column(0).as_string::<i32>().iter().flatten().collect();
    assert_eq!(symbols, ["AAPL", "NEWCO", "SPY", "ZERO"]);
    // Without the index (a lake of an earlier version), it is rebuilt from
    // the partitions — the damaged ones included, which fails naming one.
    std::fs::remove_file(lake.join("_index/orats_daily/first_dates.json")).unwrap();
    let err = run_daily_err(lake, DateSelection::Dates(vec![last]));
    assert!(err.contains("part.parquet"), "{err}");
    // A date whose windows do reach a damaged partition fails, naming it.
    let err = run_daily_err(lake, DateSelection::Dates(vec![days[40]]));
    assert!(
        err.contains("orats_daily/trade_date=") && err.contains("part.parquet"),
        "{err}"
    );
}

#[test]
fn the_cli_logs_its_run_and_other_engines_read_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let days = write_fixture(&lake);
    let lake_s = lake.to_str().unwrap();
    let run = common::run_gexlake(&[
        "daily",
        "--lake",
        lake_s,
        "--from",
        "2024-01-01",
        "--to",
        "2024-12-31",
        "--jobs",
        "2",
    ]);
    run.expect_code(0);
    let header = run.event("daily: run header");
    assert!(
        header["lake"].as_str().unwrap().contains("lake"),
        "{header}"
    );
    let summary = run.event("daily: summary");
    assert_eq!(summary["dates"], 52, "{summary}");
    assert_eq!(summary["rows"], 105, "{summary}");
    assert_eq!(summary["skipped_symbols"], 2, "{summary}");
    // A date without strikes: exit 1, the date named.
    let missing = common::run_gexlake(&["daily", "--lake", lake_s, "--date", "2024-01-13"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("2024-01-13") && missing.stderr.contains("orats_strikes"),
        "{}",
        missing.stderr
    );
    // gexlake sql sees the table.
    let out = std::process::Command::new(common::gexlake_bin())
        .args(["--log-level", "warn", "sql", "--lake", lake_s, "--format", "csv"])
        .arg("SELECT symbol, iv_rank, vol_regime FROM orats_daily WHERE trade_date = DATE '2024-02-22' ORDER BY symbol")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "symbol,iv_rank,vol_regime\nAAA,55.56,2\nBBB,,\n"
    );
    // DuckDB, pyarrow and polars with hive partitioning, no other options.
    let code = r#"
import sys, duckdb, polars as pl, pyarrow.dataset as ds
root = sys.argv[1] + "/orats_daily"
d = duckdb.connect().execute(f"SELECT count(*), sum(total_volume), count(DISTINCT trade_date), max(iv_rank) FILTER (WHERE trade_date = DATE '2024-02-22') FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true)").fetchone()
t = ds.dataset(root, partitioning="hive").to_table()
p = pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True).collect()
got = [tuple(d), (t.num_rows, sum(t.column("total_volume").to_pylist())), (p.height, int(p["total_volume"].sum()), str(p.schema["vol_regime"]))]
want = [(105, sum(150 + i for i in range(52)) + 64 * 52 + 42, 52, 55.56), (105, sum(150 + i for i in range(52)) + 64 * 52 + 42), (105, sum(150 + i for i in range(52)) + 64 * 52 + 42, "Int16")]
assert got == want, (got, want)
"#;
    assert_eq!(days.len(), 52);
    common::run_python(
        &common::test_python(),
        code,
        &[lake_s],
        "reading orats_daily",
    );
}
