//! Backfill checkpoints: a backfill is identified by its date range and user scope, and records
//! each chunk as it completes, so `backfill --resume` skips finished chunks after a crash or a
//! budget stop.
//!
//! This module does not choose chunk boundaries; it records whichever the planner uses.

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::Store;
use super::codec::{collect, date_text};
use super::error::{Error, SqlResultExt};
use crate::domain::UserId;

/// Identity of a backfill: its range and a hash of its user scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackfillKey {
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    /// `all` for the configured scope, else the SHA-256 of the sorted, deduplicated user ids.
    pub(crate) users_hash: String,
}

impl BackfillKey {
    pub(crate) fn new(from: NaiveDate, to: NaiveDate, users: Option<&[UserId]>) -> Self {
        let users_hash = match users {
            None => "all".to_owned(),
            Some(users) => {
                let mut sorted: Vec<&str> = users.iter().map(UserId::as_str).collect();
                sorted.sort_unstable();
                sorted.dedup();
                // `|` never occurs in a user id, so the joined text is unambiguous.
                hex::encode(Sha256::digest(sorted.join("|").as_bytes()))
            }
        };
        BackfillKey {
            from,
            to,
            users_hash,
        }
    }
}

/// One finished chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct BackfillChunk {
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    pub(crate) run_id: i64,
}

/// A backfill and its finished chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackfillState {
    pub(crate) id: i64,
    pub(crate) key: BackfillKey,
    /// Finished chunks, in date order.
    pub(crate) done: Vec<BackfillChunk>,
    /// Whether this backfill existed before (as opposed to just created).
    pub(crate) resumed: bool,
}

impl BackfillState {
    /// Whether the chunk `from..=to` is finished.
    pub(crate) fn is_done(&self, from: NaiveDate, to: NaiveDate) -> bool {
        self.done
            .iter()
            .any(|chunk| chunk.from == from && chunk.to == to)
    }
}

impl Store {
    /// Creates the backfill `key`, or returns the existing one with its finished chunks.
    pub(crate) fn backfill_start_or_resume(
        &mut self,
        key: &BackfillKey,
    ) -> Result<BackfillState, Error> {
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        let params = params![date_text(key.from), date_text(key.to), key.users_hash];
        let existing: Option<i64> = transaction
            .prepare_cached(
                "SELECT id FROM backfills
                 WHERE window_from = ?1 AND window_to = ?2 AND users_hash = ?3",
            )
            .at(&location)?
            .query_row(params, |row| row.get(0))
            .optional()
            .at(&location)?;
        let (id, resumed) = match existing {
            Some(id) => (id, true),
            None => {
                transaction
                    .prepare_cached(
                        "INSERT INTO backfills (window_from, window_to, users_hash)
                         VALUES (?1, ?2, ?3)",
                    )
                    .at(&location)?
                    .execute(params)
                    .at(&location)?;
                (transaction.last_insert_rowid(), false)
            }
        };
        transaction.commit().at(&location)?;
        Ok(BackfillState {
            id,
            key: key.clone(),
            done: self.backfill_chunks(id)?,
            resumed,
        })
    }

    /// Forgets the finished chunks of `key` so it runs again from the start.
    pub(crate) fn backfill_reset(&mut self, key: &BackfillKey) -> Result<BackfillState, Error> {
        let state = self.backfill_start_or_resume(key)?;
        self.conn
            .execute(
                "DELETE FROM backfill_chunks WHERE backfill_id = ?1",
                [state.id],
            )
            .at(&self.location)?;
        Ok(BackfillState {
            done: Vec::new(),
            ..state
        })
    }

    /// Records that the chunk `chunk_from..=chunk_to` of a backfill finished in `run_id`.
    pub(crate) fn backfill_chunk_done(
        &mut self,
        backfill_id: i64,
        chunk_from: NaiveDate,
        chunk_to: NaiveDate,
        run_id: i64,
    ) -> Result<(), Error> {
        let exists: bool = self
            .conn
            .prepare_cached("SELECT count(*) FROM backfills WHERE id = ?1")
            .at(&self.location)?
            .query_row([backfill_id], |row| row.get(0))
            .at(&self.location)?;
        if !exists {
            return Err(Error::UnknownBackfill { backfill_id });
        }
        self.require_run(run_id)?;
        self.conn
            .prepare_cached(
                "INSERT INTO backfill_chunks (backfill_id, chunk_from, chunk_to, run_id)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (backfill_id, chunk_from, chunk_to) DO UPDATE SET run_id = excluded.run_id",
            )
            .at(&self.location)?
            .execute(params![
                backfill_id,
                date_text(chunk_from),
                date_text(chunk_to),
                run_id
            ])
            .at(&self.location)?;
        Ok(())
    }

    fn backfill_chunks(&self, backfill_id: i64) -> Result<Vec<BackfillChunk>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT chunk_from, chunk_to, run_id FROM backfill_chunks WHERE backfill_id = ?1
                 ORDER BY chunk_from, chunk_to",
            )
            .at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            [backfill_id],
            "backfill_chunks",
            |reader| {
                Ok(BackfillChunk {
                    from: reader.date(0, "chunk_from")?,
                    to: reader.date(1, "chunk_to")?,
                    run_id: reader.int(2, "run_id")?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{day, new_run, store, user};
    use super::*;

    #[test]
    fn a_backfill_resumes_with_its_finished_chunks() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(14))).unwrap();
        let key = BackfillKey::new(day(1), day(14), Some(&[user("b"), user("a"), user("a")]));
        let fresh = store.backfill_start_or_resume(&key).unwrap();
        assert!(!fresh.resumed);
        assert!(fresh.done.is_empty());
        store
            .backfill_chunk_done(fresh.id, day(1), day(7), run_id)
            .unwrap();
        store
            .backfill_chunk_done(fresh.id, day(1), day(7), run_id)
            .unwrap();

        let same_scope = BackfillKey::new(day(1), day(14), Some(&[user("a"), user("b")]));
        let resumed = store.backfill_start_or_resume(&same_scope).unwrap();
        assert!(resumed.resumed);
        assert_eq!(resumed.id, fresh.id);
        assert_eq!(
            resumed.done,
            vec![BackfillChunk {
                from: day(1),
                to: day(7),
                run_id
            }]
        );
        assert!(resumed.is_done(day(1), day(7)));
        assert!(!resumed.is_done(day(8), day(14)));

        let other_scope = BackfillKey::new(day(1), day(14), None);
        assert_ne!(
            store.backfill_start_or_resume(&other_scope).unwrap().id,
            fresh.id
        );
        assert!(store.backfill_reset(&key).unwrap().done.is_empty());
        assert!(
            store
                .backfill_start_or_resume(&key)
                .unwrap()
                .done
                .is_empty()
        );
    }

    #[test]
    fn a_chunk_of_an_unknown_backfill_is_refused() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(14))).unwrap();
        let err = store
            .backfill_chunk_done(3, day(1), day(7), run_id)
            .unwrap_err();
        assert!(
            matches!(err, Error::UnknownBackfill { backfill_id: 3 }),
            "{err}"
        );
    }
}
