//! Property tests of every wire decoder (`decode`, `rows`, `form`, `approvals`): arbitrary JSON
//! and mutated real answers (fields dropped, types changed, huge and negative numbers, long
//! strings, control characters, deep nesting) give a value or a typed error, never a panic; a
//! value that passes the request checks lies inside the request; a megabyte string decodes in
//! bounded time.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::super::*;
use crate::dingtalk::approvals::{check_approval, read_id_page};
use crate::dingtalk::form::decode_approval;
use crate::dingtalk::limits::Batch;
use crate::dingtalk::limits::MAX_NAME_CHARS;
use crate::dingtalk::people::{decode_department, decode_people_page};
use crate::dingtalk::rows::{
    RowRequest, check_punch, check_slot, decode_punch_row, decode_result_row,
};
use crate::dingtalk::transport::Answer;
use crate::domain::UserId;

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

/// Field names the decoders look for, so that arbitrary objects hit them often.
const NAMES: &[&str] = &[
    "userId",
    "workDate",
    "checkType",
    "timeResult",
    "locationResult",
    "sourceType",
    "baseCheckTime",
    "userCheckTime",
    "procInstId",
    "approveId",
    "recordId",
    "groupId",
    "planId",
    "id",
    "isLegal",
    "invalidRecordType",
    "recordresult",
    "hasMore",
    "result",
    "list",
    "nextToken",
    "originatorUserId",
    "status",
    "createTime",
    "finishTime",
    "formComponentValues",
    "name",
    "value",
    "extValue",
    "componentType",
    "bizAlias",
    "businessId",
    "title",
];

/// Strings that have broken parsers: control characters, formulas, numbers in disguise, huge
/// digits, and text around the separators the decoders split on.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\u{1b}[31m\u{7}\r\n".to_owned()),
        Just("=HYPERLINK(\"http://x\",\"y\")".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just("1.5e300".to_owned()),
        Just("2026-02-30 25:61".to_owned()),
        Just("2026-08-05T04:00Z".to_owned()),
        Just("[{\"name\":\"补卡时间\",\"value\":\"2026-08-05 04:00\"}]".to_owned()),
        Just("Y".to_owned()),
        any::<String>(),
        "[0-9]{1,20}",
        ".{0,200}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1),
            Just(0),
            Just(253_402_300_800_000)
        ]
        .prop_map(|n| json!(n)),
        nasty_string().prop_map(Value::String),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(NAMES).prop_map(str::to_owned),
                        ".{0,8}"
                    ],
                    inner
                ),
                0..8,
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A mutation of one field of an object: dropped, or replaced by any value.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Replace(usize, Value),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(
        prop_oneof![
            any::<usize>().prop_map(Mutation::Drop),
            (any::<usize>(), arb_json()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        ],
        0..5,
    )
}

fn mutate(mut value: Value, mutations: &[Mutation]) -> Value {
    if let Value::Object(object) = &mut value {
        for mutation in mutations {
            let keys: Vec<String> = object.keys().cloned().collect();
            if keys.is_empty() {
                break;
            }
            match mutation {
                Mutation::Drop(at) => {
                    object.remove(&keys[at % keys.len()]);
                }
                Mutation::Replace(at, replacement) => {
                    object.insert(keys[at % keys.len()].clone(), replacement.clone());
                }
            }
        }
    }
    value
}

fn result_row() -> Value {
    json!({
        "id": 71_237_523_891_i64, "userId": "0126xxxx", "workDate": 1_599_321_600_000_i64,
        "checkType": "OnDuty", "timeResult": "Late", "locationResult": "Normal",
        "sourceType": "USER", "baseCheckTime": 1_599_354_000_000_i64,
        "userCheckTime": 1_599_354_600_000_i64, "groupId": 16_260_061, "recordId": 5,
        "planId": 437_360_727_696_i64, "procInstId": "a1b2", "approveId": 9, "corpId": "ding1"
    })
}

fn punch_row() -> Value {
    json!({
        "id": 5, "userId": "0126xxxx", "workDate": 1_599_321_600_000_i64, "checkType": "OnDuty",
        "sourceType": "USER", "userCheckTime": 1_599_354_100_000_i64, "isLegal": "N",
        "invalidRecordType": "Security", "planId": 9, "procInstId": "a1b2"
    })
}

fn detail() -> Value {
    json!({"success": "true", "result": {
    "title": "张三提交的补卡", "createTime": "2020-09-06T02:00Z", "finishTime": "2020-09-06T03:00Z",
    "originatorUserId": "0126xxxx", "businessId": "202009060001", "status": "COMPLETED",
    "result": "agree", "bizAction": "NONE",
    "formComponentValues": [
        {"componentType": "DDDateField", "name": "补卡时间", "bizAlias": "userCheckTime",
         "value": "2020-09-06 09:00",
         "extValue": "{\"planId\":437360727696,\"workDate\":1599321600000,\"userCheckTime\":1599354000000}"},
        {"componentType": "TextareaField", "name": "补卡理由", "bizAlias": "reason",
         "value": "忘记打卡"},
        {"componentType": "DDBizSuite", "name": "套件",
         "value": "[{\"name\":\"repairCheckTime\",\"value\":\"1599354000000\"}]"}
    ]}})
}

fn id_page() -> Value {
    json!({"result": {"list": ["a1", "b2", 3], "nextToken": "20"}, "success": true})
}

/// A `user/list` page of department 7 as the simulator answers it.
fn people_page() -> Value {
    json!({"errcode": 0, "errmsg": "ok", "request_id": "r", "result": {
    "has_more": true, "next_cursor": 100, "list": [
        {"userid": "0126000024", "unionid": "u", "name": "王伟", "dept_id_list": [7, 9],
         "dept_order": 1, "active": true, "admin": false, "hired_date": 1_600_000_000_000_i64},
    ]}})
}

fn batch() -> Batch {
    Batch {
        users: vec![UserId::new("0126xxxx").unwrap()],
        from: NaiveDate::from_ymd_opt(2020, 9, 6).unwrap(),
        to: NaiveDate::from_ymd_opt(2020, 9, 12).unwrap(),
    }
}

fn answer(json: Value) -> Answer {
    Answer {
        raw: json.to_string(),
        json,
    }
}

/// Every decoder on `value`, at every level a decoder reads: whatever comes back, nothing
/// panics, and what passes the request checks lies inside the request.
fn decode_everything(value: &Value) {
    let batch = batch();
    let request = RowRequest::of(&batch, SHANGHAI);
    if let Ok(decoded) = decode_result_row(value, SHANGHAI)
        && check_slot(&decoded.slot, &request).is_ok()
    {
        assert_eq!(decoded.slot.user_id.as_str(), "0126xxxx");
        assert!((batch.from..=batch.to).contains(&decoded.slot.work_date));
        assert!(decoded.slot.plan_id.is_none_or(|id| id >= 0));
    }
    if let Ok(punch) = decode_punch_row(value, SHANGHAI)
        && check_punch(&punch, &request).is_ok()
    {
        assert_eq!(punch.user_id.as_str(), "0126xxxx");
    }
    let now = chrono::DateTime::from_timestamp_millis(1_599_500_000_000).unwrap();
    if let Ok(approval) = decode_approval("p1", value, value.to_string(), SHANGHAI) {
        let _ = check_approval(&approval, now);
    }
    let _ = read_id_page(&answer(value.clone()));
    if let Ok((people, _)) = decode_people_page(7, value) {
        for person in people {
            assert!(person.departments.contains(&7));
            assert!(person.name.chars().count() <= MAX_NAME_CHARS);
        }
    }
    if let Ok(department) = decode_department(7, value) {
        assert_eq!(department.id, 7);
        assert_ne!(department.parent, Some(7));
    }
    let _ = lenient_i64(value);
    if let Ok(fields) = Fields::of(value, "row") {
        for name in NAMES {
            let _ = fields.opt_i64(name);
            let _ = fields.opt_str(name);
            let _ = fields.opt_bool(name);
            let _ = fields.opt_millis(name);
            let _ = fields.array(name);
        }
    }
    if let Value::String(text) = value {
        let _ = parse_local_minute(text, SHANGHAI);
        let _ = parse_workflow_time(text);
        let _ = check_text_id("id", Some(text));
    }
    let _ = excerpt(value);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_never_panics_a_decoder(value in arb_json()) {
        decode_everything(&value);
        // One level down too: rows inside arrays, results inside envelopes.
        match &value {
            Value::Array(items) => items.iter().for_each(decode_everything),
            Value::Object(object) => object.values().for_each(decode_everything),
            _ => {}
        }
    }

    #[test]
    fn mutated_real_answers_never_panic_a_decoder(
        row_mutations in mutations(),
        punch_mutations in mutations(),
        detail_mutations in mutations(),
        result_mutations in mutations(),
        page_mutations in mutations(),
        people_mutations in mutations(),
    ) {
        decode_everything(&mutate(result_row(), &row_mutations));
        decode_everything(&mutate(punch_row(), &punch_mutations));
        let mut detail = detail();
        detail["result"] = mutate(detail["result"].take(), &result_mutations);
        decode_everything(&mutate(detail, &detail_mutations));
        let mut page = id_page();
        page["result"] = mutate(page["result"].take(), &page_mutations);
        decode_everything(&page);
        let mut people = people_page();
        people["result"]["list"][0] = mutate(people["result"]["list"][0].take(), &people_mutations);
        decode_everything(&people);
    }

    #[test]
    fn a_result_row_that_passes_its_checks_is_the_row_sent(
        user_check_offset in -4_000_000_000_i64..4_000_000_000,
        plan_id in any::<i64>(),
    ) {
        let mut row = result_row();
        row["userCheckTime"] = json!(1_599_354_000_000_i64 + user_check_offset);
        row["planId"] = json!(plan_id);
        let batch = batch();
        let decoded = decode_result_row(&row, SHANGHAI).unwrap();
        let accepted = check_slot(&decoded.slot, &RowRequest::of(&batch, SHANGHAI)).is_ok();
        // Work date 2020-09-06: check times from 2020-09-05 00:00 to 2020-09-09 00:00 local.
        let time = 1_599_354_000_000_i64 + user_check_offset;
        let plausible = (1_599_235_200_000..1_599_580_800_000).contains(&time);
        prop_assert_eq!(accepted, plausible && (0..=MAX_ID).contains(&plan_id));
    }
}

/// The decoders and checks the client runs on one answer, and the excerpt of a rejected row.
fn decode_as_the_client_does(value: &Value) {
    let batch = batch();
    let request = RowRequest::of(&batch, SHANGHAI);
    if let Ok(decoded) = decode_result_row(value, SHANGHAI) {
        let _ = check_slot(&decoded.slot, &request);
    }
    if let Ok(punch) = decode_punch_row(value, SHANGHAI) {
        let _ = check_punch(&punch, &request);
    }
    let _ = decode_approval("p1", value, String::new(), SHANGHAI);
    let _ = excerpt(value);
    let _ = capped_json(value, 2_048);
}

/// A decoder that copied or scanned a string quadratically would take hours on a megabyte; a
/// linear one takes milliseconds. The bound is loose for a busy machine and a debug build.
#[test]
fn a_megabyte_string_in_any_field_decodes_in_bounded_time() {
    let huge = json!("\u{1b}=".repeat(512 * 1024));
    let started = Instant::now();
    for name in NAMES {
        let mut row = result_row();
        row[*name] = huge.clone();
        decode_as_the_client_does(&row);
        let mut punch = punch_row();
        punch[*name] = huge.clone();
        decode_as_the_client_does(&punch);
        let mut detail = detail();
        detail["result"]["formComponentValues"][0][*name] = huge.clone();
        detail["result"][*name] = huge.clone();
        decode_as_the_client_does(&detail);
    }
    let _ = read_id_page(&answer(
        json!({"result": {"list": [huge.clone()], "nextToken": huge.clone()}}),
    ));
    assert!(excerpt(&huge).chars().count() <= 1_001);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}
