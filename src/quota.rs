//! Month, budget and pace arithmetic for DingTalk's monthly call quota (PRODUCT.md section 5).
//!
//! Pure functions over values: the natural month in the business time zone, how much of the
//! budget is left, what one nightly run may spend (its fair share of what is left), the pace of
//! spending and its projection to month end, and the metered cost of the fetch shapes DingTalk
//! allows. Nothing here reads a clock, the store or the network: callers pass `as_of`, the time
//! zone and the counts they hold. It deliberately does not decide *what* to fetch (that is the
//! planner's job in `reconcile::plan`).

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::dingtalk::limits::{IDS_PER_PAGE, ROWS_PER_PAGE};

/// A natural month in the business time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct YearMonth {
    pub(crate) year: i32,
    /// 1 to 12.
    pub(crate) month: u32,
}

impl YearMonth {
    /// The month `instant` falls in, read on the wall clock of `tz`.
    pub(crate) fn of(instant: DateTime<Utc>, tz: Tz) -> YearMonth {
        let local = instant.with_timezone(&tz);
        YearMonth {
            year: local.year(),
            month: local.month(),
        }
    }

    /// The month of a calendar date.
    pub(crate) fn of_date(date: NaiveDate) -> YearMonth {
        YearMonth {
            year: date.year(),
            month: date.month(),
        }
    }

    pub(crate) fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub(crate) fn next(self) -> YearMonth {
        if self.month >= 12 {
            YearMonth {
                year: self.year + 1,
                month: 1,
            }
        } else {
            YearMonth {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The last calendar day of the month.
    pub(crate) fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or(NaiveDate::MAX)
    }

    /// The instants the month starts (inclusive) and ends (exclusive) at in `tz`.
    pub(crate) fn bounds(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            local_midnight(self.first_day(), tz),
            local_midnight(self.next().first_day(), tz),
        )
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The instant local midnight of `date` happens in `tz` (the earliest one where a transition
/// makes it ambiguous; the first valid instant after a gap).
pub(crate) fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let later = naive + chrono::Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| naive.and_utc())
        }
    }
}

/// The calendar date of `instant` on the wall clock of `tz`.
pub(crate) fn local_date(instant: DateTime<Utc>, tz: Tz) -> NaiveDate {
    instant.with_timezone(&tz).date_naive()
}

/// Nightly runs left in the month of `as_of`, the one at `as_of` included (one run a day).
pub(crate) fn remaining_nightly_runs(as_of: DateTime<Utc>, tz: Tz) -> u32 {
    let today = local_date(as_of, tz);
    let month = YearMonth::of_date(today);
    month.last_day().day() - today.day() + 1
}

/// What the month's budget looks like at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pace {
    pub(crate) month: YearMonth,
    pub(crate) budget: u64,
    /// Metered calls counted so far this month.
    pub(crate) used: u64,
    pub(crate) remaining: u64,
    /// Fraction of the month elapsed, 0.0 to 1.0.
    pub(crate) elapsed: f64,
    /// Calls the month ends at if spending goes on at the pace so far.
    pub(crate) projected: u64,
}

/// Budget use, pace and projection for the month of `as_of`.
pub(crate) fn pace(as_of: DateTime<Utc>, tz: Tz, budget: u64, used: u64) -> Pace {
    let month = YearMonth::of(as_of, tz);
    let (start, end) = month.bounds(tz);
    let total = (end - start).num_seconds().max(1) as f64;
    let elapsed = ((as_of - start).num_seconds().max(0) as f64 / total).clamp(0.0, 1.0);
    let projected = if elapsed > 0.0 {
        (used as f64 / elapsed).ceil() as u64
    } else {
        used
    };
    Pace {
        month,
        budget,
        used,
        remaining: budget.saturating_sub(used),
        elapsed,
        projected,
    }
}

/// The month's nightly spending projected by nights: `used` over the `nights` run so far, at
/// their mean for each of the month's `days`. `None` before the first night.
pub(crate) fn project_by_nights(used: u64, nights: u64, days: u64) -> Option<u64> {
    (nights > 0).then(|| used.saturating_mul(days).div_ceil(nights).max(used))
}

/// What one nightly run may spend: the remaining budget divided by the nightly runs left in
/// the month (this one included), plus `slack_percent` on top, never more than what is left.
pub(crate) fn nightly_allowance(remaining: u64, runs_left: u32, slack_percent: u32) -> u64 {
    let runs = u64::from(runs_left.max(1));
    let share = remaining.div_ceil(runs);
    let with_slack = share + share * u64::from(slack_percent) / 100;
    with_slack.min(remaining)
}

/// What a night may spend beyond its essential work: the month's remaining budget less a
/// reserve of `essential_per_night` for each of the `later_nights` still to come, never more
/// than `remaining`. Second looks and enrichment only ever spend this.
pub(crate) fn surplus(remaining: u64, essential_per_night: u64, later_nights: u32) -> u64 {
    remaining.saturating_sub(essential_per_night.saturating_mul(u64::from(later_nights)))
}

/// What the month's nightly runs still need and what the budget leaves beyond it: the basis of
/// a backfill's pre-start check and of a queued backfill's share of a night.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Outlook {
    /// The month's budget.
    pub(crate) budget: u64,
    /// What is left of it.
    pub(crate) remaining: u64,
    /// Nightly runs left in the month, tonight's included.
    pub(crate) nights: u32,
    /// What those nightly runs are expected to need (their essential work, with headroom).
    pub(crate) nightly_need: u64,
    /// What is left beyond that need: what a backfill may spend without starving them.
    pub(crate) spare: u64,
}

impl Outlook {
    /// From the month's `budget`, what is `remaining` of it, the `nights` left and the spare
    /// the planner computes for tonight (the remaining budget less its reserve for every night
    /// left, tonight's included).
    pub(crate) fn new(budget: u64, remaining: u64, nights: u32, spare: u64) -> Outlook {
        let spare = spare.min(remaining);
        Outlook {
            budget,
            remaining,
            nights,
            nightly_need: remaining - spare,
            spare,
        }
    }

    /// What one night's essential work is expected to need.
    pub(crate) fn per_night(&self) -> u64 {
        self.nightly_need.div_ceil(u64::from(self.nights.max(1)))
    }

    /// What a whole month of `days` leaves beyond its nightly runs' need, at this night's need.
    pub(crate) fn spare_per_month(&self, days: u32) -> u64 {
        self.budget
            .saturating_sub(self.per_night().saturating_mul(u64::from(days)))
    }

    /// The local date of the night a queued backfill of `cost` more calls is expected to
    /// finish, starting `today`: tonight when the spare covers it, else the first night of the
    /// month whose budget completes it (each month's spare is free on its first night). `None`
    /// when the budget leaves no month any spare at this pace. Calls the nightly runs leave
    /// unspent within a month are not counted, so the date errs late.
    pub(crate) fn queue_finish(&self, cost: u64, today: NaiveDate) -> Option<NaiveDate> {
        if cost <= self.spare {
            return Some(today);
        }
        let mut left = cost - self.spare;
        let mut month = YearMonth::of_date(today);
        for _ in 0..120 {
            month = month.next();
            let spare = self.spare_per_month(month.last_day().day());
            if spare == 0 {
                return None;
            }
            if left <= spare {
                return Some(month.first_day());
            }
            left -= spare;
        }
        None
    }
}

/// What a month of full coverage costs, learnt from the organisation's own data (rows per
/// employee-day, open slots, approvals known, whether the cheap paths hold): an average night's
/// essential work for everyone in scope, split into the part every covered employee adds and
/// the part that does not depend on how many are covered (approval listings, and approval
/// details when approvals are evidence: an org-wide listing's originators are only known once
/// fetched). A month covering only some employees may instead list approvals by originator,
/// ten employees a query, once a week ([`CostModel::lists_by_originator`]): then only the
/// covered employees' approvals are listed and fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CostModel {
    /// Employees in scope.
    pub(crate) employees: u64,
    /// Essential metered calls an average night needs for every employee in scope.
    pub(crate) per_night: u64,
    /// Of `per_night`, what does not shrink with fewer employees covered.
    pub(crate) fixed_per_night: u64,
    /// Of `per_night`, what goes by batches of 50 employees (the punch scan and its re-reads:
    /// one call per batch and window however few of the 50 are covered).
    #[serde(default)]
    pub(crate) batch_per_night: u64,
    /// Pages a week one query of ten originators costs when approvals are evidence (priced as
    /// for one 补卡 template: see `reconcile::facts::gather`); 0: approvals are not evidence.
    #[serde(default)]
    pub(crate) originator_pages_per_week: u64,
}

impl CostModel {
    /// The monthly budget that covers everyone over a month of `days` nights (`C(N)`), with a
    /// quarter on top for what the estimates miss (the benchmark month measured the model
    /// 10–20 % short of what full recall spends).
    pub(crate) fn full_budget(&self, days: u32) -> u64 {
        (self.per_night.saturating_mul(u64::from(days)) * 5).div_ceil(4)
    }

    /// Metered calls per employee over a month of `days` nights.
    pub(crate) fn per_employee_month(&self, days: u32) -> f64 {
        self.full_budget(days) as f64 / self.employees.max(1) as f64
    }

    /// Essential calls a night needs to cover `covered` employees: the approvals' part (fixed,
    /// or by originator when that is cheaper), the per-employee part (the sync's rows) by whole
    /// pages of [`COVERAGE_STEP`] employees, the batch part by batches of 50.
    pub(crate) fn coverable_cost(&self, covered: u64) -> u64 {
        let employees = self.employees.max(1);
        let covered = covered.min(employees);
        let variable = self
            .per_night
            .saturating_sub(self.fixed_per_night)
            .saturating_sub(self.batch_per_night);
        let batch = crate::dingtalk::limits::USERS_PER_CALL as u64;
        // A count between whole pages pays for the page it does not fill.
        let paged = covered
            .div_ceil(COVERAGE_STEP as u64)
            .saturating_mul(COVERAGE_STEP as u64)
            .min(employees);
        let by_employee =
            (u128::from(variable) * u128::from(paged)).div_ceil(u128::from(employees)) as u64;
        let by_batch = (u128::from(self.batch_per_night) * u128::from(covered.div_ceil(batch)))
            .div_ceil(u128::from(employees.div_ceil(batch))) as u64;
        self.approvals_cost(covered) + by_employee + by_batch
    }

    /// Approval calls a night needs to cover `covered` employees: the org-wide listing and
    /// everyone's details, or (when cheaper) the covered employees' own details and a weekly
    /// listing of them by originator, ten a query.
    fn approvals_cost(&self, covered: u64) -> u64 {
        self.by_originator_cost(covered)
            .map_or(self.fixed_per_night, |by| by.min(self.fixed_per_night))
    }

    /// What listing by originator costs a night for `covered` employees: their share of the
    /// details, and `originator_pages_per_week` for every ten of them. `None` when it is not
    /// possible (approvals not evidence) or `covered` is everyone.
    fn by_originator_cost(&self, covered: u64) -> Option<u64> {
        let employees = self.employees.max(1);
        if self.originator_pages_per_week == 0 || covered >= employees {
            return None;
        }
        let per_query = crate::dingtalk::limits::USERS_PER_APPROVAL_QUERY as u64;
        let details = (u128::from(self.fixed_per_night) * u128::from(covered))
            .div_ceil(u128::from(employees)) as u64;
        let listing = covered
            .div_ceil(per_query)
            .saturating_mul(self.originator_pages_per_week)
            .div_ceil(7);
        Some(details + listing)
    }

    /// Whether a month covering `covered` employees lists approvals by originator (cheaper
    /// than listing everyone's and fetching every detail).
    pub(crate) fn lists_by_originator(&self, covered: u64) -> bool {
        self.by_originator_cost(covered)
            .is_some_and(|by| by < self.fixed_per_night)
    }

    /// How many employees `per_night` calls a night cover completely: everyone when it is
    /// enough, else the most whose [`CostModel::coverable_cost`] it pays.
    pub(crate) fn coverable(&self, per_night: u64) -> u64 {
        if per_night >= self.per_night || self.employees == 0 {
            return self.employees;
        }
        // The cost grows with the employees covered: the largest count it pays for.
        let (mut low, mut high) = (0u64, self.employees);
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            if self.coverable_cost(mid) <= per_night {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        low
    }
}

/// Who the month's budget covers when it cannot pay for everyone: whole employees, chosen in a
/// stable order (department, then user id), decided on the month's first night and only ever
/// narrowed within the month, so that every employee a report lists is covered completely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Coverage {
    pub(crate) month: YearMonth,
    /// Employees in scope when it was decided.
    pub(crate) total: u64,
    /// The employees covered, in the order they were chosen; `None`: everyone.
    pub(crate) covered: Option<Vec<String>>,
    /// The monthly budget that would cover everyone (`C(N)` of the cost model).
    pub(crate) full_budget: u64,
    /// The budget it was decided under.
    pub(crate) budget: u64,
    /// The local date it was decided (or last narrowed).
    pub(crate) decided_on: NaiveDate,
}

impl Coverage {
    /// Employees covered.
    pub(crate) fn covered_count(&self) -> u64 {
        self.covered
            .as_ref()
            .map_or(self.total, |covered| covered.len() as u64)
    }

    /// Whether everyone in scope is covered.
    pub(crate) fn is_full(&self) -> bool {
        self.covered.is_none()
    }
}

/// Employees whose results of a day fill one page (50 rows, two check points each).
const COVERAGE_STEP: usize = 25;

/// The employees `users` (in priority order) a night may cover: everyone when `per_night`
/// pays for the cost model's night, else the first ones the model says it pays for, never more
/// than `previous` covered earlier in the same month (coverage only narrows within a month).
pub(crate) fn cover<'a>(
    users: &'a [crate::domain::UserId],
    model: &CostModel,
    per_night: u64,
    previous: Option<&[String]>,
) -> Option<Vec<&'a crate::domain::UserId>> {
    // The model prices the sync's rows by whole pages of COVERAGE_STEP employees, so where
    // rows dominate the count is a whole number of pages.
    let coverable = model.coverable(per_night) as usize;
    match previous {
        None if coverable >= users.len() => None,
        None => Some(users.iter().take(coverable).collect()),
        Some(previous) => {
            let kept: std::collections::BTreeSet<&str> =
                previous.iter().map(String::as_str).collect();
            Some(
                users
                    .iter()
                    .filter(|user| kept.contains(user.as_str()))
                    .take(coverable)
                    .collect(),
            )
        }
    }
}

/// Metered calls one `attendance/list` traversal costs: one batch of at most 50 users and 7
/// days, `expected_rows` rows in it; one page per 50 rows, and at least one call even when the
/// batch returns nothing.
pub(crate) fn results_batch_cost(expected_rows: u64) -> u64 {
    expected_rows.div_ceil(ROWS_PER_PAGE).max(1)
}

/// Metered calls a traversal of `instanceIds/query` costs for `expected_ids` ids: one page per
/// 20 ids, at least one.
pub(crate) fn approval_list_cost(expected_ids: u64) -> u64 {
    expected_ids.div_ceil(IDS_PER_PAGE).max(1)
}

/// Metered calls listing `expected_ids` ids costs when it names `originators` (0: everyone):
/// one traversal per ten originators, each expected to hold its share of the ids.
pub(crate) fn originator_list_cost(expected_ids: u64, originators: usize) -> u64 {
    if originators == 0 {
        return approval_list_cost(expected_ids);
    }
    let per_query = crate::dingtalk::limits::USERS_PER_APPROVAL_QUERY;
    (0..originators)
        .step_by(per_query)
        .map(|start| {
            let chunk = per_query.min(originators - start) as u64;
            approval_list_cost((expected_ids * chunk).div_ceil(originators as u64))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_queued_backfill_finishes_tonight_when_the_spare_covers_it_else_on_a_month_s_first_night() {
        // 4,000 budget, 1,000 used, 20 nights left needing 40 each: 2,200 spare tonight.
        let outlook = Outlook::new(4_000, 3_000, 20, 2_200);
        assert_eq!(outlook.nightly_need, 800);
        assert_eq!(outlook.per_night(), 40);
        let today = day("2026-11-11");
        assert_eq!(outlook.queue_finish(2_200, today), Some(today));
        // December leaves 4,000 - 31 × 40 = 2,760 spare; January 2,760 as well.
        assert_eq!(outlook.spare_per_month(31), 2_760);
        assert_eq!(outlook.queue_finish(2_201, today), Some(day("2026-12-01")));
        assert_eq!(outlook.queue_finish(4_960, today), Some(day("2026-12-01")));
        assert_eq!(outlook.queue_finish(4_961, today), Some(day("2027-01-01")));
        // A budget the nightly runs need whole never finishes a queue.
        let starved = Outlook::new(1_000, 1_000, 20, 0);
        assert_eq!(starved.queue_finish(1, today), None);
        assert_eq!(starved.queue_finish(0, today), Some(today));
        // A spare above what is left (a stale plan) is capped.
        assert_eq!(Outlook::new(100, 50, 3, 80).spare, 50);
    }

    #[test]
    fn the_nightly_pace_is_projected_by_nights_not_hours() {
        assert_eq!(project_by_nights(73, 1, 30), Some(2190));
        assert_eq!(project_by_nights(100, 3, 31), Some(1034));
        assert_eq!(project_by_nights(0, 0, 30), None);
        assert_eq!(
            project_by_nights(500, 40, 30),
            Some(500),
            "never below what is spent"
        );
    }

    #[test]
    fn the_month_is_read_on_the_business_wall_clock() {
        // 2026-10-31 17:30 UTC is already 2026-11-01 01:30 in Shanghai.
        let month = YearMonth::of(utc("2026-10-31T17:30:00Z"), SHANGHAI);
        assert_eq!(month.to_string(), "2026-11");
        let (start, end) = month.bounds(SHANGHAI);
        assert_eq!(start, utc("2026-10-31T16:00:00Z"));
        assert_eq!(end, utc("2026-11-30T16:00:00Z"));
    }

    #[test]
    fn december_rolls_into_the_next_year() {
        let december = YearMonth {
            year: 2026,
            month: 12,
        };
        assert_eq!(
            december.next(),
            YearMonth {
                year: 2027,
                month: 1
            }
        );
        assert_eq!(december.last_day().day(), 31);
        assert_eq!(
            YearMonth {
                year: 2028,
                month: 2
            }
            .last_day()
            .day(),
            29
        );
    }

    #[test]
    fn remaining_runs_count_tonight_and_every_later_night_of_the_month() {
        assert_eq!(
            remaining_nightly_runs(utc("2026-11-01T18:10:00Z"), SHANGHAI),
            29
        );
        assert_eq!(
            remaining_nightly_runs(utc("2026-11-29T18:10:00Z"), SHANGHAI),
            1
        );
    }

    #[track_caller]
    fn check_allowance(remaining: u64, runs: u32, slack: u32, expected: u64) {
        assert_eq!(nightly_allowance(remaining, runs, slack), expected);
    }

    #[test]
    fn a_night_gets_its_fair_share_plus_slack_but_never_more_than_is_left() {
        check_allowance(3000, 30, 0, 100);
        check_allowance(3000, 30, 50, 150);
        check_allowance(100, 1, 50, 100);
        check_allowance(0, 10, 50, 0);
        check_allowance(10, 0, 0, 10);
    }

    #[test]
    fn the_surplus_keeps_a_reserve_for_every_later_night() {
        assert_eq!(surplus(1000, 30, 20), 400);
        assert_eq!(surplus(1000, 60, 20), 0);
        assert_eq!(surplus(1000, 60, 0), 1000);
    }

    #[test]
    fn pace_projects_spending_so_far_to_the_end_of_the_month() {
        // Half of November (30 days) gone, 1,000 calls used.
        let pace = pace(utc("2026-11-15T16:00:00Z"), SHANGHAI, 4000, 1000);
        assert_eq!(pace.remaining, 3000);
        assert!((pace.elapsed - 0.5).abs() < 1e-9);
        assert_eq!(pace.projected, 2000);
    }

    #[test]
    fn call_costs_round_up_to_whole_pages_and_never_reach_zero() {
        assert_eq!(results_batch_cost(0), 1);
        assert_eq!(results_batch_cost(50), 1);
        assert_eq!(results_batch_cost(51), 2);
        assert_eq!(results_batch_cost(700), 14);
        assert_eq!(approval_list_cost(0), 1);
        assert_eq!(approval_list_cost(41), 3);
    }

    fn users(n: usize) -> Vec<crate::domain::UserId> {
        (0..n)
            .map(|i| crate::domain::UserId::new(format!("u{i:04}")).unwrap())
            .collect()
    }

    fn model(employees: u64, per_night: u64, fixed: u64) -> CostModel {
        CostModel {
            employees,
            per_night,
            fixed_per_night: fixed,
            batch_per_night: 0,
            originator_pages_per_week: 0,
        }
    }

    #[test]
    fn the_cost_model_prices_a_month_and_what_a_night_covers() {
        let model = model(200, 11, 1);
        assert_eq!(model.full_budget(30), 413);
        assert!((model.per_employee_month(30) - 2.065).abs() < 1e-9);
        // 11 a night covers everyone; 6 a night pays the fixed 1 and half of the 10 per-employee.
        assert_eq!(model.coverable(11), 200);
        assert_eq!(model.coverable(6), 100);
        assert_eq!(model.coverable(1), 0);
        assert_eq!(model.coverable_cost(100), 6);
        assert_eq!(model.coverable_cost(200), 11);
        // A batch part of 4 a night (four batches of 50): 50 employees pay a whole batch.
        let batched = CostModel {
            batch_per_night: 4,
            ..model
        };
        assert_eq!(batched.coverable_cost(50), 1 + 2 + 1);
        // 51 pay a second batch and a third page of 25 (6 × 75 / 200 = 2.25, a page more).
        assert_eq!(batched.coverable_cost(51), 1 + 3 + 2);
        assert_eq!(batched.coverable(4), 50);
        assert_eq!(batched.coverable(11), 200);
    }

    #[test]
    fn a_partial_month_lists_by_originator_when_cheaper_than_everyone_s_details() {
        // 200 employees; 20 a night of approvals (everyone's details), 10 of rows.
        let org_wide = CostModel {
            employees: 200,
            per_night: 30,
            fixed_per_night: 20,
            batch_per_night: 0,
            originator_pages_per_week: 0,
        };
        assert_eq!(org_wide.coverable_cost(50), 20 + 3);
        assert!(!org_wide.lists_by_originator(50));
        let by_originator = CostModel {
            originator_pages_per_week: 1,
            ..org_wide
        };
        // 50 covered: their quarter of the details (5) and five queries a week (1 a night).
        assert_eq!(by_originator.coverable_cost(50), 5 + 1 + 3);
        assert!(by_originator.lists_by_originator(50));
        // 20 a night covers nobody org-wide; by originator 110: 11 of details, two queries'
        // pages, 7 pages of rows for 125.
        assert_eq!(org_wide.coverable(20), 0);
        assert_eq!(by_originator.coverable(20), 110);
        assert_eq!(by_originator.coverable_cost(110), 11 + 2 + 7);
        // Everyone: the org-wide listing, whatever is cheaper for part of them.
        assert_eq!(by_originator.coverable_cost(200), 30);
        assert!(!by_originator.lists_by_originator(200));
        // With many templates a query of ten costs more than their details: org-wide.
        let many = CostModel {
            originator_pages_per_week: 200,
            ..org_wide
        };
        assert!(!many.lists_by_originator(190));
        assert_eq!(many.coverable_cost(190), 20 + 10);
    }

    #[test]
    fn a_listing_by_originator_costs_a_traversal_per_ten_of_them() {
        assert_eq!(originator_list_cost(45, 0), 3);
        // 25 originators: 10, 10 and 5, holding 18, 18 and 9 of the 45 ids.
        assert_eq!(originator_list_cost(45, 25), 3);
        // 250 ids of 20 originators: 125 each, 7 pages each.
        assert_eq!(originator_list_cost(250, 20), 14);
        assert_eq!(originator_list_cost(0, 1), 1);
    }

    #[test]
    fn cover_takes_everyone_or_whole_pages_of_employees_in_order() {
        let all = users(200);
        assert_eq!(cover(&all, &model(200, 11, 0), 11, None), None);
        // 8 of 11 a night: 145 employees in proportion; the model prices whole pages of 25,
        // so 125 (7 calls; 150 would cost 9).
        let covered = cover(&all, &model(200, 11, 0), 8, None).unwrap();
        assert_eq!(covered.len(), 125);
        assert!(covered.iter().zip(&all).all(|(a, b)| *a == b), "in order");
        // Less than a page pays for nobody.
        assert_eq!(cover(&all, &model(200, 110, 0), 5, None).unwrap().len(), 0);
        // Where the fixed part dominates, a page's employees are not all needed: a count
        // between pages pays for the page it does not fill.
        let by_originator = CostModel {
            originator_pages_per_week: 1,
            ..model(200, 110, 100)
        };
        let covered = cover(&all, &by_originator, 60, None).unwrap();
        assert_eq!(by_originator.coverable_cost(covered.len() as u64), 60);
        assert_eq!(covered.len(), 102);
    }

    #[test]
    fn cover_never_widens_within_the_month_and_keeps_the_same_people() {
        let all = users(200);
        let before: Vec<String> = all[100..150]
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect();
        let covered = cover(&all, &model(200, 11, 0), 11, Some(&before)).unwrap();
        let ids: Vec<&str> = covered.iter().map(|u| u.as_str()).collect();
        assert_eq!(ids, before.iter().map(String::as_str).collect::<Vec<_>>());
        // Narrowed: the first of the same people.
        let narrowed = cover(&all, &model(200, 11, 0), 2, Some(&before)).unwrap();
        assert_eq!(narrowed.len(), 25);
        assert_eq!(narrowed[0].as_str(), before[0]);
    }

    proptest::proptest! {
        /// More budget never covers fewer employees, and never more than are in scope.
        #[test]
        fn coverage_grows_with_the_budget(
            employees in 1u64..5_000,
            per_night in 1u64..500,
            fixed in 0u64..50,
            a in 0u64..600,
            b in 0u64..600,
        ) {
            let model = model(employees, per_night.max(fixed), fixed);
            let (low, high) = (a.min(b), a.max(b));
            let all = users(employees as usize);
            let count = |budget: u64| cover(&all, &model, budget, None).map_or(all.len(), |c| c.len());
            proptest::prop_assert!(count(low) <= count(high));
            proptest::prop_assert!(count(high) <= all.len());
        }
    }
}
