//! [`Client`]: one method per DingTalk endpoint the job uses, with pagination and splitting
//! inside, returning domain types.
//!
//! Attendance pulls split their work into batches (≤ 50 users × ≤ 7 days) that run concurrently,
//! so a large pull keeps the API near its QPS cap; a failed batch becomes a [`BatchError`] in the
//! pull rather than an abort. The approval endpoints live in `approvals`. This module does not
//! retry, throttle or meter: `transport` does that for every call made here.
//!
//! Nothing outside the request leaves this module: every row is checked against its batch
//! (`rows::check_slot`, `rows::check_punch`), and a rejected row becomes a line with its raw value
//! in the pull's `rejected` and an [`Error::Rejected`] for its batch. Paging stops at the batch's
//! bound (`limits::result_page_bound`) and at the first page that brings no row not already seen,
//! with an [`Error::Paging`] and no further call.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::classify::Family;
use super::decode::{FieldError, Fields, capped_json, excerpt, format_local, lenient_i64};
use super::limits::{Batch, ROWS_PER_PAGE, result_page_bound, split_batches};
use super::model::{BatchError, Punch, PunchesPull, ResultsPull, Scope, user_days};
use super::rows::{RowRequest, check_punch, check_slot, decode_punch_row, decode_result_row};
pub(crate) use super::transport::{Budget, StopFlag};
use super::transport::{CallSpec, Inner};
use super::{CallRecorder, ClientConfig, Error};
use crate::domain::{Clock, Slot, UserId};

/// Bytes of a row's JSON text kept to recognise it on a later page (a real row is about 400).
const ROW_IDENTITY_BYTES: usize = 2_048;

/// Where the results page bound comes from, for [`Error::Paging`].
const RESULT_BOUND_SOURCE: &str =
    "the batch's users × days × 6 check points a day at 50 rows a page, plus one";

const RESULTS: &str = "/attendance/list";
const PUNCHES: &str = "/attendance/listRecord";
pub(super) const INSTANCE_IDS: &str = "/v1.0/workflow/processes/instanceIds/query";
pub(super) const INSTANCE: &str = "/v1.0/workflow/processInstances";
pub(super) const TEMPLATES: &str = "/v1.0/workflow/processes/managements/templates";
pub(super) const SUB_DEPARTMENTS: &str = "/topapi/v2/department/listsubid";
const DEPARTMENT_USERS: &str = "/topapi/user/listid";

/// The DingTalk client. Cheap to clone (an `Arc` inside) so several tasks can pull concurrently;
/// clones share the token, the limits and the metered count. A handle made by
/// [`Client::with_budget`] also spends out of its [`Budget`] and obeys its stop flag.
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
    pub(super) budget: Option<Budget>,
    /// The users of the last department scope walked, and when: one process plans a run, its
    /// estimate and the queue's share from the same directory instead of walking it each time.
    scope_cache: Arc<std::sync::Mutex<Option<ScopeWalk>>>,
}

/// One walk of a department scope.
struct ScopeWalk {
    roots: Vec<i64>,
    at: std::time::Instant,
    users: Vec<UserId>,
}

/// How long a walk of the directory stands for the scope: long enough for one command (a run,
/// its estimate, the queue after it), short enough that a daemon sees joiners each night.
const SCOPE_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(600);

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("metered_calls", &self.metered_calls())
            .field("quota_exhausted", &self.quota_exhausted())
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(
        config: ClientConfig,
        clock: Arc<dyn Clock>,
        recorder: Arc<dyn CallRecorder>,
    ) -> Result<Self, Error> {
        Ok(Client {
            inner: Arc::new(Inner::new(config, clock, recorder)?),
            budget: None,
            scope_cache: Arc::default(),
        })
    }

    /// A handle of this client whose metered calls also spend out of `budget`: once the budget
    /// (or a budget it was carved from) is spent or its stop flag raised, further metered calls
    /// fail fast with [`Error::BudgetExhausted`] without calling DingTalk. Calls through other
    /// handles are not counted against it.
    pub(crate) fn with_budget(&self, budget: &Budget) -> Client {
        Client {
            inner: self.inner.clone(),
            budget: Some(budget.clone()),
            scope_cache: self.scope_cache.clone(),
        }
    }

    /// Hard cap on metered calls for this client's lifetime, across all handles: a safety net
    /// beside the handles' budgets; reaching it makes further metered calls fail fast with
    /// [`Error::BudgetExhausted`] without calling DingTalk. `None` = no cap.
    pub fn set_metered_cap(&self, cap: Option<u64>) {
        self.inner
            .cap
            .store(cap.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Metered attempts made by this client (counted per [`CallRecord::metered`](crate::domain::CallRecord::metered)).
    pub fn metered_calls(&self) -> u64 {
        self.inner.metered.load(Ordering::SeqCst)
    }

    /// Set once DingTalk reported the monthly quota exhausted; no further metered call is made.
    pub fn quota_exhausted(&self) -> bool {
        self.quota_exhausted_at().is_some()
    }

    /// When DingTalk first reported the monthly quota exhausted to this client (its clock).
    pub(crate) fn quota_exhausted_at(&self) -> Option<DateTime<Utc>> {
        match self.inner.quota_exhausted.load(Ordering::SeqCst) {
            super::transport::NOT_EXHAUSTED => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    /// Lifts the quota latch when it was set before `month_start` (a long-lived process, the
    /// daemon, reaching the next quota month): metered calls may be made again.
    pub(crate) fn forget_quota_exhausted_before(&self, month_start: DateTime<Utc>) {
        if let Some(at) = self.quota_exhausted_at()
            && at < month_start
        {
            self.inner
                .quota_exhausted
                .store(super::transport::NOT_EXHAUSTED, Ordering::SeqCst);
        }
    }

    /// Lifts the quota latch whenever it was set: the store's record of the month now decides
    /// whether metered calls are made (`reconcile::blocked::note`).
    pub(crate) fn forget_quota_exhausted(&self) {
        self.inner
            .quota_exhausted
            .store(super::transport::NOT_EXHAUSTED, Ordering::SeqCst);
    }

    /// Sets the quota latch as if DingTalk had answered `90020` at `at` (unit tests).
    #[cfg(test)]
    pub(crate) fn set_quota_exhausted_at(&self, at: DateTime<Utc>) {
        self.inner
            .quota_exhausted
            .store(at.timestamp_millis(), Ordering::SeqCst);
    }

    /// The users of a scope, deduplicated and sorted. Departments are walked recursively with
    /// the free contacts calls.
    pub async fn users_in_scope(&self, scope: &Scope) -> Result<Vec<UserId>, Error> {
        match scope {
            Scope::Users(users) => Ok(users
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()),
            Scope::Departments(roots) => {
                if let Some(users) = self.cached_walk(roots) {
                    return Ok(users);
                }
                let users = self.walk_departments(roots).await?;
                if let Ok(mut cache) = self.scope_cache.lock() {
                    *cache = Some(ScopeWalk {
                        roots: roots.to_vec(),
                        at: std::time::Instant::now(),
                        users: users.clone(),
                    });
                }
                Ok(users)
            }
        }
    }

    fn cached_walk(&self, roots: &[i64]) -> Option<Vec<UserId>> {
        let cache = self.scope_cache.lock().ok()?;
        let walk = cache.as_ref()?;
        (walk.roots == roots && walk.at.elapsed() < SCOPE_FRESH_FOR).then(|| walk.users.clone())
    }

    async fn walk_departments(&self, roots: &[i64]) -> Result<Vec<UserId>, Error> {
        let mut visited: HashSet<i64> = HashSet::new();
        let mut level: Vec<i64> = roots
            .iter()
            .copied()
            .filter(|dept| visited.insert(*dept))
            .collect();
        let mut users = BTreeSet::new();
        while !level.is_empty() {
            let mut tasks = JoinSet::new();
            for dept_id in level.drain(..) {
                let client = self.clone();
                tasks.spawn(async move { client.department(dept_id).await });
            }
            while let Some(joined) = tasks.join_next().await {
                let (children, members) = joined.map_err(|err| Error::Config {
                    detail: format!("department task failed: {err}"),
                })??;
                users.extend(members);
                level.extend(children.into_iter().filter(|child| visited.insert(*child)));
            }
            level.sort_unstable();
        }
        Ok(users.into_iter().collect())
    }

    /// The root department's direct sub-departments and members, counted: two free contacts
    /// calls that need a token and both contacts permission points (`doctor`).
    pub(crate) async fn root_department(&self) -> Result<(usize, usize), Error> {
        let (children, members) = self.department(1).await?;
        Ok((children.len(), members.len()))
    }

    /// One department's direct sub-departments (free).
    pub(super) async fn sub_departments(&self, dept_id: i64) -> Result<Vec<i64>, Error> {
        let body = json!({"dept_id": dept_id});
        let answer = self.execute(&oapi_post(SUB_DEPARTMENTS, body)).await?;
        read_result_array(SUB_DEPARTMENTS, &answer.json, "dept_id_list")?
            .iter()
            .map(|value| {
                lenient_i64(value).ok().flatten().ok_or_else(|| {
                    decode_error(
                        SUB_DEPARTMENTS,
                        format!("dept_id_list: expected numbers, found {value}"),
                    )
                })
            })
            .collect()
    }

    /// One department's direct sub-departments and direct members.
    async fn department(&self, dept_id: i64) -> Result<(Vec<i64>, Vec<UserId>), Error> {
        let children = self.sub_departments(dept_id).await?;
        let body = json!({"dept_id": dept_id});
        let members = self.execute(&oapi_post(DEPARTMENT_USERS, body)).await?;
        let members = read_result_array(DEPARTMENT_USERS, &members.json, "userid_list")?
            .iter()
            .map(|value| {
                let raw = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                UserId::new(raw)
                    .map_err(|err| decode_error(DEPARTMENT_USERS, format!("userid_list: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((children, members))
    }

    /// Attendance results (`attendance/list`) of `users` for work dates `from..=to`.
    pub async fn attendance_results(
        &self,
        users: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> ResultsPull {
        let batches = split_batches(users, from, to);
        let outcomes = self
            .run_batches(batches, |client, batch| async move {
                client.results_batch(&batch).await
            })
            .await;
        let mut pull = ResultsPull::default();
        let mut unknown = BTreeSet::new();
        for (batch, outcome) in outcomes {
            let rows = outcome.unwrap_or_else(|| BatchRows::failed(task_failed(RESULTS)));
            pull.slots.extend(rows.rows);
            unknown.extend(rows.unknown);
            pull.rejected.extend(rows.rejected);
            settle(
                batch,
                rows.error,
                &mut pull.complete_user_days,
                &mut pull.errors,
            );
        }
        pull.slots.sort_by_key(Slot::key);
        pull.unknown_values = unknown.into_iter().collect();
        pull
    }

    /// Raw punches (`attendance/listRecord`) of `users` for check dates `from..=to` (local).
    pub async fn raw_punches(
        &self,
        users: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> PunchesPull {
        let batches = split_batches(users, from, to);
        let outcomes = self
            .run_batches(batches, |client, batch| async move {
                client.punches_batch(&batch).await
            })
            .await;
        let mut pull = PunchesPull::default();
        for (batch, outcome) in outcomes {
            let rows = outcome.unwrap_or_else(|| BatchRows::failed(task_failed(PUNCHES)));
            pull.punches.extend(rows.rows);
            pull.rejected.extend(rows.rejected);
            settle(
                batch,
                rows.error,
                &mut pull.complete_user_days,
                &mut pull.errors,
            );
        }
        pull.punches.sort_by(|a, b| {
            (&a.user_id, a.check_time, a.record_id).cmp(&(&b.user_id, b.check_time, b.record_id))
        });
        pull
    }

    /// Runs one task per batch concurrently (the semaphore and rate limiter pace them) and
    /// returns the outcomes in batch order; `None` for a task that did not complete (logged), so
    /// the caller books that batch as failed rather than losing it.
    async fn run_batches<T, F, Fut>(&self, batches: Vec<Batch>, fetch: F) -> Vec<(Batch, Option<T>)>
    where
        T: Send + 'static,
        F: Fn(Client, Batch) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let mut tasks = JoinSet::new();
        for (index, batch) in batches.iter().enumerate() {
            let task = fetch(self.clone(), batch.clone());
            tasks.spawn(async move { (index, task.await) });
        }
        let mut outcomes: Vec<Option<T>> = batches.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, outcome)) => outcomes[index] = Some(outcome),
                Err(err) => tracing::error!(error = %err, "a batch task failed to complete"),
            }
        }
        batches.into_iter().zip(outcomes).collect()
    }

    /// All pages of one results batch, at most [`result_page_bound`] of them. Rows that decode
    /// and answer the request are kept even when another row or page fails; any failure makes
    /// the batch incomplete (the error is returned beside the rows). Paging ends as failed, with
    /// no further call, on `hasMore` past the bound, on an empty page that claims more, and on a
    /// page that brings no row not already seen (a repeated page: DingTalk ignored the offset).
    async fn results_batch(&self, batch: &Batch) -> BatchRows<Slot> {
        let timezone = self.inner.config.timezone;
        let request = RowRequest::of(batch, timezone);
        let bound = result_page_bound(batch);
        let mut out = BatchRows::default();
        let mut seen_rows: HashSet<String> = HashSet::new();
        let paging = |reason: String| Error::Paging {
            endpoint: RESULTS.to_owned(),
            batch: batch.describe(),
            bound,
            bound_source: RESULT_BOUND_SOURCE,
            reason,
        };
        for page in 0..bound {
            let offset = page * ROWS_PER_PAGE;
            let body = json!({
                "workDateFrom": format_local(batch.from, (0, 0, 0)),
                "workDateTo": format_local(batch.to, (0, 0, 0)),
                "userIdList": batch.users.iter().map(UserId::as_str).collect::<Vec<_>>(),
                "offset": offset,
                "limit": ROWS_PER_PAGE,
                "isI18n": false,
            });
            let span = tracing::debug_span!("dingtalk_call", endpoint = RESULTS, page, offset, users = batch.users.len(), from = %batch.from, to = %batch.to);
            let answer = match self
                .execute(&oapi_post(RESULTS, body))
                .instrument(span)
                .await
            {
                Ok(answer) => answer,
                Err(error) => return out.end(RESULTS, batch, Some(error)),
            };
            let read = Fields::of(&answer.json, "body").and_then(|fields| {
                Ok((fields.array("recordresult")?, fields.opt_bool("hasMore")?))
            });
            let (rows, has_more) = match read {
                Ok(read) => read,
                Err(err) => {
                    return out.end(RESULTS, batch, Some(decode_error(RESULTS, err.to_string())));
                }
            };
            let mut fresh_rows = 0;
            for (row_index, row) in rows.iter().enumerate() {
                // A row's identity for spotting repeated pages: its JSON text, cut short so a
                // hostile megabyte row costs no more than a real one.
                if seen_rows.insert(capped_json(row, ROW_IDENTITY_BYTES)) {
                    fresh_rows += 1;
                }
                let decoded = decode_result_row(row, timezone).map_err(|err| err.to_string());
                match decoded
                    .and_then(|decoded| check_slot(&decoded.slot, &request).map(|()| decoded))
                {
                    Ok(decoded) => {
                        tracing::trace!(user = %decoded.slot.user_id, work_date = %decoded.slot.work_date, "result row");
                        out.rows.push(decoded.slot);
                        out.unknown.extend(decoded.unknown_values);
                    }
                    Err(reason) => {
                        let detail = row_detail(offset, row_index, &reason);
                        tracing::warn!(endpoint = RESULTS, %detail, "result row rejected");
                        out.reject(RESULTS, batch, &detail, row);
                    }
                }
            }
            if !has_more.unwrap_or(false) {
                return out.end(RESULTS, batch, None);
            }
            if rows.is_empty() {
                let reason = format!("hasMore is true on an empty page at offset {offset}");
                return out.end(RESULTS, batch, Some(paging(reason)));
            }
            if fresh_rows == 0 {
                let reason = format!(
                    "the page at offset {offset} repeats rows already read (DingTalk did not advance the offset)"
                );
                return out.end(RESULTS, batch, Some(paging(reason)));
            }
        }
        let reason =
            format!("hasMore is still true after {bound} pages, more than the batch can hold");
        out.end(RESULTS, batch, Some(paging(reason)))
    }

    /// The punches of one batch (one unpaged call). Punches outside the request are rejected.
    async fn punches_batch(&self, batch: &Batch) -> BatchRows<Punch> {
        let timezone = self.inner.config.timezone;
        let request = RowRequest::of(batch, timezone);
        let body = json!({
            "userIds": batch.users.iter().map(UserId::as_str).collect::<Vec<_>>(),
            "checkDateFrom": format_local(batch.from, (0, 0, 0)),
            "checkDateTo": format_local(batch.to, (23, 59, 59)),
            "isI18n": false,
        });
        let span = tracing::debug_span!("dingtalk_call", endpoint = PUNCHES, users = batch.users.len(), from = %batch.from, to = %batch.to);
        let mut out = BatchRows::default();
        let answer = match self
            .execute(&oapi_post(PUNCHES, body))
            .instrument(span)
            .await
        {
            Ok(answer) => answer,
            Err(error) => return out.end(PUNCHES, batch, Some(error)),
        };
        let rows = match Fields::of(&answer.json, "body")
            .and_then(|fields| fields.array("recordresult"))
        {
            Ok(rows) => rows,
            Err(err) => {
                return out.end(PUNCHES, batch, Some(decode_error(PUNCHES, err.to_string())));
            }
        };
        for (row_index, row) in rows.iter().enumerate() {
            let decoded = decode_punch_row(row, timezone).map_err(|err| err.to_string());
            match decoded.and_then(|punch| check_punch(&punch, &request).map(|()| punch)) {
                Ok(punch) => out.rows.push(punch),
                Err(reason) => {
                    let detail = row_detail(0, row_index, &reason);
                    tracing::warn!(endpoint = PUNCHES, %detail, "punch row rejected");
                    out.reject(PUNCHES, batch, &detail, row);
                }
            }
        }
        out.end(PUNCHES, batch, None)
    }
}

/// What one batch brought back: the rows that decoded and answer the request, the unknown enum
/// values they carried, one line per rejected row (with its raw value), and the batch's error.
struct BatchRows<T> {
    rows: Vec<T>,
    unknown: Vec<String>,
    rejected: Vec<String>,
    /// Why the first rejected row was rejected, for the batch's error.
    first_reason: Option<String>,
    error: Option<Error>,
}

impl<T> Default for BatchRows<T> {
    fn default() -> Self {
        BatchRows {
            rows: Vec::new(),
            unknown: Vec::new(),
            rejected: Vec::new(),
            first_reason: None,
            error: None,
        }
    }
}

impl<T> BatchRows<T> {
    fn failed(error: Error) -> Self {
        BatchRows {
            error: Some(error),
            ..BatchRows::default()
        }
    }

    /// Books a rejected row: why, where, and its raw value (JSON text, control characters
    /// escaped, cut short).
    fn reject(&mut self, endpoint: &str, batch: &Batch, detail: &str, row: &Value) {
        self.first_reason.get_or_insert_with(|| detail.to_owned());
        self.rejected.push(format!(
            "rejected a row of {endpoint} ({}): {detail}; raw {}",
            batch.describe(),
            excerpt(row)
        ));
    }

    /// The batch's outcome: `error` when paging or a call failed, else [`Error::Rejected`] when
    /// rows were rejected (undecodable or outside the request), else complete.
    fn end(mut self, endpoint: &str, batch: &Batch, error: Option<Error>) -> Self {
        self.error = error.or_else(|| {
            self.first_reason.clone().map(|first| Error::Rejected {
                endpoint: endpoint.to_owned(),
                batch: batch.describe(),
                count: self.rejected.len(),
                first,
            })
        });
        self
    }
}

pub(super) fn oapi_post(path: &'static str, body: Value) -> CallSpec {
    CallSpec {
        family: Family::Oapi,
        method: Method::POST,
        path,
        query: Vec::new(),
        body: Some(body),
        authenticated: true,
    }
}

pub(super) fn api_call(
    method: Method,
    path: &'static str,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
) -> CallSpec {
    CallSpec {
        family: Family::Api,
        method,
        path,
        query,
        body,
        authenticated: true,
    }
}

pub(super) fn decode_error(endpoint: &str, detail: String) -> Error {
    Error::Decode {
        endpoint: endpoint.to_owned(),
        detail,
    }
}

fn row_detail(offset: u64, row_index: usize, err: &str) -> String {
    format!(
        "row {} (offset {offset}, index {row_index}): {err}",
        offset + row_index as u64
    )
}

/// `result.<name>` of an oapi contacts answer, as an array.
pub(super) fn read_result_array<'a>(
    endpoint: &str,
    body: &'a Value,
    name: &str,
) -> Result<&'a [Value], Error> {
    Fields::of(body, "body")
        .and_then(|fields| match fields.get("result") {
            Some(result) => Fields::of(result, "result"),
            None => Err(FieldError {
                field: "result".into(),
                detail: "missing: expected an object".into(),
            }),
        })
        .and_then(|result| result.array(name))
        .map_err(|err| decode_error(endpoint, err.to_string()))
}

/// The error booked for a batch whose task did not complete.
fn task_failed(endpoint: &str) -> Error {
    Error::Api {
        endpoint: endpoint.to_owned(),
        code: "internal".to_owned(),
        message: "the task fetching this batch failed (see the log)".to_owned(),
    }
}

/// Books one finished batch: its user-days are complete, or the batch is an error.
fn settle(
    batch: Batch,
    error: Option<Error>,
    complete: &mut BTreeSet<(UserId, NaiveDate)>,
    errors: &mut Vec<BatchError>,
) {
    match error {
        None => complete.extend(user_days(&batch.users, batch.from, batch.to)),
        Some(error) => errors.push(BatchError {
            users: batch.users,
            from: batch.from,
            to: batch.to,
            error,
        }),
    }
}
