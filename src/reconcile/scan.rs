//! Reading raw punches for the open-slot scan: which user-days became dirty (a new valid punch
//! on a slot the snapshot shows not signed, or a watched correction whose 补卡 punch is gone),
//! and what the punches say about DingTalk's unconfirmed behaviour (does `listRecord` show the
//! 补卡's punch at all?).
//!
//! Pure: slots and punches in, findings out. It does not fetch (see `fetch`) and does not decide
//! classes: a dirty user-day is only re-read with `attendance/list`, whose rows stay the evidence.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::dingtalk::Punch;
use crate::domain::{Slot, SourceType, UserId};
use crate::quota;

/// What one scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScanFindings {
    /// User-days (work dates) to re-read with `attendance/list`.
    pub(crate) dirty: BTreeSet<(UserId, NaiveDate)>,
    /// 补卡 punches seen (on watched corrections or on open slots).
    pub(crate) supply_punches: u32,
    /// Watched corrections fetched completely whose 补卡 punch was absent.
    pub(crate) misses: u32,
}

/// The (user, local check date) a slot's punches are looked up by.
pub(crate) fn check_day(slot: &Slot, tz: Tz) -> (UserId, NaiveDate) {
    (
        slot.user_id.clone(),
        quota::local_date(slot.base_check_time, tz),
    )
}

fn on_slot(punch: &Punch, slot: &Slot) -> bool {
    if punch.user_id != slot.user_id {
        return false;
    }
    match (punch.plan_id, slot.plan_id) {
        (Some(punch_plan), Some(slot_plan)) => punch_plan == slot_plan,
        _ => punch.work_date == Some(slot.work_date) && punch.check_type == slot.check_type,
    }
}

fn is_supply(punch: &Punch) -> bool {
    punch.source_type == SourceType::Approve
        && punch
            .process_instance_id
            .as_deref()
            .is_some_and(|id| !id.is_empty())
}

/// Compares `punches` (covering the user-days in `complete`, keyed by local check date) with
/// the `open` slots and the `watched` corrections. Slots whose check day was not fetched
/// completely are left alone: they stay open and are scanned again.
pub(crate) fn findings(
    open: &[Slot],
    watched: &[Slot],
    punches: &[Punch],
    complete: &BTreeSet<(UserId, NaiveDate)>,
    tz: Tz,
) -> ScanFindings {
    let mut out = ScanFindings::default();
    for slot in open {
        if !complete.contains(&check_day(slot, tz)) {
            continue;
        }
        let mut fresh = punches
            .iter()
            .filter(|punch| !punch.invalid && on_slot(punch, slot))
            .peekable();
        if fresh.peek().is_some() {
            out.supply_punches += fresh.filter(|punch| is_supply(punch)).count() as u32;
            out.dirty.insert((slot.user_id.clone(), slot.work_date));
        }
    }
    for slot in watched {
        if !complete.contains(&check_day(slot, tz)) {
            continue;
        }
        let shown = punches.iter().any(|punch| {
            on_slot(punch, slot)
                && is_supply(punch)
                && slot
                    .process_instance_id
                    .as_ref()
                    .is_none_or(|id| punch.process_instance_id.as_ref() == Some(id))
        });
        if shown {
            out.supply_punches += 1;
        } else {
            out.misses += 1;
            out.dirty.insert((slot.user_id.clone(), slot.work_date));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CheckType, LocationResult, TimeResult};
    use crate::reconcile::test_helpers::{
        Point, SHANGHAI, USERS, WORK_DATES, arb_slot, date, local, universe_slot,
    };
    use proptest::prelude::*;

    fn slot(user: &str, plan: i64, source: SourceType, process_instance_id: Option<&str>) -> Slot {
        let base = local("2026-11-03 09:00");
        Slot {
            user_id: UserId::new(user).unwrap(),
            work_date: date("2026-11-03"),
            check_type: CheckType::OnDuty,
            plan_id: Some(plan),
            base_check_time: base,
            user_check_time: Some(base),
            time_result: if source == SourceType::System {
                TimeResult::NotSigned
            } else {
                TimeResult::Normal
            },
            location_result: LocationResult::Normal,
            source_type: source,
            process_instance_id: process_instance_id.map(str::to_owned),
            approve_id: None,
            record_id: None,
            group_id: None,
            row_id: None,
        }
    }

    fn punch(
        user: &str,
        plan: i64,
        source: SourceType,
        process_instance_id: Option<&str>,
    ) -> Punch {
        Punch {
            user_id: UserId::new(user).unwrap(),
            work_date: Some(date("2026-11-03")),
            check_type: CheckType::OnDuty,
            check_time: local("2026-11-03 08:55"),
            plan_id: Some(plan),
            source_type: source,
            process_instance_id: process_instance_id.map(str::to_owned),
            record_id: Some(1),
            is_legal: Some(true),
            invalid_record_type: None,
            invalid: false,
        }
    }

    fn complete(users: &[&str]) -> BTreeSet<(UserId, NaiveDate)> {
        users
            .iter()
            .map(|user| (UserId::new(*user).unwrap(), date("2026-11-03")))
            .collect()
    }

    #[test]
    fn a_supply_or_admin_punch_on_an_open_slot_makes_its_user_day_dirty() {
        let open = [
            slot("u1", 1, SourceType::System, None),
            slot("u2", 2, SourceType::System, None),
            slot("u3", 3, SourceType::System, None),
        ];
        let punches = [
            punch("u1", 1, SourceType::Approve, Some("PI-1")),
            punch("u2", 2, SourceType::Boss, None),
            punch("u3", 99, SourceType::User, None),
        ];
        let found = findings(
            &open,
            &[],
            &punches,
            &complete(&["u1", "u2", "u3"]),
            SHANGHAI,
        );
        let dirty: Vec<&str> = found.dirty.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(dirty, ["u1", "u2"]);
        assert_eq!(found.supply_punches, 1);
    }

    #[test]
    fn an_invalid_punch_or_an_incompletely_fetched_day_changes_nothing() {
        let open = [slot("u1", 1, SourceType::System, None)];
        let mut invalid = punch("u1", 1, SourceType::User, None);
        invalid.invalid = true;
        assert!(
            findings(&open, &[], &[invalid], &complete(&["u1"]), SHANGHAI)
                .dirty
                .is_empty()
        );
        let valid = punch("u1", 1, SourceType::User, None);
        assert!(
            findings(&open, &[], &[valid], &complete(&[]), SHANGHAI)
                .dirty
                .is_empty()
        );
    }

    #[test]
    fn a_watched_correction_without_its_supply_punch_is_a_miss_and_dirty() {
        let watched = [
            slot("u1", 1, SourceType::Approve, Some("PI-1")),
            slot("u2", 2, SourceType::Approve, Some("PI-2")),
        ];
        let punches = [punch("u1", 1, SourceType::Approve, Some("PI-1"))];
        let found = findings(&[], &watched, &punches, &complete(&["u1", "u2"]), SHANGHAI);
        assert_eq!((found.supply_punches, found.misses), (1, 1));
        assert_eq!(
            found.dirty.into_iter().collect::<Vec<_>>(),
            [(UserId::new("u2").unwrap(), date("2026-11-03"))]
        );
    }

    /// The reference, by brute force from the module docs: a punch is on a slot when it is the
    /// slot's user's and, if both carry a plan id, the same plan, otherwise the same work date
    /// and check type. A slot is looked at only when its user's local check date (the calendar
    /// date of its scheduled time) was fetched completely. An open slot with a valid punch on
    /// it makes its user-day dirty, and each 补卡 punch (`APPROVE` naming an instance) among
    /// them counts; a watched correction is a hit when a 补卡 punch on it names its instance
    /// (or any, when it names none), else a miss that makes its user-day dirty.
    fn naive(
        open: &[Slot],
        watched: &[Slot],
        punches: &[Punch],
        complete: &BTreeSet<(UserId, NaiveDate)>,
    ) -> ScanFindings {
        let fetched = |slot: &Slot| {
            let check_date = slot.base_check_time.with_timezone(&SHANGHAI).date_naive();
            complete.contains(&(slot.user_id.clone(), check_date))
        };
        let belongs = |punch: &Punch, slot: &Slot| {
            punch.user_id == slot.user_id
                && if let (Some(a), Some(b)) = (punch.plan_id, slot.plan_id) {
                    a == b
                } else {
                    punch.work_date == Some(slot.work_date) && punch.check_type == slot.check_type
                }
        };
        let supply = |punch: &Punch| {
            punch.source_type == SourceType::Approve
                && matches!(punch.process_instance_id.as_deref(), Some(id) if !id.is_empty())
        };
        let mut out = ScanFindings::default();
        for slot in open.iter().filter(|slot| fetched(slot)) {
            let mut any = false;
            for punch in punches {
                if !punch.invalid && belongs(punch, slot) {
                    any = true;
                    if supply(punch) {
                        out.supply_punches += 1;
                    }
                }
            }
            if any {
                out.dirty.insert((slot.user_id.clone(), slot.work_date));
            }
        }
        for slot in watched.iter().filter(|slot| fetched(slot)) {
            let hit = punches.iter().any(|punch| {
                belongs(punch, slot)
                    && supply(punch)
                    && match &slot.process_instance_id {
                        Some(id) => punch.process_instance_id.as_ref() == Some(id),
                        None => true,
                    }
            });
            if hit {
                out.supply_punches += 1;
            } else {
                out.misses += 1;
                out.dirty.insert((slot.user_id.clone(), slot.work_date));
            }
        }
        out
    }

    /// A punch on (or near) a check point of the generated universe: its plan id, work date
    /// and check type may each be missing or belong to another point.
    fn arb_punch() -> impl Strategy<Value = Punch> {
        (
            (0..USERS.len(), 0..WORK_DATES.len()),
            proptest::sample::select(Point::ALL.to_vec()),
            (any::<bool>(), any::<bool>(), any::<bool>()),
            prop_oneof![
                Just(SourceType::User),
                Just(SourceType::Boss),
                Just(SourceType::Approve)
            ],
            prop_oneof![
                Just(None),
                Just(Some("")),
                Just(Some("P1")),
                Just(Some("P2"))
            ],
            any::<bool>(),
        )
            .prop_map(
                |((user, day), point, (planned, dated, same_type), source, instance, invalid)| {
                    let slot = universe_slot(user, day, point, planned);
                    let check_type = if same_type {
                        slot.check_type.clone()
                    } else {
                        CheckType::OnDuty
                    };
                    Punch {
                        user_id: slot.user_id.clone(),
                        work_date: dated.then_some(slot.work_date),
                        check_type,
                        check_time: slot.base_check_time,
                        plan_id: slot.plan_id,
                        source_type: source,
                        process_instance_id: instance.map(str::to_owned),
                        record_id: Some(1),
                        is_legal: Some(true),
                        invalid_record_type: None,
                        invalid,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn findings_equal_a_brute_force_pass_over_the_punches(
            open in proptest::collection::vec(arb_slot(), 0..8),
            watched in proptest::collection::vec(arb_slot(), 0..6),
            punches in proptest::collection::vec(arb_punch(), 0..12),
            complete_days in proptest::collection::btree_set(
                (0..USERS.len(), 0..WORK_DATES.len() + 1),
                0..10,
            ),
        ) {
            // Check dates run one past the last work date: a night shift ends the next day.
            let complete: BTreeSet<(UserId, NaiveDate)> = complete_days
                .into_iter()
                .map(|(user, day)| {
                    let first = date(WORK_DATES[0]);
                    (UserId::new(USERS[user]).unwrap(), first + chrono::Duration::days(day as i64))
                })
                .collect();
            let open: Vec<Slot> = open
                .into_iter()
                .map(|mut slot| {
                    slot.time_result = TimeResult::NotSigned;
                    slot.source_type = SourceType::System;
                    slot
                })
                .collect();
            let watched: Vec<Slot> = watched
                .into_iter()
                .map(|mut slot| {
                    slot.time_result = TimeResult::Normal;
                    slot.source_type = SourceType::Approve;
                    slot
                })
                .collect();
            prop_assert_eq!(
                findings(&open, &watched, &punches, &complete, SHANGHAI),
                naive(&open, &watched, &punches, &complete)
            );
        }
    }
}
