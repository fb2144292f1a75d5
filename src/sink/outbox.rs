//! What delivery needs from the outbox, as a trait: the store implements it over its `outbox`
//! table (rows are enqueued by `Store::apply_batch` in the transaction that journals each
//! correction); tests may implement it in memory. Each method mirrors the store's `outbox_*`
//! method of the same name (`due` ↔ `Store::outbox_due`, …), with the same arguments in the same
//! order.
//!
//! The contract every implementation keeps:
//! - `due` returns undelivered items of one sink whose next attempt is at or before `now`,
//!   oldest first, at most `limit`.
//! - `mark_delivered` sets the delivery time; a delivered item is never due again.
//! - `mark_failed` counts one more attempt and records the error text and the next attempt time.
//!
//! This module does not send anything and does not choose the retry schedule.

use chrono::{DateTime, Utc};

use crate::report::CorrectionLine;
use crate::report::build::correction_line;
use crate::store::{self, Store};

/// One correction awaiting delivery to one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCorrection {
    pub(crate) correction: CorrectionLine,
    /// Failed attempts so far.
    pub(crate) attempts: u64,
}

/// The outbox operations delivery uses (contract in the module doc).
pub trait Outbox {
    type Error: std::error::Error + Send + Sync + 'static;

    fn due(
        &mut self,
        sink: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueCorrection>, Self::Error>;

    fn mark_delivered(
        &mut self,
        sink: &str,
        keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), Self::Error>;

    fn mark_failed(
        &mut self,
        sink: &str,
        keys: &[String],
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), Self::Error>;
}

impl Outbox for Store {
    type Error = store::Error;

    fn due(
        &mut self,
        sink: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueCorrection>, store::Error> {
        let items = self.outbox_due(sink, now, limit)?;
        Ok(items
            .iter()
            .map(|item| DueCorrection {
                correction: correction_line(&item.correction),
                attempts: item.attempts,
            })
            .collect())
    }

    fn mark_delivered(
        &mut self,
        sink: &str,
        keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), store::Error> {
        self.outbox_mark_delivered(sink, keys, at)
    }

    fn mark_failed(
        &mut self,
        sink: &str,
        keys: &[String],
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), store::Error> {
        self.outbox_mark_failed(sink, keys, error, next_attempt_at)
    }
}
