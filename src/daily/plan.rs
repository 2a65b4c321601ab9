//! Which dates a run writes: the requested ones, and every later stored date
//! whose history they change.

use std::collections::BTreeSet;

use chrono::NaiveDate;

/// Where a written date's aggregates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Aggregated from the date's `orats_strikes` rows (a requested date).
    Strikes,
    /// Read from the date's stored `orats_daily` file: only its history is
    /// recomputed, because an earlier date changed.
    Stored,
}

/// The dates of a run, ascending, each with where its aggregates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyPlan {
    /// Every date written, ascending.
    pub targets: Vec<(NaiveDate, Source)>,
}

impl DailyPlan {
    /// Plans a run of the `requested` dates over a lake whose `orats_daily`
    /// dataset holds `stored`.
    ///
    /// Every stored date after the first requested one is recomputed too. The
    /// row windows reach 59 rows back, but a changed row also changes the
    /// `iv_rank` and `hv_30day` of the rows after it, which later rows
    /// average over 60 and 30 rows again, and a symbol's rows may lie far
    /// apart: only all later dates are certain to be enough, and a date
    /// converted late usually has few after it.
    pub fn new(requested: &[NaiveDate], stored: &BTreeSet<NaiveDate>) -> Self {
        let requested: BTreeSet<NaiveDate> = requested.iter().copied().collect();
        let Some(first) = requested.first().copied() else {
            return DailyPlan {
                targets: Vec::new(),
            };
        };
        let later = stored
            .range(first..)
            .filter(|d| !requested.contains(d))
            .map(|d| (*d, Source::Stored));
        let mut targets: Vec<(NaiveDate, Source)> = requested
            .iter()
            .map(|d| (*d, Source::Strikes))
            .chain(later)
            .collect();
        targets.sort_by_key(|(d, _)| *d);
        DailyPlan { targets }
    }

    /// The first date written, if any.
    pub fn first(&self) -> Option<NaiveDate> {
        self.targets.first().map(|(d, _)| *d)
    }

    /// How many stored dates are recomputed only for their history.
    pub fn recomputed(&self) -> usize {
        self.targets
            .iter()
            .filter(|(_, s)| *s == Source::Stored)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, day).unwrap()
    }

    #[test]
    fn in_order_runs_recompute_nothing() {
        let stored: BTreeSet<NaiveDate> = [d(1), d(4)].into();
        let plan = DailyPlan::new(&[d(5), d(6)], &stored);
        assert_eq!(
            plan.targets,
            vec![(d(5), Source::Strikes), (d(6), Source::Strikes)]
        );
        assert_eq!(plan.recomputed(), 0);
    }

    #[test]
    fn an_older_date_recomputes_every_later_stored_date() {
        let stored: BTreeSet<NaiveDate> = [d(1), d(4), d(5), d(7)].into();
        let plan = DailyPlan::new(&[d(5), d(2)], &stored);
        assert_eq!(
            plan.targets,
            vec![
                (d(2), Source::Strikes),
                (d(4), Source::Stored),
                (d(5), Source::Strikes),
                (d(7), Source::Stored)
            ]
        );
        assert_eq!((plan.first(), plan.recomputed()), (Some(d(2)), 2));
        assert!(DailyPlan::new(&[], &stored).targets.is_empty());
    }
}
