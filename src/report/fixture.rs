//! A report for the renderers' unit tests, of what the real runs snapshotted in
//! `tests/it/report.rs` cannot produce cheaply: user ids with leading zeros and with markup,
//! commas and quotes (DingTalk's ids are strings from outside), a plan-less slot key, a
//! correction not enriched yet, a per-item error, two approvals pending, one still running, 补卡
//! reasons (one a formula with markup, an escape and a newline) and approvers with and without
//! a name and remark. Test-only.
//!
//! It stays within what `report::build` makes of a run: counts that match the listed lines (a
//! revert counted once, listed as a correction and an anomaly), pending approvals only in the
//! state the builder emits, refused, withdrawn and unmatched approvals with no user or date (the
//! findings of approvals carry neither), a vanished check point with neither check type nor
//! plan (its finding keeps them only in the detail), idempotency keys, details and error wording as the
//! pipeline writes them, corrections applied at the run's `as_of`, and only the endpoints the
//! client calls. One thing a run does not produce: `finished_at` after `started_at` (a run
//! records both at its `as_of`), kept so the metrics' duration is exercised.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{ChangeClass, LedgerState, SourceType, TimeResult};

use super::{
    AnomalyLine, ApiCalls, Approver, CorrectionLine, DayCalls, DeferredLine, DepartmentGap,
    EmployeeCoverage, PendingLine, QuotaExhausted, REPORT_SCHEMA, RunInfo, RunReport, Window,
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

/// The user id from outside that carries markup, a comma and quotes.
const MARKUP_USER: &str = "boss,\"quoted\"<script>alert(1)</script>";

/// The nightly run of 2026-11-05 02:10 Shanghai.
const AS_OF: &str = "2026-11-04T18:10:00Z";

/// A 补卡 reason from outside that is a formula, markup, a terminal escape and two lines.
const HOSTILE_REASON: &str =
    "=HYPERLINK(\"http://x\",\"y\")<script>alert(1)</script>\u{1b}[31m忘记\n打卡";

pub(crate) fn rich_report() -> RunReport {
    let counts: BTreeMap<ChangeClass, u64> = BTreeMap::from([
        (ChangeClass::Baseline, 1320),
        (ChangeClass::SupplyApplied, 2),
        (ChangeClass::SupplyPending, 2),
        (ChangeClass::SupplyUnmatched, 1),
        (ChangeClass::SupplyRefused, 1),
        (ChangeClass::SupplyWithdrawn, 1),
        (ChangeClass::SupplyReverted, 1),
        (ChangeClass::AdminEdit, 1),
        (ChangeClass::LateResult, 0),
        (ChangeClass::Unexplained, 1),
        (ChangeClass::Vanished, 1),
    ]);
    let corrections = vec![
        CorrectionLine {
            run_id: 42,
            user_id: "0126".into(),
            name: Some("王伟".into()),
            department: Some("研发中心".into()),
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
            applied_at: at(AS_OF),
            version: 1,
            idempotency_key: "supply_applied|0126|2026-11-03|plan:437360727696|a1b2c3-proc".into(),
            reason: Some("忘记打卡".into()),
            approver: Some(Approver {
                user_id: "0087".into(),
                name: Some("陈静".into()),
                remark: Some("同意".into()),
            }),
        },
        CorrectionLine {
            run_id: 42,
            user_id: "02253726682920171716".into(),
            name: None,
            department: None,
            work_date: day("2026-11-02"),
            check_type: "OffDuty".into(),
            plan_id: None,
            class: ChangeClass::SupplyApplied,
            before: None,
            after: state(
                TimeResult::Normal,
                Some("2026-11-02T10:00:00Z"),
                SourceType::Approve,
                Some("d4e5f6-proc"),
            ),
            before_observed: false,
            process_instance_id: Some("d4e5f6-proc".into()),
            business_id: None,
            approved_at: None,
            applied_at: at(AS_OF),
            // 1793613600000 ms is 2026-11-02T10:00:00Z, 18:00 in Shanghai: the slot's base time.
            version: 1,
            idempotency_key:
                "supply_applied|02253726682920171716|2026-11-02|OffDuty@1793613600000|d4e5f6-proc"
                    .into(),
            reason: Some("手机没电".into()),
            approver: Some(Approver {
                user_id: "manager01".into(),
                name: None,
                remark: None,
            }),
        },
        CorrectionLine {
            run_id: 42,
            user_id: MARKUP_USER.into(),
            name: Some("<b>赵</b>\u{1b}]0;pwned\u{7}".into()),
            department: Some("=HYPERLINK(\"x\")|研发|".into()),
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
            applied_at: at(AS_OF),
            // The first 16 hex digits of the SHA-256 of `Normal|1793700000000|BOSS|`, the state
            // after, as the classifier keys a change the policy applies.
            version: 1,
            idempotency_key: format!(
                "admin_edit|{MARKUP_USER}|2026-11-03|plan:437360727697|d59fa51847fd4813"
            ),
            reason: None,
            approver: None,
        },
        CorrectionLine {
            run_id: 42,
            user_id: "0777".into(),
            name: None,
            department: None,
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
            applied_at: at(AS_OF),
            version: 1,
            idempotency_key: "supply_reverted|0777|2026-10-30|plan:437360700001|g7h8-proc".into(),
            reason: Some(HOSTILE_REASON.into()),
            approver: Some(Approver {
                user_id: "0087".into(),
                name: Some("陈静".into()),
                remark: None,
            }),
        },
    ];
    let pending = vec![
        PendingLine {
            process_instance_id: "p-approved-1".into(),
            business_id: Some("202611030007".into()),
            user_id: "0042".into(),
            name: Some("李娜".into()),
            department: None,
            work_date: Some(day("2026-11-01")),
            check_type: Some("OnDuty".into()),
            state: "approved_not_visible".into(),
            since: Some(at("2026-10-28T06:00:00Z")),
            reason: Some("外出办事".into()),
            approver: Some(Approver {
                user_id: "0087".into(),
                name: Some("陈静".into()),
                remark: None,
            }),
        },
        PendingLine {
            process_instance_id: "p-approved-2".into(),
            business_id: None,
            user_id: "u&d".into(),
            name: None,
            department: None,
            work_date: Some(day("2026-11-02")),
            check_type: Some("OffDuty".into()),
            state: "approved_not_visible".into(),
            since: Some(at("2026-11-04T01:30:00Z")),
            reason: None,
            approver: None,
        },
    ];
    let anomalies = vec![
        AnomalyLine {
            class: ChangeClass::SupplyPending,
            user_id: Some("0042".into()),
            name: Some("李娜".into()),
            department: None,
            work_date: Some(day("2026-11-01")),
            check_type: Some("OnDuty".into()),
            plan_id: None,
            process_instance_id: Some("p-approved-1".into()),
            business_id: None,
            detail: "approved on 2026-10-28, still not shown corrected after 7 days \
                     (policy.pending_anomaly_days = 3)"
                .into(),
            reason: Some("外出办事".into()),
            approver: Some(Approver {
                user_id: "0087".into(),
                name: Some("陈静".into()),
                remark: None,
            }),
            since: Some(at("2026-10-28T06:00:00Z")),
        },
        AnomalyLine {
            class: ChangeClass::SupplyUnmatched,
            user_id: None,
            name: None,
            department: None,
            work_date: None,
            check_type: None,
            plan_id: None,
            process_instance_id: Some("x9-proc".into()),
            business_id: None,
            detail: format!("approval x9-proc by {MARKUP_USER} matches no slot"),
            reason: Some("打卡机故障".into()),
            approver: Some(Approver {
                user_id: "manager01".into(),
                name: None,
                remark: None,
            }),
            since: Some(at("2026-11-02T03:00:00Z")),
        },
        AnomalyLine {
            class: ChangeClass::SupplyReverted,
            user_id: Some("0777".into()),
            name: None,
            department: None,
            work_date: Some(day("2026-10-30")),
            check_type: Some("OnDuty".into()),
            plan_id: Some(437_360_700_001),
            process_instance_id: Some("g7h8-proc".into()),
            business_id: None,
            detail: "0777|2026-10-30|plan:437360700001 was corrected by approval g7h8-proc but \
                     DingTalk no longer shows it corrected"
                .into(),
            reason: Some(HOSTILE_REASON.into()),
            approver: Some(Approver {
                user_id: "0087".into(),
                name: Some("陈静".into()),
                remark: None,
            }),
            since: Some(at("2026-10-31T03:00:00Z")),
        },
        AnomalyLine {
            class: ChangeClass::Unexplained,
            user_id: Some("0126".into()),
            name: Some("王伟".into()),
            department: Some("销售部".into()),
            work_date: Some(day("2026-11-02")),
            check_type: Some("OffDuty".into()),
            plan_id: Some(437_360_727_600),
            process_instance_id: None,
            business_id: None,
            detail: "0126|2026-11-02|plan:437360727600 changed from Early to Normal with no \
                     approval or administrator behind it"
                .into(),
            reason: None,
            approver: None,
            since: None,
        },
        AnomalyLine {
            class: ChangeClass::Vanished,
            user_id: Some("0300".into()),
            name: None,
            department: None,
            work_date: Some(day("2026-10-29")),
            check_type: None,
            plan_id: None,
            process_instance_id: None,
            business_id: None,
            detail: "0300|2026-10-29|plan:437360711111 is missing from a complete fetch of its day"
                .into(),
            reason: None,
            approver: None,
            since: None,
        },
    ];
    RunReport {
        schema: REPORT_SCHEMA,
        run: RunInfo {
            id: 42,
            kind: "run".into(),
            as_of: at(AS_OF),
            window: Window {
                from: day("2026-10-29"),
                to: day("2026-11-03"),
            },
            outcome: "partial".into(),
            started_at: at(AS_OF),
            finished_at: Some(at("2026-11-04T18:11:30Z")),
        },
        counts,
        corrections,
        pending,
        in_progress: vec![PendingLine {
            process_instance_id: "run-1-proc".into(),
            business_id: Some("202611040031".into()),
            user_id: "0042".into(),
            name: Some("李娜".into()),
            department: Some("研发中心".into()),
            work_date: Some(day("2026-11-03")),
            check_type: None,
            state: "running".into(),
            since: Some(at("2026-11-04T09:30:00Z")),
            reason: Some("忘记打卡".into()),
            approver: None,
        }],
        anomalies,
        listed: vec![
            AnomalyLine {
                class: ChangeClass::SupplyRefused,
                user_id: Some("0126".into()),
                name: Some("王伟".into()),
                department: Some("研发中心".into()),
                work_date: Some(day("2026-11-01")),
                check_type: Some("OffDuty".into()),
                plan_id: None,
                process_instance_id: Some("r1-proc".into()),
                business_id: Some("202611010031".into()),
                detail: "approval r1-proc was refused".into(),
                reason: Some("忘记打卡".into()),
                approver: Some(Approver {
                    user_id: "0087".into(),
                    name: Some("陈静".into()),
                    remark: Some("补卡时间与门禁记录不符".into()),
                }),
                since: Some(at("2026-11-04T03:20:00Z")),
            },
            AnomalyLine {
                class: ChangeClass::SupplyWithdrawn,
                user_id: None,
                name: None,
                department: None,
                work_date: None,
                check_type: None,
                plan_id: None,
                process_instance_id: Some("w1-proc".into()),
                business_id: None,
                detail: "approval w1-proc was withdrawn (TERMINATED)".into(),
                reason: Some("网络异常".into()),
                approver: None,
                since: Some(at("2026-11-04T05:00:00Z")),
            },
        ],
        deferred: vec![DeferredLine {
            item: "results".into(),
            detail: "results of 310 users for 2026-10-29 .. 2026-11-03".into(),
            estimated_calls: 75,
        }],
        api_calls: ApiCalls {
            by_endpoint: BTreeMap::from([
                ("/attendance/list".into(), 24),
                ("/attendance/listRecord".into(), 4),
                ("/v1.0/workflow/processInstances".into(), 6),
                ("/v1.0/workflow/processes/instanceIds/query".into(), 6),
            ]),
            metered: 40,
            month_to_date: 612,
            budget: 4000,
            month: "2026-11".into(),
        },
        errors: vec!["call /v1.0/workflow/processInstances: DingTalk answered HTTP 500".into()],
        coverage: None,
        employees: vec![EmployeeCoverage {
            month: "2026-11".into(),
            covered: 150,
            total: 200,
            budget: 250,
            full_budget: 330,
            not_covered: vec![
                DepartmentGap {
                    department: "研发中心".into(),
                    not_covered: 30,
                    people: 60,
                },
                DepartmentGap {
                    department: "销售部".into(),
                    not_covered: 20,
                    people: 20,
                },
            ],
        }],
        quota_by_day: vec![
            DayCalls {
                date: day("2026-11-01"),
                metered: 380,
            },
            DayCalls {
                date: day("2026-11-02"),
                metered: 96,
            },
            DayCalls {
                date: day("2026-11-03"),
                metered: 96,
            },
            DayCalls {
                date: day("2026-11-05"),
                metered: 40,
            },
        ],
        quota_exhausted: Some(QuotaExhausted {
            month: "2026-11".into(),
            seen_at: at("2026-11-03T01:30:00Z"),
            seen_on: day("2026-11-03"),
            own_metered: 572,
            budget: 4000,
            by_other_apps: true,
            resumes_on: Some(day("2026-12-01")),
        }),
    }
}

/// Text a hostile DingTalk answer may carry: mostly strings drawn from every class the output
/// escaping rule handles (C0, DEL, C1, bidi, line separators), formula triggers, markup and
/// CSV metacharacters and plain text; sometimes any string at all.
pub(crate) fn arb_outside_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let interesting = proptest::sample::select(vec![
        '\u{0}', '\u{7}', '\u{8}', '\t', '\n', '\r', '\u{1b}', '\u{1f}', '\u{7f}', '\u{85}',
        '\u{9b}', '\u{9f}', '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2066}',
        '\u{2069}', '\u{2028}', '\u{2029}', '=', '+', '-', '@', '|', '#', '`', '<', '>', '&', '"',
        '\'', ',', '\\', '*', '_', '[', ']', '$', '!', '~', 'a', '0', '补', ' ',
    ]);
    prop_oneof![
        4 => proptest::collection::vec(interesting, 0..12).prop_map(String::from_iter),
        1 => any::<String>(),
    ]
}

/// The rich report with every string that comes from outside (ids, check types, results and
/// sources, states, details, errors, the run's kind and outcome, endpoint names) taken in turn
/// from `next`. With `|| "x".to_owned()` it is the same report with harmless values, whose
/// shape a hostile one must keep.
pub(crate) fn report_with_texts(mut next: impl FnMut() -> String) -> RunReport {
    let mut report = rich_report();
    report.run.kind = next();
    report.run.outcome = next();
    for line in &mut report.corrections {
        line.user_id = next();
        line.check_type = next();
        if let Some(before) = &mut line.before {
            before.time_result = TimeResult::Unknown(next());
            before.source_type = SourceType::Unknown(next());
        }
        line.after.time_result = TimeResult::Unknown(next());
        line.after.source_type = SourceType::Unknown(next());
        line.process_instance_id = Some(next());
        line.business_id = Some(next());
        line.idempotency_key = next();
    }
    for line in &mut report.pending {
        line.process_instance_id = next();
        line.business_id = Some(next());
        line.user_id = next();
        line.check_type = Some(next());
        line.state = next();
    }
    for line in report.anomalies.iter_mut().chain(&mut report.listed) {
        line.user_id = Some(next());
        line.check_type = Some(next());
        line.process_instance_id = Some(next());
        line.detail = next();
    }
    for line in &mut report.deferred {
        line.item = next();
        line.detail = next();
    }
    for error in &mut report.errors {
        *error = next();
    }
    let calls = std::mem::take(&mut report.api_calls.by_endpoint);
    report.api_calls.by_endpoint = calls.into_values().map(|count| (next(), count)).collect();
    // Taken last, so the texts above keep the turns they had before these fields existed.
    let approver = |next: &mut dyn FnMut() -> String| Approver {
        user_id: next(),
        name: Some(next()),
        remark: Some(next()),
    };
    for line in &mut report.corrections {
        line.reason = Some(next());
        line.approver = Some(approver(&mut next));
    }
    for line in report.pending.iter_mut().chain(&mut report.in_progress) {
        line.reason = Some(next());
        line.approver = Some(approver(&mut next));
    }
    for line in &mut report.in_progress {
        line.process_instance_id = next();
        line.business_id = Some(next());
        line.user_id = next();
        line.check_type = Some(next());
        line.state = next();
    }
    for line in report.anomalies.iter_mut().chain(&mut report.listed) {
        line.reason = Some(next());
        line.approver = Some(approver(&mut next));
    }
    report
}
