//! The SQLite store: what makes the job impossible to corrupt by a crash.
//!
//! One file holds the snapshot of every slot and its change history, the approvals (raw JSON
//! kept), the ledger, the corrections journal with its per-sink outbox, the runs, per-run
//! findings, backfill checkpoints, the call ledger and the run lock. The schema is
//! `schema.sql` (migration 1) and the later migrations in `migrations/`; see `open::MIGRATIONS`.
//!
//! # Invariants
//!
//! - **Exactly once.** A correction is journaled under a UNIQUE idempotency key, and the ledger
//!   row and outbox rows change only for a newly journaled correction, in the same transaction
//!   ([`Store::apply_batch`]). A crash anywhere and a rerun never applies anything twice and
//!   never loses anything; applying the same batch twice equals applying it once.
//! - **Ours or nothing.** A file is written only after it is identified as ours (application id
//!   and `meta` row) or as an empty database; newer schemas, foreign and corrupted files are
//!   refused with an error naming the path.
//! - **Owner-only.** A new store file is created mode 0600 before SQLite opens it; SQLite gives
//!   its `-wal`/`-shm` files the same mode.
//! - **No secrets.** Nothing stored comes from the configuration's secrets.
//!
//! # Layout
//!
//! `open` (identify, migrate), `lock`, `runs`, `snapshot` (slots and history), `apply` (the one
//! write path of a reconciliation batch), `ledger` (ledger, journal and findings reads),
//! `approvals`, `outbox`, `backfill`, `calls` (the call ledger and its own connection), `codec`
//! (SQL values to domain types).
//!
//! # Concurrency
//!
//! [`Store`] owns one connection and its methods are synchronous; async callers use
//! `spawn_blocking`. [`CallLog`] owns a second connection to the same database, so the HTTP
//! client can record calls from any task while a batch is being applied. SQL appears in this
//! module tree only.

mod apply;
mod approvals;
mod backfill;
mod calls;
mod codec;
mod error;
mod ledger;
mod lock;
mod open;
mod outbox;
mod people;
mod planner;
mod quota_exhaustion;
mod report_deliveries;
mod runs;
mod snapshot;

#[cfg(test)]
mod test_support;

use std::path::Path;

use rusqlite::Connection;

pub use apply::ApplyBatch;
pub(crate) use apply::{ApplyOutcome, Observation, ObservedChange};
pub(crate) use approvals::{ListedApproval, StoredApproval};
pub(crate) use backfill::BackfillKey;
pub(crate) use calls::{CallLog, business_month};
pub(crate) use error::Error;
pub(crate) use ledger::{FindingRow, LedgerRow, StoredCorrection, StoredFinding};
pub(crate) use lock::RunLock;
pub use lock::{Gone, LockAcquired, LockHolder, ProcessStart, current_host};
pub(crate) use people::KnownPerson;
pub use quota_exhaustion::QuotaExhaustion;
pub(crate) use report_deliveries::ReportJournal;
pub(crate) use runs::StoredRun;
pub use runs::{NewRun, RunEnd, RunKind, RunOutcome};
#[cfg(test)]
pub(crate) use snapshot::HistoryChange;
pub(crate) use snapshot::{HistoryEntry, StoredSlot};

use error::Location;
use open::Target;

/// The store: one SQLite database, one connection.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    location: Location,
    /// What further connections (the call log) open to reach the same database.
    target: Target,
}

impl Store {
    /// Opens the store at `path`, creating it (mode 0600) when absent and migrating it to
    /// [`SCHEMA_VERSION`]. Refuses newer, foreign and corrupted files.
    pub fn open(path: &Path) -> Result<Store, Error> {
        let target = Target::File(path.to_path_buf());
        let location = Location::file(path);
        let conn = open::open(&target, &location)?;
        Ok(Store {
            conn,
            location,
            target,
        })
    }

    /// A store in memory, private to this process; it lives until the store and every
    /// [`CallLog`] taken from it are dropped.
    pub fn open_in_memory() -> Result<Store, Error> {
        let target = Target::memory();
        let location = Location::memory();
        let conn = open::open(&target, &location)?;
        Ok(Store {
            conn,
            location,
            target,
        })
    }
}
