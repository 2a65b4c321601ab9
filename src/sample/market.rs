//! The market model: each ticker's spot and vol level on a date (a mean-reverting walk of hashed
//! daily shocks, so consecutive days differ by one daily move), and the short rate of the year.

use chrono::{Datelike, NaiveDate};

use super::math::{exp, hash, hashed_gauss};
use super::universe::Profile;

/// 2026-01-02, the date the universe's price levels refer to.
pub(super) const REF_DAY: i64 = 739_618;
/// Daily shocks summed into the price walk: older ones drop out, so prices revert.
const WALK_DAYS: i64 = 128;
/// Daily shocks summed into the vol regime.
const REGIME_DAYS: i64 = 32;

impl Profile {
    /// Spot and short-term vol level on a day: a moving sum of hashed daily shocks, so
    /// consecutive days differ by one daily move and the history is mean-reverting.
    pub(super) fn market(&self, day: i64) -> (f64, f64) {
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

/// The short rate on a date, interpolated between the yearly levels.
pub(super) fn short_rate(date: NaiveDate) -> f64 {
    let x = date.year() as f64 + date.ordinal0() as f64 / 365.0 - 2007.5;
    let last = (RATES.len() - 1) as f64;
    let x = x.clamp(0.0, last);
    let i = (x.floor() as usize).min(RATES.len() - 2);
    let f = x - i as f64;
    RATES[i] * (1.0 - f) + RATES[i + 1] * f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_day_is_2026_01_02() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(REF_DAY, i64::from(day.num_days_from_ce()));
    }
}
