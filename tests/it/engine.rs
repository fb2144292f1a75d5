//! Integration tests of the reconciliation engine against the simulator over real HTTP on
//! 127.0.0.1: a month of nightly runs ends with exactly the true corrections, under the default
//! and the pessimistic reading of DingTalk; reruns apply nothing; a backfill stopped by the quota
//! and resumed ends identical to an uninterrupted one; a month's metered calls are the
//! simulator's (`RECONCILE_MEASURE=1` also measures and prints 200 and 2,000 employees).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use dingtalk_reconcile::dingtalk::Scope;
use dingtalk_reconcile::domain::{ChangeClass, UserId};
use dingtalk_reconcile::reconcile::{RunKind, RunOutcome, RunSummary, explain};
use dingtalk_sim::{FaultKind, FaultRule, SimConfig, Switches};

use crate::support::pipeline::Harness;
use crate::support::truth::{Key, assert_journal_is_the_truth as assert_same, journaled};
use crate::support::{date, fast_sim_config, night};

fn sim_config(seed: u64, employees: usize, switches: Switches) -> SimConfig {
    let mut config = fast_sim_config(seed, employees);
    config.switches = switches;
    config
}

impl Harness {
    /// Nightly runs from the night of `first` to the night of `last`, inclusive.
    async fn nights(&mut self, first: NaiveDate, last: NaiveDate) -> Vec<RunSummary> {
        let mut summaries = Vec::new();
        for day in first.iter_days().take_while(|day| *day <= last) {
            summaries.push(self.run(RunKind::Nightly, night(day), None).await);
        }
        summaries
    }

    /// The store's corrections in the truth's terms.
    fn corrections(&self) -> Vec<Key> {
        journaled(&self.store)
    }

    fn truth(&self, as_of: DateTime<Utc>) -> Vec<Key> {
        let mut out: Vec<Key> = self.sim.truth(as_of).into_iter().map(Key::from).collect();
        out.sort();
        out
    }
}

fn class_totals(summaries: &[RunSummary]) -> BTreeMap<ChangeClass, u64> {
    let mut totals = BTreeMap::new();
    for summary in summaries {
        for (class, n) in &summary.counts {
            *totals.entry(*class).or_default() += n;
        }
    }
    totals
}

/// The month of October 2026 plus the nights until every decision, correction and revert of it
/// has happened (filing lag ≤ 30 days, decision ≤ 3 days, revert ≤ 6 days).
const FIRST_NIGHT: &str = "2026-10-02";
const LAST_NIGHT: &str = "2026-11-12";

async fn month_of_nights(switches: Switches, seed: u64) {
    // Arrange: every employee in scope but a few, whose 补卡 therefore match no slot.
    let mut harness = Harness::new(sim_config(seed, 70, switches)).await;
    let everyone: Vec<String> = harness
        .sim
        .world()
        .employees
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let outside: BTreeSet<String> = everyone.iter().rev().take(6).cloned().collect();
    let scope = everyone
        .iter()
        .filter(|id| !outside.contains(*id))
        .map(|id| UserId::new(id.clone()).unwrap());
    harness.settings.scope = Scope::Users(scope.collect());
    // Act
    let summaries = harness.nights(date(FIRST_NIGHT), date(LAST_NIGHT)).await;
    // Assert
    let as_of = night(date(LAST_NIGHT));
    let truth: Vec<Key> = harness
        .truth(as_of)
        .into_iter()
        .filter(|k| !outside.contains(&k.user_id))
        .collect();
    assert_same(&harness.corrections(), &truth);
    let totals = class_totals(&summaries);
    for class in ChangeClass::ALL {
        assert!(
            totals[&class] > 0,
            "class {class} never appeared: {totals:?}"
        );
    }
    assert!(
        summaries.iter().all(|s| s.outcome == RunOutcome::Done),
        "{:?}",
        summaries
            .iter()
            .map(|s| (&s.errors, &s.deferred))
            .find(|(e, d)| !e.is_empty() || !d.is_empty())
    );
    let again = harness
        .run(RunKind::Nightly, as_of + Duration::minutes(5), None)
        .await;
    assert_eq!(
        again.corrections_applied, 0,
        "a rerun with nothing new applies nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_nightly_runs_applies_exactly_the_true_corrections() {
    month_of_nights(Switches::default(), 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_nightly_runs_applies_exactly_the_true_corrections_under_the_pessimistic_reading()
 {
    month_of_nights(Switches::pessimistic(), 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_stopped_by_the_quota_and_resumed_ends_identical_to_an_uninterrupted_one() {
    // Arrange: two identical worlds.
    let as_of = night(date("2026-11-12"));
    let kind = RunKind::Backfill {
        from: date("2026-10-01"),
        to: date("2026-10-31"),
        users: None,
    };
    let mut whole = Harness::new(sim_config(11, 40, Switches::default())).await;
    let mut broken = Harness::new(sim_config(11, 40, Switches::default())).await;
    // Act: one uninterrupted backfill; one that DingTalk stops with 90020 partway, then resumed
    // by a new process.
    let done = whole.run(kind.clone(), as_of, None).await;
    let mut quota = FaultRule::new(Some("/attendance/list"), FaultKind::QuotaExhausted);
    quota.skip = 5;
    quota.times = 1_000;
    broken.sim.arm_faults(vec![quota]);
    let stopped = broken.run(kind.clone(), as_of, None).await;
    broken.sim.arm_faults(Vec::new());
    // A 90020 blocks the rest of the quota month (`reconcile::blocked`); this one was a fault
    // of the simulator's, not the month's quota spent: forget it, as the next month would.
    assert!(broken.store.lift_quota_exhaustion("2026-11").unwrap());
    broken.restart_client();
    let resumed = broken.run(kind, as_of, None).await;
    // Assert
    assert_eq!(done.outcome, RunOutcome::Done, "{:?}", done.errors);
    assert_eq!(stopped.outcome, RunOutcome::Partial);
    assert!(
        !stopped.deferred.is_empty(),
        "what was not fetched is listed as deferred"
    );
    assert_eq!(resumed.outcome, RunOutcome::Done, "{:?}", resumed.errors);
    assert_same(&broken.corrections(), &whole.corrections());
    let visible = visible_to_a_backfill(&whole, whole.truth(as_of), as_of);
    assert_same(&whole.corrections(), &visible);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refiled_refusal_a_withdrawal_and_an_admin_edit_each_end_right() {
    use dingtalk_sim::{Cause, Outcome};
    // Arrange
    let mut harness = Harness::new(sim_config(7, 70, Switches::default())).await;
    let world = harness.sim.world().clone();
    let slot_of = |user: usize, day: usize, slot: usize| {
        let employee = &world.employees[user];
        let day = employee.days[day].as_ref().unwrap();
        (employee.id.clone(), day.work_date, day.slots[slot].plan_id)
    };
    let end_ms = night(date(LAST_NIGHT)).timestamp_millis();
    let refused = world.instances.iter().find(|r| {
        r.outcome == Outcome::Refuse
            && world.instances.iter().any(|a| {
                (a.user, a.day, a.slot) == (r.user, r.day, r.slot)
                    && a.outcome == Outcome::Agree
                    && a.reverted_ms.is_none()
                    && a.applied_ms.is_some_and(|at| at < end_ms)
            })
    });
    let refused = refused.expect("the world has a refused 补卡 filed again");
    let refiled = world
        .instances
        .iter()
        .find(|a| {
            (a.user, a.day, a.slot) == (refused.user, refused.day, refused.slot)
                && a.outcome == Outcome::Agree
        })
        .unwrap();
    let withdrawn = world
        .instances
        .iter()
        .find(|w| w.outcome == Outcome::Withdrawn && w.decided_ms < end_ms)
        .expect("a withdrawal");
    let (edit_user, edit_date, edit_plan) = world
        .employees
        .iter()
        .flat_map(|e| e.days.iter().flatten().map(move |d| (e, d)))
        .flat_map(|(e, d)| d.slots.iter().map(move |s| (e, d, s)))
        .find(|(_, _, s)| s.timeline.iter().any(|c| c.cause == Cause::AdminEdit))
        .map(|(e, d, s)| (e.id.clone(), d.work_date, s.plan_id))
        .expect("an admin edit");
    // Act
    harness.nights(date(FIRST_NIGHT), date(LAST_NIGHT)).await;
    // Assert
    let resolution = |id: &str| {
        let stored = harness.store.approvals(&[id.to_owned()]).unwrap();
        stored.get(id).and_then(|s| s.resolution)
    };
    assert_eq!(resolution(&refused.id), Some(ChangeClass::SupplyRefused));
    assert_eq!(resolution(&refiled.id), Some(ChangeClass::SupplyApplied));
    assert_eq!(
        resolution(&withdrawn.id),
        Some(ChangeClass::SupplyWithdrawn)
    );
    let corrections = harness.corrections();
    let (user, work_date, plan) = slot_of(refused.user, refused.day, refused.slot);
    let on_slot: Vec<&Key> = corrections
        .iter()
        .filter(|k| k.user_id == user && k.work_date == work_date && k.plan_id == Some(plan))
        .collect();
    assert_eq!(on_slot.len(), 1, "{on_slot:?}");
    assert_eq!(
        on_slot[0].process_instance_id.as_deref(),
        Some(refiled.id.as_str())
    );
    assert!(
        !corrections
            .iter()
            .any(|k| k.process_instance_id.as_deref() == Some(withdrawn.id.as_str()))
    );
    assert!(corrections.iter().any(|k| {
        k.user_id == edit_user
            && k.work_date == edit_date
            && k.plan_id == Some(edit_plan)
            && k.class == "admin_edit"
    }));
    let explanation = explain(
        &harness.store,
        &UserId::new(user.clone()).unwrap(),
        work_date,
    )
    .unwrap();
    assert!(
        explanation
            .approvals
            .iter()
            .any(|a| a.approval.process_instance_id == refiled.id)
    );
    assert_eq!(explanation.corrections.len(), 1);
    assert!(!explanation.slots.is_empty() && !explanation.ledger.is_empty());
}

/// The truth a backfill at `as_of` can see, from the world alone: all of it. A 补卡 whose
/// correction was applied and reverted by then leaves no trace in `attendance/list` (the slot is
/// back to NotSigned), but the revocation DingTalk attached to it names it, so both its
/// `supply_applied` and its `supply_reverted` are journaled from the approvals; none of them may
/// be reported as approved but not visible (`supply_pending`).
fn visible_to_a_backfill(harness: &Harness, truth: Vec<Key>, as_of: DateTime<Utc>) -> Vec<Key> {
    let world = harness.sim.world();
    let gone: BTreeSet<String> = world
        .instances
        .iter()
        .filter(|i| {
            i.reverted_ms
                .is_some_and(|at| at <= as_of.timestamp_millis())
        })
        .map(|i| i.id.clone())
        .collect();
    assert!(
        !gone.is_empty(),
        "the month has a revert before the backfill"
    );
    let pending: BTreeSet<String> = harness
        .store
        .findings_between(date("2026-01-01"), date("2027-01-01"))
        .unwrap()
        .into_iter()
        .filter(|f| f.finding.class == ChangeClass::SupplyPending)
        .filter_map(|f| f.finding.process_instance_id)
        .collect();
    let gone_in_range: BTreeSet<&String> = truth
        .iter()
        .filter_map(|k| k.process_instance_id.as_ref())
        .filter(|id| gone.contains(*id))
        .collect();
    assert!(
        !gone_in_range.is_empty(),
        "a 补卡 of the range applied and reverted before the backfill"
    );
    for id in &gone_in_range {
        assert!(
            !pending.contains(*id),
            "approval {id} applied and reverted unseen is reported pending, not as its revocation says"
        );
    }
    truth
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_capped_by_max_calls_never_exceeds_the_cap_and_defers_the_rest() {
    let mut harness = Harness::new(sim_config(12, 60, Switches::default())).await;
    let kind = RunKind::Backfill {
        from: date("2026-10-01"),
        to: date("2026-10-31"),
        users: None,
    };
    let capped = harness.run(kind, night(date("2026-11-12")), Some(10)).await;
    assert!(capped.metered_calls <= 10, "spent {}", capped.metered_calls);
    assert_eq!(capped.outcome, RunOutcome::Partial);
    assert!(
        capped.deferred.iter().any(|line| line.item == "results"),
        "{:?}",
        capped.deferred
    );
}

/// One simulated month of nightly runs with the benchmark rates: everything applied is true, every
/// true correction of the month is applied (the harness reads every night up to date), and the
/// metered calls the runs report are those the simulator metered. Always on 50 employees;
/// `RECONCILE_MEASURE=1` also measures and prints 200 and 2,000 employees, a list such as
/// `500,1000` those sizes; `RECONCILE_MEASURE_BUDGET=N` runs them under a monthly budget of N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_a_month_of_true_corrections_metered_as_the_simulator_meters() {
    measure_one_month(50, None, false).await;
    let sizes: Vec<usize> = match std::env::var("RECONCILE_MEASURE").as_deref() {
        Err(_) => return,
        Ok("1") | Ok("") => vec![200, 2_000],
        Ok(list) => list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
    };
    let budget: Option<u64> = std::env::var("RECONCILE_MEASURE_BUDGET")
        .ok()
        .and_then(|raw| raw.parse().ok());
    for employees in sizes {
        measure_one_month(employees, budget, true).await;
    }
}

async fn measure_one_month(employees: usize, budget: Option<u64>, print: bool) {
    let mut config = sim_config(21, employees, Switches::default());
    config.rates = dingtalk_sim::Rates::benchmark();
    let mut harness = Harness::new(config).await;
    if let Some(budget) = budget {
        harness.settings.monthly_budget = budget;
    }
    let summaries = harness.nights(date("2026-10-02"), date("2026-10-31")).await;
    let metered: u64 = summaries.iter().map(|s| s.metered_calls).sum();
    let as_of = night(date("2026-10-31"));
    let truth = harness.truth(as_of);
    let store = harness.corrections();
    let found = store.iter().filter(|k| truth.contains(k)).count();
    let stats = harness.sim.stats();
    if print {
        let usage = harness.store.month_usage("2026-10").unwrap();
        eprintln!(
            "{employees} employees, October calls by endpoint: {:?}",
            usage.by_endpoint
        );
        eprintln!(
            "{employees} employees: {metered} metered calls in October ({:.2} per employee-month); corrections {found}/{} of truth, {} in store",
            metered as f64 / employees as f64,
            truth.len(),
            store.len()
        );
    }
    // Whatever the budget allowed, nothing applied may be false.
    assert_eq!(found, store.len(), "corrections outside the truth");
    assert!(!truth.is_empty(), "the month has corrections");
    if budget.is_none() {
        assert_same(&store, &truth);
    }
    assert_eq!(
        metered, stats.metered,
        "the runs' metered calls are the simulator's"
    );
    assert!(
        metered <= budget.unwrap_or(u64::MAX),
        "the budget was exceeded"
    );
}
