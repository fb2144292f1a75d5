//! Wording shared by the human formats (text, Markdown, HTML): pluralisation, local times, how a
//! ledger state, a cause and a pending state read, and the advice attached to each anomaly.
//!
//! Every value from outside the program is passed through [`escape::shown`](super::escape) here,
//! so what these functions return holds no control character and reads as one line; escaping
//! the markup of Markdown or HTML is the caller's job. Nothing here reads a clock.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::{ChangeClass, LedgerState, TimeResult};

use super::escape::{plain, shown};
use super::{
    AnomalyLine, ApiCalls, CorrectionLine, Coverage, DeferredLine, PendingLine, RunReport, Window,
};

/// `1 correction`, `2 corrections`, `0 corrections`. The one pluralisation helper of the crate's
/// reports; `plural_form` is the irregular plural, or `None` to append `s`.
pub(crate) fn plural(count: u64, singular: &str, plural_form: Option<&str>) -> String {
    if count == 1 {
        format!("{count} {singular}")
    } else {
        match plural_form {
            Some(plural_form) => format!("{count} {plural_form}"),
            None => format!("{count} {singular}s"),
        }
    }
}

/// Who a line is about, as people read it: `王伟 (0126000024) · 研发中心`, the name and the
/// department on the line's work date from the directory cache; what is not known is left out,
/// down to the id alone. Every part is outside text, shown through [`plain`].
pub(crate) fn person(user_id: &str, name: Option<&str>, department: Option<&str>) -> String {
    let mut who = match name.filter(|name| !name.is_empty()) {
        Some(name) => format!("{} ({})", plain(name), plain(user_id)),
        None => plain(user_id).into_owned(),
    };
    if let Some(department) = department.filter(|department| !department.is_empty()) {
        who.push_str(" · ");
        who.push_str(&plain(department));
    }
    who
}

/// A wall-clock instant in the business time zone, e.g. `2026-11-04 10:15 CST`.
pub(crate) fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// How a ledger state reads next to its work date: `Normal 08:59`, `NotSigned`, or
/// `Normal 11-04 00:30` when the punch fell on another calendar day than the shift.
pub(crate) fn ledger_state(state: &LedgerState, work_date: NaiveDate, tz: Tz) -> String {
    let result = shown(state.time_result.as_str());
    match state.check_time {
        Some(check_time) if state.time_result != TimeResult::NotSigned => {
            let local = check_time.with_timezone(&tz);
            if local.date_naive() == work_date {
                format!("{result} {}", local.format("%H:%M"))
            } else {
                format!("{result} {}", local.format("%m-%d %H:%M"))
            }
        }
        _ => result.to_string(),
    }
}

/// `NotSigned → Normal 08:59`, or `(not observed) → …` when the slot was first seen corrected.
pub(crate) fn before_after(line: &CorrectionLine, tz: Tz) -> String {
    let before = match (&line.before, line.before_observed) {
        (Some(before), true) => ledger_state(before, line.work_date, tz),
        (Some(before), false) => format!(
            "{} (not observed)",
            ledger_state(before, line.work_date, tz)
        ),
        (None, _) => "(not observed)".to_owned(),
    };
    format!(
        "{before} → {}",
        ledger_state(&line.after, line.work_date, tz)
    )
}

/// The check point of a slot: `OnDuty (plan 437360727696)` or `OnDuty`.
pub(crate) fn check_point(check_type: Option<&str>, plan_id: Option<i64>) -> String {
    match (check_type, plan_id) {
        (Some(check_type), Some(plan_id)) => format!("{} (plan {plan_id})", shown(check_type)),
        (Some(check_type), None) => plain(check_type).into_owned(),
        (None, Some(plan_id)) => format!("plan {plan_id}"),
        (None, None) => "(check point unknown)".to_owned(),
    }
}

/// Why the ledger changed: the approval with its enrichment, or the kind of change.
pub(crate) fn cause(line: &CorrectionLine, tz: Tz) -> String {
    match &line.process_instance_id {
        Some(process_instance_id) => {
            let mut text = format!("by approval {}", shown(process_instance_id));
            match (&line.business_id, line.approved_at) {
                (None, None) => text.push_str(" (details not fetched yet)"),
                (business_id, approved_at) => {
                    if let Some(business_id) = business_id {
                        text.push_str(&format!(", business id {}", shown(business_id)));
                    }
                    if let Some(approved_at) = approved_at {
                        text.push_str(&format!(", approved {}", local_time(approved_at, tz)));
                    }
                }
            }
            text
        }
        None => match line.class {
            ChangeClass::AdminEdit => "by an admin edit in DingTalk".to_owned(),
            ChangeClass::SupplyReverted => {
                "compensating: DingTalk no longer shows the approved correction".to_owned()
            }
            ChangeClass::Unexplained => "by a change DingTalk gave no reason for".to_owned(),
            ChangeClass::Vanished => "the check point is gone from DingTalk".to_owned(),
            other => format!("as {other}"),
        },
    }
}

/// How a pending approval's state reads.
pub(crate) fn pending_state(line: &PendingLine) -> String {
    match line.state.as_str() {
        "approved_not_visible" => {
            "approved; DingTalk does not show the slot corrected yet".to_owned()
        }
        "running" => "awaiting a decision".to_owned(),
        other => plain(other).into_owned(),
    }
}

/// How a deferred item reads: `rescan: 2026-11-01 .. 2026-11-07 (about 12 calls)`.
pub(crate) fn deferred_item(line: &DeferredLine) -> String {
    format!(
        "{}: {} (about {})",
        shown(&line.item),
        shown(&line.detail),
        plural(line.estimated_calls, "call", None)
    )
}

/// Who and what a finding is about: `0126, 2026-11-02 OffDuty (plan 1), approval x`.
/// An approval finding whose person and date are not known (its detail was never stored) reads
/// `approval x (details not fetched yet)` instead of an unknown user on an unknown date.
pub(crate) fn finding_subject(line: &AnomalyLine) -> String {
    if let (None, None, Some(process_instance_id)) =
        (&line.user_id, line.work_date, &line.process_instance_id)
    {
        return format!(
            "approval {} (details not fetched yet)",
            shown(process_instance_id)
        );
    }
    let who = line.user_id.as_deref().map_or_else(
        || "unknown user".to_owned(),
        |user_id| person(user_id, line.name.as_deref(), line.department.as_deref()),
    );
    let day = line
        .work_date
        .map_or_else(|| "date unknown".to_owned(), |d| d.to_string());
    let mut subject = format!("{who}, {day}");
    if line.check_type.is_some() || line.plan_id.is_some() {
        subject.push(' ');
        subject.push_str(&check_point(line.check_type.as_deref(), line.plan_id));
    } else if line.process_instance_id.is_none() {
        subject.push_str(" (check point unknown)");
    }
    if let Some(process_instance_id) = &line.process_instance_id {
        subject.push_str(&format!(", approval {}", shown(process_instance_id)));
    }
    subject
}

/// What a person should do about an anomaly of this class.
pub(crate) fn advice(class: ChangeClass) -> &'static str {
    match class {
        ChangeClass::SupplyUnmatched => {
            "Check that the employee had a shift that day and is in the configured scope; \
             the ledger was left unchanged."
        }
        ChangeClass::SupplyReverted => {
            "Someone undid an approved correction in DingTalk; confirm with HR before payroll \
             uses this day (a compensating correction was journaled)."
        }
        ChangeClass::Unexplained => {
            "Review the check point in DingTalk's attendance admin; set policy.unexplained = \
             \"apply\" to accept such changes automatically."
        }
        ChangeClass::Vanished => {
            "The check point is gone from DingTalk (schedule changed or shift removed); check the \
             employee's schedule for that day."
        }
        ChangeClass::SupplyPending => {
            "DingTalk still does not show this approved correction; open the approval in DingTalk \
             and ask the attendance admin to re-run the day's results."
        }
        _ => "Review this change in DingTalk.",
    }
}

/// The one-line headline: outcome, corrections, pending, anomalies, quota. A date-range report
/// names its work dates and its latest run, never the range as if one run had done it all.
pub(crate) fn headline(report: &RunReport) -> String {
    let run = &report.run;
    let subject = if report.coverage.is_some() {
        format!(
            "Work dates {} (latest run #{} {})",
            dates(report.run.window),
            run.id,
            shown(&run.outcome)
        )
    } else {
        format!(
            "Run #{} ({}) {}",
            run.id,
            shown(&run.kind),
            shown(&run.outcome)
        )
    };
    format!(
        "{subject}: {} applied, {}, {}; {}",
        plural(report.corrections.len() as u64, "correction", None),
        plural(report.pending.len() as u64, "approval", None) + " pending",
        plural(report.anomalies.len() as u64, "anomaly", Some("anomalies")),
        quota_sentence(&report.api_calls),
    )
}

/// `quota 123 of 4000 metered calls used in 2026-11, 3877 left (this run 17)`.
pub(crate) fn quota_sentence(calls: &ApiCalls) -> String {
    let over = calls.month_to_date.saturating_sub(calls.budget);
    let left = if over > 0 {
        format!("none left, {over} over budget")
    } else {
        format!("{} left", calls.budget_left())
    };
    format!(
        "quota {} of {} metered calls used in {}, {left} (this run {})",
        calls.month_to_date, calls.budget, calls.month, calls.metered
    )
}

/// The nonzero class counts, e.g. `baseline 120, supply_applied 3`, or `none`.
pub(crate) fn counts_sentence(report: &RunReport) -> String {
    let parts: Vec<String> = report
        .counts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(class, count)| format!("{class} {count}"))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Calls by endpoint, e.g. `/attendance/list 12, /gettoken 1`, or `none`.
pub(crate) fn calls_sentence(calls: &ApiCalls) -> String {
    let parts: Vec<String> = calls
        .by_endpoint
        .iter()
        .map(|(endpoint, count)| format!("{} {count}", shown(endpoint)))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// `2026-11-03` or `2026-11-01 … 2026-11-30`; for a date-range report followed by which of
/// them were reconciled and the gaps: `2026-10-01 … 2026-10-31 (reconciled 2026-10-01 …
/// 2026-10-30; not reconciled: 2026-10-31)`.
pub(crate) fn window(report: &RunReport) -> String {
    match &report.coverage {
        Some(coverage) => format!(
            "{} ({})",
            dates(report.run.window),
            coverage_sentence(coverage)
        ),
        None => dates(report.run.window),
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

/// Which work dates were reconciled and which were not, each part left out when empty:
/// `reconciled 2026-10-01 … 2026-10-30; not reconciled: 2026-10-31`.
pub(crate) fn coverage_sentence(coverage: &Coverage) -> String {
    let list = |windows: &[Window]| {
        windows
            .iter()
            .map(|window| dates(*window))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if coverage.reconciled.is_empty() {
        parts.push("none reconciled".to_owned());
    } else if coverage.partly.is_empty() && coverage.not_reconciled.is_empty() {
        parts.push("every date reconciled".to_owned());
    } else {
        parts.push(format!("reconciled {}", list(&coverage.reconciled)));
    }
    if !coverage.partly.is_empty() {
        parts.push(format!(
            "read only by runs that did not end done: {}",
            list(&coverage.partly)
        ));
    }
    if !coverage.not_reconciled.is_empty() {
        parts.push(format!(
            "not reconciled: {}",
            list(&coverage.not_reconciled)
        ));
    }
    parts.join("; ")
}

/// The columns of the corrections table in the tabular formats (Markdown, HTML).
pub(crate) const CORRECTION_COLUMNS: [&str; 6] = [
    "user",
    "work date",
    "check point",
    "change",
    "class",
    "cause",
];

/// One row of the corrections table, in the order of `CORRECTION_COLUMNS`; markup not escaped.
pub(crate) fn correction_cells(line: &CorrectionLine, tz: Tz) -> [String; 6] {
    [
        person(
            &line.user_id,
            line.name.as_deref(),
            line.department.as_deref(),
        ),
        line.work_date.to_string(),
        check_point(Some(&line.check_type), line.plan_id),
        before_after(line, tz),
        line.class.to_string(),
        cause(line, tz),
    ]
}

/// The columns of the pending-approvals table in the tabular formats (Markdown, HTML).
pub(crate) const PENDING_COLUMNS: [&str; 7] = [
    "user",
    "work date",
    "check point",
    "state",
    "since",
    "approval",
    "business id",
];

/// One row of the pending-approvals table, in the order of `PENDING_COLUMNS`, markup not
/// escaped; an unknown value is an empty cell.
pub(crate) fn pending_cells(line: &PendingLine, tz: Tz) -> [String; 7] {
    [
        person(
            &line.user_id,
            line.name.as_deref(),
            line.department.as_deref(),
        ),
        line.work_date.map(|d| d.to_string()).unwrap_or_default(),
        check_point(line.check_type.as_deref(), None),
        pending_state(line),
        line.since.map(|at| local_time(at, tz)).unwrap_or_default(),
        plain(&line.process_instance_id).into_owned(),
        plain(line.business_id.as_deref().unwrap_or_default()).into_owned(),
    ]
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

    #[track_caller]
    fn check_plural(count: u64, singular: &str, plural_form: Option<&str>, expected: &str) {
        assert_eq!(plural(count, singular, plural_form), expected);
    }

    #[test]
    fn plural_uses_the_singular_only_for_exactly_one() {
        check_plural(0, "correction", None, "0 corrections");
        check_plural(1, "correction", None, "1 correction");
        check_plural(2, "correction", None, "2 corrections");
        check_plural(1, "anomaly", Some("anomalies"), "1 anomaly");
        check_plural(7, "anomaly", Some("anomalies"), "7 anomalies");
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
        assert_eq!(ledger_state(&state, work_date, tz), "Normal 11-04 00:30");
        let same_day = NaiveDate::from_ymd_opt(2026, 11, 4).unwrap();
        assert_eq!(ledger_state(&state, same_day, tz), "Normal 00:30");
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
            quota_sentence(&calls),
            "quota 4010 of 4000 metered calls used in 2026-11, none left, 10 over budget (this run 5)"
        );
    }
}
