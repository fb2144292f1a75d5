//! Tests of [`Store::apply_batch`]: exactly-once, atomicity, history, bulk behaviour.

use std::collections::BTreeMap;

use crate::domain::{ChangeClass, Correction, LedgerState, Slot, SlotKey, TimeResult};
use crate::store::test_support::{at, corrected, day, dump, new_run, slot, store, user};
use crate::store::*;

fn observe(
    slot: &Slot,
    change: ObservedChange,
    class: Option<ChangeClass>,
    hour: u32,
) -> Observation {
    Observation {
        slot: slot.clone(),
        change,
        class,
        observed_at: at(hour),
    }
}

fn supply_correction(slot: &Slot, before: Option<LedgerState>, proc: &str) -> Correction {
    Correction {
        idempotency_key: format!("supply:{proc}:{}", slot.key()),
        slot_key: slot.key(),
        class: ChangeClass::SupplyApplied,
        before_observed: before.is_some(),
        before,
        after: slot.ledger_state(),
        process_instance_id: Some(proc.to_owned()),
        business_id: None,
        approved_at: None,
    }
}

/// A backfill's first batch: one plain slot, one slot first seen already corrected.
fn first_batch() -> (ApplyBatch, Slot, Slot) {
    let plain = slot("0126", day(3), 1);
    let fixed = corrected(slot("0126", day(3), 2), "proc-1");
    let batch = ApplyBatch {
        applied_at: at(3),
        observations: vec![
            observe(&plain, ObservedChange::New, Some(ChangeClass::Baseline), 3),
            observe(
                &fixed,
                ObservedChange::New,
                Some(ChangeClass::SupplyApplied),
                3,
            ),
        ],
        ledger_baseline: vec![(plain.key(), plain.ledger_state())],
        corrections: vec![supply_correction(&fixed, None, "proc-1")],
        findings: vec![FindingRow {
            class: ChangeClass::SupplyPending,
            slot_key: Some(plain.key()),
            user_id: Some(user("0126")),
            work_date: Some(day(3)),
            check_type: Some("OnDuty".into()),
            plan_id: Some(1),
            process_instance_id: Some("proc-2".into()),
            detail: "approved 补卡 proc-2 is not visible on its slot yet".into(),
        }],
        approval_resolutions: vec![
            (
                "proc-1".into(),
                ChangeClass::SupplyApplied,
                Some(fixed.key()),
            ),
            (
                "proc-2".into(),
                ChangeClass::SupplyPending,
                Some(plain.key()),
            ),
        ],
        sinks: vec!["webhook".into(), "file".into()],
        ..ApplyBatch::default()
    };
    (batch, plain, fixed)
}

#[test]
fn applying_the_same_batch_twice_equals_applying_it_once() {
    let mut store = store();
    let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
    let (batch, plain, fixed) = first_batch();

    let first = store.apply_batch(run_id, &batch).unwrap();
    let after_once = dump(&store);
    let second = store.apply_batch(run_id, &batch).unwrap();

    assert_eq!(
        first,
        ApplyOutcome {
            applied: 1,
            duplicates: 0
        }
    );
    assert_eq!(
        second,
        ApplyOutcome {
            applied: 0,
            duplicates: 1
        }
    );
    assert_eq!(dump(&store), after_once);
    let ledger = store.ledger_rows(&[plain.key(), fixed.key()]).unwrap();
    assert_eq!(ledger[&plain.key()].cause_class, ChangeClass::Baseline);
    assert_eq!(ledger[&fixed.key()].cause_class, ChangeClass::SupplyApplied);
    assert_eq!(
        ledger[&fixed.key()].cause_process_instance_id.as_deref(),
        Some("proc-1")
    );
    assert_eq!(ledger[&fixed.key()].state, fixed.ledger_state());
    assert_eq!(store.outbox_backlog().unwrap().values().sum::<u64>(), 2);
    assert_eq!(store.findings_for_run(run_id).unwrap().len(), 1);
}

#[test]
fn a_batch_failing_at_any_table_leaves_nothing_half_written() {
    // Every table a batch writes, in the order the batch writes them.
    let tables = [
        "slots",
        "ledger",
        "corrections",
        "outbox",
        "findings",
        "approval_resolutions",
    ];
    for table in tables {
        // Arrange: the first write to `table` fails.
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let (batch, _, fixed) = first_batch();
        store
            .conn
            .execute_batch(&format!(
                "CREATE TEMP TRIGGER injected BEFORE INSERT ON main.{table}
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
            ))
            .unwrap();
        let before = dump(&store);

        // Act.
        let err = store.apply_batch(run_id, &batch).unwrap_err();

        // Assert: nothing of the batch is visible; once the fault is gone it applies in full.
        assert!(matches!(err, Error::Sqlite { .. }), "{table}: {err}");
        assert_eq!(dump(&store), before, "{table}");
        store.conn.execute_batch("DROP TRIGGER injected").unwrap();
        let outcome = store.apply_batch(run_id, &batch).unwrap();
        assert_eq!(outcome.applied, 1, "{table}");
        let journal = store.corrections_for_run(run_id).unwrap();
        assert_eq!(journal[0].correction.slot_key, fixed.key(), "{table}");
    }
}

#[test]
fn a_history_write_failing_rolls_back_the_slot_change_with_it() {
    let mut store = store();
    let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
    let open = slot("u1", day(3), 1);
    let first = ApplyBatch {
        observations: vec![observe(
            &open,
            ObservedChange::New,
            Some(ChangeClass::Baseline),
            1,
        )],
        ..ApplyBatch::default()
    };
    store.apply_batch(run_id, &first).unwrap();
    store
        .conn
        .execute_batch(
            "CREATE TEMP TRIGGER injected BEFORE INSERT ON main.slot_history
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
    let before = dump(&store);
    let change = ApplyBatch {
        observations: vec![observe(
            &corrected(open, "p1"),
            ObservedChange::Changed,
            Some(ChangeClass::SupplyApplied),
            2,
        )],
        ..ApplyBatch::default()
    };

    assert!(store.apply_batch(run_id, &change).is_err());
    assert_eq!(dump(&store), before);
}

#[test]
fn a_rerun_after_a_crash_never_applies_a_journaled_correction_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let (batch, _, fixed) = first_batch();
    let first_run = {
        let mut store = Store::open(&path).unwrap();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        store.apply_batch(run_id, &batch).unwrap();
        run_id
        // Dropped without finishing the run: the process died here.
    };

    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.run(first_run).unwrap().unwrap().outcome, None);
    let rerun = store.begin_run(&new_run(day(1), day(7))).unwrap();
    let outcome = store.apply_batch(rerun, &batch).unwrap();

    assert_eq!(
        outcome,
        ApplyOutcome {
            applied: 0,
            duplicates: 1
        }
    );
    let journal = store.all_corrections().unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].run_id, first_run);
    assert_eq!(journal[0].check_type, Some(fixed.check_type.clone()));
    let ledger = store.ledger_rows(&[fixed.key()]).unwrap();
    assert_eq!(ledger[&fixed.key()].updated_run, first_run);
    assert_eq!(store.outbox_backlog().unwrap().values().sum::<u64>(), 2);
}

#[test]
fn history_records_changes_vanishing_and_reappearance_but_not_unchanged_observations() {
    let mut store = store();
    let run_1 = store.begin_run(&new_run(day(3), day(3))).unwrap();
    let open = slot("u1", day(3), 1);
    let signed = corrected(open.clone(), "proc-7");
    let apply = |store: &mut Store, run_id, observation| {
        let batch = ApplyBatch {
            observations: vec![observation],
            ..ApplyBatch::default()
        };
        store.apply_batch(run_id, &batch).unwrap();
    };

    apply(
        &mut store,
        run_1,
        observe(&open, ObservedChange::New, Some(ChangeClass::Baseline), 1),
    );
    let run_2 = store.begin_run(&new_run(day(3), day(3))).unwrap();
    apply(
        &mut store,
        run_2,
        observe(&open, ObservedChange::Unchanged, None, 2),
    );
    let run_3 = store.begin_run(&new_run(day(3), day(3))).unwrap();
    let change = observe(
        &signed,
        ObservedChange::Changed,
        Some(ChangeClass::SupplyApplied),
        3,
    );
    apply(&mut store, run_3, change.clone());
    apply(&mut store, run_3, change);
    let run_4 = store.begin_run(&new_run(day(3), day(3))).unwrap();
    apply(
        &mut store,
        run_4,
        observe(
            &signed,
            ObservedChange::Vanished,
            Some(ChangeClass::Vanished),
            4,
        ),
    );
    apply(
        &mut store,
        run_4,
        observe(
            &signed,
            ObservedChange::Vanished,
            Some(ChangeClass::Vanished),
            4,
        ),
    );
    let run_5 = store.begin_run(&new_run(day(3), day(3))).unwrap();
    apply(
        &mut store,
        run_5,
        observe(&signed, ObservedChange::Unchanged, None, 5),
    );

    let history = store.slot_history(&user("u1"), day(3)).unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|entry| {
            let result = |slot: &Option<Slot>| slot.as_ref().map(|slot| slot.time_result.clone());
            (
                entry.run_id,
                entry.change,
                result(&entry.before),
                result(&entry.after),
            )
        })
        .collect();
    let (not_signed, normal) = (Some(TimeResult::NotSigned), Some(TimeResult::Normal));
    assert_eq!(
        summary,
        vec![
            (run_1, HistoryChange::New, None, not_signed.clone()),
            (run_3, HistoryChange::Changed, not_signed, normal.clone()),
            (run_4, HistoryChange::Vanished, normal.clone(), None),
            (run_5, HistoryChange::New, normal.clone(), normal),
        ]
    );
    assert_eq!(history[0].class, Some(ChangeClass::Baseline));
    let stored = store.slots_for_user_day(&user("u1"), day(3)).unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].present);
    assert_eq!(
        (stored[0].first_seen_run, stored[0].last_seen_run),
        (run_1, run_5)
    );
    assert_eq!(stored[0].slot, signed);
}

#[test]
fn baseline_never_overwrites_and_late_results_update_without_journaling() {
    let mut store = store();
    let run_id = store.begin_run(&new_run(day(3), day(3))).unwrap();
    let (batch, plain, fixed) = first_batch();
    store.apply_batch(run_id, &batch).unwrap();

    let mut settled = plain.ledger_state();
    settled.time_result = TimeResult::Late;
    let later = ApplyBatch {
        ledger_baseline: vec![
            (plain.key(), settled.clone()),
            (fixed.key(), settled.clone()),
        ],
        ledger_updates_without_correction: vec![(
            fixed.key(),
            settled.clone(),
            ChangeClass::LateResult,
        )],
        ..ApplyBatch::default()
    };
    store.apply_batch(run_id, &later).unwrap();

    let ledger = store.ledger_rows(&[plain.key(), fixed.key()]).unwrap();
    assert_eq!(ledger[&plain.key()].state, plain.ledger_state());
    assert_eq!(ledger[&fixed.key()].state, settled);
    assert_eq!(ledger[&fixed.key()].cause_class, ChangeClass::LateResult);
    assert_eq!(
        ledger[&fixed.key()].last_correction_key.as_deref(),
        Some(batch.corrections[0].idempotency_key.as_str())
    );
    assert_eq!(store.all_corrections().unwrap().len(), 1);
    assert_eq!(
        store
            .ledger_for_user_day(&user("0126"), day(3))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_batch_observing_one_slot_twice_is_refused_before_anything_is_written() {
    let mut store = store();
    let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
    let open = slot("u1", day(3), 1);
    let before = dump(&store);
    let batch = ApplyBatch {
        observations: vec![
            observe(&open, ObservedChange::New, Some(ChangeClass::Baseline), 1),
            observe(
                &open,
                ObservedChange::Vanished,
                Some(ChangeClass::Vanished),
                1,
            ),
        ],
        ..ApplyBatch::default()
    };

    let err = store.apply_batch(run_id, &batch).unwrap_err();

    assert!(err.to_string().contains("observed more than once"), "{err}");
    assert_eq!(dump(&store), before);
}

#[test]
fn a_batch_for_an_unknown_run_is_refused_by_name() {
    let mut store = store();
    let (batch, _, _) = first_batch();
    let err = store.apply_batch(77, &batch).unwrap_err();
    assert!(matches!(err, Error::UnknownRun { run_id: 77 }), "{err}");
    assert!(store.all_corrections().unwrap().is_empty());
}

#[test]
fn snapshot_reads_filter_by_user_date_and_open_state() {
    let mut store = store();
    let run_id = store.begin_run(&new_run(day(1), day(30))).unwrap();
    let slots = [
        slot("u1", day(3), 1),
        corrected(slot("u1", day(4), 2), "proc-1"),
        slot("u10", day(3), 3),
        slot("u2", day(9), 4),
    ];
    let batch = ApplyBatch {
        observations: slots
            .iter()
            .map(|slot| observe(slot, ObservedChange::New, Some(ChangeClass::Baseline), 1))
            .collect(),
        ..ApplyBatch::default()
    };
    store.apply_batch(run_id, &batch).unwrap();

    let keys = |map: BTreeMap<SlotKey, StoredSlot>| map.into_keys().collect::<Vec<_>>();
    let u1 = store
        .snapshot_slots(Some(&[user("u1")]), day(1), day(30))
        .unwrap();
    assert_eq!(keys(u1), vec![slots[0].key(), slots[1].key()]);
    let everyone_on_the_3rd = store.snapshot_slots(None, day(3), day(3)).unwrap();
    assert_eq!(
        keys(everyone_on_the_3rd),
        vec![slots[0].key(), slots[2].key()]
    );
    let mut open: Vec<_> = store
        .open_slots(Some(day(5)))
        .unwrap()
        .into_iter()
        .map(|stored| stored.slot.key())
        .collect();
    open.sort();
    assert_eq!(open, vec![slots[0].key(), slots[2].key()]);
    assert_eq!(store.open_slots(None).unwrap().len(), 3);
}

/// SQLite's own work counters of the statements that write one row each, read and reset after
/// every batch: how often each ran, its virtual-machine steps, full-scan steps, automatic indexes
/// and sorts. They do not depend on the machine's speed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Work {
    runs: i32,
    vm_steps: i32,
    full_scan_steps: i32,
    auto_indexes: i32,
    sorts: i32,
}

fn work_since_last(store: &Store, sql: &str) -> Work {
    use rusqlite::StatementStatus;
    // The statement the batch used: the connection caches prepared statements by their text.
    let statement = store.conn.prepare_cached(sql).unwrap();
    Work {
        runs: statement.reset_status(StatementStatus::Run),
        vm_steps: statement.reset_status(StatementStatus::VmStep),
        full_scan_steps: statement.reset_status(StatementStatus::FullscanStep),
        auto_indexes: statement.reset_status(StatementStatus::AutoIndex),
        sorts: statement.reset_status(StatementStatus::Sort),
    }
}

/// Applies `batches` of `rows` observations each and asserts, batch by batch (so a scan fails
/// after the first batch rather than grinding through all of them), that each of `statements`
/// worked in bulk: one run per row of a statement prepared once (the cached one), found through
/// an index, with as many virtual-machine steps as in the first batch however full the table.
/// Returns, per batch, the work of each statement.
fn apply_in_bulk(
    store: &mut Store,
    run_id: i64,
    batches: Vec<ApplyBatch>,
    statements: &[&str],
    rows: i32,
) -> Vec<Vec<Work>> {
    for sql in statements {
        work_since_last(store, sql);
    }
    let mut per_batch: Vec<Vec<Work>> = Vec::new();
    for (batch_idx, batch) in batches.iter().enumerate() {
        store.apply_batch(run_id, batch).unwrap();
        let works: Vec<Work> = statements
            .iter()
            .map(|sql| work_since_last(store, sql))
            .collect();
        for (work, sql) in works.iter().zip(statements) {
            assert_eq!(
                (
                    work.runs,
                    work.full_scan_steps,
                    work.auto_indexes,
                    work.sorts
                ),
                (rows, 0, 0, 0),
                "batch {batch_idx}: one cached statement run per row, by index: {work:?} for {sql}"
            );
        }
        if let Some(first) = per_batch.first() {
            for ((work, first), sql) in works.iter().zip(first).zip(statements) {
                assert_eq!(
                    work.vm_steps, first.vm_steps,
                    "batch {batch_idx}: the same work per row into a fuller table as into an \
                     empty one, for {sql}"
                );
            }
        }
        per_batch.push(works);
    }
    per_batch
}

#[test]
fn a_hundred_thousand_observations_apply_in_bulk_with_the_same_work_per_row_at_any_size() {
    // Arrange: 100,000 slots of 2,500 users over 20 days, in batches of 1,000.
    let mut store = store();
    let run_id = store.begin_run(&new_run(day(1), day(30))).unwrap();
    let slots: Vec<Slot> = (0..100_000)
        .map(|idx| {
            slot(
                &format!("user{:05}", idx / 40),
                day(1 + (idx % 20) as u32),
                idx,
            )
        })
        .collect();
    let new_batches = slots
        .chunks(1_000)
        .map(|chunk| ApplyBatch {
            observations: chunk
                .iter()
                .map(|slot| observe(slot, ObservedChange::New, Some(ChangeClass::Baseline), 1))
                .collect(),
            ledger_baseline: chunk
                .iter()
                .map(|slot| (slot.key(), slot.ledger_state()))
                .collect(),
            ..ApplyBatch::default()
        })
        .collect();
    let unchanged_batches = slots
        .chunks(1_000)
        .map(|chunk| ApplyBatch {
            observations: chunk
                .iter()
                .map(|slot| observe(slot, ObservedChange::Unchanged, None, 2))
                .collect(),
            ..ApplyBatch::default()
        })
        .collect();
    // Act and assert, batch by batch, by SQLite's counters (not the clock, which a loaded machine
    // stretches): each row one run of a statement prepared once, found through an index, costing
    // as much in the last batch (99,000 rows stored) as in the first.
    let started = std::time::Instant::now();
    apply_in_bulk(
        &mut store,
        run_id,
        new_batches,
        &[super::INSERT_SLOT, super::INSERT_BASELINE],
        1_000,
    );
    let touched = apply_in_bulk(
        &mut store,
        run_id,
        unchanged_batches,
        &[super::TOUCH_SLOT],
        1_000,
    );
    eprintln!("200k observations applied in {:?}", started.elapsed());
    // Assert: every row written, none as history; the counters count.
    let count = |table: &str| -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap()
    };
    assert_eq!(
        (count("slots"), count("ledger"), count("slot_history")),
        (100_000, 100_000, 0)
    );
    assert!(
        touched.iter().all(|works| works[0].vm_steps > 0),
        "{:?}",
        touched[0]
    );
}

mod props;
