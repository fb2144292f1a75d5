//! The Chinese labels of the program's own vocabulary, for the people-facing reports (PRODUCT.md
//! section 6, "Readers": HR staff read Chinese labels). One table per vocabulary, here only, so
//! every renderer that shows a label shows the same one.
//!
//! A value this program does not know (a result or check type DingTalk added, a state a newer
//! store wrote) is returned as it is, escaped by [`escape::plain`](super::escape): the label
//! functions never hide what DingTalk sent.

use std::borrow::Cow;

use crate::domain::{ChangeClass, TimeResult};

use super::escape::plain;

/// The label of a class of change.
pub(crate) fn class(class: ChangeClass) -> &'static str {
    match class {
        ChangeClass::Baseline => "基线",
        ChangeClass::SupplyApplied => "补卡已生效",
        ChangeClass::SupplyPending => "待生效",
        ChangeClass::SupplyUnmatched => "未匹配",
        ChangeClass::SupplyRefused => "已拒绝",
        ChangeClass::SupplyWithdrawn => "已撤回",
        ChangeClass::SupplyReverted => "补卡已撤销",
        ChangeClass::AdminEdit => "管理员修改",
        ChangeClass::LateResult => "结果更新",
        ChangeClass::Unexplained => "原因不明",
        ChangeClass::Vanished => "记录消失",
    }
}

/// The label of an attendance result (DingTalk's `timeResult`); an unknown one as it is.
pub(crate) fn time_result(result: &TimeResult) -> Cow<'_, str> {
    Cow::Borrowed(match result {
        TimeResult::Normal => "正常",
        TimeResult::Late => "迟到",
        TimeResult::SeriousLate => "严重迟到",
        TimeResult::Early => "早退",
        TimeResult::Absenteeism => "旷工",
        TimeResult::NotSigned => "缺卡",
        TimeResult::Unknown(raw) => return plain(raw),
    })
}

/// The label of a check point's type (`OnDuty`, `OffDuty`); an unknown one as it is.
pub(crate) fn check_type(raw: &str) -> Cow<'_, str> {
    match raw {
        "OnDuty" => Cow::Borrowed("上班"),
        "OffDuty" => Cow::Borrowed("下班"),
        other => plain(other),
    }
}

/// The label of a pending approval's state (`PendingLine::state`); an unknown one as it is.
pub(crate) fn pending_state(raw: &str) -> Cow<'_, str> {
    match raw {
        "approved_not_visible" => Cow::Borrowed("已通过，钉钉尚未显示更正"),
        "running" => Cow::Borrowed("审批中"),
        other => plain(other),
    }
}

/// The label of a run's kind (`RunInfo::kind`); an unknown one as it is.
pub(crate) fn run_kind(raw: &str) -> Cow<'_, str> {
    match raw {
        "run" => Cow::Borrowed("夜间运行"),
        "backfill" => Cow::Borrowed("补录"),
        "daemon" => Cow::Borrowed("定时运行"),
        "range" => Cow::Borrowed("日期范围"),
        other => plain(other),
    }
}

/// The label of a run's outcome (`RunInfo::outcome`); an unknown one as it is.
pub(crate) fn outcome(raw: &str) -> Cow<'_, str> {
    match raw {
        "done" => Cow::Borrowed("完成"),
        "partial" => Cow::Borrowed("部分完成"),
        "failed" => Cow::Borrowed("失败"),
        "running" => Cow::Borrowed("进行中"),
        other => plain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_own_label() {
        let labels: std::collections::BTreeSet<&str> =
            ChangeClass::ALL.into_iter().map(class).collect();
        assert_eq!(labels.len(), ChangeClass::ALL.len());
        assert_eq!(class(ChangeClass::SupplyApplied), "补卡已生效");
        assert_eq!(class(ChangeClass::Baseline), "基线");
    }

    #[test]
    fn unknown_values_are_kept_as_they_are_and_escaped() {
        assert_eq!(time_result(&TimeResult::NotSigned), "缺卡");
        assert_eq!(time_result(&TimeResult::Unknown("Odd".into())), "Odd");
        assert_eq!(
            time_result(&TimeResult::Unknown("x\u{1b}[2J".into())),
            "x\\u{1b}[2J"
        );
        assert_eq!(check_type("OnDuty"), "上班");
        assert_eq!(check_type("Break\n"), "Break\\u{a}");
        assert_eq!(pending_state("running"), "审批中");
        assert_eq!(run_kind("range"), "日期范围");
        assert_eq!(outcome("partial"), "部分完成");
        assert_eq!(outcome("later"), "later");
    }
}
