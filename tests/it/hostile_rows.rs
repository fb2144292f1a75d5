//! A hostile DingTalk (issue 10): answers that page forever, cursors that never end, and rows
//! outside the request, each answering 200 OK (metered) from the simulator's hostile mode. Each
//! test runs the same backfill or night against a twin simulator of the same seed, undisturbed,
//! and checks that the hostile answers cost at most their bound, are reported, make the run
//! partial, and put nothing into the snapshot or the journal (whose rows are what the sinks
//! get); once the fault is gone a rerun ends with the twin's journal.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use dingtalk_reconcile::domain::ChangeClass;
use dingtalk_reconcile::reconcile::{RunKind, RunOutcome, RunSummary};
use dingtalk_sim::{FaultKind, FaultRule, ForeignMode};

use crate::support::pipeline::Harness;
use crate::support::truth::{assert_journal_is_the_truth, journaled};
use crate::support::{SHANGHAI, date, fast_sim_config, night};

const RESULTS: &str = "/attendance/list";
const PUNCHES: &str = "/attendance/listRecord";
const INSTANCE_IDS: &str = "/v1.0/workflow/processes/instanceIds/query";
const EMPLOYEES: usize = 30;
const SEED: u64 = 23;

/// The pipeline against a simulator of this file's company.
async fn harness() -> Harness {
    Harness::new(fast_sim_config(SEED, EMPLOYEES)).await
}

impl Harness {
    /// Every slot, correction and ledger row the store holds could be an answer to a request:
    /// users of the simulated company, work dates in `from..=to` (the backfill's range and the
    /// days approvals and punches pointed at), ids not negative, check times within two days of
    /// the work date.
    #[track_caller]
    fn assert_nothing_foreign(&self, from: NaiveDate, to: NaiveDate) {
        let users: std::collections::BTreeSet<&str> = self
            .sim
            .world()
            .employees
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        let far = (date("1900-01-01"), date("2100-01-01"));
        let slots = self.store.snapshot_slots(None, far.0, far.1).unwrap();
        assert!(!slots.is_empty(), "the backfill stored slots");
        for stored in slots.values() {
            let slot = &stored.slot;
            let near = |time: DateTime<Utc>| {
                let day = time.with_timezone(&SHANGHAI).date_naive();
                (slot.work_date - Duration::days(1)..=slot.work_date + Duration::days(2))
                    .contains(&day)
            };
            assert!(
                users.contains(slot.user_id.as_str())
                    && (from..=to).contains(&slot.work_date)
                    && slot.plan_id.is_none_or(|id| id >= 0)
                    && slot.row_id.is_none_or(|id| id >= 0)
                    && near(slot.base_check_time)
                    && slot.user_check_time.is_none_or(near),
                "a foreign slot reached the snapshot: {slot:?}"
            );
        }
        let corrections = self.store.all_corrections().unwrap();
        let keys: Vec<_> = corrections
            .iter()
            .map(|stored| stored.correction.slot_key.clone())
            .collect();
        for stored in &corrections {
            let correction = &stored.correction;
            assert!(
                slots.contains_key(&correction.slot_key)
                    && correction
                        .after
                        .check_time
                        .is_none_or(|time| time.timestamp() > 0),
                "a foreign correction reached the journal: {correction:?}"
            );
        }
        let ledger = self.store.ledger_rows(&keys).unwrap();
        assert!(
            ledger.keys().all(|key| slots.contains_key(key)),
            "a foreign ledger row"
        );
    }
}

/// A fault on `path` for every call from now on.
fn always(path: &str, kind: FaultKind) -> FaultRule {
    let mut rule = FaultRule::new(Some(path), kind);
    rule.times = u32::MAX;
    rule
}

/// A backfill of two weeks, and the work dates its runs may read (targeted re-reads reach the
/// days approvals and punches point at, up to the night it runs).
fn backfill() -> (RunKind, NaiveDate, NaiveDate, DateTime<Utc>) {
    let kind = RunKind::Backfill {
        from: date("2026-10-05"),
        to: date("2026-10-18"),
        users: None,
    };
    let as_of = night(date("2026-11-12"));
    (kind, date("2026-09-01"), date("2026-11-12"), as_of)
}

#[track_caller]
fn assert_reported(summary: &RunSummary, needle: &str) {
    assert_eq!(
        summary.outcome,
        RunOutcome::Partial,
        "{:#?}",
        summary.errors
    );
    assert!(
        summary.errors.iter().any(|error| error.contains(needle)),
        "no error mentions {needle:?}: {:#?}",
        summary.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_has_more_costs_at_most_two_pages_a_batch_and_its_retry_and_starves_nothing_else() {
    // Arrange: twin worlds; in one, every results page says there is more and repeats the first.
    let (kind, _, _, as_of) = backfill();
    let mut twin = harness().await;
    let mut hostile = harness().await;
    hostile.sim.arm_faults(vec![always(
        RESULTS,
        FaultKind::EndlessPages { repeat: true },
    )]);
    // Act
    let undisturbed = twin.run(kind.clone(), as_of, None).await;
    let endless = hostile.run(kind, as_of, None).await;
    // Assert: each batch stops at its repeated second page, then once more on retry: at most
    // four calls a batch, where the undisturbed backfill makes at least one; the old code read
    // 1,000 pages a batch.
    assert_eq!(
        undisturbed.outcome,
        RunOutcome::Done,
        "{:?}",
        undisturbed.errors
    );
    let (spent, undisturbed_spent) = (hostile.calls(RESULTS), twin.calls(RESULTS));
    assert!(
        spent <= 2 * 2 * undisturbed_spent,
        "endless pages cost {spent} results calls, an undisturbed backfill {undisturbed_spent}"
    );
    assert!(
        endless.metered_calls <= 2 * undisturbed.metered_calls,
        "{} metered calls against {}",
        endless.metered_calls,
        undisturbed.metered_calls
    );
    eprintln!("endless pages: {spent} results calls; undisturbed: {undisturbed_spent}");
    assert_reported(&endless, "repeats rows already read");
    // Nothing else was starved: punches and approvals were read as in the undisturbed run.
    assert_eq!(hostile.calls(INSTANCE_IDS), twin.calls(INSTANCE_IDS));
    assert_eq!(hostile.calls(PUNCHES), twin.calls(PUNCHES));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_that_never_ends_fails_the_listing_after_a_few_pages_without_new_ids() {
    // Arrange
    let as_of = night(date("2026-10-20"));
    let mut twin = harness().await;
    let mut hostile = harness().await;
    hostile
        .sim
        .arm_faults(vec![always(INSTANCE_IDS, FaultKind::EndlessCursor)]);
    // Act
    let undisturbed = twin.run(RunKind::Nightly, as_of, None).await;
    let endless = hostile.run(RunKind::Nightly, as_of, None).await;
    // Assert: every window's pages, then three pages without a new id, once more on retry; the
    // old code followed the cursor for 600 pages a window.
    assert_eq!(
        undisturbed.outcome,
        RunOutcome::Done,
        "{:?}",
        undisturbed.errors
    );
    let (spent, undisturbed_spent) = (hostile.calls(INSTANCE_IDS), twin.calls(INSTANCE_IDS));
    assert!(undisturbed_spent > 0);
    assert!(
        spent <= 2 * 4 * undisturbed_spent,
        "an endless cursor cost {spent} listing calls, an undisturbed night {undisturbed_spent}"
    );
    eprintln!("endless cursor: {spent} listing calls; undisturbed: {undisturbed_spent}");
    assert_reported(&endless, "brought no new id");
    // Nothing else was starved: the night still read results and scanned punches.
    assert!(hostile.calls(RESULTS) > 0);
    assert_eq!(hostile.calls(PUNCHES), twin.calls(PUNCHES));
}

/// Rows outside the request in every results and punches answer of a backfill: rejected and
/// reported with their raw value, the run partial, nothing in the snapshot, journal or ledger;
/// once the fault is gone, the rerun ends with the undisturbed twin's journal.
async fn foreign_rows_are_rejected_and_the_rerun_catches_up(mode: ForeignMode, raw: &str) {
    // Arrange
    let (kind, from, to, as_of) = backfill();
    let mut twin = harness().await;
    let mut hostile = harness().await;
    let foreign = FaultKind::ForeignRows { mode };
    hostile.sim.arm_faults(vec![
        always(RESULTS, foreign.clone()),
        always(PUNCHES, foreign),
    ]);
    // Act
    let undisturbed = twin.run(kind.clone(), as_of, None).await;
    let attacked = hostile.run(kind.clone(), as_of, None).await;
    // Assert: rejected, reported with the raw row, nothing stored.
    assert_eq!(
        undisturbed.outcome,
        RunOutcome::Done,
        "{:?}",
        undisturbed.errors
    );
    assert_reported(&attacked, "rejected a row of /attendance/list");
    assert!(
        attacked.errors.iter().any(|error| error.contains(raw)),
        "the raw value {raw:?} is reported: {:#?}",
        attacked.errors
    );
    hostile.assert_nothing_foreign(from, to);
    // Act: the fault is gone; the rerun reads the same range again.
    hostile.sim.arm_faults(Vec::new());
    let rerun = hostile.run(kind, as_of + Duration::minutes(10), None).await;
    // Assert: the real corrections are all there, exactly once, as in the undisturbed twin.
    assert_eq!(rerun.outcome, RunOutcome::Done, "{:?}", rerun.errors);
    hostile.assert_nothing_foreign(from, to);
    let expected = journaled(&twin.store);
    assert!(!expected.is_empty(), "the backfill journals corrections");
    assert_journal_is_the_truth(&journaled(&hostile.store), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_users_not_asked_for_are_rejected_and_never_stored() {
    foreign_rows_are_rejected_and_the_rerun_catches_up(ForeignMode::User, "foreign-user-0001")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_work_dates_in_1913_are_rejected_and_never_stored() {
    foreign_rows_are_rejected_and_the_rerun_catches_up(ForeignMode::Date, "1913-01-01").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_with_impossible_check_times_are_rejected_and_never_applied() {
    foreign_rows_are_rejected_and_the_rerun_catches_up(ForeignMode::Time, "-28800000").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_with_negative_ids_are_rejected_and_never_stored() {
    foreign_rows_are_rejected_and_the_rerun_catches_up(ForeignMode::Number, "is not an id").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_filed_in_1913_is_rejected_and_never_stored() {
    // Arrange
    let as_of = night(date("2026-10-20"));
    let mut hostile = harness().await;
    hostile.sim.arm_faults(vec![always(
        "/v1.0/workflow/processInstances",
        FaultKind::ForeignRows {
            mode: ForeignMode::Date,
        },
    )]);
    // Act
    let attacked = hostile.run(RunKind::Nightly, as_of, None).await;
    // Assert
    assert_reported(&attacked, "createTime 1913-01-01");
    let ids: Vec<String> = hostile
        .sim
        .world()
        .instances
        .iter()
        .map(|instance| instance.id.clone())
        .collect();
    let stored = hostile.store.approvals(&ids).unwrap();
    assert!(
        stored.values().all(|stored| stored
            .approval
            .create_time
            .is_none_or(|created| created.timestamp() > 0)),
        "an approval of 1913 was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_empty_answer_for_days_that_had_slots_is_read_again_before_anything_vanishes() {
    // Arrange: the range read once, undisturbed.
    let (kind, _, _, as_of) = backfill();
    let mut harness = harness().await;
    let first = harness.run(kind.clone(), as_of, None).await;
    assert_eq!(first.outcome, RunOutcome::Done, "{:?}", first.errors);
    let present = |harness: &Harness| {
        let far = (date("1900-01-01"), date("2100-01-01"));
        let slots = harness.store.snapshot_slots(None, far.0, far.1).unwrap();
        slots.values().filter(|stored| stored.present).count()
    };
    let stored = present(&harness);
    // Act: one results answer comes back valid, final and empty.
    let mut once = FaultRule::new(Some(RESULTS), FaultKind::EmptyPages);
    once.times = 1;
    harness.sim.arm_faults(vec![once]);
    let glitch = harness
        .run(kind.clone(), as_of + Duration::minutes(10), None)
        .await;
    // Assert: the emptied days were read again and nothing vanished.
    assert_eq!(glitch.counts[&ChangeClass::Vanished], 0, "{glitch:?}");
    assert_eq!(present(&harness), stored);
    // Act: DingTalk keeps answering empty pages: two empty answers in a row are believed.
    harness
        .sim
        .arm_faults(vec![always(RESULTS, FaultKind::EmptyPages)]);
    let emptied = harness.run(kind, as_of + Duration::minutes(20), None).await;
    // Assert: reported as vanished (the policy reports, it does not apply).
    assert!(emptied.counts[&ChangeClass::Vanished] > 0, "{emptied:?}");
    assert_eq!(emptied.corrections_applied, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_is_retried_once_at_the_end_of_its_step_and_the_run_ends_done() {
    // Arrange: one week of 30 users is one results batch; its first four attempts (all the
    // transport's retries) answer 503.
    let kind = RunKind::Backfill {
        from: date("2026-10-05"),
        to: date("2026-10-11"),
        users: None,
    };
    let as_of = night(date("2026-11-12"));
    let mut twin = harness().await;
    let mut flaky = harness().await;
    let mut outage = FaultRule::new(Some(RESULTS), FaultKind::ServerError { status: 503 });
    outage.times = 4;
    flaky.sim.arm_faults(vec![outage]);
    // Act
    let undisturbed = twin.run(kind.clone(), as_of, None).await;
    let retried = flaky.run(kind, as_of, None).await;
    // Assert: the batch failed, was read again at the end of the sync, and the run is whole.
    assert!(flaky.sim.stats().calls[RESULTS] > twin.sim.stats().calls[RESULTS]);
    assert_eq!(retried.outcome, RunOutcome::Done, "{:#?}", retried.errors);
    assert_eq!(undisturbed.outcome, RunOutcome::Done);
    let expected = journaled(&twin.store);
    assert!(!expected.is_empty());
    assert_journal_is_the_truth(&journaled(&flaky.store), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn punches_of_users_not_asked_for_are_rejected_and_reported_with_their_raw_value() {
    // Arrange: a first night stores open slots; the second night scans them through punches,
    // and every punches answer carries one punch of a user nobody asked for.
    let mut twin = harness().await;
    let mut hostile = harness().await;
    let first = night(date("2026-10-20"));
    twin.run(RunKind::Nightly, first, None).await;
    hostile.run(RunKind::Nightly, first, None).await;
    hostile.sim.arm_faults(vec![always(
        PUNCHES,
        FaultKind::ForeignRows {
            mode: ForeignMode::User,
        },
    )]);
    // Act
    let second = first + Duration::days(1);
    let undisturbed = twin.run(RunKind::Nightly, second, None).await;
    let attacked = hostile.run(RunKind::Nightly, second, None).await;
    // Assert
    assert!(twin.calls(PUNCHES) > 0, "the second night scans punches");
    assert_eq!(
        undisturbed.outcome,
        RunOutcome::Done,
        "{:?}",
        undisturbed.errors
    );
    assert_reported(&attacked, "rejected a row of /attendance/listRecord");
    assert!(
        attacked
            .errors
            .iter()
            .any(|error| error.contains("\"userId\":\"foreign-user-0001\"")),
        "{:#?}",
        attacked.errors
    );
    // Act: the fault is gone.
    hostile.sim.arm_faults(Vec::new());
    let third = second + Duration::days(1);
    twin.run(RunKind::Nightly, third, None).await;
    let rerun = hostile.run(RunKind::Nightly, third, None).await;
    // Assert
    assert_eq!(rerun.outcome, RunOutcome::Done, "{:?}", rerun.errors);
    assert_journal_is_the_truth(&journaled(&hostile.store), &journaled(&twin.store));
}
