//! The simulated company as data: departments, employees, templates, slots with their history,
//! raw punches and 补卡 instances, and the questions "what did DingTalk show at instant t".
//!
//! A world is immutable once generated (see `generate`); time only enters through the `now` argument
//! of the queries. This module does not speak JSON or HTTP (see `http`), and does not generate
//! anything (see `generate`).
//!
//! # Rules of time
//!
//! - Every slot has a short history: a list of `(instant, state)`; an answer uses the last state
//!   whose instant is ≤ now. A row is invisible before its first instant, which is its
//!   `baseCheckTime` (or the punch, if later), and after its user-day's `vanish_at`.
//! - **Settle rule**: an OffDuty row may show a provisional value (an earlier punch with an `Early`
//!   result) and is final at the latest 12 hours after its `baseCheckTime`
//!   ([`SETTLE_WITHIN_MS`]); OnDuty rows are final when first shown. Later changes are
//!   corrections (补卡, admin edit, revert) or anomalies (unexplained), never settling.
//! - An instance exists from its `createTime`; it is `RUNNING` until its decision, then
//!   `COMPLETED` (agree/refuse) or `TERMINATED` (withdrawn).
//! - An agreed 补卡 corrects its slot minutes to two hours after `finishTime` (the apply lag), so
//!   a run in between sees it approved but not yet visible (`supply_pending`).
//! - **Revoke reading**: a reverted 补卡 keeps its instance as it was (`COMPLETED`/`agree`);
//!   the slot goes back to `NotSigned` (`sourceType SYSTEM`, no `procInstId`) and the synthetic
//!   punch leaves `listRecord`. As DingTalk documents (kb:1517: a modified or revoked approved
//!   instance gives rise to a new instance attached to the original), the revoke itself is a new
//!   instance ([`Instance::main`], `bizAction REVOKE`, `mainProcessInstanceId`), created 2 to 8
//!   hours and agreed 5 to 110 minutes before the revert shows on the slot; the original's detail
//!   names it in `attachedProcessInstanceIds` once it exists. Whether `instanceIds/query` lists it
//!   is not documented (⚠): `Switches::revoke_instance_listed`. Revoke instances are appended
//!   after every 补卡 instance, so a world's 补卡 keep their indices and ids whatever the revert
//!   rate; they correct nothing (no slot change or punch names them).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime};

use super::config::SimConfig;

/// Asia/Shanghai is UTC+8 without daylight saving.
pub const TZ_OFFSET_MS: i64 = 8 * 3_600_000;
/// An OffDuty result is final at the latest this long after its `baseCheckTime`.
pub const SETTLE_WITHIN_MS: i64 = 12 * 3_600_000;
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// Epoch ms of a local (Asia/Shanghai) wall-clock time.
pub fn local_ms(date: NaiveDate, hour: u32, minute: u32) -> i64 {
    let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN);
    date.and_time(time).and_utc().timestamp_millis() - TZ_OFFSET_MS
}

/// The local calendar date of an instant.
pub fn local_date(ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms + TZ_OFFSET_MS)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckKind {
    OnDuty,
    OffDuty,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::OnDuty => "OnDuty",
            CheckKind::OffDuty => "OffDuty",
        }
    }
}

/// `timeResult` values the world produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRes {
    Normal,
    Late,
    Early,
    NotSigned,
}

impl TimeRes {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeRes::Normal => "Normal",
            TimeRes::Late => "Late",
            TimeRes::Early => "Early",
            TimeRes::NotSigned => "NotSigned",
        }
    }
}

/// `sourceType` values the world produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    User,
    Atm,
    Boss,
    Approve,
    System,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::User => "USER",
            Source::Atm => "ATM",
            Source::Boss => "BOSS",
            Source::Approve => "APPROVE",
            Source::System => "SYSTEM",
        }
    }
}

/// What a result row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowState {
    pub time_result: TimeRes,
    pub source: Source,
    /// `userCheckTime`; equals `baseCheckTime` on `NotSigned` rows.
    pub check_ms: i64,
    /// Absent on `NotSigned` rows.
    pub record_id: Option<i64>,
    /// Index of the 补卡 instance that corrected the row.
    pub supply: Option<u32>,
}

/// Why a slot's state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// First state of the row.
    Initial,
    /// A provisional OffDuty value settled.
    Settled,
    /// An agreed 补卡 (instance index) became visible.
    Supply(u32),
    /// An admin signed the slot (`sourceType BOSS`).
    AdminEdit,
    /// The correction of an agreed 补卡 (instance index) was revoked.
    Revert(u32),
    /// Changed with `sourceType SYSTEM` and no cause.
    Unexplained,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub at: i64,
    pub state: RowState,
    pub cause: Cause,
}

/// One raw punch (`attendance/listRecord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Punch {
    pub record_id: i64,
    /// `userCheckTime` of the punch.
    pub check_ms: i64,
    pub source: Source,
    pub time_result: TimeRes,
    /// The 补卡 instance behind a synthetic punch.
    pub supply: Option<u32>,
    /// When the punch happened (a check event); a 补卡 punch happens when its correction applies.
    pub happened_ms: i64,
    /// A revoked 补卡's punch leaves `listRecord` at this instant.
    pub gone_ms: Option<i64>,
}

/// One scheduled check point of one employee-day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub check: CheckKind,
    pub plan_id: i64,
    /// `id` of the result row.
    pub row_id: i64,
    pub base_ms: i64,
    /// Sorted by instant; never empty.
    pub timeline: Vec<Change>,
    pub punches: Vec<Punch>,
}

impl Slot {
    /// The row as shown at `now`, or `None` when it is not visible yet.
    pub fn state_at(&self, now: i64) -> Option<&Change> {
        self.timeline.iter().rev().find(|change| change.at <= now)
    }
}

/// One employee's scheduled day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDay {
    /// The shift's day (local).
    pub work_date: NaiveDate,
    pub night: bool,
    pub slots: Vec<Slot>,
    /// All rows of the day disappear from this instant (schedule removed).
    pub vanish_at: Option<i64>,
}

impl UserDay {
    pub fn visible(&self, now: i64) -> bool {
        self.vanish_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employee {
    pub id: String,
    pub name: String,
    /// Primary department first.
    pub departments: Vec<i64>,
    pub night: bool,
    /// Index into [`World::templates`] of the 补卡 template this employee files with.
    pub template: usize,
    /// Indexed by day offset from the world's `from`; `None` = no schedule (weekend).
    pub days: Vec<Option<UserDay>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: i64,
    pub name: String,
    pub children: Vec<i64>,
    /// Indices into [`World::employees`] of direct members.
    pub members: Vec<usize>,
}

/// An employee leaving their primary department for another at an instant of the period
/// (`Rates::department_move`); before `at_ms` the contacts answers show `from`, from then on `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// Index into [`World::employees`].
    pub user: usize,
    pub at_ms: i64,
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub process_code: String,
    pub flow_title: String,
    /// 0 none, 1 补卡, 2 leave.
    pub attendance_type: u8,
    pub reason_label: &'static str,
    pub reason_component: &'static str,
    pub photo: bool,
    pub gmt_modified_ms: i64,
    pub icon_name: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Agree,
    Refuse,
    Withdrawn,
}

/// One 补卡 process instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub business_id: String,
    pub template: usize,
    pub user: usize,
    pub day: usize,
    pub slot: usize,
    pub created_ms: i64,
    /// Agree/refuse or withdrawal instant.
    pub decided_ms: i64,
    pub outcome: Outcome,
    /// When the correction became visible on the slot (agreed only; `None` for one DingTalk
    /// never shows, `Rates::never_shown`).
    pub applied_ms: Option<i64>,
    /// When the correction was revoked (see the revoke reading in the module doc).
    pub reverted_ms: Option<i64>,
    /// The corrected punch time the employee asked for.
    pub corrected_ms: i64,
    pub reason: &'static str,
    pub photo: bool,
    pub approver: usize,
    pub task_id: i64,
    /// `NONE` for a 补卡, `REVOKE` for the instance attached to a revoked one.
    pub biz_action: &'static str,
    /// On a revoke instance: the index of the 补卡 it revokes (`mainProcessInstanceId`).
    pub main: Option<u32>,
    /// On a revoked 补卡: the index of its revoke instance (`attachedProcessInstanceIds`).
    pub attached: Option<u32>,
}

impl Instance {
    /// True for the instance attached to a revoked 补卡, which files no correction of its own.
    pub fn is_revoke(&self) -> bool {
        self.main.is_some()
    }

    pub fn status_at(&self, now: i64) -> &'static str {
        if now < self.decided_ms {
            "RUNNING"
        } else if self.outcome == Outcome::Withdrawn {
            "TERMINATED"
        } else {
            "COMPLETED"
        }
    }
}

/// The whole simulated company.
#[derive(Debug, Clone)]
pub struct World {
    pub config: SimConfig,
    pub employees: Vec<Employee>,
    pub departments: Vec<Department>,
    pub templates: Vec<Template>,
    pub instances: Vec<Instance>,
    /// Department moves, at most one per employee (see [`Move`]); `Employee::departments` and
    /// `Department::members` are the directory before any of them.
    pub moves: Vec<Move>,
    pub admin: usize,
    pub(crate) user_index: HashMap<String, usize>,
    pub(crate) dept_index: HashMap<i64, usize>,
    pub(crate) instance_index: HashMap<String, u32>,
    /// Per template: instance indices sorted by (createTime, id).
    pub(crate) by_template: Vec<Vec<u32>>,
    /// Sorted instants of every check event (punch), for push accounting.
    pub(crate) check_events: Vec<i64>,
    /// Sorted finish/terminate instants of every instance, for push accounting. Revoke instances
    /// count: DingTalk pushes every instance that finishes, whatever its `bizAction`.
    pub(crate) supply_events: Vec<i64>,
}

impl World {
    pub fn employee(&self, user_id: &str) -> Option<usize> {
        self.user_index.get(user_id).copied()
    }

    pub fn department(&self, id: i64) -> Option<&Department> {
        self.dept_index.get(&id).map(|&i| &self.departments[i])
    }

    /// An employee's departments at `now`, primary first: `Employee::departments` with a move
    /// made by then applied.
    pub fn departments_at(&self, user: usize, now: i64) -> Vec<i64> {
        let mut departments = self.employees[user].departments.clone();
        for made in self
            .moves
            .iter()
            .filter(|m| m.user == user && m.at_ms <= now)
        {
            for dept in &mut departments {
                if *dept == made.from {
                    *dept = made.to;
                }
            }
        }
        departments
    }

    /// A department's direct members at `now`, in index order: `Department::members` with the
    /// moves made by then applied.
    pub fn members_at(&self, dept: &Department, now: i64) -> Vec<usize> {
        let mut members: Vec<usize> = dept
            .members
            .iter()
            .copied()
            .filter(|&m| {
                !self
                    .moves
                    .iter()
                    .any(|made| made.user == m && made.from == dept.id && made.at_ms <= now)
            })
            .collect();
        members.extend(
            self.moves
                .iter()
                .filter(|made| made.to == dept.id && made.at_ms <= now)
                .map(|made| made.user),
        );
        members.sort_unstable();
        members.dedup();
        members
    }

    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instance_index
            .get(id)
            .map(|&i| &self.instances[i as usize])
    }

    /// Day offset of a work date, if inside the world.
    pub fn day_index(&self, date: NaiveDate) -> Option<usize> {
        let offset = (date - self.config.from).num_days();
        (0..i64::from(self.config.days))
            .contains(&offset)
            .then_some(offset as usize)
    }

    pub fn user_day(&self, user: usize, day: usize) -> Option<&UserDay> {
        self.employees.get(user)?.days.get(day)?.as_ref()
    }

    /// The 补卡 templates' process codes (`attendanceType` 1).
    pub fn supply_process_codes(&self) -> Vec<String> {
        self.templates
            .iter()
            .filter(|t| t.attendance_type == 1)
            .map(|t| t.process_code.clone())
            .collect()
    }

    /// Instance indices of a template created in `[start, end]`, in (createTime, id) order, that
    /// exist at `now` and that `instanceIds/query` lists: revoke instances only when
    /// `Switches::revoke_instance_listed`.
    pub fn instances_created(&self, template: usize, start: i64, end: i64, now: i64) -> Vec<u32> {
        let list = &self.by_template[template];
        let listed = self.config.switches.revoke_instance_listed;
        let first = list.partition_point(|&i| self.instances[i as usize].created_ms < start);
        list[first..]
            .iter()
            .copied()
            .take_while(|&i| self.instances[i as usize].created_ms <= end)
            .filter(|&i| {
                let inst = &self.instances[i as usize];
                inst.created_ms <= now && (listed || !inst.is_revoke())
            })
            .collect()
    }

    /// Punches that happened by `now` (push approach 1: one push per check event).
    pub fn check_events_by(&self, now: i64) -> u64 {
        self.check_events.partition_point(|&at| at <= now) as u64
    }

    /// Instances finished or terminated by `now` (push approach 2), revoke instances included.
    pub fn supply_events_by(&self, now: i64) -> u64 {
        self.supply_events.partition_point(|&at| at <= now) as u64
    }

    /// The default initial clock: 02:00 local on the day after the last work date.
    pub fn default_clock_ms(&self) -> i64 {
        let after = self.config.from + chrono::Days::new(u64::from(self.config.days));
        local_ms(after, 2, 0)
    }
}
