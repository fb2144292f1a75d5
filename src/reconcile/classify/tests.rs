//! Tests of `classify`: one table-style check per class, and properties over random inputs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::domain::{ApprovalResult, ApprovalStatus, LocationResult, UserId};
use crate::reconcile::diff::diff;
use crate::reconcile::matching::SlotIndex;
use crate::reconcile::test_helpers::{
    Point, SHANGHAI, WORK_DATES, approval_for, arb_slot, corrected, local, naive_match, slot,
    universe_slot,
};

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
    journaled: BTreeMap<String, BTreeSet<ChangeClass>>,
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
            journaled: BTreeMap::new(),
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
            journaled: &self.journaled,
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

/// The approved 补卡 `P1` of `missed()` and `R1`, the revocation DingTalk attached to it.
fn revoked(revocation_status: &str, revocation_result: Option<&str>) -> Vec<Approval> {
    let mut original = approval_for(&missed(), "P1", "COMPLETED", Some("agree"));
    original.links.attached = vec!["R1".into()];
    let mut revocation = approval_for(&missed(), "R1", revocation_status, revocation_result);
    revocation.biz_action = Some("REVOKE".into());
    revocation.links.main = Some("P1".into());
    revocation.finish_time = original.finish_time.map(|t| t + Duration::days(2));
    vec![original, revocation]
}

#[test]
fn a_revocation_resolves_with_the_revert_its_slot_shows() {
    let mut world = World::new(vec![corrected(&missed(), "P1")], vec![missed()]);
    world.approvals = revoked("COMPLETED", Some("agree"));
    let verdicts = world.run();
    assert_eq!(
        render(&verdicts),
        ["supply_reverted supply_reverted|u1|2026-11-02|plan:11|P1 correct observed anomaly"]
    );
    assert_eq!(verdicts[0].revoked_by.as_deref(), Some("R1"));
}

#[test]
fn a_revocation_dingtalk_does_not_show_yet_waits() {
    let shown = corrected(&missed(), "P1");
    let mut world = World::new(vec![shown.clone()], vec![shown]);
    world.approvals = revoked("COMPLETED", Some("agree"));
    let verdicts = world.run();
    assert_eq!(render(&verdicts), ["supply_pending supply_pending|R1 -"]);
    assert!(verdicts[0].hold, "judged again next run");
    assert!(verdicts[0].detail.contains("still shows"));
}

#[test]
fn a_supply_applied_and_revoked_between_two_reads_is_journaled_from_its_approvals() {
    let mut world = World::new(vec![missed()], vec![missed()]);
    world.approvals = revoked("COMPLETED", Some("agree"));
    let verdicts = world.run();
    assert_eq!(
        render(&verdicts),
        [
            "supply_applied supply_applied|u1|2026-11-02|plan:11|P1 correct unobserved",
            "supply_reverted supply_reverted|u1|2026-11-02|plan:11|P1 correct observed anomaly",
        ]
    );
    let LedgerAction::Correct(applied) = &verdicts[0].action else {
        panic!("a correction");
    };
    assert_eq!(applied.before, Some(missed().ledger_state()));
    assert_eq!(applied.after.time_result, TimeResult::Normal);
    assert_eq!(applied.after.process_instance_id.as_deref(), Some("P1"));
    let LedgerAction::Correct(reverted) = &verdicts[1].action else {
        panic!("a correction");
    };
    assert_eq!(reverted.before.as_ref(), Some(&applied.after));
    assert_eq!(reverted.after, missed().ledger_state());
    assert_eq!(verdicts[1].revoked_by.as_deref(), Some("R1"));
}

#[test]
fn a_revocation_whose_revert_is_journaled_already_resolves_quietly() {
    let mut world = World::new(vec![missed()], vec![missed()]);
    world.approvals = revoked("COMPLETED", Some("agree"));
    world.journaled.insert(
        "P1".into(),
        [ChangeClass::SupplyApplied, ChangeClass::SupplyReverted].into(),
    );
    let verdicts = world.run();
    assert_eq!(render(&verdicts), ["supply_reverted supply_reverted|R1 -"]);
    assert!(verdicts[0].quiet);
}

#[test]
fn a_refused_revocation_leaves_the_supply_standing() {
    let shown = corrected(&missed(), "P1");
    let mut world = World::new(vec![shown.clone()], vec![shown]);
    world.approvals = revoked("COMPLETED", Some("refuse"));
    let verdicts = world.run();
    assert_eq!(
        render(&verdicts),
        [
            "supply_applied supply_applied|u1|2026-11-02|plan:11|P1 correct unobserved",
            "supply_refused supply_refused|R1 -",
        ]
    );
    assert!(verdicts[1].detail.contains("the 补卡 stands"));
}

#[test]
fn a_revocation_never_corrects_a_slot_itself() {
    let mut shown = corrected(&missed(), "R1");
    shown.process_instance_id = None;
    let mut world = World::new(vec![missed()], vec![shown]);
    world.approvals = revoked("COMPLETED", Some("agree"))
        .into_iter()
        .filter(|approval| approval.process_instance_id == "R1")
        .collect();
    let verdicts = world.run();
    assert_eq!(
        render(&verdicts),
        [
            "supply_pending supply_pending|R1 -",
            "supply_pending supply_pending|u1|2026-11-02|plan:11 -",
        ],
        "the revocation waits, and so does the correction no 补卡 explains"
    );
    assert!(verdicts.iter().all(|verdict| verdict.hold));
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
    fn verdict_keys_depend_on_the_evidence_only_not_on_the_hour_or_the_order_rows_arrive_in(
        world in arb_world(),
        later_days in 1..40i64,
    ) {
        let keys = |verdicts: Vec<Verdict>| -> Vec<(String, ChangeClass)> {
            verdicts.into_iter().map(|v| (v.key, v.class)).collect()
        };
        let first = keys(world.run());
        let mut again = World::new(world.snapshot.clone(), world.fetched.iter().rev().cloned().collect());
        again.context = world.context.clone();
        again.approvals = world.approvals.iter().rev().cloned().collect();
        again.now = world.now + Duration::days(later_days);
        prop_assert_eq!(first, keys(again.run()));
    }
}

// ---------------------------------------------------------------------------------------------
// Correctness against a naive classifier written from PRODUCT.md section 4 and the module docs.

/// What DingTalk shows on a slot in the generated scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// NotSigned, produced by the system.
    Missed,
    /// The employee's own punch (`USER`), late or on time.
    Punched(bool),
    /// Corrected by an approval that it names (`procInstId` = `P<slot>` + the variant).
    Named(char),
    /// Corrected by an approval (`APPROVE`) without naming it.
    Unnamed,
    /// Edited by an administrator (`BOSS`).
    Boss,
}

/// A check point of the universe, numbered so that the ids of its approvals are unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Spot {
    user: usize,
    day: usize,
    point: usize,
    planned: bool,
}

impl Spot {
    fn number(self) -> usize {
        ((self.user * WORK_DATES.len() + self.day) * Point::ALL.len() + self.point) * 2
            + usize::from(self.planned)
    }

    fn id(self, variant: char) -> String {
        format!("P{}{variant}", self.number())
    }

    fn slot(self, shown: Shown) -> Slot {
        let mut slot = universe_slot(self.user, self.day, Point::ALL[self.point], self.planned);
        let signed = |slot: &mut Slot, result: TimeResult, source: SourceType| {
            slot.time_result = result;
            slot.location_result = LocationResult::Normal;
            slot.source_type = source;
            slot.user_check_time = Some(slot.base_check_time + Duration::minutes(3));
            slot.record_id = Some(self.number() as i64);
        };
        match shown {
            Shown::Missed => {}
            Shown::Punched(late) => {
                let result = if late {
                    TimeResult::Late
                } else {
                    TimeResult::Normal
                };
                signed(&mut slot, result, SourceType::User);
            }
            Shown::Named(variant) => {
                signed(&mut slot, TimeResult::Normal, SourceType::Approve);
                slot.process_instance_id = Some(self.id(variant));
            }
            Shown::Unnamed => signed(&mut slot, TimeResult::Normal, SourceType::Approve),
            Shown::Boss => signed(&mut slot, TimeResult::Normal, SourceType::Boss),
        }
        slot
    }
}

fn arb_spot() -> impl Strategy<Value = Spot> {
    // Two users and two days keep approvals and slots close enough to meet.
    (
        0..2usize,
        1..WORK_DATES.len(),
        0..Point::ALL.len(),
        any::<bool>(),
    )
        .prop_map(|(user, day, point, planned)| Spot {
            user,
            day,
            point,
            planned,
        })
}

fn arb_shown() -> impl Strategy<Value = Shown> {
    prop_oneof![
        Just(Shown::Missed),
        any::<bool>().prop_map(Shown::Punched),
        prop_oneof![Just('a'), Just('b')].prop_map(Shown::Named),
        Just(Shown::Unnamed),
        Just(Shown::Boss),
    ]
}

/// One check point's story: what the snapshot held, what this run fetched, whether the
/// snapshot's observation was made within the settle horizon, and whether the ledger remembers
/// an approval as the cause of its row.
#[derive(Debug, Clone)]
struct Story {
    spot: Spot,
    before: Option<Shown>,
    after: Option<Shown>,
    observed_early: bool,
    ledger_cause: Option<char>,
}

fn arb_story() -> impl Strategy<Value = Story> {
    (
        arb_spot(),
        proptest::option::weighted(0.7, arb_shown()),
        proptest::option::weighted(0.8, arb_shown()),
        any::<bool>(),
        proptest::option::weighted(0.2, prop_oneof![Just('a'), Just('b')]),
    )
        .prop_map(
            |(spot, before, after, observed_early, ledger_cause)| Story {
                spot,
                before,
                after,
                observed_early,
                ledger_cause,
            },
        )
}

/// An approval for a check point: its status, whether the form names the check point
/// (`extValue`) or only gives a time, a stranger as originator, and when it was decided.
fn arb_story_approval() -> impl Strategy<Value = Approval> {
    (
        arb_spot(),
        prop_oneof![Just('a'), Just('b')],
        prop_oneof![
            4 => Just(("COMPLETED", Some("agree"))),
            1 => Just(("COMPLETED", Some("refuse"))),
            1 => Just(("TERMINATED", None)),
            1 => Just(("RUNNING", None)),
        ],
        any::<bool>(),
        proptest::bool::weighted(0.1),
        prop_oneof![Just(20i64), Just(50)],
    )
        .prop_map(
            |(spot, variant, (status, result), with_ext, stranger, decided)| {
                let slot = spot.slot(Shown::Missed);
                let mut approval = approval_for(&slot, &spot.id(variant), status, result);
                if !with_ext {
                    approval.ext = None;
                }
                if stranger {
                    approval.originator = UserId::new("stranger").unwrap();
                }
                approval.finish_time = Some(slot.base_check_time + Duration::hours(decided));
                approval
            },
        )
}

fn arb_story_world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec(arb_story(), 1..7),
        proptest::collection::vec(arb_story_approval(), 0..5),
    )
        .prop_map(|(stories, approvals)| {
            let mut seen = BTreeSet::new();
            let stories: Vec<Story> = stories
                .into_iter()
                .filter(|story| seen.insert(story.spot))
                .collect();
            let snapshot = stories
                .iter()
                .filter_map(|story| Some(story.spot.slot(story.before?)))
                .collect();
            let fetched = stories
                .iter()
                .filter_map(|story| Some(story.spot.slot(story.after?)))
                .collect();
            let mut world = World::new(snapshot, fetched);
            for story in &stories {
                let slot = story.spot.slot(Shown::Missed);
                if let Some(context) = world.context.get_mut(&slot.key()) {
                    if story.observed_early {
                        context.observed_at = Some(slot.base_check_time + Duration::hours(2));
                    }
                    if let Some(variant) = story.ledger_cause {
                        context.corrected_by = Some(story.spot.id(variant));
                    }
                }
            }
            let mut ids = BTreeSet::new();
            world.approvals = approvals
                .into_iter()
                .filter(|a| ids.insert(a.process_instance_id.clone()))
                .collect();
            world
        })
}

/// The comparable part of a verdict: class, slot, approval, what it does to the ledger, hold.
type Outline = (
    ChangeClass,
    Option<SlotKey>,
    Option<String>,
    &'static str,
    bool,
);

fn outline(verdict: &Verdict) -> Outline {
    let action = match verdict.action {
        LedgerAction::None => "-",
        LedgerAction::Write(_) => "write",
        LedgerAction::Correct(_) => "correct",
    };
    (
        verdict.class,
        verdict.slot.clone(),
        verdict.process_instance_id.clone(),
        action,
        verdict.hold,
    )
}

/// The naive classifier. Section 4 read as rules, strongest evidence first:
/// - a slot DingTalk shows corrected and naming an approval (newly, or first seen so) is
///   `supply_applied` by that approval; shown corrected without a name, by the approval matched
///   to it (the strongest evidence, then the first decided), else `supply_pending` held for the
///   next run;
/// - a slot earlier corrected by an approval (its old row named one, or the ledger's cause is
///   one) that no longer shows a correction is `supply_reverted`, unless an administrator
///   changed it: any change to `BOSS` is `admin_edit` (default policy here: apply);
/// - an OffDuty result first observed within the settle horizon (24 h) of its scheduled time,
///   moving between non-approval, non-administrator states to an employee's punch, is
///   `late_result` (written, not a correction); any other change is `unexplained` (reported);
/// - a slot first observed is `baseline` (written), or `admin_edit` when already `BOSS`; a slot
///   missing from a complete day is `vanished` (reported);
/// - every finished approval not already credited by a change: refused, withdrawn, unmatched
///   (no slot by the matching rule), applied (its slot shows it) or pending (it does not).
fn naive_classify(world: &World) -> Vec<Outline> {
    let snapshot: BTreeMap<SlotKey, Slot> = world
        .snapshot
        .iter()
        .map(|s| (s.key(), s.clone()))
        .collect();
    let fetched: BTreeMap<SlotKey, Slot> =
        world.fetched.iter().map(|s| (s.key(), s.clone())).collect();
    let fetched_days: BTreeSet<_> = fetched
        .values()
        .map(|s| (s.user_id.clone(), s.work_date))
        .collect();
    let mut current = snapshot.clone();
    current.retain(|key, _| {
        fetched.contains_key(key) || !fetched_days.contains(&(key.user_id.clone(), key.work_date))
    });
    current.extend(fetched.clone());

    let named = |slot: &Slot| {
        (slot.source_type == SourceType::Approve)
            .then(|| slot.process_instance_id.clone())
            .flatten()
    };
    let shows = |slot: &Slot| {
        slot.source_type == SourceType::Approve && slot.time_result != TimeResult::NotSigned
    };
    let mut credited: BTreeMap<
        SlotKey,
        (crate::reconcile::matching::Evidence, DateTime<Utc>, String),
    > = BTreeMap::new();
    for approval in &world.approvals {
        if approval.status != ApprovalStatus::Completed
            || approval.result != Some(ApprovalResult::Agree)
        {
            continue;
        }
        if let Some((key, evidence)) = naive_match(&current, approval) {
            let rank = (
                evidence,
                approval.finish_time.unwrap(),
                approval.process_instance_id.clone(),
            );
            let entry = credited.entry(key).or_insert(rank.clone());
            if rank < *entry {
                *entry = rank;
            }
        }
    }
    let matched = |key: &SlotKey| credited.get(key).map(|(_, _, id)| id.clone());

    let mut out: Vec<Outline> = Vec::new();
    let mut explained = BTreeSet::new();
    let keys: BTreeSet<&SlotKey> = snapshot.keys().chain(fetched.keys()).collect();
    for key in keys {
        let slot = Some(key.clone());
        let context = world.context.get(key);
        let verdict = match (snapshot.get(key), fetched.get(key)) {
            (None, Some(after)) => {
                if let Some(id) = named(after) {
                    (ChangeClass::SupplyApplied, Some(id), "correct", false)
                } else if shows(after) {
                    match matched(key) {
                        Some(id) => (ChangeClass::SupplyApplied, Some(id), "correct", false),
                        None => (ChangeClass::SupplyPending, None, "-", true),
                    }
                } else if after.source_type == SourceType::Boss {
                    (ChangeClass::AdminEdit, None, "correct", false)
                } else {
                    (ChangeClass::Baseline, None, "write", false)
                }
            }
            (Some(before), Some(after)) => {
                let mut strip = (before.clone(), after.clone());
                strip.0.row_id = None;
                strip.1.row_id = None;
                if strip.0 == strip.1 {
                    continue;
                }
                let earlier = named(before).or(context.and_then(|c| c.corrected_by.clone()));
                let involved = |slot: &Slot| {
                    matches!(slot.source_type, SourceType::Approve | SourceType::Boss)
                };
                let observed_early = context
                    .and_then(|c| c.observed_at)
                    .is_some_and(|at| at < before.base_check_time + Duration::hours(24));
                if let Some(id) = named(after).filter(|id| named(before).as_ref() != Some(id)) {
                    (ChangeClass::SupplyApplied, Some(id), "correct", false)
                } else if shows(after) && named(after).is_none() && matched(key).is_none() {
                    (ChangeClass::SupplyPending, None, "-", true)
                } else if let Some(id) = matched(key).filter(|_| shows(after) && !shows(before)) {
                    (ChangeClass::SupplyApplied, Some(id), "correct", false)
                } else if after.source_type == SourceType::Boss {
                    (ChangeClass::AdminEdit, None, "correct", false)
                } else if let Some(id) = earlier.filter(|_| !shows(after)) {
                    (ChangeClass::SupplyReverted, Some(id), "correct", false)
                } else if after.check_type == CheckType::OffDuty
                    && !involved(before)
                    && !involved(after)
                    && matches!(after.source_type, SourceType::User | SourceType::Atm)
                    && observed_early
                {
                    (ChangeClass::LateResult, None, "write", false)
                } else {
                    (ChangeClass::Unexplained, None, "-", false)
                }
            }
            (Some(_), None) if fetched_days.contains(&(key.user_id.clone(), key.work_date)) => {
                (ChangeClass::Vanished, None, "-", false)
            }
            _ => continue,
        };
        let (class, id, action, hold) = verdict;
        if let Some(id) = &id {
            explained.insert(id.clone());
        }
        out.push((class, slot, id, action, hold));
    }
    for approval in &world.approvals {
        let id = approval.process_instance_id.clone();
        if explained.contains(&id) {
            continue;
        }
        let verdict = match (approval.status.as_str(), approval.result.as_ref()) {
            ("COMPLETED", Some(ApprovalResult::Refuse)) => (ChangeClass::SupplyRefused, None, "-"),
            ("TERMINATED" | "CANCELED", _) => (ChangeClass::SupplyWithdrawn, None, "-"),
            ("COMPLETED", Some(ApprovalResult::Agree)) => match naive_match(&current, approval) {
                None => (ChangeClass::SupplyUnmatched, None, "-"),
                Some((key, _)) => {
                    let slot = &current[&key];
                    let shown = match named(slot).filter(|name| !name.is_empty()) {
                        Some(name) => name == id,
                        None => shows(slot),
                    };
                    if shown {
                        (ChangeClass::SupplyApplied, Some(key), "correct")
                    } else {
                        (ChangeClass::SupplyPending, Some(key), "-")
                    }
                }
            },
            _ => continue,
        };
        let (class, slot, action) = verdict;
        out.push((class, slot, Some(id), action, false));
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn every_verdict_is_the_one_a_naive_classifier_gives(world in arb_story_world()) {
        let mut got: Vec<Outline> = world.run().iter().map(outline).collect();
        got.sort();
        prop_assert_eq!(got, naive_classify(&world));
    }
}

#[test]
fn the_scenario_generator_reaches_every_class() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = arb_story_world();
    let mut reached = BTreeSet::new();
    for _ in 0..384 {
        let world = strategy.new_tree(&mut runner).unwrap().current();
        reached.extend(naive_classify(&world).into_iter().map(|outline| outline.0));
    }
    let missing: Vec<ChangeClass> = ChangeClass::ALL
        .into_iter()
        .filter(|class| !reached.contains(class))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}
