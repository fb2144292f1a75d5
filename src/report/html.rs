//! The HTML report: one self-contained page (inline style; no scripts, no external resources).
//!
//! Every value is escaped, whether it came from DingTalk (user ids, business ids, reasons) or from
//! our own wording, so nothing in the data can become markup. This module does not link to
//! DingTalk or anywhere else and does not embed the JSON report.

use std::fmt::Write;

use super::present::{
    advice, before_after, calls_sentence, cause, check_point, counts_sentence, deferred_item,
    finding_subject, headline, local_time, pending_state, window,
};
use super::{RenderOptions, RunReport};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.headline{font-size:1.15em;font-weight:600}\
.advice{color:#555}";

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Reconciliation report: run {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        report.run.id
    );
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

    if !report.corrections.is_empty() {
        let _ = writeln!(out, "<h2>Corrections ({})</h2>", report.corrections.len());
        let rows = report.corrections.iter().map(|line| {
            vec![
                line.user_id.clone(),
                line.work_date.to_string(),
                check_point(Some(&line.check_type), line.plan_id),
                before_after(line, tz),
                line.class.to_string(),
                cause(line, tz),
            ]
        });
        push_table(
            &mut out,
            &[
                "user",
                "work date",
                "check point",
                "change",
                "class",
                "cause",
            ],
            rows,
        );
    }

    if !report.pending.is_empty() {
        let _ = writeln!(out, "<h2>Pending ({})</h2>", report.pending.len());
        let rows = report.pending.iter().map(|line| {
            vec![
                line.user_id.clone(),
                line.work_date.map(|d| d.to_string()).unwrap_or_default(),
                check_point(line.check_type.as_deref(), None),
                pending_state(line),
                line.since.map(|at| local_time(at, tz)).unwrap_or_default(),
                line.process_instance_id.clone(),
                line.business_id.clone().unwrap_or_default(),
            ]
        });
        let header = [
            "user",
            "work date",
            "check point",
            "state",
            "since",
            "approval",
            "business id",
        ];
        push_table(&mut out, &header, rows);
    }

    if !report.anomalies.is_empty() {
        let _ = writeln!(out, "<h2>Anomalies ({})</h2>\n<ul>", report.anomalies.len());
        for line in &report.anomalies {
            let _ = writeln!(
                out,
                "<li><strong>{}</strong> {}: {}<br><span class=\"advice\">What to do: {}</span></li>",
                escape(line.class.as_str()),
                escape(&finding_subject(line)),
                escape(&line.detail),
                escape(advice(line.class))
            );
        }
        let _ = writeln!(out, "</ul>");
    }

    if !report.listed.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Refused, withdrawn or reported only ({})</h2>\n<ul>",
            report.listed.len()
        );
        for line in &report.listed {
            let _ = writeln!(
                out,
                "<li><strong>{}</strong> {}: {}</li>",
                escape(line.class.as_str()),
                escape(&finding_subject(line)),
                escape(&line.detail)
            );
        }
        let _ = writeln!(out, "</ul>");
    }

    if !report.deferred.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Deferred to later runs ({})</h2>\n<ul>",
            report.deferred.len()
        );
        for line in &report.deferred {
            let _ = writeln!(out, "<li>{}</li>", escape(&deferred_item(line)));
        }
        let _ = writeln!(out, "</ul>");
    }

    if !report.errors.is_empty() {
        let _ = writeln!(out, "<h2>Errors ({})</h2>\n<ul>", report.errors.len());
        for error in &report.errors {
            let _ = writeln!(out, "<li>{}</li>", escape(error));
        }
        let _ = writeln!(out, "</ul>");
    }

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
    out.push_str("</body>\n</html>\n");
    out
}

fn push_table(out: &mut String, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
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

/// Escapes text for an HTML element body or a quoted attribute value.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
