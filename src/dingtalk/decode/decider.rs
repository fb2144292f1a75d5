//! Who decided an approval, read from its stored detail (`Approval::raw_json`, the body of
//! `GET /v1.0/workflow/processInstances` as received): the last operation record of type
//! `EXECUTE_TASK_NORMAL` or `EXECUTE_TASK_AGENT` whose result is `AGREE` or `REFUSE`, with its
//! remark; else the last task `COMPLETED` with result `AGREE` or `REFUSE` (no remark there).
//!
//! Lenient like every decoder here, and more: this reading only adds a name to a report, so
//! anything unexpected (no `result`, arrays absent or of another type, entries that are not
//! objects, unknown record types, a user id the domain would not take) is skipped, never an
//! error, and the answer is `None` when nothing qualifies. The legacy API's snake_case names
//! (`operation_records[]` {`userid`, `operation_type`, `operation_result`}, `tasks[]`
//! {`userid`, `task_status`, `task_result`}) are read too. Pure: no call, no store.

use serde_json::Value;

use super::Fields;
use crate::domain::UserId;

/// The person who agreed to or refused an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decider {
    pub(crate) user_id: UserId,
    /// `true` for `AGREE`, `false` for `REFUSE`.
    pub(crate) agreed: bool,
    /// What they wrote with their decision; `None` when empty or absent.
    pub(crate) remark: Option<String>,
}

/// The decider of the approval whose detail body is `raw_json` (see the module doc).
pub(crate) fn decider(raw_json: &str) -> Option<Decider> {
    let body: Value = serde_json::from_str(raw_json).ok()?;
    let fields = Fields::of(&body, "body").ok()?;
    // The body as received is `{"result": {…}}`; a bare instance object is read as well.
    let instance = match fields.get("result") {
        Some(result @ Value::Object(_)) => Fields::of(result, "result").ok()?,
        _ => fields,
    };
    from_records(instance).or_else(|| from_tasks(instance))
}

fn from_records(instance: Fields<'_>) -> Option<Decider> {
    entries(instance, &["operationRecords", "operation_records"])
        .filter_map(|record| {
            let kind = text(record, &["type", "operation_type"])?;
            if !matches!(
                kind.to_ascii_uppercase().as_str(),
                "EXECUTE_TASK_NORMAL" | "EXECUTE_TASK_AGENT"
            ) {
                return None;
            }
            let agreed = decision(&text(record, &["result", "operation_result"])?)?;
            Some(Decider {
                user_id: user(record)?,
                agreed,
                remark: text(record, &["remark"]),
            })
        })
        .last()
}

fn from_tasks(instance: Fields<'_>) -> Option<Decider> {
    entries(instance, &["tasks"])
        .filter_map(|task| {
            let status = text(task, &["status", "task_status"])?;
            if !status.eq_ignore_ascii_case("COMPLETED") {
                return None;
            }
            Some(Decider {
                agreed: decision(&text(task, &["result", "task_result"])?)?,
                user_id: user(task)?,
                remark: None,
            })
        })
        .last()
}

/// The objects of the first of `names` that is an array; nothing when none is.
fn entries<'a>(instance: Fields<'a>, names: &[&str]) -> impl Iterator<Item = Fields<'a>> {
    names
        .iter()
        .find_map(|name| instance.array(name).ok().filter(|items| !items.is_empty()))
        .unwrap_or_default()
        .iter()
        .filter_map(|item| Fields::of(item, "entry").ok())
}

/// The first of `names` that is a non-blank string (numbers printed), trimmed.
fn text(entry: Fields<'_>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        entry
            .opt_str(name)
            .ok()
            .flatten()
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    })
}

fn user(entry: Fields<'_>) -> Option<UserId> {
    UserId::new(text(entry, &["userId", "userid"])?).ok()
}

/// `AGREE` → agreed, `REFUSE` → refused; anything else (`NONE`, `REDIRECTED`, …) decides nothing.
fn decision(result: &str) -> Option<bool> {
    match result.to_ascii_uppercase().as_str() {
        "AGREE" => Some(true),
        "REFUSE" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn body(result: Value) -> String {
        json!({ "result": result, "success": "true" }).to_string()
    }

    fn record(user: &str, kind: &str, result: &str, remark: &str) -> Value {
        json!({"userId": user, "date": "2026-11-03T02:15Z", "type": kind, "result": result,
               "remark": remark, "attachments": [], "showName": "审批人"})
    }

    fn task(user: &str, status: &str, result: Option<&str>) -> Value {
        let mut task = json!({"taskId": 50000000001_i64, "userId": user, "status": status,
                              "createTime": "2026-11-03T01:00Z", "activityId": "sid-approve"});
        if let Some(result) = result {
            task["result"] = json!(result);
        }
        task
    }

    fn expect(user: &str, agreed: bool, remark: Option<&str>) -> Option<Decider> {
        Some(Decider {
            user_id: UserId::new(user).unwrap(),
            agreed,
            remark: remark.map(str::to_owned),
        })
    }

    #[test]
    fn a_refusal_is_the_refusing_record_with_its_remark() {
        let raw = body(json!({
            "status": "COMPLETED", "result": "refuse", "originatorUserId": "0126",
            "operationRecords": [
                record("0126", "START_PROCESS_INSTANCE", "NONE", ""),
                record("manager01", "EXECUTE_TASK_NORMAL", "REFUSE", " 补卡时间与门禁记录不符 "),
            ],
            "tasks": [task("manager01", "COMPLETED", Some("REFUSE"))],
        }));
        assert_eq!(
            decider(&raw),
            expect("manager01", false, Some("补卡时间与门禁记录不符"))
        );
    }

    #[test]
    fn the_last_deciding_record_wins_and_other_types_are_skipped() {
        let raw = body(json!({
            "operationRecords": [
                record("0126", "START_PROCESS_INSTANCE", "NONE", ""),
                record("lead", "EXECUTE_TASK_NORMAL", "AGREE", "同意"),
                record("hr", "EXECUTE_TASK_AGENT", "AGREE", ""),
                record("cc", "PROCESS_CC", "AGREE", "抄送"),
                record("hr2", "ADD_REMARK", "NONE", "备注"),
                record("x", "SOMETHING_NEW", "REFUSE", ""),
            ],
        }));
        assert_eq!(decider(&raw), expect("hr", true, None));
    }

    #[test]
    fn without_a_deciding_record_the_last_completed_task_decides() {
        let raw = body(json!({
            "operationRecords": [record("0126", "START_PROCESS_INSTANCE", "NONE", "")],
            "tasks": [
                task("lead", "COMPLETED", Some("AGREE")),
                task("redirected", "COMPLETED", Some("REDIRECTED")),
                task("hr", "RUNNING", None),
            ],
        }));
        assert_eq!(decider(&raw), expect("lead", true, None));
    }

    #[test]
    fn running_and_withdrawn_instances_have_no_decider() {
        let running = body(json!({
            "status": "RUNNING",
            "operationRecords": [record("0126", "START_PROCESS_INSTANCE", "NONE", "")],
            "tasks": [task("lead", "RUNNING", None)],
        }));
        assert_eq!(decider(&running), None);
        let withdrawn = body(json!({
            "status": "TERMINATED",
            "operationRecords": [
                record("0126", "START_PROCESS_INSTANCE", "NONE", ""),
                record("0126", "TERMINATE_PROCESS_INSTANCE", "NONE", "不需要了"),
            ],
            "tasks": [task("lead", "CANCELED", None)],
        }));
        assert_eq!(decider(&withdrawn), None);
    }

    #[test]
    fn the_legacy_snake_case_shape_is_read_too() {
        let raw = json!({"process_instance": {}, "result": {
            "operation_records": [{"userid": "lead", "operation_type": "EXECUTE_TASK_NORMAL",
                                   "operation_result": "REFUSE", "remark": "不符"}],
        }})
        .to_string();
        assert_eq!(decider(&raw), expect("lead", false, Some("不符")));
        let tasks = json!({"tasks": [{"userid": "lead", "task_status": "COMPLETED",
                                      "task_result": "AGREE"}]})
        .to_string();
        assert_eq!(decider(&tasks), expect("lead", true, None));
    }

    #[test]
    fn absent_arrays_and_hostile_values_give_none_or_skip_the_entry() {
        for raw in [
            "",
            "not json",
            "[]",
            "null",
            r#"{"result": null}"#,
            r#"{"result": {}}"#,
            r#"{"result": {"operationRecords": null, "tasks": null}}"#,
            r#"{"result": {"operationRecords": "EXECUTE_TASK_NORMAL", "tasks": 7}}"#,
            r#"{"result": {"operationRecords": [null, 1, "x", []], "tasks": [{}]}}"#,
        ] {
            assert_eq!(decider(raw), None, "{raw}");
        }
        // A record whose user id the domain refuses (control characters, `|`, too long) or
        // whose fields have other types is skipped; the earlier good one stands.
        let raw = body(json!({
            "operationRecords": [
                record("lead", "EXECUTE_TASK_NORMAL", "AGREE", "ok"),
                record("evil\u{1b}[2J", "EXECUTE_TASK_NORMAL", "REFUSE", ""),
                record("a|b", "EXECUTE_TASK_NORMAL", "REFUSE", ""),
                record(&"9".repeat(65), "EXECUTE_TASK_NORMAL", "REFUSE", ""),
                {"userId": {"id": 1}, "type": "EXECUTE_TASK_NORMAL", "result": "REFUSE"},
                {"userId": "x", "type": ["EXECUTE_TASK_NORMAL"], "result": "REFUSE"},
                {"userId": "y", "type": "EXECUTE_TASK_NORMAL", "result": true},
            ],
        }));
        assert_eq!(decider(&raw), expect("lead", true, Some("ok")));
        // A numeric user id is read as its digits; a remark from outside is kept as it is.
        let raw = body(json!({"operationRecords": [
            {"userId": 1234, "type": "execute_task_normal", "result": "refuse",
             "remark": "=HYPERLINK(\"http://x\",\"y\")\n<script>"}]}));
        assert_eq!(
            decider(&raw),
            expect(
                "1234",
                false,
                Some("=HYPERLINK(\"http://x\",\"y\")\n<script>")
            )
        );
    }

    proptest! {
        #[test]
        fn any_json_decodes_without_panicking(raw in ".{0,200}") {
            let _ = decider(&raw);
        }

        #[test]
        fn any_record_values_decode_without_panicking(
            user in proptest::option::of(".{0,80}"),
            kind in proptest::sample::select(vec!["EXECUTE_TASK_NORMAL", "EXECUTE_TASK_AGENT",
                                                  "START_PROCESS_INSTANCE", "", "?"]),
            result in proptest::sample::select(vec!["AGREE", "REFUSE", "NONE", "", "agree"]),
            remark in ".{0,40}",
        ) {
            let raw = body(json!({"operationRecords": [
                {"userId": user, "type": kind, "result": result, "remark": remark}]}));
            if let Some(found) = decider(&raw) {
                prop_assert!(kind.starts_with("EXECUTE_TASK"));
                prop_assert_eq!(Some(found.user_id.as_str().to_owned()),
                                user.map(|user| user.trim().to_owned()));
            }
        }
    }
}
