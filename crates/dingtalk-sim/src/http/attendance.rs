//! `POST /attendance/list` (result rows, paged by offset/limit) and `POST /attendance/listRecord`
//! (raw punches, unpaged), both camelCase with epoch-ms numbers, answered as of the virtual clock.
//!
//! Limits: ≤ 50 users; `workDateTo − workDateFrom` ≤ 7 days (dates; the time part is ignored for
//! results and honoured for punches); `limit` 1..=50. Unknown user ids silently yield nothing.

use chrono::NaiveDate;
use serde::Serialize;

use super::params::Params;
use super::{Call, Reply};
use crate::world::{DAY_MS, Source, TimeRes, UserDay, World, local_ms};

const CORP_ID: &str = "dingsimcorp0000000001";
const MAX_USERS: usize = 50;
const MAX_LIMIT: i64 = 50;
const MAX_SPAN_DAYS: i64 = 7;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultRow<'a> {
    id: i64,
    group_id: i64,
    plan_id: i64,
    work_date: i64,
    user_id: &'a str,
    check_type: &'static str,
    time_result: &'static str,
    location_result: &'static str,
    source_type: &'static str,
    base_check_time: i64,
    user_check_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proc_inst_id: Option<&'a str>,
    corp_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListAnswer<'a> {
    errcode: i64,
    errmsg: &'static str,
    has_more: bool,
    recordresult: Vec<ResultRow<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PunchRow<'a> {
    id: i64,
    user_id: &'a str,
    work_date: i64,
    check_type: &'static str,
    time_result: &'static str,
    location_result: &'static str,
    source_type: &'static str,
    base_check_time: i64,
    plan_check_time: i64,
    user_check_time: i64,
    gmt_create: i64,
    gmt_modified: i64,
    group_id: i64,
    plan_id: i64,
    class_id: i64,
    corp_id: &'static str,
    location_method: &'static str,
    is_legal: &'static str,
    #[serde(rename = "deviceSN", skip_serializing_if = "Option::is_none")]
    device_sn: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_address: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proc_inst_id: Option<&'a str>,
}

#[derive(Serialize)]
struct RecordAnswer<'a> {
    errcode: i64,
    errmsg: &'static str,
    recordresult: Vec<PunchRow<'a>>,
}

fn group_id(day: &UserDay) -> i64 {
    if day.night { 112_233_446 } else { 112_233_445 }
}

fn class_id(day: &UserDay) -> i64 {
    if day.night { 7_002 } else { 7_001 }
}

fn users(params: &Params, key: &str) -> Result<Vec<String>, String> {
    let mut ids = params.str_list(key)?;
    if ids.len() > MAX_USERS {
        return Err(format!(
            "field `{key}` holds {} user ids: expected at most {MAX_USERS}",
            ids.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    Ok(ids)
}

fn dates(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// `POST /attendance/list`.
pub(super) fn list(call: &Call<'_>) -> Reply {
    match list_inner(call) {
        Ok(reply) => reply,
        Err(msg) => call.bad_request(&msg),
    }
}

fn list_inner(call: &Call<'_>) -> Result<Reply, String> {
    let params = Params::parse(call.body)?;
    let from = params.local_date("workDateFrom")?;
    let to = params.local_date("workDateTo")?;
    let user_ids = users(&params, "userIdList")?;
    let offset = params.i64("offset")?;
    let limit = params.i64("limit")?;
    params.opt_bool("isI18n")?;
    if to < from {
        return Err("`workDateTo` is before `workDateFrom`: expected from ≤ to".into());
    }
    if (to - from).num_days() > MAX_SPAN_DAYS {
        return Err(format!(
            "work dates span {} days: expected at most {MAX_SPAN_DAYS}",
            (to - from).num_days()
        ));
    }
    if offset < 0 {
        return Err(format!("`offset` is {offset}: expected ≥ 0"));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(format!("`limit` is {limit}: expected 1 to {MAX_LIMIT}"));
    }
    let world = call.state.world();
    let now = call.now_ms;
    let mut rows = Vec::new();
    for uid in &user_ids {
        let Some(u) = world.employee(uid) else {
            continue;
        };
        let employee = &world.employees[u];
        for date in dates(from, to) {
            let Some(day) = world.day_index(date).and_then(|d| world.user_day(u, d)) else {
                continue;
            };
            if !day.visible(now) {
                continue;
            }
            for slot in &day.slots {
                let Some(change) = slot.state_at(now) else {
                    continue;
                };
                let state = change.state;
                let proc_inst_id = state
                    .supply
                    .filter(|_| world.config.switches.proc_inst_id_on_corrected_slot)
                    .map(|i| world.instances[i as usize].id.as_str());
                rows.push(ResultRow {
                    id: slot.row_id,
                    group_id: group_id(day),
                    plan_id: slot.plan_id,
                    work_date: local_ms(day.work_date, 0, 0),
                    user_id: &employee.id,
                    check_type: slot.check.as_str(),
                    time_result: state.time_result.as_str(),
                    location_result: if state.time_result == TimeRes::NotSigned {
                        "NotSigned"
                    } else {
                        "Normal"
                    },
                    source_type: state.source.as_str(),
                    base_check_time: slot.base_ms,
                    user_check_time: state.check_ms,
                    record_id: state.record_id,
                    proc_inst_id,
                    corp_id: CORP_ID,
                });
            }
        }
    }
    let total = rows.len();
    let start = (offset as usize).min(total);
    let end = (start + limit as usize).min(total);
    let has_more = (offset as usize).saturating_add(limit as usize) < total;
    let page: Vec<ResultRow<'_>> = rows.drain(start..end).collect();
    Ok(Reply::ok(&ListAnswer {
        errcode: 0,
        errmsg: "ok",
        has_more,
        recordresult: page,
    }))
}

/// `POST /attendance/listRecord`.
pub(super) fn list_record(call: &Call<'_>) -> Reply {
    match list_record_inner(call) {
        Ok(reply) => reply,
        Err(msg) => call.bad_request(&msg),
    }
}

fn list_record_inner(call: &Call<'_>) -> Result<Reply, String> {
    let params = Params::parse(call.body)?;
    let user_ids = users(&params, "userIds")?;
    let from = params.local_datetime("checkDateFrom")?;
    let to = params.local_datetime("checkDateTo")?;
    params.opt_bool("isI18n")?;
    if to < from {
        return Err("`checkDateTo` is before `checkDateFrom`: expected from ≤ to".into());
    }
    if to - from > MAX_SPAN_DAYS * DAY_MS {
        return Err(format!(
            "check dates span more than {MAX_SPAN_DAYS} days: expected at most {MAX_SPAN_DAYS}"
        ));
    }
    let world = call.state.world();
    let mut rows = Vec::new();
    for uid in &user_ids {
        let Some(u) = world.employee(uid) else {
            continue;
        };
        punches_of(world, u, from, to, call.now_ms, &mut rows);
    }
    Ok(Reply::ok(&RecordAnswer {
        errcode: 0,
        errmsg: "ok",
        recordresult: rows,
    }))
}

fn punches_of<'w>(
    world: &'w World,
    u: usize,
    from: i64,
    to: i64,
    now: i64,
    out: &mut Vec<PunchRow<'w>>,
) {
    let employee = &world.employees[u];
    // A night shift's punch may fall on the calendar day after its work date.
    let first = crate::world::local_date(from) - chrono::Days::new(1);
    let last = crate::world::local_date(to);
    let start = out.len();
    for date in dates(first, last) {
        let Some(day) = world.day_index(date).and_then(|d| world.user_day(u, d)) else {
            continue;
        };
        for slot in &day.slots {
            for punch in &slot.punches {
                let shown = punch.happened_ms <= now
                    && punch.gone_ms.is_none_or(|gone| now < gone)
                    && (from..=to).contains(&punch.check_ms)
                    && (punch.supply.is_none()
                        || world.config.switches.supply_punch_in_list_record);
                if !shown {
                    continue;
                }
                let normal = punch.time_result == TimeRes::Normal;
                out.push(PunchRow {
                    id: punch.record_id,
                    user_id: &employee.id,
                    work_date: local_ms(day.work_date, 0, 0),
                    check_type: slot.check.as_str(),
                    time_result: punch.time_result.as_str(),
                    location_result: "Normal",
                    source_type: punch.source.as_str(),
                    base_check_time: slot.base_ms,
                    plan_check_time: slot.base_ms,
                    user_check_time: punch.check_ms,
                    gmt_create: punch.happened_ms,
                    gmt_modified: punch.happened_ms,
                    group_id: group_id(day),
                    plan_id: slot.plan_id,
                    class_id: class_id(day),
                    corp_id: CORP_ID,
                    location_method: match punch.source {
                        Source::Atm => "ATM",
                        Source::User => "MAP",
                        _ => "OTHER",
                    },
                    is_legal: if normal { "Y" } else { "N" },
                    device_sn: (punch.source == Source::Atm).then_some("SIMATM0001"),
                    user_address: (punch.source == Source::User)
                        .then_some("上海市浦东新区世纪大道100号"),
                    proc_inst_id: punch
                        .supply
                        .map(|i| world.instances[i as usize].id.as_str()),
                });
            }
        }
    }
    out[start..].sort_by_key(|row| (row.user_check_time, row.id));
}
