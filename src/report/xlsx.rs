//! The xlsx report (`report --format xlsx --output FILE`): a workbook HR opens in Excel or WPS,
//! written with `rust_xlsxwriter` (pure Rust). Binary, so [`render`] returns bytes and the
//! `report` command writes them to a file; it is never printed.
//!
//! # Sheets
//!
//! - 汇总 (summary): the run or date range, as of when, the outcome, counts by class with their
//!   Chinese labels, the quota (this run, month to date, budget, left), then the deferred work
//!   and the per-item errors, if any.
//! - 更正 (corrections): one row per correction, grouped by department → person → date: 部门,
//!   姓名, 工号, 日期, 班次 (上班/下班), 更正前, 更正前打卡时间, 更正后, 更正后打卡时间, 类别,
//!   审批单号, 业务编号, 审批通过时间, 应用时间, 运行编号 (the run that applied it), 原因 (the
//!   补卡 form's reason), 审批人 (who agreed, `姓名 (工号)`).
//! - 待处理 (open items): approvals still pending, those still awaiting a decision (审批中),
//!   then the anomalies, then the refused and withdrawn approvals and the other listed
//!   findings: 类别, 部门, 姓名, 工号, 日期, 班次, 审批单号, 业务编号, 说明, 起始时间 (approved,
//!   filed or decided at), 原因, 审批人, 审批意见 (the approver's remark, a refusal's why).
//!
//! Every sheet's first row is a bold header, frozen; the two tables have an autofilter over their
//! columns; every column has a fixed width that fits its usual content (Chinese characters count
//! double).
//!
//! The document's creation time is the run's `as_of`, so the same report renders to the same
//! bytes.
//!
//! # Cells
//!
//! - Ids (工号, 审批单号, 业务编号) are string cells: Excel keeps `0126` and a 20-digit id as
//!   they are, with nothing added to the value (the CSV's `="…"` trick is not needed here).
//! - Work dates are date cells (`yyyy-mm-dd`), instants are date-time cells
//!   (`yyyy-mm-dd hh:mm:ss`) holding the wall-clock time of the business time zone passed in
//!   [`RenderOptions`]: Excel has no time zones, so the summary names the zone (时区). The JSON
//!   report carries the instants in UTC.
//! - Counts and the run id are number cells.
//!
//! # Outside text
//!
//! Every value from outside (ids, names, departments, details, errors, unknown enum values) is
//! written as a string cell, never a formula, after [`escape::plain`](super::escape) (control,
//! bidi and separator characters shown as `\u{…}`, so a cell is one line) and cut at Excel's
//! limit of 32,767 characters (UTF-16 units), the last one then `…`. A string cell is never
//! evaluated, even when it starts with `=`; the cells of outside text also carry Excel's "quote
//! prefix" (what typing a leading `'` sets), so editing such a cell in Excel does not turn it
//! into a formula either. `rust_xlsxwriter` escapes the XML and any literal `_xHHHH_` in a value.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use rust_xlsxwriter::{ColNum, DocProperties, Format, RowNum, Workbook, Worksheet, XlsxError};

use super::escape::plain;
use super::{AnomalyLine, Approver, CorrectionLine, PendingLine, RenderOptions, RunReport, labels};
use crate::domain::{ChangeClass, LedgerState};

/// The workbook's labels are Chinese for now (its headers are).
const LANG: super::Lang = super::Lang::Zh;

/// Excel's limit on the characters of one cell, counted in UTF-16 units.
pub(crate) const CELL_MAX: usize = 32_767;

/// The sheets, in order.
pub(crate) const SUMMARY: &str = "汇总";
pub(crate) const CORRECTIONS: &str = "更正";
pub(crate) const OPEN_ITEMS: &str = "待处理";

/// The corrections sheet's columns and their widths.
const CORRECTION_COLUMNS: [(&str, f64); 17] = [
    ("部门", 18.0),
    ("姓名", 12.0),
    ("工号", 24.0),
    ("日期", 12.0),
    ("班次", 8.0),
    ("更正前", 14.0),
    ("更正前打卡时间", 20.0),
    ("更正后", 10.0),
    ("更正后打卡时间", 20.0),
    ("类别", 12.0),
    ("审批单号", 28.0),
    ("业务编号", 18.0),
    ("审批通过时间", 20.0),
    ("应用时间", 20.0),
    ("运行编号", 10.0),
    ("原因", 24.0),
    ("审批人", 20.0),
];

/// The open items sheet's columns and their widths.
const OPEN_COLUMNS: [(&str, f64); 13] = [
    ("类别", 12.0),
    ("部门", 18.0),
    ("姓名", 12.0),
    ("工号", 24.0),
    ("日期", 12.0),
    ("班次", 8.0),
    ("审批单号", 28.0),
    ("业务编号", 18.0),
    ("说明", 70.0),
    ("起始时间", 20.0),
    ("原因", 24.0),
    ("审批人", 20.0),
    ("审批意见", 30.0),
];

/// The workbook of `report`, as the bytes of an xlsx file. Pure: no IO, no clock. Fails only if
/// the writer does (a bug, not a property of the report: every value is made to fit).
pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> Result<Vec<u8>, XlsxError> {
    let styles = Styles::new();
    let mut workbook = Workbook::new();
    // Dated with the run's `as_of`, not the moment of rendering: the same report gives the same
    // bytes.
    workbook.set_properties(
        &DocProperties::new()
            .set_title("考勤更正报告")
            .set_creation_datetime(&report.run.as_of),
    );
    summary(workbook.add_worksheet(), report, options.tz, &styles)?;
    corrections(workbook.add_worksheet(), report, options.tz, &styles)?;
    open_items(workbook.add_worksheet(), report, options.tz, &styles)?;
    workbook.save_to_buffer()
}

struct Styles {
    header: Format,
    text: Format,
    date: Format,
    date_time: Format,
}

impl Styles {
    fn new() -> Styles {
        Styles {
            header: Format::new().set_bold(),
            text: Format::new().set_quote_prefix(),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            date_time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        }
    }
}

/// `raw` as a cell of outside text: escaped, cut at [`CELL_MAX`].
pub(crate) fn cell_text(raw: &str) -> String {
    let text = plain(raw);
    if text.encode_utf16().count() <= CELL_MAX {
        return text.into_owned();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in text.chars() {
        // Room for the closing `…` (one unit).
        if units + c.len_utf16() > CELL_MAX - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// A sheet being filled row by row.
struct Sheet<'a> {
    sheet: &'a mut Worksheet,
    styles: &'a Styles,
    tz: Tz,
    row: RowNum,
}

impl<'a> Sheet<'a> {
    /// Names the sheet and writes its header row.
    fn start(
        sheet: &'a mut Worksheet,
        name: &str,
        columns: &[(&str, f64)],
        styles: &'a Styles,
        tz: Tz,
    ) -> Result<Sheet<'a>, XlsxError> {
        sheet.set_name(name)?;
        let mut started = Sheet {
            sheet,
            styles,
            tz,
            row: 0,
        };
        started.header(columns)?;
        Ok(started)
    }

    fn header(&mut self, columns: &[(&str, f64)]) -> Result<(), XlsxError> {
        for (col, (name, width)) in columns.iter().enumerate() {
            let col = col as ColNum;
            self.sheet
                .write_string_with_format(0, col, *name, &self.styles.header)?;
            self.sheet.set_column_width(col, *width)?;
        }
        self.sheet.set_freeze_panes(1, 0)?;
        self.row = 1;
        Ok(())
    }

    /// Starts the next row of a key-value sheet with its key.
    fn line(&mut self, key: &str) -> Result<(), XlsxError> {
        self.row += 1;
        self.own(0, key)
    }

    /// Outside text, escaped and capped; nothing for an empty value.
    fn text(&mut self, col: ColNum, raw: &str) -> Result<(), XlsxError> {
        if !raw.is_empty() {
            self.sheet.write_string_with_format(
                self.row,
                col,
                cell_text(raw),
                &self.styles.text,
            )?;
        }
        Ok(())
    }

    /// Text this module wrote itself (labels, wording).
    fn own(&mut self, col: ColNum, text: &str) -> Result<(), XlsxError> {
        self.sheet.write_string(self.row, col, text)?;
        Ok(())
    }

    fn number(&mut self, col: ColNum, value: f64) -> Result<(), XlsxError> {
        self.sheet.write_number(self.row, col, value)?;
        Ok(())
    }

    fn date(&mut self, col: ColNum, date: Option<NaiveDate>) -> Result<(), XlsxError> {
        if let Some(date) = date {
            self.sheet
                .write_datetime_with_format(self.row, col, date, &self.styles.date)?;
        }
        Ok(())
    }

    fn time(&mut self, col: ColNum, at: Option<DateTime<Utc>>) -> Result<(), XlsxError> {
        if let Some(at) = at {
            let local: NaiveDateTime = at.with_timezone(&self.tz).naive_local();
            self.sheet
                .write_datetime_with_format(self.row, col, local, &self.styles.date_time)?;
        }
        Ok(())
    }

    /// Autofilter over the header and the rows written.
    fn autofilter(&mut self, columns: usize) -> Result<(), XlsxError> {
        let last_row = self.row.saturating_sub(1);
        self.sheet
            .autofilter(0, 0, last_row, (columns - 1) as ColNum)?;
        Ok(())
    }
}

fn summary(
    sheet: &mut Worksheet,
    report: &RunReport,
    tz: Tz,
    styles: &Styles,
) -> Result<(), XlsxError> {
    let mut s = Sheet::start(
        sheet,
        SUMMARY,
        &[("项目", 22.0), ("内容", 24.0), ("", 24.0)],
        styles,
        tz,
    )?;
    let run = &report.run;
    // Each `line` first moves past the row before: start on the header's row.
    s.row = 0;
    // A date-range report describes the latest run in the range.
    s.line(if run.kind == "range" {
        "运行编号（范围内最近一次）"
    } else {
        "运行编号"
    })?;
    s.number(1, run.id as f64)?;
    s.line("类型")?;
    s.text(1, &labels::run_kind(LANG, &run.kind))?;
    s.line("结果")?;
    s.text(1, &labels::outcome(LANG, &run.outcome))?;
    s.line("日期范围（起止）")?;
    s.date(1, Some(run.window.from))?;
    s.date(2, Some(run.window.to))?;
    s.line("时区")?;
    s.own(1, tz.name())?;
    s.line(&format!("截至（{}）", tz.name()))?;
    s.time(1, Some(run.as_of))?;
    s.line("开始时间")?;
    s.time(1, Some(run.started_at))?;
    s.line("结束时间")?;
    s.time(1, run.finished_at)?;
    s.line("更正")?;
    s.number(1, report.corrections.len() as f64)?;
    s.line("待处理审批")?;
    s.number(1, report.pending.len() as f64)?;
    s.line("审批中")?;
    s.number(1, report.in_progress.len() as f64)?;
    s.line("异常")?;
    s.number(1, report.anomalies.len() as f64)?;

    s.row += 1;
    s.line("类别")?;
    s.own(1, "数量")?;
    for class in ChangeClass::ALL {
        s.line(labels::class(LANG, class))?;
        s.number(1, report.counts.get(&class).copied().unwrap_or(0) as f64)?;
    }

    let calls = &report.api_calls;
    s.row += 1;
    s.line("计费调用（本次）")?;
    s.number(1, calls.metered as f64)?;
    s.line("本月已用")?;
    s.number(1, calls.month_to_date as f64)?;
    s.line("月度预算")?;
    s.number(1, calls.budget as f64)?;
    s.line("本月剩余")?;
    s.number(1, calls.budget_left() as f64)?;
    s.line("月份")?;
    s.text(1, &calls.month)?;

    if !report.deferred.is_empty() {
        s.row += 1;
        for deferred in &report.deferred {
            s.line("推迟（预算不足）")?;
            s.text(1, &deferred.item)?;
            s.text(
                2,
                &format!(
                    "{}（约 {} 次调用）",
                    deferred.detail, deferred.estimated_calls
                ),
            )?;
        }
    }
    if !report.errors.is_empty() {
        s.row += 1;
        for error in &report.errors {
            s.line("错误")?;
            s.text(1, error)?;
        }
    }
    Ok(())
}

/// Department → person → date, the unknown department last.
fn correction_order(line: &CorrectionLine) -> impl Ord + '_ {
    (
        line.department.is_none(),
        line.department.as_deref().unwrap_or_default(),
        line.name.as_deref().unwrap_or_default(),
        line.user_id.as_str(),
        line.work_date,
        line.check_type.as_str(),
    )
}

/// A ledger state's result as people read it; `未观察到` when the slot was first seen corrected.
fn before_label(line: &CorrectionLine) -> String {
    match (&line.before, line.before_observed) {
        (Some(before), true) => labels::time_result(LANG, &before.time_result).into_owned(),
        (Some(before), false) => {
            format!(
                "{}（未观察到）",
                labels::time_result(LANG, &before.time_result)
            )
        }
        (None, _) => "未观察到".to_owned(),
    }
}

fn check_time(state: Option<&LedgerState>) -> Option<DateTime<Utc>> {
    state.and_then(|state| state.check_time)
}

fn corrections(
    sheet: &mut Worksheet,
    report: &RunReport,
    tz: Tz,
    styles: &Styles,
) -> Result<(), XlsxError> {
    let mut s = Sheet::start(sheet, CORRECTIONS, &CORRECTION_COLUMNS, styles, tz)?;
    let mut lines: Vec<&CorrectionLine> = report.corrections.iter().collect();
    lines.sort_by(|a, b| correction_order(a).cmp(&correction_order(b)));
    for line in lines {
        s.text(0, line.department.as_deref().unwrap_or_default())?;
        s.text(1, line.name.as_deref().unwrap_or_default())?;
        s.text(2, &line.user_id)?;
        s.date(3, Some(line.work_date))?;
        s.text(4, &labels::check_type(LANG, &line.check_type))?;
        s.text(5, &before_label(line))?;
        s.time(6, check_time(line.before.as_ref()))?;
        s.text(7, &labels::time_result(LANG, &line.after.time_result))?;
        s.time(8, check_time(Some(&line.after)))?;
        s.own(9, labels::class(LANG, line.class))?;
        s.text(10, line.process_instance_id.as_deref().unwrap_or_default())?;
        s.text(11, line.business_id.as_deref().unwrap_or_default())?;
        s.time(12, line.approved_at)?;
        s.time(13, Some(line.applied_at))?;
        s.number(14, line.run_id as f64)?;
        s.text(15, line.reason.as_deref().unwrap_or_default())?;
        s.text(16, &approver_label(line.approver.as_ref()))?;
        s.row += 1;
    }
    s.autofilter(CORRECTION_COLUMNS.len())
}

fn open_items(
    sheet: &mut Worksheet,
    report: &RunReport,
    tz: Tz,
    styles: &Styles,
) -> Result<(), XlsxError> {
    let mut s = Sheet::start(sheet, OPEN_ITEMS, &OPEN_COLUMNS, styles, tz)?;
    for line in report.pending.iter().chain(&report.in_progress) {
        pending_row(&mut s, line)?;
        s.row += 1;
    }
    for line in report.anomalies.iter().chain(&report.listed) {
        finding_row(&mut s, line)?;
        s.row += 1;
    }
    s.autofilter(OPEN_COLUMNS.len())
}

fn pending_row(s: &mut Sheet, line: &PendingLine) -> Result<(), XlsxError> {
    s.own(
        0,
        match line.state.as_str() {
            "running" => "审批中",
            _ => labels::class(LANG, ChangeClass::SupplyPending),
        },
    )?;
    s.text(1, line.department.as_deref().unwrap_or_default())?;
    s.text(2, line.name.as_deref().unwrap_or_default())?;
    s.text(3, &line.user_id)?;
    s.date(4, line.work_date)?;
    s.text(
        5,
        &line
            .check_type
            .as_deref()
            .map(|raw| labels::check_type(LANG, raw))
            .unwrap_or_default(),
    )?;
    s.text(6, &line.process_instance_id)?;
    s.text(7, line.business_id.as_deref().unwrap_or_default())?;
    s.text(8, &labels::pending_state(LANG, &line.state))?;
    s.time(9, line.since)?;
    decision(s, line.reason.as_deref(), line.approver.as_ref())
}

/// The 原因, 审批人 and 审批意见 cells of an open item.
fn decision(
    s: &mut Sheet,
    reason: Option<&str>,
    approver: Option<&Approver>,
) -> Result<(), XlsxError> {
    s.text(10, reason.unwrap_or_default())?;
    s.text(11, &approver_label(approver))?;
    s.text(
        12,
        approver
            .and_then(|approver| approver.remark.as_deref())
            .unwrap_or_default(),
    )
}

/// The approver as `姓名 (工号)`, the id alone when the directory does not know them, empty
/// when there is none (outside text: the cell escapes it).
fn approver_label(approver: Option<&Approver>) -> String {
    match approver {
        Some(Approver {
            user_id,
            name: Some(name),
            ..
        }) => format!("{name} ({user_id})"),
        Some(approver) => approver.user_id.clone(),
        None => String::new(),
    }
}

fn finding_row(s: &mut Sheet, line: &AnomalyLine) -> Result<(), XlsxError> {
    s.own(0, labels::class(LANG, line.class))?;
    s.text(1, line.department.as_deref().unwrap_or_default())?;
    s.text(2, line.name.as_deref().unwrap_or_default())?;
    s.text(3, line.user_id.as_deref().unwrap_or_default())?;
    s.date(4, line.work_date)?;
    s.text(
        5,
        &line
            .check_type
            .as_deref()
            .map(|raw| labels::check_type(LANG, raw))
            .unwrap_or_default(),
    )?;
    s.text(6, line.process_instance_id.as_deref().unwrap_or_default())?;
    s.text(8, &line.detail)?;
    s.time(9, line.since)?;
    decision(s, line.reason.as_deref(), line.approver.as_ref())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use calamine::{Data, DataType, Reader, Xlsx};

    use super::*;
    use crate::report::fixture::{arb_outside_text, report_with_texts, rich_report};

    fn shanghai() -> RenderOptions {
        RenderOptions::new(chrono_tz::Asia::Shanghai)
    }

    fn open(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
        Xlsx::new(Cursor::new(bytes)).expect("the bytes are an xlsx file")
    }

    fn rows(book: &mut Xlsx<Cursor<Vec<u8>>>, sheet: &str) -> Vec<Vec<Data>> {
        let range = book.worksheet_range(sheet).expect("the sheet exists");
        range.rows().map(<[Data]>::to_vec).collect()
    }

    fn header(rows: &[Vec<Data>]) -> Vec<String> {
        rows[0].iter().map(ToString::to_string).collect()
    }

    fn col(columns: &[(&str, f64)], name: &str) -> usize {
        columns.iter().position(|(n, _)| *n == name).unwrap()
    }

    /// The corrections' row of `user_id`.
    fn row_of<'a>(rows: &'a [Vec<Data>], user_id: &str) -> &'a [Data] {
        let c = col(&CORRECTION_COLUMNS, "工号");
        rows.iter()
            .find(|row| row.get(c) == Some(&Data::String(user_id.to_owned())))
            .unwrap_or_else(|| panic!("a row of {user_id}"))
    }

    fn date_time(cell: &Data) -> NaiveDateTime {
        assert!(matches!(cell, Data::DateTime(_)), "{cell:?} is a date-time");
        cell.as_datetime().unwrap()
    }

    #[test]
    fn the_workbook_has_the_three_sheets_with_chinese_headers() {
        let mut book = open(render(&rich_report(), &shanghai()).unwrap());
        assert_eq!(book.sheet_names(), [SUMMARY, CORRECTIONS, OPEN_ITEMS]);
        let corrections = rows(&mut book, CORRECTIONS);
        assert_eq!(
            header(&corrections),
            CORRECTION_COLUMNS.map(|(name, _)| name.to_owned())
        );
        assert_eq!(corrections.len(), rich_report().corrections.len() + 1);
        let open_items = rows(&mut book, OPEN_ITEMS);
        assert_eq!(
            header(&open_items),
            OPEN_COLUMNS.map(|(name, _)| name.to_owned())
        );
        // The header, then every pending, in-progress, anomaly and listed line.
        let report = rich_report();
        assert_eq!(
            open_items.len(),
            1 + report.pending.len()
                + report.in_progress.len()
                + report.anomalies.len()
                + report.listed.len()
        );
        assert_eq!(open_items[1][0], Data::String("待生效".into()));
        let running = &open_items[3];
        assert_eq!(running[0], Data::String("审批中".into()));
        assert_eq!(running[3], Data::String("0042".into()));
        assert_eq!(
            running[col(&OPEN_COLUMNS, "说明")],
            Data::String("审批中".into())
        );
        assert_eq!(
            date_time(&running[col(&OPEN_COLUMNS, "起始时间")]).to_string(),
            "2026-11-04 17:30:00",
            "filed at"
        );
        assert_eq!(
            running[col(&OPEN_COLUMNS, "原因")],
            Data::String("忘记打卡".into())
        );
        let refused = open_items
            .iter()
            .find(|row| row[0] == Data::String("已拒绝".into()))
            .expect("the refused approval");
        let cell = |name| refused[col(&OPEN_COLUMNS, name)].clone();
        assert_eq!(cell("原因"), Data::String("忘记打卡".into()));
        assert_eq!(cell("审批人"), Data::String("陈静 (0087)".into()));
        assert_eq!(
            cell("审批意见"),
            Data::String("补卡时间与门禁记录不符".into())
        );
        assert_eq!(
            date_time(&cell("起始时间")).to_string(),
            "2026-11-04 11:20:00",
            "refused at"
        );
        let applied = row_of(&corrections, "0126");
        assert_eq!(
            applied[col(&CORRECTION_COLUMNS, "原因")],
            Data::String("忘记打卡".into())
        );
        assert_eq!(
            applied[col(&CORRECTION_COLUMNS, "审批人")],
            Data::String("陈静 (0087)".into())
        );
        assert_eq!(
            row_of(&corrections, "02253726682920171716")[col(&CORRECTION_COLUMNS, "审批人")],
            Data::String("manager01".into()),
            "an approver the directory does not know is the id alone"
        );
        assert!(
            open_items
                .iter()
                .any(|row| row[0] == Data::String("已拒绝".into()))
        );
        let summary = rows(&mut book, SUMMARY);
        let value = |name: &str| {
            summary
                .iter()
                .find(|row| row[0] == Data::String(name.into()))
                .map(|row| row[1].clone())
                .unwrap_or_else(|| panic!("{name} in the summary"))
        };
        assert_eq!(value("运行编号"), Data::Float(42.0));
        assert_eq!(value("时区"), Data::String("Asia/Shanghai".into()));
        assert_eq!(value("结果"), Data::String("部分完成".into()));
        assert_eq!(value("补卡已生效"), Data::Float(2.0));
        assert_eq!(value("基线"), Data::Float(1320.0));
        assert_eq!(value("本月已用"), Data::Float(612.0));
        assert_eq!(value("月度预算"), Data::Float(4000.0));
        assert_eq!(
            date_time(&value("截至（Asia/Shanghai）")).to_string(),
            "2026-11-05 02:10:00"
        );
    }

    #[test]
    fn ids_stay_text_with_leading_zeros_and_twenty_digits() {
        let mut report = rich_report();
        report.corrections[0].business_id = Some("0126000024".into());
        let mut book = open(render(&report, &shanghai()).unwrap());
        let corrections = rows(&mut book, CORRECTIONS);
        let row = row_of(&corrections, "0126");
        assert_eq!(
            row[col(&CORRECTION_COLUMNS, "业务编号")],
            Data::String("0126000024".into())
        );
        // The 20-digit id is a text cell, whole (`row_of` finds it by its string).
        let twenty_digits = row_of(&corrections, "02253726682920171716");
        assert_eq!(
            twenty_digits[col(&CORRECTION_COLUMNS, "工号")],
            Data::String("02253726682920171716".into())
        );
        assert_eq!(
            row[col(&CORRECTION_COLUMNS, "姓名")],
            Data::String("王伟".into())
        );
        assert_eq!(
            row[col(&CORRECTION_COLUMNS, "班次")],
            Data::String("上班".into())
        );
        assert_eq!(
            row[col(&CORRECTION_COLUMNS, "更正前")],
            Data::String("缺卡".into())
        );
        assert_eq!(
            row[col(&CORRECTION_COLUMNS, "更正后")],
            Data::String("正常".into())
        );
        assert_eq!(
            row[col(&CORRECTION_COLUMNS, "类别")],
            Data::String("补卡已生效".into())
        );
    }

    #[test]
    fn dates_and_times_are_date_cells_in_the_business_time_zone() {
        let report = rich_report();
        let mut book = open(render(&report, &shanghai()).unwrap());
        let corrections = rows(&mut book, CORRECTIONS);
        let row = row_of(&corrections, "0126");
        let cell = |name| &row[col(&CORRECTION_COLUMNS, name)];
        assert_eq!(date_time(cell("日期")).to_string(), "2026-11-03 00:00:00");
        assert_eq!(
            date_time(cell("更正前打卡时间")).to_string(),
            "2026-11-03 09:00:00"
        );
        assert_eq!(
            date_time(cell("更正后打卡时间")).to_string(),
            "2026-11-03 08:58:00"
        );
        assert_eq!(
            date_time(cell("审批通过时间")).to_string(),
            "2026-11-04 10:15:00"
        );
        assert_eq!(
            date_time(cell("应用时间")).to_string(),
            "2026-11-05 02:10:00"
        );
        // In whatever zone is passed in.
        let mut book = open(render(&report, &RenderOptions::new(chrono_tz::UTC)).unwrap());
        let corrections = rows(&mut book, CORRECTIONS);
        let row = row_of(&corrections, "0126");
        assert_eq!(
            date_time(&row[col(&CORRECTION_COLUMNS, "应用时间")]).to_string(),
            "2026-11-04 18:10:00"
        );
        // A missing time is an empty cell.
        let row = row_of(&corrections, "02253726682920171716");
        assert_eq!(row[col(&CORRECTION_COLUMNS, "审批通过时间")], Data::Empty);
        // Each correction names the run that applied it, as a number.
        let applied_by = report
            .corrections
            .iter()
            .find(|line| line.user_id == "02253726682920171716")
            .unwrap()
            .run_id;
        assert_eq!(
            row[col(&CORRECTION_COLUMNS, "运行编号")],
            Data::Float(applied_by as f64)
        );
    }

    #[test]
    fn hostile_text_is_a_plain_escaped_string_cell_never_a_formula() {
        let long = "长".repeat(10_000) + &"x".repeat(30_000);
        let hostile = [
            "=HYPERLINK(\"http://evil\",\"click\")",
            "<script>alert(1)</script>",
            "\u{1b}[2J\u{1b}]0;pwned\u{7}",
            "two\nlines\r\n",
            "+cmd|' /C calc'!A0",
            "_x0041_",
        ];
        let mut report = rich_report();
        let line = &mut report.corrections[0];
        line.name = Some(hostile[0].into());
        line.department = Some(hostile[1].into());
        line.business_id = Some(hostile[2].into());
        line.process_instance_id = Some(hostile[3].into());
        line.user_id = hostile[4].into();
        line.check_type = hostile[5].into();
        report.anomalies[0].detail = long.clone();
        report.errors = vec!["e".repeat(10_000)];

        let mut book = open(render(&report, &shanghai()).unwrap());
        for sheet in [SUMMARY, CORRECTIONS, OPEN_ITEMS] {
            let formulas = book.worksheet_formula(sheet).unwrap();
            assert!(
                formulas.used_cells().all(|(_, _, f)| f.is_empty()),
                "no formula in {sheet}"
            );
        }
        let corrections = rows(&mut book, CORRECTIONS);
        let row = row_of(&corrections, "+cmd|' /C calc'!A0");
        let cell = |name| row[col(&CORRECTION_COLUMNS, name)].clone();
        assert_eq!(cell("姓名"), Data::String(hostile[0].into()));
        assert_eq!(cell("部门"), Data::String(hostile[1].into()));
        assert_eq!(
            cell("业务编号"),
            Data::String("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}".into())
        );
        assert_eq!(
            cell("审批单号"),
            Data::String("two\\u{a}lines\\u{d}\\u{a}".into())
        );
        assert_eq!(cell("班次"), Data::String("_x0041_".into()));

        let open_items = rows(&mut book, OPEN_ITEMS);
        let detail = open_items
            .iter()
            .map(|row| row[col(&OPEN_COLUMNS, "说明")].to_string())
            .find(|text| text.starts_with('长'))
            .expect("the long detail");
        assert_eq!(detail.encode_utf16().count(), CELL_MAX);
        assert!(detail.ends_with('…'));
        let summary = rows(&mut book, SUMMARY);
        assert!(
            summary
                .iter()
                .any(|row| row[1] == Data::String("e".repeat(10_000)))
        );
    }

    #[test]
    fn cells_are_cut_at_excels_limit_counting_utf16_units() {
        assert_eq!(cell_text(&"a".repeat(CELL_MAX)), "a".repeat(CELL_MAX));
        let cut = cell_text(&"a".repeat(CELL_MAX + 1));
        assert_eq!(cut.encode_utf16().count(), CELL_MAX);
        assert!(cut.ends_with('…'));
        // A character outside the BMP is two units and is never split.
        let cut = cell_text(&"😀".repeat(CELL_MAX));
        assert!(cut.encode_utf16().count() <= CELL_MAX);
        assert!(cut.ends_with('…'));
        // Escaping happens first: a control character takes its escape's room.
        assert_eq!(cell_text("a\u{1b}"), "a\\u{1b}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        #[test]
        fn outside_text_never_makes_a_formula_a_control_character_or_another_shape(
            texts in proptest::collection::vec(arb_outside_text(), 96),
        ) {
            let mut cycle = texts.iter().cycle();
            let report = report_with_texts(|| cycle.next().cloned().unwrap_or_default());
            let neutral = report_with_texts(|| "x".to_owned());
            let mut book = open(render(&report, &shanghai()).unwrap());
            let mut expected = open(render(&neutral, &shanghai()).unwrap());
            for sheet in [SUMMARY, CORRECTIONS, OPEN_ITEMS] {
                let formulas = book.worksheet_formula(sheet).unwrap();
                proptest::prop_assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()));
                let cells = rows(&mut book, sheet);
                proptest::prop_assert_eq!(cells.len(), rows(&mut expected, sheet).len());
                for cell in cells.iter().flatten() {
                    if let Data::String(text) = cell {
                        proptest::prop_assert!(
                            !text.contains(crate::report::escape::is_hostile),
                            "{:?} in {}", text, sheet
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_same_report_gives_the_same_bytes() {
        let report = rich_report();
        let first = render(&report, &shanghai()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(first, render(&report, &shanghai()).unwrap());
    }

    #[test]
    fn an_empty_report_still_has_its_sheets_and_headers() {
        let mut report = rich_report();
        report.corrections.clear();
        report.pending.clear();
        report.in_progress.clear();
        report.anomalies.clear();
        report.listed.clear();
        let mut book = open(render(&report, &shanghai()).unwrap());
        assert_eq!(rows(&mut book, CORRECTIONS).len(), 1);
        assert_eq!(rows(&mut book, OPEN_ITEMS).len(), 1);
    }
}
