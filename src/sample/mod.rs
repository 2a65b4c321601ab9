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
//!
//! The modules follow the data: `spec` (what to generate) → `universe` (the tickers) →
//! `market` (each ticker's spot and vol on the date) → `calendar` (its expiries) → `strikes`
//! (each expiry's strike grid) → `pricing` (each row's values) → `format` (numbers as text) →
//! `rows` (the day as CSV lines) → `archive` (the CSV into a ZIP). `math` holds the
//! platform-stable maths and hashing they share.

mod archive;
mod calendar;
mod format;
mod market;
mod math;
mod pricing;
mod rows;
mod spec;
mod strikes;
mod universe;

pub use archive::{archive_name, member_name, write_archive, write_csv};
pub use spec::{FULL_TICKERS, Layout, Precision, SampleSpec, SampleSummary};

#[cfg(test)]
mod tests;
