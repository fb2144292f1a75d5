//! The xlsx report (`report --format xlsx --output FILE`): a workbook HR opens in Excel or WPS,
//! written with `rust_xlsxwriter` (pure Rust). Binary, so [`render`] returns bytes and the
//! `report` command writes them to a file; it is never printed.
//!
//! # Language
//!
//! The workbook is in the language of [`RenderOptions::lang`]: Chinese by default (below), or
//! English (`report --lang en`, `[report] lang = "en"`): sheets Summary, Corrections and Open
//! items, English headers and summary keys in the same order, and the English labels of
//! [`labels`](super::labels). The cells' kinds (text ids, date cells, numbers) and the layout do
//! not depend on the language.
//!
//! # Sheets
//!
//! - 汇总 (summary): the run or date range, as of when, the outcome, counts by class with their
//!   labels, the quota (this run, month to date, budget, left), then the deferred work
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
use super::{
    AnomalyLine, Approver, CorrectionLine, Lang, PendingLine, RenderOptions, RunReport, labels,
};
use crate::domain::{ChangeClass, LedgerState};

/// Excel's limit on the characters of one cell, counted in UTF-16 units.
pub(crate) const CELL_MAX: usize = 32_767;

/// The sheets, in order.
pub(crate) const SUMMARY: &str = "汇总";
pub(crate) const CORRECTIONS: &str = "更正";
pub(crate) const OPEN_ITEMS: &str = "待处理";

/// The sheets in English, in order.
pub(crate) const SUMMARY_EN: &str = "Summary";
pub(crate) const CORRECTIONS_EN: &str = "Corrections";
pub(crate) const OPEN_ITEMS_EN: &str = "Open items";

/// The summary sheet's columns (key, value, a second value) and their widths.
const SUMMARY_COLUMNS: [(&str, f64); 3] = [("项目", 22.0), ("内容", 24.0), ("", 24.0)];
const SUMMARY_COLUMNS_EN: [(&str, f64); 3] = [("Item", 30.0), ("Value", 24.0), ("", 24.0)];

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

/// The corrections sheet's columns in English, in the same order, and their widths.
const CORRECTION_COLUMNS_EN: [(&str, f64); 17] = [
    ("Department", 18.0),
    ("Name", 12.0),
    ("User id", 24.0),
    ("Date", 12.0),
    ("Check point", 12.0),
    ("Before", 16.0),
    ("Before, punched at", 20.0),
    ("After", 14.0),
    ("After, punched at", 20.0),
    ("Class", 18.0),
    ("Approval id", 28.0),
    ("Business id", 18.0),
    ("Approved at", 20.0),
    ("Applied at", 20.0),
    ("Run", 10.0),
    ("Reason", 24.0),
    ("Approver", 20.0),
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

/// The open items sheet's columns in English, in the same order, and their widths.
const OPEN_COLUMNS_EN: [(&str, f64); 13] = [
    ("Class", 20.0),
    ("Department", 18.0),
    ("Name", 12.0),
    ("User id", 24.0),
    ("Date", 12.0),
    ("Check point", 12.0),
    ("Approval id", 28.0),
    ("Business id", 18.0),
    ("Details", 70.0),
    ("Since", 20.0),
    ("Reason", 24.0),
    ("Approver", 20.0),
    ("Remark", 30.0),
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
            .set_title(
                options
                    .lang
                    .pick("考勤更正报告", "Attendance corrections report"),
            )
            .set_creation_datetime(&report.run.as_of),
    );
    summary(workbook.add_worksheet(), report, options, &styles)?;
    corrections(workbook.add_worksheet(), report, options, &styles)?;
    open_items(workbook.add_worksheet(), report, options, &styles)?;
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
    lang: Lang,
    row: RowNum,
}

impl<'a> Sheet<'a> {
    /// Names the sheet and writes its header row (both already in the language of `options`);
    /// the rows then take their time zone and the language of their labels from `options`.
    fn start(
        sheet: &'a mut Worksheet,
        name: &str,
        columns: &[(&str, f64)],
        styles: &'a Styles,
        options: &RenderOptions,
    ) -> Result<Sheet<'a>, XlsxError> {
        sheet.set_name(name)?;
        let mut started = Sheet {
            sheet,
            styles,
            tz: options.tz,
            lang: options.lang,
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

    /// The text of the sheet's language.
    fn pick<'t>(&self, zh: &'t str, en: &'t str) -> &'t str {
        self.lang.pick(zh, en)
    }

    /// Starts the next row of a key-value sheet with the key of the sheet's language.
    fn key(&mut self, zh: &str, en: &str) -> Result<(), XlsxError> {
        let key = self.pick(zh, en);
        self.line(key)
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
    options: &RenderOptions,
    styles: &Styles,
) -> Result<(), XlsxError> {
    let (tz, lang) = (options.tz, options.lang);
    let mut s = Sheet::start(
        sheet,
        lang.pick(SUMMARY, SUMMARY_EN),
        lang.pick(&SUMMARY_COLUMNS, &SUMMARY_COLUMNS_EN),
        styles,
        options,
    )?;
    let run = &report.run;
    // Each `line` first moves past the row before: start on the header's row.
    s.row = 0;
    // A date-range report describes the latest run in the range.
    if run.kind == "range" {
        s.key("运行编号（范围内最近一次）", "Run (latest in the range)")?;
    } else {
        s.key("运行编号", "Run")?;
    }
    s.number(1, run.id as f64)?;
    s.key("类型", "Kind")?;
    s.text(1, &labels::run_kind(lang, &run.kind))?;
    s.key("结果", "Outcome")?;
    s.text(1, &labels::outcome(lang, &run.outcome))?;
    s.key("日期范围（起止）", "Dates (from, to)")?;
    s.date(1, Some(run.window.from))?;
    s.date(2, Some(run.window.to))?;
    s.key("时区", "Time zone")?;
    s.own(1, tz.name())?;
    s.line(&lang.pick(
        format!("截至（{}）", tz.name()),
        format!("As of ({})", tz.name()),
    ))?;
    s.time(1, Some(run.as_of))?;
    s.key("开始时间", "Started at")?;
    s.time(1, Some(run.started_at))?;
    s.key("结束时间", "Finished at")?;
    s.time(1, run.finished_at)?;
    s.key("更正", "Corrections")?;
    s.number(1, report.corrections.len() as f64)?;
    s.key("待处理审批", "Pending approvals")?;
    s.number(1, report.pending.len() as f64)?;
    s.key("审批中", "Awaiting a decision")?;
    s.number(1, report.in_progress.len() as f64)?;
    s.key("异常", "Anomalies")?;
    s.number(1, report.anomalies.len() as f64)?;

    s.row += 1;
    s.key("类别", "Class")?;
    s.own(1, lang.pick("数量", "Count"))?;
    for class in ChangeClass::ALL {
        s.line(labels::class(lang, class))?;
        s.number(1, report.counts.get(&class).copied().unwrap_or(0) as f64)?;
    }

    let calls = &report.api_calls;
    s.row += 1;
    s.key("计费调用（本次）", "Metered calls (this run)")?;
    s.number(1, calls.metered as f64)?;
    s.key("本月已用", "Used this month")?;
    s.number(1, calls.month_to_date as f64)?;
    s.key("月度预算", "Monthly budget")?;
    s.number(1, calls.budget as f64)?;
    s.key("本月剩余", "Left this month")?;
    s.number(1, calls.budget_left() as f64)?;
    s.key("月份", "Month")?;
    s.text(1, &calls.month)?;

    if !report.deferred.is_empty() {
        s.row += 1;
        for deferred in &report.deferred {
            s.key("推迟（预算不足）", "Deferred (over budget)")?;
            s.text(1, &deferred.item)?;
            let (detail, calls) = (&deferred.detail, deferred.estimated_calls);
            s.text(
                2,
                &lang.pick(
                    format!("{detail}（约 {calls} 次调用）"),
                    format!("{detail} (about {calls} calls)"),
                ),
            )?;
        }
    }
    if !report.errors.is_empty() {
        s.row += 1;
        for error in &report.errors {
            s.key("错误", "Error")?;
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

/// A ledger state's result as people read it; `未观察到` (`not observed`) when the slot was
/// first seen corrected.
fn before_label(line: &CorrectionLine, lang: Lang) -> String {
    match (&line.before, line.before_observed) {
        (Some(before), true) => labels::time_result(lang, &before.time_result).into_owned(),
        (Some(before), false) => {
            let label = labels::time_result(lang, &before.time_result);
            lang.pick(
                format!("{label}（未观察到）"),
                format!("{label} (not observed)"),
            )
        }
        (None, _) => lang.pick("未观察到", "not observed").to_owned(),
    }
}

fn check_time(state: Option<&LedgerState>) -> Option<DateTime<Utc>> {
    state.and_then(|state| state.check_time)
}

fn corrections(
    sheet: &mut Worksheet,
    report: &RunReport,
    options: &RenderOptions,
    styles: &Styles,
) -> Result<(), XlsxError> {
    let lang = options.lang;
    let mut s = Sheet::start(
        sheet,
        lang.pick(CORRECTIONS, CORRECTIONS_EN),
        lang.pick(&CORRECTION_COLUMNS, &CORRECTION_COLUMNS_EN),
        styles,
        options,
    )?;
    let mut lines: Vec<&CorrectionLine> = report.corrections.iter().collect();
    lines.sort_by(|a, b| correction_order(a).cmp(&correction_order(b)));
    for line in lines {
        s.text(0, line.department.as_deref().unwrap_or_default())?;
        s.text(1, line.name.as_deref().unwrap_or_default())?;
        s.text(2, &line.user_id)?;
        s.date(3, Some(line.work_date))?;
        s.text(4, &labels::check_type(lang, &line.check_type))?;
        s.text(5, &before_label(line, lang))?;
        s.time(6, check_time(line.before.as_ref()))?;
        s.text(7, &labels::time_result(lang, &line.after.time_result))?;
        s.time(8, check_time(Some(&line.after)))?;
        s.own(9, labels::class(lang, line.class))?;
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
    options: &RenderOptions,
    styles: &Styles,
) -> Result<(), XlsxError> {
    let lang = options.lang;
    let mut s = Sheet::start(
        sheet,
        lang.pick(OPEN_ITEMS, OPEN_ITEMS_EN),
        lang.pick(&OPEN_COLUMNS, &OPEN_COLUMNS_EN),
        styles,
        options,
    )?;
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
            "running" => s.pick("审批中", "awaiting a decision"),
            _ => labels::class(s.lang, ChangeClass::SupplyPending),
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
            .map(|raw| labels::check_type(s.lang, raw))
            .unwrap_or_default(),
    )?;
    s.text(6, &line.process_instance_id)?;
    s.text(7, line.business_id.as_deref().unwrap_or_default())?;
    s.text(8, &labels::pending_state(s.lang, &line.state))?;
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
    s.own(0, labels::class(s.lang, line.class))?;
    s.text(1, line.department.as_deref().unwrap_or_default())?;
    s.text(2, line.name.as_deref().unwrap_or_default())?;
    s.text(3, line.user_id.as_deref().unwrap_or_default())?;
    s.date(4, line.work_date)?;
    s.text(
        5,
        &line
            .check_type
            .as_deref()
            .map(|raw| labels::check_type(s.lang, raw))
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
        row_with(rows, col(&CORRECTION_COLUMNS, "工号"), user_id)
    }

    /// The first row whose column `c` is the text cell `value`.
    fn row_with<'a>(rows: &'a [Vec<Data>], c: usize, value: &str) -> &'a [Data] {
        rows.iter()
            .find(|row| row.get(c) == Some(&Data::String(value.to_owned())))
            .unwrap_or_else(|| panic!("a row with {value}"))
    }

    fn english() -> RenderOptions {
        RenderOptions {
            lang: Lang::En,
            ..RenderOptions::new(chrono_tz::Asia::Shanghai)
        }
    }

    /// Whether `text` has a CJK character or full-width punctuation (our Chinese wording).
    fn has_chinese(text: &str) -> bool {
        text.chars().any(|c| {
            ('\u{3000}'..='\u{303f}').contains(&c)
                || ('\u{4e00}'..='\u{9fff}').contains(&c)
                || ('\u{ff00}'..='\u{ffef}').contains(&c)
        })
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
    fn in_english_the_sheets_headers_and_summary_are_english() {
        let report = rich_report();
        let mut book = open(render(&report, &english()).unwrap());
        assert_eq!(book.sheet_names(), ["Summary", "Corrections", "Open items"]);
        assert_eq!(
            book.sheet_names(),
            [SUMMARY_EN, CORRECTIONS_EN, OPEN_ITEMS_EN]
        );

        let corrections = rows(&mut book, CORRECTIONS_EN);
        assert_eq!(
            header(&corrections),
            [
                "Department",
                "Name",
                "User id",
                "Date",
                "Check point",
                "Before",
                "Before, punched at",
                "After",
                "After, punched at",
                "Class",
                "Approval id",
                "Business id",
                "Approved at",
                "Applied at",
                "Run",
                "Reason",
                "Approver",
            ]
        );
        assert_eq!(corrections.len(), report.corrections.len() + 1);
        let open_items = rows(&mut book, OPEN_ITEMS_EN);
        assert_eq!(
            header(&open_items),
            [
                "Class",
                "Department",
                "Name",
                "User id",
                "Date",
                "Check point",
                "Approval id",
                "Business id",
                "Details",
                "Since",
                "Reason",
                "Approver",
                "Remark",
            ]
        );
        assert_eq!(
            open_items.len(),
            1 + report.pending.len()
                + report.in_progress.len()
                + report.anomalies.len()
                + report.listed.len()
        );
        let summary = rows(&mut book, SUMMARY_EN);
        assert_eq!(header(&summary), ["Item", "Value", ""]);
        // The same columns as in Chinese, in the same order.
        assert_eq!(CORRECTION_COLUMNS_EN.len(), CORRECTION_COLUMNS.len());
        assert_eq!(OPEN_COLUMNS_EN.len(), OPEN_COLUMNS.len());
        // No Chinese word of ours in any header.
        for (sheet, rows) in [
            (SUMMARY_EN, &summary),
            (CORRECTIONS_EN, &corrections),
            (OPEN_ITEMS_EN, &open_items),
        ] {
            for name in header(rows) {
                assert!(!has_chinese(&name), "{sheet}: {name}");
                let zh = SUMMARY_COLUMNS
                    .iter()
                    .chain(&CORRECTION_COLUMNS)
                    .chain(&OPEN_COLUMNS);
                assert!(
                    zh.filter(|(zh, _)| !zh.is_empty())
                        .all(|(zh, _)| *zh != name),
                    "{sheet}: {name}"
                );
            }
        }

        // The summary's keys are English (the class labels are the English ones of `labels`,
        // which keep the word 补卡).
        let class_labels: Vec<&str> = ChangeClass::ALL
            .into_iter()
            .map(|class| labels::class(Lang::En, class))
            .collect();
        for row in &summary {
            if let Data::String(key) = &row[0] {
                assert!(
                    class_labels.contains(&key.as_str()) || !has_chinese(key),
                    "a Chinese key: {key}"
                );
            }
        }
        let value = |name: &str| {
            summary
                .iter()
                .find(|row| row[0] == Data::String(name.into()))
                .map(|row| row[1].clone())
                .unwrap_or_else(|| panic!("{name} in the summary"))
        };
        assert_eq!(value("Run"), Data::Float(42.0));
        assert_eq!(value("Time zone"), Data::String("Asia/Shanghai".into()));
        assert_eq!(value("Outcome"), Data::String("partly done".into()));
        assert_eq!(
            value(labels::class(Lang::En, ChangeClass::SupplyApplied)),
            Data::Float(2.0)
        );
        assert_eq!(value("baseline"), Data::Float(1320.0));
        assert_eq!(value("Class"), Data::String("Count".into()));
        assert_eq!(value("Used this month"), Data::Float(612.0));
        assert_eq!(value("Monthly budget"), Data::Float(4000.0));
        assert_eq!(
            date_time(&value("As of (Asia/Shanghai)")).to_string(),
            "2026-11-05 02:10:00"
        );
        assert!(matches!(value("Dates (from, to)"), Data::DateTime(_)));
    }

    #[test]
    fn in_english_the_rows_have_english_labels_text_ids_and_date_cells() {
        let mut report = rich_report();
        report.corrections[0].business_id = Some("0126000024".into());
        let mut book = open(render(&report, &english()).unwrap());
        let corrections = rows(&mut book, CORRECTIONS_EN);
        let c = |name| col(&CORRECTION_COLUMNS_EN, name);
        let row = row_with(&corrections, c("User id"), "0126");
        assert_eq!(
            row[c("Class")],
            Data::String(labels::class(Lang::En, ChangeClass::SupplyApplied).into())
        );
        assert_eq!(row[c("Check point")], Data::String("clock-in".into()));
        assert_eq!(row[c("Before")], Data::String("missing punch".into()));
        assert_eq!(row[c("After")], Data::String("on time".into()));
        assert_eq!(
            row[c("Name")],
            Data::String("王伟".into()),
            "names as they are"
        );
        // Ids are text cells, leading zeros and all.
        assert_eq!(row[c("Business id")], Data::String("0126000024".into()));
        let twenty_digits = row_with(&corrections, c("User id"), "02253726682920171716");
        assert_eq!(
            twenty_digits[c("Before")],
            Data::String("not observed".into())
        );
        // Dates and times are date cells in the business time zone.
        assert_eq!(
            date_time(&row[c("Date")]).to_string(),
            "2026-11-03 00:00:00"
        );
        assert_eq!(
            date_time(&row[c("Before, punched at")]).to_string(),
            "2026-11-03 09:00:00"
        );
        assert_eq!(
            date_time(&row[c("Approved at")]).to_string(),
            "2026-11-04 10:15:00"
        );
        assert_eq!(
            date_time(&row[c("Applied at")]).to_string(),
            "2026-11-05 02:10:00"
        );

        let open_items = rows(&mut book, OPEN_ITEMS_EN);
        let o = |name| col(&OPEN_COLUMNS_EN, name);
        assert_eq!(
            open_items[1][o("Class")],
            Data::String(labels::class(Lang::En, ChangeClass::SupplyPending).into())
        );
        let running = &open_items[3];
        assert_eq!(
            running[o("Class")],
            Data::String("awaiting a decision".into())
        );
        assert_eq!(
            running[o("Details")],
            Data::String("awaiting a decision".into())
        );
        assert_eq!(running[o("User id")], Data::String("0042".into()));
        assert_eq!(
            date_time(&running[o("Since")]).to_string(),
            "2026-11-04 17:30:00"
        );
        let refused = row_with(
            &open_items,
            o("Class"),
            labels::class(Lang::En, ChangeClass::SupplyRefused),
        );
        assert_eq!(refused[o("Approver")], Data::String("陈静 (0087)".into()));
        assert_eq!(
            date_time(&refused[o("Since")]).to_string(),
            "2026-11-04 11:20:00"
        );
        // None of our Chinese class labels is left in the class columns.
        for (rows, c) in [(&corrections, c("Class")), (&open_items, o("Class"))] {
            for row in &rows[1..] {
                let label = row[c].to_string();
                assert!(
                    ChangeClass::ALL
                        .into_iter()
                        .all(|class| labels::class(Lang::Zh, class) != label),
                    "{label}"
                );
                assert_ne!(label, "审批中");
            }
        }
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
