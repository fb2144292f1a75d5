//! A rich report for renderer tests: every class counted, corrections with and without
//! enrichment, a user id with leading zeros, and fields from outside carrying markup, commas,
//! quotes and line breaks. Test-only.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{ChangeClass, LedgerState, SourceType, TimeResult};

use super::{
    AnomalyLine, ApiCalls, CorrectionLine, DeferredLine, PendingLine, REPORT_SCHEMA, RunInfo,
    RunReport, Window,
};

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().expect("fixture time is RFC 3339")
}

fn day(raw: &str) -> NaiveDate {
    raw.parse().expect("fixture date is YYYY-MM-DD")
}

fn state(
    result: TimeResult,
    check: Option<&str>,
    source: SourceType,
    proc: Option<&str>,
) -> LedgerState {
    LedgerState {
        time_result: result,
        check_time: check.map(at),
        source_type: source,
        process_instance_id: proc.map(str::to_owned),
    }
}

pub(crate) fn rich_report() -> RunReport {
    let counts: BTreeMap<ChangeClass, u64> = ChangeClass::ALL
        .into_iter()
        .enumerate()
        .map(|(idx, class)| {
            (
                class,
                if class == ChangeClass::Baseline {
                    1320
                } else {
                    idx as u64
                },
            )
        })
        .collect();
    let corrections = vec![
        CorrectionLine {
            user_id: "0126".into(),
            work_date: day("2026-11-03"),
            check_type: "OnDuty".into(),
            plan_id: Some(437_360_727_696),
            class: ChangeClass::SupplyApplied,
            before: Some(state(
                TimeResult::NotSigned,
                Some("2026-11-03T01:00:00Z"),
                SourceType::System,
                None,
            )),
            after: state(
                TimeResult::Normal,
                Some("2026-11-03T00:58:00Z"),
                SourceType::Approve,
                Some("a1b2c3-proc"),
            ),
            before_observed: true,
            process_instance_id: Some("a1b2c3-proc".into()),
            business_id: Some("202611040001".into()),
            approved_at: Some(at("2026-11-04T02:15:00Z")),
            applied_at: at("2026-11-04T18:10:07Z"),
            idempotency_key: "supply:a1b2c3-proc:0126|2026-11-03|plan:437360727696".into(),
        },
        CorrectionLine {
            user_id: "02253726682920171716".into(),
            work_date: day("2026-11-02"),
            check_type: "OffDuty".into(),
            plan_id: None,
            class: ChangeClass::SupplyApplied,
            before: None,
            after: state(
                TimeResult::Normal,
                Some("2026-11-02T16:30:00Z"),
                SourceType::Approve,
                Some("d4e5f6-proc"),
            ),
            before_observed: false,
            process_instance_id: Some("d4e5f6-proc".into()),
            business_id: None,
            approved_at: None,
            applied_at: at("2026-11-04T18:10:07Z"),
            idempotency_key:
                "supply:d4e5f6-proc:02253726682920171716|2026-11-02|OffDuty@1762156800000".into(),
        },
        CorrectionLine {
            user_id: "boss,\"quoted\"<script>alert(1)</script>".into(),
            work_date: day("2026-11-03"),
            check_type: "OffDuty".into(),
            plan_id: Some(437_360_727_697),
            class: ChangeClass::AdminEdit,
            before: Some(state(
                TimeResult::Early,
                Some("2026-11-03T09:40:00Z"),
                SourceType::User,
                None,
            )),
            after: state(
                TimeResult::Normal,
                Some("2026-11-03T10:00:00Z"),
                SourceType::Boss,
                None,
            ),
            before_observed: true,
            process_instance_id: None,
            business_id: None,
            approved_at: None,
            applied_at: at("2026-11-04T18:10:08Z"),
            idempotency_key: "admin:boss|2026-11-03|plan:437360727697:v2".into(),
        },
        CorrectionLine {
            user_id: "0777".into(),
            work_date: day("2026-10-30"),
            check_type: "OnDuty".into(),
            plan_id: Some(437_360_700_001),
            class: ChangeClass::SupplyReverted,
            before: Some(state(
                TimeResult::Normal,
                Some("2026-10-30T01:00:00Z"),
                SourceType::Approve,
                Some("g7h8-proc"),
            )),
            after: state(TimeResult::NotSigned, None, SourceType::System, None),
            before_observed: true,
            process_instance_id: Some("g7h8-proc".into()),
            business_id: Some("2026103100<b>9</b>".into()),
            approved_at: Some(at("2026-10-31T03:00:00Z")),
            applied_at: at("2026-11-04T18:10:09Z"),
            idempotency_key: "revert:g7h8-proc:0777|2026-10-30|plan:437360700001".into(),
        },
    ];
    let pending = vec![
        PendingLine {
            process_instance_id: "p-approved-1".into(),
            business_id: Some("202611030007".into()),
            user_id: "0042".into(),
            work_date: Some(day("2026-11-01")),
            check_type: Some("OnDuty".into()),
            state: "approved_not_visible".into(),
            since: Some(at("2026-11-03T06:00:00Z")),
        },
        PendingLine {
            process_instance_id: "p-running-2".into(),
            business_id: None,
            user_id: "u&d".into(),
            work_date: None,
            check_type: None,
            state: "running".into(),
            since: None,
        },
    ];
    let anomalies = vec![
        AnomalyLine {
            class: ChangeClass::SupplyUnmatched,
            user_id: Some("0099".into()),
            work_date: Some(day("2026-11-01")),
            check_type: None,
            plan_id: None,
            process_instance_id: Some("x9-proc".into()),
            detail: "Approved 补卡 for 2026-11-01 09:00, reason \"forgot, <script>alert('x')</script>\", but no slot matches."
                .into(),
        },
        AnomalyLine {
            class: ChangeClass::Unexplained,
            user_id: Some("0126".into()),
            work_date: Some(day("2026-11-02")),
            check_type: Some("OffDuty".into()),
            plan_id: Some(437_360_727_600),
            process_instance_id: None,
            detail: "Result changed Late → Normal with source USER and no approval.".into(),
        },
        AnomalyLine {
            class: ChangeClass::Vanished,
            user_id: Some("0300".into()),
            work_date: Some(day("2026-10-29")),
            check_type: Some("OnDuty".into()),
            plan_id: Some(437_360_711_111),
            process_instance_id: None,
            detail: "The check point is missing from a complete fetch of the day.".into(),
        },
    ];
    RunReport {
        schema: REPORT_SCHEMA,
        run: RunInfo {
            id: 42,
            kind: "run".into(),
            as_of: at("2026-11-04T18:10:00Z"),
            window: Window {
                from: day("2026-10-28"),
                to: day("2026-11-03"),
            },
            outcome: "partial".into(),
            started_at: at("2026-11-04T18:10:00Z"),
            finished_at: Some(at("2026-11-04T18:11:30Z")),
        },
        counts,
        corrections,
        pending,
        anomalies,
        listed: vec![
            AnomalyLine {
                class: ChangeClass::SupplyRefused,
                user_id: Some("0042".into()),
                work_date: Some(day("2026-10-30")),
                check_type: Some("OffDuty".into()),
                plan_id: None,
                process_instance_id: Some("r1-proc".into()),
                detail: "Refused by the approver: \"not a missed punch, you left early\".".into(),
            },
            AnomalyLine {
                class: ChangeClass::SupplyWithdrawn,
                user_id: Some("0126".into()),
                work_date: None,
                check_type: None,
                plan_id: None,
                process_instance_id: Some("w1-proc".into()),
                detail: "Withdrawn by the employee.".into(),
            },
        ],
        deferred: vec![DeferredLine {
            item: "rescan".into(),
            detail: "re-scan of 2026-10-01 … 2026-10-07 for 310 users, \"budget\" share used up"
                .into(),
            estimated_calls: 44,
        }],
        api_calls: ApiCalls {
            by_endpoint: BTreeMap::from([
                ("/attendance/list".into(), 31),
                ("/gettoken".into(), 1),
                ("/topapi/processinstance/get".into(), 6),
                ("/topapi/processinstance/listids".into(), 3),
            ]),
            metered: 40,
            month_to_date: 612,
            budget: 4000,
            month: "2026-11".into(),
        },
        errors: vec!["approval detail e1-proc: DingTalk answered 500 three times".into()],
    }
}
