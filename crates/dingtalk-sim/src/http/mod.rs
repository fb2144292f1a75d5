//! The simulator's HTTP face: both DingTalk API families and the `/_sim/` admin paths on one
//! port, dispatched by path by one handler so that every answer, including every error, has
//! DingTalk's own shape (no framework rejections leak out).
//!
//! Order of checks for a DingTalk call: armed fault → per-API QPS window → monthly quota (metered
//! paths only) → token → the endpoint. The answer is then accounted by DingTalk's metering rule
//! (`metering`).
//!
//! Error choices where DingTalk documents none (documented so clients can rely on them):
//! - oapi: any malformed or out-of-limit request (bad JSON, missing field, wrong type, more than
//!   50 users or 7 days, `limit` over 50, a `user/list` `size` outside 1..=100 or a negative
//!   `cursor`) answers `errcode 40035` with an `errmsg` naming the field and the rule; a missing
//!   token `41001`; an unknown department `60003`. Bodies are JSON only.
//! - api: a malformed request answers HTTP 400 `invalidParameter` (list-ids rules use their own
//!   documented codes); `templates` for a non-admin answers HTTP 400 `noPermission`;
//!   `users/search` accepts `size` 1..=100 and treats `offset` as an item offset.
//! - a permission point the app lacks (`SimConfig::denied_permissions`): checked after the token,
//!   answered as DingTalk does (`permission`), counted like any business error.
//! - 5xx from faults: api family `{"code":"ServiceUnavailable",…}`, oapi an HTML gateway page.
//! - Hostile faults (answers DingTalk does not give, from whatever stands in front of it): a
//!   `redirect` is the 3xx with its `Location` and an empty body; `throttle_429_json` is HTTP 429
//!   `{"code":"Throttling","message":…,"requestid":…}` in both families; `html_page` is a captive
//!   portal's login page on HTTP 200. None is metered.
//!
//! This module does not decide what the world contains (see `generate`/`world`).

mod admin;
mod attendance;
mod contacts;
mod hostile;
mod params;
mod permission;
mod workflow;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::faults::FaultKind;
use super::state::{SimState, TokenError};
use crate::metering::{Answered, is_metered_path};

/// Largest request body read (bytes).
const MAX_BODY: usize = 1 << 20;

/// Which of DingTalk's two API families a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `oapi.dingtalk.com`: HTTP 200 + `errcode`/`errmsg`, token in `?access_token=`.
    Oapi,
    /// `api.dingtalk.com`: HTTP status + `{code,message,requestid}`, token in a header.
    Api,
}

/// One answer before it becomes an HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub outcome: Answered,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
}

impl Reply {
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            body,
            content_type: "application/json",
            outcome: Answered::Ok,
            location: None,
        }
    }

    /// oapi success: the payload must already hold `errcode: 0`.
    pub fn ok<T: Serialize>(value: &T) -> Reply {
        Reply::json(StatusCode::OK, value)
    }

    /// oapi business error: HTTP 200 with a non-zero `errcode`.
    pub fn oapi_error(errcode: i64, errmsg: impl Into<String>, request_id: &str) -> Reply {
        let body = serde_json::json!({
            "errcode": errcode,
            "errmsg": errmsg.into(),
            "request_id": request_id,
        });
        let mut reply = Reply::json(StatusCode::OK, &body);
        reply.outcome = Answered::BusinessError(errcode.to_string());
        reply
    }

    /// api error: HTTP status + `{code, message, requestid}`.
    pub fn api_error(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        request_id: &str,
    ) -> Reply {
        let body = serde_json::json!({
            "code": code,
            "message": message.into(),
            "requestid": request_id,
        });
        let mut reply = Reply::json(status, &body);
        reply.outcome = if status.is_server_error() {
            Answered::ServerError(status.as_u16())
        } else {
            Answered::BusinessError(code.to_owned())
        };
        reply
    }

    pub fn family_error(
        family: Family,
        oapi: (i64, &str),
        api: (StatusCode, &str),
        msg: &str,
        rid: &str,
    ) -> Reply {
        match family {
            Family::Oapi => Reply::oapi_error(oapi.0, format!("{}: {msg}", oapi.1), rid),
            Family::Api => Reply::api_error(api.0, api.1, msg, rid),
        }
    }
}

/// What a DingTalk endpoint handler receives.
pub(crate) struct Call<'a> {
    pub state: &'a SimState,
    pub family: Family,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub token: Option<String>,
    pub body: &'a [u8],
    pub now_ms: i64,
    pub request_id: String,
}

impl Call<'_> {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// oapi 40035 / api 400 `invalidParameter` for a malformed request.
    pub fn bad_request(&self, msg: &str) -> Reply {
        Reply::family_error(
            self.family,
            (40035, "不合法的参数"),
            (StatusCode::BAD_REQUEST, "invalidParameter"),
            msg,
            &self.request_id,
        )
    }

    pub fn api_error(&self, status: StatusCode, code: &str, msg: &str) -> Reply {
        Reply::api_error(status, code, msg, &self.request_id)
    }
}

/// The axum router serving everything.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// Serves the simulator on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<SimState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The oapi paths served (`oapi.dingtalk.com`).
const OAPI_PATHS: &[&str] = &[
    "/gettoken",
    "/attendance/list",
    "/attendance/listRecord",
    "/topapi/v2/department/listsubid",
    "/topapi/user/listid",
    "/topapi/v2/user/list",
    "/topapi/v2/department/get",
];

/// The api paths served (`api.dingtalk.com`).
const API_PATHS: &[&str] = &[
    "/v1.0/oauth2/accessToken",
    "/v1.0/workflow/processes/instanceIds/query",
    "/v1.0/workflow/processInstances",
    "/v1.0/workflow/processes/managements/templates",
    "/v1.0/contact/users/search",
];

/// Every DingTalk path the simulator serves, both families (the `/_sim/` admin paths aside).
pub fn dingtalk_paths() -> impl Iterator<Item = &'static str> {
    OAPI_PATHS.iter().chain(API_PATHS).copied()
}

fn family_of(path: &str) -> Option<Family> {
    if OAPI_PATHS.contains(&path) {
        Some(Family::Oapi)
    } else if API_PATHS.contains(&path) {
        Some(Family::Api)
    } else {
        None
    }
}

/// Runs each call in its own task, so a call keeps going (and is accounted) when the client gives
/// up on it: a slow answer is still served and metered, as DingTalk would.
async fn handle(State(state): State<Arc<SimState>>, request: Request) -> Response {
    match tokio::spawn(process(state, request)).await {
        Ok(response) => response,
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("simulator task failed: {err}"),
        )
            .into_response(),
    }
}

async fn process(state: Arc<SimState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    if let Some(rest) = path.strip_prefix("/_sim/") {
        return admin::handle(&state, &parts.method, rest, &query, &body);
    }
    let Some(family) = family_of(&path) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no such DingTalk path: {path}"),
        )
            .into_response();
    };
    let token = match family {
        Family::Oapi => query
            .iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.clone()),
        Family::Api => parts
            .headers
            .get("x-acs-dingtalk-access-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let request_id = state.request_id();
    let mut malformed = false;
    let fault = state.next_fault(&path);
    let early = match fault.clone() {
        Some(FaultKind::Throttle) => Some(throttled(family, &request_id)),
        Some(FaultKind::ServerError { status }) => Some(server_error(family, status, &request_id)),
        Some(FaultKind::IpBanHtml) => Some(ip_ban_html()),
        Some(FaultKind::IpBanJson) => Some(ip_ban_json(&request_id)),
        Some(FaultKind::QuotaExhausted) => Some(quota_exhausted(family, &request_id)),
        Some(FaultKind::Redirect { status, location }) => Some(redirect(status, location)),
        Some(FaultKind::Throttle429Json) => Some(throttled_429_json(&request_id)),
        Some(FaultKind::HtmlPage) => Some(captive_portal()),
        Some(FaultKind::InvalidateTokens) => {
            state.invalidate_tokens();
            None
        }
        Some(FaultKind::Slow { delay_ms }) => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            None
        }
        Some(FaultKind::Malformed) => {
            malformed = true;
            None
        }
        Some(
            FaultKind::EndlessPages { .. }
            | FaultKind::EndlessCursor
            | FaultKind::ForeignRows { .. }
            | FaultKind::HostileStrings
            | FaultKind::EmptyPages,
        )
        | None => None,
    };
    let original_body = body.clone();
    let body = hostile::rewrite_request(fault.as_ref(), &path, body);
    let reply = match early {
        Some(reply) => reply,
        None if !state.qps_admit(&path) => throttled(family, &request_id),
        None if is_metered_path(&path) && state.quota_exhausted() => {
            quota_exhausted(family, &request_id)
        }
        None => {
            let call = Call {
                state: &state,
                family,
                method: &parts.method,
                path: &path,
                query,
                token,
                body: &body,
                now_ms: state.now_ms(),
                request_id: request_id.clone(),
            };
            route(&call)
        }
    };
    let mut reply = reply;
    hostile::rewrite_reply(fault.as_ref(), &path, &original_body, &mut reply);
    if malformed && reply.outcome.counts_against_quota() {
        let cut = reply.body.len() / 2;
        reply.body.truncate(cut.max(1));
        reply.status = StatusCode::OK;
        reply.outcome = Answered::Malformed;
    }
    state.record(&path, &reply.outcome);
    tracing::debug!(path = %path, status = reply.status.as_u16(), outcome = ?reply.outcome, "sim call");
    into_response(reply, family, &request_id)
}

fn into_response(reply: Reply, family: Family, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    if let Some(location) = reply.location.as_deref()
        && let Ok(value) = HeaderValue::from_str(location)
    {
        headers.insert(header::LOCATION, value);
    }
    if family == Family::Api
        && let Ok(value) = HeaderValue::from_str(request_id)
    {
        headers.insert("x-acs-request-id", value);
    }
    response
}

/// Dispatches an admitted call to its endpoint, after the token check.
fn route(call: &Call<'_>) -> Reply {
    let method_ok = match call.path {
        "/gettoken"
        | "/v1.0/workflow/processInstances"
        | "/v1.0/workflow/processes/managements/templates" => call.method == Method::GET,
        _ => call.method == Method::POST,
    };
    if !method_ok {
        return call.bad_request(&format!(
            "method {} is not allowed on {}",
            call.method, call.path
        ));
    }
    match call.path {
        "/gettoken" => return contacts::gettoken(call),
        "/v1.0/oauth2/accessToken" => return contacts::access_token(call),
        _ => {}
    }
    if let Err(err) = call.state.check_token(call.token.as_deref()) {
        return token_error(call, err);
    }
    if let Some(refusal) = permission::check(call, &call.state.world().config.denied_permissions) {
        return refusal;
    }
    match call.path {
        "/attendance/list" => attendance::list(call),
        "/attendance/listRecord" => attendance::list_record(call),
        "/topapi/v2/department/listsubid" => contacts::listsubid(call),
        "/topapi/user/listid" => contacts::listid(call),
        "/topapi/v2/user/list" => contacts::user_list(call),
        "/topapi/v2/department/get" => contacts::department_get(call),
        "/v1.0/contact/users/search" => contacts::users_search(call),
        "/v1.0/workflow/processes/instanceIds/query" => workflow::instance_ids(call),
        "/v1.0/workflow/processInstances" => workflow::instance(call),
        "/v1.0/workflow/processes/managements/templates" => workflow::templates(call),
        other => call.bad_request(&format!("unknown path {other}")),
    }
}

fn token_error(call: &Call<'_>, err: TokenError) -> Reply {
    let rid = &call.request_id;
    match (call.family, err) {
        (Family::Oapi, TokenError::Missing) => {
            Reply::oapi_error(41001, "缺少access_token参数", rid)
        }
        (Family::Oapi, TokenError::Invalid) => {
            Reply::oapi_error(40014, "不合法的access_token", rid)
        }
        (Family::Oapi, TokenError::Expired) => Reply::oapi_error(42001, "access_token超时", rid),
        (Family::Api, TokenError::Expired) => call.api_error(
            StatusCode::BAD_REQUEST,
            "InvalidAuthentication",
            "access_token已过期",
        ),
        (Family::Api, _) => call.api_error(
            StatusCode::BAD_REQUEST,
            "InvalidAuthentication",
            "不合法的access_token",
        ),
    }
}

fn throttled(family: Family, rid: &str) -> Reply {
    let mut reply = Reply::family_error(
        family,
        (90018, "当前企业调用该接口的QPS超过限制"),
        (
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        ),
        "app's per-API QPS limit exceeded",
        rid,
    );
    reply.outcome = Answered::Throttled;
    reply
}

fn quota_exhausted(family: Family, rid: &str) -> Reply {
    let mut reply = Reply::family_error(
        family,
        (90020, "当月API调用量已超过限制"),
        (
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.ApiCountLimitForOrg",
        ),
        "the organisation's monthly API call quota is exhausted",
        rid,
    );
    reply.outcome = Answered::QuotaExhausted;
    reply
}

fn server_error(family: Family, status: u16, rid: &str) -> Reply {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_server_error())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    match family {
        Family::Api => Reply::api_error(status, "ServiceUnavailable", "service unavailable", rid),
        Family::Oapi => Reply {
            status,
            body: format!("<html><body><h1>{status}</h1></body></html>").into_bytes(),
            content_type: "text/html",
            outcome: Answered::ServerError(status.as_u16()),
            location: None,
        },
    }
}

fn ip_ban_html() -> Reply {
    let body = "<!DOCTYPE html><html><head><title>访问被拒绝</title></head><body>\
                <h1>您的访问请求被拒绝</h1><p>当前IP调用过于频繁，请5分钟后再试。</p></body></html>";
    Reply {
        status: StatusCode::OK,
        body: body.as_bytes().to_vec(),
        content_type: "text/html; charset=utf-8",
        outcome: Answered::IpBanned,
        location: None,
    }
}

fn ip_ban_json(rid: &str) -> Reply {
    let body = serde_json::json!({
        "status": 1111,
        "wait": 5,
        "source": "x5",
        "punish": "deny",
        "uuid": rid,
    });
    let mut reply = Reply::json(StatusCode::OK, &body);
    reply.outcome = Answered::IpBanned;
    reply
}

/// A 3xx to `location` with an empty body (a status that is not a redirect is answered as 307).
fn redirect(status: u16, location: String) -> Reply {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_redirection())
        .unwrap_or(StatusCode::TEMPORARY_REDIRECT);
    Reply {
        status,
        body: Vec::new(),
        content_type: "text/plain; charset=utf-8",
        outcome: Answered::Redirected(status.as_u16()),
        location: Some(location),
    }
}

/// A gateway's own throttling: HTTP 429 with a JSON `code`, whatever the family.
fn throttled_429_json(rid: &str) -> Reply {
    let body = serde_json::json!({
        "code": "Throttling",
        "message": "Request was denied due to request throttling.",
        "requestid": rid,
    });
    let mut reply = Reply::json(StatusCode::TOO_MANY_REQUESTS, &body);
    reply.outcome = Answered::Throttled;
    reply
}

/// A captive portal's login page on HTTP 200: HTML, but not the IP-ban page.
fn captive_portal() -> Reply {
    let body = "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
                <title>Guest Wi-Fi \u{b7} 请先登录</title></head><body>\
                <form action=\"/portal/login\" method=\"post\"><p>请输入手机号登录访客网络</p>\
                <input name=\"phone\"><button>登录</button></form></body></html>";
    Reply {
        status: StatusCode::OK,
        body: body.as_bytes().to_vec(),
        content_type: "text/html; charset=utf-8",
        outcome: Answered::ForeignPage,
        location: None,
    }
}
