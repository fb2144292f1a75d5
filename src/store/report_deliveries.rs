//! The report-delivery journal: which report (by key) each sink has been given.
//!
//! A report is enqueued for a sink once: the row is keyed by sink and report key and enqueued
//! with `INSERT OR IGNORE`, so enqueuing again (a rerun, the next night) changes nothing. A row
//! stays due until the sink acknowledges it (`delivered_at_ms`); a failure records the error and
//! when to try again. Only the key is stored: the message is rebuilt from the store when it is
//! sent. This module does not send anything and does not choose the retry schedule.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::Store;
use super::codec::{collect, count, ms};
use super::error::{Error, SqlResultExt};

/// One report due for one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DueReport {
    pub(crate) report_key: String,
    /// Failed attempts so far.
    pub(crate) attempts: u64,
}

/// One sink's line of the journal, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ReportJournal {
    /// The sink's kind as journaled (`dingtalk_robot`, `email`, …).
    pub(crate) kind: String,
    pub(crate) delivered: u64,
    /// Not delivered, no failed attempt yet.
    pub(crate) waiting: u64,
    /// Not delivered, at least one failed attempt.
    pub(crate) failing: u64,
    /// The last error of a failing report, if any.
    pub(crate) last_error: Option<String>,
}

impl Store {
    /// Queues report `report_key` for `sink` (of kind `kind`), due now; true when it was not
    /// queued before (delivered or not).
    pub(crate) fn enqueue_report(
        &mut self,
        sink: &str,
        report_key: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO report_deliveries
                     (sink, report_key, kind, enqueued_at_ms, attempts, next_attempt_ms)
                 VALUES (?1, ?2, ?3, ?4, 0, ?4)",
            )
            .at(&self.location)?
            .execute(params![sink, report_key, kind, ms(now)])
            .at(&self.location)?;
        Ok(inserted > 0)
    }

    /// Whether report `report_key` was ever queued for `sink` (delivered or not).
    pub(crate) fn report_journaled(&self, sink: &str, report_key: &str) -> Result<bool, Error> {
        let found: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM report_deliveries WHERE sink = ?1 AND report_key = ?2",
            )
            .at(&self.location)?
            .query_row(params![sink, report_key], |row| row.get(0))
            .at(&self.location)?;
        Ok(found > 0)
    }

    /// Reports of `sink` not delivered and due at `now`, oldest first.
    pub(crate) fn reports_due(
        &self,
        sink: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<DueReport>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT report_key, attempts FROM report_deliveries
                 WHERE sink = ?1 AND delivered_at_ms IS NULL AND next_attempt_ms <= ?2
                 ORDER BY enqueued_at_ms, report_key",
            )
            .at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            params![sink, ms(now)],
            "report_deliveries",
            |reader| {
                Ok(DueReport {
                    report_key: reader.text(0, "report_key")?,
                    attempts: count(reader.int(1, "attempts")?),
                })
            },
        )
    }

    /// Records that `sink` acknowledged report `report_key` at `at`.
    pub(crate) fn mark_report_delivered(
        &mut self,
        sink: &str,
        report_key: &str,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.conn
            .prepare_cached(
                "UPDATE report_deliveries SET delivered_at_ms = ?3, last_error = NULL
                 WHERE sink = ?1 AND report_key = ?2 AND delivered_at_ms IS NULL",
            )
            .at(&self.location)?
            .execute(params![sink, report_key, ms(at)])
            .at(&self.location)?;
        Ok(())
    }

    /// Records a failed attempt to give `sink` report `report_key`, due again at
    /// `next_attempt_at`.
    pub(crate) fn mark_report_failed(
        &mut self,
        sink: &str,
        report_key: &str,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.conn
            .prepare_cached(
                "UPDATE report_deliveries
                 SET attempts = attempts + 1, last_error = ?3, next_attempt_ms = ?4
                 WHERE sink = ?1 AND report_key = ?2 AND delivered_at_ms IS NULL",
            )
            .at(&self.location)?
            .execute(params![sink, report_key, error, ms(next_attempt_at)])
            .at(&self.location)?;
        Ok(())
    }

    /// Per sink: reports delivered, waiting and failing.
    pub(crate) fn report_journal(&self) -> Result<BTreeMap<String, ReportJournal>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT sink, kind,
                     sum(delivered_at_ms IS NOT NULL),
                     sum(delivered_at_ms IS NULL AND attempts = 0),
                     sum(delivered_at_ms IS NULL AND attempts > 0),
                     max(CASE WHEN delivered_at_ms IS NULL THEN last_error END)
                 FROM report_deliveries GROUP BY sink, kind ORDER BY sink",
            )
            .at(&self.location)?;
        let rows = collect(
            &self.location,
            &mut statement,
            [],
            "report_deliveries",
            |reader| {
                Ok((
                    reader.text(0, "sink")?,
                    ReportJournal {
                        kind: reader.text(1, "kind")?,
                        delivered: count(reader.int(2, "delivered")?),
                        waiting: count(reader.int(3, "waiting")?),
                        failing: count(reader.int(4, "failing")?),
                        last_error: reader.opt_text(5, "last_error")?,
                    },
                ))
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Messages sinks of `kind` acknowledged in `from..to` (the robot's messages of a month,
    /// counted apart from the DingTalk API budget).
    pub(crate) fn reports_delivered_between(
        &self,
        kind: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u64, Error> {
        let delivered: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM report_deliveries
                 WHERE kind = ?1 AND delivered_at_ms >= ?2 AND delivered_at_ms < ?3",
            )
            .at(&self.location)?
            .query_row(params![kind, ms(from), ms(to)], |row| row.get(0))
            .at(&self.location)?;
        Ok(count(delivered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_report_is_enqueued_once_delivered_once_and_retried_after_a_failure() {
        let mut store = Store::open_in_memory().unwrap();
        assert!(
            store
                .enqueue_report("group", "nightly_summary:run:1", "dingtalk_robot", at(0))
                .unwrap()
        );
        assert!(
            !store
                .enqueue_report("group", "nightly_summary:run:1", "dingtalk_robot", at(5))
                .unwrap()
        );
        let due = store.reports_due("group", at(0)).unwrap();
        assert_eq!(due.len(), 1);
        store
            .mark_report_failed("group", "nightly_summary:run:1", "down", at(60))
            .unwrap();
        assert!(store.reports_due("group", at(30)).unwrap().is_empty());
        let due = store.reports_due("group", at(60)).unwrap();
        assert_eq!(due[0].attempts, 1);
        let journal = store.report_journal().unwrap();
        assert_eq!(journal["group"].failing, 1);
        assert_eq!(journal["group"].last_error.as_deref(), Some("down"));
        store
            .mark_report_delivered("group", "nightly_summary:run:1", at(61))
            .unwrap();
        assert!(store.reports_due("group", at(99_999)).unwrap().is_empty());
        assert!(
            !store
                .enqueue_report("group", "nightly_summary:run:1", "dingtalk_robot", at(70))
                .unwrap()
        );
        let journal = store.report_journal().unwrap();
        assert_eq!(journal["group"].delivered, 1);
        assert_eq!(journal["group"].failing, 0);
        assert_eq!(
            store
                .reports_delivered_between("dingtalk_robot", at(0), at(100))
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .reports_delivered_between("dingtalk_robot", at(100), at(200))
                .unwrap(),
            0
        );
    }
}
