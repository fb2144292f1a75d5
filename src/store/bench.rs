//! The yardstick for the engine benchmark: a plain bulk insert of slot rows into a fresh SQLite
//! file, with the same connection settings and the same table shape as the store's `slots`, but
//! none of the store's bookkeeping (no ledger, no history, no secondary index, no identity
//! checks).
//!
//! PRODUCT.md section 8 asks for diff + apply of a million slots within twice the time of this.
//! It lives here because SQL lives only in `store/`. It is not used by any command.

use std::path::Path;

use rusqlite::{Connection, params};

use super::codec::{date_text, ms, opt_ms};
use super::error::{Error, Location, SqlResultExt};
use crate::domain::Slot;

/// Inserts `slots` into a new table `slots` of a new database at `path` (which must not exist),
/// `batch_size` rows per transaction.
pub(crate) fn plain_bulk_insert(
    path: &Path,
    slots: &[Slot],
    batch_size: usize,
) -> Result<(), Error> {
    let location = Location::file(path);
    if path.exists() {
        return Err(Error::Unstorable {
            what: "benchmark database",
            detail: format!("{} already exists; expected a fresh path", path.display()),
        });
    }
    let mut connection = Connection::open(path).at(&location)?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .at(&location)?;
    connection
        .pragma_update(None, "synchronous", "FULL")
        .at(&location)?;
    connection
        .execute_batch(
            "CREATE TABLE slots (
                slot_key TEXT PRIMARY KEY, user_id TEXT NOT NULL, work_date TEXT NOT NULL,
                check_type TEXT NOT NULL, plan_id INTEGER, base_check_ms INTEGER NOT NULL,
                user_check_ms INTEGER, time_result TEXT NOT NULL, location_result TEXT NOT NULL,
                source_type TEXT NOT NULL, proc_inst_id TEXT, approve_id INTEGER,
                record_id INTEGER, group_id INTEGER, row_id INTEGER
            ) STRICT, WITHOUT ROWID;",
        )
        .at(&location)?;
    for chunk in slots.chunks(batch_size.max(1)) {
        let transaction = connection.transaction().at(&location)?;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO slots VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                         ?13, ?14, ?15)",
                )
                .at(&location)?;
            for slot in chunk {
                insert
                    .execute(params![
                        slot.key().canonical(),
                        slot.user_id.as_str(),
                        date_text(slot.work_date),
                        slot.check_type.as_str(),
                        slot.plan_id,
                        ms(slot.base_check_time),
                        opt_ms(slot.user_check_time),
                        slot.time_result.as_str(),
                        slot.location_result.as_str(),
                        slot.source_type.as_str(),
                        slot.process_instance_id,
                        slot.approve_id,
                        slot.record_id,
                        slot.group_id,
                        slot.row_id,
                    ])
                    .at(&location)?;
            }
        }
        transaction.commit().at(&location)?;
    }
    Ok(())
}
