//! The simulator over real HTTP on 127.0.0.1, spoken to with plain reqwest
//! (never the job's client), so each test checks DingTalk's wire shapes as a stranger sees them.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dingtalk_sim::{
    FaultKind, FaultRule, ForeignMode, Instance, MissingInstanceCode, NextTokenEnd, Outcome, Rates,
    SimConfig, SimHandle, SimStats, Switches, TruthCorrection,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

struct Sim {
    handle: SimHandle,
    http: Client,
}

impl Sim {
    async fn start(config: SimConfig) -> Sim {
        let handle = SimHandle::spawn(config).await.expect("simulator starts");
        Sim {
            handle,
            http: Client::new(),
        }
    }

    async fn small() -> Sim {
        Sim::start(SimConfig::new(11, 60)).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    async fn token(&self) -> String {
        let body = self
            .get_json(&format!(
                "/gettoken?appkey={}&appsecret={}",
                self.handle.app_key(),
                self.handle.app_secret()
            ))
            .await;
        assert_eq!(body["errcode"], 0, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// oapi call: always HTTP 200 with an errcode envelope.
    async fn oapi(&self, path: &str, token: &str, body: Value) -> Value {
        let res = self.oapi_raw(path, token, body.to_string()).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    async fn oapi_raw(&self, path: &str, token: &str, body: String) -> reqwest::Response {
        let url = format!("{}?access_token={token}", self.url(path));
        self.http
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn api_post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .http
            .post(self.url(path))
            .header("x-acs-dingtalk-access-token", token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        assert!(res.headers().contains_key("x-acs-request-id"));
        (status, res.json().await.unwrap())
    }

    async fn api_get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(self.url(path))
            .header("x-acs-dingtalk-access-token", token)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    }

    async fn results(&self, token: &str, users: &[&str], from: &str, to: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut offset = 0;
        loop {
            let body = json!({"workDateFrom": format!("{from} 00:00:00"), "workDateTo": format!("{to} 00:00:00"),
                              "userIdList": users, "offset": offset, "limit": 50});
            let page = self.oapi("/attendance/list", token, body).await;
            assert_eq!(page["errcode"], 0, "{page}");
            rows.extend(page["recordresult"].as_array().unwrap().iter().cloned());
            if page["hasMore"] != true {
                return rows;
            }
            offset += 50;
        }
    }

    async fn detail(&self, token: &str, id: &str) -> (StatusCode, Value) {
        self.api_get(
            &format!("/v1.0/workflow/processInstances?processInstanceId={id}"),
            token,
        )
        .await
    }

    fn at(&self, ms: i64) {
        self.handle
            .set_clock(DateTime::from_timestamp_millis(ms).unwrap());
    }

    fn user_of(&self, inst: &Instance) -> String {
        self.handle.world().employees[inst.user].id.clone()
    }

    fn work_date_of(&self, inst: &Instance) -> String {
        let day = self.handle.world().user_day(inst.user, inst.day).unwrap();
        day.work_date.to_string()
    }

    fn agreed(&self) -> Instance {
        let world = self.handle.world();
        world
            .instances
            .iter()
            .find(|i| i.outcome == Outcome::Agree && i.reverted_ms.is_none())
            .expect("an agreed 补卡 exists")
            .clone()
    }
}

fn row_for(rows: &[Value], plan_id: i64) -> Option<&Value> {
    rows.iter().find(|r| r["planId"] == plan_id)
}

const MINUTE: i64 = 60_000;

#[tokio::test]
async fn tokens_are_reused_while_valid_shared_by_both_families_and_expire_after_7200_seconds() {
    let sim = Sim::small().await;
    let first = sim.token().await;
    assert_eq!(
        sim.token().await,
        first,
        "asking again while valid returns the same token"
    );
    let body = json!({"appKey": sim.handle.app_key(), "appSecret": sim.handle.app_secret()});
    let res = sim
        .http
        .post(sim.url("/v1.0/oauth2/accessToken"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["accessToken"], first.as_str());
    assert_eq!(answer["expireIn"], 7200);

    let bad = sim
        .get_json("/gettoken?appkey=sim-app-key&appsecret=wrong")
        .await;
    assert_eq!(bad["errcode"], 40089);
    let body = json!({"appKey": "sim-app-key", "appSecret": "wrong"});
    let res = sim
        .http
        .post(sim.url("/v1.0/oauth2/accessToken"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "invalidClientIdOrSecret"
    );

    let list = json!({"dept_id": 1});
    assert_eq!(
        sim.oapi("/topapi/user/listid", "nope", list.clone()).await["errcode"],
        40014
    );
    let (status, body) = sim
        .api_get(
            "/v1.0/workflow/processInstances?processInstanceId=x",
            "nope",
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidAuthentication"))
    );

    sim.handle
        .set_clock(sim.handle.now() + chrono::Duration::seconds(7200));
    assert_eq!(
        sim.oapi("/topapi/user/listid", &first, list.clone()).await["errcode"],
        42001
    );
    let (status, body) = sim
        .api_get(
            "/v1.0/workflow/processInstances?processInstanceId=x",
            &first,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidAuthentication"))
    );
    let second = sim.token().await;
    assert_ne!(second, first, "an expired token is replaced");
    assert_eq!(
        sim.oapi("/topapi/user/listid", &second, list).await["errcode"],
        0
    );
}

#[tokio::test]
async fn result_rows_have_dingtalks_shape_and_not_signed_rows_carry_no_punch() {
    let sim = Sim::start(SimConfig::new(5, 120)).await;
    let token = sim.token().await;
    let world = sim.handle.world();
    let users: Vec<&str> = world
        .employees
        .iter()
        .take(50)
        .map(|e| e.id.as_str())
        .collect();
    let rows = sim
        .results(&token, &users, "2026-10-05", "2026-10-11")
        .await;
    assert!(
        rows.len() > 50 * 5 * 2 - 10,
        "two rows per scheduled user-day, got {}",
        rows.len()
    );
    let mut saw_not_signed = false;
    for row in &rows {
        assert!(row["userId"].is_string() && row["id"].is_i64() && row["workDate"].is_i64());
        assert!(row["planId"].as_i64().unwrap() > 1 << 32);
        let work_date = row["workDate"].as_i64().unwrap();
        assert_eq!(
            (work_date + 8 * 3_600_000) % 86_400_000,
            0,
            "workDate is local midnight"
        );
        if row["timeResult"] == "NotSigned" {
            saw_not_signed = true;
            assert!(row.get("recordId").is_none(), "{row}");
            assert_eq!(row["sourceType"], "SYSTEM");
            assert_eq!(row["locationResult"], "NotSigned");
            assert_eq!(row["userCheckTime"], row["baseCheckTime"]);
        } else {
            assert!(row["recordId"].is_i64(), "{row}");
        }
    }
    assert!(saw_not_signed);
    let ids: Vec<&str> = world.employees.iter().map(|e| e.id.as_str()).collect();
    assert!(
        ids.iter().any(|id| id.starts_with('0')),
        "some ids have leading zeros"
    );
    assert!(
        ids.iter().any(|id| id.len() == 20),
        "some ids are long numeric-looking strings"
    );
    assert!(
        ids.iter()
            .any(|id| id.chars().any(|c| c.is_ascii_alphabetic()))
    );
}

#[tokio::test]
async fn a_night_shift_keeps_the_shifts_day_as_work_date_for_the_next_mornings_punch() {
    let mut config = SimConfig::new(2, 40);
    config.rates.night_shift = 0.5;
    let sim = Sim::start(config).await;
    let token = sim.token().await;
    let night = sim
        .handle
        .world()
        .employees
        .iter()
        .find(|e| e.night)
        .unwrap()
        .id
        .clone();
    let rows = sim
        .results(&token, &[&night], "2026-10-05", "2026-10-05")
        .await;
    let off = rows.iter().find(|r| r["checkType"] == "OffDuty").unwrap();
    let work_date = off["workDate"].as_i64().unwrap();
    let base = off["baseCheckTime"].as_i64().unwrap();
    assert_eq!(
        base - work_date,
        30 * 3_600_000,
        "06:00 on the next calendar day"
    );
}

#[tokio::test]
async fn results_paging_and_limits_answer_like_dingtalk() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let users: Vec<String> = sim
        .handle
        .world()
        .employees
        .iter()
        .take(10)
        .map(|e| e.id.clone())
        .collect();
    let body = |offset: i64, limit: i64| json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-09 23:00:00", "userIdList": users, "offset": offset, "limit": limit});
    let first = sim.oapi("/attendance/list", &token, body(0, 50)).await;
    assert_eq!(first["hasMore"], true);
    assert_eq!(first["recordresult"].as_array().unwrap().len(), 50);
    let last = sim.oapi("/attendance/list", &token, body(50, 50)).await;
    assert_eq!(last["hasMore"], false);
    assert_eq!(
        last["recordresult"].as_array().unwrap().len(),
        50,
        "10 users × 5 days × 2 rows"
    );

    let many: Vec<String> = (0..51).map(|i| format!("u{i}")).collect();
    let cases = [
        json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-05 00:00:00", "userIdList": many, "offset": 0, "limit": 50}),
        json!({"workDateFrom": "2026-10-01 00:00:00", "workDateTo": "2026-10-09 00:00:00", "userIdList": ["x"], "offset": 0, "limit": 50}),
        json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-05 00:00:00", "userIdList": ["x"], "offset": 0, "limit": 51}),
        json!({"workDateFrom": "2026-10-05", "workDateTo": "2026-10-05 00:00:00", "userIdList": ["x"], "offset": 0, "limit": 5}),
        json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-05 00:00:00", "userIdList": "x", "offset": 0, "limit": 5}),
        json!({"workDateTo": "2026-10-05 00:00:00", "userIdList": ["x"], "offset": 0, "limit": 5}),
        json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-05 00:00:00", "userIdList": ["x"], "offset": "0", "limit": 5}),
    ];
    for case in cases {
        let answer = sim.oapi("/attendance/list", &token, case.clone()).await;
        assert_eq!(answer["errcode"], 40035, "{case} → {answer}");
        assert!(
            answer["errmsg"].as_str().unwrap().contains("expected"),
            "{answer}"
        );
    }
    for raw in ["{not json", "", "[1,2]"] {
        let answer: Value = sim
            .oapi_raw("/attendance/list", &token, raw.into())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["errcode"], 40035, "{raw:?} → {answer}");
    }
    let stats = sim.handle.stats();
    assert_eq!(
        stats.metered,
        2 + 7 + 3,
        "business errors and malformed bodies are metered"
    );
}

#[tokio::test]
async fn list_record_shows_punches_in_the_interval_and_refuses_spans_over_seven_days() {
    let sim = Sim::small().await;
    let inst = sim.agreed();
    let user = sim.user_of(&inst);
    sim.at(inst.applied_ms.unwrap() + MINUTE);
    let token = sim.token().await;
    let corrected = DateTime::from_timestamp_millis(inst.corrected_ms + 8 * 3_600_000).unwrap();
    let day = corrected.format("%Y-%m-%d");
    let body = json!({"userIds": [user], "checkDateFrom": format!("{day} 00:00:00"), "checkDateTo": format!("{day} 23:59:59")});
    let answer = sim.oapi("/attendance/listRecord", &token, body).await;
    let punches = answer["recordresult"].as_array().unwrap();
    let supply: Vec<&Value> = punches
        .iter()
        .filter(|p| p["sourceType"] == "APPROVE")
        .collect();
    assert_eq!(supply.len(), 1, "the 补卡 punch is listed: {answer}");
    assert_eq!(supply[0]["procInstId"], inst.id.as_str());
    assert_eq!(supply[0]["userCheckTime"], inst.corrected_ms);
    for p in punches {
        assert!(p["userCheckTime"].is_i64() && p["isLegal"].is_string() && p["planId"].is_i64());
    }
    let corrected_local = corrected.format("%Y-%m-%d %H:%M:%S").to_string();
    let before = json!({"userIds": [user], "checkDateFrom": format!("{day} 00:00:00"), "checkDateTo": corrected_local});
    let answer = sim.oapi("/attendance/listRecord", &token, before).await;
    let rows = answer["recordresult"].as_array().unwrap();
    assert!(
        rows.iter().any(|p| p["sourceType"] == "APPROVE"),
        "the interval's end is inclusive"
    );
    assert!(
        rows.iter()
            .all(|p| p["userCheckTime"].as_i64().unwrap() <= inst.corrected_ms),
        "the time part is honoured"
    );
    let span = json!({"userIds": [user], "checkDateFrom": "2026-10-01 00:00:00", "checkDateTo": "2026-10-08 00:00:01"});
    assert_eq!(
        sim.oapi("/attendance/listRecord", &token, span).await["errcode"],
        40035
    );
}

#[tokio::test]
async fn the_supply_punch_switch_hides_the_approve_punch_from_list_record() {
    for shown in [true, false] {
        let mut config = SimConfig::new(11, 60);
        config.switches.supply_punch_in_list_record = shown;
        let sim = Sim::start(config).await;
        let token = sim.token().await;
        let inst = sim.agreed();
        sim.at(inst.applied_ms.unwrap() + MINUTE);
        let corrected = DateTime::from_timestamp_millis(inst.corrected_ms + 8 * 3_600_000).unwrap();
        let day = corrected.format("%Y-%m-%d");
        let body = json!({"userIds": [sim.user_of(&inst)], "checkDateFrom": format!("{day} 00:00:00"), "checkDateTo": format!("{day} 23:59:59")});
        let answer = sim.oapi("/attendance/listRecord", &token, body).await;
        let approve = answer["recordresult"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["sourceType"] == "APPROVE")
            .count();
        assert_eq!(approve, usize::from(shown), "{answer}");
    }
}

#[tokio::test]
async fn an_approval_runs_then_completes_then_corrects_its_slot_after_the_apply_lag() {
    let sim = Sim::small().await;
    // An agreed 补卡 whose correction shows more than a minute after the decision, so the slot
    // can be seen approved but not yet corrected.
    let inst = sim
        .handle
        .world()
        .instances
        .iter()
        .find(|i| {
            i.outcome == Outcome::Agree
                && i.reverted_ms.is_none()
                && i.applied_ms.is_some_and(|at| at > i.decided_ms + MINUTE)
        })
        .expect("an agreed 补卡 with an apply lag exists")
        .clone();
    let user = sim.user_of(&inst);
    let date = sim.work_date_of(&inst);
    let plan_id = sim
        .handle
        .world()
        .user_day(inst.user, inst.day)
        .unwrap()
        .slots[inst.slot]
        .plan_id;

    sim.at(inst.created_ms + MINUTE);
    let token = sim.token().await;
    let (_, running) = sim.detail(&token, &inst.id).await;
    assert_eq!(running["result"]["status"], "RUNNING");
    assert!(running["result"].get("finishTime").is_none());
    let rows = sim.results(&token, &[&user], &date, &date).await;
    assert_eq!(row_for(&rows, plan_id).unwrap()["timeResult"], "NotSigned");

    sim.at(inst.decided_ms + MINUTE);
    let token = sim.token().await;
    let (_, done) = sim.detail(&token, &inst.id).await;
    assert_eq!(
        (
            done["result"]["status"].as_str(),
            done["result"]["result"].as_str()
        ),
        (Some("COMPLETED"), Some("agree"))
    );
    let rows = sim.results(&token, &[&user], &date, &date).await;
    assert_eq!(
        row_for(&rows, plan_id).unwrap()["timeResult"],
        "NotSigned",
        "approved, not yet visible"
    );

    sim.at(inst.applied_ms.unwrap());
    let token = sim.token().await;
    let rows = sim.results(&token, &[&user], &date, &date).await;
    let row = row_for(&rows, plan_id).unwrap();
    assert_eq!(
        (row["timeResult"].as_str(), row["sourceType"].as_str()),
        (Some("Normal"), Some("APPROVE"))
    );
    assert_eq!(row["procInstId"], inst.id.as_str());
    assert_eq!(row["userCheckTime"], inst.corrected_ms);
    assert!(row["recordId"].is_i64());
    let truth = sim.handle.truth(sim.handle.now());
    assert!(
        truth
            .iter()
            .any(|t| t.process_instance_id.as_deref() == Some(&inst.id)
                && t.class == "supply_applied")
    );
}

#[tokio::test]
async fn an_off_duty_result_shows_its_provisional_punch_until_it_settles() {
    let mut config = SimConfig::new(4, 40);
    config.rates.provisional_off_duty = 0.5;
    let sim = Sim::start(config).await;
    let world = sim.handle.world();
    let (user, day, slot) = world
        .employees
        .iter()
        .flat_map(|e| e.days.iter().flatten().map(move |d| (e, d)))
        .flat_map(|(e, d)| {
            d.slots
                .iter()
                .map(move |s| (e.id.clone(), d.work_date, s.clone()))
        })
        .find(|(_, _, s)| {
            s.timeline.len() == 2
                && s.timeline[1].state.time_result.as_str() == "Normal"
                && s.timeline[0].state.time_result.as_str() == "Early"
        })
        .expect("a provisional off-duty row");
    let date = day.to_string();
    sim.at(slot.timeline[1].at - MINUTE);
    let token = sim.token().await;
    let rows = sim.results(&token, &[&user], &date, &date).await;
    assert_eq!(row_for(&rows, slot.plan_id).unwrap()["timeResult"], "Early");
    sim.at(slot.base_ms + 12 * 3_600_000);
    let token = sim.token().await;
    let rows = sim.results(&token, &[&user], &date, &date).await;
    assert_eq!(
        row_for(&rows, slot.plan_id).unwrap()["timeResult"],
        "Normal",
        "settled within 12 h"
    );
}

#[tokio::test]
async fn the_supply_detail_has_the_documented_form_and_time_formats() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let inst = sim.agreed();
    let (status, body) = sim.detail(&token, &inst.id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], "true", "success is a string here");
    let result = &body["result"];
    let created = DateTime::from_timestamp_millis(inst.created_ms).unwrap();
    assert_eq!(
        result["createTime"],
        created.format("%Y-%m-%dT%H:%MZ").to_string(),
        "real UTC"
    );
    assert_eq!(result["businessId"], inst.business_id.as_str());
    assert_eq!(result["originatorUserId"], sim.user_of(&inst).as_str());
    let form = result["formComponentValues"].as_array().unwrap();
    let date_field = form.iter().find(|f| f["name"] == "补卡时间").unwrap();
    assert_eq!(date_field["componentType"], "DDDateField");
    let local = DateTime::from_timestamp_millis(inst.corrected_ms + 8 * 3_600_000).unwrap();
    assert_eq!(
        date_field["value"],
        local.format("%Y-%m-%d %H:%M").to_string()
    );
    let ext: Value = serde_json::from_str(
        date_field["extValue"]
            .as_str()
            .expect("extValue is a JSON string"),
    )
    .unwrap();
    let day = sim.handle.world().user_day(inst.user, inst.day).unwrap();
    assert_eq!(ext["planId"], day.slots[inst.slot].plan_id);
    assert_eq!(ext["userCheckTime"], inst.corrected_ms);
    assert_eq!(ext["workDate"], ext["timeStamp"]);
    assert!(
        form.iter()
            .any(|f| f["name"] == "补卡理由" || f["name"] == "补卡原因")
    );
    let repair = form
        .iter()
        .find(|f| f["name"] == "repairCheckTime")
        .unwrap();
    assert_eq!(repair["value"], inst.corrected_ms.to_string());
}

#[tokio::test]
async fn a_decided_detail_names_its_approver_with_a_remark_and_a_withdrawal_its_originator() {
    let sim = Sim::small().await;
    let world = sim.handle.world();
    let find = |outcome: Outcome| {
        world
            .instances
            .iter()
            .find(|i| i.outcome == outcome)
            .unwrap_or_else(|| panic!("a {outcome:?} 补卡 exists"))
            .clone()
    };
    let (agreed, refused, withdrawn) = (
        find(Outcome::Agree),
        find(Outcome::Refuse),
        find(Outcome::Withdrawn),
    );
    let latest = [&agreed, &refused, &withdrawn]
        .iter()
        .map(|i| i.decided_ms)
        .max()
        .unwrap();
    sim.at(latest + MINUTE);
    let token = sim.token().await;
    for (inst, kind, result, task) in [
        (
            &agreed,
            "EXECUTE_TASK_NORMAL",
            "AGREE",
            ("COMPLETED", Some("AGREE")),
        ),
        (
            &refused,
            "EXECUTE_TASK_NORMAL",
            "REFUSE",
            ("COMPLETED", Some("REFUSE")),
        ),
        (
            &withdrawn,
            "TERMINATE_PROCESS_INSTANCE",
            "NONE",
            ("CANCELED", None),
        ),
    ] {
        let (_, body) = sim.detail(&token, &inst.id).await;
        let detail = &body["result"];
        let records = detail["operationRecords"].as_array().unwrap();
        assert_eq!(records.len(), 2, "{detail}");
        let originator = sim.user_of(inst);
        assert_eq!(records[0]["type"], "START_PROCESS_INSTANCE");
        assert_eq!(records[0]["userId"], originator.as_str());
        let approver = &world.employees[inst.approver];
        let decider = if inst.outcome == Outcome::Withdrawn {
            originator.clone()
        } else {
            approver.id.clone()
        };
        assert_eq!(
            (records[1]["type"].as_str(), records[1]["result"].as_str()),
            (Some(kind), Some(result))
        );
        assert_eq!(records[1]["userId"], decider.as_str());
        let decided = DateTime::from_timestamp_millis(inst.decided_ms).unwrap();
        assert_eq!(
            records[1]["date"],
            decided.format("%Y-%m-%dT%H:%MZ").to_string()
        );
        assert!(records[1]["remark"].is_string(), "{detail}");
        let tasks = detail["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0]["userId"], approver.id.as_str());
        assert_eq!(
            (tasks[0]["status"].as_str(), tasks[0]["result"].as_str()),
            (Some(task.0), task.1)
        );
        // The approver is someone the directory lists, with a name.
        let dept = approver.departments[0];
        let listed = user_list_all(&sim, &token, dept, 100).await;
        let entry = listed
            .iter()
            .find(|user| user["userid"] == approver.id.as_str())
            .unwrap_or_else(|| panic!("approver {} is in department {dept}", approver.id));
        assert_eq!(entry["name"], approver.name.as_str());
    }
    let (_, body) = sim.detail(&token, &refused.id).await;
    let remark = body["result"]["operationRecords"][1]["remark"]
        .as_str()
        .unwrap();
    assert!(
        !remark.is_empty() && !remark.is_ascii(),
        "a refusal says why, in Chinese: {remark:?}"
    );
}

#[tokio::test]
async fn pessimistic_switches_change_the_detail_and_the_corrected_row() {
    let mut config = SimConfig::new(11, 60);
    config.switches = Switches::pessimistic();
    let sim = Sim::start(config).await;
    let inst = sim.agreed();
    sim.at(inst.applied_ms.unwrap() + MINUTE);
    let token = sim.token().await;
    let (_, body) = sim.detail(&token, &inst.id).await;
    let result = &body["result"];
    let local = DateTime::from_timestamp_millis(inst.created_ms + 8 * 3_600_000).unwrap();
    assert_eq!(
        result["createTime"],
        local.format("%Y-%m-%dT%H:%MZ").to_string(),
        "local time labelled Z"
    );
    let form = result["formComponentValues"].as_array().unwrap();
    assert!(form.iter().all(|f| f["name"] != "repairCheckTime"));
    let ext: Value = serde_json::from_str(form[0]["extValue"].as_str().unwrap()).unwrap();
    assert_eq!(ext["planId"], "");
    let date = sim.work_date_of(&inst);
    let rows = sim
        .results(&token, &[&sim.user_of(&inst)], &date, &date)
        .await;
    let plan_id = sim
        .handle
        .world()
        .user_day(inst.user, inst.day)
        .unwrap()
        .slots[inst.slot]
        .plan_id;
    let row = row_for(&rows, plan_id).unwrap();
    assert_eq!(row["sourceType"], "APPROVE");
    assert!(row.get("procInstId").is_none(), "{row}");
    let (status, missing) = sim.detail(&token, "no-such-instance").await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("aflowProcessInstNotExist"))
    );
}

#[tokio::test]
async fn an_unknown_instance_answers_the_default_missing_code() {
    let mut config = SimConfig::new(11, 20);
    config.switches.missing_instance_code = MissingInstanceCode::ProcessInstanceIdError;
    let sim = Sim::start(config).await;
    let token = sim.token().await;
    let (status, body) = sim.detail(&token, "no-such-instance").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("processInstanceIdError"))
    );
    assert!(body["requestid"].is_string() && body["message"].is_string());
}

async fn all_ids(sim: &Sim, token: &str, code: &str, start: i64, end: i64) -> (Vec<String>, Value) {
    let mut ids = Vec::new();
    let mut next = 0i64;
    loop {
        let body = json!({"processCode": code, "startTime": start, "endTime": end, "nextToken": next, "maxResults": 20});
        let (status, page) = sim
            .api_post("/v1.0/workflow/processes/instanceIds/query", token, body)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["success"], true, "success is a bool here");
        ids.extend(
            page["result"]["list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned()),
        );
        match page["result"]["nextToken"].as_str() {
            Some(t) if !t.is_empty() && t != "0" => next = t.parse().unwrap(),
            _ => return (ids, page),
        }
    }
}

#[tokio::test]
async fn instance_ids_page_by_a_string_next_token_and_end_as_the_switch_says() {
    for (end, expected) in [
        (NextTokenEnd::Absent, None),
        (NextTokenEnd::Empty, Some("")),
        (NextTokenEnd::Zero, Some("0")),
    ] {
        let mut config = SimConfig::new(11, 200);
        config.switches.next_token_end = end;
        let sim = Sim::start(config).await;
        let token = sim.token().await;
        let now = sim.handle.now().timestamp_millis();
        let mut total = 0;
        for code in sim.handle.supply_process_codes() {
            let (ids, last) = all_ids(&sim, &token, &code, now - 100 * 86_400_000, now).await;
            assert_eq!(last["result"]["nextToken"].as_str(), expected, "{last}");
            total += ids.len();
        }
        let world = sim.handle.world();
        let created = world
            .instances
            .iter()
            .filter(|i| i.created_ms <= now)
            .count();
        assert_eq!(
            total, created,
            "every instance created by now is listed once"
        );
        assert!(total > 20, "several pages");
    }
}

#[tokio::test]
async fn instance_id_queries_enforce_dingtalks_limits() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let code = sim.handle.supply_process_codes()[0].clone();
    let now = sim.handle.now().timestamp_millis();
    let day = 86_400_000i64;
    let base =
        json!({"processCode": code, "startTime": now - 10 * day, "nextToken": 0, "maxResults": 20});
    let with = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    let cases = [
        (with(json!({"nextToken": "0"})), "invalidNextToken"),
        (with(json!({"maxResults": 21})), "invalidMaxResults"),
        (with(json!({"userIds": eleven})), "invalidUserIds"),
        (
            with(json!({"processCode": "PROC-NOPE"})),
            "invalidProcessCode",
        ),
        (
            with(json!({"startTime": now - 121 * day})),
            "invalidInstanceListIdsStartTime",
        ),
        (
            with(json!({"startTime": now - 200 * day, "endTime": now - 50 * day})),
            "invalidEndTime",
        ),
        (
            with(json!({"startTime": now - 400 * day, "endTime": now - 300 * day})),
            "invalidInstanceListIdsStartTime",
        ),
        (with(json!({"endTime": now - 20 * day})), "invalidEndTime"),
        (with(json!({"statuses": ["DONE"]})), "invalidParameter"),
    ];
    for (body, code) in cases {
        let (status, answer) = sim
            .api_post(
                "/v1.0/workflow/processes/instanceIds/query",
                &token,
                body.clone(),
            )
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}"
        );
    }
    let running =
        with(json!({"statuses": ["RUNNING"], "startTime": now - 100 * day, "endTime": now}));
    let (_, page) = sim
        .api_post(
            "/v1.0/workflow/processes/instanceIds/query",
            &token,
            running,
        )
        .await;
    for id in page["result"]["list"].as_array().unwrap() {
        let (_, detail) = sim.detail(&token, id.as_str().unwrap()).await;
        assert_eq!(detail["result"]["status"], "RUNNING");
    }
}

#[tokio::test]
async fn templates_are_listed_for_the_admin_only() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let admin = sim.handle.admin_user_id();
    let (status, body) = sim
        .api_get(
            &format!("/v1.0/workflow/processes/managements/templates?userId={admin}"),
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let supply: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["attendanceType"] == 1)
        .map(|t| t["processCode"].as_str().unwrap())
        .collect();
    assert_eq!(supply, sim.handle.supply_process_codes());
    assert!(
        body["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["attendanceType"] == 2)
    );
    let other = sim.handle.world().employees[3].id.clone();
    let (status, _) = sim
        .api_get(
            &format!("/v1.0/workflow/processes/managements/templates?userId={other}"),
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn walking_the_department_tree_finds_every_employee_for_free() {
    let sim = Sim::start(SimConfig::new(9, 150)).await;
    let token = sim.token().await;
    let (mut pending, mut users, mut listings) = (vec![1i64], std::collections::BTreeSet::new(), 0);
    while let Some(dept) = pending.pop() {
        let subs = sim
            .oapi(
                "/topapi/v2/department/listsubid",
                &token,
                json!({"dept_id": dept}),
            )
            .await;
        pending.extend(
            subs["result"]["dept_id_list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap()),
        );
        let members = sim
            .oapi("/topapi/user/listid", &token, json!({"dept_id": dept}))
            .await;
        let list = members["result"]["userid_list"].as_array().unwrap();
        listings += list.len();
        users.extend(list.iter().map(|v| v.as_str().unwrap().to_owned()));
    }
    assert_eq!(users.len(), 150);
    assert!(listings > users.len(), "some people are in two departments");
    assert_eq!(
        sim.oapi("/topapi/user/listid", &token, json!({"dept_id": 424242}))
            .await["errcode"],
        60003
    );
    let name = sim.handle.world().employees[7].name.clone();
    let (status, found) = sim
        .api_post(
            "/v1.0/contact/users/search",
            &token,
            json!({"queryWord": name, "offset": 0, "size": 20, "fullMatchField": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        found["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == sim.handle.world().employees[7].id.as_str())
    );
    let stats = sim.handle.stats();
    assert_eq!(stats.metered, 1, "only users/search is metered: {stats:?}");
}

/// Every member of `dept` as `user/list` pages them, `size` at a time.
async fn user_list_all(sim: &Sim, token: &str, dept: i64, size: i64) -> Vec<Value> {
    let (mut cursor, mut users) = (0, Vec::new());
    loop {
        let page = sim
            .oapi(
                "/topapi/v2/user/list",
                token,
                json!({"dept_id": dept, "cursor": cursor, "size": size}),
            )
            .await;
        assert_eq!(page["errcode"], 0, "{page}");
        users.extend(page["result"]["list"].as_array().unwrap().iter().cloned());
        if page["result"]["has_more"] != true {
            assert!(page["result"].get("next_cursor").is_none(), "{page}");
            return users;
        }
        cursor = page["result"]["next_cursor"].as_i64().unwrap();
    }
}

#[tokio::test]
async fn user_list_and_department_get_serve_names_and_the_tree_for_free_and_show_moves() {
    let mut config = SimConfig::new(11, 150);
    config.rates.department_move = 0.3;
    let sim = Sim::start(config).await;
    let world = sim.handle.world().clone();
    let made = *world.moves.first().expect("a 30 % rate moves someone");
    let token = sim.token();
    let token = token.await;

    // The tree: names, parents, the root without a parent.
    let root = sim
        .oapi("/topapi/v2/department/get", &token, json!({"dept_id": 1}))
        .await;
    assert_eq!(root["errcode"], 0, "{root}");
    assert_eq!(root["result"]["name"], "杭州云栖数智科技有限公司");
    assert!(root["result"].get("parent_id").is_none(), "{root}");
    let team = sim
        .oapi(
            "/topapi/v2/department/get",
            &token,
            json!({"dept_id": made.from}),
        )
        .await;
    let parent = team["result"]["parent_id"].as_i64().unwrap();
    let siblings = sim
        .oapi(
            "/topapi/v2/department/listsubid",
            &token,
            json!({"dept_id": parent}),
        )
        .await;
    assert!(
        siblings["result"]["dept_id_list"]
            .as_array()
            .unwrap()
            .contains(&json!(made.from))
    );
    let name = team["result"]["name"].as_str().unwrap();
    assert!(
        !name.is_empty() && !name.contains(char::is_numeric),
        "{name}"
    );
    assert_eq!(
        sim.oapi(
            "/topapi/v2/department/get",
            &token,
            json!({"dept_id": 424242})
        )
        .await["errcode"],
        60003
    );

    // Paged details: the same members as listid, with names and departments.
    sim.handle
        .set_clock(DateTime::from_timestamp_millis(made.at_ms - 1).unwrap());
    let before = user_list_all(&sim, &token, made.from, 7).await;
    let listid = sim
        .oapi("/topapi/user/listid", &token, json!({"dept_id": made.from}))
        .await;
    let ids: Vec<&Value> = before.iter().map(|u| &u["userid"]).collect();
    assert_eq!(
        ids,
        listid["result"]["userid_list"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>()
    );
    let mover = &world.employees[made.user];
    let row = before
        .iter()
        .find(|u| u["userid"] == mover.id.as_str())
        .unwrap();
    assert_eq!(row["name"], mover.name.as_str());
    assert_eq!(row["dept_id_list"][0], made.from);
    assert!(
        before.iter().all(|u| {
            let name = u["name"].as_str().unwrap();
            (2..=4).contains(&name.chars().count())
        }),
        "a surname and a given name of one to three characters"
    );

    // After the move: gone from the old team, in the new one, with its new department list.
    sim.handle
        .set_clock(DateTime::from_timestamp_millis(made.at_ms).unwrap());
    let after = user_list_all(&sim, &token, made.from, 100).await;
    assert!(after.iter().all(|u| u["userid"] != mover.id.as_str()));
    let joined = user_list_all(&sim, &token, made.to, 100).await;
    let row = joined
        .iter()
        .find(|u| u["userid"] == mover.id.as_str())
        .unwrap();
    assert_eq!(row["dept_id_list"][0], made.to);

    // Limits: size 1..=100, cursor ≥ 0.
    for (cursor, size) in [(0, 101), (0, 0), (-1, 10)] {
        let refused = sim
            .oapi(
                "/topapi/v2/user/list",
                &token,
                json!({"dept_id": 1, "cursor": cursor, "size": size}),
            )
            .await;
        assert_eq!(refused["errcode"], 40035, "{refused}");
    }
    let stats = sim.handle.stats();
    assert_eq!(stats.metered, 0, "contacts calls are free: {stats:?}");
}

/// One call as the client saw it: when it was sent, when its answer arrived, and whether the
/// answer was the throttle.
struct Timed {
    sent: Instant,
    answered: Instant,
    throttled: bool,
}

/// Calls `call` one after the other until `limit` + 3 of them were throttled, for at most a
/// minute of real time (a limiter that never throttles fails there, however slow the machine).
async fn until_throttled<F, Fut>(limit: u32, mut call: F) -> Vec<Timed>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let mut calls = Vec::new();
    while calls.iter().filter(|c: &&Timed| c.throttled).count() < limit as usize + 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no throttling within a minute of back-to-back calls: {} admitted",
            calls.len()
        );
        let sent = Instant::now();
        let throttled = call().await;
        calls.push(Timed {
            sent,
            answered: Instant::now(),
            throttled,
        });
    }
    calls
}

/// What the sliding one-second window implies whatever the speed of the machine: an admitted call
/// was admitted with fewer than `limit` others admitted in the second before it, and a throttled
/// call with at least `limit` of them. Each call was admitted or refused at some instant between
/// its sending and its answer, so a call certainly fell within the second before call k's
/// decision when it was answered before k was sent and sent less than a second before k was
/// answered, and possibly did when it was answered less than a second before k was sent.
#[track_caller]
fn assert_sliding_window(calls: &[Timed], limit: u32) {
    let second = Duration::from_secs(1);
    for (k, call) in calls.iter().enumerate() {
        let admitted_before = || calls[..k].iter().filter(|other| !other.throttled);
        if call.throttled {
            let possibly = admitted_before()
                .filter(|other| other.answered + second > call.sent)
                .count();
            assert!(
                possibly >= limit as usize,
                "call {k} throttled with only {possibly} admitted calls in the second before it"
            );
        } else {
            let certainly = admitted_before()
                .filter(|other| other.answered <= call.sent && other.sent + second > call.answered)
                .count();
            assert!(
                certainly < limit as usize,
                "call {k} admitted with {certainly} admitted calls in the second before it"
            );
        }
    }
}

#[tokio::test]
async fn calls_over_the_qps_limit_are_throttled_and_not_metered() {
    // Arrange: 3 calls per second per API; back-to-back calls on 127.0.0.1 reach that at once,
    // on a loaded machine after a few more calls.
    let mut config = SimConfig::new(1, 10);
    config.qps = 3;
    let sim = Sim::start(config).await;
    let token = sim.token().await;
    let before = sim.handle.stats();
    // Act: a free API (`errcode` 90018 when throttled), then a metered one (HTTP 403).
    let listid = until_throttled(3, || async {
        sim.oapi("/topapi/user/listid", &token, json!({"dept_id": 1}))
            .await["errcode"]
            == 90018
    })
    .await;
    let details = until_throttled(3, || async {
        sim.detail(&token, "x").await.0 == StatusCode::FORBIDDEN
    })
    .await;
    // Assert: the window held for each API, and the simulator's accounting agrees with the
    // answers exactly: every throttled answer counted as throttled, only admitted metered calls
    // metered.
    assert_sliding_window(&listid, 3);
    assert_sliding_window(&details, 3);
    let throttled = listid
        .iter()
        .chain(&details)
        .filter(|c| c.throttled)
        .count() as u64;
    let admitted_details = details.iter().filter(|c| !c.throttled).count() as u64;
    let after = sim.handle.stats();
    assert_eq!(after.throttled - before.throttled, throttled, "{after:?}");
    assert_eq!(
        after.metered - before.metered,
        admitted_details,
        "throttled calls are not metered, listid is free: {after:?}"
    );
}

#[tokio::test]
async fn the_monthly_quota_refuses_metered_calls_until_the_next_month() {
    let mut config = SimConfig::new(1, 10);
    config.monthly_quota = Some(2);
    let sim = Sim::start(config).await;
    let token = sim.token().await;
    for _ in 0..2 {
        assert_eq!(sim.detail(&token, "x").await.0, StatusCode::BAD_REQUEST);
    }
    let (status, body) = sim.detail(&token, "x").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("Forbidden.AccessDenied.ApiCountLimitForOrg")
        )
    );
    let users = json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-05 00:00:00", "userIdList": ["x"], "offset": 0, "limit": 5});
    assert_eq!(
        sim.oapi("/attendance/list", &token, users.clone()).await["errcode"],
        90020
    );
    assert_eq!(
        sim.oapi("/topapi/user/listid", &token, json!({"dept_id": 1}))
            .await["errcode"],
        0,
        "free calls go on"
    );
    assert_eq!(sim.handle.stats().metered, 2);
    sim.handle.set_clock(
        "2026-12-01T00:00:00+08:00"
            .parse::<DateTime<Utc>>()
            .unwrap(),
    );
    let token = sim.token().await;
    assert_eq!(
        sim.oapi("/attendance/list", &token, users).await["errcode"],
        0,
        "a new natural month"
    );
}

#[tokio::test]
async fn every_fault_kind_answers_its_dingtalk_shape_and_is_metered_by_the_shared_rule() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let list = "/topapi/user/listid";
    let arm = |kind: FaultKind| {
        sim.handle
            .arm_faults(vec![FaultRule::new(Some(list), kind)])
    };
    let call = || sim.oapi_raw(list, &token, json!({"dept_id": 1}).to_string());

    arm(FaultKind::Throttle);
    assert_eq!(
        call().await.json::<Value>().await.unwrap()["errcode"],
        90018
    );
    arm(FaultKind::ServerError { status: 503 });
    assert_eq!(call().await.status(), StatusCode::SERVICE_UNAVAILABLE);
    arm(FaultKind::Malformed);
    let res = call().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        serde_json::from_slice::<Value>(&res.bytes().await.unwrap()).is_err(),
        "truncated JSON"
    );
    arm(FaultKind::IpBanHtml);
    assert!(call().await.text().await.unwrap().contains("<html"));
    arm(FaultKind::IpBanJson);
    assert_eq!(call().await.json::<Value>().await.unwrap()["status"], 1111);
    arm(FaultKind::QuotaExhausted);
    assert_eq!(
        call().await.json::<Value>().await.unwrap()["errcode"],
        90020
    );
    arm(FaultKind::InvalidateTokens);
    assert_eq!(
        call().await.json::<Value>().await.unwrap()["errcode"],
        40014
    );
    let token = sim.token().await;
    assert_eq!(
        sim.oapi(list, &token, json!({"dept_id": 1})).await["errcode"],
        0,
        "a fresh token works"
    );

    let before = sim.handle.stats();
    let detail = "/v1.0/workflow/processInstances";
    let rule = |kind| FaultRule {
        path: Some(detail.into()),
        kind,
        skip: 1,
        times: 1,
        every: 1,
    };
    // The slow call is held 5 s, so a client giving up after 150 ms certainly times out on it,
    // however loaded the machine; the calls around it go without a timeout, so load cannot fail
    // them. That the call after it was not held shows in the accounting (a call is counted when
    // answered): it is counted while the slow one is still held.
    sim.handle
        .arm_faults(vec![rule(FaultKind::Slow { delay_ms: 5_000 })]);
    let quick = Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let served = || sim.handle.stats().calls.get(detail).copied().unwrap_or(0);
    let at_start = served();
    assert_eq!(
        sim.detail_raw(&token).await,
        StatusCode::BAD_REQUEST,
        "the skipped call is answered"
    );
    let slow = quick
        .get(sim.url(&format!("{detail}?processInstanceId=x")))
        .header("x-acs-dingtalk-access-token", &token)
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout(), "the slow call times out");
    assert_eq!(
        sim.detail_raw(&token).await,
        StatusCode::BAD_REQUEST,
        "then the rule is spent"
    );
    assert_eq!(
        served(),
        at_start + 2,
        "the call after the slow one is answered while the slow one is held"
    );
    sim.handle.arm_faults(vec![
        rule(FaultKind::ServerError { status: 502 }),
        rule(FaultKind::Malformed),
    ]);
    assert_eq!(sim.detail_raw(&token).await, StatusCode::BAD_REQUEST);
    assert_eq!(sim.detail_raw(&token).await, StatusCode::BAD_GATEWAY);
    assert_eq!(
        sim.detail_raw(&token).await,
        StatusCode::OK,
        "malformed, truncated"
    );
    tokio::time::timeout(Duration::from_secs(60), async {
        while served() < at_start + 6 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the slow call is accounted once served");
    let after = sim.handle.stats();
    assert_eq!(
        after.metered - before.metered,
        5,
        "3 answered + slow + malformed, not the 502"
    );
}

#[tokio::test]
async fn the_hostile_faults_answer_as_what_stands_in_front_of_dingtalk_and_are_not_metered() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let results = "/attendance/list";
    let body = json!({"workDateFrom": "2026-10-01 00:00:00", "workDateTo": "2026-10-01 00:00:00",
                      "userIdList": ["nobody"], "offset": 0, "limit": 50});
    let before = sim.handle.stats();
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // A redirect on the token POST and on an oapi call: the 3xx and its Location, nothing else.
    let elsewhere = "http://127.0.0.1:9/elsewhere?x=1";
    for (status, path) in [(307, "/v1.0/oauth2/accessToken"), (302, results)] {
        sim.handle.arm_faults(vec![FaultRule::new(
            Some(path),
            FaultKind::Redirect {
                status,
                location: elsewhere.into(),
            },
        )]);
        let res = no_redirects
            .post(format!("{}?access_token={token}", sim.url(path)))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        assert_eq!(res.headers()["location"], elsewhere, "{path}");
        assert!(res.bytes().await.unwrap().is_empty(), "{path}");
    }
    // A status that is no redirect is answered as 307.
    sim.handle.arm_faults(vec![FaultRule::new(
        Some(results),
        FaultKind::Redirect {
            status: 200,
            location: elsewhere.into(),
        },
    )]);
    let res = no_redirects
        .post(format!("{}?access_token={token}", sim.url(results)))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);

    // HTTP 429 with a JSON code, in both families.
    for path in [results, "/v1.0/workflow/processes/instanceIds/query"] {
        sim.handle
            .arm_faults(vec![FaultRule::new(Some(path), FaultKind::Throttle429Json)]);
        let res = sim.oapi_raw(path, &token, body.to_string()).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["code"], "Throttling", "{path}");
    }

    // A captive portal's page on HTTP 200: HTML with a title, nothing of the ban page's.
    sim.handle
        .arm_faults(vec![FaultRule::new(Some(results), FaultKind::HtmlPage)]);
    let res = sim.oapi_raw(results, &token, body.to_string()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("<title>") && page.contains("<html"), "{page}");
    assert!(!page.contains("1111") && !page.contains("频繁"), "{page}");

    let after = sim.handle.stats();
    assert_eq!(after.metered, before.metered, "none of them is metered");
    assert_eq!(after.throttled - before.throttled, 2, "the two 429s");
    assert_eq!(
        after.free - before.free,
        4,
        "three redirects and the portal page"
    );
}

#[tokio::test]
async fn tokens_can_be_invalidated_on_every_nth_call_through_the_admin_path() {
    let sim = Sim::small().await;
    let rules = json!([{"path": "/topapi/user/listid", "kind": "invalidate_tokens",
                        "skip": 1, "every": 3, "times": 2}]);
    let res = sim
        .http
        .put(sim.url("/_sim/faults"))
        .json(&rules)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let list = "/topapi/user/listid";
    let mut rejected = Vec::new();
    for call in 0..9 {
        let token = sim.token().await;
        let answer = sim.oapi(list, &token, json!({"dept_id": 1})).await;
        if answer["errcode"] != 0 {
            assert_eq!(answer["errcode"], 40014, "{answer}");
            rejected.push(call);
        }
    }
    assert_eq!(rejected, vec![1, 4], "the 2nd and 5th calls, then disarmed");
}

impl Sim {
    async fn detail_raw(&self, token: &str) -> StatusCode {
        let url = self.url("/v1.0/workflow/processInstances?processInstanceId=x");
        let res = self
            .http
            .get(url)
            .header("x-acs-dingtalk-access-token", token)
            .send()
            .await
            .unwrap();
        res.status()
    }
}

#[tokio::test]
async fn admin_paths_mirror_the_handle_and_are_not_counted() {
    let sim = Sim::small().await;
    let set = json!({"now": "2026-11-20T10:00:00+08:00"});
    let res = sim
        .http
        .put(sim.url("/_sim/clock"))
        .json(&set)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        sim.handle.now(),
        "2026-11-20T02:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let clock = sim.get_json("/_sim/clock").await;
    assert_eq!(clock["now"], "2026-11-20T02:00:00.000Z");
    let bad = sim
        .http
        .put(sim.url("/_sim/clock"))
        .body("{\"now\":\"tomorrow\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let truth: Vec<TruthCorrection> = sim
        .http
        .get(sim.url("/_sim/truth?as_of=2026-11-01T00:00:00Z"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        truth,
        sim.handle.truth("2026-11-01T00:00:00Z".parse().unwrap())
    );
    assert!(
        truth
            .iter()
            .any(|t| t.class == "admin_edit" && t.process_instance_id.is_none())
    );
    assert!(truth.windows(2).all(|w| w[0] <= w[1]), "sorted");

    let rules = json!([{"path": "/gettoken", "kind": "server_error", "status": 502, "skip": 2, "times": 3}]);
    sim.http
        .put(sim.url("/_sim/faults"))
        .json(&rules)
        .send()
        .await
        .unwrap();
    let armed = sim.get_json("/_sim/faults").await;
    assert_eq!(armed[0]["status"], 502);
    assert_eq!(armed[0]["times"], 3);

    let stats: SimStats = sim
        .http
        .get(sim.url("/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, sim.handle.stats());
    assert!(stats.calls.is_empty(), "admin calls are not DingTalk calls");
    assert!(stats.push_equivalent.check_events > 0 && stats.push_equivalent.supply_events > 0);
}

#[tokio::test]
async fn the_same_seed_and_clock_give_byte_identical_answers() {
    async fn transcript(seed: u64) -> Vec<Vec<u8>> {
        let sim = Sim::start(SimConfig::new(seed, 30)).await;
        let token = sim.token().await;
        let users: Vec<String> = sim
            .handle
            .world()
            .employees
            .iter()
            .map(|e| e.id.clone())
            .collect();
        let code = sim.handle.supply_process_codes()[0].clone();
        let now = sim.handle.now().timestamp_millis();
        let inst = sim.agreed().id;
        let mut out = Vec::new();
        let list = json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-11 00:00:00", "userIdList": users, "offset": 0, "limit": 50});
        out.push(
            sim.oapi_raw("/attendance/list", &token, list.to_string())
                .await
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        );
        let ids = json!({"processCode": code, "startTime": now - 90 * 86_400_000i64, "nextToken": 0, "maxResults": 20});
        let res = sim
            .http
            .post(sim.url("/v1.0/workflow/processes/instanceIds/query"))
            .header("x-acs-dingtalk-access-token", &token)
            .json(&ids)
            .send()
            .await
            .unwrap();
        out.push(res.bytes().await.unwrap().to_vec());
        let res = sim
            .http
            .get(sim.url(&format!(
                "/v1.0/workflow/processInstances?processInstanceId={inst}"
            )))
            .header("x-acs-dingtalk-access-token", &token)
            .send()
            .await
            .unwrap();
        out.push(res.bytes().await.unwrap().to_vec());
        out.push(
            sim.http
                .get(sim.url("/_sim/truth"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        );
        out
    }
    let (a, b, c) = (
        transcript(21).await,
        transcript(21).await,
        transcript(22).await,
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[tokio::test]
async fn the_benchmark_rates_yield_only_supply_and_admin_corrections() {
    let mut config = SimConfig::new(1, 200);
    config.rates = Rates::benchmark();
    let sim = Sim::start(config).await;
    let truth = sim
        .handle
        .truth(sim.handle.now() + chrono::Duration::days(60));
    assert!(
        truth
            .iter()
            .all(|t| t.class == "supply_applied" || t.class == "admin_edit")
    );
    assert!(truth.iter().any(|t| t.class == "admin_edit"));
    assert!(truth.iter().filter(|t| t.class == "supply_applied").count() > 100);
}

/// Every result row visible at the simulator's clock is served exactly once over a whole month
/// read in 50-user, 7-day batches. Always on 120 employees; `SIM_TIMING=1 cargo test --release
/// -p dingtalk-sim --test http timing -- --nocapture` also runs 2,000 and prints the timings.
#[tokio::test]
async fn timing_of_a_month_every_visible_row_served_once() {
    every_visible_row_is_served_once(120).await;
    if std::env::var_os("SIM_TIMING").is_some() {
        every_visible_row_is_served_once(2_000).await;
    }
}

async fn every_visible_row_is_served_once(employees: usize) {
    let started = std::time::Instant::now();
    let mut config = SimConfig::new(1, employees);
    config.qps = u32::MAX;
    let sim = Sim::start(config).await;
    let generated = started.elapsed();
    let token = sim.token().await;
    let users: Vec<String> = sim
        .handle
        .world()
        .employees
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let served = std::time::Instant::now();
    let mut rows = Vec::new();
    for chunk in users.chunks(50) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (from, to) in [
            ("2026-10-01", "2026-10-07"),
            ("2026-10-08", "2026-10-14"),
            ("2026-10-15", "2026-10-21"),
            ("2026-10-22", "2026-10-28"),
            ("2026-10-29", "2026-10-31"),
        ] {
            rows.extend(sim.results(&token, &chunk, from, to).await);
        }
    }
    let elapsed = served.elapsed();
    // The rows served, by slot key; none twice.
    let mut served_keys = std::collections::BTreeSet::new();
    for row in &rows {
        let key = (
            row["userId"].as_str().expect("userId").to_owned(),
            row["workDate"].as_i64().expect("workDate"),
            row["checkType"].as_str().expect("checkType").to_owned(),
            row["planId"].as_i64(),
        );
        assert!(served_keys.insert(key.clone()), "row served twice: {key:?}");
    }
    // Every slot visible at the simulator's clock, from the world itself.
    let now = sim.handle.now().timestamp_millis();
    let visible: usize = sim
        .handle
        .world()
        .employees
        .iter()
        .flat_map(|employee| employee.days.iter().flatten())
        .filter(|user_day| user_day.visible(now))
        .map(|user_day| {
            user_day
                .slots
                .iter()
                .filter(|slot| slot.state_at(now).is_some())
                .count()
        })
        .sum();
    assert!(visible > 0, "the month has rows");
    assert_eq!(served_keys.len(), visible, "{employees} employees");
    if std::env::var_os("SIM_TIMING").is_some() {
        eprintln!(
            "{employees} employees: generated in {generated:?} ({} instances); {} result rows served in {elapsed:?} ({} calls)",
            sim.handle.world().instances.len(),
            rows.len(),
            sim.handle.stats().metered
        );
    }
}

/// A fault of `kind` on `path` for every call until disarmed.
fn hostile(path: &str, kind: FaultKind) -> Vec<FaultRule> {
    let mut rule = FaultRule::new(Some(path), kind);
    rule.times = u32::MAX;
    vec![rule]
}

fn first_users(sim: &Sim, n: usize) -> Vec<String> {
    let world = sim.handle.world();
    world
        .employees
        .iter()
        .take(n)
        .map(|e| e.id.clone())
        .collect()
}

#[tokio::test]
async fn endless_pages_say_has_more_forever_repeating_the_first_page_or_running_past_the_data() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let users = first_users(&sim, 10);
    let body = |offset: i64| json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-09 00:00:00", "userIdList": users, "offset": offset, "limit": 50});
    let first = sim.oapi("/attendance/list", &token, body(0)).await;
    let metered_before = sim.handle.stats().metered;

    sim.handle.arm_faults(hostile(
        "/attendance/list",
        FaultKind::EndlessPages { repeat: true },
    ));
    let repeated = sim.oapi("/attendance/list", &token, body(500)).await;
    assert_eq!(repeated["hasMore"], true);
    assert_eq!(
        repeated["recordresult"], first["recordresult"],
        "the first page again"
    );

    sim.handle.arm_faults(hostile(
        "/attendance/list",
        FaultKind::EndlessPages { repeat: false },
    ));
    let past = sim.oapi("/attendance/list", &token, body(500)).await;
    assert_eq!(past["hasMore"], true);
    assert_eq!(past["recordresult"], json!([]), "past the data");
    assert_eq!(
        sim.handle.stats().metered,
        metered_before + 2,
        "200 OK answers are metered"
    );
}

#[tokio::test]
async fn an_endless_cursor_hands_out_a_fresh_token_every_time_and_wraps_round_the_list() {
    let sim = Sim::start(SimConfig::new(11, 200)).await;
    let token = sim.token().await;
    let now = sim.handle.now().timestamp_millis();
    let code = sim.handle.supply_process_codes()[0].clone();
    let (all, _) = all_ids(&sim, &token, &code, now - 100 * 86_400_000, now).await;
    sim.handle.arm_faults(hostile(
        "/v1.0/workflow/processes/instanceIds/query",
        FaultKind::EndlessCursor,
    ));
    let mut next = 0_i64;
    let mut tokens = std::collections::BTreeSet::new();
    let mut listed = Vec::new();
    let pages = all.len().div_ceil(20) * 2 + 1;
    for _ in 0..pages {
        let body = json!({"processCode": code, "startTime": now - 100 * 86_400_000, "endTime": now, "nextToken": next, "maxResults": 20});
        let (status, page) = sim
            .api_post("/v1.0/workflow/processes/instanceIds/query", &token, body)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let fresh = page["result"]["nextToken"].as_str().unwrap().to_owned();
        assert!(tokens.insert(fresh.clone()), "token {fresh} repeated");
        listed.extend(page["result"]["list"].as_array().unwrap().iter().cloned());
        next = fresh.parse().unwrap();
    }
    assert_eq!(
        listed.len(),
        2 * all.len() + 20.min(all.len()),
        "the list, twice, and a page more"
    );
}

#[tokio::test]
async fn foreign_rows_add_a_row_outside_the_request_to_real_answers() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let users = first_users(&sim, 5);
    let results_body = json!({"workDateFrom": "2026-10-05 00:00:00", "workDateTo": "2026-10-06 00:00:00", "userIdList": users, "offset": 0, "limit": 50});
    let real = sim
        .oapi("/attendance/list", &token, results_body.clone())
        .await;
    let real_rows = real["recordresult"].as_array().unwrap().clone();
    assert!(!real_rows.is_empty());
    let metered_before = sim.handle.stats().metered;
    for (mode, field, expected) in [
        (ForeignMode::User, "userId", json!("foreign-user-0001")),
        (ForeignMode::Date, "workDate", json!(-1_798_790_400_000_i64)),
        (ForeignMode::Time, "userCheckTime", json!(-28_800_000)),
    ] {
        sim.handle
            .arm_faults(hostile("/attendance/list", FaultKind::ForeignRows { mode }));
        let answer = sim
            .oapi("/attendance/list", &token, results_body.clone())
            .await;
        let rows = answer["recordresult"].as_array().unwrap();
        assert_eq!(&rows[..real_rows.len()], &real_rows[..], "{mode:?}");
        assert_eq!(rows.last().unwrap()[field], expected, "{mode:?}");
    }
    sim.handle.arm_faults(hostile(
        "/attendance/list",
        FaultKind::ForeignRows {
            mode: ForeignMode::Number,
        },
    ));
    let answer = sim.oapi("/attendance/list", &token, results_body).await;
    let foreign = answer["recordresult"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(foreign["id"].as_i64().unwrap() < 0 && foreign["planId"].as_i64().unwrap() < 0);
    assert_eq!(sim.handle.stats().metered, metered_before + 4, "metered");

    sim.handle.arm_faults(hostile(
        "/attendance/listRecord",
        FaultKind::ForeignRows {
            mode: ForeignMode::User,
        },
    ));
    let punches_body = json!({"userIds": users, "checkDateFrom": "2026-10-05 00:00:00", "checkDateTo": "2026-10-06 23:59:59"});
    let punches = sim
        .oapi("/attendance/listRecord", &token, punches_body)
        .await;
    let rows = punches["recordresult"].as_array().unwrap();
    assert_eq!(rows.last().unwrap()["userId"], "foreign-user-0001");
    assert_eq!(
        rows.iter()
            .filter(|row| row["userId"] == "foreign-user-0001")
            .count(),
        1
    );
}

#[tokio::test]
async fn foreign_details_and_hostile_strings_rewrite_the_approval_detail() {
    let sim = Sim::small().await;
    let token = sim.token().await;
    let inst = sim.agreed();
    let path = "/v1.0/workflow/processInstances";
    sim.handle.arm_faults(hostile(
        path,
        FaultKind::ForeignRows {
            mode: ForeignMode::Date,
        },
    ));
    let (status, body) = sim.detail(&token, &inst.id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["createTime"], "1913-01-01T01:00Z");
    sim.handle
        .arm_faults(hostile(path, FaultKind::HostileStrings));
    let (status, body) = sim.detail(&token, &inst.id).await;
    assert_eq!(status, StatusCode::OK);
    let result = &body["result"];
    for field in ["businessId", "title"] {
        let text = result[field].as_str().unwrap();
        assert!(text.chars().any(char::is_control), "{field}: {text:?}");
    }
    assert!(
        result["businessId"]
            .as_str()
            .unwrap()
            .starts_with("=HYPERLINK(")
    );
    let reason = result["formComponentValues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["bizAlias"] == "reason")
        .unwrap();
    assert!(reason["value"].as_str().unwrap().contains('\u{1b}'));
    assert_eq!(
        result["originatorUserId"],
        sim.user_of(&inst).as_str(),
        "ids untouched"
    );
}

#[tokio::test]
async fn a_denied_permission_answers_as_dingtalk_does_and_is_metered_like_any_business_error() {
    let mut config = SimConfig::new(11, 20);
    config.denied_permissions = ["qyapi_get_attendance_data", "Workflow.Instance.Read"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let sim = Sim::start(config).await;
    let token = sim.token().await;
    let users = first_users(&sim, 2);
    // oapi: HTTP 200, errcode 60011, the point named in errmsg.
    let body = json!({"userIds": users, "checkDateFrom": "2026-10-05 00:00:00",
                      "checkDateTo": "2026-10-05 23:59:59", "isI18n": false});
    let record = sim.oapi("/attendance/listRecord", &token, body).await;
    assert_eq!(record["errcode"], 60011, "{record}");
    assert!(
        record["errmsg"]
            .as_str()
            .unwrap()
            .contains("qyapi_get_attendance_data"),
        "{record}"
    );
    assert!(record["request_id"].is_string(), "{record}");
    // `attendance/list` also accepts `qyapi_attendance_isv_query_result`, still granted.
    let rows = sim
        .results(&token, &[users[0].as_str()], "2026-10-05", "2026-10-05")
        .await;
    assert!(!rows.is_empty());
    // api: HTTP 403 AccessTokenPermissionDenied with a request id.
    let now = sim.handle.now().timestamp_millis();
    let code = sim.handle.supply_process_codes()[0].clone();
    let (status, listed) = sim
        .api_post(
            "/v1.0/workflow/processes/instanceIds/query",
            &token,
            json!({"processCode": code, "startTime": now - 86_400_000, "endTime": now,
                   "nextToken": 0, "maxResults": 20}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        listed["code"],
        "Forbidden.AccessDenied.AccessTokenPermissionDenied"
    );
    assert!(listed["requestid"].is_string(), "{listed}");
    // Templates need Workflow.Form.Read, still granted; contacts are untouched.
    let admin = sim.handle.admin_user_id();
    let (status, _) = sim
        .api_get(
            &format!("/v1.0/workflow/processes/managements/templates?userId={admin}"),
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let depts = sim
        .oapi(
            "/topapi/v2/department/listsubid",
            &token,
            json!({"dept_id": 1}),
        )
        .await;
    assert_eq!(depts["errcode"], 0, "{depts}");
    // Refusals reached DingTalk: counted (listRecord, list, instanceIds, templates = 4 metered).
    let stats = sim.handle.stats();
    assert_eq!(stats.metered, 4, "{stats:?}");
}

/// A revoked 补卡 and the REVOKE instance DingTalk attaches to it (kb:1517), in a world with
/// `revoke_instance_listed` at `listed`.
async fn revoke_sim(listed: bool) -> (Sim, Instance, Instance) {
    let mut config = SimConfig::new(11, 60);
    config.rates.revert = 0.5;
    config.switches.revoke_instance_listed = listed;
    let sim = Sim::start(config).await;
    let world = sim.handle.world();
    let revoke = world
        .instances
        .iter()
        .find(|i| i.biz_action == "REVOKE")
        .expect("a revoked 补卡 has its revoke instance")
        .clone();
    let original = world.instances[revoke.main.unwrap() as usize].clone();
    assert_eq!(
        original
            .attached
            .map(|a| world.instances[a as usize].id.clone()),
        Some(revoke.id.clone())
    );
    (sim, original, revoke)
}

#[tokio::test]
async fn the_revoke_instance_is_listed_under_its_process_code_only_when_the_switch_says_so() {
    for listed in [true, false] {
        let (sim, original, revoke) = revoke_sim(listed).await;
        let code = sim.handle.world().templates[revoke.template]
            .process_code
            .clone();
        let (start, end) = (revoke.created_ms - 3_600_000, revoke.created_ms + 3_600_000);
        // Running: created, not yet agreed.
        sim.at(revoke.created_ms + 1);
        let token = sim.token().await;
        let (ids, _) = all_ids(&sim, &token, &code, start, end).await;
        assert_eq!(
            ids.contains(&revoke.id),
            listed,
            "listed = {listed}: {ids:?}"
        );
        let user = sim.user_of(&revoke);
        let body = json!({"processCode": code, "startTime": start, "endTime": end, "nextToken": 0,
                          "maxResults": 20, "userIds": [user], "statuses": ["RUNNING"]});
        let (status, page) = sim
            .api_post("/v1.0/workflow/processes/instanceIds/query", &token, body)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let running: Vec<&str> = page["result"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(running.contains(&revoke.id.as_str()), listed, "{page}");
        // Agreed: COMPLETED, and never listed before it exists.
        sim.at(revoke.decided_ms + 60_000);
        let token = sim.token().await;
        let body = json!({"processCode": code, "startTime": start, "endTime": end, "nextToken": 0,
                          "maxResults": 20, "userIds": [user], "statuses": ["COMPLETED"]});
        let (_, page) = sim
            .api_post("/v1.0/workflow/processes/instanceIds/query", &token, body)
            .await;
        let completed = page["result"]["list"].to_string();
        assert_eq!(completed.contains(&revoke.id), listed, "{page}");
        let (before, _) = all_ids(&sim, &token, &code, start, revoke.created_ms - 1).await;
        assert!(!before.contains(&revoke.id));
        // The original stays listed in its own creation window whatever the reading.
        let (originals, _) = all_ids(
            &sim,
            &token,
            &code,
            original.created_ms,
            original.created_ms,
        )
        .await;
        assert!(originals.contains(&original.id));
    }
}

#[tokio::test]
async fn revoke_and_revoked_details_name_each_other_under_both_readings() {
    for listed in [true, false] {
        let (sim, original, revoke) = revoke_sim(listed).await;
        sim.at(revoke.created_ms - 60_000);
        let token = sim.token().await;
        let (status, before) = sim.detail(&token, &original.id).await;
        assert_eq!(status, StatusCode::OK, "{before}");
        assert_eq!(before["result"]["attachedProcessInstanceIds"], json!([]));
        let (status, _) = sim.detail(&token, &revoke.id).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "no revoke before its creation"
        );

        sim.at(revoke.created_ms + 60_000);
        let token = sim.token().await;
        let (_, running) = sim.detail(&token, &revoke.id).await;
        assert_eq!(running["result"]["status"], "RUNNING", "{running}");
        assert!(running["result"].get("result").is_none());

        sim.at(revoke.decided_ms + 60_000);
        let token = sim.token().await;
        let (status, main) = sim.detail(&token, &original.id).await;
        assert_eq!(status, StatusCode::OK, "{main}");
        let main = &main["result"];
        assert_eq!(main["bizAction"], "NONE");
        assert_eq!(main["attachedProcessInstanceIds"], json!([revoke.id]));
        assert_eq!(main["mainProcessInstanceId"], "");
        assert_eq!(
            (&main["status"], &main["result"]),
            (&json!("COMPLETED"), &json!("agree"))
        );

        let (status, attached) = sim.detail(&token, &revoke.id).await;
        assert_eq!(status, StatusCode::OK, "{attached}");
        let attached = &attached["result"];
        assert_eq!(attached["bizAction"], "REVOKE");
        assert_eq!(attached["mainProcessInstanceId"], original.id.as_str());
        assert_eq!(attached["attachedProcessInstanceIds"], json!([]));
        assert_eq!(attached["formComponentValues"], main["formComponentValues"]);
        assert_eq!(
            (&attached["status"], &attached["result"]),
            (&json!("COMPLETED"), &json!("agree"))
        );
        assert_eq!(attached["originatorUserId"], main["originatorUserId"]);
        assert_eq!(attached["businessId"], revoke.business_id.as_str());
        let title = attached["title"].as_str().unwrap();
        let main_title = main["title"].as_str().unwrap();
        assert!(
            title.starts_with(main_title) && title.contains("撤销"),
            "{title}"
        );
        let records = attached["operationRecords"].as_array().unwrap();
        assert_eq!(records[0]["type"], "START_PROCESS_INSTANCE");
        assert_eq!(records[0]["remark"], revoke.reason);
        assert_eq!(records[1]["result"], "AGREE");
        assert_eq!(
            attached["tasks"][0]["processInstanceId"],
            revoke.id.as_str()
        );
        assert_eq!(attached["tasks"][0]["result"], "AGREE");

        let plain = sim
            .handle
            .world()
            .instances
            .iter()
            .find(|i| i.attached.is_none() && i.main.is_none() && i.created_ms <= revoke.decided_ms)
            .expect("a 补卡 nobody revoked")
            .clone();
        let (_, plain) = sim.detail(&token, &plain.id).await;
        assert_eq!(plain["result"]["bizAction"], "NONE");
        assert_eq!(plain["result"]["attachedProcessInstanceIds"], json!([]));
        assert_eq!(plain["result"]["mainProcessInstanceId"], "");
    }
}
