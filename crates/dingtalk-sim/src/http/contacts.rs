//! Tokens and contacts: `GET /gettoken`, `POST /v1.0/oauth2/accessToken` (free),
//! `POST /topapi/v2/department/listsubid`, `POST /topapi/user/listid`,
//! `POST /topapi/v2/user/list`, `POST /topapi/v2/department/get` (free, snake_case) and
//! `POST /v1.0/contact/users/search` (metered, ⚠ dingtalk-api.md §6.5).
//!
//! Membership is the directory at the virtual now: a department move (`World::moves`) shows in
//! `listid`, `user/list` and its `dept_id_list` from its instant on.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

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
                userid_list: world
                    .members_at(dept, call.now_ms)
                    .into_iter()
                    .map(|m| world.employees[m].id.as_str())
                    .collect(),
            },
            request_id: call.request_id.clone(),
        }),
        Err(reply) => reply,
    }
}

/// `POST /topapi/v2/user/list` with `{dept_id, cursor, size, order_field?, language?,
/// contain_access_limit?}` (dingtalk-api.md §6.3): one page of the direct members' details, in
/// the department's order. ⚠ `size` above 100 is refused with `40035`: the page documents no
/// maximum, its sibling `listsimple` documents 100. ⚠ `next_cursor` is left out of the last page
/// (`has_more: false`); the page does not say.
pub(super) fn user_list(call: &Call<'_>) -> Reply {
    let checked = Params::parse(call.body).and_then(|p| {
        let cursor = p.i64("cursor")?;
        let size = p.i64("size")?;
        Ok((cursor, size))
    });
    let (cursor, size) = match checked {
        Ok(v) => v,
        Err(msg) => return call.bad_request(&msg),
    };
    if cursor < 0 || !(1..=100).contains(&size) {
        return Reply::oapi_error(
            40035,
            format!("不合法的参数: cursor {cursor} / size {size}"),
            &call.request_id,
        );
    }
    let dept = match dept_of(call) {
        Ok(dept) => dept,
        Err(reply) => return reply,
    };
    let world = call.state.world();
    let members = world.members_at(dept, call.now_ms);
    let (cursor, size) = (cursor as usize, size as usize);
    let list: Vec<Value> = members
        .iter()
        .skip(cursor)
        .take(size)
        .map(|&m| user_details(call, m))
        .collect();
    let has_more = cursor + list.len() < members.len();
    let mut result = json!({ "has_more": has_more, "list": list });
    if has_more {
        result["next_cursor"] = json!(cursor + size);
    }
    Reply::ok(&Envelope {
        errcode: 0,
        errmsg: "ok",
        result,
        request_id: call.request_id.clone(),
    })
}

/// One member as `user/list` lists them: the documented fields a simulated company has (no
/// mobile, e-mail or extension; a real answer holds them only with their own permission points).
fn user_details(call: &Call<'_>, index: usize) -> Value {
    let world = call.state.world();
    let employee = &world.employees[index];
    let departments = world.departments_at(index, call.now_ms);
    json!({
        "userid": employee.id,
        "unionid": format!("iP{index:08x}iEiE"),
        "name": employee.name,
        "avatar": "",
        "state_code": "86",
        "job_number": format!("{:05}", index + 1),
        "title": if index == world.admin { "考勤管理员" } else { "职员" },
        "work_place": "杭州",
        "remark": "",
        "dept_id_list": departments,
        "dept_order": 176_000_000 + index as i64,
        "hired_date": crate::world::local_ms(world.config.from, 0, 0) - 400 * crate::world::DAY_MS,
        "active": true,
        "admin": index == world.admin,
        "boss": false,
        "leader": false,
        "exclusive_account": false,
        "hide_mobile": false,
    })
}

/// `POST /topapi/v2/department/get` with `{dept_id, language?}`: one department's details.
/// ⚠ dingtalk-api.md does not document this call; the shape is DingTalk's public page as
/// remembered: `result` with `dept_id`, `name`, `parent_id` (left out for the root here) and
/// flags the job does not read. The permission point is the one `listsubid` needs.
pub(super) fn department_get(call: &Call<'_>) -> Reply {
    let dept = match dept_of(call) {
        Ok(dept) => dept,
        Err(reply) => return reply,
    };
    let world = call.state.world();
    let parent = world
        .departments
        .iter()
        .find(|parent| parent.children.contains(&dept.id))
        .map(|parent| parent.id);
    let mut result = json!({
        "dept_id": dept.id,
        "name": dept.name,
        "order": dept.id,
        "create_dept_group": false,
        "auto_add_user": true,
        "group_contain_sub_dept": false,
        "outer_dept": false,
        "dept_manager_userid_list": [],
    });
    if let Some(parent) = parent {
        result["parent_id"] = json!(parent);
    }
    Reply::ok(&Envelope {
        errcode: 0,
        errmsg: "ok",
        result,
        request_id: call.request_id.clone(),
    })
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
