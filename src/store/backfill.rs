//! Backfill checkpoints: a backfill is identified by its date range and user scope, and records
//! each chunk as it completes, so `backfill --resume` skips finished chunks after a crash or a
//! budget stop.
//!
//! This module does not choose chunk boundaries; it records whichever the planner uses.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::Store;
use super::codec::{collect, count, date_text, ms, to_json};
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

/// A backfill on the queue the nightly runs work through (`backfill --queue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueuedBackfill {
    pub(crate) state: BackfillState,
    /// The users it is limited to; `None`: the configured scope.
    pub(crate) users: Option<Vec<UserId>>,
    pub(crate) queued_at: DateTime<Utc>,
    /// What its chunks left were estimated to cost when it was (last) queued.
    pub(crate) estimated_calls: u64,
    /// Metered calls its finished chunks' runs spent.
    pub(crate) spent: u64,
}

impl Store {
    /// Puts the backfill `key` on the queue (creating it if new, keeping the chunks it has
    /// finished); queuing it again changes nothing but the users it is limited to.
    pub(crate) fn backfill_enqueue(
        &mut self,
        key: &BackfillKey,
        users: Option<&[UserId]>,
        estimated_calls: u64,
        at: DateTime<Utc>,
    ) -> Result<BackfillState, Error> {
        let state = self.backfill_start_or_resume(key)?;
        let users = users
            .map(|users| {
                let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
                to_json("a queued backfill's users", &ids)
            })
            .transpose()?;
        self.conn
            .execute(
                "UPDATE backfills SET queued_at_ms = coalesce(queued_at_ms, ?2), users = ?3,
                 estimated_calls = ?4, finished_at_ms = NULL WHERE id = ?1",
                params![
                    state.id,
                    ms(at),
                    users,
                    i64::try_from(estimated_calls).unwrap_or(i64::MAX)
                ],
            )
            .at(&self.location)?;
        Ok(state)
    }

    /// Takes the backfill `key` off the queue; `false` when it was not queued (or had finished).
    /// Its finished chunks stay: `backfill --resume` or queuing it again goes on from them.
    pub(crate) fn backfill_unqueue(&mut self, key: &BackfillKey) -> Result<bool, Error> {
        let changed = self
            .conn
            .execute(
                "UPDATE backfills SET queued_at_ms = NULL
                 WHERE window_from = ?1 AND window_to = ?2 AND users_hash = ?3
                   AND queued_at_ms IS NOT NULL AND finished_at_ms IS NULL",
                params![date_text(key.from), date_text(key.to), key.users_hash],
            )
            .at(&self.location)?;
        Ok(changed > 0)
    }

    /// Records that the queued backfill `backfill_id` has finished all its chunks.
    pub(crate) fn backfill_queue_finished(
        &mut self,
        backfill_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE backfills SET finished_at_ms = ?2 WHERE id = ?1",
                params![backfill_id, ms(at)],
            )
            .map(|_| ())
            .at(&self.location)
    }

    /// The queued backfills not yet finished, oldest work dates first (the payroll month that
    /// closed first comes first).
    pub(crate) fn queued_backfills(&self) -> Result<Vec<QueuedBackfill>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT b.id, b.window_from, b.window_to, b.users_hash, b.users, b.queued_at_ms,
                        coalesce(b.estimated_calls, 0),
                        (SELECT count(*) FROM calls c JOIN backfill_chunks k ON c.run_id = k.run_id
                         WHERE k.backfill_id = b.id AND c.metered = 1)
                 FROM backfills b
                 WHERE b.queued_at_ms IS NOT NULL AND b.finished_at_ms IS NULL
                 ORDER BY b.window_from, b.window_to, b.id",
            )
            .at(&self.location)?;
        let rows = collect(&self.location, &mut statement, [], "backfills", |reader| {
            let users: Option<Vec<String>> = reader.opt_json(4, "users")?;
            let users = users
                .map(|ids| {
                    ids.into_iter()
                        .map(|id| UserId::new(id).map_err(|err| reader.decode_error("users", err)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            Ok((
                reader.int(0, "id")?,
                BackfillKey {
                    from: reader.date(1, "window_from")?,
                    to: reader.date(2, "window_to")?,
                    users_hash: reader.text(3, "users_hash")?,
                },
                users,
                reader.instant(5, "queued_at_ms")?,
                (
                    count(reader.int(6, "estimated_calls")?),
                    count(reader.int(7, "spent")?),
                ),
            ))
        })?;
        rows.into_iter()
            .map(|(id, key, users, queued_at, (estimated_calls, spent))| {
                Ok(QueuedBackfill {
                    state: BackfillState {
                        id,
                        key,
                        done: self.backfill_chunks(id)?,
                        resumed: true,
                    },
                    users,
                    queued_at,
                    estimated_calls,
                    spent,
                })
            })
            .collect()
    }

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
    fn the_queue_keeps_users_and_finished_chunks_oldest_range_first_until_finished() {
        let mut store = store();
        let at = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let later = BackfillKey::new(day(8), day(14), None);
        let users = [user("0042"), user("a")];
        let earlier = BackfillKey::new(day(1), day(7), Some(&users));
        store.backfill_enqueue(&later, None, 40, at).unwrap();
        let queued = store
            .backfill_enqueue(&earlier, Some(&users), 9, at)
            .unwrap();
        store
            .backfill_chunk_done(queued.id, day(1), day(7), run_id)
            .unwrap();
        // Queuing again keeps the first queuing time and the finished chunks.
        store
            .backfill_enqueue(&earlier, Some(&users), 5, at + chrono::Duration::days(1))
            .unwrap();

        let queue = store.queued_backfills().unwrap();
        assert_eq!(queue.len(), 2);
        assert_eq!(queue[0].state.key, earlier);
        assert_eq!(queue[0].users.as_deref(), Some(&users[..]));
        assert_eq!(queue[0].queued_at, at);
        assert!(queue[0].state.is_done(day(1), day(7)));
        assert_eq!(queue[1].state.key, later);
        assert_eq!(queue[0].estimated_calls, 5, "the latest estimate");
        assert_eq!(queue[1].users, None);
        assert_eq!((queue[1].estimated_calls, queue[1].spent), (40, 0));

        store
            .backfill_queue_finished(queue[0].state.id, at)
            .unwrap();
        assert!(store.backfill_unqueue(&later).unwrap());
        assert!(!store.backfill_unqueue(&later).unwrap());
        assert!(!store.backfill_unqueue(&earlier).unwrap(), "finished");
        assert!(store.queued_backfills().unwrap().is_empty());
        // A backfill never queued is not on the queue.
        store
            .backfill_start_or_resume(&BackfillKey::new(day(15), day(21), None))
            .unwrap();
        assert!(store.queued_backfills().unwrap().is_empty());
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
