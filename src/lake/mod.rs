//! The Parquet lake: its layout, how `orats_strikes` files are encoded, and the
//! ingest ledger.
//!
//! ```text
//! <lake>/orats_strikes/trade_date=YYYY-MM-DD/<source-stem>.parquet
//! <lake>/dealer_metrics/params=<name>/trade_date=YYYY-MM-DD/part.parquet
//! <lake>/orats_daily/trade_date=YYYY-MM-DD/part.parquet
//! <lake>/_ingest/<source-stem>.json      ledger: one per converted source
//! <lake>/_rejects/<source-stem>.csv      rejected rows with line and reason
//! ```

pub mod ledger;
pub mod migrate;
pub mod writer;

use chrono::NaiveDate;

/// Directory of the converted ORATS rows.
pub const STRIKES_DIR: &str = "orats_strikes";
/// Directory of the dealer-metrics results.
pub const METRICS_DIR: &str = "dealer_metrics";
/// Directory of the symbol-level `orats_daily` rows.
pub const DAILY_DIR: &str = "orats_daily";
/// Directory of the ingest ledger.
pub const LEDGER_DIR: &str = "_ingest";
/// Directory of the reject files.
pub const REJECTS_DIR: &str = "_rejects";

/// The lake-relative path of one source's rows for one trade date.
pub fn strikes_file(date: NaiveDate, stem: &str) -> String {
    format!("{STRIKES_DIR}/trade_date={date}/{stem}.parquet")
}

/// The lake-relative path of a source's ledger entry.
pub fn ledger_file(stem: &str) -> String {
    format!("{LEDGER_DIR}/{stem}.json")
}

/// The lake-relative path of a source's rejected rows.
pub fn rejects_file(stem: &str) -> String {
    format!("{REJECTS_DIR}/{stem}.csv")
}

/// The lake-relative directory of one parameter set's metrics for one date.
pub fn metrics_partition(params_name: &str, date: NaiveDate) -> String {
    format!("{METRICS_DIR}/params={params_name}/trade_date={date}")
}

/// The lake-relative path of one date's `orats_daily` rows.
pub fn daily_file(date: NaiveDate) -> String {
    format!("{DAILY_DIR}/trade_date={date}/part.parquet")
}

/// The trade date of a hive path segment `trade_date=YYYY-MM-DD`, if it is one.
pub fn partition_date(segment: &str) -> Option<NaiveDate> {
    let value = segment.strip_prefix("trade_date=")?;
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_paths() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 5).unwrap();
        assert_eq!(
            strikes_file(d, "ORATS_SMV_Strikes_20260205"),
            "orats_strikes/trade_date=2026-02-05/ORATS_SMV_Strikes_20260205.parquet"
        );
        assert_eq!(ledger_file("x"), "_ingest/x.json");
        assert_eq!(rejects_file("x"), "_rejects/x.csv");
        assert_eq!(
            metrics_partition("a3", d),
            "dealer_metrics/params=a3/trade_date=2026-02-05"
        );
        assert_eq!(
            daily_file(d),
            "orats_daily/trade_date=2026-02-05/part.parquet"
        );
        assert_eq!(partition_date("trade_date=2026-02-05"), Some(d));
        assert_eq!(partition_date("params=a3"), None);
    }
}
