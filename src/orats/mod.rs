//! Reading ORATS SMV Strikes archives (ORATS_FORMAT.md): choosing the ZIP
//! member, detecting the layout from the header, parsing and validating rows,
//! and streaming them out sorted, per trade date.

pub mod archive;
pub mod layout;
pub mod reader;
pub mod records;
mod rows;
pub mod values;

use chrono::NaiveDate;

/// The trade date in an archive's file name (`ORATS_SMV_Strikes_YYYYMMDD.zip`), if any.
pub fn date_from_file_name(name: &str) -> Option<NaiveDate> {
    let stem = name.rsplit('/').next()?.split('.').next()?;
    let digits = stem.rsplit('_').next()?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_dates() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert_eq!(
            date_from_file_name("ORATS_SMV_Strikes_20260205.zip"),
            d("2026-02-05")
        );
        assert_eq!(
            date_from_file_name("2019/ORATS_SMV_Strikes_20190102.zip"),
            d("2019-01-02")
        );
        assert_eq!(date_from_file_name("ORATS_SMV_Strikes_20261345.zip"), None);
        assert_eq!(date_from_file_name("notes.zip"), None);
    }
}
