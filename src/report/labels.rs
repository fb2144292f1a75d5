//! The labels of the program's own vocabulary in the people-facing reports, in Chinese (the
//! default: PRODUCT.md section 6, "Readers": HR staff read Chinese labels) or English. One table
//! per vocabulary, here only, so every renderer that shows a label shows the same one.
//!
//! A value this program does not know (a result or check type DingTalk added, a state a newer
//! store wrote) is returned as it is, escaped by [`escape::plain`](super::escape): the label
//! functions never hide what DingTalk sent.

use std::borrow::Cow;

use crate::domain::{ChangeClass, TimeResult};

use super::Lang;
use super::escape::plain;

/// The label of a class of change.
pub(crate) fn class(lang: Lang, class: ChangeClass) -> &'static str {
    let (zh, en) = match class {
        ChangeClass::Baseline => ("基线", "baseline"),
        ChangeClass::SupplyApplied => ("补卡已生效", "补卡 applied"),
        ChangeClass::SupplyPending => ("待生效", "awaiting DingTalk"),
        ChangeClass::SupplyUnmatched => ("未匹配", "unmatched"),
        ChangeClass::SupplyRefused => ("已拒绝", "refused"),
        ChangeClass::SupplyWithdrawn => ("已撤回", "withdrawn"),
        ChangeClass::SupplyReverted => ("补卡已撤销", "补卡 revoked"),
        ChangeClass::AdminEdit => ("管理员修改", "admin edit"),
        ChangeClass::LateResult => ("结果更新", "result updated"),
        ChangeClass::Unexplained => ("原因不明", "unexplained"),
        ChangeClass::Vanished => ("记录消失", "vanished"),
    };
    lang.pick(zh, en)
}

/// The label of an attendance result (DingTalk's `timeResult`); an unknown one as it is.
pub(crate) fn time_result(lang: Lang, result: &TimeResult) -> Cow<'_, str> {
    let (zh, en) = match result {
        TimeResult::Normal => ("正常", "on time"),
        TimeResult::Late => ("迟到", "late"),
        TimeResult::SeriousLate => ("严重迟到", "seriously late"),
        TimeResult::Early => ("早退", "left early"),
        TimeResult::Absenteeism => ("旷工", "absent"),
        TimeResult::NotSigned => ("缺卡", "missing punch"),
        TimeResult::Unknown(raw) => return plain(raw),
    };
    Cow::Borrowed(lang.pick(zh, en))
}

/// The label of a check point's type (`OnDuty`, `OffDuty`); an unknown one as it is.
pub(crate) fn check_type(lang: Lang, raw: &str) -> Cow<'_, str> {
    match raw {
        "OnDuty" => Cow::Borrowed(lang.pick("上班", "clock-in")),
        "OffDuty" => Cow::Borrowed(lang.pick("下班", "clock-out")),
        other => plain(other),
    }
}

/// The label of a pending approval's state (`PendingLine::state`); an unknown one as it is.
pub(crate) fn pending_state(lang: Lang, raw: &str) -> Cow<'_, str> {
    match raw {
        "approved_not_visible" => Cow::Borrowed(lang.pick(
            "已通过，钉钉尚未显示更正",
            "approved, not yet shown corrected in DingTalk",
        )),
        "running" => Cow::Borrowed(lang.pick("审批中", "awaiting a decision")),
        other => plain(other),
    }
}

/// The label of a run's kind (`RunInfo::kind`); an unknown one as it is.
pub(crate) fn run_kind(lang: Lang, raw: &str) -> Cow<'_, str> {
    let (zh, en) = match raw {
        "run" => ("夜间运行", "nightly run"),
        "backfill" => ("补录", "backfill"),
        "daemon" => ("定时运行", "scheduled run"),
        "range" => ("日期范围", "date range"),
        other => return plain(other),
    };
    Cow::Borrowed(lang.pick(zh, en))
}

/// The label of a run's outcome (`RunInfo::outcome`); an unknown one as it is.
pub(crate) fn outcome(lang: Lang, raw: &str) -> Cow<'_, str> {
    let (zh, en) = match raw {
        "done" => ("完成", "done"),
        "partial" => ("部分完成", "partly done"),
        "failed" => ("失败", "failed"),
        "running" => ("进行中", "still running"),
        other => return plain(other),
    };
    Cow::Borrowed(lang.pick(zh, en))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_own_label_in_each_language() {
        for lang in [Lang::Zh, Lang::En] {
            let labels: std::collections::BTreeSet<&str> = ChangeClass::ALL
                .into_iter()
                .map(|c| class(lang, c))
                .collect();
            assert_eq!(labels.len(), ChangeClass::ALL.len(), "{lang}");
        }
        assert_eq!(class(Lang::Zh, ChangeClass::SupplyApplied), "补卡已生效");
        assert_eq!(class(Lang::En, ChangeClass::AdminEdit), "admin edit");
    }

    #[test]
    fn unknown_values_are_kept_as_they_are_and_escaped() {
        let zh = Lang::Zh;
        assert_eq!(time_result(zh, &TimeResult::NotSigned), "缺卡");
        assert_eq!(
            time_result(Lang::En, &TimeResult::NotSigned),
            "missing punch"
        );
        assert_eq!(time_result(zh, &TimeResult::Unknown("Odd".into())), "Odd");
        assert_eq!(
            time_result(zh, &TimeResult::Unknown("x\u{1b}[2J".into())),
            "x\\u{1b}[2J"
        );
        assert_eq!(check_type(zh, "OnDuty"), "上班");
        assert_eq!(check_type(Lang::En, "OffDuty"), "clock-out");
        assert_eq!(check_type(zh, "Break\n"), "Break\\u{a}");
        assert_eq!(pending_state(zh, "running"), "审批中");
        assert_eq!(run_kind(zh, "range"), "日期范围");
        assert_eq!(outcome(zh, "partial"), "部分完成");
        assert_eq!(outcome(Lang::En, "later"), "later");
    }
}
