//! Our vocabulary: the types every layer speaks (PRODUCT.md section 2).
//!
//! Nothing here knows a wire name or a SQL column. The DingTalk client decodes into these types at
//! its edge, the store persists them, the reconcile core reasons over them. Enumerations coming from
//! DingTalk are *open*: an unknown value is kept verbatim in `Unknown(String)` and reported, never
//! fatal. User ids are strings (leading zeros are significant) and are never parsed as integers.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A DingTalk user id. Opaque text: `"0126"` and `"126"` are different people.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

/// Why a value from outside could not become one of our types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("user id {0:?} is not valid: expected 1 to 64 printable characters")]
    BadUserId(String),
    #[error(
        "slot key {0:?} is not valid: expected `USER|YYYY-MM-DD|plan:ID` or `USER|YYYY-MM-DD|CHECKTYPE@MILLIS`"
    )]
    BadSlotKey(String),
}

impl UserId {
    /// Parses a user id at the edge: non-empty, at most 64 characters, no control characters and
    /// no `|` (the slot-key separator).
    pub fn new(raw: impl Into<String>) -> Result<Self, DomainError> {
        let raw = raw.into();
        let ok = !raw.is_empty()
            && raw.chars().count() <= 64
            && !raw.chars().any(|c| c.is_control() || c == '|');
        if ok {
            Ok(UserId(raw))
        } else {
            Err(DomainError::BadUserId(raw))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares an open enumeration: known values plus `Unknown(String)`, parsed from and printed as
/// DingTalk's own spelling, serialized as that string.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value DingTalk sent that this version does not know; kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// Never fails: an unknown spelling becomes `Unknown`.
            pub(crate) fn parse(raw: &str) -> Self {
                match raw {
                    $($wire => $name::$variant,)+
                    other => $name::Unknown(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Unknown(raw) => raw,
                }
            }

            /// Asked of the result-row enums only, whose unknown values a pull lists.
            #[allow(dead_code, reason = "not every open enum's decoder asks")]
            pub(crate) fn is_unknown(&self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Ok($name::parse(&raw))
            }
        }
    };
}

open_enum!(
    /// `checkType` of a result row.
    CheckType { OnDuty => "OnDuty", OffDuty => "OffDuty" }
);

open_enum!(
    /// `timeResult` of a result row.
    TimeResult {
        Normal => "Normal",
        Early => "Early",
        Late => "Late",
        SeriousLate => "SeriousLate",
        Absenteeism => "Absenteeism",
        NotSigned => "NotSigned",
    }
);

open_enum!(
    /// `locationResult` of a result row.
    LocationResult { Normal => "Normal", Outside => "Outside", NotSigned => "NotSigned" }
);

open_enum!(
    /// `sourceType` of a result row: who produced the punch behind it.
    SourceType {
        Atm => "ATM",
        Beacon => "BEACON",
        DingAtm => "DING_ATM",
        User => "USER",
        Boss => "BOSS",
        Approve => "APPROVE",
        System => "SYSTEM",
        AutoCheck => "AUTO_CHECK",
    }
);

open_enum!(
    /// `status` of an approval instance.
    ApprovalStatus {
        New => "NEW",
        Running => "RUNNING",
        Terminated => "TERMINATED",
        Completed => "COMPLETED",
        Canceled => "CANCELED",
    }
);

open_enum!(
    /// `result` of a finished approval instance.
    ApprovalResult { Agree => "agree", Refuse => "refuse" }
);

/// What distinguishes one slot of a user-day from another (PRODUCT.md section 2).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlotDiscriminator {
    /// The row carried a `planId`: the check point's identity.
    Plan(i64),
    /// No `planId`: fall back to the check type and the scheduled time (epoch ms).
    Time {
        check_type: CheckType,
        base_check_ms: i64,
    },
}

/// Identity of a slot: `(user_id, work_date, plan_id)` or, without a plan id,
/// `(user_id, work_date, check_type, base_check_time)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotKey {
    pub user_id: UserId,
    /// The shift's day in the business time zone.
    pub work_date: NaiveDate,
    pub discriminator: SlotDiscriminator,
}

impl SlotKey {
    /// The canonical text form used as a primary key in the store and in idempotency keys:
    /// `USER|YYYY-MM-DD|plan:ID` or `USER|YYYY-MM-DD|CHECKTYPE@MILLIS`.
    pub fn canonical(&self) -> String {
        self.to_string()
    }

    /// Inverse of [`SlotKey::canonical`].
    pub(crate) fn parse(raw: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::BadSlotKey(raw.to_owned());
        let mut parts = raw.splitn(3, '|');
        let (Some(user), Some(date), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let user_id = UserId::new(user).map_err(|_| bad())?;
        let work_date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad())?;
        let discriminator = if let Some(plan) = rest.strip_prefix("plan:") {
            SlotDiscriminator::Plan(plan.parse().map_err(|_| bad())?)
        } else {
            let (check_type, millis) = rest.rsplit_once('@').ok_or_else(bad)?;
            SlotDiscriminator::Time {
                check_type: CheckType::parse(check_type),
                base_check_ms: millis.parse().map_err(|_| bad())?,
            }
        };
        Ok(SlotKey {
            user_id,
            work_date,
            discriminator,
        })
    }
}

impl fmt::Display for SlotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written field by field: chrono's `format` parses its pattern on every call, and slot
        // keys are formatted millions of times in a large backfill.
        let date = self.work_date;
        write!(
            f,
            "{}|{:04}-{:02}-{:02}|",
            self.user_id,
            date.year(),
            date.month(),
            date.day()
        )?;
        match &self.discriminator {
            SlotDiscriminator::Plan(plan_id) => write!(f, "plan:{plan_id}"),
            SlotDiscriminator::Time {
                check_type,
                base_check_ms,
            } => {
                write!(f, "{check_type}@{base_check_ms}")
            }
        }
    }
}

/// One scheduled check point of one employee as DingTalk reported it (a row of `attendance/list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub user_id: UserId,
    /// The shift's day in the business time zone (not the punch's calendar day).
    pub work_date: NaiveDate,
    pub check_type: CheckType,
    pub plan_id: Option<i64>,
    /// The scheduled time lateness is computed against.
    pub base_check_time: DateTime<Utc>,
    /// The punch time; for NotSigned rows DingTalk repeats the base time.
    pub user_check_time: Option<DateTime<Utc>>,
    pub time_result: TimeResult,
    pub location_result: LocationResult,
    pub source_type: SourceType,
    /// Linked approval instance, when DingTalk ties the row to one. Slots stored as JSON
    /// (`slot_history`) before the field had this name call it `proc_inst_id`.
    #[serde(alias = "proc_inst_id")]
    pub process_instance_id: Option<String>,
    pub approve_id: Option<i64>,
    /// The punch behind the result; absent on NotSigned rows.
    pub record_id: Option<i64>,
    pub group_id: Option<i64>,
    /// DingTalk's row `id`: an attribute, not the identity (it may change on schedule replays).
    pub row_id: Option<i64>,
}

impl Slot {
    pub fn key(&self) -> SlotKey {
        let discriminator = match self.plan_id {
            Some(plan_id) => SlotDiscriminator::Plan(plan_id),
            None => SlotDiscriminator::Time {
                check_type: self.check_type.clone(),
                base_check_ms: self.base_check_time.timestamp_millis(),
            },
        };
        SlotKey {
            user_id: self.user_id.clone(),
            work_date: self.work_date,
            discriminator,
        }
    }

    /// True when DingTalk shows a punch (or a correction) for this check point.
    pub(crate) fn is_signed(&self) -> bool {
        self.time_result != TimeResult::NotSigned
    }

    /// Whether two observations of the same slot differ in anything that matters. The row id is
    /// an attribute DingTalk may regenerate and is deliberately ignored.
    pub(crate) fn same_state(&self, other: &Slot) -> bool {
        self.time_result == other.time_result
            && self.location_result == other.location_result
            && self.source_type == other.source_type
            && self.user_check_time == other.user_check_time
            && self.process_instance_id == other.process_instance_id
            && self.record_id == other.record_id
            && self.check_type == other.check_type
    }

    /// The part of the slot the ledger mirrors.
    pub(crate) fn ledger_state(&self) -> LedgerState {
        LedgerState {
            time_result: self.time_result.clone(),
            check_time: self.user_check_time,
            source_type: self.source_type.clone(),
            process_instance_id: self.process_instance_id.clone(),
        }
    }
}

/// The fields of a 补卡 form's `extValue` JSON that identify the repaired check point.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SupplyExt {
    pub plan_id: Option<i64>,
    pub(crate) work_date: Option<NaiveDate>,
    pub(crate) user_check_time: Option<DateTime<Utc>>,
}

/// One 补卡 process instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub process_instance_id: String,
    pub(crate) process_code: String,
    pub business_id: Option<String>,
    pub(crate) title: Option<String>,
    pub originator: UserId,
    pub(crate) status: ApprovalStatus,
    pub(crate) result: Option<ApprovalResult>,
    pub create_time: Option<DateTime<Utc>>,
    pub finish_time: Option<DateTime<Utc>>,
    /// The corrected punch time: the `补卡时间` field (local `yyyy-MM-dd HH:mm`), else
    /// `repairCheckTime`, else `extValue.userCheckTime`.
    pub corrected_time: Option<DateTime<Utc>>,
    pub ext: Option<SupplyExt>,
    pub reason: Option<String>,
    /// `MODIFY`, `REVOKE`, `NONE` or anything else DingTalk sends.
    pub(crate) biz_action: Option<String>,
    /// The instances DingTalk attached to this one or this one to (a revocation, an edit).
    pub links: ApprovalLinks,
    /// The detail response as received, for evidence.
    pub raw_json: String,
}

/// How an approval instance is tied to others: DingTalk attaches a new instance to an approved
/// one when it is revoked or modified (`bizAction` `REVOKE` / `MODIFY`, kb:1517); the new one
/// names the original in `mainProcessInstanceId`, the original lists it in
/// `attachedProcessInstanceIds`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApprovalLinks {
    /// The original this instance is attached to (`mainProcessInstanceId`, empty is none).
    pub main: Option<String>,
    /// The instances attached to this one (`attachedProcessInstanceIds`).
    pub attached: Vec<String>,
}

impl Approval {
    /// The approved 补卡 this instance revokes: `bizAction REVOKE` naming its original. Such an
    /// instance is never a 补卡 of its own: it never corrects a slot.
    pub(crate) fn revokes(&self) -> Option<&str> {
        self.links
            .main
            .as_deref()
            .filter(|_| self.biz_action.as_deref() == Some("REVOKE"))
    }

    /// Approved ⇔ `status == COMPLETED && result == agree`.
    pub(crate) fn is_approved(&self) -> bool {
        self.status == ApprovalStatus::Completed && self.result == Some(ApprovalResult::Agree)
    }

    pub(crate) fn is_refused(&self) -> bool {
        self.status == ApprovalStatus::Completed && self.result == Some(ApprovalResult::Refuse)
    }

    pub(crate) fn is_finished(&self) -> bool {
        !matches!(self.status, ApprovalStatus::New | ApprovalStatus::Running)
    }
}

/// The ledger's view of one slot: what this job has told the downstream systems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerState {
    pub time_result: TimeResult,
    pub check_time: Option<DateTime<Utc>>,
    pub source_type: SourceType,
    pub process_instance_id: Option<String>,
}

/// Classes of change (PRODUCT.md section 4). Every observed change and every finished approval
/// gets exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeClass {
    Baseline,
    SupplyApplied,
    SupplyPending,
    SupplyUnmatched,
    SupplyRefused,
    SupplyWithdrawn,
    SupplyReverted,
    AdminEdit,
    LateResult,
    Unexplained,
    Vanished,
}

impl ChangeClass {
    pub const ALL: [ChangeClass; 11] = [
        ChangeClass::Baseline,
        ChangeClass::SupplyApplied,
        ChangeClass::SupplyPending,
        ChangeClass::SupplyUnmatched,
        ChangeClass::SupplyRefused,
        ChangeClass::SupplyWithdrawn,
        ChangeClass::SupplyReverted,
        ChangeClass::AdminEdit,
        ChangeClass::LateResult,
        ChangeClass::Unexplained,
        ChangeClass::Vanished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeClass::Baseline => "baseline",
            ChangeClass::SupplyApplied => "supply_applied",
            ChangeClass::SupplyPending => "supply_pending",
            ChangeClass::SupplyUnmatched => "supply_unmatched",
            ChangeClass::SupplyRefused => "supply_refused",
            ChangeClass::SupplyWithdrawn => "supply_withdrawn",
            ChangeClass::SupplyReverted => "supply_reverted",
            ChangeClass::AdminEdit => "admin_edit",
            ChangeClass::LateResult => "late_result",
            ChangeClass::Unexplained => "unexplained",
            ChangeClass::Vanished => "vanished",
        }
    }

    pub(crate) fn parse(raw: &str) -> Option<ChangeClass> {
        ChangeClass::ALL
            .into_iter()
            .find(|class| class.as_str() == raw)
    }

    /// Whether a finding of this class is an anomaly in the report.
    pub(crate) fn is_anomaly(self) -> bool {
        matches!(
            self,
            ChangeClass::SupplyUnmatched
                | ChangeClass::SupplyReverted
                | ChangeClass::Unexplained
                | ChangeClass::Vanished
        )
    }
}

impl fmt::Display for ChangeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the policy says to do with a class of change that is not an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    /// Change the ledger and journal a correction.
    Apply,
    /// Leave the ledger alone; list the change in the report.
    Report,
}

/// How configurable classes are handled (`[policy]` in the config; keys left out take the
/// defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub admin_edit: PolicyAction,
    pub unexplained: PolicyAction,
    pub vanished: PolicyAction,
    /// An approved 补卡 not visible on its slot after this many days becomes an anomaly.
    pub pending_anomaly_days: u32,
}

impl Default for Policy {
    /// Admin edits applied; unexplained and vanished slots reported; anomaly after 3 days.
    fn default() -> Self {
        Policy {
            admin_edit: PolicyAction::Apply,
            unexplained: PolicyAction::Report,
            vanished: PolicyAction::Report,
            pending_anomaly_days: 3,
        }
    }
}

/// One change of a ledger row, journaled with its cause and delivered to the sinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    /// Deterministic and unique: the same evidence always yields the same key, so a rerun can
    /// never journal it twice.
    pub idempotency_key: String,
    pub slot_key: SlotKey,
    pub class: ChangeClass,
    /// The ledger row before; `None` when the slot had no ledger row yet.
    pub before: Option<LedgerState>,
    pub after: LedgerState,
    /// False when the slot was first observed already corrected (backfill).
    pub before_observed: bool,
    pub process_instance_id: Option<String>,
    /// Enrichment from the approval detail; may be filled in after the correction was applied.
    pub business_id: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
}

impl Serialize for SlotKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical())
    }
}

impl<'de> Deserialize<'de> for SlotKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        SlotKey::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// How a call to DingTalk ended, for metering and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Ok,
    /// A business error answered by DingTalk (errcode / code given).
    Error(String),
    /// Rejected by QPS throttling (`90018`, `90002`, `…QpsLimit…`): never metered.
    Throttled,
    /// `90020` / `Forbidden.AccessDenied.ApiCountLimitForOrg`: never metered.
    QuotaExhausted,
    /// The IP-ban page or `status: 1111`: never metered.
    IpBanned,
    /// HTTP 5xx: never metered.
    ServerError(u16),
    /// Timed out waiting for an answer: metered (DingTalk may have served it).
    Timeout,
    /// Connection failed before the request was sent: never metered.
    Transport,
    /// The connection broke after the request may have been sent (reset, closed) and before
    /// an answer: metered, like a timeout (DingTalk may have served it).
    Interrupted,
    /// An answer that could not be decoded: metered (DingTalk served it).
    Malformed,
    /// A 3xx redirect, not followed: never metered (DingTalk does not redirect API calls, so
    /// something in front of it answered).
    Redirected(u16),
    /// An HTML page that is not the IP-ban page (a captive portal, a proxy's or firewall's
    /// page): never metered (DingTalk did not answer).
    HtmlPage,
    /// Written down before the call is sent and not yet settled with its real outcome: counted
    /// as metered, the safe side, so a crash or a store failure between the two never
    /// under-counts the month.
    Reserved,
}

impl CallOutcome {
    /// Whether a call to a metered endpoint that ended this way counts against the monthly
    /// quota. The simulator keeps its own copy of the rule; the integration tests check the two
    /// agree, so the job's count equals DingTalk's.
    pub fn counts_against_quota(&self) -> bool {
        matches!(
            self,
            CallOutcome::Ok
                | CallOutcome::Error(_)
                | CallOutcome::Timeout
                | CallOutcome::Interrupted
                | CallOutcome::Malformed
                | CallOutcome::Reserved
        )
    }
}

/// One attempt at one DingTalk endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The path, e.g. `/attendance/list` (never with a query string).
    pub endpoint: String,
    /// Whether the endpoint is a metered one (attendance, workflow).
    pub(crate) metered_endpoint: bool,
    pub outcome: CallOutcome,
    pub(crate) at: DateTime<Utc>,
}

impl CallRecord {
    /// Whether this attempt consumed one of the month's metered calls.
    pub fn metered(&self) -> bool {
        self.metered_endpoint && self.outcome.counts_against_quota()
    }
}

/// A person of the directory as DingTalk's contacts calls list them. `name` is text from outside:
/// anything may be in it, and every renderer escapes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user_id: UserId,
    pub name: String,
    /// The departments the person is a direct member of, in DingTalk's order (the first is
    /// taken as the person's department).
    pub departments: Vec<i64>,
}

/// A department of the directory; `name` is text from outside, like [`Person::name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: i64,
    pub name: String,
    /// `None` for the root.
    pub parent: Option<i64>,
}

/// The people of a scope and the departments of the tree walked for them, as of one walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    /// Sorted by user id, one entry per person.
    pub people: Vec<Person>,
    /// Sorted by id.
    pub departments: Vec<Department>,
}

/// Whether DingTalk meters calls to this path (dingtalk-api.md section 8): attendance and
/// workflow endpoints are metered; token and contacts endpoints are free.
pub fn is_metered_endpoint(path: &str) -> bool {
    path.starts_with("/attendance/")
        || path.starts_with("/topapi/attendance/")
        || path.starts_with("/topapi/processinstance/")
        || path.starts_with("/v1.0/workflow/")
        || path.starts_with("/v1.0/attendance/")
        || path == "/v1.0/contact/users/search"
}

/// The source of "now" for the client and the run, injected so that replays (`--as-of`) and
/// tests are deterministic. Only wall-clock bookkeeping in `commands` (the run lock, delivery
/// retry times) reads the system clock directly.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock stopped at one instant (`--as-of`, tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_key_round_trip(raw: &str) {
        let key = SlotKey::parse(raw).unwrap();
        assert_eq!(key.canonical(), raw);
    }

    #[test]
    fn slot_keys_round_trip_through_their_canonical_text() {
        check_key_round_trip("0126|2026-11-03|plan:437360727696");
        check_key_round_trip("02253726682920171716|2026-11-03|OffDuty@1762164000000");
        check_key_round_trip("u1|2026-11-03|Weird@-5");
    }

    #[test]
    fn bad_slot_keys_are_rejected_with_the_expected_shape() {
        for raw in [
            "",
            "u1",
            "u1|2026-13-01|plan:1",
            "u1|2026-11-01|plan:x",
            "u1|2026-11-01|OnDuty",
        ] {
            let err = SlotKey::parse(raw).unwrap_err();
            assert!(err.to_string().contains("expected"), "{err}");
        }
    }

    #[test]
    fn user_ids_keep_leading_zeros_and_refuse_separators() {
        assert_eq!(UserId::new("0126").unwrap().as_str(), "0126");
        assert!(UserId::new("").is_err());
        assert!(UserId::new("a|b").is_err());
        assert!(UserId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn a_slot_stored_under_the_old_field_name_keeps_its_process_instance_id() {
        let slot = Slot {
            user_id: UserId::new("u1").unwrap(),
            work_date: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            check_type: CheckType::OnDuty,
            plan_id: Some(12),
            base_check_time: DateTime::UNIX_EPOCH,
            user_check_time: Some(DateTime::UNIX_EPOCH),
            time_result: TimeResult::Normal,
            location_result: LocationResult::Normal,
            source_type: SourceType::Approve,
            process_instance_id: Some("p1".into()),
            approve_id: None,
            record_id: None,
            group_id: None,
            row_id: None,
        };
        let stored = serde_json::to_string(&slot)
            .unwrap()
            .replace("\"process_instance_id\"", "\"proc_inst_id\"");
        assert!(stored.contains("\"proc_inst_id\":\"p1\""), "{stored}");
        assert_eq!(serde_json::from_str::<Slot>(&stored).unwrap(), slot);
    }

    #[test]
    fn unknown_enum_values_are_kept_verbatim() {
        let source = SourceType::parse("FACE_MACHINE_V2");
        assert_eq!(source, SourceType::Unknown("FACE_MACHINE_V2".into()));
        assert_eq!(source.as_str(), "FACE_MACHINE_V2");
        assert_eq!(
            serde_json::to_string(&source).unwrap(),
            "\"FACE_MACHINE_V2\""
        );
        assert_eq!(SourceType::parse("BOSS"), SourceType::Boss);
    }

    #[test]
    fn only_answered_calls_to_metered_endpoints_count() {
        let record = |endpoint: &str, outcome| CallRecord {
            endpoint: endpoint.into(),
            metered_endpoint: is_metered_endpoint(endpoint),
            outcome,
            at: DateTime::UNIX_EPOCH,
        };
        assert!(record("/attendance/list", CallOutcome::Ok).metered());
        assert!(record("/attendance/list", CallOutcome::Error("40035".into())).metered());
        assert!(!record("/attendance/list", CallOutcome::Throttled).metered());
        assert!(!record("/attendance/list", CallOutcome::QuotaExhausted).metered());
        assert!(!record("/attendance/list", CallOutcome::ServerError(502)).metered());
        assert!(!record("/topapi/user/listid", CallOutcome::Ok).metered());
        assert!(!record("/topapi/v2/user/list", CallOutcome::Ok).metered());
        assert!(!record("/topapi/v2/department/get", CallOutcome::Ok).metered());
        assert!(!record("/gettoken", CallOutcome::Ok).metered());
        assert!(record("/v1.0/workflow/processInstances", CallOutcome::Ok).metered());
        assert!(!record("/attendance/list", CallOutcome::Redirected(307)).metered());
        assert!(!record("/attendance/list", CallOutcome::HtmlPage).metered());
        assert!(
            record("/attendance/list", CallOutcome::Reserved).metered(),
            "a call not yet settled counts, the safe side"
        );
    }
}
