//! The HTML report: one self-contained page (inline style; no scripts, no external resources).
//!
//! Every value is escaped by [`escape::html`](super::escape), whether it came from DingTalk (user
//! ids, business ids, reasons) or from our own wording, so nothing in the data can become markup
//! and no control or bidi character reaches the page raw. No outside value is put in an
//! attribute, a URL, a script or a style. This module does not link to
//! DingTalk or anywhere else and does not embed the JSON report.

use std::fmt::Write;

use chrono_tz::Tz;

use super::escape::html as escape;
use super::present::{
    CORRECTION_COLUMNS, PENDING_COLUMNS, advice, calls_sentence, correction_cells, counts_sentence,
    dates, deferred_item, finding_subject, headline, local_time, pending_cells, window,
};
use super::{AnomalyLine, RenderOptions, RunReport};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}\
td:nth-child(2){white-space:nowrap}\
th{background:#f3f3f3}.headline{font-size:1.15em;font-weight:600}\
.advice{color:#555}";

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    write_head(&mut out, report);
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
    out.push_str("</body>\n</html>\n");
    out
}

// Writing into a String cannot fail: the `fmt::Result`s below are discarded.

/// The doctype, the `<head>` with title and inline style, and the opening `<body>`.
fn write_head(out: &mut String, report: &RunReport) {
    // A date-range report is about its work dates, not about its latest run.
    let subject = match report.coverage {
        Some(_) => format!("work dates {}", dates(report.run.window)),
        None => format!("run {}", report.run.id),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Reconciliation report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&subject)
    );
}

/// The page title, the headline, and when and over which work dates.
fn write_header(out: &mut String, report: &RunReport, tz: Tz) {
    let _ = writeln!(out, "<h1>Reconciliation report</h1>");
    let _ = writeln!(
        out,
        "<p class=\"headline\">{}</p>",
        escape(&headline(report))
    );
    let _ = writeln!(
        out,
        "<p>As of {} ({}); work dates {}.</p>",
        escape(&local_time(report.run.as_of, tz)),
        escape(tz.name()),
        escape(&window(report))
    );
}

fn write_heading(out: &mut String, title: &str, count: usize) {
    let _ = writeln!(out, "<h2>{title} ({count})</h2>");
}

/// A titled table with one row per item; nothing when there are no items.
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
    push_table(out, columns, items.iter().map(row));
}

/// A titled `<ul>`, one `<li>` per item with its content already escaped; nothing when there are
/// no items.
fn list_section<T>(out: &mut String, title: &str, items: &[T], item: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    write_heading(out, title, items.len());
    out.push_str("<ul>\n");
    for entry in items {
        let _ = writeln!(out, "<li>{}</li>", item(entry));
    }
    out.push_str("</ul>\n");
}

/// A finding, then after a line break what to do about it.
fn anomaly_item(line: &AnomalyLine) -> String {
    format!(
        "{}<br><span class=\"advice\">What to do: {}</span>",
        finding_item(line),
        escape(advice(line.class))
    )
}

/// `<strong>class</strong> subject: detail`.
fn finding_item(line: &AnomalyLine) -> String {
    format!(
        "<strong>{}</strong> {}: {}",
        escape(line.class.as_str()),
        escape(&finding_subject(line)),
        escape(&line.detail)
    )
}

/// The class counts and the calls, under their own heading.
fn write_counts(out: &mut String, report: &RunReport) {
    let _ = writeln!(out, "<h2>Counts</h2>");
    let _ = writeln!(
        out,
        "<p>Findings: {}.</p>",
        escape(&counts_sentence(report))
    );
    let _ = writeln!(
        out,
        "<p>Calls this run: {}.</p>",
        escape(&calls_sentence(&report.api_calls))
    );
}

fn push_table<const N: usize>(
    out: &mut String,
    header: &[&str; N],
    rows: impl Iterator<Item = [String; N]>,
) {
    out.push_str("<table>\n<thead><tr>");
    for name in header {
        let _ = write!(out, "<th>{}</th>", escape(name));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;

    fn page() -> String {
        render(
            &rich_report(),
            &RenderOptions {
                tz: chrono_tz::Asia::Shanghai,
            },
        )
    }

    #[test]
    fn html_report_matches_its_snapshot() {
        insta::assert_snapshot!(page());
    }

    #[test]
    fn html_escapes_every_value_from_outside() {
        let page = page();
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("boss,&quot;quoted&quot;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("u&amp;d"));
    }

    #[test]
    fn html_is_one_self_contained_page() {
        let page = page();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.ends_with("</html>\n"));
        for external in ["<link", "src=", "href=", "http://", "https://", "@import"] {
            assert!(!page.contains(external), "page references {external}");
        }
    }
}
