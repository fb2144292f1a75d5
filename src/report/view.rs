//! The one shape of the people-facing reports (text, Markdown, HTML): a [`View`] of a
//! [`RunReport`], built once and rendered by each of those formats in its language.
//!
//! Order, as HR staff read it: a summary (counts by class, by department, the quota), then what
//! **needs attention** ([`Attention`]: overdue pending approvals, revoked corrections,
//! unexplained and vanished check points, unmatched approvals, refused and withdrawn ones with
//! their reason, approvals still waiting for DingTalk or for a decision), then the corrections
//! grouped department → person → date ([`Group`]), each person with their totals.
//!
//! Pure and language-free: the view holds references into the report and counts; wording is the
//! renderers' (through `words` and `labels`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::domain::ChangeClass;

use super::{AnomalyLine, CorrectionLine, PendingLine, RunReport};

/// The people-first view of one report.
#[derive(Debug)]
pub(crate) struct View<'r> {
    pub(crate) report: &'r RunReport,
    /// One row per department that any line names (those without one under `None`, last).
    pub(crate) departments: Vec<DepartmentRow<'r>>,
    /// The non-empty attention sections, most urgent first.
    pub(crate) attention: Vec<Attention<'r>>,
    /// Corrections by department, then person, then date.
    pub(crate) groups: Vec<Group<'r>>,
    /// Corrections per work date and class, for the chart: every date of the report's window.
    pub(crate) by_date: Vec<(NaiveDate, BTreeMap<ChangeClass, u64>)>,
}

/// How many of each kind a department (or a person) has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// 补卡 corrections applied.
    pub(crate) applied: u64,
    /// Approved 补卡 DingTalk does not show yet.
    pub(crate) pending: u64,
    /// Refused or withdrawn 补卡.
    pub(crate) refused: u64,
    /// Other corrections: admin edits, revocations, late results, applied unexplained.
    pub(crate) other: u64,
    /// Lines in the attention sections that ask someone to act.
    pub(crate) attention: u64,
}

impl Tally {
    pub(crate) fn corrections(&self) -> u64 {
        self.applied + self.other
    }
}

#[derive(Debug)]
pub(crate) struct DepartmentRow<'r> {
    pub(crate) name: Option<&'r str>,
    /// People with at least one line.
    pub(crate) people: usize,
    pub(crate) tally: Tally,
}

/// A section of "needs attention", in the order [`AttentionKind`] lists them.
#[derive(Debug)]
pub(crate) struct Attention<'r> {
    pub(crate) kind: AttentionKind,
    pub(crate) items: Vec<Item<'r>>,
}

/// The kinds of "needs attention", most urgent first. Every kind but the last two asks someone
/// to act; `Pending` and `InProgress` are there to be known about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum AttentionKind {
    /// Approved longer ago than `pending_anomaly_days` and still not shown corrected.
    Overdue,
    /// An applied 补卡 DingTalk no longer shows.
    Reverted,
    Unexplained,
    Vanished,
    Unmatched,
    Refused,
    Withdrawn,
    /// Changes reported and not applied by policy.
    ReportedOnly,
    /// Approved, not yet shown corrected, not overdue.
    Pending,
    /// Awaiting a decision.
    InProgress,
}

impl AttentionKind {
    /// Every kind, most urgent first.
    #[cfg(test)]
    pub(crate) const ALL: [AttentionKind; 10] = [
        AttentionKind::Overdue,
        AttentionKind::Reverted,
        AttentionKind::Unexplained,
        AttentionKind::Vanished,
        AttentionKind::Unmatched,
        AttentionKind::Refused,
        AttentionKind::Withdrawn,
        AttentionKind::ReportedOnly,
        AttentionKind::Pending,
        AttentionKind::InProgress,
    ];

    /// Whether the kind asks someone to do something.
    pub(crate) fn needs_action(self) -> bool {
        !matches!(self, AttentionKind::Pending | AttentionKind::InProgress)
    }

    fn of_finding(class: ChangeClass) -> AttentionKind {
        match class {
            ChangeClass::SupplyPending => AttentionKind::Overdue,
            ChangeClass::SupplyReverted => AttentionKind::Reverted,
            ChangeClass::Unexplained => AttentionKind::Unexplained,
            ChangeClass::Vanished => AttentionKind::Vanished,
            ChangeClass::SupplyUnmatched => AttentionKind::Unmatched,
            ChangeClass::SupplyRefused => AttentionKind::Refused,
            ChangeClass::SupplyWithdrawn => AttentionKind::Withdrawn,
            _ => AttentionKind::ReportedOnly,
        }
    }
}

/// One line of "needs attention": a finding or a pending approval.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'r> {
    /// A finding, with the business id (审批编号) of its approval when a correction or a
    /// pending line of the report knows it.
    Finding(&'r AnomalyLine, Option<&'r str>),
    Pending(&'r PendingLine),
}

impl<'r> Item<'r> {
    pub(crate) fn user_id(&self) -> Option<&'r str> {
        match self {
            Item::Finding(line, _) => line.user_id.as_deref(),
            Item::Pending(line) => Some(line.user_id.as_str()).filter(|id| !id.is_empty()),
        }
    }

    pub(crate) fn name(&self) -> Option<&'r str> {
        match self {
            Item::Finding(line, _) => line.name.as_deref(),
            Item::Pending(line) => line.name.as_deref(),
        }
    }

    pub(crate) fn department(&self) -> Option<&'r str> {
        match self {
            Item::Finding(line, _) => line.department.as_deref(),
            Item::Pending(line) => line.department.as_deref(),
        }
    }

    pub(crate) fn work_date(&self) -> Option<NaiveDate> {
        match self {
            Item::Finding(line, _) => line.work_date,
            Item::Pending(line) => line.work_date,
        }
    }

    pub(crate) fn check_type(&self) -> Option<&'r str> {
        match self {
            Item::Finding(line, _) => line.check_type.as_deref(),
            Item::Pending(line) => line.check_type.as_deref(),
        }
    }

    pub(crate) fn approval(&self) -> Option<&'r str> {
        match self {
            Item::Finding(line, _) => line.process_instance_id.as_deref(),
            Item::Pending(line) => Some(line.process_instance_id.as_str()),
        }
    }

    /// The approval's business id (审批编号), when known.
    pub(crate) fn business_id(&self) -> Option<&'r str> {
        match self {
            Item::Finding(_, business_id) => *business_id,
            Item::Pending(line) => line.business_id.as_deref(),
        }
    }

    fn sort_key(
        &self,
    ) -> (
        Option<&'r str>,
        Option<&'r str>,
        Option<NaiveDate>,
        Option<&'r str>,
    ) {
        (
            self.department(),
            self.user_id(),
            self.work_date(),
            self.approval(),
        )
    }
}

/// The corrections of one department.
#[derive(Debug)]
pub(crate) struct Group<'r> {
    pub(crate) department: Option<&'r str>,
    pub(crate) people: Vec<PersonGroup<'r>>,
}

impl Group<'_> {
    pub(crate) fn corrections(&self) -> usize {
        self.people.iter().map(|person| person.lines.len()).sum()
    }
}

/// One person's corrections in one department, by date, with the person's totals over the
/// whole report (every department).
#[derive(Debug)]
pub(crate) struct PersonGroup<'r> {
    pub(crate) user_id: &'r str,
    pub(crate) name: Option<&'r str>,
    pub(crate) lines: Vec<&'r CorrectionLine>,
    pub(crate) totals: Tally,
}

/// Which tally column a correction counts in.
fn count_correction(tally: &mut Tally, line: &CorrectionLine) {
    if line.class == ChangeClass::SupplyApplied {
        tally.applied += 1;
    } else {
        tally.other += 1;
    }
}

impl<'r> View<'r> {
    pub(crate) fn new(report: &'r RunReport) -> View<'r> {
        let attention = attention(report);
        let mut by_department: BTreeMap<Option<&str>, (BTreeSet<&str>, Tally)> = BTreeMap::new();
        let mut by_person: BTreeMap<&str, Tally> = BTreeMap::new();
        let mut touch =
            |department: Option<&'r str>, user: Option<&'r str>, f: &dyn Fn(&mut Tally)| {
                let (people, tally) = by_department.entry(department).or_default();
                f(tally);
                if let Some(user) = user {
                    people.insert(user);
                    f(by_person.entry(user).or_default());
                }
            };
        for line in &report.corrections {
            touch(line.department.as_deref(), Some(&line.user_id), &|tally| {
                count_correction(tally, line)
            });
        }
        for line in &report.pending {
            touch(
                line.department.as_deref(),
                Some(&line.user_id)
                    .filter(|id| !id.is_empty())
                    .map(|id| id.as_str()),
                &|tally| tally.pending += 1,
            );
        }
        for section in &attention {
            for item in &section.items {
                let kind = section.kind;
                touch(item.department(), item.user_id(), &|tally| {
                    if matches!(kind, AttentionKind::Refused | AttentionKind::Withdrawn) {
                        tally.refused += 1;
                    }
                    if kind.needs_action() {
                        tally.attention += 1;
                    }
                });
            }
        }
        let mut departments: Vec<DepartmentRow> = by_department
            .into_iter()
            .map(|(name, (people, tally))| DepartmentRow {
                name,
                people: people.len(),
                tally,
            })
            .collect();
        // Named departments by name, the unknown one last.
        departments.sort_by_key(|row| (row.name.is_none(), row.name));
        View {
            report,
            departments,
            groups: groups(report, &by_person),
            by_date: by_date(report),
            attention,
        }
    }

    /// Lines that ask someone to act.
    pub(crate) fn needs_action(&self) -> usize {
        self.attention
            .iter()
            .filter(|section| section.kind.needs_action())
            .map(|section| section.items.len())
            .sum()
    }

    /// Corrections of each class, the classes with none left out.
    pub(crate) fn correction_classes(&self) -> BTreeMap<ChangeClass, u64> {
        let mut classes = BTreeMap::new();
        for line in &self.report.corrections {
            *classes.entry(line.class).or_insert(0) += 1;
        }
        classes
    }
}

/// The attention sections: findings by kind, then the pending approvals that are not overdue,
/// then the approvals awaiting a decision; each sorted by department, person and date.
fn attention(report: &RunReport) -> Vec<Attention<'_>> {
    let mut sections: BTreeMap<AttentionKind, Vec<Item>> = BTreeMap::new();
    let mut overdue: BTreeSet<&str> = BTreeSet::new();
    let business_ids: BTreeMap<&str, &str> = report
        .pending
        .iter()
        .chain(&report.in_progress)
        .filter_map(|line| {
            Some((
                line.process_instance_id.as_str(),
                line.business_id.as_deref()?,
            ))
        })
        .chain(report.corrections.iter().filter_map(|line| {
            Some((
                line.process_instance_id.as_deref()?,
                line.business_id.as_deref()?,
            ))
        }))
        .collect();
    for line in report.anomalies.iter().chain(&report.listed) {
        let kind = AttentionKind::of_finding(line.class);
        if kind == AttentionKind::Overdue
            && let Some(id) = &line.process_instance_id
        {
            overdue.insert(id);
        }
        let business_id = line.business_id.as_deref().or_else(|| {
            line.process_instance_id
                .as_deref()
                .and_then(|id| business_ids.get(id).copied())
        });
        sections
            .entry(kind)
            .or_default()
            .push(Item::Finding(line, business_id));
    }
    for line in &report.pending {
        if !overdue.contains(line.process_instance_id.as_str()) {
            sections
                .entry(AttentionKind::Pending)
                .or_default()
                .push(Item::Pending(line));
        }
    }
    for line in &report.in_progress {
        sections
            .entry(AttentionKind::InProgress)
            .or_default()
            .push(Item::Pending(line));
    }
    sections
        .into_iter()
        .map(|(kind, mut items)| {
            items.sort_by_key(Item::sort_key);
            Attention { kind, items }
        })
        .collect()
}

/// One department's corrections by person (name, id).
type People<'r> = BTreeMap<(Option<&'r str>, &'r str), Vec<&'r CorrectionLine>>;

/// Corrections by department (named ones by name, the unknown last), person (by name, then
/// id) and date.
fn groups<'r>(report: &'r RunReport, totals: &BTreeMap<&str, Tally>) -> Vec<Group<'r>> {
    let mut tree: BTreeMap<(bool, Option<&str>), People> = BTreeMap::new();
    for line in &report.corrections {
        let department = line.department.as_deref();
        tree.entry((department.is_none(), department))
            .or_default()
            .entry((line.name.as_deref(), line.user_id.as_str()))
            .or_default()
            .push(line);
    }
    tree.into_iter()
        .map(|((_, department), people)| Group {
            department,
            people: people
                .into_iter()
                .map(|((name, user_id), mut lines)| {
                    lines.sort_by(|a, b| {
                        (a.work_date, &a.check_type, a.applied_at).cmp(&(
                            b.work_date,
                            &b.check_type,
                            b.applied_at,
                        ))
                    });
                    PersonGroup {
                        user_id,
                        name,
                        lines,
                        totals: totals.get(user_id).copied().unwrap_or_default(),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Corrections per date of the report's window and class (at most 400 dates: a longer window
/// is charted from its end).
fn by_date(report: &RunReport) -> Vec<(NaiveDate, BTreeMap<ChangeClass, u64>)> {
    const MOST: i64 = 400;
    let window = report.run.window;
    let from = window
        .from
        .max(window.to - chrono::Duration::days(MOST - 1));
    let mut dates: BTreeMap<NaiveDate, BTreeMap<ChangeClass, u64>> = from
        .iter_days()
        .take_while(|date| *date <= window.to)
        .map(|date| (date, BTreeMap::new()))
        .collect();
    for line in &report.corrections {
        if let Some(classes) = dates.get_mut(&line.work_date) {
            *classes.entry(line.class).or_insert(0) += 1;
        }
    }
    dates.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;

    #[test]
    fn attention_puts_overdue_first_and_lists_every_finding_and_pending_once() {
        let report = rich_report();
        let view = View::new(&report);
        let kinds: Vec<AttentionKind> = view.attention.iter().map(|s| s.kind).collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(kinds, sorted, "sections in urgency order, each once");
        let listed: usize = view.attention.iter().map(|s| s.items.len()).sum();
        let overdue = report
            .anomalies
            .iter()
            .filter(|line| line.class == ChangeClass::SupplyPending)
            .count();
        assert_eq!(
            listed,
            report.anomalies.len() + report.listed.len() + report.pending.len() - overdue
                + report.in_progress.len()
        );
    }

    #[test]
    fn groups_hold_every_correction_once_by_department_person_and_date() {
        let report = rich_report();
        let view = View::new(&report);
        let total: usize = view.groups.iter().map(Group::corrections).sum();
        assert_eq!(total, report.corrections.len());
        for group in &view.groups {
            for person in &group.people {
                assert!(
                    person
                        .lines
                        .windows(2)
                        .all(|w| w[0].work_date <= w[1].work_date)
                );
                assert!(
                    person
                        .lines
                        .iter()
                        .all(|line| line.department.as_deref() == group.department)
                );
            }
        }
        let unknown_last = view
            .groups
            .iter()
            .position(|group| group.department.is_none())
            .is_none_or(|at| at == view.groups.len() - 1);
        assert!(unknown_last);
    }

    #[test]
    fn department_tallies_add_up_to_the_report() {
        let report = rich_report();
        let view = View::new(&report);
        let corrections: u64 = view.departments.iter().map(|d| d.tally.corrections()).sum();
        assert_eq!(corrections, report.corrections.len() as u64);
        let pending: u64 = view.departments.iter().map(|d| d.tally.pending).sum();
        assert_eq!(pending, report.pending.len() as u64);
        let by_date: u64 = view
            .by_date
            .iter()
            .flat_map(|(_, classes)| classes.values())
            .sum();
        let in_window = report
            .corrections
            .iter()
            .filter(|line| {
                line.work_date >= report.run.window.from && line.work_date <= report.run.window.to
            })
            .count();
        assert_eq!(by_date, in_window as u64);
    }
}
