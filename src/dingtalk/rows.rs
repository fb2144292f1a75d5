//! Decoding of attendance rows (`attendance/list` results, `attendance/listRecord` punches) into
//! domain values.
//!
//! Rows are read field by field with the lenient getters of `decode`, so an undecodable row is an
//! error naming the field, never a panic. Unknown enum values are kept in the domain value and
//! also returned so that the report can list them. This module makes no call.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::decode::{FieldError, Fields, check_id, check_text_id, local_date, local_midnight};
use super::limits::Batch;
use super::model::Punch;
use crate::domain::{CheckType, LocationResult, Slot, SourceType, TimeResult, UserId};

/// What every decoded row must agree with: the request it answers. A row outside it is rejected,
/// never used (whatever DingTalk meant by it, it is not an answer to what we asked).
pub(crate) struct RowRequest<'a> {
    users: HashSet<&'a str>,
    from: NaiveDate,
    to: NaiveDate,
    timezone: Tz,
}

impl<'a> RowRequest<'a> {
    pub(crate) fn of(batch: &'a Batch, timezone: Tz) -> Self {
        RowRequest {
            users: batch.users.iter().map(UserId::as_str).collect(),
            from: batch.from,
            to: batch.to,
            timezone,
        }
    }

    fn user(&self, user_id: &UserId) -> Result<(), String> {
        if self.users.contains(user_id.as_str()) {
            Ok(())
        } else {
            Err(format!(
                "userId {:?} was not asked for: expected one of the batch's {} users",
                user_id.as_str(),
                self.users.len()
            ))
        }
    }

    /// Instants a check point of `work_date` can fall on: from local midnight of the day before
    /// to local midnight three days after (work date − 1 day ..= + 2 days). A check point
    /// belongs to its shift's work date, and DingTalk shifts cross midnight: a night shift's
    /// off-duty point falls on the next calendar day (dingtalk-api.md sections 3.4 and 5, "08.04
    /// 下班" of the day before), a shift may open the evening before its work date, and a point's
    /// punch window reaches hours past it. One day each way plus a spare day after covers every
    /// shift that crosses midnight once and its punch window; a 1970 or 2099 time is not a
    /// punch of this work date.
    fn plausible(&self, work_date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = Duration::days(1);
        (
            local_midnight(work_date - day, self.timezone),
            local_midnight(work_date + day * 3, self.timezone),
        )
    }

    fn time(&self, field: &str, work_date: NaiveDate, time: DateTime<Utc>) -> Result<(), String> {
        let (earliest, end) = self.plausible(work_date);
        if earliest <= time && time < end {
            Ok(())
        } else {
            Err(format!(
                "{field} {} is impossible for work date {work_date}: expected {} ..< {}",
                time.with_timezone(&self.timezone)
                    .format("%Y-%m-%d %H:%M:%S"),
                earliest
                    .with_timezone(&self.timezone)
                    .format("%Y-%m-%d %H:%M"),
                end.with_timezone(&self.timezone).format("%Y-%m-%d %H:%M"),
            ))
        }
    }
}

/// Whether a decoded result row answers `request`: its user was asked for, its work date is in
/// the requested dates, its times are plausible for its work date and its ids are well formed.
pub(crate) fn check_slot(slot: &Slot, request: &RowRequest<'_>) -> Result<(), String> {
    request.user(&slot.user_id)?;
    if !(request.from..=request.to).contains(&slot.work_date) {
        return Err(format!(
            "workDate {} is outside the requested work dates {}..{}",
            slot.work_date, request.from, request.to
        ));
    }
    request.time("baseCheckTime", slot.work_date, slot.base_check_time)?;
    if let Some(time) = slot.user_check_time {
        request.time("userCheckTime", slot.work_date, time)?;
    }
    check_id("planId", slot.plan_id)?;
    check_id("approveId", slot.approve_id)?;
    check_id("recordId", slot.record_id)?;
    check_id("groupId", slot.group_id)?;
    check_id("id", slot.row_id)?;
    check_text_id("procInstId", slot.process_instance_id.as_deref())
}

/// Whether a decoded punch answers `request` (check dates `from 00:00:00 ..= to 23:59:59`,
/// honoured by DingTalk): its user was asked for, its check time is inside the requested
/// interval, its work date (when given) is at most a day either side of it (a night shift's punch
/// belongs to the day before; an early shift's to the day after), its ids are well formed.
pub(crate) fn check_punch(punch: &Punch, request: &RowRequest<'_>) -> Result<(), String> {
    request.user(&punch.user_id)?;
    let start = local_midnight(request.from, request.timezone);
    let end = local_midnight(request.to + Duration::days(1), request.timezone);
    if !(start <= punch.check_time && punch.check_time < end) {
        return Err(format!(
            "userCheckTime {} is outside the requested check dates {}..{}",
            punch
                .check_time
                .with_timezone(&request.timezone)
                .format("%Y-%m-%d %H:%M:%S"),
            request.from,
            request.to
        ));
    }
    if let Some(work_date) = punch.work_date {
        let day = Duration::days(1);
        if !(request.from - day..=request.to + day).contains(&work_date) {
            return Err(format!(
                "workDate {work_date} is impossible for check dates {}..{}: expected a day either side at most",
                request.from, request.to
            ));
        }
    }
    check_id("planId", punch.plan_id)?;
    check_id("id", punch.record_id)?;
    check_text_id("procInstId", punch.process_instance_id.as_deref())
}

/// A decoded result row and the unknown enum values it carried (`field=value`).
pub(crate) struct DecodedSlot {
    pub(crate) slot: Slot,
    pub(crate) unknown_values: Vec<String>,
}

fn user_id(fields: Fields<'_>, name: &str) -> Result<UserId, FieldError> {
    let raw = fields.req_str(name)?;
    UserId::new(raw).map_err(|err| FieldError {
        field: name.to_owned(),
        detail: err.to_string(),
    })
}

/// One row of `attendance/list`'s `recordresult`.
pub(crate) fn decode_result_row(row: &Value, timezone: Tz) -> Result<DecodedSlot, FieldError> {
    let fields = Fields::of(row, "recordresult[]")?;
    let mut unknown_values = Vec::new();
    let mut note = |field: &str, unknown: bool, raw: &str| {
        if unknown {
            unknown_values.push(format!("{field}={raw}"));
        }
    };
    let check_type = CheckType::parse(&fields.req_str("checkType")?);
    note("checkType", check_type.is_unknown(), check_type.as_str());
    let time_result = TimeResult::parse(&fields.req_str("timeResult")?);
    note("timeResult", time_result.is_unknown(), time_result.as_str());
    let location_result = LocationResult::parse(
        &fields
            .opt_str("locationResult")?
            .unwrap_or_else(|| "NotSigned".into()),
    );
    note(
        "locationResult",
        location_result.is_unknown(),
        location_result.as_str(),
    );
    let source_type = SourceType::parse(&fields.req_str("sourceType")?);
    note("sourceType", source_type.is_unknown(), source_type.as_str());
    let slot = Slot {
        user_id: user_id(fields, "userId")?,
        work_date: local_date(fields.req_millis("workDate")?, timezone),
        check_type,
        plan_id: fields.opt_i64("planId")?,
        base_check_time: fields.req_millis("baseCheckTime")?,
        user_check_time: fields.opt_millis("userCheckTime")?,
        time_result,
        location_result,
        source_type,
        process_instance_id: fields.opt_str("procInstId")?,
        approve_id: fields.opt_i64("approveId")?,
        record_id: fields.opt_i64("recordId")?,
        group_id: fields.opt_i64("groupId")?,
        row_id: fields.opt_i64("id")?,
    };
    Ok(DecodedSlot {
        slot,
        unknown_values,
    })
}

/// One row of `attendance/listRecord`'s `recordresult`. Invalid punches are flagged, not dropped.
pub(crate) fn decode_punch_row(row: &Value, timezone: Tz) -> Result<Punch, FieldError> {
    let fields = Fields::of(row, "recordresult[]")?;
    let is_legal = fields.opt_bool("isLegal")?;
    let invalid_record_type = fields.opt_str("invalidRecordType")?;
    Ok(Punch {
        user_id: user_id(fields, "userId")?,
        work_date: fields
            .opt_millis("workDate")?
            .map(|instant| local_date(instant, timezone)),
        check_type: CheckType::parse(&fields.opt_str("checkType")?.unwrap_or_default()),
        check_time: fields.req_millis("userCheckTime")?,
        plan_id: fields.opt_i64("planId")?,
        source_type: SourceType::parse(&fields.opt_str("sourceType")?.unwrap_or_default()),
        process_instance_id: fields.opt_str("procInstId")?,
        record_id: fields.opt_i64("id")?,
        invalid: is_legal == Some(false) || invalid_record_type.is_some(),
        is_legal,
        invalid_record_type,
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    /// A NotSigned row as DingTalk sends it: no `recordId`, `userCheckTime == baseCheckTime`.
    fn not_signed_row() -> Value {
        json!({
            "id": 71237523891_i64, "userId": "0126xxxx", "workDate": 1599321600000_i64,
            "checkType": "OnDuty", "timeResult": "NotSigned", "locationResult": "NotSigned",
            "sourceType": "SYSTEM", "baseCheckTime": 1599354000000_i64,
            "userCheckTime": 1599354000000_i64, "groupId": 16260061, "planId": 437360727696_i64,
            "corpId": "ding123"
        })
    }

    #[test]
    fn a_not_signed_row_decodes_into_a_slot_without_a_record() {
        let decoded = decode_result_row(&not_signed_row(), SHANGHAI).unwrap();
        let slot = decoded.slot;
        assert_eq!(slot.user_id.as_str(), "0126xxxx");
        assert_eq!(slot.work_date, NaiveDate::from_ymd_opt(2020, 9, 6).unwrap());
        assert_eq!(slot.plan_id, Some(437360727696));
        assert_eq!(slot.time_result, TimeResult::NotSigned);
        assert_eq!(slot.record_id, None);
        assert_eq!(slot.process_instance_id, None);
        assert!(decoded.unknown_values.is_empty());
    }

    #[test]
    fn numeric_strings_and_unknown_enums_are_accepted_and_reported() {
        let mut row = not_signed_row();
        row["planId"] = json!("437360727696");
        row["workDate"] = json!("1599321600000");
        row["sourceType"] = json!("FACE_V9");
        row["procInstId"] = json!("");
        let decoded = decode_result_row(&row, SHANGHAI).unwrap();
        assert_eq!(decoded.slot.plan_id, Some(437360727696));
        assert_eq!(
            decoded.slot.source_type,
            SourceType::Unknown("FACE_V9".into())
        );
        assert_eq!(
            decoded.unknown_values,
            vec!["sourceType=FACE_V9".to_owned()]
        );
    }

    #[test]
    fn a_row_with_a_bad_field_names_that_field() {
        let mut row = not_signed_row();
        row["baseCheckTime"] = json!({"when": "later"});
        let err = decode_result_row(&row, SHANGHAI).err().unwrap();
        assert_eq!(err.field, "baseCheckTime");
        let mut row = not_signed_row();
        row.as_object_mut().unwrap().remove("userId");
        assert_eq!(
            decode_result_row(&row, SHANGHAI).err().unwrap().field,
            "userId"
        );
    }

    fn batch() -> Batch {
        Batch {
            users: vec![UserId::new("0126xxxx").unwrap(), UserId::new("u2").unwrap()],
            from: NaiveDate::from_ymd_opt(2020, 9, 6).unwrap(),
            to: NaiveDate::from_ymd_opt(2020, 9, 12).unwrap(),
        }
    }

    #[track_caller]
    fn check_row(mutate: impl FnOnce(&mut Value), expected: Result<(), &str>) {
        let mut row = not_signed_row();
        mutate(&mut row);
        let batch = batch();
        let request = RowRequest::of(&batch, SHANGHAI);
        let decoded = decode_result_row(&row, SHANGHAI).unwrap();
        let checked = check_slot(&decoded.slot, &request);
        match expected {
            Ok(()) => assert_eq!(checked, Ok(()), "{row}"),
            Err(needle) => {
                let err = checked.expect_err("rejected");
                assert!(err.contains(needle), "{err:?} lacks {needle:?}");
            }
        }
    }

    #[test]
    fn result_rows_outside_their_request_are_rejected_naming_what_is_wrong() {
        check_row(|_| {}, Ok(()));
        // A night shift's off-duty point on the next morning, a point the evening before.
        check_row(
            |row| row["userCheckTime"] = json!(1_599_440_400_000_i64),
            Ok(()),
        );
        check_row(
            |row| row["baseCheckTime"] = json!(1_599_307_200_000_i64),
            Ok(()),
        );
        check_row(
            |row| row["userId"] = json!("intruder"),
            Err("was not asked for"),
        );
        check_row(
            |row| row["workDate"] = json!(-1_798_790_400_000_i64),
            Err("workDate 1913-01-01 is outside the requested work dates"),
        );
        check_row(
            |row| row["workDate"] = json!(1_599_926_400_000_i64),
            Err("outside the requested"),
        );
        check_row(
            |row| row["userCheckTime"] = json!(-28_800_000_i64),
            Err("userCheckTime 1970-01-01 00:00:00 is impossible for work date 2020-09-06"),
        );
        check_row(
            |row| row["baseCheckTime"] = json!(1_599_580_800_000_i64),
            Err("baseCheckTime"),
        );
        check_row(
            |row| row["planId"] = json!(-437_360_727_696_i64),
            Err("planId"),
        );
        check_row(|row| row["id"] = json!(-1), Err("id -1 is not an id"));
        check_row(|row| row["recordId"] = json!(1_i64 << 60), Err("recordId"));
        check_row(|row| row["procInstId"] = json!("=HYPERLINK(1)"), Ok(()));
        check_row(
            |row| row["procInstId"] = json!("a\u{1b}[31m"),
            Err("procInstId"),
        );
        check_row(|row| row["procInstId"] = json!("a b"), Err("procInstId"));
        check_row(
            |row| row["procInstId"] = json!("x".repeat(129)),
            Err("procInstId"),
        );
    }

    #[test]
    fn punches_outside_the_requested_interval_or_users_are_rejected() {
        let batch = batch();
        let request = RowRequest::of(&batch, SHANGHAI);
        let punch = |edit: &dyn Fn(&mut Value)| {
            let mut row = json!({"id": 5, "userId": "u2", "workDate": 1_599_321_600_000_i64,
                "userCheckTime": 1_599_354_100_000_i64, "planId": 9});
            edit(&mut row);
            check_punch(&decode_punch_row(&row, SHANGHAI).unwrap(), &request)
        };
        assert_eq!(punch(&|_| {}), Ok(()));
        // The first second of the interval and the night shift's day before are fine.
        assert_eq!(
            punch(&|row| row["userCheckTime"] = json!(1_599_321_600_000_i64)),
            Ok(())
        );
        assert_eq!(
            punch(&|row| row["workDate"] = json!(1_599_235_200_000_i64)),
            Ok(())
        );
        assert!(punch(&|row| row["userId"] = json!("u3")).is_err());
        assert!(punch(&|row| row["userCheckTime"] = json!(1_599_321_599_999_i64)).is_err());
        assert!(punch(&|row| row["userCheckTime"] = json!(1_599_926_400_000_i64)).is_err());
        assert!(punch(&|row| row["workDate"] = json!(-1_798_790_400_000_i64)).is_err());
        assert!(punch(&|row| row["id"] = json!(-5)).is_err());
    }

    #[test]
    fn invalid_punches_are_flagged_not_dropped() {
        let row = json!({
            "id": 5, "userId": "u1", "workDate": 1599321600000_i64, "checkType": "OnDuty",
            "sourceType": "USER", "userCheckTime": 1599354100000_i64, "isLegal": "N",
            "invalidRecordType": "Security", "planId": 9
        });
        let punch = decode_punch_row(&row, SHANGHAI).unwrap();
        assert!(punch.invalid);
        assert_eq!(punch.is_legal, Some(false));
        assert_eq!(punch.invalid_record_type.as_deref(), Some("Security"));
        assert_eq!(punch.record_id, Some(5));
        let legal = json!({"userId": "u1", "userCheckTime": "1599354100000", "isLegal": "Y"});
        let punch = decode_punch_row(&legal, SHANGHAI).unwrap();
        assert!(!punch.invalid);
        assert_eq!(punch.work_date, None);
    }
}
