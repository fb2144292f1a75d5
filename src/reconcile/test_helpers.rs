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
        links: Default::default(),
        raw_json: "{}".into(),
    }
}

/// The shape of one check point in the generated universe: which shift, which end of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// 09:00 on the work date.
    DayOn,
    /// 18:00 on the work date.
    DayOff,
    /// 22:00 on the work date.
    NightOn,
    /// 06:00 on the day after the work date: a night shift's end crosses midnight.
    NightOff,
}

impl Point {
    pub(crate) const ALL: [Point; 4] =
        [Point::DayOn, Point::DayOff, Point::NightOn, Point::NightOff];

    pub(crate) fn check_type(self) -> CheckType {
        match self {
            Point::DayOn | Point::NightOn => CheckType::OnDuty,
            Point::DayOff | Point::NightOff => CheckType::OffDuty,
        }
    }

    /// The scheduled time of this point of `work_date`, written out by hand.
    pub(crate) fn base(self, work_date: NaiveDate) -> DateTime<Utc> {
        let (day, hour) = match self {
            Point::DayOn => (work_date, "09:00"),
            Point::DayOff => (work_date, "18:00"),
            Point::NightOn => (work_date, "22:00"),
            Point::NightOff => (work_date.succ_opt().unwrap(), "06:00"),
        };
        local(&format!("{day} {hour}"))
    }

    fn index(self) -> i64 {
        match self {
            Point::DayOn => 1,
            Point::DayOff => 2,
            Point::NightOn => 3,
            Point::NightOff => 4,
        }
    }
}

/// The work dates of the generated universe: across a month's end.
pub(crate) const WORK_DATES: [&str; 3] = ["2026-10-30", "2026-10-31", "2026-11-01"];

/// The users of the generated universe: ids that differ only in leading zeros are different
/// people.
pub(crate) const USERS: [&str; 3] = ["7", "07", "007"];

/// A slot of the generated universe: `user` (index into [`USERS`]), `day` (index into
/// [`WORK_DATES`]), `point`, with or without a plan id (a plan id is a function of the day and the point, so
/// one plan id never names two check points of one user).
pub(crate) fn universe_slot(user: usize, day: usize, point: Point, planned: bool) -> Slot {
    let work_date = date(WORK_DATES[day]);
    let base = point.base(work_date);
    Slot {
        user_id: UserId::new(USERS[user]).unwrap(),
        work_date,
        check_type: point.check_type(),
        plan_id: planned.then(|| 1000 + day as i64 * 10 + point.index()),
        base_check_time: base,
        user_check_time: Some(base),
        time_result: TimeResult::NotSigned,
        location_result: LocationResult::NotSigned,
        source_type: SourceType::System,
        process_instance_id: None,
        approve_id: None,
        record_id: None,
        group_id: Some(1),
        row_id: None,
    }
}

/// Slots from a small universe (3 users, 3 work dates across a month's end, day and night
/// shifts whose OffDuty point falls on the next calendar day, with and without plan ids) so
/// keys collide often. Every field that is not part of the key varies: the result, the source,
/// the punch time (minutes off the scheduled time), the linked approval, the punch record and
/// the row id. A slot showing an approval (`APPROVE`) is always signed.
pub(crate) fn arb_slot() -> impl Strategy<Value = Slot> {
    let state = (
        prop_oneof![
            Just(TimeResult::NotSigned),
            Just(TimeResult::Normal),
            Just(TimeResult::Late),
            Just(TimeResult::Early),
        ],
        prop_oneof![
            Just(SourceType::System),
            Just(SourceType::User),
            Just(SourceType::Atm),
            Just(SourceType::Boss),
            Just(SourceType::Approve),
        ],
        prop_oneof![Just(0i64), Just(-12), Just(7), Just(95)],
        prop_oneof![Just(None), Just(Some("P1")), Just(Some("P2"))],
        0..3i64,
    );
    (
        0..USERS.len(),
        0..WORK_DATES.len(),
        proptest::sample::select(Point::ALL.to_vec()),
        any::<bool>(),
        state,
        prop_oneof![Just(None), (0..3i64).prop_map(Some)],
    )
        .prop_map(
            |(user, day, point, planned, (result, source, minutes, instance, record), row)| {
                let mut built = universe_slot(user, day, point, planned);
                let result = if source == SourceType::Approve && result == TimeResult::NotSigned {
                    TimeResult::Normal
                } else {
                    result
                };
                let signed = result != TimeResult::NotSigned;
                built.time_result = result;
                built.location_result = if signed {
                    LocationResult::Normal
                } else {
                    LocationResult::NotSigned
                };
                built.source_type = source;
                if signed {
                    built.user_check_time =
                        Some(built.base_check_time + chrono::Duration::minutes(minutes));
                    built.record_id = Some(record);
                }
                built.process_instance_id = instance.map(str::to_owned);
                built.row_id = row;
                built
            },
        )
}
pub(crate) fn arb_slots(max: usize) -> impl Strategy<Value = Vec<Slot>> {
    proptest::collection::vec(arb_slot(), 0..max)
}

/// The documented matching rule, by brute force over every slot (PRODUCT.md section 3 step 6
/// and the `matching` module docs): a slot naming the approval in its `procInstId` (the
/// smallest key if several do); else the originator's slot with `extValue.planId` (the one on
/// `extValue.workDate` if any, else the smallest key), and nothing if none; else, from the
/// corrected time (`补卡时间`, else `extValue.userCheckTime`), the originator's slot on
/// `extValue.workDate`, then on the corrected local date or the day before, whose scheduled
/// time is nearest and at most 4 hours away — ties to an unsigned slot, then the smaller key.
pub(crate) fn naive_match(
    slots: &std::collections::BTreeMap<crate::domain::SlotKey, Slot>,
    approval: &Approval,
) -> Option<(crate::domain::SlotKey, crate::reconcile::matching::Evidence)> {
    use crate::reconcile::matching::Evidence;
    let id = approval.process_instance_id.as_str();
    if !id.is_empty()
        && let Some((key, _)) = slots
            .iter()
            .find(|(_, slot)| slot.process_instance_id.as_deref() == Some(id))
    {
        return Some((key.clone(), Evidence::ProcessInstanceId));
    }
    let mine: Vec<(&crate::domain::SlotKey, &Slot)> = slots
        .iter()
        .filter(|(_, slot)| slot.user_id == approval.originator)
        .collect();
    let ext = approval.ext.clone().unwrap_or_default();
    if let Some(plan_id) = ext.plan_id {
        let planned: Vec<_> = mine
            .iter()
            .filter(|(_, slot)| slot.plan_id == Some(plan_id))
            .collect();
        let chosen = planned
            .iter()
            .find(|(_, slot)| Some(slot.work_date) == ext.work_date)
            .or(planned.first())?;
        return Some((chosen.0.clone(), Evidence::PlanId));
    }
    let at = approval.corrected_time.or(ext.user_check_time)?;
    let nearest = |dates: &[NaiveDate]| {
        mine.iter()
            .filter(|(_, slot)| dates.contains(&slot.work_date))
            .map(|(key, slot)| {
                let distance = (slot.base_check_time - at).num_milliseconds().abs();
                (distance, slot.time_result != TimeResult::NotSigned, *key)
            })
            .filter(|(distance, _, _)| *distance <= 4 * 3600 * 1000)
            .min()
            .map(|(_, _, key)| key.clone())
    };
    if let Some(work_date) = ext.work_date
        && let Some(key) = nearest(&[work_date])
    {
        return Some((key, Evidence::WorkDateNearest));
    }
    let local_day = at.with_timezone(&SHANGHAI).date_naive();
    let key = nearest(&[local_day, local_day.pred_opt().unwrap()])?;
    Some((key, Evidence::TimeNearest))
}

/// Approvals aimed at the generated universe: any of its users (or a stranger), an id some
/// generated slots carry, an `extValue` with or without a plan id (one of the universe's or an
/// unknown one) and work date, and a corrected time near one of its check points — on it, a
/// few minutes off, half-way between two points, just inside or just outside 4 hours — or none.
pub(crate) fn arb_approval() -> impl Strategy<Value = Approval> {
    let near = (
        0..WORK_DATES.len(),
        proptest::sample::select(Point::ALL.to_vec()),
        prop_oneof![
            Just(0i64),
            Just(5),
            Just(-25),
            Just(90),
            Just(-90),
            Just(239),
            Just(-241),
            Just(270),
        ],
    )
        .prop_map(|(day, point, minutes)| {
            point.base(date(WORK_DATES[day])) + chrono::Duration::minutes(minutes)
        });
    let plan = prop_oneof![
        Just(None),
        Just(Some(9999i64)),
        (0..WORK_DATES.len() as i64, 1..=4i64)
            .prop_map(|(day, point)| Some(1000 + day * 10 + point)),
    ];
    let work_date = prop_oneof![
        Just(None),
        proptest::sample::select(WORK_DATES.to_vec()).prop_map(|day| Some(date(day))),
    ];
    let user = prop_oneof![proptest::sample::select(USERS.to_vec()), Just("stranger"),];
    (
        user,
        prop_oneof![Just("P1"), Just("P2"), Just("P3")],
        proptest::option::of((plan, work_date, proptest::option::of(near.clone()))),
        proptest::option::of(near),
    )
        .prop_map(|(user, id, ext, corrected_time)| Approval {
            process_instance_id: id.to_owned(),
            process_code: "PROC-SUPPLY".into(),
            business_id: None,
            title: None,
            originator: UserId::new(user).unwrap(),
            status: ApprovalStatus::Completed,
            result: Some(ApprovalResult::Agree),
            create_time: None,
            finish_time: None,
            corrected_time,
            ext: ext.map(|(plan_id, work_date, user_check_time)| SupplyExt {
                plan_id,
                work_date,
                user_check_time,
            }),
            reason: None,
            biz_action: None,
            links: Default::default(),
            raw_json: "{}".into(),
        })
}
