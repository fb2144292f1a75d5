//! The months DingTalk reported the organisation's monthly quota exhausted (`90020`): one row
//! per quota month, written the first time a run met the answer and never changed after.
//!
//! This module only stores and reads the rows; what a row means for the runs of its month (no
//! metered call until the next month) is `reconcile::blocked`'s.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::Store;
use super::codec::{collect, count, ms, sql_int};
use super::error::{Error, SqlResultExt};

/// The organisation's monthly quota found exhausted in one quota month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaExhaustion {
    /// The quota month, `YYYY-MM` in the business time zone.
    pub month: String,
    /// When a run first met the answer that month.
    pub seen_at: DateTime<Utc>,
    /// Our own metered calls of the month at that moment.
    pub own_metered: u64,
    /// The configured monthly budget at that moment.
    pub budget: u64,
    /// Whether the organisation's other apps spent it (our own count far below our budget).
    pub by_other_apps: bool,
}

impl Store {
    /// Records `exhaustion` for its month, seen by run `run_id`; true when the month had no row
    /// yet (a later sighting in the same month changes nothing).
    pub(crate) fn record_quota_exhaustion(
        &mut self,
        exhaustion: &QuotaExhaustion,
        run_id: Option<i64>,
    ) -> Result<bool, Error> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO quota_exhaustions
                     (month, seen_at_ms, own_metered, budget, by_other_apps, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .at(&self.location)?
            .execute(params![
                exhaustion.month,
                ms(exhaustion.seen_at),
                sql_int(exhaustion.own_metered),
                sql_int(exhaustion.budget),
                exhaustion.by_other_apps,
                run_id,
            ])
            .at(&self.location)?;
        Ok(inserted > 0)
    }

    /// The quota exhaustion recorded for `month` (`YYYY-MM`), if any.
    pub fn quota_exhaustion(&self, month: &str) -> Result<Option<QuotaExhaustion>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT month, seen_at_ms, own_metered, budget, by_other_apps
                 FROM quota_exhaustions WHERE month = ?1",
            )
            .at(&self.location)?;
        let rows = collect(
            &self.location,
            &mut statement,
            [month],
            "quota_exhaustions",
            |reader| {
                Ok(QuotaExhaustion {
                    month: reader.text(0, "month")?,
                    seen_at: reader.instant(1, "seen_at_ms")?,
                    own_metered: count(reader.int(2, "own_metered")?),
                    budget: count(reader.int(3, "budget")?),
                    by_other_apps: reader.flag(4, "by_other_apps")?,
                })
            },
        )?;
        Ok(rows.into_iter().next())
    }
}

impl Store {
    /// Forgets the quota exhaustion recorded for `month` (`YYYY-MM`): runs of that month make
    /// metered calls again. True when there was one. `quota resume`: the organisation bought
    /// more quota, or the answer was not the month's quota spent.
    pub fn lift_quota_exhaustion(&mut self, month: &str) -> Result<bool, Error> {
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM quota_exhaustions WHERE month = ?1")
            .at(&self.location)?
            .execute([month])
            .at(&self.location)?;
        Ok(deleted > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{at, store};

    fn exhaustion(month: &str, own_metered: u64, by_other_apps: bool) -> QuotaExhaustion {
        QuotaExhaustion {
            month: month.to_owned(),
            seen_at: at(3),
            own_metered,
            budget: 5_000,
            by_other_apps,
        }
    }

    #[test]
    fn one_row_per_month_the_first_sighting_kept() {
        let mut store = store();
        assert_eq!(store.quota_exhaustion("2026-11").unwrap(), None);
        let first = exhaustion("2026-11", 812, true);
        assert!(store.record_quota_exhaustion(&first, Some(7)).unwrap());
        let later = QuotaExhaustion {
            seen_at: at(9),
            ..exhaustion("2026-11", 900, false)
        };
        assert!(!store.record_quota_exhaustion(&later, None).unwrap());
        assert_eq!(store.quota_exhaustion("2026-11").unwrap(), Some(first));
        assert_eq!(store.quota_exhaustion("2026-12").unwrap(), None);

        let december = exhaustion("2026-12", 4_990, false);
        assert!(store.record_quota_exhaustion(&december, None).unwrap());
        assert_eq!(store.quota_exhaustion("2026-12").unwrap(), Some(december));

        assert!(store.lift_quota_exhaustion("2026-11").unwrap());
        assert!(!store.lift_quota_exhaustion("2026-11").unwrap());
        assert_eq!(store.quota_exhaustion("2026-11").unwrap(), None);
        assert!(store.quota_exhaustion("2026-12").unwrap().is_some());
    }
}
