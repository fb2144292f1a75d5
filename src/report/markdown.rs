//! The Markdown report: headline and tables, for a wiki page or a chat message.
//!
//! Every value from outside is escaped so it reads literally: markup characters become entities
//! or are backslash-escaped, table pipes are escaped, line breaks become spaces. This module does
//! not target one Markdown dialect's extensions beyond GitHub-style pipe tables.

use std::fmt::Write;

use super::present::{
    advice, before_after, calls_sentence, cause, check_point, counts_sentence, deferred_item,
    finding_subject, headline, local_time, pending_state, window,
};
use super::{RenderOptions, RunReport};

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(out, "# Reconciliation report\n");
    let _ = writeln!(out, "**{}**\n", escape(&headline(report)));
    let _ = writeln!(
        out,
        "As of {} ({tz}); work dates {}.",
        escape(&local_time(report.run.as_of, tz)),
        escape(&window(report))
    );

    if !report.corrections.is_empty() {
        let _ = writeln!(out, "\n## Corrections ({})\n", report.corrections.len());
        let _ = writeln!(
            out,
            "| user | work date | check point | change | class | cause |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for line in &report.corrections {
            let cells = [
                line.user_id.clone(),
                line.work_date.to_string(),
                check_point(Some(&line.check_type), line.plan_id),
                before_after(line, tz),
                line.class.to_string(),
                cause(line, tz),
            ];
            push_row(&mut out, &cells);
        }
    }

    if !report.pending.is_empty() {
        let _ = writeln!(out, "\n## Pending ({})\n", report.pending.len());
        let _ = writeln!(
            out,
            "| user | work date | check point | state | since | approval | business id |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for line in &report.pending {
            let cells = [
                line.user_id.clone(),
                line.work_date.map(|d| d.to_string()).unwrap_or_default(),
                check_point(line.check_type.as_deref(), None),
                pending_state(line),
                line.since.map(|at| local_time(at, tz)).unwrap_or_default(),
                line.process_instance_id.clone(),
                line.business_id.clone().unwrap_or_default(),
            ];
            push_row(&mut out, &cells);
        }
    }

    if !report.anomalies.is_empty() {
        let _ = writeln!(out, "\n## Anomalies ({})\n", report.anomalies.len());
        for line in &report.anomalies {
            let _ = writeln!(
                out,
                "- **{}** {}: {}  \n  *What to do:* {}",
                line.class,
                escape(&finding_subject(line)),
                escape(&line.detail),
                escape(advice(line.class))
            );
        }
    }

    if !report.listed.is_empty() {
        let _ = writeln!(
            out,
            "\n## Refused, withdrawn or reported only ({})\n",
            report.listed.len()
        );
        for line in &report.listed {
            let subject = escape(&finding_subject(line));
            let _ = writeln!(
                out,
                "- **{}** {subject}: {}",
                line.class,
                escape(&line.detail)
            );
        }
    }

    if !report.deferred.is_empty() {
        let _ = writeln!(
            out,
            "\n## Deferred to later runs ({})\n",
            report.deferred.len()
        );
        for line in &report.deferred {
            let _ = writeln!(out, "- {}", escape(&deferred_item(line)));
        }
    }

    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n## Errors ({})\n", report.errors.len());
        for error in &report.errors {
            let _ = writeln!(out, "- {}", escape(error));
        }
    }

    let _ = writeln!(out, "\n## Counts\n");
    let _ = writeln!(out, "Findings: {}.  ", escape(&counts_sentence(report)));
    let _ = writeln!(
        out,
        "Calls this run: {}.",
        escape(&calls_sentence(&report.api_calls))
    );
    out
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

/// Makes text read literally in Markdown, inside a paragraph or a table cell.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' | '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
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
        check_escape("two\nlines", "two lines");
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
