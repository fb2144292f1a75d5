//! Approval endpoints of [`Client`]: listing process instance ids of a template by creation window,
//! reading one instance, and finding the 补卡 templates.
//!
//! Listing splits creation windows (≤ 120 days) and originators (≤ 10 per call) and follows
//! `nextToken` (sent as a number, received as a string or number) until its end, whatever shape
//! that end takes. This module does not judge approvals (the domain type does) and does not
//! retry, throttle or meter (`transport` does).

use std::collections::HashSet;

use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::client::{INSTANCE, INSTANCE_IDS, TEMPLATES, api_call, decode_error};
use super::decode::{FieldError, Fields};
use super::form::decode_approval;
use super::limits::{
    APPROVAL_LOOKBACK_DAYS, IDS_PER_PAGE, USERS_PER_APPROVAL_QUERY, split_windows,
};
use super::model::ProcessInstanceIdsQuery;
use super::transport::Answer;
use super::{Client, Error};
use crate::domain::{Approval, UserId};

/// A runaway guard on `nextToken` loops (DingTalk stops at 10,000 ids = 500 pages).
const MAX_APPROVAL_PAGES: u64 = 600;

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
    /// window: absent, empty, `"0"` or a token already seen all end the list.
    async fn process_instance_id_pages(
        &self,
        query: &ProcessInstanceIdsQuery,
        start_ms: i64,
        end_ms: i64,
        users: &[UserId],
    ) -> Result<Vec<String>, Error> {
        let mut ids = Vec::new();
        let mut next_token: i64 = 0;
        let mut seen_tokens = HashSet::new();
        for page in 0..MAX_APPROVAL_PAGES {
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
            ids.extend(page_ids);
            let Some(token) = token.filter(|token| !token.is_empty() && token != "0") else {
                return Ok(ids);
            };
            if !seen_tokens.insert(token.clone()) {
                tracing::warn!(
                    endpoint = INSTANCE_IDS,
                    "nextToken repeated; treating it as the end of the list"
                );
                return Ok(ids);
            }
            next_token = token.parse().map_err(|_| {
                decode_error(
                    INSTANCE_IDS,
                    format!("nextToken {token:?} is not a number; cannot send it back"),
                )
            })?;
        }
        Err(decode_error(
            INSTANCE_IDS,
            format!("nextToken still present after {MAX_APPROVAL_PAGES} pages"),
        ))
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
        decode_approval(
            process_instance_id,
            &answer.json,
            answer.raw,
            self.inner.config.timezone,
        )
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
        let query = vec![("userId", admin_user_id.as_str().to_owned())];
        let answer = self
            .execute(&api_call(Method::GET, TEMPLATES, query, None))
            .await?;
        let templates = Fields::of(&answer.json, "body")
            .and_then(|fields| fields.array("result"))
            .map_err(|err| decode_error(TEMPLATES, err.to_string()))?;
        let mut codes = Vec::new();
        for (index, template) in templates.iter().enumerate() {
            let read = || -> Result<Option<String>, FieldError> {
                let fields = Fields::of(template, "result[]")?;
                if fields.opt_i64("attendanceType")? != Some(1) {
                    return Ok(None);
                }
                fields.req_str("processCode").map(Some)
            };
            match read() {
                Ok(Some(code)) if !codes.contains(&code) => codes.push(code),
                Ok(_) => {}
                Err(err) => {
                    return Err(decode_error(TEMPLATES, format!("template {index}: {err}")));
                }
            }
        }
        Ok(codes)
    }
}

/// One `instanceIds/query` page: the ids and the `nextToken`, whatever its JSON type.
fn read_id_page(answer: &Answer) -> Result<(Vec<String>, Option<String>), FieldError> {
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
