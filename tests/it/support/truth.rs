//! The simulator's ground truth, asked for over HTTP (`GET /_sim/truth`), and a store's
//! corrections in the truth's terms, to compare a job's journal with what really happened.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use dingtalk_reconcile::domain::SlotDiscriminator;
use dingtalk_reconcile::store::Store;
use dingtalk_sim::{SimHandle, TruthCorrection};

/// What the truth and the store are compared on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) user_id: String,
    pub(crate) work_date: NaiveDate,
    pub(crate) check_type: String,
    pub(crate) plan_id: Option<i64>,
    pub(crate) class: String,
    pub(crate) process_instance_id: Option<String>,
}

impl From<TruthCorrection> for Key {
    fn from(t: TruthCorrection) -> Key {
        Key {
            user_id: t.user_id,
            work_date: t.work_date,
            check_type: t.check_type,
            plan_id: t.plan_id,
            class: t.class,
            process_instance_id: t.process_instance_id,
        }
    }
}

/// Every correction the simulator's world holds by `as_of`, from its truth endpoint.
pub(crate) async fn truth(sim: &SimHandle, as_of: DateTime<Utc>) -> Vec<Key> {
    let mut url = url::Url::parse(&format!("{}/_sim/truth", sim.base_url())).unwrap();
    url.query_pairs_mut()
        .append_pair("as_of", &as_of.to_rfc3339());
    let truth: Vec<TruthCorrection> = reqwest::get(url)
        .await
        .expect("the simulator answers")
        .error_for_status()
        .expect("the truth endpoint answers 2xx")
        .json()
        .await
        .expect("the truth is JSON");
    let mut keys: Vec<Key> = truth.into_iter().map(Key::from).collect();
    keys.sort();
    keys
}

/// The truth a backfill as of `as_of` can see: all of it. A 补卡 applied and reverted before it
/// left no trace in the results a backfill reads (the slot is back to NotSigned), but its
/// revocation, the instance DingTalk attached to it, was agreed before the revert showed: the
/// listing or the original's detail names it, so both corrections are journaled from the two
/// approvals (`visible_to_a_backfill` in engine.rs checks none is left pending). Only a revert
/// whose revocation was not agreed by `as_of` would hide one; the simulator has none.
pub(crate) async fn visible_to_a_backfill(sim: &SimHandle, as_of: DateTime<Utc>) -> Vec<Key> {
    let world = sim.world();
    let hidden: BTreeSet<&str> = world
        .instances
        .iter()
        .filter(|i| {
            i.reverted_ms
                .is_some_and(|at| at <= as_of.timestamp_millis())
                && i.attached.is_none_or(|r| {
                    world.instances[r as usize].decided_ms > as_of.timestamp_millis()
                })
        })
        .map(|i| i.id.as_str())
        .collect();
    truth(sim, as_of)
        .await
        .into_iter()
        .filter(|key| {
            key.process_instance_id
                .as_deref()
                .is_none_or(|id| !hidden.contains(id))
        })
        .collect()
}

/// The store's journaled corrections in the truth's terms.
pub(crate) fn journaled(store: &Store) -> Vec<Key> {
    let mut keys: Vec<Key> = store
        .all_corrections()
        .expect("the journal reads")
        .into_iter()
        .map(|stored| {
            let key = &stored.correction.slot_key;
            Key {
                user_id: key.user_id.to_string(),
                work_date: key.work_date,
                check_type: stored.check_type.map(|c| c.to_string()).unwrap_or_default(),
                plan_id: match key.discriminator {
                    SlotDiscriminator::Plan(plan_id) => Some(plan_id),
                    SlotDiscriminator::Time { .. } => None,
                },
                class: stored.correction.class.as_str().to_owned(),
                process_instance_id: stored.correction.process_instance_id.clone(),
            }
        })
        .collect();
    keys.sort();
    keys
}

/// The journal holds exactly the truth: nothing missing, nothing invented, nothing twice.
#[track_caller]
pub(crate) fn assert_journal_is_the_truth(journal: &[Key], truth: &[Key]) {
    let journal_set: BTreeSet<&Key> = journal.iter().collect();
    let truth_set: BTreeSet<&Key> = truth.iter().collect();
    let missing: Vec<_> = truth_set.difference(&journal_set).take(5).collect();
    let extra: Vec<_> = journal_set.difference(&truth_set).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && journal.len() == truth.len(),
        "journal {} vs truth {} corrections; missing (first 5): {missing:#?}; extra (first 5): {extra:#?}",
        journal.len(),
        truth.len()
    );
}
