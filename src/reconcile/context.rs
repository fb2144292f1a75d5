//! What a run reads from the store around its fetch: the snapshot of the ranges fetched, the
//! ledger context of changed slots, the user-days approvals point at, the recently corrected
//! user-days watched for reverts. Store reads only; no classification and no writes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::domain::{Approval, ChangeClass, Slot, SlotKey, UserId};
use crate::quota;
use crate::store::Store;

use super::RunError;
use super::classify::SlotContext;
use super::diff::SlotChange;
use super::fetch::Fetched;
use super::matching::SlotIndex;
use super::plan::ResultsItem;

/// User-days the results items cover.
pub(super) fn covered_days(items: &[ResultsItem]) -> BTreeSet<(UserId, NaiveDate)> {
    items.iter().flat_map(ResultsItem::user_days).collect()
}

/// The user-days an approval's slot may be on: its work date when the form says so, else the
/// corrected time's local date and the day before (night shifts).
pub(super) fn candidate_days(approval: &Approval, tz: chrono_tz::Tz) -> Vec<(UserId, NaiveDate)> {
    let user = approval.originator.clone();
    if let Some(date) = approval.ext.as_ref().and_then(|ext| ext.work_date) {
        return vec![(user, date)];
    }
    let Some(at) = approval
        .corrected_time
        .or(approval.ext.as_ref().and_then(|ext| ext.user_check_time))
    else {
        return Vec::new();
    };
    let date = quota::local_date(at, tz);
    vec![(user.clone(), date), (user, date - Duration::days(1))]
}

/// User-days to re-read for an approval: where the snapshot already matched it, else its
/// candidate days.
pub(super) fn pointed_days(
    store: &Store,
    approval: &Approval,
    tz: chrono_tz::Tz,
) -> Result<Vec<(UserId, NaiveDate)>, RunError> {
    let candidates = candidate_days(approval, tz);
    let mut slots = BTreeMap::new();
    for (user, date) in &candidates {
        for stored in store.slots_for_user_day(user, *date)? {
            slots.insert(stored.slot.key(), stored.slot);
        }
    }
    let index = SlotIndex::new(&slots);
    Ok(match index.match_approval(approval, tz) {
        Some(found) => vec![(found.slot.user_id, found.slot.work_date)],
        None => candidates,
    })
}

/// User-days of slots corrected by an approval since `since`, on work dates before `before`:
/// watched for reverts.
pub(super) fn recently_corrected(
    store: &Store,
    since: DateTime<Utc>,
    before: NaiveDate,
) -> Result<BTreeSet<(UserId, NaiveDate)>, RunError> {
    let from = watch_floor(since);
    let mut days = BTreeSet::new();
    for stored in store.corrections_between(from, before - Duration::days(1))? {
        if stored.correction.class == ChangeClass::SupplyApplied && stored.applied_at >= since {
            days.insert((
                stored.correction.slot_key.user_id.clone(),
                stored.correction.slot_key.work_date,
            ));
        }
    }
    Ok(days)
}

/// The first work date whose corrections applied since `since` are watched for reverts.
pub(super) fn watch_floor(since: DateTime<Utc>) -> NaiveDate {
    quota::local_date(since, chrono_tz::UTC) - Duration::days(60)
}

pub(super) type Snapshot = (BTreeMap<SlotKey, Slot>, BTreeMap<SlotKey, DateTime<Utc>>);

/// The present snapshot slots of every range fetched, with their observation instants.
pub(super) fn load_snapshot(store: &Store, fetched: &Fetched) -> Result<Snapshot, RunError> {
    let mut slots = BTreeMap::new();
    let mut observed = BTreeMap::new();
    for (users, from, to) in &fetched.ranges {
        for (key, stored) in store.snapshot_slots(Some(users), *from, *to)? {
            if stored.present {
                observed.insert(key.clone(), stored.observed_at);
                slots.insert(key, stored.slot);
            }
        }
    }
    Ok((slots, observed))
}

pub fn overlay(current: &mut BTreeMap<SlotKey, Slot>, changes: &[SlotChange]) {
    for change in changes {
        match change {
            SlotChange::New(slot)
            | SlotChange::Unchanged(slot)
            | SlotChange::Changed { after: slot, .. } => {
                current.insert(slot.key(), slot.clone());
            }
            SlotChange::Vanished(slot) => {
                current.remove(&slot.key());
            }
        }
    }
}

/// Ledger rows and observation instants of the changed slots and of every current slot an
/// approval could be about (unsigned or approval-shown slots).
pub fn load_context(
    store: &Store,
    changes: &[SlotChange],
    observed_at: &BTreeMap<SlotKey, DateTime<Utc>>,
    current: &BTreeMap<SlotKey, Slot>,
    extra: &BTreeSet<SlotKey>,
) -> Result<BTreeMap<SlotKey, SlotContext>, RunError> {
    let mut keys: BTreeSet<SlotKey> = changes
        .iter()
        .filter(|change| change.is_change())
        .map(SlotChange::key)
        .collect();
    keys.extend(
        current
            .iter()
            .filter(|(_, slot)| super::classify::shows_approval(slot))
            .map(|(key, _)| key.clone()),
    );
    keys.extend(extra.iter().cloned());
    let keys: Vec<SlotKey> = keys.into_iter().collect();
    let rows = store.ledger_rows(&keys)?;
    Ok(keys
        .into_iter()
        .map(|key| {
            let row = rows.get(&key);
            let context = SlotContext {
                ledger: row.map(|row| row.state.clone()),
                observed_at: observed_at.get(&key).copied(),
                corrected_by: row
                    .filter(|row| row.cause_class == ChangeClass::SupplyApplied)
                    .and_then(|row| row.cause_process_instance_id.clone()),
            };
            (key, context)
        })
        .collect())
}
