//! Builds a [`RunReport`] from what the store recorded: one run ([`for_run`]) or every run
//! touching a range of work dates ([`for_range`]).
//!
//! Findings are sorted by class: `supply_pending` becomes a pending line, anomaly classes become
//! anomalies, the rest (refused, withdrawn, …) are listed, with the person, work date and reason
//! of the approval's stored detail. A pending approval approved `policy.pending_anomaly_days` or
//! more days before the report's run is also an anomaly ([`overdue`]). Every line about an
//! approval whose detail is stored (corrections included) carries the form's reason and its
//! approver, the person `dingtalk::decider` reads from the stored detail, named from the
//! directory cache like the line's person; anomaly and listed lines also when it was decided.
//! Approvals still awaiting a decision are `in_progress` ([`Store::running_approvals`]): of the
//! range's work dates, or those the run fetched.
//!
//! Pending has one definition, [`Store::pending_approvals`]: `status` counts it, and a
//! date-range report lists those of its work dates and counts them as `supply_pending`. (A run
//! report shows what that run recorded.) A range report also says which of its work dates runs
//! reconciled ([`coverage`]). Month-to-date calls are the store's
//! count for the run's natural month in the business time zone, which for an older run includes
//! calls of later runs that month. This module does not render, fetch from DingTalk, or write to
//! the store.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::{
    AnomalyLine, ApiCalls, Approver, CorrectionLine, Coverage, DayCalls, DeferredLine,
    DepartmentGap, EmployeeCoverage, PendingLine, RunInfo, RunReport, Window, zero_counts,
};
use crate::dingtalk;
use crate::domain::{Approval, ChangeClass, SlotDiscriminator, UserId};
use crate::quota::local_date;
use crate::reconcile::plan::{Plan, PlanItem, ResultsPurpose};
use crate::store::{
    self, FindingRow, RunOutcome, Store, StoredApproval, StoredCorrection, StoredRun,
    business_month,
};

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    #[error("read the report from the store")]
    Store(#[from] store::Error),
    #[error("run {0} does not exist in the store: expected an id shown by `status`")]
    UnknownRun(i64),
    #[error(
        "no run in the store covers work dates {from} to {to}: expected a range a run or backfill reconciled"
    )]
    NoRuns { from: NaiveDate, to: NaiveDate },
}

/// The metered calls of the quota month per business date, for the quota chart.
fn quota_by_day(store: &Store, month: &str, tz: Tz) -> Result<Vec<DayCalls>, BuildError> {
    Ok(store
        .month_metered_by_day(month, tz)?
        .into_iter()
        .map(|(date, metered)| DayCalls { date, metered })
        .collect())
}

/// The quota exhaustion recorded for the quota month `month`, for the report.
fn quota_exhausted(
    store: &Store,
    month: &str,
    tz: Tz,
) -> Result<Option<super::QuotaExhausted>, BuildError> {
    Ok(store
        .quota_exhaustion(month)?
        .map(|stored| super::QuotaExhausted::new(&stored, tz)))
}

/// The report of one run.
pub(crate) fn for_run(
    store: &Store,
    run_id: i64,
    budget: u64,
    pending_anomaly_days: u32,
    tz: Tz,
) -> Result<RunReport, BuildError> {
    let run = store.run(run_id)?.ok_or(BuildError::UnknownRun(run_id))?;
    let usage = store.run_calls(run_id)?;
    let month = business_month(run.finished_at.unwrap_or(run.started_at), tz);
    let api_calls = ApiCalls {
        by_endpoint: usage.by_endpoint,
        metered: usage.metered,
        month_to_date: store.month_usage(&month)?.metered,
        budget,
        month,
    };
    let mut report = RunReport::empty(run_info(&run, run.kind.as_str().to_owned()), api_calls);
    report.quota_by_day = quota_by_day(store, &report.api_calls.month, tz)?;
    report.employees = employee_coverage(store, std::slice::from_ref(&run))?;
    report.quota_exhausted = quota_exhausted(store, &report.api_calls.month, tz)?;
    report
        .counts
        .extend(run.counts.iter().map(|(class, count)| (*class, *count)));
    report.corrections = store
        .corrections_for_run(run_id)?
        .iter()
        .map(correction_line)
        .collect();
    add_correction_approvals(store, &mut report)?;
    add_findings(store, &mut report, store.findings_for_run(run_id)?, tz)?;
    report.in_progress = store
        .running_approvals(Some(run_id))?
        .iter()
        .map(|stored| in_progress_line(stored, tz))
        .collect();
    report.deferred = deferred(&run, &mut report.errors);
    report.errors.extend(run.errors.iter().cloned());
    overdue(&mut report, pending_anomaly_days, tz);
    add_people(store, &mut report, tz)?;
    Ok(report)
}

/// The report of every run whose window overlaps `from..=to`: corrections (each with the run
/// that applied it) and findings of those work dates, counts and calls summed over the runs,
/// the latest run's outcome and time, and which work dates were reconciled. Pending lines are
/// the store's pending approvals of those work dates, and the `supply_pending`,
/// `supply_refused` and `supply_withdrawn` counts are the approvals listed, not the sum of
/// what every run re-recorded.
pub(crate) fn for_range(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    budget: u64,
    pending_anomaly_days: u32,
    tz: Tz,
) -> Result<RunReport, BuildError> {
    let runs = store.runs_between(from, to)?;
    let latest = runs.last().ok_or(BuildError::NoRuns { from, to })?;
    let mut by_endpoint = BTreeMap::new();
    let mut metered = 0;
    let mut counts = zero_counts();
    for run in &runs {
        let usage = store.run_calls(run.id)?;
        metered += usage.metered;
        for (endpoint, attempts) in usage.by_endpoint {
            *by_endpoint.entry(endpoint).or_insert(0) += attempts;
        }
        for (class, count) in &run.counts {
            *counts.entry(*class).or_insert(0) += count;
        }
    }
    let month = business_month(latest.finished_at.unwrap_or(latest.started_at), tz);
    let api_calls = ApiCalls {
        by_endpoint,
        metered,
        month_to_date: store.month_usage(&month)?.metered,
        budget,
        month,
    };
    let mut info = run_info(latest, "range".to_owned());
    info.window = Window { from, to };
    let mut report = RunReport::empty(info, api_calls);
    report.quota_by_day = quota_by_day(store, &report.api_calls.month, tz)?;
    report.employees = employee_coverage(store, &runs)?;
    report.quota_exhausted = quota_exhausted(store, &report.api_calls.month, tz)?;
    report.counts = counts;
    report.corrections = store
        .corrections_between(from, to)?
        .iter()
        .map(correction_line)
        .collect();
    let in_range = |date: Option<NaiveDate>| date.is_some_and(|date| (from..=to).contains(&date));
    // Pending: the store's one definition; those of the range's work dates are shown.
    let mut pending: BTreeMap<String, StoredApproval> = store
        .pending_approvals()?
        .into_iter()
        .map(|stored| (stored.approval.process_instance_id.clone(), stored))
        .collect();
    // A finding re-recorded by every run (a pending approval) is shown once, as last recorded;
    // a pending finding whose approval is no longer pending is history, not shown.
    let mut latest_findings: BTreeMap<String, FindingRow> = BTreeMap::new();
    for stored in store.findings_between(from, to)? {
        let finding = stored.finding;
        // A slot shown corrected by an approval not known yet (no id) is listed, not pending
        // (see `add_findings`).
        if finding.class == ChangeClass::SupplyPending
            && let Some(id) = &finding.process_instance_id
            && !pending.contains_key(id)
        {
            latest_findings.remove(&finding_identity(&finding));
            continue;
        }
        latest_findings.insert(finding_identity(&finding), finding);
    }
    for finding in latest_findings.values() {
        if finding.class == ChangeClass::SupplyPending
            && let Some(id) = &finding.process_instance_id
        {
            pending.remove(id);
        }
    }
    // Pending approvals no run recorded a finding about in the range (work date known from the
    // approval): shown from the approval.
    let mut findings: Vec<FindingRow> = latest_findings.into_values().collect();
    findings.extend(
        pending
            .values()
            .filter(|stored| in_range(approval_work_date(stored, tz)))
            .map(pending_finding),
    );
    // Refused and withdrawn approvals of these work dates: their findings carry no work date.
    let known: BTreeSet<String> = findings
        .iter()
        .filter_map(|finding| finding.process_instance_id.clone())
        .collect();
    for class in [ChangeClass::SupplyRefused, ChangeClass::SupplyWithdrawn] {
        findings.extend(
            store
                .approvals_resolved_as(class)?
                .iter()
                .filter(|stored| !known.contains(&stored.approval.process_instance_id))
                .filter(|stored| in_range(approval_work_date(stored, tz)))
                .map(|stored| approval_finding(class, stored)),
        );
    }
    add_correction_approvals(store, &mut report)?;
    add_findings(store, &mut report, findings, tz)?;
    report.in_progress = store
        .running_approvals(None)?
        .iter()
        .filter(|stored| in_range(approval_work_date(stored, tz)))
        .map(|stored| in_progress_line(stored, tz))
        .collect();
    report
        .counts
        .insert(ChangeClass::SupplyPending, report.pending.len() as u64);
    for class in [ChangeClass::SupplyRefused, ChangeClass::SupplyWithdrawn] {
        let listed = report
            .listed
            .iter()
            .filter(|line| line.class == class)
            .count();
        report.counts.insert(class, listed as u64);
    }
    report.coverage = Some(coverage(from, to, &runs));
    for run in &runs {
        report.errors.extend(
            run.errors
                .iter()
                .map(|error| format!("run {}: {error}", run.id)),
        );
    }
    report.deferred = deferred(latest, &mut report.errors);
    overdue(&mut report, pending_anomaly_days, tz);
    add_people(store, &mut report, tz)?;
    Ok(report)
}

/// A journaled correction as a report line.
pub fn correction_line(stored: &StoredCorrection) -> CorrectionLine {
    let correction = &stored.correction;
    let key = &correction.slot_key;
    let (plan_id, key_check_type) = match &key.discriminator {
        SlotDiscriminator::Plan(plan_id) => (Some(*plan_id), None),
        SlotDiscriminator::Time { check_type, .. } => (None, Some(check_type.clone())),
    };
    let check_type = stored.check_type.clone().or(key_check_type).map_or_else(
        || "unknown".to_owned(),
        |check_type| check_type.as_str().to_owned(),
    );
    CorrectionLine {
        run_id: stored.run_id,
        user_id: key.user_id.as_str().to_owned(),
        name: None,
        department: None,
        work_date: key.work_date,
        check_type,
        plan_id,
        class: correction.class,
        before: correction.before.clone(),
        after: correction.after.clone(),
        before_observed: correction.before_observed,
        process_instance_id: correction.process_instance_id.clone(),
        business_id: correction.business_id.clone(),
        approved_at: correction.approved_at,
        applied_at: stored.applied_at,
        idempotency_key: correction.idempotency_key.clone(),
        version: stored.version,
        reason: None,
        approver: None,
    }
}

/// The 补卡 form's reason of an approval, when it gave one that is not blank.
fn reason_of(approval: &Approval) -> Option<String> {
    approval
        .reason
        .clone()
        .filter(|reason| !reason.trim().is_empty())
}

/// Who agreed to or refused an approval, as its stored detail says (see
/// `dingtalk::decider`); the name is left to [`add_people`].
fn approver_of(approval: &Approval) -> Option<Approver> {
    dingtalk::decider(&approval.raw_json).map(|decider| Approver {
        user_id: decider.user_id.as_str().to_owned(),
        name: None,
        remark: decider.remark,
    })
}

/// Gives each correction made by an approval the approval's reason and approver, when its
/// detail is stored.
fn add_correction_approvals(store: &Store, report: &mut RunReport) -> Result<(), BuildError> {
    let ids: Vec<String> = report
        .corrections
        .iter()
        .filter_map(|line| line.process_instance_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let approvals = store.approvals(&ids)?;
    for line in &mut report.corrections {
        let Some(stored) = line
            .process_instance_id
            .as_ref()
            .and_then(|id| approvals.get(id))
        else {
            continue;
        };
        line.reason = reason_of(&stored.approval);
        line.approver = approver_of(&stored.approval);
    }
    Ok(())
}

/// A stored approval still awaiting a decision as a line of `in_progress`.
fn in_progress_line(stored: &StoredApproval, tz: Tz) -> PendingLine {
    let approval = &stored.approval;
    let check_type = match stored
        .resolved_slot
        .as_ref()
        .map(|slot| &slot.discriminator)
    {
        Some(SlotDiscriminator::Time { check_type, .. }) => Some(check_type.as_str().to_owned()),
        _ => None,
    };
    PendingLine {
        process_instance_id: approval.process_instance_id.clone(),
        business_id: approval.business_id.clone(),
        user_id: approval.originator.as_str().to_owned(),
        name: None,
        department: None,
        work_date: approval_work_date(stored, tz),
        check_type,
        state: "running".to_owned(),
        since: approval.create_time,
        reason: reason_of(approval),
        approver: approver_of(approval),
    }
}

/// Names each person of the report from the directory cache, with the department they had on
/// the line's work date (a line without one: the business date of the report's run). A person
/// the cache does not know keeps the id alone; a user id the domain would not take is left as
/// it is.
fn add_people(store: &Store, report: &mut RunReport, tz: Tz) -> Result<(), BuildError> {
    let fallback = local_date(report.run.as_of, tz);
    let key = |user: &str, date: Option<NaiveDate>| {
        UserId::new(user)
            .ok()
            .map(|user| (user, date.unwrap_or(fallback)))
    };
    let mut wanted = BTreeSet::new();
    wanted.extend(
        report
            .corrections
            .iter()
            .filter_map(|line| key(&line.user_id, Some(line.work_date))),
    );
    wanted.extend(
        report
            .pending
            .iter()
            .chain(&report.in_progress)
            .filter_map(|line| key(&line.user_id, line.work_date)),
    );
    wanted.extend(
        report
            .anomalies
            .iter()
            .chain(&report.listed)
            .filter_map(|line| key(line.user_id.as_deref()?, line.work_date)),
    );
    // Approvers, by the date of the line they decided.
    let approvers = report
        .corrections
        .iter()
        .map(|line| (line.approver.as_ref(), Some(line.work_date)))
        .chain(
            report
                .pending
                .iter()
                .chain(&report.in_progress)
                .map(|line| (line.approver.as_ref(), line.work_date)),
        )
        .chain(
            report
                .anomalies
                .iter()
                .chain(&report.listed)
                .map(|line| (line.approver.as_ref(), line.work_date)),
        )
        .filter_map(|(approver, date)| key(&approver?.user_id, date))
        .collect::<Vec<_>>();
    wanted.extend(approvers);
    if wanted.is_empty() {
        return Ok(());
    }
    let known = store.people_on(&wanted)?;
    let find = |user: &str, date: Option<NaiveDate>| {
        key(user, date)
            .and_then(|key| known.get(&key))
            .map(|person| {
                let name = Some(person.name.clone()).filter(|name| !name.is_empty());
                (name, person.department.clone())
            })
            .unwrap_or_default()
    };
    let name_approver = |approver: &mut Option<Approver>, date: Option<NaiveDate>| {
        if let Some(approver) = approver {
            approver.name = find(&approver.user_id, date).0;
        }
    };
    for line in &mut report.corrections {
        (line.name, line.department) = find(&line.user_id, Some(line.work_date));
        name_approver(&mut line.approver, Some(line.work_date));
    }
    for line in report.pending.iter_mut().chain(&mut report.in_progress) {
        (line.name, line.department) = find(&line.user_id, line.work_date);
        name_approver(&mut line.approver, line.work_date);
    }
    for line in report.anomalies.iter_mut().chain(&mut report.listed) {
        if let Some(user) = line.user_id.clone() {
            (line.name, line.department) = find(&user, line.work_date);
        }
        name_approver(&mut line.approver, line.work_date);
    }
    Ok(())
}

fn run_info(run: &StoredRun, kind: String) -> RunInfo {
    RunInfo {
        id: run.id,
        kind,
        as_of: run.as_of,
        window: Window {
            from: run.window_from,
            to: run.window_to,
        },
        outcome: run.outcome_name().to_owned(),
        started_at: run.started_at,
        finished_at: run.finished_at,
    }
}

fn deferred(run: &StoredRun, errors: &mut Vec<String>) -> Vec<DeferredLine> {
    let Some(json) = run.deferred_json.as_deref() else {
        return Vec::new();
    };
    serde_json::from_str(json).unwrap_or_else(|err| {
        errors.push(format!(
            "deferred work of run {} could not be read ({err}): expected a JSON list of items",
            run.id
        ));
        Vec::new()
    })
}

fn finding_identity(finding: &FindingRow) -> String {
    format!(
        "{}|{}|{}|{}",
        finding.class,
        finding
            .slot_key
            .as_ref()
            .map(|key| key.canonical())
            .unwrap_or_default(),
        finding.process_instance_id.as_deref().unwrap_or(""),
        finding
            .user_id
            .as_ref()
            .map(|user| user.as_str())
            .unwrap_or("")
    )
}

/// Sorts findings into pending, anomalies and listed. Each finding about an approval takes
/// what its stored detail knows: pending lines the business id and approved-at, every line the
/// person (the originator) and the work date when the finding lacks them, and refused or
/// withdrawn lines the reason.
fn add_findings(
    store: &Store,
    report: &mut RunReport,
    findings: Vec<FindingRow>,
    tz: Tz,
) -> Result<(), BuildError> {
    let process_instance_ids: Vec<String> = findings
        .iter()
        .filter_map(|finding| finding.process_instance_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let approvals = if process_instance_ids.is_empty() {
        BTreeMap::new()
    } else {
        store.approvals(&process_instance_ids)?
    };
    for finding in findings {
        let stored = finding
            .process_instance_id
            .as_ref()
            .and_then(|id| approvals.get(id));
        let approval = stored.map(|stored| &stored.approval);
        let user_id = finding
            .user_id
            .as_ref()
            .map(|user| user.as_str().to_owned())
            .or_else(|| approval.map(|approval| approval.originator.as_str().to_owned()));
        let work_date = finding
            .work_date
            .or_else(|| stored.and_then(|stored| approval_work_date(stored, tz)));
        // Pending lines are approvals (the one definition, `Store::pending_approvals`); a slot
        // DingTalk shows corrected by an approval this job does not know yet is listed instead.
        if finding.class == ChangeClass::SupplyPending && finding.process_instance_id.is_some() {
            report.pending.push(PendingLine {
                business_id: approval.and_then(|approval| approval.business_id.clone()),
                user_id: user_id.unwrap_or_default(),
                name: None,
                department: None,
                work_date,
                check_type: finding.check_type.clone(),
                state: "approved_not_visible".to_owned(),
                since: approval.and_then(|approval| approval.finish_time),
                process_instance_id: finding.process_instance_id.clone().unwrap_or_default(),
                reason: approval.and_then(reason_of),
                approver: approval.and_then(approver_of),
            });
            continue;
        }
        let mut detail = finding.detail;
        if matches!(
            finding.class,
            ChangeClass::SupplyRefused | ChangeClass::SupplyWithdrawn
        ) {
            match approval.map(|approval| approval.reason.as_deref()) {
                Some(Some(reason)) if !reason.trim().is_empty() => {
                    detail.push_str(&format!("; reason: {reason}"));
                }
                Some(_) => detail.push_str("; no reason given"),
                None => detail.push_str(" (details not fetched yet)"),
            }
        }
        let line = AnomalyLine {
            class: finding.class,
            user_id,
            name: None,
            department: None,
            work_date,
            check_type: finding.check_type,
            plan_id: finding.plan_id,
            process_instance_id: finding.process_instance_id,
            business_id: approval.and_then(|approval| approval.business_id.clone()),
            detail,
            reason: approval.and_then(reason_of),
            approver: approval.and_then(approver_of),
            since: approval.and_then(|approval| approval.finish_time),
        };
        if finding.class.is_anomaly() {
            report.anomalies.push(line);
        } else {
            report.listed.push(line);
        }
    }
    Ok(())
}

/// The work date an approval is about: its resolved slot's, else the one its form states, else
/// the business date of the corrected punch time.
fn approval_work_date(stored: &StoredApproval, tz: Tz) -> Option<NaiveDate> {
    let approval = &stored.approval;
    let ext = approval.ext.as_ref();
    stored
        .resolved_slot
        .as_ref()
        .map(|slot| slot.work_date)
        .or_else(|| ext.and_then(|ext| ext.work_date))
        .or_else(|| {
            ext.and_then(|ext| ext.user_check_time)
                .or(approval.corrected_time)
                .map(|at| local_date(at, tz))
        })
}

/// A finding for a pending approval no run recorded one for in the range.
fn pending_finding(stored: &StoredApproval) -> FindingRow {
    let (check_type, plan_id) = match stored
        .resolved_slot
        .as_ref()
        .map(|slot| &slot.discriminator)
    {
        Some(SlotDiscriminator::Plan(plan_id)) => (None, Some(*plan_id)),
        Some(SlotDiscriminator::Time { check_type, .. }) => {
            (Some(check_type.as_str().to_owned()), None)
        }
        None => (None, None),
    };
    FindingRow {
        plan_id,
        check_type,
        slot_key: stored.resolved_slot.clone(),
        ..approval_finding(ChangeClass::SupplyPending, stored)
    }
}

/// A finding of `class` about a stored approval, its person and date left to [`add_findings`].
fn approval_finding(class: ChangeClass, stored: &StoredApproval) -> FindingRow {
    let id = &stored.approval.process_instance_id;
    let detail = match class {
        ChangeClass::SupplyRefused => format!("approval {id} was refused"),
        ChangeClass::SupplyWithdrawn => {
            format!("approval {id} was withdrawn ({})", stored.approval.status)
        }
        _ => format!("approval {id} is approved but DingTalk does not show it applied yet"),
    };
    FindingRow {
        class,
        slot_key: None,
        user_id: None,
        work_date: None,
        check_type: None,
        plan_id: None,
        process_instance_id: Some(id.clone()),
        detail,
    }
}

/// Overdue pending approvals become anomalies too: one approved `pending_anomaly_days` or more
/// whole days before the report's run (`as_of`), still not shown corrected, reads "approved on
/// D, still not shown corrected after N days" — the rule `classify` applies to a run's verdicts.
/// It stays in the pending list: it is still pending.
pub(crate) fn overdue(report: &mut RunReport, pending_anomaly_days: u32, tz: Tz) {
    let as_of = report.run.as_of;
    let lines: Vec<AnomalyLine> = report
        .pending
        .iter()
        .filter_map(|line| {
            let since = line.since?;
            let days = (as_of - since).num_days();
            (days >= i64::from(pending_anomaly_days)).then(|| AnomalyLine {
                class: ChangeClass::SupplyPending,
                user_id: Some(line.user_id.clone()).filter(|user| !user.is_empty()),
                name: None,
                department: None,
                work_date: line.work_date,
                check_type: line.check_type.clone(),
                plan_id: None,
                process_instance_id: Some(line.process_instance_id.clone()),
                business_id: line.business_id.clone(),
                detail: format!(
                    "approved on {}, still not shown corrected after {days} days \
                     (policy.pending_anomaly_days = {pending_anomaly_days})",
                    local_date(since, tz)
                ),
                reason: line.reason.clone(),
                approver: line.approver.clone(),
                since: Some(since),
            })
        })
        .collect();
    report.anomalies.extend(lines);
}

/// Which work dates of `from..=to` the `runs` reconciled (see [`Coverage`]): a date a run that
/// ended `done` read results of is reconciled; one read only by runs that ended otherwise is
/// partly; the rest are not reconciled. What a run read is its plan's results items (primary,
/// per-user sync and rescan; targeted re-reads of single user-days do not count), not its
/// window, which spans from the oldest date it re-read to the newest and so may hold dates it
/// did not read; a run whose plan cannot be read counts by its window.
pub(crate) fn coverage(from: NaiveDate, to: NaiveDate, runs: &[StoredRun]) -> Coverage {
    let read: Vec<(Vec<(NaiveDate, NaiveDate)>, bool)> = runs
        .iter()
        .map(|run| (read_dates(run), run.outcome == Some(RunOutcome::Done)))
        .collect();
    let mut coverage = Coverage {
        reconciled: Vec::new(),
        partly: Vec::new(),
        not_reconciled: Vec::new(),
    };
    let mut date = from;
    while date <= to {
        let covering = read.iter().filter(|(ranges, _)| {
            ranges
                .iter()
                .any(|(first, last)| *first <= date && date <= *last)
        });
        let mut any = false;
        let mut done = false;
        for (_, ended_done) in covering {
            any = true;
            done |= *ended_done;
        }
        let list = match (done, any) {
            (true, _) => &mut coverage.reconciled,
            (false, true) => &mut coverage.partly,
            (false, false) => &mut coverage.not_reconciled,
        };
        match list.last_mut() {
            Some(last) if last.to.succ_opt() == Some(date) => last.to = date,
            _ => list.push(Window {
                from: date,
                to: date,
            }),
        }
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    coverage
}

/// The quota months whose budget did not cover everyone, from the coverage the nightly runs
/// among `runs` recorded in their plans (the latest run's of each month), with the departments
/// of the people left out as the directory places them now.
fn employee_coverage(
    store: &Store,
    runs: &[StoredRun],
) -> Result<Vec<EmployeeCoverage>, BuildError> {
    let mut by_month: BTreeMap<String, crate::quota::Coverage> = BTreeMap::new();
    for run in runs.iter().filter(|run| run.kind.is_nightly()) {
        if let Ok(Plan {
            coverage: Some(coverage),
            ..
        }) = serde_json::from_str::<Plan>(&run.plan_json)
        {
            by_month.insert(coverage.month.to_string(), coverage);
        }
    }
    let partial: Vec<crate::quota::Coverage> = by_month
        .into_values()
        .filter(|coverage| !coverage.is_full())
        .collect();
    if partial.is_empty() {
        return Ok(Vec::new());
    }
    partial
        .iter()
        .map(|coverage| employee_coverage_of(store, coverage))
        .collect()
}

/// One month's [`crate::quota::Coverage`] as reports and `status` show it, with the departments
/// of the people left out as the directory places them now.
pub(crate) fn employee_coverage_of(
    store: &Store,
    coverage: &crate::quota::Coverage,
) -> Result<EmployeeCoverage, BuildError> {
    let departments = store.current_departments()?;
    Ok({
        {
            let covered: BTreeSet<&str> = coverage
                .covered
                .iter()
                .flatten()
                .map(String::as_str)
                .collect();
            let mut gaps: BTreeMap<(i64, String), (u64, u64)> = BTreeMap::new();
            for (user, (id, name)) in &departments {
                let gap = gaps.entry((*id, name.clone())).or_default();
                gap.1 += 1;
                if !covered.contains(user.as_str()) {
                    gap.0 += 1;
                }
            }
            EmployeeCoverage {
                month: coverage.month.to_string(),
                covered: coverage.covered_count(),
                total: coverage.total,
                budget: coverage.budget,
                full_budget: coverage.full_budget,
                not_covered: gaps
                    .into_iter()
                    .filter(|(_, (missing, _))| *missing > 0)
                    .map(|((_, department), (not_covered, people))| DepartmentGap {
                        department,
                        not_covered,
                        people,
                    })
                    .collect(),
            }
        }
    })
}

/// The work-date ranges a run read results of, from its recorded plan (see [`coverage`]).
fn read_dates(run: &StoredRun) -> Vec<(NaiveDate, NaiveDate)> {
    match serde_json::from_str::<Plan>(&run.plan_json) {
        Ok(plan) => plan
            .items
            .iter()
            .filter_map(|item| match item {
                PlanItem::Results(results) if results.purpose != ResultsPurpose::Targeted => {
                    Some((results.from, results.to))
                }
                _ => None,
            })
            .collect(),
        Err(_) => vec![(run.window_from, run.window_to)],
    }
}

#[cfg(test)]
mod tests;
