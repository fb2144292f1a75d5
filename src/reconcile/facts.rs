//! The facts a run is planned from, gathered once from the store and the client (users in
//! scope, known approvals, the planner's state, open and watched slots, the month's budget and
//! surplus), and the plan made from them. Store reads only; nothing metered is called and
//! nothing is written here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};

use crate::dingtalk::Client;
use crate::dingtalk::limits::{APPROVAL_LOOKBACK_DAYS, ROWS_PER_PAGE, USERS_PER_CALL};
use crate::domain::{Slot, UserId};
use crate::quota::{
    YearMonth, local_date, local_midnight, nightly_allowance, remaining_nightly_runs, surplus,
};
use crate::store::{ListedApproval, Store, StoredApproval};

use super::classify::shows_approval;
use super::context::recently_corrected;
use super::plan::{DEFAULT_ROWS_PER_USER_DAY, RescanMode};
use super::plan::{
    Listing, Plan, PlanInput, is_scan_night, latest_settled, nightly_dates, plan, sync_range,
};
use super::scan::check_day;
use super::state::{Fact, PlannerState};
use super::{NIGHTLY_SLACK_PERCENT, REVERT_WATCH_DAYS, RunError, RunKind, RunRequest, RunSettings};

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
}

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
    let users = match &request.kind {
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
    let state = PlannerState::from_stored(store.planner_state()?.as_deref());
    let today = local_date(request.as_of, tz);
    let nightly = !matches!(request.kind, RunKind::Backfill { .. });
    if nightly && !store.queued_backfills()?.is_empty() {
        // Details a queued backfill's chunk listed and did not get to are the queue's to pay
        // for out of the spare, not tonight's: a nightly run lists and details what its own
        // dates need itself.
        let owed = store.backlog_listed_only_by_backfills()?;
        backlog.retain(|listed| !owed.contains(&listed.process_instance_id));
    }
    let scan_night =
        nightly && is_scan_night(state.last_scan, today, settings.reconcile.scan_every_nights);
    let (open_slots, watched) = if scan_night {
        scan_targets(store, settings, request, &users, &state)?
    } else {
        (Vec::new(), Vec::new())
    };
    let enrichment: Vec<String> = store
        .corrections_awaiting_enrichment()?
        .into_iter()
        .filter(|id| !known.contains_key(id))
        .collect();
    let latest = latest_settled(request.as_of, tz, settings.reconcile.sync_after_hours);
    let expected_empty = expected_empty(store, settings, &users, &state, latest)?;
    let recent = store.present_slot_counts(latest - Duration::days(7), latest)?;
    let essential_per_night = essential_per_night(settings, &users, &state, &recent, &known);
    let surplus = surplus(remaining, essential_per_night, nights.saturating_sub(1))
        .saturating_sub(essential_per_night);
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
        let since = request.as_of - Duration::days(i64::from(REVERT_WATCH_DAYS));
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

/// Metered calls an average night's essential work is expected to need: the sync of one
/// day's rows (from the last synced week, or two rows per user on five days of seven), the
/// punch scan and its targeted re-fetches spread over their nights, approvals when they are
/// evidence; a quarter on top for what estimates miss.
fn essential_per_night(
    settings: &RunSettings,
    users: &[UserId],
    state: &PlannerState,
    recent_counts: &BTreeMap<NaiveDate, u64>,
    known: &BTreeMap<String, StoredApproval>,
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
    let approvals = if state.evidence_without_approvals() {
        0
    } else {
        // About one detail per approval created.
        (known.len() as u64 / 60).max(batches / 10)
    };
    (sync + scan + approvals) * 5 / 4
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

fn listings(settings: &RunSettings, request: &RunRequest, facts: &Facts) -> Vec<Listing> {
    let floor = request.as_of - Duration::days(APPROVAL_LOOKBACK_DAYS) + Duration::hours(1);
    let lookback =
        request.as_of - Duration::days(i64::from(settings.reconcile.approval_lookback_days));
    let per_day = {
        let since = request.as_of - Duration::days(30);
        let recent = facts
            .known
            .values()
            .filter(|stored| stored.approval.create_time.is_some_and(|at| at >= since))
            .count() as u64;
        recent.div_ceil(30)
    };
    let mut out = Vec::new();
    for code in &facts.process_codes {
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
                    .map_or(lookback, |through| *through - Duration::hours(1)),
                request.as_of - Duration::hours(i64::from(settings.reconcile.listing_lag_hours)),
            ),
        };
        let from = from.max(floor);
        if from >= to {
            continue;
        }
        if matches!(request.kind, RunKind::Backfill { .. })
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
    if facts.scan_night || backfill {
        backlog.extend(
            facts
                .known
                .values()
                .filter(|stored| !stored.approval.is_finished())
                .map(|stored| stored.approval.process_instance_id.clone()),
        );
    }
    let scan: Vec<(UserId, NaiveDate)> = facts
        .open_slots
        .iter()
        .chain(&facts.watched)
        .map(|slot| check_day(slot, tz))
        .collect();
    let surplus = if backfill {
        facts.allowance
    } else {
        facts.surplus
    };
    plan(&PlanInput {
        users: &facts.users,
        primary,
        sync: &sync,
        expected_empty: &facts.expected_empty,
        rescan,
        listings: &listings,
        detail_backlog: &backlog,
        approvals_essential: backfill || !facts.state.evidence_without_approvals(),
        scan: &scan,
        scan_first: facts.state.punch_shows_supply == Fact::Unknown,
        enrichment: &facts.enrichment,
        rows_per_user_day: DEFAULT_ROWS_PER_USER_DAY,
        allowance: facts.allowance,
        surplus,
        idle_window: (today - Duration::days(1), today - Duration::days(1)),
    })
}
