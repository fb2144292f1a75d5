//! The CSV report: one row per correction, with a header row, RFC 4180, written for a person
//! who double-clicks it in Excel as much as for a program.
//!
//! # Shape
//!
//! UTF-8 with a byte-order mark (U+FEFF, the bytes `EF BB BF`) first: Excel opens a CSV without
//! one in the machine's ANSI code page (GBK on Chinese Windows), which garbles every name and
//! department; with it, Excel, LibreOffice and Numbers read UTF-8. A program reading the file
//! must skip it (Python's `utf-8-sig`, for instance). Fields are separated by commas and rows end
//! with CRLF; a field containing a comma, a double quote, CR or LF is wrapped in double quotes
//! with inner quotes doubled. The header names are stable English keys (a contract, like the
//! JSON report's field names). `run_id` is the run that applied the row's correction (in a
//! date-range report each row's own run, not the range's latest). Pending approvals and
//! anomalies are not rows here (they are not corrections); use the JSON report for them.
//!
//! # Identifiers: `="…"`
//!
//! Excel turns every cell that looks like a number into one on opening: `0126` loses its
//! leading zero, a 20-digit id is cut to 15 significant digits and shown as `2.25372668292E+18`,
//! `10-5` becomes a date. An id is a string, so the columns that carry one (`user_id`,
//! `plan_id`, `process_instance_id`, `business_id`) write it as Excel's text formula `="0126"`:
//! a formula whose whole body is one string constant, so the cell's value is the text `0126`,
//! exactly, whatever it looks like. As a CSV field it is quoted like any other field with a
//! double quote (`"=""0126"""`), so it is valid RFC 4180 and a strict reader gets `="0126"`.
//!
//! Why this form and not the others:
//!
//! - a leading apostrophe (`'0126`) is Excel's "text" marker only when a person *types* it;
//!   in a CSV it is data, and the cell shows `'0126` (that is why the injection guard below, which
//!   uses it, is kept for hostile values only);
//! - a leading TAB keeps the digits but is itself a formula trigger (OWASP), a hostile character
//!   in our output rule, and stays in the cell, so the id no longer matches DingTalk's;
//! - an invisible character (zero-width space, word joiner) keeps Excel off too, but silently
//!   changes the id: lookups and copy-paste into DingTalk's console fail with nothing to see;
//! - leaving ids bare keeps the file "pure" but loses data in the one program accounting uses.
//!
//! The formula form is what many exporters use. Its costs, accepted: a reader that does not
//! evaluate formulas (a script, Power Query, LibreOffice with formula evaluation off) sees
//! `="0126"` and must strip `="` and `"` (the id is intact inside); the JSON report is the
//! lossless machine form. It does not weaken the injection guard: the form is only used for an
//! id made of ASCII letters, digits, `-`, `_`, `.` and `:` (at most 255 characters, Excel's
//! limit for a string constant in a formula), so no value can close the string and call
//! anything. Any other id (a hostile one with quotes, markup or a formula of its own) is written
//! as outside text, guarded as below. `run_id` (the program's own small number) stays a plain
//! number; the idempotency key starts with a class name, which Excel leaves as text.
//!
//! # Times
//!
//! Times are the business time zone's wall-clock time as `2026-11-04 10:15:00`, the form Excel
//! recognises as a date-time on opening (a `T` or an offset make it text). The zone is the
//! configured business time zone (`timezone`, Asia/Shanghai by default), the one every
//! people-facing report uses; the JSON report carries the instants in UTC. `work_date` is the
//! shift's day as `2026-11-03`.
//!
//! # Outside text
//!
//! The columns that carry other text from outside (check type, results and sources, which may
//! be values DingTalk added, idempotency key, the person's name and department from the
//! directory cache, empty when unknown, the 补卡 form's `reason` and the `approver` who agreed
//! to it as `name (id)` (the id alone when the directory does not know them), empty when the
//! correction has no approval or its detail does not say, and any id the `="…"` form cannot
//! take) go through
//! [`escape::csv_text`](super::escape): control characters shown as `\u{…}` (so a row is one
//! line, and `cat` on a terminal is harmless) and OWASP's CSV-injection guard (a cell starting
//! with `=`, `+`, `-`, `@`, TAB or CR gets a leading `'`, so a spreadsheet shows it as text).
//! The columns this module formats itself from typed values (run id, dates, times, booleans,
//! class) are written as they are. The only cells that start with `=` are the `="…"` ids.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::escape::{csv_text, plain};
use super::{Approver, RenderOptions, RunReport};

/// The byte-order mark the file starts with, so Excel reads it as UTF-8.
pub(crate) const BOM: char = '\u{feff}';

/// Excel's limit on a string constant inside a formula.
const ID_FORMULA_MAX: usize = 255;

const HEADER: [&str; 22] = [
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
    "reason",
    "approver",
];

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    out.push(BOM);
    push_row(&mut out, &HEADER);
    for line in &report.corrections {
        let before = line.before.as_ref();
        let text = |raw: &str| csv_text(raw).into_owned();
        let row = vec![
            line.run_id.to_string(),
            id(&line.user_id),
            line.work_date.format("%Y-%m-%d").to_string(),
            text(&line.check_type),
            line.plan_id
                .map(|plan| id(&plan.to_string()))
                .unwrap_or_default(),
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
            line.process_instance_id
                .as_deref()
                .map(id)
                .unwrap_or_default(),
            line.business_id.as_deref().map(id).unwrap_or_default(),
            time(line.approved_at, tz),
            time(Some(line.applied_at), tz),
            text(&line.idempotency_key),
            text(line.name.as_deref().unwrap_or_default()),
            text(line.department.as_deref().unwrap_or_default()),
            text(line.reason.as_deref().unwrap_or_default()),
            text(&line.approver.as_ref().map(approver).unwrap_or_default()),
        ];
        push_row(&mut out, &row);
    }
    out
}

/// The approver as `name (id)`, or the id alone when the directory does not know them; the
/// caller guards it as outside text.
fn approver(approver: &Approver) -> String {
    match &approver.name {
        Some(name) => format!("{name} ({})", approver.user_id),
        None => approver.user_id.clone(),
    }
}

/// An id cell: `="id"` when the id can be a string constant of a formula (see the module doc),
/// guarded outside text otherwise; empty for an empty id.
fn id(raw: &str) -> String {
    let text = plain(raw);
    if is_formula_safe_id(&text) {
        format!("=\"{text}\"")
    } else {
        csv_text(raw).into_owned()
    }
}

/// Whether `text` is 1 to 255 ASCII letters, digits, `-`, `_`, `.` or `:`: nothing that can end
/// a formula's string constant or be anything but its characters.
fn is_formula_safe_id(text: &str) -> bool {
    (1..=ID_FORMULA_MAX).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A wall-clock time in `tz` as Excel reads a date-time: `2026-11-04 10:15:00`.
fn time(at: Option<DateTime<Utc>>, tz: Tz) -> String {
    at.map(|at| {
        at.with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
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
        RenderOptions::new(chrono_tz::Asia::Shanghai)
    }

    fn column(name: &str) -> usize {
        HEADER
            .iter()
            .position(|header| *header == name)
            .expect("a column of the header")
    }

    /// The id inside an `="…"` cell, as Excel shows it; `None` for any other cell.
    fn excel_id(cell: &str) -> Option<&str> {
        let inner = cell.strip_prefix("=\"")?.strip_suffix('"')?;
        is_formula_safe_id(inner).then_some(inner)
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
        check_field("=\"0126\"", "\"=\"\"0126\"\"\"");
    }

    #[test]
    fn csv_report_matches_its_snapshot() {
        // The byte-order mark is checked here and left out of the snapshot, where it would be
        // invisible.
        let text = render(&rich_report(), &shanghai());
        let text = text.strip_prefix(BOM).expect("the file starts with a BOM");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn the_file_starts_with_one_utf8_byte_order_mark_then_the_header() {
        let text = render(&rich_report(), &shanghai());
        assert!(text.as_bytes().starts_with(b"\xEF\xBB\xBFrun_id,user_id,"));
        assert_eq!(text.matches(BOM).count(), 1);
        // Even with nothing to list.
        let mut empty = rich_report();
        empty.corrections.clear();
        assert_eq!(
            render(&empty, &shanghai()),
            format!("{BOM}{}\r\n", HEADER.join(","))
        );
    }

    #[test]
    fn csv_has_a_header_and_one_crlf_row_per_correction_with_a_constant_field_count() {
        let report = rich_report();
        let text = render(&report, &shanghai());
        let rows = parse(&text);
        assert_eq!(rows.len(), report.corrections.len() + 1);
        assert!(rows.iter().all(|row| row.len() == HEADER.len()));
        assert_eq!(rows[0], HEADER);
        assert_eq!(rows[1][column("user_id")], "=\"0126\"");
        assert_eq!(
            rows[3][column("user_id")],
            "boss,\"quoted\"<script>alert(1)</script>"
        );
        assert_eq!(rows[1][column("approved_at")], "2026-11-04 10:15:00");
    }

    /// The decision the module doc explains, pinned: every id column writes an id as Excel's
    /// text formula `="…"`, so Excel shows the id itself, where a bare `0126` would lose its
    /// zero, a 19- or 20-digit id would become `2.25372668292E+18`, a leading `'` would show in
    /// the cell and a leading TAB would be a formula trigger and stay in the value.
    #[test]
    fn ids_are_excel_text_formulas_so_leading_zeros_and_twenty_digits_survive() {
        let mut report = rich_report();
        let line = &mut report.corrections[0];
        line.user_id = "02253726682920171716".into();
        line.plan_id = Some(2_253_726_682_920_171_716);
        line.process_instance_id = Some("0a1b-2c3d_4e.5f:6".into());
        line.business_id = Some("0126000024".into());
        let text = render(&report, &shanghai());
        // Valid RFC 4180: the formula's quotes are doubled inside a quoted field.
        assert!(
            text.contains("\r\n42,\"=\"\"02253726682920171716\"\"\",2026-11-03,"),
            "{text}"
        );
        let row = &parse(&text)[1];
        let cell = |name| row[column(name)].as_str();
        assert_eq!(excel_id(cell("user_id")), Some("02253726682920171716"));
        assert_eq!(excel_id(cell("plan_id")), Some("2253726682920171716"));
        assert_eq!(
            excel_id(cell("process_instance_id")),
            Some("0a1b-2c3d_4e.5f:6")
        );
        assert_eq!(excel_id(cell("business_id")), Some("0126000024"));
        // A negative plan id is an id too, not a number to compute with.
        report.corrections[0].plan_id = Some(-7);
        let row = &parse(&render(&report, &shanghai()))[1];
        assert_eq!(row[column("plan_id")], "=\"-7\"");
        // No id: an empty cell, not `=""`.
        assert_eq!(
            parse(&render(&report, &shanghai()))[2][column("plan_id")],
            ""
        );
        assert_eq!(
            parse(&render(&report, &shanghai()))[2][column("business_id")],
            ""
        );
        // The program's own run id stays a plain number; so do the other typed columns.
        assert_eq!(row[column("run_id")], "42");
        assert_eq!(row[column("work_date")], "2026-11-03");
        assert_eq!(row[column("before_observed")], "true");
    }

    #[test]
    fn each_row_carries_the_run_that_applied_its_correction_not_the_reports_run() {
        let mut report = rich_report();
        report.corrections[1].run_id = 7;
        let rows = parse(&render(&report, &shanghai()));
        assert_eq!(rows[1][column("run_id")], "42");
        assert_eq!(rows[2][column("run_id")], "7");
    }

    #[test]
    fn an_id_the_formula_cannot_hold_is_written_as_guarded_text() {
        // Longer than Excel's 255-character string constant.
        assert_eq!(id(&"1".repeat(255)), format!("=\"{}\"", "1".repeat(255)));
        assert_eq!(id(&"1".repeat(256)), "1".repeat(256));
        // Anything that could end the string constant or is not an id's character.
        assert_eq!(
            id("0126\"&HYPERLINK(\"x\")&\""),
            "0126\"&HYPERLINK(\"x\")&\""
        );
        assert_eq!(id("-1+1"), "'-1+1");
        assert_eq!(id("=1+1"), "'=1+1");
        assert_eq!(id("王伟01"), "王伟01");
        assert_eq!(id("01\u{1b}[2J"), "01\\u{1b}[2J");
        assert_eq!(id(""), "");
    }

    #[test]
    fn times_are_local_date_times_excel_recognises() {
        let report = rich_report();
        let rows = parse(&render(&report, &shanghai()));
        let row = &rows[1];
        assert_eq!(row[column("before_check_time")], "2026-11-03 09:00:00");
        assert_eq!(row[column("after_check_time")], "2026-11-03 08:58:00");
        assert_eq!(row[column("approved_at")], "2026-11-04 10:15:00");
        assert_eq!(row[column("applied_at")], "2026-11-05 02:10:00");
        assert_eq!(row[column("work_date")], "2026-11-03");
        // In the business time zone passed in, whatever it is.
        let utc = parse(&render(&report, &RenderOptions::new(chrono_tz::UTC)));
        assert_eq!(utc[1][column("applied_at")], "2026-11-04 18:10:00");
        // No `T`, no offset anywhere in a time column.
        for row in &rows[1..] {
            for name in [
                "before_check_time",
                "after_check_time",
                "approved_at",
                "applied_at",
            ] {
                let cell = &row[column(name)];
                assert!(
                    cell.is_empty()
                        || chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S").is_ok(),
                    "{name}: {cell:?}"
                );
            }
        }
    }

    #[test]
    fn corrections_carry_the_reason_and_the_approver_as_name_and_id() {
        let rows = parse(&render(&rich_report(), &shanghai()));
        let cells = |row: &[String]| {
            (
                row[column("reason")].clone(),
                row[column("approver")].clone(),
            )
        };
        assert_eq!(
            cells(&rows[1]),
            ("忘记打卡".to_owned(), "陈静 (0087)".to_owned())
        );
        assert_eq!(
            cells(&rows[2]),
            ("手机没电".to_owned(), "manager01".to_owned()),
            "an approver the directory does not know is the id alone"
        );
        assert_eq!(
            cells(&rows[3]),
            (String::new(), String::new()),
            "no approval"
        );
        // The fixture's hostile reason: a formula with markup, ESC and a newline, guarded.
        let (reason, _) = cells(&rows[4]);
        assert!(reason.starts_with("'=HYPERLINK("), "{reason:?}");
        assert!(!reason.contains(['\u{1b}', '\n']), "{reason:?}");
        assert!(reason.contains("\\u{1b}[31m忘记\\u{a}打卡"), "{reason:?}");

        let mut report = rich_report();
        if let Some(approver) = &mut report.corrections[0].approver {
            approver.name = Some("@SUM(1+1)".into());
        }
        let rows = parse(&render(&report, &shanghai()));
        assert_eq!(rows[1][column("approver")], "'@SUM(1+1) (0087)");
    }

    #[test]
    fn a_formula_from_dingtalk_is_written_as_text_and_quoted() {
        let mut report = rich_report();
        report.corrections[0].business_id = Some("=HYPERLINK(\"http://x\",\"y\")".into());
        report.corrections[0].user_id = "@SUM(1+1)".into();
        report.corrections[0].name = Some("+cmd|' /C calc'!A0".into());
        let text = render(&report, &shanghai());
        assert!(
            text.contains(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","),
            "{text}"
        );
        let rows = parse(&text);
        assert_eq!(rows[1][column("user_id")], "'@SUM(1+1)");
        assert_eq!(
            rows[1][column("business_id")],
            "'=HYPERLINK(\"http://x\",\"y\")"
        );
        assert_eq!(rows[1][column("name")], "'+cmd|' /C calc'!A0");
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
                    // Only an id column's `="…"` cell, whose formula is one string constant of
                    // an id's characters, may start with a trigger.
                    let id_column = matches!(
                        HEADER[idx],
                        "user_id" | "plan_id" | "process_instance_id" | "business_id"
                    );
                    proptest::prop_assert!(
                        !cell.starts_with(FORMULA_TRIGGERS)
                            || (id_column && excel_id(cell).is_some()),
                        "column {} cell {:?}",
                        HEADER[idx],
                        cell
                    );
                }
            }
        }
    }

    /// A strict RFC 4180 reader, to prove the writer's output parses back. The file's
    /// byte-order mark is not part of the first field.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let text = text.strip_prefix(BOM).expect("the file starts with a BOM");
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
                (true, '"') => {
                    quoted = false;
                    assert!(
                        matches!(chars.peek(), None | Some(',' | '\r')),
                        "a closing quote ends its field"
                    );
                }
                (true, c) => field.push(c),
                (false, '"') => {
                    assert!(field.is_empty(), "a quote inside an unquoted field");
                    quoted = true;
                }
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') => {
                    assert_eq!(chars.next(), Some('\n'), "CR must start CRLF");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, '\n') => panic!("a bare LF outside quotes"),
                (false, c) => field.push(c),
            }
        }
        assert!(
            !quoted && field.is_empty() && row.is_empty(),
            "output must end with CRLF"
        );
        rows
    }
}
