//! Tokens and contacts: `GET /gettoken`, `POST /v1.0/oauth2/accessToken` (free),
//! `POST /topapi/v2/department/listsubid`, `POST /topapi/user/listid` (free, snake_case) and
//! `POST /v1.0/contact/users/search` (metered, ⚠ dingtalk-api.md §6.5).

use axum::http::StatusCode;
use serde::Serialize;

use super::params::Params;
use super::{Call, Family, Reply};
use crate::state::TOKEN_LIFETIME_S;

/// `GET /gettoken?appkey=&appsecret=`.
pub(super) fn gettoken(call: &Call<'_>) -> Reply {
    let (Some(key), Some(secret)) = (call.query("appkey"), call.query("appsecret")) else {
        return call.bad_request("query parameters `appkey` and `appsecret` are required");
    };
    let config = &call.state.world().config;
    if key != config.app_key || secret != config.app_secret {
        return Reply::oapi_error(40089, "不合法的corpid或corpsecret", &call.request_id);
    }
    let token = call.state.issue_token();
    Reply::ok(&serde_json::json!({
        "errcode": 0,
        "access_token": token,
        "errmsg": "ok",
        "expires_in": TOKEN_LIFETIME_S,
    }))
}

/// `POST /v1.0/oauth2/accessToken` with `{appKey, appSecret}`.
pub(super) fn access_token(call: &Call<'_>) -> Reply {
    let checked = Params::parse(call.body)
        .and_then(|p| Ok((p.str("appKey")?.to_owned(), p.str("appSecret")?.to_owned())));
    let (key, secret) = match checked {
        Ok(pair) => pair,
        Err(msg) => return call.bad_request(&msg),
    };
    let config = &call.state.world().config;
    if key != config.app_key || secret != config.app_secret {
        return call.api_error(
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "无效的clientId或clientSecret",
        );
    }
    let token = call.state.issue_token();
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({ "expireIn": TOKEN_LIFETIME_S, "accessToken": token }),
    )
}

fn dept_of<'w>(call: &'w Call<'_>) -> Result<&'w crate::world::Department, Reply> {
    let id = Params::parse(call.body)
        .and_then(|p| p.i64("dept_id"))
        .map_err(|msg| call.bad_request(&msg))?;
    call.state.world().department(id).ok_or_else(|| {
        Reply::oapi_error(60003, format!("部门不存在: dept_id {id}"), &call.request_id)
    })
}

#[derive(Serialize)]
struct Envelope<T> {
    errcode: i64,
    errmsg: &'static str,
    result: T,
    request_id: String,
}

/// `POST /topapi/v2/department/listsubid` with `{dept_id}`: direct children only.
pub(super) fn listsubid(call: &Call<'_>) -> Reply {
    #[derive(Serialize)]
    struct Children<'a> {
        dept_id_list: &'a [i64],
    }
    match dept_of(call) {
        Ok(dept) => Reply::ok(&Envelope {
            errcode: 0,
            errmsg: "ok",
            result: Children {
                dept_id_list: &dept.children,
            },
            request_id: call.request_id.clone(),
        }),
        Err(reply) => reply,
    }
}

/// `POST /topapi/user/listid` with `{dept_id}`: direct members only, unpaged.
pub(super) fn listid(call: &Call<'_>) -> Reply {
    #[derive(Serialize)]
    struct Members<'a> {
        userid_list: Vec<&'a str>,
    }
    let world = call.state.world();
    match dept_of(call) {
        Ok(dept) => Reply::ok(&Envelope {
            errcode: 0,
            errmsg: "ok",
            result: Members {
                userid_list: dept
                    .members
                    .iter()
                    .map(|&m| world.employees[m].id.as_str())
                    .collect(),
            },
            request_id: call.request_id.clone(),
        }),
        Err(reply) => reply,
    }
}

/// `POST /v1.0/contact/users/search` with `{queryWord, offset, size, fullMatchField?}`.
pub(super) fn users_search(call: &Call<'_>) -> Reply {
    debug_assert_eq!(call.family, Family::Api);
    let checked = Params::parse(call.body).and_then(|p| {
        let word = p.str("queryWord")?.to_owned();
        let offset = p.i64("offset")?;
        let size = p.i64("size")?;
        let full = p.opt_i64("fullMatchField")?;
        if offset < 0 || !(1..=100).contains(&size) {
            return Err(format!(
                "offset {offset} / size {size}: expected offset ≥ 0 and size 1 to 100"
            ));
        }
        Ok((word, offset as usize, size as usize, full == Some(1)))
    });
    let (word, offset, size, exact) = match checked {
        Ok(v) => v,
        Err(msg) => return call.api_error(StatusCode::BAD_REQUEST, "parameter.error", &msg),
    };
    let world = call.state.world();
    let hits: Vec<&str> = world
        .employees
        .iter()
        .filter(|e| {
            if exact {
                e.name == word
            } else {
                e.name.contains(word.as_str())
            }
        })
        .map(|e| e.id.as_str())
        .collect();
    let page: Vec<&str> = hits.iter().skip(offset).take(size).copied().collect();
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({
            "hasMore": offset + page.len() < hits.len(),
            "totalCount": hits.len(),
            "list": page,
        }),
    )
}
