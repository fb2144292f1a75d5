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
use crate::domain::{Approval, ApprovalResult, ApprovalStatus, ChangeClass, SlotKey, SupplyExt};

/// An approval as stored, with its resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApproval {
    pub approval: Approval,
    /// The class recorded for it; `None` while nothing was decided.
    pub resolution: Option<ChangeClass>,
    pub resolved_slot: Option<SlotKey>,
    pub first_seen_run: i64,
    pub fetched_at: DateTime<Utc>,
}

/// An approval id seen in a listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedApproval {
    pub id: String,
    pub process_code: String,
}

const APPROVAL_SELECT: &str = "SELECT a.id, a.process_code, a.business_id, a.title, \
     a.originator, a.status, a.result, a.create_time_ms, a.finish_time_ms, a.corrected_time_ms, \
     a.has_ext, a.ext_plan_id, a.ext_work_date, a.ext_user_check_ms, a.reason, a.biz_action, \
     a.raw_json, a.first_seen_run, a.fetched_at_ms, r.class, r.slot_key \
     FROM approvals a LEFT JOIN approval_resolutions r ON r.approval_id = a.id";

impl Store {
    /// Stores approval details (all in one transaction), replacing earlier details of the same
    /// ids; the first run that saw an id is kept.
    pub fn upsert_approvals(
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
                         biz_action, raw_json, first_seen_run, last_fetched_run, fetched_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                         ?16, ?17, ?18, ?18, ?19)
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
                         fetched_at_ms = excluded.fetched_at_ms",
                )
                .at(&location)?;
            for approval in approvals {
                let ext = approval.ext.as_ref();
                upsert
                    .execute(params![
                        approval.id,
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
                out.insert(stored.approval.id.clone(), stored);
            }
        }
        Ok(out)
    }

    /// Approvals without a final resolution: no class recorded yet (running, or not yet
    /// classified) or `supply_pending` (approved, not yet visible on its slot). Oldest first.
    pub fn unresolved_approvals(&self) -> Result<Vec<StoredApproval>, Error> {
        let sql = format!(
            "{APPROVAL_SELECT} WHERE r.class IS NULL OR r.class = 'supply_pending'
             ORDER BY a.create_time_ms, a.id"
        );
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        collect(&self.location, &mut statement, [], "approvals", decode)
    }

    /// Ids of every approval fetched in detail.
    pub fn known_approval_ids(&self) -> Result<BTreeSet<String>, Error> {
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
    pub fn record_listed_approvals(
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
                    .execute(params![item.id, item.process_code, run_id, ms(listed_at)])
                    .at(&location)?;
            }
        }
        transaction.commit().at(&location)
    }

    /// Ids seen in listings whose detail is not stored yet, first listed first.
    pub fn listed_approval_ids(&self) -> Result<Vec<ListedApproval>, Error> {
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
                    id: reader.text(0, "id")?,
                    process_code: reader.text(1, "process_code")?,
                })
            },
        )
    }
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
        id: reader.text(0, "id")?,
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
