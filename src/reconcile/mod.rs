//! One reconciliation run: plan, fetch, diff, match, classify, apply, record (PRODUCT.md
//! section 3). `run` (nightly), `backfill` and daemon ticks all call [`run_once`] with a
//! different [`RunKind`].
//!
//! # Flow
//!
//! ```text
//! budget (quota, surplus) ─▶ plan ─▶ approvals (when they are evidence) ─▶ nightly sync (each
//!   work date read once, settled) ─▶ open-slot scan (raw punches, every few nights)
//!   ─▶ targeted re-fetch (dirty user-days, days approvals point at, revert watch)
//!   ─▶ out of the surplus: approvals as enrichment, enrichment, second look
//!   ─▶ diff ─▶ match + classify ─▶ apply (batches of whole users) ─▶ record the run
//! ```
//!
//! The cheap path rests on two unconfirmed DingTalk behaviours (the 补卡 punch shows in
//! `listRecord`; a corrected slot names its instance in `procInstId`). `state` records what the
//! data showed; until both are seen to hold, and for good once one is seen to fail, approvals
//! stay evidence (listed and detailed every night) and reverts are watched through results.
//!
//! # Modules
//!
//! - `diff`, `matching`, `classify`, `plan`, `scan`, `state`, `finish`: the pure core (no IO, no
//!   clock); `finish` is the end of a run (what the night teaches the planner, the summary and
//!   the done/partial rule).
//! - `fetch`: executes plan items, each function those of its own kind, until the budget, the
//!   quota or a stop request stops it.
//! - `apply`: verdicts → store batches. `recorder`: the client's calls → the store's call ledger,
//!   tagged with the run while a [`RunTag`] guard lives.
//! - `run`: the orchestration behind [`run_once`] and [`run_once_until`] (one method per step);
//!   `context`: the store reads around the fetch. `explain`: one employee-day as plain data.
//!
//! Not here: the run lock (the caller holds a `store::RunLock` around [`run_once`]), raising
//! the stop flag (the caller's signal handling), delivering the outbox to sinks, rendering
//! reports.

pub mod apply;
pub(crate) mod blocked;
pub mod classify;
pub mod context;
pub mod diff;
pub(crate) mod explain;
mod facts;
pub(crate) mod fetch;
mod finish;
pub(crate) use finish::FALLBACK_ITEM;
pub mod matching;
pub mod people;
pub(crate) mod plan;
pub(crate) mod recorder;
mod run;
pub(crate) mod scan;
pub(crate) mod state;

#[cfg(test)]
mod test_helpers;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::config::{QuotaSettings, ReconcileSettings};
use crate::dingtalk::Scope;
use crate::domain::{ChangeClass, Policy, UserId};
use crate::report::DeferredLine;

pub use crate::store::RunOutcome;
pub(crate) use explain::Explanation;
pub use explain::explain;
pub(crate) use plan::{Plan, PlanItem};
pub use recorder::StoreRecorder;
pub use run::run_once;

/// What the nightly runs of one quota month last stated about coverage: how many employees its
/// budget covered, of how many, and the monthly budget that would cover everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatedCoverage {
    pub covered: u64,
    pub total: u64,
    pub full_budget: u64,
}

/// The coverage the last nightly run of quota month `month` (`YYYY-MM`) recorded in its plan;
/// `None` when no nightly run of that month recorded one.
pub fn stated_coverage(
    store: &crate::store::Store,
    month: &str,
) -> Result<Option<StatedCoverage>, crate::store::Error> {
    Ok(
        month_coverage(store, month)?.map(|coverage| StatedCoverage {
            covered: coverage.covered_count(),
            total: coverage.total,
            full_budget: coverage.full_budget,
        }),
    )
}

/// The coverage the last nightly run of quota month `month` (`YYYY-MM`) recorded in its plan.
pub(crate) fn month_coverage(
    store: &crate::store::Store,
    month: &str,
) -> Result<Option<crate::quota::Coverage>, crate::store::Error> {
    let runs = store.recent_runs(usize::MAX >> 1)?;
    Ok(runs
        .iter()
        .filter(|run| run.kind.is_nightly())
        .filter_map(|run| {
            serde_json::from_str::<plan::Plan>(&run.plan_json)
                .ok()?
                .coverage
        })
        .find(|coverage| coverage.month.to_string() == month))
}
pub(crate) use run::{list_for_backfill, plan_run, run_once_until};

/// Extra share a nightly run may spend above its even share of what is left, in percent.
pub(crate) const NIGHTLY_SLACK_PERCENT: u32 = 50;

/// Everything a run needs to know that does not change from run to run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub(crate) timezone: Tz,
    pub scope: Scope,
    /// 补卡 templates; `None`: discovered through the templates `admin_user_id` manages.
    pub supply_process_codes: Option<Vec<String>>,
    pub admin_user_id: Option<UserId>,
    pub(crate) policy: Policy,
    /// Metered calls this job may spend per natural month.
    pub monthly_budget: u64,
    /// The day of the month by which the previous month's corrections must be final
    /// (`[quota] payroll_close_day`); until then its work comes first. `None`: no such day.
    pub payroll_close_day: Option<u32>,
    /// The config file's `[reconcile]` section: window, lookback, settle and sync horizons, scan
    /// rhythm, listing lag.
    pub reconcile: ReconcileSettings,
    /// Sink names that get one outbox row per new correction.
    pub(crate) sinks: Vec<String>,
}

impl RunSettings {
    /// Settings with the documented defaults: 4,000 calls a month, each work date read once a
    /// day after it ends, open slots scanned through raw punches every 3 nights for 45 days,
    /// approvals listed once per creation window 3 days late, a 7-day window, 45 days of
    /// approval lookback, a 24-hour settle horizon.
    pub fn new(timezone: Tz, scope: Scope, policy: Policy) -> RunSettings {
        RunSettings {
            timezone,
            scope,
            supply_process_codes: None,
            admin_user_id: None,
            policy,
            monthly_budget: QuotaSettings::default().monthly_budget,
            payroll_close_day: None,
            reconcile: ReconcileSettings::default(),
            sinks: Vec::new(),
        }
    }
}

/// Which kind of run, and so which plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunKind {
    /// Yesterday, the trailing window, approvals: the nightly pass.
    Nightly,
    /// A range of work dates (both inclusive), optionally for some users only.
    Backfill {
        from: NaiveDate,
        to: NaiveDate,
        users: Option<Vec<UserId>>,
    },
    /// A tick of the built-in scheduler: planned like a nightly run.
    Daemon,
}

impl RunKind {
    /// The kind the store records.
    pub(crate) fn recorded(&self) -> crate::store::RunKind {
        match self {
            RunKind::Nightly => crate::store::RunKind::Nightly,
            RunKind::Backfill { .. } => crate::store::RunKind::Backfill,
            RunKind::Daemon => crate::store::RunKind::Daemon,
        }
    }

    /// `run`, `backfill` or `daemon` (the store's and the report's spelling).
    pub(crate) fn name(&self) -> &'static str {
        self.recorded().as_str()
    }
}

/// One request to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub kind: RunKind,
    /// The instant the run is evaluated at (`--as-of`; the clock otherwise).
    pub as_of: DateTime<Utc>,
    /// Hard cap on this run's metered calls (`--max-calls`).
    pub max_calls: Option<u64>,
    /// Plan only: nothing metered is called and nothing is written.
    pub dry_run: bool,
    /// What started it: `cli`, `cron`, `catch_up`, `test`, ….
    pub trigger: String,
}

impl RunRequest {
    /// A dry run of `kind` as of `as_of`: a plan, nothing metered called, nothing written.
    pub(crate) fn plan_only(kind: RunKind, as_of: DateTime<Utc>, trigger: &str) -> RunRequest {
        RunRequest {
            kind,
            as_of,
            max_calls: None,
            dry_run: true,
            trigger: trigger.into(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// 0 for a dry run (nothing recorded).
    pub(crate) run_id: i64,
    pub outcome: RunOutcome,
    /// Verdicts per class, every class present.
    pub counts: BTreeMap<ChangeClass, u64>,
    /// Corrections newly journaled by this run.
    pub corrections_applied: u64,
    /// Metered calls this run made.
    pub metered_calls: u64,
    pub deferred: Vec<DeferredLine>,
    pub errors: Vec<String>,
    /// Why fetching stopped early (budget, quota, a stop request), if it did. A partial run
    /// without a stop had failed items: running it again may finish it.
    pub(crate) stopped: Option<fetch::Stop>,
}

/// Why a run could not be carried out at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("read or write the store")]
    Store(#[from] crate::store::Error),
    #[error("reach DingTalk")]
    DingTalk(#[from] crate::dingtalk::Error),
    #[error("find the 补卡 templates: {0}")]
    NoProcessCodes(String),
}
