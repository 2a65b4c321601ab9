//! Tests of whole generated days: the CSV's shape, its quirks and its sizes.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io;

use chrono::{Datelike, NaiveDate};
use zip::CompressionMethod;

use super::calendar::{expiries, is_standard, is_third_friday, roots_for};
use super::format::put_fixed;
use super::math::exp;
use super::strikes::strike_grid;
use super::universe::universe;
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
    let stk_of =
        |t: &str| -> HashSet<&str> { rows.iter().filter(|r| r[0] == t).map(|r| r[stk]).collect() };
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
}

/// The decimals of every plain number (not blank, not 0, not scientific, not a date) in each
/// column that has any.
fn decimals_by_column(spec: &SampleSpec) -> Vec<(String, BTreeSet<usize>)> {
    let text = csv(spec);
    let header: Vec<&str> = spec.layout.header().split(',').collect();
    let mut seen = vec![BTreeSet::new(); header.len()];
    for row in rows(&text) {
        for (cell, decimals) in row.iter().zip(&mut seen) {
            let plain = cell
                .bytes()
                .all(|c| c.is_ascii_digit() || c == b'.' || c == b'-');
            if plain && !cell.is_empty() && *cell != "0" {
                decimals.insert(cell.split_once('.').map_or(0, |(_, f)| f.len()));
            }
        }
    }
    header
        .iter()
        .zip(seen)
        .filter(|(_, d)| !d.is_empty())
        .map(|(c, d)| (c.to_string(), d))
        .collect()
}

#[test]
fn each_column_has_its_precisions_decimals() {
    // ORATS_FORMAT.md: real files quote IVs and vols to 6 decimals and greeks to 8 (311 CSV
    // and 93.5 ZIP bytes a row); prices stay on the cent grid, yte at 5 decimals, rates at 4.
    // Theoretical values are cents with sub-cent remnants to 4 decimals; strikes (steps of 0.5
    // and up) trim their zeros.
    let common = [
        ("stkPx", vec![2]),
        ("yte", vec![5]),
        ("strike", vec![0, 1]),
        ("cVolu", vec![0]),
        ("cOi", vec![0]),
        ("pVolu", vec![0]),
        ("pOi", vec![0]),
        ("cBidPx", vec![2]),
        ("cValue", vec![2]),
        ("cAskPx", vec![2]),
        ("pBidPx", vec![2]),
        ("pValue", vec![2]),
        ("pAskPx", vec![2]),
        ("smoothSmvVol", vec![6]),
        ("iRate", vec![4]),
        ("divRate", vec![4]),
        ("residualRateData", vec![4]),
        ("gamma", vec![8]),
        ("extCTheo", vec![2, 4]),
        ("extPTheo", vec![2, 4]),
        ("spot_px", vec![2]),
    ];
    let ivs = [
        "cBidIv", "cMidIv", "cAskIv", "pBidIv", "pMidIv", "pAskIv", "extVol",
    ];
    let greeks = ["theta", "vega", "rho", "phi", "driftlessTheta"];
    for (precision, iv, delta, greek) in [
        (Precision::Realistic, 6, 8, 8),
        (Precision::Compact, 4, 5, 6),
    ] {
        let mut want: Vec<(String, BTreeSet<usize>)> = common
            .iter()
            .map(|(c, d)| (c.to_string(), d.iter().copied().collect()))
            .collect();
        want.extend(ivs.iter().map(|c| (c.to_string(), BTreeSet::from([iv]))));
        want.extend(
            greeks
                .iter()
                .map(|c| (c.to_string(), BTreeSet::from([greek]))),
        );
        want.push(("delta".to_string(), BTreeSet::from([delta])));
        want.sort();
        let mut got = decimals_by_column(&SampleSpec {
            precision,
            ..spec(120)
        });
        got.sort();
        assert_eq!(got, want, "{precision:?}");
    }
}

#[test]
fn realistic_precision_changes_only_the_digits_of_ivs_vols_and_greeks() {
    let realistic = csv(&spec(60));
    let compact = csv(&SampleSpec {
        precision: Precision::Compact,
        ..spec(60)
    });
    let header: Vec<&str> = Layout::V1.header().split(',').collect();
    let (a, b) = (rows(&realistic), rows(&compact));
    assert_eq!(a.len(), b.len());
    let mut differ = BTreeSet::new();
    for (r, c) in a.iter().zip(&b) {
        for ((name, x), y) in header.iter().zip(r).zip(c) {
            if x != y {
                // The compact cell is the realistic value rounded to fewer decimals.
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((x - y).abs() <= 0.5e-4 + 1e-12, "{name}: {x} vs {y}");
                differ.insert(*name);
            }
        }
    }
    let want = BTreeSet::from([
        "cBidIv",
        "cMidIv",
        "cAskIv",
        "pBidIv",
        "pMidIv",
        "pAskIv",
        "extVol",
        "delta",
        "theta",
        "vega",
        "rho",
        "phi",
        "driftlessTheta",
    ]);
    assert_eq!(differ, want);
    // Realistic digits repeat less: the same rows deflate to more bytes.
    let deflated = |text: &str| {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        io::Write::write_all(&mut z, text.as_bytes()).unwrap();
        z.finish().unwrap().len()
    };
    assert!(realistic.len() > compact.len());
    assert!(deflated(&realistic) as f64 > 1.1 * deflated(&compact) as f64);
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
    // data/ holds compact days: the quick start's expected results were worked out on them.
    let spec = SampleSpec {
        tickers: 40,
        precision: Precision::Compact,
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
        "data/ sample differs: regenerate with `gexlake sample --date 2026-02-05 --tickers 40 --precision compact --out data`"
    );
}
