//! The orchestration of one run (see the parent module's flow). Store calls are synchronous and
//! short (SQLite on a local file) and are made inline; the network work is async.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::dingtalk::Client;
use crate::domain::{Approval, ChangeClass, UserId};
use crate::quota::{YearMonth, local_midnight, nightly_allowance, remaining_nightly_runs};
use crate::report::DeferredLine;
use crate::store::{ListedApproval, NewRun, RunEnd, Store, StoredApproval};

use super::apply::{USERS_PER_BATCH, apply_all};
use super::classify::{ClassifyInput, classify};
use super::context::{
    candidate_days, covered_days, load_context, load_snapshot, overlay, pointed_days,
    recently_corrected,
};
use super::diff::diff;
use super::fetch::{Fetched, fetch_details, fetch_results, list_approvals};
use super::matching::SlotIndex;
use super::plan::{Plan, PlanInput, PlanItem, ResultsPurpose, nightly_dates, plan, targeted_items};
use super::{RunError, RunKind, RunOutcome, RunRequest, RunSettings, RunSummary, StoreRecorder};

/// Longest reach back of an approval listing DingTalk accepts.
const MAX_LISTING_REACH_DAYS: i64 = 365;

/// What the planner needs from the store and the client, gathered once.
struct Facts {
    users: Vec<UserId>,
    process_codes: Vec<String>,
    known: BTreeMap<String, StoredApproval>,
    backlog: Vec<ListedApproval>,
    allowance: u64,
    month_used: u64,
}

/// Plans a run without calling anything metered and without writing (the `plan` command).
/// Without configured process codes the listing is planned for a placeholder template.
pub async fn plan_run(
    store: &Store,
    client: &Client,
    settings: &RunSettings,
    request: &RunRequest,
) -> Result<Plan, RunError> {
    let codes = settings
        .supply_process_codes
        .clone()
        .unwrap_or_else(|| vec!["(discovered 补卡 templates)".to_owned()]);
    let facts = gather(store, client, settings, request, codes).await?;
    Ok(make_plan(settings, request, &facts))
}

/// Runs once: plan, fetch, diff, match, classify, apply, record. The caller holds the run lock.
/// `recorder`, when given, is the one the client records into; it is tagged with the run.
pub async fn run_once(
    store: &mut Store,
    client: &Client,
    recorder: Option<&StoreRecorder>,
    settings: &RunSettings,
    request: &RunRequest,
) -> Result<RunSummary, RunError> {
    if request.dry_run {
        let plan = plan_run(store, client, settings, request).await?;
        return Ok(RunSummary {
            run_id: 0,
            outcome: RunOutcome::Done,
            counts: zero_counts(),
            corrections_applied: 0,
            metered_calls: 0,
            deferred: plan.deferred.iter().map(deferred_line).collect(),
            errors: Vec::new(),
            plan,
        });
    }
    let metered_at_start = client.metered_calls();
    let mut facts = gather(store, client, settings, request, Vec::new()).await?;
    client.set_metered_cap(Some(metered_at_start + facts.allowance));
    facts.process_codes = match &settings.supply_process_codes {
        Some(codes) if !codes.is_empty() => codes.clone(),
        _ => match discover_codes(client, settings).await {
            Ok(codes) => codes,
            Err(error) => {
                client.set_metered_cap(None);
                return Err(error);
            }
        },
    };
    let spent = client.metered_calls() - metered_at_start;
    facts.allowance = facts.allowance.saturating_sub(spent);
    let plan = make_plan(settings, request, &facts);
    let run_id = store.begin_run(&NewRun {
        kind: request.kind.name().to_owned(),
        trigger: request.trigger.clone(),
        as_of: request.as_of,
        window_from: plan.window.0,
        window_to: plan.window.1,
        plan_json: serde_json::to_string(&plan).unwrap_or_else(|_| "{}".to_owned()),
        started_at: request.as_of,
    })?;
    if let Some(recorder) = recorder {
        recorder.set_run(Some(run_id));
    }
    let result = execute(store, client, settings, request, &facts, &plan, run_id).await;
    client.set_metered_cap(None);
    if let Some(recorder) = recorder {
        recorder.set_run(None);
    }
    let metered_calls = client.metered_calls() - metered_at_start;
    match result {
        Ok(mut summary) => {
            summary.metered_calls = metered_calls;
            store.finish_run(
                run_id,
                &RunEnd {
                    outcome: summary.outcome.as_str().to_owned(),
                    counts: summary.counts.clone(),
                    errors: summary.errors.clone(),
                    deferred_json: serde_json::to_string(&summary.deferred)
                        .unwrap_or_else(|_| "[]".to_owned()),
                    finished_at: request.as_of,
                },
            )?;
            Ok(summary)
        }
        Err(error) => {
            let end = RunEnd {
                outcome: RunOutcome::Failed.as_str().to_owned(),
                counts: BTreeMap::new(),
                errors: vec![format!("failed to {error}")],
                deferred_json: "[]".to_owned(),
                finished_at: request.as_of,
            };
            if let Err(also) = store.finish_run(run_id, &end) {
                tracing::warn!(error.message = %also, "failed run not recorded as failed");
            }
            Err(error)
        }
    }
}

async fn discover_codes(client: &Client, settings: &RunSettings) -> Result<Vec<String>, RunError> {
    let Some(admin) = &settings.admin_user_id else {
        return Err(RunError::NoProcessCodes(
            "neither dingtalk.supply_process_codes nor dingtalk.admin_user_id is configured"
                .to_owned(),
        ));
    };
    let codes = client.supply_process_codes(admin).await?;
    if codes.is_empty() {
        return Err(RunError::NoProcessCodes(format!(
            "user {admin} manages no template with attendanceType 1"
        )));
    }
    Ok(codes)
}

async fn gather(
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
    let mut allowance = match request.kind {
        RunKind::Nightly | RunKind::Daemon => nightly_allowance(
            remaining,
            remaining_nightly_runs(request.as_of, tz),
            settings.slack_percent,
        ),
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
    let known_ids: Vec<String> = store.known_approval_ids()?.into_iter().collect();
    let known = store.approvals(&known_ids)?;
    let backlog = store.listed_approval_ids()?;
    Ok(Facts {
        users,
        process_codes,
        known,
        backlog,
        allowance,
        month_used,
    })
}

fn approvals_created_from(settings: &RunSettings, request: &RunRequest) -> DateTime<Utc> {
    let lookback = request.as_of - Duration::days(i64::from(settings.approval_lookback_days));
    let floor = request.as_of - Duration::days(MAX_LISTING_REACH_DAYS) + Duration::hours(1);
    let wanted = match &request.kind {
        RunKind::Backfill { from, .. } => lookback.min(local_midnight(*from, settings.timezone)),
        _ => lookback,
    };
    wanted.max(floor)
}

fn make_plan(settings: &RunSettings, request: &RunRequest, facts: &Facts) -> Plan {
    let (primary, rescan) = match &request.kind {
        RunKind::Backfill { from, to, .. } => ((*from, *to), None),
        RunKind::Nightly | RunKind::Daemon => {
            let dates = nightly_dates(
                request.as_of,
                settings.timezone,
                settings.nightly_window_days,
                settings.rescan,
            );
            (dates.primary, dates.rescan)
        }
    };
    let created_from = approvals_created_from(settings, request);
    let expected = facts
        .known
        .values()
        .filter(|stored| {
            stored
                .approval
                .create_time
                .is_some_and(|created| created >= created_from)
        })
        .count() as u64;
    let backlog: Vec<String> = facts
        .backlog
        .iter()
        .map(|listed| listed.id.clone())
        .collect();
    plan(&PlanInput {
        as_of: request.as_of,
        tz: settings.timezone,
        users: &facts.users,
        process_codes: &facts.process_codes,
        primary,
        rescan,
        approvals_created_from: created_from,
        detail_backlog: &backlog,
        expected_listed_ids: expected + backlog.len() as u64,
        rows_per_user_day: settings.rows_per_user_day,
        allowance: facts.allowance,
    })
}

async fn execute(
    store: &mut Store,
    client: &Client,
    settings: &RunSettings,
    request: &RunRequest,
    facts: &Facts,
    plan: &Plan,
    run_id: i64,
) -> Result<RunSummary, RunError> {
    let tz = settings.timezone;
    let mut fetched = Fetched::default();
    let (lists, results): (Vec<PlanItem>, Vec<PlanItem>) = plan
        .items
        .iter()
        .filter(|&item| !matches!(item, PlanItem::ApprovalDetails { .. }))
        .cloned()
        .partition(|item| matches!(item, PlanItem::ApprovalList { .. }));
    // 1. Approvals: list, then fetch what is new or not final.
    list_approvals(client, lists, &mut fetched).await;
    let listed: Vec<ListedApproval> = fetched
        .listed
        .iter()
        .map(|(id, code)| ListedApproval {
            id: id.clone(),
            process_code: code.clone(),
        })
        .collect();
    store.record_listed_approvals(&listed, run_id, request.as_of)?;
    let mut wanted: BTreeSet<String> = facts
        .backlog
        .iter()
        .map(|listed| listed.id.clone())
        .collect();
    for (id, _) in &fetched.listed {
        if facts
            .known
            .get(id)
            .is_none_or(|stored| !stored.approval.is_finished())
        {
            wanted.insert(id.clone());
        }
    }
    let wanted: Vec<String> = wanted.into_iter().collect();
    fetch_details(client, &wanted, &mut fetched).await;
    store.upsert_approvals(&fetched.approvals, run_id, request.as_of)?;
    let mut approvals: BTreeMap<String, Approval> = facts
        .known
        .iter()
        .map(|(id, stored)| (id.clone(), stored.approval.clone()))
        .collect();
    for approval in &fetched.approvals {
        approvals.insert(approval.id.clone(), approval.clone());
    }
    let mut open: BTreeSet<String> = fetched
        .approvals
        .iter()
        .filter(|approval| approval.is_finished())
        .map(|approval| approval.id.clone())
        .collect();
    for stored in store.unresolved_approvals()? {
        open.insert(stored.approval.id.clone());
    }
    // 2. Results: the primary days, then targeted user-days, then the rescan.
    let (primary, rescan): (Vec<PlanItem>, Vec<PlanItem>) = results.into_iter().partition(|item| {
        matches!(
            item,
            PlanItem::Results {
                purpose: ResultsPurpose::Primary,
                ..
            }
        )
    });
    fetch_results(client, primary, &mut fetched).await;
    let covered = covered_days(plan);
    let mut targeted = BTreeSet::new();
    let scope: BTreeSet<&UserId> = facts.users.iter().collect();
    for id in &open {
        if let Some(approval) = approvals
            .get(id)
            .filter(|approval| approval.is_approved() && scope.contains(&approval.originator))
        {
            for day in pointed_days(store, approval, tz)? {
                if !covered.contains(&day) {
                    targeted.insert(day);
                }
            }
        }
    }
    let watch_from = request.as_of - Duration::days(i64::from(settings.revert_watch_days));
    for (user, date) in recently_corrected(store, watch_from, plan.window.1 + Duration::days(1))? {
        if !covered.contains(&(user.clone(), date)) {
            targeted.insert((user, date));
        }
    }
    fetch_results(
        client,
        targeted_items(&targeted, settings.rows_per_user_day),
        &mut fetched,
    )
    .await;
    fetch_results(client, rescan, &mut fetched).await;
    // 3. Enrichment of corrections journaled before their approval's detail was known.
    enrich(
        store,
        client,
        &mut fetched,
        &mut approvals,
        run_id,
        request.as_of,
    )
    .await?;
    // 4. Diff, match, classify, apply.
    let (snapshot, observed_at) = load_snapshot(store, &fetched)?;
    let changes = diff(&snapshot, &fetched.slots, &fetched.complete);
    let mut current = snapshot.clone();
    for day in open
        .iter()
        .filter_map(|id| approvals.get(id))
        .flat_map(|approval| candidate_days(approval, tz))
    {
        for stored in store.slots_for_user_day(&day.0, day.1)? {
            if stored.present {
                current.entry(stored.slot.key()).or_insert(stored.slot);
            }
        }
    }
    overlay(&mut current, &changes);
    // An approved 补卡 of someone in scope whose days were neither fetched nor stored yet is not
    // unmatched: it stays open until its days are read.
    let in_scope: BTreeSet<&UserId> = facts.users.iter().collect();
    let mut seen: BTreeSet<(UserId, NaiveDate)> = fetched.complete.clone();
    seen.extend(
        current
            .keys()
            .map(|key| (key.user_id.clone(), key.work_date)),
    );
    open.retain(|id| {
        approvals.get(id).is_none_or(|approval| {
            let days = candidate_days(approval, tz);
            !approval.is_approved()
                || !in_scope.contains(&approval.originator)
                || days.is_empty()
                || days.iter().any(|day| seen.contains(day))
        })
    });
    let index = SlotIndex::new(&current);
    let context = load_context(store, &changes, &observed_at, &current)?;
    let verdicts = classify(&ClassifyInput {
        changes: &changes,
        context: &context,
        slots: &index,
        approvals: &approvals,
        open_approvals: &open,
        now: request.as_of,
        tz,
        policy: &settings.policy,
        settle: Duration::hours(i64::from(settings.settle_hours)),
    });
    let applied = apply_all(
        store,
        run_id,
        request.as_of,
        &changes,
        &verdicts,
        &current,
        &settings.sinks,
        USERS_PER_BATCH,
    )?;
    let mut counts = zero_counts();
    for verdict in &verdicts {
        *counts.entry(verdict.class).or_default() += 1;
    }
    let mut deferred: Vec<DeferredLine> = plan
        .deferred
        .iter()
        .chain(fetched.deferred.iter())
        .map(deferred_line)
        .collect();
    deferred.sort_by(|left, right| (&left.item, &left.detail).cmp(&(&right.item, &right.detail)));
    let must_have_deferred = plan
        .deferred
        .iter()
        .chain(fetched.deferred.iter())
        .any(|item| item.kind() != "rescan");
    let mut errors = fetched.errors.clone();
    errors.extend(
        fetched
            .gone
            .iter()
            .map(|id| format!("approval {id} no longer exists in DingTalk (deleted)")),
    );
    if let Some(stop) = fetched.stop {
        errors.push(match stop {
            super::fetch::Stop::Budget => format!(
                "this run's budget of {} metered calls is spent",
                facts.allowance
            ),
            super::fetch::Stop::Quota => {
                "DingTalk reports the organisation's monthly quota exhausted (90020)".to_owned()
            }
        });
    }
    if facts.month_used >= settings.monthly_budget {
        errors.push(format!(
            "the monthly budget of {} metered calls is spent",
            settings.monthly_budget
        ));
    }
    let outcome = if fetched.stop.is_some()
        || !errors.is_empty()
        || must_have_deferred
        || fetched.incomplete_listings > 0
    {
        RunOutcome::Partial
    } else {
        RunOutcome::Done
    };
    Ok(RunSummary {
        run_id,
        outcome,
        counts,
        corrections_applied: applied.corrections_applied,
        metered_calls: 0,
        deferred,
        errors,
        plan: plan.clone(),
    })
}

fn zero_counts() -> BTreeMap<ChangeClass, u64> {
    ChangeClass::ALL
        .into_iter()
        .map(|class| (class, 0))
        .collect()
}

fn deferred_line(item: &PlanItem) -> DeferredLine {
    DeferredLine {
        item: item.kind().to_owned(),
        detail: item.describe(),
        estimated_calls: item.estimated_calls(),
    }
}

async fn enrich(
    store: &mut Store,
    client: &Client,
    fetched: &mut Fetched,
    approvals: &mut BTreeMap<String, Approval>,
    run_id: i64,
    at: DateTime<Utc>,
) -> Result<(), RunError> {
    let awaiting = store.corrections_awaiting_enrichment()?;
    let unknown: Vec<String> = awaiting
        .iter()
        .filter(|id| !approvals.contains_key(*id))
        .cloned()
        .collect();
    let before = fetched.approvals.len();
    if fetched.stop.is_none() {
        fetch_details(client, &unknown, fetched).await;
    }
    let fresh: Vec<Approval> = fetched.approvals[before..].to_vec();
    store.upsert_approvals(&fresh, run_id, at)?;
    for approval in fresh {
        approvals.insert(approval.id.clone(), approval);
    }
    for id in &awaiting {
        if let Some(approval) = approvals.get(id) {
            store.enrich_corrections(id, approval.business_id.as_deref(), approval.finish_time)?;
        }
    }
    Ok(())
}
