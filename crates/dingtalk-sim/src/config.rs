//! What a simulated company looks like: its size, its rates of events, and the reading the
//! simulator takes of every DingTalk behaviour that is not confirmed (⚠ in dingtalk-api.md).
//!
//! This module only describes a world; it does not build one (see `world` and `generate`) and does
//! not serve one (see `http`).
//!
//! # Switches and why their defaults were chosen
//!
//! Each unconfirmed behaviour is a field of [`Switches`]. The default is the most likely reading of
//! dingtalk-api.md; [`Switches::pessimistic`] is the reading that is hardest for a client.
//!
//! | switch | default | why | pessimistic |
//! |---|---|---|---|
//! | `proc_inst_id_on_corrected_slot` | `true` | `procInstId` is documented as the linked approval of a row | `false`: the job must match through the form |
//! | `supply_punch_in_list_record` | `true` | a real capture shows an approved 补卡 emitting a check event, so a punch exists | `false` |
//! | `plan_id_in_ext_value` | `true` | documented `extValue` key | `false`: `planId` is `""` (free-time schedules) |
//! | `next_token_end` | [`NextTokenEnd::Absent`] | the SDK types it as an optional string | [`NextTokenEnd::Zero`]: `"0"`, which a naive client sends back forever |
//! | `approval_times_utc` | `true` | the SDK comment says UTC | `false`: local time labelled `Z` |
//! | `repair_check_time_entry` | `true` | the server back-fills it on submission | `false`: absent on read-back |
//! | `missing_instance_code` | [`MissingInstanceCode::ProcessInstanceIdError`] | the detail page's own table | [`MissingInstanceCode::AflowProcessInstNotExist`]: only in the global table |
//! | `revoke_instance_listed` | `true` | kb:1517: revoking an approved instance creates a new instance under the same process, so the id listing shows it like any other | `false`: only the detail (`bizAction REVOKE`, `attachedProcessInstanceIds`) tells of it |

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Everything that determines a simulated world and how it is served. `Debug` hides the secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Seed of every random choice; the same seed gives the same world, byte for byte.
    pub seed: u64,
    /// Number of employees (default 200).
    pub employees: usize,
    /// First work date of the world (default 2026-10-01).
    pub from: NaiveDate,
    /// Number of calendar days of attendance generated (default 31).
    pub days: u32,
    /// Per-app per-API QPS limit over a sliding one-second window of real time (default 20).
    pub qps: u32,
    /// Metered calls per natural month (Asia/Shanghai, virtual clock) before `90020`.
    /// Default `None` = unlimited, so tests and rehearsals do not trip over it by accident;
    /// set `Some(5000)` to model the free edition.
    pub monthly_quota: Option<u64>,
    /// The organisation's other internal apps spending the same monthly quota (default none):
    /// at each instant (virtual clock) they spend that many metered calls of the month that
    /// instant falls in (Asia/Shanghai). Only the month's total matters: a metered call is
    /// refused with `90020` once ours plus theirs, so far this month, reach `monthly_quota`.
    /// Their calls are not ours: they appear in no per-path count and not in `metered`.
    #[serde(default)]
    pub other_apps: Vec<(DateTime<Utc>, u64)>,
    pub app_key: String,
    pub app_secret: String,
    /// Initial virtual time; `None` = 02:00 Asia/Shanghai on the day after the last work date.
    pub clock: Option<DateTime<Utc>>,
    pub rates: Rates,
    pub switches: Switches,
    /// Generated text carries what a hostile or broken DingTalk may send (default `false`): 补卡
    /// reasons and business ids with terminal escape sequences (ESC, BEL, C1 CSI), bidi
    /// overrides, CR/LF forging lines, Markdown and HTML markup and spreadsheet formulas
    /// (`=HYPERLINK(…)`, `@SUM(…)`, `+`, `-`, TAB); user ids starting with a formula trigger or
    /// carrying a bidi override (still valid ids: no control character, no `|`); names with a
    /// terminal-title sequence. The world is otherwise the same as without it: the same events,
    /// ids and times, drawn from the same random streams.
    #[serde(default)]
    pub hostile_text: bool,
    /// Permission points the simulated app has not been granted (default none), by DingTalk's
    /// names: `qyapi_get_attendance_data`, `qyapi_attendance_isv_query_result`,
    /// `Workflow.Instance.Read`, `Workflow.Form.Read`, `qyapi_get_department_list`,
    /// `qyapi_get_member`, `qyapi_get_department_member`, `qyapi_addresslist_search`. A call to an endpoint that needs one
    /// answers as DingTalk does for an app lacking it: oapi HTTP 200 `errcode 60011`, api HTTP 403
    /// `Forbidden.AccessDenied.AccessTokenPermissionDenied` (see `http::permission`).
    #[serde(default)]
    pub denied_permissions: BTreeSet<String>,
}

impl SimConfig {
    /// A world of `employees` people from `seed`, everything else at its default.
    pub fn new(seed: u64, employees: usize) -> Self {
        SimConfig {
            seed,
            employees,
            from: NaiveDate::from_ymd_opt(2026, 10, 1).expect("2026-10-01 is a date"),
            days: 31,
            qps: 20,
            monthly_quota: None,
            other_apps: Vec::new(),
            app_key: "sim-app-key".to_owned(),
            app_secret: "sim-app-secret".to_owned(),
            clock: None,
            rates: Rates::default(),
            switches: Switches::default(),
            hostile_text: false,
            denied_permissions: BTreeSet::new(),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("employees", &self.employees)
            .field("from", &self.from)
            .field("days", &self.days)
            .field("qps", &self.qps)
            .field("monthly_quota", &self.monthly_quota)
            .field("other_apps", &self.other_apps)
            .field("app_key", &self.app_key)
            .field("app_secret", &"[REDACTED]")
            .field("clock", &self.clock)
            .field("rates", &self.rates)
            .field("switches", &self.switches)
            .field("hostile_text", &self.hostile_text)
            .field("denied_permissions", &self.denied_permissions)
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::new(1, 200)
    }
}

/// Probabilities of the world's events. Each says what it is a probability *of*.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Per slot: the employee forgot the punch (the row is `NotSigned`).
    pub missed_punch: f64,
    /// Per missed punch: a 补卡 is filed for it.
    pub filed: f64,
    /// Per filed 补卡: the approver refuses it.
    pub refused: f64,
    /// Per filed 补卡: the originator withdraws it before the decision (`TERMINATED`).
    pub withdrawn: f64,
    /// Per refused 补卡: a new instance is filed for the same slot, later agreed.
    pub refiled_after_refusal: f64,
    /// Per slot: a forgotten punch an admin signs directly (`sourceType BOSS`), days later.
    pub admin_edit: f64,
    /// Per OnDuty slot: the punch is late.
    pub late: f64,
    /// Per OffDuty slot: the punch is early.
    pub early: f64,
    /// Per OffDuty slot: the employee punches out early, then again on time, so the row shows the
    /// early punch until it settles (a `late_result`).
    pub provisional_off_duty: f64,
    /// Per employee: works the night shift (22:00 → 06:00) instead of the day shift.
    pub night_shift: f64,
    /// Per approved 补卡: its correction is later revoked and the slot goes back to `NotSigned`;
    /// DingTalk attaches a new instance (`bizAction REVOKE`) to the original for it.
    pub revert: f64,
    /// Per plain normal slot: the result later changes with `sourceType SYSTEM` and no cause.
    pub unexplained: f64,
    /// Per plain user-day: all its rows disappear some days later (schedule removed).
    pub vanish: f64,
    /// A 补卡 is filed 0..=this many days after its slot.
    pub max_filing_lag_days: u32,
    /// Per employee (the admin aside): moves from their primary team to another team at some
    /// instant of the period, which only the contacts answers show. Drawn from a stream of its
    /// own, so the rest of the world is the same whatever this rate.
    #[serde(default)]
    pub department_move: f64,
    /// Per agreed 补卡: DingTalk never shows it on the slot (an approval whose correction did
    /// not take, ⚠ not documented either way): the job sees it approved and the slot not
    /// corrected for good. Drawn from a stream of its own, so at 0 the world is the same.
    #[serde(default)]
    pub never_shown: f64,
}

impl Rates {
    /// The standard benchmark month of PRODUCT.md section 8: 3% missed punches, 90% of them filed
    /// with lags up to 30 days, 5% refused, 3% withdrawn, 0.5% admin edits, one day shift, and no
    /// reverts, unexplained changes or vanished days.
    pub fn benchmark() -> Self {
        Rates {
            missed_punch: 0.03,
            filed: 0.90,
            refused: 0.05,
            withdrawn: 0.03,
            refiled_after_refusal: 0.5,
            admin_edit: 0.005,
            late: 0.04,
            early: 0.02,
            provisional_off_duty: 0.05,
            night_shift: 0.0,
            revert: 0.0,
            unexplained: 0.0,
            vanish: 0.0,
            max_filing_lag_days: 30,
            department_move: 0.0,
            never_shown: 0.0,
        }
    }
}

impl Default for Rates {
    /// Benchmark rates plus night shifts and small rates of reverts, unexplained changes and
    /// vanished days, so that every class of PRODUCT.md section 4 occurs in a default month, and
    /// a few department moves, so that the job's directory cache sees people move.
    fn default() -> Self {
        Rates {
            night_shift: 0.05,
            department_move: 0.02,
            never_shown: 0.0,
            revert: 0.05,
            unexplained: 0.002,
            vanish: 0.003,
            ..Rates::benchmark()
        }
    }
}

/// What `instanceIds/query` answers on its last page (⚠ dingtalk-api.md §13.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NextTokenEnd {
    /// No `nextToken` field.
    Absent,
    /// `"nextToken": ""`.
    Empty,
    /// `"nextToken": "0"`.
    Zero,
}

/// The error code for an unknown process instance id (⚠ dingtalk-api.md §13.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum MissingInstanceCode {
    /// `processInstanceIdError` (the detail page's table).
    ProcessInstanceIdError,
    /// `aflowProcessInstNotExist` (the global error table).
    AflowProcessInstNotExist,
}

impl MissingInstanceCode {
    pub fn code(self) -> &'static str {
        match self {
            MissingInstanceCode::ProcessInstanceIdError => "processInstanceIdError",
            MissingInstanceCode::AflowProcessInstNotExist => "aflowProcessInstNotExist",
        }
    }
}

/// One field per unconfirmed DingTalk behaviour; see the module doc for the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switches {
    /// A slot corrected by a 补卡 carries the instance id in `procInstId`.
    pub proc_inst_id_on_corrected_slot: bool,
    /// `listRecord` shows the 补卡's synthetic punch (`sourceType APPROVE` + `procInstId`).
    pub supply_punch_in_list_record: bool,
    /// The 补卡 form's `extValue` carries `planId` (else `""`).
    pub plan_id_in_ext_value: bool,
    /// End-of-list shape of `instanceIds/query`.
    pub next_token_end: NextTokenEnd,
    /// Approval `createTime`/`finishTime`/`date` are real UTC (else local time labelled `Z`).
    pub approval_times_utc: bool,
    /// The detail read-back holds the server-filled `repairCheckTime` entry.
    pub repair_check_time_entry: bool,
    /// Error code for an unknown process instance id.
    pub missing_instance_code: MissingInstanceCode,
    /// The instance DingTalk attaches to a revoked 补卡 (`bizAction REVOKE`) is listed by
    /// `instanceIds/query` (else only its detail, and the original's
    /// `attachedProcessInstanceIds`, show it). Absent from a config = `true`.
    #[serde(default = "listed_by_default")]
    pub revoke_instance_listed: bool,
}

fn listed_by_default() -> bool {
    true
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            proc_inst_id_on_corrected_slot: true,
            supply_punch_in_list_record: true,
            plan_id_in_ext_value: true,
            next_token_end: NextTokenEnd::Absent,
            approval_times_utc: true,
            repair_check_time_entry: true,
            missing_instance_code: MissingInstanceCode::ProcessInstanceIdError,
            revoke_instance_listed: true,
        }
    }
}

impl Switches {
    /// Every switch at the reading that is hardest for a client.
    pub fn pessimistic() -> Self {
        Switches {
            proc_inst_id_on_corrected_slot: false,
            supply_punch_in_list_record: false,
            plan_id_in_ext_value: false,
            next_token_end: NextTokenEnd::Zero,
            approval_times_utc: false,
            repair_check_time_entry: false,
            missing_instance_code: MissingInstanceCode::AflowProcessInstNotExist,
            revoke_instance_listed: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_written_before_revoke_instance_listed_still_parse_with_it_true() {
        let mut json = serde_json::to_value(Switches::pessimistic()).expect("serialises");
        json.as_object_mut()
            .expect("an object")
            .remove("revoke_instance_listed");
        let parsed: Switches = serde_json::from_value(json).expect("parses without the field");
        assert!(parsed.revoke_instance_listed);
        assert!(Switches::default().revoke_instance_listed);
        assert!(!Switches::pessimistic().revoke_instance_listed);
    }
}
