//! Hostile text from DingTalk through the real pipeline (issue 10, defect 4): a simulator whose
//! generated business ids, 补卡 reasons, user ids and names carry terminal escapes, bidi
//! overrides, forged lines, markup and spreadsheet formulas (`SimConfig::hostile_text`); one
//! nightly `run` of the real binary; then every people-facing output read back: `run --report`
//! text, `report` in Markdown, HTML, CSV and JSON, and `explain` of a day whose 补卡 carries a
//! hostile reason.
//!
//! Expectations come from the simulator's truth (the values DingTalk sent) and from the output
//! rule written out here from its specification, not from the product's escaping functions.

use std::process::Output;

use dingtalk_sim::TruthCorrection;

use crate::support::bin::{Rig, assert_code, stdout};

/// The characters no people-facing output may carry raw (other than its own newlines): C0, DEL,
/// C1, bidi embeddings, overrides, isolates and marks, line and paragraph separators.
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// A value as the text formats must show it: each hostile character as `\u{hex}`.
fn shown(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if is_hostile(c) {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[track_caller]
fn assert_no_raw_hostile_character(what: &str, text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && is_hostile(c))
        .collect();
    assert!(raw.is_empty(), "{what} carries {raw:?}:\n{text}");
}

/// A company whose 补卡 are frequent and decided within the world, every string hostile.
async fn hostile_company() -> Rig {
    Rig::with(41, |config| {
        config.hostile_text = true;
        config.rates.missed_punch = 0.12;
        config.rates.filed = 1.0;
        config.rates.max_filing_lag_days = 2;
    })
    .await
}

/// The truth's corrections by 补卡 that carry a business id.
fn supplies(rig: &Rig) -> Vec<TruthCorrection> {
    let truth: Vec<TruthCorrection> = rig
        .sim
        .truth(rig.as_of)
        .into_iter()
        .filter(|t| t.business_id.is_some())
        .collect();
    assert!(
        truth.len() >= 5,
        "the world has corrections of every hostile business id shape: {}",
        truth.len()
    );
    truth
}

async fn ok(rig: &Rig, args: &[&str]) -> String {
    let output: Output = rig.bin(args).await;
    assert_code(&output, 0);
    stdout(&output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_from_dingtalk_reach_no_report_format_raw() {
    // Arrange + act: one nightly run printing its text report, then the same run in the other
    // formats.
    let rig = hostile_company().await;
    let text = ok(&rig, &["run", "--report"]).await;
    let json = ok(&rig, &["report", "--format", "json"]).await;

    // JSON: the values intact (JSON is data), each a business id the simulator sent, yet no
    // hostile character written raw.
    assert_no_raw_hostile_character("json", &json);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let business_ids: Vec<String> = report["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["business_id"].as_str().map(str::to_owned))
        .collect();
    let truth = supplies(&rig);
    for id in &business_ids {
        assert!(
            truth.iter().any(|t| t.business_id.as_ref() == Some(id)),
            "{id:?} is not a business id the simulator sent"
        );
    }
    assert!(
        business_ids.iter().any(|id| id.contains('\u{1b}'))
            && business_ids.iter().any(|id| id.contains('\r'))
            && business_ids.iter().any(|id| id.contains('\u{202e}'))
            && business_ids.iter().any(|id| id.starts_with('='))
            && business_ids.iter().any(|id| id.starts_with('\t')),
        "the run enriched corrections with every hostile business id shape: {business_ids:?}"
    );

    // Text: nothing raw, every business id shown escaped at the end of its correction's line
    // (the approval's number, 审批编号), no forged line.
    assert_no_raw_hostile_character("run --report", &text);
    for id in &business_ids {
        assert!(
            text.lines()
                .any(|line| line.ends_with(&format!("  {}", shown(id)))),
            "{id:?} not shown escaped in:\n{text}"
        );
    }
    assert!(
        !text.lines().any(|line| line.starts_with("  - forged line")),
        "{text}"
    );

    // Markdown: nothing raw, and every table row has its header's cells.
    let summary = ok(&rig, &["report", "--format", "markdown"]).await;
    assert_no_raw_hostile_character("markdown", &summary);
    let markdown = ok(&rig, &["report", "--format", "markdown", "--full"]).await;
    assert_no_raw_hostile_character("markdown --full", &markdown);
    let mut columns = None;
    for line in markdown.lines() {
        if line.starts_with("| 人员 |") || line.starts_with("| 部门 |") {
            columns = Some(unescaped_pipes(line));
        } else if line.starts_with('|') {
            assert_eq!(Some(unescaped_pipes(line)), columns, "{line}");
        } else if !line.starts_with("### ") && !line.starts_with("#### ") {
            assert!(!line.starts_with('#'), "a forged heading: {line}");
        }
    }
    assert!(columns.is_some(), "{markdown}");
    assert!(!markdown.contains("<b>"), "{markdown}");

    // HTML: nothing raw, no markup from a value.
    let html = ok(&rig, &["report", "--format", "html"]).await;
    assert_no_raw_hostile_character("html", &html);
    assert!(!html.contains("<b>x</b>"), "{html}");
    assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"), "{html}");

    // CSV: one line per row, no cell of outside text starting with a formula trigger but the
    // ids written as Excel's text formula `="…"` (one string constant of an id's characters),
    // and the business ids there as text.
    let csv = ok(&rig, &["report", "--format", "csv"]).await;
    assert_no_raw_hostile_character("csv", &csv.replace("\r\n", "\n"));
    let rows = parse_csv(&csv);
    let header = &rows[0];
    let business_id = header
        .iter()
        .position(|name| name == "business_id")
        .unwrap();
    let id_columns: Vec<usize> = ["user_id", "plan_id", "process_instance_id", "business_id"]
        .iter()
        .map(|id| header.iter().position(|name| name == id).unwrap())
        .collect();
    assert_eq!(rows.len() - 1, csv.lines().count() - 1, "one line per row");
    for row in &rows[1..] {
        for (idx, cell) in row.iter().enumerate() {
            let trigger = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
            assert!(
                !trigger || (id_columns.contains(&idx) && excel_text_id(cell).is_some()),
                "column {} cell {cell:?}",
                header[idx]
            );
        }
    }
    let listed: Vec<&str> = rows[1..]
        .iter()
        .map(|row| row[business_id].as_str())
        .collect();
    for id in &business_ids {
        let cell = shown(id);
        let cell = if excel_text_id(&format!("=\"{cell}\"")).is_some() {
            format!("=\"{cell}\"")
        } else if cell.starts_with(['=', '+', '-', '@']) {
            format!("'{cell}")
        } else {
            cell
        };
        assert!(
            listed.contains(&cell.as_str()),
            "{cell:?} not in {listed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_of_a_day_with_a_hostile_reason_keeps_its_sections_and_shows_it_escaped() {
    let rig = hostile_company().await;
    assert_code(&rig.bin(&["run"]).await, 0);
    // A day whose 补卡 reason forges lines and sections ("…\r\nfindings\n  none").
    let world = rig.sim.world();
    let truth = supplies(&rig);
    let (day, reason) = truth
        .iter()
        .find_map(|t| {
            let id = t.process_instance_id.as_deref()?;
            let instance = world.instances.iter().find(|inst| inst.id == id)?;
            instance
                .reason
                .contains('\n')
                .then_some((t, instance.reason))
        })
        .expect("a 补卡 with the line-forging reason");

    let text = ok(
        &rig,
        &[
            "explain",
            &format!("--user={}", day.user_id),
            "--date",
            &day.work_date.to_string(),
        ],
    )
    .await;

    assert_no_raw_hostile_character("explain", &text);
    assert!(
        text.contains(&format!("reason \"{}\"", shown(reason))),
        "{text}"
    );
    // Every line after the header is a section title or an indented item: the six titles, each
    // once.
    let titles: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|line| !line.is_empty() && !line.starts_with("  "))
        .collect();
    assert_eq!(
        titles,
        [
            "slots as DingTalk last showed them",
            "history",
            "ledger",
            "corrections",
            "approvals",
            "findings"
        ],
        "{text}"
    );
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.contains(&format!("({})", shown(&day.user_id))),
        "{text}"
    );
}

/// The unescaped pipes of a Markdown line (a pipe after an odd run of backslashes is escaped).
fn unescaped_pipes(line: &str) -> usize {
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

/// The id inside a CSV id cell written as Excel's text formula `="…"`: 1 to 255 ASCII
/// letters, digits, `-`, `_`, `.` or `:`; `None` for any other cell.
fn excel_text_id(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix("=\"")?.strip_suffix('"')?;
    let id_like = (1..=255).contains(&inner.len())
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    id_like.then_some(inner)
}

/// A strict RFC 4180 reader (the file's byte-order mark is not part of the first field).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR must start CRLF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "output must end with CRLF"
    );
    rows
}
