//! The orchestration of one run (see the parent module's flow). Store calls are synchronous and
//! short (SQLite on a local file) and are made inline; the network work is async.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::dingtalk::Client;
use crate::domain::{Approval, ChangeClass, UserId};
use crate::quota::local_date;
use crate::report::DeferredLine;
use crate::store::{ListedApproval, NewRun, RunEnd, Store};

use super::apply::{USERS_PER_BATCH, apply_all};
use super::classify::shows_approval;
use super::classify::{ClassifyInput, classify};
use super::context::{
    candidate_days, covered_days, load_context, load_snapshot, overlay, pointed_days,
    recently_corrected,
};
use super::diff::diff;
use super::facts::{Facts, gather, make_plan, sync_start};
use super::fetch::{Fetched, Stop, fetch_details, fetch_punches, fetch_results, list_approvals};
use super::matching::SlotIndex;
use super::plan::{Plan, PlanItem, ResultsPurpose, advance_sync, latest_settled, targeted_items};
use super::scan::findings;
use super::state::Fact;
use super::{RunError, RunKind, RunOutcome, RunRequest, RunSettings, RunSummary, StoreRecorder};

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
        kind: request.kind.recorded(),
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
                    outcome: summary.outcome,
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
                outcome: RunOutcome::Failed,
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

/// Lists approvals and fetches the details the run needs (new or not final), recording both.
#[expect(
    clippy::too_many_arguments,
    reason = "one phase of execute, its state passed in"
)]
async fn approvals_phase(
    store: &mut Store,
    client: &Client,
    request: &RunRequest,
    facts: &Facts,
    items: Vec<PlanItem>,
    fetched: &mut Fetched,
    approvals: &mut BTreeMap<String, Approval>,
    open: &mut BTreeSet<String>,
    run_id: i64,
) -> Result<(), RunError> {
    let (lists, details): (Vec<PlanItem>, Vec<PlanItem>) = items
        .into_iter()
        .partition(|item| matches!(item, PlanItem::ApprovalList { .. }));
    let listed_before = fetched.listed.len();
    list_approvals(client, lists, fetched).await;
    let listed: Vec<ListedApproval> = fetched.listed[listed_before..]
        .iter()
        .map(|(id, code)| ListedApproval {
            id: id.clone(),
            process_code: code.clone(),
        })
        .collect();
    store.record_listed_approvals(&listed, run_id, request.as_of)?;
    let mut wanted: BTreeSet<String> = details
        .iter()
        .flat_map(|item| match item {
            PlanItem::ApprovalDetails { ids, .. } => ids.clone(),
            _ => Vec::new(),
        })
        .collect();
    for item in &listed {
        if facts
            .known
            .get(&item.id)
            .is_none_or(|stored| !stored.approval.is_finished())
        {
            wanted.insert(item.id.clone());
        }
    }
    let wanted: Vec<String> = wanted.into_iter().collect();
    let before = fetched.approvals.len();
    fetch_details(client, &wanted, fetched).await;
    let fresh = fetched.approvals[before..].to_vec();
    store.upsert_approvals(&fresh, run_id, request.as_of)?;
    for approval in fresh {
        if approval.is_finished() {
            open.insert(approval.id.clone());
        }
        approvals.insert(approval.id.clone(), approval);
    }
    Ok(())
}

/// Runs optional items within `room` metered calls; their stop is not the run's.
async fn within_room<F, Fut>(
    client: &Client,
    run_cap: u64,
    fetched: &mut Fetched,
    room: u64,
    work: F,
) where
    F: FnOnce(Fetched) -> Fut,
    Fut: Future<Output = Fetched>,
{
    let sub_cap = (client.metered_calls() + room).min(run_cap);
    client.set_metered_cap(Some(sub_cap));
    let stop_before = fetched.stop;
    let taken = std::mem::take(fetched);
    *fetched = work(taken).await;
    client.set_metered_cap(Some(run_cap));
    if stop_before.is_none() && fetched.stop == Some(Stop::Budget) {
        fetched.stop = None;
    }
}

fn split_purpose(items: &[PlanItem], purpose: ResultsPurpose) -> Vec<PlanItem> {
    items
        .iter()
        .filter(|item| matches!(item, PlanItem::Results { purpose: p, .. } if *p == purpose))
        .cloned()
        .collect()
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
    let metered_at_start = client.metered_calls();
    let run_cap = metered_at_start + facts.allowance;
    let mut fetched = Fetched::default();
    let mut state = facts.state.clone();
    let mut notices: Vec<String> = Vec::new();
    let approval_items: Vec<PlanItem> = plan
        .items
        .iter()
        .filter(|item| {
            matches!(
                item,
                PlanItem::ApprovalList { .. } | PlanItem::ApprovalDetails { .. }
            )
        })
        .cloned()
        .collect();
    let mut approvals: BTreeMap<String, Approval> = facts
        .known
        .iter()
        .map(|(id, stored)| (id.clone(), stored.approval.clone()))
        .collect();
    let mut open: BTreeSet<String> = store
        .unresolved_approvals()?
        .into_iter()
        .map(|stored| stored.approval.id)
        .collect();
    // 1. Approvals, when they are evidence.
    if plan.approvals_essential {
        approvals_phase(
            store,
            client,
            request,
            facts,
            approval_items.clone(),
            &mut fetched,
            &mut approvals,
            &mut open,
            run_id,
        )
        .await?;
    }
    // 2. The nightly sync (or the backfill's range).
    let primary = split_purpose(&plan.items, ResultsPurpose::Primary);
    let primary_days = covered_days(&primary);
    fetch_results(client, primary, &mut fetched).await;
    // 3. The open-slot scan through raw punches.
    let punch_items: Vec<PlanItem> = plan
        .items
        .iter()
        .filter(|item| matches!(item, PlanItem::Punches { .. }))
        .cloned()
        .collect();
    let scanned = !punch_items.is_empty() && fetched.stop.is_none();
    fetch_punches(client, punch_items, &mut fetched).await;
    let found = findings(
        &facts.open_slots,
        &facts.watched,
        &fetched.punches,
        &fetched.punch_complete,
        tz,
    );
    if let Some(notice) = state.saw_watched_punches(found.supply_punches, found.misses) {
        tracing::warn!("{notice}");
        notices.push(notice.to_owned());
    }
    // 4. Targeted re-fetch: dirty user-days, days approvals point at, reverts watched through
    // results where punches cannot show them.
    let mut targeted: BTreeSet<(UserId, NaiveDate)> = found.dirty.clone();
    let scope: BTreeSet<&UserId> = facts.users.iter().collect();
    for id in &open {
        if let Some(approval) = approvals
            .get(id)
            .filter(|approval| approval.is_approved() && scope.contains(&approval.originator))
        {
            targeted.extend(pointed_days(store, approval, tz)?);
        }
    }
    let backfill = matches!(request.kind, RunKind::Backfill { .. });
    if backfill || (facts.scan_night && state.punch_shows_supply != Fact::Holds) {
        let watch_from = request.as_of - Duration::days(i64::from(settings.revert_watch_days));
        targeted.extend(recently_corrected(
            store,
            watch_from,
            plan.window.1 + Duration::days(1),
        )?);
    }
    targeted.retain(|day| !primary_days.contains(day));
    fetch_results(
        client,
        targeted_items(&targeted, settings.rows_per_user_day),
        &mut fetched,
    )
    .await;
    // 5. Optional work out of the surplus: approvals as enrichment, enrichment, second look.
    let spent = client.metered_calls() - metered_at_start;
    let room = plan.surplus.min(facts.allowance.saturating_sub(spent));
    if !plan.approvals_essential && !approval_items.is_empty() && fetched.stop.is_none() {
        let mut phase = Ok(());
        within_room(client, run_cap, &mut fetched, room, |mut taken| async {
            phase = approvals_phase(
                store,
                client,
                request,
                facts,
                approval_items,
                &mut taken,
                &mut approvals,
                &mut open,
                run_id,
            )
            .await;
            taken
        })
        .await;
        phase?;
    }
    let spent = client.metered_calls() - metered_at_start;
    let room = plan.surplus.min(facts.allowance.saturating_sub(spent));
    let enrich_now = plan
        .items
        .iter()
        .any(|item| matches!(item, PlanItem::Enrichment { .. }));
    if enrich_now || plan.approvals_essential {
        let mut done = Ok(());
        within_room(client, run_cap, &mut fetched, room, |mut taken| async {
            done = enrich(
                store,
                client,
                &mut taken,
                &mut approvals,
                run_id,
                request.as_of,
            )
            .await;
            taken
        })
        .await;
        done?;
    }
    let spent = client.metered_calls() - metered_at_start;
    let room = plan.surplus.min(facts.allowance.saturating_sub(spent));
    let rescan = split_purpose(&plan.items, ResultsPurpose::Rescan);
    within_room(client, run_cap, &mut fetched, room, |mut taken| async {
        fetch_results(client, rescan, &mut taken).await;
        taken
    })
    .await;
    // 6. What the results say about the unconfirmed facts.
    for slot in fetched.slots.iter().filter(|slot| shows_approval(slot)) {
        let names = slot
            .proc_inst_id
            .as_deref()
            .is_some_and(|id| !id.is_empty());
        if let Some(notice) = state.saw_corrected_slot(names) {
            tracing::warn!("{notice}");
            notices.push(notice.to_owned());
        }
    }
    // 7. Diff, match, classify, apply.
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
    // 8. Remember what was read, listed, scanned and learnt.
    if !backfill {
        let latest = latest_settled(request.as_of, tz, settings.sync_after_hours);
        let first_default = latest - Duration::days(i64::from(settings.nightly_window_days) - 1);
        let before = state.clone();
        advance_sync(
            &mut state.user_synced,
            &plan.items,
            &fetched.complete,
            |user| sync_start(&before, user, first_default),
        );
        if let Some((from, _)) = plan.primary
            && state.user_synced != before.user_synced
        {
            state.synced_from = Some(state.synced_from.map_or(from, |known| known.min(from)));
        }
        let in_scope: Option<NaiveDate> = facts
            .users
            .iter()
            .map(|user| state.user_synced.get(user.as_str()).copied())
            .try_fold(None::<NaiveDate>, |low, date| {
                date.map(|date| Some(low.map_or(date, |low| low.min(date))))
            })
            .flatten();
        if let Some(through) = in_scope {
            state.synced_through = Some(through);
        }
        let failed_codes: BTreeSet<&String> = fetched
            .deferred
            .iter()
            .chain(&plan.deferred)
            .filter_map(|item| match item {
                PlanItem::ApprovalList { process_code, .. } => Some(process_code),
                _ => None,
            })
            .collect();
        if fetched.incomplete_listings == 0 {
            for (code, to) in &fetched.listed_windows {
                if !failed_codes.contains(code) {
                    let entry = state.listed_through.entry(code.clone()).or_insert(*to);
                    *entry = (*entry).max(*to);
                }
            }
        }
        if scanned {
            state.last_scan = Some(local_date(request.as_of, tz));
        }
    }
    store.save_planner_state(&state.to_text())?;
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
    deferred.extend(notices.iter().map(|notice| DeferredLine {
        item: "fallback".to_owned(),
        detail: notice.clone(),
        estimated_calls: 0,
    }));
    deferred.sort_by(|left, right| (&left.item, &left.detail).cmp(&(&right.item, &right.detail)));
    let must_have_deferred = plan
        .deferred
        .iter()
        .chain(fetched.deferred.iter())
        .any(|item| !plan.is_optional(item));
    let mut errors = fetched.errors.clone();
    errors.extend(
        fetched
            .gone
            .iter()
            .map(|id| format!("approval {id} no longer exists in DingTalk (deleted)")),
    );
    if let Some(stop) = fetched.stop {
        errors.push(match stop {
            Stop::Budget => format!(
                "this run's budget of {} metered calls is spent",
                facts.allowance
            ),
            Stop::Quota => {
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
        || (plan.approvals_essential && fetched.incomplete_listings > 0)
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
