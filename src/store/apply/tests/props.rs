//! Property tests of [`Store::apply_batch`]: whatever the batches, replaying each one (as a
//! rerun after a crash between its commit and the run's next step would) changes nothing.

use proptest::prelude::*;

use crate::domain::{ChangeClass, Correction, Slot};
use crate::store::test_support::{at, corrected, day, dump, new_run, slot, store};
use crate::store::*;

/// One observation of one slot of a small universe (2 users × 3 days × 2 plans).
#[derive(Debug, Clone)]
struct Step {
    slot_idx: usize,
    corrected: bool,
    change: ObservedChange,
}

/// One batch: at most one observation per slot, as a diff produces.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    let change = prop_oneof![
        Just(ObservedChange::New),
        Just(ObservedChange::Changed),
        Just(ObservedChange::Unchanged),
        Just(ObservedChange::Vanished),
    ];
    prop::collection::btree_map(0..12usize, (any::<bool>(), change), 1..8).prop_map(|by_slot| {
        by_slot
            .into_iter()
            .map(|(slot_idx, (corrected, change))| Step {
                slot_idx,
                corrected,
                change,
            })
            .collect()
    })
}

fn universe_slot(idx: usize, is_corrected: bool) -> Slot {
    let user = ["u1", "u01"][idx % 2];
    let date = day(3 + (idx / 2 % 3) as u32);
    let plain = slot(user, date, (idx / 6) as i64 + 1);
    if is_corrected {
        corrected(plain, &format!("p{idx}"))
    } else {
        plain
    }
}

fn batch(steps: &[Step], hour: u32) -> ApplyBatch {
    let mut batch = ApplyBatch {
        applied_at: at(hour),
        sinks: vec!["webhook".into()],
        ..ApplyBatch::default()
    };
    for step in steps {
        let slot = universe_slot(step.slot_idx, step.corrected);
        if step.change == ObservedChange::New {
            batch
                .ledger_baseline
                .push((slot.key(), slot.ledger_state()));
        }
        if step.corrected {
            batch.corrections.push(Correction {
                idempotency_key: format!("supply:p{}", step.slot_idx),
                slot_key: slot.key(),
                class: ChangeClass::SupplyApplied,
                before: None,
                after: slot.ledger_state(),
                before_observed: false,
                process_instance_id: Some(format!("p{}", step.slot_idx)),
                business_id: None,
                approved_at: None,
            });
        }
        batch.observations.push(Observation {
            slot,
            change: step.change,
            class: step.corrected.then_some(ChangeClass::SupplyApplied),
            observed_at: at(hour),
        });
    }
    batch
}

proptest! {
    #[test]
    fn replaying_every_batch_right_after_it_committed_changes_nothing(
        batches in prop::collection::vec(steps(), 1..5)
    ) {
        let mut once = store();
        let mut twice = store();
        let run_once = once.begin_run(&new_run(day(1), day(7))).unwrap();
        let run_twice = twice.begin_run(&new_run(day(1), day(7))).unwrap();
        let mut applied_once = 0;
        let mut applied_twice = 0;
        for (idx, steps) in batches.iter().enumerate() {
            let batch = batch(steps, idx as u32 + 1);
            applied_once += once.apply_batch(run_once, &batch).unwrap().applied;
            applied_twice += twice.apply_batch(run_twice, &batch).unwrap().applied;
            let replay = twice.apply_batch(run_twice, &batch).unwrap();
            prop_assert_eq!(replay.applied, 0);
            prop_assert_eq!(replay.duplicates as usize, batch.corrections.len());
        }
        prop_assert_eq!(applied_once, applied_twice);
        prop_assert_eq!(dump(&once), dump(&twice));
        let distinct_keys: std::collections::BTreeSet<String> = once
            .all_corrections()
            .unwrap()
            .into_iter()
            .map(|stored| stored.correction.idempotency_key)
            .collect();
        prop_assert_eq!(distinct_keys.len() as u64, applied_once);
    }
}
