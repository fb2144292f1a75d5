//! What the quota planner keeps between runs and the few aggregate reads it plans with.
//!
//! The planner's state (which work dates the nightly sync has read, how far approval listings
//! reach, what was learned about DingTalk's unconfirmed behaviours) is one JSON document in the
//! `meta` table under [`PLANNER_STATE_KEY`]; this module stores and returns it as text and does
//! not interpret it (its shape belongs to `reconcile`). It deliberately adds no table, so the
//! schema version is unchanged.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, params};

use super::Store;
use super::codec::{Reader, count, date_text};
use super::error::{Error, SqlResultExt};

/// The `meta` key the planner's state lives under.
pub(crate) const PLANNER_STATE_KEY: &str = "planner_state";

impl Store {
    /// The planner's state as last saved; `None` before the first save.
    pub(crate) fn planner_state(&self) -> Result<Option<String>, Error> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [PLANNER_STATE_KEY],
                |row| row.get(0),
            )
            .optional()
            .at(&self.location)
    }

    /// Replaces the planner's state.
    pub(crate) fn save_planner_state(&mut self, state: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![PLANNER_STATE_KEY, state],
            )
            .map(|_| ())
            .at(&self.location)
    }

    /// Present slots per work date on `from..=to` (dates without any are absent).
    pub(crate) fn present_slot_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, u64>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT work_date, COUNT(*) FROM slots
                 WHERE present = 1 AND work_date BETWEEN ?1 AND ?2 GROUP BY work_date",
            )
            .at(&self.location)?;
        let mut rows = statement
            .query([date_text(from), date_text(to)])
            .at(&self.location)?;
        let mut out = BTreeMap::new();
        while let Some(row) = rows.next().at(&self.location)? {
            let reader = Reader::new(row, "slots");
            out.insert(reader.date(0, "work_date")?, count(reader.int(1, "count")?));
        }
        Ok(out)
    }

    /// How many users hold present slots on work dates `from..=to`.
    pub(crate) fn present_slot_users(&self, from: NaiveDate, to: NaiveDate) -> Result<u64, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT COUNT(DISTINCT user_id) FROM slots
                 WHERE present = 1 AND work_date BETWEEN ?1 AND ?2",
            )
            .at(&self.location)?;
        let users: i64 = statement
            .query_row([date_text(from), date_text(to)], |row| row.get(0))
            .at(&self.location)?;
        Ok(count(users))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_planner_state_round_trips_and_is_replaced_on_save() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(store.planner_state().unwrap(), None);
        store.save_planner_state("{\"a\":1}").unwrap();
        store.save_planner_state("{\"a\":2}").unwrap();
        assert_eq!(store.planner_state().unwrap().as_deref(), Some("{\"a\":2}"));
    }

    #[test]
    fn an_empty_store_counts_no_slots() {
        let store = Store::open_in_memory().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        assert!(store.present_slot_counts(day, day).unwrap().is_empty());
    }
}
