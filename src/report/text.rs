//! The plain-text report: what a person reads at 9am.
//!
//! Order: headline (outcome, corrections, pending, anomalies, quota), then corrections (who,
//! which day, which check point, before → after, by which approval), pending approvals,
//! anomalies with one actionable sentence each, deferred work, errors, and the counts and calls
//! at the bottom. Empty sections are left out. No colour and no terminal-width logic: the text
//! is the same on a terminal, in a mail or in a file.

use std::fmt::Write;

use super::present::{
    advice, before_after, calls_sentence, cause, check_point, counts_sentence, deferred_item,
    finding_subject, headline, local_time, pending_state, window,
};
use super::{RenderOptions, RunReport};

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let tz = options.tz;
    let mut out = String::new();
    let run = &report.run;
    // Writing into a String cannot fail.
    let _ = writeln!(out, "{}", headline(report));
    let _ = writeln!(
        out,
        "As of {} ({tz}); work dates {}.",
        local_time(run.as_of, tz),
        window(report)
    );

    if !report.corrections.is_empty() {
        let _ = writeln!(out, "\nCorrections ({})", report.corrections.len());
        for line in &report.corrections {
            let _ = writeln!(
                out,
                "  - {}, {} {}: {} [{}]",
                line.user_id,
                line.work_date,
                check_point(Some(&line.check_type), line.plan_id),
                before_after(line, tz),
                line.class,
            );
            let _ = writeln!(out, "    {}", cause(line, tz));
        }
    }

    if !report.pending.is_empty() {
        let _ = writeln!(out, "\nPending ({})", report.pending.len());
        for line in &report.pending {
            let day = line
                .work_date
                .map_or_else(|| "date unknown".to_owned(), |d| d.to_string());
            let _ = write!(
                out,
                "  - {}, {day} {}: {}",
                line.user_id,
                check_point(line.check_type.as_deref(), None),
                pending_state(line)
            );
            if let Some(since) = line.since {
                let _ = write!(out, " since {}", local_time(since, tz));
            }
            let _ = write!(out, "; approval {}", line.process_instance_id);
            if let Some(business_id) = &line.business_id {
                let _ = write!(out, ", business id {business_id}");
            }
            out.push('\n');
        }
    }

    if !report.anomalies.is_empty() {
        let _ = writeln!(out, "\nAnomalies ({})", report.anomalies.len());
        for line in &report.anomalies {
            let _ = writeln!(
                out,
                "  - [{}] {}: {}",
                line.class,
                finding_subject(line),
                line.detail
            );
            let _ = writeln!(out, "    What to do: {}", advice(line.class));
        }
    }

    if !report.listed.is_empty() {
        let _ = writeln!(
            out,
            "\nRefused, withdrawn or reported only ({})",
            report.listed.len()
        );
        for line in &report.listed {
            let _ = writeln!(
                out,
                "  - [{}] {}: {}",
                line.class,
                finding_subject(line),
                line.detail
            );
        }
    }

    if !report.deferred.is_empty() {
        let _ = writeln!(out, "\nDeferred to later runs ({})", report.deferred.len());
        for line in &report.deferred {
            let _ = writeln!(out, "  - {}", deferred_item(line));
        }
    }

    if !report.errors.is_empty() {
        let _ = writeln!(out, "\nErrors ({})", report.errors.len());
        for error in &report.errors {
            let _ = writeln!(out, "  - {error}");
        }
    }

    let _ = writeln!(out, "\nFindings: {}.", counts_sentence(report));
    let _ = writeln!(
        out,
        "Calls this run: {}.",
        calls_sentence(&report.api_calls)
    );
    out
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
