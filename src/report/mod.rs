//! The reconciliation report: plain data ([`RunReport`]) and pure renderers, one per format; and
//! the text of the other read-only commands, `status` ([`Status`], [`render_status`]) and
//! `explain` ([`render_explanation`] of a `reconcile::Explanation`).
//!
//! Renderers take `&RunReport` and return a `String`; the caller prints or writes it. The JSON
//! form is a documented, versioned contract (`"schema": 1`, README "Report format"): fields may be
//! added, never renamed or removed, without bumping the schema number.
//!
//! Flow: [`build`] reads a run (or a date range) out of the store into a [`RunReport`];
//! [`render`] turns it into text, JSON, CSV, Markdown or HTML; [`render_file`] also into an
//! xlsx workbook (bytes: `xlsx`, with the Chinese labels of `labels`). Renderers do no IO and read no
//! clock: every wall-clock time is shown in the business time zone passed in [`RenderOptions`].
//!
//! Layout: `format` (the format enum and dispatch), `escape` (the one output-escaping rule every
//! renderer applies to values from outside), `present` (wording shared by the human
//! formats: pluralisation, local times, advice per anomaly class), one module per format;
//! `plan` renders the `plan` command's text and the `backfill` command's messages; `status` and
//! `explain` those two commands' text.
//!
//! This module deliberately does not print, write files or deliver anything (see `sink`), and
//! does not decide exit codes.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ChangeClass, LedgerState};

pub mod build;
mod csv;
pub(crate) mod doctor;
pub(crate) mod escape;
mod explain;
mod format;
mod html;
mod json;
mod labels;
mod lang;
mod markdown;
pub(crate) mod plan;
mod present;
mod status;
mod text;
mod view;
mod xlsx;

#[cfg(test)]
pub(crate) mod fixture;

pub(crate) use escape::json as json_safe;
pub(crate) use explain::render_explanation;
pub(crate) use format::{RenderOptions, ReportFormat, render, render_file};
pub(crate) use lang::Lang;
pub(crate) use status::{
    LockStatus, QueueStatus, QuotaExhaustedStatus, QuotaStatus, RunStatus, Status, render_status,
};

/// The most characters of the Markdown summary (one chat message).
#[cfg(test)]
pub(crate) fn markdown_chat_limit() -> usize {
    markdown::CHAT_LIMIT
}

/// Version of the JSON report contract.
pub(crate) const REPORT_SCHEMA: u32 = 1;

/// Everything a report shows, for one run or for a date range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunReport {
    pub(crate) schema: u32,
    /// The run this report describes; for a date-range report, the latest run in the range.
    pub(crate) run: RunInfo,
    /// Findings per class (every class present, zero included).
    pub(crate) counts: BTreeMap<ChangeClass, u64>,
    pub(crate) corrections: Vec<CorrectionLine>,
    pub(crate) pending: Vec<PendingLine>,
    /// 补卡 approvals still awaiting a decision (running), state `running`, `since` their
    /// creation: of the report's work dates, or for a run report those the run fetched. Not
    /// pending (see `Store::pending_approvals`): nothing is owed to the ledger yet.
    #[serde(default)]
    pub(crate) in_progress: Vec<PendingLine>,
    pub(crate) anomalies: Vec<AnomalyLine>,
    /// Other findings the report lists without calling them anomalies: refused and withdrawn
    /// approvals, changes reported but not applied by policy.
    #[serde(default)]
    pub(crate) listed: Vec<AnomalyLine>,
    /// Work the budget did not allow, to be picked up by later runs.
    pub(crate) deferred: Vec<DeferredLine>,
    pub(crate) api_calls: ApiCalls,
    /// Per-item errors that did not stop the run.
    pub(crate) errors: Vec<String>,
    /// For a date-range report: which of its work dates a run reconciled and which it did not.
    /// Absent from a run report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) coverage: Option<Coverage>,
    /// Metered calls per business date of the quota month (`api_calls.month`) up to the report's
    /// run, for the quota chart; empty when not known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) quota_by_day: Vec<DayCalls>,
    /// Quota months whose budget did not cover every employee in scope, as the report's nightly
    /// runs decided them; absent when everyone was covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) employees: Vec<EmployeeCoverage>,
    /// DingTalk reported the organisation's monthly quota exhausted in the report's quota month
    /// (`api_calls.month`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quota_exhausted: Option<QuotaExhausted>,
}

/// Who one quota month's budget covered when it could not pay for everyone: whole employees,
/// by department (see `quota::Coverage`). A person a report lists is covered completely; the
/// people not covered are not reconciled at all that month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EmployeeCoverage {
    /// The quota month, `YYYY-MM`.
    pub(crate) month: String,
    pub(crate) covered: u64,
    /// Employees in scope.
    pub(crate) total: u64,
    /// The monthly budget it was decided under.
    pub(crate) budget: u64,
    /// The monthly budget that would cover everyone, by the cost model.
    pub(crate) full_budget: u64,
    /// Departments with people not covered, as the directory places them now.
    pub(crate) not_covered: Vec<DepartmentGap>,
}

/// A department some of whose people a month's budget did not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DepartmentGap {
    /// Its name; empty for people the directory does not place.
    pub(crate) department: String,
    /// People of it not covered.
    pub(crate) not_covered: u64,
    /// People in it.
    pub(crate) people: u64,
}

/// The organisation's monthly quota found exhausted (`90020`) in a quota month: no metered
/// call until `resumes_on` (see `reconcile::blocked`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuotaExhausted {
    /// `YYYY-MM`, business time zone.
    pub(crate) month: String,
    pub(crate) seen_at: DateTime<Utc>,
    /// `seen_at`'s business date.
    pub(crate) seen_on: NaiveDate,
    /// Our own metered calls of the month when it was seen.
    pub(crate) own_metered: u64,
    /// The monthly budget then.
    pub(crate) budget: u64,
    /// Spent by the organisation's other apps (our own use far below our budget).
    pub(crate) by_other_apps: bool,
    /// The first day of the next month.
    pub(crate) resumes_on: Option<NaiveDate>,
}

impl QuotaExhausted {
    /// From the store's row, dated in `tz`.
    pub(crate) fn new(stored: &crate::store::QuotaExhaustion, tz: chrono_tz::Tz) -> Self {
        QuotaExhausted {
            month: stored.month.clone(),
            seen_at: stored.seen_at,
            seen_on: crate::reconcile::blocked::seen_on(stored, tz),
            own_metered: stored.own_metered,
            budget: stored.budget,
            by_other_apps: stored.by_other_apps,
            resumes_on: crate::reconcile::blocked::resumes_on(stored),
        }
    }

    /// The English sentence (`reconcile::blocked::describe`, the one wording).
    pub(crate) fn sentence(&self) -> String {
        crate::reconcile::blocked::describe(&crate::reconcile::blocked::Described {
            seen_on: self.seen_on,
            own_metered: self.own_metered,
            budget: self.budget,
            by_other_apps: self.by_other_apps,
            resumes_on: self.resumes_on,
        })
    }
}

/// Metered calls made on one business date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DayCalls {
    pub(crate) date: NaiveDate,
    pub(crate) metered: u64,
}

/// Which work dates of a date-range report were reconciled, as runs recorded them: a date is
/// *reconciled* when a run that ended `done` read its results (a backfill's chunk is such a
/// run; what a run read is its recorded plan's results items, see `build::coverage`), *partly*
/// when only runs that ended otherwise (partial, failed, abandoned, still running) read it,
/// and *not reconciled* when no run read it. Each list is inclusive date ranges in date order;
/// together they are the report's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Coverage {
    pub(crate) reconciled: Vec<Window>,
    pub(crate) partly: Vec<Window>,
    pub(crate) not_reconciled: Vec<Window>,
}

impl RunReport {
    /// An empty report for `run`: every class counted as zero, nothing listed.
    pub(crate) fn empty(run: RunInfo, api_calls: ApiCalls) -> RunReport {
        RunReport {
            schema: REPORT_SCHEMA,
            run,
            counts: zero_counts(),
            corrections: Vec::new(),
            pending: Vec::new(),
            in_progress: Vec::new(),
            anomalies: Vec::new(),
            listed: Vec::new(),
            deferred: Vec::new(),
            api_calls,
            errors: Vec::new(),
            coverage: None,
            quota_by_day: Vec::new(),
            employees: Vec::new(),
            quota_exhausted: None,
        }
    }

    /// The count of one class (zero when absent).
    #[cfg(test)]
    pub(crate) fn count(&self, class: ChangeClass) -> u64 {
        self.counts.get(&class).copied().unwrap_or(0)
    }
}

/// A map with every class at zero, so the contract's "every class present" holds.
pub(crate) fn zero_counts() -> BTreeMap<ChangeClass, u64> {
    ChangeClass::ALL
        .into_iter()
        .map(|class| (class, 0))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    pub(crate) id: i64,
    /// `run`, `backfill`, `daemon`, or `range` for a date-range report.
    pub(crate) kind: String,
    pub(crate) as_of: DateTime<Utc>,
    pub(crate) window: Window,
    /// `done`, `partial`, `failed`, or `running` while still in progress.
    pub(crate) outcome: String,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
}

/// An inclusive range of work dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Window {
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionLine {
    /// The run that applied (journaled) this correction: in a date-range report, each line's
    /// own run, not the range's latest.
    #[serde(default)]
    pub(crate) run_id: i64,
    pub(crate) user_id: String,
    /// The person's name as the directory cache last had it (text from outside); absent when
    /// the person is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// The person's department on the line's work date (text from outside); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) department: Option<String>,
    /// `YYYY-MM-DD`.
    pub(crate) work_date: NaiveDate,
    pub(crate) check_type: String,
    pub(crate) plan_id: Option<i64>,
    pub(crate) class: ChangeClass,
    pub(crate) before: Option<LedgerState>,
    pub(crate) after: LedgerState,
    pub(crate) before_observed: bool,
    pub(crate) process_instance_id: Option<String>,
    pub(crate) business_id: Option<String>,
    pub(crate) approved_at: Option<DateTime<Utc>>,
    pub(crate) applied_at: DateTime<Utc>,
    pub(crate) idempotency_key: String,
    /// 1 as journaled, one more each time enrichment changed the correction after it was
    /// applied; a sink gets a correction again, under the same key, with each new version.
    #[serde(default = "first_version")]
    pub(crate) version: u32,
    /// The 补卡 form's reason, from the stored approval (text from outside); absent when the
    /// line has no approval, its detail is not stored, or the form gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Who agreed to or refused the approval; absent while undecided, for a withdrawal, or
    /// when the stored detail does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) approver: Option<Approver>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingLine {
    pub(crate) process_instance_id: String,
    pub(crate) business_id: Option<String>,
    pub(crate) user_id: String,
    /// The person's name as the directory cache last had it (text from outside); absent when
    /// the person is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// The person's department on the line's work date (text from outside); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) department: Option<String>,
    pub(crate) work_date: Option<NaiveDate>,
    pub(crate) check_type: Option<String>,
    /// `approved_not_visible` (approved, DingTalk does not show the slot corrected yet) or
    /// `running` (still awaiting a decision).
    pub(crate) state: String,
    pub(crate) since: Option<DateTime<Utc>>,
    /// The 补卡 form's reason, from the stored approval (text from outside); absent when the
    /// line has no approval, its detail is not stored, or the form gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Who agreed to or refused the approval; absent while undecided, for a withdrawal, or
    /// when the stored detail does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) approver: Option<Approver>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AnomalyLine {
    pub(crate) class: ChangeClass,
    pub(crate) user_id: Option<String>,
    /// The person's name as the directory cache last had it (text from outside); absent when
    /// the person is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// The person's department on the line's work date (text from outside); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) department: Option<String>,
    pub(crate) work_date: Option<NaiveDate>,
    pub(crate) check_type: Option<String>,
    pub(crate) plan_id: Option<i64>,
    pub(crate) process_instance_id: Option<String>,
    /// The approval's business id (审批编号), when the line is about a stored approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) business_id: Option<String>,
    /// One sentence a person can act on.
    pub(crate) detail: String,
    /// The 补卡 form's reason, from the stored approval (text from outside); absent when the
    /// line has no approval, its detail is not stored, or the form gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Who agreed to or refused the approval; absent while undecided, for a withdrawal, or
    /// when the stored detail does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) approver: Option<Approver>,
    /// When the line's approval was decided (its finish time): for an overdue pending approval
    /// when it was approved, for a refused or withdrawn one when that happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<DateTime<Utc>>,
}

/// The version of a correction journaled once and never enriched since.
fn first_version() -> u32 {
    1
}

/// Who decided an approval: the last approving/refusing task's user, with the directory name when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Approver {
    pub(crate) user_id: String,
    /// The approver's name as the directory cache has it on the line's work date (text from
    /// outside); absent when the person is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// What the approver wrote with the decision (text from outside); absent when nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) remark: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredLine {
    /// What kind of work: `results`, `approval_list`, `approval_detail`, `rescan`, ….
    pub item: String,
    pub(crate) detail: String,
    pub(crate) estimated_calls: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ApiCalls {
    /// Attempts in this run by endpoint path.
    pub(crate) by_endpoint: BTreeMap<String, u64>,
    /// Metered calls this run.
    pub(crate) metered: u64,
    /// Metered calls in the natural month (business time zone) up to the end of this run.
    pub(crate) month_to_date: u64,
    pub(crate) budget: u64,
    /// `YYYY-MM`.
    pub(crate) month: String,
}

impl ApiCalls {
    /// Metered calls left in the month's budget (zero once over it).
    pub(crate) fn budget_left(&self) -> u64 {
        self.budget.saturating_sub(self.month_to_date)
    }
}
