//! The HTML report: one self-contained page in the report's language (`lang` set), with inline
//! style, inline SVG charts and a few lines of inline script that filter the corrections table
//! (the page reads fully without it). No external resource, no link.
//!
//! The people-first shape of [`View`]: summary with three charts (corrections per work date by
//! class, corrections per department, metered calls through the month against the budget) and
//! the department table; what needs attention; the corrections table grouped department →
//! person → date, each person's totals beside their first row; technical details last.
//!
//! Printing: A4 portrait, table headers repeated on every page, one line per correction (cells
//! cut with an ellipsis rather than wrapped; dates never wrap), charts kept on the first page,
//! the filter hidden. A 1,500-employee month prints to at most 20 pages (tested with Chromium).
//!
//! Every value is escaped by [`escape::html`](super::escape), whether it came from DingTalk or
//! from our own wording, so nothing in the data can become markup and no control or bidi
//! character reaches the page raw. No outside value is put in an attribute, a URL, a script or
//! a style; the script reads only the page's own text.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{Datelike, NaiveDate};

use super::escape::html as escape;
use super::labels;
use super::present::{
    self, calls_sentence, class_counts, correction_cells, correction_columns, deferred_item,
    group_heading, headline, item_detail, item_parts, person_alone, quota, scope, subject, title,
    titles,
};
use super::view::View;
use super::{Lang, RenderOptions, RunReport};
use crate::domain::ChangeClass;

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;\
margin:1.5em;color:#222;font-size:14px}\
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.2em 0 .4em;border-bottom:2px solid #ddd}\
h3{font-size:1em;margin:.8em 0 .2em}\
.headline{font-size:1.1em;font-weight:600;margin:.2em 0}.scope{color:#444;margin:.1em 0}\
table{border-collapse:collapse;margin:.3em 0 1em;width:100%}\
th,td{border:1px solid #d5d5d5;padding:2px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
thead th{background:#f1f3f5}td.n,th.n{text-align:right;white-space:nowrap}\
td.d{white-space:nowrap}tr.dept th{background:#e8eef7;text-align:left}\
.advice{color:#555;margin:.1em 0 .3em}.charts{display:flex;flex-wrap:wrap;gap:12px}\
.charts figure{margin:0;flex:1 1 320px}figcaption{font-size:.85em;color:#555}\
svg text{font-size:10px;fill:#333}.filter{margin:.3em 0}.muted{color:#666}\
@page{size:A4 portrait;margin:9mm 8mm}\
@media print{body{margin:0;font-size:7.2pt}.filter{display:none}\
h2{break-after:avoid;margin:.6em 0 .2em}h3{break-after:avoid}\
table{margin:.2em 0 .5em}thead{display:table-header-group}tr{break-inside:avoid}\
th,td{padding:0 2px;line-height:1.25}\
table.corr,table.items{table-layout:fixed}table.corr td,table.corr th{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}\
table.items td{font-size:.92em}\
.charts{gap:4px}.charts figure{flex:1 1 30%}.charts svg{width:100%;height:auto;max-height:42mm}}";

/// The filter: hides the corrections rows (and empty department rows) not containing the
/// typed text. Reads only the page's own text.
const SCRIPT: &str = "document.getElementById('q').addEventListener('input',function(e){\
var q=e.target.value.trim().toLowerCase();\
document.querySelectorAll('table.corr tbody tr:not(.dept)').forEach(function(r){\
r.style.display=!q||r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});";

/// The colours of the classes in the charts: 补卡 applied, admin edits, revocations, the rest.
const APPLIED: &str = "#3b7dd8";
const ADMIN: &str = "#f0a030";
const REVERTED: &str = "#d9534f";
const OTHER: &str = "#9aa5b1";

pub(crate) fn render(report: &RunReport, options: &RenderOptions) -> String {
    let (tz, lang) = (options.tz, options.lang);
    let view = View::new(report);
    let words = titles(lang);
    let mut out = String::new();
    // Writing into a String cannot fail: the `fmt::Result`s below are discarded.
    let heading = format!("{} · {}", title(lang), subject(report, lang));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        lang.tag(),
        escape(&heading)
    );
    let _ = writeln!(out, "<h1>{}</h1>", escape(&heading));
    let _ = writeln!(
        out,
        "<p class=\"headline\">{}</p>",
        escape(&headline(&view, lang))
    );
    for line in scope(report, tz, lang) {
        let _ = writeln!(out, "<p class=\"scope\">{}</p>", escape(&line));
    }

    let _ = writeln!(out, "<h2>{}</h2>", escape(words.summary));
    let _ = writeln!(
        out,
        "<p>{}</p>\n<p>{}</p>",
        escape(&class_counts(&view, lang)),
        escape(&quota(&report.api_calls, report.coverage.is_some(), lang))
    );
    out.push_str("<div class=\"charts\">\n");
    chart_by_date(&mut out, &view, lang);
    chart_by_department(&mut out, &view, lang);
    chart_quota(&mut out, report, lang);
    out.push_str("</div>\n");
    if !view.departments.is_empty() {
        let _ = writeln!(out, "<h3>{}</h3>", escape(words.by_department));
        let columns = present::department_columns(lang);
        out.push_str("<table>\n<thead><tr>");
        for (at, column) in columns.iter().enumerate() {
            let class = if at == 0 { "" } else { " class=\"n\"" };
            let _ = write!(out, "<th{class}>{}</th>", escape(column));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &view.departments {
            let t = row.tally;
            let _ = write!(
                out,
                "<tr><td>{}</td>",
                escape(&present::department(row.name, lang))
            );
            for number in [
                row.people as u64,
                t.applied,
                t.other,
                t.pending,
                t.refused,
                t.attention,
            ] {
                let _ = write!(out, "<td class=\"n\">{number}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }

    let _ = writeln!(
        out,
        "<h2>{} ({})</h2>",
        escape(words.attention),
        view.needs_action()
    );
    if view.attention.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", escape(words.nothing_to_do));
    }
    let item_columns = lang.pick(["人员", "日期", "详情"], ["Who", "When", "Details"]);
    for section in &view.attention {
        let _ = writeln!(
            out,
            "<h3>{} ({})</h3>\n<p class=\"advice\">{}{}</p>",
            escape(present::attention_title(section.kind, lang)),
            section.items.len(),
            escape(words.what_to_do),
            escape(present::advice(section.kind, lang))
        );
        let _ = writeln!(
            out,
            "<table class=\"items\">\n<colgroup><col style=\"width:31%\"><col style=\"width:13%\">\
             <col></colgroup>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
            escape(item_columns[0]),
            escape(item_columns[1]),
            escape(item_columns[2])
        );
        for item in &section.items {
            let (who, when) = item_parts(item, lang);
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"d\">{}</td><td>{}</td></tr>",
                escape(&who),
                escape(&when),
                escape(&item_detail(item, report.run.as_of, tz, lang))
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }

    if !view.groups.is_empty() {
        write_corrections(&mut out, &view, options);
    }

    let _ = writeln!(out, "<h2>{}</h2>", escape(words.technical));
    if !report.deferred.is_empty() {
        let _ = writeln!(out, "<h3>{}</h3>\n<ul>", escape(words.deferred));
        for line in &report.deferred {
            let _ = writeln!(out, "<li>{}</li>", escape(&deferred_item(line, lang)));
        }
        out.push_str("</ul>\n");
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "<h3>{}</h3>\n<ul>", escape(words.errors));
        for error in &report.errors {
            let _ = writeln!(out, "<li>{}</li>", escape(error));
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(
        out,
        "<p class=\"muted\">{}{}{}</p>",
        escape(words.calls),
        present::detail_separator(lang),
        escape(&calls_sentence(&report.api_calls, lang))
    );
    if !view.groups.is_empty() {
        let _ = writeln!(out, "<script>{SCRIPT}</script>");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The corrections table: a row per department, then per person their corrections by date, the
/// person and their totals (补卡 applied, awaiting, refused or withdrawn) spanning their rows.
fn write_corrections(out: &mut String, view: &View, options: &RenderOptions) {
    let (tz, lang) = (options.tz, options.lang);
    let words = titles(lang);
    let _ = writeln!(out, "<h2>{}</h2>", escape(words.corrections));
    let _ = writeln!(
        out,
        "<p class=\"filter\"><label>{} <input id=\"q\" type=\"search\"></label></p>",
        escape(lang.pick(
            "筛选（姓名、工号、部门、日期…）：",
            "Filter (name, id, department, date…):"
        ))
    );
    let totals = lang.pick(["补卡", "待", "拒撤"], ["补卡", "Aw.", "Ref."]);
    let _ = writeln!(
        out,
        "<p class=\"muted\">{}</p>",
        escape(lang.pick(
            "每人合计：补卡 = 补卡已生效，待 = 待生效，拒撤 = 已拒绝或已撤回。",
            "Per person: 补卡 = 补卡 applied, Aw. = awaiting DingTalk, Ref. = refused or withdrawn.",
        ))
    );
    let person = lang.pick("人员", "Person");
    out.push_str(
        "<table class=\"corr\">\n<colgroup><col style=\"width:19.5%\"><col style=\"width:3.5%\">\
         <col style=\"width:3.5%\"><col style=\"width:3.5%\"><col style=\"width:8.5%\">\
         <col style=\"width:4%\"><col style=\"width:14%\"><col style=\"width:8.5%\">\
         <col style=\"width:12%\"><col style=\"width:10.5%\"><col style=\"width:12.5%\">\
         </colgroup>\n<thead><tr>",
    );
    let _ = write!(out, "<th>{}</th>", escape(person));
    for column in totals {
        let _ = write!(out, "<th class=\"n\">{}</th>", escape(column));
    }
    for column in correction_columns(lang) {
        let _ = write!(out, "<th>{}</th>", escape(column));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for group in &view.groups {
        let _ = writeln!(
            out,
            "<tr class=\"dept\"><th colspan=\"11\">{}</th></tr>",
            escape(&group_heading(
                group.department,
                group.people.len(),
                group.corrections(),
                lang
            ))
        );
        for person in &group.people {
            let rows = person.lines.len();
            for (at, line) in person.lines.iter().enumerate() {
                out.push_str("<tr>");
                if at == 0 {
                    let t = person.totals;
                    let _ = write!(
                        out,
                        "<td rowspan=\"{rows}\">{}</td><td class=\"n\" rowspan=\"{rows}\">{}</td>\
                         <td class=\"n\" rowspan=\"{rows}\">{}</td><td class=\"n\" rowspan=\"{rows}\">{}</td>",
                        escape(&person_alone(person.user_id, person.name)),
                        t.applied,
                        t.pending,
                        t.refused
                    );
                }
                for (column, cell) in correction_cells(line, tz, lang).iter().enumerate() {
                    let class = if column == 0 { " class=\"d\"" } else { "" };
                    let _ = write!(out, "<td{class}>{}</td>", escape(cell));
                }
                out.push_str("</tr>\n");
            }
        }
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The chart's colour and legend position of a class.
fn series(class: ChangeClass) -> usize {
    match class {
        ChangeClass::SupplyApplied => 0,
        ChangeClass::AdminEdit => 1,
        ChangeClass::SupplyReverted => 2,
        _ => 3,
    }
}

const COLOURS: [&str; 4] = [APPLIED, ADMIN, REVERTED, OTHER];

/// The legend labels of the four series.
fn series_labels(lang: Lang) -> [String; 4] {
    [
        labels::class(lang, ChangeClass::SupplyApplied).to_owned(),
        labels::class(lang, ChangeClass::AdminEdit).to_owned(),
        labels::class(lang, ChangeClass::SupplyReverted).to_owned(),
        lang.pick("其他", "other").to_owned(),
    ]
}

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 170.0;

fn svg_open(out: &mut String, description: &str) {
    let _ = write!(
        out,
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\"><title>{}</title>",
        escape(description)
    );
}

fn svg_close(out: &mut String, caption: &str) {
    let _ = writeln!(
        out,
        "</svg><figcaption>{}</figcaption></figure>",
        escape(caption)
    );
}

fn legend(out: &mut String, lang: Lang, y: f64) {
    let mut x = 30.0;
    for (at, label) in series_labels(lang).iter().enumerate() {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"8\" height=\"8\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{y}\">{}</text>",
            y - 8.0,
            COLOURS[at],
            x + 11.0,
            escape(label)
        );
        x += 14.0 + 11.0 * label.chars().count() as f64;
    }
}

/// Corrections per work date, stacked by class.
fn chart_by_date(out: &mut String, view: &View, lang: Lang) {
    let caption = lang.pick(
        "每个工作日的更正（按类别）",
        "Corrections per work date, by class",
    );
    let days = &view.by_date;
    let totals: Vec<[u64; 4]> = days
        .iter()
        .map(|(_, classes)| {
            let mut stack = [0u64; 4];
            for (class, count) in classes {
                stack[series(*class)] += count;
            }
            stack
        })
        .collect();
    let most = totals
        .iter()
        .map(|s| s.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let description = format!(
        "{caption}: {}",
        days.iter()
            .zip(&totals)
            .filter(|(_, stack)| stack.iter().sum::<u64>() > 0)
            .map(|((date, _), stack)| format!("{date} {}", stack.iter().sum::<u64>()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    svg_open(out, &description);
    let (left, top, bottom) = (30.0, 18.0, HEIGHT - 30.0);
    let plot_width = WIDTH - left - 6.0;
    let step = plot_width / days.len().max(1) as f64;
    axis(out, left, top, bottom, most);
    for (at, ((date, _), stack)) in days.iter().zip(&totals).enumerate() {
        let x = left + step * at as f64;
        let mut y = bottom;
        for (series_at, count) in stack.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let height = (bottom - top) * *count as f64 / most as f64;
            y -= height;
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{}\"/>",
                x + step * 0.1,
                step * 0.8,
                COLOURS[series_at]
            );
        }
        let every = (days.len() / 8).max(1);
        if at % every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + step / 2.0,
                bottom + 11.0,
                day_label(*date, days.len())
            );
        }
    }
    legend(out, lang, HEIGHT - 4.0);
    svg_close(out, caption);
}

/// `3` for a month's day, `10-03` when the window spans months.
fn day_label(date: NaiveDate, days: usize) -> String {
    if days <= 31 {
        date.day().to_string()
    } else {
        date.format("%m-%d").to_string()
    }
}

/// The y axis: a baseline and the top value.
fn axis(out: &mut String, left: f64, top: f64, bottom: f64, most: u64) {
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#999\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{}\" y2=\"{top}\" stroke=\"#eee\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{most}</text>\
         <text x=\"{}\" y=\"{bottom}\" text-anchor=\"end\">0</text>",
        WIDTH - 6.0,
        WIDTH - 6.0,
        left - 3.0,
        top + 4.0,
        left - 3.0
    );
}

/// The most departments the department chart shows.
const CHART_DEPARTMENTS: usize = 10;

/// Corrections per department (the busiest), stacked by class.
fn chart_by_department(out: &mut String, view: &View, lang: Lang) {
    let caption = lang.pick(
        "各部门的更正（最多的 10 个）",
        "Corrections per department (top 10)",
    );
    let mut stacks: BTreeMap<Option<&str>, [u64; 4]> = BTreeMap::new();
    for line in &view.report.corrections {
        stacks.entry(line.department.as_deref()).or_default()[series(line.class)] += 1;
    }
    let mut rows: Vec<(Option<&str>, [u64; 4])> = stacks.into_iter().collect();
    rows.sort_by_key(|(name, stack)| (std::cmp::Reverse(stack.iter().sum::<u64>()), *name));
    rows.truncate(CHART_DEPARTMENTS);
    let description = format!(
        "{caption}: {}",
        rows.iter()
            .map(|(name, stack)| format!(
                "{} {}",
                present::department(*name, lang),
                stack.iter().sum::<u64>()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    svg_open(out, &description);
    let most = rows
        .iter()
        .map(|(_, stack)| stack.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (left, top) = (96.0, 6.0);
    let band = (HEIGHT - top - 20.0) / CHART_DEPARTMENTS as f64;
    let plot = WIDTH - left - 30.0;
    for (at, (name, stack)) in rows.iter().enumerate() {
        let y = top + band * at as f64;
        let label: String = {
            let name = present::department(*name, lang);
            if name.chars().count() > 9 {
                name.chars().take(8).chain(['…']).collect()
            } else {
                name
            }
        };
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            y + band * 0.7,
            escape(&label)
        );
        let mut x = left;
        for (series_at, count) in stack.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let width = plot * *count as f64 / most as f64;
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                y + band * 0.15,
                band * 0.7,
                COLOURS[series_at]
            );
            x += width;
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 3.0,
            y + band * 0.7,
            stack.iter().sum::<u64>()
        );
    }
    if rows.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            WIDTH / 2.0,
            HEIGHT / 2.0,
            escape(lang.pick("没有更正", "no corrections"))
        );
    }
    legend(out, lang, HEIGHT - 4.0);
    svg_close(out, caption);
}

/// Metered calls through the quota month, cumulative, against the budget and the even pace.
fn chart_quota(out: &mut String, report: &RunReport, lang: Lang) {
    let calls = &report.api_calls;
    let caption = match lang {
        Lang::Zh => format!(
            "{} 配额使用（累计计量调用 / 预算 {}）",
            calls.month, calls.budget
        ),
        Lang::En => format!(
            "Quota in {}: metered calls to date against the budget of {}",
            calls.month, calls.budget
        ),
    };
    let description = format!("{caption}: {} / {}", calls.month_to_date, calls.budget);
    svg_open(out, &description);
    let days_in_month = report
        .quota_by_day
        .first()
        .map(|day| days_in_month(day.date))
        .unwrap_or(30);
    let mut cumulative = Vec::new();
    let mut total = 0u64;
    for day in &report.quota_by_day {
        total += day.metered;
        cumulative.push((day.date.day(), total));
    }
    let used = calls.month_to_date.max(total);
    let most = calls.budget.max(used).max(1);
    let (left, top, bottom) = (34.0, 10.0, HEIGHT - 30.0);
    let plot = WIDTH - left - 6.0;
    let x_of = |day: u32| left + plot * f64::from(day) / f64::from(days_in_month);
    let y_of = |value: u64| bottom - (bottom - top) * value as f64 / most as f64;
    axis(out, left, top, bottom, most);
    // The budget and the even pace towards it.
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"{REVERTED}\" stroke-dasharray=\"4 3\"/>\
         <line x1=\"{left}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#bbb\" stroke-dasharray=\"2 3\"/>",
        y_of(calls.budget),
        WIDTH - 6.0,
        y_of(calls.budget),
        WIDTH - 6.0,
        y_of(calls.budget)
    );
    if cumulative.is_empty() {
        // No daily figures: one bar of what is used.
        let _ = write!(
            out,
            "<rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{APPLIED}\"/>",
            y_of(used),
            plot * 0.2,
            bottom - y_of(used)
        );
    } else {
        let mut points = format!("{left},{bottom}");
        for (day, value) in &cumulative {
            let _ = write!(points, " {:.1},{:.1}", x_of(*day), y_of(*value));
        }
        let _ = write!(
            out,
            "<polyline points=\"{points}\" fill=\"none\" stroke=\"{APPLIED}\" stroke-width=\"2\"/>"
        );
    }
    for day in [1, 10, 20, days_in_month] {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{day}</text>",
            x_of(day),
            bottom + 11.0
        );
    }
    let key = lang.pick(
        ["已用", "预算", "均匀进度"],
        ["used", "budget", "even pace"],
    );
    let _ = write!(
        out,
        "<rect x=\"30\" y=\"{}\" width=\"8\" height=\"8\" fill=\"{APPLIED}\"/><text x=\"41\" y=\"{}\">{} {used}</text>\
         <rect x=\"130\" y=\"{}\" width=\"8\" height=\"8\" fill=\"{REVERTED}\"/><text x=\"141\" y=\"{}\">{} {}</text>\
         <rect x=\"230\" y=\"{}\" width=\"8\" height=\"8\" fill=\"#bbb\"/><text x=\"241\" y=\"{}\">{}</text>",
        HEIGHT - 12.0,
        HEIGHT - 4.0,
        escape(key[0]),
        HEIGHT - 12.0,
        HEIGHT - 4.0,
        escape(key[1]),
        calls.budget,
        HEIGHT - 12.0,
        HEIGHT - 4.0,
        escape(key[2])
    );
    svg_close(out, &caption);
}

fn days_in_month(date: NaiveDate) -> u32 {
    let first = date.with_day(1).unwrap_or(date);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    u32::try_from((next - first).num_days())
        .unwrap_or(30)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;

    fn page(lang: Lang) -> String {
        render(
            &rich_report(),
            &RenderOptions {
                lang,
                ..RenderOptions::new(chrono_tz::Asia::Shanghai)
            },
        )
    }

    #[test]
    fn html_report_matches_its_snapshot_in_chinese() {
        insta::assert_snapshot!(page(Lang::Zh));
    }

    #[test]
    fn html_report_matches_its_snapshot_in_english() {
        insta::assert_snapshot!(page(Lang::En));
    }

    #[test]
    fn html_sets_the_language_of_the_report() {
        assert!(page(Lang::Zh).contains("<html lang=\"zh-CN\">"));
        assert!(page(Lang::En).contains("<html lang=\"en\">"));
    }

    #[test]
    fn html_escapes_every_value_from_outside() {
        let page = page(Lang::Zh);
        assert_eq!(
            page.matches("<script").count(),
            1,
            "only the page's own filter"
        );
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("u&amp;d"));
    }

    #[test]
    fn html_is_one_self_contained_page_with_three_charts() {
        let page = page(Lang::Zh);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.ends_with("</html>\n"));
        // Outside text may mention a URL (it is escaped text); no tag and no style may. The
        // SVG namespace is a name, not a fetched resource.
        let without_namespace = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        let tags: Vec<&str> = without_namespace
            .split('<')
            .skip(1)
            .map(|rest| rest.split('>').next().unwrap_or(rest))
            .collect();
        for external in ["link", "src=", "href=", "http:", "https:", "url("] {
            assert!(
                tags.iter().all(|tag| !tag.contains(external)),
                "a tag references {external}"
            );
        }
        assert!(!STYLE.contains("url(") && !STYLE.contains("@import"));
        assert_eq!(page.matches("<svg ").count(), 3);
        assert!(page.contains("@page{size:A4"));
        assert!(page.contains("thead{display:table-header-group}"));
    }

    #[test]
    fn a_month_has_its_own_number_of_days() {
        let day = |raw: &str| raw.parse::<NaiveDate>().unwrap();
        assert_eq!(days_in_month(day("2026-02-10")), 28);
        assert_eq!(days_in_month(day("2026-10-31")), 31);
        assert_eq!(days_in_month(day("2026-12-01")), 31);
    }
}
