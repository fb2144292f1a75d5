//! Approvals (api family, camelCase): `POST /v1.0/workflow/processes/instanceIds/query`,
//! `GET /v1.0/workflow/processInstances?processInstanceId=`, and
//! `GET /v1.0/workflow/processes/managements/templates?userId=`.
//!
//! The instance DingTalk attaches to a revoked 补卡 (`bizAction REVOKE`, see the revoke reading
//! in `world`) is listed only under `Switches::revoke_instance_listed`; its detail answers under
//! both readings.
//!
//! `nextToken` is an offset into the filtered, creation-ordered list: sent as a number (a string
//! is `invalidNextToken`), returned as a string; the end of the list follows
//! `Switches::next_token_end`. One traversal reaches at most 10,000 ids: ids past that are not
//! returned (the list simply ends), as DingTalk's limit implies.

use axum::http::StatusCode;
use chrono::{DateTime, Datelike};
use serde::Serialize;
use serde_json::Value;

use super::params::Params;
use super::{Call, Reply};
use crate::config::NextTokenEnd;
use crate::world::{
    CheckKind, DAY_MS, Instance, Outcome, Slot, TZ_OFFSET_MS, UserDay, World, local_ms,
};

const MAX_RESULTS: i64 = 20;
const MAX_USER_IDS: usize = 10;
const MAX_SPAN_MS: i64 = 120 * DAY_MS;
const MAX_LOOKBACK_MS: i64 = 365 * DAY_MS;
const MAX_TRAVERSAL: usize = 10_000;
const STATUSES: &[&str] = &["RUNNING", "TERMINATED", "COMPLETED"];

fn bad(call: &Call<'_>, code: &str, msg: &str) -> Reply {
    call.api_error(StatusCode::BAD_REQUEST, code, msg)
}

/// `POST /v1.0/workflow/processes/instanceIds/query`.
pub(super) fn instance_ids(call: &Call<'_>) -> Reply {
    let query = match IdsQuery::parse(call) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let world = call.state.world();
    let mut ids = query.matching_ids(world, call.now_ms);
    ids.truncate(MAX_TRAVERSAL);
    id_page(world, &ids, query.next, query.max)
}

/// A checked instance-id query: the template, the page asked for, the creation window and the
/// optional filters.
struct IdsQuery {
    template: usize,
    next: usize,
    max: usize,
    start: i64,
    end: i64,
    user_ids: Option<Vec<String>>,
    statuses: Option<Vec<String>>,
}

impl IdsQuery {
    /// Checks the body field by field, in DingTalk's order: the first bad field is the answer.
    fn parse(call: &Call<'_>) -> Result<IdsQuery, Reply> {
        let params = Params::parse(call.body).map_err(|msg| call.bad_request(&msg))?;
        let template = process_template(call, &params)?;
        let next = next_token_offset(call, &params)?;
        let max = max_results(call, &params)?;
        let start = params
            .i64("startTime")
            .map_err(|msg| bad(call, "invalidInstanceListIdsStartTime", &msg))?;
        let end = params
            .opt_i64("endTime")
            .map_err(|msg| bad(call, "invalidEndTime", &msg))?;
        let user_ids = user_ids_filter(call, &params)?;
        let statuses = statuses_filter(call, &params)?;
        let end = window_end(call, start, end)?;
        Ok(IdsQuery {
            template,
            next,
            max,
            start,
            end,
            user_ids,
            statuses,
        })
    }

    /// The ids of the template's instances created in the window and visible at `now`, in
    /// creation order, kept by the user and status filters. Revoke instances are among them
    /// only under `Switches::revoke_instance_listed` (see `World::instances_created`).
    fn matching_ids<'w>(&self, world: &'w World, now: i64) -> Vec<&'w str> {
        world
            .instances_created(self.template, self.start, self.end, now)
            .into_iter()
            .map(|i| &world.instances[i as usize])
            .filter(|inst| {
                self.user_ids
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|id| *id == world.employees[inst.user].id))
            })
            .filter(|inst| {
                self.statuses
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|s| s == inst.status_at(now)))
            })
            .map(|inst| inst.id.as_str())
            .collect()
    }
}

/// `processCode`: the index of the template it names.
fn process_template(call: &Call<'_>, params: &Params) -> Result<usize, Reply> {
    let code = params
        .str("processCode")
        .map_err(|msg| bad(call, "invalidProcessCode", &msg))?;
    let world = call.state.world();
    world
        .templates
        .iter()
        .position(|t| t.process_code == code)
        .ok_or_else(|| {
            bad(
                call,
                "invalidProcessCode",
                &format!("process code {code:?} does not exist"),
            )
        })
}

/// `nextToken`: required, a number ≥ 0 (the offset into the list).
fn next_token_offset(call: &Call<'_>, params: &Params) -> Result<usize, Reply> {
    match params.raw("nextToken") {
        None => Err(bad(
            call,
            "invalidNextToken",
            "field `nextToken` is missing: expected an integer (0 first)",
        )),
        Some(Value::Number(n)) => match n.as_i64().filter(|&v| v >= 0) {
            Some(v) => Ok(v as usize),
            None => Err(bad(
                call,
                "invalidNextToken",
                &format!("nextToken {n}: expected an integer ≥ 0"),
            )),
        },
        Some(other) => {
            let msg = format!(
                "nextToken is {}: expected a number",
                super::params::kind(other)
            );
            Err(bad(call, "invalidNextToken", &msg))
        }
    }
}

/// `maxResults`: required, 1 to [`MAX_RESULTS`].
fn max_results(call: &Call<'_>, params: &Params) -> Result<usize, Reply> {
    match params.i64("maxResults") {
        Ok(m) if (1..=MAX_RESULTS).contains(&m) => Ok(m as usize),
        Ok(m) => Err(bad(
            call,
            "invalidMaxResults",
            &format!("maxResults {m}: expected 1 to {MAX_RESULTS}"),
        )),
        Err(msg) => Err(bad(call, "invalidMaxResults", &msg)),
    }
}

/// `userIds`: optional, at most [`MAX_USER_IDS`].
fn user_ids_filter(call: &Call<'_>, params: &Params) -> Result<Option<Vec<String>>, Reply> {
    match params.opt_str_list("userIds") {
        Ok(Some(ids)) if ids.len() > MAX_USER_IDS => {
            let msg = format!("{} userIds: expected at most {MAX_USER_IDS}", ids.len());
            Err(bad(call, "invalidUserIds", &msg))
        }
        Ok(ids) => Ok(ids),
        Err(msg) => Err(bad(call, "invalidUserIds", &msg)),
    }
}

/// `statuses`: optional, each one of [`STATUSES`].
fn statuses_filter(call: &Call<'_>, params: &Params) -> Result<Option<Vec<String>>, Reply> {
    match params.opt_str_list("statuses") {
        Ok(Some(list)) if list.iter().any(|s| !STATUSES.contains(&s.as_str())) => Err(call
            .bad_request(&format!(
                "statuses {list:?}: expected RUNNING, TERMINATED or COMPLETED"
            ))),
        Ok(list) => Ok(list),
        Err(msg) => Err(call.bad_request(&msg)),
    }
}

/// The end of the creation window: `now` when `endTime` is absent (then `startTime` must be
/// within [`MAX_SPAN_MS`] of now); otherwise `endTime`, at most [`MAX_SPAN_MS`] after
/// `startTime`, with `startTime` within [`MAX_LOOKBACK_MS`] of now.
fn window_end(call: &Call<'_>, start: i64, end: Option<i64>) -> Result<i64, Reply> {
    let now = call.now_ms;
    match end {
        None => {
            if start < now - MAX_SPAN_MS {
                let msg = "startTime alone must be within the last 120 days";
                return Err(bad(call, "invalidInstanceListIdsStartTime", msg));
            }
            Ok(now)
        }
        Some(end) => {
            if end < start || end - start > MAX_SPAN_MS {
                return Err(bad(
                    call,
                    "invalidEndTime",
                    "endTime must be ≥ startTime and within 120 days of it",
                ));
            }
            if start < now - MAX_LOOKBACK_MS {
                let msg = "startTime must be within the last 365 days";
                return Err(bad(call, "invalidInstanceListIdsStartTime", msg));
            }
            Ok(end)
        }
    }
}

/// One page of `ids` from offset `next`, with the `nextToken` of the following page, or the
/// end of the list as the switch renders it.
fn id_page(world: &World, ids: &[&str], next: usize, max: usize) -> Reply {
    let from = next.min(ids.len());
    let to = (from + max).min(ids.len());
    let next_token = if to < ids.len() {
        Some(to.to_string())
    } else {
        match world.config.switches.next_token_end {
            NextTokenEnd::Absent => None,
            NextTokenEnd::Empty => Some(String::new()),
            NextTokenEnd::Zero => Some("0".to_owned()),
        }
    };
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Page<'a> {
        list: &'a [&'a str],
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({ "result": Page { list: &ids[from..to], next_token }, "success": true }),
    )
}

/// `yyyy-MM-ddTHH:mmZ`: real UTC, or local time labelled `Z` when the switch says so.
fn approval_time(world: &World, ms: i64) -> String {
    let shift = if world.config.switches.approval_times_utc {
        0
    } else {
        TZ_OFFSET_MS
    };
    DateTime::from_timestamp_millis(ms + shift)
        .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
        .unwrap_or_default()
}

fn local_minute(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms + TZ_OFFSET_MS)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FormValue {
    component_type: &'static str,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    biz_alias: Option<&'static str>,
    id: String,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ext_value: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtValue {
    plan_id: Value,
    plan_tip: String,
    plan_text: String,
    work_date: i64,
    time_stamp: i64,
    user_check_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationRecord {
    user_id: String,
    date: String,
    #[serde(rename = "type")]
    kind: &'static str,
    result: &'static str,
    remark: &'static str,
    show_name: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    task_id: i64,
    user_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'static str>,
    create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_time: Option<String>,
    process_instance_id: String,
    activity_id: &'static str,
    pc_url: String,
    mobile_url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    title: String,
    create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_time: Option<String>,
    originator_user_id: String,
    originator_dept_id: String,
    originator_dept_name: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'static str>,
    business_id: String,
    biz_action: &'static str,
    biz_data: &'static str,
    approver_user_ids: Vec<String>,
    cc_user_ids: Vec<String>,
    attached_process_instance_ids: Vec<String>,
    main_process_instance_id: String,
    form_component_values: Vec<FormValue>,
    operation_records: Vec<OperationRecord>,
    tasks: Vec<Task>,
}

/// `GET /v1.0/workflow/processInstances?processInstanceId=`.
pub(super) fn instance(call: &Call<'_>) -> Reply {
    let Some(id) = call.query("processInstanceId").filter(|id| !id.is_empty()) else {
        return call.bad_request("query parameter `processInstanceId` is required");
    };
    let world = call.state.world();
    let inst = world
        .instance(id)
        .filter(|inst| inst.created_ms <= call.now_ms);
    let Some(inst) = inst else {
        let code = world.config.switches.missing_instance_code.code();
        return bad(
            call,
            code,
            &format!("process instance {id:?} does not exist"),
        );
    };
    let Some(detail) = detail(world, inst, call.now_ms) else {
        let code = world.config.switches.missing_instance_code.code();
        return bad(
            call,
            code,
            &format!("process instance {id:?} has no schedule behind it"),
        );
    };
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({ "result": detail, "success": "true" }),
    )
}

/// What a revoke instance's title adds to the title of the 补卡 it revokes.
const REVOKE_TITLE_MARK: &str = "（撤销）";

/// The detail of a 补卡 or of a revoke instance: a revoke (`bizAction REVOKE`) names the 补卡 in
/// `mainProcessInstanceId` and carries its form; a revoked 补卡 names its revoke in
/// `attachedProcessInstanceIds` from the revoke's creation on. Otherwise `""` and `[]`.
fn detail(world: &World, inst: &Instance, now: i64) -> Option<Detail> {
    let employee = &world.employees[inst.user];
    let template = &world.templates[inst.template];
    let day = world.user_day(inst.user, inst.day)?;
    let slot = day.slots.get(inst.slot)?;
    let decided = now >= inst.decided_ms;
    let dept_id = employee.departments.first().copied().unwrap_or(1);
    let dept_name = world
        .department(dept_id)
        .map(|d| d.name.clone())
        .unwrap_or_default();
    let t = |ms: i64| approval_time(world, ms);
    // A revoke instance carries the form of the 补卡 it revokes.
    let main = inst.main.map(|m| &world.instances[m as usize]);
    let filed = main.unwrap_or(inst);
    let ext = check_time_ext_value(world, filed, day, slot);
    let attached = inst
        .attached
        .map(|a| &world.instances[a as usize])
        .filter(|revoke| revoke.created_ms <= now)
        .map(|revoke| revoke.id.clone());
    let title = format!("{}提交的{}", employee.name, template.flow_title);
    Some(Detail {
        title: if main.is_some() {
            format!("{title}{REVOKE_TITLE_MARK}")
        } else {
            title
        },
        create_time: t(inst.created_ms),
        finish_time: decided.then(|| t(inst.decided_ms)),
        originator_user_id: employee.id.clone(),
        originator_dept_id: dept_id.to_string(),
        originator_dept_name: dept_name,
        status: inst.status_at(now),
        result: match (decided, inst.outcome) {
            (true, Outcome::Agree) => Some("agree"),
            (true, Outcome::Refuse) => Some("refuse"),
            _ => None,
        },
        business_id: inst.business_id.clone(),
        biz_action: inst.biz_action,
        biz_data: "",
        approver_user_ids: Vec::new(),
        cc_user_ids: Vec::new(),
        attached_process_instance_ids: attached.into_iter().collect(),
        main_process_instance_id: main.map(|m| m.id.clone()).unwrap_or_default(),
        form_component_values: form_values(world, filed, &ext),
        operation_records: operation_records(world, inst, decided),
        tasks: vec![approval_task(world, inst, decided)],
    })
}

/// The `extValue` of the 补卡 time field: the plan the correction is for, as DingTalk's form
/// describes it (`周一 ( 01.05 上班) 补卡`, `上班 09:00`).
fn check_time_ext_value(world: &World, inst: &Instance, day: &UserDay, slot: &Slot) -> ExtValue {
    const WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
    let work_date_ms = local_ms(day.work_date, 0, 0);
    let word = if slot.check == CheckKind::OnDuty {
        "上班"
    } else {
        "下班"
    };
    ExtValue {
        plan_id: if world.config.switches.plan_id_in_ext_value {
            Value::from(slot.plan_id)
        } else {
            Value::from("")
        },
        plan_tip: format!(
            "{} ( {} {word}) 补卡",
            WEEKDAYS[day.work_date.weekday().num_days_from_monday() as usize],
            day.work_date.format("%m.%d")
        ),
        plan_text: format!("{word} {}", &local_minute(slot.base_ms)[11..]),
        work_date: work_date_ms,
        time_stamp: work_date_ms,
        user_check_time: inst.corrected_ms,
    }
}

/// The form as filed: the 补卡 time and the reason, then a photo when one was attached and the
/// `repairCheckTime` entry when the switch adds it.
fn form_values(world: &World, inst: &Instance, ext: &ExtValue) -> Vec<FormValue> {
    let template = &world.templates[inst.template];
    let mut form = vec![
        FormValue {
            component_type: "DDDateField",
            name: "补卡时间".into(),
            biz_alias: Some("userCheckTime"),
            id: "DDDateField_1Q2W3E4R5T6Y0".into(),
            value: local_minute(inst.corrected_ms),
            ext_value: serde_json::to_string(ext).ok(),
        },
        FormValue {
            component_type: template.reason_component,
            name: template.reason_label.into(),
            biz_alias: Some("reason"),
            id: format!("{}_1A2S3D4F5G6H0", template.reason_component),
            value: inst.reason.into(),
            ext_value: None,
        },
    ];
    if inst.photo {
        form.push(FormValue {
            component_type: "DDPhotoField",
            name: "图片".into(),
            biz_alias: None,
            id: "DDPhotoField_1Z2X3C4V5B6N0".into(),
            value: format!("[\"https://static.dingtalk.example/sim/{}.jpg\"]", inst.id),
            ext_value: None,
        });
    }
    if world.config.switches.repair_check_time_entry {
        form.push(FormValue {
            component_type: "TextField",
            name: "repairCheckTime".into(),
            biz_alias: None,
            id: "repairCheckTime".into(),
            value: inst.corrected_ms.to_string(),
            ext_value: None,
        });
    }
    form
}

/// What approvers write when they refuse a 补卡, picked by the instance's task id (no draw, so
/// the world's random sequence is untouched).
const REFUSAL_REMARKS: [&str; 4] = [
    "补卡时间与门禁记录不符",
    "当天未安排排班，请核实",
    "已超过补卡申请期限",
    "请补充外出证明后重新提交",
];

/// The refusal remarks under `SimConfig::hostile_text`: a formula, markup, a terminal escape
/// and forged lines.
const HOSTILE_REFUSAL_REMARKS: [&str; 4] = [
    "=HYPERLINK(\"http://evil.example\",\"补卡时间与门禁记录不符\")",
    "<script>alert(1)</script>当天未安排排班",
    "已超过补卡申请期限\u{1b}[2J\u{1b}[31m",
    "请补充外出证明\r\nfindings\n  none",
];

/// The approver's remark: on a refusal one of [`REFUSAL_REMARKS`] (hostile ones under
/// `hostile_text`); on an agreement `同意` for every other instance, none for the rest.
fn approver_remark(world: &World, inst: &Instance) -> &'static str {
    let pick = usize::try_from(inst.task_id.rem_euclid(4)).unwrap_or_default();
    match inst.outcome {
        Outcome::Refuse if world.config.hostile_text => HOSTILE_REFUSAL_REMARKS[pick],
        Outcome::Refuse => REFUSAL_REMARKS[pick],
        Outcome::Agree if pick % 2 == 0 => "同意",
        _ => "",
    }
}

/// The start of the instance, then, once decided, the withdrawal by the employee or the
/// approver's agree/refuse with its remark.
fn operation_records(world: &World, inst: &Instance, decided: bool) -> Vec<OperationRecord> {
    let employee = &world.employees[inst.user];
    let approver = &world.employees[inst.approver];
    let t = |ms: i64| approval_time(world, ms);
    let mut records = vec![OperationRecord {
        user_id: employee.id.clone(),
        date: t(inst.created_ms),
        kind: "START_PROCESS_INSTANCE",
        result: "NONE",
        // A revoke's start carries why the employee revokes.
        remark: if inst.is_revoke() { inst.reason } else { "" },
        show_name: "发起审批",
    }];
    if decided {
        records.push(match inst.outcome {
            Outcome::Withdrawn => OperationRecord {
                user_id: employee.id.clone(),
                date: t(inst.decided_ms),
                kind: "TERMINATE_PROCESS_INSTANCE",
                result: "NONE",
                remark: "",
                show_name: "撤销",
            },
            outcome => OperationRecord {
                user_id: approver.id.clone(),
                date: t(inst.decided_ms),
                kind: "EXECUTE_TASK_NORMAL",
                result: if outcome == Outcome::Agree {
                    "AGREE"
                } else {
                    "REFUSE"
                },
                remark: approver_remark(world, inst),
                show_name: "审批人",
            },
        });
    }
    records
}

/// The approver's one task: running until decided, then completed with the outcome, or
/// canceled by a withdrawal.
fn approval_task(world: &World, inst: &Instance, decided: bool) -> Task {
    let approver = &world.employees[inst.approver];
    let t = |ms: i64| approval_time(world, ms);
    let (status, result) = match (decided, inst.outcome) {
        (false, _) => ("RUNNING", None),
        (true, Outcome::Agree) => ("COMPLETED", Some("AGREE")),
        (true, Outcome::Refuse) => ("COMPLETED", Some("REFUSE")),
        (true, Outcome::Withdrawn) => ("CANCELED", None),
    };
    Task {
        task_id: inst.task_id,
        user_id: approver.id.clone(),
        status,
        result,
        create_time: t(inst.created_ms),
        finish_time: decided.then(|| t(inst.decided_ms)),
        process_instance_id: inst.id.clone(),
        activity_id: "sid-approve",
        pc_url: format!("https://aflow.dingtalk.example/pc/{}", inst.id),
        mobile_url: format!("https://aflow.dingtalk.example/m/{}", inst.id),
    }
}

/// `GET /v1.0/workflow/processes/managements/templates?userId=`: OA admins only.
pub(super) fn templates(call: &Call<'_>) -> Reply {
    let Some(user_id) = call.query("userId").filter(|u| !u.is_empty()) else {
        return call.bad_request("query parameter `userId` is required");
    };
    let world = call.state.world();
    if world.employee(user_id) != Some(world.admin) {
        let msg = format!("user {user_id:?} is not an OA administrator");
        return call.api_error(StatusCode::BAD_REQUEST, "noPermission", &msg);
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Form<'a> {
        flow_title: &'a str,
        process_code: &'a str,
        attendance_type: u8,
        new_process: bool,
        gmt_modified: String,
        icon_name: &'a str,
        icon_url: String,
    }
    let forms: Vec<Form<'_>> = world
        .templates
        .iter()
        .map(|t| Form {
            flow_title: &t.flow_title,
            process_code: &t.process_code,
            attendance_type: t.attendance_type,
            new_process: true,
            gmt_modified: approval_time(world, t.gmt_modified_ms),
            icon_name: t.icon_name,
            icon_url: format!("https://static.dingtalk.example/icons/{}.png", t.icon_name),
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({ "result": forms, "success": true }),
    )
}
