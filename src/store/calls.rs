//! The call ledger: every attempt at a DingTalk endpoint, with its natural month in the business
//! time zone, its outcome and whether it was metered.
//!
//! A metered call is written down *before* it is sent ([`CallLog::reserve`]: outcome `reserved`,
//! counted as metered) and settled with its real outcome once answered ([`CallLog::settle`]), so
//! a store that fails mid-run or a crash between the two never under-counts the month: a call
//! whose reservation cannot be written is not sent, and a reserved row never settled counts.
//! Free calls are recorded the moment they end. The HTTP client does this from whatever task
//! made the call, through a [`CallLog`]: a cloneable `Send + Sync` handle owning its own connection to the same database
//! (a file store: a second connection, serialised with the store's by SQLite's busy timeout; an
//! in-memory store: a second connection to the same named `memdb` database). Queries for quota
//! use ([`Store::month_usage`], …) read the same table.
//!
//! This module does not decide what is metered: [`CallRecord::metered`] does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, params};

use super::Store;
use super::codec::{collect, count, ms};
use super::error::{Error, Location, SqlResultExt};
use crate::domain::{CallOutcome, CallRecord};

/// Calls in one month or one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthUsage {
    /// Every attempt, whatever its endpoint and outcome.
    pub(crate) attempts: u64,
    /// Attempts that counted against the monthly quota.
    pub metered: u64,
    /// Attempts at free endpoints (token, contacts).
    pub free: u64,
    /// Attempts rejected by QPS throttling (never metered).
    pub(crate) throttled: u64,
    /// Attempts per endpoint path.
    pub by_endpoint: BTreeMap<String, u64>,
}

/// `YYYY-MM` of `at` in the business time zone: the month a call is metered in.
pub(crate) fn business_month(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m").to_string()
}

/// A handle that records calls from any task. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct CallLog {
    conn: Arc<Mutex<Connection>>,
    location: Location,
}

impl CallLog {
    /// Records one finished attempt (a free endpoint's). `month` is `YYYY-MM` in the business
    /// time zone ([`business_month`]).
    pub(crate) fn record(
        &self,
        run_id: Option<i64>,
        call: &CallRecord,
        month: &str,
    ) -> Result<(), Error> {
        self.insert(run_id, call, month).map(|_| ())
    }

    /// Writes a metered call down before it is sent, as `call` says (outcome
    /// [`CallOutcome::Reserved`]: counted as metered until settled); returns the row to settle.
    /// An error means the call must not be sent: the month would not know of it.
    pub(crate) fn reserve(
        &self,
        run_id: Option<i64>,
        call: &CallRecord,
        month: &str,
    ) -> Result<i64, Error> {
        self.insert(run_id, call, month)
    }

    /// Settles a reserved row with the call's real outcome, time and month. A row that cannot
    /// be settled stays reserved, so it keeps counting as metered (the safe side).
    pub(crate) fn settle(&self, row: i64, call: &CallRecord, month: &str) -> Result<(), Error> {
        let (outcome, detail) = outcome_columns(&call.outcome);
        let conn = self.lock();
        conn.prepare_cached(
            "UPDATE calls SET month = ?2, at_ms = ?3, outcome = ?4, outcome_detail = ?5,
                 metered = ?6
             WHERE id = ?1 AND outcome = 'reserved'",
        )
        .at(&self.location)?
        .execute(params![
            row,
            month,
            ms(call.at),
            outcome,
            detail,
            call.metered()
        ])
        .at(&self.location)?;
        Ok(())
    }

    fn insert(&self, run_id: Option<i64>, call: &CallRecord, month: &str) -> Result<i64, Error> {
        let (outcome, detail) = outcome_columns(&call.outcome);
        let conn = self.lock();
        conn.prepare_cached(
            "INSERT INTO calls (run_id, endpoint, month, at_ms, outcome, outcome_detail,
                 metered_endpoint, metered)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .at(&self.location)?
        .execute(params![
            run_id,
            call.endpoint,
            month,
            ms(call.at),
            outcome,
            detail,
            call.metered_endpoint,
            call.metered(),
        ])
        .at(&self.location)?;
        Ok(conn.last_insert_rowid())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written row (SQLite rolls back), so
        // a poisoned mutex is safe to keep using.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn outcome_columns(outcome: &CallOutcome) -> (&'static str, Option<String>) {
    match outcome {
        CallOutcome::Ok => ("ok", None),
        CallOutcome::Error(code) => ("error", Some(code.clone())),
        CallOutcome::Throttled => ("throttled", None),
        CallOutcome::QuotaExhausted => ("quota_exhausted", None),
        CallOutcome::IpBanned => ("ip_banned", None),
        CallOutcome::ServerError(status) => ("server_error", Some(status.to_string())),
        CallOutcome::Timeout => ("timeout", None),
        CallOutcome::Transport => ("transport", None),
        CallOutcome::Interrupted => ("interrupted", None),
        CallOutcome::Malformed => ("malformed", None),
        CallOutcome::Redirected(status) => ("redirected", Some(status.to_string())),
        CallOutcome::HtmlPage => ("html_page", None),
        CallOutcome::Reserved => ("reserved", None),
    }
}

const USAGE_SELECT: &str = "SELECT endpoint, count(*), coalesce(sum(metered), 0), \
     coalesce(sum(metered_endpoint = 0), 0), coalesce(sum(outcome = 'throttled'), 0) FROM calls";

impl Store {
    /// A handle for recording calls, with its own connection to this store.
    pub fn call_log(&self) -> Result<CallLog, Error> {
        let conn = self.target.connect(&self.location)?;
        self.target.configure(&conn, &self.location)?;
        Ok(CallLog {
            conn: Arc::new(Mutex::new(conn)),
            location: self.location.clone(),
        })
    }

    /// Calls in the month `YYYY-MM` (business time zone).
    pub fn month_usage(&self, month: &str) -> Result<MonthUsage, Error> {
        self.usage("WHERE month = ?1", [month])
    }

    /// Metered calls of the month `YYYY-MM` made outside nightly runs — by backfills (queued
    /// ones included) and by `doctor`, whose calls belong to no run: one-off spending a pace
    /// projection leaves out.
    pub(crate) fn month_one_off_metered(&self, month: &str) -> Result<u64, Error> {
        self.usage(
            "WHERE month = ?1 AND (run_id IS NULL
               OR run_id IN (SELECT id FROM runs WHERE kind = 'backfill'))",
            [month],
        )
        .map(|usage| usage.metered)
    }

    /// The metered calls the last `nights` nightly runs (cron or daemon) that ended `done`
    /// spent on average, rounded up: what a night has been seen to need, scan nights included.
    pub(crate) fn recent_nightly_mean(&self, nights: u32) -> Result<u64, Error> {
        let (spent, runs) = self
            .conn
            .query_row(
                "SELECT coalesce(sum(spent), 0), count(*) FROM (
                   SELECT (SELECT count(*) FROM calls c WHERE c.run_id = r.id AND c.metered = 1)
                          AS spent
                   FROM runs r WHERE r.kind IN ('run', 'daemon') AND r.outcome = 'done'
                   ORDER BY r.id DESC LIMIT ?1)",
                [nights],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .at(&self.location)?;
        Ok(count(spent).div_ceil(count(runs).max(1)))
    }

    /// Metered calls of the month `YYYY-MM` per business date (in `tz`), in date order, dates
    /// without any left out: what the quota chart of a report draws.
    pub(crate) fn month_metered_by_day(
        &self,
        month: &str,
        tz: Tz,
    ) -> Result<Vec<(chrono::NaiveDate, u64)>, Error> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT at_ms FROM calls WHERE month = ?1 AND metered = 1")
            .at(&self.location)?;
        let stamps = collect(&self.location, &mut statement, [month], "calls", |reader| {
            reader.instant(0, "at_ms")
        })?;
        let mut days: BTreeMap<chrono::NaiveDate, u64> = BTreeMap::new();
        for at in stamps {
            *days.entry(at.with_timezone(&tz).date_naive()).or_insert(0) += 1;
        }
        Ok(days.into_iter().collect())
    }

    /// Calls recorded for one run.
    pub(crate) fn run_calls(&self, run_id: i64) -> Result<MonthUsage, Error> {
        self.usage("WHERE run_id = ?1", [run_id])
    }

    fn usage(&self, filter: &str, params: impl rusqlite::Params) -> Result<MonthUsage, Error> {
        let sql = format!("{USAGE_SELECT} {filter} GROUP BY endpoint");
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        let rows = collect(&self.location, &mut statement, params, "calls", |reader| {
            let number = |idx, column| reader.int(idx, column).map(count);
            Ok((
                reader.text(0, "endpoint")?,
                MonthUsage {
                    attempts: number(1, "attempts")?,
                    metered: number(2, "metered")?,
                    free: number(3, "free")?,
                    throttled: number(4, "throttled")?,
                    by_endpoint: BTreeMap::new(),
                },
            ))
        })?;
        let mut usage = MonthUsage::default();
        for (endpoint, endpoint_usage) in rows {
            usage.attempts += endpoint_usage.attempts;
            usage.metered += endpoint_usage.metered;
            usage.free += endpoint_usage.free;
            usage.throttled += endpoint_usage.throttled;
            usage.by_endpoint.insert(endpoint, endpoint_usage.attempts);
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::test_support::{day, new_run, store};
    use super::*;
    use crate::domain::is_metered_endpoint;

    fn call(endpoint: &str, outcome: CallOutcome, at: DateTime<Utc>) -> CallRecord {
        CallRecord {
            endpoint: endpoint.to_owned(),
            metered_endpoint: is_metered_endpoint(endpoint),
            outcome,
            at,
        }
    }

    fn utc(month: u32, d: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, d, hour, 0, 0).unwrap()
    }

    #[test]
    fn calls_are_counted_by_month_run_and_endpoint_with_the_metering_rule() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(1))).unwrap();
        let log = store.call_log().unwrap();
        let shanghai = chrono_tz::Asia::Shanghai;
        let calls = [
            (
                Some(run_id),
                call("/attendance/list", CallOutcome::Ok, utc(11, 3, 1)),
            ),
            (
                Some(run_id),
                call("/attendance/list", CallOutcome::Throttled, utc(11, 3, 1)),
            ),
            (
                Some(run_id),
                call(
                    "/attendance/list",
                    CallOutcome::Error("40035".into()),
                    utc(11, 3, 2),
                ),
            ),
            (
                Some(run_id),
                call("/gettoken", CallOutcome::Ok, utc(11, 3, 1)),
            ),
            (
                None,
                call(
                    "/topapi/processinstance/get",
                    CallOutcome::ServerError(502),
                    utc(11, 4, 1),
                ),
            ),
            // 2026-11-30 17:00 UTC is already December in Shanghai.
            (
                None,
                call("/attendance/list", CallOutcome::Ok, utc(11, 30, 17)),
            ),
        ];
        for (run, record) in &calls {
            log.record(*run, record, &business_month(record.at, shanghai))
                .unwrap();
        }

        let november = store.month_usage("2026-11").unwrap();
        assert_eq!(november.attempts, 5);
        assert_eq!(november.metered, 2);
        assert_eq!(november.free, 1);
        assert_eq!(november.throttled, 1);
        assert_eq!(november.by_endpoint["/attendance/list"], 3);
        assert_eq!(store.month_usage("2026-12").unwrap().metered, 1);
        // A metered call of no run (`doctor`) is one-off spending; a nightly run's is not.
        assert_eq!(store.month_one_off_metered("2026-12").unwrap(), 1);
        assert_eq!(store.month_one_off_metered("2026-11").unwrap(), 0);

        let run = store.run_calls(run_id).unwrap();
        assert_eq!((run.attempts, run.metered), (4, 2));

        // Per business date: the throttled and the free calls do not count.
        let by_day = store.month_metered_by_day("2026-11", shanghai).unwrap();
        let date = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert_eq!(by_day, vec![(date(3), 2)]);
        let december = store.month_metered_by_day("2026-12", shanghai).unwrap();
        assert_eq!(
            december,
            vec![(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(), 1)]
        );
    }

    #[test]
    fn a_night_s_need_is_the_mean_of_the_last_done_nightly_runs_rounded_up() {
        use crate::store::{NewRun, RunEnd, RunKind, RunOutcome};
        let mut store = store();
        assert_eq!(store.recent_nightly_mean(7).unwrap(), 0, "no night yet");
        let log = store.call_log().unwrap();
        let shanghai = chrono_tz::Asia::Shanghai;
        // Nightly runs spending 3 (done), 4 (done), 40 (partial); a backfill spending 50.
        for (kind, outcome, spent) in [
            (RunKind::Nightly, RunOutcome::Done, 3),
            (RunKind::Daemon, RunOutcome::Done, 4),
            (RunKind::Nightly, RunOutcome::Partial, 40),
            (RunKind::Backfill, RunOutcome::Done, 50),
        ] {
            let run_id = store
                .begin_run(&NewRun {
                    kind,
                    ..new_run(day(1), day(1))
                })
                .unwrap();
            for _ in 0..spent {
                let record = call("/attendance/list", CallOutcome::Ok, utc(11, 3, 1));
                log.record(Some(run_id), &record, &business_month(record.at, shanghai))
                    .unwrap();
            }
            let end = RunEnd {
                outcome,
                counts: BTreeMap::new(),
                errors: Vec::new(),
                deferred_json: "[]".into(),
                finished_at: utc(11, 3, 2),
            };
            store.finish_run(run_id, &end).unwrap();
        }
        assert_eq!(
            store.recent_nightly_mean(7).unwrap(),
            4,
            "(3 + 4) / 2 rounded up"
        );
        assert_eq!(
            store.recent_nightly_mean(1).unwrap(),
            4,
            "the last done night"
        );
    }

    #[test]
    fn a_file_stores_call_log_records_from_other_threads_while_a_batch_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("store.db")).unwrap();
        let run_id = store.begin_run(&new_run(day(1), day(1))).unwrap();
        let log = store.call_log().unwrap();

        let writers: Vec<_> = (0..4)
            .map(|thread| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for n in 0..25 {
                        let record = call(
                            "/attendance/list",
                            CallOutcome::Ok,
                            utc(11, 3, thread + n % 2),
                        );
                        log.record(Some(run_id), &record, "2026-11").unwrap();
                    }
                })
            })
            .collect();
        for _ in 0..10 {
            let batch = crate::store::ApplyBatch::default();
            store.apply_batch(run_id, &batch).unwrap();
        }
        for writer in writers {
            writer.join().unwrap();
        }

        assert_eq!(store.month_usage("2026-11").unwrap().metered, 100);
    }

    #[test]
    fn a_reserved_call_counts_as_metered_until_settled_and_stays_counted_if_never_settled() {
        let store = store();
        let log = store.call_log().unwrap();
        let reserved = call("/attendance/list", CallOutcome::Reserved, utc(11, 3, 1));
        let throttled_row = log.reserve(None, &reserved, "2026-11").unwrap();
        let answered_row = log.reserve(None, &reserved, "2026-11").unwrap();
        let _crashed_row = log.reserve(None, &reserved, "2026-11").unwrap();
        assert_eq!(
            store.month_usage("2026-11").unwrap().metered,
            3,
            "reserved = metered"
        );

        let throttled = call("/attendance/list", CallOutcome::Throttled, utc(11, 3, 1));
        log.settle(throttled_row, &throttled, "2026-11").unwrap();
        // Answered just after midnight on the 1st in Shanghai: settled into December.
        let answered = call("/attendance/list", CallOutcome::Ok, utc(11, 30, 16));
        log.settle(answered_row, &answered, "2026-12").unwrap();
        let november = store.month_usage("2026-11").unwrap();
        assert_eq!(
            (november.attempts, november.metered, november.throttled),
            (2, 1, 1),
            "the throttled call is free; the one never settled still counts"
        );
        assert_eq!(store.month_usage("2026-12").unwrap().metered, 1);
        // A row is settled once: a second settle changes nothing.
        log.settle(throttled_row, &answered, "2026-11").unwrap();
        assert_eq!(store.month_usage("2026-11").unwrap().throttled, 1);
    }

    #[test]
    fn a_full_store_refuses_the_reservation_with_an_error_naming_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Store::open(&path).unwrap();
        let log = store.call_log().unwrap();
        // The store cannot grow past the pages it has: what a full disk does to SQLite.
        {
            let conn = log.lock();
            let pages: i64 = conn
                .query_row("PRAGMA page_count", [], |row| row.get(0))
                .unwrap();
            conn.pragma_update(None, "max_page_count", pages).unwrap();
        }
        let reserved = call("/attendance/list", CallOutcome::Reserved, utc(11, 3, 1));
        let mut written = 0;
        let error = loop {
            match log.reserve(None, &reserved, "2026-11") {
                Ok(_) => written += 1,
                Err(error) => break error,
            }
            assert!(written < 100_000, "the store never filled up");
        };
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert_eq!(store.month_usage("2026-11").unwrap().metered, written);
    }
}
