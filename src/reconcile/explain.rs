//! `explain`: everything known about one employee-day, as plain data (the caller renders it).
//!
//! Reads the store only: the day's slots as last observed, their history of observed changes,
//! the approvals tied to them (by a slot's `procInstId`, a correction's cause or a recorded
//! resolution), the ledger rows, the corrections journaled and the findings reported. It calls
//! nothing and changes nothing.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use crate::domain::UserId;
use crate::store::{
    Error, HistoryEntry, KnownPerson, LedgerRow, Store, StoredApproval, StoredCorrection,
    StoredFinding, StoredSlot,
};

/// Everything known about one employee-day.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub(crate) user_id: UserId,
    pub(crate) work_date: NaiveDate,
    /// The person's name and department that day, from the directory cache, when known.
    pub(crate) person: Option<KnownPerson>,
    pub slots: Vec<StoredSlot>,
    pub(crate) history: Vec<HistoryEntry>,
    pub approvals: Vec<StoredApproval>,
    pub ledger: Vec<LedgerRow>,
    pub corrections: Vec<StoredCorrection>,
    pub(crate) findings: Vec<StoredFinding>,
}

/// Gathers the [`Explanation`] of `user` on `work_date`.
pub fn explain(store: &Store, user: &UserId, work_date: NaiveDate) -> Result<Explanation, Error> {
    let slots = store.slots_for_user_day(user, work_date)?;
    let history = store.slot_history(user, work_date)?;
    let ledger = store.ledger_for_user_day(user, work_date)?;
    let corrections = store.corrections_for_user_day(user, work_date)?;
    let findings: Vec<StoredFinding> = store
        .findings_between(work_date, work_date)?
        .into_iter()
        .filter(|stored| stored.finding.user_id.as_ref() == Some(user))
        .collect();
    let mut ids: BTreeSet<String> = BTreeSet::new();
    ids.extend(
        slots
            .iter()
            .filter_map(|stored| stored.slot.process_instance_id.clone()),
    );
    ids.extend(
        corrections
            .iter()
            .filter_map(|stored| stored.correction.process_instance_id.clone()),
    );
    ids.extend(
        findings
            .iter()
            .filter_map(|stored| stored.finding.process_instance_id.clone()),
    );
    ids.extend(
        ledger
            .iter()
            .filter_map(|row| row.cause_process_instance_id.clone()),
    );
    let ids: Vec<String> = ids.into_iter().collect();
    let approvals = store.approvals(&ids)?.into_values().collect();
    Ok(Explanation {
        user_id: user.clone(),
        work_date,
        person: store.person_on(user, work_date)?,
        slots,
        history,
        approvals,
        ledger,
        corrections,
        findings,
    })
}
