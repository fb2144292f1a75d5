//! The builder against an in-memory store: one run, a date range, unknown runs.

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::domain::{
    Approval, ApprovalResult, ApprovalStatus, CallOutcome, CallRecord, ChangeClass, Correction,
    LedgerState, SlotDiscriminator, SlotKey, SourceType, TimeResult, UserId,
};
use crate::store::{ApplyBatch, NewRun, RunEnd, RunKind, RunOutcome, Store};

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn user(id: &str) -> UserId {
    UserId::new(id).unwrap()
}

fn key(user_id: &str, date: NaiveDate, plan: i64) -> SlotKey {
    SlotKey {
        user_id: user(user_id),
        work_date: date,
        discriminator: SlotDiscriminator::Plan(plan),
    }
}

fn correction(user_id: &str, date: NaiveDate, plan: i64, proc: Option<&str>) -> Correction {
    let slot_key = key(user_id, date, plan);
    Correction {
        idempotency_key: format!("k:{slot_key}"),
        slot_key,
        class: if proc.is_some() {
            ChangeClass::SupplyApplied
        } else {
            ChangeClass::AdminEdit
        },
        before: None,
        after: LedgerState {
            time_result: TimeResult::Normal,
            check_time: Some(at("2026-11-03T01:00:00Z")),
            source_type: SourceType::Approve,
            process_instance_id: proc.map(str::to_owned),
        },
        before_observed: false,
        process_instance_id: proc.map(str::to_owned),
        business_id: None,
        approved_at: None,
    }
}

fn finding(class: ChangeClass, user_id: &str, date: NaiveDate, proc: Option<&str>) -> FindingRow {
    FindingRow {
        class,
        slot_key: Some(key(user_id, date, 5)),
        user_id: Some(user(user_id)),
        work_date: Some(date),
        check_type: Some("OnDuty".into()),
        plan_id: Some(5),
        process_instance_id: proc.map(str::to_owned),
        detail: format!("{class} finding"),
    }
}

fn approval(id: &str, originator: &str) -> Approval {
    Approval {
        process_instance_id: id.into(),
        process_code: "PROC-SUPPLY".into(),
        business_id: Some("202611030007".into()),
        title: None,
        originator: user(originator),
        status: ApprovalStatus::Completed,
        result: Some(ApprovalResult::Agree),
        create_time: None,
        finish_time: Some(at("2026-11-03T06:00:00Z")),
        corrected_time: None,
        ext: None,
        reason: None,
        biz_action: None,
        links: Default::default(),
        raw_json: "{}".into(),
    }
}

/// Records one finished run of `date` with the given journal and findings; returns its id.
fn record_run(
    store: &mut Store,
    date: NaiveDate,
    corrections: Vec<Correction>,
    findings: Vec<FindingRow>,
) -> i64 {
    let started = date.and_hms_opt(18, 10, 0).unwrap().and_utc();
    let run_id = store
        .begin_run(&NewRun {
            kind: RunKind::Nightly,
            trigger: "test".into(),
            as_of: started,
            window_from: date,
            window_to: date,
            plan_json: "{}".into(),
            started_at: started,
        })
        .unwrap();
    store
        .upsert_approvals(&[approval("p-pending", "0042")], run_id, started)
        .unwrap();
    let log = store.call_log().unwrap();
    for endpoint in ["/attendance/list", "/attendance/list", "/gettoken"] {
        let call = CallRecord {
            endpoint: endpoint.into(),
            metered_endpoint: crate::domain::is_metered_endpoint(endpoint),
            outcome: CallOutcome::Ok,
            at: started,
        };
        log.record(Some(run_id), &call, &business_month(started, SHANGHAI))
            .unwrap();
    }
    let approval_resolutions = findings
        .iter()
        .filter(|finding| finding.class != ChangeClass::Unexplained)
        .filter_map(|finding| {
            let id = finding.process_instance_id.clone()?;
            Some((id, finding.class, finding.slot_key.clone()))
        })
        .collect();
    let batch = ApplyBatch {
        applied_at: started,
        corrections,
        findings,
        approval_resolutions,
        ..ApplyBatch::default()
    };
    store.apply_batch(run_id, &batch).unwrap();
    let mut counts = BTreeMap::new();
    counts.insert(ChangeClass::Baseline, 10);
    counts.insert(ChangeClass::SupplyApplied, 1);
    store
        .finish_run(
            run_id,
            &RunEnd {
                outcome: RunOutcome::Done,
                counts,
                errors: vec!["approval detail x: HTTP 500".into()],
                deferred_json: r#"[{"item":"rescan","detail":"older days","estimated_calls":3}]"#
                    .into(),
                finished_at: started + chrono::Duration::seconds(90),
            },
        )
        .unwrap();
    run_id
}

#[test]
fn a_run_report_holds_its_journal_findings_calls_and_deferred_work() {
    let mut store = Store::open_in_memory().unwrap();
    let run_id = record_run(
        &mut store,
        day(3),
        vec![
            correction("0126", day(3), 1, Some("p-1")),
            correction("0007", day(3), 2, None),
        ],
        vec![
            finding(
                ChangeClass::SupplyPending,
                "0042",
                day(1),
                Some("p-pending"),
            ),
            finding(ChangeClass::Unexplained, "0126", day(2), None),
            finding(
                ChangeClass::SupplyRefused,
                "0099",
                day(2),
                Some("p-refused"),
            ),
        ],
    );

    let report = for_run(&store, run_id, 4000, 3, SHANGHAI).unwrap();

    assert_eq!(report.run.id, run_id);
    assert_eq!(report.run.outcome, "done");
    assert_eq!(report.count(ChangeClass::Baseline), 10);
    assert_eq!(report.count(ChangeClass::Vanished), 0);
    assert_eq!(report.counts.len(), ChangeClass::ALL.len());
    let users: Vec<&str> = report
        .corrections
        .iter()
        .map(|line| line.user_id.as_str())
        .collect();
    assert_eq!(users, ["0126", "0007"]);
    assert_eq!(report.corrections[0].plan_id, Some(1));
    assert_eq!(report.pending.len(), 1);
    assert_eq!(
        report.pending[0].business_id.as_deref(),
        Some("202611030007")
    );
    assert_eq!(report.pending[0].since, Some(at("2026-11-03T06:00:00Z")));
    assert_eq!(report.anomalies.len(), 1);
    assert_eq!(report.anomalies[0].class, ChangeClass::Unexplained);
    assert_eq!(report.listed.len(), 1);
    assert_eq!(report.listed[0].class, ChangeClass::SupplyRefused);
    assert_eq!(report.deferred.len(), 1);
    assert_eq!(report.errors, ["approval detail x: HTTP 500"]);
    assert_eq!(report.api_calls.metered, 2);
    assert_eq!(report.api_calls.by_endpoint["/attendance/list"], 2);
    assert_eq!(report.api_calls.month, "2026-11");
    assert_eq!(report.api_calls.budget_left(), 3998);
}

#[test]
fn a_range_report_sums_runs_and_shows_a_repeated_finding_once() {
    let mut store = Store::open_in_memory().unwrap();
    let pending = || {
        finding(
            ChangeClass::SupplyPending,
            "0042",
            day(1),
            Some("p-pending"),
        )
    };
    record_run(
        &mut store,
        day(2),
        vec![correction("0126", day(2), 1, Some("p-1"))],
        vec![pending()],
    );
    let last = record_run(
        &mut store,
        day(3),
        vec![correction("0126", day(3), 2, Some("p-2"))],
        vec![pending()],
    );

    let report = for_range(&store, day(1), day(3), 4000, 3, SHANGHAI).unwrap();

    assert_eq!(report.run.id, last);
    assert_eq!(report.run.kind, "range");
    assert_eq!(
        report.run.window,
        Window {
            from: day(1),
            to: day(3)
        }
    );
    assert_eq!(report.corrections.len(), 2);
    assert_eq!(report.pending.len(), 1);
    assert_eq!(report.count(ChangeClass::Baseline), 20);
    assert_eq!(report.api_calls.metered, 4);
    assert_eq!(report.errors.len(), 2);
}

#[test]
fn unknown_runs_and_empty_ranges_are_errors_that_say_what_was_expected() {
    let store = Store::open_in_memory().unwrap();
    let err = for_run(&store, 7, 4000, 3, SHANGHAI).unwrap_err();
    assert!(matches!(err, BuildError::UnknownRun(7)));
    assert!(err.to_string().contains("expected"));
    let err = for_range(&store, day(1), day(3), 4000, 3, SHANGHAI).unwrap_err();
    assert!(matches!(err, BuildError::NoRuns { .. }));
}

fn stored_run(id: i64, from: u32, to: u32, outcome: Option<RunOutcome>) -> StoredRun {
    StoredRun {
        id,
        kind: RunKind::Backfill,
        trigger: "test".into(),
        as_of: at("2026-11-20T18:00:00Z"),
        window_from: day(from),
        window_to: day(to),
        plan_json: "{}".into(),
        started_at: at("2026-11-20T18:00:00Z"),
        finished_at: None,
        outcome,
        counts: BTreeMap::new(),
        errors: Vec::new(),
        deferred_json: None,
    }
}

fn windows(ranges: &[(u32, u32)]) -> Vec<Window> {
    ranges
        .iter()
        .map(|(from, to)| Window {
            from: day(*from),
            to: day(*to),
        })
        .collect()
}

#[test]
fn coverage_names_reconciled_dates_partly_read_ones_and_the_gaps_as_ranges() {
    let runs = [
        stored_run(1, 1, 7, Some(RunOutcome::Done)),
        stored_run(2, 8, 14, Some(RunOutcome::Partial)),
        stored_run(3, 12, 13, Some(RunOutcome::Done)),
        stored_run(4, 20, 21, None),
        stored_run(5, 25, 29, Some(RunOutcome::Done)),
    ];
    let month = coverage(day(1), day(30), &runs);
    assert_eq!(month.reconciled, windows(&[(1, 7), (12, 13), (25, 29)]));
    assert_eq!(month.partly, windows(&[(8, 11), (14, 14), (20, 21)]));
    assert_eq!(
        month.not_reconciled,
        windows(&[(15, 19), (22, 24), (30, 30)])
    );
    let all = coverage(day(2), day(3), &runs[..1]);
    assert_eq!(all.reconciled, windows(&[(2, 3)]));
    assert!(all.partly.is_empty() && all.not_reconciled.is_empty());
}

/// A refused approval with its detail stored (originator 0099, work date day 2, a reason) and
/// one whose detail was never fetched.
fn refused_approvals(store: &mut Store, run_id: i64) {
    let mut refused = approval("p-refused", "0099");
    refused.result = Some(ApprovalResult::Refuse);
    refused.reason = Some("忘记打卡".into());
    refused.ext = Some(crate::domain::SupplyExt {
        plan_id: Some(5),
        work_date: Some(day(2)),
        user_check_time: None,
    });
    store
        .upsert_approvals(&[refused], run_id, at("2026-11-03T10:00:00Z"))
        .unwrap();
    let batch = ApplyBatch {
        approval_resolutions: vec![("p-refused".into(), ChangeClass::SupplyRefused, None)],
        ..ApplyBatch::default()
    };
    store.apply_batch(run_id, &batch).unwrap();
}

fn refused_finding(id: &str) -> FindingRow {
    FindingRow {
        class: ChangeClass::SupplyRefused,
        slot_key: None,
        user_id: None,
        work_date: None,
        check_type: None,
        plan_id: None,
        process_instance_id: Some(id.into()),
        detail: format!("approval {id} was refused"),
    }
}

#[test]
fn refused_approvals_are_listed_with_person_date_and_reason_in_run_and_range_reports() {
    let mut store = Store::open_in_memory().unwrap();
    let run_id = record_run(
        &mut store,
        day(3),
        Vec::new(),
        vec![refused_finding("p-refused"), refused_finding("p-unfetched")],
    );
    refused_approvals(&mut store, run_id);

    let report = for_run(&store, run_id, 4000, 3, SHANGHAI).unwrap();
    let line = |report: &RunReport, id: &str| {
        report
            .listed
            .iter()
            .find(|line| line.process_instance_id.as_deref() == Some(id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {:?}", report.listed))
    };
    let refused = line(&report, "p-refused");
    assert_eq!(refused.user_id.as_deref(), Some("0099"));
    assert_eq!(refused.work_date, Some(day(2)));
    assert_eq!(
        refused.detail,
        "approval p-refused was refused; reason: 忘记打卡"
    );
    let unfetched = line(&report, "p-unfetched");
    assert_eq!((unfetched.user_id, unfetched.work_date), (None, None));
    assert!(unfetched.detail.ends_with("(details not fetched yet)"));

    let range = for_range(&store, day(1), day(3), 4000, 3, SHANGHAI).unwrap();
    let refused = line(&range, "p-refused");
    assert_eq!(refused.user_id.as_deref(), Some("0099"));
    assert_eq!(refused.work_date, Some(day(2)));
    assert_eq!(range.count(ChangeClass::SupplyRefused), 1);
    let outside = for_range(&store, day(3), day(3), 4000, 3, SHANGHAI).unwrap();
    assert!(outside.listed.is_empty(), "{:?}", outside.listed);
}

#[test]
fn a_pending_approval_approved_long_enough_ago_is_also_an_anomaly() {
    let mut store = Store::open_in_memory().unwrap();
    let pending = finding(
        ChangeClass::SupplyPending,
        "0042",
        day(1),
        Some("p-pending"),
    );
    // Approved 2026-11-03T06:00Z; the run is on day 9 (as of 18:10Z): 6 whole days.
    let run_id = record_run(&mut store, day(9), Vec::new(), vec![pending]);
    for (days, anomalies) in [(3, 1), (6, 1), (7, 0)] {
        let report = for_run(&store, run_id, 4000, days, SHANGHAI).unwrap();
        assert_eq!(report.pending.len(), 1, "still pending");
        assert_eq!(
            report.anomalies.len(),
            anomalies,
            "{days}: {:?}",
            report.anomalies
        );
        let range = for_range(&store, day(1), day(9), 4000, days, SHANGHAI).unwrap();
        assert_eq!(range.anomalies.len(), anomalies);
        assert_eq!(range.count(ChangeClass::SupplyPending), 1);
    }
    let report = for_run(&store, run_id, 4000, 3, SHANGHAI).unwrap();
    assert_eq!(report.anomalies[0].class, ChangeClass::SupplyPending);
    assert_eq!(report.anomalies[0].user_id.as_deref(), Some("0042"));
    assert_eq!(
        report.anomalies[0].detail,
        "approved on 2026-11-03, still not shown corrected after 6 days \
         (policy.pending_anomaly_days = 3)"
    );
}

#[test]
fn a_range_report_lists_only_approvals_still_pending_and_counts_them_once() {
    let mut store = Store::open_in_memory().unwrap();
    let pending = || {
        finding(
            ChangeClass::SupplyPending,
            "0042",
            day(1),
            Some("p-pending"),
        )
    };
    record_run(&mut store, day(2), Vec::new(), vec![pending()]);
    let last = record_run(&mut store, day(3), Vec::new(), vec![pending()]);
    let range = for_range(&store, day(1), day(3), 4000, 30, SHANGHAI).unwrap();
    assert_eq!(range.pending.len(), 1);
    assert_eq!(
        range.count(ChangeClass::SupplyPending),
        1,
        "not once per run"
    );
    assert_eq!(store.pending_approvals().unwrap().len(), 1);
    // Applied later: no longer pending anywhere.
    let batch = ApplyBatch {
        approval_resolutions: vec![("p-pending".into(), ChangeClass::SupplyApplied, None)],
        ..ApplyBatch::default()
    };
    store.apply_batch(last, &batch).unwrap();
    let range = for_range(&store, day(1), day(3), 4000, 30, SHANGHAI).unwrap();
    assert!(range.pending.is_empty(), "{:?}", range.pending);
    assert_eq!(range.count(ChangeClass::SupplyPending), 0);
    let coverage = range.coverage.unwrap();
    assert_eq!(coverage.reconciled, windows(&[(2, 3)]));
    assert_eq!(coverage.not_reconciled, windows(&[(1, 1)]));
}

#[test]
fn a_slot_shown_corrected_by_an_approval_not_known_yet_is_listed_not_pending() {
    let mut store = Store::open_in_memory().unwrap();
    let held = finding(ChangeClass::SupplyPending, "0126", day(2), None);
    let run_id = record_run(&mut store, day(3), Vec::new(), vec![held]);
    let report = for_run(&store, run_id, 4000, 3, SHANGHAI).unwrap();
    assert!(report.pending.is_empty(), "{:?}", report.pending);
    assert_eq!(report.listed.len(), 1);
    let range = for_range(&store, day(1), day(3), 4000, 3, SHANGHAI).unwrap();
    assert!(range.pending.is_empty(), "{:?}", range.pending);
    assert_eq!(range.listed.len(), 1);
    assert_eq!(range.count(ChangeClass::SupplyPending), 0);
}

#[test]
fn coverage_counts_the_dates_a_run_read_not_the_span_of_its_window() {
    let results = |purpose: &str, from: u32, to: u32| {
        format!(
            r#"{{"item":"results","purpose":"{purpose}","users":["0126"],"from":"2026-11-{from:02}","to":"2026-11-{to:02}","estimated_calls":1}}"#
        )
    };
    let mut nightly = stored_run(1, 3, 9, Some(RunOutcome::Done));
    nightly.plan_json = format!(
        r#"{{"items":[{},{},{}],"deferred":[],"allowance":10,"surplus":0,"approvals_essential":true,"estimated_calls":3,"primary":["2026-11-09","2026-11-09"],"window":["2026-11-03","2026-11-09"]}}"#,
        results("primary", 9, 9),
        results("rescan", 3, 3),
        results("targeted", 5, 5),
    );
    let coverage = coverage(day(1), day(9), &[nightly]);
    assert_eq!(coverage.reconciled, windows(&[(3, 3), (9, 9)]));
    assert_eq!(coverage.not_reconciled, windows(&[(1, 2), (4, 8)]));
}

/// A stored detail body whose operation records end with `decision` (`AGREE`/`REFUSE`) by
/// `approver` with `remark`, as `GET /v1.0/workflow/processInstances` answers.
fn detail_json(originator: &str, decision: Option<(&str, &str, &str)>) -> String {
    let mut records = vec![serde_json::json!({
        "userId": originator, "date": "2026-11-03T01:00Z", "type": "START_PROCESS_INSTANCE",
        "result": "NONE", "remark": ""})];
    if let Some((approver, result, remark)) = decision {
        records.push(serde_json::json!({
            "userId": approver, "date": "2026-11-03T06:00Z", "type": "EXECUTE_TASK_NORMAL",
            "result": result, "remark": remark}));
    }
    serde_json::json!({"result": {"originatorUserId": originator, "operationRecords": records},
                       "success": "true"})
    .to_string()
}

/// A run on day 3 that applied `p-1` (by 0126), keeps `p-pending` (by 0042) pending, saw
/// `p-refused` (by 0099) refused and fetched `p-running` (by 0042, for day 2) still running;
/// every decision by 0087, whom the directory knows as 陈静.
fn store_with_decided_approvals() -> (Store, i64) {
    let mut store = Store::open_in_memory().unwrap();
    let run_id = record_run(
        &mut store,
        day(3),
        vec![correction("0126", day(3), 1, Some("p-1"))],
        vec![
            finding(
                ChangeClass::SupplyPending,
                "0042",
                day(1),
                Some("p-pending"),
            ),
            refused_finding("p-refused"),
        ],
    );
    refused_approvals(&mut store, run_id);
    let mut applied = approval("p-1", "0126");
    applied.reason = Some("忘记打卡".into());
    applied.raw_json = detail_json("0126", Some(("0087", "AGREE", "同意")));
    let mut pending = approval("p-pending", "0042");
    pending.reason = Some("  ".into());
    pending.raw_json = detail_json("0042", Some(("0087", "AGREE", "")));
    let mut refused = store.approvals(&["p-refused".into()]).unwrap()["p-refused"]
        .approval
        .clone();
    refused.raw_json = detail_json("0099", Some(("0087", "REFUSE", "补卡时间与门禁记录不符")));
    let mut running = approval("p-running", "0042");
    running.status = ApprovalStatus::Running;
    running.result = None;
    running.finish_time = None;
    running.create_time = Some(at("2026-11-03T02:00:00Z"));
    running.reason = Some("外出办事".into());
    running.ext = Some(crate::domain::SupplyExt {
        plan_id: Some(7),
        work_date: Some(day(2)),
        user_check_time: None,
    });
    running.raw_json = detail_json("0042", None);
    store
        .upsert_approvals(
            &[applied, pending, refused, running],
            run_id,
            at("2026-11-03T18:10:00Z"),
        )
        .unwrap();
    let directory = crate::domain::Directory {
        people: vec![crate::domain::Person {
            user_id: user("0087"),
            name: "陈静".into(),
            departments: vec![10],
        }],
        departments: vec![crate::domain::Department {
            id: 10,
            name: "研发中心".into(),
            parent: None,
        }],
    };
    store
        .upsert_directory(&directory, day(3), at("2026-11-03T18:00:00Z"))
        .unwrap();
    (store, run_id)
}

fn approver(remark: Option<&str>) -> Option<Approver> {
    Some(Approver {
        user_id: "0087".into(),
        name: Some("陈静".into()),
        remark: remark.map(str::to_owned),
    })
}

#[test]
fn approval_lines_carry_the_form_reason_and_the_named_approver_with_the_remark() {
    let (store, run_id) = store_with_decided_approvals();
    let report = for_run(&store, run_id, 4000, 30, SHANGHAI).unwrap();

    let correction = &report.corrections[0];
    assert_eq!(correction.reason.as_deref(), Some("忘记打卡"));
    assert_eq!(correction.approver, approver(Some("同意")));

    // A refusal keeps the form's reason as the reason; the approver's remark is the approver's.
    let refused = &report.listed[0];
    assert_eq!(refused.process_instance_id.as_deref(), Some("p-refused"));
    assert_eq!(refused.reason.as_deref(), Some("忘记打卡"));
    assert_eq!(refused.approver, approver(Some("补卡时间与门禁记录不符")));
    assert_eq!(refused.since, Some(at("2026-11-03T06:00:00Z")));
    assert_eq!(
        refused.detail, "approval p-refused was refused; reason: 忘记打卡",
        "the detail sentence is unchanged"
    );

    // A blank form reason is no reason.
    assert_eq!(report.pending[0].reason, None);
    assert_eq!(report.pending[0].approver, approver(None));
    assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
}

#[test]
fn an_overdue_pending_anomaly_says_when_it_was_approved_and_by_whom() {
    let (store, run_id) = store_with_decided_approvals();
    let report = for_run(&store, run_id, 4000, 0, SHANGHAI).unwrap();
    let overdue = report
        .anomalies
        .iter()
        .find(|line| line.class == ChangeClass::SupplyPending)
        .expect("overdue with pending_anomaly_days = 0");
    assert_eq!(overdue.since, Some(at("2026-11-03T06:00:00Z")));
    assert_eq!(overdue.approver, approver(None));
    assert_eq!(overdue.reason, None);
}

#[test]
fn approvals_awaiting_a_decision_are_in_progress_not_pending() {
    let (store, run_id) = store_with_decided_approvals();
    let expected = PendingLine {
        process_instance_id: "p-running".into(),
        business_id: Some("202611030007".into()),
        user_id: "0042".into(),
        name: None,
        department: None,
        work_date: Some(day(2)),
        check_type: None,
        state: "running".into(),
        since: Some(at("2026-11-03T02:00:00Z")),
        reason: Some("外出办事".into()),
        approver: None,
    };
    let report = for_run(&store, run_id, 4000, 30, SHANGHAI).unwrap();
    assert_eq!(report.in_progress, std::slice::from_ref(&expected));
    assert_eq!(report.pending.len(), 1, "{:?}", report.pending);
    assert_eq!(
        report.count(ChangeClass::SupplyPending),
        0,
        "as the run recorded"
    );

    let range = for_range(&store, day(1), day(3), 4000, 30, SHANGHAI).unwrap();
    assert_eq!(range.in_progress, [expected]);
    assert_eq!(range.count(ChangeClass::SupplyPending), 1, "not counted");
    let outside = for_range(&store, day(3), day(3), 4000, 30, SHANGHAI).unwrap();
    assert!(outside.in_progress.is_empty(), "{:?}", outside.in_progress);

    // A later run that fetched nothing did not see it.
    let mut store = store;
    let later = record_run(&mut store, day(4), Vec::new(), Vec::new());
    let report = for_run(&store, later, 4000, 30, SHANGHAI).unwrap();
    assert!(report.in_progress.is_empty(), "{:?}", report.in_progress);
}
