//! The one write path of a reconciliation batch: snapshot, ledger, journal, outbox, findings and
//! approval resolutions, all in one transaction.
//!
//! Idempotency is structural: a correction is journaled with `ON CONFLICT (idempotency_key) DO
//! NOTHING`, and only a newly journaled correction moves its ledger row and enqueues outbox rows.
//! Snapshot writes compare with what is stored, so an observation already recorded adds no
//! history. Any error rolls the whole batch back. Applying the same batch twice equals once.
//!
//! The hot path is a backfill of new slots (one insert each) and a re-scan of unchanged slots
//! (one narrow update each); only real changes read the stored row and append history.
//!
//! This module decides nothing: which change is which class, and which corrections exist, is the
//! reconcile core's call.

use chrono::{DateTime, Utc};
use std::cell::RefCell;
use std::collections::HashSet;

use rusqlite::{CachedStatement, OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::Store;
use super::codec::{Reader, date_text, ms, opt_ms, to_json};
use super::error::{Error, Location, SqlResultExt};
use super::ledger::FindingRow;
use super::snapshot::{HistoryChange, SLOT_COLUMNS, decode_slot};
use crate::domain::{ChangeClass, Correction, LedgerState, Slot, SlotKey};

/// What the diff saw of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObservedChange {
    New,
    Changed,
    Unchanged,
    /// Missing from a complete fetch of its user-day; the observation carries the last known
    /// slot.
    Vanished,
}

/// One slot as observed by a run, with the diff's verdict and class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub(crate) slot: Slot,
    pub(crate) change: ObservedChange,
    pub(crate) class: Option<ChangeClass>,
    pub(crate) observed_at: DateTime<Utc>,
}

/// Everything one batch writes. Built by the reconcile core; applied atomically.
#[derive(Debug, Clone, Default)]
pub struct ApplyBatch {
    /// Recorded as the corrections' `applied_at` and the outbox rows' enqueue time.
    pub applied_at: DateTime<Utc>,
    pub observations: Vec<Observation>,
    /// Ledger rows created only where absent: a slot's first state, not a correction.
    pub ledger_baseline: Vec<(SlotKey, LedgerState)>,
    /// Ledger changes that are not corrections (late results): the state and the class that
    /// explains it; the last correction's approval and key are kept.
    pub ledger_updates_without_correction: Vec<(SlotKey, LedgerState, ChangeClass)>,
    pub corrections: Vec<Correction>,
    pub findings: Vec<FindingRow>,
    /// `(process instance id, class, matched slot)`.
    pub approval_resolutions: Vec<(String, ChangeClass, Option<SlotKey>)>,
    /// Sink names; each newly journaled correction gets one outbox row per sink.
    pub sinks: Vec<String>,
}

/// What a batch did to the journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Corrections newly journaled (and applied to the ledger).
    pub(crate) applied: u64,
    /// Corrections already in the journal, left untouched.
    pub(crate) duplicates: u64,
}

impl Store {
    /// Applies one batch in one transaction. See the module documentation.
    pub fn apply_batch(&mut self, run_id: i64, batch: &ApplyBatch) -> Result<ApplyOutcome, Error> {
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        let outcome = Writer::new(&transaction, &location, run_id)?.write(batch)?;
        transaction.commit().at(&location)?;
        Ok(outcome)
    }
}

/// The statements of one batch, bound to its transaction. The three statements run once per
/// slot are prepared once per batch.
struct Writer<'t> {
    transaction: &'t Transaction<'t>,
    location: &'t Location,
    run_id: i64,
    insert_slot: RefCell<CachedStatement<'t>>,
    touch_slot: RefCell<CachedStatement<'t>>,
    baseline: RefCell<CachedStatement<'t>>,
}

const INSERT_SLOT: &str = "INSERT INTO slots (slot_key, user_id, work_date, check_type,
         plan_id, base_check_ms, user_check_ms, time_result, location_result, source_type,
         proc_inst_id, approve_id, record_id, group_id, row_id, observed_at_ms, first_seen_run,
         first_seen_ms, first_class, last_seen_run, present)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?16,
         ?18, ?17, 1)
     ON CONFLICT (slot_key) DO NOTHING";

const TOUCH_SLOT: &str = "UPDATE slots SET last_seen_run = ?2, observed_at_ms = ?3
     WHERE slot_key = ?1 AND present = 1";

const INSERT_BASELINE: &str = "INSERT INTO ledger (slot_key, time_result, check_time_ms,
         source_type, proc_inst_id, cause_class, updated_run)
     VALUES (?1, ?2, ?3, ?4, ?5, 'baseline', ?6)
     ON CONFLICT (slot_key) DO NOTHING";

impl<'t> Writer<'t> {
    fn new(
        transaction: &'t Transaction<'t>,
        location: &'t Location,
        run_id: i64,
    ) -> Result<Self, Error> {
        let prepare = |sql| {
            transaction
                .prepare_cached(sql)
                .map(RefCell::new)
                .at(location)
        };
        Ok(Writer {
            transaction,
            location,
            run_id,
            insert_slot: prepare(INSERT_SLOT)?,
            touch_slot: prepare(TOUCH_SLOT)?,
            baseline: prepare(INSERT_BASELINE)?,
        })
    }

    fn write(&self, batch: &ApplyBatch) -> Result<ApplyOutcome, Error> {
        self.require_run()?;
        let mut observed = HashSet::with_capacity(batch.observations.len());
        for observation in &batch.observations {
            let key = observation.slot.key().canonical();
            if observed.contains(&key) {
                return Err(Error::Unstorable {
                    what: "batch",
                    detail: format!(
                        "slot {key} is observed more than once; expected one observation per slot"
                    ),
                });
            }
            self.observe(&key, observation)?;
            observed.insert(key);
        }
        for (key, state) in &batch.ledger_baseline {
            self.baseline(key, state)?;
        }
        for (key, state, class) in &batch.ledger_updates_without_correction {
            self.update_ledger(key, state, *class)?;
        }
        let mut outcome = ApplyOutcome::default();
        for correction in &batch.corrections {
            if self.journal(correction, batch.applied_at, &batch.sinks)? {
                outcome.applied += 1;
            } else {
                outcome.duplicates += 1;
            }
        }
        for finding in &batch.findings {
            self.finding(finding)?;
        }
        for (process_instance_id, class, slot_key) in &batch.approval_resolutions {
            self.resolve(process_instance_id, *class, slot_key.as_ref())?;
        }
        Ok(outcome)
    }

    fn require_run(&self) -> Result<(), Error> {
        let exists: bool = self
            .transaction
            .prepare_cached("SELECT count(*) FROM runs WHERE id = ?1")
            .at(self.location)?
            .query_row([self.run_id], |row| row.get(0))
            .at(self.location)?;
        if exists {
            Ok(())
        } else {
            Err(Error::UnknownRun {
                run_id: self.run_id,
            })
        }
    }

    fn observe(&self, key: &str, observation: &Observation) -> Result<(), Error> {
        match observation.change {
            ObservedChange::New => {
                if !self.insert_slot(key, observation)? {
                    self.observe_existing(key, observation)?;
                }
            }
            ObservedChange::Unchanged => {
                if !self.touch_slot(key, observation)? {
                    self.observe_existing(key, observation)?;
                }
            }
            ObservedChange::Changed => self.observe_existing(key, observation)?,
            ObservedChange::Vanished => self.vanish(key, observation)?,
        }
        Ok(())
    }

    /// Inserts a slot seen for the first time; false when a row already exists.
    fn insert_slot(&self, key: &str, observation: &Observation) -> Result<bool, Error> {
        let slot = &observation.slot;
        let inserted = self
            .insert_slot
            .borrow_mut()
            .execute(params![
                key,
                slot.user_id.as_str(),
                date_text(slot.work_date),
                slot.check_type.as_str(),
                slot.plan_id,
                ms(slot.base_check_time),
                opt_ms(slot.user_check_time),
                slot.time_result.as_str(),
                slot.location_result.as_str(),
                slot.source_type.as_str(),
                slot.process_instance_id,
                slot.approve_id,
                slot.record_id,
                slot.group_id,
                slot.row_id,
                ms(observation.observed_at),
                self.run_id,
                observation.class.map(ChangeClass::as_str),
            ])
            .at(self.location)?;
        Ok(inserted == 1)
    }

    /// Marks a present slot as seen again; false when it is absent or vanished.
    fn touch_slot(&self, key: &str, observation: &Observation) -> Result<bool, Error> {
        let touched = self
            .touch_slot
            .borrow_mut()
            .execute(params![key, self.run_id, ms(observation.observed_at)])
            .at(self.location)?;
        Ok(touched == 1)
    }

    /// Records an observation of a slot that may already be stored: history only for a real
    /// difference from the stored state (so a replayed batch adds none).
    fn observe_existing(&self, key: &str, observation: &Observation) -> Result<(), Error> {
        let Some((stored, present)) = self.stored_slot(key)? else {
            self.insert_slot(key, observation)?;
            return Ok(());
        };
        let change = if !present {
            Some(HistoryChange::New)
        } else if stored.same_state(&observation.slot) {
            None
        } else {
            Some(HistoryChange::Changed)
        };
        if let Some(change) = change {
            self.history(key, observation, change, &stored, Some(&observation.slot))?;
        }
        self.replace_slot(key, observation)
    }

    fn vanish(&self, key: &str, observation: &Observation) -> Result<(), Error> {
        let Some((stored, true)) = self.stored_slot(key)? else {
            // Unknown or already vanished: nothing to record.
            return Ok(());
        };
        self.transaction
            .prepare_cached("UPDATE slots SET present = 0 WHERE slot_key = ?1")
            .at(self.location)?
            .execute([key])
            .at(self.location)?;
        self.history(key, observation, HistoryChange::Vanished, &stored, None)
    }

    fn stored_slot(&self, key: &str) -> Result<Option<(Slot, bool)>, Error> {
        let sql = format!("SELECT {SLOT_COLUMNS} FROM slots WHERE slot_key = ?1");
        self.transaction
            .prepare_cached(&sql)
            .at(self.location)?
            .query_row([key], |row| {
                let reader = Reader::new(row, "slots");
                Ok(decode_slot(&reader).and_then(|slot| Ok((slot, reader.flag(17, "present")?))))
            })
            .optional()
            .at(self.location)?
            .transpose()
    }

    fn replace_slot(&self, key: &str, observation: &Observation) -> Result<(), Error> {
        let slot = &observation.slot;
        self.transaction
            .prepare_cached(
                "UPDATE slots SET check_type = ?2, plan_id = ?3, base_check_ms = ?4,
                     user_check_ms = ?5, time_result = ?6, location_result = ?7,
                     source_type = ?8, proc_inst_id = ?9, approve_id = ?10, record_id = ?11,
                     group_id = ?12, row_id = ?13, observed_at_ms = ?14, last_seen_run = ?15,
                     present = 1
                 WHERE slot_key = ?1",
            )
            .at(self.location)?
            .execute(params![
                key,
                slot.check_type.as_str(),
                slot.plan_id,
                ms(slot.base_check_time),
                opt_ms(slot.user_check_time),
                slot.time_result.as_str(),
                slot.location_result.as_str(),
                slot.source_type.as_str(),
                slot.process_instance_id,
                slot.approve_id,
                slot.record_id,
                slot.group_id,
                slot.row_id,
                ms(observation.observed_at),
                self.run_id,
            ])
            .at(self.location)?;
        Ok(())
    }

    fn history(
        &self,
        key: &str,
        observation: &Observation,
        change: HistoryChange,
        before: &Slot,
        after: Option<&Slot>,
    ) -> Result<(), Error> {
        let before_json = to_json("slot history", before)?;
        let after_json = after
            .map(|slot| to_json("slot history", slot))
            .transpose()?;
        self.transaction
            .prepare_cached(
                "INSERT INTO slot_history (run_id, slot_key, user_id, work_date, observed_at_ms,
                     change, before_json, after_json, class)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .at(self.location)?
            .execute(params![
                self.run_id,
                key,
                before.user_id.as_str(),
                date_text(before.work_date),
                ms(observation.observed_at),
                change.as_str(),
                before_json,
                after_json,
                observation.class.map(ChangeClass::as_str),
            ])
            .at(self.location)?;
        Ok(())
    }

    fn baseline(&self, key: &SlotKey, state: &LedgerState) -> Result<(), Error> {
        self.baseline
            .borrow_mut()
            .execute(params![
                key.canonical(),
                state.time_result.as_str(),
                opt_ms(state.check_time),
                state.source_type.as_str(),
                state.process_instance_id,
                self.run_id,
            ])
            .at(self.location)?;
        Ok(())
    }

    fn update_ledger(
        &self,
        key: &SlotKey,
        state: &LedgerState,
        class: ChangeClass,
    ) -> Result<(), Error> {
        self.transaction
            .prepare_cached(
                "INSERT INTO ledger (slot_key, time_result, check_time_ms, source_type,
                     proc_inst_id, cause_class, updated_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (slot_key) DO UPDATE SET time_result = excluded.time_result,
                     check_time_ms = excluded.check_time_ms, source_type = excluded.source_type,
                     proc_inst_id = excluded.proc_inst_id, cause_class = excluded.cause_class,
                     updated_run = excluded.updated_run",
            )
            .at(self.location)?
            .execute(params![
                key.canonical(),
                state.time_result.as_str(),
                opt_ms(state.check_time),
                state.source_type.as_str(),
                state.process_instance_id,
                class.as_str(),
                self.run_id,
            ])
            .at(self.location)?;
        Ok(())
    }

    /// Journals a correction; only when it is new, moves the ledger and enqueues the outbox.
    /// Returns whether it was new.
    fn journal(
        &self,
        correction: &Correction,
        applied_at: DateTime<Utc>,
        sinks: &[String],
    ) -> Result<bool, Error> {
        let key = correction.slot_key.canonical();
        let before = correction.before.as_ref();
        let after = &correction.after;
        let inserted = self
            .transaction
            .prepare_cached(
                "INSERT INTO corrections (idempotency_key, run_id, slot_key, user_id, work_date,
                     class, before_time_result, before_check_ms, before_source_type,
                     before_proc_inst_id, after_time_result, after_check_ms, after_source_type,
                     after_proc_inst_id, before_observed, process_instance_id, business_id,
                     approved_at_ms, applied_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19)
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .at(self.location)?
            .execute(params![
                correction.idempotency_key,
                self.run_id,
                key,
                correction.slot_key.user_id.as_str(),
                date_text(correction.slot_key.work_date),
                correction.class.as_str(),
                before.map(|state| state.time_result.as_str()),
                before.and_then(|state| opt_ms(state.check_time)),
                before.map(|state| state.source_type.as_str()),
                before.and_then(|state| state.process_instance_id.as_deref()),
                after.time_result.as_str(),
                opt_ms(after.check_time),
                after.source_type.as_str(),
                after.process_instance_id,
                correction.before_observed,
                correction.process_instance_id,
                correction.business_id,
                opt_ms(correction.approved_at),
                ms(applied_at),
            ])
            .at(self.location)?;
        if inserted == 0 {
            return Ok(false);
        }
        self.transaction
            .prepare_cached(
                "INSERT INTO ledger (slot_key, time_result, check_time_ms, source_type,
                     proc_inst_id, cause_class, cause_approval, last_correction_key, updated_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (slot_key) DO UPDATE SET time_result = excluded.time_result,
                     check_time_ms = excluded.check_time_ms, source_type = excluded.source_type,
                     proc_inst_id = excluded.proc_inst_id, cause_class = excluded.cause_class,
                     cause_approval = excluded.cause_approval,
                     last_correction_key = excluded.last_correction_key,
                     updated_run = excluded.updated_run",
            )
            .at(self.location)?
            .execute(params![
                key,
                after.time_result.as_str(),
                opt_ms(after.check_time),
                after.source_type.as_str(),
                after.process_instance_id,
                correction.class.as_str(),
                correction.process_instance_id,
                correction.idempotency_key,
                self.run_id,
            ])
            .at(self.location)?;
        let mut enqueue = self
            .transaction
            .prepare_cached(
                "INSERT INTO outbox (sink, idempotency_key, enqueued_at_ms, next_attempt_ms)
                 VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (sink, idempotency_key) DO NOTHING",
            )
            .at(self.location)?;
        for sink in sinks {
            enqueue
                .execute(params![sink, correction.idempotency_key, ms(applied_at)])
                .at(self.location)?;
        }
        Ok(true)
    }

    fn finding(&self, finding: &FindingRow) -> Result<(), Error> {
        let fingerprint = fingerprint(finding)?;
        self.transaction
            .prepare_cached(
                "INSERT INTO findings (run_id, fingerprint, class, slot_key, user_id, work_date,
                     check_type, plan_id, process_instance_id, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (run_id, fingerprint) DO NOTHING",
            )
            .at(self.location)?
            .execute(params![
                self.run_id,
                fingerprint,
                finding.class.as_str(),
                finding.slot_key.as_ref().map(SlotKey::canonical),
                finding.user_id.as_ref().map(|user| user.as_str()),
                finding.work_date.map(date_text),
                finding.check_type,
                finding.plan_id,
                finding.process_instance_id,
                finding.detail,
            ])
            .at(self.location)?;
        Ok(())
    }

    fn resolve(
        &self,
        process_instance_id: &str,
        class: ChangeClass,
        slot_key: Option<&SlotKey>,
    ) -> Result<(), Error> {
        self.transaction
            .prepare_cached(
                "INSERT INTO approval_resolutions (approval_id, class, slot_key, resolved_run)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (approval_id) DO UPDATE SET class = excluded.class,
                     slot_key = excluded.slot_key, resolved_run = excluded.resolved_run",
            )
            .at(self.location)?
            .execute(params![
                process_instance_id,
                class.as_str(),
                slot_key.map(SlotKey::canonical),
                self.run_id,
            ])
            .at(self.location)?;
        Ok(())
    }
}

/// A finding's identity within its run: the hash of all its fields.
fn fingerprint(finding: &FindingRow) -> Result<String, Error> {
    let json = to_json("finding", finding)?;
    Ok(hex::encode(Sha256::digest(json.as_bytes())))
}

#[cfg(test)]
mod tests;
