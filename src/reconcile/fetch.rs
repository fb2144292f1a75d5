//! Executing plan items against DingTalk: approval listings, approval details, raw punches and
//! attendance results, each function taking the items of its own kind, in the order given,
//! until the budget, the organisation's quota or a stop request stops us.
//!
//! Everything fetched is returned as data; nothing is written here (the store is the caller's).
//! The client handle passed in carries the step's budget ([`crate::dingtalk::Budget`]); once it
//! is spent, DingTalk's monthly quota is exhausted or the stop flag is raised, no further item is
//! started: the rest is returned as deferred, never dropped. Per-batch failures are data too:
//! their user-days are simply not complete, and each failed batch, listing or detail is kept as a
//! [`Failure`] (the work to do again, and why) so that the run can retry it once at the end of
//! its step. Rows DingTalk sent outside the request are never in `slots` or `punches`: they are
//! only lines in `rejected`, with their raw values, for the report.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};

use crate::dingtalk::{
    BatchError, Client, Error, ErrorKind, ProcessInstanceIdsQuery, Punch, StopFlag,
};
use crate::domain::{Approval, Slot, UserId};

use super::plan::{DetailsItem, ListingItem, PlanItem, PunchesItem, ResultsItem};

/// One piece of work that failed (not for a stop: a transient error, token churn, a rejected or
/// endless answer): what to do again, and the error, reported unless a retry succeeds.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) item: PlanItem,
    pub(crate) error: String,
    /// Already the retry: not tried a third time.
    pub(crate) retried: bool,
}

/// Why fetching stopped before the plan was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The budget of the run (or of the step) is spent.
    Budget,
    /// DingTalk reported the organisation's monthly quota exhausted (`90020`).
    Quota,
    /// A stop was requested (SIGINT/SIGTERM): no further DingTalk call.
    Requested,
    /// DingTalk banned this IP: the client makes no further call while the ban holds.
    Banned,
    /// The store could not write a call down before it was sent: none is sent any more.
    Unrecorded,
}

/// A listing that finished: approvals of its template created before `created_to` are known,
/// those of `originators` (empty: everyone's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedWindow {
    pub(crate) process_code: String,
    pub(crate) created_to: DateTime<Utc>,
    pub(crate) originators: Vec<UserId>,
}

/// What the executed items brought back.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    pub(crate) slots: Vec<Slot>,
    /// User-days fetched completely (all pages, no error).
    pub(crate) complete: BTreeSet<(UserId, NaiveDate)>,
    /// `(users, from, to)` of every results item executed, complete or not.
    pub(crate) ranges: Vec<(Vec<UserId>, NaiveDate, NaiveDate)>,
    /// Ids listed by the approval listings.
    pub(crate) listed: Vec<(String, String)>,
    /// Every nightly listing that finished.
    pub(crate) listed_windows: Vec<ListedWindow>,
    /// `(process code, created_from, created_to)` of every listing that finished.
    pub(crate) listed_ranges: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
    /// Raw punches of the open-slot scan.
    pub(crate) punches: Vec<Punch>,
    /// User-days (local check dates) whose punches were fetched completely.
    pub(crate) punch_complete: BTreeSet<(UserId, NaiveDate)>,
    /// Listings that did not finish: their windows may hold ids we have not seen.
    pub(crate) incomplete_listings: usize,
    pub(crate) approvals: Vec<Approval>,
    /// Ids whose detail fetch failed with "not found" (deleted instances).
    pub(crate) gone: Vec<String>,
    /// Items not executed (or executed only in part) because fetching stopped.
    pub(crate) deferred: Vec<PlanItem>,
    /// Errors not tied to an item the run could retry.
    pub(crate) errors: Vec<String>,
    /// Failed batches, listings and details, each to be retried once.
    pub(crate) failures: Vec<Failure>,
    /// One line per row rejected (undecodable or outside the request), with its raw value.
    pub(crate) rejected: Vec<String>,
    pub(crate) stop: Option<Stop>,
    /// Unknown enum values DingTalk sent, `field=value`.
    pub(crate) unknown_values: BTreeSet<String>,
}

impl Fetched {
    /// Whether the next item may start; notes a stop request first.
    fn may_start(&mut self, stop: &StopFlag) -> bool {
        if stop.is_raised() {
            self.stop = Some(Stop::Requested);
        }
        self.stop.is_none()
    }

    /// Books an error; returns whether it stops fetching. Any other error is a failure of
    /// `item`, kept to be retried.
    fn note(&mut self, error: &Error, stop: &StopFlag, item: impl FnOnce() -> PlanItem) -> bool {
        match error.kind() {
            ErrorKind::BudgetExhausted if stop.is_raised() => self.stop = Some(Stop::Requested),
            ErrorKind::BudgetExhausted => self.stop = self.stop.or(Some(Stop::Budget)),
            ErrorKind::QuotaExhausted => self.stop = Some(Stop::Quota),
            // The client calls DingTalk no more while a ban holds, and sends nothing it could
            // not write down first: every later item would fail the same way, so fetching stops
            // (the rest deferred) and the cause is reported once.
            ErrorKind::IpBanned => {
                self.errors.push(error.to_string());
                self.stop = Some(Stop::Banned);
            }
            _ if matches!(error, Error::Unrecorded { .. }) => {
                self.errors.push(error.to_string());
                self.stop = Some(Stop::Unrecorded);
            }
            _ => {
                self.failures.push(Failure {
                    item: item(),
                    error: error.to_string(),
                    retried: false,
                });
                return false;
            }
        }
        true
    }

    /// Books the failed batches of one item, each as a failure of its own (only that batch is
    /// retried); returns whether one of them stops fetching.
    fn note_batches(
        &mut self,
        errors: &[BatchError],
        stop: &StopFlag,
        item: impl Fn(&BatchError) -> PlanItem,
    ) -> bool {
        let mut stopped = false;
        for batch in errors {
            stopped |= self.note(&batch.error, stop, || item(batch));
        }
        stopped
    }
}

/// The share of `estimated_calls` of a batch covering `part` of `whole` user-days (at least 1).
fn share(estimated_calls: u64, part: usize, whole: usize) -> u64 {
    (estimated_calls * part as u64)
        .div_ceil(whole.max(1) as u64)
        .max(1)
}

fn batch_days(batch: &BatchError) -> usize {
    batch.users.len() * (usize::try_from((batch.to - batch.from).num_days() + 1).unwrap_or(1))
}

/// Lists process instance ids of every status: running ones are learnt once here and followed up with
/// details later, so a creation window is listed once.
pub(crate) async fn list_approvals(
    client: &Client,
    stop: &StopFlag,
    items: Vec<ListingItem>,
    out: &mut Fetched,
) {
    for item in items {
        if !out.may_start(stop) {
            out.deferred.push(PlanItem::ApprovalList(item));
            continue;
        }
        let query = ProcessInstanceIdsQuery {
            process_code: item.process_code.clone(),
            created_from: item.created_from,
            created_to: item.created_to,
            statuses: Vec::new(),
            user_ids: item.user_ids.clone(),
        };
        match client.process_instance_ids(&query).await {
            Ok(ids) => {
                out.listed
                    .extend(ids.into_iter().map(|id| (id, item.process_code.clone())));
                out.listed_windows.push(ListedWindow {
                    process_code: item.process_code.clone(),
                    created_to: item.created_to,
                    originators: item.user_ids.clone(),
                });
                out.listed_ranges.push((
                    item.process_code.clone(),
                    item.created_from,
                    item.created_to,
                ));
            }
            Err(error) => {
                out.incomplete_listings += 1;
                if out.note(&error, stop, || PlanItem::ApprovalList(item.clone())) {
                    out.deferred.push(PlanItem::ApprovalList(item));
                }
            }
        }
    }
}

/// Fetches approval details; ids past the stop are deferred as one item.
pub(crate) async fn fetch_details(
    client: &Client,
    stop: &StopFlag,
    ids: &[String],
    out: &mut Fetched,
) {
    if ids.is_empty() {
        return;
    }
    if !out.may_start(stop) {
        out.deferred
            .push(PlanItem::ApprovalDetails(DetailsItem::new(ids.to_vec())));
        return;
    }
    let mut left_over = Vec::new();
    for (id, result) in client.approval_details(ids).await {
        match result {
            Ok(approval) => out.approvals.push(approval),
            Err(error) if error.kind() == ErrorKind::NotFound => out.gone.push(id),
            Err(error) => {
                let failed = || PlanItem::ApprovalDetails(DetailsItem::new(vec![id.clone()]));
                if out.note(&error, stop, failed) {
                    left_over.push(id);
                }
            }
        }
    }
    if !left_over.is_empty() {
        out.deferred
            .push(PlanItem::ApprovalDetails(DetailsItem::new(left_over)));
    }
}

/// Reads raw punches item by item until fetching stops.
pub(crate) async fn fetch_punches(
    client: &Client,
    stop: &StopFlag,
    items: Vec<PunchesItem>,
    out: &mut Fetched,
) {
    for item in items {
        if !out.may_start(stop) {
            out.deferred.push(PlanItem::Punches(item));
            continue;
        }
        let pull = client.raw_punches(&item.users, item.from, item.to).await;
        out.punches.extend(pull.punches);
        out.punch_complete.extend(pull.complete_user_days);
        out.rejected.extend(pull.rejected);
        let whole = item.users.len() * item.from.iter_days().take_while(|d| *d <= item.to).count();
        let failed = |batch: &BatchError| {
            PlanItem::Punches(PunchesItem {
                users: batch.users.clone(),
                from: batch.from,
                to: batch.to,
                estimated_calls: share(item.estimated_calls, batch_days(batch), whole),
            })
        };
        if out.note_batches(&pull.errors, stop, failed) {
            out.deferred.push(PlanItem::Punches(item));
        }
    }
}

/// Reads attendance results item by item until fetching stops.
pub(crate) async fn fetch_results(
    client: &Client,
    stop: &StopFlag,
    items: Vec<ResultsItem>,
    out: &mut Fetched,
) {
    for item in items {
        if !out.may_start(stop) {
            out.deferred.push(PlanItem::Results(item));
            continue;
        }
        let pull = client
            .attendance_results(&item.users, item.from, item.to)
            .await;
        out.slots.extend(pull.slots);
        out.complete.extend(pull.complete_user_days);
        out.unknown_values.extend(pull.unknown_values);
        out.rejected.extend(pull.rejected);
        out.ranges.push((item.users.clone(), item.from, item.to));
        let whole = item.user_days().count();
        let failed = |batch: &BatchError| {
            PlanItem::Results(ResultsItem {
                purpose: item.purpose,
                users: batch.users.clone(),
                from: batch.from,
                to: batch.to,
                estimated_calls: share(item.estimated_calls, batch_days(batch), whole),
            })
        };
        if out.note_batches(&pull.errors, stop, failed) {
            // Part of the item may be missing; the whole item goes back on the list.
            out.deferred.push(PlanItem::Results(item));
        }
    }
}
