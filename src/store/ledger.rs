//! Reading the ledger, the corrections journal and the findings; enriching journaled
//! corrections.
//!
//! The ledger is the company's attendance record per slot as this job has told it; the journal
//! is every change of it with its cause. Both are written only by [`Store::apply_batch`]; the one
//! later write here is enrichment (business id, approved-at) filled in once an approval's detail
//! is known, which never changes what was applied.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::Store;
use super::codec::{Reader, collect, date_text, opt_ms, slot_key_range};
use super::error::{Error, SqlResultExt};
use crate::domain::{ChangeClass, CheckType, Correction, LedgerState, SlotKey, UserId};

/// The ledger's row for one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub(crate) slot_key: SlotKey,
    pub state: LedgerState,
    /// Why the row is in this state: `baseline`, the last correction's class, or a non-correction
    /// update's class (`late_result`).
    pub cause_class: ChangeClass,
    /// The process instance id of the approval behind the last correction, if it had one.
    pub cause_process_instance_id: Option<String>,
    pub(crate) last_correction_key: Option<String>,
    pub(crate) updated_run: i64,
}

/// A journaled correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCorrection {
    pub correction: Correction,
    /// 1 as journaled, one more each time enrichment changed it (see `enrich_corrections`).
    pub(crate) version: u32,
    pub(crate) run_id: i64,
    pub(crate) applied_at: DateTime<Utc>,
    /// The slot's check type, when the slot is in the snapshot.
    pub check_type: Option<CheckType>,
}

impl StoredCorrection {
    /// When the run that journaled it did.
    pub fn applied_at(&self) -> DateTime<Utc> {
        self.applied_at
    }
}

/// One report item of a run: pending, anomaly, refused, withdrawn, ….
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRow {
    pub class: ChangeClass,
    pub(crate) slot_key: Option<SlotKey>,
    pub(crate) user_id: Option<UserId>,
    pub(crate) work_date: Option<NaiveDate>,
    pub(crate) check_type: Option<String>,
    pub(crate) plan_id: Option<i64>,
    pub process_instance_id: Option<String>,
    /// One sentence a person can act on.
    pub(crate) detail: String,
}

/// A finding with the run that recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    pub(crate) run_id: i64,
    pub finding: FindingRow,
}

const LEDGER_COLUMNS: &str = "slot_key, time_result, check_time_ms, source_type, proc_inst_id, \
     cause_class, cause_approval, last_correction_key, updated_run";

const CORRECTION_SELECT: &str = "SELECT c.idempotency_key, c.run_id, c.slot_key, c.class, \
     c.before_time_result, c.before_check_ms, c.before_source_type, c.before_proc_inst_id, \
     c.after_time_result, c.after_check_ms, c.after_source_type, c.after_proc_inst_id, \
     c.before_observed, c.process_instance_id, c.business_id, c.approved_at_ms, \
     c.applied_at_ms, s.check_type, c.version \
     FROM corrections c LEFT JOIN slots s ON s.slot_key = c.slot_key";

const FINDING_COLUMNS: &str =
    "run_id, class, slot_key, user_id, work_date, check_type, plan_id, process_instance_id, detail";

impl Store {
    /// The ledger rows of `keys` that exist.
    ///
    /// One range query per user (slot keys of a user sort together, by date), all inside one
    /// read transaction, rather than one query per key: a run asks for thousands of keys and
    /// most of them miss on a first observation.
    pub fn ledger_rows(&self, keys: &[SlotKey]) -> Result<BTreeMap<SlotKey, LedgerRow>, Error> {
        let mut wanted: BTreeMap<&UserId, (NaiveDate, NaiveDate, BTreeSet<&SlotKey>)> =
            BTreeMap::new();
        for key in keys {
            let entry = wanted.entry(&key.user_id).or_insert((
                key.work_date,
                key.work_date,
                BTreeSet::new(),
            ));
            entry.0 = entry.0.min(key.work_date);
            entry.1 = entry.1.max(key.work_date);
            entry.2.insert(key);
        }
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM ledger WHERE slot_key >= ?1 AND slot_key < ?2
             ORDER BY slot_key"
        );
        let transaction = self.conn.unchecked_transaction().at(&self.location)?;
        let mut out = BTreeMap::new();
        {
            let mut statement = transaction.prepare_cached(&sql).at(&self.location)?;
            for (user, (from, to, user_keys)) in wanted {
                let (low, high) = slot_key_range(user, from, to);
                let rows = collect(
                    &self.location,
                    &mut statement,
                    [low, high],
                    "ledger",
                    decode_ledger,
                )?;
                for row in rows {
                    if user_keys.contains(&row.slot_key) {
                        out.insert(row.slot_key.clone(), row);
                    }
                }
            }
        }
        transaction.commit().at(&self.location)?;
        Ok(out)
    }

    /// Every ledger row of one user-day, in key order.
    pub(crate) fn ledger_for_user_day(
        &self,
        user: &UserId,
        date: NaiveDate,
    ) -> Result<Vec<LedgerRow>, Error> {
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM ledger WHERE slot_key >= ?1 AND slot_key < ?2
             ORDER BY slot_key"
        );
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        let (low, high) = slot_key_range(user, date, date);
        collect(
            &self.location,
            &mut statement,
            [low, high],
            "ledger",
            decode_ledger,
        )
    }

    /// Corrections journaled by one run, in journal order.
    pub(crate) fn corrections_for_run(&self, run_id: i64) -> Result<Vec<StoredCorrection>, Error> {
        self.query_corrections("WHERE c.run_id = ?1", [run_id])
    }

    /// Corrections of slots on work dates `from..=to`, in journal order.
    pub(crate) fn corrections_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredCorrection>, Error> {
        self.query_corrections(
            "WHERE c.work_date BETWEEN ?1 AND ?2",
            [date_text(from), date_text(to)],
        )
    }

    pub fn all_corrections(&self) -> Result<Vec<StoredCorrection>, Error> {
        self.query_corrections("", [])
    }

    pub(crate) fn corrections_for_user_day(
        &self,
        user: &UserId,
        date: NaiveDate,
    ) -> Result<Vec<StoredCorrection>, Error> {
        self.query_corrections(
            "WHERE c.user_id = ?1 AND c.work_date = ?2",
            [user.as_str().to_owned(), date_text(date)],
        )
    }

    /// The journaled correction with this idempotency key.
    pub fn correction_by_key(
        &self,
        idempotency_key: &str,
    ) -> Result<Option<StoredCorrection>, Error> {
        let found = self.query_corrections("WHERE c.idempotency_key = ?1", [idempotency_key])?;
        Ok(found.into_iter().next())
    }

    /// Approval instances behind journaled corrections that still lack a business id or an
    /// approved-at: the enrichment backlog.
    pub(crate) fn corrections_awaiting_enrichment(&self) -> Result<Vec<String>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT process_instance_id FROM corrections
                 WHERE process_instance_id IS NOT NULL
                     AND (business_id IS NULL OR approved_at_ms IS NULL)
                 ORDER BY process_instance_id",
            )
            .at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            [],
            "corrections",
            |reader| reader.text(0, "process_instance_id"),
        )
    }

    /// Fills the business id and approved-at of an approval's corrections where still missing;
    /// returns how many corrections changed. Each changed correction gets the next version, and
    /// every sink it was already delivered to gets it again (its outbox row due at once, under the
    /// same key): what a sink holds is never older than the journal. One transaction.
    pub(crate) fn enrich_corrections(
        &mut self,
        process_instance_id: &str,
        business_id: Option<&str>,
        approved_at: Option<DateTime<Utc>>,
    ) -> Result<u64, Error> {
        let transaction = self.conn.transaction().at(&self.location)?;
        let changing = "process_instance_id = ?1
             AND ((business_id IS NULL AND ?2 IS NOT NULL)
                 OR (approved_at_ms IS NULL AND ?3 IS NOT NULL))";
        let arguments = params![process_instance_id, business_id, opt_ms(approved_at)];
        transaction
            .prepare_cached(&format!(
                "UPDATE outbox SET delivered_at_ms = NULL, attempts = 0, next_attempt_ms = 0,
                     last_error = NULL
                 WHERE delivered_at_ms IS NOT NULL AND idempotency_key IN
                     (SELECT idempotency_key FROM corrections WHERE {changing})"
            ))
            .at(&self.location)?
            .execute(arguments)
            .at(&self.location)?;
        let changed = transaction
            .prepare_cached(&format!(
                "UPDATE corrections SET business_id = coalesce(business_id, ?2),
                     approved_at_ms = coalesce(approved_at_ms, ?3), version = version + 1
                 WHERE {changing}"
            ))
            .at(&self.location)?
            .execute(arguments)
            .at(&self.location)?;
        transaction.commit().at(&self.location)?;
        Ok(changed as u64)
    }

    /// Findings recorded by one run, in the order recorded.
    pub(crate) fn findings_for_run(&self, run_id: i64) -> Result<Vec<FindingRow>, Error> {
        let sql = format!("SELECT {FINDING_COLUMNS} FROM findings WHERE run_id = ?1 ORDER BY id");
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        let findings = collect(
            &self.location,
            &mut statement,
            [run_id],
            "findings",
            decode_finding,
        )?;
        Ok(findings.into_iter().map(|stored| stored.finding).collect())
    }

    /// Findings about work dates `from..=to` from every run, oldest first. Findings without a
    /// work date (an approval known only by id) are not included.
    pub fn findings_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredFinding>, Error> {
        let sql = format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE work_date BETWEEN ?1 AND ?2 ORDER BY id"
        );
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            [date_text(from), date_text(to)],
            "findings",
            decode_finding,
        )
    }

    fn query_corrections(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<StoredCorrection>, Error> {
        let sql = format!("{CORRECTION_SELECT} {filter} ORDER BY c.id");
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            params,
            "corrections",
            decode_correction,
        )
    }
}

fn decode_ledger(reader: &Reader<'_, '_>) -> Result<LedgerRow, Error> {
    Ok(LedgerRow {
        slot_key: reader.slot_key(0, "slot_key")?,
        state: reader.ledger_state(1)?,
        cause_class: reader.class(5, "cause_class")?,
        cause_process_instance_id: reader.opt_text(6, "cause_approval")?,
        last_correction_key: reader.opt_text(7, "last_correction_key")?,
        updated_run: reader.int(8, "updated_run")?,
    })
}

fn decode_correction(reader: &Reader<'_, '_>) -> Result<StoredCorrection, Error> {
    let correction = Correction {
        idempotency_key: reader.text(0, "idempotency_key")?,
        slot_key: reader.slot_key(2, "slot_key")?,
        class: reader.class(3, "class")?,
        before: reader.opt_ledger_state(4)?,
        after: reader.ledger_state(8)?,
        before_observed: reader.flag(12, "before_observed")?,
        process_instance_id: reader.opt_text(13, "process_instance_id")?,
        business_id: reader.opt_text(14, "business_id")?,
        approved_at: reader.opt_instant(15, "approved_at_ms")?,
    };
    Ok(StoredCorrection {
        correction,
        version: u32::try_from(reader.int(18, "version")?)
            .map_err(|_| reader.decode_error("version", "expected a version from 1"))?,
        run_id: reader.int(1, "run_id")?,
        applied_at: reader.instant(16, "applied_at_ms")?,
        check_type: reader
            .opt_text(17, "check_type")?
            .map(|raw| CheckType::parse(&raw)),
    })
}

fn decode_finding(reader: &Reader<'_, '_>) -> Result<StoredFinding, Error> {
    Ok(StoredFinding {
        run_id: reader.int(0, "run_id")?,
        finding: FindingRow {
            class: reader.class(1, "class")?,
            slot_key: reader.opt_slot_key(2, "slot_key")?,
            user_id: reader.opt_user(3, "user_id")?,
            work_date: reader.opt_date(4, "work_date")?,
            check_type: reader.opt_text(5, "check_type")?,
            plan_id: reader.opt_int(6, "plan_id")?,
            process_instance_id: reader.opt_text(7, "process_instance_id")?,
            detail: reader.text(8, "detail")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::ApplyBatch;
    use super::super::test_support::{at, corrected, day, new_run, slot, store, user};
    use super::*;

    fn correction(user_id: &str, date: NaiveDate, proc: &str) -> Correction {
        let fixed = corrected(slot(user_id, date, 1), proc);
        Correction {
            idempotency_key: format!("supply:{proc}"),
            slot_key: fixed.key(),
            class: ChangeClass::SupplyApplied,
            before: Some(slot(user_id, date, 1).ledger_state()),
            after: fixed.ledger_state(),
            before_observed: true,
            process_instance_id: Some(proc.to_owned()),
            business_id: None,
            approved_at: None,
        }
    }

    fn finding(class: ChangeClass, date: Option<NaiveDate>, detail: &str) -> FindingRow {
        FindingRow {
            class,
            slot_key: None,
            user_id: Some(user("u1")),
            work_date: date,
            check_type: None,
            plan_id: None,
            process_instance_id: Some("p9".into()),
            detail: detail.to_owned(),
        }
    }

    fn ids(corrections: &[StoredCorrection]) -> Vec<&str> {
        corrections
            .iter()
            .map(|stored| stored.correction.idempotency_key.as_str())
            .collect()
    }

    #[test]
    fn corrections_are_found_by_run_date_user_day_and_approval() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(30))).unwrap();
        let batch = ApplyBatch {
            applied_at: at(4),
            corrections: vec![
                correction("u1", day(3), "p1"),
                correction("u2", day(3), "p2"),
                correction("u1", day(9), "p3"),
            ],
            ..ApplyBatch::default()
        };
        store.apply_batch(run_id, &batch).unwrap();

        let all = store.all_corrections().unwrap();
        assert_eq!(
            all.iter()
                .map(|stored| &stored.correction)
                .collect::<Vec<_>>(),
            batch.corrections.iter().collect::<Vec<_>>()
        );
        assert!(
            all.iter()
                .all(|stored| stored.run_id == run_id && stored.applied_at == at(4))
        );
        assert_eq!(ids(&store.corrections_for_run(run_id).unwrap()).len(), 3);
        assert_eq!(
            ids(&store.corrections_between(day(1), day(5)).unwrap()),
            vec!["supply:p1", "supply:p2"]
        );
        assert_eq!(
            ids(&store.corrections_for_user_day(&user("u1"), day(9)).unwrap()),
            vec!["supply:p3"]
        );
        assert!(store.correction_by_key("absent").unwrap().is_none());
    }

    #[test]
    fn enrichment_fills_only_missing_fields_and_empties_the_backlog() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(30))).unwrap();
        let batch = ApplyBatch {
            corrections: vec![
                correction("u1", day(3), "p1"),
                correction("u2", day(3), "p2"),
            ],
            ..ApplyBatch::default()
        };
        store.apply_batch(run_id, &batch).unwrap();
        assert_eq!(
            store.corrections_awaiting_enrichment().unwrap(),
            vec!["p1", "p2"]
        );

        assert_eq!(
            store.enrich_corrections("p1", Some("B-1"), None).unwrap(),
            1
        );
        assert_eq!(
            store
                .enrich_corrections("p1", Some("B-other"), Some(at(5)))
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .enrich_corrections("p1", Some("B-again"), Some(at(6)))
                .unwrap(),
            0
        );

        let enriched = store.correction_by_key("supply:p1").unwrap().unwrap();
        assert_eq!(enriched.correction.business_id.as_deref(), Some("B-1"));
        assert_eq!(enriched.correction.approved_at, Some(at(5)));
        assert_eq!(store.corrections_awaiting_enrichment().unwrap(), vec!["p2"]);
    }

    #[test]
    fn a_finding_recorded_twice_in_a_run_is_kept_once_and_found_by_work_date() {
        let mut store = store();
        let first = store.begin_run(&new_run(day(1), day(30))).unwrap();
        let pending = finding(
            ChangeClass::SupplyPending,
            Some(day(3)),
            "approved, not visible yet",
        );
        let unmatched = finding(ChangeClass::SupplyUnmatched, None, "no slot matches");
        let batch = ApplyBatch {
            findings: vec![pending.clone(), pending.clone(), unmatched.clone()],
            ..ApplyBatch::default()
        };
        store.apply_batch(first, &batch).unwrap();
        let second = store.begin_run(&new_run(day(1), day(30))).unwrap();
        store.apply_batch(second, &batch).unwrap();

        assert_eq!(
            store.findings_for_run(first).unwrap(),
            vec![pending.clone(), unmatched]
        );
        let in_range = store.findings_between(day(3), day(3)).unwrap();
        let runs: Vec<i64> = in_range.iter().map(|stored| stored.run_id).collect();
        assert_eq!(runs, vec![first, second]);
        assert!(in_range.iter().all(|stored| stored.finding == pending));
        assert!(store.findings_between(day(4), day(30)).unwrap().is_empty());
    }
}
