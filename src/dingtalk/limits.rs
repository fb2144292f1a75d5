//! DingTalk's size limits and our pace: the one home of every limit DingTalk sets on a call
//! (users, days, rows and ids per call or page, the approval creation window and how far back it
//! may reach), the splitting of work into batches and windows the APIs accept, and one rate
//! limiter per API path. The planner and the cost model (`quota`) import these limits, so an
//! estimate is made of the same shapes the client sends.
//!
//! Splitting is pure (values in, batches out) so its shape can be tested without HTTP. The rate
//! limiters keep each API below DingTalk's per-app QPS limit; different APIs do not share one, so
//! results and approvals are fetched side by side. Concurrency (the semaphore) lives in the
//! client, not here.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::domain::UserId;

/// `attendance/list` and `attendance/listRecord`: users per call.
pub(crate) const USERS_PER_CALL: usize = 50;
/// `attendance/list` and `attendance/listRecord`: work days per call. `workDateTo -
/// workDateFrom <= 7` with both ends inclusive is documented (eight dates); we send at most 7
/// dates to stay clear of the edge.
pub(crate) const DAYS_PER_CALL: u32 = 7;
/// `attendance/list`: rows per page.
pub(crate) const ROWS_PER_PAGE: u64 = 50;
/// `instanceIds/query`: ids per page.
pub(crate) const IDS_PER_PAGE: u64 = 20;
/// `instanceIds/query`: originators per call.
pub(crate) const USERS_PER_APPROVAL_QUERY: usize = 10;
/// `instanceIds/query`: longest span of one creation window (`endTime - startTime`, both epoch
/// milliseconds, may be exactly 120 days).
pub(crate) const APPROVAL_WINDOW_DAYS: i64 = 120;
/// `instanceIds/query`: how far back a creation window may start.
pub(crate) const APPROVAL_LOOKBACK_DAYS: i64 = 365;

/// `instanceIds/query`: ids one traversal (one query, paged) can reach. "at most 10,000 ids can
/// be pulled by paging through one query" (dingtalk-api.md section 4.1, [D kb:0501]).
pub(crate) const IDS_PER_TRAVERSAL: u64 = 10_000;
/// `attendance/list`: check points one user can have on one work date, the most a day's rows
/// can hold. dingtalk-api.md does not state a maximum (section 3.1: one row per scheduled check
/// point; section 14 item 14: multi-shift days inferred, not sampled); the issue that asked for
/// this bound assumed at most 4. DingTalk's shift editor offers at most three on/off pairs a
/// shift, six points, and we take that generous reading: a bound too tight would fail real
/// batches, one too loose only lets a hostile answer spend a few more pages.
pub(crate) const MAX_CHECK_POINTS_PER_DAY: u64 = 6;
/// `instanceIds/query`: pages in a row that may bring no new id while the cursor goes on before
/// the listing is failed. DingTalk documents no short or empty pages, but filters ids by the
/// app's permission scope (section 4.1), which could leave a page short; three in a row is no
/// longer a filter.
pub(crate) const MAX_BARREN_ID_PAGES: u64 = 3;

/// `topapi/v2/user/list`: people per page. The page documents no maximum (⚠ dingtalk-api.md
/// 6.3); its sibling `user/listsimple` documents 100.
pub(crate) const PEOPLE_PER_PAGE: u64 = 100;
/// `topapi/v2/user/list`: the most pages one department's listing may take, a department of
/// 100,000 direct members and the last page; DingTalk documents no bound, and an organisation
/// of that size is far past the free edition this job is for.
pub(crate) const PEOPLE_PAGE_BOUND: u64 = 1_001;
/// A name longer than this many characters (from the contacts calls) is cut: DingTalk's own
/// limit is not documented, and a report line should not carry a page of text.
pub(crate) const MAX_NAME_CHARS: usize = 64;

/// The most `attendance/list` pages a batch can need: everything it can hold, ≤ users × days ×
/// [`MAX_CHECK_POINTS_PER_DAY`] rows at [`ROWS_PER_PAGE`] a page, plus one page, for DingTalk may
/// answer a last, empty page after a full one. Past it, `hasMore` cannot be true.
pub(crate) fn result_page_bound(batch: &Batch) -> u64 {
    let rows = batch.users.len() as u64 * batch.days() * MAX_CHECK_POINTS_PER_DAY;
    rows.div_ceil(ROWS_PER_PAGE) + 1
}

/// The most `instanceIds/query` pages one window's traversal can take: [`IDS_PER_TRAVERSAL`] at
/// [`IDS_PER_PAGE`] a page, plus the page that says the list ended.
pub(crate) const fn id_page_bound() -> u64 {
    IDS_PER_TRAVERSAL.div_ceil(IDS_PER_PAGE) + 1
}

/// One attendance call's worth of work: ≤ 50 users × ≤ 7 consecutive days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub users: Vec<UserId>,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Batch {
    /// The work dates it covers (both ends inclusive; 0 when `to < from`).
    pub(crate) fn days(&self) -> u64 {
        u64::try_from((self.to - self.from).num_days() + 1).unwrap_or(0)
    }

    /// A short description for errors: how many users, the first, and the dates.
    pub(crate) fn describe(&self) -> String {
        let first = self.users.first().map_or("-", UserId::as_str);
        format!(
            "batch of {} user(s) from {first}, {}..{}",
            self.users.len(),
            self.from,
            self.to
        )
    }
}

/// Splits users × dates into the fewest batches DingTalk accepts.
///
/// A results page holds 50 rows whatever the batch shape, so a batch costs ⌈rows ÷ 50⌉ calls and
/// each batch wastes at most one partly filled page. Fewer, larger batches therefore cost least:
/// users go in runs of 50 and dates in runs of 7, giving ⌈users ÷ 50⌉ × ⌈days ÷ 7⌉ batches, the
/// minimum for rectangular batches. Users keep the order given; an empty input gives no batch.
pub fn split_batches(users: &[UserId], from: NaiveDate, to: NaiveDate) -> Vec<Batch> {
    if users.is_empty() {
        return Vec::new();
    }
    date_runs(from, to)
        .into_iter()
        .flat_map(|(from, to)| {
            users.chunks(USERS_PER_CALL).map(move |chunk| Batch {
                users: chunk.to_vec(),
                from,
                to,
            })
        })
        .collect()
}

/// Splits the work dates `from..=to` into consecutive runs of at most [`DAYS_PER_CALL`] dates,
/// oldest first (none when `to < from`): the date side of every attendance call, of the plan's
/// estimates and of a backfill's chunks.
pub(crate) fn date_runs(from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut runs = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + Duration::days(i64::from(DAYS_PER_CALL) - 1)).min(to);
        runs.push((start, end));
        start = end + Duration::days(1);
    }
    runs
}

/// Splits a creation window into windows of at most [`APPROVAL_WINDOW_DAYS`], oldest first, each
/// inclusive, adjacent ones one millisecond apart so that no instant is covered twice or missed.
/// DingTalk accepts a span of exactly 120 days (it refuses only a longer one).
pub(crate) fn split_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let span = Duration::days(APPROVAL_WINDOW_DAYS);
    let mut windows = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + span).min(to);
        windows.push((start, end));
        start = end + Duration::milliseconds(1);
    }
    windows
}

/// One token-bucket rate limiter per API path, created on first use.
pub(crate) struct PathLimiters {
    quota: Quota,
    limiters: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
}

impl PathLimiters {
    /// Calls are spaced evenly, with no burst, every `1 / (per_second + 0.5)` seconds: any
    /// one-second window then sees at most `per_second + 1` calls (the 21st call of a 19.5/s
    /// train falls 1.026 s after the first), the same bound as a plain `per_second` spacing,
    /// while the half step recovers the rate lost to late timer wake-ups. A burst would let a
    /// fresh limiter send twice the rate within its first second and trip DingTalk's limit.
    pub(crate) fn new(per_second: NonZeroU32) -> Self {
        let period = std::time::Duration::from_secs_f64(1.0 / (f64::from(per_second.get()) + 0.5));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(per_second))
            .allow_burst(NonZeroU32::MIN);
        PathLimiters {
            quota,
            limiters: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn for_path(&self, path: &str) -> Arc<DefaultDirectRateLimiter> {
        let mut limiters = self
            .limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limiters
            .entry(path.to_owned())
            .or_insert_with(|| Arc::new(RateLimiter::direct(self.quota)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_pages_at_most_what_it_can_hold() {
        let users: Vec<UserId> = (0..50)
            .map(|i| UserId::new(format!("u{i}")).unwrap())
            .collect();
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let full = Batch {
            users: users.clone(),
            from: day(1),
            to: day(7),
        };
        // 50 users × 7 days × 6 points = 2,100 rows = 42 pages, and the last empty one.
        assert_eq!(result_page_bound(&full), 43);
        let one = Batch {
            users: users[..1].to_vec(),
            from: day(3),
            to: day(3),
        };
        assert_eq!(result_page_bound(&one), 2);
        assert_eq!(id_page_bound(), 501);
        assert_eq!(
            full.describe(),
            "batch of 50 user(s) from u0, 2026-11-01..2026-11-07"
        );
    }

    fn users(count: usize) -> Vec<UserId> {
        (0..count)
            .map(|index| UserId::new(format!("u{index:03}")).unwrap())
            .collect()
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[track_caller]
    fn check_shape(user_count: usize, from: &str, to: &str, expected: &[(usize, &str, &str)]) {
        let batches = split_batches(&users(user_count), day(from), day(to));
        let shape: Vec<(usize, NaiveDate, NaiveDate)> = batches
            .iter()
            .map(|batch| (batch.users.len(), batch.from, batch.to))
            .collect();
        let expected: Vec<(usize, NaiveDate, NaiveDate)> = expected
            .iter()
            .map(|(count, from, to)| (*count, day(from), day(to)))
            .collect();
        assert_eq!(shape, expected);
    }

    #[test]
    fn batches_hold_at_most_fifty_users_and_seven_days() {
        check_shape(
            50,
            "2026-11-01",
            "2026-11-07",
            &[(50, "2026-11-01", "2026-11-07")],
        );
        check_shape(
            51,
            "2026-11-01",
            "2026-11-08",
            &[
                (50, "2026-11-01", "2026-11-07"),
                (1, "2026-11-01", "2026-11-07"),
                (50, "2026-11-08", "2026-11-08"),
                (1, "2026-11-08", "2026-11-08"),
            ],
        );
        check_shape(
            3,
            "2026-11-05",
            "2026-11-05",
            &[(3, "2026-11-05", "2026-11-05")],
        );
        check_shape(0, "2026-11-01", "2026-11-07", &[]);
        check_shape(3, "2026-11-07", "2026-11-01", &[]);
    }

    #[test]
    fn every_user_day_is_in_exactly_one_batch() {
        let all = users(123);
        let batches = split_batches(&all, day("2026-10-01"), day("2026-10-31"));
        assert_eq!(batches.len(), 3 * 5);
        let mut seen = std::collections::BTreeSet::new();
        for batch in &batches {
            assert!(batch.users.len() <= USERS_PER_CALL);
            assert!((batch.to - batch.from).num_days() < i64::from(DAYS_PER_CALL));
            for pair in crate::dingtalk::model::user_days(&batch.users, batch.from, batch.to) {
                assert!(seen.insert(pair), "user-day covered twice");
            }
        }
        assert_eq!(seen.len(), 123 * 31);
    }

    #[test]
    fn date_runs_cover_every_date_once_in_runs_of_seven() {
        let runs = date_runs(day("2026-10-01"), day("2026-10-16"));
        assert_eq!(
            runs,
            vec![
                (day("2026-10-01"), day("2026-10-07")),
                (day("2026-10-08"), day("2026-10-14")),
                (day("2026-10-15"), day("2026-10-16")),
            ]
        );
        assert_eq!(date_runs(day("2026-10-02"), day("2026-10-02")).len(), 1);
        assert!(date_runs(day("2026-10-03"), day("2026-10-02")).is_empty());
    }

    #[test]
    fn creation_windows_are_split_at_one_hundred_twenty_days() {
        let from = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let to = from + Duration::days(250);
        let windows = split_windows(from, to);
        assert_eq!(windows.len(), 3);
        assert_eq!(windows[0], (from, from + Duration::days(120)));
        assert_eq!(
            windows[1].0,
            from + Duration::days(120) + Duration::milliseconds(1)
        );
        assert_eq!(windows[2].1, to);
        assert!(
            windows
                .iter()
                .all(|(start, end)| *end - *start <= Duration::days(120))
        );
        assert_eq!(split_windows(from, from), vec![(from, from)]);
        assert!(split_windows(to, from).is_empty());
    }
}
