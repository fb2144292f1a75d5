//! The CSV report: one row per correction, with a header row, RFC 4180.
//!
//! Fields are separated by commas and rows end with CRLF; a field containing a comma, a double
//! quote, CR or LF is wrapped in double quotes with inner quotes doubled. Times are RFC 3339 with
//! the business time zone's offset (`2026-11-04T10:15:00+08:00`): unambiguous for a machine and
//! readable as local time by a person. Pending approvals and anomalies are not rows here (they
//! are not corrections); use the JSON report for them. This module does not guard against
//! spreadsheet formula injection: it writes the data as DingTalk sent it.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::{RenderOptions, RunReport};

const HEADER: [&str; 18] = [
    "run_id",
    "user_id",
    "work_date",
    "check_type",
    "plan_id",
    "class",
    "before_result",
    "before_check_time",
    "before_source",
    "after_result",
    "after_check_time",
    "after_source",
    "before_observed",
    "process_instance_id",
    "business_id",
    "approved_at",
    "applied_at",
    "idempotency_key",
];

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    push_row(&mut out, &HEADER);
    for line in &report.corrections {
        let before = line.before.as_ref();
        let row = vec![
            report.run.id.to_string(),
            line.user_id.clone(),
            line.work_date.to_string(),
            line.check_type.clone(),
            line.plan_id.map(|id| id.to_string()).unwrap_or_default(),
            line.class.to_string(),
            before
                .map(|state| state.time_result.to_string())
                .unwrap_or_default(),
            time(before.and_then(|state| state.check_time), tz),
            before
                .map(|state| state.source_type.to_string())
                .unwrap_or_default(),
            line.after.time_result.to_string(),
            time(line.after.check_time, tz),
            line.after.source_type.to_string(),
            line.before_observed.to_string(),
            line.process_instance_id.clone().unwrap_or_default(),
            line.business_id.clone().unwrap_or_default(),
            time(line.approved_at, tz),
            time(Some(line.applied_at), tz),
            line.idempotency_key.clone(),
        ];
        push_row(&mut out, &row);
    }
    out
}

fn time(at: Option<DateTime<Utc>>, tz: Tz) -> String {
    at.map(|at| {
        at.with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    })
    .unwrap_or_default()
}

fn push_row(out: &mut String, fields: &[impl AsRef<str>]) {
    for (idx, field) in fields.iter().enumerate() {
        if idx > 0 {
            out.push(',');
        }
        push_field(out, field.as_ref());
    }
    out.push_str("\r\n");
}

fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;

    fn shanghai() -> RenderOptions {
        RenderOptions {
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    #[track_caller]
    fn check_field(raw: &str, expected: &str) {
        let mut out = String::new();
        push_field(&mut out, raw);
        assert_eq!(out, expected);
    }

    #[test]
    fn fields_are_quoted_only_when_rfc_4180_requires_it() {
        check_field("0126", "0126");
        check_field("", "");
        check_field("a,b", "\"a,b\"");
        check_field("say \"hi\"", "\"say \"\"hi\"\"\"");
        check_field("two\nlines", "\"two\nlines\"");
        check_field("cr\rhere", "\"cr\rhere\"");
        check_field("<script>", "<script>");
    }

    #[test]
    fn csv_report_matches_its_snapshot() {
        insta::assert_snapshot!(render(&rich_report(), &shanghai()));
    }

    #[test]
    fn csv_has_a_header_and_one_crlf_row_per_correction_with_a_constant_field_count() {
        let report = rich_report();
        let text = render(&report, &shanghai());
        let rows = parse(&text);
        assert_eq!(rows.len(), report.corrections.len() + 1);
        assert!(rows.iter().all(|row| row.len() == HEADER.len()));
        assert_eq!(rows[1][1], "0126");
        assert_eq!(rows[3][1], "boss,\"quoted\"<script>alert(1)</script>");
        assert_eq!(rows[1][15], "2026-11-04T10:15:00+08:00");
    }

    /// A strict RFC 4180 reader, to prove the writer's output parses back.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') => {
                    assert_eq!(chars.next(), Some('\n'), "CR must start CRLF");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(
            field.is_empty() && row.is_empty(),
            "output must end with CRLF"
        );
        rows
    }
}
