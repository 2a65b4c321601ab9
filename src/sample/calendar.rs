//! The expiry calendar (weekdays; exchange holidays are not modelled): which expiries a ticker
//! lists on a date, which of them are standard (monthly), and their OSI roots.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::universe::{Profile, Roots, Schedule};

/// The standard monthly expiry.
fn third_friday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Fri, 3)
}

/// Whether a date is a third Friday (a standard expiry, where SPX lists both roots).
pub(super) fn is_third_friday(d: NaiveDate) -> bool {
    d.weekday() == Weekday::Fri && (15..=21).contains(&d.day())
}

/// The VIX monthly: 30 days before the third Friday of the following month.
fn vix_monthly(year: i32, month: u32) -> Option<NaiveDate> {
    let (y, m) = next_month(year, month);
    third_friday(y, m).map(|f| f - Days::new(30))
}

/// The month after (`year`, `month`).
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

/// `n` calendar days after `d`.
fn days_after(d: NaiveDate, n: u64) -> NaiveDate {
    d + Days::new(n)
}

/// The expiries `p` lists on trade date `d`, in order (`d` itself when it lists 0DTE).
pub(super) fn expiries(p: &Profile, d: NaiveDate) -> BTreeSet<NaiveDate> {
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

/// The January expiries of the next `years` years.
fn january_leaps(d: NaiveDate, years: u32) -> impl Iterator<Item = NaiveDate> {
    (1..=years as i32).filter_map(move |k| third_friday(d.year() + k, 1))
}

/// Whether `e` is one of `p`'s standard (monthly) expiries.
pub(super) fn is_standard(p: &Profile, e: NaiveDate) -> bool {
    match p.schedule {
        Schedule::Wednesday => vix_monthly(e.year(), e.month()) == Some(e),
        _ => is_third_friday(e),
    }
}

/// The OSI roots listed on an expiry: two for SPX on standard expiries, else one.
pub(super) fn roots_for(p: &Profile, standard: bool) -> [Option<&str>; 2] {
    match (p.roots, standard) {
        (Roots::Plain, _) => [Some(&p.root), None],
        (Roots::Dual(pm), true) => [Some(&p.root), Some(pm)],
        (Roots::Dual(pm) | Roots::Pm(pm), false) => [Some(pm), None],
        (Roots::Pm(_), true) => [Some(&p.root), None],
    }
}
