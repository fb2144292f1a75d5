//! The orchestration of one run (see the parent module's flow). Store calls are synchronous and
//! short (SQLite on a local file) and are made inline; the network work is async.
//!
//! [`run_once_until`] gathers the facts, plans, records the run's start, and hands a
//! `RunContext` the rest: one method per step, in the order of the flow. The run spends out of
//! one [`Budget`] (its allowance); each optional step gets a budget carved out of it, sized in
//! one place (`RunContext::room`). The end of the run (`finish`) is pure.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};

use crate::dingtalk::{Budget, Client, StopFlag};
use crate::domain::{Approval, ChangeClass, Slot, SlotKey, UserId};
use crate::quota::local_date;
use crate::report::zero_counts;
use crate::store::{ListedApproval, NewRun, RunEnd, Store};

use super::apply::{USERS_PER_BATCH, apply_all};
use super::classify::{ClassifyInput, Verdict, classify, shows_approval};
use super::context::{
    candidate_days, covered_days, load_context, load_snapshot, overlay, pointed_days,
    recently_corrected,
};
use super::diff::{SlotChange, diff};
use super::facts::{Facts, gather, make_plan};
use super::fetch::{
    Failure, Fetched, Stop, fetch_details, fetch_punches, fetch_results, list_approvals,
};
use super::finish::{Ending, Night, deferred_line, record_night, summarize};
use super::matching::SlotIndex;
use super::plan::{
    DEFAULT_ROWS_PER_USER_DAY, Phases, Plan, PlanItem, latest_settled, targeted_items,
};
use super::scan::findings;
use super::state::{Fact, PlannerState};
use super::{RunError, RunKind, RunOutcome, RunRequest, RunSettings, RunSummary, StoreRecorder};

/// Plans a run without calling anything metered and without writing (the `plan` command).
/// Without configured process codes the listing is planned for a placeholder template.
pub(crate) async fn plan_run(
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

/// What the listing a backfill's estimate made cost and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BackfillListing {
    /// Metered calls it spent (template discovery included).
    pub(crate) calls: u64,
    /// Ids listed.
    pub(crate) ids: usize,
    /// The 补卡 templates listed (configured or discovered); `None`: nothing was listed.
    pub(crate) process_codes: Option<Vec<String>>,
}

/// Makes, for real, the approval listing the first chunk of the backfill `request` would make
/// (the same windows, recorded the same way: the ids in the store's listing backlog, whose
/// details the first chunk fetches, and the windows in `PlannerState::backfill_listed`, so no
/// chunk lists them again), so that its estimate counts the approvals instead of guessing them.
/// Recorded as a backfill run of its own, its calls tagged with it. Nothing to list (an earlier
/// chunk or estimate of the same window listed it): no call, no run. The caller holds the lock.
pub(crate) async fn list_for_backfill(
    store: &mut Store,
    client: &Client,
    recorder: Option<&StoreRecorder>,
    settings: &RunSettings,
    request: &RunRequest,
    stop: &StopFlag,
) -> Result<BackfillListing, RunError> {
    let RunKind::Backfill { from, to, .. } = &request.kind else {
        return Ok(BackfillListing::default());
    };
    let metered_at_start = client.metered_calls();
    let (facts, budget) = gather_with_codes(store, client, settings, request, stop).await?;
    let planned = make_plan(settings, request, &facts);
    let listings = planned.phases().listings;
    let mut listing = BackfillListing {
        calls: 0,
        ids: 0,
        process_codes: Some(facts.process_codes.clone()),
    };
    if listings.is_empty() {
        listing.calls = client.metered_calls() - metered_at_start;
        return Ok(listing);
    }
    let items: Vec<PlanItem> = listings
        .iter()
        .cloned()
        .map(PlanItem::ApprovalList)
        .collect();
    let plan = Plan {
        estimated_calls: items.iter().map(PlanItem::estimated_calls).sum(),
        items,
        deferred: Vec::new(),
        allowance: planned.allowance,
        surplus: 0,
        approvals_essential: true,
        primary: None,
        window: (*from, *to),
        coverage: None,
        cost: None,
        payroll: None,
    };
    let run_id = store.begin_run(&NewRun {
        kind: request.kind.recorded(),
        trigger: request.trigger.clone(),
        as_of: request.as_of,
        window_from: *from,
        window_to: *to,
        plan_json: serde_json::to_string(&plan).unwrap_or_else(|_| "{}".to_owned()),
        started_at: request.as_of,
    })?;
    let tag = recorder.map(|recorder| recorder.tag(run_id));
    let mut fetched = Fetched::default();
    list_approvals(&client.with_budget(&budget), stop, listings, &mut fetched).await;
    drop(tag);
    let listed: Vec<ListedApproval> = fetched
        .listed
        .iter()
        .map(|(id, code)| ListedApproval {
            process_instance_id: id.clone(),
            process_code: code.clone(),
        })
        .collect();
    let recorded = store
        .record_listed_approvals(&listed, run_id, request.as_of)
        .map_err(RunError::from)
        .and_then(|()| {
            let mut state = PlannerState::from_stored(store.planner_state()?.as_deref());
            for (code, from, to) in &fetched.listed_ranges {
                state.saw_backfill_listing(code, *from, *to);
            }
            store.save_planner_state(&state.to_text())?;
            Ok(())
        });
    let errors: Vec<String> = fetched
        .errors
        .iter()
        .cloned()
        .chain(fetched.failures.iter().map(|failure| {
            format!(
                "{}: {} (the first chunk lists it again)",
                failure.item.describe(),
                failure.error
            )
        }))
        .collect();
    let summary = RunSummary {
        run_id,
        outcome: if errors.is_empty() && fetched.deferred.is_empty() {
            RunOutcome::Done
        } else {
            RunOutcome::Partial
        },
        counts: zero_counts(),
        corrections_applied: 0,
        metered_calls: 0,
        deferred: fetched.deferred.iter().map(deferred_line).collect(),
        errors,
        stopped: fetched.stop,
    };
    let metered_calls = client.metered_calls() - metered_at_start;
    finish(
        store,
        run_id,
        request,
        recorded.map(|()| summary),
        metered_calls,
    )?;
    listing.calls = metered_calls;
    listing.ids = listed.len();
    Ok(listing)
}

/// The facts a run is planned from, with the 补卡 templates (configured, or discovered out of
/// the run's budget) and the budget left after discovering them.
async fn gather_with_codes(
    store: &Store,
    client: &Client,
    settings: &RunSettings,
    request: &RunRequest,
    stop: &StopFlag,
) -> Result<(Facts, Budget), RunError> {
    let mut facts = gather(store, client, settings, request, Vec::new()).await?;
    let budget = Budget::new(facts.allowance, stop.clone());
    facts.process_codes = match &settings.supply_process_codes {
        Some(codes) if !codes.is_empty() => codes.clone(),
        // A blocked quota month lists nothing: no metered discovery either.
        _ if facts.blocked.is_some() => Vec::new(),
        _ => discover_codes(&client.with_budget(&budget), settings).await?,
    };
    facts.allowance = budget.left();
    Ok((facts, budget))
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
    run_once_until(store, client, recorder, settings, request, &StopFlag::new()).await
}

/// Like [`run_once`], until `stop` is raised: from then on no further metered DingTalk call
/// starts and no further item is fetched; what was fetched is applied and the run is recorded
/// as partial, the rest deferred.
pub(crate) async fn run_once_until(
    store: &mut Store,
    client: &Client,
    recorder: Option<&StoreRecorder>,
    settings: &RunSettings,
    request: &RunRequest,
    stop: &StopFlag,
) -> Result<RunSummary, RunError> {
    super::blocked::lift_stale_latch(client, settings.timezone, request.as_of);
    let result = run_unnoted(store, client, recorder, settings, request, stop).await;
    if !request.dry_run {
        // A 90020 met by the run (or while planning it) blocks the rest of the quota month.
        let run_id = result.as_ref().ok().map(|summary| summary.run_id);
        let (tz, budget) = (settings.timezone, settings.monthly_budget);
        super::blocked::note(store, client, tz, budget, request.as_of, run_id);
    }
    result
}

async fn run_unnoted(
    store: &mut Store,
    client: &Client,
    recorder: Option<&StoreRecorder>,
    settings: &RunSettings,
    request: &RunRequest,
    stop: &StopFlag,
) -> Result<RunSummary, RunError> {
    if request.dry_run {
        return dry_run(store, client, settings, request).await;
    }
    // Names and departments for the reports: free calls, at most once a business day; a
    // failure is a warning and the cache stays.
    super::people::refresh(store, client, settings, request.as_of).await;
    let metered_at_start = client.metered_calls();
    let (facts, budget) = gather_with_codes(store, client, settings, request, stop).await?;
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
    let tag = recorder.map(|recorder| recorder.tag(run_id));
    let run = RunContext::new(
        store, client, budget, settings, request, &facts, &plan, run_id,
    )?;
    let result = run.execute().await;
    drop(tag);
    let metered_calls = client.metered_calls() - metered_at_start;
    finish(store, run_id, request, result, metered_calls)
}

async fn dry_run(
    store: &Store,
    client: &Client,
    settings: &RunSettings,
    request: &RunRequest,
) -> Result<RunSummary, RunError> {
    let plan = plan_run(store, client, settings, request).await?;
    Ok(RunSummary {
        run_id: 0,
        outcome: RunOutcome::Done,
        counts: zero_counts(),
        corrections_applied: 0,
        metered_calls: 0,
        deferred: plan.deferred.iter().map(deferred_line).collect(),
        errors: Vec::new(),
        stopped: None,
    })
}

/// Records how the run ended (failed, when it could not be carried out).
fn finish(
    store: &mut Store,
    run_id: i64,
    request: &RunRequest,
    result: Result<RunSummary, RunError>,
    metered_calls: u64,
) -> Result<RunSummary, RunError> {
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

/// One run under way: what it was planned from, what it has fetched and learnt so far.
struct RunContext<'a> {
    store: &'a mut Store,
    /// The client without a budget, to carve step handles from.
    base: &'a Client,
    /// The run's budget, and the handle spending out of it (essential steps).
    budget: Budget,
    client: Client,
    settings: &'a RunSettings,
    request: &'a RunRequest,
    facts: &'a Facts,
    plan: &'a Plan,
    /// The plan's items by step; each step takes its own.
    phases: Phases,
    run_id: i64,
    /// The users in scope.
    in_scope: BTreeSet<UserId>,
    fetched: Fetched,
    /// The planner's state, updated by what the data shows.
    state: PlannerState,
    /// Fallbacks taken because the data contradicted an unconfirmed fact.
    notices: Vec<String>,
    /// Every approval known, stored or fetched.
    approvals: BTreeMap<String, Approval>,
    /// Unresolved approvals to judge this run: those the store holds without a final class, and
    /// those found finished tonight.
    unresolved: BTreeSet<String>,
    /// User-days the scan found changed.
    dirty: BTreeSet<(UserId, NaiveDate)>,
    /// Whether open slots were scanned tonight.
    scanned: bool,
    /// Targeted re-reads not done tonight, owed to the next nights.
    owed: BTreeSet<(UserId, NaiveDate)>,
}

impl<'a> RunContext<'a> {
    #[expect(clippy::too_many_arguments, reason = "everything a run starts from")]
    fn new(
        store: &'a mut Store,
        base: &'a Client,
        budget: Budget,
        settings: &'a RunSettings,
        request: &'a RunRequest,
        facts: &'a Facts,
        plan: &'a Plan,
        run_id: i64,
    ) -> Result<Self, RunError> {
        let unresolved = store
            .unresolved_approvals()?
            .into_iter()
            .map(|stored| stored.approval.process_instance_id)
            .collect();
        let approvals = facts
            .known
            .iter()
            .map(|(id, stored)| (id.clone(), stored.approval.clone()))
            .collect();
        Ok(RunContext {
            store,
            base,
            client: base.with_budget(&budget),
            budget,
            settings,
            request,
            facts,
            plan,
            phases: plan.phases(),
            run_id,
            in_scope: facts.users.iter().cloned().collect(),
            fetched: Fetched::default(),
            state: facts.state.clone(),
            notices: Vec::new(),
            approvals,
            unresolved,
            dirty: BTreeSet::new(),
            scanned: false,
            owed: BTreeSet::new(),
        })
    }

    async fn execute(mut self) -> Result<RunSummary, RunError> {
        if self.plan.approvals_essential {
            self.approvals_as_evidence().await?;
        }
        self.sync().await;
        self.scan_open_slots().await;
        self.refetch_targeted().await?;
        self.approvals_as_enrichment().await?;
        self.enrich_corrections().await?;
        self.second_look().await;
        self.confirm_emptied_days().await?;
        self.check_corrected_slots();
        let reconciled = self.reconcile()?;
        let corrections_applied = self.apply(&reconciled)?;
        self.record_night()?;
        let mut counts: BTreeMap<ChangeClass, u64> = BTreeMap::new();
        for verdict in &reconciled.verdicts {
            *counts.entry(verdict.class).or_default() += 1;
        }
        Ok(summarize(&Ending {
            run_id: self.run_id,
            plan: self.plan,
            fetched: &self.fetched,
            notices: &self.notices,
            counts,
            corrections_applied,
            allowance: self.facts.allowance,
            month_used: self.facts.month_used,
            monthly_budget: self.settings.monthly_budget,
            blocked: (self.facts.blocked.as_ref())
                .map(|blocked| super::blocked::sentence(blocked, self.settings.timezone)),
        }))
    }

    fn stop_flag(&self) -> &StopFlag {
        self.budget.stop_flag()
    }

    /// What optional work may still spend: the month's surplus, never more than the run's
    /// budget has left. The one place a step's budget is sized.
    fn room(&self) -> u64 {
        self.plan.surplus.min(self.budget.left())
    }

    /// A client handle for one optional step, spending at most [`RunContext::room`] out of the
    /// run's budget, and the stop before the step.
    fn optional_step(&self) -> (Client, Option<Stop>) {
        let step = self.budget.within(self.room());
        (self.base.with_budget(&step), self.fetched.stop)
    }

    /// After an optional step: running out of the step's room is not the run's stop.
    fn end_optional_step(&mut self, stop_before: Option<Stop>) {
        if stop_before.is_none() && self.fetched.stop == Some(Stop::Budget) {
            self.fetched.stop = None;
        }
    }

    /// A client for one essential step whose cost is known as `estimate` metered calls. In a
    /// backfill the step may spend at most [`step_ceiling`] of it out of the run's budget, so
    /// answers that never end (a page repeated, a cursor that keeps changing, more rows than a
    /// batch can hold) cannot spend the month in one chunk; nightly runs are already held to
    /// their fair share. Returns the client and the ceiling (`None`: the run's budget only).
    fn essential_step(&self, estimate: u64) -> (Client, Option<u64>) {
        if !matches!(self.request.kind, RunKind::Backfill { .. }) {
            return (self.client.clone(), None);
        }
        let ceiling = step_ceiling(estimate);
        let step = self.budget.within(ceiling);
        (self.base.with_budget(&step), Some(ceiling))
    }

    /// After an essential step run with [`RunContext::essential_step`]: a step that ran into
    /// its ceiling while the run still had budget failed (its answers did not end as its
    /// estimate said they would); that is an error of the run, not the run's stop, so the
    /// following steps still run.
    fn end_essential_step(&mut self, step: &str, estimate: u64, ceiling: Option<u64>) {
        let Some(ceiling) = ceiling else { return };
        if self.fetched.stop == Some(Stop::Budget)
            && self.budget.left() > 0
            && !self.stop_flag().is_raised()
        {
            self.fetched.stop = None;
            self.fetched.errors.push(format!(
                "{step}: stopped at its ceiling of {ceiling} metered calls ({CEILING_FACTOR} × \
                 its estimate of {estimate} + {CEILING_SLACK}); DingTalk's answers did not end \
                 as expected, the rest is left for a later run"
            ));
        }
    }

    /// Step 1: approvals, when they are evidence.
    async fn approvals_as_evidence(&mut self) -> Result<(), RunError> {
        let client = self.client.clone();
        self.list_and_detail(&client).await
    }

    /// Lists approvals and fetches the details the run needs (new or not final), recording both.
    async fn list_and_detail(&mut self, client: &Client) -> Result<(), RunError> {
        let stop = self.stop_flag().clone();
        let listed_before = self.fetched.listed.len();
        let listings = std::mem::take(&mut self.phases.listings);
        list_approvals(client, &stop, listings, &mut self.fetched).await;
        self.retry_failed(|item| matches!(item, PlanItem::ApprovalList(_)))
            .await;
        let listed: Vec<ListedApproval> = self.fetched.listed[listed_before..]
            .iter()
            .map(|(id, code)| ListedApproval {
                process_instance_id: id.clone(),
                process_code: code.clone(),
            })
            .collect();
        self.store
            .record_listed_approvals(&listed, self.run_id, self.request.as_of)?;
        let mut wanted: BTreeSet<String> = std::mem::take(&mut self.phases.detail_ids)
            .into_iter()
            .collect();
        for item in &listed {
            if self
                .facts
                .known
                .get(&item.process_instance_id)
                .is_none_or(|stored| !stored.approval.is_finished())
            {
                wanted.insert(item.process_instance_id.clone());
            }
        }
        let wanted: Vec<String> = wanted.into_iter().collect();
        let before = self.fetched.approvals.len();
        let estimate = wanted.len() as u64;
        let (capped, ceiling) = if self.plan.approvals_essential {
            self.essential_step(estimate)
        } else {
            (client.clone(), None)
        };
        let client = if ceiling.is_some() { &capped } else { client };
        fetch_details(client, &stop, &wanted, &mut self.fetched).await;
        self.end_essential_step("approval details", estimate, ceiling);
        self.retry_failed(is_details).await;
        let mut fresh = self.keep_fetched_approvals(before)?;
        // The instances tied to the fresh ones (the original a revocation names, a revocation
        // an original lists), when not known: the revocation is judged against its original.
        let linked: BTreeSet<String> = fresh
            .iter()
            .flat_map(|approval| approval.links.main.iter().chain(&approval.links.attached))
            .filter(|id| !self.approvals.contains_key(*id))
            .cloned()
            .collect();
        if !linked.is_empty() && self.fetched.stop.is_none() {
            let linked: Vec<String> = linked.into_iter().collect();
            let before = self.fetched.approvals.len();
            fetch_details(client, &stop, &linked, &mut self.fetched).await;
            self.retry_failed(is_details).await;
            fresh.extend(self.keep_fetched_approvals(before)?);
        }
        for approval in fresh {
            if approval.is_finished() {
                self.unresolved.insert(approval.process_instance_id);
            }
        }
        Ok(())
    }

    /// Stores the approvals fetched since `before` and adds them to the known ones.
    fn keep_fetched_approvals(&mut self, before: usize) -> Result<Vec<Approval>, RunError> {
        let fresh = self.fetched.approvals[before..].to_vec();
        self.store
            .upsert_approvals(&fresh, self.run_id, self.request.as_of)?;
        for approval in &fresh {
            self.approvals
                .insert(approval.process_instance_id.clone(), approval.clone());
        }
        Ok(fresh)
    }

    /// Step 2: the nightly sync (or the backfill's range).
    async fn sync(&mut self) {
        let primary = self.phases.primary.clone();
        let stop = self.stop_flag().clone();
        let estimate = primary.iter().map(|item| item.estimated_calls).sum();
        let (client, ceiling) = self.essential_step(estimate);
        fetch_results(&client, &stop, primary, &mut self.fetched).await;
        self.end_essential_step("results", estimate, ceiling);
        self.retry_failed(is_results).await;
    }

    /// Step 3: the open-slot scan through raw punches, and what it says about the watched
    /// corrections.
    async fn scan_open_slots(&mut self) {
        let punches = std::mem::take(&mut self.phases.punches);
        let stop = self.stop_flag().clone();
        self.scanned = !punches.is_empty() && self.fetched.stop.is_none() && !stop.is_raised();
        let estimate = punches.iter().map(|item| item.estimated_calls).sum();
        let (client, ceiling) = self.essential_step(estimate);
        fetch_punches(&client, &stop, punches, &mut self.fetched).await;
        self.end_essential_step("raw punches", estimate, ceiling);
        self.retry_failed(|item| matches!(item, PlanItem::Punches(_)))
            .await;
        let found = findings(
            &self.facts.open_slots,
            &self.facts.watched,
            &self.fetched.punches,
            &self.fetched.punch_complete,
            self.settings.timezone,
        );
        if let Some(notice) = self
            .state
            .saw_watched_punches(found.supply_punches, found.misses)
        {
            self.notice(notice);
        }
        self.dirty = found.dirty;
    }

    fn notice(&mut self, notice: &str) {
        tracing::warn!("{notice}");
        self.notices.push(notice.to_owned());
    }

    /// Step 4: targeted re-fetch of dirty user-days, days approvals point at, and reverts
    /// watched through results where punches cannot show them.
    async fn refetch_targeted(&mut self) -> Result<(), RunError> {
        let tz = self.settings.timezone;
        let mut targeted = std::mem::take(&mut self.dirty);
        for id in &self.unresolved {
            if let Some(approval) = self.approvals.get(id).filter(|approval| {
                approval.is_approved() && self.in_scope.contains(&approval.originator)
            }) {
                targeted.extend(pointed_days(self.store, approval, tz)?);
            }
        }
        let backfill = matches!(self.request.kind, RunKind::Backfill { .. });
        if backfill || (self.facts.scan_night && self.state.punch_shows_supply != Fact::Holds) {
            let watch_days = i64::from(self.settings.reconcile.revert_watch_days);
            targeted.extend(recently_corrected(
                self.store,
                self.request.as_of - Duration::days(watch_days),
                self.plan.window.1 + Duration::days(1),
            )?);
        }
        if !backfill {
            let horizon = local_date(self.request.as_of, tz)
                - Duration::days(i64::from(self.settings.reconcile.open_slot_horizon_days));
            for (user, dates) in &self.state.owed_rereads {
                let Some(user) = UserId::new(user)
                    .ok()
                    .filter(|id| self.in_scope.contains(id))
                else {
                    continue;
                };
                for date in dates.iter().filter(|date| **date >= horizon) {
                    targeted.insert((user.clone(), *date));
                }
            }
        }
        let primary_days = covered_days(&self.phases.primary);
        targeted.retain(|day| !primary_days.contains(day));
        let mut items = std::mem::take(&mut self.phases.targeted);
        items.extend(targeted_items(&targeted, DEFAULT_ROWS_PER_USER_DAY));
        let stop = self.stop_flag().clone();
        let estimate = items.iter().map(|item| item.estimated_calls).sum();
        let (client, ceiling) = self.essential_step(estimate);
        fetch_results(&client, &stop, items, &mut self.fetched).await;
        self.end_essential_step("targeted re-reads", estimate, ceiling);
        self.retry_failed(is_results).await;
        self.owed = targeted
            .into_iter()
            .filter(|day| !self.fetched.complete.contains(day))
            .collect();
        Ok(())
    }

    /// Step 5a: approvals as enrichment, out of the surplus, when they are not evidence.
    async fn approvals_as_enrichment(&mut self) -> Result<(), RunError> {
        if self.plan.approvals_essential
            || !self.phases.has_approvals()
            || self.fetched.stop.is_some()
        {
            return Ok(());
        }
        let (client, stop_before) = self.optional_step();
        let listed = self.list_and_detail(&client).await;
        self.end_optional_step(stop_before);
        listed
    }

    /// Step 5b: details of approvals behind journaled corrections, out of the surplus, and the
    /// corrections enriched with them.
    async fn enrich_corrections(&mut self) -> Result<(), RunError> {
        if !self.phases.enrichment && !self.plan.approvals_essential {
            return Ok(());
        }
        let (client, stop_before) = self.optional_step();
        let enriched = self.enrich(&client).await;
        self.end_optional_step(stop_before);
        enriched
    }

    async fn enrich(&mut self, client: &Client) -> Result<(), RunError> {
        let awaiting = self.store.corrections_awaiting_enrichment()?;
        let unknown: Vec<String> = awaiting
            .iter()
            .filter(|id| !self.approvals.contains_key(*id))
            .cloned()
            .collect();
        let before = self.fetched.approvals.len();
        if self.fetched.stop.is_none() {
            let stop = self.stop_flag().clone();
            fetch_details(client, &stop, &unknown, &mut self.fetched).await;
            self.retry_failed(is_details).await;
        }
        self.keep_fetched_approvals(before)?;
        for id in &awaiting {
            if let Some(approval) = self.approvals.get(id) {
                self.store.enrich_corrections(
                    id,
                    approval.business_id.as_deref(),
                    approval.finish_time,
                )?;
            }
        }
        Ok(())
    }

    /// Step 5c: the second look at older days, out of the surplus.
    async fn second_look(&mut self) {
        let rescan = std::mem::take(&mut self.phases.rescan);
        let (client, stop_before) = self.optional_step();
        let stop = self.stop_flag().clone();
        fetch_results(&client, &stop, rescan, &mut self.fetched).await;
        self.end_optional_step(stop_before);
        self.retry_failed(is_results).await;
    }

    /// Step 5d: a user-day that had slots and now comes back complete but empty is read once
    /// more before its slots are taken as vanished. DingTalk returns a row for every scheduled
    /// check point, a not-signed one included (dingtalk-api.md section 3.1: "a scheduled day
    /// never comes back empty"), so an emptied day is a schedule removed, or an answer not to
    /// trust (a glitch, a lagging replica, a hostile proxy); one valid empty page must not
    /// vanish a day's slots for good. The days leave `complete` and come back only if the second
    /// read, out of [`RunContext::room`], is complete and empty again; if it shows rows, those
    /// are used; if it fails or there is no room, nothing vanishes this run (a later run looks
    /// again) and a notice says so. A day that lost only some of its slots (a shift changed) is
    /// not second-guessed: its other rows show the answer was about that day.
    async fn confirm_emptied_days(&mut self) -> Result<(), RunError> {
        let (snapshot, _) = load_snapshot(self.store, &self.fetched)?;
        let answered: BTreeSet<(UserId, NaiveDate)> = self
            .fetched
            .slots
            .iter()
            .map(|slot| (slot.user_id.clone(), slot.work_date))
            .collect();
        let emptied: BTreeSet<(UserId, NaiveDate)> = snapshot
            .keys()
            .map(|key| (key.user_id.clone(), key.work_date))
            .filter(|day| self.fetched.complete.contains(day) && !answered.contains(day))
            .collect();
        if emptied.is_empty() {
            return Ok(());
        }
        self.fetched.complete.retain(|day| !emptied.contains(day));
        let stop = self.stop_flag().clone();
        let mut second = Fetched::default();
        if self.fetched.stop.is_none() && !stop.is_raised() && self.room() > 0 {
            let items = targeted_items(&emptied, DEFAULT_ROWS_PER_USER_DAY);
            let (client, stop_before) = self.optional_step();
            fetch_results(&client, &stop, items, &mut second).await;
            self.end_optional_step(stop_before);
        }
        let confirmed = emptied
            .iter()
            .filter(|day| second.complete.contains(*day))
            .count();
        if confirmed < emptied.len() {
            self.notices.push(format!(
                "{} user-day(s) that had slots came back empty and could not be read a second time; their slots are not taken as vanished this run",
                emptied.len() - confirmed
            ));
        }
        if matches!(second.stop, Some(Stop::Quota | Stop::Requested)) {
            self.fetched.stop = second.stop;
        }
        self.fetched.slots.extend(second.slots);
        self.fetched.complete.extend(second.complete);
        self.fetched.ranges.extend(second.ranges);
        self.fetched.rejected.extend(second.rejected);
        self.fetched.unknown_values.extend(second.unknown_values);
        Ok(())
    }

    /// The failed work `pick` selects (batches, listings, details that failed for a transient
    /// error, token churn, a rejected or endless answer), once more at the end of its step, out
    /// of [`RunContext::room`]: by then other work has run and a churned token or a passing fault
    /// may be gone. What fails again stays a failure (reported, the run partial); with no room
    /// left, or once fetching stopped, nothing is retried.
    async fn retry_failed(&mut self, pick: fn(&PlanItem) -> bool) {
        let (again, keep): (Vec<Failure>, Vec<Failure>) =
            std::mem::take(&mut self.fetched.failures)
                .into_iter()
                .partition(|failure| !failure.retried && pick(&failure.item));
        self.fetched.failures = keep;
        if again.is_empty() {
            return;
        }
        if self.fetched.stop.is_some() || self.stop_flag().is_raised() || self.room() == 0 {
            self.fetched.failures.extend(again);
            return;
        }
        tracing::info!(items = again.len(), "retrying failed items once");
        let (client, stop_before) = self.optional_step();
        let stop = self.stop_flag().clone();
        let (mut results, mut punches, mut listings, mut details) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for failure in again {
            match failure.item {
                PlanItem::Results(item) => results.push(item),
                PlanItem::Punches(item) => punches.push(item),
                PlanItem::ApprovalList(item) => listings.push(item),
                PlanItem::ApprovalDetails(item) | PlanItem::Enrichment(item) => {
                    details.extend(item.ids);
                }
            }
        }
        // A retried listing counts as incomplete again only if it fails again.
        self.fetched.incomplete_listings = self
            .fetched
            .incomplete_listings
            .saturating_sub(listings.len());
        let failed_before = self.fetched.failures.len();
        fetch_results(&client, &stop, results, &mut self.fetched).await;
        fetch_punches(&client, &stop, punches, &mut self.fetched).await;
        list_approvals(&client, &stop, listings, &mut self.fetched).await;
        fetch_details(&client, &stop, &details, &mut self.fetched).await;
        for failure in &mut self.fetched.failures[failed_before..] {
            failure.retried = true;
        }
        self.end_optional_step(stop_before);
    }

    /// Step 6: what the results say about the unconfirmed facts.
    fn check_corrected_slots(&mut self) {
        let mut notices = Vec::new();
        for slot in self
            .fetched
            .slots
            .iter()
            .filter(|slot| shows_approval(slot))
        {
            let names = slot
                .process_instance_id
                .as_deref()
                .is_some_and(|id| !id.is_empty());
            if let Some(notice) = self.state.saw_corrected_slot(names) {
                notices.push(notice);
            }
        }
        for notice in notices {
            self.notice(notice);
        }
    }

    /// Step 7: diff, match and classify.
    fn reconcile(&mut self) -> Result<Reconciled, RunError> {
        let tz = self.settings.timezone;
        let (snapshot, observed_at) = load_snapshot(self.store, &self.fetched)?;
        let changes = diff(&snapshot, &self.fetched.slots, &self.fetched.complete);
        let mut current = snapshot;
        for day in self
            .unresolved
            .iter()
            .filter_map(|id| self.approvals.get(id))
            .flat_map(|approval| candidate_days(approval, tz))
        {
            for stored in self.store.slots_for_user_day(&day.0, day.1)? {
                if stored.present {
                    current.entry(stored.slot.key()).or_insert(stored.slot);
                }
            }
        }
        overlay(&mut current, &changes);
        self.leave_unread_approvals_unresolved(&current);
        let index = SlotIndex::new(&current);
        let (revoked_slots, journaled) = self.revoked_originals(&current)?;
        let context = load_context(self.store, &changes, &observed_at, &current, &revoked_slots)?;
        let verdicts = classify(&ClassifyInput {
            changes: &changes,
            context: &context,
            slots: &index,
            approvals: &self.approvals,
            unresolved_approvals: &self.unresolved,
            now: self.request.as_of,
            tz,
            policy: &self.settings.policy,
            settle: Duration::hours(i64::from(self.settings.reconcile.settle_hours)),
            journaled: &journaled,
        });
        Ok(Reconciled {
            changes,
            current,
            verdicts,
        })
    }

    /// For the unresolved revocations: the slots of their originals' days (whose ledger rows
    /// classification needs) and the classes the journal holds for each original.
    #[expect(clippy::type_complexity, reason = "two lookups built together")]
    fn revoked_originals(
        &self,
        current: &BTreeMap<SlotKey, Slot>,
    ) -> Result<(BTreeSet<SlotKey>, BTreeMap<String, BTreeSet<ChangeClass>>), RunError> {
        let tz = self.settings.timezone;
        let mut slots = BTreeSet::new();
        let mut journaled: BTreeMap<String, BTreeSet<ChangeClass>> = BTreeMap::new();
        for revocation in self
            .unresolved
            .iter()
            .filter_map(|id| self.approvals.get(id))
        {
            let Some(original) = revocation.revokes() else {
                continue;
            };
            for (user, date) in candidate_days(revocation, tz) {
                for stored in self.store.corrections_for_user_day(&user, date)? {
                    if stored.correction.process_instance_id.as_deref() == Some(original) {
                        journaled
                            .entry(original.to_owned())
                            .or_default()
                            .insert(stored.correction.class);
                    }
                }
                slots.extend(
                    current
                        .keys()
                        .filter(|key| key.user_id == user && key.work_date == date)
                        .cloned(),
                );
            }
        }
        Ok((slots, journaled))
    }

    /// An approved 补卡 of someone in scope whose days were neither fetched nor stored yet is
    /// not unmatched: it is not judged this run and stays unresolved until its days are read.
    /// Other unresolved approvals are judged.
    fn leave_unread_approvals_unresolved(&mut self, current: &BTreeMap<SlotKey, Slot>) {
        let tz = self.settings.timezone;
        let mut seen: BTreeSet<(UserId, NaiveDate)> = self.fetched.complete.clone();
        seen.extend(
            current
                .keys()
                .map(|key| (key.user_id.clone(), key.work_date)),
        );
        let (approvals, in_scope) = (&self.approvals, &self.in_scope);
        self.unresolved.retain(|id| {
            approvals.get(id).is_none_or(|approval| {
                let days = candidate_days(approval, tz);
                !approval.is_approved()
                    || !in_scope.contains(&approval.originator)
                    || days.is_empty()
                    || days.iter().any(|day| seen.contains(day))
            })
        });
    }

    /// Step 7, continued: apply the verdicts; returns the corrections newly journaled.
    fn apply(&mut self, reconciled: &Reconciled) -> Result<u64, RunError> {
        let applied = apply_all(
            self.store,
            self.run_id,
            self.request.as_of,
            &reconciled.changes,
            &reconciled.verdicts,
            &reconciled.current,
            &self.settings.sinks,
            USERS_PER_BATCH,
        )?;
        Ok(applied.corrections_applied)
    }

    /// Step 8: remember what was read, listed, scanned and learnt.
    fn record_night(&mut self) -> Result<(), RunError> {
        if !matches!(self.request.kind, RunKind::Backfill { .. }) {
            let tz = self.settings.timezone;
            let latest = latest_settled(
                self.request.as_of,
                tz,
                self.settings.reconcile.sync_after_hours,
            );
            let window = i64::from(self.settings.reconcile.window_days);
            let deferred = self.plan.deferred.iter();
            self.state = record_night(
                &self.state,
                &Night {
                    users: &self.facts.users,
                    primary: &self.phases.primary,
                    primary_range: self.plan.primary,
                    complete: &self.fetched.complete,
                    first_default: latest - Duration::days(window - 1),
                    listed_windows: &self.fetched.listed_windows,
                    listings_complete: self.fetched.incomplete_listings == 0,
                    deferred: self.fetched.deferred.iter().chain(deferred).collect(),
                    scanned_on: self.scanned.then(|| local_date(self.request.as_of, tz)),
                    owed: &self.owed,
                },
            );
        } else {
            // A backfill moves no nightly progress; it remembers the windows it listed, so
            // its later chunks do not list them again.
            for (code, from, to) in &self.fetched.listed_ranges {
                self.state.saw_backfill_listing(code, *from, *to);
            }
        }
        self.store.save_planner_state(&self.state.to_text())?;
        Ok(())
    }
}

fn is_results(item: &PlanItem) -> bool {
    matches!(item, PlanItem::Results(_))
}

fn is_details(item: &PlanItem) -> bool {
    matches!(item, PlanItem::ApprovalDetails(_) | PlanItem::Enrichment(_))
}

/// What step 7 decided.
struct Reconciled {
    changes: Vec<SlotChange>,
    current: BTreeMap<SlotKey, Slot>,
    verdicts: Vec<Verdict>,
}

/// How many times its estimate an essential step of a backfill may spend ([`step_ceiling`]).
pub(crate) const CEILING_FACTOR: u64 = 3;
/// Calls a backfill step may spend beyond [`CEILING_FACTOR`] times its estimate: room for the
/// few malformed answers and the odd extra page a small step meets.
pub(crate) const CEILING_SLACK: u64 = 20;

/// The most metered calls an essential step of a backfill estimated at `estimate` may spend.
/// Estimates are per batch from the rows a user-day holds, and details exactly one per id, so
/// a step spending three times its estimate has met answers that do not end; the approval
/// listing is not held to it (its estimate cannot know how many approvals exist; its cursor has
/// a ceiling of its own in the client).
pub(crate) fn step_ceiling(estimate: u64) -> u64 {
    estimate
        .saturating_mul(CEILING_FACTOR)
        .saturating_add(CEILING_SLACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backfill_step_may_spend_three_times_its_estimate_and_a_little() {
        assert_eq!(step_ceiling(0), 20);
        assert_eq!(step_ceiling(14), 62);
        assert_eq!(step_ceiling(u64::MAX), u64::MAX);
    }
}
