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

    /// Tags later calls with `run_id` (`None`: calls outside any run).
    pub fn set_run(&self, run_id: Option<i64>) {
        self.run_id.store(run_id.unwrap_or(0), Ordering::SeqCst);
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
