//! The snapshot diff: what DingTalk reports now against what it reported before (PRODUCT.md
//! section 3, step 5).
//!
//! A pure function over values. It does not classify (that is `classify`), read the store or
//! decide what to fetch. A slot is `Vanished` only when its whole user-day was fetched completely
//! in this run; a slot missing from a partial fetch says nothing. The run counts a user-day that
//! had slots and came back empty as complete only after reading it twice
//! (`run::confirm_emptied_days`): one valid empty page is not enough to vanish a day.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::domain::{Slot, SlotKey, UserId};

/// What happened to one slot between the snapshot and this run's fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "every variant holds slots; boxing would only add indirection"
)]
pub enum SlotChange {
    /// Never observed before.
    New(Slot),
    /// Observed again with the same state (the fetched copy, so attributes such as the row id
    /// follow DingTalk).
    Unchanged(Slot),
    /// Observed again with a different state.
    Changed { before: Slot, after: Slot },
    /// In the snapshot, absent from a complete fetch of its user-day.
    Vanished(Slot),
}

impl SlotChange {
    /// The slot this change is about.
    pub(crate) fn key(&self) -> SlotKey {
        match self {
            SlotChange::New(slot) | SlotChange::Unchanged(slot) | SlotChange::Vanished(slot) => {
                slot.key()
            }
            SlotChange::Changed { after, .. } => after.key(),
        }
    }

    /// Whether anything changed (everything but `Unchanged`).
    pub(crate) fn is_change(&self) -> bool {
        !matches!(self, SlotChange::Unchanged(_))
    }
}

/// Diffs `fetched` against `snapshot`. The result is sorted by slot key and does not depend on
/// the order of `fetched`. When `fetched` holds two rows for one key, the one [`prefer`] picks
/// is used, whatever their order.
pub fn diff(
    snapshot: &BTreeMap<SlotKey, Slot>,
    fetched: &[Slot],
    complete_user_days: &BTreeSet<(UserId, NaiveDate)>,
) -> Vec<SlotChange> {
    let fetched = dedupe(fetched);
    let mut changes = Vec::with_capacity(fetched.len());
    for (key, slot) in &fetched {
        let change = match snapshot.get(key) {
            None => SlotChange::New((*slot).clone()),
            Some(before) if before.same_state(slot) => SlotChange::Unchanged((*slot).clone()),
            Some(before) => SlotChange::Changed {
                before: before.clone(),
                after: (*slot).clone(),
            },
        };
        changes.push(change);
    }
    for (user_id, work_date) in complete_user_days {
        for (key, before) in user_day_range(snapshot, user_id, *work_date) {
            if !fetched.contains_key(key) {
                changes.push(SlotChange::Vanished(before.clone()));
            }
        }
    }
    changes.sort_by_key(SlotChange::key);
    changes
}

/// The slots of one user-day in a map keyed by slot key (keys sort by user, then date).
pub(crate) fn user_day_range<'a>(
    slots: &'a BTreeMap<SlotKey, Slot>,
    user_id: &UserId,
    work_date: NaiveDate,
) -> impl Iterator<Item = (&'a SlotKey, &'a Slot)> + 'a {
    let user_id = user_id.clone();
    let low = SlotKey {
        user_id: user_id.clone(),
        work_date,
        discriminator: crate::domain::SlotDiscriminator::Plan(i64::MIN),
    };
    slots
        .range(low..)
        .take_while(move |(key, _)| key.user_id == user_id && key.work_date == work_date)
}

/// Collapses rows with the same key to one, chosen by [`prefer`].
fn dedupe(fetched: &[Slot]) -> BTreeMap<SlotKey, &Slot> {
    let mut by_key: BTreeMap<SlotKey, &Slot> = BTreeMap::new();
    for slot in fetched {
        by_key
            .entry(slot.key())
            .and_modify(|kept| *kept = prefer(kept, slot))
            .or_insert(slot);
    }
    by_key
}

/// Of two rows DingTalk returned for the same slot, the one to believe: the higher row id (the
/// newer row), then a signed row over a NotSigned one, then a total order over every field so
/// that the choice never depends on the order the rows arrived in.
pub(crate) fn prefer<'a>(left: &'a Slot, right: &'a Slot) -> &'a Slot {
    if rank(left) >= rank(right) {
        left
    } else {
        right
    }
}

fn rank(slot: &Slot) -> (Option<i64>, bool, String) {
    let everything = serde_json::to_string(slot).unwrap_or_default();
    (slot.row_id, slot.is_signed(), everything)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TimeResult;
    use crate::reconcile::test_helpers::{arb_slots, slot};
    use proptest::prelude::*;

    /// A slot's identity as PRODUCT.md section 2 defines it, written out independently:
    /// `(user, work date, plan id)`, or without a plan id `(user, work date, check type,
    /// scheduled time)`.
    type NaiveKey = (String, NaiveDate, Result<i64, (String, i64)>);

    fn naive_key(slot: &Slot) -> NaiveKey {
        let rest = match slot.plan_id {
            Some(plan_id) => Ok(plan_id),
            None => Err((
                slot.check_type.as_str().to_owned(),
                slot.base_check_time.timestamp_millis(),
            )),
        };
        (slot.user_id.as_str().to_owned(), slot.work_date, rest)
    }

    /// Two observations of one slot are the same when everything but DingTalk's row id (an
    /// attribute it may regenerate) is equal.
    fn same_observation(left: &Slot, right: &Slot) -> bool {
        let strip = |slot: &Slot| Slot {
            row_id: None,
            ..slot.clone()
        };
        strip(left) == strip(right)
    }

    /// What the reference expects for one key.
    enum Expected {
        /// Any of these rows (the best ones by row id, then signed over NotSigned) as `New`.
        New(Vec<Slot>),
        /// `Unchanged` or `Changed` against `before`, with any of `rows` as the new state.
        Seen {
            before: Slot,
            rows: Vec<Slot>,
        },
        Vanished(Slot),
    }

    /// The oracle, written from the module docs and PRODUCT.md without the product's helpers:
    /// of duplicate rows the newer row id wins, then a signed row over a NotSigned one; beyond
    /// that the order is unspecified, so any of the remaining rows is accepted (and
    /// `the_order_of_fetched_rows_does_not_matter` checks that the choice is stable).
    fn naive(
        snapshot: &BTreeMap<SlotKey, Slot>,
        fetched: &[Slot],
        complete: &BTreeSet<(UserId, NaiveDate)>,
    ) -> BTreeMap<NaiveKey, Expected> {
        let mut rows: BTreeMap<NaiveKey, Vec<Slot>> = BTreeMap::new();
        for row in fetched {
            rows.entry(naive_key(row)).or_default().push(row.clone());
        }
        let mut expected = BTreeMap::new();
        for (key, candidates) in rows {
            let rank = |slot: &Slot| (slot.row_id, slot.time_result != TimeResult::NotSigned);
            let best = candidates.iter().map(rank).max().unwrap();
            let best_rows: Vec<Slot> = candidates
                .into_iter()
                .filter(|slot| rank(slot) == best)
                .collect();
            let before = snapshot.values().find(|slot| naive_key(slot) == key);
            let entry = match before {
                None => Expected::New(best_rows),
                Some(before) => Expected::Seen {
                    before: before.clone(),
                    rows: best_rows,
                },
            };
            expected.insert(key, entry);
        }
        for before in snapshot.values() {
            let key = naive_key(before);
            let day = (before.user_id.clone(), before.work_date);
            if complete.contains(&day) && !expected.contains_key(&key) {
                expected.insert(key, Expected::Vanished(before.clone()));
            }
        }
        expected
    }

    /// Checks `got` against the reference: one change per expected key, nothing else, in key
    /// order, each of the expected kind.
    fn agrees(got: &[SlotChange], expected: &BTreeMap<NaiveKey, Expected>) -> Result<(), String> {
        if got.windows(2).any(|pair| pair[0].key() >= pair[1].key()) {
            return Err("changes are not in strictly increasing key order".into());
        }
        if got.len() != expected.len() {
            return Err(format!(
                "{} changes, expected {}",
                got.len(),
                expected.len()
            ));
        }
        for change in got {
            let slot = match change {
                SlotChange::New(slot)
                | SlotChange::Unchanged(slot)
                | SlotChange::Vanished(slot) => slot,
                SlotChange::Changed { after, .. } => after,
            };
            let Some(want) = expected.get(&naive_key(slot)) else {
                return Err(format!("unexpected change {change:?}"));
            };
            let fine = match (want, change) {
                (Expected::New(rows), SlotChange::New(slot)) => rows.contains(slot),
                (Expected::Seen { before, rows }, SlotChange::Unchanged(slot)) => {
                    rows.contains(slot) && same_observation(before, slot)
                }
                (Expected::Seen { before, rows }, SlotChange::Changed { before: was, after }) => {
                    was == before && rows.contains(after) && !same_observation(before, after)
                }
                (Expected::Vanished(before), SlotChange::Vanished(slot)) => slot == before,
                _ => false,
            };
            if !fine {
                return Err(format!("wrong change {change:?}"));
            }
        }
        Ok(())
    }

    fn to_map(slots: &[Slot]) -> BTreeMap<SlotKey, Slot> {
        let mut map = BTreeMap::new();
        for one in slots {
            map.insert(one.key(), one.clone());
        }
        map
    }

    fn days_of(slots: &[Slot]) -> BTreeSet<(UserId, NaiveDate)> {
        slots
            .iter()
            .map(|s| (s.user_id.clone(), s.work_date))
            .collect()
    }

    #[track_caller]
    fn check(snapshot: &[Slot], fetched: &[Slot], complete: bool, expected: &[&str]) {
        let complete_days = if complete {
            days_of(snapshot)
        } else {
            BTreeSet::new()
        };
        let changes = diff(&to_map(snapshot), fetched, &complete_days);
        let got: Vec<String> = changes
            .iter()
            .map(|change| {
                let kind = match change {
                    SlotChange::New(_) => "new",
                    SlotChange::Unchanged(_) => "unchanged",
                    SlotChange::Changed { .. } => "changed",
                    SlotChange::Vanished(_) => "vanished",
                };
                format!("{kind} {}", change.key())
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn each_kind_of_change_is_reported_once_per_slot() {
        let on = slot("u1", "2026-11-02", 11, "OnDuty", "NotSigned");
        let off = slot("u1", "2026-11-02", 12, "OffDuty", "Normal");
        let mut on_fixed = on.clone();
        on_fixed.time_result = crate::domain::TimeResult::Normal;
        let fresh = slot("u2", "2026-11-02", 21, "OnDuty", "Normal");
        check(
            &[on.clone(), off.clone()],
            &[on_fixed, fresh],
            true,
            &[
                "changed u1|2026-11-02|plan:11",
                "vanished u1|2026-11-02|plan:12",
                "new u2|2026-11-02|plan:21",
            ],
        );
    }

    #[test]
    fn a_slot_missing_from_a_partial_fetch_is_not_vanished() {
        let on = slot("u1", "2026-11-02", 11, "OnDuty", "Normal");
        check(&[on], &[], false, &[]);
    }

    #[test]
    fn a_new_row_id_alone_is_not_a_change() {
        let before = slot("u1", "2026-11-02", 11, "OnDuty", "Normal");
        let mut after = before.clone();
        after.row_id = Some(999);
        check(
            &[before],
            &[after],
            true,
            &["unchanged u1|2026-11-02|plan:11"],
        );
    }

    #[test]
    fn duplicate_rows_resolve_to_the_newer_row_whatever_their_order() {
        let older = slot("u1", "2026-11-02", 11, "OnDuty", "NotSigned");
        let mut newer = older.clone();
        newer.row_id = Some(older.row_id.unwrap_or(0) + 1);
        newer.time_result = crate::domain::TimeResult::Normal;
        let one = diff(
            &BTreeMap::new(),
            &[older.clone(), newer.clone()],
            &BTreeSet::new(),
        );
        let two = diff(&BTreeMap::new(), &[newer.clone(), older], &BTreeSet::new());
        assert_eq!(one, two);
        assert_eq!(one, vec![SlotChange::New(newer)]);
    }

    proptest! {
        #[test]
        fn diff_equals_the_naive_reference(
            snapshot in arb_slots(12),
            fetched in arb_slots(12),
            complete_mask in proptest::collection::vec(any::<bool>(), 12),
        ) {
            let snapshot = to_map(&snapshot);
            let complete: BTreeSet<_> = snapshot
                .values()
                .chain(fetched.iter())
                .map(|s| (s.user_id.clone(), s.work_date))
                .zip(complete_mask.iter().cycle())
                .filter(|(_, keep)| **keep)
                .map(|(day, _)| day)
                .collect();
            let got = diff(&snapshot, &fetched, &complete);
            let verdict = agrees(&got, &naive(&snapshot, &fetched, &complete));
            prop_assert!(verdict.is_ok(), "{}: {:?}", verdict.unwrap_err(), got);
        }

        #[test]
        fn diffing_a_snapshot_against_itself_finds_no_change(slots in arb_slots(16)) {
            let snapshot = to_map(&slots);
            let fetched: Vec<Slot> = snapshot.values().cloned().collect();
            let changes = diff(&snapshot, &fetched, &days_of(&fetched));
            prop_assert!(changes.iter().all(|c| !c.is_change()));
            prop_assert_eq!(changes.len(), snapshot.len());
        }

        #[test]
        fn the_order_of_fetched_rows_does_not_matter(
            snapshot in arb_slots(10),
            fetched in arb_slots(14),
            seed in any::<u64>(),
        ) {
            let snapshot = to_map(&snapshot);
            let complete = days_of(&fetched);
            let mut shuffled = fetched.clone();
            let mut state = seed | 1;
            for index in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(index, (state % (index as u64 + 1)) as usize);
            }
            prop_assert_eq!(diff(&snapshot, &fetched, &complete), diff(&snapshot, &shuffled, &complete));
        }
    }
}
