//! The JSON report: the documented, versioned contract (`"schema": 1`).
//!
//! The shape is the serde form of [`RunReport`]: `run`, `counts` (every class, zero included),
//! `corrections[]`, `pending[]`, `anomalies[]`, `deferred[]`, `api_calls`, `errors[]`. Times are
//! RFC 3339 UTC (`2026-11-04T18:10:00Z`), dates `YYYY-MM-DD`, user ids strings. This module does
//! not convert to the business time zone: consumers get instants, not wall-clock text. Values are
//! intact; the control and bidi characters serde writes raw are written as `\uXXXX` escapes
//! ([`escape::json`](super::escape)), so printing the report on a terminal is harmless.

use super::{RunReport, zero_counts};

/// Pretty-printed JSON, ending with a newline.
pub(crate) fn render(report: &RunReport) -> String {
    let mut normalized = report.clone();
    let mut counts = zero_counts();
    counts.extend(report.counts.iter().map(|(class, count)| (*class, *count)));
    normalized.counts = counts;
    // Serializing plain data with string map keys cannot fail; fall back to a valid document
    // rather than panic should that ever change.
    let mut text = serde_json::to_string_pretty(&normalized).unwrap_or_else(|err| {
        serde_json::json!({ "schema": normalized.schema, "error": err.to_string() }).to_string()
    });
    text.push('\n');
    super::escape::json(text)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::domain::ChangeClass;
    use crate::report::fixture::rich_report;

    #[test]
    fn hostile_values_stay_intact_but_no_control_or_bidi_character_is_written_raw() {
        let mut report = rich_report();
        report.corrections[0].business_id = Some("\u{9b}31m\u{202e}\u{7f}\u{1b}\n=1".into());
        report.errors[0] = "DingTalk said \u{2028}\u{85}".into();
        let text = render(&report);
        let raw = crate::report::escape::hostile_chars(&text);
        assert!(raw.is_empty(), "{raw:?} in {text}");
        assert!(
            text.contains(r#""\u009b31m\u202e\u007f\u001b\n=1""#),
            "{text}"
        );
        let back: RunReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn json_report_matches_its_snapshot() {
        insta::assert_snapshot!(render(&rich_report()));
    }

    #[test]
    fn json_report_carries_the_contract_fields_with_utc_times_and_string_user_ids() {
        let value: Value = serde_json::from_str(&render(&rich_report())).unwrap();
        assert_eq!(value["schema"], 1);
        for field in ["id", "kind", "as_of", "window", "outcome"] {
            assert!(value["run"].get(field).is_some(), "run.{field} missing");
        }
        assert_eq!(value["run"]["as_of"], "2026-11-04T18:10:00Z");
        let correction = &value["corrections"][0];
        for field in [
            "user_id",
            "work_date",
            "check_type",
            "plan_id",
            "class",
            "before",
            "after",
            "process_instance_id",
            "business_id",
            "approved_at",
            "applied_at",
        ] {
            assert!(
                correction.get(field).is_some(),
                "corrections[].{field} missing"
            );
        }
        assert_eq!(correction["user_id"], "0126");
        assert_eq!(correction["work_date"], "2026-11-03");
        assert_eq!(correction["class"], "supply_applied");
        for field in ["by_endpoint", "metered", "month_to_date", "budget"] {
            assert!(
                value["api_calls"].get(field).is_some(),
                "api_calls.{field} missing"
            );
        }
    }

    #[test]
    fn json_counts_list_every_class_even_when_the_report_left_some_out() {
        let mut report = rich_report();
        report.counts.clear();
        report.counts.insert(ChangeClass::AdminEdit, 3);
        let value: Value = serde_json::from_str(&render(&report)).unwrap();
        let counts = value["counts"].as_object().unwrap();
        assert_eq!(counts.len(), ChangeClass::ALL.len());
        assert_eq!(counts["admin_edit"], 3);
        assert_eq!(counts["vanished"], 0);
    }

    #[test]
    fn json_round_trips_into_the_same_report() {
        let report = rich_report();
        let back: RunReport = serde_json::from_str(&render(&report)).unwrap();
        assert_eq!(back, report);
    }
}
