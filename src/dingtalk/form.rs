//! Reading one approval instance (`GET /v1.0/workflow/processInstances`) into a domain
//! [`Approval`], including the 补卡 form.
//!
//! The corrected punch time comes from the `补卡时间` date entry (found by `bizAlias`
//! `userCheckTime`, else a `DDDateField` named `补卡时间`, else the name alone, else the form's only
//! `DDDateField`), then `repairCheckTime`, then `extValue.userCheckTime`. The reason is found by
//! `bizAlias` or by its usual labels, whatever the control type. This module makes no call and
//! does not judge whether an approval is effective; the domain type does.

use chrono::DateTime;
use chrono_tz::Tz;
use serde_json::Value;

use super::Error;
use super::decode::{Fields, lenient_i64, local_date, parse_local_minute, parse_workflow_time};
use crate::domain::{Approval, ApprovalLinks, ApprovalResult, ApprovalStatus, SupplyExt, UserId};

const DATE_LABEL: &str = "补卡时间";
const REASON_LABELS: [&str; 2] = ["补卡理由", "补卡原因"];

/// One `formComponentValues[]` entry, every field optional.
#[derive(Debug, Default, Clone)]
struct Entry {
    name: String,
    value: String,
    ext_value: String,
    component_type: String,
    biz_alias: String,
}

fn form_error(process_instance_id: &str, field: &str, detail: impl Into<String>) -> Error {
    Error::Form {
        process_instance_id: process_instance_id.to_owned(),
        field: field.to_owned(),
        detail: detail.into(),
    }
}

/// Decodes a detail response. `raw_json` is the body as received and is kept in the approval.
pub(crate) fn decode_approval(
    process_instance_id: &str,
    body: &Value,
    raw_json: String,
    timezone: Tz,
) -> Result<Approval, Error> {
    let to_form_error =
        |err: super::decode::FieldError| form_error(process_instance_id, &err.field, err.detail);
    let result = Fields::of(body, "body")
        .and_then(|envelope| {
            envelope.get("result").ok_or(super::decode::FieldError {
                field: "result".into(),
                detail: "missing: expected the instance object".into(),
            })
        })
        .and_then(|result| Fields::of(result, "result"))
        .map_err(to_form_error)?;
    let time = |name: &str| -> Result<Option<DateTime<chrono::Utc>>, Error> {
        match result.opt_str(name).map_err(to_form_error)? {
            None => Ok(None),
            Some(text) => parse_workflow_time(&text)
                .map(Some)
                .map_err(|detail| form_error(process_instance_id, name, detail)),
        }
    };
    let originator_raw = result.req_str("originatorUserId").map_err(to_form_error)?;
    let originator = UserId::new(originator_raw)
        .map_err(|err| form_error(process_instance_id, "originatorUserId", err.to_string()))?;
    let entries = entries(process_instance_id, result)?;
    let supply = read_supply(process_instance_id, &entries, timezone)?;
    Ok(Approval {
        process_instance_id: process_instance_id.to_owned(),
        process_code: result
            .opt_str("processCode")
            .map_err(to_form_error)?
            .unwrap_or_default(),
        business_id: result.opt_str("businessId").map_err(to_form_error)?,
        title: result.opt_str("title").map_err(to_form_error)?,
        originator,
        status: ApprovalStatus::parse(&result.req_str("status").map_err(to_form_error)?),
        result: result
            .opt_str("result")
            .map_err(to_form_error)?
            .map(|raw| ApprovalResult::parse(&raw)),
        create_time: time("createTime")?,
        finish_time: time("finishTime")?,
        corrected_time: supply.corrected_time,
        ext: supply.ext,
        reason: supply.reason,
        biz_action: result.opt_str("bizAction").map_err(to_form_error)?,
        links: ApprovalLinks {
            main: result
                .opt_str("mainProcessInstanceId")
                .map_err(to_form_error)?
                .filter(|id| !id.trim().is_empty()),
            attached: attached_ids(process_instance_id, result)?,
        },
        raw_json,
    })
}

/// `attachedProcessInstanceIds`: the ids of the instances attached to this one (absent or null
/// is none; empty strings are dropped).
fn attached_ids(process_instance_id: &str, result: Fields<'_>) -> Result<Vec<String>, Error> {
    const FIELD: &str = "attachedProcessInstanceIds";
    let items = result
        .array(FIELD)
        .map_err(|err| form_error(process_instance_id, &err.field, err.detail))?;
    let mut ids = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::String(id) if id.trim().is_empty() => {}
            Value::String(id) => ids.push(id.clone()),
            other => {
                return Err(form_error(
                    process_instance_id,
                    &format!("{FIELD}[{index}]"),
                    format!("expected a process instance id (a string), found {other}"),
                ));
            }
        }
    }
    Ok(ids)
}

/// The form entries, with the children of a `DDBizSuite` entry (whose `value` may hold them as a
/// JSON array) flattened in.
fn entries(process_instance_id: &str, result: Fields<'_>) -> Result<Vec<Entry>, Error> {
    let items = result
        .array("formComponentValues")
        .map_err(|err| form_error(process_instance_id, &err.field, err.detail))?;
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let entry = read_entry(item).map_err(|detail| {
            form_error(
                process_instance_id,
                &format!("formComponentValues[{index}]"),
                detail,
            )
        })?;
        if entry.component_type == "DDBizSuite"
            && let Ok(Value::Array(children)) = serde_json::from_str::<Value>(&entry.value)
        {
            out.extend(children.iter().filter_map(|child| read_entry(child).ok()));
        }
        out.push(entry);
    }
    Ok(out)
}

fn read_entry(item: &Value) -> Result<Entry, String> {
    let fields = Fields::of(item, "entry").map_err(|err| err.detail)?;
    let text = |name: &str| {
        fields
            .opt_str(name)
            .map(Option::unwrap_or_default)
            .map_err(|err| err.to_string())
    };
    Ok(Entry {
        name: text("name")?,
        value: text("value")?,
        ext_value: text("extValue")?,
        component_type: text("componentType")?,
        biz_alias: text("bizAlias")?,
    })
}

struct Supply {
    corrected_time: Option<DateTime<chrono::Utc>>,
    ext: Option<SupplyExt>,
    reason: Option<String>,
}

fn read_supply(
    process_instance_id: &str,
    entries: &[Entry],
    timezone: Tz,
) -> Result<Supply, Error> {
    let date_entry = find_date_entry(entries);
    let mut ext = None;
    let mut form_time = None;
    if let Some(entry) = date_entry {
        if !entry.value.trim().is_empty() {
            let parsed = parse_local_minute(&entry.value, timezone).map_err(|detail| {
                form_error(
                    process_instance_id,
                    &format!("{} value", entry_label(entry)),
                    detail,
                )
            })?;
            form_time = Some(parsed);
        }
        if !entry.ext_value.trim().is_empty() {
            ext = Some(read_ext(&entry.ext_value, timezone).map_err(|detail| {
                form_error(
                    process_instance_id,
                    &format!("{} extValue", entry_label(entry)),
                    detail,
                )
            })?);
        }
    }
    let repair_time = match entries
        .iter()
        .find(|entry| entry.name == "repairCheckTime" || entry.biz_alias == "repairCheckTime")
    {
        Some(entry) if !entry.value.trim().is_empty() => {
            let millis = lenient_i64(&Value::String(entry.value.clone()))
                .ok()
                .flatten()
                .and_then(DateTime::from_timestamp_millis)
                .ok_or_else(|| {
                    form_error(
                        process_instance_id,
                        "repairCheckTime",
                        format!("expected epoch milliseconds, found {:?}", entry.value),
                    )
                })?;
            Some(millis)
        }
        _ => None,
    };
    let corrected_time = form_time
        .or(repair_time)
        .or_else(|| ext.as_ref().and_then(|ext: &SupplyExt| ext.user_check_time));
    if corrected_time.is_none() {
        return Err(form_error(
            process_instance_id,
            DATE_LABEL,
            "no corrected time: expected a 补卡时间 date entry, repairCheckTime or extValue.userCheckTime",
        ));
    }
    Ok(Supply {
        corrected_time,
        ext,
        reason: find_reason(entries),
    })
}

fn entry_label(entry: &Entry) -> &str {
    if entry.name.is_empty() {
        DATE_LABEL
    } else {
        &entry.name
    }
}

fn find_date_entry(entries: &[Entry]) -> Option<&Entry> {
    let is_date = |entry: &&Entry| entry.component_type == "DDDateField";
    entries
        .iter()
        .find(|entry| entry.biz_alias == "userCheckTime")
        .or_else(|| {
            entries
                .iter()
                .filter(is_date)
                .find(|entry| entry.name == DATE_LABEL)
        })
        .or_else(|| entries.iter().find(|entry| entry.name == DATE_LABEL))
        .or_else(|| {
            let mut dates = entries.iter().filter(is_date);
            match (dates.next(), dates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        })
}

fn find_reason(entries: &[Entry]) -> Option<String> {
    let is_text = |entry: &&Entry| {
        matches!(entry.component_type.as_str(), "TextareaField" | "TextField")
            && entry.name != "repairCheckTime"
    };
    entries
        .iter()
        .find(|entry| entry.biz_alias == "reason")
        .or_else(|| {
            entries
                .iter()
                .find(|entry| REASON_LABELS.contains(&entry.name.as_str()))
        })
        .or_else(|| entries.iter().find(is_text))
        .map(|entry| entry.value.clone())
        .filter(|reason| !reason.is_empty())
}

/// The `extValue` JSON string of the date entry: `planId` (number, string or empty), `workDate`
/// and `userCheckTime` (epoch ms); other keys ignored.
fn read_ext(text: &str, timezone: Tz) -> Result<SupplyExt, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| format!("expected a JSON object: {err}"))?;
    let fields = Fields::of(&value, "extValue").map_err(|err| err.detail)?;
    Ok(SupplyExt {
        plan_id: fields.opt_i64("planId").map_err(|err| err.to_string())?,
        work_date: fields
            .opt_millis("workDate")
            .map_err(|err| err.to_string())?
            .map(|instant| local_date(instant, timezone)),
        user_check_time: fields
            .opt_millis("userCheckTime")
            .map_err(|err| err.to_string())?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    fn ext_value(plan_id: Value) -> String {
        json!({
            "planId": plan_id, "planTip": "周二 ( 08.04 下班) 补卡", "workDate": 1785772800000_i64,
            "timeStamp": 1785772800000_i64, "userCheckTime": 1785873600000_i64
        })
        .to_string()
    }

    fn detail(form: Value) -> Value {
        json!({
            "success": "true",
            "result": {
                "title": "张三提交的补卡申请", "createTime": "2026-08-05T01:10Z",
                "finishTime": "2026-08-05T03:00Z", "originatorUserId": "0126",
                "status": "COMPLETED", "result": "agree", "businessId": "202608050001",
                "bizAction": "NONE", "formComponentValues": form
            }
        })
    }

    fn date_entry(plan_id: Value) -> Value {
        json!({"componentType": "DDDateField", "bizAlias": "userCheckTime", "name": "补卡时间",
               "value": "2026-08-05 04:00", "extValue": ext_value(plan_id)})
    }

    #[track_caller]
    fn check(form: Value) -> Approval {
        let body = detail(form);
        decode_approval("proc-1", &body, body.to_string(), SHANGHAI).unwrap()
    }

    #[test]
    fn the_worked_supply_example_decodes_completely() {
        let approval = check(json!([
            date_entry(json!(437360727696_i64)),
            {"componentType": "TextareaField", "name": "补卡理由", "value": "忘记打卡"},
            {"name": "repairCheckTime", "value": "1785873600000"}
        ]));
        assert!(approval.is_approved());
        assert_eq!(approval.originator.as_str(), "0126");
        assert_eq!(
            approval.corrected_time.unwrap().timestamp_millis(),
            1_785_873_600_000
        );
        let ext = approval.ext.unwrap();
        assert_eq!(ext.plan_id, Some(437360727696));
        assert_eq!(
            ext.work_date,
            Some(NaiveDate::from_ymd_opt(2026, 8, 4).unwrap())
        );
        assert_eq!(approval.reason.as_deref(), Some("忘记打卡"));
        assert_eq!(
            approval.create_time.unwrap().to_rfc3339(),
            "2026-08-05T01:10:00+00:00"
        );
        assert!(approval.raw_json.contains("补卡时间"));
    }

    #[test]
    fn plan_id_may_be_a_string_or_empty() {
        assert_eq!(
            check(json!([date_entry(json!("42"))])).ext.unwrap().plan_id,
            Some(42)
        );
        assert_eq!(
            check(json!([date_entry(json!(""))])).ext.unwrap().plan_id,
            None
        );
    }

    #[test]
    fn the_date_entry_is_found_without_its_label_and_the_reason_by_alias() {
        let approval = check(json!([
            {"componentType": "DDDateField", "name": "Punch time", "value": "2026-08-05 04:00"},
            {"componentType": "TextField", "bizAlias": "reason", "name": "Why", "value": "meeting"}
        ]));
        assert_eq!(
            approval.corrected_time.unwrap().timestamp_millis(),
            1_785_873_600_000
        );
        assert_eq!(approval.reason.as_deref(), Some("meeting"));
        assert_eq!(approval.ext, None);
    }

    #[test]
    fn repair_check_time_is_the_fallback_for_the_corrected_time() {
        let approval = check(json!([{"name": "repairCheckTime", "value": "1785873600000"}]));
        assert_eq!(
            approval.corrected_time.unwrap().timestamp_millis(),
            1_785_873_600_000
        );
    }

    #[test]
    fn an_unreadable_form_names_the_instance_and_the_field() {
        let body = detail(
            json!([{"componentType": "DDDateField", "bizAlias": "userCheckTime",
                                  "name": "补卡时间", "value": "next tuesday"}]),
        );
        let err = decode_approval("proc-9", &body, String::new(), SHANGHAI).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("proc-9") && message.contains("补卡时间"),
            "{message}"
        );
        let body = detail(json!([]));
        let err = decode_approval("proc-9", &body, String::new(), SHANGHAI).unwrap_err();
        assert!(err.to_string().contains("no corrected time"), "{err}");
        let mut body = detail(json!([date_entry(json!(1))]));
        body["result"]["formComponentValues"][0]["extValue"] = json!("{not json");
        let err = decode_approval("proc-9", &body, String::new(), SHANGHAI).unwrap_err();
        assert!(err.to_string().contains("extValue"), "{err}");
    }

    #[test]
    fn a_running_instance_has_no_result_or_finish_time() {
        let mut body = detail(json!([date_entry(json!(1))]));
        body["result"]["status"] = json!("RUNNING");
        body["result"]["result"] = json!("");
        body["result"]["finishTime"] = json!("");
        let approval = decode_approval("p", &body, String::new(), SHANGHAI).unwrap();
        assert_eq!(approval.status, ApprovalStatus::Running);
        assert_eq!(approval.result, None);
        assert_eq!(approval.finish_time, None);
        assert!(!approval.is_finished());
    }

    /// The worked example with `fields` set on its `result` (a `null` is sent as null, not
    /// removed).
    fn with_result(fields: Value) -> Value {
        let mut body = detail(json!([date_entry(json!(1))]));
        for (name, value) in fields.as_object().expect("an object of fields") {
            body["result"][name] = value.clone();
        }
        body
    }

    #[track_caller]
    fn links_of(fields: Value) -> ApprovalLinks {
        let body = with_result(fields);
        decode_approval("proc-1", &body, body.to_string(), SHANGHAI)
            .unwrap()
            .links
    }

    #[test]
    fn a_revocation_names_its_original_and_the_original_lists_it() {
        let body = with_result(json!({
            "bizAction": "REVOKE",
            "mainProcessInstanceId": "orig-1",
            "attachedProcessInstanceIds": []
        }));
        let revocation = decode_approval("rev-1", &body, body.to_string(), SHANGHAI).unwrap();
        assert_eq!(
            revocation.links,
            ApprovalLinks {
                main: Some("orig-1".into()),
                attached: Vec::new()
            }
        );
        assert_eq!(revocation.revokes(), Some("orig-1"));
        let body = with_result(json!({
            "bizAction": "NONE",
            "mainProcessInstanceId": "",
            "attachedProcessInstanceIds": ["rev-1"]
        }));
        let original = decode_approval("orig-1", &body, body.to_string(), SHANGHAI).unwrap();
        assert_eq!(
            original.links,
            ApprovalLinks {
                main: None,
                attached: vec!["rev-1".into()]
            }
        );
        assert_eq!(original.revokes(), None);
    }

    #[test]
    fn an_empty_or_blank_main_instance_is_none() {
        assert_eq!(links_of(json!({"mainProcessInstanceId": ""})).main, None);
        assert_eq!(links_of(json!({"mainProcessInstanceId": "  "})).main, None);
        assert_eq!(links_of(json!({"mainProcessInstanceId": null})).main, None);
        assert_eq!(
            links_of(json!({"mainProcessInstanceId": "orig-7"})).main,
            Some("orig-7".into())
        );
    }

    #[test]
    fn absent_links_are_empty() {
        let body = detail(json!([date_entry(json!(1))]));
        assert!(body["result"].get("mainProcessInstanceId").is_none());
        assert!(body["result"].get("attachedProcessInstanceIds").is_none());
        assert_eq!(links_of(json!({})), ApprovalLinks::default());
        assert_eq!(
            links_of(json!({"attachedProcessInstanceIds": null})),
            ApprovalLinks::default()
        );
    }

    #[test]
    fn empty_attached_ids_are_dropped_and_the_order_kept() {
        assert_eq!(
            links_of(json!({"attachedProcessInstanceIds": ["b-2", "", "a-1", "   "]})).attached,
            vec!["b-2".to_owned(), "a-1".to_owned()]
        );
        assert!(
            links_of(json!({"attachedProcessInstanceIds": ["", " "]}))
                .attached
                .is_empty()
        );
    }

    #[test]
    fn a_non_string_attached_id_is_an_error_naming_its_index() {
        for (bad, index) in [
            (json!(["rev-1", 42]), 1),
            (json!([null]), 0),
            (json!(["a", "b", {"id": "c"}]), 2),
            (json!([["rev-1"]]), 0),
        ] {
            let body = with_result(json!({ "attachedProcessInstanceIds": bad }));
            let err = decode_approval("proc-3", &body, String::new(), SHANGHAI).unwrap_err();
            let Error::Form {
                process_instance_id,
                field,
                detail,
            } = &err
            else {
                panic!("a form error: {err:?}");
            };
            assert_eq!(process_instance_id, "proc-3");
            assert_eq!(
                field,
                &format!("attachedProcessInstanceIds[{index}]"),
                "{bad}"
            );
            assert!(
                detail.contains("expected a process instance id"),
                "{detail}"
            );
            let message = err.to_string();
            assert!(
                message.contains("proc-3")
                    && message.contains(&format!("attachedProcessInstanceIds[{index}]")),
                "{message}"
            );
        }
    }

    #[test]
    fn attached_ids_that_are_not_an_array_are_an_error_naming_the_field() {
        let body = with_result(json!({"attachedProcessInstanceIds": "rev-1"}));
        let err = decode_approval("proc-4", &body, String::new(), SHANGHAI).unwrap_err();
        let Error::Form { field, .. } = &err else {
            panic!("a form error: {err:?}");
        };
        assert_eq!(field, "attachedProcessInstanceIds");
    }
}
