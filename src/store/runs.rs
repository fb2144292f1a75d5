//! Runs: one row per execution, with its window, plan, counts, outcome, errors and deferred
//! items.
//!
//! A run is recorded when it starts (no outcome yet, `running` in the table) so that a crash
//! leaves a trace, and finished once. Kind and outcome are typed here ([`RunKind`],
//! [`RunOutcome`]) and spelled as text only in the table. This module does not interpret the
//! plan or the deferred items: both are JSON written and read by the planner and the report.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Store;
use super::codec::{Reader, collect, count, date_text, ms, sql_int, to_json};
use super::error::{Error, Location, SqlResultExt};
use crate::domain::ChangeClass;

/// Which kind of run a row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// `run`: the nightly pass started from the command line.
    Nightly,
    /// `backfill`: one chunk of a date range.
    Backfill,
    /// `daemon`: a tick of the built-in scheduler.
    Daemon,
}

impl RunKind {
    pub(crate) const ALL: [RunKind; 3] = [RunKind::Nightly, RunKind::Backfill, RunKind::Daemon];

    /// The stored and reported spelling: `run`, `backfill` or `daemon`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Nightly => "run",
            RunKind::Backfill => "backfill",
            RunKind::Daemon => "daemon",
        }
    }

    /// Whether the run is a nightly pass (`run` or a daemon tick), not a backfill.
    pub(crate) fn is_nightly(self) -> bool {
        matches!(self, RunKind::Nightly | RunKind::Daemon)
    }
}

/// How a run ended (exit codes 0, 2, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunOutcome {
    Done,
    /// Budget, quota, a stop request or some items failed; the report says what.
    Partial,
    Failed,
    /// Never finished: its process was gone (killed, its host rebooted, its lock gone stale)
    /// when a later run took the lock. Recorded by that later run, never by a run itself.
    Abandoned,
}

impl RunOutcome {
    pub(crate) const ALL: [RunOutcome; 4] = [
        RunOutcome::Done,
        RunOutcome::Partial,
        RunOutcome::Failed,
        RunOutcome::Abandoned,
    ];

    /// The stored and reported spelling: `done`, `partial`, `failed` or `abandoned`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Done => "done",
            RunOutcome::Partial => "partial",
            RunOutcome::Failed => "failed",
            RunOutcome::Abandoned => "abandoned",
        }
    }
}

/// A spelling that names no run kind or outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{raw:?} is not a run {what}")]
pub struct UnknownName {
    what: &'static str,
    raw: String,
}

fn parse_name<T: Copy>(
    all: &[T],
    spelling: impl Fn(T) -> &'static str,
    raw: &str,
    what: &'static str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|value| spelling(*value) == raw)
        .ok_or_else(|| UnknownName {
            what,
            raw: raw.to_owned(),
        })
}

impl FromStr for RunKind {
    type Err = UnknownName;
    fn from_str(raw: &str) -> Result<Self, UnknownName> {
        parse_name(&RunKind::ALL, RunKind::as_str, raw, "kind")
    }
}

impl FromStr for RunOutcome {
    type Err = UnknownName;
    fn from_str(raw: &str) -> Result<Self, UnknownName> {
        parse_name(&RunOutcome::ALL, RunOutcome::as_str, raw, "outcome")
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `outcome` column of a run not finished (yet, or ever: the process died).
const RUNNING: &str = "running";

/// What is known when a run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub kind: RunKind,
    /// What started it: `cli`, `cron`, `catch_up`, ….
    pub trigger: String,
    pub as_of: DateTime<Utc>,
    pub window_from: NaiveDate,
    pub window_to: NaiveDate,
    pub plan_json: String,
    pub started_at: DateTime<Utc>,
}

/// What is known when a run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    pub outcome: RunOutcome,
    pub counts: BTreeMap<ChangeClass, u64>,
    pub errors: Vec<String>,
    pub deferred_json: String,
    pub finished_at: DateTime<Utc>,
}

/// A run as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    pub id: i64,
    pub kind: RunKind,
    pub trigger: String,
    pub(crate) as_of: DateTime<Utc>,
    pub(crate) window_from: NaiveDate,
    pub(crate) window_to: NaiveDate,
    pub(crate) plan_json: String,
    pub(crate) started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` until finished (or forever, if the process died).
    pub(crate) outcome: Option<RunOutcome>,
    pub(crate) counts: BTreeMap<ChangeClass, u64>,
    pub errors: Vec<String>,
    pub(crate) deferred_json: Option<String>,
}

impl StoredRun {
    /// The outcome as reported: `done`, `partial`, `failed`, `abandoned`, or `running` while
    /// unfinished.
    pub fn outcome_name(&self) -> &'static str {
        self.outcome.map_or(RUNNING, RunOutcome::as_str)
    }
}

const RUN_COLUMNS: &str = "id, kind, trigger, as_of_ms, window_from, window_to, plan_json, \
     started_at_ms, finished_at_ms, outcome, errors_json, deferred_json";

impl Store {
    /// Records the start of a run and returns its id.
    pub fn begin_run(&mut self, run: &NewRun) -> Result<i64, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "INSERT INTO runs (kind, trigger, as_of_ms, window_from, window_to, plan_json,
                     started_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .at(&self.location)?;
        statement
            .execute(params![
                run.kind.as_str(),
                run.trigger,
                ms(run.as_of),
                date_text(run.window_from),
                date_text(run.window_to),
                run.plan_json,
                ms(run.started_at),
            ])
            .at(&self.location)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the end of a run: outcome, counts per class, errors, deferred items.
    pub fn finish_run(&mut self, run_id: i64, end: &RunEnd) -> Result<(), Error> {
        let errors_json = to_json("run errors", &end.errors)?;
        let location = self.location.clone();
        let transaction = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        let updated = transaction
            .execute(
                "UPDATE runs SET outcome = ?2, errors_json = ?3, deferred_json = ?4,
                     finished_at_ms = ?5
                 WHERE id = ?1",
                params![
                    run_id,
                    end.outcome.as_str(),
                    errors_json,
                    end.deferred_json,
                    ms(end.finished_at)
                ],
            )
            .at(&location)?;
        if updated == 0 {
            return Err(Error::UnknownRun { run_id });
        }
        transaction
            .execute("DELETE FROM run_counts WHERE run_id = ?1", [run_id])
            .at(&location)?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO run_counts (run_id, class, n) VALUES (?1, ?2, ?3)")
                .at(&location)?;
            for (class, n) in &end.counts {
                insert
                    .execute(params![run_id, class.as_str(), sql_int(*n)])
                    .at(&location)?;
            }
        }
        transaction.commit().at(&location)
    }

    pub(crate) fn run(&self, run_id: i64) -> Result<Option<StoredRun>, Error> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
        let mut statement = self.conn.prepare_cached(&sql).at(&self.location)?;
        let run = statement
            .query_row([run_id], |row| Ok(decode_run(&Reader::new(row, "runs"))))
            .optional()
            .at(&self.location)?
            .transpose()?;
        run.map(|run| self.with_counts(run)).transpose()
    }

    /// The run started last.
    pub(crate) fn latest_run(&self) -> Result<Option<StoredRun>, Error> {
        Ok(self.recent_runs(1)?.into_iter().next())
    }

    /// The `limit` runs started last, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<StoredRun>, Error> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1");
        self.query_runs(&sql, [sql_int(limit)])
    }

    /// Runs whose window overlaps `from..=to`, oldest first.
    pub(crate) fn runs_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredRun>, Error> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE window_from <= ?2 AND window_to >= ?1
             ORDER BY id"
        );
        self.query_runs(&sql, [date_text(from), date_text(to)])
    }

    fn query_runs(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<StoredRun>, Error> {
        let mut statement = self.conn.prepare_cached(sql).at(&self.location)?;
        let runs = collect(&self.location, &mut statement, params, "runs", decode_run)?;
        runs.into_iter().map(|run| self.with_counts(run)).collect()
    }

    fn with_counts(&self, mut run: StoredRun) -> Result<StoredRun, Error> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT class, n FROM run_counts WHERE run_id = ?1")
            .at(&self.location)?;
        let counts = collect(
            &self.location,
            &mut statement,
            [run.id],
            "run_counts",
            |reader| Ok((reader.class(0, "class")?, count(reader.int(1, "n")?))),
        )?;
        run.counts = counts.into_iter().collect();
        Ok(run)
    }

    /// Fails with [`Error::UnknownRun`] unless the run exists.
    pub(crate) fn require_run(&self, run_id: i64) -> Result<(), Error> {
        let exists: bool = self
            .conn
            .prepare_cached("SELECT count(*) FROM runs WHERE id = ?1")
            .at(&self.location)?
            .query_row([run_id], |row| row.get(0))
            .at(&self.location)?;
        if exists {
            Ok(())
        } else {
            Err(Error::UnknownRun { run_id })
        }
    }
}

/// Marks every run still `running` as abandoned at `at`, with `reason` as its one error, and
/// returns their ids. Called by whoever takes the run lock (inside the transaction that takes
/// it): nobody else holds the lock then, so a run still running has lost its process.
pub(super) fn abandon_running(
    connection: &rusqlite::Connection,
    location: &Location,
    at: DateTime<Utc>,
    reason: &str,
) -> Result<Vec<i64>, Error> {
    let errors_json = to_json("run errors", &[reason])?;
    let mut statement = connection
        .prepare_cached(
            "UPDATE runs SET outcome = ?1, finished_at_ms = ?2, errors_json = ?3
             WHERE outcome = ?4 RETURNING id",
        )
        .at(location)?;
    let mut ids = statement
        .query_map(
            params![RunOutcome::Abandoned.as_str(), ms(at), errors_json, RUNNING],
            |row| row.get::<_, i64>(0),
        )
        .at(location)?
        .collect::<Result<Vec<_>, _>>()
        .at(location)?;
    ids.sort_unstable();
    Ok(ids)
}

fn decode_run(reader: &Reader<'_, '_>) -> Result<StoredRun, Error> {
    Ok(StoredRun {
        id: reader.int(0, "id")?,
        kind: parse_column(&reader.text(1, "kind")?, "kind")?,
        trigger: reader.text(2, "trigger")?,
        as_of: reader.instant(3, "as_of_ms")?,
        window_from: reader.date(4, "window_from")?,
        window_to: reader.date(5, "window_to")?,
        plan_json: reader.text(6, "plan_json")?,
        started_at: reader.instant(7, "started_at_ms")?,
        finished_at: reader.opt_instant(8, "finished_at_ms")?,
        outcome: match reader.text(9, "outcome")?.as_str() {
            RUNNING => None,
            raw => Some(parse_column(raw, "outcome")?),
        },
        errors: reader.json(10, "errors_json")?,
        deferred_json: reader.opt_text(11, "deferred_json")?,
        counts: BTreeMap::new(),
    })
}

fn parse_column<T: FromStr<Err = UnknownName>>(
    raw: &str,
    column: &'static str,
) -> Result<T, Error> {
    raw.parse().map_err(|err: UnknownName| Error::Decode {
        table: "runs",
        column,
        detail: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, day, new_run, store};
    use super::*;

    #[test]
    fn a_run_is_recorded_running_then_finished_with_its_counts_and_errors() {
        let mut store = store();
        let run_id = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let started = store.run(run_id).unwrap().unwrap();
        assert_eq!(started.outcome, None);
        assert_eq!(started.outcome_name(), "running");
        assert_eq!(started.finished_at, None);

        let end = RunEnd {
            outcome: RunOutcome::Partial,
            counts: BTreeMap::from([(ChangeClass::Baseline, 40), (ChangeClass::SupplyApplied, 2)]),
            errors: vec!["approval proc-9: detail failed".into()],
            deferred_json: r#"[{"item":"rescan"}]"#.into(),
            finished_at: at(2),
        };
        store.finish_run(run_id, &end).unwrap();
        let finished = store.run(run_id).unwrap().unwrap();
        assert_eq!(finished.outcome, Some(RunOutcome::Partial));
        assert_eq!(finished.counts, end.counts);
        assert_eq!(finished.errors, end.errors);
        assert_eq!(
            finished.deferred_json.as_deref(),
            Some(end.deferred_json.as_str())
        );
        assert_eq!(finished.finished_at, Some(at(2)));
    }

    #[test]
    fn finishing_an_unknown_run_names_it() {
        let mut store = store();
        let end = RunEnd {
            outcome: RunOutcome::Done,
            counts: BTreeMap::new(),
            errors: vec![],
            deferred_json: "[]".into(),
            finished_at: at(1),
        };
        let err = store.finish_run(42, &end).unwrap_err();
        assert!(matches!(err, Error::UnknownRun { run_id: 42 }), "{err}");
    }

    #[test]
    fn runs_are_listed_newest_first_and_found_by_window_overlap() {
        let mut store = store();
        let first = store.begin_run(&new_run(day(1), day(7))).unwrap();
        let second = store.begin_run(&new_run(day(8), day(14))).unwrap();
        let third = store.begin_run(&new_run(day(15), day(15))).unwrap();

        let recent: Vec<i64> = store
            .recent_runs(2)
            .unwrap()
            .iter()
            .map(|run| run.id)
            .collect();
        assert_eq!(recent, vec![third, second]);
        assert_eq!(store.latest_run().unwrap().unwrap().id, third);

        let overlapping: Vec<i64> = store
            .runs_between(day(7), day(8))
            .unwrap()
            .iter()
            .map(|run| run.id)
            .collect();
        assert_eq!(overlapping, vec![first, second]);
        assert!(store.runs_between(day(20), day(25)).unwrap().is_empty());
    }

    #[test]
    fn kinds_and_outcomes_read_back_as_written_and_unknown_spellings_are_refused() {
        for kind in RunKind::ALL {
            assert_eq!(kind.as_str().parse::<RunKind>(), Ok(kind));
        }
        for outcome in RunOutcome::ALL {
            assert_eq!(outcome.as_str().parse::<RunOutcome>(), Ok(outcome));
        }
        assert_eq!(
            "running".parse::<RunOutcome>().unwrap_err().to_string(),
            "\"running\" is not a run outcome"
        );
        assert!("nightly".parse::<RunKind>().is_err());

        let mut store = store();
        let mut run = new_run(day(1), day(7));
        run.kind = RunKind::Daemon;
        let run_id = store.begin_run(&run).unwrap();
        assert_eq!(store.run(run_id).unwrap().unwrap().kind, RunKind::Daemon);
        store
            .conn
            .execute("UPDATE runs SET outcome = 'odd' WHERE id = ?1", [run_id])
            .unwrap();
        let err = store.run(run_id).unwrap_err();
        assert!(err.to_string().contains("odd"), "{err}");
    }
}
