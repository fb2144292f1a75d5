//! Classification: every change of a slot and every finished approval gets exactly one class of
//! PRODUCT.md section 4, and a verdict on what to do with the ledger.
//!
//! Evidence first: a slot DingTalk shows corrected with a `procInstId` (`sourceType APPROVE`) is
//! a `supply_applied` correction by itself, even before the approval's detail is known; the
//! detail only enriches it. Matching through the approval's own fields is needed only where a
//! slot carries no `procInstId`. Idempotency keys are derived from the evidence alone, so a rerun
//! over the same data yields the same keys and the store journals nothing twice.
//!
//! Pure: values in, verdicts out. It does not write the ledger (that is `apply`) and does not
//! decide which approvals are unresolved (the caller passes them).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::domain::{
    Approval, ChangeClass, CheckType, Correction, LedgerState, Policy, PolicyAction, Slot, SlotKey,
    SourceType, TimeResult,
};

use super::diff::SlotChange;
use super::matching::{Evidence, SlotIndex};

/// What the store knows about a slot besides its last observed state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotContext {
    /// The ledger row as this job last told it; `None` when there is none yet.
    pub(crate) ledger: Option<LedgerState>,
    /// When the snapshot's observation of the slot was made.
    pub(crate) observed_at: Option<DateTime<Utc>>,
    /// The approval whose correction the ledger row carries now, if its last cause was one.
    pub(crate) corrected_by: Option<String>,
}

/// Everything classification looks at.
#[derive(Debug)]
pub struct ClassifyInput<'a> {
    /// The diff of this run (unchanged slots included; they get no verdict).
    pub changes: &'a [SlotChange],
    pub context: &'a BTreeMap<SlotKey, SlotContext>,
    /// The current view of every slot: the snapshot overlaid with this run's fetch.
    pub slots: &'a SlotIndex<'a>,
    /// Every approval the store knows in the lookback window, by process instance id.
    pub approvals: &'a BTreeMap<String, Approval>,
    /// Unresolved approvals, to give a verdict this run: newly finished ones and those left
    /// without a final class by earlier runs. Running ones among them get none.
    pub unresolved_approvals: &'a BTreeSet<String>,
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub policy: &'a Policy,
    /// How long after its scheduled time a result may still settle on its own (`late_result`).
    pub settle: Duration,
    /// The classes journaled so far for the approvals that unresolved revocations name.
    pub journaled: &'a BTreeMap<String, BTreeSet<ChangeClass>>,
}

/// What to do with the ledger for one verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "verdicts live briefly, one per change"
)]
pub(crate) enum LedgerAction {
    /// Leave the ledger alone.
    None,
    /// Write the row without journaling a correction (`baseline`, `late_result`).
    Write(LedgerState),
    /// Change the row and journal the correction.
    Correct(Correction),
}

/// One classified change or approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub class: ChangeClass,
    /// Deterministic: the same evidence yields the same key in every run.
    pub(crate) key: String,
    pub(crate) slot: Option<SlotKey>,
    pub(crate) process_instance_id: Option<String>,
    pub(crate) evidence: Option<Evidence>,
    pub(crate) anomaly: bool,
    /// One sentence a person can act on.
    pub(crate) detail: String,
    pub(crate) action: LedgerAction,
    /// The snapshot must not take this observation yet: DingTalk shows the slot corrected by an
    /// approval without naming it, and no known approval explains it. The next run sees the
    /// same change again, once the approval's detail is known.
    pub(crate) hold: bool,
    /// True when the verdict is about a change of its slot (and so decides that slot's
    /// observation); false when it is about an approval.
    pub(crate) from_change: bool,
    /// The revocation (`bizAction REVOKE`) this verdict resolves too: it gets the same class.
    pub(crate) revoked_by: Option<String>,
    /// Records the approval's resolution only: no report line (the journal or an earlier run
    /// already says it).
    pub(crate) quiet: bool,
}

/// Classifies every change and every unresolved finished approval. Verdicts come out sorted by key.
pub fn classify(input: &ClassifyInput<'_>) -> Vec<Verdict> {
    let matched = match_approved(input);
    let mut verdicts = Vec::new();
    let mut explained: BTreeSet<String> = BTreeSet::new();
    for change in input.changes {
        let Some(verdict) = classify_change(input, &matched, change) else {
            continue;
        };
        if let Some(process_instance_id) = &verdict.process_instance_id {
            explained.insert(process_instance_id.clone());
        }
        verdicts.push(verdict);
    }
    for revocation in input
        .unresolved_approvals
        .iter()
        .filter_map(|id| input.approvals.get(id))
        .filter(|approval| approval.revokes().is_some())
    {
        classify_revocation(input, revocation, &mut verdicts, &mut explained);
    }
    for process_instance_id in input.unresolved_approvals {
        if explained.contains(process_instance_id) {
            continue;
        }
        let Some(approval) = input
            .approvals
            .get(process_instance_id)
            .filter(|approval| approval.revokes().is_none())
        else {
            continue;
        };
        if let Some(verdict) = classify_approval(input, approval) {
            verdicts.push(verdict);
        }
    }
    verdicts.sort_by(|left, right| left.key.cmp(&right.key));
    verdicts
}

/// Whether DingTalk shows `slot` corrected by an approval, and by which one when it says so.
pub(crate) fn approval_correction(slot: &Slot) -> Option<&str> {
    if slot.source_type == SourceType::Approve {
        slot.process_instance_id
            .as_deref()
            .filter(|id| !id.is_empty())
    } else {
        None
    }
}

/// Whether `slot` shows a correction by some approval (with or without its process instance id).
pub(crate) fn shows_approval(slot: &Slot) -> bool {
    slot.source_type == SourceType::Approve && slot.is_signed()
}

/// A short stable digest of a ledger state, for idempotency keys.
pub(crate) fn state_hash(state: &LedgerState) -> String {
    let text = format!(
        "{}|{}|{}|{}",
        state.time_result,
        state.check_time.map(|t| t.timestamp_millis()).unwrap_or(-1),
        state.source_type,
        state.process_instance_id.as_deref().unwrap_or(""),
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// The ledger state a vanished slot is corrected to when the policy applies it.
pub(crate) fn vanished_state() -> LedgerState {
    LedgerState {
        time_result: TimeResult::NotSigned,
        check_time: None,
        source_type: SourceType::Unknown("VANISHED".into()),
        process_instance_id: None,
    }
}

/// Approved approvals by the slot they match (strongest evidence first, then the first decided).
fn match_approved<'a>(
    input: &ClassifyInput<'a>,
) -> BTreeMap<SlotKey, Vec<(Evidence, &'a Approval)>> {
    let mut by_slot: BTreeMap<SlotKey, Vec<(Evidence, &Approval)>> = BTreeMap::new();
    for approval in input
        .approvals
        .values()
        .filter(|approval| approval.is_approved() && approval.revokes().is_none())
    {
        if let Some(found) = input.slots.match_approval(approval, input.tz) {
            by_slot
                .entry(found.slot)
                .or_default()
                .push((found.evidence, approval));
        }
    }
    // Strongest evidence first; among equals the approval decided first, since that decision
    // is the one that corrected the slot (a later one for the same check point changes
    // nothing); the process instance id only breaks exact ties.
    for candidates in by_slot.values_mut() {
        candidates.sort_by(|left, right| {
            let finished =
                |approval: &Approval| approval.finish_time.unwrap_or(DateTime::<Utc>::MAX_UTC);
            (left.0, finished(left.1), &left.1.process_instance_id).cmp(&(
                right.0,
                finished(right.1),
                &right.1.process_instance_id,
            ))
        });
    }
    by_slot
}

struct Draft<'a> {
    input: &'a ClassifyInput<'a>,
    key: SlotKey,
    ledger: Option<LedgerState>,
}

impl Draft<'_> {
    fn verdict(
        &self,
        class: ChangeClass,
        key: String,
        detail: String,
        action: LedgerAction,
    ) -> Verdict {
        Verdict {
            class,
            key,
            slot: Some(self.key.clone()),
            process_instance_id: None,
            evidence: None,
            anomaly: class.is_anomaly(),
            detail,
            action,
            hold: false,
            from_change: true,
            revoked_by: None,
            quiet: false,
        }
    }

    fn correction(
        &self,
        class: ChangeClass,
        key: &str,
        after: LedgerState,
        observed: bool,
    ) -> Correction {
        Correction {
            idempotency_key: key.to_owned(),
            slot_key: self.key.clone(),
            class,
            before: self.ledger.clone(),
            after,
            before_observed: observed,
            process_instance_id: None,
            business_id: None,
            approved_at: None,
        }
    }

    fn supply_applied(
        &self,
        slot: &Slot,
        process_instance_id: &str,
        evidence: Evidence,
        observed: bool,
    ) -> Verdict {
        let key = format!("supply_applied|{}|{process_instance_id}", self.key);
        let mut correction = self.correction(
            ChangeClass::SupplyApplied,
            &key,
            slot.ledger_state(),
            observed,
        );
        correction.process_instance_id = Some(process_instance_id.to_owned());
        if let Some(approval) = self.input.approvals.get(process_instance_id) {
            correction.business_id = approval.business_id.clone();
            correction.approved_at = approval.finish_time;
        }
        let detail = format!("approval {process_instance_id} corrected {}", self.key);
        let mut verdict = self.verdict(
            ChangeClass::SupplyApplied,
            key,
            detail,
            LedgerAction::Correct(correction),
        );
        verdict.process_instance_id = Some(process_instance_id.to_owned());
        verdict.evidence = Some(evidence);
        verdict
    }

    /// The correction DingTalk showed between two reads of the slot, known from its approval
    /// alone: journaled with `shown` as its after state and nothing observed before it.
    fn supply_applied_unseen(
        &self,
        slot: &Slot,
        process_instance_id: &str,
        evidence: Evidence,
        shown: &LedgerState,
    ) -> Verdict {
        let mut verdict = self.supply_applied(slot, process_instance_id, evidence, false);
        if let LedgerAction::Correct(correction) = &mut verdict.action {
            correction.after = shown.clone();
        }
        verdict.from_change = false;
        verdict
    }

    /// A change the policy decides on: applied as a correction or only reported.
    fn by_policy(
        &self,
        class: ChangeClass,
        action: PolicyAction,
        after: LedgerState,
        observed: bool,
        what: &str,
    ) -> Verdict {
        let key = format!("{class}|{}|{}", self.key, state_hash(&after));
        let detail = format!("{} {what}", self.key);
        let ledger = match action {
            PolicyAction::Apply => {
                LedgerAction::Correct(self.correction(class, &key, after, observed))
            }
            PolicyAction::Report => LedgerAction::None,
        };
        self.verdict(class, key, detail, ledger)
    }
}

fn classify_change(
    input: &ClassifyInput<'_>,
    matched: &BTreeMap<SlotKey, Vec<(Evidence, &Approval)>>,
    change: &SlotChange,
) -> Option<Verdict> {
    let key = change.key();
    let context = input.context.get(&key).cloned().unwrap_or_default();
    let draft = Draft {
        input,
        key: key.clone(),
        ledger: context.ledger.clone(),
    };
    let matched_approval = matched.get(&key).and_then(|candidates| candidates.first());
    let policy = input.policy;
    if let SlotChange::New(after) | SlotChange::Changed { after, .. } = change
        && shows_approval(after)
        && approval_correction(after).is_none()
        && matched_approval.is_none()
    {
        let detail = format!("{key} shows a correction by an approval not known yet");
        let mut verdict = draft.verdict(
            ChangeClass::SupplyPending,
            format!("supply_pending|{key}"),
            detail,
            LedgerAction::None,
        );
        verdict.hold = true;
        return Some(verdict);
    }
    let verdict = match change {
        SlotChange::New(slot) => {
            if let Some(process_instance_id) = approval_correction(slot) {
                draft.supply_applied(
                    slot,
                    process_instance_id,
                    Evidence::ProcessInstanceId,
                    false,
                )
            } else if let Some((evidence, approval)) =
                matched_approval.filter(|_| shows_approval(slot))
            {
                draft.supply_applied(slot, &approval.process_instance_id, *evidence, false)
            } else if slot.source_type == SourceType::Boss {
                draft.by_policy(
                    ChangeClass::AdminEdit,
                    policy.admin_edit,
                    slot.ledger_state(),
                    false,
                    "was first observed edited by an administrator",
                )
            } else {
                let detail = format!("{key} first observed");
                let action = LedgerAction::Write(slot.ledger_state());
                draft.verdict(
                    ChangeClass::Baseline,
                    format!("baseline|{key}"),
                    detail,
                    action,
                )
            }
        }
        SlotChange::Changed { before, after } => {
            changed(&draft, &context, matched_approval, before, after)
        }
        SlotChange::Vanished(before) => {
            let mut verdict = draft.by_policy(
                ChangeClass::Vanished,
                policy.vanished,
                vanished_state(),
                true,
                "is missing from a complete fetch of its day",
            );
            verdict.key = format!("vanished|{key}|{}", state_hash(&before.ledger_state()));
            if let LedgerAction::Correct(correction) = &mut verdict.action {
                correction.idempotency_key = verdict.key.clone();
            }
            verdict
        }
        SlotChange::Unchanged(_) => return None,
    };
    Some(verdict)
}

/// The verdict on a slot seen before whose state changed: a 补卡 applied (named or matched),
/// a 补卡 reverted, an administrator's edit, a late result, or an unexplained change.
fn changed(
    draft: &Draft<'_>,
    context: &SlotContext,
    matched_approval: Option<&(Evidence, &Approval)>,
    before: &Slot,
    after: &Slot,
) -> Verdict {
    let (input, key, policy) = (draft.input, &draft.key, draft.input.policy);
    let earlier = approval_correction(before)
        .map(str::to_owned)
        .or(context.corrected_by.clone());
    if let Some(process_instance_id) = approval_correction(after)
        && approval_correction(before) != Some(process_instance_id)
    {
        return draft.supply_applied(
            after,
            process_instance_id,
            Evidence::ProcessInstanceId,
            true,
        );
    }
    if let Some((evidence, approval)) = matched_approval
        && shows_approval(after)
        && !shows_approval(before)
    {
        return draft.supply_applied(after, &approval.process_instance_id, *evidence, true);
    }
    if let Some(process_instance_id) = earlier
        && !shows_approval(after)
        && after.source_type != SourceType::Boss
    {
        return supply_reverted(draft, after, &process_instance_id);
    }
    if after.source_type == SourceType::Boss {
        return draft.by_policy(
            ChangeClass::AdminEdit,
            policy.admin_edit,
            after.ledger_state(),
            true,
            "was edited by an administrator",
        );
    }
    if is_late_result(before, after, context, input.settle) {
        let hash = state_hash(&after.ledger_state());
        let detail = format!("{key} settled to {}", after.time_result);
        let action = LedgerAction::Write(after.ledger_state());
        return draft.verdict(
            ChangeClass::LateResult,
            format!("late_result|{key}|{hash}"),
            detail,
            action,
        );
    }
    let what = format!(
        "changed from {} to {} with no approval or administrator behind it",
        before.time_result, after.time_result
    );
    draft.by_policy(
        ChangeClass::Unexplained,
        policy.unexplained,
        after.ledger_state(),
        true,
        &what,
    )
}

fn supply_reverted(draft: &Draft<'_>, after: &Slot, process_instance_id: &str) -> Verdict {
    let key = format!("supply_reverted|{}|{process_instance_id}", draft.key);
    let mut correction = draft.correction(
        ChangeClass::SupplyReverted,
        &key,
        after.ledger_state(),
        true,
    );
    correction.process_instance_id = Some(process_instance_id.to_owned());
    if let Some(approval) = draft.input.approvals.get(process_instance_id) {
        correction.business_id = approval.business_id.clone();
        correction.approved_at = approval.finish_time;
    }
    let detail = format!(
        "{} was corrected by approval {process_instance_id} but DingTalk no longer shows it corrected",
        draft.key
    );
    let mut verdict = draft.verdict(
        ChangeClass::SupplyReverted,
        key,
        detail,
        LedgerAction::Correct(correction),
    );
    verdict.process_instance_id = Some(process_instance_id.to_owned());
    verdict
}

/// A provisional OffDuty result settling on its own: observed within the settle horizon of its
/// scheduled time, neither the old nor the new state is an approval's or an administrator's, and
/// the new state comes from a punch (a `SYSTEM` change days later is not a result settling).
fn is_late_result(before: &Slot, after: &Slot, context: &SlotContext, settle: Duration) -> bool {
    let involved = |slot: &Slot| matches!(slot.source_type, SourceType::Approve | SourceType::Boss);
    after.check_type == CheckType::OffDuty
        && !involved(before)
        && !involved(after)
        && is_punch_source(&after.source_type)
        && context
            .observed_at
            .is_some_and(|observed| observed < before.base_check_time + settle)
}

/// Sources that mean an employee's own punch (machine, beacon, app, auto punch).
fn is_punch_source(source: &SourceType) -> bool {
    matches!(
        source,
        SourceType::User
            | SourceType::Atm
            | SourceType::Beacon
            | SourceType::DingAtm
            | SourceType::AutoCheck
    )
}

/// A verdict about an approval (not a change of a slot): the ledger left alone.
fn approval_verdict(process_instance_id: &str, class: ChangeClass, detail: String) -> Verdict {
    Verdict {
        class,
        key: format!("{class}|{process_instance_id}"),
        slot: None,
        process_instance_id: Some(process_instance_id.to_owned()),
        evidence: None,
        anomaly: class.is_anomaly(),
        detail,
        action: LedgerAction::None,
        hold: false,
        from_change: false,
        revoked_by: None,
        quiet: false,
    }
}

fn classify_approval(input: &ClassifyInput<'_>, approval: &Approval) -> Option<Verdict> {
    let process_instance_id = approval.process_instance_id.clone();
    let base = |class, detail| approval_verdict(&process_instance_id, class, detail);
    if !approval.is_finished() {
        return None;
    }
    if approval.is_refused() {
        return Some(base(
            ChangeClass::SupplyRefused,
            format!("approval {process_instance_id} was refused"),
        ));
    }
    if !approval.is_approved() {
        let detail = format!(
            "approval {process_instance_id} was withdrawn ({})",
            approval.status
        );
        return Some(base(ChangeClass::SupplyWithdrawn, detail));
    }
    let Some(found) = input.slots.match_approval(approval, input.tz) else {
        let detail = format!(
            "approval {process_instance_id} by {} matches no slot",
            approval.originator
        );
        return Some(base(ChangeClass::SupplyUnmatched, detail));
    };
    let slot = input.slots.slots().get(&found.slot)?;
    let shows = match approval_correction(slot) {
        Some(shown) => shown == process_instance_id,
        None => shows_approval(slot),
    };
    let context = input.context.get(&found.slot).cloned().unwrap_or_default();
    if shows {
        let observed = context
            .ledger
            .as_ref()
            .is_some_and(|ledger| *ledger != slot.ledger_state());
        let draft = Draft {
            input,
            key: found.slot.clone(),
            ledger: context.ledger.clone().filter(|_| observed),
        };
        let mut verdict =
            draft.supply_applied(slot, &process_instance_id, found.evidence, observed);
        verdict.from_change = false;
        return Some(verdict);
    }
    let pending_days = approval
        .finish_time
        .map(|finished| (input.now - finished).num_days())
        .unwrap_or(0);
    let mut verdict = base(
        ChangeClass::SupplyPending,
        format!(
            "approval {process_instance_id} is approved but DingTalk does not show {} corrected yet",
            found.slot
        ),
    );
    verdict.slot = Some(found.slot);
    verdict.evidence = Some(found.evidence);
    verdict.anomaly = pending_days >= i64::from(input.policy.pending_anomaly_days);
    Some(verdict)
}

/// A revocation (`bizAction REVOKE`) of an approved 补卡, attached by DingTalk to the original
/// (kb:1517). It corrects nothing itself; it says the original's correction is going away:
///
/// - refused or withdrawn, the 补卡 stands and the revocation is reported as such;
/// - approved while DingTalk still shows the slot corrected by the original, it waits (held,
///   judged again next run, its day re-read as approvals point at it);
/// - approved and the slot no longer shows the original's correction:
///   - this run's change journaled the revert: that verdict resolves the revocation too;
///   - the ledger still carries the original's correction: the revert is journaled now;
///   - the original was never journaled (applied and revoked between two reads of its slot): the
///     correction DingTalk showed in between and its revert are journaled from the two approvals
///     (`before_observed` false), so the journal holds the history DingTalk had;
///   - the revert is journaled already: the revocation is resolved quietly.
///
/// The original is added to `explained`: it is not judged as a 补卡 still pending.
fn classify_revocation(
    input: &ClassifyInput<'_>,
    revocation: &Approval,
    verdicts: &mut Vec<Verdict>,
    explained: &mut BTreeSet<String>,
) {
    let Some(original_id) = revocation.revokes() else {
        return;
    };
    let id = revocation.process_instance_id.clone();
    let base = |class, detail| Verdict {
        anomaly: false,
        ..approval_verdict(&id, class, detail)
    };
    if !revocation.is_finished() {
        return;
    }
    if !revocation.is_approved() {
        let (class, what) = if revocation.is_refused() {
            (ChangeClass::SupplyRefused, "was refused")
        } else {
            (ChangeClass::SupplyWithdrawn, "was withdrawn")
        };
        let detail =
            format!("the revocation {id} of approval {original_id} {what}: the 补卡 stands");
        verdicts.push(base(class, detail));
        return;
    }
    explained.insert(original_id.to_owned());
    if let Some(verdict) = verdicts.iter_mut().find(|verdict| {
        verdict.class == ChangeClass::SupplyReverted
            && verdict.process_instance_id.as_deref() == Some(original_id)
    }) {
        verdict.revoked_by = Some(id);
        return;
    }
    let original = input.approvals.get(original_id);
    let found = original
        .and_then(|original| input.slots.match_approval(original, input.tz))
        .or_else(|| input.slots.match_approval(revocation, input.tz));
    let Some((found, slot)) = found.and_then(|found| {
        let slot = input.slots.slots().get(&found.slot)?;
        Some((found, slot))
    }) else {
        let detail = format!(
            "the revocation {id} of approval {original_id} by {} matches no slot",
            revocation.originator
        );
        verdicts.push(base(ChangeClass::SupplyUnmatched, detail));
        return;
    };
    let context = input.context.get(&found.slot).cloned().unwrap_or_default();
    let still_shown = match approval_correction(slot) {
        Some(shown) => shown == original_id,
        // Corrected by an approval it does not name: most likely still the original.
        None => shows_approval(slot),
    };
    if still_shown {
        let mut verdict = base(
            ChangeClass::SupplyPending,
            format!(
                "the revocation {id} of approval {original_id} is approved but DingTalk still \
                 shows {} corrected",
                found.slot
            ),
        );
        verdict.slot = Some(found.slot);
        verdict.hold = true;
        verdicts.push(verdict);
        return;
    }
    let draft = Draft {
        input,
        key: found.slot.clone(),
        ledger: context.ledger.clone(),
    };
    let journaled = input.journaled.get(original_id);
    let was = |class| journaled.is_some_and(|classes| classes.contains(&class));
    if context.corrected_by.as_deref() == Some(original_id) {
        let mut verdict = supply_reverted(&draft, slot, original_id);
        verdict.from_change = false;
        verdict.revoked_by = Some(id);
        verdicts.push(verdict);
    } else if !was(ChangeClass::SupplyApplied) && !was(ChangeClass::SupplyReverted) {
        let shown = LedgerState {
            time_result: TimeResult::Normal,
            check_time: original
                .and_then(|original| original.corrected_time)
                .or(revocation.corrected_time),
            source_type: SourceType::Approve,
            process_instance_id: Some(original_id.to_owned()),
        };
        let mut applied = draft.supply_applied_unseen(slot, original_id, found.evidence, &shown);
        applied.detail = format!(
            "approval {original_id} corrected {} and was revoked by {id} before this job read \
             the slot corrected",
            found.slot
        );
        let reverted_draft = Draft {
            input,
            key: found.slot.clone(),
            ledger: Some(shown),
        };
        let mut reverted = supply_reverted(&reverted_draft, slot, original_id);
        reverted.from_change = false;
        reverted.revoked_by = Some(id);
        verdicts.push(applied);
        verdicts.push(reverted);
    } else {
        let mut verdict = base(
            ChangeClass::SupplyReverted,
            format!("the revocation {id} of approval {original_id} is shown"),
        );
        verdict.slot = Some(found.slot);
        verdict.quiet = true;
        verdicts.push(verdict);
    }
}

#[cfg(test)]
mod tests;
