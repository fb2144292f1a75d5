//! Builders and proptest strategies shared by the reconcile unit tests. Test-only.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use crate::domain::{
    Approval, ApprovalResult, ApprovalStatus, CheckType, LocationResult, Slot, SourceType,
    SupplyExt, TimeResult, UserId,
};

pub(crate) const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

pub(crate) fn date(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
}

/// A local Shanghai wall-clock time `YYYY-MM-DD HH:MM` as an instant.
pub(crate) fn local(raw: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M").unwrap();
    SHANGHAI
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

/// A slot of a 09:00–18:00 shift: OnDuty at 09:00, OffDuty at 18:00 local.
pub(crate) fn slot(
    user: &str,
    work_date: &str,
    plan_id: i64,
    check_type: &str,
    result: &str,
) -> Slot {
    let check_type = CheckType::parse(check_type);
    let hour = if check_type == CheckType::OffDuty {
        "18:00"
    } else {
        "09:00"
    };
    let base = local(&format!("{work_date} {hour}"));
    let time_result = TimeResult::parse(result);
    let signed = time_result != TimeResult::NotSigned;
    Slot {
        user_id: UserId::new(user).unwrap(),
        work_date: date(work_date),
        check_type,
        plan_id: Some(plan_id),
        base_check_time: base,
        user_check_time: Some(base),
        location_result: if signed {
            LocationResult::Normal
        } else {
            LocationResult::NotSigned
        },
        source_type: if signed {
            SourceType::User
        } else {
            SourceType::System
        },
        time_result,
        process_instance_id: None,
        approve_id: None,
        record_id: if signed { Some(plan_id * 10) } else { None },
        group_id: Some(1),
        row_id: Some(plan_id * 100),
    }
}

/// The same slot as DingTalk shows it after the approval `process_instance_id` corrected it.
pub(crate) fn corrected(slot: &Slot, process_instance_id: &str) -> Slot {
    Slot {
        time_result: TimeResult::Normal,
        location_result: LocationResult::Normal,
        source_type: SourceType::Approve,
        process_instance_id: Some(process_instance_id.to_owned()),
        record_id: Some(slot.plan_id.unwrap_or(0) * 10 + 1),
        ..slot.clone()
    }
}

/// A 补卡 approval for `slot`, finished with `status`/`result`, corrected time = base time.
pub(crate) fn approval_for(
    slot: &Slot,
    process_instance_id: &str,
    status: &str,
    result: Option<&str>,
) -> Approval {
    Approval {
        process_instance_id: process_instance_id.to_owned(),
        process_code: "PROC-SUPPLY".into(),
        business_id: Some(format!("B-{process_instance_id}")),
        title: None,
        originator: slot.user_id.clone(),
        status: ApprovalStatus::parse(status),
        result: result.map(ApprovalResult::parse),
        create_time: Some(slot.base_check_time + chrono::Duration::hours(30)),
        finish_time: Some(slot.base_check_time + chrono::Duration::hours(50)),
        corrected_time: Some(slot.base_check_time),
        ext: Some(SupplyExt {
            plan_id: slot.plan_id,
            work_date: Some(slot.work_date),
            user_check_time: Some(slot.base_check_time),
        }),
        reason: None,
        biz_action: None,
        raw_json: "{}".into(),
    }
}

/// Slots from a small universe (3 users, 3 days, 2 plans a day) so keys collide often.
pub(crate) fn arb_slot() -> impl Strategy<Value = Slot> {
    (
        0..3u8,
        0..3u32,
        0..2i64,
        prop_oneof![Just("NotSigned"), Just("Normal"), Just("Late")],
        prop_oneof![
            Just(SourceType::System),
            Just(SourceType::User),
            Just(SourceType::Boss)
        ],
        0..3i64,
    )
        .prop_map(|(user, day, plan, result, source, row)| {
            let work_date = format!("2026-11-0{}", day + 2);
            let check_type = if plan == 0 { "OnDuty" } else { "OffDuty" };
            let plan_id = i64::from(day) * 10 + plan + 1;
            let mut built = slot(&format!("0{user}"), &work_date, plan_id, check_type, result);
            built.source_type = source;
            built.row_id = Some(row);
            built
        })
}

pub(crate) fn arb_slots(max: usize) -> impl Strategy<Value = Vec<Slot>> {
    proptest::collection::vec(arb_slot(), 0..max)
}
