//! Approval endpoints of [`Client`]: listing process instance ids of a template by creation window,
//! reading one instance, and finding the 补卡 templates.
//!
//! Listing splits creation windows (≤ 120 days) and originators (≤ 10 per call) and follows
//! `nextToken` (sent as a number, received as a string or number) until its end, whatever shape
//! that end takes. This module does not judge approvals (the domain type does) and does not
//! retry, throttle or meter (`transport` does).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::client::{INSTANCE, INSTANCE_IDS, TEMPLATES, api_call, decode_error};
use super::decode::{FieldError, Fields, check_id, check_text_id};
use super::form::decode_approval;
use super::limits::{
    APPROVAL_LOOKBACK_DAYS, IDS_PER_PAGE, MAX_BARREN_ID_PAGES, USERS_PER_APPROVAL_QUERY,
    id_page_bound, split_windows,
};
use super::model::ProcessInstanceIdsQuery;
use super::transport::Answer;
use super::{Client, Error};
use crate::domain::{Approval, UserId};

/// Where the listing's page bound comes from, for [`Error::Paging`].
const ID_BOUND_SOURCE: &str =
    "10,000 ids one query can reach (dingtalk-api.md 4.1) at 20 a page, plus the last";
/// How far back a 补卡's creation can lie: the 365-day listing reach, or five years for
/// OA高级版 customers (dingtalk-api.md section 4.1), and a year of spare.
const OLDEST_APPROVAL_DAYS: i64 = 6 * 366;
/// How far a 补卡's corrected time can lie before its filing: a punch of the last year at most
/// (attendance results reach back about half a year, dingtalk-api.md section 3.1).
const OLDEST_CORRECTION_DAYS: i64 = 366;

impl Client {
    /// Ids of the instances of one template created in the query's window, deduplicated, in the
    /// order DingTalk listed them. Refuses, without calling, a window starting more than 365 days
    /// before now.
    pub async fn process_instance_ids(
        &self,
        query: &ProcessInstanceIdsQuery,
    ) -> Result<Vec<String>, Error> {
        let invalid = |detail: String| Error::InvalidArgument {
            endpoint: INSTANCE_IDS.to_owned(),
            detail,
        };
        if query.process_code.trim().is_empty() {
            return Err(invalid("process code is empty".to_owned()));
        }
        if query.created_to < query.created_from {
            return Err(invalid(format!(
                "creation window ends ({}) before it starts ({})",
                query.created_to, query.created_from
            )));
        }
        let oldest = self.inner.clock.now() - Duration::days(APPROVAL_LOOKBACK_DAYS);
        if query.created_from < oldest {
            return Err(invalid(format!(
                "creation window starts {} which is more than {APPROVAL_LOOKBACK_DAYS} days ago; DingTalk only lists instances created since {oldest}",
                query.created_from
            )));
        }
        let user_chunks: Vec<&[UserId]> = if query.user_ids.is_empty() {
            vec![&[]]
        } else {
            query.user_ids.chunks(USERS_PER_APPROVAL_QUERY).collect()
        };
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        for (start, end) in split_windows(query.created_from, query.created_to) {
            for users in &user_chunks {
                for id in self
                    .process_instance_id_pages(
                        query,
                        start.timestamp_millis(),
                        end.timestamp_millis(),
                        users,
                    )
                    .await?
                {
                    if seen.insert(id.clone()) {
                        ids.push(id);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Follows `nextToken` (sent as a number, received as a string or number) to the end of one
    /// window: absent, empty or `"0"` ends the list. At most [`id_page_bound`] pages; the listing
    /// fails, with no further call, on a token past that bound, on a token already sent (a
    /// repeated cursor), and on [`MAX_BARREN_ID_PAGES`] pages in a row that bring no new id while
    /// the cursor goes on. Ending quietly instead would mark the window listed and lose its ids.
    async fn process_instance_id_pages(
        &self,
        query: &ProcessInstanceIdsQuery,
        start_ms: i64,
        end_ms: i64,
        users: &[UserId],
    ) -> Result<Vec<String>, Error> {
        let bound = id_page_bound();
        let paging = |reason: String| Error::Paging {
            endpoint: INSTANCE_IDS.to_owned(),
            batch: format!(
                "process {:?} created {start_ms}..{end_ms} (epoch ms), {} originator(s)",
                query.process_code,
                users.len()
            ),
            bound,
            bound_source: ID_BOUND_SOURCE,
            reason,
        };
        let mut ids = Vec::new();
        let mut seen_ids = HashSet::new();
        let mut next_token: i64 = 0;
        let mut seen_tokens = HashSet::new();
        let mut barren_pages = 0;
        for page in 0..bound {
            let mut body = json!({
                "processCode": query.process_code,
                "startTime": start_ms,
                "endTime": end_ms,
                "nextToken": next_token,
                "maxResults": IDS_PER_PAGE,
            });
            if !query.statuses.is_empty() {
                body["statuses"] = json!(
                    query
                        .statuses
                        .iter()
                        .map(|status| status.as_str())
                        .collect::<Vec<_>>()
                );
            }
            if !users.is_empty() {
                body["userIds"] = json!(users.iter().map(UserId::as_str).collect::<Vec<_>>());
            }
            let span = tracing::debug_span!(
                "dingtalk_call",
                endpoint = INSTANCE_IDS,
                page,
                cursor = next_token
            );
            let answer = self
                .execute(&api_call(
                    Method::POST,
                    INSTANCE_IDS,
                    Vec::new(),
                    Some(body),
                ))
                .instrument(span)
                .await?;
            let (page_ids, token) =
                read_id_page(&answer).map_err(|err| decode_error(INSTANCE_IDS, err.to_string()))?;
            let mut new_ids = 0;
            for id in page_ids {
                check_text_id("list[]", Some(&id)).map_err(|reason| Error::Rejected {
                    endpoint: INSTANCE_IDS.to_owned(),
                    batch: format!("process {:?}", query.process_code),
                    count: 1,
                    first: reason,
                })?;
                if seen_ids.insert(id.clone()) {
                    new_ids += 1;
                    ids.push(id);
                }
            }
            let Some(token) = token.filter(|token| !token.is_empty() && token != "0") else {
                return Ok(ids);
            };
            if !seen_tokens.insert(token.clone()) {
                return Err(paging(format!(
                    "nextToken {token:?} was already sent on an earlier page (a repeated cursor)"
                )));
            }
            barren_pages = if new_ids == 0 { barren_pages + 1 } else { 0 };
            if barren_pages >= MAX_BARREN_ID_PAGES {
                return Err(paging(format!(
                    "{barren_pages} pages in a row brought no new id while nextToken went on"
                )));
            }
            next_token = token.parse().map_err(|_| {
                decode_error(
                    INSTANCE_IDS,
                    format!("nextToken {token:?} is not a number; cannot send it back"),
                )
            })?;
        }
        Err(paging(format!(
            "nextToken still present after {bound} pages, past the 10,000 ids one query can reach"
        )))
    }

    /// One approval instance. A deleted or unknown instance is [`Error::NotFound`].
    pub async fn approval_detail(&self, process_instance_id: &str) -> Result<Approval, Error> {
        let query = vec![("processInstanceId", process_instance_id.to_owned())];
        let span = tracing::debug_span!(
            "dingtalk_call",
            endpoint = INSTANCE,
            instance = process_instance_id
        );
        let answer = self
            .execute(&api_call(Method::GET, INSTANCE, query, None))
            .instrument(span)
            .await
            .map_err(|error| match error {
                Error::NotFound { endpoint, code, .. } => Error::NotFound {
                    endpoint,
                    code,
                    what: format!("approval instance {process_instance_id}"),
                },
                other => other,
            })?;
        let approval = decode_approval(
            process_instance_id,
            &answer.json,
            answer.raw,
            self.inner.config.timezone,
        )?;
        check_approval(&approval, self.inner.clock.now()).map_err(|reason| Error::Rejected {
            endpoint: INSTANCE.to_owned(),
            batch: format!("instance {process_instance_id:?}"),
            count: 1,
            first: reason,
        })?;
        Ok(approval)
    }

    /// Several approval instances, fetched concurrently; one result per id, in the order given.
    pub async fn approval_details(
        &self,
        process_instance_ids: &[String],
    ) -> Vec<(String, Result<Approval, Error>)> {
        let mut tasks = JoinSet::new();
        for (index, id) in process_instance_ids.iter().enumerate() {
            let client = self.clone();
            let id = id.clone();
            tasks.spawn(async move { (index, client.approval_detail(&id).await) });
        }
        let mut results: Vec<Option<Result<Approval, Error>>> =
            process_instance_ids.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = Some(result),
                Err(error) => {
                    tracing::error!(error.message = %error, "an approval-detail task failed");
                }
            }
        }
        process_instance_ids
            .iter()
            .cloned()
            .zip(results)
            .map(|(id, result)| {
                let result = result.unwrap_or_else(|| {
                    Err(Error::Api {
                        endpoint: "/v1.0/workflow/processInstances".to_owned(),
                        code: "internal".to_owned(),
                        message: format!("the task fetching {id} failed (see the log)"),
                    })
                });
                (id, result)
            })
            .collect()
    }

    /// Process codes of the 补卡 templates (`attendanceType` 1) the given OA admin can manage.
    pub async fn supply_process_codes(&self, admin_user_id: &UserId) -> Result<Vec<String>, Error> {
        let mut codes: Vec<String> = Vec::new();
        for template in self.templates(admin_user_id).await? {
            if template.attendance_type == Some(1) && !codes.contains(&template.process_code) {
                codes.push(template.process_code);
            }
        }
        Ok(codes)
    }

    /// Every form the given OA admin can manage (one metered call), in DingTalk's order.
    pub(crate) async fn templates(&self, admin_user_id: &UserId) -> Result<Vec<Template>, Error> {
        let query = vec![("userId", admin_user_id.as_str().to_owned())];
        let answer = self
            .execute(&api_call(Method::GET, TEMPLATES, query, None))
            .await?;
        let templates = Fields::of(&answer.json, "body")
            .and_then(|fields| fields.array("result"))
            .map_err(|err| decode_error(TEMPLATES, err.to_string()))?;
        templates
            .iter()
            .enumerate()
            .map(|(index, template)| {
                let read = || -> Result<Template, FieldError> {
                    let fields = Fields::of(template, "result[]")?;
                    Ok(Template {
                        process_code: fields.req_str("processCode")?,
                        name: fields.opt_str("flowTitle")?.unwrap_or_default(),
                        attendance_type: fields.opt_i64("attendanceType")?,
                    })
                };
                read().map_err(|err| decode_error(TEMPLATES, format!("template {index}: {err}")))
            })
            .collect()
    }

    /// The first page (at most 20 ids) of a listing, one metered call: for a look at recent
    /// instances that must not follow the list to its end. Windows and originators as given
    /// (one window of at most 120 days, at most 10 originators).
    pub(crate) async fn process_instance_ids_first_page(
        &self,
        query: &ProcessInstanceIdsQuery,
    ) -> Result<Vec<String>, Error> {
        if query.user_ids.len() > USERS_PER_APPROVAL_QUERY {
            return Err(Error::InvalidArgument {
                endpoint: INSTANCE_IDS.to_owned(),
                detail: format!("more than {USERS_PER_APPROVAL_QUERY} originators"),
            });
        }
        let mut body = json!({
            "processCode": query.process_code,
            "startTime": query.created_from.timestamp_millis(),
            "endTime": query.created_to.timestamp_millis(),
            "nextToken": 0,
            "maxResults": IDS_PER_PAGE,
        });
        if !query.statuses.is_empty() {
            body["statuses"] = json!(
                query
                    .statuses
                    .iter()
                    .map(|status| status.as_str())
                    .collect::<Vec<_>>()
            );
        }
        if !query.user_ids.is_empty() {
            body["userIds"] = json!(
                query
                    .user_ids
                    .iter()
                    .map(UserId::as_str)
                    .collect::<Vec<_>>()
            );
        }
        let answer = self
            .execute(&api_call(
                Method::POST,
                INSTANCE_IDS,
                Vec::new(),
                Some(body),
            ))
            .await?;
        let (ids, _) =
            read_id_page(&answer).map_err(|err| decode_error(INSTANCE_IDS, err.to_string()))?;
        for id in &ids {
            check_text_id("list[]", Some(id)).map_err(|reason| Error::Rejected {
                endpoint: INSTANCE_IDS.to_owned(),
                batch: format!("process {:?}", query.process_code),
                count: 1,
                first: reason,
            })?;
        }
        Ok(ids)
    }
}

/// One form an OA admin can manage (`managements/templates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) process_code: String,
    /// `flowTitle`, as DingTalk sends it (outside text).
    pub(crate) name: String,
    /// `attendanceType`: 1 补卡, 2 leave, 0 or absent none.
    pub(crate) attendance_type: Option<i64>,
}

/// Whether a decoded approval is possible: created and finished within the reach of the
/// listing and not in the future (a day of slack for the UTC reading of workflow times), finished
/// after created, its 补卡 time in the year before its filing (not after it: a 补卡 repairs a
/// missed punch), its plan id well formed.
pub(crate) fn check_approval(approval: &Approval, now: DateTime<Utc>) -> Result<(), String> {
    let slack = Duration::days(1);
    let oldest = now - Duration::days(OLDEST_APPROVAL_DAYS);
    let within = |field: &str, time: DateTime<Utc>, low: DateTime<Utc>, high: DateTime<Utc>| {
        if low <= time && time <= high {
            Ok(())
        } else {
            Err(format!(
                "{field} {} is impossible: expected {} ..= {}",
                time.format("%Y-%m-%dT%H:%MZ"),
                low.format("%Y-%m-%dT%H:%MZ"),
                high.format("%Y-%m-%dT%H:%MZ")
            ))
        }
    };
    if let Some(created) = approval.create_time {
        within("createTime", created, oldest, now + slack)?;
    }
    if let Some(finished) = approval.finish_time {
        let low = approval
            .create_time
            .map_or(oldest, |created| created - slack);
        within("finishTime", finished, low, now + slack)?;
    }
    let filed = approval.create_time.unwrap_or(now);
    let earliest_punch = filed - Duration::days(OLDEST_CORRECTION_DAYS);
    if let Some(corrected) = approval.corrected_time {
        within("补卡时间", corrected, earliest_punch, filed + slack)?;
    }
    if let Some(ext) = &approval.ext {
        check_id("extValue.planId", ext.plan_id)?;
        if let Some(time) = ext.user_check_time {
            within(
                "extValue.userCheckTime",
                time,
                earliest_punch,
                filed + slack,
            )?;
        }
    }
    Ok(())
}

/// One `instanceIds/query` page: the ids and the `nextToken`, whatever its JSON type.
pub(super) fn read_id_page(answer: &Answer) -> Result<(Vec<String>, Option<String>), FieldError> {
    let fields = Fields::of(&answer.json, "body")?;
    let Some(result) = fields.get("result") else {
        return Ok((Vec::new(), None));
    };
    let result = Fields::of(result, "result")?;
    let ids = result
        .array("list")?
        .iter()
        .map(|value| match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            other => Err(FieldError {
                field: "list".into(),
                detail: format!("expected instance ids, found {other}"),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((ids, result.opt_str("nextToken")?))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::{ApprovalResult, ApprovalStatus, SupplyExt};

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn approval() -> Approval {
        Approval {
            process_instance_id: "p1".into(),
            process_code: "PROC-1".into(),
            business_id: Some("202611040001".into()),
            title: None,
            originator: UserId::new("u1").unwrap(),
            status: ApprovalStatus::Completed,
            result: Some(ApprovalResult::Agree),
            create_time: Some(at(2026, 11, 4, 2)),
            finish_time: Some(at(2026, 11, 4, 6)),
            corrected_time: Some(at(2026, 11, 3, 1)),
            ext: Some(SupplyExt {
                plan_id: Some(437_360_727_696),
                work_date: None,
                user_check_time: Some(at(2026, 11, 3, 1)),
            }),
            reason: None,
            biz_action: None,
            links: Default::default(),
            raw_json: String::new(),
        }
    }

    #[track_caller]
    fn check(edit: impl FnOnce(&mut Approval), expected: Result<(), &str>) {
        let mut approval = approval();
        edit(&mut approval);
        let checked = check_approval(&approval, at(2026, 11, 5, 18));
        match expected {
            Ok(()) => assert_eq!(checked, Ok(())),
            Err(needle) => {
                let err = checked.expect_err("rejected");
                assert!(err.contains(needle), "{err:?} lacks {needle:?}");
            }
        }
    }

    #[test]
    fn impossible_approvals_are_rejected_naming_the_field() {
        check(|_| {}, Ok(()));
        check(
            |a| a.create_time = Some(at(1913, 1, 1, 1)),
            Err("createTime 1913"),
        );
        check(
            |a| a.create_time = Some(at(2026, 11, 8, 0)),
            Err("createTime"),
        );
        check(
            |a| a.finish_time = Some(at(2026, 11, 1, 0)),
            Err("finishTime"),
        );
        check(
            |a| a.corrected_time = Some(at(2027, 11, 3, 1)),
            Err("补卡时间 2027"),
        );
        check(
            |a| a.corrected_time = Some(at(2025, 10, 1, 1)),
            Err("补卡时间"),
        );
        check(
            |a| a.ext.as_mut().unwrap().plan_id = Some(-1),
            Err("extValue.planId -1"),
        );
        check(
            |a| a.ext.as_mut().unwrap().user_check_time = DateTime::from_timestamp_millis(-1),
            Err("extValue.userCheckTime"),
        );
        // Without a creation time the corrected time is judged against now.
        check(|a| a.create_time = None, Ok(()));
    }
}
