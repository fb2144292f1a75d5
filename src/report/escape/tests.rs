use proptest::prelude::*;

use super::*;
use crate::report::fixture::{arb_outside_text, report_with_texts};
use crate::report::{RenderOptions, ReportFormat, render};

#[track_caller]
fn check_plain(raw: &str, expected: &str) {
    assert_eq!(plain(raw), expected, "plain({raw:?})");
    assert_eq!(shown(raw).to_string(), expected, "shown({raw:?})");
}

#[test]
fn every_hostile_class_is_shown_as_a_visible_escape() {
    // C0, including the ones that move the cursor or end a line.
    check_plain("a\u{1b}[2Jb", "a\\u{1b}[2Jb");
    check_plain("bell\u{7}", "bell\\u{7}");
    check_plain("over\rwrite", "over\\u{d}write");
    check_plain("two\nlines", "two\\u{a}lines");
    check_plain("tab\there", "tab\\u{9}here");
    check_plain("nul\u{0}", "nul\\u{0}");
    check_plain("back\u{8}space", "back\\u{8}space");
    // DEL and C1 (U+009B is the one-character CSI).
    check_plain("del\u{7f}", "del\\u{7f}");
    check_plain("\u{9b}31m", "\\u{9b}31m");
    check_plain("nel\u{85}", "nel\\u{85}");
    check_plain("\u{80}\u{9f}", "\\u{80}\\u{9f}");
    // Bidi overrides, embeddings, isolates and marks.
    check_plain("exe.\u{202e}fdp", "exe.\\u{202e}fdp");
    check_plain(
        "\u{202a}\u{202b}\u{202c}\u{202d}",
        "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
    );
    check_plain("\u{2066}x\u{2069}", "\\u{2066}x\\u{2069}");
    check_plain("\u{2067}\u{2068}", "\\u{2067}\\u{2068}");
    check_plain("\u{200e}\u{200f}\u{61c}", "\\u{200e}\\u{200f}\\u{61c}");
    // Line and paragraph separators.
    check_plain("a\u{2028}b\u{2029}", "a\\u{2028}b\\u{2029}");
}

#[test]
fn ordinary_text_is_left_as_it_is() {
    check_plain("0126", "0126");
    check_plain("忘记打卡", "忘记打卡");
    check_plain("补卡申请（门店）", "补卡申请（门店）");
    check_plain("=SUM(1+1) @x -3 +4", "=SUM(1+1) @x -3 +4");
    check_plain("C:\\path", "C:\\path");
    check_plain("", "");
    check_plain("emoji 👍 and zwj 👩‍💻", "emoji 👍 and zwj 👩‍💻");
    assert!(matches!(plain("0126"), Cow::Borrowed(_)));
}

#[test]
fn shown_keeps_width_and_alignment_on_the_escaped_text() {
    assert_eq!(format!("{:<8}|", shown("OnDuty")), "OnDuty  |");
    assert_eq!(format!("{:<8}|", shown("a\u{1b}")), "a\\u{1b} |");
    assert_eq!(format!("{:>4}|", shown("x")), "   x|");
}

#[track_caller]
fn check_markdown(raw: &str, expected: &str) {
    assert_eq!(markdown(raw), expected, "markdown({raw:?})");
}

#[test]
fn markdown_values_cannot_forge_cells_headings_code_links_or_lines() {
    check_markdown("a|b", "a\\|b");
    check_markdown("# heading", "\\# heading");
    check_markdown("`code`", "\\`code\\`");
    check_markdown("<img src=x>", "&lt;img src=x&gt;");
    check_markdown("[click](http://x)", "\\[click\\](http://x)");
    check_markdown("![i](x)", "\\!\\[i\\](x)");
    check_markdown("**b** _i_ ~s~", "\\*\\*b\\*\\* \\_i\\_ \\~s\\~");
    check_markdown("$x$ & y", "\\$x\\$ &amp; y");
    check_markdown("x\n| forged | row |", "x\\\\u{a}\\| forged \\| row \\|");
    check_markdown("esc\u{1b}[31m", "esc\\\\u{1b}\\[31m");
    check_markdown("0126", "0126");
}

#[track_caller]
fn check_html(raw: &str, expected: &str) {
    assert_eq!(html(raw), expected, "html({raw:?})");
}

#[test]
fn html_values_cannot_become_markup_or_leave_an_attribute() {
    check_html(
        "<script>alert(1)</script>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    );
    check_html("\" onmouseover='x'", "&quot; onmouseover=&#39;x&#39;");
    check_html("a&b", "a&amp;b");
    check_html("esc\u{1b}\u{202e}", "esc\\u{1b}\\u{202e}");
    check_html("忘记打卡", "忘记打卡");
}

#[track_caller]
fn check_csv(raw: &str, expected: &str) {
    assert_eq!(csv_text(raw), expected, "csv_text({raw:?})");
}

#[test]
fn csv_text_cells_starting_with_a_formula_trigger_read_as_text() {
    check_csv(
        "=HYPERLINK(\"http://x\",\"y\")",
        "'=HYPERLINK(\"http://x\",\"y\")",
    );
    check_csv("@SUM(1+1)", "'@SUM(1+1)");
    check_csv("+1", "'+1");
    check_csv("-1+cmd|' /C calc'!A0", "'-1+cmd|' /C calc'!A0");
    // TAB and CR are shown escaped first, so the cell starts with a backslash.
    check_csv("\t=1", "\\u{9}=1");
    check_csv("\r=1", "\\u{d}=1");
    // Only the first character matters.
    check_csv("a=1", "a=1");
    check_csv("0126", "0126");
    check_csv("", "");
}

/// Every line (the Markdown summary leaves out what does not fit a chat message, so its length
/// depends on the values').
fn options() -> RenderOptions {
    RenderOptions {
        full: true,
        ..RenderOptions::new(chrono_tz::Asia::Shanghai)
    }
}

/// A harmless stand-in for each of `texts` that keeps which of them are equal and which are
/// blank: the people-first shape groups lines by person and department and leaves out blank
/// values, so only such a stand-in renders to the same lines.
fn neutral_texts(texts: &[String]) -> Vec<String> {
    texts
        .iter()
        .map(|text| {
            let first = texts.iter().position(|other| other == text).unwrap_or(0);
            if text.is_empty() {
                String::new()
            } else if text.trim().is_empty() {
                " ".repeat(first + 1)
            } else {
                format!("v{first}")
            }
        })
        .collect()
}

/// The unescaped pipes of a Markdown line (a pipe after an odd run of backslashes is escaped).
fn cell_separators(line: &str) -> usize {
    let mut backslashes = 0;
    let mut pipes = 0;
    for c in line.chars() {
        match c {
            '\\' => backslashes += 1,
            '|' if backslashes % 2 == 0 => {
                pipes += 1;
                backslashes = 0;
            }
            _ => backslashes = 0,
        }
    }
    pipes
}

proptest! {
    #[test]
    fn hostile_values_keep_the_shape_of_text_markdown_and_html_and_no_control_character(
        texts in proptest::collection::vec(arb_outside_text(), 96),
    ) {
        let mut cycle = texts.iter().cycle();
        let hostile = report_with_texts(|| cycle.next().cloned().unwrap_or_default());
        let neutral_texts = neutral_texts(&texts);
        let mut neutral_cycle = neutral_texts.iter().cycle();
        let neutral = report_with_texts(|| neutral_cycle.next().cloned().unwrap_or_default());
        for format in [ReportFormat::Text, ReportFormat::Markdown, ReportFormat::Html] {
            let rendered = render(&hostile, format, &options()).unwrap();
            let expected = render(&neutral, format, &options()).unwrap();
            prop_assert_eq!(hostile_chars(&rendered), Vec::<char>::new(), "{}: {}", format, rendered);
            // Every value stays on its line: the hostile report has exactly the lines of the
            // harmless one.
            prop_assert_eq!(
                rendered.lines().count(),
                expected.lines().count(),
                "{}: {}",
                format,
                rendered
            );
            if format == ReportFormat::Markdown {
                // And a value cannot add or remove a table cell.
                for (line, expected_line) in rendered.lines().zip(expected.lines()) {
                    prop_assert_eq!(cell_separators(line), cell_separators(expected_line), "{}", line);
                }
                prop_assert!(
                    rendered.lines().zip(expected.lines()).all(|(line, expected_line)| {
                        line.starts_with('#') == expected_line.starts_with('#')
                    }),
                    "{}",
                    rendered
                );
            }
        }
    }
}

// People's texts: names, departments, reasons, approvers and their remarks come from DingTalk's
// directory and forms, typed by anyone. Each hostile string, in every field a person-facing
// format shows, must come out escaped or neutralised in every format.

/// `csv` without its `"=""0126"""` id cells (the one formula-looking form the writer makes
/// itself: a string constant of id characters only, quoted as RFC 4180 requires).
fn without_id_cells(csv: &str) -> String {
    const OPEN: &str = ",\"=\"\"";
    const CLOSE: &str = "\"\"\"";
    let mut out = String::with_capacity(csv.len());
    let mut rest = csv;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..=at]);
        let after = &rest[at + OPEN.len()..];
        let id_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.:".contains(c)))
            .unwrap_or(after.len());
        if after[id_len..].starts_with(CLOSE) {
            rest = &after[id_len + CLOSE.len()..];
        } else {
            out.push_str(&OPEN[1..]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The hostile strings the people-facing formats are tried with.
fn hostile_people_texts() -> Vec<String> {
    vec![
        "<script>alert(1)</script>".to_owned(),
        "=HYPERLINK(\"http://evil.example/\",\"点我\")".to_owned(),
        "+1-2@cmd|' /C calc'!A0".to_owned(),
        "\u{1b}[31m红色\u{1b}[0m\u{1b}]0;title\u{7}".to_owned(),
        "第一行\n第二行\r\n第三行\u{2028}第四行".to_owned(),
        "右\u{202e}左\u{2066}隔离".to_owned(),
        "| 表格 | ### 标题 `代码` [链接](x) ![图](y)".to_owned(),
        "名".repeat(10_000),
    ]
}

/// `rich_report` with every name, department, reason, approver name and remark set to `text`.
fn report_with_people_text(text: &str) -> crate::report::RunReport {
    let mut report = crate::report::fixture::rich_report();
    let approver = crate::report::Approver {
        user_id: "0126000001".to_owned(),
        name: Some(text.to_owned()),
        remark: Some(text.to_owned()),
    };
    for line in &mut report.corrections {
        line.name = Some(text.to_owned());
        line.department = Some(text.to_owned());
        line.reason = Some(text.to_owned());
        line.approver = Some(approver.clone());
    }
    for line in report.pending.iter_mut().chain(&mut report.in_progress) {
        line.name = Some(text.to_owned());
        line.department = Some(text.to_owned());
        line.reason = Some(text.to_owned());
        line.approver = Some(approver.clone());
    }
    for line in report.anomalies.iter_mut().chain(&mut report.listed) {
        line.name = Some(text.to_owned());
        line.department = Some(text.to_owned());
        line.reason = Some(text.to_owned());
        line.approver = Some(approver.clone());
    }
    report
}

#[test]
fn hostile_names_departments_and_reasons_are_escaped_or_neutralised_in_every_format() {
    use crate::report::{Lang, render_file};
    for text in hostile_people_texts() {
        let report = report_with_people_text(&text);
        for lang in [Lang::Zh, Lang::En] {
            for full in [false, true] {
                let options = RenderOptions {
                    lang,
                    full,
                    ..RenderOptions::new(chrono_tz::Asia::Shanghai)
                };
                for format in [
                    ReportFormat::Text,
                    ReportFormat::Markdown,
                    ReportFormat::Html,
                ] {
                    let rendered = render(&report, format, &options).unwrap();
                    let what = format!("{format} {lang} full={full} {:.40}", text);
                    assert_eq!(hostile_chars(&rendered), Vec::<char>::new(), "{what}");
                    if format != ReportFormat::Text {
                        assert!(!rendered.contains("<script>alert"), "{what}");
                    }
                    if format == ReportFormat::Markdown {
                        let links = rendered
                            .match_indices("](")
                            .all(|(at, _)| rendered[..at].ends_with('\\'));
                        assert!(links, "{what}: a link survived");
                    }
                    if format == ReportFormat::Markdown && !full {
                        assert!(
                            rendered.chars().count() <= crate::report::markdown_chat_limit(),
                            "{what}: {} characters",
                            rendered.chars().count()
                        );
                    }
                    if format == ReportFormat::Html {
                        // The page's own filter script is the only one.
                        assert_eq!(rendered.matches("<script").count(), 1, "{what}");
                    }
                }
            }
        }
        // CSV: no cell a spreadsheet would evaluate, no raw control character but the row ends.
        let csv = render(&report, ReportFormat::Csv, &options()).unwrap();
        assert_eq!(hostile_chars(&csv.replace("\r\n", "")), Vec::<char>::new());
        let csv = without_id_cells(&csv);
        for trigger in FORMULA_TRIGGERS {
            for opening in [format!(",{trigger}"), format!(",\"{trigger}")] {
                assert!(
                    !csv.contains(&opening),
                    "a CSV cell starts with {trigger:?}: {:.200}",
                    csv
                );
            }
        }
        // JSON: the values intact.
        let json = render(&report, ReportFormat::Json, &options()).unwrap();
        let back: crate::report::RunReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        // xlsx: every cell a value, never a formula.
        let bytes = render_file(&report, ReportFormat::Xlsx, &options()).unwrap();
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        use calamine::Reader;
        for sheet in book.sheet_names() {
            let formulas = book.worksheet_formula(&sheet).unwrap();
            assert!(
                formulas
                    .used_cells()
                    .all(|(_, _, formula)| formula.is_empty()),
                "sheet {sheet} holds a formula"
            );
        }
    }
}
