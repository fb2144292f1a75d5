//! Builds a [`RunReport`] from what the store recorded: one run ([`for_run`]) or every run
//! touching a range of work dates ([`for_range`]).
//!
//! Findings are sorted by class: `supply_pending` becomes a pending line, anomaly classes become
//! anomalies, the rest (refused, withdrawn, …) are listed. Month-to-date calls are the store's
//! count for the run's natural month in the business time zone, which for an older run includes
//! calls of later runs that month. This module does not render, fetch from DingTalk, or write to
//! the store.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::{
    AnomalyLine, ApiCalls, CorrectionLine, DeferredLine, PendingLine, RunInfo, RunReport, Window,
    zero_counts,
};
use crate::domain::{ChangeClass, SlotDiscriminator, UserId};
use crate::quota::local_date;
use crate::store::{self, FindingRow, Store, StoredCorrection, StoredRun, business_month};

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

/// The report of one run.
pub(crate) fn for_run(
    store: &Store,
    run_id: i64,
    budget: u64,
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
    report
        .counts
        .extend(run.counts.iter().map(|(class, count)| (*class, *count)));
    report.corrections = store
        .corrections_for_run(run_id)?
        .iter()
        .map(correction_line)
        .collect();
    add_findings(store, &mut report, store.findings_for_run(run_id)?)?;
    report.deferred = deferred(&run, &mut report.errors);
    report.errors.extend(run.errors.iter().cloned());
    add_people(store, &mut report, tz)?;
    Ok(report)
}

/// The report of every run whose window overlaps `from..=to`: corrections and findings of
/// those work dates, counts and calls summed over the runs, the latest run's outcome and time.
pub(crate) fn for_range(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    budget: u64,
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
    report.counts = counts;
    report.corrections = store
        .corrections_between(from, to)?
        .iter()
        .map(correction_line)
        .collect();
    // A finding re-recorded by every run (a pending approval) is shown once, as last recorded.
    let mut latest_findings: BTreeMap<String, FindingRow> = BTreeMap::new();
    for stored in store.findings_between(from, to)? {
        latest_findings.insert(finding_identity(&stored.finding), stored.finding);
    }
    add_findings(store, &mut report, latest_findings.into_values().collect())?;
    for run in &runs {
        report.errors.extend(
            run.errors
                .iter()
                .map(|error| format!("run {}: {error}", run.id)),
        );
    }
    report.deferred = deferred(latest, &mut report.errors);
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
            .filter_map(|line| key(&line.user_id, line.work_date)),
    );
    wanted.extend(
        report
            .anomalies
            .iter()
            .chain(&report.listed)
            .filter_map(|line| key(line.user_id.as_deref()?, line.work_date)),
    );
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
    for line in &mut report.corrections {
        (line.name, line.department) = find(&line.user_id, Some(line.work_date));
    }
    for line in &mut report.pending {
        (line.name, line.department) = find(&line.user_id, line.work_date);
    }
    for line in report.anomalies.iter_mut().chain(&mut report.listed) {
        if let Some(user) = line.user_id.clone() {
            (line.name, line.department) = find(&user, line.work_date);
        }
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

/// Sorts findings into pending, anomalies and listed, enriching pending lines from the stored
/// approvals (business id, approved-at).
fn add_findings(
    store: &Store,
    report: &mut RunReport,
    findings: Vec<FindingRow>,
) -> Result<(), BuildError> {
    let process_instance_ids: Vec<String> = findings
        .iter()
        .filter(|finding| finding.class == ChangeClass::SupplyPending)
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
        let user_id = finding
            .user_id
            .as_ref()
            .map(|user| user.as_str().to_owned());
        if finding.class == ChangeClass::SupplyPending {
            let process_instance_id = finding.process_instance_id.clone().unwrap_or_default();
            let approval = approvals
                .get(&process_instance_id)
                .map(|stored| &stored.approval);
            report.pending.push(PendingLine {
                business_id: approval.and_then(|approval| approval.business_id.clone()),
                user_id: user_id
                    .or_else(|| approval.map(|approval| approval.originator.as_str().to_owned()))
                    .unwrap_or_default(),
                name: None,
                department: None,
                work_date: finding.work_date,
                check_type: finding.check_type.clone(),
                state: "approved_not_visible".to_owned(),
                since: approval.and_then(|approval| approval.finish_time),
                process_instance_id,
            });
            continue;
        }
        let line = AnomalyLine {
            class: finding.class,
            user_id,
            name: None,
            department: None,
            work_date: finding.work_date,
            check_type: finding.check_type,
            plan_id: finding.plan_id,
            process_instance_id: finding.process_instance_id,
            detail: finding.detail,
        };
        if finding.class.is_anomaly() {
            report.anomalies.push(line);
        } else {
            report.listed.push(line);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
