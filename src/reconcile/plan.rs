//! The plan of one run: what to fetch, in which order, and what each item costs in metered
//! calls (PRODUCT.md sections 3 and 5).
//!
//! Pure: the caller passes the users, the instant, the settings and what the store knows; no
//! clock is read and nothing is called. The same plan serves `plan` (a dry run prints it) and
//! `run_once` (which executes it in priority order).
//!
//! # Priorities
//!
//! Essential work first, within the night's allowance: approval listings and details when they
//! are evidence (see `state::PlannerState::evidence_without_approvals`), the nightly sync (work
//! dates not read yet whose results have settled, each read once, folded over days expected to
//! have no schedule so pages are full), and on scan nights the raw-punch scan of open slots.
//! Targeted re-fetches of user-days the scan or approvals point at depend on what the run finds,
//! so `run_once` adds them with [`targeted_items`]. Then, only out of the month's surplus (what
//! is left after a reserve for the remaining nights): approval listings and details as
//! enrichment, enrichment of journaled corrections, and the second look at older days. What
//! does not fit is listed as deferred, never dropped silently.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::dingtalk::limits::{
    DAYS_PER_CALL, ROWS_PER_PAGE, USERS_PER_CALL, date_runs, split_windows,
};
use crate::domain::UserId;
use crate::quota::{self, originator_list_cost, results_batch_cost};

/// Result rows one employee-day is expected to hold (one shift: OnDuty + OffDuty).
pub(crate) const DEFAULT_ROWS_PER_USER_DAY: u64 = 2;

/// Result rows an employee-day holds, by weekday, in hundredths of a row: learnt from the
/// slots the store holds, or the prior (one shift, two rows, Monday to Friday; none on
/// Saturday and Sunday). A backfill's results are estimated from it, batch by batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowsProfile {
    /// Monday first.
    pub(crate) centi_rows: [u64; 7],
    /// Rows of a user-day that has a schedule (the days approvals point at), in hundredths.
    pub(crate) centi_scheduled: u64,
    /// Learnt from the store rather than the prior.
    pub(crate) learnt: bool,
}

impl RowsProfile {
    /// Two rows (one shift) Monday to Friday, none at the weekend.
    pub(crate) fn prior() -> RowsProfile {
        let day = DEFAULT_ROWS_PER_USER_DAY * 100;
        RowsProfile {
            centi_rows: [day, day, day, day, day, 0, 0],
            centi_scheduled: day,
            learnt: false,
        }
    }

    /// The profile of present slots per work date (`counts`) of `users` users: every date from
    /// the first to the last date read for everyone is taken as read (a date without slots
    /// inside that span had no schedule). A date at either end holding less than a quarter of
    /// the busiest date's slots was read only for some users (targeted re-reads) and does not
    /// count. Needs a span of at least a week, so that every weekday is seen; otherwise the
    /// prior.
    pub(crate) fn learn(counts: &BTreeMap<NaiveDate, u64>, users: u64) -> RowsProfile {
        let busiest = counts.values().copied().max().unwrap_or(0);
        let mut full = counts
            .iter()
            .filter(|(_, count)| **count > 0 && **count * 4 >= busiest)
            .map(|(date, _)| *date);
        let (Some(first), Some(last)) = (full.next(), full.next_back()) else {
            return RowsProfile::prior();
        };
        let counts: BTreeMap<NaiveDate, u64> = counts
            .range(first..=last)
            .map(|(date, count)| (*date, *count))
            .collect();
        let (first, last) = (&first, &last);
        if users == 0 || (*last - *first).num_days() < 6 {
            return RowsProfile::prior();
        }
        let mut rows = [0u64; 7];
        let mut dates = [0u64; 7];
        for date in first.iter_days().take_while(|date| date <= last) {
            let weekday = date.weekday().num_days_from_monday() as usize;
            rows[weekday] += counts.get(&date).copied().unwrap_or(0);
            dates[weekday] += 1;
        }
        let mut centi_rows = [0u64; 7];
        for weekday in 0..7 {
            centi_rows[weekday] = (rows[weekday] * 100).div_ceil(dates[weekday].max(1) * users);
        }
        let scheduled_dates = counts.values().filter(|count| **count > 0).count() as u64;
        let centi_scheduled = (counts.values().sum::<u64>() * 100)
            .div_ceil(scheduled_dates.max(1) * users)
            .max(100);
        RowsProfile {
            centi_rows,
            centi_scheduled,
            learnt: true,
        }
    }

    /// Hundredths of a row one employee-day on `date` is expected to hold.
    pub(crate) fn centi_on(&self, date: NaiveDate) -> u64 {
        self.centi_rows[date.weekday().num_days_from_monday() as usize]
    }

    /// Rows `users` employees are expected to hold over `from..=to`.
    pub(crate) fn rows(&self, users: u64, from: NaiveDate, to: NaiveDate) -> u64 {
        let centi: u64 = from
            .iter_days()
            .take_while(|date| *date <= to)
            .map(|date| self.centi_on(date))
            .sum();
        (users * centi).div_ceil(100)
    }
}

/// What a backfill's chunks are expected to re-read through results besides their own range
/// (the targeted step of each chunk), chunk by chunk as `run` does it: the first chunk re-reads
/// the days approved approvals point at outside its range; every chunk re-reads the days
/// corrected (by earlier chunks or recently) before its range, watched for reverts.
#[derive(Debug, Clone)]
pub(crate) struct TargetedOutlook<'a> {
    /// The backfill's chunks, in order.
    pub(crate) chunks: &'a [(NaiveDate, NaiveDate)],
    /// User-days approved approvals known but not resolved point at.
    pub(crate) pointed: &'a BTreeSet<(UserId, NaiveDate)>,
    /// User-days corrected recently (watched for reverts).
    pub(crate) corrected: &'a BTreeSet<(UserId, NaiveDate)>,
    /// Approvals whose detail is not known yet (listed, or expected from a listing still to
    /// do), expected to be approved and to point at the days of the range: count per date.
    pub(crate) expected: &'a BTreeMap<NaiveDate, f64>,
    /// Hundredths of a row a user-day approvals point at holds.
    pub(crate) centi_scheduled: u64,
    /// The first work date a chunk watches for reverts (`run` re-reads corrected days from
    /// there on, not older ones).
    pub(crate) watch_from: NaiveDate,
}

/// Metered calls the targeted re-reads of a backfill's chunks are expected to spend
/// ([`TargetedOutlook`]): per chunk and date, batches of 50 users (as [`targeted_items`]), the
/// expected approvals of a date counted as a date read only as likely as it is to have one.
pub(crate) fn expected_targeted(outlook: &TargetedOutlook<'_>) -> u64 {
    let rows = outlook.centi_scheduled;
    // Calls to read `users` user-days of one date, in batches of 50.
    let cost = |users: f64| -> f64 {
        let batch = USERS_PER_CALL as f64;
        let full = (users / batch).floor();
        let rest = users - full * batch;
        let page = |n: f64| {
            ((n * rows as f64 / 100.0) / ROWS_PER_PAGE as f64)
                .ceil()
                .max(1.0)
        };
        full * page(batch) + if rest > 0.0 { page(rest) } else { 0.0 }
    };
    let mut total = 0.0;
    for (index, (from, to)) in outlook.chunks.iter().enumerate() {
        let outside = |date: &NaiveDate| date < from || date > to;
        // Corrected days before this chunk are watched; the first chunk also reads the days
        // approvals point at anywhere outside it, and corrects them.
        let wanted = |date: &NaiveDate| {
            if index == 0 {
                outside(date)
            } else {
                date < from && *date >= outlook.watch_from
            }
        };
        let mut exact: BTreeMap<NaiveDate, BTreeSet<&UserId>> = BTreeMap::new();
        for (user, date) in outlook.corrected.iter().filter(|day| day.1 < *from) {
            exact.entry(*date).or_default().insert(user);
        }
        for (user, date) in outlook.pointed.iter().filter(|day| wanted(&day.1)) {
            exact.entry(*date).or_default().insert(user);
        }
        let mut dates: BTreeSet<NaiveDate> = exact.keys().copied().collect();
        dates.extend(outlook.expected.keys().filter(|date| wanted(date)));
        for date in dates {
            let known = exact.get(&date).map_or(0, BTreeSet::len) as f64;
            let expected = outlook
                .expected
                .get(&date)
                .copied()
                .filter(|_| wanted(&date))
                .unwrap_or(0.0);
            // The chance the date has at least one of the expected approvals.
            let hit = if known > 0.0 {
                1.0
            } else {
                1.0 - (-expected).exp()
            };
            total += hit * cost((known + expected).max(1.0));
        }
    }
    total.ceil() as u64
}

/// Why a results item is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ResultsPurpose {
    /// The days a run must read: yesterday for a nightly run, the range for a backfill.
    Primary,
    /// User-days approvals point at, and recently corrected slots watched for reverts.
    Targeted,
    /// Older days of the trailing window, re-read for late changes and admin edits.
    Rescan,
}

/// List 补卡 process instance ids of one template created in a window (≤ 120 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListingItem {
    pub(crate) process_code: String,
    pub(crate) created_from: DateTime<Utc>,
    pub(crate) created_to: DateTime<Utc>,
    pub(crate) estimated_calls: u64,
    /// Originators listed (ten a query); empty: everyone's approvals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) user_ids: Vec<UserId>,
}

/// Fetch the details of approvals by id (one call each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DetailsItem {
    pub(crate) ids: Vec<String>,
    pub(crate) estimated_calls: u64,
    /// Out of the surplus whether approvals are evidence or not: details asked again of
    /// approvals DingTalk has not shown (a revocation may be attached to them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) optional: bool,
}

impl DetailsItem {
    pub(crate) fn new(ids: Vec<String>) -> DetailsItem {
        DetailsItem {
            estimated_calls: ids.len() as u64,
            ids,
            optional: false,
        }
    }
}

/// Read raw punches (`attendance/listRecord`) of users over check dates (both inclusive),
/// looking for new punches on open slots and for the 补卡 punches of watched corrections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PunchesItem {
    pub(crate) users: Vec<UserId>,
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    pub(crate) estimated_calls: u64,
}

/// Read `attendance/list` for users over work dates (both inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResultsItem {
    pub(crate) purpose: ResultsPurpose,
    pub(crate) users: Vec<UserId>,
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    pub(crate) estimated_calls: u64,
}

impl ResultsItem {
    /// The user-days the item reads.
    pub(crate) fn user_days(&self) -> impl Iterator<Item = (UserId, NaiveDate)> + '_ {
        self.from
            .iter_days()
            .take_while(|date| *date <= self.to)
            .flat_map(|date| self.users.iter().map(move |user| (user.clone(), date)))
    }
}

/// One unit of work with its estimated metered cost, as planned, recorded and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub(crate) enum PlanItem {
    ApprovalList(ListingItem),
    /// Details of approvals listed but not known in a final state.
    ApprovalDetails(DetailsItem),
    Punches(PunchesItem),
    /// Approval details only to enrich corrections already journaled (or as the lowest-priority
    /// follow-up of listings when approvals are not evidence).
    Enrichment(DetailsItem),
    Results(ResultsItem),
}

impl PlanItem {
    pub(crate) fn estimated_calls(&self) -> u64 {
        match self {
            PlanItem::ApprovalList(item) => item.estimated_calls,
            PlanItem::ApprovalDetails(item) | PlanItem::Enrichment(item) => item.estimated_calls,
            PlanItem::Results(item) => item.estimated_calls,
            PlanItem::Punches(item) => item.estimated_calls,
        }
    }

    /// `approval_list`, `approval_detail`, `enrichment`, `punch_scan`, `results`, `targeted`
    /// or `rescan`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            PlanItem::ApprovalList(_) => "approval_list",
            PlanItem::ApprovalDetails(_) => "approval_detail",
            PlanItem::Enrichment(_) => "enrichment",
            PlanItem::Punches(_) => "punch_scan",
            PlanItem::Results(item) => match item.purpose {
                ResultsPurpose::Primary => "results",
                ResultsPurpose::Targeted => "targeted",
                ResultsPurpose::Rescan => "rescan",
            },
        }
    }

    /// One line a person can read.
    pub(crate) fn describe(&self) -> String {
        match self {
            PlanItem::ApprovalList(item) if item.user_ids.is_empty() => format!(
                "list 补卡 ids of {} created {} .. {}",
                item.process_code,
                item.created_from.format("%Y-%m-%d %H:%M"),
                item.created_to.format("%Y-%m-%d %H:%M")
            ),
            PlanItem::ApprovalList(item) => format!(
                "list 补卡 ids of {} created {} .. {} by {} covered originators",
                item.process_code,
                item.created_from.format("%Y-%m-%d %H:%M"),
                item.created_to.format("%Y-%m-%d %H:%M"),
                item.user_ids.len()
            ),
            PlanItem::ApprovalDetails(item) if item.ids.is_empty() => format!(
                "fetch about {} details of the approvals the listing will find (a guess: \
                 their number is not known before they are listed)",
                item.estimated_calls
            ),
            PlanItem::ApprovalDetails(item) => {
                format!("fetch {} approval details", item.ids.len())
            }
            PlanItem::Enrichment(item) => {
                format!("fetch {} approval details for enrichment", item.ids.len())
            }
            PlanItem::Punches(item) => format!(
                "raw punches of {} users for {} .. {}",
                item.users.len(),
                item.from,
                item.to
            ),
            PlanItem::Results(item) if item.users.is_empty() => format!(
                "expected re-reads of the days approvals point at and of corrected days \
                 watched for reverts, around {} .. {} (each chunk finds its own)",
                item.from, item.to
            ),
            PlanItem::Results(item) => format!(
                "results of {} users for {} .. {}",
                item.users.len(),
                item.from,
                item.to
            ),
        }
    }
}

/// A plan's items sorted by the step of the run that executes them, each in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Phases {
    pub(crate) listings: Vec<ListingItem>,
    /// Ids of every approval-details item.
    pub(crate) detail_ids: Vec<String>,
    pub(crate) primary: Vec<ResultsItem>,
    pub(crate) punches: Vec<PunchesItem>,
    /// Planned targeted re-reads (a run adds those it finds to be needed).
    pub(crate) targeted: Vec<ResultsItem>,
    pub(crate) rescan: Vec<ResultsItem>,
    /// Whether enrichment was planned for this run.
    pub(crate) enrichment: bool,
}

impl Phases {
    /// Whether the plan lists or details approvals.
    pub(crate) fn has_approvals(&self) -> bool {
        !self.listings.is_empty() || !self.detail_ids.is_empty()
    }
}

/// One creation window of one template to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    pub(crate) process_code: String,
    pub(crate) created_from: DateTime<Utc>,
    pub(crate) created_to: DateTime<Utc>,
    /// Ids the window is expected to hold (for the page estimate).
    pub(crate) expected_ids: u64,
    /// Whose approvals: these originators only (ten a query); empty: everyone's.
    pub(crate) user_ids: Vec<UserId>,
}

/// The facts a plan is made from.
#[derive(Debug, Clone)]
pub(crate) struct PlanInput<'a> {
    pub(crate) users: &'a [UserId],
    /// Work dates that must be read, inclusive (the nightly sync, or a backfill's range).
    pub(crate) primary: Option<(NaiveDate, NaiveDate)>,
    /// The nightly sync instead of `primary`: (from, to, users) ranges, oldest first; each
    /// batch's progress is kept, so a short night still moves the sync on.
    pub(crate) sync: &'a [(NaiveDate, NaiveDate, Vec<UserId>)],
    /// Dates expected to have no schedule (estimated at no rows).
    pub(crate) expected_empty: &'a BTreeSet<NaiveDate>,
    /// Older work dates to look at again out of the surplus, inclusive.
    pub(crate) rescan: Option<(NaiveDate, NaiveDate)>,
    /// Creation windows of approvals to list.
    pub(crate) listings: &'a [Listing],
    /// Ids listed or known whose detail is missing or not final.
    pub(crate) detail_backlog: &'a [String],
    /// Approvals asked again, out of the surplus (see [`DetailsItem::optional`]).
    pub(crate) reask: &'a [String],
    /// Approvals are evidence (essential) rather than enrichment.
    pub(crate) approvals_essential: bool,
    /// Open or watched slots to scan through raw punches: (user, local date of the check point).
    pub(crate) scan: &'a [(UserId, NaiveDate)],
    /// The points of `scan` that are corrections watched for reverts: their watch ends, an open
    /// slot stays open, so the scan calls holding them go first and are deferred last.
    pub(crate) watched: &'a BTreeSet<(UserId, NaiveDate)>,
    /// Scan before anything else: while it is not known whether punches show the 补卡, the
    /// (cheap) scan is what can tell, and knowing it makes approvals enrichment.
    pub(crate) scan_first: bool,
    /// Approvals whose detail would only enrich journaled corrections.
    pub(crate) enrichment: &'a [String],
    pub(crate) rows_per_user_day: u64,
    /// Rows per employee-day by weekday for the `primary` range (a backfill's); `None`:
    /// `rows_per_user_day` on every day.
    pub(crate) rows_profile: Option<&'a RowsProfile>,
    /// Dry runs only: calls the details of the approvals still-to-do listings are expected to
    /// find will cost (a guess: their ids are not known), and the targeted re-reads the
    /// backfill's chunks are expected to make ([`expected_targeted`]). Neither is executed: a
    /// run finds its own.
    pub(crate) expected_details: u64,
    pub(crate) expected_targeted: u64,
    /// The work dates of the month whose payroll closes soonest, while it has not closed
    /// (`[quota] payroll_close_day`): its scan and second look come before the sync of newer
    /// days, and its second look is essential.
    pub(crate) payroll: Option<(NaiveDate, NaiveDate)>,
    /// Metered calls this run may spend.
    pub(crate) allowance: u64,
    /// Of the allowance, what optional work may spend (the month's surplus).
    pub(crate) surplus: u64,
    /// The window to record when the run reads no work dates.
    pub(crate) idle_window: (NaiveDate, NaiveDate),
}

/// What a run will do, in priority order, and what it leaves for later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub(crate) items: Vec<PlanItem>,
    pub(crate) deferred: Vec<PlanItem>,
    pub(crate) allowance: u64,
    /// Of the allowance, what optional work (enrichment, second looks) may spend.
    #[serde(default)]
    pub(crate) surplus: u64,
    /// Approval listings and details are evidence this run (not enrichment).
    #[serde(default)]
    pub(crate) approvals_essential: bool,
    /// Estimated metered calls of `items`.
    pub(crate) estimated_calls: u64,
    /// The work dates that must be read (the nightly sync or the backfill's range).
    #[serde(default)]
    pub(crate) primary: Option<(NaiveDate, NaiveDate)>,
    /// The work dates the run reads (primary and rescan together).
    pub(crate) window: (NaiveDate, NaiveDate),
    /// Nightly runs: who the month's budget covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) coverage: Option<quota::Coverage>,
    /// Nightly runs: the cost model coverage was decided by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cost: Option<quota::CostModel>,
    /// The payroll month's work dates while its payroll is open: their second look is
    /// essential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) payroll: Option<(NaiveDate, NaiveDate)>,
}

impl Plan {
    /// Whether `item` is optional work: deferring it does not make a run partial.
    pub(crate) fn is_optional(&self, item: &PlanItem) -> bool {
        match item {
            PlanItem::Enrichment(_) => true,
            PlanItem::Results(item) => {
                item.purpose == ResultsPurpose::Rescan
                    && !self
                        .payroll
                        .is_some_and(|(from, to)| from <= item.from && item.to <= to)
            }
            PlanItem::ApprovalDetails(item) if item.optional => true,
            PlanItem::ApprovalList(_) | PlanItem::ApprovalDetails(_) => !self.approvals_essential,
            PlanItem::Punches(_) => false,
        }
    }

    /// The items sorted by the step that executes them.
    pub(crate) fn phases(&self) -> Phases {
        let mut phases = Phases::default();
        for item in &self.items {
            match item {
                PlanItem::ApprovalList(item) => phases.listings.push(item.clone()),
                PlanItem::ApprovalDetails(item) => phases.detail_ids.extend(item.ids.clone()),
                PlanItem::Enrichment(_) => phases.enrichment = true,
                PlanItem::Punches(item) => phases.punches.push(item.clone()),
                PlanItem::Results(item) => match item.purpose {
                    ResultsPurpose::Primary => phases.primary.push(item.clone()),
                    ResultsPurpose::Rescan => phases.rescan.push(item.clone()),
                    ResultsPurpose::Targeted => phases.targeted.push(item.clone()),
                },
            }
        }
        phases
    }
}

/// Builds the plan: essential items in priority order within the allowance, then optional
/// items within what is left of the allowance and of the surplus. Once an item does not fit,
/// every later item of its group is deferred too, so the order of priorities holds.
pub(crate) fn plan(input: &PlanInput<'_>) -> Plan {
    let rows = input.rows_per_user_day;
    let mut approvals = Vec::new();
    for listing in input.listings {
        for window in split_windows(listing.created_from, listing.created_to) {
            approvals.push(PlanItem::ApprovalList(ListingItem {
                process_code: listing.process_code.clone(),
                created_from: window.0,
                created_to: window.1,
                estimated_calls: originator_list_cost(listing.expected_ids, listing.user_ids.len()),
                user_ids: listing.user_ids.clone(),
            }));
        }
    }
    if !input.detail_backlog.is_empty() {
        approvals.push(PlanItem::ApprovalDetails(DetailsItem::new(
            input.detail_backlog.to_vec(),
        )));
    }
    if input.expected_details > 0 {
        approvals.push(PlanItem::ApprovalDetails(DetailsItem {
            ids: Vec::new(),
            estimated_calls: input.expected_details,
            optional: false,
        }));
    }
    let mut essential = Vec::new();
    let mut optional = Vec::new();
    if input.scan_first {
        essential.extend(
            scan_items(input.scan, input.watched)
                .into_iter()
                .map(PlanItem::Punches),
        );
    }
    if input.approvals_essential {
        essential.append(&mut approvals);
    }
    // The payroll month first: what decides its corrections before newer days are read.
    let in_payroll = |date: &NaiveDate| {
        input
            .payroll
            .is_some_and(|(from, to)| from <= *date && *date <= to)
    };
    type Points = Vec<(UserId, NaiveDate)>;
    let (payroll_scan, later_scan): (Points, Points) = input
        .scan
        .iter()
        .cloned()
        .partition(|(_, date)| !input.scan_first && in_payroll(date));
    essential.extend(
        scan_items(&payroll_scan, input.watched)
            .into_iter()
            .map(PlanItem::Punches),
    );
    let mut rescan = input.rescan;
    if let (Some((from, to)), Some((payroll_from, payroll_to))) = (input.rescan, input.payroll) {
        let (first, last) = (from.max(payroll_from), to.min(payroll_to));
        if first <= last {
            essential.extend(
                results_items(ResultsPurpose::Rescan, input.users, first, last, rows)
                    .into_iter()
                    .map(PlanItem::Results),
            );
            rescan = (from < first).then(|| (from, first - Duration::days(1)));
            if last < to {
                rescan = Some((last + Duration::days(1), to));
            }
        }
    }
    if let Some((from, to)) = input.primary {
        let mut items = results_items(ResultsPurpose::Primary, input.users, from, to, rows);
        if let Some(profile) = input.rows_profile {
            for item in &mut items {
                item.estimated_calls =
                    results_batch_cost(profile.rows(item.users.len() as u64, item.from, item.to));
            }
        }
        essential.extend(items.into_iter().map(PlanItem::Results));
        if input.expected_targeted > 0 {
            essential.push(PlanItem::Results(ResultsItem {
                purpose: ResultsPurpose::Targeted,
                users: Vec::new(),
                from,
                to,
                estimated_calls: input.expected_targeted,
            }));
        }
    }
    let sync_items = |single_days: bool| -> Vec<ResultsItem> {
        let mut items = Vec::new();
        for (from, to, users) in input.sync {
            let ranges: Vec<(NaiveDate, NaiveDate)> = if single_days {
                // A day at a time, days expected to have no schedule folded into the day before
                // them (an empty answer still costs a call per batch).
                let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
                for date in from.iter_days().take_while(|date| date <= to) {
                    match ranges.last_mut() {
                        Some(last) if input.expected_empty.contains(&date) => last.1 = date,
                        _ => ranges.push((date, date)),
                    }
                }
                ranges
            } else {
                vec![(*from, *to)]
            };
            for (first, last) in ranges {
                for mut item in results_items(ResultsPurpose::Primary, users, first, last, rows) {
                    // Days expected to have no schedule hold no rows.
                    let scheduled = item
                        .from
                        .iter_days()
                        .take_while(|date| *date <= item.to)
                        .filter(|date| !input.expected_empty.contains(date))
                        .count() as u64;
                    item.estimated_calls =
                        results_batch_cost(item.users.len() as u64 * scheduled * rows);
                    items.push(item);
                }
            }
        }
        items
    };
    let mut sync = sync_items(false);
    // A sync longer than the night can pay for (a cold start or a catch-up on a short budget)
    // goes a day at a time, every user's progress kept, so each night moves it on instead of
    // deferring a week-long item whole.
    if sync.iter().map(|item| item.estimated_calls).sum::<u64>() > input.allowance {
        sync = sync_items(true);
    }
    essential.extend(sync.into_iter().map(PlanItem::Results));
    if !input.scan_first {
        essential.extend(
            scan_items(&later_scan, input.watched)
                .into_iter()
                .map(PlanItem::Punches),
        );
    }
    optional.append(&mut approvals);
    if !input.reask.is_empty() {
        let mut item = DetailsItem::new(input.reask.to_vec());
        item.optional = true;
        optional.push(PlanItem::ApprovalDetails(item));
    }
    if !input.enrichment.is_empty() {
        optional.push(PlanItem::Enrichment(DetailsItem::new(
            input.enrichment.to_vec(),
        )));
    }
    if let Some((from, to)) = rescan {
        let items = results_items(ResultsPurpose::Rescan, input.users, from, to, rows);
        optional.extend(items.into_iter().map(PlanItem::Results));
    }
    let (mut items, mut deferred) = fit(essential, input.allowance);
    let spent: u64 = items.iter().map(PlanItem::estimated_calls).sum();
    let room = input.allowance.saturating_sub(spent).min(input.surplus);
    let (more, later) = fit(optional, room);
    items.extend(more);
    deferred.extend(later);
    let read: Vec<(NaiveDate, NaiveDate)> = input
        .primary
        .into_iter()
        .chain(input.sync.iter().map(|(from, to, _)| (*from, *to)))
        .chain(input.rescan)
        .collect();
    let window = match (
        read.iter().map(|range| range.0).min(),
        read.iter().map(|range| range.1).max(),
    ) {
        (Some(from), Some(to)) => (from, to),
        _ => input.idle_window,
    };
    Plan {
        estimated_calls: items.iter().map(PlanItem::estimated_calls).sum(),
        items,
        deferred,
        allowance: input.allowance,
        surplus: input.surplus,
        approvals_essential: input.approvals_essential,
        primary: input.primary.or_else(|| {
            let from = input.sync.iter().map(|range| range.0).min()?;
            let to = input.sync.iter().map(|range| range.1).max()?;
            Some((from, to))
        }),
        window,
        coverage: None,
        cost: None,
        payroll: input.payroll,
    }
}

/// Splits items, in order, into those that fit `allowance` and those deferred. Once one item
/// does not fit, every later item is deferred too, so the order of priorities holds. A list of
/// approval details is divisible: as many ids as fit are taken, the rest deferred.
pub(crate) fn fit(items: Vec<PlanItem>, allowance: u64) -> (Vec<PlanItem>, Vec<PlanItem>) {
    let mut left = allowance;
    let mut fitted = Vec::new();
    let mut deferred = Vec::new();
    for item in items {
        let cost = item.estimated_calls();
        if cost <= left {
            left -= cost;
            fitted.push(item);
            continue;
        }
        match item {
            PlanItem::ApprovalDetails(item) if left > 0 && !item.ids.is_empty() => {
                let (now, later) = split_details(item, left);
                fitted.push(PlanItem::ApprovalDetails(now));
                deferred.push(PlanItem::ApprovalDetails(later));
            }
            PlanItem::Enrichment(item) if left > 0 => {
                let (now, later) = split_details(item, left);
                fitted.push(PlanItem::Enrichment(now));
                deferred.push(PlanItem::Enrichment(later));
            }
            item => deferred.push(item),
        }
        left = 0;
    }
    (fitted, deferred)
}

/// The first `calls` ids of a details item, and the rest.
fn split_details(item: DetailsItem, calls: u64) -> (DetailsItem, DetailsItem) {
    let mut now = item.ids;
    let later = now.split_off((calls as usize).min(now.len()));
    (DetailsItem::new(now), DetailsItem::new(later))
}

/// Results items for user-days approvals point at: one item per work date, users in batches of
/// 50 (sparse user-days cost about one call per date).
pub(crate) fn targeted_items(
    user_days: &BTreeSet<(UserId, NaiveDate)>,
    rows: u64,
) -> Vec<ResultsItem> {
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
pub(crate) fn results_items(
    purpose: ResultsPurpose,
    users: &[UserId],
    from: NaiveDate,
    to: NaiveDate,
    rows_per_user_day: u64,
) -> Vec<ResultsItem> {
    let mut items = Vec::new();
    if users.is_empty() {
        return items;
    }
    for (chunk_from, chunk_to) in date_runs(from, to) {
        let days = (chunk_to - chunk_from).num_days() as u64 + 1;
        for batch in users.chunks(USERS_PER_CALL) {
            let rows = batch.len() as u64 * days * rows_per_user_day;
            items.push(ResultsItem {
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

/// Raw-punch items covering `points` (user, local date of a check point): windows of 7 check
/// dates starting at the earliest uncovered date, each with the users that have a point in
/// it, 50 users per call. One call each (`listRecord` is not paged).
/// The punch scan of `points`: per 7-day window of check days, the window's users 50 a call;
/// calls holding an `urgent` point first (in window order), then the rest.
pub(crate) fn scan_items(
    points: &[(UserId, NaiveDate)],
    urgent: &BTreeSet<(UserId, NaiveDate)>,
) -> Vec<PunchesItem> {
    let mut items = scan_windows(points);
    let holds_urgent = |item: &PunchesItem| {
        urgent.iter().any(|(user, date)| {
            item.from <= *date && *date <= item.to && item.users.binary_search(user).is_ok()
        })
    };
    // A stable sort: window order within each part.
    items.sort_by_key(|item| !holds_urgent(item));
    items
}

fn scan_windows(points: &[(UserId, NaiveDate)]) -> Vec<PunchesItem> {
    let mut by_date: BTreeMap<NaiveDate, BTreeSet<&UserId>> = BTreeMap::new();
    for (user, date) in points {
        by_date.entry(*date).or_default().insert(user);
    }
    let span = Duration::days(i64::from(DAYS_PER_CALL) - 1);
    let mut items = Vec::new();
    let mut next = by_date.keys().next().copied();
    while let Some(from) = next {
        let to = from + span;
        let users: BTreeSet<&UserId> = by_date
            .range(from..=to)
            .flat_map(|(_, users)| users.iter().copied())
            .collect();
        let users: Vec<UserId> = users.into_iter().cloned().collect();
        for batch in users.chunks(USERS_PER_CALL) {
            items.push(PunchesItem {
                users: batch.to_vec(),
                from,
                to,
                estimated_calls: 1,
            });
        }
        next = by_date
            .range(to + Duration::days(1)..)
            .next()
            .map(|(date, _)| *date);
    }
    items
}

/// The latest work date whose results have settled at `as_of`: local midnight after it plus
/// `settle_hours` has passed.
pub(crate) fn latest_settled(
    as_of: DateTime<Utc>,
    tz: chrono_tz::Tz,
    settle_hours: u32,
) -> NaiveDate {
    quota::local_date(as_of - Duration::hours(i64::from(settle_hours)), tz) - Duration::days(1)
}

/// The work dates the nightly sync reads tonight: every date after `synced_through` up to
/// `latest` (from `first_default` on a fresh store). Nothing is skipped: a night that falls
/// behind (budget, outage) leaves the rest for the next nights, oldest first. Trailing dates
/// expected to have no schedule are left for the next night, to be read together with the next
/// scheduled date (an empty answer still costs a call per batch), unless the first unread date
/// is already a week old. `None`: nothing to read tonight.
pub(crate) fn sync_range(
    synced_through: Option<NaiveDate>,
    latest: NaiveDate,
    first_default: NaiveDate,
    expected_empty: &BTreeSet<NaiveDate>,
) -> Option<(NaiveDate, NaiveDate)> {
    let first = synced_through.map_or(first_default, |date| date + Duration::days(1));
    if first > latest {
        return None;
    }
    if (latest - first).num_days() >= i64::from(DAYS_PER_CALL) - 1 {
        return Some((first, latest));
    }
    let mut last = latest;
    while last >= first && expected_empty.contains(&last) {
        last -= Duration::days(1);
    }
    (last >= first).then_some((first, last))
}

/// Moves the sync's per-user progress on: every primary results item read completely moves
/// its users to its last date, provided it starts no later than the day after where they
/// were (`start_of` gives the first date a user without progress starts at). Items come in
/// the plan's order, oldest first.
pub(crate) fn advance_sync(
    progress: &mut BTreeMap<String, NaiveDate>,
    primary: &[ResultsItem],
    complete: &BTreeSet<(UserId, NaiveDate)>,
    start_of: impl Fn(&UserId) -> NaiveDate,
) {
    for item in primary {
        if !item.user_days().all(|day| complete.contains(&day)) {
            continue;
        }
        for user in &item.users {
            let next = progress
                .get(user.as_str())
                .map_or_else(|| start_of(user), |done| *done + Duration::days(1));
            if item.from <= next && item.to >= next {
                progress.insert(user.as_str().to_owned(), item.to);
            }
        }
    }
}

/// Whether tonight scans open slots: the first night, and every `every` nights after the last.
pub(crate) fn is_scan_night(last_scan: Option<NaiveDate>, today: NaiveDate, every: u32) -> bool {
    last_scan.is_none_or(|last| (today - last).num_days() >= i64::from(every.max(1)))
}

/// Which older days a nightly run re-reads with `attendance/list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RescanMode {
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
pub(crate) fn nightly_dates(
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
pub(crate) struct NightlyDates {
    pub(crate) primary: (NaiveDate, NaiveDate),
    pub(crate) rescan: Option<(NaiveDate, NaiveDate)>,
}

#[cfg(test)]
mod tests;
