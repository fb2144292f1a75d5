//! The text of `explain`: everything known about one employee-day, section by section.
//!
//! Renders a [`reconcile::Explanation`](crate::reconcile::Explanation) (gathered from the store by
//! `reconcile::explain`) in the order a person checks a day: the slots as DingTalk last showed
//! them, their history of observed changes, the ledger rows, the corrections journaled, the
//! approvals linked and the findings reported. Every section is printed, with a line saying so
//! when it is empty. Times are minutes in the business time zone; the header names it. Every value
//! from DingTalk (ids, results DingTalk may add, reasons) goes through
//! [`escape`](super::escape), so each item is one line and no control character reaches the
//! terminal.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::escape::{shown, shown_display as show};
use super::present::person;
use crate::domain::Slot;
use crate::reconcile::Explanation;
use crate::store::{
    HistoryEntry, LedgerRow, StoredApproval, StoredCorrection, StoredFinding, StoredSlot,
};

/// The plain-text explanation of one employee-day, times shown in `tz`.
pub(crate) fn render_explanation(explanation: &Explanation, tz: Tz) -> String {
    let e = explanation;
    let who = e.person.as_ref().map_or_else(
        || show(&e.user_id).to_string(),
        |known| {
            person(
                e.user_id.as_str(),
                Some(&known.name),
                known.department.as_deref(),
            )
        },
    );
    let mut out = format!("{who} on {} (times in {tz})\n", e.work_date);
    section(
        &mut out,
        "slots as DingTalk last showed them",
        "none observed (not in scope, no schedule, or not fetched yet)",
        &e.slots,
        |stored| slot_line(stored, tz),
    );
    section(
        &mut out,
        "history",
        "nothing recorded",
        &e.history,
        |entry| history_line(entry, tz),
    );
    section(&mut out, "ledger", "no rows", &e.ledger, |row| {
        ledger_line(row, tz)
    });
    section(&mut out, "corrections", "none", &e.corrections, |stored| {
        correction_line(stored, tz)
    });
    section(
        &mut out,
        "approvals",
        "none linked",
        &e.approvals,
        |stored| approval_line(stored, tz),
    );
    section(&mut out, "findings", "none", &e.findings, finding_line);
    out
}

/// A blank line, the title, then one indented line per item or `when_empty`.
fn section<T>(
    out: &mut String,
    title: &str,
    when_empty: &str,
    items: &[T],
    line: impl Fn(&T) -> String,
) {
    // Writing into a String cannot fail.
    let _ = writeln!(out, "\n{title}");
    if items.is_empty() {
        let _ = writeln!(out, "  {when_empty}");
    }
    for item in items {
        let _ = writeln!(out, "  {}", line(item));
    }
}

/// Minutes in `tz`, or `-`.
fn local(at: Option<DateTime<Utc>>, tz: Tz) -> String {
    at.map(|at| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

fn slot_line(stored: &StoredSlot, tz: Tz) -> String {
    let slot = &stored.slot;
    format!(
        "{:<8} plan {:<14} scheduled {}  punched {}  {} / {} via {}{}{}",
        show(&slot.check_type),
        slot.plan_id
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into()),
        local(Some(slot.base_check_time), tz),
        local(slot.user_check_time, tz),
        show(&slot.time_result),
        show(&slot.location_result),
        show(&slot.source_type),
        slot.process_instance_id
            .as_ref()
            .map(|id| format!("  approval {}", shown(id)))
            .unwrap_or_default(),
        if stored.present { "" } else { "  (vanished)" },
    )
}

fn history_line(entry: &HistoryEntry, tz: Tz) -> String {
    let describe = |slot: &Option<Slot>| {
        slot.as_ref()
            .map(|s| format!("{} via {}", show(&s.time_result), show(&s.source_type)))
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "run #{:<4} {}  {:<8} {} → {}{}",
        entry.run_id,
        local(Some(entry.observed_at), tz),
        entry.change.as_str(),
        describe(&entry.before),
        describe(&entry.after),
        entry
            .class
            .map(|class| format!("  [{class}]"))
            .unwrap_or_default(),
    )
}

fn ledger_line(row: &LedgerRow, tz: Tz) -> String {
    format!(
        "{}  {} at {} via {}  (cause {}{})",
        show(&row.slot_key),
        show(&row.state.time_result),
        local(row.state.check_time, tz),
        show(&row.state.source_type),
        row.cause_class,
        row.cause_process_instance_id
            .as_ref()
            .map(|id| format!(", approval {}", shown(id)))
            .unwrap_or_default(),
    )
}

fn correction_line(stored: &StoredCorrection, tz: Tz) -> String {
    let c = &stored.correction;
    format!(
        "run #{:<4} {:<15} {} → {}  approval {}  business id {}  applied {}  key {}",
        stored.run_id,
        c.class,
        c.before
            .as_ref()
            .map(|b| show(&b.time_result))
            .unwrap_or_else(|| "(not observed)".into()),
        show(&c.after.time_result),
        shown(c.process_instance_id.as_deref().unwrap_or("-")),
        shown(c.business_id.as_deref().unwrap_or("-")),
        local(Some(stored.applied_at), tz),
        shown(&c.idempotency_key),
    )
}

fn approval_line(stored: &StoredApproval, tz: Tz) -> String {
    let a = &stored.approval;
    format!(
        "{}  business id {}  {} {}  created {}  finished {}  corrected time {}  reason \"{}\"{}",
        shown(&a.process_instance_id),
        shown(a.business_id.as_deref().unwrap_or("-")),
        show(&a.status),
        a.result.as_ref().map(show).unwrap_or_default(),
        local(a.create_time, tz),
        local(a.finish_time, tz),
        local(a.corrected_time, tz),
        shown(a.reason.as_deref().unwrap_or("")),
        stored
            .resolution
            .map(|class| format!("  [{class}]"))
            .unwrap_or_default(),
    )
}

fn finding_line(stored: &StoredFinding) -> String {
    format!(
        "run #{:<4} {:<16} {}",
        stored.run_id,
        stored.finding.class,
        shown(&stored.finding.detail)
    )
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{
        Approval, ApprovalResult, ApprovalStatus, ChangeClass, CheckType, Correction, LedgerState,
        LocationResult, SourceType, TimeResult, UserId,
    };
    use crate::store::{FindingRow, HistoryChange, KnownPerson};

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
    const PROC: &str = "proc-7f3a";

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().expect("test time is RFC 3339")
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 3).expect("valid day")
    }

    fn user() -> UserId {
        UserId::new("0126").expect("valid user id")
    }

    /// The on-duty check point as DingTalk showed it first: not signed.
    fn not_signed() -> Slot {
        Slot {
            user_id: user(),
            work_date: day(),
            check_type: CheckType::OnDuty,
            plan_id: Some(4_370_001),
            base_check_time: at("2026-11-03T01:00:00Z"),
            user_check_time: Some(at("2026-11-03T01:00:00Z")),
            time_result: TimeResult::NotSigned,
            location_result: LocationResult::NotSigned,
            source_type: SourceType::System,
            process_instance_id: None,
            approve_id: None,
            record_id: None,
            group_id: Some(7),
            row_id: Some(11),
        }
    }

    /// The same check point after the 补卡 `PROC` was approved.
    fn supplied() -> Slot {
        Slot {
            user_check_time: Some(at("2026-11-03T00:58:00Z")),
            time_result: TimeResult::Normal,
            location_result: LocationResult::Normal,
            source_type: SourceType::Approve,
            process_instance_id: Some(PROC.to_owned()),
            record_id: Some(99),
            ..not_signed()
        }
    }

    /// An off-duty check point without a plan id that vanished after its first observation.
    fn vanished() -> Slot {
        Slot {
            check_type: CheckType::OffDuty,
            plan_id: None,
            base_check_time: at("2026-11-03T10:00:00Z"),
            user_check_time: Some(at("2026-11-03T10:02:00Z")),
            time_result: TimeResult::Normal,
            location_result: LocationResult::Outside,
            source_type: SourceType::Atm,
            row_id: Some(12),
            ..not_signed()
        }
    }

    fn empty() -> Explanation {
        Explanation {
            user_id: user(),
            person: None,
            work_date: day(),
            slots: Vec::new(),
            history: Vec::new(),
            approvals: Vec::new(),
            ledger: Vec::new(),
            corrections: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// A day with something in every section: a 补卡 applied to one check point, another
    /// check point that vanished, and an anomaly reported on the first.
    fn rich() -> Explanation {
        let observed = |slot: Slot, present: bool| StoredSlot {
            slot,
            observed_at: at("2026-11-04T18:10:00Z"),
            first_seen_run: 1,
            last_seen_run: 2,
            present,
        };
        let entry =
            |run_id, hour: &str, change, before: Option<Slot>, after: Option<Slot>, class| {
                let slot_key = after.as_ref().or(before.as_ref()).expect("a slot").key();
                HistoryEntry {
                    run_id,
                    observed_at: at(hour),
                    slot_key,
                    change,
                    before,
                    after,
                    class,
                }
            };
        let before = not_signed().ledger_state();
        let after = supplied().ledger_state();
        let correction = Correction {
            idempotency_key: format!("supply_applied|{}|{PROC}", supplied().key()),
            slot_key: supplied().key(),
            class: ChangeClass::SupplyApplied,
            before: Some(before.clone()),
            after: after.clone(),
            before_observed: true,
            process_instance_id: Some(PROC.to_owned()),
            business_id: Some("20261104000042".to_owned()),
            approved_at: Some(at("2026-11-04T02:15:00Z")),
        };
        let approval = Approval {
            process_instance_id: PROC.to_owned(),
            process_code: "PROC-SUPPLY".to_owned(),
            business_id: Some("20261104000042".to_owned()),
            title: Some("补卡申请".to_owned()),
            originator: user(),
            status: ApprovalStatus::Completed,
            result: Some(ApprovalResult::Agree),
            create_time: Some(at("2026-11-03T09:30:00Z")),
            finish_time: Some(at("2026-11-04T02:15:00Z")),
            corrected_time: Some(at("2026-11-03T00:58:00Z")),
            ext: None,
            reason: Some("忘记打卡".to_owned()),
            biz_action: None,
            links: Default::default(),
            raw_json: "{}".to_owned(),
        };
        Explanation {
            slots: vec![observed(supplied(), true), observed(vanished(), false)],
            history: vec![
                entry(
                    1,
                    "2026-11-03T18:10:00Z",
                    HistoryChange::New,
                    None,
                    Some(not_signed()),
                    Some(ChangeClass::Baseline),
                ),
                entry(
                    1,
                    "2026-11-03T18:10:00Z",
                    HistoryChange::New,
                    None,
                    Some(vanished()),
                    Some(ChangeClass::Baseline),
                ),
                entry(
                    2,
                    "2026-11-04T18:10:00Z",
                    HistoryChange::Changed,
                    Some(not_signed()),
                    Some(supplied()),
                    Some(ChangeClass::SupplyApplied),
                ),
                entry(
                    2,
                    "2026-11-04T18:10:00Z",
                    HistoryChange::Vanished,
                    Some(vanished()),
                    None,
                    None,
                ),
            ],
            approvals: vec![StoredApproval {
                approval,
                resolution: Some(ChangeClass::SupplyApplied),
                resolved_slot: Some(supplied().key()),
                first_seen_run: 2,
                fetched_at: at("2026-11-04T18:10:00Z"),
            }],
            ledger: vec![
                LedgerRow {
                    slot_key: supplied().key(),
                    state: after,
                    cause_class: ChangeClass::SupplyApplied,
                    cause_process_instance_id: Some(PROC.to_owned()),
                    last_correction_key: Some(correction.idempotency_key.clone()),
                    updated_run: 2,
                },
                LedgerRow {
                    slot_key: vanished().key(),
                    state: LedgerState {
                        check_time: None,
                        ..vanished().ledger_state()
                    },
                    cause_class: ChangeClass::Baseline,
                    cause_process_instance_id: None,
                    last_correction_key: None,
                    updated_run: 1,
                },
            ],
            corrections: vec![StoredCorrection {
                version: 1,
                correction,
                run_id: 2,
                applied_at: at("2026-11-04T18:10:05Z"),
                check_type: Some(CheckType::OnDuty),
            }],
            findings: vec![StoredFinding {
                run_id: 2,
                finding: FindingRow {
                    class: ChangeClass::Vanished,
                    slot_key: Some(vanished().key()),
                    user_id: Some(user()),
                    work_date: Some(day()),
                    check_type: Some("OffDuty".to_owned()),
                    plan_id: None,
                    process_instance_id: None,
                    detail: "the OffDuty check point is gone from DingTalk".to_owned(),
                },
            }],
            person: Some(KnownPerson {
                name: "王伟".to_owned(),
                department: Some("研发中心".to_owned()),
            }),
            ..empty()
        }
    }

    #[test]
    fn explanation_matches_its_snapshot() {
        insta::assert_snapshot!(render_explanation(&rich(), SHANGHAI));
    }

    #[test]
    fn explanation_shows_times_in_the_business_time_zone_and_names_it() {
        let text = render_explanation(&rich(), SHANGHAI);
        assert!(
            text.starts_with("王伟 (0126) · 研发中心 on 2026-11-03 (times in Asia/Shanghai)\n")
        );
        // 2026-11-03T00:58Z is 08:58 in Shanghai.
        assert!(text.contains("punched 2026-11-03 08:58"), "{text}");
        let utc = render_explanation(&rich(), chrono_tz::UTC);
        assert!(utc.starts_with("王伟 (0126) · 研发中心 on 2026-11-03 (times in UTC)\n"));
        let unknown = Explanation {
            person: None,
            ..rich()
        };
        let text = render_explanation(&unknown, SHANGHAI);
        assert!(
            text.starts_with("0126 on 2026-11-03 (times in Asia/Shanghai)\n"),
            "a person the directory does not know is the id alone: {text}"
        );
        assert!(utc.contains("punched 2026-11-03 00:58"), "{utc}");
    }

    #[test]
    fn hostile_text_from_dingtalk_stays_on_its_line_and_shows_escaped() {
        let mut hostile = rich();
        let approval = &mut hostile.approvals[0].approval;
        approval.reason = Some("忘记打卡\u{1b}[2J\r\nfindings\n  none".to_owned());
        approval.business_id = Some("=HYPERLINK(\"x\")\u{202e}\u{7}".to_owned());
        approval.status = crate::domain::ApprovalStatus::Unknown("NEW\u{9b}31m".to_owned());
        hostile.corrections[0].correction.business_id = Some("\u{85}id".to_owned());
        hostile.slots[0].slot.time_result = TimeResult::Unknown("X\u{2028}Y".to_owned());
        hostile.findings[0].finding.detail = "gone\n\nforged section".to_owned();
        let text = render_explanation(&hostile, SHANGHAI);
        let raw = crate::report::escape::hostile_chars(&text);
        assert!(raw.is_empty(), "{raw:?} in {text}");
        assert_eq!(
            text.lines().count(),
            render_explanation(&rich(), SHANGHAI).lines().count(),
            "{text}"
        );
        assert!(
            text.contains("reason \"忘记打卡\\u{1b}[2J\\u{d}\\u{a}findings\\u{a}  none\""),
            "{text}"
        );
        assert!(
            text.contains("business id =HYPERLINK(\"x\")\\u{202e}\\u{7}"),
            "{text}"
        );
        assert!(text.contains("NEW\\u{9b}31m"), "{text}");
    }

    #[test]
    fn an_unknown_day_prints_every_section_saying_it_is_empty() {
        assert_eq!(
            render_explanation(&empty(), SHANGHAI),
            "0126 on 2026-11-03 (times in Asia/Shanghai)\n\
             \n\
             slots as DingTalk last showed them\n  \
             none observed (not in scope, no schedule, or not fetched yet)\n\
             \n\
             history\n  nothing recorded\n\
             \n\
             ledger\n  no rows\n\
             \n\
             corrections\n  none\n\
             \n\
             approvals\n  none linked\n\
             \n\
             findings\n  none\n"
        );
    }
}
