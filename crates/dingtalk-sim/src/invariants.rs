//! Property tests of the generated world's invariants (small sizes, many seeds and rates).
//! Test-only: nothing here runs in the product.

use std::collections::HashSet;

use chrono::DateTime;
use proptest::prelude::*;

use super::config::{Rates, SimConfig};
use super::generate::generate;
use super::truth::truth;
use super::world::{Cause, HOUR_MS, MINUTE_MS, Outcome, SETTLE_WITHIN_MS, Source, TimeRes, World};

/// Rates high enough that every kind of event happens in a tiny world.
fn busy_rates() -> Rates {
    Rates {
        missed_punch: 0.3,
        filed: 0.9,
        refused: 0.25,
        withdrawn: 0.15,
        refiled_after_refusal: 0.6,
        admin_edit: 0.1,
        late: 0.2,
        early: 0.2,
        provisional_off_duty: 0.3,
        night_shift: 0.3,
        revert: 0.3,
        unexplained: 0.1,
        vanish: 0.1,
        max_filing_lag_days: 10,
        department_move: 0.2,
        never_shown: 0.0,
    }
}

#[test]
fn a_supply_never_shown_is_agreed_and_corrects_nothing() {
    let mut config = SimConfig::new(5, 40);
    config.days = 20;
    config.rates = busy_rates();
    config.rates.never_shown = 1.0;
    let world = crate::generate::generate(&config);
    let agreed: Vec<&crate::world::Instance> = world
        .instances
        .iter()
        .filter(|inst| inst.outcome == crate::world::Outcome::Agree && inst.main.is_none())
        .collect();
    assert!(!agreed.is_empty());
    assert!(agreed.iter().all(|inst| inst.applied_ms.is_none()));
    let supplies = world
        .employees
        .iter()
        .flat_map(|e| e.days.iter().flatten())
        .flat_map(|day| &day.slots)
        .flat_map(|slot| &slot.timeline)
        .filter(|change| matches!(change.cause, crate::world::Cause::Supply(_)))
        .count();
    assert_eq!(supplies, 0, "no slot shows an agreed 补卡");
}

fn world(seed: u64, employees: usize, days: u32, busy: bool) -> World {
    let mut config = SimConfig::new(seed, employees);
    config.days = days;
    if busy {
        config.rates = busy_rates();
    }
    generate(&config)
}

fn slots(world: &World) -> impl Iterator<Item = (usize, usize, usize, &super::world::Slot)> {
    world.employees.iter().enumerate().flat_map(|(u, e)| {
        e.days.iter().enumerate().flat_map(move |(d, day)| {
            day.iter().flat_map(move |day| {
                day.slots
                    .iter()
                    .enumerate()
                    .map(move |(s, slot)| (u, d, s, slot))
            })
        })
    })
}

fn check_invariants(world: &World) {
    for (u, d, s, slot) in slots(world) {
        assert!(
            slot.plan_id > 1 << 32,
            "plan id {} must exceed 2^32",
            slot.plan_id
        );
        assert!(!slot.timeline.is_empty());
        assert!(
            slot.timeline.windows(2).all(|w| w[0].at < w[1].at),
            "timeline sorted"
        );
        assert!(
            slot.timeline[0].at >= slot.base_ms,
            "invisible before its base check time"
        );
        for change in &slot.timeline {
            let state = change.state;
            if state.time_result == TimeRes::NotSigned {
                assert_eq!(state.record_id, None, "a NotSigned row never has a punch");
                assert_eq!(state.check_ms, slot.base_ms);
                assert_eq!(state.source, Source::System);
            }
            match (state.source, change.cause) {
                (Source::Approve, Cause::Supply(i)) => {
                    let inst = &world.instances[i as usize];
                    assert_eq!(
                        inst.outcome,
                        Outcome::Agree,
                        "a corrected slot has an agreed 补卡"
                    );
                    assert_eq!((inst.user, inst.day, inst.slot), (u, d, s));
                    assert_eq!(inst.applied_ms, Some(change.at));
                    assert!(inst.decided_ms < change.at);
                    assert_eq!(state.supply, Some(i));
                }
                (Source::Boss, Cause::AdminEdit) => {}
                (Source::Approve | Source::Boss, cause) => {
                    panic!("corrected row without a 补卡 or admin edit behind it: {cause:?}")
                }
                (_, Cause::Settled) => {
                    assert!(
                        change.at <= slot.base_ms + SETTLE_WITHIN_MS,
                        "settles within 12 h"
                    )
                }
                _ => {}
            }
        }
    }
}

/// Every revoked 补卡 has exactly one attached revoke instance, and only they do: appended after
/// every 补卡, agreed before the revert shows, on the same slot, correcting nothing.
fn check_revoke_instances(world: &World) {
    let filed = world
        .instances
        .iter()
        .take_while(|i| !i.is_revoke())
        .count();
    let revokes = &world.instances[filed..];
    assert!(
        revokes.iter().all(|r| r.is_revoke()),
        "revoke instances come after every 补卡"
    );
    let reverted = world.instances[..filed]
        .iter()
        .filter(|i| i.reverted_ms.is_some())
        .count();
    assert_eq!(
        revokes.len(),
        reverted,
        "one revoke instance per revoked 补卡"
    );
    for (i, inst) in world.instances[..filed].iter().enumerate() {
        assert_eq!(inst.biz_action, "NONE");
        let Some(at) = inst.reverted_ms else {
            assert_eq!(inst.attached, None, "only a revoked 补卡 has an attachment");
            continue;
        };
        let a = inst.attached.expect("a revoked 补卡 names its revoke") as usize;
        assert!(a >= filed);
        let revoke = &world.instances[a];
        assert_eq!(revoke.main, Some(i as u32));
        assert_eq!(revoke.biz_action, "REVOKE");
        assert_eq!(revoke.outcome, Outcome::Agree);
        assert_eq!(
            (revoke.applied_ms, revoke.reverted_ms, revoke.attached),
            (None, None, None)
        );
        assert_eq!(
            (revoke.template, revoke.user, revoke.day, revoke.slot),
            (inst.template, inst.user, inst.day, inst.slot)
        );
        assert_eq!(
            (revoke.corrected_ms, revoke.approver, revoke.photo),
            (inst.corrected_ms, inst.approver, inst.photo)
        );
        assert!(
            inst.applied_ms
                .is_some_and(|applied| applied < revoke.created_ms)
        );
        assert!(
            (2 * HOUR_MS..=8 * HOUR_MS).contains(&(at - revoke.created_ms)),
            "created 2 to 8 hours before the revert"
        );
        assert!(
            (5 * MINUTE_MS..=110 * MINUTE_MS).contains(&(at - revoke.decided_ms)),
            "agreed 5 to 110 minutes before the revert"
        );
    }
    for (_, _, _, slot) in slots(world) {
        for change in &slot.timeline {
            if let Cause::Supply(i) | Cause::Revert(i) = change.cause {
                assert!(
                    !world.instances[i as usize].is_revoke(),
                    "a revoke corrects nothing"
                );
            }
        }
        assert!(
            slot.punches
                .iter()
                .filter_map(|p| p.supply)
                .all(|i| !world.instances[i as usize].is_revoke()),
            "a revoke has no punch"
        );
    }
    for (template, list) in world.by_template.iter().enumerate() {
        assert!(
            list.iter()
                .all(|&i| world.instances[i as usize].template == template)
        );
        assert!(
            list.windows(2).all(|w| {
                let (a, b) = (
                    &world.instances[w[0] as usize],
                    &world.instances[w[1] as usize],
                );
                (a.created_ms, &a.id) < (b.created_ms, &b.id)
            }),
            "by_template in (createTime, id) order"
        );
    }
    let indexed: usize = world.by_template.iter().map(Vec::len).sum();
    assert_eq!(indexed, world.instances.len());
}

fn check_ids_unique(world: &World) {
    let mut users = HashSet::new();
    assert!(
        world.employees.iter().all(|e| users.insert(e.id.as_str())),
        "user ids unique"
    );
    let (mut plans, mut rows, mut records) = (HashSet::new(), HashSet::new(), HashSet::new());
    for (_, _, _, slot) in slots(world) {
        assert!(
            plans.insert(slot.plan_id),
            "plan id {} unique",
            slot.plan_id
        );
        assert!(rows.insert(slot.row_id), "row id {} unique", slot.row_id);
        for punch in &slot.punches {
            assert!(
                records.insert(punch.record_id),
                "record id {} unique",
                punch.record_id
            );
        }
    }
    let mut ids = HashSet::new();
    let mut business = HashSet::new();
    for inst in &world.instances {
        assert!(
            ids.insert(inst.id.as_str()),
            "instance id {} unique",
            inst.id
        );
        assert!(
            business.insert(inst.business_id.as_str()),
            "business id unique"
        );
        assert!(inst.created_ms < inst.decided_ms);
    }
}

fn check_truth_respects_time(world: &World, at: i64) {
    let as_of = DateTime::from_timestamp_millis(at).unwrap();
    let now = truth(world, as_of);
    for correction in &now {
        if let Some(id) = &correction.process_instance_id {
            let inst = world.instance(id).expect("truth names a real instance");
            assert!(
                inst.decided_ms <= at,
                "truth at t only holds decisions made by t"
            );
        }
    }
    let later = truth(world, as_of + chrono::Duration::days(3));
    let later: HashSet<_> = later.into_iter().collect();
    assert!(
        now.iter().all(|c| later.contains(c)),
        "truth only grows with time"
    );
}

#[test]
fn the_same_seed_gives_the_same_world() {
    let a = world(7, 30, 14, true);
    let b = world(7, 30, 14, true);
    assert_eq!(a.employees, b.employees);
    assert_eq!(a.instances, b.instances);
    let c = world(8, 30, 14, true);
    assert_ne!(a.instances, c.instances);
}

#[test]
fn a_default_month_holds_every_kind_of_event() {
    let world = world(1, 200, 31, false);
    let causes: Vec<Cause> = slots(&world)
        .flat_map(|(_, _, _, s)| s.timeline.iter().map(|c| c.cause))
        .collect();
    assert!(causes.iter().any(|c| matches!(c, Cause::Supply(_))));
    assert!(causes.iter().any(|c| matches!(c, Cause::Revert(_))));
    assert!(causes.contains(&Cause::AdminEdit));
    assert!(causes.contains(&Cause::Settled));
    assert!(causes.contains(&Cause::Unexplained));
    assert!(
        world
            .employees
            .iter()
            .flat_map(|e| e.days.iter().flatten())
            .any(|d| d.vanish_at.is_some())
    );
    assert!(world.instances.iter().any(|i| i.outcome == Outcome::Refuse));
    assert!(
        world
            .instances
            .iter()
            .any(|i| i.outcome == Outcome::Withdrawn)
    );
    assert!(world.employees.iter().any(|e| e.night));
    assert!(world.employees.iter().any(|e| e.departments.len() > 1));
    check_invariants(&world);
    check_revoke_instances(&world);
    check_ids_unique(&world);
    assert!(world.instances.iter().any(|i| i.is_revoke()));
}

#[test]
fn the_benchmark_month_has_no_reverts_unexplained_changes_or_vanished_days() {
    let mut config = SimConfig::new(3, 300);
    config.rates = Rates::benchmark();
    let world = generate(&config);
    for (_, _, _, slot) in slots(&world) {
        for change in &slot.timeline {
            assert!(!matches!(
                change.cause,
                Cause::Revert(_) | Cause::Unexplained
            ));
        }
    }
    assert!(
        world
            .employees
            .iter()
            .flat_map(|e| e.days.iter().flatten())
            .all(|d| d.vanish_at.is_none())
    );
    let missed = slots(&world)
        .filter(|(_, _, _, s)| s.timeline[0].state.time_result == TimeRes::NotSigned)
        .count();
    let total = slots(&world).count();
    let share = missed as f64 / total as f64;
    assert!(
        (0.025..0.045).contains(&share),
        "about 3.5% NotSigned (missed + admin edits), got {share}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn generated_worlds_keep_their_invariants(
        seed in any::<u64>(),
        employees in 1usize..40,
        days in 1u32..20,
        busy in any::<bool>(),
        probe_hours in 0i64..(40 * 24),
    ) {
        let world = world(seed, employees, days, busy);
        check_invariants(&world);
        check_revoke_instances(&world);
        check_ids_unique(&world);
        let at = super::world::local_ms(world.config.from, 0, 0) + probe_hours * 3_600_000;
        check_truth_respects_time(&world, at);
    }
}

/// FNV-1a over the 补卡 (not revoke) instances' ids, business ids, times and outcomes: what the
/// world held before revoke instances existed.
fn supply_fingerprint(world: &World) -> (usize, u64) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let mut count = 0;
    for inst in world.instances.iter().filter(|i| i.biz_action == "NONE") {
        count += 1;
        eat(inst.id.as_bytes());
        eat(inst.business_id.as_bytes());
        for n in [
            inst.created_ms,
            inst.decided_ms,
            inst.applied_ms.unwrap_or(-1),
            inst.reverted_ms.unwrap_or(-1),
            inst.corrected_ms,
            inst.task_id,
            inst.outcome as i64,
        ] {
            eat(&n.to_le_bytes());
        }
    }
    (count, h)
}

/// The fingerprints were taken from the generator before revoke instances existed: appending
/// them changes no 补卡, and the benchmark month (no reverts) has none.
#[test]
fn revoke_instances_leave_every_supply_as_it_was() {
    let mut bench = SimConfig::new(3, 300);
    bench.rates = Rates::benchmark();
    let bench = generate(&bench);
    assert!(
        bench
            .instances
            .iter()
            .all(|i| !i.is_revoke() && i.attached.is_none())
    );
    assert_eq!(supply_fingerprint(&bench), (320, 4_528_632_139_641_129_806));
    let default = generate(&SimConfig::new(1, 200));
    assert_eq!(
        supply_fingerprint(&default),
        (254, 15_191_325_515_397_419_969)
    );
    let revokes = default.instances.iter().filter(|i| i.is_revoke()).count();
    assert!(revokes > 0);
    assert_eq!(default.instances.len(), 254 + revokes);
    check_revoke_instances(&default);
}
