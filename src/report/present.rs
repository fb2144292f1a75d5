//! Wording shared by the people-facing formats (text, Markdown, HTML), in the report's language:
//! who a line is about, local times, how a ledger state and a change read, the titles and the
//! advice of each "needs attention" section, the headline, the quota and the coverage.
//!
//! Every value from outside the program is passed through [`escape::plain`](super::escape) here,
//! so what these functions return holds no control character and reads as one line; escaping
//! the markup of Markdown or HTML is the caller's job. No internal key (slot keys, plan ids,
//! class names) and no API vocabulary reaches people through these functions: the JSON report
//! carries those. Nothing here reads a clock.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::{ChangeClass, LedgerState, TimeResult};
use crate::reconcile::blocked::grouped;

use super::escape::plain;
use super::labels;
use super::view::{AttentionKind, Item, Tally, View};
use super::{
    ApiCalls, Approver, CorrectionLine, Coverage, DeferredLine, EmployeeCoverage, Lang,
    QuotaExhausted, RunReport, Window,
};

/// Who a line is about, as people read it: `王伟 (0126000024) · 研发中心`, the name and the
/// department on the line's work date from the directory cache; what is not known is left out,
/// down to the id alone. Every part is outside text, shown through [`plain`].
pub(crate) fn person(user_id: &str, name: Option<&str>, department: Option<&str>) -> String {
    let mut who = person_alone(user_id, name);
    if let Some(department) = department.filter(|department| !department.is_empty()) {
        who.push_str(" · ");
        who.push_str(&plain(department));
    }
    who
}

/// `王伟 (0126000024)`, or the id alone when the name is not known.
pub(crate) fn person_alone(user_id: &str, name: Option<&str>) -> String {
    match name.filter(|name| !name.is_empty()) {
        Some(name) => format!("{} ({})", plain(name), plain(user_id)),
        None => plain(user_id).into_owned(),
    }
}

/// A department's name, or the words for "not known".
pub(crate) fn department(name: Option<&str>, lang: Lang) -> String {
    match name.filter(|name| !name.is_empty()) {
        Some(name) => plain(name).into_owned(),
        None => lang
            .pick("（部门未知）", "(department not known)")
            .to_owned(),
    }
}

/// The approver: `张三 (0126000001)`.
pub(crate) fn approver(approver: &Approver) -> String {
    person_alone(&approver.user_id, approver.name.as_deref())
}

/// A wall-clock instant in the business time zone, e.g. `2026-11-04 10:15 CST`.
pub(crate) fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The business date of an instant.
fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// How a ledger state reads next to its work date: `正常 08:59`, `缺卡`, or `正常 11-04 00:30`
/// when the punch fell on another calendar day than the shift.
pub(crate) fn ledger_state(
    state: &LedgerState,
    work_date: NaiveDate,
    tz: Tz,
    lang: Lang,
) -> String {
    let result = labels::time_result(lang, &state.time_result);
    match state.check_time {
        Some(check_time) if state.time_result != TimeResult::NotSigned => {
            let local = check_time.with_timezone(&tz);
            if local.date_naive() == work_date {
                format!("{result} {}", local.format("%H:%M"))
            } else {
                format!("{result} {}", local.format("%m-%d %H:%M"))
            }
        }
        _ => result.into_owned(),
    }
}

/// `缺卡 → 正常 08:59`, or `未见 → …` when the slot was first seen corrected (its state before
/// was never observed).
pub(crate) fn change(line: &CorrectionLine, tz: Tz, lang: Lang) -> String {
    let unseen = lang.pick("未见", "unseen");
    let before = match (&line.before, line.before_observed) {
        (Some(before), true) => ledger_state(before, line.work_date, tz, lang),
        (Some(before), false) => {
            format!("{}{unseen}", ledger_state(before, line.work_date, tz, lang))
        }
        (None, _) => unseen.to_owned(),
    };
    format!(
        "{before} → {}",
        ledger_state(&line.after, line.work_date, tz, lang)
    )
}

/// The check point: `上班`, `下班`, or an unknown check type as DingTalk sent it.
pub(crate) fn check_point(check_type: Option<&str>, lang: Lang) -> String {
    match check_type {
        Some(check_type) => labels::check_type(lang, check_type).into_owned(),
        None => lang.pick("打卡点未知", "check point not known").to_owned(),
    }
}

/// The approval as people look it up in DingTalk: its business id (审批编号) when known, else
/// the instance id.
pub(crate) fn approval_ref(process_instance_id: &str, business_id: Option<&str>) -> String {
    plain(business_id.unwrap_or(process_instance_id)).into_owned()
}

/// Why the ledger changed, for a correction no approval explains; empty for one an approval
/// does (its reason, approver and number have their own columns).
pub(crate) fn cause(line: &CorrectionLine, lang: Lang) -> String {
    if line.process_instance_id.is_some() {
        if line.business_id.is_none() && line.approved_at.is_none() {
            return lang
                .pick("审批详情尚未获取", "approval details not fetched yet")
                .to_owned();
        }
        return line
            .reason
            .as_deref()
            .map(|r| plain(r).into_owned())
            .unwrap_or_default();
    }
    lang.pick(
        match line.class {
            ChangeClass::AdminEdit => "管理员在钉钉中修改",
            ChangeClass::SupplyReverted => "钉钉不再显示已通过的补卡（已记冲正）",
            ChangeClass::Unexplained => "钉钉未给出原因的变化",
            ChangeClass::Vanished => "打卡点已从钉钉消失",
            ChangeClass::LateResult => "钉钉重新计算了结果",
            _ => "",
        },
        match line.class {
            ChangeClass::AdminEdit => "edited by an administrator in DingTalk",
            ChangeClass::SupplyReverted => {
                "DingTalk no longer shows the approved 补卡 (compensating entry recorded)"
            }
            ChangeClass::Unexplained => "changed in DingTalk with no reason given",
            ChangeClass::Vanished => "the check point is gone from DingTalk",
            ChangeClass::LateResult => "DingTalk recalculated the result",
            _ => "",
        },
    )
    .to_owned()
}

/// The title of the report.
pub(crate) fn title(lang: Lang) -> &'static str {
    lang.pick("考勤核对报告", "Attendance reconciliation report")
}

/// What the report is about: `2026-10-01 … 2026-10-31` for a date range, `运行 #42（夜间运行）
/// 部分完成` for a run.
pub(crate) fn subject(report: &RunReport, lang: Lang) -> String {
    let run = &report.run;
    if report.coverage.is_some() {
        dates(run.window)
    } else {
        format!(
            "{} #{}{}{}{}{}",
            lang.pick("运行", "Run"),
            run.id,
            lang.pick("（", " ("),
            labels::run_kind(lang, &run.kind),
            lang.pick("）", ") "),
            labels::outcome(lang, &run.outcome)
        )
    }
}

/// `截至 2026-11-05 02:10 CST（Asia/Shanghai）；工作日 …` and, for a range, which dates were
/// reconciled and the latest run.
pub(crate) fn scope(report: &RunReport, tz: Tz, lang: Lang) -> Vec<String> {
    let run = &report.run;
    let mut lines = vec![format!(
        "{} {}{}{}{}",
        lang.pick("截至", "As of"),
        local_time(run.as_of, tz),
        lang.pick("（", " ("),
        tz.name(),
        lang.pick("）", ")")
    )];
    match &report.coverage {
        Some(coverage) => {
            lines.push(coverage_sentence(coverage, lang));
            lines.push(format!(
                "{} #{} {}",
                lang.pick("最近一次运行", "Latest run"),
                run.id,
                labels::outcome(lang, &run.outcome)
            ));
        }
        None => lines.push(format!(
            "{} {}",
            lang.pick("工作日", "Work dates"),
            dates(run.window)
        )),
    }
    lines.extend(
        report
            .employees
            .iter()
            .map(|month| employee_coverage(month, lang)),
    );
    if let Some(exhausted) = &report.quota_exhausted {
        lines.push(quota_exhausted(exhausted, lang));
    }
    lines
}

/// `覆盖：2026-11 共 200 名员工中的 156 名；未覆盖：研发部（60 人中 44 人）；每月预算 350 次即可
/// 覆盖全部员工。` — a month whose budget did not cover everyone.
pub(crate) fn employee_coverage(month: &EmployeeCoverage, lang: Lang) -> String {
    let gaps: Vec<String> = month
        .not_covered
        .iter()
        .map(|gap| {
            let name = if gap.department.is_empty() {
                lang.pick("未分部门", "no department").to_owned()
            } else {
                plain(&gap.department).into_owned()
            };
            match lang {
                Lang::Zh => format!("{name}（{} 人中 {} 人）", gap.people, gap.not_covered),
                Lang::En => format!("{name} ({} of {} people)", gap.not_covered, gap.people),
            }
        })
        .collect();
    let missing = month.total.saturating_sub(month.covered);
    match lang {
        Lang::Zh => format!(
            "覆盖：{} 预算 {} 次，共 {} 名员工中覆盖 {} 名，未覆盖 {} 名{}；每月预算 {} 次即可覆盖全部员工。",
            month.month,
            month.budget,
            month.total,
            month.covered,
            missing,
            if gaps.is_empty() {
                String::new()
            } else {
                format!("：{}", gaps.join("、"))
            },
            month.full_budget
        ),
        Lang::En => format!(
            "Covered in {} on a budget of {}: {} of {} employees; not covered: {}{}; a budget of {} \
             metered calls a month would cover everyone.",
            month.month,
            month.budget,
            month.covered,
            month.total,
            missing,
            if gaps.is_empty() {
                String::new()
            } else {
                format!(" ({})", gaps.join(", "))
            },
            month.full_budget
        ),
    }
}

/// The organisation's monthly quota found exhausted: `本组织本月的钉钉接口调用额度已于 11月10日
/// 被其他应用用尽（本工具本月仅用 812 次，预算 5,000 次）；12月1日 恢复`; in English
/// `QuotaExhausted::sentence`.
pub(crate) fn quota_exhausted(exhausted: &QuotaExhausted, lang: Lang) -> String {
    match lang {
        Lang::En => {
            let sentence = exhausted.sentence();
            let mut chars = sentence.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => sentence,
            }
        }
        Lang::Zh => {
            let md = |date: NaiveDate| format!("{}月{}日", date.month(), date.day());
            let (own, budget) = (grouped(exhausted.own_metered), grouped(exhausted.budget));
            let (by, use_) = if exhausted.by_other_apps {
                ("被其他应用用尽", format!("本工具本月仅用 {own} 次"))
            } else {
                ("用尽", format!("其中本工具本月已用 {own} 次"))
            };
            let resumes = exhausted.resumes_on.map_or_else(|| "下月".to_owned(), md);
            format!(
                "本组织本月的钉钉接口调用额度已于 {} {by}（{use_}，预算 {budget} 次）；{resumes} 恢复",
                md(exhausted.seen_on)
            )
        }
    }
}

/// `2026-11-03` or `2026-11-01 … 2026-11-30`.
pub(crate) fn dates(window: Window) -> String {
    if window.from == window.to {
        window.from.to_string()
    } else {
        format!("{} … {}", window.from, window.to)
    }
}

/// Which work dates were reconciled and which were not (the gaps named).
pub(crate) fn coverage_sentence(coverage: &Coverage, lang: Lang) -> String {
    let list = |windows: &[Window]| {
        windows
            .iter()
            .map(|window| dates(*window))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if coverage.reconciled.is_empty() {
        parts.push(
            lang.pick("没有已核对的日期", "no date reconciled")
                .to_owned(),
        );
    } else if coverage.partly.is_empty() && coverage.not_reconciled.is_empty() {
        parts.push(
            lang.pick("每个工作日都已核对", "every work date reconciled")
                .to_owned(),
        );
    } else {
        parts.push(format!(
            "{}{}",
            lang.pick("已核对 ", "reconciled "),
            list(&coverage.reconciled)
        ));
    }
    if !coverage.partly.is_empty() {
        parts.push(format!(
            "{}{}",
            lang.pick(
                "只被未完成的运行读取过：",
                "read only by runs that did not finish: "
            ),
            list(&coverage.partly)
        ));
    }
    if !coverage.not_reconciled.is_empty() {
        parts.push(format!(
            "{}{}",
            lang.pick("未核对：", "not reconciled: "),
            list(&coverage.not_reconciled)
        ));
    }
    parts.join(lang.pick("；", "; "))
}

/// The headline: corrections, pending, what needs attention.
pub(crate) fn headline(view: &View, lang: Lang) -> String {
    let report = view.report;
    let applied = view
        .correction_classes()
        .get(&ChangeClass::SupplyApplied)
        .copied()
        .unwrap_or(0);
    let other = report.corrections.len() as u64 - applied;
    match lang {
        Lang::Zh => format!(
            "补卡已生效 {applied} 项，其他更正 {other} 项，待生效 {} 项，需要处理 {} 项",
            report.pending.len(),
            view.needs_action()
        ),
        Lang::En => format!(
            "{applied} 补卡 applied, {other} other {}, {} awaiting DingTalk, {} to act on",
            if other == 1 {
                "correction"
            } else {
                "corrections"
            },
            report.pending.len(),
            view.needs_action()
        ),
    }
}

/// `配额：2026-11 已用 612 / 4000 次计量调用，剩余 3388（本次运行 40）`; for a date range
/// (`range`) what its runs spent.
pub(crate) fn quota(calls: &ApiCalls, range: bool, lang: Lang) -> String {
    let this = if range {
        lang.pick("这些运行", "these runs")
    } else {
        lang.pick("本次运行", "this run")
    };
    let over = calls.month_to_date.saturating_sub(calls.budget);
    match lang {
        Lang::Zh => {
            let left = if over > 0 {
                format!("已超出预算 {over}")
            } else {
                format!("剩余 {}", calls.budget_left())
            };
            format!(
                "配额：{} 已用 {} / {} 次计量调用，{left}（{this} {}）",
                calls.month, calls.month_to_date, calls.budget, calls.metered
            )
        }
        Lang::En => {
            let left = if over > 0 {
                format!("{over} over budget")
            } else {
                format!("{} left", calls.budget_left())
            };
            format!(
                "Quota: {} of {} metered calls used in {}, {left} ({this} {})",
                calls.month_to_date, calls.budget, calls.month, calls.metered
            )
        }
    }
}

/// The corrections by class: `补卡已生效 3 · 管理员修改 1`, or the word for none.
pub(crate) fn class_counts(view: &View, lang: Lang) -> String {
    let parts: Vec<String> = view
        .correction_classes()
        .into_iter()
        .map(|(class, count)| format!("{} {count}", labels::class(lang, class)))
        .collect();
    if parts.is_empty() {
        lang.pick("没有更正", "no corrections").to_owned()
    } else {
        parts.join(" · ")
    }
}

/// A person's totals: `补卡 2 · 待生效 1 · 拒绝/撤回 0`.
pub(crate) fn totals(tally: &Tally, lang: Lang) -> String {
    format!(
        "{} {} · {} {} · {} {}",
        lang.pick("补卡", "补卡"),
        tally.applied,
        lang.pick("待生效", "awaiting"),
        tally.pending,
        lang.pick("拒绝/撤回", "refused/withdrawn"),
        tally.refused
    )
}

/// The title of a "needs attention" section.
pub(crate) fn attention_title(kind: AttentionKind, lang: Lang) -> &'static str {
    let (zh, en) = match kind {
        AttentionKind::Overdue => (
            "已通过但钉钉迟迟未显示更正",
            "Approved long ago, still not shown corrected",
        ),
        AttentionKind::Reverted => ("补卡被撤销", "补卡 revoked after it was applied"),
        AttentionKind::Unexplained => ("原因不明的变化", "Changes with no known cause"),
        AttentionKind::Vanished => ("消失的打卡点", "Check points that vanished"),
        AttentionKind::Unmatched => ("对不上班次的补卡", "补卡 that match no shift"),
        AttentionKind::Refused => ("已拒绝的补卡", "Refused 补卡"),
        AttentionKind::Withdrawn => ("已撤回的补卡", "Withdrawn 补卡"),
        AttentionKind::ReportedOnly => (
            "按策略只报告、未写入的变化",
            "Changes reported, not applied (policy)",
        ),
        AttentionKind::Pending => ("已通过，等待钉钉显示", "Approved, waiting for DingTalk"),
        AttentionKind::InProgress => ("审批中", "Awaiting a decision"),
    };
    lang.pick(zh, en)
}

/// What a person should do about a section's lines.
pub(crate) fn advice(kind: AttentionKind, lang: Lang) -> &'static str {
    let (zh, en) = match kind {
        AttentionKind::Overdue => (
            "在钉钉中打开该审批，请考勤管理员重新计算当天的考勤结果。",
            "Open the approval in DingTalk and ask the attendance admin to recalculate the day.",
        ),
        AttentionKind::Reverted => (
            "有人撤销了已生效的补卡；发薪使用这一天之前请与人事确认（已记冲正）。",
            "Someone undid an applied 补卡 in DingTalk; confirm with HR before payroll uses \
             this day (a compensating entry was recorded).",
        ),
        AttentionKind::Unexplained => (
            "在钉钉考勤后台核对这个打卡点；如需自动接受这类变化，可设置 policy.unexplained = \"apply\"。",
            "Check this check point in DingTalk's attendance admin; set policy.unexplained = \
             \"apply\" to accept such changes automatically.",
        ),
        AttentionKind::Vanished => (
            "打卡点已从钉钉消失（排班变更或班次被删除）；请核对员工当天的排班。",
            "The check point is gone from DingTalk (schedule changed or shift removed); check \
             the employee's schedule for that day.",
        ),
        AttentionKind::Unmatched => (
            "请确认员工当天有班次且在配置的范围内；台账未改动。",
            "Check that the employee had a shift that day and is in the configured scope; the \
             ledger was left unchanged.",
        ),
        AttentionKind::Refused | AttentionKind::Withdrawn => (
            "台账未改动；如员工仍需补卡，请其重新提交。",
            "The ledger was left unchanged; the employee may submit a new 补卡 if still needed.",
        ),
        AttentionKind::ReportedOnly => (
            "按配置只报告不写入；请在钉钉中核对后再决定。",
            "Reported only, as configured; check in DingTalk before acting.",
        ),
        AttentionKind::Pending => (
            "通常在钉钉重新计算后出现，之后的运行会自动写入。",
            "Usually shows once DingTalk recalculates; a later run applies it.",
        ),
        AttentionKind::InProgress => (
            "等待审批人处理；通过后之后的运行会自动写入。",
            "Waiting for the approver; a later run applies it once approved.",
        ),
    };
    lang.pick(zh, en)
}

/// The subject of an attention line: who, which date, which check point; or the approval
/// alone when its person and date are not known.
pub(crate) fn item_subject(item: &Item, lang: Lang) -> String {
    let (who, when) = item_parts(item, lang);
    if when.is_empty() {
        who
    } else {
        format!("{who}{}{when}", lang.pick("，", ", "))
    }
}

/// An attention line's subject in two parts: who (or the approval, when the person is not
/// known) and when (the work date and check point; empty with an unknown person).
pub(crate) fn item_parts(item: &Item, lang: Lang) -> (String, String) {
    let Some(user_id) = item.user_id() else {
        let who = match item.approval() {
            Some(approval) => format!(
                "{} {}{}",
                lang.pick("审批单", "Approval"),
                plain(approval),
                lang.pick("（人员和日期未知）", " (person and date not known)")
            ),
            None => lang.pick("人员未知", "person not known").to_owned(),
        };
        return (who, String::new());
    };
    let who = person(user_id, item.name(), item.department());
    let day = item.work_date().map_or_else(
        || lang.pick("日期未知", "date not known").to_owned(),
        |d| d.to_string(),
    );
    let when = match item.check_type() {
        Some(check_type) => format!("{day} {}", labels::check_type(lang, check_type)),
        None => day,
    };
    (who, when)
}

/// What is known about an attention line beyond its subject: when it was approved (and for how
/// many days DingTalk has not shown it), the reason, the approver and their remark, the
/// approval's number.
pub(crate) fn item_detail(item: &Item, as_of: DateTime<Utc>, tz: Tz, lang: Lang) -> String {
    let sep = lang.pick("；", "; ");
    let mut parts: Vec<String> = Vec::new();
    let (since, reason, decider) = match item {
        Item::Finding(line, _) => (line.since, line.reason.as_deref(), line.approver.as_ref()),
        Item::Pending(line) => (line.since, line.reason.as_deref(), line.approver.as_ref()),
    };
    if let Some(since) = since {
        let date = local_date(since, tz);
        let days = (as_of - since).num_days().max(0);
        parts.push(match item {
            Item::Pending(line) if line.state == "running" => {
                format!("{} {date}", lang.pick("提交于", "submitted"))
            }
            Item::Finding(line, _)
                if matches!(
                    line.class,
                    ChangeClass::SupplyRefused | ChangeClass::SupplyWithdrawn
                ) =>
            {
                format!("{} {date}", lang.pick("处理于", "decided"))
            }
            _ => match lang {
                Lang::Zh => format!("{date} 通过，已过 {days} 天"),
                Lang::En => format!("approved {date}, {days} days ago"),
            },
        });
    }
    if let Some(reason) = reason.filter(|reason| !reason.trim().is_empty()) {
        parts.push(format!(
            "{}{}",
            lang.pick("事由：", "reason: "),
            plain(reason)
        ));
    }
    if let Some(approver_line) = decider {
        let mut text = format!(
            "{}{}",
            lang.pick("审批人：", "approver: "),
            approver(approver_line)
        );
        if let Some(remark) = approver_line
            .remark
            .as_deref()
            .filter(|r| !r.trim().is_empty())
        {
            text.push_str(&format!(
                "{}{}{}",
                lang.pick("（意见：", " (remark: "),
                plain(remark),
                lang.pick("）", ")")
            ));
        }
        parts.push(text);
    }
    if let Some(approval) = item.approval().filter(|_| item.user_id().is_some()) {
        parts.push(format!(
            "{} {}",
            lang.pick("审批编号", "approval"),
            approval_ref(approval, item.business_id())
        ));
    }
    parts.join(sep)
}

/// How a deferred item reads: `考勤结果：约 75 次调用`; in English with its detail.
pub(crate) fn deferred_item(line: &DeferredLine, lang: Lang) -> String {
    let (zh, en) = match line.item.as_str() {
        "results" => ("考勤结果", "attendance results"),
        "approval_list" => ("补卡审批列表", "补卡 approval listing"),
        "approval_detail" => ("审批详情", "approval details"),
        "rescan" => ("重新扫描", "rescan"),
        "targeted" => ("定点复查", "targeted re-reads"),
        _ => ("", ""),
    };
    let what = if zh.is_empty() {
        plain(&line.item).into_owned()
    } else {
        lang.pick(zh, en).to_owned()
    };
    match lang {
        Lang::Zh => format!("{what}：约 {} 次调用", line.estimated_calls),
        Lang::En => format!(
            "{what}: {} (about {} calls)",
            plain(&line.detail),
            line.estimated_calls
        ),
    }
}

/// The API calls of the run by endpoint: `/attendance/list 12, /gettoken 1`, or the word for
/// none.
pub(crate) fn calls_sentence(calls: &ApiCalls, lang: Lang) -> String {
    let parts: Vec<String> = calls
        .by_endpoint
        .iter()
        .map(|(endpoint, count)| format!("{} {count}", plain(endpoint)))
        .collect();
    if parts.is_empty() {
        lang.pick("无", "none").to_owned()
    } else {
        parts.join(", ")
    }
}

/// The columns of the corrections table (HTML, full Markdown).
pub(crate) fn correction_columns(lang: Lang) -> [&'static str; 7] {
    lang.pick(
        ["日期", "打卡", "更正", "类别", "事由", "审批人", "审批编号"],
        [
            "Date", "Check", "Change", "Class", "Reason", "Approver", "Approval",
        ],
    )
}

/// One correction's cells, in the order of [`correction_columns`]; markup not escaped.
pub(crate) fn correction_cells(line: &CorrectionLine, tz: Tz, lang: Lang) -> [String; 7] {
    [
        line.work_date.to_string(),
        check_point(Some(&line.check_type), lang),
        change(line, tz, lang),
        labels::class(lang, line.class).to_owned(),
        cause(line, lang),
        line.approver.as_ref().map(approver).unwrap_or_default(),
        line.process_instance_id
            .as_deref()
            .map(|id| approval_ref(id, line.business_id.as_deref()))
            .unwrap_or_default(),
    ]
}

/// What follows an attention line's subject: `：` or `: `.
pub(crate) fn detail_separator(lang: Lang) -> &'static str {
    lang.pick("：", ": ")
}

/// A department's row in text: `研发中心：3 人，补卡已生效 2，…`.
pub(crate) fn department_sentence(row: &super::view::DepartmentRow, lang: Lang) -> String {
    let t = row.tally;
    let name = department(row.name, lang);
    match lang {
        Lang::Zh => format!(
            "{name}：{} 人，补卡已生效 {}，其他更正 {}，待生效 {}，拒绝/撤回 {}，需处理 {}",
            row.people, t.applied, t.other, t.pending, t.refused, t.attention
        ),
        Lang::En => format!(
            "{name}: {} {}, {} 补卡 applied, {} other, {} awaiting, {} refused or withdrawn, {} to act on",
            row.people,
            if row.people == 1 { "person" } else { "people" },
            t.applied,
            t.other,
            t.pending,
            t.refused,
            t.attention
        ),
    }
}

/// The columns of the department summary.
pub(crate) fn department_columns(lang: Lang) -> [&'static str; 7] {
    lang.pick(
        [
            "部门",
            "人数",
            "补卡已生效",
            "其他更正",
            "待生效",
            "拒绝/撤回",
            "需处理",
        ],
        [
            "Department",
            "People",
            "补卡 applied",
            "Other",
            "Awaiting",
            "Refused",
            "To act on",
        ],
    )
}

/// The people-facing labels of the section titles.
pub(crate) struct Titles {
    pub(crate) summary: &'static str,
    pub(crate) by_department: &'static str,
    pub(crate) attention: &'static str,
    pub(crate) nothing_to_do: &'static str,
    pub(crate) corrections: &'static str,
    pub(crate) deferred: &'static str,
    pub(crate) errors: &'static str,
    pub(crate) technical: &'static str,
    pub(crate) calls: &'static str,
    pub(crate) what_to_do: &'static str,
}

pub(crate) fn titles(lang: Lang) -> Titles {
    match lang {
        Lang::Zh => Titles {
            summary: "概况",
            by_department: "按部门",
            attention: "需要处理",
            nothing_to_do: "没有需要处理的事项。",
            corrections: "更正明细（按部门、人员、日期）",
            deferred: "留待之后运行的工作",
            errors: "错误",
            technical: "技术信息",
            calls: "本次接口调用",
            what_to_do: "处理：",
        },
        Lang::En => Titles {
            summary: "Summary",
            by_department: "By department",
            attention: "Needs attention",
            nothing_to_do: "Nothing needs attention.",
            corrections: "Corrections by department, person and date",
            deferred: "Deferred to later runs",
            errors: "Errors",
            technical: "Technical details",
            calls: "API calls this run",
            what_to_do: "What to do: ",
        },
    }
}

/// `研发中心（3 人，5 项更正）` / `R&D (3 people, 5 corrections)`.
pub(crate) fn group_heading(
    department_name: Option<&str>,
    people: usize,
    corrections: usize,
    lang: Lang,
) -> String {
    let name = department(department_name, lang);
    match lang {
        Lang::Zh => format!("{name}（{people} 人，{corrections} 项更正）"),
        Lang::En => format!(
            "{name} ({people} {}, {corrections} {})",
            if people == 1 { "person" } else { "people" },
            if corrections == 1 {
                "correction"
            } else {
                "corrections"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_person(name: Option<&str>, department: Option<&str>, expected: &str) {
        assert_eq!(person("0126000024", name, department), expected);
    }

    #[test]
    fn a_person_reads_name_id_and_department_leaving_out_what_is_not_known() {
        check_person(
            Some("王伟"),
            Some("研发中心"),
            "王伟 (0126000024) · 研发中心",
        );
        check_person(Some("王伟"), None, "王伟 (0126000024)");
        check_person(Some(""), Some("研发中心"), "0126000024 · 研发中心");
        check_person(None, None, "0126000024");
        check_person(
            Some("李\u{1b}]0;x\u{7}"),
            Some("部\u{202e}门"),
            "李\\u{1b}]0;x\\u{7} (0126000024) · 部\\u{202e}门",
        );
    }

    #[test]
    fn a_check_time_on_another_calendar_day_than_the_shift_shows_its_date() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let state = LedgerState {
            time_result: TimeResult::Normal,
            check_time: Some("2026-11-03T16:30:00Z".parse().unwrap()),
            source_type: crate::domain::SourceType::User,
            process_instance_id: None,
        };
        let work_date = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        assert_eq!(
            ledger_state(&state, work_date, tz, Lang::Zh),
            "正常 11-04 00:30"
        );
        let same_day = NaiveDate::from_ymd_opt(2026, 11, 4).unwrap();
        assert_eq!(
            ledger_state(&state, same_day, tz, Lang::En),
            "on time 00:30"
        );
    }

    #[test]
    fn quota_over_budget_says_how_far_over() {
        let calls = ApiCalls {
            by_endpoint: Default::default(),
            metered: 5,
            month_to_date: 4010,
            budget: 4000,
            month: "2026-11".into(),
        };
        assert_eq!(
            quota(&calls, false, Lang::Zh),
            "配额：2026-11 已用 4010 / 4000 次计量调用，已超出预算 10（本次运行 5）"
        );
        assert_eq!(
            quota(&calls, true, Lang::En),
            "Quota: 4010 of 4000 metered calls used in 2026-11, 10 over budget (these runs 5)"
        );
    }

    #[test]
    fn every_attention_kind_has_a_title_and_advice_in_each_language() {
        for kind in AttentionKind::ALL {
            for lang in [Lang::Zh, Lang::En] {
                assert!(!attention_title(kind, lang).is_empty());
                assert!(!advice(kind, lang).is_empty());
            }
        }
    }
}
