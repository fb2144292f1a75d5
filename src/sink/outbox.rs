//! What delivery needs from the outbox, as a trait: the store implements it over its `outbox`
//! table; tests may implement it in memory.
//!
//! The contract every implementation keeps:
//! - `outbox_enqueue` adds, for one sink, every journaled correction the sink has no row for
//!   yet, due immediately; calling it again adds nothing.
//! - `outbox_due` returns undelivered items whose next attempt is at or before `now`, oldest
//!   correction first, at most `limit`.
//! - `outbox_delivered` sets the delivery time; a delivered item is never due again.
//! - `outbox_failed` counts one more attempt, records the error text and the next attempt time.
//!
//! This module does not send anything.

use chrono::{DateTime, Utc};

use crate::report::CorrectionLine;

/// One correction awaiting delivery to one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub correction: CorrectionLine,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// The outbox operations delivery uses (contract in the module doc).
pub trait Outbox {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Queues every journaled correction `sink` has not seen; returns how many were added.
    fn outbox_enqueue(&mut self, sink: &str, now: DateTime<Utc>) -> Result<u64, Self::Error>;

    fn outbox_due(
        &mut self,
        sink: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, Self::Error>;

    fn outbox_delivered(
        &mut self,
        sink: &str,
        keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), Self::Error>;

    fn outbox_failed(
        &mut self,
        sink: &str,
        keys: &[String],
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), Self::Error>;
}
