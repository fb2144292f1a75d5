//! The bridge from the client's [`CallRecorder`] to the store's call ledger.
//!
//! Every attempt the client makes is written with the run it belongs to and its natural month in
//! the business time zone, so `status` and the budget see exactly what DingTalk counts. It does
//! not decide anything about the budget (that is `quota` and the planner).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono_tz::Tz;

use crate::dingtalk::CallRecorder;
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

impl CallRecorder for StoreRecorder {
    fn record(&self, call: &CallRecord) {
        let run_id = match self.run_id.load(Ordering::SeqCst) {
            0 => None,
            id => Some(id),
        };
        let month = YearMonth::of(call.at, self.timezone).to_string();
        if let Err(error) = self.log.record(run_id, call, &month) {
            tracing::warn!(error.message = %error, endpoint = %call.endpoint, "call not recorded in the call ledger");
        }
    }
}
