//! Executing plan items against DingTalk: approval listings, approval details and attendance
//! results, in the order given, until the run's budget or the organisation's quota stops us.
//!
//! Everything fetched is returned as data; nothing is written here (the store is the caller's).
//! Once the client reports the run's cap reached or DingTalk's monthly quota exhausted, no
//! further item is started: the rest is returned as deferred, never dropped. Per-batch failures
//! are data too: their user-days are simply not complete.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use chrono::{DateTime, Utc};

use crate::dingtalk::{ApprovalIdsQuery, Client, Error, ErrorKind, Punch};
use crate::domain::{Approval, Slot, UserId};

use super::plan::PlanItem;

/// Why fetching stopped before the plan was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The run's own cap of metered calls is spent.
    Budget,
    /// DingTalk reported the organisation's monthly quota exhausted (`90020`).
    Quota,
}

/// What the executed items brought back.
#[derive(Debug, Default)]
pub struct Fetched {
    pub slots: Vec<Slot>,
    /// User-days fetched completely (all pages, no error).
    pub complete: BTreeSet<(UserId, NaiveDate)>,
    /// `(users, from, to)` of every results item executed, complete or not.
    pub ranges: Vec<(Vec<UserId>, NaiveDate, NaiveDate)>,
    /// Ids listed by the approval listings.
    pub listed: Vec<(String, String)>,
    /// `(process code, created_to)` of every listing that finished.
    pub listed_windows: Vec<(String, DateTime<Utc>)>,
    /// Raw punches of the open-slot scan.
    pub punches: Vec<Punch>,
    /// User-days (local check dates) whose punches were fetched completely.
    pub punch_complete: BTreeSet<(UserId, NaiveDate)>,
    /// Listings that did not finish: their windows may hold ids we have not seen.
    pub incomplete_listings: usize,
    pub approvals: Vec<Approval>,
    /// Ids whose detail fetch failed with "not found" (deleted instances).
    pub gone: Vec<String>,
    /// Items not executed (or executed only in part) because fetching stopped.
    pub deferred: Vec<PlanItem>,
    pub errors: Vec<String>,
    pub stop: Option<Stop>,
    /// Unknown enum values DingTalk sent, `field=value`.
    pub unknown_values: BTreeSet<String>,
}

impl Fetched {
    fn note(&mut self, error: &Error) {
        match error.kind() {
            ErrorKind::BudgetExhausted => self.stop = self.stop.or(Some(Stop::Budget)),
            ErrorKind::QuotaExhausted => self.stop = Some(Stop::Quota),
            _ => self.errors.push(error.to_string()),
        }
    }
}

/// Lists approval ids of every status: running ones are learnt once here and followed up with
/// details later, so a creation window is listed once.
pub async fn list_approvals(client: &Client, items: Vec<PlanItem>, out: &mut Fetched) {
    for item in items {
        if out.stop.is_some() {
            out.deferred.push(item);
            continue;
        }
        let PlanItem::ApprovalList {
            process_code,
            created_from,
            created_to,
            ..
        } = &item
        else {
            out.deferred.push(item);
            continue;
        };
        let query = ApprovalIdsQuery {
            process_code: process_code.clone(),
            created_from: *created_from,
            created_to: *created_to,
            statuses: Vec::new(),
            user_ids: Vec::new(),
        };
        match client.approval_ids(&query).await {
            Ok(ids) => {
                out.listed
                    .extend(ids.into_iter().map(|id| (id, process_code.clone())));
                out.listed_windows.push((process_code.clone(), *created_to));
            }
            Err(error) => {
                out.note(&error);
                out.incomplete_listings += 1;
                if out.stop.is_some() {
                    out.deferred.push(item);
                }
            }
        }
    }
}

/// Fetches approval details; ids past the stop are deferred as one item.
pub async fn fetch_details(client: &Client, ids: &[String], out: &mut Fetched) {
    if ids.is_empty() {
        return;
    }
    if out.stop.is_some() {
        out.deferred.push(details_item(ids.to_vec()));
        return;
    }
    let mut left_over = Vec::new();
    for (id, result) in client.approval_details(ids).await {
        match result {
            Ok(approval) => out.approvals.push(approval),
            Err(error) if error.kind() == ErrorKind::NotFound => out.gone.push(id),
            Err(error) => {
                let stops = matches!(
                    error.kind(),
                    ErrorKind::BudgetExhausted | ErrorKind::QuotaExhausted
                );
                out.note(&error);
                if stops {
                    left_over.push(id);
                }
            }
        }
    }
    if !left_over.is_empty() {
        out.deferred.push(details_item(left_over));
    }
}

/// Reads raw punches item by item until fetching stops.
pub async fn fetch_punches(client: &Client, items: Vec<PlanItem>, out: &mut Fetched) {
    for item in items {
        if out.stop.is_some() {
            out.deferred.push(item);
            continue;
        }
        let PlanItem::Punches {
            users, from, to, ..
        } = &item
        else {
            out.deferred.push(item);
            continue;
        };
        let pull = client.raw_punches(users, *from, *to).await;
        out.punches.extend(pull.punches);
        out.punch_complete.extend(pull.complete_user_days);
        let mut stopped_here = false;
        for batch in &pull.errors {
            stopped_here |= matches!(
                batch.error.kind(),
                ErrorKind::BudgetExhausted | ErrorKind::QuotaExhausted
            );
            out.note(&batch.error);
        }
        if stopped_here {
            out.deferred.push(item);
        }
    }
}

fn details_item(ids: Vec<String>) -> PlanItem {
    PlanItem::ApprovalDetails {
        estimated_calls: ids.len() as u64,
        ids,
    }
}

/// Reads attendance results item by item until fetching stops.
pub async fn fetch_results(client: &Client, items: Vec<PlanItem>, out: &mut Fetched) {
    for item in items {
        if out.stop.is_some() {
            out.deferred.push(item);
            continue;
        }
        let PlanItem::Results {
            users, from, to, ..
        } = &item
        else {
            out.deferred.push(item);
            continue;
        };
        let pull = client.attendance_results(users, *from, *to).await;
        out.slots.extend(pull.slots);
        out.complete.extend(pull.complete_user_days);
        out.unknown_values.extend(pull.unknown_values);
        out.ranges.push((users.clone(), *from, *to));
        let mut stopped_here = false;
        for batch in &pull.errors {
            let stops = matches!(
                batch.error.kind(),
                ErrorKind::BudgetExhausted | ErrorKind::QuotaExhausted
            );
            stopped_here |= stops;
            out.note(&batch.error);
        }
        if stopped_here {
            // Part of the item may be missing; the whole item goes back on the list.
            out.deferred.push(item);
        }
    }
}
