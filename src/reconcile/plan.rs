//! The plan of one run: what to fetch, in which order, and what each item costs in metered
//! calls (PRODUCT.md sections 3 and 5).
//!
//! Pure: the caller passes the users, the instant, the settings and what the store knows; no
//! clock is read and nothing is called. The same plan serves `plan` (a dry run prints it) and
//! `run_once` (which executes it in priority order). Items come out in priority order: newly
//! finished approvals, the days that must be read (yesterday, or a backfill's range), targeted
//! re-fetches of user-days approvals point at, then the rolling re-scan of older open days.
//! What does not fit the allowance is listed as deferred, never dropped silently. Targeted
//! items depend on approvals discovered during the run, so `run_once` adds them with
//! [`targeted_items`] after the approvals phase.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::UserId;
use crate::quota::{
    self, APPROVAL_WINDOW_DAYS, RESULT_DAYS_PER_CALL, RESULT_USERS_PER_CALL, approval_list_cost,
    results_batch_cost,
};

/// Result rows one employee-day is expected to hold (one shift: OnDuty + OffDuty).
pub const DEFAULT_ROWS_PER_USER_DAY: u64 = 2;

/// Why a results item is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultsPurpose {
    /// The days a run must read: yesterday for a nightly run, the range for a backfill.
    Primary,
    /// User-days approvals point at, and recently corrected slots watched for reverts.
    Targeted,
    /// Older days of the trailing window, re-read for late changes and admin edits.
    Rescan,
}

/// One unit of work with its estimated metered cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum PlanItem {
    /// List 补卡 instance ids of one template created in a window (≤ 120 days).
    ApprovalList {
        process_code: String,
        created_from: DateTime<Utc>,
        created_to: DateTime<Utc>,
        estimated_calls: u64,
    },
    /// Fetch the details of approvals listed but not known in a final state.
    ApprovalDetails {
        ids: Vec<String>,
        estimated_calls: u64,
    },
    /// Read `attendance/list` for users over work dates (both inclusive).
    Results {
        purpose: ResultsPurpose,
        users: Vec<UserId>,
        from: NaiveDate,
        to: NaiveDate,
        estimated_calls: u64,
    },
}

impl PlanItem {
    pub fn estimated_calls(&self) -> u64 {
        match self {
            PlanItem::ApprovalList {
                estimated_calls, ..
            }
            | PlanItem::ApprovalDetails {
                estimated_calls, ..
            }
            | PlanItem::Results {
                estimated_calls, ..
            } => *estimated_calls,
        }
    }

    /// `approval_list`, `approval_detail`, `results`, `targeted` or `rescan`.
    pub fn kind(&self) -> &'static str {
        match self {
            PlanItem::ApprovalList { .. } => "approval_list",
            PlanItem::ApprovalDetails { .. } => "approval_detail",
            PlanItem::Results {
                purpose: ResultsPurpose::Primary,
                ..
            } => "results",
            PlanItem::Results {
                purpose: ResultsPurpose::Targeted,
                ..
            } => "targeted",
            PlanItem::Results {
                purpose: ResultsPurpose::Rescan,
                ..
            } => "rescan",
        }
    }

    /// One line a person can read.
    pub fn describe(&self) -> String {
        match self {
            PlanItem::ApprovalList {
                process_code,
                created_from,
                created_to,
                ..
            } => format!(
                "list 补卡 ids of {process_code} created {} .. {}",
                created_from.format("%Y-%m-%d %H:%M"),
                created_to.format("%Y-%m-%d %H:%M")
            ),
            PlanItem::ApprovalDetails { ids, .. } => {
                format!("fetch {} approval details", ids.len())
            }
            PlanItem::Results {
                users, from, to, ..
            } => {
                format!("results of {} users for {from} .. {to}", users.len())
            }
        }
    }
}

/// The facts a plan is made from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub as_of: DateTime<Utc>,
    pub tz: chrono_tz::Tz,
    pub users: &'a [UserId],
    pub process_codes: &'a [String],
    /// Work dates that must be read, inclusive.
    pub primary: (NaiveDate, NaiveDate),
    /// Older work dates to re-read if the allowance lets us, inclusive; `None` for none.
    pub rescan: Option<(NaiveDate, NaiveDate)>,
    /// Earliest creation instant of the approvals to list.
    pub approvals_created_from: DateTime<Utc>,
    /// Ids listed earlier whose detail is still missing or not final.
    pub detail_backlog: &'a [String],
    /// How many ids the last listing of the same window returned (for the page estimate).
    pub expected_listed_ids: u64,
    pub rows_per_user_day: u64,
    /// Metered calls this run may spend.
    pub allowance: u64,
}

/// What a run will do, in priority order, and what it leaves for later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub items: Vec<PlanItem>,
    pub deferred: Vec<PlanItem>,
    pub allowance: u64,
    /// Estimated metered calls of `items`.
    pub estimated_calls: u64,
    /// The work dates the run reads (primary and rescan together).
    pub window: (NaiveDate, NaiveDate),
}

/// Builds the plan: every item in priority order, those past the allowance deferred. Approval
/// items and the primary results are always planned first; a primary item that alone exceeds
/// what is left is deferred like any other.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut wanted = Vec::new();
    for window in creation_windows(input.approvals_created_from, input.as_of) {
        let per_code = input.expected_listed_ids / input.process_codes.len().max(1) as u64;
        for code in input.process_codes {
            wanted.push(PlanItem::ApprovalList {
                process_code: code.clone(),
                created_from: window.0,
                created_to: window.1,
                estimated_calls: approval_list_cost(per_code),
            });
        }
    }
    if !input.detail_backlog.is_empty() {
        wanted.push(PlanItem::ApprovalDetails {
            ids: input.detail_backlog.to_vec(),
            estimated_calls: input.detail_backlog.len() as u64,
        });
    }
    let (from, to) = input.primary;
    let rows = input.rows_per_user_day;
    wanted.extend(results_items(
        ResultsPurpose::Primary,
        input.users,
        from,
        to,
        rows,
    ));
    if let Some((from, to)) = input.rescan {
        wanted.extend(results_items(
            ResultsPurpose::Rescan,
            input.users,
            from,
            to,
            rows,
        ));
    }
    let window_from = input
        .rescan
        .map_or(input.primary.0, |(from, _)| from.min(input.primary.0));
    let (items, deferred) = fit(wanted, input.allowance);
    Plan {
        estimated_calls: items.iter().map(PlanItem::estimated_calls).sum(),
        items,
        deferred,
        allowance: input.allowance,
        window: (window_from, input.primary.1),
    }
}

/// Splits items, in order, into those that fit `allowance` and those deferred. Once one item
/// does not fit, every later item is deferred too, so the order of priorities holds.
pub fn fit(items: Vec<PlanItem>, allowance: u64) -> (Vec<PlanItem>, Vec<PlanItem>) {
    let mut left = allowance;
    let mut fitted = Vec::new();
    let mut deferred = Vec::new();
    for item in items {
        let cost = item.estimated_calls();
        if cost <= left {
            left -= cost;
            fitted.push(item);
        } else {
            left = 0;
            deferred.push(item);
        }
    }
    (fitted, deferred)
}

/// Results items for user-days approvals point at: one item per work date, users in batches of
/// 50 (sparse user-days cost about one call per date).
pub fn targeted_items(user_days: &BTreeSet<(UserId, NaiveDate)>, rows: u64) -> Vec<PlanItem> {
    let mut by_date: BTreeMap<NaiveDate, Vec<UserId>> = BTreeMap::new();
    for (user, date) in user_days {
        by_date.entry(*date).or_default().push(user.clone());
    }
    by_date
        .into_iter()
        .flat_map(|(date, users)| results_items(ResultsPurpose::Targeted, &users, date, date, rows))
        .collect()
}

/// Results items over `from..=to` for `users`: batches of at most 50 users and 7 days, each
/// with its page estimate.
pub fn results_items(
    purpose: ResultsPurpose,
    users: &[UserId],
    from: NaiveDate,
    to: NaiveDate,
    rows_per_user_day: u64,
) -> Vec<PlanItem> {
    let mut items = Vec::new();
    if users.is_empty() || to < from {
        return items;
    }
    for (chunk_from, chunk_to) in date_chunks(from, to, RESULT_DAYS_PER_CALL) {
        let days = (chunk_to - chunk_from).num_days() as u64 + 1;
        for batch in users.chunks(RESULT_USERS_PER_CALL) {
            let rows = batch.len() as u64 * days * rows_per_user_day;
            items.push(PlanItem::Results {
                purpose,
                users: batch.to_vec(),
                from: chunk_from,
                to: chunk_to,
                estimated_calls: results_batch_cost(rows),
            });
        }
    }
    items
}

/// `from..=to` cut into consecutive chunks of at most `days` days.
pub fn date_chunks(from: NaiveDate, to: NaiveDate, days: u32) -> Vec<(NaiveDate, NaiveDate)> {
    let mut chunks = Vec::new();
    let mut start = from;
    let step = i64::from(days.max(1));
    while start <= to {
        let end = (start + Duration::days(step - 1)).min(to);
        chunks.push((start, end));
        start = end + Duration::days(1);
    }
    chunks
}

/// Creation windows of at most 120 days covering `from..=to`, oldest first.
pub fn creation_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let span = Duration::days(i64::from(APPROVAL_WINDOW_DAYS)) - Duration::minutes(1);
    let mut windows = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + span).min(to);
        windows.push((start, end));
        start = end + Duration::milliseconds(1);
    }
    windows
}

/// Which older days a nightly run re-reads with `attendance/list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RescanMode {
    /// Every day of the trailing window before yesterday, every night.
    Window,
    /// Only the oldest day of the window: each day gets exactly one second look, when the
    /// window has passed over it and its late changes (admin edits, settling, reverts of the
    /// day itself, unexplained changes, vanishing) have happened. Corrections by approvals are
    /// found earlier by targeted re-fetches. About a sixth of the cost of `Window`.
    #[default]
    SecondLook,
}

/// The work dates of a nightly run at `as_of`: yesterday (local) as primary, and the older days
/// of the `window_days` window as rescan, per `mode`.
pub fn nightly_dates(
    as_of: DateTime<Utc>,
    tz: chrono_tz::Tz,
    window_days: u32,
    mode: RescanMode,
) -> NightlyDates {
    let today = quota::local_date(as_of, tz);
    let yesterday = today - Duration::days(1);
    let rescan = (window_days > 1).then(|| {
        let from = yesterday - Duration::days(i64::from(window_days) - 1);
        match mode {
            RescanMode::Window => (from, yesterday - Duration::days(1)),
            RescanMode::SecondLook => (from, from),
        }
    });
    NightlyDates {
        primary: (yesterday, yesterday),
        rescan,
    }
}

/// The work dates a nightly run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NightlyDates {
    pub primary: (NaiveDate, NaiveDate),
    pub rescan: Option<(NaiveDate, NaiveDate)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::test_helpers::{SHANGHAI, date, local};

    fn users(n: usize) -> Vec<UserId> {
        (0..n)
            .map(|i| UserId::new(format!("{i:04}")).unwrap())
            .collect()
    }

    fn input<'a>(users: &'a [UserId], codes: &'a [String], allowance: u64) -> PlanInput<'a> {
        let as_of = local("2026-11-10 02:10");
        let dates = nightly_dates(as_of, SHANGHAI, 7, RescanMode::Window);
        PlanInput {
            as_of,
            tz: SHANGHAI,
            users,
            process_codes: codes,
            primary: dates.primary,
            rescan: dates.rescan,
            approvals_created_from: as_of - Duration::days(45),
            detail_backlog: &[],
            expected_listed_ids: 30,
            rows_per_user_day: 2,
            allowance,
        }
    }

    #[track_caller]
    fn check(plan: &Plan, expected_kinds: &[&str], expected_calls: u64, expected_deferred: usize) {
        let kinds: Vec<&str> = plan.items.iter().map(PlanItem::kind).collect();
        assert_eq!(kinds, expected_kinds);
        assert_eq!(plan.estimated_calls, expected_calls);
        assert_eq!(plan.deferred.len(), expected_deferred);
    }

    #[test]
    fn a_nightly_plan_reads_yesterday_then_rescans_the_trailing_window() {
        let users = users(100);
        let codes = vec!["PROC-A".to_owned()];
        let plan = plan(&input(&users, &codes, 1_000));
        // 2 list pages; yesterday: 2 batches × 100 rows = 2 × 2 pages; rescan of 6 days:
        // 2 batches × 600 rows = 2 × 12 pages.
        check(
            &plan,
            &["approval_list", "results", "results", "rescan", "rescan"],
            2 + 4 + 24,
            0,
        );
        assert_eq!(plan.window, (date("2026-11-03"), date("2026-11-09")));
    }

    #[test]
    fn what_does_not_fit_the_allowance_is_deferred_in_priority_order() {
        let users = users(100);
        let codes = vec!["PROC-A".to_owned()];
        let plan = plan(&input(&users, &codes, 10));
        check(&plan, &["approval_list", "results", "results"], 6, 2);
        assert!(plan.deferred.iter().all(|item| item.kind() == "rescan"));
    }

    #[test]
    fn long_ranges_split_into_batches_of_fifty_users_and_seven_days() {
        let items = results_items(
            ResultsPurpose::Primary,
            &users(51),
            date("2026-11-01"),
            date("2026-11-10"),
            2,
        );
        assert_eq!(items.len(), 4);
        let PlanItem::Results {
            from,
            to,
            users,
            estimated_calls,
            ..
        } = &items[1]
        else {
            panic!()
        };
        assert_eq!(
            (*from, *to, users.len(), *estimated_calls),
            (date("2026-11-01"), date("2026-11-07"), 1, 1)
        );
    }

    #[test]
    fn targeted_user_days_cost_about_one_call_per_date() {
        let days: BTreeSet<_> = users(3)
            .into_iter()
            .map(|u| (u, date("2026-10-20")))
            .collect();
        let items = targeted_items(&days, 2);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].estimated_calls(), 1);
    }

    #[test]
    fn creation_windows_never_exceed_120_days() {
        let from = local("2026-01-01 00:00");
        let to = local("2026-11-10 02:10");
        let windows = creation_windows(from, to);
        assert_eq!(windows.len(), 3);
        assert!(windows.iter().all(|(a, b)| *b - *a < Duration::days(120)));
        assert_eq!(windows[0].0, from);
        assert_eq!(windows[2].1, to);
    }
}
