//! The Markdown report, for a chat message or a wiki page, in the report's language.
//!
//! By default a summary that fits one chat message ([`CHAT_LIMIT`] characters, DingTalk's group
//! robot included): the headline, the scope, counts by class and the busiest departments, and
//! what needs attention, as many lines of each kind as fit, each line cut to a readable length,
//! then how many were left out and the command for the whole report. With `--full`
//! ([`RenderOptions::full`]) every line, and the corrections as one table per department.
//!
//! Every value from outside is escaped by [`escape::markdown`](super::escape) so it reads
//! literally: control characters are shown as `\u{…}` escapes (so a value never breaks a line or
//! a table row), markup characters become entities or are backslash-escaped, table pipes are
//! escaped. GitHub-style pipe tables, nothing beyond.

use std::fmt::Write;

use super::escape::markdown as escape;
use super::present::{
    self, calls_sentence, class_counts, correction_cells, correction_columns, deferred_item,
    group_heading, headline, item_detail, item_subject, person_alone, quota, scope, subject, title,
    titles, totals,
};
use super::view::View;
use super::{Lang, RenderOptions, RunReport};

/// The most characters of the summary: what one chat message holds.
pub(crate) const CHAT_LIMIT: usize = 4000;

/// The most characters of one line of the summary, outside values included.
const LINE_LIMIT: usize = 160;

/// The most departments the summary lists.
const SUMMARY_DEPARTMENTS: usize = 8;

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let view = View::new(report);
    if options.full {
        full(&view, options)
    } else {
        summary(&view, options)
    }
}

/// `text` cut to `most` characters, with `…` when cut.
fn cut(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        text.to_owned()
    } else {
        let mut kept: String = text.chars().take(most.saturating_sub(1)).collect();
        kept.push('…');
        kept
    }
}

/// The head both forms share: title, headline, scope, class counts, quota.
fn head(out: &mut String, view: &View, options: &RenderOptions, line_limit: usize) {
    let (report, lang) = (view.report, options.lang);
    // Writing into a String cannot fail: the `fmt::Result`s below are discarded.
    let _ = writeln!(
        out,
        "### {}\n",
        escape(&cut(
            &format!("{} · {}", title(lang), subject(report, lang)),
            line_limit
        ))
    );
    let _ = writeln!(out, "**{}**\n", escape(&headline(view, lang)));
    for line in scope(report, options.tz, lang) {
        let _ = writeln!(out, "- {}", escape(&cut(&line, line_limit)));
    }
    let _ = writeln!(out, "- {}", escape(&class_counts(view, lang)));
    let _ = writeln!(
        out,
        "- {}",
        escape(&quota(&report.api_calls, report.coverage.is_some(), lang))
    );
}

/// The chat-sized summary.
fn summary(view: &View, options: &RenderOptions) -> String {
    let lang = options.lang;
    let words = titles(lang);
    let mut out = String::new();
    head(&mut out, view, options, LINE_LIMIT);

    let mut lines = Vec::new();
    if !view.departments.is_empty() {
        lines.push(format!("\n**{}**\n", escape(words.by_department)));
        let mut busiest: Vec<_> = view.departments.iter().collect();
        busiest.sort_by_key(|row| {
            std::cmp::Reverse((
                row.tally.attention,
                row.tally.corrections(),
                row.tally.pending,
            ))
        });
        for row in busiest.iter().take(SUMMARY_DEPARTMENTS) {
            let t = row.tally;
            lines.push(format!(
                "- {}{}{}",
                escape(&cut(&present::department(row.name, lang), 40)),
                present::detail_separator(lang),
                escape(&department_counts(
                    t.applied,
                    t.other,
                    t.pending,
                    t.attention,
                    lang
                ))
            ));
        }
        if view.departments.len() > SUMMARY_DEPARTMENTS {
            lines.push(format!(
                "- {}",
                escape(&more(view.departments.len() - SUMMARY_DEPARTMENTS, lang))
            ));
        }
    }
    lines.push(format!(
        "\n**{} ({})**\n",
        escape(words.attention),
        view.needs_action()
    ));
    if view.attention.is_empty() {
        lines.push(escape(words.nothing_to_do));
    }
    let mut omitted = 0usize;
    let footer_reserve = 400;
    let fits = |out: &mut String, line: &str| {
        if out.chars().count() + line.chars().count() + 1 + footer_reserve <= CHAT_LIMIT {
            let _ = writeln!(out, "{line}");
            true
        } else {
            false
        }
    };
    for line in &lines {
        fits(&mut out, line);
    }
    for section in &view.attention {
        let heading = format!(
            "- **{} ({})** {}",
            escape(present::attention_title(section.kind, lang)),
            section.items.len(),
            escape(present::advice(section.kind, lang))
        );
        if !fits(&mut out, &heading) {
            omitted += section.items.len();
            continue;
        }
        for item in &section.items {
            let detail = item_detail(item, view.report.run.as_of, options.tz, lang);
            let line = if detail.is_empty() {
                item_subject(item, lang)
            } else {
                format!(
                    "{}{}{detail}",
                    item_subject(item, lang),
                    present::detail_separator(lang)
                )
            };
            if !fits(
                &mut out,
                &format!("  - {}", escape(&cut(&line, LINE_LIMIT))),
            ) {
                omitted += 1;
            }
        }
    }
    if omitted > 0 {
        let _ = writeln!(out, "\n{}", escape(&more(omitted, lang)));
    }
    let _ = writeln!(
        out,
        "\n{}",
        escape(lang.pick(
            "完整报告：dingtalk-reconcile report --format markdown --full（或 --format html）",
            "Whole report: dingtalk-reconcile report --format markdown --full (or --format html)",
        ))
    );
    out
}

/// `补卡 3 · 其他 1 · 待生效 2 · 需处理 1`.
fn department_counts(applied: u64, other: u64, pending: u64, attention: u64, lang: Lang) -> String {
    match lang {
        Lang::Zh => {
            format!("补卡 {applied} · 其他 {other} · 待生效 {pending} · 需处理 {attention}")
        }
        Lang::En => {
            format!("补卡 {applied} · other {other} · awaiting {pending} · to act on {attention}")
        }
    }
}

/// `另有 12 项未列出` / `12 more not listed`.
fn more(count: usize, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("……另有 {count} 项未列出"),
        Lang::En => format!("… {count} more not listed"),
    }
}

/// Every line: the head, departments, attention, the corrections by department, deferred
/// work, errors and calls.
fn full(view: &View, options: &RenderOptions) -> String {
    let (report, tz, lang) = (view.report, options.tz, options.lang);
    let words = titles(lang);
    let mut out = String::new();
    head(&mut out, view, options, usize::MAX);
    if !view.departments.is_empty() {
        let _ = writeln!(out, "\n#### {}\n", escape(words.by_department));
        table_head(&mut out, &present::department_columns(lang));
        for row in &view.departments {
            let t = row.tally;
            table_row(
                &mut out,
                &[
                    present::department(row.name, lang),
                    row.people.to_string(),
                    t.applied.to_string(),
                    t.other.to_string(),
                    t.pending.to_string(),
                    t.refused.to_string(),
                    t.attention.to_string(),
                ],
            );
        }
    }
    let _ = writeln!(
        out,
        "\n#### {} ({})\n",
        escape(words.attention),
        view.needs_action()
    );
    if view.attention.is_empty() {
        let _ = writeln!(out, "{}", escape(words.nothing_to_do));
    }
    for section in &view.attention {
        let _ = writeln!(
            out,
            "- **{} ({})** {}",
            escape(present::attention_title(section.kind, lang)),
            section.items.len(),
            escape(present::advice(section.kind, lang))
        );
        for item in &section.items {
            let detail = item_detail(item, report.run.as_of, tz, lang);
            if detail.is_empty() {
                let _ = writeln!(out, "  - {}", escape(&item_subject(item, lang)));
            } else {
                let _ = writeln!(
                    out,
                    "  - {}{}{}",
                    escape(&item_subject(item, lang)),
                    present::detail_separator(lang),
                    escape(&detail)
                );
            }
        }
    }
    if !view.groups.is_empty() {
        let _ = writeln!(out, "\n#### {}", escape(words.corrections));
    }
    let person_column = lang.pick("人员", "Person");
    for group in &view.groups {
        let _ = writeln!(
            out,
            "\n**{}**\n",
            escape(&group_heading(
                group.department,
                group.people.len(),
                group.corrections(),
                lang
            ))
        );
        let columns = correction_columns(lang);
        let mut header = vec![person_column];
        header.extend(columns);
        table_head(&mut out, &header);
        for person in &group.people {
            for (at, line) in person.lines.iter().enumerate() {
                let who = if at == 0 {
                    format!(
                        "{} — {}",
                        person_alone(person.user_id, person.name),
                        totals(&person.totals, lang)
                    )
                } else {
                    String::new()
                };
                let mut cells = vec![who];
                cells.extend(correction_cells(line, tz, lang));
                table_row(&mut out, &cells);
            }
        }
    }
    if !report.deferred.is_empty() {
        let _ = writeln!(out, "\n#### {}\n", escape(words.deferred));
        for line in &report.deferred {
            let _ = writeln!(out, "- {}", escape(&deferred_item(line, lang)));
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n#### {}\n", escape(words.errors));
        for error in &report.errors {
            let _ = writeln!(out, "- {}", escape(error));
        }
    }
    let _ = writeln!(
        out,
        "\n{}{}{}",
        escape(words.calls),
        present::detail_separator(lang),
        escape(&calls_sentence(&report.api_calls, lang))
    );
    out
}

fn table_head(out: &mut String, columns: &[&str]) {
    out.push('|');
    for column in columns {
        out.push(' ');
        out.push_str(&escape(column));
        out.push_str(" |");
    }
    out.push_str("\n|");
    for _ in columns {
        out.push_str(" --- |");
    }
    out.push('\n');
}

fn table_row(out: &mut String, cells: &[String]) {
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

    fn options(lang: Lang, full: bool) -> RenderOptions {
        RenderOptions {
            lang,
            full,
            ..RenderOptions::new(chrono_tz::Asia::Shanghai)
        }
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
    fn markdown_summary_matches_its_snapshot_in_chinese() {
        let text = render(&rich_report(), &options(Lang::Zh, false));
        assert!(!text.contains("<script>"), "{text}");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn markdown_summary_matches_its_snapshot_in_english() {
        insta::assert_snapshot!(render(&rich_report(), &options(Lang::En, false)));
    }

    #[test]
    fn full_markdown_matches_its_snapshot_in_chinese() {
        insta::assert_snapshot!(render(&rich_report(), &options(Lang::Zh, true)));
    }

    #[test]
    fn full_markdown_matches_its_snapshot_in_english() {
        insta::assert_snapshot!(render(&rich_report(), &options(Lang::En, true)));
    }

    #[test]
    fn the_summary_fits_a_chat_message_however_many_lines_and_however_long_the_names() {
        let mut report = rich_report();
        let template = report.pending[0].clone();
        for n in 0..3000 {
            let mut line = template.clone();
            line.process_instance_id = format!("p-{n}");
            line.name = Some("名".repeat(10_000));
            line.department = Some(format!("部门{}", n % 60));
            report.pending.push(line);
        }
        for lang in [Lang::Zh, Lang::En] {
            let text = render(&report, &options(lang, false));
            assert!(
                text.chars().count() <= CHAT_LIMIT,
                "{lang}: {} characters",
                text.chars().count()
            );
            assert!(
                text.contains(lang.pick("项未列出", "more not listed")),
                "{text}"
            );
            let whole = render(&report, &options(lang, true));
            assert!(whole.chars().count() > 3000 * 10_000);
        }
    }
}
