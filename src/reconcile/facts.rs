//! The facts a run is planned from, gathered once from the store and the client (users in
//! scope, known approvals, the planner's state, open and watched slots, the month's budget and
//! surplus), and the plan made from them. Store reads only; nothing metered is called and
//! nothing is written here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::dingtalk::Client;
use crate::dingtalk::limits::{APPROVAL_LOOKBACK_DAYS, ROWS_PER_PAGE, USERS_PER_CALL, date_runs};
use crate::domain::{Slot, UserId};
use crate::quota::{
    CostModel, Coverage, YearMonth, cover, local_date, local_midnight, nightly_allowance,
    remaining_nightly_runs, surplus,
};
use crate::store::{ListedApproval, QuotaExhaustion, Store, StoredApproval};

use super::classify::shows_approval;
use super::context::{pointed_days, recently_corrected, watch_floor};
use super::plan::{DEFAULT_ROWS_PER_USER_DAY, RescanMode, RowsProfile, TargetedOutlook};
use super::plan::{
    Listing, Plan, PlanInput, expected_targeted, is_scan_night, latest_settled, nightly_dates,
    plan, scan_items, sync_range,
};
use super::scan::check_day;
use super::state::{COST_HISTORY, Fact, PlannerState};
use super::{NIGHTLY_SLACK_PERCENT, RunError, RunKind, RunRequest, RunSettings};

/// What the planner needs from the store and the client, gathered once.
pub(super) struct Facts {
    pub(super) users: Vec<UserId>,
    pub(super) process_codes: Vec<String>,
    pub(super) known: BTreeMap<String, StoredApproval>,
    pub(super) backlog: Vec<ListedApproval>,
    pub(super) allowance: u64,
    pub(super) month_used: u64,
    /// The month's budget left less a reserve for the later nights.
    pub(super) surplus: u64,
    pub(super) state: PlannerState,
    pub(super) scan_night: bool,
    /// Not-signed slots within the horizon (scan nights only).
    pub(super) open_slots: Vec<Slot>,
    /// Corrected slots watched for reverts (scan nights only).
    pub(super) watched: Vec<Slot>,
    /// Approvals whose detail would enrich journaled corrections.
    pub(super) enrichment: Vec<String>,
    pub(super) expected_empty: BTreeSet<NaiveDate>,
    /// Backfills: result rows per employee-day by weekday, from the store or the prior.
    pub(super) rows_profile: Option<RowsProfile>,
    /// Dry runs of a backfill: what its targeted re-reads are estimated from.
    pub(super) outlook: Option<Outlook>,
    /// Nightly runs: who this month's budget covers (`users` are the covered), and the cost
    /// model it was decided by.
    pub(super) coverage: Option<Coverage>,
    pub(super) cost: Option<CostModel>,
    /// The organisation's quota found exhausted this quota month: no metered call (allowance
    /// and surplus 0, the whole plan deferred) until the next (`blocked`).
    pub(super) blocked: Option<QuotaExhaustion>,
}

/// What the store says about the targeted re-reads a backfill's chunks will make.
pub(super) struct Outlook {
    /// User-days approved, unresolved approvals in scope point at.
    pointed: BTreeSet<(UserId, NaiveDate)>,
    /// User-days corrected recently, watched for reverts.
    corrected: BTreeSet<(UserId, NaiveDate)>,
    /// Of the finished approvals the store knows, the share approved (the prior without
    /// enough of them).
    approved_share: f64,
}

/// Nights of cost model a month's coverage needs before it may leave anyone out.
const MIN_NIGHTS_FOR_COVERAGE: usize = 7;

/// Share of 补卡 approvals approved when the store knows too few to tell (PRODUCT.md section 8,
/// the benchmark month: 5 % refused, 3 % withdrawn).
const PRIOR_APPROVED_SHARE: f64 = 0.92;
/// Days after its slot a 补卡 may be filed (PRODUCT.md section 8: lags up to 30 days).
const FILING_LAG_DAYS: i64 = 30;
/// Finished approvals the store must know before their approved share replaces the prior.
const MIN_APPROVALS_FOR_SHARE: usize = 20;
/// 补卡 approvals created per 100 employee-days when the store knows none (a backfill's
/// guess): two rows a workday, 3 % of them missed, 90 % of those filed, five workdays in seven
/// (PRODUCT.md section 8, the benchmark month): 2 × 0.03 × 0.9 × 5/7 ≈ 0.039.
const PRIOR_APPROVALS_PER_100_EMPLOYEE_DAYS: u64 = 4;

pub(super) async fn gather(
    store: &Store,
    client: &Client,
    settings: &RunSettings,
    request: &RunRequest,
    process_codes: Vec<String>,
) -> Result<Facts, RunError> {
    let tz = settings.timezone;
    let month = YearMonth::of(request.as_of, tz).to_string();
    let month_used = store.month_usage(&month)?.metered;
    let remaining = settings.monthly_budget.saturating_sub(month_used);
    let nights = remaining_nightly_runs(request.as_of, tz);
    let mut allowance = match request.kind {
        RunKind::Nightly | RunKind::Daemon => {
            nightly_allowance(remaining, nights, NIGHTLY_SLACK_PERCENT)
        }
        RunKind::Backfill { .. } => remaining,
    };
    if let Some(max) = request.max_calls {
        allowance = allowance.min(max);
    }
    let blocked = super::blocked::current(store, tz, request.as_of)?;
    if blocked.is_some() {
        allowance = 0;
    }
    let mut users = match &request.kind {
        RunKind::Backfill {
            users: Some(users), ..
        } => users
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        _ => client.users_in_scope(&settings.scope).await?,
    };
    let known_ids: Vec<String> = store.known_process_instance_ids()?.into_iter().collect();
    let known = store.approvals(&known_ids)?;
    let mut backlog = store.listed_process_instance_ids()?;
    let mut state = PlannerState::from_stored(store.planner_state()?.as_deref());
    let today = local_date(request.as_of, tz);
    let nightly = !matches!(request.kind, RunKind::Backfill { .. });
    let latest = latest_settled(request.as_of, tz, settings.reconcile.sync_after_hours);
    let recent = store.present_slot_counts(latest - Duration::days(7), latest)?;
    let recent_users = store.present_slot_users(latest - Duration::days(7), latest)?;
    // Open and watched slots of everyone in scope: what a scan night reads, and (priced as
    // scan items) what the cost model learns the scan's cost from.
    let (mut open_slots, mut watched) = if nightly {
        scan_targets(store, settings, request, &users, &state)?
    } else {
        (Vec::new(), Vec::new())
    };
    let (coverage, cost) = if nightly {
        let points: Vec<(UserId, NaiveDate)> = open_slots
            .iter()
            .chain(&watched)
            .map(|slot| check_day(slot, tz))
            .collect();
        let scan_calls = (!recent.is_empty())
            .then(|| scan_cost_for_all(&points, users.len() as u64, recent_users));
        let tonight = cost_model(
            settings,
            users.len() as u64,
            &recent,
            approvals_per_night(&state, &known, users.len() as u64, request.as_of),
            scan_calls,
            recent_users,
        );
        // A page a week for each query of ten originators, when approvals are evidence (else a
        // partial month has no approvals' share to save). Priced as for one template whatever
        // their number: a nightly run discovers its templates after these facts, and `plan`
        // must decide as the run does. (Each template is listed by itself, so with several
        // this undercounts the listing; pricing it whole covered fewer people than the budget
        // paid for in the benchmark month, the rest of the partial-month model being
        // conservative. The two are to be calibrated together.)
        let tonight = CostModel {
            originator_pages_per_week: u64::from(tonight.fixed_per_night > 0),
            ..tonight
        };
        // The median of the recent nights' sync and scan, tonight's included, and tonight's
        // approvals (already an average over the days the listings reach).
        let variable = tonight.per_night - tonight.fixed_per_night;
        if !request.dry_run {
            state.night_history.push(variable);
            let excess = state.night_history.len().saturating_sub(COST_HISTORY);
            state.night_history.drain(..excess);
        }
        let mut nights_seen = state.night_history.clone();
        if request.dry_run {
            nights_seen.push(variable);
        }
        nights_seen.sort_unstable();
        let median = nights_seen
            .get(nights_seen.len() / 2)
            .copied()
            .unwrap_or(variable);
        let model = CostModel {
            per_night: median + tonight.fixed_per_night,
            ..tonight
        };
        let ordered = by_department(store, &users)?;
        let month = YearMonth::of(request.as_of, tz);
        let previous = state
            .coverage
            .as_ref()
            .filter(|decided| decided.month == month && decided.budget == settings.monthly_budget);
        let days = month.last_day().day();
        // Decided on the month's first night from its whole budget, kept for the month (a
        // night short of calls defers work and says so; it does not drop people half-way).
        let per_night = match previous {
            Some(decided) => model.coverable_cost(decided.covered_count()),
            // Until a week of nights has taught the model, it is a guess: nobody is left out
            // on a guess (a short budget then defers work, as it always did).
            None if state.night_history.len() < MIN_NIGHTS_FOR_COVERAGE => u64::MAX,
            None => settings.monthly_budget / u64::from(days.max(1)),
        };
        let covered = cover(
            &ordered,
            &model,
            per_night,
            previous.and_then(|decided| decided.covered.as_deref()),
        );
        let coverage = Coverage {
            month,
            total: users.len() as u64,
            covered: covered.as_ref().map(|covered| {
                covered
                    .iter()
                    .map(|user| user.as_str().to_owned())
                    .collect()
            }),
            full_budget: model.full_budget(days),
            budget: settings.monthly_budget,
            decided_on: match previous {
                // The same people (in whatever order a department move put them) is no
                // new decision.
                Some(decided) if same_people(decided.covered.as_deref(), covered.as_deref()) => {
                    decided.decided_on
                }
                _ => today,
            },
        };
        if let Some(covered) = covered {
            users = covered.into_iter().cloned().collect();
            let scope: BTreeSet<&UserId> = users.iter().collect();
            open_slots.retain(|slot| scope.contains(&slot.user_id));
            watched.retain(|slot| scope.contains(&slot.user_id));
        }
        state.coverage = Some(coverage.clone());
        (Some(coverage), Some(model))
    } else {
        (None, None)
    };
    if nightly && !store.queued_backfills()?.is_empty() {
        // Details a queued backfill's chunk listed and did not get to are the queue's to pay
        // for out of the spare, not tonight's: a nightly run lists and details what its own
        // dates need itself.
        let owed = store.backlog_listed_only_by_backfills()?;
        backlog.retain(|listed| !owed.contains(&listed.process_instance_id));
    }
    let scan_night =
        nightly && is_scan_night(state.last_scan, today, settings.reconcile.scan_every_nights);
    if scan_night {
        // The scan of open slots comes every few nights: on a short month its night may spend
        // the share of the nights in between (they spent less than theirs), or the scan of
        // the covered would never finish.
        let every = settings.reconcile.scan_every_nights.max(1);
        let slack = NIGHTLY_SLACK_PERCENT.max((every - 1) * 100);
        // Only a short month needs it: with everyone covered a scan cut short finishes on the
        // next scan night, and a larger allowance would only let optional work spend sooner.
        let short = coverage
            .as_ref()
            .is_some_and(|coverage| !coverage.is_full());
        if blocked.is_none() && short {
            allowance = allowance.max(nightly_allowance(remaining, nights, slack));
        }
        if let Some(max) = request.max_calls {
            allowance = allowance.min(max);
        }
    } else {
        open_slots.clear();
        watched.clear();
    }
    let enrichment: Vec<String> = store
        .corrections_awaiting_enrichment()?
        .into_iter()
        .filter(|id| !known.contains_key(id))
        .collect();
    let expected_empty = expected_empty(store, settings, &users, &state, latest)?;
    let essential_per_night = reserve_per_night(
        settings,
        &users,
        &recent,
        approvals_per_night(&state, &known, users.len() as u64, request.as_of),
    );
    // A month that cannot cover everyone spends nothing on optional work (enrichment, second
    // looks, approvals that are not evidence): its budget is the covered people's.
    let short = coverage
        .as_ref()
        .is_some_and(|coverage| !coverage.is_full());
    let surplus = match blocked {
        Some(_) => 0,
        None if short => 0,
        None => surplus(remaining, essential_per_night, nights.saturating_sub(1))
            .saturating_sub(essential_per_night),
    };
    let (rows_profile, outlook) = match &request.kind {
        RunKind::Backfill { from, to, .. } => {
            // The four weeks before the range: the range itself holds at most the few
            // user-days earlier targeted re-reads fetched.
            let counts =
                store.present_slot_counts(*from - Duration::days(28), *from - Duration::days(1))?;
            let profile = RowsProfile::learn(&counts, users.len() as u64);
            let outlook = if request.dry_run {
                Some(outlook(store, settings, request, &users, &known, *to)?)
            } else {
                None
            };
            (Some(profile), outlook)
        }
        RunKind::Nightly | RunKind::Daemon => (None, None),
    };
    Ok(Facts {
        users,
        process_codes,
        known,
        backlog,
        allowance,
        month_used,
        surplus,
        state,
        scan_night,
        open_slots,
        watched,
        enrichment,
        expected_empty,
        rows_profile,
        outlook,
        coverage,
        cost,
        blocked,
    })
}

/// The work dates of last month while its payroll has not closed (`today` on or before the
/// configured close day).
fn payroll_month(settings: &RunSettings, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let close = settings.payroll_close_day?;
    (today.day() <= close).then(|| {
        let first_of_month = today.with_day(1).unwrap_or(today);
        let last = first_of_month - Duration::days(1);
        (last.with_day(1).unwrap_or(last), last)
    })
}

/// Calls a scan of `points` would cost if everyone in scope (`employees`) had been read, not
/// only the `read` employees the store holds slots of lately: each window's users scaled up,
/// 50 a call.
fn scan_cost_for_all(points: &[(UserId, NaiveDate)], employees: u64, read: u64) -> u64 {
    let mut users_by_window: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for item in scan_items(points, &BTreeSet::new()) {
        *users_by_window.entry(item.from).or_default() += item.users.len() as u64;
    }
    let read = read.clamp(1, employees.max(1));
    users_by_window
        .values()
        .map(|users| {
            (users * employees)
                .div_ceil(read)
                .min(employees)
                .div_ceil(USERS_PER_CALL as u64)
                .max(1)
        })
        .sum()
}

/// Whether a coverage choice covers the same people as the one [`Coverage::covered`] holds.
fn same_people(decided: Option<&[String]>, covered: Option<&[&UserId]>) -> bool {
    match (decided, covered) {
        (None, None) => true,
        (Some(decided), Some(covered)) => {
            decided.iter().map(String::as_str).collect::<BTreeSet<_>>()
                == covered.iter().map(|user| user.as_str()).collect()
        }
        _ => false,
    }
}

/// `users` in the order coverage takes them when the budget cannot pay for everyone: by
/// current department (id; people the directory does not place last), then user id, so
/// that whole departments are covered before any part of the next.
fn by_department(store: &Store, users: &[UserId]) -> Result<Vec<UserId>, RunError> {
    let departments = store.current_departments()?;
    let mut ordered: Vec<UserId> = users.to_vec();
    ordered.sort_by(|a, b| {
        let dept = |user: &UserId| departments.get(user.as_str()).map(|(id, _)| *id);
        let rank = |user: &UserId| (dept(user).is_none(), dept(user));
        rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
    });
    Ok(ordered)
}

/// The user-days a backfill's targeted re-reads are estimated from: the days approved,
/// unresolved approvals in scope point at, the corrections watched for reverts (as `run` finds
/// them), and the approved share of the approvals known.
fn outlook(
    store: &Store,
    settings: &RunSettings,
    request: &RunRequest,
    users: &[UserId],
    known: &BTreeMap<String, StoredApproval>,
    to: NaiveDate,
) -> Result<Outlook, RunError> {
    let tz = settings.timezone;
    let scope: BTreeSet<&UserId> = users.iter().collect();
    let mut pointed = BTreeSet::new();
    for stored in store.unresolved_approvals()? {
        if stored.approval.is_approved() && scope.contains(&stored.approval.originator) {
            pointed.extend(pointed_days(store, &stored.approval, tz)?);
        }
    }
    let corrected = recently_corrected(
        store,
        request.as_of - Duration::days(i64::from(settings.reconcile.revert_watch_days)),
        to + Duration::days(1),
    )?;
    let finished: Vec<&StoredApproval> = known
        .values()
        .filter(|stored| stored.approval.is_finished())
        .collect();
    let approved_share = if finished.len() >= MIN_APPROVALS_FOR_SHARE {
        finished
            .iter()
            .filter(|stored| stored.approval.is_approved())
            .count() as f64
            / finished.len() as f64
    } else {
        PRIOR_APPROVED_SHARE
    };
    Ok(Outlook {
        pointed,
        corrected,
        approved_share,
    })
}

/// Not-signed slots of users in scope within the horizon, and the corrected slots watched for
/// reverts through punches (unless punches were seen not to show the 补卡).
fn scan_targets(
    store: &Store,
    settings: &RunSettings,
    request: &RunRequest,
    users: &[UserId],
    state: &PlannerState,
) -> Result<(Vec<Slot>, Vec<Slot>), RunError> {
    let today = local_date(request.as_of, settings.timezone);
    let scope: BTreeSet<&UserId> = users.iter().collect();
    let horizon = today - Duration::days(i64::from(settings.reconcile.open_slot_horizon_days));
    let open_slots = store
        .open_slots(None)?
        .into_iter()
        .filter(|stored| stored.slot.work_date >= horizon && scope.contains(&stored.slot.user_id))
        .map(|stored| stored.slot)
        .collect();
    let mut watched = Vec::new();
    if state.punch_shows_supply != Fact::Fails {
        let since = request.as_of - Duration::days(i64::from(settings.reconcile.revert_watch_days));
        for (user, date) in recently_corrected(store, since, today)? {
            for stored in store.slots_for_user_day(&user, date)? {
                if stored.present && shows_approval(&stored.slot) {
                    watched.push(stored.slot);
                }
            }
        }
    }
    Ok((open_slots, watched))
}

/// Dates the sync may read tonight (up to `latest`) that are expected to have no schedule: the
/// same weekday one and two weeks earlier were read by the sync and had none.
fn expected_empty(
    store: &Store,
    settings: &RunSettings,
    users: &[UserId],
    state: &PlannerState,
    latest: NaiveDate,
) -> Result<BTreeSet<NaiveDate>, RunError> {
    let first_default = latest - Duration::days(i64::from(settings.reconcile.window_days) - 1);
    let first = users
        .iter()
        .map(|user| sync_start(state, user, first_default))
        .min()
        .unwrap_or(latest)
        .min(latest);
    let counts =
        store.present_slot_counts(first - Duration::days(14), latest - Duration::days(7))?;
    let read = |date: NaiveDate| {
        state.synced_from.is_some_and(|from| from <= date)
            && state.synced_through.is_some_and(|through| date <= through)
    };
    Ok(first
        .iter_days()
        .take_while(|date| *date <= latest)
        .filter(|date| {
            [7, 14].into_iter().all(|back| {
                let before = *date - Duration::days(back);
                read(before) && !counts.contains_key(&before)
            })
        })
        .collect())
}

/// Metered calls an average night's essential work is expected to need for `employees`: the
/// sync of one day's rows (from the last synced week, per employee read, or two rows per user
/// on five days of seven), the punch scan and its targeted re-fetches spread over their
/// nights, approvals when they are evidence (the part that does not shrink with coverage).
fn cost_model(
    settings: &RunSettings,
    employees: u64,
    recent_counts: &BTreeMap<NaiveDate, u64>,
    approvals: u64,
    scan_calls: Option<u64>,
    recent_users: u64,
) -> CostModel {
    let batches = employees.div_ceil(USERS_PER_CALL as u64);
    // The last week was read for the employees covered then: rows per employee holding any.
    let read_for = recent_users.max(1);
    let rows_per_day = if recent_counts.is_empty() {
        employees * DEFAULT_ROWS_PER_USER_DAY * 5 / 7
    } else {
        (recent_counts.values().sum::<u64>() * employees).div_ceil(read_for * 7)
    };
    let sync = rows_per_day.div_ceil(ROWS_PER_PAGE).max(batches * 5 / 7);
    let every = u64::from(settings.reconcile.scan_every_nights.max(1));
    let scan = match scan_calls {
        // The scan of tonight's open and watched slots, and about half as many targeted
        // re-reads of what it finds, spread over the nights between scans.
        Some(calls) => (calls + calls.div_ceil(2)).div_ceil(every),
        // Nothing read yet: a scan of the whole horizon, a batch of users per week of it for
        // every four batches, and half as many targeted re-reads.
        None => {
            let horizon_weeks = u64::from(settings.reconcile.open_slot_horizon_days.div_ceil(7));
            ((batches / 4 + 1) * horizon_weeks * 3 / 2).div_ceil(every)
        }
    };
    CostModel {
        employees,
        per_night: sync + scan + approvals,
        fixed_per_night: approvals,
        batch_per_night: scan,
        // Set by the caller, who knows the templates.
        originator_pages_per_week: 0,
    }
}

/// What the month keeps back for each later night before optional work may spend: an average
/// night's essential work for `users` (the covered), deliberately generous — the sync of a day's
/// rows as the last week held them, the punch scan of the whole horizon (a batch per week for
/// every four batches of users, twice, spread over the nights between scans), approvals when
/// they are evidence — and a quarter on top. Generous on purpose: what it keeps back pays the
/// nights at the month's end; optional work only spends what is beyond it.
fn reserve_per_night(
    settings: &RunSettings,
    users: &[UserId],
    recent_counts: &BTreeMap<NaiveDate, u64>,
    approvals: u64,
) -> u64 {
    let batches = users.len().div_ceil(USERS_PER_CALL) as u64;
    let rows_per_day = if recent_counts.is_empty() {
        users.len() as u64 * DEFAULT_ROWS_PER_USER_DAY * 5 / 7
    } else {
        recent_counts.values().sum::<u64>() / 7
    };
    let sync = rows_per_day.div_ceil(ROWS_PER_PAGE).max(batches * 5 / 7);
    let horizon_weeks = u64::from(settings.reconcile.open_slot_horizon_days.div_ceil(7));
    let scan = (batches / 4 + 1) * horizon_weeks * 2
        / u64::from(settings.reconcile.scan_every_nights.max(1));
    (sync + scan + approvals) * 5 / 4
}

/// Approval calls a night needs for `employees` when approvals are evidence; none when they
/// are enrichment. About one detail per approval created, a quarter more for the follow-ups of
/// running ones, at least one a night per ten batches of users. The approvals created per day
/// are counted over the days the store's listings reach (at most the last 60, not the last
/// week, which a weekly listing may not have reached yet), the prior when that is under a
/// week. After listings by originator the store knows only those people's approvals: their
/// rate is scaled up to `employees`.
fn approvals_per_night(
    state: &PlannerState,
    known: &BTreeMap<String, StoredApproval>,
    employees: u64,
    as_of: DateTime<Utc>,
) -> u64 {
    if state.evidence_without_approvals() {
        return 0;
    }
    let batches = employees.div_ceil(USERS_PER_CALL as u64);
    // The fewest originators any template was last listed for (none: everyone's listed).
    let named = state
        .listed_for
        .values()
        .min_by_key(|named| named.len())
        .filter(|named| !named.is_empty());
    let created: Vec<DateTime<Utc>> = known
        .values()
        .filter(|stored| {
            named.is_none_or(|named| named.contains(stored.approval.originator.as_str()))
        })
        .filter_map(|stored| stored.approval.create_time)
        .collect();
    let end = as_of - Duration::days(7);
    let start = created
        .iter()
        .min()
        .map_or(end, |earliest| (*earliest).max(as_of - Duration::days(60)));
    let days = (end - start).num_days();
    let per_day_centi = if days < 7 {
        employees * PRIOR_APPROVALS_PER_100_EMPLOYEE_DAYS
    } else {
        let count = created
            .iter()
            .filter(|at| start <= **at && **at < end)
            .count() as u64;
        let listed = named.map_or(employees, |named| named.len() as u64).max(1);
        (count * 100 * employees).div_ceil(listed * days as u64)
    };
    (per_day_centi * 5).div_ceil(400).max(batches / 10)
}

/// The first work date the nightly sync reads for `user`.
pub(super) fn sync_start(
    state: &PlannerState,
    user: &UserId,
    first_default: NaiveDate,
) -> NaiveDate {
    state
        .user_synced
        .get(user.as_str())
        .copied()
        .or(state.synced_through)
        .map_or(first_default, |done| done + Duration::days(1))
}

/// Approvals asked again (out of the surplus): approved 补卡 DingTalk has not shown corrected a
/// day after their approval, within the revert watch — a revocation DingTalk attached to them
/// (kb:1517) may be what keeps them from showing, and the listing may not carry it (⚠); their
/// detail names it; each is asked at most once a day — and the instances a known one is tied to
/// whose detail is not known yet (a fetch that failed), asked every night until it is.
fn unshown_for_a_day(settings: &RunSettings, request: &RunRequest, facts: &Facts) -> Vec<String> {
    let day_ago = request.as_of - Duration::days(1);
    let watch_from =
        request.as_of - Duration::days(i64::from(settings.reconcile.revert_watch_days));
    facts
        .known
        .values()
        .filter(|stored| {
            let approval = &stored.approval;
            stored.resolution == Some(crate::domain::ChangeClass::SupplyPending)
                && approval.revokes().is_none()
                && approval.links.attached.is_empty()
                && stored.fetched_at <= day_ago
                && approval
                    .finish_time
                    .is_some_and(|finished| watch_from <= finished && finished <= day_ago)
        })
        .map(|stored| stored.approval.process_instance_id.clone())
        .chain(
            // Instances a known one is tied to whose detail is not known (a fetch that failed).
            facts
                .known
                .values()
                .flat_map(|stored| {
                    let links = &stored.approval.links;
                    links.main.iter().chain(&links.attached)
                })
                .filter(|id| !facts.known.contains_key(*id))
                .cloned(),
        )
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect()
}

/// Whose approvals tonight's nightly listings name: the covered employees when the month
/// covers only some and listing them by originator is cheaper than everyone's details
/// ([`CostModel::lists_by_originator`]); `None`: everyone's.
fn listed_originators(request: &RunRequest, facts: &Facts) -> Option<BTreeSet<String>> {
    let nightly = !matches!(request.kind, RunKind::Backfill { .. });
    let partial = facts
        .coverage
        .as_ref()
        .is_some_and(|coverage| !coverage.is_full());
    let cheaper = facts
        .cost
        .is_some_and(|model| model.lists_by_originator(facts.users.len() as u64));
    (nightly && partial && cheaper).then(|| {
        facts
            .users
            .iter()
            .map(|user| user.as_str().to_owned())
            .collect()
    })
}

/// Days between listings by originator: a query of ten employees costs a call whether it
/// finds anything or not, and a 补卡 held for its approval's detail waits without loss.
const ORIGINATOR_LISTING_DAYS: i64 = 7;
/// On the payroll's close day, the age of the last listing by originator that calls for another.
const CLOSE_DAY_LISTING_DAYS: i64 = 3;

fn listings(settings: &RunSettings, request: &RunRequest, facts: &Facts) -> Vec<Listing> {
    let floor = request.as_of - Duration::days(APPROVAL_LOOKBACK_DAYS) + Duration::hours(1);
    let lookback =
        request.as_of - Duration::days(i64::from(settings.reconcile.approval_lookback_days));
    let backfill = matches!(request.kind, RunKind::Backfill { .. });
    let originators = listed_originators(request, facts);
    let per_day = {
        let since = request.as_of - Duration::days(30);
        let recent = facts
            .known
            .values()
            .filter(|stored| stored.approval.create_time.is_some_and(|at| at >= since))
            .filter(|stored| {
                originators.as_ref().is_none_or(|originators| {
                    originators.contains(stored.approval.originator.as_str())
                })
            })
            .count() as u64;
        if backfill && facts.known.is_empty() {
            // Nothing known: a backfill's guess from the prior.
            (facts.users.len() as u64 * PRIOR_APPROVALS_PER_100_EMPLOYEE_DAYS).div_ceil(100)
        } else {
            recent.div_ceil(30)
        }
    };
    let today = local_date(request.as_of, settings.timezone);
    let close_day = settings.payroll_close_day == Some(today.day());
    // The originators named are tonight's users (the covered), in id order.
    let user_ids: Vec<UserId> = if originators.is_some() {
        let mut ids = facts.users.clone();
        ids.sort();
        ids.dedup();
        ids
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for code in &facts.process_codes {
        // Whether `listed_through` holds for everyone tonight's listing names: a month that
        // covers people the last listings did not name lists them from the lookback.
        let holds = match (facts.state.listed_for.get(code), &originators) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(listed), Some(tonight)) => tonight.is_subset(listed),
        };
        let (from, to) = match &request.kind {
            RunKind::Backfill { from, .. } => (
                lookback.min(local_midnight(*from, settings.timezone)),
                request.as_of,
            ),
            RunKind::Nightly | RunKind::Daemon => (
                facts
                    .state
                    .listed_through
                    .get(code)
                    .filter(|_| holds)
                    .map_or(lookback, |through| *through - Duration::hours(1)),
                request.as_of - Duration::hours(i64::from(settings.reconcile.listing_lag_hours)),
            ),
        };
        let from = from.max(floor);
        if from >= to {
            continue;
        }
        let since_last = to - from;
        if originators.is_some()
            && holds
            && since_last < Duration::days(ORIGINATOR_LISTING_DAYS)
            && !(close_day && since_last >= Duration::days(CLOSE_DAY_LISTING_DAYS))
        {
            // Listing by originator is weekly, and on the payroll's close day unless a listing
            // a few days before reaches close enough.
            continue;
        }
        if backfill
            && facts
                .state
                .backfill_listed
                .get(code)
                .is_some_and(|(listed_from, listed_to)| *listed_from <= from && to <= *listed_to)
        {
            // An earlier chunk of this backfill listed this window already.
            continue;
        }
        let days = (to - from).num_hours().max(1) as u64 / 24 + 1;
        out.push(Listing {
            process_code: code.clone(),
            created_from: from,
            created_to: to,
            expected_ids: per_day * days / facts.process_codes.len().max(1) as u64,
            user_ids: user_ids.clone(),
        });
    }
    out
}

pub(super) fn make_plan(settings: &RunSettings, request: &RunRequest, facts: &Facts) -> Plan {
    let tz = settings.timezone;
    let today = local_date(request.as_of, tz);
    let backfill = matches!(request.kind, RunKind::Backfill { .. });
    let mut sync = Vec::new();
    let (primary, rescan) = match &request.kind {
        RunKind::Backfill { from, to, .. } => (Some((*from, *to)), None),
        RunKind::Nightly | RunKind::Daemon => {
            let dates = nightly_dates(
                request.as_of,
                tz,
                settings.reconcile.window_days,
                RescanMode::SecondLook,
            );
            let latest = latest_settled(request.as_of, tz, settings.reconcile.sync_after_hours);
            let first_default =
                latest - Duration::days(i64::from(settings.reconcile.window_days) - 1);
            let mut by_start: BTreeMap<NaiveDate, Vec<UserId>> = BTreeMap::new();
            for user in &facts.users {
                by_start
                    .entry(sync_start(&facts.state, user, first_default))
                    .or_default()
                    .push(user.clone());
            }
            for (start, users) in by_start {
                if let Some((from, to)) = sync_range(
                    Some(start - Duration::days(1)),
                    latest,
                    first_default,
                    &facts.expected_empty,
                ) {
                    sync.push((from, to, users));
                }
            }
            let primary = None;
            // A second look only at days the sync has read before.
            let rescan = dates.rescan.and_then(|(from, to)| {
                let read = facts.state.synced_through?;
                let to = to.min(read);
                (from <= to).then_some((from, to))
            });
            (primary, rescan)
        }
    };
    let listings = listings(settings, request, facts);
    let mut backlog: Vec<String> = facts
        .backlog
        .iter()
        .map(|listed| listed.process_instance_id.clone())
        .collect();
    // A month covering only some employees follows up only their running approvals; the
    // others' once everyone is covered again.
    let covered: Option<BTreeSet<&str>> = facts
        .coverage
        .as_ref()
        .filter(|coverage| !coverage.is_full())
        .map(|_| facts.users.iter().map(UserId::as_str).collect());
    if facts.scan_night || backfill {
        backlog.extend(
            facts
                .known
                .values()
                .filter(|stored| !stored.approval.is_finished())
                .filter(|stored| {
                    covered
                        .as_ref()
                        .is_none_or(|covered| covered.contains(stored.approval.originator.as_str()))
                })
                // Every chunk of a backfill runs as of the same instant: a detail an earlier
                // chunk fetched then says nothing new (the nightly runs follow it up).
                .filter(|stored| !(backfill && stored.fetched_at >= request.as_of))
                .map(|stored| stored.approval.process_instance_id.clone()),
        );
    }
    let reask = if backfill {
        Vec::new()
    } else {
        let listed: BTreeSet<&String> = backlog.iter().collect();
        unshown_for_a_day(settings, request, facts)
            .into_iter()
            .filter(|id| !listed.contains(id))
            .collect()
    };
    let scan: Vec<(UserId, NaiveDate)> = facts
        .open_slots
        .iter()
        .chain(&facts.watched)
        .map(|slot| check_day(slot, tz))
        .collect();
    let watched: BTreeSet<(UserId, NaiveDate)> = facts
        .watched
        .iter()
        .map(|slot| check_day(slot, tz))
        .collect();
    let surplus = if backfill {
        facts.allowance
    } else {
        facts.surplus
    };
    // A dry run of a backfill also shows what its chunks will find to do: the details of
    // approvals still to be listed (a guess) and the targeted re-reads.
    let (expected_details, expected_targeted) = match (&facts.outlook, primary) {
        (Some(outlook), Some((from, to))) => {
            let expected_details: u64 = listings.iter().map(|listing| listing.expected_ids).sum();
            let undetailed = backlog
                .iter()
                .filter(|id| !facts.known.contains_key(*id))
                .count() as u64
                + expected_details;
            let profile = facts.rows_profile.unwrap_or_else(RowsProfile::prior);
            // A 补卡 is filed up to a month after its slot, so the approvals listed point at
            // the scheduled days of the range and of the month before today.
            let spread_from = from.min(today - Duration::days(FILING_LAG_DAYS + 1));
            let spread_to = to.max(today - Duration::days(1));
            let weights: Vec<(NaiveDate, u64)> = spread_from
                .iter_days()
                .take_while(|date| *date <= spread_to)
                .map(|date| (date, profile.centi_on(date)))
                .collect();
            let total: u64 = weights.iter().map(|(_, weight)| weight).sum();
            let expected: BTreeMap<NaiveDate, f64> = weights
                .iter()
                .filter(|(_, weight)| *weight > 0)
                .map(|(date, weight)| {
                    let share = *weight as f64 / total as f64;
                    (*date, undetailed as f64 * outlook.approved_share * share)
                })
                .collect();
            let chunks = date_runs(from, to);
            let targeted = expected_targeted(&TargetedOutlook {
                chunks: &chunks,
                pointed: &outlook.pointed,
                corrected: &outlook.corrected,
                expected: &expected,
                centi_scheduled: profile.centi_scheduled,
                watch_from: watch_floor(
                    request.as_of - Duration::days(i64::from(settings.reconcile.revert_watch_days)),
                ),
            });
            (expected_details, targeted)
        }
        _ => (0, 0),
    };
    let mut plan = plan(&PlanInput {
        users: &facts.users,
        primary,
        sync: &sync,
        expected_empty: &facts.expected_empty,
        rescan,
        listings: &listings,
        detail_backlog: &backlog,
        reask: &reask,
        approvals_essential: backfill || !facts.state.evidence_without_approvals(),
        scan: &scan,
        watched: &watched,
        scan_first: facts.state.punch_shows_supply == Fact::Unknown,
        enrichment: &facts.enrichment,
        rows_per_user_day: DEFAULT_ROWS_PER_USER_DAY,
        rows_profile: facts.rows_profile.as_ref(),
        expected_details,
        expected_targeted,
        allowance: facts.allowance,
        surplus,
        payroll: payroll_month(settings, today).filter(|_| !backfill),
        idle_window: (today - Duration::days(1), today - Duration::days(1)),
    });
    plan.coverage = facts.coverage.clone();
    plan.cost = facts.cost;
    plan
}
