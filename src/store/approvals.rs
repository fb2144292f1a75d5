//! Approvals: 补卡 instances fetched in detail (raw JSON kept), ids seen in listings but not yet
//! detailed, and the class each approval was resolved to.
//!
//! Listing ids and fetching details are separate steps so that detail fetching can be deferred
//! by the budget and resumed by a later run. Resolutions are written by [`Store::apply_batch`],
//! together with the corrections they explain. This module does not match approvals to slots.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params};

use super::Store;
use super::codec::{Reader, collect, date_text, ms, opt_ms};
use super::error::{Error, SqlResultExt};
use crate::domain::{
    Approval, ApprovalLinks, ApprovalResult, ApprovalStatus, ChangeClass, SlotKey, SupplyExt,
};

/// An approval as stored, with its resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApproval {
    pub approval: Approval,
    /// The class recorded for it; `None` while nothing was decided.
    pub resolution: Option<ChangeClass>,
    pub(crate) resolved_slot: Option<SlotKey>,
    pub(crate) first_seen_run: i64,
    pub(crate) fetched_at: DateTime<Utc>,
}

/// A process instance id seen in a listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ListedApproval {
    pub(crate) process_instance_id: String,
    pub(crate) process_code: String,
}

const APPROVAL_SELECT: &str = "SELECT a.id, a.process_code, a.business_id, a.title, \
     a.originator, a.status, a.result, a.create_time_ms, a.finish_time_ms, a.corrected_time_ms, \
     a.has_ext, a.ext_plan_id, a.ext_work_date, a.ext_user_check_ms, a.reason, a.biz_action, \
     a.raw_json, a.first_seen_run, a.fetched_at_ms, r.class, r.slot_key, \
     a.main_process_instance_id, a.attached_ids \
     FROM approvals a LEFT JOIN approval_resolutions r ON r.approval_id = a.id";

impl Store {
    /// Stores approval details (all in one transaction), replacing earlier details of the same
    /// ids; the first run that saw an id is kept.
    pub(crate) fn upsert_approvals(
        &mut self,
        approvals: &[Approval],
        run_id: i64,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.require_run(run_id)?;
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        {
            let mut upsert = transaction
                .prepare_cached(
                    "INSERT INTO approvals (id, process_code, business_id, title, originator,
                         status, result, create_time_ms, finish_time_ms, corrected_time_ms,
                         has_ext, ext_plan_id, ext_work_date, ext_user_check_ms, reason,
                         biz_action, raw_json, first_seen_run, last_fetched_run, fetched_at_ms,
                         main_process_instance_id, attached_ids)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                         ?16, ?17, ?18, ?18, ?19, ?20, ?21)
                     ON CONFLICT (id) DO UPDATE SET process_code = excluded.process_code,
                         business_id = excluded.business_id, title = excluded.title,
                         originator = excluded.originator, status = excluded.status,
                         result = excluded.result, create_time_ms = excluded.create_time_ms,
                         finish_time_ms = excluded.finish_time_ms,
                         corrected_time_ms = excluded.corrected_time_ms,
                         has_ext = excluded.has_ext, ext_plan_id = excluded.ext_plan_id,
                         ext_work_date = excluded.ext_work_date,
                         ext_user_check_ms = excluded.ext_user_check_ms,
                         reason = excluded.reason, biz_action = excluded.biz_action,
                         raw_json = excluded.raw_json,
                         last_fetched_run = excluded.last_fetched_run,
                         fetched_at_ms = excluded.fetched_at_ms,
                         main_process_instance_id = excluded.main_process_instance_id,
                         attached_ids = excluded.attached_ids",
                )
                .at(&location)?;
            for approval in approvals {
                let ext = approval.ext.as_ref();
                upsert
                    .execute(params![
                        approval.process_instance_id,
                        approval.process_code,
                        approval.business_id,
                        approval.title,
                        approval.originator.as_str(),
                        approval.status.as_str(),
                        approval.result.as_ref().map(ApprovalResult::as_str),
                        opt_ms(approval.create_time),
                        opt_ms(approval.finish_time),
                        opt_ms(approval.corrected_time),
                        ext.is_some(),
                        ext.and_then(|ext| ext.plan_id),
                        ext.and_then(|ext| ext.work_date).map(date_text),
                        ext.and_then(|ext| opt_ms(ext.user_check_time)),
                        approval.reason,
                        approval.biz_action,
                        approval.raw_json,
                        run_id,
                        ms(fetched_at),
                        approval.links.main,
                        attached_json(&approval.links.attached)?,
                    ])
                    .at(&location)?;
            }
        }
        transaction.commit().at(&location)
    }

    /// The stored approvals among `ids`.
    pub fn approvals(&self, ids: &[String]) -> Result<BTreeMap<String, StoredApproval>, Error> {
        let sql = format!("{APPROVAL_SELECT} WHERE a.id = ?1");
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        let mut out = BTreeMap::new();
        for id in ids {
            for stored in collect(&self.location, &mut statement, [id], "approvals", decode)? {
                out.insert(stored.approval.process_instance_id.clone(), stored);
            }
        }
        Ok(out)
    }

    /// The pending approvals: **the one definition of "pending"** that `status`, the reports'
    /// pending lists and their `supply_pending` counts all use. A pending approval is a 补卡
    /// approval whose detail this job stored, that DingTalk approved, and whose slot DingTalk
    /// did not yet show corrected the last time a run looked: its recorded resolution is
    /// `supply_pending`. An approval still awaiting a decision (running), or whose detail is
    /// not fetched yet, is not pending: nothing is owed to the ledger yet. Oldest first.
    pub(crate) fn pending_approvals(&self) -> Result<Vec<StoredApproval>, Error> {
        self.approvals_resolved_as(ChangeClass::SupplyPending)
    }

    /// Stored approvals whose recorded resolution is `class`, oldest first.
    pub(crate) fn approvals_resolved_as(
        &self,
        class: ChangeClass,
    ) -> Result<Vec<StoredApproval>, Error> {
        let sql = format!("{APPROVAL_SELECT} WHERE r.class = ?1 ORDER BY a.create_time_ms, a.id");
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            [class.as_str()],
            "approvals",
            decode,
        )
    }

    /// The approvals still awaiting a decision: stored with status `RUNNING` or `NEW` (as their
    /// latest fetched detail said), whatever their resolution; with `fetched_by`, only those
    /// that run fetched last, so the ones it saw running. Not pending (see
    /// [`Store::pending_approvals`]). Oldest first.
    pub(crate) fn running_approvals(
        &self,
        fetched_by: Option<i64>,
    ) -> Result<Vec<StoredApproval>, Error> {
        let sql = format!(
            "{APPROVAL_SELECT} WHERE a.status IN ('RUNNING', 'NEW')
                 AND (?1 IS NULL OR a.last_fetched_run = ?1)
             ORDER BY a.create_time_ms, a.id"
        );
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            [fetched_by],
            "approvals",
            decode,
        )
    }

    /// Unresolved approvals, the ones this job has not finished with: no class recorded yet
    /// (running, or not yet classified) or `supply_pending` (approved, not yet visible on its
    /// slot). Oldest first.
    pub(crate) fn unresolved_approvals(&self) -> Result<Vec<StoredApproval>, Error> {
        let sql = format!(
            "{APPROVAL_SELECT} WHERE r.class IS NULL OR r.class = 'supply_pending'
             ORDER BY a.create_time_ms, a.id"
        );
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        collect(&self.location, &mut statement, [], "approvals", decode)
    }

    /// Ids of every approval fetched in detail.
    pub(crate) fn known_process_instance_ids(&self) -> Result<BTreeSet<String>, Error> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id FROM approvals")
            .at(&self.location)?;
        let ids = collect(&self.location, &mut statement, [], "approvals", |reader| {
            reader.text(0, "id")
        })?;
        Ok(ids.into_iter().collect())
    }

    /// Records ids seen in a listing (already listed ids are kept as first listed).
    pub(crate) fn record_listed_approvals(
        &mut self,
        listed: &[ListedApproval],
        run_id: i64,
        listed_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.require_run(run_id)?;
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO approval_listings (id, process_code, listed_run, listed_at_ms)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
                )
                .at(&location)?;
            for item in listed {
                insert
                    .execute(params![
                        item.process_instance_id,
                        item.process_code,
                        run_id,
                        ms(listed_at)
                    ])
                    .at(&location)?;
            }
        }
        transaction.commit().at(&location)
    }

    /// Of the detail backlog, the ids only backfill runs listed (no nightly run did): work a
    /// backfill or the queue owes, which a nightly run does not need for its own dates.
    pub(crate) fn backlog_listed_only_by_backfills(&self) -> Result<BTreeSet<String>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT l.id FROM approval_listings l JOIN runs r ON r.id = l.listed_run
                 WHERE NOT EXISTS (SELECT 1 FROM approvals a WHERE a.id = l.id)
                 GROUP BY l.id HAVING min(r.kind = 'backfill') = 1",
            )
            .at(&self.location)?;
        let ids = collect(
            &self.location,
            &mut statement,
            [],
            "approval_listings",
            |reader| reader.text(0, "id"),
        )?;
        Ok(ids.into_iter().collect())
    }

    /// Ids seen in listings whose detail is not stored yet, first listed first.
    pub(crate) fn listed_process_instance_ids(&self) -> Result<Vec<ListedApproval>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT l.id, l.process_code FROM approval_listings l
                 WHERE NOT EXISTS (SELECT 1 FROM approvals a WHERE a.id = l.id)
                 ORDER BY l.listed_at_ms, l.id",
            )
            .at(&self.location)?;
        collect(
            &self.location,
            &mut statement,
            [],
            "approval_listings",
            |reader| {
                Ok(ListedApproval {
                    process_instance_id: reader.text(0, "id")?,
                    process_code: reader.text(1, "process_code")?,
                })
            },
        )
    }
}

/// The `attached_ids` column: a JSON array, NULL when there is none.
fn attached_json(ids: &[String]) -> Result<Option<String>, Error> {
    if ids.is_empty() {
        return Ok(None);
    }
    super::codec::to_json("attached process instance ids", &ids).map(Some)
}

fn decode(reader: &Reader<'_, '_>) -> Result<StoredApproval, Error> {
    let ext = if reader.flag(10, "has_ext")? {
        Some(SupplyExt {
            plan_id: reader.opt_int(11, "ext_plan_id")?,
            work_date: reader.opt_date(12, "ext_work_date")?,
            user_check_time: reader.opt_instant(13, "ext_user_check_ms")?,
        })
    } else {
        None
    };
    let approval = Approval {
        process_instance_id: reader.text(0, "id")?,
        process_code: reader.text(1, "process_code")?,
        business_id: reader.opt_text(2, "business_id")?,
        title: reader.opt_text(3, "title")?,
        originator: reader.user(4, "originator")?,
        status: ApprovalStatus::parse(&reader.text(5, "status")?),
        result: reader
            .opt_text(6, "result")?
            .map(|raw| ApprovalResult::parse(&raw)),
        create_time: reader.opt_instant(7, "create_time_ms")?,
        finish_time: reader.opt_instant(8, "finish_time_ms")?,
        corrected_time: reader.opt_instant(9, "corrected_time_ms")?,
        ext,
        reason: reader.opt_text(14, "reason")?,
        biz_action: reader.opt_text(15, "biz_action")?,
        links: ApprovalLinks {
            main: reader.opt_text(21, "main_process_instance_id")?,
            attached: reader
                .opt_json::<Vec<String>>(22, "attached_ids")?
                .unwrap_or_default(),
        },
        raw_json: reader.text(16, "raw_json")?,
    };
    Ok(StoredApproval {
        approval,
        first_seen_run: reader.int(17, "first_seen_run")?,
        fetched_at: reader.instant(18, "fetched_at_ms")?,
        resolution: reader.opt_class(19, "class")?,
        resolved_slot: reader.opt_slot_key(20, "slot_key")?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, day, new_run, store, user};
    use super::super::{ApplyBatch, Error};
    use super::*;

    fn approval(id: &str, status: ApprovalStatus, result: Option<ApprovalResult>) -> Approval {
        Approval {
            process_instance_id: id.to_owned(),
            process_code: "PROC-SUPPLY".into(),
            business_id: Some(format!("2026110{id}")),
            title: Some("补卡申请".into()),
            originator: user("0126"),
            status,
            result,
            create_time: Some(at(1)),
            finish_time: None,
            corrected_time: Some(at(0)),
            ext: Some(SupplyExt {
                plan_id: Some(437),
                work_date: Some(day(3)),
                user_check_time: None,
            }),
            reason: Some("忘记打卡".into()),
            biz_action: Some("NONE".into()),
            links: Default::default(),
            raw_json: format!(r#"{{"process_instance_id":"{id}","status":"RUNNING"}}"#),
        }
    }

    #[test]
    fn approvals_round_trip_with_raw_json_and_later_details_replace_earlier_ones() {
        let mut store = store();
        let first_run = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let running = approval("a1", ApprovalStatus::Running, None);
        store
            .upsert_approvals(std::slice::from_ref(&running), first_run, at(2))
            .unwrap();
        let second_run = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let mut approved = approval("a1", ApprovalStatus::Completed, Some(ApprovalResult::Agree));
        approved.finish_time = Some(at(3));
        approved.ext = None;
        store
            .upsert_approvals(&[approved.clone()], second_run, at(4))
            .unwrap();

        let stored = store.approvals(&["a1".into(), "absent".into()]).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored["a1"].approval, approved);
        assert_eq!(stored["a1"].first_seen_run, first_run);
        assert_eq!(stored["a1"].fetched_at, at(4));
        assert_eq!(
            store.known_process_instance_ids().unwrap(),
            BTreeSet::from(["a1".to_owned()])
        );
    }

    #[test]
    fn unknown_statuses_are_kept_verbatim() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let odd = approval(
            "a2",
            ApprovalStatus::parse("SUSPENDED"),
            Some(ApprovalResult::parse("redirect")),
        );
        store
            .upsert_approvals(std::slice::from_ref(&odd), run_id, at(2))
            .unwrap();
        assert_eq!(store.approvals(&["a2".into()]).unwrap()["a2"].approval, odd);
    }

    /// A store with approvals running, approved and pending, approved and applied, approved
    /// and not classified yet, and refused.
    fn approvals_in_every_state() -> Store {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let agree = Some(ApprovalResult::Agree);
        let approvals = [
            approval("running", ApprovalStatus::Running, None),
            approval("pending", ApprovalStatus::Completed, agree.clone()),
            approval("applied", ApprovalStatus::Completed, agree.clone()),
            approval("unclassified", ApprovalStatus::Completed, agree.clone()),
            approval(
                "refused",
                ApprovalStatus::Completed,
                Some(ApprovalResult::Refuse),
            ),
        ];
        store.upsert_approvals(&approvals, run_id, at(2)).unwrap();
        let batch = ApplyBatch {
            approval_resolutions: vec![
                ("pending".into(), ChangeClass::SupplyPending, None),
                ("applied".into(), ChangeClass::SupplyApplied, None),
                ("refused".into(), ChangeClass::SupplyRefused, None),
            ],
            ..ApplyBatch::default()
        };
        store.apply_batch(run_id, &batch).unwrap();
        store
    }

    #[test]
    fn only_approvals_without_a_final_resolution_are_unresolved() {
        let store = approvals_in_every_state();
        let unresolved: Vec<(String, Option<ChangeClass>)> = store
            .unresolved_approvals()
            .unwrap()
            .into_iter()
            .map(|stored| (stored.approval.process_instance_id, stored.resolution))
            .collect();
        assert_eq!(
            unresolved,
            vec![
                ("pending".to_owned(), Some(ChangeClass::SupplyPending)),
                ("running".to_owned(), None),
                ("unclassified".to_owned(), None),
            ]
        );
    }

    #[test]
    fn pending_is_approved_and_resolved_supply_pending_only() {
        let store = approvals_in_every_state();
        let ids = |found: Vec<StoredApproval>| -> Vec<String> {
            found
                .into_iter()
                .map(|stored| stored.approval.process_instance_id)
                .collect()
        };
        assert_eq!(ids(store.pending_approvals().unwrap()), ["pending"]);
        assert_eq!(
            ids(store
                .approvals_resolved_as(ChangeClass::SupplyRefused)
                .unwrap()),
            ["refused"]
        );
    }

    #[test]
    fn running_approvals_are_those_awaiting_a_decision_as_last_fetched() {
        let mut store = approvals_in_every_state();
        let ids = |found: Vec<StoredApproval>| -> Vec<String> {
            found
                .into_iter()
                .map(|stored| stored.approval.process_instance_id)
                .collect()
        };
        let first = store.approvals(&["running".into()]).unwrap()["running"].first_seen_run;
        assert_eq!(ids(store.running_approvals(None).unwrap()), ["running"]);
        assert_eq!(
            ids(store.running_approvals(Some(first)).unwrap()),
            ["running"]
        );
        // A later run fetches a new one and sees the first decided: the first run's view keeps
        // nothing (its running one was last fetched by the later run), the later run's has the
        // new one only.
        let later = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let mut fresh = approval("new", ApprovalStatus::New, None);
        fresh.create_time = Some(at(0));
        let mut decided = approval("running", ApprovalStatus::Terminated, None);
        decided.finish_time = Some(at(3));
        store
            .upsert_approvals(&[fresh, decided], later, at(4))
            .unwrap();
        assert_eq!(ids(store.running_approvals(None).unwrap()), ["new"]);
        assert!(store.running_approvals(Some(first)).unwrap().is_empty());
        assert_eq!(ids(store.running_approvals(Some(later)).unwrap()), ["new"]);
    }

    #[test]
    fn listed_ids_stay_in_the_backlog_until_their_detail_is_stored() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let listed = |id: &str| ListedApproval {
            process_instance_id: id.to_owned(),
            process_code: "PROC-SUPPLY".into(),
        };
        store
            .record_listed_approvals(&[listed("a1"), listed("a3")], run_id, at(1))
            .unwrap();
        store
            .record_listed_approvals(&[listed("a1")], run_id, at(2))
            .unwrap();
        assert_eq!(
            store.listed_process_instance_ids().unwrap(),
            vec![listed("a1"), listed("a3")]
        );

        store
            .upsert_approvals(
                &[approval("a1", ApprovalStatus::Running, None)],
                run_id,
                at(3),
            )
            .unwrap();
        assert_eq!(
            store.listed_process_instance_ids().unwrap(),
            vec![listed("a3")]
        );
    }

    #[test]
    fn approvals_for_an_unknown_run_are_refused() {
        let mut store = store();
        let err = store
            .upsert_approvals(&[approval("a1", ApprovalStatus::Running, None)], 5, at(1))
            .unwrap_err();
        assert!(matches!(err, Error::UnknownRun { run_id: 5 }), "{err}");
    }

    fn linked(id: &str, main: Option<&str>, attached: &[&str]) -> Approval {
        let mut approval = approval(id, ApprovalStatus::Completed, Some(ApprovalResult::Agree));
        approval.links = ApprovalLinks {
            main: main.map(str::to_owned),
            attached: attached.iter().map(|id| (*id).to_owned()).collect(),
        };
        approval
    }

    #[test]
    fn links_round_trip_and_a_later_detail_replaces_them() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let mut revocation = linked("rev-1", Some("orig-1"), &[]);
        revocation.biz_action = Some("REVOKE".into());
        let approvals = [
            revocation,
            linked("orig-1", None, &["rev-1"]),
            linked("orig-2", None, &["rev-2", "mod-2"]),
            linked("plain", None, &[]),
        ];
        store.upsert_approvals(&approvals, run_id, at(2)).unwrap();
        let ids: Vec<String> = approvals
            .iter()
            .map(|a| a.process_instance_id.clone())
            .collect();
        let stored = store.approvals(&ids).unwrap();
        for approval in &approvals {
            assert_eq!(
                stored[&approval.process_instance_id].approval, *approval,
                "{}",
                approval.process_instance_id
            );
        }
        assert_eq!(
            stored["rev-1"].approval.revokes(),
            Some("orig-1"),
            "a stored revocation still names what it revokes"
        );
        // No links are NULL columns, attached ids a JSON array.
        let columns = |id: &str| -> (Option<String>, Option<String>) {
            store
                .conn
                .query_row(
                    "SELECT main_process_instance_id, attached_ids FROM approvals WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .unwrap()
        };
        assert_eq!(columns("plain"), (None, None));
        assert_eq!(columns("rev-1"), (Some("orig-1".into()), None));
        assert_eq!(
            columns("orig-2"),
            (None, Some(r#"["rev-2","mod-2"]"#.into()))
        );

        // A later detail of the original lists a second attached instance; one of the plain
        // approval's loses nothing it never had.
        let second_run = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let later = linked("orig-1", None, &["rev-1", "rev-9"]);
        store
            .upsert_approvals(std::slice::from_ref(&later), second_run, at(3))
            .unwrap();
        assert_eq!(
            store.approvals(&["orig-1".into()]).unwrap()["orig-1"]
                .approval
                .links,
            later.links
        );
        let unlinked = linked("orig-2", None, &[]);
        store
            .upsert_approvals(std::slice::from_ref(&unlinked), second_run, at(3))
            .unwrap();
        assert_eq!(
            store.approvals(&["orig-2".into()]).unwrap()["orig-2"]
                .approval
                .links,
            ApprovalLinks::default()
        );
    }

    /// A store file at schema version 8 (every migration before `approval_links`), holding one
    /// run and, for each `(id, raw_json)`, an approval stored by a build of that version, opened
    /// (so migrated) by this build; the directory lives as long as the store is used.
    fn migrated_from_version_8(approvals: &[(&str, String)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reconcile.db");
        version_8_store(&path, approvals);
        let store = Store::open(&path).unwrap();
        (dir, store)
    }

    fn version_8_store(path: &std::path::Path, approvals: &[(&str, String)]) {
        let connection = rusqlite::Connection::open(path).unwrap();
        for migration in &super::super::open::MIGRATIONS[..8] {
            connection.execute_batch(migration).unwrap();
        }
        connection.pragma_update(None, "user_version", 8).unwrap();
        connection
            .pragma_update(None, "application_id", super::super::open::APPLICATION_ID)
            .unwrap();
        connection
            .execute(
                "INSERT INTO runs (id, kind, trigger, as_of_ms, window_from, window_to, \
                     plan_json, started_at_ms, finished_at_ms, outcome) \
                 VALUES (1, 'nightly', 'test', 0, '2026-11-01', '2026-11-07', '{}', 0, 1, 'done')",
                [],
            )
            .unwrap();
        for (id, raw_json) in approvals {
            let biz_action = serde_json::from_str::<serde_json::Value>(raw_json)
                .ok()
                .and_then(|body| body["result"]["bizAction"].as_str().map(str::to_owned));
            connection
                .execute(
                    "INSERT INTO approvals (id, process_code, originator, status, result, \
                         has_ext, biz_action, raw_json, first_seen_run, last_fetched_run, \
                         fetched_at_ms) \
                     VALUES (?1, 'PROC-SUPPLY', '0126', 'COMPLETED', 'agree', 0, \
?3, ?2, 1, 1, 0)",
                    params![id, raw_json, biz_action],
                )
                .unwrap();
        }
    }

    fn detail(result: serde_json::Value) -> String {
        serde_json::json!({"success": true, "result": result}).to_string()
    }

    #[test]
    fn migration_9_fills_the_links_of_details_stored_before_from_their_raw_json() {
        use serde_json::json;
        let (_dir, store) = migrated_from_version_8(&[
            (
                "rev-1",
                detail(json!({
                    "bizAction": "REVOKE",
                    "mainProcessInstanceId": "orig-1",
                    "attachedProcessInstanceIds": []
                })),
            ),
            (
                "orig-1",
                detail(json!({
                    "bizAction": "NONE",
                    "mainProcessInstanceId": "",
                    "attachedProcessInstanceIds": ["rev-1"]
                })),
            ),
            (
                "blank-main",
                detail(json!({"bizAction": "NONE", "mainProcessInstanceId": "  "})),
            ),
            ("plain", detail(json!({"bizAction": "NONE"}))),
            (
                "null-links",
                detail(json!({
                    "mainProcessInstanceId": null,
                    "attachedProcessInstanceIds": null
                })),
            ),
            ("not-json", "{truncated".to_owned()),
            ("no-result", json!({"success": true}).to_string()),
        ]);

        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, super::super::open::SCHEMA_VERSION);
        let ids: Vec<String> = [
            "rev-1",
            "orig-1",
            "blank-main",
            "plain",
            "null-links",
            "not-json",
            "no-result",
        ]
        .map(str::to_owned)
        .to_vec();
        let stored = store.approvals(&ids).unwrap();
        assert_eq!(stored.len(), ids.len());
        let links = |id: &str| stored[id].approval.links.clone();
        assert_eq!(
            links("rev-1"),
            ApprovalLinks {
                main: Some("orig-1".into()),
                attached: Vec::new()
            }
        );
        assert_eq!(stored["rev-1"].approval.revokes(), Some("orig-1"));
        assert_eq!(
            links("orig-1"),
            ApprovalLinks {
                main: None,
                attached: vec!["rev-1".into()]
            }
        );
        assert_eq!(stored["orig-1"].approval.revokes(), None);
        for id in ["blank-main", "plain", "null-links", "not-json", "no-result"] {
            assert_eq!(links(id), ApprovalLinks::default(), "{id}");
        }
    }

    /// What the decoder would make of the same detail (empty ids dropped) is what the migration
    /// makes of it (the migration once copied the array as is, empty ids included).
    #[test]
    fn migration_9_drops_empty_attached_ids_as_the_decoder_does() {
        use serde_json::json;
        let (_dir, store) = migrated_from_version_8(&[
            (
                "with-empty",
                detail(json!({"attachedProcessInstanceIds": ["", "rev-2", " "]})),
            ),
            (
                "only-empty",
                detail(json!({"attachedProcessInstanceIds": [""]})),
            ),
        ]);

        let stored = store
            .approvals(&["with-empty", "only-empty"].map(str::to_owned))
            .unwrap();
        assert_eq!(
            stored["with-empty"].approval.links.attached,
            vec!["rev-2".to_owned()]
        );
        assert!(stored["only-empty"].approval.links.attached.is_empty());
    }

    /// A detail stored before migration 9 whose attached ids are not all strings (no build before
    /// read them, so it was stored like any other) does not make the approvals unreadable (the
    /// migration once copied `[42, "rev-3"]` as is, and every read of it failed to decode).
    #[test]
    fn migration_9_leaves_a_non_string_attached_id_readable() {
        use serde_json::json;
        let (_dir, store) = migrated_from_version_8(&[
            (
                "numeric",
                detail(json!({"attachedProcessInstanceIds": [42, "rev-3"]})),
            ),
            ("plain", detail(json!({"bizAction": "NONE"}))),
        ]);

        let stored = store
            .approvals(&["numeric", "plain"].map(str::to_owned))
            .expect("approvals stored before the migration stay readable");
        assert_eq!(stored.len(), 2);
        assert!(
            stored["numeric"]
                .approval
                .links
                .attached
                .iter()
                .all(|id| !id.trim().is_empty())
        );
    }
}
