//! The plain-text report: what a person reads at 9am, in the report's language.
//!
//! The people-first shape of [`View`]: title and headline, the scope (as of, which work dates
//! were reconciled), the summary (corrections by class, by department, the quota), what needs
//! attention (one section per kind with what to do, then its lines), the corrections grouped
//! department → person → date with each person's totals, and at the bottom what was deferred,
//! the errors and the calls. Empty sections are left out. No colour and no terminal-width logic:
//! the text is the same on a terminal, in a mail or in a file. Every value from outside goes
//! through [`escape::plain`](super::escape), so the only line breaks and control characters in
//! the text are the renderer's own newlines.

use std::fmt::Write;

use super::escape::plain;
use super::present::{
    self, calls_sentence, class_counts, correction_cells, deferred_item, group_heading, headline,
    item_detail, item_subject, person_alone, quota, scope, subject, title, titles, totals,
};
use super::view::View;
use super::{RenderOptions, RunReport};

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let (tz, lang) = (options.tz, options.lang);
    let view = View::new(report);
    let words = titles(lang);
    let mut out = String::new();
    // Writing into a String cannot fail: the `fmt::Result`s below are discarded.
    let _ = writeln!(out, "{} · {}", title(lang), subject(report, lang));
    let _ = writeln!(out, "{}", headline(&view, lang));
    for line in scope(report, tz, lang) {
        let _ = writeln!(out, "{line}");
    }

    let _ = writeln!(out, "\n{}", words.summary);
    let _ = writeln!(out, "  {}", class_counts(&view, lang));
    let _ = writeln!(
        out,
        "  {}",
        quota(&report.api_calls, report.coverage.is_some(), lang)
    );
    if !view.departments.is_empty() {
        let _ = writeln!(out, "\n{}", words.by_department);
        for row in &view.departments {
            let _ = writeln!(out, "  {}", present::department_sentence(row, lang));
        }
    }

    let _ = writeln!(out, "\n{} ({})", words.attention, view.needs_action());
    if view.attention.is_empty() {
        let _ = writeln!(out, "  {}", words.nothing_to_do);
    }
    for section in &view.attention {
        let _ = writeln!(
            out,
            "  {} ({})",
            present::attention_title(section.kind, lang),
            section.items.len()
        );
        let _ = writeln!(
            out,
            "    {}{}",
            words.what_to_do,
            present::advice(section.kind, lang)
        );
        for item in &section.items {
            let detail = item_detail(item, report.run.as_of, tz, lang);
            if detail.is_empty() {
                let _ = writeln!(out, "    - {}", item_subject(item, lang));
            } else {
                let _ = writeln!(
                    out,
                    "    - {}{}{detail}",
                    item_subject(item, lang),
                    present::detail_separator(lang)
                );
            }
        }
    }

    if !view.groups.is_empty() {
        let _ = writeln!(out, "\n{}", words.corrections);
    }
    for group in &view.groups {
        let _ = writeln!(
            out,
            "  {}",
            group_heading(
                group.department,
                group.people.len(),
                group.corrections(),
                lang
            )
        );
        for person in &group.people {
            let _ = writeln!(
                out,
                "    {} — {}",
                person_alone(person.user_id, person.name),
                totals(&person.totals, lang)
            );
            for line in &person.lines {
                let cells = correction_cells(line, tz, lang);
                let parts: Vec<&str> = cells
                    .iter()
                    .map(String::as_str)
                    .filter(|cell| !cell.is_empty())
                    .collect();
                let _ = writeln!(out, "      {}", parts.join("  "));
            }
        }
    }

    if !report.deferred.is_empty() {
        let _ = writeln!(out, "\n{} ({})", words.deferred, report.deferred.len());
        for line in &report.deferred {
            let _ = writeln!(out, "  - {}", deferred_item(line, lang));
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n{} ({})", words.errors, report.errors.len());
        for error in &report.errors {
            let _ = writeln!(out, "  - {}", plain(error));
        }
    }
    let _ = writeln!(
        out,
        "\n{}{}{}",
        words.calls,
        present::detail_separator(lang),
        calls_sentence(&report.api_calls, lang)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;
    use crate::report::{ApiCalls, Lang, RunReport};

    fn options(lang: Lang) -> RenderOptions {
        RenderOptions {
            lang,
            ..RenderOptions::new(chrono_tz::Asia::Shanghai)
        }
    }

    #[test]
    fn text_report_matches_its_snapshot_in_chinese() {
        insta::assert_snapshot!(render(&rich_report(), &options(Lang::Zh)));
    }

    #[test]
    fn text_report_matches_its_snapshot_in_english() {
        insta::assert_snapshot!(render(&rich_report(), &options(Lang::En)));
    }

    #[test]
    fn people_facing_text_has_no_api_words_internal_keys_or_pipes_in_values() {
        for lang in [Lang::Zh, Lang::En] {
            let text = render(&rich_report(), &options(lang));
            for word in [
                "OnDuty",
                "OffDuty",
                "NotSigned",
                "supply_applied",
                "admin_edit",
                "|plan:",
                "plan 437",
                "approved_not_visible",
            ] {
                assert!(!text.contains(word), "{lang}: {word} in\n{text}");
            }
        }
    }

    #[test]
    fn text_report_shows_times_in_the_business_time_zone() {
        let mut report = rich_report();
        report.run.kind = "range".into();
        let text = render(&report, &options(Lang::Zh));
        assert!(text.contains("截至 2026-11-05 02:10 CST"), "{text}");
        let utc = render(&report, &RenderOptions::new(chrono_tz::UTC));
        assert!(utc.contains("截至 2026-11-04 18:10 UTC"), "{utc}");
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
        let text = render(&report, &options(Lang::En));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Attendance reconciliation report · 2026-10-29 … 2026-11-03"
        );
        assert_eq!(
            lines[3],
            "reconciled 2026-10-29 … 2026-10-31, 2026-11-02; read only by runs that did not \
             finish: 2026-11-03; not reconciled: 2026-11-01"
        );
        assert_eq!(lines[4], "Latest run #42 partly done");
        let zh = render(&report, &options(Lang::Zh));
        assert!(zh.contains("未核对：2026-11-01"), "{zh}");
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
        let text = render(&report, &options(Lang::Zh));
        assert!(
            text.contains("补卡已生效 0 项，其他更正 0 项，待生效 0 项，需要处理 0 项"),
            "{text}"
        );
        assert!(text.contains("没有需要处理的事项。"), "{text}");
        assert!(!text.contains("更正明细"), "{text}");
    }
}
