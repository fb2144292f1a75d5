//! The end of a run, pure: what the night teaches the planner ([`record_night`]) and what the
//! run did, with its outcome ([`summarize`]). Values in, values out: no IO and no clock, so the
//! done/partial rule is tested here without a store or a simulator.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::domain::{ChangeClass, UserId};
use crate::report::{DeferredLine, zero_counts};

use super::fetch::{Fetched, ListedWindow, Stop};
use super::plan::{Plan, PlanItem, ResultsItem, advance_sync};
use super::state::PlannerState;
use super::{RunOutcome, RunSummary};

/// What one nightly run read, for [`record_night`].
pub(super) struct Night<'a> {
    /// Users in scope.
    pub(crate) users: &'a [UserId],
    /// The plan's primary results items (the nightly sync), oldest first.
    pub(crate) primary: &'a [ResultsItem],
    /// The work dates the sync planned to read.
    pub(crate) primary_range: Option<(NaiveDate, NaiveDate)>,
    /// User-days read completely.
    pub(crate) complete: &'a BTreeSet<(UserId, NaiveDate)>,
    /// Where the sync starts for a user without progress.
    pub(crate) first_default: NaiveDate,
    /// Every listing that finished.
    pub(crate) listed_windows: &'a [ListedWindow],
    /// Whether every listing started finished.
    pub(crate) listings_complete: bool,
    /// Items deferred by the plan or by the fetch.
    pub(crate) deferred: Vec<&'a PlanItem>,
    /// Tonight's local date when open slots were scanned.
    pub(crate) scanned_on: Option<NaiveDate>,
    /// Targeted re-reads not done tonight.
    pub(crate) owed: &'a BTreeSet<(UserId, NaiveDate)>,
}

/// The planner's state after a nightly run: the sync's per-user progress and how far it reaches
/// for everyone in scope, how far each template's approvals are listed and for whom (only when
/// no listing failed or was deferred), and the night of the last scan.
pub(super) fn record_night(before: &PlannerState, night: &Night<'_>) -> PlannerState {
    let mut state = before.clone();
    advance_sync(
        &mut state.user_synced,
        night.primary,
        night.complete,
        |user| super::facts::sync_start(before, user, night.first_default),
    );
    if let Some((from, _)) = night.primary_range
        && state.user_synced != before.user_synced
    {
        state.synced_from = Some(state.synced_from.map_or(from, |known| known.min(from)));
    }
    // The sync reaches a date for everyone only once every user in scope has got there.
    let everyone: Option<NaiveDate> = night
        .users
        .iter()
        .map(|user| state.user_synced.get(user.as_str()).copied())
        .try_fold(None::<NaiveDate>, |low, date| {
            date.map(|date| Some(low.map_or(date, |low| low.min(date))))
        })
        .flatten();
    if let Some(through) = everyone {
        state.synced_through = Some(through);
    }
    let failed_codes: BTreeSet<&String> = night
        .deferred
        .iter()
        .filter_map(|item| match item {
            PlanItem::ApprovalList(listing) => Some(&listing.process_code),
            _ => None,
        })
        .collect();
    if night.listings_complete {
        for window in night.listed_windows {
            let code = &window.process_code;
            if !failed_codes.contains(code) {
                let to = window.created_to;
                let entry = state.listed_through.entry(code.clone()).or_insert(to);
                *entry = (*entry).max(to);
                // Whose approvals it now holds for: the originators tonight named (a window
                // naming people the last did not began at the lookback), or everyone.
                if window.originators.is_empty() {
                    state.listed_for.remove(code);
                } else {
                    state.listed_for.insert(
                        code.clone(),
                        window
                            .originators
                            .iter()
                            .map(|user| user.as_str().to_owned())
                            .collect(),
                    );
                }
            }
        }
    }
    if let Some(today) = night.scanned_on {
        state.last_scan = Some(today);
    }
    state.owed_rereads = BTreeMap::new();
    for (user, date) in night.owed {
        state
            .owed_rereads
            .entry(user.as_str().to_owned())
            .or_default()
            .insert(*date);
    }
    state
}

/// What the run did, for [`summarize`].
/// The `item` of a deferred line that is a notice (a fallback taken), not deferred work.
pub(crate) const FALLBACK_ITEM: &str = "fallback";

pub(super) struct Ending<'a> {
    pub(crate) run_id: i64,
    pub(crate) plan: &'a Plan,
    pub(crate) fetched: &'a Fetched,
    /// Fallbacks taken because the data contradicted an unconfirmed fact.
    pub(crate) notices: &'a [String],
    /// Verdicts per class.
    pub(crate) counts: BTreeMap<ChangeClass, u64>,
    pub(crate) corrections_applied: u64,
    /// The run's budget of metered calls (after discovering templates).
    pub(crate) allowance: u64,
    /// Metered calls of the month before the run, and the month's budget.
    pub(crate) month_used: u64,
    pub(crate) monthly_budget: u64,
    /// The quota month is blocked (`blocked::sentence`): nothing metered was planned.
    pub(crate) blocked: Option<String>,
}

/// The run's summary. The run is partial when fetching stopped (budget, quota, stop request),
/// when an item failed or an approval vanished, when the month's budget is spent, when work
/// that is not optional was deferred, when the month's budget does not cover every employee, or
/// when approvals were evidence and a listing did not finish; otherwise done. `metered_calls` is left at 0 for the caller, who counts the calls.
pub(super) fn summarize(end: &Ending<'_>) -> RunSummary {
    let (plan, fetched) = (end.plan, end.fetched);
    let mut counts = zero_counts();
    counts.extend(end.counts.iter().map(|(class, n)| (*class, *n)));
    let all_deferred = || plan.deferred.iter().chain(&fetched.deferred);
    let mut deferred: Vec<DeferredLine> = all_deferred().map(deferred_line).collect();
    deferred.extend(end.notices.iter().map(|notice| DeferredLine {
        item: FALLBACK_ITEM.to_owned(),
        detail: notice.clone(),
        estimated_calls: 0,
    }));
    // People the month's budget does not cover: work left undone, every night of the month.
    let uncovered = plan
        .coverage
        .as_ref()
        .filter(|coverage| !coverage.is_full());
    if let Some(coverage) = uncovered {
        deferred.push(DeferredLine {
            item: "coverage".to_owned(),
            detail: format!(
                "{} of {} employees are not covered in {} (whole employees, by department): the \
                 budget of {} metered calls a month does not pay for them; a budget of {} would \
                 cover everyone",
                coverage.total.saturating_sub(coverage.covered_count()),
                coverage.total,
                coverage.month,
                coverage.budget,
                coverage.full_budget
            ),
            estimated_calls: coverage.full_budget.saturating_sub(coverage.budget),
        });
    }
    deferred.sort_by(|left, right| (&left.item, &left.detail).cmp(&(&right.item, &right.detail)));
    let must_have_deferred = all_deferred().any(|item| !plan.is_optional(item));
    let mut errors = fetched.errors.clone();
    errors.extend(fetched.failures.iter().map(|failure| failure.error.clone()));
    errors.extend(rejected_lines(&fetched.rejected));
    errors.extend(
        fetched
            .gone
            .iter()
            .map(|id| format!("approval {id} no longer exists in DingTalk (deleted)")),
    );
    match (fetched.stop, &end.blocked) {
        // A blocked month's allowance is 0 on purpose: its sentence says why, not the budget.
        (Some(Stop::Budget) | None, Some(_)) => {}
        (Some(stop), _) => errors.push(stop_sentence(stop, end.allowance)),
        (None, None) => {}
    }
    errors.extend(end.blocked.clone());
    if end.month_used >= end.monthly_budget {
        errors.push(format!(
            "the monthly budget of {} metered calls is spent",
            end.monthly_budget
        ));
    }
    let partial = fetched.stop.is_some()
        || uncovered.is_some()
        || !errors.is_empty()
        || must_have_deferred
        || (plan.approvals_essential && fetched.incomplete_listings > 0);
    RunSummary {
        run_id: end.run_id,
        outcome: if partial {
            RunOutcome::Partial
        } else {
            RunOutcome::Done
        },
        counts,
        corrections_applied: end.corrections_applied,
        metered_calls: 0,
        deferred,
        errors,
        stopped: fetched.stop,
    }
}

/// Rejected rows listed one by one in a run's errors; past it, one line counts the rest.
const REJECTED_ROWS_LISTED: usize = 20;

/// The run's error lines for rows DingTalk sent outside the request: the first
/// [`REJECTED_ROWS_LISTED`] with their raw values, then how many more.
fn rejected_lines(rejected: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = rejected
        .iter()
        .take(REJECTED_ROWS_LISTED)
        .cloned()
        .collect();
    if rejected.len() > REJECTED_ROWS_LISTED {
        lines.push(format!(
            "{} more rows rejected ({} in all)",
            rejected.len() - REJECTED_ROWS_LISTED,
            rejected.len()
        ));
    }
    lines
}

fn stop_sentence(stop: Stop, allowance: u64) -> String {
    match stop {
        Stop::Budget => format!("this run's budget of {allowance} metered calls is spent"),
        Stop::Quota => {
            "DingTalk reports the organisation's monthly quota exhausted (90020)".to_owned()
        }
        Stop::Requested => {
            "stopped on request (SIGINT/SIGTERM): no further DingTalk calls were made".to_owned()
        }
        Stop::Banned => "DingTalk banned this IP: no further DingTalk calls were made; the rest \
                         waits for a later run"
            .to_owned(),
        Stop::Unrecorded => "the store could not record a call before it was sent: no further \
                             DingTalk calls were made"
            .to_owned(),
    }
}

pub(super) fn deferred_line(item: &PlanItem) -> DeferredLine {
    DeferredLine {
        item: item.kind().to_owned(),
        detail: item.describe(),
        estimated_calls: item.estimated_calls(),
    }
}

#[cfg(test)]
mod tests;
