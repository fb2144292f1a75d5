//! Fixtures shared by the store's unit tests: a fresh store, dates, instants, slots.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::types::Value;

use super::{NewRun, RunKind, Store};
use crate::domain::{CheckType, LocationResult, Slot, SourceType, TimeResult, UserId};

pub(crate) fn store() -> Store {
    Store::open_in_memory().expect("in-memory store opens")
}

/// A day of November 2026.
pub(crate) fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).expect("valid day")
}

/// An instant on 2026-12-01 at `hour` UTC.
pub(crate) fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0)
        .single()
        .expect("valid instant")
}

pub(crate) fn user(id: &str) -> UserId {
    UserId::new(id).expect("valid user id")
}

pub(crate) fn new_run(from: NaiveDate, to: NaiveDate) -> NewRun {
    NewRun {
        kind: RunKind::Nightly,
        trigger: "test".into(),
        as_of: at(2),
        window_from: from,
        window_to: to,
        plan_json: "{}".into(),
        started_at: at(2),
    }
}

/// A not-signed on-duty slot of `user_id` on `date` with plan id `plan`.
pub(crate) fn slot(user_id: &str, date: NaiveDate, plan: i64) -> Slot {
    let base = date.and_hms_opt(1, 0, 0).expect("valid time").and_utc();
    Slot {
        user_id: user(user_id),
        work_date: date,
        check_type: CheckType::OnDuty,
        plan_id: Some(plan),
        base_check_time: base,
        user_check_time: Some(base),
        time_result: TimeResult::NotSigned,
        location_result: LocationResult::NotSigned,
        source_type: SourceType::System,
        process_instance_id: None,
        approve_id: None,
        record_id: None,
        group_id: Some(7),
        row_id: Some(plan * 10),
    }
}

/// `slot` as DingTalk shows it after an approved 补卡 `proc`.
pub(crate) fn corrected(mut slot: Slot, proc: &str) -> Slot {
    slot.time_result = TimeResult::Normal;
    slot.location_result = LocationResult::Normal;
    slot.source_type = SourceType::Approve;
    slot.process_instance_id = Some(proc.to_owned());
    slot.record_id = Some(99);
    slot
}

/// Every row of every table, as text, in a stable order: two equal dumps are equal stores.
pub(crate) fn dump(store: &Store) -> Vec<String> {
    let tables = [
        "runs",
        "run_counts",
        "slots",
        "slot_history",
        "approvals",
        "approval_listings",
        "approval_resolutions",
        "ledger",
        "corrections",
        "outbox",
        "findings",
        "backfills",
        "backfill_chunks",
        "calls",
        "run_lock",
    ];
    let mut out = Vec::new();
    for table in tables {
        let mut statement = store
            .conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
            .unwrap();
        let n_columns = statement.column_count();
        let rows = statement
            .query_map([], |row| {
                let values: Vec<Value> = (0..n_columns)
                    .map(|idx| row.get::<_, Value>(idx))
                    .collect::<Result<_, _>>()?;
                Ok(format!("{table}: {values:?}"))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}
