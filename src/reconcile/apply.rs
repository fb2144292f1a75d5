//! Turning verdicts into store batches and applying them (PRODUCT.md section 3, step 7).
//!
//! Each batch covers whole users: a slot's observation travels with the verdicts about it, so a
//! crash between batches can never record a change in the snapshot while losing its correction
//! (a rerun would then see the slot unchanged). The store journals corrections under their
//! idempotency keys, so applying a batch twice equals once. Held verdicts (a correction DingTalk
//! shows without naming its approval) leave the snapshot untouched so the next run sees the
//! change again. This module decides no class; `classify` did.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::{ChangeClass, Slot, SlotKey, UserId};
use crate::store::{ApplyBatch, ApplyOutcome, FindingRow, Observation, ObservedChange, Store};

use super::classify::{LedgerAction, Verdict};
use super::diff::SlotChange;

/// Users per store transaction.
pub const USERS_PER_BATCH: usize = 200;

/// What applying all batches did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub corrections_applied: u64,
    pub(crate) duplicates: u64,
    pub batches: u64,
}

/// Everything about one user that must be written together.
#[derive(Default)]
struct UserPart<'a> {
    changes: Vec<&'a SlotChange>,
    verdicts: Vec<&'a Verdict>,
}

/// Applies the run's changes and verdicts in batches of whole users.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
pub fn apply_all(
    store: &mut Store,
    run_id: i64,
    at: DateTime<Utc>,
    changes: &[SlotChange],
    verdicts: &[Verdict],
    current: &BTreeMap<SlotKey, Slot>,
    sinks: &[String],
    users_per_batch: usize,
) -> Result<Applied, crate::store::Error> {
    let mut by_user: BTreeMap<Option<UserId>, UserPart<'_>> = BTreeMap::new();
    for change in changes {
        by_user
            .entry(Some(change.key().user_id))
            .or_default()
            .changes
            .push(change);
    }
    for verdict in verdicts {
        let user = verdict.slot.as_ref().map(|key| key.user_id.clone());
        by_user.entry(user).or_default().verdicts.push(verdict);
    }
    let parts: Vec<UserPart<'_>> = by_user.into_values().collect();
    let mut applied = Applied::default();
    for chunk in parts.chunks(users_per_batch.max(1)) {
        let batch = build_batch(at, chunk, current, sinks);
        let outcome: ApplyOutcome = store.apply_batch(run_id, &batch)?;
        applied.corrections_applied += outcome.applied;
        applied.duplicates += outcome.duplicates;
        applied.batches += 1;
    }
    Ok(applied)
}

fn build_batch(
    at: DateTime<Utc>,
    parts: &[UserPart<'_>],
    current: &BTreeMap<SlotKey, Slot>,
    sinks: &[String],
) -> ApplyBatch {
    let mut batch = ApplyBatch {
        applied_at: at,
        sinks: sinks.to_vec(),
        ..ApplyBatch::default()
    };
    for part in parts {
        let mut class_of: BTreeMap<SlotKey, ChangeClass> = BTreeMap::new();
        let mut held: Vec<SlotKey> = Vec::new();
        // A vanished slot is no longer current: its finding names it from its last state.
        let vanished: BTreeMap<SlotKey, &Slot> = part
            .changes
            .iter()
            .filter_map(|change| match change {
                SlotChange::Vanished(slot) => Some((slot.key(), slot)),
                _ => None,
            })
            .collect();
        for verdict in &part.verdicts {
            if let (true, Some(key)) = (verdict.from_change, &verdict.slot) {
                class_of.insert(key.clone(), verdict.class);
                if verdict.hold {
                    held.push(key.clone());
                }
            }
            add_verdict(&mut batch, verdict, current, &vanished);
        }
        for change in &part.changes {
            let key = change.key();
            if held.contains(&key) {
                continue;
            }
            let (slot, observed) = match change {
                SlotChange::New(slot) => (slot, ObservedChange::New),
                SlotChange::Unchanged(slot) => (slot, ObservedChange::Unchanged),
                SlotChange::Changed { after, .. } => (after, ObservedChange::Changed),
                SlotChange::Vanished(slot) => (slot, ObservedChange::Vanished),
            };
            batch.observations.push(Observation {
                slot: slot.clone(),
                change: observed,
                class: class_of.get(&key).copied(),
                observed_at: at,
            });
        }
    }
    batch
}

fn add_verdict(
    batch: &mut ApplyBatch,
    verdict: &Verdict,
    current: &BTreeMap<SlotKey, Slot>,
    vanished: &BTreeMap<SlotKey, &Slot>,
) {
    match &verdict.action {
        LedgerAction::None => {}
        LedgerAction::Write(state) => {
            if let Some(key) = &verdict.slot {
                if verdict.class == ChangeClass::Baseline {
                    batch.ledger_baseline.push((key.clone(), state.clone()));
                } else {
                    batch.ledger_updates_without_correction.push((
                        key.clone(),
                        state.clone(),
                        verdict.class,
                    ));
                }
            }
        }
        LedgerAction::Correct(correction) => batch.corrections.push(correction.clone()),
    }
    if !verdict.hold {
        for process_instance_id in verdict
            .process_instance_id
            .iter()
            .chain(verdict.revoked_by.iter())
        {
            batch.approval_resolutions.push((
                process_instance_id.clone(),
                verdict.class,
                verdict.slot.clone(),
            ));
        }
    }
    if needs_finding(verdict) {
        let slot = verdict
            .slot
            .as_ref()
            .and_then(|key| current.get(key).or_else(|| vanished.get(key).copied()));
        batch.findings.push(FindingRow {
            class: verdict.class,
            slot_key: verdict.slot.clone(),
            user_id: verdict.slot.as_ref().map(|key| key.user_id.clone()),
            work_date: verdict.slot.as_ref().map(|key| key.work_date),
            check_type: slot.map(|slot| slot.check_type.to_string()),
            plan_id: slot.and_then(|slot| slot.plan_id),
            process_instance_id: verdict.process_instance_id.clone(),
            detail: verdict.detail.clone(),
        });
    }
}

/// Report items: everything that is not a plain baseline or a settled result and that did not
/// journal a correction (corrections are reported from the journal), plus every anomaly.
fn needs_finding(verdict: &Verdict) -> bool {
    if verdict.quiet {
        return false;
    }
    if verdict.anomaly {
        return true;
    }
    !matches!(
        verdict.class,
        ChangeClass::Baseline | ChangeClass::LateResult
    ) && matches!(verdict.action, LedgerAction::None)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::Duration;

    use super::*;
    use crate::domain::{Policy, PolicyAction};
    use crate::reconcile::classify::{ClassifyInput, classify};
    use crate::reconcile::diff::diff;
    use crate::reconcile::matching::SlotIndex;
    use crate::reconcile::test_helpers::{SHANGHAI, local, slot};

    #[test]
    fn a_vanished_check_points_finding_names_its_check_type() {
        let gone = [
            slot("u1", "2026-11-02", 11, "OnDuty", "Normal"),
            slot("u1", "2026-11-02", 12, "OffDuty", "Normal"),
        ];
        let snapshot: BTreeMap<SlotKey, Slot> = gone.iter().map(|s| (s.key(), s.clone())).collect();
        let complete: BTreeSet<(UserId, chrono::NaiveDate)> =
            [(gone[0].user_id.clone(), gone[0].work_date)].into();
        let changes = diff(&snapshot, &[], &complete);
        let current = BTreeMap::new();
        let policy = Policy {
            admin_edit: PolicyAction::Apply,
            unexplained: PolicyAction::Report,
            vanished: PolicyAction::Report,
            pending_anomaly_days: 3,
        };
        let verdicts = classify(&ClassifyInput {
            changes: &changes,
            context: &BTreeMap::new(),
            slots: &SlotIndex::new(&current),
            approvals: &BTreeMap::new(),
            unresolved_approvals: &BTreeSet::new(),
            now: local("2026-11-05 02:10"),
            tz: SHANGHAI,
            policy: &policy,
            settle: Duration::hours(24),
            journaled: &BTreeMap::new(),
        });
        let part = UserPart {
            changes: changes.iter().collect(),
            verdicts: verdicts.iter().collect(),
        };
        let batch = build_batch(local("2026-11-05 02:10"), &[part], &current, &[]);
        let named: Vec<(ChangeClass, Option<String>)> = batch
            .findings
            .iter()
            .map(|finding| (finding.class, finding.check_type.clone()))
            .collect();
        assert_eq!(
            named,
            [
                (ChangeClass::Vanished, Some("OnDuty".to_owned())),
                (ChangeClass::Vanished, Some("OffDuty".to_owned())),
            ],
            "two vanished check points of one day are told apart"
        );
    }
}
