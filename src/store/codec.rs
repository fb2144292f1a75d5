//! Conversions between our domain types and SQL values, in both directions.
//!
//! Writing never fails for a valid domain value. Reading checks everything: a column that does
//! not parse back into its type is an [`Error::Decode`] naming the table and column, never a
//! panic. DingTalk enumerations parse leniently (unknown spellings are kept); our own
//! enumerations (`ChangeClass`) must be known. This module holds no SQL statements.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::FromSql;
use rusqlite::{Params, Row, Statement};
use serde::de::DeserializeOwned;

use super::error::{Error, Location, SqlResultExt};
use crate::domain::{ChangeClass, LedgerState, SlotKey, SourceType, TimeResult, UserId};

/// `YYYY-MM-DD`, the text form of every work date in the store.
pub(crate) fn date_text(date: NaiveDate) -> String {
    use chrono::Datelike;
    // The common case without chrono's format machinery: this runs for every slot written.
    if (0..=9999).contains(&date.year()) {
        format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
    } else {
        date.format("%Y-%m-%d").to_string()
    }
}

/// Epoch milliseconds UTC, the form of every instant in the store.
pub(crate) fn ms(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_millis()
}

pub(crate) fn opt_ms(instant: Option<DateTime<Utc>>) -> Option<i64> {
    instant.map(ms)
}

/// Converts a count for a `u64` field; SQLite integers are signed, counts never are.
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Converts a caller's `u64` or `usize` into an SQL integer, saturating at `i64::MAX`.
pub(crate) fn sql_int(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// The first bound and the exclusive last bound of every slot key of `user` on dates
/// `from..=to`: keys are `USER|YYYY-MM-DD|…` and `}` sorts right after `|`.
pub(crate) fn slot_key_range(user: &UserId, from: NaiveDate, to: NaiveDate) -> (String, String) {
    (
        format!("{user}|{}|", date_text(from)),
        format!("{user}|{}}}", date_text(to)),
    )
}

/// Reads one row's columns into domain types, naming the table and column on failure.
pub(crate) struct Reader<'r, 's> {
    row: &'r Row<'s>,
    table: &'static str,
}

impl<'r, 's> Reader<'r, 's> {
    pub(crate) fn new(row: &'r Row<'s>, table: &'static str) -> Self {
        Reader { row, table }
    }

    pub(crate) fn decode_error(&self, column: &'static str, detail: impl ToString) -> Error {
        Error::Decode {
            table: self.table,
            column,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn raw<T: FromSql>(&self, idx: usize, column: &'static str) -> Result<T, Error> {
        self.row
            .get(idx)
            .map_err(|err| self.decode_error(column, err))
    }

    pub(crate) fn text(&self, idx: usize, column: &'static str) -> Result<String, Error> {
        self.raw(idx, column)
    }

    pub(crate) fn opt_text(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<String>, Error> {
        self.raw(idx, column)
    }

    pub(crate) fn int(&self, idx: usize, column: &'static str) -> Result<i64, Error> {
        self.raw(idx, column)
    }

    pub(crate) fn opt_int(&self, idx: usize, column: &'static str) -> Result<Option<i64>, Error> {
        self.raw(idx, column)
    }

    pub(crate) fn flag(&self, idx: usize, column: &'static str) -> Result<bool, Error> {
        Ok(self.int(idx, column)? != 0)
    }

    pub(crate) fn date(&self, idx: usize, column: &'static str) -> Result<NaiveDate, Error> {
        let raw = self.text(idx, column)?;
        self.parse_date(&raw, column)
    }

    pub(crate) fn opt_date(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<NaiveDate>, Error> {
        self.opt_text(idx, column)?
            .map(|raw| self.parse_date(&raw, column))
            .transpose()
    }

    fn parse_date(&self, raw: &str, column: &'static str) -> Result<NaiveDate, Error> {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| self.decode_error(column, format!("{raw:?} is not a YYYY-MM-DD date")))
    }

    pub(crate) fn instant(&self, idx: usize, column: &'static str) -> Result<DateTime<Utc>, Error> {
        let raw = self.int(idx, column)?;
        self.parse_instant(raw, column)
    }

    pub(crate) fn opt_instant(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        self.opt_int(idx, column)?
            .map(|raw| self.parse_instant(raw, column))
            .transpose()
    }

    fn parse_instant(&self, raw: i64, column: &'static str) -> Result<DateTime<Utc>, Error> {
        DateTime::from_timestamp_millis(raw).ok_or_else(|| {
            self.decode_error(
                column,
                format!("{raw} is not an epoch-milliseconds instant"),
            )
        })
    }

    pub(crate) fn user(&self, idx: usize, column: &'static str) -> Result<UserId, Error> {
        let raw = self.text(idx, column)?;
        UserId::new(raw).map_err(|err| self.decode_error(column, err))
    }

    pub(crate) fn opt_user(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<UserId>, Error> {
        self.opt_text(idx, column)?
            .map(|raw| UserId::new(raw).map_err(|err| self.decode_error(column, err)))
            .transpose()
    }

    pub(crate) fn slot_key(&self, idx: usize, column: &'static str) -> Result<SlotKey, Error> {
        let raw = self.text(idx, column)?;
        SlotKey::parse(&raw).map_err(|err| self.decode_error(column, err))
    }

    pub(crate) fn opt_slot_key(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<SlotKey>, Error> {
        self.opt_text(idx, column)?
            .map(|raw| SlotKey::parse(&raw).map_err(|err| self.decode_error(column, err)))
            .transpose()
    }

    pub(crate) fn class(&self, idx: usize, column: &'static str) -> Result<ChangeClass, Error> {
        let raw = self.text(idx, column)?;
        self.parse_class(&raw, column)
    }

    pub(crate) fn opt_class(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<ChangeClass>, Error> {
        self.opt_text(idx, column)?
            .map(|raw| self.parse_class(&raw, column))
            .transpose()
    }

    fn parse_class(&self, raw: &str, column: &'static str) -> Result<ChangeClass, Error> {
        ChangeClass::parse(raw)
            .ok_or_else(|| self.decode_error(column, format!("{raw:?} is not a class of change")))
    }

    pub(crate) fn json<T: DeserializeOwned>(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<T, Error> {
        let raw = self.text(idx, column)?;
        serde_json::from_str(&raw).map_err(|err| self.decode_error(column, err))
    }

    pub(crate) fn opt_json<T: DeserializeOwned>(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<T>, Error> {
        match self.opt_text(idx, column)? {
            None => Ok(None),
            Some(raw) => serde_json::from_str(&raw)
                .map(Some)
                .map_err(|err| self.decode_error(column, err)),
        }
    }

    /// A ledger state stored as four columns starting at `idx`: time result, check time,
    /// source type, process instance id.
    pub(crate) fn ledger_state(&self, idx: usize) -> Result<LedgerState, Error> {
        Ok(LedgerState {
            time_result: TimeResult::parse(&self.text(idx, "time_result")?),
            check_time: self.opt_instant(idx + 1, "check_time_ms")?,
            source_type: SourceType::parse(&self.text(idx + 2, "source_type")?),
            process_instance_id: self.opt_text(idx + 3, "proc_inst_id")?,
        })
    }

    /// Like [`Reader::ledger_state`], `None` when the time result column is NULL.
    pub(crate) fn opt_ledger_state(&self, idx: usize) -> Result<Option<LedgerState>, Error> {
        if self.opt_text(idx, "time_result")?.is_none() {
            return Ok(None);
        }
        self.ledger_state(idx).map(Some)
    }
}

/// Runs a prepared query and decodes every row with `decode`.
pub(crate) fn collect<T, P: Params>(
    location: &Location,
    statement: &mut Statement<'_>,
    params: P,
    table: &'static str,
    mut decode: impl FnMut(&Reader<'_, '_>) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let mut rows = statement.query(params).at(location)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().at(location)? {
        out.push(decode(&Reader::new(row, table))?);
    }
    Ok(out)
}

/// Serializes a value we own into JSON text for a column.
pub(crate) fn to_json<T: serde::Serialize>(what: &'static str, value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|err| Error::Unstorable {
        what,
        detail: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_dates_are_written_as_iso_dates_and_read_back() {
        for (y, m, d) in [
            (2026, 11, 3),
            (1, 1, 1),
            (9999, 12, 31),
            (-5, 6, 7),
            (10_000, 1, 2),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let text = date_text(date);
            assert_eq!(text, date.format("%Y-%m-%d").to_string());
            assert_eq!(NaiveDate::parse_from_str(&text, "%Y-%m-%d").unwrap(), date);
        }
    }

    #[test]
    fn slot_key_ranges_cover_exactly_one_users_dates() {
        let user = UserId::new("u1").unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let (low, high) = slot_key_range(&user, day(3), day(4));
        let inside = ["u1|2026-11-03|plan:1", "u1|2026-11-04|OffDuty@5"];
        let outside = [
            "u1|2026-11-02|plan:1",
            "u1|2026-11-05|plan:1",
            "u10|2026-11-03|plan:1",
            "u|2026-11-03|plan:1",
        ];
        for key in inside {
            assert!(
                low.as_str() <= key && key < high.as_str(),
                "{key} should be inside"
            );
        }
        for key in outside {
            assert!(
                !(low.as_str() <= key && key < high.as_str()),
                "{key} should be outside"
            );
        }
    }
}
