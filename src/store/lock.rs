//! The run lock: no two runs of one store overlap.
//!
//! The lock is one row in the store itself, so it travels with the file and needs no lock file
//! beside it. A holder is identified by its pid and host, its process's start (the kernel's boot
//! id and the start time in clock ticks since boot, `/proc/<pid>/stat` field 22, on Linux) and a
//! random token drawn for each acquisition. A lock whose holder is gone is taken over inside the
//! same immediate transaction that checks it, so two processes racing for a stale lock cannot
//! both win. The holder is gone when:
//! - its heartbeat is older than [`LOCK_STALE_AFTER`] ([`STALE_AFTER_BEATS`] ×
//!   [`HEARTBEAT_EVERY`]), on any host and whatever its pid says;
//! - on the same host, its pid names no process, or a process that started at another time or
//!   before another boot (the pid was reused: a restarted container's PID 1 on the same
//!   hostname). The pid is evidence at once only when the holder's pid namespace is known to be
//!   the reader's; otherwise (a container sharing the host name and the store, with pids and a
//!   boot id of its own) only once the heartbeat has missed [`PROCESS_EVIDENCE_AFTER_BEATS`]
//!   beats, so a run that is beating is never taken over on the word of another `/proc`.
//!
//! Whoever takes the lock marks every run still `running` as `abandoned` (nobody else holds the
//! lock, so those runs lost their process: killed, rebooted, taken over).
//!
//! [`Store::lock_run`] hands out a [`RunLock`] guard with its own connection to the store and a
//! thread that renews the heartbeat every [`HEARTBEAT_EVERY`] for as long as the guard lives,
//! whatever the run is doing (a long page loop, a backoff, a slow apply). The guard releases the
//! lock when dropped (or explicitly, [`RunLock::release`]). If the lock is found taken over, the
//! heartbeat thread says so once and calls the guard's `on_lost` (the run's stop flag).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior};

use super::Store;
use super::codec::{Reader, ms};
use super::error::{Error, Location, SqlResultExt};
use super::runs;

mod process;

pub use process::ProcessStart;
use process::process_gone;

/// How often a held lock's heartbeat is renewed (by the guard's own thread).
pub(crate) const HEARTBEAT_EVERY: StdDuration = StdDuration::from_secs(30);

/// Missed heartbeats after which a holder is presumed gone. A beat is a one-row update from a
/// thread of its own, so beats stop only when the whole process stops (killed, `SIGSTOP`, a
/// suspended machine); one beat may wait up to the store's 10 s busy timeout behind a writer.
/// Ten beats (5 minutes) leave a wide margin for that and for small clock differences between
/// hosts sharing a store, while a dead holder blocks the nightly run for minutes, not hours.
pub(crate) const STALE_AFTER_BEATS: i32 = 10;

/// Missed heartbeats after which this host's process table counts as evidence about a holder
/// in another (or an unknown) pid namespace: a live holder beats every [`HEARTBEAT_EVERY`].
pub(crate) const PROCESS_EVIDENCE_AFTER_BEATS: i32 = 3;

/// A holder whose heartbeat is older than this is presumed gone, on any host.
pub(crate) const LOCK_STALE_AFTER: Duration =
    Duration::seconds(HEARTBEAT_EVERY.as_secs() as i64 * STALE_AFTER_BEATS as i64);

/// Who holds (or wants) the run lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// When the holding process started; `None` where that cannot be read (or in a row written
    /// before it was recorded).
    pub process_start: Option<ProcessStart>,
    /// Drawn at random for each acquisition; heartbeats and the release name it.
    pub token: String,
    pub run_id: Option<i64>,
    pub acquired_at: DateTime<Utc>,
}

impl LockHolder {
    /// Process `pid` on this host taking the lock at `acquired_at`: its start read from the
    /// kernel, a fresh token.
    pub fn on_this_host(pid: u32, run_id: Option<i64>, acquired_at: DateTime<Utc>) -> Self {
        LockHolder {
            pid,
            host: current_host(),
            process_start: ProcessStart::of(pid),
            token: new_token(),
            run_id,
            acquired_at,
        }
    }

    /// This process on this host.
    pub(crate) fn current(run_id: Option<i64>, acquired_at: DateTime<Utc>) -> Self {
        LockHolder::on_this_host(std::process::id(), run_id, acquired_at)
    }

    /// Whether two holders are the same acquisition (the run id may be filled in later).
    fn same_acquisition(&self, other: &LockHolder) -> bool {
        self.token == other.token
    }
}

/// 128 random bits, hex: what names one acquisition of the lock. Not a secret.
fn new_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
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
    TookOver { previous: LockHolder, gone: Gone },
}

/// The lock as [`Store::lock_state`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockState {
    pub(crate) holder: LockHolder,
    pub(crate) heartbeat: DateTime<Utc>,
    /// Why the holder is presumed gone; `None` while it is alive.
    pub(crate) gone: Option<Gone>,
}

/// Why a holder is presumed gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gone {
    /// Its heartbeat is older than [`LOCK_STALE_AFTER`].
    StaleHeartbeat { age: Duration },
    /// No process has its pid on this host.
    NoProcess,
    /// A process started at another time holds its pid now.
    PidReused,
    /// This host was rebooted since it took the lock.
    Rebooted,
}

impl fmt::Display for Gone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gone::StaleHeartbeat { age } => write!(
                f,
                "its last heartbeat is {} s old (a holder beats every {} s and is presumed gone \
                 after {} s)",
                age.num_seconds(),
                HEARTBEAT_EVERY.as_secs(),
                LOCK_STALE_AFTER.num_seconds()
            ),
            Gone::NoProcess => f.write_str("no process has its pid on this host"),
            Gone::PidReused => {
                f.write_str("its pid now belongs to another process (started at another time)")
            }
            Gone::Rebooted => f.write_str("this host was rebooted since it took the lock"),
        }
    }
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
    /// Taking it (fresh or over a gone holder) marks every run still `running` as abandoned.
    pub fn acquire_lock(&mut self, holder: &LockHolder) -> Result<LockAcquired, Error> {
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        let stored = read_lock(&transaction, &location)?;
        let acquired = match stored {
            None => LockAcquired::Fresh,
            Some((current, _)) if current.same_acquisition(holder) => {
                return Ok(LockAcquired::AlreadyHeld);
            }
            Some((current, heartbeat)) => {
                match holder_gone(&current, heartbeat, holder.acquired_at, &holder.host) {
                    None => {
                        return Err(Error::Locked {
                            holder: Box::new(current),
                        });
                    }
                    Some(gone) => LockAcquired::TookOver {
                        previous: current,
                        gone,
                    },
                }
            }
        };
        let (process_boot, process_ticks, process_ns) = match &holder.process_start {
            Some(start) => (
                Some(start.boot_id.as_str()),
                Some(start.start_ticks),
                start.pid_ns.as_deref(),
            ),
            None => (None, None, None),
        };
        transaction
            .execute(
                "INSERT INTO run_lock (id, pid, host, run_id, acquired_at_ms, heartbeat_ms,
                     boot_id, start_ticks, token, pid_ns)
                 VALUES (1, ?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host,
                     run_id = excluded.run_id, acquired_at_ms = excluded.acquired_at_ms,
                     heartbeat_ms = excluded.heartbeat_ms, boot_id = excluded.boot_id,
                     start_ticks = excluded.start_ticks, token = excluded.token,
                     pid_ns = excluded.pid_ns",
                rusqlite::params![
                    holder.pid,
                    holder.host,
                    holder.run_id,
                    ms(holder.acquired_at),
                    process_boot,
                    process_ticks.map(|ticks| i64::try_from(ticks).unwrap_or(i64::MAX)),
                    holder.token,
                    process_ns,
                ],
            )
            .at(&location)?;
        let reason = match &acquired {
            LockAcquired::TookOver { previous, gone } => format!(
                "abandoned: the run lock of {previous} was taken over at {}: {gone}",
                holder.acquired_at.to_rfc3339()
            ),
            _ => format!(
                "abandoned: found unfinished, with no run holding the lock, at {}",
                holder.acquired_at.to_rfc3339()
            ),
        };
        let abandoned =
            runs::abandon_running(&transaction, &location, holder.acquired_at, &reason)?;
        transaction.commit().at(&location)?;
        if let LockAcquired::TookOver { previous, gone } = &acquired {
            tracing::warn!(previous = %previous, reason = %gone, store = %location, "took over a stale run lock");
        }
        if !abandoned.is_empty() {
            tracing::warn!(runs = ?abandoned, store = %location, "runs left unfinished by a process that is gone are marked abandoned");
        }
        Ok(acquired)
    }

    /// Takes the run lock for `holder` (as [`Store::acquire_lock`]) and returns the guard that
    /// beats every [`HEARTBEAT_EVERY`] and releases it. `on_lost` is called (once, from the
    /// heartbeat thread) if the lock is found taken over meanwhile.
    pub(crate) fn lock_run(
        &mut self,
        holder: LockHolder,
        on_lost: impl Fn() + Send + 'static,
    ) -> Result<RunLock, Error> {
        self.lock_run_beating(holder, HEARTBEAT_EVERY, on_lost)
    }

    /// [`Store::lock_run`] with the heartbeat interval given (tests beat faster).
    fn lock_run_beating(
        &mut self,
        holder: LockHolder,
        every: StdDuration,
        on_lost: impl Fn() + Send + 'static,
    ) -> Result<RunLock, Error> {
        self.acquire_lock(&holder)?;
        let taken = (|| {
            let conn = self.target.connect(&self.location)?;
            self.target.configure(&conn, &self.location)?;
            Ok(conn)
        })();
        let conn = match taken {
            Ok(conn) => conn,
            Err(error) => {
                release(&self.conn, &self.location, &holder)?;
                return Err(error);
            }
        };
        let held = Arc::new(Held {
            conn: Mutex::new(conn),
            location: self.location.clone(),
            holder,
            lost: AtomicBool::new(false),
        });
        let (stop_beating, beats) = mpsc::channel::<()>();
        let beating = std::thread::Builder::new()
            .name("run-lock-heartbeat".into())
            .spawn({
                let held = held.clone();
                move || beat_until_stopped(&held, every, &beats, on_lost)
            });
        match beating {
            Ok(thread) => Ok(RunLock {
                held,
                beating: Some((stop_beating, thread)),
                released: false,
            }),
            Err(error) => {
                release(&self.conn, &self.location, &held.holder)?;
                Err(self
                    .location
                    .io("start the run lock's heartbeat thread", error))
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

    /// The lock as a reader on this host sees it at `now` (real time): its holder, its last
    /// heartbeat and, when the holder is presumed gone, why (the next run takes the lock over).
    pub(crate) fn lock_state(&self, now: DateTime<Utc>) -> Result<Option<LockState>, Error> {
        Ok(
            read_lock(&self.conn, &self.location)?.map(|(holder, heartbeat)| LockState {
                gone: holder_gone(&holder, heartbeat, now, &current_host()),
                holder,
                heartbeat,
            }),
        )
    }

    /// Records that `holder` is still working at `at` (and its run id, once known). Returns
    /// false when `holder` no longer holds the lock (it was taken over). The tests' way to beat
    /// for any holder at any instant; a run beats through its [`RunLock`].
    #[cfg(test)]
    pub(crate) fn heartbeat_lock(
        &mut self,
        holder: &LockHolder,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        heartbeat(&self.conn, &self.location, holder, at)
    }
}

/// What the guard and its heartbeat thread share.
struct Held {
    /// The guard's own connection: a run's long write transaction on the store's connection
    /// must not hold up the heartbeat longer than the busy timeout.
    conn: Mutex<rusqlite::Connection>,
    location: Location,
    holder: LockHolder,
    /// Set once the lock is found taken over.
    lost: AtomicBool,
}

impl Held {
    fn beat(&self, at: DateTime<Utc>) -> Result<bool, Error> {
        if self.lost.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let held = heartbeat(&conn, &self.location, &self.holder, at)?;
        if !held {
            self.lost.store(true, Ordering::SeqCst);
        }
        Ok(held)
    }
}

/// The heartbeat thread: beats every `every` until the guard says stop (or is gone).
fn beat_until_stopped(
    held: &Held,
    every: StdDuration,
    stop: &mpsc::Receiver<()>,
    on_lost: impl Fn(),
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        match held.beat(Utc::now()) {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(holder = %held.holder, store = %held.location, "the run lock was taken over by another run: stopping");
                on_lost();
                return;
            }
            Err(error) => {
                tracing::warn!(error.message = %error, "cannot renew the run lock's heartbeat");
            }
        }
    }
}

/// The run lock while held: released when dropped, or by [`RunLock::release`] (which reports
/// a failure instead of logging it). It has its own connection to the store, so it does not
/// borrow the [`Store`] the run writes through, and a thread renewing its heartbeat.
#[must_use = "the lock is released when the guard is dropped"]
pub(crate) struct RunLock {
    held: Arc<Held>,
    /// Closing the channel stops the heartbeat thread, which is then joined.
    beating: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
    released: bool,
}

impl fmt::Debug for RunLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunLock")
            .field("holder", &self.held.holder)
            .field("store", &self.held.location)
            .finish_non_exhaustive()
    }
}

impl RunLock {
    /// Records that the holder is still working at `at`. Returns false when the lock was taken
    /// over meanwhile.
    pub(crate) fn heartbeat(&self, at: DateTime<Utc>) -> Result<bool, Error> {
        self.held.beat(at)
    }

    /// Releases the lock now; returns whether this holder still held it.
    pub(crate) fn release(mut self) -> Result<bool, Error> {
        self.released = true;
        self.stop_beating();
        let conn = self
            .held
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        release(&conn, &self.held.location, &self.held.holder)
    }

    fn stop_beating(&mut self) {
        if let Some((stop, thread)) = self.beating.take() {
            drop(stop);
            if thread.join().is_err() {
                tracing::warn!("the run lock's heartbeat thread panicked");
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.stop_beating();
        if self.released {
            return;
        }
        let conn = self
            .held
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = release(&conn, &self.held.location, &self.held.holder) {
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
        .execute("DELETE FROM run_lock WHERE token = ?1", [&holder.token])
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
            "UPDATE run_lock SET heartbeat_ms = ?2, run_id = coalesce(?3, run_id)
             WHERE token = ?1",
            rusqlite::params![holder.token, ms(at), holder.run_id],
        )
        .at(location)?;
    Ok(updated > 0)
}

fn read_lock(
    connection: &rusqlite::Connection,
    location: &Location,
) -> Result<Option<(LockHolder, DateTime<Utc>)>, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT pid, host, run_id, acquired_at_ms, heartbeat_ms, boot_id, start_ticks, token,
                 pid_ns
             FROM run_lock WHERE id = 1",
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
    let process_start = match (
        reader.opt_text(5, "boot_id")?,
        reader.opt_int(6, "start_ticks")?,
    ) {
        (Some(boot_id), Some(ticks)) => Some(ProcessStart {
            boot_id,
            pid_ns: reader.opt_text(8, "pid_ns")?,
            start_ticks: u64::try_from(ticks).map_err(|_| Error::Decode {
                table: "run_lock",
                column: "start_ticks",
                detail: format!("{ticks} is not a process start time in clock ticks"),
            })?,
        }),
        _ => None,
    };
    let holder = LockHolder {
        pid: u32::try_from(pid).map_err(|_| Error::Decode {
            table: "run_lock",
            column: "pid",
            detail: format!("{pid} is not a process id"),
        })?,
        host: reader.text(1, "host")?,
        process_start,
        token: reader.text(7, "token")?,
        run_id: reader.opt_int(2, "run_id")?,
        acquired_at: reader.instant(3, "acquired_at_ms")?,
    };
    Ok((holder, reader.instant(4, "heartbeat_ms")?))
}

/// Why the stored holder is presumed gone, judged at `now` from `host`; `None` while it is
/// alive.
fn holder_gone(
    current: &LockHolder,
    heartbeat: DateTime<Utc>,
    now: DateTime<Utc>,
    host: &str,
) -> Option<Gone> {
    let age = now - heartbeat;
    if age > LOCK_STALE_AFTER {
        return Some(Gone::StaleHeartbeat { age });
    }
    if current.host != host {
        return None;
    }
    let holder_ns = current
        .process_start
        .as_ref()
        .and_then(|start| start.pid_ns.as_deref());
    let same_namespace =
        holder_ns.is_some() && holder_ns == process::own_pid_namespace().as_deref();
    let beats_missed =
        Duration::seconds(HEARTBEAT_EVERY.as_secs() as i64 * PROCESS_EVIDENCE_AFTER_BEATS as i64);
    if !same_namespace && age <= beats_missed {
        return None;
    }
    process_gone(current.pid, current.process_start.as_ref())
}

#[cfg(test)]
mod tests;
