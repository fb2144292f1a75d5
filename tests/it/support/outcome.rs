//! What a backfill leaves behind (journal, ledger, snapshot) in a form two runs can be compared
//! by: a run that was disturbed (killed, faulted) must end with exactly what an undisturbed one
//! leaves.

use std::collections::BTreeMap;

use super::bin::Rig;

/// Everything a crash could damage, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// idempotency key → (class, slot key, after state).
    pub(crate) corrections: BTreeMap<String, String>,
    /// slot key → ledger state and cause.
    pub(crate) ledger: BTreeMap<String, String>,
    /// slot key → slot state.
    pub(crate) snapshot: BTreeMap<String, String>,
}

pub(crate) fn outcome(rig: &Rig, from: &str, to: &str) -> Outcome {
    let store = rig.store();
    let date = |raw: &str| chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap();
    let slots = store
        .snapshot_slots(None, date(from), date(to))
        .expect("snapshot");
    let keys: Vec<_> = slots.keys().cloned().collect();
    let ledger = store.ledger_rows(&keys).expect("ledger");
    Outcome {
        corrections: store
            .all_corrections()
            .expect("corrections")
            .into_iter()
            .map(|stored| {
                let c = stored.correction;
                (
                    c.idempotency_key.clone(),
                    format!("{} {} {:?}", c.class, c.slot_key, c.after),
                )
            })
            .collect(),
        ledger: ledger
            .into_iter()
            .map(|(key, row)| {
                (
                    key.canonical(),
                    format!(
                        "{:?} {} {:?}",
                        row.state, row.cause_class, row.cause_process_instance_id
                    ),
                )
            })
            .collect(),
        snapshot: slots
            .into_iter()
            .map(|(key, stored)| {
                (
                    key.canonical(),
                    format!("{:?} {}", stored.slot, stored.present),
                )
            })
            .collect(),
    }
}
