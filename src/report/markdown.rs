//! The Markdown report: headline and tables, for a wiki page or a chat message.
//!
//! Every value from outside is escaped by [`escape::markdown`](super::escape) so it reads
//! literally: control characters are shown as `\u{…}` escapes (so a value never breaks a line or
//! a table row), markup characters become entities or are backslash-escaped, table pipes are
//! escaped. This module does not target one Markdown dialect's extensions beyond GitHub-style pipe
//! tables.

use std::fmt::Write;

use chrono_tz::Tz;

use super::escape::markdown as escape;
use super::present::{
    CORRECTION_COLUMNS, PENDING_COLUMNS, advice, calls_sentence, correction_cells, counts_sentence,
    deferred_item, finding_subject, headline, local_time, pending_cells, window,
};
use super::{AnomalyLine, RenderOptions, RunReport};

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    write_header(&mut out, report, tz);
    table_section(
        &mut out,
        "Corrections",
        &CORRECTION_COLUMNS,
        &report.corrections,
        |line| correction_cells(line, tz),
    );
    table_section(
        &mut out,
        "Pending",
        &PENDING_COLUMNS,
        &report.pending,
        |line| pending_cells(line, tz),
    );
    list_section(&mut out, "Anomalies", &report.anomalies, anomaly_item);
    list_section(
        &mut out,
        "Refused, withdrawn or reported only",
        &report.listed,
        finding_item,
    );
    list_section(
        &mut out,
        "Deferred to later runs",
        &report.deferred,
        |line| escape(&deferred_item(line)),
    );
    list_section(&mut out, "Errors", &report.errors, |error| escape(error));
    write_counts(&mut out, report);
    out
}

// Writing into a String cannot fail: the `fmt::Result`s below are discarded.

/// The title, the headline in bold, and when and over which work dates.
fn write_header(out: &mut String, report: &RunReport, tz: Tz) {
    let _ = writeln!(out, "# Reconciliation report\n");
    let _ = writeln!(out, "**{}**\n", escape(&headline(report)));
    let _ = writeln!(
        out,
        "As of {} ({tz}); work dates {}.",
        escape(&local_time(report.run.as_of, tz)),
        escape(&window(report))
    );
}

/// `## title (count)`, followed by a blank line.
fn write_heading(out: &mut String, title: &str, count: usize) {
    let _ = writeln!(out, "\n## {title} ({count})\n");
}

/// A titled pipe table with one row per item; nothing when there are no items.
fn table_section<T, const N: usize>(
    out: &mut String,
    title: &str,
    columns: &[&str; N],
    items: &[T],
    row: impl Fn(&T) -> [String; N],
) {
    if items.is_empty() {
        return;
    }
    write_heading(out, title, items.len());
    let _ = writeln!(out, "| {} |", columns.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(N));
    for item in items {
        push_row(out, &row(item));
    }
}

/// A titled bullet list, one item per entry, each already escaped; nothing when there are no
/// items.
fn list_section<T>(out: &mut String, title: &str, items: &[T], item: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    write_heading(out, title, items.len());
    for entry in items {
        let _ = writeln!(out, "- {}", item(entry));
    }
}

/// A finding, then on a second line of the same item what to do about it.
fn anomaly_item(line: &AnomalyLine) -> String {
    format!(
        "{}  \n  *What to do:* {}",
        finding_item(line),
        escape(advice(line.class))
    )
}

/// `**class** subject: detail`.
fn finding_item(line: &AnomalyLine) -> String {
    format!(
        "**{}** {}: {}",
        line.class,
        escape(&finding_subject(line)),
        escape(&line.detail)
    )
}

/// The class counts and the calls, under their own heading.
fn write_counts(out: &mut String, report: &RunReport) {
    let _ = writeln!(out, "\n## Counts\n");
    let _ = writeln!(out, "Findings: {}.  ", escape(&counts_sentence(report)));
    let _ = writeln!(
        out,
        "Calls this run: {}.",
        escape(&calls_sentence(&report.api_calls))
    );
}

fn push_row(out: &mut String, cells: &[String]) {
    out.push('|');
    for cell in cells {
        out.push(' ');
        out.push_str(&escape(cell));
        out.push_str(" |");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;

    #[track_caller]
    fn check_escape(raw: &str, expected: &str) {
        assert_eq!(escape(raw), expected);
    }

    #[test]
    fn markup_pipes_and_line_breaks_from_outside_read_literally() {
        check_escape(
            "<script>alert(1)</script>",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
        );
        check_escape("a|b", "a\\|b");
        check_escape("**bold** [link](x)", "\\*\\*bold\\*\\* \\[link\\](x)");
        check_escape("two\nlines", "two\\\\u{a}lines");
        check_escape("0126", "0126");
    }

    #[test]
    fn markdown_report_matches_its_snapshot() {
        let options = RenderOptions {
            tz: chrono_tz::Asia::Shanghai,
        };
        let text = render(&rich_report(), &options);
        assert!(!text.contains("<script>"), "{text}");
        insta::assert_snapshot!(text);
    }
}
