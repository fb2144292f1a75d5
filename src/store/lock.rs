//! The run lock: no two runs of one store overlap.
//!
//! The lock is one row in the store itself, so it travels with the file and needs no lock file
//! beside it. A holder is identified by `(pid, host, acquired_at)`. A lock whose holder is gone
//! is taken over inside the same immediate transaction that checks it, so two processes racing
//! for a stale lock cannot both win:
//! - on the same host, the holder is gone when its process no longer exists (`/proc/<pid>` on
//!   Linux; elsewhere the heartbeat rule below applies);
//! - on another host (a store on a shared disk), the holder is gone when its heartbeat is older
//!   than [`LOCK_STALE_AFTER`].
//!
//! [`Store::lock_run`] hands out a [`RunLock`] guard with its own connection to the store: it
//! renews the heartbeat ([`RunLock::heartbeat`]) and releases the lock when dropped (or
//! explicitly, [`RunLock::release`]), whatever the run did meanwhile. This module does not
//! schedule heartbeats; a long run calls [`RunLock::heartbeat`].

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior};

use super::Store;
use super::codec::{Reader, ms};
use super::error::{Error, Location, SqlResultExt};

/// A holder on another host whose heartbeat is older than this is presumed gone.
pub(crate) const LOCK_STALE_AFTER: Duration = Duration::hours(1);

/// Who holds (or wants) the run lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub run_id: Option<i64>,
    pub acquired_at: DateTime<Utc>,
}

impl LockHolder {
    /// This process on this host.
    pub(crate) fn current(run_id: Option<i64>, acquired_at: DateTime<Utc>) -> Self {
        LockHolder {
            pid: std::process::id(),
            host: current_host(),
            run_id,
            acquired_at,
        }
    }

    /// Whether two holders are the same acquisition (the run id may be filled in later). The
    /// acquisition instant is compared in milliseconds, as stored: one process taking the lock
    /// twice within the same millisecond would be seen as one acquisition.
    fn same_acquisition(&self, other: &LockHolder) -> bool {
        self.pid == other.pid
            && self.host == other.host
            && ms(self.acquired_at) == ms(other.acquired_at)
    }
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.run_id {
            Some(run_id) => write!(f, "run {run_id}, ")?,
            None => f.write_str("a run, ")?,
        }
        write!(
            f,
            "pid {} on {} since {}",
            self.pid,
            self.host,
            self.acquired_at.to_rfc3339()
        )
    }
}

/// How [`Store::acquire_lock`] got the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAcquired {
    /// Nobody held it.
    Fresh,
    /// This same acquisition already held it.
    AlreadyHeld,
    /// A holder that is gone held it; its lock was taken over.
    TookOver { previous: LockHolder },
}

/// The host name used in lock rows.
pub fn current_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Store {
    /// Takes the run lock for `holder`, or fails with [`Error::Locked`] naming a live holder.
    pub fn acquire_lock(&mut self, holder: &LockHolder) -> Result<LockAcquired, Error> {
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        let stored = read_lock(&transaction, &location)?;
        let acquired = match stored {
            None => LockAcquired::Fresh,
            Some((current, _)) if current.same_acquisition(holder) => LockAcquired::AlreadyHeld,
            Some((current, heartbeat)) if holder_is_alive(&current, heartbeat, holder) => {
                return Err(Error::Locked { holder: current });
            }
            Some((current, _)) => LockAcquired::TookOver { previous: current },
        };
        transaction
            .execute(
                "INSERT INTO run_lock (id, pid, host, run_id, acquired_at_ms, heartbeat_ms)
                 VALUES (1, ?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host,
                     run_id = excluded.run_id, acquired_at_ms = excluded.acquired_at_ms,
                     heartbeat_ms = excluded.heartbeat_ms",
                rusqlite::params![
                    holder.pid,
                    holder.host,
                    holder.run_id,
                    ms(holder.acquired_at)
                ],
            )
            .at(&location)?;
        transaction.commit().at(&location)?;
        if let LockAcquired::TookOver { previous } = &acquired {
            tracing::warn!(previous = %previous, store = %location, "took over a stale run lock");
        }
        Ok(acquired)
    }

    /// Takes the run lock for `holder` (as [`Store::acquire_lock`]) and returns the guard that
    /// releases it.
    pub(crate) fn lock_run(&mut self, holder: LockHolder) -> Result<RunLock, Error> {
        self.acquire_lock(&holder)?;
        let taken = (|| {
            let conn = self.target.connect(&self.location)?;
            self.target.configure(&conn, &self.location)?;
            Ok(conn)
        })();
        match taken {
            Ok(conn) => Ok(RunLock {
                conn,
                location: self.location.clone(),
                holder,
                released: false,
            }),
            Err(error) => {
                release(&self.conn, &self.location, &holder)?;
                Err(error)
            }
        }
    }

    /// Releases the lock if `holder` still holds it; returns whether it did.
    pub fn release_lock(&mut self, holder: &LockHolder) -> Result<bool, Error> {
        release(&self.conn, &self.location, holder)
    }

    /// The current holder, if any (alive or not).
    pub fn lock_holder(&self) -> Result<Option<LockHolder>, Error> {
        Ok(read_lock(&self.conn, &self.location)?.map(|(holder, _)| holder))
    }

    /// Records that `holder` is still working at `at` (and its run id, once known). Returns
    /// false when `holder` no longer holds the lock (it was taken over). The tests' way to beat
    /// for any holder; a run beats through its [`RunLock`].
    #[cfg(test)]
    pub(crate) fn heartbeat_lock(
        &mut self,
        holder: &LockHolder,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        heartbeat(&self.conn, &self.location, holder, at)
    }
}

/// The run lock while held: released when dropped, or by [`RunLock::release`] (which reports
/// a failure instead of logging it). It has its own connection to the store, so it does not
/// borrow the [`Store`] the run writes through.
#[must_use = "the lock is released when the guard is dropped"]
pub(crate) struct RunLock {
    conn: rusqlite::Connection,
    location: Location,
    holder: LockHolder,
    released: bool,
}

impl fmt::Debug for RunLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunLock")
            .field("holder", &self.holder)
            .field("store", &self.location)
            .finish_non_exhaustive()
    }
}

impl RunLock {
    /// Records that the holder is still working at `at`. Returns false when the lock was taken
    /// over meanwhile.
    pub(crate) fn heartbeat(&self, at: DateTime<Utc>) -> Result<bool, Error> {
        heartbeat(&self.conn, &self.location, &self.holder, at)
    }

    /// Releases the lock now; returns whether this holder still held it.
    pub(crate) fn release(mut self) -> Result<bool, Error> {
        self.released = true;
        release(&self.conn, &self.location, &self.holder)
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if !self.released
            && let Err(error) = release(&self.conn, &self.location, &self.holder)
        {
            tracing::warn!(error.message = %error, "cannot release the run lock");
        }
    }
}

fn release(
    conn: &rusqlite::Connection,
    location: &Location,
    holder: &LockHolder,
) -> Result<bool, Error> {
    let released = conn
        .execute(
            "DELETE FROM run_lock WHERE pid = ?1 AND host = ?2 AND acquired_at_ms = ?3",
            rusqlite::params![holder.pid, holder.host, ms(holder.acquired_at)],
        )
        .at(location)?;
    Ok(released > 0)
}

fn heartbeat(
    conn: &rusqlite::Connection,
    location: &Location,
    holder: &LockHolder,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let updated = conn
        .execute(
            "UPDATE run_lock SET heartbeat_ms = ?4, run_id = coalesce(?5, run_id)
             WHERE pid = ?1 AND host = ?2 AND acquired_at_ms = ?3",
            rusqlite::params![
                holder.pid,
                holder.host,
                ms(holder.acquired_at),
                ms(at),
                holder.run_id
            ],
        )
        .at(location)?;
    Ok(updated > 0)
}

fn read_lock(
    connection: &rusqlite::Connection,
    location: &super::error::Location,
) -> Result<Option<(LockHolder, DateTime<Utc>)>, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT pid, host, run_id, acquired_at_ms, heartbeat_ms FROM run_lock WHERE id = 1",
        )
        .at(location)?;
    let row = statement
        .query_row([], |row| {
            let reader = Reader::new(row, "run_lock");
            Ok(decode_lock(&reader))
        })
        .optional()
        .at(location)?;
    row.transpose()
}

fn decode_lock(reader: &Reader<'_, '_>) -> Result<(LockHolder, DateTime<Utc>), Error> {
    let pid = reader.int(0, "pid")?;
    let holder = LockHolder {
        pid: u32::try_from(pid).map_err(|_| Error::Decode {
            table: "run_lock",
            column: "pid",
            detail: format!("{pid} is not a process id"),
        })?,
        host: reader.text(1, "host")?,
        run_id: reader.opt_int(2, "run_id")?,
        acquired_at: reader.instant(3, "acquired_at_ms")?,
    };
    Ok((holder, reader.instant(4, "heartbeat_ms")?))
}

/// Whether the stored holder is still working, judged by the one who wants the lock.
fn holder_is_alive(current: &LockHolder, heartbeat: DateTime<Utc>, wanting: &LockHolder) -> bool {
    if current.host == wanting.host
        && let Some(exists) = process_exists(current.pid)
    {
        return exists;
    }
    wanting.acquired_at - heartbeat <= LOCK_STALE_AFTER
}

/// Whether a process with this id exists on this host; `None` where that cannot be told.
fn process_exists(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") {
        Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, store};
    use super::*;

    /// A process id no Linux system hands out (above `PID_MAX_LIMIT`).
    const DEAD_PID: u32 = u32::MAX - 1;

    fn holder(pid: u32, host: &str, hour: u32) -> LockHolder {
        LockHolder {
            pid,
            host: host.to_owned(),
            run_id: None,
            acquired_at: at(hour),
        }
    }

    #[test]
    fn a_second_acquire_fails_naming_the_live_holder() {
        let mut store = store();
        let first = LockHolder::current(Some(4), at(1));
        let second = LockHolder::current(None, at(2));
        assert_eq!(store.acquire_lock(&first).unwrap(), LockAcquired::Fresh);

        let err = store.acquire_lock(&second).unwrap_err();
        match &err {
            Error::Locked { holder } => assert_eq!(holder, &first),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains(&format!("run 4, pid {}", first.pid)),
            "{err}"
        );
        assert_eq!(
            store.acquire_lock(&first).unwrap(),
            LockAcquired::AlreadyHeld
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_lock_held_by_a_dead_process_on_this_host_is_taken_over() {
        let mut store = store();
        let dead = holder(DEAD_PID, &current_host(), 1);
        store.acquire_lock(&dead).unwrap();
        let me = LockHolder::current(None, at(1));

        let acquired = store.acquire_lock(&me).unwrap();

        assert_eq!(
            acquired,
            LockAcquired::TookOver {
                previous: dead.clone()
            }
        );
        assert_eq!(store.lock_holder().unwrap(), Some(me));
        assert!(!store.heartbeat_lock(&dead, at(2)).unwrap());
    }

    #[test]
    fn a_holder_on_another_host_is_presumed_gone_only_after_its_heartbeat_goes_stale() {
        let mut store = store();
        let remote = holder(1, "other-host", 1);
        store.acquire_lock(&remote).unwrap();
        assert!(store.heartbeat_lock(&remote, at(3)).unwrap());

        let too_early = holder(2, "this-host", 4);
        assert!(matches!(
            store.acquire_lock(&too_early),
            Err(Error::Locked { .. })
        ));

        let late_enough = holder(2, "this-host", 5);
        let acquired = store.acquire_lock(&late_enough).unwrap();
        assert!(
            matches!(acquired, LockAcquired::TookOver { .. }),
            "{acquired:?}"
        );
    }

    #[test]
    fn release_by_a_non_holder_does_nothing() {
        let mut store = store();
        let holder_now = LockHolder::current(Some(1), at(1));
        let stranger = LockHolder::current(Some(2), at(2));
        store.acquire_lock(&holder_now).unwrap();

        assert!(!store.release_lock(&stranger).unwrap());
        assert_eq!(store.lock_holder().unwrap(), Some(holder_now.clone()));
        assert!(store.release_lock(&holder_now).unwrap());
        assert_eq!(store.lock_holder().unwrap(), None);
        assert_eq!(store.acquire_lock(&stranger).unwrap(), LockAcquired::Fresh);
    }

    #[test]
    fn a_heartbeat_records_the_run_id_once_known() {
        let mut store = store();
        let mut me = LockHolder::current(None, at(1));
        store.acquire_lock(&me).unwrap();
        me.run_id = Some(9);
        assert!(store.heartbeat_lock(&me, at(2)).unwrap());
        assert_eq!(store.lock_holder().unwrap().unwrap().run_id, Some(9));
    }

    #[test]
    fn the_guard_renews_the_heartbeat_and_releases_the_lock_when_dropped() {
        let mut store = store();
        let lock = store.lock_run(LockHolder::current(None, at(1))).unwrap();
        assert!(
            store
                .acquire_lock(&LockHolder::current(None, at(2)))
                .is_err()
        );
        assert!(lock.heartbeat(at(2)).unwrap());
        drop(lock);
        assert_eq!(store.lock_holder().unwrap(), None);

        let lock = store.lock_run(LockHolder::current(None, at(3))).unwrap();
        assert!(lock.release().unwrap());
        assert_eq!(store.lock_holder().unwrap(), None);
    }
}
