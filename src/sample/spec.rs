//! What to generate — the options `gexlake sample` exposes — and what was written.

use std::path::PathBuf;

use chrono::NaiveDate;

/// Tickers in a full-size day, the default universe.
pub const FULL_TICKERS: usize = 5800;

/// The 39-column header (files since 2021-05-28).
const HEADER_V1: &str = "ticker,cOpra,pOpra,stkPx,expirDate,yte,strike,cVolu,cOi,pVolu,pOi,\
cBidPx,cValue,cAskPx,pBidPx,pValue,pAskPx,cBidIv,cMidIv,cAskIv,smoothSmvVol,pBidIv,pMidIv,\
pAskIv,iRate,divRate,residualRateData,delta,gamma,theta,vega,rho,phi,driftlessTheta,extVol,\
extCTheo,extPTheo,spot_px,trade_date";
/// The 37-column header (files 2007-01-03 … 2021-05-27).
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

/// How many decimals the model-valued columns (IVs, vols, greeks) are written to; prices,
/// `yte`, the rates and the counts are written alike at both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Precision {
    /// As real files: IVs and vols to 6 decimals, greeks to 8 (a full-size day: 289 CSV and
    /// 90 ZIP bytes a row, against 311 and 93.5 in a real file).
    #[default]
    Realistic,
    /// The generator's first format, byte for byte: IVs to 4 decimals, delta to 5, greeks to 6,
    /// which repeat more than real quotes (265 CSV and 76 ZIP bytes a row).
    Compact,
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
    /// Decimals of the IVs, vols and greeks.
    pub precision: Precision,
}

impl SampleSpec {
    /// A full-size day: [`FULL_TICKERS`] tickers, seed 1, layout v1, realistic precision.
    pub fn new(date: NaiveDate) -> Self {
        SampleSpec {
            date,
            tickers: FULL_TICKERS,
            seed: 1,
            layout: Layout::V1,
            precision: Precision::Realistic,
        }
    }
}

/// What [`write_archive`](super::write_archive) wrote.
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
