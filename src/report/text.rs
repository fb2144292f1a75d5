//! The plain-text report: what a person reads at 9am.
//!
//! Order: headline (outcome, corrections, pending, anomalies, quota), then corrections (who,
//! which day, which check point, before → after, by which approval), pending approvals,
//! anomalies with one actionable sentence each, deferred work, errors, and the counts and calls
//! at the bottom. Empty sections are left out. No colour and no terminal-width logic: the text
//! is the same on a terminal, in a mail or in a file. Every value from outside goes through
//! [`escape::shown`](super::escape), so the only line breaks and control characters in the text
//! are the renderer's own newlines.

use std::fmt::Write;

use chrono_tz::Tz;

use super::escape::shown;
use super::present::{
    advice, before_after, calls_sentence, cause, check_point, counts_sentence, deferred_item,
    finding_subject, headline, local_time, pending_state, person, window,
};
use super::{AnomalyLine, CorrectionLine, PendingLine, RenderOptions, RunReport};

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    write_header(&mut out, report, tz);
    section(&mut out, "Corrections", &report.corrections, |out, line| {
        write_correction(out, line, tz)
    });
    section(&mut out, "Pending", &report.pending, |out, line| {
        write_pending(out, line, tz)
    });
    section(&mut out, "Anomalies", &report.anomalies, write_anomaly);
    section(
        &mut out,
        "Refused, withdrawn or reported only",
        &report.listed,
        write_finding,
    );
    section(
        &mut out,
        "Deferred to later runs",
        &report.deferred,
        |out, line| bullet(out, &deferred_item(line)),
    );
    section(&mut out, "Errors", &report.errors, |out, error| {
        bullet(out, &shown(error).to_string())
    });
    write_footer(&mut out, report);
    out
}

// Writing into a String cannot fail: the `fmt::Result`s below are discarded.

/// The headline and the line saying when and over which work dates.
fn write_header(out: &mut String, report: &RunReport, tz: Tz) {
    let _ = writeln!(out, "{}", headline(report));
    let _ = writeln!(
        out,
        "As of {} ({tz}); work dates {}.",
        local_time(report.run.as_of, tz),
        window(report)
    );
}

/// A titled section with its item count and one entry per item; nothing when there are no items.
fn section<T>(out: &mut String, title: &str, items: &[T], mut entry: impl FnMut(&mut String, &T)) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title} ({})", items.len());
    for item in items {
        entry(out, item);
    }
}

fn bullet(out: &mut String, text: &str) {
    let _ = writeln!(out, "  - {text}");
}

/// Who, which day, which check point, before → after and class; then the cause.
fn write_correction(out: &mut String, line: &CorrectionLine, tz: Tz) {
    let _ = writeln!(
        out,
        "  - {}, {} {}: {} [{}]",
        person(
            &line.user_id,
            line.name.as_deref(),
            line.department.as_deref()
        ),
        line.work_date,
        check_point(Some(&line.check_type), line.plan_id),
        before_after(line, tz),
        line.class,
    );
    let _ = writeln!(out, "    {}", cause(line, tz));
}

/// One line per pending approval; what is not known is left out.
fn write_pending(out: &mut String, line: &PendingLine, tz: Tz) {
    let day = line
        .work_date
        .map_or_else(|| "date unknown".to_owned(), |d| d.to_string());
    let _ = write!(
        out,
        "  - {}, {day} {}: {}",
        person(
            &line.user_id,
            line.name.as_deref(),
            line.department.as_deref()
        ),
        check_point(line.check_type.as_deref(), None),
        pending_state(line)
    );
    if let Some(since) = line.since {
        let _ = write!(out, " since {}", local_time(since, tz));
    }
    let _ = write!(out, "; approval {}", shown(&line.process_instance_id));
    if let Some(business_id) = &line.business_id {
        let _ = write!(out, ", business id {}", shown(business_id));
    }
    out.push('\n');
}

/// A finding with the sentence saying what to do about it.
fn write_anomaly(out: &mut String, line: &AnomalyLine) {
    write_finding(out, line);
    let _ = writeln!(out, "    What to do: {}", advice(line.class));
}

/// `[class] subject: detail`.
fn write_finding(out: &mut String, line: &AnomalyLine) {
    let _ = writeln!(
        out,
        "  - [{}] {}: {}",
        line.class,
        finding_subject(line),
        shown(&line.detail)
    );
}

/// The class counts and the calls, at the bottom.
fn write_footer(out: &mut String, report: &RunReport) {
    let _ = writeln!(out, "\nFindings: {}.", counts_sentence(report));
    let _ = writeln!(
        out,
        "Calls this run: {}.",
        calls_sentence(&report.api_calls)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;
    use crate::report::{ApiCalls, RunReport};

    fn shanghai() -> RenderOptions {
        RenderOptions {
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    #[test]
    fn text_report_matches_its_snapshot() {
        insta::assert_snapshot!(render(&rich_report(), &shanghai()));
    }

    #[test]
    fn text_report_shows_times_in_the_business_time_zone() {
        let text = render(&rich_report(), &shanghai());
        // 2026-11-04T02:15Z is 10:15 in Shanghai.
        assert!(text.contains("approved 2026-11-04 10:15 CST"), "{text}");
        let utc = render(&rich_report(), &RenderOptions { tz: chrono_tz::UTC });
        assert!(utc.contains("approved 2026-11-04 02:15 UTC"), "{utc}");
    }

    #[test]
    fn a_range_report_names_its_work_dates_what_was_reconciled_and_the_gaps() {
        let mut report = rich_report();
        report.run.kind = "range".into();
        let day = |raw: &str| raw.parse().unwrap();
        let window = |from: &str, to: &str| crate::report::Window {
            from: day(from),
            to: day(to),
        };
        report.coverage = Some(crate::report::Coverage {
            reconciled: vec![
                window("2026-10-29", "2026-10-31"),
                window("2026-11-02", "2026-11-02"),
            ],
            partly: vec![window("2026-11-03", "2026-11-03")],
            not_reconciled: vec![window("2026-11-01", "2026-11-01")],
        });
        let text = render(&report, &shanghai());
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("Work dates 2026-10-29 … 2026-11-03 (latest run #42 partial): "),
            "{text}"
        );
        assert_eq!(
            lines.next().unwrap(),
            "As of 2026-11-05 02:10 CST (Asia/Shanghai); work dates 2026-10-29 … 2026-11-03 \
             (reconciled 2026-10-29 … 2026-10-31, 2026-11-02; read only by runs that did not end \
             done: 2026-11-03; not reconciled: 2026-11-01)."
        );
        let json = crate::report::json::render(&report);
        assert!(json.contains("\"not_reconciled\": [\n"), "{json}");
    }

    #[test]
    fn an_empty_run_reads_as_one_calm_headline_without_empty_sections() {
        let full = rich_report();
        let calls = ApiCalls {
            by_endpoint: Default::default(),
            metered: 0,
            ..full.api_calls
        };
        let report = RunReport::empty(full.run, calls);
        let text = render(&report, &shanghai());
        assert!(text.starts_with(
            "Run #42 (run) partial: 0 corrections applied, 0 approvals pending, 0 anomalies;"
        ));
        assert!(!text.contains("Corrections ("), "{text}");
        assert!(text.contains("Findings: none."), "{text}");
    }
}
