//! The bridge from the client's [`CallRecorder`] to the store's call ledger.
//!
//! Every attempt the client makes is written with the run it belongs to and its natural month in
//! the business time zone, so `status` and the budget see exactly what DingTalk counts. A metered
//! call is reserved (written as metered) before it is sent and settled after; a reservation the
//! store refuses is handed back to the client as an error naming the store, and the call is not
//! sent. It does not decide anything about the budget (that is `quota` and the planner).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono_tz::Tz;

use crate::dingtalk::{CallRecorder, CallTicket, RecordError};
use crate::domain::CallRecord;
use crate::quota::YearMonth;
use crate::store::CallLog;

/// Records calls into the store's call ledger, tagged with the current run.
#[derive(Debug)]
pub struct StoreRecorder {
    log: CallLog,
    timezone: Tz,
    /// The run calls belong to; 0 between runs.
    run_id: AtomicI64,
}

impl StoreRecorder {
    pub fn new(log: CallLog, timezone: Tz) -> StoreRecorder {
        StoreRecorder {
            log,
            timezone,
            run_id: AtomicI64::new(0),
        }
    }

    /// Tags later calls with `run_id` until the returned guard is dropped; calls after that
    /// belong to no run.
    pub(crate) fn tag(&self, run_id: i64) -> RunTag<'_> {
        self.run_id.store(run_id, Ordering::SeqCst);
        RunTag { recorder: self }
    }
}

/// While alive, the recorder's calls belong to one run ([`StoreRecorder::tag`]).
#[derive(Debug)]
#[must_use = "the tag is removed when the guard is dropped"]
pub(crate) struct RunTag<'a> {
    recorder: &'a StoreRecorder,
}

impl Drop for RunTag<'_> {
    fn drop(&mut self) {
        self.recorder.run_id.store(0, Ordering::SeqCst);
    }
}

impl StoreRecorder {
    fn run_id(&self) -> Option<i64> {
        match self.run_id.load(Ordering::SeqCst) {
            0 => None,
            id => Some(id),
        }
    }

    fn month(&self, call: &CallRecord) -> String {
        YearMonth::of(call.at, self.timezone).to_string()
    }
}

impl CallRecorder for StoreRecorder {
    fn record(&self, call: &CallRecord) {
        if let Err(error) = self.log.record(self.run_id(), call, &self.month(call)) {
            tracing::warn!(error.message = %error, error.cause_chain = ?error, endpoint = %call.endpoint, "call not recorded in the call ledger");
        }
    }

    fn reserve(&self, call: &CallRecord) -> Result<CallTicket, RecordError> {
        match self.log.reserve(self.run_id(), call, &self.month(call)) {
            Ok(row) => Ok(CallTicket(row)),
            Err(error) => Err(Box::new(error)),
        }
    }

    fn settle(&self, ticket: CallTicket, call: &CallRecord) {
        if let Err(error) = self.log.settle(ticket.0, call, &self.month(call)) {
            tracing::warn!(error.message = %error, error.cause_chain = ?error, endpoint = %call.endpoint, "call not settled in the call ledger; it stays counted as metered");
        }
    }
}
