//! The client's public result types: what a pull returns beside the domain types.
//!
//! These are plain data. They carry per-batch failures as values (a failed batch never aborts a
//! pull) and say which user-days were fetched completely, because only those may be used to
//! conclude that a slot vanished. Nothing here knows a wire name.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};

use super::Error;
use crate::domain::{ApprovalStatus, CheckType, Slot, SourceType, UserId};

/// Whose attendance a run covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every member of these departments and of all their sub-departments.
    Departments(Vec<i64>),
    /// Exactly these users.
    Users(Vec<UserId>),
}

/// One batch (≤ 50 users × ≤ 7 days) that failed after retries: its users and dates, so that
/// the run can retry exactly that batch.
#[derive(Debug)]
pub struct BatchError {
    pub(crate) users: Vec<UserId>,
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    pub error: Error,
}

/// What `attendance/list` returned for a set of users and work dates.
#[derive(Debug, Default)]
pub struct ResultsPull {
    /// Domain slots, decoded leniently, sorted by slot key.
    pub slots: Vec<Slot>,
    /// User-days of batches fetched completely (all pages, every row decoded, no error).
    pub complete_user_days: BTreeSet<(UserId, NaiveDate)>,
    /// Per-batch failures after retries.
    pub errors: Vec<BatchError>,
    /// Unknown enum values seen (kept in the slots too), as `field=value`, sorted, deduplicated.
    pub unknown_values: Vec<String>,
    /// One line per row rejected (undecodable, or outside the request), with its raw value; the
    /// rows are in no other field, and their batches are in `errors`.
    pub rejected: Vec<String>,
}

/// What `attendance/listRecord` returned for a set of users and dates.
#[derive(Debug, Default)]
pub struct PunchesPull {
    /// Every punch, invalid ones included (flagged), sorted by user and time.
    pub punches: Vec<Punch>,
    pub complete_user_days: BTreeSet<(UserId, NaiveDate)>,
    pub errors: Vec<BatchError>,
    /// One line per punch rejected, as for results.
    pub rejected: Vec<String>,
}

/// One raw punch (a row of `attendance/listRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Punch {
    pub(crate) user_id: UserId,
    /// The shift's day in the business time zone, when DingTalk gave one.
    pub work_date: Option<NaiveDate>,
    pub(crate) check_type: CheckType,
    pub(crate) check_time: DateTime<Utc>,
    pub(crate) plan_id: Option<i64>,
    pub(crate) source_type: SourceType,
    pub(crate) process_instance_id: Option<String>,
    pub(crate) record_id: Option<i64>,
    /// `isLegal`: `Y` when both time and location results were normal.
    pub(crate) is_legal: Option<bool>,
    /// `Security` or `Other` for punches DingTalk considers invalid.
    pub(crate) invalid_record_type: Option<String>,
    /// DingTalk flagged this punch as invalid; kept, not dropped, so callers decide.
    pub(crate) invalid: bool,
}

/// Which approval instances to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInstanceIdsQuery {
    pub process_code: String,
    /// Lower bound on the instances' creation time (inclusive).
    pub created_from: DateTime<Utc>,
    /// Upper bound on the instances' creation time (inclusive).
    pub created_to: DateTime<Utc>,
    /// Empty: every status.
    pub statuses: Vec<ApprovalStatus>,
    /// Empty: every originator.
    pub user_ids: Vec<UserId>,
}

pub(crate) fn user_days(
    users: &[UserId],
    from: NaiveDate,
    to: NaiveDate,
) -> impl Iterator<Item = (UserId, NaiveDate)> + '_ {
    users.iter().flat_map(move |user| {
        from.iter_days()
            .take_while(move |day| *day <= to)
            .map(move |day| (user.clone(), day))
    })
}
