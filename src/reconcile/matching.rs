//! Approvals ↔ slots: which check point a 补卡 approval repairs (PRODUCT.md section 3, step 6).
//!
//! Evidence, strongest first: a slot whose `procInstId` is the approval's id; the originator's
//! slot with the approval's `extValue.planId`; the originator's slot on `extValue.workDate` whose
//! scheduled time is nearest the corrected time; the corrected local time alone (its local date,
//! or the previous one, since a night shift's OffDuty point belongs to the day before). Pure: it
//! neither fetches missing slots nor judges whether the slot shows the correction (that is
//! `classify`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::{Approval, Slot, SlotKey, UserId};
use crate::quota::local_date;

use super::diff::user_day_range;

/// How an approval was tied to its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Evidence {
    /// The slot's `procInstId` is the approval's id.
    ProcessInstanceId,
    /// `(originator, extValue.planId)`.
    PlanId,
    /// `(originator, extValue.workDate)`, nearest scheduled time to the corrected time.
    WorkDateNearest,
    /// The corrected local time alone: its date or the day before, nearest scheduled time.
    TimeNearest,
}

/// The slot an approval repairs, and why we believe so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Match {
    pub(crate) slot: SlotKey,
    pub(crate) evidence: Evidence,
}

/// Slots indexed for matching. Built once per run over the current view of the slots (the
/// snapshot overlaid with this run's fetch).
#[derive(Debug)]
pub struct SlotIndex<'a> {
    slots: &'a BTreeMap<SlotKey, Slot>,
    by_process_instance_id: BTreeMap<&'a str, &'a SlotKey>,
    by_plan: BTreeMap<(&'a UserId, i64), Vec<&'a SlotKey>>,
}

impl<'a> SlotIndex<'a> {
    pub fn new(slots: &'a BTreeMap<SlotKey, Slot>) -> SlotIndex<'a> {
        let mut by_process_instance_id = BTreeMap::new();
        let mut by_plan: BTreeMap<(&UserId, i64), Vec<&SlotKey>> = BTreeMap::new();
        for (key, slot) in slots {
            if let Some(process_instance_id) = slot
                .process_instance_id
                .as_deref()
                .filter(|id| !id.is_empty())
            {
                by_process_instance_id
                    .entry(process_instance_id)
                    .or_insert(key);
            }
            if let Some(plan_id) = slot.plan_id {
                by_plan
                    .entry((&key.user_id, plan_id))
                    .or_default()
                    .push(key);
            }
        }
        SlotIndex {
            slots,
            by_process_instance_id,
            by_plan,
        }
    }

    pub(crate) fn slots(&self) -> &'a BTreeMap<SlotKey, Slot> {
        self.slots
    }

    /// The slot that `approval` repairs, by the strongest evidence available.
    pub(crate) fn match_approval(&self, approval: &Approval, tz: Tz) -> Option<Match> {
        let found = |slot: &SlotKey, evidence| {
            Some(Match {
                slot: slot.clone(),
                evidence,
            })
        };
        if let Some(key) = self
            .by_process_instance_id
            .get(approval.process_instance_id.as_str())
        {
            return found(key, Evidence::ProcessInstanceId);
        }
        let ext = approval.ext.clone().unwrap_or_default();
        let corrected = approval.corrected_time.or(ext.user_check_time);
        if let Some(plan_id) = ext.plan_id {
            // The form names its check point: only that slot will do. When it is not known (not
            // fetched yet), matching by time could pick its neighbour, so nothing matches.
            let keys = self.by_plan.get(&(&approval.originator, plan_id))?;
            let key = keys
                .iter()
                .find(|key| Some(key.work_date) == ext.work_date)
                .or_else(|| keys.first())?;
            return found(key, Evidence::PlanId);
        }
        let corrected = corrected?;
        if let Some(work_date) = ext.work_date
            && let Some(key) = self.nearest(&approval.originator, &[work_date], corrected)
        {
            return found(key, Evidence::WorkDateNearest);
        }
        let day = local_date(corrected, tz);
        let days = [day, day.pred_opt().unwrap_or(day)];
        let key = self.nearest(&approval.originator, &days, corrected)?;
        found(key, Evidence::TimeNearest)
    }

    /// The user's slot on one of `days` whose scheduled time is nearest `at` and within
    /// [`MAX_MATCH_DISTANCE`] of it; ties go to an unsigned slot (the one a 补卡 repairs), then to
    /// the smaller key. The bound keeps a 补卡 for a check point not known yet (its day read only
    /// in part) from landing on that day's other check point.
    fn nearest(&self, user: &UserId, days: &[NaiveDate], at: DateTime<Utc>) -> Option<&'a SlotKey> {
        let mut best: Option<(Duration, bool, &SlotKey)> = None;
        for day in days {
            for (key, slot) in user_day_range(self.slots, user, *day) {
                let distance = (slot.base_check_time - at).abs();
                if distance > MAX_MATCH_DISTANCE {
                    continue;
                }
                let rank = (distance, slot.is_signed(), key);
                if best.is_none_or(|best| rank < best) {
                    best = Some(rank);
                }
            }
        }
        best.map(|(_, _, key)| key)
    }
}

/// How far a 补卡's corrected time may lie from the scheduled time of the check point it is
/// matched to by time: under half the gap between a shift's two check points (9 h for the day
/// shift, 8 h for the night shift), so the other check point of the day never qualifies.
pub(crate) const MAX_MATCH_DISTANCE: Duration = Duration::hours(4);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::test_helpers::{
        SHANGHAI, approval_for, arb_approval, arb_slots, corrected, local, naive_match, slot,
    };
    use proptest::prelude::*;

    fn map(slots: &[Slot]) -> BTreeMap<SlotKey, Slot> {
        slots.iter().map(|s| (s.key(), s.clone())).collect()
    }

    #[track_caller]
    fn check(slots: &[Slot], approval: &Approval, expected: Option<(&str, Evidence)>) {
        let slots = map(slots);
        let index = SlotIndex::new(&slots);
        let got = index
            .match_approval(approval, SHANGHAI)
            .map(|found| (found.slot.canonical(), found.evidence));
        let expected = expected.map(|(key, evidence)| (key.to_owned(), evidence));
        assert_eq!(got, expected);
    }

    #[test]
    fn a_slot_carrying_the_instance_id_wins_over_every_other_evidence() {
        let on = slot("u1", "2026-11-02", 11, "OnDuty", "NotSigned");
        let off = slot("u1", "2026-11-02", 12, "OffDuty", "NotSigned");
        let approval = approval_for(&on, "P1", "COMPLETED", Some("agree"));
        check(
            &[on.clone(), corrected(&off, "P1")],
            &approval,
            Some(("u1|2026-11-02|plan:12", Evidence::ProcessInstanceId)),
        );
    }

    #[test]
    fn the_plan_id_of_the_originator_matches_next() {
        let on = slot("u1", "2026-11-02", 11, "OnDuty", "NotSigned");
        let other = slot("u2", "2026-11-02", 11, "OnDuty", "NotSigned");
        let approval = approval_for(&on, "P1", "COMPLETED", Some("agree"));
        check(
            &[other, on],
            &approval,
            Some(("u1|2026-11-02|plan:11", Evidence::PlanId)),
        );
    }

    #[test]
    fn without_a_plan_id_the_nearest_scheduled_time_on_the_work_date_matches() {
        let on = slot("u1", "2026-11-02", 11, "OnDuty", "NotSigned");
        let off = slot("u1", "2026-11-02", 12, "OffDuty", "NotSigned");
        let mut approval = approval_for(&off, "P1", "COMPLETED", Some("agree"));
        approval.ext.as_mut().unwrap().plan_id = None;
        approval.corrected_time = Some(local("2026-11-02 18:40"));
        check(
            &[on, off],
            &approval,
            Some(("u1|2026-11-02|plan:12", Evidence::WorkDateNearest)),
        );
    }

    #[test]
    fn a_night_shift_off_duty_point_matches_on_the_previous_work_date() {
        let mut night_off = slot("u1", "2026-11-02", 12, "OffDuty", "NotSigned");
        night_off.base_check_time = local("2026-11-03 04:00");
        let next_on = slot("u1", "2026-11-03", 21, "OnDuty", "NotSigned");
        let mut approval = approval_for(&night_off, "P1", "COMPLETED", Some("agree"));
        approval.ext = None;
        approval.corrected_time = Some(local("2026-11-03 04:05"));
        check(
            &[night_off, next_on],
            &approval,
            Some(("u1|2026-11-02|plan:12", Evidence::TimeNearest)),
        );
    }

    #[test]
    fn a_check_point_not_known_yet_does_not_pull_the_other_one_of_its_day() {
        // Only the OnDuty slot of the day has been read; the 补卡 is for the OffDuty point.
        let on = slot("u1", "2026-11-02", 11, "OnDuty", "NotSigned");
        let mut approval = approval_for(&on, "P1", "COMPLETED", Some("agree"));
        approval.ext.as_mut().unwrap().plan_id = None;
        approval.corrected_time = Some(local("2026-11-02 18:05"));
        check(std::slice::from_ref(&on), &approval, None);
        // Within the bound the same approval matches by time.
        approval.corrected_time = Some(local("2026-11-02 09:40"));
        check(
            &[on],
            &approval,
            Some(("u1|2026-11-02|plan:11", Evidence::WorkDateNearest)),
        );
    }

    #[test]
    fn an_approval_of_someone_without_slots_matches_nothing() {
        let on = slot("u1", "2026-11-02", 11, "OnDuty", "NotSigned");
        let mut approval = approval_for(&on, "P1", "COMPLETED", Some("agree"));
        approval.originator = UserId::new("u9").unwrap();
        check(&[on], &approval, None);
    }

    #[test]
    fn a_tie_across_two_work_dates_goes_to_the_smaller_key() {
        use crate::reconcile::test_helpers::{Point, universe_slot};
        // 07:30 on 2026-10-31 is 90 minutes from the night shift's end of 2026-10-30 (06:00)
        // and from the day shift's start of 2026-10-31 (09:00); both are unsigned.
        let night_off = universe_slot(0, 0, Point::NightOff, false);
        let day_on = universe_slot(0, 1, Point::DayOn, false);
        let mut approval = approval_for(&day_on, "P1", "COMPLETED", Some("agree"));
        approval.ext = None;
        approval.corrected_time = Some(local("2026-10-31 07:30"));
        check(
            &[night_off.clone(), day_on],
            &approval,
            Some((&night_off.key().canonical(), Evidence::TimeNearest)),
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_matched_slot_is_the_one_a_brute_force_search_by_the_documented_rule_picks(
            slots in arb_slots(16),
            approval in arb_approval(),
        ) {
            let slots = map(&slots);
            let index = SlotIndex::new(&slots);
            let got = index
                .match_approval(&approval, SHANGHAI)
                .map(|found| (found.slot, found.evidence));
            prop_assert_eq!(got, naive_match(&slots, &approval));
        }
    }
}
