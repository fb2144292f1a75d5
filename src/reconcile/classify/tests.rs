//! Tests of `classify`: one table-style check per class, and properties over random inputs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::domain::UserId;
use crate::reconcile::diff::diff;
use crate::reconcile::matching::SlotIndex;
use crate::reconcile::test_helpers::{SHANGHAI, approval_for, arb_slot, corrected, local, slot};

fn policy(admin_edit: PolicyAction) -> Policy {
    Policy {
        admin_edit,
        unexplained: PolicyAction::Report,
        vanished: PolicyAction::Report,
        pending_anomaly_days: 3,
    }
}

/// A small world: what the snapshot held, what this run fetched, the ledger, the approvals.
#[derive(Debug)]
struct World {
    snapshot: Vec<Slot>,
    fetched: Vec<Slot>,
    context: BTreeMap<SlotKey, SlotContext>,
    approvals: Vec<Approval>,
    policy: Policy,
    now: DateTime<Utc>,
}

impl World {
    fn new(snapshot: Vec<Slot>, fetched: Vec<Slot>) -> World {
        let context = snapshot
            .iter()
            .map(|s| {
                let context = SlotContext {
                    ledger: Some(s.ledger_state()),
                    observed_at: Some(s.base_check_time + Duration::days(2)),
                    corrected_by: approval_correction(s).map(str::to_owned),
                };
                (s.key(), context)
            })
            .collect();
        World {
            snapshot,
            fetched,
            context,
            approvals: Vec::new(),
            policy: policy(PolicyAction::Apply),
            now: local("2026-11-20 02:10"),
        }
    }

    fn run(&self) -> Vec<Verdict> {
        let snapshot: BTreeMap<SlotKey, Slot> =
            self.snapshot.iter().map(|s| (s.key(), s.clone())).collect();
        let days = self
            .fetched
            .iter()
            .map(|s| (s.user_id.clone(), s.work_date))
            .collect();
        let changes = diff(&snapshot, &self.fetched, &days);
        let mut current = snapshot.clone();
        for change in &changes {
            match change {
                SlotChange::New(s) | SlotChange::Unchanged(s) => {
                    current.insert(s.key(), s.clone());
                }
                SlotChange::Changed { after, .. } => {
                    current.insert(after.key(), after.clone());
                }
                SlotChange::Vanished(s) => {
                    current.remove(&s.key());
                }
            }
        }
        let index = SlotIndex::new(&current);
        let approvals: BTreeMap<String, Approval> = self
            .approvals
            .iter()
            .map(|a| (a.process_instance_id.clone(), a.clone()))
            .collect();
        let unresolved: BTreeSet<String> = approvals.keys().cloned().collect();
        classify(&ClassifyInput {
            changes: &changes,
            context: &self.context,
            slots: &index,
            approvals: &approvals,
            unresolved_approvals: &unresolved,
            now: self.now,
            tz: SHANGHAI,
            policy: &self.policy,
            settle: Duration::hours(24),
        })
    }
}

/// One line per verdict: `class key [correct|write|-] [observed]`.
fn render(verdicts: &[Verdict]) -> Vec<String> {
    verdicts
        .iter()
        .map(|v| {
            let action = match &v.action {
                LedgerAction::None => "-".to_owned(),
                LedgerAction::Write(_) => "write".to_owned(),
                LedgerAction::Correct(c) => {
                    let observed = if c.before_observed {
                        "observed"
                    } else {
                        "unobserved"
                    };
                    format!("correct {observed}")
                }
            };
            let anomaly = if v.anomaly { " anomaly" } else { "" };
            format!("{} {} {action}{anomaly}", v.class, v.key)
        })
        .collect()
}

#[track_caller]
fn check(world: &World, expected: &[&str]) {
    assert_eq!(render(&world.run()), expected);
}

fn missed() -> Slot {
    slot("u1", "2026-11-02", 11, "OnDuty", "NotSigned")
}

#[test]
fn a_slot_seen_for_the_first_time_is_a_baseline() {
    check(
        &World::new(vec![], vec![missed()]),
        &["baseline baseline|u1|2026-11-02|plan:11 write"],
    );
}

#[test]
fn a_slot_first_seen_already_corrected_is_a_supply_applied_not_observed_before() {
    check(
        &World::new(vec![], vec![corrected(&missed(), "P1")]),
        &["supply_applied supply_applied|u1|2026-11-02|plan:11|P1 correct unobserved"],
    );
}

#[test]
fn a_slot_dingtalk_shows_corrected_is_a_correction_even_without_the_approval_detail() {
    let verdicts = World::new(vec![missed()], vec![corrected(&missed(), "P1")]).run();
    assert_eq!(
        render(&verdicts),
        ["supply_applied supply_applied|u1|2026-11-02|plan:11|P1 correct observed"]
    );
    let LedgerAction::Correct(correction) = &verdicts[0].action else {
        panic!("no correction")
    };
    assert_eq!(correction.before, Some(missed().ledger_state()));
    assert_eq!(correction.process_instance_id.as_deref(), Some("P1"));
    assert_eq!(correction.business_id, None);
}

#[test]
fn a_known_approval_enriches_its_correction_and_gets_no_second_verdict() {
    let mut world = World::new(vec![missed()], vec![corrected(&missed(), "P1")]);
    world.approvals = vec![approval_for(&missed(), "P1", "COMPLETED", Some("agree"))];
    let verdicts = world.run();
    assert_eq!(verdicts.len(), 1);
    let LedgerAction::Correct(correction) = &verdicts[0].action else {
        panic!("no correction")
    };
    assert_eq!(correction.business_id.as_deref(), Some("B-P1"));
    assert!(correction.approved_at.is_some());
}

#[test]
fn a_correction_without_an_instance_id_is_matched_through_the_approval_fields() {
    let mut shown = corrected(&missed(), "P1");
    shown.process_instance_id = None;
    let mut world = World::new(vec![missed()], vec![shown]);
    world.approvals = vec![approval_for(&missed(), "P1", "COMPLETED", Some("agree"))];
    check(
        &world,
        &["supply_applied supply_applied|u1|2026-11-02|plan:11|P1 correct observed"],
    );
}

#[test]
fn a_correction_without_an_instance_id_or_a_known_approval_is_held_for_the_next_run() {
    let mut shown = corrected(&missed(), "P1");
    shown.process_instance_id = None;
    let verdicts = World::new(vec![missed()], vec![shown]).run();
    assert_eq!(
        render(&verdicts),
        ["supply_pending supply_pending|u1|2026-11-02|plan:11 -"]
    );
    assert!(verdicts[0].hold);
}

#[test]
fn a_slot_no_longer_showing_its_approved_correction_is_reverted() {
    check(
        &World::new(vec![corrected(&missed(), "P1")], vec![missed()]),
        &["supply_reverted supply_reverted|u1|2026-11-02|plan:11|P1 correct observed anomaly"],
    );
}

#[test]
fn an_administrator_edit_is_applied_or_reported_as_the_policy_says() {
    let mut edited = missed();
    edited.time_result = TimeResult::Normal;
    edited.source_type = SourceType::Boss;
    let hash = state_hash(&edited.ledger_state());
    let mut world = World::new(vec![missed()], vec![edited]);
    check(
        &world,
        &[&format!(
            "admin_edit admin_edit|u1|2026-11-02|plan:11|{hash} correct observed"
        )],
    );
    world.policy = policy(PolicyAction::Report);
    check(
        &world,
        &[&format!(
            "admin_edit admin_edit|u1|2026-11-02|plan:11|{hash} -"
        )],
    );
}

#[test]
fn an_off_duty_result_observed_before_it_settled_is_a_late_result() {
    let provisional = slot("u1", "2026-11-02", 12, "OffDuty", "NotSigned");
    let settled = slot("u1", "2026-11-02", 12, "OffDuty", "Normal");
    let hash = state_hash(&settled.ledger_state());
    let mut world = World::new(vec![provisional.clone()], vec![settled]);
    world
        .context
        .get_mut(&provisional.key())
        .unwrap()
        .observed_at = Some(provisional.base_check_time + Duration::hours(8));
    check(
        &world,
        &[&format!(
            "late_result late_result|u1|2026-11-02|plan:12|{hash} write"
        )],
    );
}

#[test]
fn a_change_nobody_explains_is_reported_as_unexplained() {
    let settled = slot("u1", "2026-11-02", 11, "OnDuty", "Late");
    let hash = state_hash(&settled.ledger_state());
    check(
        &World::new(vec![missed()], vec![settled]),
        &[&format!(
            "unexplained unexplained|u1|2026-11-02|plan:11|{hash} - anomaly"
        )],
    );
}

#[test]
fn a_slot_missing_from_a_complete_day_is_vanished() {
    let other = slot("u1", "2026-11-02", 12, "OffDuty", "Normal");
    let hash = state_hash(&missed().ledger_state());
    check(
        &World::new(vec![missed(), other.clone()], vec![other]),
        &[&format!(
            "vanished vanished|u1|2026-11-02|plan:11|{hash} - anomaly"
        )],
    );
}

#[test]
fn finished_approvals_get_refused_withdrawn_unmatched_or_pending() {
    let mut stranger = approval_for(&missed(), "P4", "COMPLETED", Some("agree"));
    stranger.originator = UserId::new("u9").unwrap();
    let mut world = World::new(vec![missed()], vec![missed()]);
    world.approvals = vec![
        approval_for(&missed(), "P1", "COMPLETED", Some("refuse")),
        approval_for(&missed(), "P2", "TERMINATED", None),
        approval_for(&missed(), "P3", "COMPLETED", Some("agree")),
        stranger,
        approval_for(&missed(), "P5", "RUNNING", None),
    ];
    check(
        &world,
        &[
            "supply_pending supply_pending|P3 - anomaly",
            "supply_refused supply_refused|P1 -",
            "supply_unmatched supply_unmatched|P4 - anomaly",
            "supply_withdrawn supply_withdrawn|P2 -",
        ],
    );
    world.now = local("2026-11-05 02:10");
    assert_eq!(
        render(&world.run())[0],
        "supply_pending supply_pending|P3 -"
    );
}

#[test]
fn an_approval_whose_slot_already_shows_it_is_applied_with_the_same_key() {
    let shown = corrected(&missed(), "P1");
    let mut world = World::new(vec![shown.clone()], vec![shown]);
    world.approvals = vec![approval_for(&missed(), "P1", "COMPLETED", Some("agree"))];
    check(
        &world,
        &["supply_applied supply_applied|u1|2026-11-02|plan:11|P1 correct unobserved"],
    );
}

#[test]
fn nothing_new_yields_no_verdict() {
    let slots = vec![
        missed(),
        corrected(&slot("u1", "2026-11-03", 21, "OnDuty", "NotSigned"), "P1"),
    ];
    check(&World::new(slots.clone(), slots), &[]);
}

fn arb_world() -> impl Strategy<Value = World> {
    fn fetched_slot() -> impl Strategy<Value = Slot> {
        (arb_slot(), 0..4u8).prop_map(|(base, shape)| match shape {
            0 => {
                let process_instance_id = format!("P-{}", base.key());
                corrected(&base, &process_instance_id)
            }
            _ => base,
        })
    }
    let approval = (arb_slot(), 0..4u8, any::<bool>()).prop_map(|(base, status, own)| {
        let process_instance_id = if own {
            format!("P-{}", base.key())
        } else {
            format!("Q-{}", base.key())
        };
        match status {
            0 => approval_for(&base, &process_instance_id, "COMPLETED", Some("agree")),
            1 => approval_for(&base, &process_instance_id, "COMPLETED", Some("refuse")),
            2 => approval_for(&base, &process_instance_id, "TERMINATED", None),
            _ => approval_for(&base, &process_instance_id, "RUNNING", None),
        }
    });
    (
        proptest::collection::vec(fetched_slot(), 0..10),
        proptest::collection::vec(fetched_slot(), 0..10),
        proptest::collection::vec(approval, 0..6),
    )
        .prop_map(|(snapshot, fetched, approvals)| {
            let mut world = World::new(snapshot, fetched);
            let mut seen = BTreeSet::new();
            world.approvals = approvals
                .into_iter()
                .filter(|a| seen.insert(a.process_instance_id.clone()))
                .collect();
            world
        })
}

proptest! {
    #[test]
    fn classification_is_total_every_change_and_finished_approval_gets_exactly_one_class(world in arb_world()) {
        let verdicts = world.run();
        let keys: BTreeSet<&str> = verdicts.iter().map(|v| v.key.as_str()).collect();
        prop_assert_eq!(keys.len(), verdicts.len(), "verdict keys are unique");
        let snapshot: BTreeMap<SlotKey, Slot> = world.snapshot.iter().map(|s| (s.key(), s.clone())).collect();
        let days = world.fetched.iter().map(|s| (s.user_id.clone(), s.work_date)).collect();
        for change in diff(&snapshot, &world.fetched, &days).iter().filter(|c| c.is_change()) {
            let classes: BTreeSet<ChangeClass> = verdicts
                .iter()
                .filter(|v| v.from_change && v.slot.as_ref() == Some(&change.key()))
                .map(|v| v.class)
                .collect();
            prop_assert_eq!(classes.len(), 1, "change {:?}", change);
        }
        for approval in world.approvals.iter().filter(|a| a.is_finished()) {
            let classes: BTreeSet<ChangeClass> = verdicts
                .iter()
                .filter(|v| v.process_instance_id.as_deref() == Some(approval.process_instance_id.as_str()))
                .map(|v| v.class)
                .collect();
            prop_assert_eq!(classes.len(), 1, "approval {}", approval.process_instance_id);
        }
        for approval in world.approvals.iter().filter(|a| !a.is_finished()) {
            prop_assert!(!verdicts.iter().any(|v| v.process_instance_id.as_deref() == Some(approval.process_instance_id.as_str()) && v.slot.is_none()));
        }
    }

    #[test]
    fn classifying_the_same_world_twice_gives_the_same_verdicts(world in arb_world()) {
        prop_assert_eq!(world.run(), world.run());
    }
}
