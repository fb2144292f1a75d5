//! The pure parts of `doctor`: what the live data says about each ⚠ fact, the templates verdict,
//! the expected monthly cost.

use chrono::{NaiveDate, TimeZone};
use serde_json::json;

use super::*;
use crate::domain::{ApprovalResult, CheckType, LocationResult, Slot, SupplyExt, TimeResult};

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
const ID: &str = "inst-1";
const PLAN: i64 = 437_000_007_457;

fn local(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    SHANGHAI
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn work_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 9).unwrap()
}

fn user() -> UserId {
    UserId::new("0126000120").unwrap()
}

/// An agreed 补卡 of the 18:00 OffDuty point of 2026-10-09, with the given form.
fn approval(plan_id: Option<i64>, repair_entry: bool) -> Approval {
    let corrected = local(2026, 10, 9, 18);
    let mut form = vec![json!({"name": "补卡时间", "value": "2026-10-09 18:00"})];
    if repair_entry {
        form.push(
            json!({"name": "repairCheckTime", "value": corrected.timestamp_millis().to_string()}),
        );
    }
    Approval {
        process_instance_id: ID.into(),
        process_code: "PROC-1".into(),
        business_id: None,
        title: None,
        originator: user(),
        status: ApprovalStatus::Completed,
        result: Some(ApprovalResult::Agree),
        create_time: Some(local(2026, 10, 10, 9)),
        finish_time: Some(local(2026, 10, 10, 11)),
        corrected_time: Some(corrected),
        ext: Some(SupplyExt {
            plan_id,
            work_date: Some(work_date()),
            user_check_time: Some(corrected),
        }),
        reason: None,
        biz_action: None,
        links: Default::default(),
        raw_json: json!({"result": {"formComponentValues": form}}).to_string(),
    }
}

/// The OffDuty slot, corrected by the 补卡 (`APPROVE`, naming it or not), or still NotSigned.
fn slot(corrected: bool, names_it: bool) -> Slot {
    let base = local(2026, 10, 9, 18);
    Slot {
        user_id: user(),
        work_date: work_date(),
        check_type: CheckType::OffDuty,
        plan_id: Some(PLAN),
        base_check_time: base,
        user_check_time: Some(base),
        time_result: if corrected {
            TimeResult::Normal
        } else {
            TimeResult::NotSigned
        },
        location_result: LocationResult::Normal,
        source_type: if corrected {
            SourceType::Approve
        } else {
            SourceType::System
        },
        process_instance_id: (corrected && names_it).then(|| ID.to_owned()),
        approve_id: None,
        record_id: None,
        group_id: None,
        row_id: None,
    }
}

fn supply_punch() -> dingtalk::Punch {
    dingtalk::Punch {
        user_id: user(),
        work_date: Some(work_date()),
        check_type: CheckType::OffDuty,
        check_time: local(2026, 10, 9, 18),
        plan_id: Some(PLAN),
        source_type: SourceType::Approve,
        process_instance_id: Some(ID.into()),
        record_id: Some(1),
        is_legal: Some(true),
        invalid_record_type: None,
        invalid: false,
    }
}

fn facts(seen: &Seen<'_>) -> Vec<(&'static str, Fact)> {
    readings(seen)
        .into_iter()
        .map(|reading| (reading.fact, reading.reading))
        .collect()
}

#[test]
fn the_default_readings_all_hold() {
    let approval = approval(Some(PLAN), true);
    let slots = vec![slot(true, true)];
    let punches = vec![supply_punch()];
    let seen = Seen {
        approval: &approval,
        slots: Some(&slots),
        punches: Some(&punches),
        listed_at_utc: Some(true),
        tz: SHANGHAI,
    };
    assert_eq!(
        facts(&seen),
        vec![
            ("slot_names_supply", Fact::Holds),
            ("punch_shows_supply", Fact::Holds),
            ("plan_id_in_ext_value", Fact::Holds),
            ("approval_times_utc", Fact::Holds),
            ("repair_check_time_entry", Fact::Holds),
        ]
    );
}

#[test]
fn the_pessimistic_readings_all_fail_and_the_slot_is_found_by_time() {
    let approval = approval(None, false);
    let slots = vec![slot(true, false)];
    let punches = Vec::new();
    let seen = Seen {
        approval: &approval,
        slots: Some(&slots),
        punches: Some(&punches),
        listed_at_utc: Some(false),
        tz: SHANGHAI,
    };
    assert_eq!(
        facts(&seen),
        vec![
            ("slot_names_supply", Fact::Fails),
            ("punch_shows_supply", Fact::Fails),
            ("plan_id_in_ext_value", Fact::Fails),
            ("approval_times_utc", Fact::Fails),
            ("repair_check_time_entry", Fact::Fails),
        ]
    );
}

#[test]
fn a_slot_not_corrected_yet_or_a_failed_read_leaves_the_facts_unknown() {
    let approval = approval(Some(PLAN), true);
    let slots = vec![slot(false, false)];
    let punches = Vec::new();
    let seen = Seen {
        approval: &approval,
        slots: Some(&slots),
        punches: Some(&punches),
        listed_at_utc: None,
        tz: SHANGHAI,
    };
    let found = facts(&seen);
    assert_eq!(found[0], ("slot_names_supply", Fact::Unknown));
    assert_eq!(found[1], ("punch_shows_supply", Fact::Unknown));
    assert_eq!(found[3], ("approval_times_utc", Fact::Unknown));
    let failed = Seen {
        slots: None,
        punches: None,
        ..seen
    };
    let found = facts(&failed);
    assert_eq!(found[0].1, Fact::Unknown);
    assert_eq!(found[1].1, Fact::Unknown);
    // What the detail alone shows is still read.
    assert_eq!(found[2].1, Fact::Holds);
    assert_eq!(found[4].1, Fact::Holds);
}

#[test]
fn repair_check_time_is_found_by_name_or_alias_in_the_raw_detail() {
    assert_eq!(
        repair_check_time(&approval(None, true).raw_json).as_deref(),
        Some(
            local(2026, 10, 9, 18)
                .timestamp_millis()
                .to_string()
                .as_str()
        )
    );
    assert_eq!(repair_check_time(&approval(None, false).raw_json), None);
    let alias =
        json!({"result": {"formComponentValues": [{"bizAlias": "repairCheckTime", "value": 5}]}});
    assert_eq!(repair_check_time(&alias.to_string()).as_deref(), Some("5"));
    assert_eq!(repair_check_time("not json"), None);
}

fn template(name: &str, code: &str, attendance_type: Option<i64>) -> Template {
    Template {
        process_code: code.into(),
        name: name.into(),
        attendance_type,
    }
}

#[test]
fn templates_are_listed_by_name_and_a_wrong_code_fails_naming_what_was_found() {
    let found = [
        template("补卡申请", "PROC-A", Some(1)),
        template("请假", "PROC-L", Some(2)),
        template("补卡申请（门店）", "PROC-B", Some(1)),
    ];
    let (verdict, items) = templates_verdict(&found, &["PROC-A".into(), "PROC-B".into()]);
    assert_eq!(
        verdict,
        Ok("2 补卡 template(s) found, all configured".into())
    );
    assert_eq!(
        items,
        vec![
            "补卡申请 PROC-A (configured)",
            "补卡申请（门店） PROC-B (configured)"
        ]
    );
    let (verdict, _) = templates_verdict(&found, &["PROC-WRONG".into()]);
    let (detail, remedy) = verdict.unwrap_err();
    assert!(detail.contains("PROC-WRONG"), "{detail}");
    assert!(detail.contains("补卡申请 (PROC-A)"), "{detail}");
    assert!(!detail.contains("PROC-L"), "{detail}");
    assert!(remedy.contains("supply_process_codes"), "{remedy}");
    let (verdict, _) = templates_verdict(&found, &["PROC-A".into()]);
    assert!(verdict.unwrap().contains("1 not configured"));
    let (verdict, items) = templates_verdict(&found, &[]);
    assert_eq!(verdict, Ok("2 补卡 template(s) found and used".into()));
    assert!(items[0].ends_with("(used: discovered)"));
    let (verdict, _) = templates_verdict(&found[1..2], &[]);
    assert!(verdict.unwrap_err().0.contains("no 补卡 template"));
}

#[test]
fn the_expected_monthly_cost_follows_the_scope() {
    assert_eq!(expected_monthly_cost(0, 3), 0);
    // 176 result pages, 4 scan batches × 10 scans, 12 listing pages.
    assert_eq!(expected_monthly_cost(200, 3), 228);
    // About 1.1 calls per employee-month at 4,000 employees: inside the free 5,000.
    let large = expected_monthly_cost(4_000, 3);
    assert!((4_000..5_000).contains(&large), "{large}");
    assert!(expected_monthly_cost(200, 1) > expected_monthly_cost(200, 7));
}
