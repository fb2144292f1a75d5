//! `report --format xlsx` (issue "reports for HR"): the real binary writes the workbook of a
//! backfilled range to the file `--output` names (owner-only), which a reader crate opens:
//! three sheets, Chinese headers, one row per correction with ids as text and dates as date
//! cells; with `--lang en`, English sheets and headers. xlsx is binary, so everywhere a report
//! would be printed it is refused as a configuration error (exit 78) before anything runs.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Utc};

use crate::support::bin::{Rig, assert_code, run_binary, stderr, stdout};
use crate::support::{date, night};

const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-09";

const REFUSAL: &str = "xlsx needs a file: use `report --format xlsx --output FILE`";

fn rows(book: &mut Xlsx<Cursor<Vec<u8>>>, sheet: &str) -> Vec<Vec<Data>> {
    let range = book
        .worksheet_range(sheet)
        .unwrap_or_else(|error| panic!("sheet {sheet}: {error}"));
    range.rows().map(<[Data]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfilled_range_reads_back_from_the_xlsx_file() {
    // Arrange: a company that forgets to punch often, backfilled on the night of 10-03 (its
    // first two days), then run every night after, so the runs see the 补卡 approved and the
    // edits made since: corrections.
    let rig = Rig::with(61, |config| {
        config.rates.missed_punch = 0.1;
        config.rates.admin_edit = 0.02;
        config.rates.max_filing_lag_days = 3;
    })
    .await;
    let at = |when: DateTime<Utc>, args: &[&str]| {
        let mut args = rig.args(args);
        args[3] = when.to_rfc3339();
        rig.sim.set_clock(when);
        run_binary(args, Vec::new())
    };
    let first = night(date("2026-10-03"));
    let backfill = at(
        first,
        &["backfill", "--from", FROM, "--to", "2026-10-02", "--yes"],
    );
    assert_code(&backfill.await, 0);
    for day in date("2026-10-04").iter_days().take(7) {
        assert_code(&at(night(day), &["run"]).await, 0);
    }
    rig.sim.set_clock(rig.as_of);
    let json = rig
        .bin(&["report", "--from", FROM, "--to", TO, "--format", "json"])
        .await;
    assert_code(&json, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let corrections = json["corrections"].as_array().unwrap();
    assert!(
        !corrections.is_empty(),
        "the world has corrections to find: {}",
        json["counts"]
    );

    // Act: the format from the extension.
    let path = rig.dir.path().join("十月.xlsx");
    let output = rig
        .bin(&[
            "report",
            "--from",
            FROM,
            "--to",
            TO,
            "--output",
            &path.display().to_string(),
        ])
        .await;

    // Assert.
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the workbook is owner-only");
    }
    let bytes = std::fs::read(&path).expect("the workbook is written");
    assert!(bytes.starts_with(b"PK"), "a zip file");
    let mut book = Xlsx::new(Cursor::new(bytes)).expect("an xlsx file");
    assert_eq!(book.sheet_names(), ["汇总", "更正", "待处理"]);

    let sheet = rows(&mut book, "更正");
    let header: Vec<String> = sheet[0].iter().map(ToString::to_string).collect();
    assert_eq!(
        header,
        [
            "部门",
            "姓名",
            "工号",
            "日期",
            "班次",
            "更正前",
            "更正前打卡时间",
            "更正后",
            "更正后打卡时间",
            "类别",
            "审批单号",
            "业务编号",
            "审批通过时间",
            "应用时间",
            "运行编号",
            "原因",
            "审批人",
        ]
    );
    assert_eq!(sheet.len(), corrections.len() + 1, "one row per correction");
    let mut expected_ids: Vec<&str> = corrections
        .iter()
        .map(|line| line["user_id"].as_str().unwrap())
        .collect();
    let mut ids: Vec<String> = Vec::new();
    for row in &sheet[1..] {
        let Data::String(id) = &row[2] else {
            panic!("工号 is a string cell: {:?}", row[2]);
        };
        ids.push(id.clone());
        assert!(matches!(row[3], Data::DateTime(_)), "日期: {:?}", row[3]);
        assert!(
            matches!(row[13], Data::DateTime(_)),
            "应用时间: {:?}",
            row[13]
        );
        assert!(matches!(row[4], Data::String(ref shift) if shift == "上班" || shift == "下班"));
        assert!(matches!(row[9], Data::String(_)), "类别: {:?}", row[9]);
    }
    let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    expected_ids.sort_unstable();
    assert_eq!(ids, expected_ids);
    // 审批人 is the JSON's approver as `姓名 (工号)` (the id alone when unnamed), 原因 its reason.
    let mut expected_decisions: Vec<(String, String)> = corrections
        .iter()
        .map(|line| {
            let approver = &line["approver"];
            let label = match (approver["user_id"].as_str(), approver["name"].as_str()) {
                (Some(id), Some(name)) => format!("{name} ({id})"),
                (Some(id), None) => id.to_owned(),
                _ => String::new(),
            };
            (
                line["reason"].as_str().unwrap_or_default().to_owned(),
                label,
            )
        })
        .collect();
    let mut decisions: Vec<(String, String)> = sheet[1..]
        .iter()
        .map(|row| (row[15].to_string(), row[16].to_string()))
        .collect();
    decisions.sort_unstable();
    expected_decisions.sort_unstable();
    assert_eq!(decisions, expected_decisions);
    assert!(
        decisions
            .iter()
            .any(|(_, approver)| approver.ends_with(')')),
        "some correction names its approver: {decisions:?}"
    );
    for name in ["汇总", "更正", "待处理"] {
        let formulas = book.worksheet_formula(name).unwrap();
        assert!(
            formulas
                .used_cells()
                .all(|(_, _, formula)| formula.is_empty())
        );
    }

    // An explicit --format with another extension writes the same kind of file.
    let forced = rig.dir.path().join("report.bin");
    let output = rig
        .bin(&[
            "report",
            "--from",
            FROM,
            "--to",
            TO,
            "--format",
            "xlsx",
            "--output",
            &forced.display().to_string(),
        ])
        .await;
    assert_code(&output, 0);
    let mut book = Xlsx::new(Cursor::new(std::fs::read(&forced).unwrap())).unwrap();
    assert_eq!(rows(&mut book, "更正").len(), corrections.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xlsx_where_a_report_is_printed_is_refused_before_anything_runs() {
    let rig = Rig::new(62).await;
    for args in [
        vec!["report", "--format", "xlsx"],
        vec!["run", "--report", "--format", "xlsx"],
        vec![
            "backfill", "--from", FROM, "--to", TO, "--yes", "--report", "--format", "xlsx",
        ],
    ] {
        let output = rig.bin(&args).await;
        assert_code(&output, 78);
        assert!(
            stderr(&output).contains(REFUSAL),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(stdout(&output), "", "{args:?}");
        assert!(!rig.store_path().exists(), "{args:?}: nothing ran");
    }
    assert_eq!(rig.sim.stats().metered, 0, "no DingTalk call");
    // The demo (built with the default `sim` feature) prints its report too.
    if cfg!(not(feature = "sim")) {
        return;
    }
    let store = rig.dir.path().join("demo.db");
    let output = crate::support::bin::binary()
        .args(["demo", "--format", "xlsx", "--store"])
        .arg(&store)
        .output()
        .expect("the binary runs");
    assert_code(&output, 78);
    assert!(stderr(&output).contains(REFUSAL), "{}", stderr(&output));
    assert!(!store.exists(), "the demo did not start");
}

/// The characters no cell may carry raw: C0, DEL, C1, bidi embeddings, overrides, isolates and
/// marks, line and paragraph separators (the output rule, written out from its specification).
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_from_dingtalk_are_escaped_text_cells_in_the_workbook() {
    // Arrange: a company whose every string is hostile (terminal escapes, bidi overrides,
    // forged lines, markup, formulas), one nightly run.
    let rig = Rig::with(41, |config| {
        config.hostile_text = true;
        config.rates.missed_punch = 0.12;
        config.rates.filed = 1.0;
        config.rates.max_filing_lag_days = 2;
    })
    .await;
    assert_code(&rig.bin(&["run"]).await, 0);
    let json = rig.bin(&["report", "--format", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let business_ids: Vec<&str> = json["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| line["business_id"].as_str())
        .collect();
    assert!(
        business_ids.iter().any(|id| id.starts_with('=')),
        "a business id that is a formula: {business_ids:?}"
    );

    // Act.
    let path = rig.dir.path().join("hostile.xlsx");
    let output = rig
        .bin(&["report", "--output", &path.display().to_string()])
        .await;

    // Assert: no formula anywhere, no raw hostile character in any cell, each business id the
    // string it was with its hostile characters shown as `\u{…}`.
    assert_code(&output, 0);
    let mut book = Xlsx::new(Cursor::new(std::fs::read(&path).unwrap())).unwrap();
    let mut strings = Vec::new();
    for name in ["汇总", "更正", "待处理"] {
        let formulas = book.worksheet_formula(name).unwrap();
        assert!(
            formulas
                .used_cells()
                .all(|(_, _, formula)| formula.is_empty())
        );
        for cell in rows(&mut book, name).into_iter().flatten() {
            if let Data::String(text) = cell {
                assert!(!text.contains(is_hostile), "{name}: {text:?}");
                strings.push(text);
            }
        }
    }
    for id in business_ids {
        let shown: String = id
            .chars()
            .map(|c| {
                if is_hostile(c) {
                    format!("\\u{{{:x}}}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect();
        assert!(strings.contains(&shown), "{shown:?} is a cell");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_lang_en_writes_an_english_workbook() {
    // Arrange: one nightly run.
    let rig = Rig::new(63).await;
    assert_code(&rig.bin(&["run"]).await, 0);

    // Act.
    let path = rig.dir.path().join("x.xlsx");
    let output = rig
        .bin(&[
            "report",
            "--lang",
            "en",
            "--output",
            &path.display().to_string(),
        ])
        .await;

    // Assert: the English sheets and headers; the same file without --lang is Chinese.
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "");
    let mut book = Xlsx::new(Cursor::new(std::fs::read(&path).unwrap())).unwrap();
    assert_eq!(book.sheet_names(), ["Summary", "Corrections", "Open items"]);
    for (sheet, first) in [
        ("Summary", "Item"),
        ("Corrections", "Department"),
        ("Open items", "Class"),
    ] {
        let header = &rows(&mut book, sheet)[0];
        assert_eq!(header[0], Data::String(first.into()), "{sheet}");
    }
    let chinese = rig.dir.path().join("zh.xlsx");
    let output = rig
        .bin(&["report", "--output", &chinese.display().to_string()])
        .await;
    assert_code(&output, 0);
    let book = Xlsx::new(Cursor::new(std::fs::read(&chinese).unwrap())).unwrap();
    assert_eq!(book.sheet_names(), ["汇总", "更正", "待处理"]);
}
