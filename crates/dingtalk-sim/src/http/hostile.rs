//! Hostile DingTalk: the fault kinds that answer 200 OK with something a careful client must
//! not trust (`FaultKind::{EndlessPages, EndlessCursor, ForeignRows, HostileStrings}`).
//!
//! Each kind is a rewriting of a real answer (and, where the answer depends on the page asked
//! for, of the request before the endpoint reads it), so everything else in the answer stays what
//! the world holds. The answers stay `Answered::Ok`: DingTalk meters them like any other.
//! Functions here take JSON values and mutate them; the HTTP layer only calls
//! [`rewrite_request`] before routing and [`rewrite_reply`] after.
//!
//! Which fields each kind touches:
//! - `endless_pages`: `/attendance/list` `hasMore` (forced `true`); with `repeat`, the request's
//!   `offset` is read as 0, so every page is the first.
//! - `endless_cursor`: `instanceIds/query` `result.nextToken`, a fresh value on every answer
//!   (`n × 1,000,000 + offset`); the request's token is read modulo 1,000,000, and the end of the
//!   list wraps to offset 0, so the pages behind the fresh tokens repeat the list.
//! - `foreign_rows`: `/attendance/list` and `/attendance/listRecord` get one more row, a copy of
//!   the first with, by mode, `userId` of a user not asked for, `workDate` in 1913, a negative
//!   `userCheckTime`, or negative ids; the copy's `id` is the highest of the answer plus one, so a
//!   client that prefers newer rows would believe it. An approval detail is rewritten instead:
//!   `originatorUserId` of nobody (user), `createTime` and the 补卡 time in 1913 (date), the 补卡
//!   time a year after the filing (time), a negative plan id in the form (number).
//! - `empty_pages`: `/attendance/list` answers no rows and `hasMore: false`, for every page.
//! - `hostile_strings`: the approval detail's `businessId`, `title` and 补卡 reason (the form
//!   entry with `bizAlias` `reason`), the fields the job keeps and puts in its reports, get ESC,
//!   BEL, CR and LF sequences and spreadsheet formulas (`=HYPERLINK(…)`, `@SUM(1)`, `+1`, `-1`).

use axum::body::Bytes;
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::Reply;
use crate::faults::{FaultKind, ForeignMode};
use crate::metering::Answered;
use crate::world::local_ms;

const RESULTS: &str = "/attendance/list";
const PUNCHES: &str = "/attendance/listRecord";
const INSTANCE_IDS: &str = "/v1.0/workflow/processes/instanceIds/query";
const INSTANCE: &str = "/v1.0/workflow/processInstances";

/// Hostile cursors are `generation × CURSOR_SPACE + offset`; real offsets stay below 10,000.
const CURSOR_SPACE: i64 = 1_000_000;

/// The user id a foreign row carries: nobody the simulator's world knows.
pub const FOREIGN_USER: &str = "foreign-user-0001";

/// The strings `hostile_strings` writes, in the order of the fields it touches (business id,
/// title, reason).
pub const HOSTILE_STRINGS: [&str; 3] = [
    "=HYPERLINK(\"http://x\",\"y\")\u{1b}[31m",
    "@SUM(1)\u{7}补卡申请\r\nrun 1: done",
    "+1\u{1b}]0;pwned\u{7}忘记打卡\r\n-1",
];

/// The request as the endpoint should read it under `fault`.
pub(super) fn rewrite_request(fault: Option<&FaultKind>, path: &str, body: Bytes) -> Bytes {
    let rewrite: fn(&mut Value) = match (fault, path) {
        (Some(FaultKind::EndlessPages { repeat: true }), RESULTS) => first_page,
        (Some(FaultKind::EndlessCursor), INSTANCE_IDS) => unwrap_cursor,
        _ => return body,
    };
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    rewrite(&mut request);
    serde_json::to_vec(&request).map_or(body, Bytes::from)
}

/// The answer as a hostile DingTalk sends it under `fault`; only successful JSON answers are
/// rewritten, and they stay successful (metered).
pub(super) fn rewrite_reply(
    fault: Option<&FaultKind>,
    path: &str,
    request: &[u8],
    reply: &mut Reply,
) {
    let Some(fault) = fault else {
        return;
    };
    if reply.outcome != Answered::Ok {
        return;
    }
    let Ok(mut answer) = serde_json::from_slice::<Value>(&reply.body) else {
        return;
    };
    let request: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
    let changed = match (fault, path) {
        (FaultKind::EndlessPages { .. }, RESULTS) => endless_pages(&mut answer),
        (FaultKind::EndlessCursor, INSTANCE_IDS) => endless_cursor(&request, &mut answer),
        (FaultKind::ForeignRows { mode }, RESULTS | PUNCHES) => foreign_row(*mode, &mut answer),
        (FaultKind::ForeignRows { mode }, INSTANCE) => foreign_detail(*mode, &mut answer),
        (FaultKind::HostileStrings, INSTANCE) => hostile_strings(&mut answer),
        (FaultKind::EmptyPages, RESULTS) => empty_page(&mut answer),
        _ => false,
    };
    if changed && let Ok(body) = serde_json::to_vec(&answer) {
        reply.body = body;
    }
}

/// `offset` read as 0: every page asked for is the first.
pub(crate) fn first_page(request: &mut Value) {
    if let Some(offset) = request.get_mut("offset") {
        *offset = json!(0);
    }
}

/// `hasMore: true`, whatever the page.
pub(crate) fn endless_pages(answer: &mut Value) -> bool {
    match answer.as_object_mut() {
        Some(object) => {
            object.insert("hasMore".to_owned(), json!(true));
            true
        }
        None => false,
    }
}

/// No rows and no more pages: a valid answer that says the days asked for hold nothing.
pub(crate) fn empty_page(answer: &mut Value) -> bool {
    match answer.as_object_mut() {
        Some(object) => {
            object.insert("hasMore".to_owned(), json!(false));
            object.insert("recordresult".to_owned(), json!([]));
            true
        }
        None => false,
    }
}

/// A hostile token sent back is read as the offset it hides.
pub(crate) fn unwrap_cursor(request: &mut Value) {
    if let Some(token) = request.get_mut("nextToken")
        && let Some(value) = token.as_i64()
        && value >= CURSOR_SPACE
    {
        *token = json!(value % CURSOR_SPACE);
    }
}

/// A fresh `nextToken` on every answer: one generation past the token sent, hiding the real next
/// offset (0 at the end of the list, so the list starts over).
pub(crate) fn endless_cursor(request: &Value, answer: &mut Value) -> bool {
    let sent = request
        .get("nextToken")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let Some(result) = answer.get_mut("result").and_then(Value::as_object_mut) else {
        return false;
    };
    let real_next = result
        .get("nextToken")
        .and_then(|token| match token {
            Value::String(text) => text.parse::<i64>().ok(),
            other => other.as_i64(),
        })
        .unwrap_or(0)
        .rem_euclid(CURSOR_SPACE);
    let generation = sent.max(0) / CURSOR_SPACE + 1;
    let fresh = generation * CURSOR_SPACE + real_next;
    result.insert("nextToken".to_owned(), json!(fresh.to_string()));
    true
}

/// One more row in `recordresult`: a copy of the first, made foreign as `mode` says. An answer
/// without rows is left alone (there is nothing real to copy).
pub(crate) fn foreign_row(mode: ForeignMode, answer: &mut Value) -> bool {
    let Some(rows) = answer.get_mut("recordresult").and_then(Value::as_array_mut) else {
        return false;
    };
    let Some(mut row) = rows.first().cloned() else {
        return false;
    };
    let newest = rows
        .iter()
        .filter_map(|row| row.get("id").and_then(Value::as_i64))
        .max()
        .unwrap_or(0);
    row["id"] = json!(newest + 1);
    match mode {
        ForeignMode::User => row["userId"] = json!(FOREIGN_USER),
        ForeignMode::Date => row["workDate"] = json!(local_ms(ancient_date(), 0, 0)),
        ForeignMode::Time => {
            row["userCheckTime"] = json!(-28_800_000_i64);
            row["timeResult"] = json!("Normal");
            row["sourceType"] = json!("BOSS");
        }
        ForeignMode::Number => {
            row["id"] = json!(-(newest + 1));
            for field in ["planId", "recordId", "groupId"] {
                let value = row.get(field).and_then(Value::as_i64).unwrap_or(1);
                row[field] = json!(-value.abs().max(1));
            }
        }
    }
    rows.push(row);
    true
}

/// An approval detail made impossible as `mode` says.
pub(crate) fn foreign_detail(mode: ForeignMode, answer: &mut Value) -> bool {
    let Some(result) = answer.get_mut("result").and_then(Value::as_object_mut) else {
        return false;
    };
    match mode {
        ForeignMode::User => {
            result.insert("originatorUserId".to_owned(), json!(""));
        }
        ForeignMode::Date => {
            result.insert("createTime".to_owned(), json!("1913-01-01T01:00Z"));
            rewrite_supply_time(result, |_| "1913-01-01 09:00".to_owned());
        }
        ForeignMode::Time => {
            rewrite_supply_time(result, |value| {
                let year: i32 = value.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2026);
                format!("{}{}", year + 1, value.get(4..).unwrap_or("-01-01 09:00"))
            });
        }
        ForeignMode::Number => {
            for entry in form_entries(result) {
                if let Some(Value::String(ext)) = entry.get("extValue")
                    && let Ok(mut ext_value) = serde_json::from_str::<Value>(ext)
                    && ext_value.get("planId").is_some()
                {
                    ext_value["planId"] = json!(-437_360_727_696_i64);
                    entry["extValue"] = json!(ext_value.to_string());
                }
            }
        }
    }
    true
}

/// Control characters and formulas in the detail's business id, title and 补卡 reason.
pub(crate) fn hostile_strings(answer: &mut Value) -> bool {
    let Some(result) = answer.get_mut("result").and_then(Value::as_object_mut) else {
        return false;
    };
    let [business_id, title, reason] = HOSTILE_STRINGS;
    result.insert("businessId".to_owned(), json!(business_id));
    result.insert("title".to_owned(), json!(title));
    for entry in form_entries(result) {
        if entry.get("bizAlias").and_then(Value::as_str) == Some("reason") {
            entry["value"] = json!(reason);
        }
    }
    true
}

fn ancient_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1913, 1, 1).unwrap_or_default()
}

fn form_entries(result: &mut serde_json::Map<String, Value>) -> impl Iterator<Item = &mut Value> {
    result
        .get_mut("formComponentValues")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Rewrites the 补卡 time entry's `value` (the entry with `bizAlias` `userCheckTime`), and the
/// `repairCheckTime` entry when there is one, to the same instant.
fn rewrite_supply_time(
    result: &mut serde_json::Map<String, Value>,
    rewrite: impl Fn(&str) -> String,
) {
    for entry in form_entries(result) {
        if entry.get("bizAlias").and_then(Value::as_str) == Some("userCheckTime")
            && let Some(value) = entry.get("value").and_then(Value::as_str)
        {
            let value = rewrite(value);
            entry["value"] = json!(value);
            if let Some(Value::String(ext)) = entry.get("extValue")
                && let Ok(mut ext_value) = serde_json::from_str::<Value>(ext)
            {
                ext_value["userCheckTime"] = json!(-1);
                entry["extValue"] = json!(ext_value.to_string());
            }
        }
    }
    for entry in form_entries(result) {
        if entry.get("name").and_then(Value::as_str) == Some("repairCheckTime") {
            entry["value"] = json!("-1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results_answer() -> Value {
        json!({"errcode": 0, "errmsg": "ok", "hasMore": false, "recordresult": [
            {"id": 7, "userId": "u1", "workDate": 1_785_859_200_000_i64, "planId": 11,
             "recordId": 5, "groupId": 3, "checkType": "OnDuty", "timeResult": "NotSigned",
             "sourceType": "SYSTEM", "baseCheckTime": 1_785_891_600_000_i64,
             "userCheckTime": 1_785_891_600_000_i64},
            {"id": 9, "userId": "u2", "workDate": 1_785_859_200_000_i64, "planId": 12}
        ]})
    }

    fn detail_answer() -> Value {
        json!({"success": "true", "result": {
        "title": "张三提交的补卡", "createTime": "2026-08-05T02:00Z",
        "originatorUserId": "u1", "businessId": "202608050001", "status": "COMPLETED",
        "formComponentValues": [
            {"componentType": "DDDateField", "name": "补卡时间", "bizAlias": "userCheckTime",
             "value": "2026-08-05 09:00",
             "extValue": "{\"planId\":11,\"userCheckTime\":1785891600000}"},
            {"componentType": "TextareaField", "name": "补卡理由", "bizAlias": "reason",
             "value": "忘记打卡"}
        ]}})
    }

    #[test]
    fn endless_pages_forces_has_more_and_repeat_reads_every_page_as_the_first() {
        let mut answer = results_answer();
        assert!(endless_pages(&mut answer));
        assert_eq!(answer["hasMore"], json!(true));
        let mut request = json!({"offset": 150, "limit": 50});
        first_page(&mut request);
        assert_eq!(request["offset"], json!(0));
    }

    #[test]
    fn an_empty_page_has_no_rows_and_no_more() {
        let mut answer = results_answer();
        answer["hasMore"] = json!(true);
        assert!(empty_page(&mut answer));
        assert_eq!(answer["recordresult"], json!([]));
        assert_eq!(answer["hasMore"], json!(false));
    }

    #[test]
    fn endless_cursor_hands_out_a_fresh_token_hiding_the_real_offset_and_wraps_at_the_end() {
        let mut answer = json!({"result": {"list": ["a"], "nextToken": "20"}, "success": true});
        assert!(endless_cursor(&json!({"nextToken": 0}), &mut answer));
        assert_eq!(answer["result"]["nextToken"], json!("1000020"));
        let mut request = json!({"nextToken": 1_000_020});
        unwrap_cursor(&mut request);
        assert_eq!(request["nextToken"], json!(20));
        // The end of the list (no token) becomes a fresh token back to the start.
        let mut last = json!({"result": {"list": ["b"]}, "success": true});
        assert!(endless_cursor(&json!({"nextToken": 1_000_020}), &mut last));
        assert_eq!(last["result"]["nextToken"], json!("2000000"));
    }

    #[test]
    fn foreign_rows_add_a_newer_copy_of_the_first_row_outside_the_request() {
        let check = |mode, field: &str, expected: Value| {
            let mut answer = results_answer();
            assert!(foreign_row(mode, &mut answer));
            let rows = answer["recordresult"].as_array().unwrap();
            assert_eq!(rows.len(), 3, "{mode:?}");
            assert_eq!(rows[2][field], expected, "{mode:?}");
            assert_eq!(
                rows[0],
                results_answer()["recordresult"][0],
                "the real row stays"
            );
        };
        check(ForeignMode::User, "userId", json!(FOREIGN_USER));
        check(ForeignMode::Date, "workDate", json!(-1_798_790_400_000_i64));
        check(ForeignMode::Time, "userCheckTime", json!(-28_800_000));
        check(ForeignMode::Number, "planId", json!(-11));
        check(ForeignMode::Number, "id", json!(-10));
        let mut empty = json!({"errcode": 0, "recordresult": []});
        assert!(!foreign_row(ForeignMode::User, &mut empty));
    }

    #[test]
    fn foreign_details_are_impossible_approvals() {
        let mut answer = detail_answer();
        foreign_detail(ForeignMode::Date, &mut answer);
        assert_eq!(answer["result"]["createTime"], json!("1913-01-01T01:00Z"));
        assert_eq!(
            answer["result"]["formComponentValues"][0]["value"],
            json!("1913-01-01 09:00")
        );
        let mut answer = detail_answer();
        foreign_detail(ForeignMode::Time, &mut answer);
        assert_eq!(
            answer["result"]["formComponentValues"][0]["value"],
            json!("2027-08-05 09:00")
        );
        let mut answer = detail_answer();
        foreign_detail(ForeignMode::Number, &mut answer);
        let ext = answer["result"]["formComponentValues"][0]["extValue"]
            .as_str()
            .unwrap();
        assert!(ext.contains("-437360727696"), "{ext}");
        let mut answer = detail_answer();
        foreign_detail(ForeignMode::User, &mut answer);
        assert_eq!(answer["result"]["originatorUserId"], json!(""));
    }

    #[test]
    fn hostile_strings_reach_business_id_title_and_reason_only() {
        let mut answer = detail_answer();
        assert!(hostile_strings(&mut answer));
        let result = &answer["result"];
        assert_eq!(result["businessId"], json!(HOSTILE_STRINGS[0]));
        assert_eq!(result["title"], json!(HOSTILE_STRINGS[1]));
        assert_eq!(
            result["formComponentValues"][1]["value"],
            json!(HOSTILE_STRINGS[2])
        );
        assert_eq!(
            result["formComponentValues"][0],
            detail_answer()["result"]["formComponentValues"][0]
        );
        for text in HOSTILE_STRINGS {
            assert!(text.chars().any(char::is_control), "{text:?}");
        }
    }
}
