//! Lenient reading of DingTalk's JSON: numbers that may arrive as strings, optional fields that
//! may be absent, null or empty, and the three time formats the APIs use.
//!
//! Every reader names the field it failed on, so a bad row becomes an error that says which field
//! and what was expected rather than a panic or a bare serde message. This module knows no
//! endpoint: callers turn a [`FieldError`] into a client error with the endpoint and row.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

pub(crate) mod decider;

/// A field that was missing or did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) detail: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field {}: {}", self.field, self.detail)
    }
}

fn field_error(field: &str, detail: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

/// A short, secret-free description of a JSON value for error messages.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// Read access to one JSON object with lenient typed getters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// Wraps a value that must be an object.
    pub(crate) fn of(value: &'a Value, what: &str) -> Result<Self, FieldError> {
        value.as_object().map(Fields).ok_or_else(|| {
            field_error(
                what,
                format!("expected an object, found {}", describe(value)),
            )
        })
    }

    /// The raw value, treating JSON `null` as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    /// A number or a numeric string; absent, null and `""` are `None`.
    pub(crate) fn opt_i64(&self, name: &str) -> Result<Option<i64>, FieldError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        lenient_i64(value).map_err(|detail| field_error(name, detail))
    }

    /// A string (numbers are accepted and printed); absent, null and `""` are `None`.
    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<String>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => Err(field_error(
                name,
                format!("expected a string, found {}", describe(other)),
            )),
        }
    }

    pub(crate) fn req_str(&self, name: &str) -> Result<String, FieldError> {
        self.opt_str(name)?
            .ok_or_else(|| field_error(name, "missing: expected a string"))
    }

    /// A boolean, `"true"`/`"false"` or `"Y"`/`"N"`.
    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(Value::String(text)) => match text.as_str() {
                "" => Ok(None),
                "true" | "Y" | "y" => Ok(Some(true)),
                "false" | "N" | "n" => Ok(Some(false)),
                _ => Err(field_error(
                    name,
                    format!("expected a boolean, found {text:?}"),
                )),
            },
            Some(other) => Err(field_error(
                name,
                format!("expected a boolean, found {}", describe(other)),
            )),
        }
    }

    /// Epoch milliseconds as an instant.
    pub(crate) fn opt_millis(&self, name: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
        let Some(millis) = self.opt_i64(name)? else {
            return Ok(None);
        };
        DateTime::from_timestamp_millis(millis)
            .map(Some)
            .ok_or_else(|| field_error(name, format!("epoch milliseconds {millis} out of range")))
    }

    pub(crate) fn req_millis(&self, name: &str) -> Result<DateTime<Utc>, FieldError> {
        self.opt_millis(name)?
            .ok_or_else(|| field_error(name, "missing: expected epoch milliseconds"))
    }

    /// An array; absent or null is empty.
    pub(crate) fn array(&self, name: &str) -> Result<&'a [Value], FieldError> {
        match self.get(name) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(field_error(
                name,
                format!("expected an array, found {}", describe(other)),
            )),
        }
    }
}

/// A number or numeric string as `i64`; `""` is `None`. Integral floats are accepted.
pub(crate) fn lenient_i64(value: &Value) -> Result<Option<i64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| format!("expected an integer, found {number}")),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("expected a number or numeric string, found {text:?}")),
        other => Err(format!(
            "expected a number or numeric string, found {}",
            describe(other)
        )),
    }
}

/// The business-time-zone date of an instant (`workDate` is local midnight of the shift's day).
pub(crate) fn local_date(instant: DateTime<Utc>, timezone: Tz) -> NaiveDate {
    instant.with_timezone(&timezone).date_naive()
}

/// A local wall-clock time in the business time zone as an instant. For a time that does not
/// exist or exists twice (daylight saving), the earliest reading is taken.
pub(crate) fn local_to_utc(naive: NaiveDateTime, timezone: Tz) -> Option<DateTime<Utc>> {
    timezone
        .from_local_datetime(&naive)
        .earliest()
        .map(|local| local.with_timezone(&Utc))
}

/// Attendance request bounds: local `yyyy-MM-dd HH:mm:ss`.
pub(crate) fn format_local(date: NaiveDate, hms: (u32, u32, u32)) -> String {
    let (hour, minute, second) = hms;
    format!(
        "{} {hour:02}:{minute:02}:{second:02}",
        date.format("%Y-%m-%d")
    )
}

/// The 补卡 form's `value`: local `yyyy-MM-dd HH:mm` (seconds tolerated).
pub(crate) fn parse_local_minute(text: &str, timezone: Tz) -> Result<DateTime<Utc>, String> {
    let trimmed = text.trim();
    let naive = NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S"))
        .map_err(|_| format!("expected local time yyyy-MM-dd HH:mm, found {trimmed:?}"))?;
    local_to_utc(naive, timezone)
        .ok_or_else(|| format!("local time {trimmed:?} does not exist in {timezone}"))
}

/// `createTime`/`finishTime` of the workflow API: `yyyy-MM-ddTHH:mmZ`, read as UTC as the SDK
/// comment says (dingtalk-api.md section 13, item 1: unconfirmed). This is the one place that
/// reading lives; seconds and full RFC 3339 offsets are tolerated.
pub(crate) fn parse_workflow_time(text: &str) -> Result<DateTime<Utc>, String> {
    let trimmed = text.trim();
    let with_offset = DateTime::parse_from_rfc3339(trimmed)
        .or_else(|_| DateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M%:z"));
    if let Ok(instant) = with_offset {
        return Ok(instant.with_timezone(&Utc));
    }
    let without_zone = trimmed.strip_suffix('Z').unwrap_or(trimmed);
    NaiveDateTime::parse_from_str(without_zone, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(without_zone, "%Y-%m-%dT%H:%M:%S"))
        .map(|naive| naive.and_utc())
        .map_err(|_| format!("expected yyyy-MM-ddTHH:mmZ, found {trimmed:?}"))
}

/// The largest id we accept: 2^53 − 1. DingTalk's ids are read by its own JavaScript SDKs and
/// pages as JSON numbers, which hold integers exactly only up to 2^53 − 1; the largest in the
/// documentation is a 12-digit plan id (dingtalk-api.md section 3.1).
pub(crate) const MAX_ID: i64 = (1 << 53) - 1;
/// The longest text id we accept (process instance ids are 36 characters in every sample).
pub(crate) const MAX_TEXT_ID_CHARS: usize = 128;
/// How much of a rejected row's raw JSON a report shows: a real row (400 to 750 characters)
/// whole, a hostile megabyte cut short.
const EXCERPT_CHARS: usize = 1_000;

/// A numeric id, when present, must be 0..=[`MAX_ID`].
pub(crate) fn check_id(field: &str, id: Option<i64>) -> Result<(), String> {
    match id {
        Some(id) if !(0..=MAX_ID).contains(&id) => {
            Err(format!("{field} {id} is not an id: expected 0 to {MAX_ID}"))
        }
        _ => Ok(()),
    }
}

/// A text id, when present, must be non-blank, at most [`MAX_TEXT_ID_CHARS`] characters, with no
/// control character or whitespace.
pub(crate) fn check_text_id(field: &str, id: Option<&str>) -> Result<(), String> {
    let Some(id) = id else {
        return Ok(());
    };
    let well_formed = !id.is_empty()
        && id.chars().count() <= MAX_TEXT_ID_CHARS
        && !id.chars().any(|c| c.is_control() || c.is_whitespace());
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{field} {} is not an id: expected 1 to {MAX_TEXT_ID_CHARS} characters without spaces or control characters",
            excerpt(&Value::String(id.to_owned()))
        ))
    }
}

/// A value as JSON text, cut to [`EXCERPT_CHARS`] characters: JSON escapes the C0 control
/// characters (`\u001b`) and the output-escaping rule the rest serde leaves raw (DEL, C1 such as
/// CSI, bidi overrides), so the excerpt cannot forge a line or a terminal sequence in a log
/// line either. Work is bounded by the excerpt, not by the value: a megabyte string costs no
/// more than a short one.
pub(crate) fn excerpt(value: &Value) -> String {
    let text = capped_json(value, EXCERPT_CHARS * 4 + 4);
    let text = if text.chars().count() > EXCERPT_CHARS {
        format!("{}…", text.chars().take(EXCERPT_CHARS).collect::<String>())
    } else {
        text
    };
    crate::report::escape::plain(&text).into_owned()
}

/// The first `max_bytes` bytes (or so: a character cut in two is dropped) of a value's JSON
/// text; serialising stops there.
pub(crate) fn capped_json(value: &Value, max_bytes: usize) -> String {
    struct Capped(Vec<u8>, usize);
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = self.1.saturating_sub(self.0.len());
            if room == 0 {
                return Err(std::io::Error::other("excerpt full"));
            }
            let taken = buf.len().min(room);
            self.0.extend_from_slice(&buf[..taken]);
            Ok(taken)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::new(), max_bytes);
    // Running out of room ends serialising early, which is the point.
    let _ = serde_json::to_writer(&mut out, value);
    match String::from_utf8(out.0) {
        Ok(text) => text,
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let mut bytes = err.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).unwrap_or_default()
        }
    }
}

/// The local midnight starting `date` in the business time zone (the earliest reading when
/// daylight saving makes midnight ambiguous; the start of the day's first hour when it skips it).
pub(crate) fn local_midnight(date: NaiveDate, timezone: Tz) -> DateTime<Utc> {
    (0..24)
        .filter_map(|hour| date.and_hms_opt(hour, 0, 0))
        .find_map(|naive| local_to_utc(naive, timezone))
        .unwrap_or_else(|| date.and_time(chrono::NaiveTime::MIN).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    mod wire;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    #[track_caller]
    fn check_i64(value: Value, expected: Result<Option<i64>, ()>) {
        assert_eq!(lenient_i64(&value).map_err(|_| ()), expected, "{value}");
    }

    #[test]
    fn numbers_arrive_as_numbers_or_numeric_strings() {
        check_i64(json!(437360727696_i64), Ok(Some(437360727696)));
        check_i64(json!("437360727696"), Ok(Some(437360727696)));
        check_i64(json!(" 12 "), Ok(Some(12)));
        check_i64(json!(""), Ok(None));
        check_i64(json!(null), Ok(None));
        check_i64(json!(1.0e3), Ok(Some(1000)));
        check_i64(json!(1.5), Err(()));
        check_i64(json!("12a"), Err(()));
        check_i64(json!(true), Err(()));
    }

    #[test]
    fn excerpts_escape_control_characters_and_stay_short() {
        assert_eq!(
            excerpt(&json!({"procInstId": "a\u{1b}[31m\u{7}\r\n"})),
            r#"{"procInstId":"a\u001b[31m\u0007\r\n"}"#
        );
        // DEL, C1 (CSI) and a bidi override, which JSON leaves raw, are shown escaped too.
        assert_eq!(
            excerpt(&json!("a\u{7f}\u{9b}2J\u{202e}")),
            r#""a\u{7f}\u{9b}2J\u{202e}""#
        );
        let long = excerpt(&json!("补".repeat(10_000)));
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(capped_json(&json!("补补"), 3), "\"");
    }

    #[test]
    fn getters_name_the_field_that_failed() {
        let row = json!({"planId": "x", "userId": ["a"], "isLegal": "N"});
        let fields = Fields::of(&row, "row").unwrap();
        let err = fields.opt_i64("planId").unwrap_err();
        assert_eq!(err.field, "planId");
        assert!(err.detail.contains("expected a number"), "{err}");
        assert_eq!(fields.req_str("userId").unwrap_err().field, "userId");
        assert!(
            fields
                .req_str("missing")
                .unwrap_err()
                .detail
                .contains("missing")
        );
        assert_eq!(fields.opt_bool("isLegal").unwrap(), Some(false));
    }

    #[test]
    fn work_date_midnight_is_the_local_day() {
        // 1599321600000 = 2020-09-06 00:00 +08:00 (dingtalk-api.md section 3.1).
        let instant = DateTime::from_timestamp_millis(1_599_321_600_000).unwrap();
        assert_eq!(
            local_date(instant, SHANGHAI),
            NaiveDate::from_ymd_opt(2020, 9, 6).unwrap()
        );
    }

    #[test]
    fn supply_form_time_is_local_wall_clock() {
        // The worked example of dingtalk-api.md section 5.
        let instant = parse_local_minute("2026-08-05 04:00", SHANGHAI).unwrap();
        assert_eq!(instant.timestamp_millis(), 1_785_873_600_000);
        assert!(
            parse_local_minute("05/08/2026", SHANGHAI)
                .unwrap_err()
                .contains("yyyy-MM-dd HH:mm")
        );
    }

    #[test]
    fn workflow_times_are_read_as_utc_minutes() {
        let instant = parse_workflow_time("2022-08-31T11:52Z").unwrap();
        assert_eq!(instant.to_rfc3339(), "2022-08-31T11:52:00+00:00");
        assert_eq!(
            parse_workflow_time("2022-08-31T11:52:07Z")
                .unwrap()
                .timestamp()
                % 60,
            7
        );
        assert_eq!(
            parse_workflow_time("2022-08-31T19:52+08:00").unwrap(),
            parse_workflow_time("2022-08-31T11:52Z").unwrap()
        );
        assert!(parse_workflow_time("yesterday").is_err());
    }

    #[test]
    fn request_bounds_are_formatted_as_local_text() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        assert_eq!(format_local(date, (0, 0, 0)), "2026-11-03 00:00:00");
        assert_eq!(format_local(date, (23, 59, 59)), "2026-11-03 23:59:59");
    }
}
