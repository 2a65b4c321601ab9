//! Helpers shared by the integration tests: hand-written ORATS archives.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// The v1 header.
pub const HEADER: &str = "ticker,cOpra,pOpra,stkPx,expirDate,yte,strike,cVolu,cOi,pVolu,pOi,cBidPx,cValue,cAskPx,pBidPx,pValue,pAskPx,cBidIv,cMidIv,cAskIv,smoothSmvVol,pBidIv,pMidIv,pAskIv,iRate,divRate,residualRateData,delta,gamma,theta,vega,rho,phi,driftlessTheta,extVol,extCTheo,extPTheo,spot_px,trade_date";

/// The cells of a row that the metrics use; the rest are filled with fixed values.
#[derive(Clone, Debug)]
pub struct Leg {
    pub ticker: &'static str,
    pub stk_px: &'static str,
    pub expiry: &'static str,
    pub strike: f64,
    pub c_volu: i64,
    pub c_oi: i64,
    pub p_volu: i64,
    pub p_oi: i64,
    pub delta: &'static str,
    pub gamma: &'static str,
    pub spot_px: &'static str,
    pub trade_date: &'static str,
}

impl Leg {
    pub fn new(ticker: &'static str, strike: f64) -> Self {
        Leg {
            ticker,
            stk_px: "100",
            expiry: "1/19/2024",
            strike,
            c_volu: 10,
            c_oi: 1000,
            p_volu: 10,
            p_oi: 1000,
            delta: "0.5",
            gamma: "0.01",
            spot_px: "",
            trade_date: "1/3/2024",
        }
    }

    pub fn line(&self) -> String {
        let k = format!("{:08}", (self.strike * 1000.0).round() as i64);
        format!(
            "{t},{t}240119C{k},{t}240119P{k},{stk},{exp},0.04384,{strike},{cv},{coi},{pv},{poi},1.1,1.2,1.3,0.5,0.6,0.7,0.2,0.21,0.22,0.2101,0.23,0.23,0.24,0.05,0.01,0,{delta},{gamma},-0.1,0.2,0.03,-0.02,-0.09,0.2,1.2,1.3,{spot},{td}",
            t = self.ticker,
            stk = self.stk_px,
            exp = self.expiry,
            strike = self.strike,
            cv = self.c_volu,
            coi = self.c_oi,
            pv = self.p_volu,
            poi = self.p_oi,
            delta = self.delta,
            gamma = self.gamma,
            spot = self.spot_px,
            td = self.trade_date,
        )
    }
}

/// A CSV with the v1 header and these rows.
pub fn csv(rows: &[Leg]) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.line());
        s.push('\n');
    }
    s
}

/// Writes `ORATS_SMV_Strikes_<yyyymmdd>.zip` holding `csv` into `dir`.
pub fn write_zip(dir: &Path, yyyymmdd: &str, csv: &str) -> PathBuf {
    let path = dir.join(format!("ORATS_SMV_Strikes_{yyyymmdd}.zip"));
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    zip.start_file(
        format!("ORATS_SMV_Strikes_{yyyymmdd}.csv"),
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(csv.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

/// Asserts `actual` equals a hand-computed decimal value to 1e-12 relative:
/// the inputs (0.02, 0.8 …) are not exact in binary, so the last bits differ.
#[track_caller]
pub fn assert_close(actual: Option<f64>, expected: f64) {
    let a = actual.expect("a value, not null");
    let tolerance = 1e-12 * expected.abs().max(1.0);
    assert!((a - expected).abs() <= tolerance, "got {a}, expected {expected}");
}

/// The path of the built `gexlake` binary.
pub fn gexlake_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gexlake"))
}
