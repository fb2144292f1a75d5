//! Permission points: which one each served endpoint needs (dingtalk-api.md sections 3, 4, 6), and
//! DingTalk's answer to an app that lacks it (section 2.3): oapi HTTP 200 `errcode 60011`, api
//! HTTP 403 `Forbidden.AccessDenied.AccessTokenPermissionDenied`. Such an answer is a business
//! error, so a call to a metered path is counted like any other (dingtalk-api.md 13.1: only QPS
//! refusals and calls that never reached DingTalk are documented as free).
//!
//! Which points the app lacks is [`SimConfig::denied_permissions`](crate::SimConfig); this module
//! does not decide it.

use std::collections::BTreeSet;

use axum::http::StatusCode;

use super::{Call, Family, Reply};

/// The permission points that each allow a call to `path`; a call is refused when the app lacks
/// every one of them. Token paths need none here (`qyapi_base` is every app's).
pub(crate) fn needed(path: &str) -> &'static [&'static str] {
    match path {
        "/attendance/list" => &[
            "qyapi_attendance_isv_query_result",
            "qyapi_get_attendance_data",
        ],
        "/attendance/listRecord" => &["qyapi_get_attendance_data"],
        "/topapi/v2/department/listsubid" | "/topapi/v2/department/get" => {
            &["qyapi_get_department_list"]
        }
        "/topapi/v2/user/list" => &["qyapi_get_department_member"],
        "/topapi/user/listid" => &["qyapi_get_member"],
        "/v1.0/contact/users/search" => &["qyapi_addresslist_search"],
        "/v1.0/workflow/processes/managements/templates" => &["Workflow.Form.Read"],
        "/v1.0/workflow/processes/instanceIds/query" | "/v1.0/workflow/processInstances" => {
            &["Workflow.Instance.Read"]
        }
        _ => &[],
    }
}

/// DingTalk's refusal when the app lacks every point `call.path` accepts; `None` when it may call.
pub(crate) fn check(call: &Call<'_>, denied: &BTreeSet<String>) -> Option<Reply> {
    let needed = needed(call.path);
    if needed.is_empty() || needed.iter().any(|point| !denied.contains(*point)) {
        return None;
    }
    let names = needed.join(",");
    Some(match call.family {
        Family::Oapi => Reply::oapi_error(
            60011,
            format!("应用尚未开通所需的权限：[{names}]"),
            &call.request_id,
        ),
        Family::Api => Reply::api_error(
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.AccessTokenPermissionDenied",
            format!(
                "没有调用该接口的权限，接口权限申请参考：https://open.dingtalk.com/document/orgapp-server/add-api-permission (requiredScopes: [{names}])"
            ),
            &call.request_id,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_path_but_the_token_paths_needs_a_point() {
        for path in super::super::dingtalk_paths() {
            let token = path == "/gettoken" || path == "/v1.0/oauth2/accessToken";
            assert_eq!(needed(path).is_empty(), token, "{path}");
        }
    }
}
