//! The snapshot: the last state of every slot, and the history of its changes (read side).
//!
//! The first observation of a slot is recorded on the slot row itself (`first_seen_run`,
//! `first_seen_ms`, `first_class`) rather than as a history row, which keeps a backfill to one
//! write per slot. [`Store::slot_history`] presents it as a `new` entry whose `after` is the
//! `before` of the slot's next explicit entry (every explicit entry records `before`), or the
//! current state when there is none. Writes happen in [`Store::apply_batch`] only.
//!
//! This module does not diff; it only stores what the diff decided.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Store;
use super::codec::{Reader, collect, date_text, slot_key_range};
use super::error::{Error, SqlResultExt};
use crate::domain::{
    ChangeClass, CheckType, LocationResult, Slot, SlotKey, SourceType, TimeResult, UserId,
};

/// A slot as stored, with when and by which runs it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSlot {
    pub slot: Slot,
    /// When it was last observed (or, for a vanished slot, last observed present).
    pub observed_at: DateTime<Utc>,
    pub(crate) first_seen_run: i64,
    pub(crate) last_seen_run: i64,
    /// False once the slot vanished from a complete fetch of its user-day.
    pub present: bool,
}

/// What kind of change a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HistoryChange {
    New,
    Changed,
    Vanished,
}

impl HistoryChange {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HistoryChange::New => "new",
            HistoryChange::Changed => "changed",
            HistoryChange::Vanished => "vanished",
        }
    }
}

/// One observed change of one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryEntry {
    pub(crate) run_id: i64,
    pub(crate) observed_at: DateTime<Utc>,
    pub(crate) slot_key: SlotKey,
    pub(crate) change: HistoryChange,
    /// `None` for a slot's first observation.
    pub(crate) before: Option<Slot>,
    /// `None` for a vanished slot.
    pub(crate) after: Option<Slot>,
    pub(crate) class: Option<ChangeClass>,
}

/// The columns [`decode_stored_slot`] reads, in order.
pub(crate) const SLOT_COLUMNS: &str = "user_id, work_date, check_type, plan_id, base_check_ms, \
     user_check_ms, time_result, location_result, source_type, proc_inst_id, approve_id, \
     record_id, group_id, row_id, observed_at_ms, first_seen_run, last_seen_run, present, \
     first_seen_ms, first_class";

/// Decodes the first 14 columns of [`SLOT_COLUMNS`].
pub(crate) fn decode_slot(reader: &Reader<'_, '_>) -> Result<Slot, Error> {
    Ok(Slot {
        user_id: reader.user(0, "user_id")?,
        work_date: reader.date(1, "work_date")?,
        check_type: CheckType::parse(&reader.text(2, "check_type")?),
        plan_id: reader.opt_int(3, "plan_id")?,
        base_check_time: reader.instant(4, "base_check_ms")?,
        user_check_time: reader.opt_instant(5, "user_check_ms")?,
        time_result: TimeResult::parse(&reader.text(6, "time_result")?),
        location_result: LocationResult::parse(&reader.text(7, "location_result")?),
        source_type: SourceType::parse(&reader.text(8, "source_type")?),
        process_instance_id: reader.opt_text(9, "proc_inst_id")?,
        approve_id: reader.opt_int(10, "approve_id")?,
        record_id: reader.opt_int(11, "record_id")?,
        group_id: reader.opt_int(12, "group_id")?,
        row_id: reader.opt_int(13, "row_id")?,
    })
}

pub(crate) fn decode_stored_slot(reader: &Reader<'_, '_>) -> Result<StoredSlot, Error> {
    Ok(StoredSlot {
        slot: decode_slot(reader)?,
        observed_at: reader.instant(14, "observed_at_ms")?,
        first_seen_run: reader.int(15, "first_seen_run")?,
        last_seen_run: reader.int(16, "last_seen_run")?,
        present: reader.flag(17, "present")?,
    })
}

/// A slot's first observation, as recorded on its row.
struct FirstSeen {
    stored: StoredSlot,
    at: DateTime<Utc>,
    class: Option<ChangeClass>,
}

fn decode_first_seen(reader: &Reader<'_, '_>) -> Result<FirstSeen, Error> {
    Ok(FirstSeen {
        stored: decode_stored_slot(reader)?,
        at: reader.instant(18, "first_seen_ms")?,
        class: reader.opt_class(19, "first_class")?,
    })
}

impl Store {
    /// Every stored slot (present or vanished) of `users` on work dates `from..=to`. With
    /// `None` (all users) the whole table is scanned: prefer naming the users.
    pub fn snapshot_slots(
        &self,
        users: Option<&[UserId]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<SlotKey, StoredSlot>, Error> {
        let mut out = BTreeMap::new();
        let mut insert = |stored: StoredSlot| {
            out.insert(stored.slot.key(), stored);
        };
        match users {
            Some(users) => {
                for user in users {
                    for stored in self.slots_in_key_range(user, from, to)? {
                        insert(stored);
                    }
                }
            }
            None => {
                let sql =
                    format!("SELECT {SLOT_COLUMNS} FROM slots WHERE work_date BETWEEN ?1 AND ?2");
                let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
                let params = [date_text(from), date_text(to)];
                let mut rows = statement.query(params).at(&self.location)?;
                while let Some(row) = rows.next().at(&self.location)? {
                    insert(decode_stored_slot(&Reader::new(row, "slots"))?);
                }
            }
        }
        Ok(out)
    }

    /// Every stored slot of one user-day, in key order.
    pub fn slots_for_user_day(
        &self,
        user: &UserId,
        date: NaiveDate,
    ) -> Result<Vec<StoredSlot>, Error> {
        self.slots_in_key_range(user, date, date)
    }

    fn slots_in_key_range(
        &self,
        user: &UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredSlot>, Error> {
        let sql = format!(
            "SELECT {SLOT_COLUMNS} FROM slots WHERE slot_key >= ?1 AND slot_key < ?2
             ORDER BY slot_key"
        );
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        let (low, high) = slot_key_range(user, from, to);
        collect(
            &self.location,
            &mut statement,
            [low, high],
            "slots",
            decode_stored_slot,
        )
    }

    /// Present slots DingTalk shows as not signed (candidates for a 补卡), on or before
    /// `on_or_before` when given, oldest work date first.
    pub(crate) fn open_slots(
        &self,
        on_or_before: Option<NaiveDate>,
    ) -> Result<Vec<StoredSlot>, Error> {
        let sql = format!(
            "SELECT {SLOT_COLUMNS} FROM slots
             WHERE present = 1 AND time_result = 'NotSigned' AND (?1 IS NULL OR work_date <= ?1)
             ORDER BY work_date, slot_key"
        );
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            [on_or_before.map(date_text)],
            "slots",
            decode_stored_slot,
        )
    }

    /// Every observed change of one user-day's slots, oldest first.
    pub(crate) fn slot_history(
        &self,
        user: &UserId,
        date: NaiveDate,
    ) -> Result<Vec<HistoryEntry>, Error> {
        let sql = format!(
            "SELECT {SLOT_COLUMNS} FROM slots WHERE slot_key >= ?1 AND slot_key < ?2
             ORDER BY slot_key"
        );
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        let (low, high) = slot_key_range(user, date, date);
        let first_seen = collect(
            &self.location,
            &mut statement,
            [low, high],
            "slots",
            decode_first_seen,
        )?;

        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT run_id, observed_at_ms, slot_key, change, before_json, after_json, class
                 FROM slot_history WHERE user_id = ?1 AND work_date = ?2 ORDER BY id",
            )
            .at(&self.location)?;
        let explicit = collect(
            &self.location,
            &mut statement,
            [user.as_str().to_owned(), date_text(date)],
            "slot_history",
            decode_history,
        )?;

        let mut entries: Vec<HistoryEntry> = first_seen
            .into_iter()
            .map(|first| {
                let key = first.stored.slot.key();
                let after = explicit
                    .iter()
                    .find(|entry| entry.slot_key == key)
                    .and_then(|entry| entry.before.clone())
                    .unwrap_or(first.stored.slot);
                HistoryEntry {
                    run_id: first.stored.first_seen_run,
                    observed_at: first.at,
                    slot_key: key,
                    change: HistoryChange::New,
                    before: None,
                    after: Some(after),
                    class: first.class,
                }
            })
            .collect();
        entries.extend(explicit);
        // Stable: a slot's first observation stays ahead of its explicit entries.
        entries.sort_by_key(|entry| (entry.observed_at, entry.run_id));
        Ok(entries)
    }
}

fn decode_history(reader: &Reader<'_, '_>) -> Result<HistoryEntry, Error> {
    let change = match reader.text(3, "change")?.as_str() {
        "new" => HistoryChange::New,
        "changed" => HistoryChange::Changed,
        "vanished" => HistoryChange::Vanished,
        other => {
            return Err(Error::Decode {
                table: "slot_history",
                column: "change",
                detail: format!("{other:?} is not new, changed or vanished"),
            });
        }
    };
    Ok(HistoryEntry {
        run_id: reader.int(0, "run_id")?,
        observed_at: reader.instant(1, "observed_at_ms")?,
        slot_key: reader.slot_key(2, "slot_key")?,
        change,
        before: Some(reader.json(4, "before_json")?),
        after: reader.opt_json(5, "after_json")?,
        class: reader.opt_class(6, "class")?,
    })
}
