//! The CSV report: one row per correction, with a header row, RFC 4180.
//!
//! Fields are separated by commas and rows end with CRLF; a field containing a comma, a double
//! quote, CR or LF is wrapped in double quotes with inner quotes doubled. Times are RFC 3339 with
//! the business time zone's offset (`2026-11-04T10:15:00+08:00`): unambiguous for a machine and
//! readable as local time by a person. Pending approvals and anomalies are not rows here (they
//! are not corrections); use the JSON report for them.
//!
//! The columns that carry text from outside (user id, check type, results and sources, which may
//! be values DingTalk added, instance id, business id, idempotency key, and the person's name and
//! department from the directory cache, empty when unknown) go through
//! [`escape::csv_text`](super::escape): control characters shown as `\u{…}` (so a row is one
//! line, and `cat` on a terminal is harmless) and OWASP's CSV-injection guard (a cell starting
//! with `=`, `+`, `-`, `@`, TAB or CR gets a leading `'`, so a spreadsheet shows it as text).
//! The columns this module formats itself from typed values (run id, plan id, dates, times,
//! booleans, class) are written as they are: a negative plan id stays a number. The JSON report
//! carries every value intact.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::escape::csv_text;
use super::{RenderOptions, RunReport};

const HEADER: [&str; 20] = [
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
    "name",
    "department",
];

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    push_row(&mut out, &HEADER);
    for line in &report.corrections {
        let before = line.before.as_ref();
        let text = |raw: &str| csv_text(raw).into_owned();
        let row = vec![
            report.run.id.to_string(),
            text(&line.user_id),
            line.work_date.to_string(),
            text(&line.check_type),
            line.plan_id.map(|id| id.to_string()).unwrap_or_default(),
            line.class.to_string(),
            before
                .map(|state| text(state.time_result.as_str()))
                .unwrap_or_default(),
            time(before.and_then(|state| state.check_time), tz),
            before
                .map(|state| text(state.source_type.as_str()))
                .unwrap_or_default(),
            text(line.after.time_result.as_str()),
            time(line.after.check_time, tz),
            text(line.after.source_type.as_str()),
            line.before_observed.to_string(),
            text(line.process_instance_id.as_deref().unwrap_or_default()),
            text(line.business_id.as_deref().unwrap_or_default()),
            time(line.approved_at, tz),
            time(Some(line.applied_at), tz),
            text(&line.idempotency_key),
            text(line.name.as_deref().unwrap_or_default()),
            text(line.department.as_deref().unwrap_or_default()),
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
    use crate::report::escape::FORMULA_TRIGGERS;
    use crate::report::fixture::{arb_outside_text, report_with_texts, rich_report};

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

    #[test]
    fn a_formula_from_dingtalk_is_written_as_text_and_quoted() {
        let mut report = rich_report();
        report.corrections[0].business_id = Some("=HYPERLINK(\"http://x\",\"y\")".into());
        report.corrections[0].user_id = "@SUM(1+1)".into();
        let text = render(&report, &shanghai());
        assert!(
            text.contains(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","),
            "{text}"
        );
        let rows = parse(&text);
        assert_eq!(rows[1][1], "'@SUM(1+1)");
        assert_eq!(rows[1][14], "'=HYPERLINK(\"http://x\",\"y\")");
    }

    proptest::proptest! {
        #[test]
        fn no_cell_from_outside_starts_with_a_formula_trigger_and_every_row_is_one_line(
            texts in proptest::collection::vec(arb_outside_text(), 96),
        ) {
            let mut cycle = texts.iter().cycle();
            let report = report_with_texts(|| cycle.next().cloned().unwrap_or_default());
            let text = render(&report, &shanghai());
            proptest::prop_assert_eq!(text.lines().count(), report.corrections.len() + 1);
            let hostile: Vec<char> = text
                .chars()
                .filter(|&c| !matches!(c, '\r' | '\n') && crate::report::escape::is_hostile(c))
                .collect();
            proptest::prop_assert!(hostile.is_empty(), "{:?} in {}", hostile, text);
            let rows = parse(&text);
            for row in &rows {
                proptest::prop_assert_eq!(row.len(), HEADER.len());
                for (idx, cell) in row.iter().enumerate() {
                    // Only a number the program formats itself (a negative plan id) may start
                    // with a sign.
                    proptest::prop_assert!(
                        !cell.starts_with(FORMULA_TRIGGERS)
                            || (HEADER[idx] == "plan_id" && cell.parse::<i64>().is_ok()),
                        "column {} cell {:?}",
                        HEADER[idx],
                        cell
                    );
                }
            }
        }
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
