//! The outbox: per-sink delivery state of journaled corrections.
//!
//! Rows are enqueued by [`Store::apply_batch`] in the same transaction that journals the
//! correction, so a correction is never applied without being queued for delivery. A row stays
//! due until a sink acknowledges it; failures record the error and when to try again. This module
//! does not deliver anything and does not choose the retry schedule.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{TransactionBehavior, params};

use super::Store;
use super::codec::{Reader, collect, count, ms, sql_int};
use super::error::{Error, SqlResultExt};
use super::ledger::StoredCorrection;

/// One correction due for delivery to one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxItem {
    pub(crate) sink: String,
    pub(crate) correction: StoredCorrection,
    pub(crate) enqueued_at: DateTime<Utc>,
    /// Failed attempts so far.
    pub(crate) attempts: u64,
    pub(crate) last_error: Option<String>,
}

/// What [`Store::outbox_replay`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// Corrections newly queued for the sink.
    pub(crate) queued: u64,
    /// Corrections of the range the sink already had queued or delivered.
    pub(crate) already: u64,
}

impl Store {
    /// Up to `limit` undelivered items of `sink` due at `now`, oldest first.
    pub(crate) fn outbox_due(
        &self,
        sink: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT idempotency_key, enqueued_at_ms, attempts, last_error FROM outbox
                 WHERE sink = ?1 AND delivered_at_ms IS NULL AND next_attempt_ms <= ?2
                 ORDER BY enqueued_at_ms, idempotency_key LIMIT ?3",
            )
            .at(&self.location)?;
        let due = collect(
            &self.location,
            &mut statement,
            params![sink, ms(now), sql_int(limit)],
            "outbox",
            |reader: &Reader<'_, '_>| {
                Ok((
                    reader.text(0, "idempotency_key")?,
                    reader.instant(1, "enqueued_at_ms")?,
                    count(reader.int(2, "attempts")?),
                    reader.opt_text(3, "last_error")?,
                ))
            },
        )?;
        let mut items = Vec::with_capacity(due.len());
        for (key, enqueued_at, attempts, last_error) in due {
            let correction = self.correction_by_key(&key)?.ok_or_else(|| Error::Decode {
                table: "outbox",
                column: "idempotency_key",
                detail: format!("{key:?} has no journaled correction"),
            })?;
            items.push(OutboxItem {
                sink: sink.to_owned(),
                correction,
                enqueued_at,
                attempts,
                last_error,
            });
        }
        Ok(items)
    }

    /// Records that `sink` acknowledged these corrections at `at`.
    pub(crate) fn outbox_mark_delivered(
        &mut self,
        sink: &str,
        keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.update_outbox(
            "UPDATE outbox SET delivered_at_ms = ?3
             WHERE sink = ?1 AND idempotency_key = ?2 AND delivered_at_ms IS NULL",
            keys,
            |statement, key| statement.execute(params![sink, key, ms(at)]),
        )
    }

    /// Records a failed delivery of these corrections to `sink`, due again at `next_attempt_at`.
    pub(crate) fn outbox_mark_failed(
        &mut self,
        sink: &str,
        keys: &[String],
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.update_outbox(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?3, next_attempt_ms = ?4
             WHERE sink = ?1 AND idempotency_key = ?2 AND delivered_at_ms IS NULL",
            keys,
            |statement, key| statement.execute(params![sink, key, error, ms(next_attempt_at)]),
        )
    }

    /// Queues for `sink` every journaled correction of work dates `from..=to` it has not had
    /// queued before (delivered or not): a sink added after corrections were applied receives
    /// them, and replaying a range twice queues nothing twice (the outbox is keyed by sink and
    /// idempotency key).
    pub(crate) fn outbox_replay(
        &mut self,
        sink: &str,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Replayed, Error> {
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        let (from, to) = (from.to_string(), to.to_string());
        let in_range: i64 = transaction
            .query_row(
                "SELECT count(*) FROM corrections WHERE work_date BETWEEN ?1 AND ?2",
                params![from, to],
                |row| row.get(0),
            )
            .at(&location)?;
        let queued = transaction
            .execute(
                "INSERT INTO outbox (sink, idempotency_key, enqueued_at_ms, next_attempt_ms)
                 SELECT ?1, idempotency_key, ?4, ?4 FROM corrections
                 WHERE work_date BETWEEN ?2 AND ?3
                 ON CONFLICT (sink, idempotency_key) DO NOTHING",
                params![sink, from, to, ms(now)],
            )
            .at(&location)?;
        transaction.commit().at(&location)?;
        let queued = queued as u64;
        Ok(Replayed {
            queued,
            already: count(in_range).saturating_sub(queued),
        })
    }

    /// Undelivered items per sink (sinks with none are absent).
    pub fn outbox_backlog(&self) -> Result<BTreeMap<String, u64>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT sink, count(*) FROM outbox WHERE delivered_at_ms IS NULL GROUP BY sink",
            )
            .at(&self.location)?;
        let rows = collect(&self.location, &mut statement, [], "outbox", |reader| {
            Ok((reader.text(0, "sink")?, count(reader.int(1, "count")?)))
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Runs `execute` once per key in one transaction.
    fn update_outbox(
        &mut self,
        sql: &str,
        keys: &[String],
        execute: impl Fn(&mut rusqlite::CachedStatement<'_>, &str) -> rusqlite::Result<usize>,
    ) -> Result<(), Error> {
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        {
            let mut statement = transaction.prepare_cached(sql).at(&location)?;
            for key in keys {
                execute(&mut statement, key).at(&location)?;
            }
        }
        transaction.commit().at(&location)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ApplyBatch;
    use super::super::test_support::{at, corrected, day, new_run, slot, store};
    use super::*;
    use crate::domain::{ChangeClass, Correction};

    fn correction(plan: i64) -> Correction {
        let fixed = corrected(slot("u1", day(3), plan), "proc-1");
        Correction {
            idempotency_key: format!("k{plan}"),
            slot_key: fixed.key(),
            class: ChangeClass::SupplyApplied,
            before: None,
            after: fixed.ledger_state(),
            before_observed: false,
            process_instance_id: Some("proc-1".into()),
            business_id: None,
            approved_at: None,
        }
    }

    fn keys(items: &[OutboxItem]) -> Vec<&str> {
        items
            .iter()
            .map(|item| item.correction.correction.idempotency_key.as_str())
            .collect()
    }

    #[test]
    fn items_stay_due_until_delivered_and_failures_wait_for_their_retry_time() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let batch = ApplyBatch {
            applied_at: at(1),
            corrections: vec![correction(1), correction(2), correction(3)],
            sinks: vec!["webhook".into(), "file".into()],
            ..ApplyBatch::default()
        };
        store.apply_batch(run_id, &batch).unwrap();
        assert_eq!(
            store.outbox_backlog().unwrap(),
            BTreeMap::from([("file".to_owned(), 3), ("webhook".to_owned(), 3)])
        );

        let due = store.outbox_due("webhook", at(1), 2).unwrap();
        assert_eq!(keys(&due), vec!["k1", "k2"]);
        assert_eq!(due[0].correction.correction, batch.corrections[0]);
        store
            .outbox_mark_delivered("webhook", &["k1".into()], at(2))
            .unwrap();
        store
            .outbox_mark_failed("webhook", &["k2".into()], "HTTP 503", at(5))
            .unwrap();

        assert_eq!(
            keys(&store.outbox_due("webhook", at(3), 10).unwrap()),
            vec!["k3"]
        );
        let retried = store.outbox_due("webhook", at(5), 10).unwrap();
        assert_eq!(keys(&retried), vec!["k2", "k3"]);
        assert_eq!(retried[0].attempts, 1);
        assert_eq!(retried[0].last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(store.outbox_backlog().unwrap()["webhook"], 2);
        assert_eq!(store.outbox_due("file", at(1), 10).unwrap().len(), 3);
    }

    #[test]
    fn a_delivered_item_is_not_failed_afterwards() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let batch = ApplyBatch {
            applied_at: at(1),
            corrections: vec![correction(1)],
            sinks: vec!["webhook".into()],
            ..ApplyBatch::default()
        };
        store.apply_batch(run_id, &batch).unwrap();
        store
            .outbox_mark_delivered("webhook", &["k1".into()], at(2))
            .unwrap();
        store
            .outbox_mark_failed("webhook", &["k1".into()], "late timeout", at(3))
            .unwrap();
        assert!(store.outbox_due("webhook", at(4), 10).unwrap().is_empty());
        assert!(store.outbox_backlog().unwrap().is_empty());
    }

    #[test]
    fn an_enriched_correction_is_due_again_with_its_next_version_where_it_was_delivered() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let batch = ApplyBatch {
            applied_at: at(1),
            corrections: vec![correction(1), correction(2)],
            sinks: vec!["webhook".into(), "file".into()],
            ..ApplyBatch::default()
        };
        store.apply_batch(run_id, &batch).unwrap();
        // k1 and k2 delivered to the webhook; the file has delivered nothing yet.
        store
            .outbox_mark_delivered("webhook", &["k1".into(), "k2".into()], at(2))
            .unwrap();
        assert!(store.outbox_due("webhook", at(3), 10).unwrap().is_empty());

        // The approval's detail arrives: both corrections of proc-1 are enriched.
        assert_eq!(
            store
                .enrich_corrections("proc-1", Some("B-1"), Some(at(2)))
                .unwrap(),
            2
        );
        let again = store.outbox_due("webhook", at(3), 10).unwrap();
        assert_eq!(keys(&again), vec!["k1", "k2"]);
        assert!(again.iter().all(|item| item.correction.version == 2
            && item.attempts == 0
            && item.correction.correction.business_id.as_deref() == Some("B-1")));
        // The file, never delivered, gets the enriched correction once, at version 2.
        let file = store.outbox_due("file", at(3), 10).unwrap();
        assert_eq!(keys(&file), vec!["k1", "k2"]);
        assert!(file.iter().all(|item| item.correction.version == 2));

        // Nothing new to fill: no new version, nothing due again once delivered.
        store
            .outbox_mark_delivered("webhook", &["k1".into(), "k2".into()], at(4))
            .unwrap();
        assert_eq!(
            store
                .enrich_corrections("proc-1", Some("B-2"), Some(at(3)))
                .unwrap(),
            0
        );
        assert!(store.outbox_due("webhook", at(5), 10).unwrap().is_empty());
        assert_eq!(store.correction_by_key("k1").unwrap().unwrap().version, 2);
    }
}
