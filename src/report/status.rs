//! The `status` command's data and its text: the store, the month's quota and pace, the run lock,
//! approvals awaiting a verdict, the sinks' backlog and the last runs.
//!
//! [`Status`] is plain data (its JSON form is what `status --format json` prints); the command
//! gathers it from the store. [`render_status`] is the text form; it does no IO and reads no
//! clock, and shows times as minutes in the business time zone passed in. Strings read from the
//! store or the config (path, host, kinds, outcomes, sink names) go through
//! [`escape::shown`](super::escape) like every value from outside.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::QuotaExhausted;
use super::escape::shown;
use crate::store::ReportJournal;

/// What `status` shows, as data (the JSON form is this struct).
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub(crate) store: String,
    pub(crate) as_of: DateTime<Utc>,
    pub(crate) lock: Option<LockStatus>,
    pub(crate) runs: Vec<RunStatus>,
    pub(crate) quota: QuotaStatus,
    /// Approvals DingTalk approved that it does not show corrected yet: the one definition of
    /// pending (`Store::pending_approvals`), the reports' pending lists and counts too.
    pub(crate) pending_approvals: u64,
    pub(crate) sink_backlog: BTreeMap<String, u64>,
    /// Queued backfills not finished yet, in the order the nightly runs work through them.
    #[serde(default)]
    pub(crate) queue: Vec<QueueStatus>,
    /// The report-delivery journal per sink: reports delivered, waiting, failing.
    #[serde(default)]
    pub(crate) report_deliveries: BTreeMap<String, ReportJournal>,
    /// Messages the DingTalk group robots took this month (`quota.month`): counted apart, never
    /// against the API budget (whether DingTalk meters them is not documented).
    #[serde(default)]
    pub(crate) robot_messages: u64,
    /// Who this month's budget covers and what covering everyone costs, as the month's
    /// nightly runs decided it; `None` before the month's first nightly run.
    #[serde(default)]
    pub(crate) coverage: Option<super::EmployeeCoverage>,
    /// DingTalk reported the organisation's monthly quota exhausted this quota month
    /// (`quota.month`): no metered call until it resumes. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) quota_exhausted: Option<QuotaExhaustedStatus>,
}

/// The blocked month, and the sentence `status` shows for it.
#[derive(Debug, Serialize)]
pub(crate) struct QuotaExhaustedStatus {
    #[serde(flatten)]
    pub(crate) exhausted: QuotaExhausted,
    pub(crate) sentence: String,
}

impl QuotaExhaustedStatus {
    pub(crate) fn new(exhausted: QuotaExhausted) -> Self {
        QuotaExhaustedStatus {
            sentence: exhausted.sentence(),
            exhausted,
        }
    }
}

/// One queued backfill's progress.
#[derive(Debug, Serialize)]
pub(crate) struct QueueStatus {
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    /// How many users it is limited to; `None`: the configured scope.
    pub(crate) users: Option<usize>,
    pub(crate) queued_at: DateTime<Utc>,
    pub(crate) chunks: usize,
    pub(crate) chunks_done: usize,
    /// Metered calls its finished chunks spent.
    pub(crate) spent: u64,
    /// What the chunks left are expected to cost: the finished chunks' average when there are
    /// any, else the estimate made when it was queued.
    pub(crate) estimated_left: u64,
    /// The night it is expected to finish by, at this month's nightly pace; `None` when the
    /// budget leaves the nights nothing spare.
    pub(crate) expected_finish: Option<NaiveDate>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LockStatus {
    pub(crate) pid: u32,
    pub(crate) host: String,
    pub(crate) run_id: Option<i64>,
    pub(crate) since: DateTime<Utc>,
    /// The holder's last sign of life.
    pub(crate) heartbeat: DateTime<Utc>,
    /// Why the holder is presumed gone (the next run takes the lock over); `None` while alive.
    pub(crate) gone: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunStatus {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) trigger: String,
    pub(crate) as_of: DateTime<Utc>,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
    pub(crate) outcome: String,
    pub(crate) window: (NaiveDate, NaiveDate),
    pub(crate) metered_calls: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct QuotaStatus {
    pub(crate) month: String,
    pub(crate) budget: u64,
    pub(crate) used: u64,
    /// Of `used`, what backfills and `doctor` spent: one-off, left out of the pace.
    #[serde(default)]
    pub(crate) backfill: u64,
    pub(crate) remaining: u64,
    /// Fraction of the month elapsed.
    pub(crate) elapsed: f64,
    /// Metered calls the month ends at if the nightly runs go on at their pace so far (the
    /// backfills' spending counted once, not projected).
    pub(crate) projected: u64,
    pub(crate) by_endpoint: BTreeMap<String, u64>,
    pub(crate) throttled: u64,
}

/// The outcome of a run whose process was gone when a later run took the lock.
const ABANDONED: &str = "abandoned";

/// The plain-text status, times shown in `tz`.
pub(crate) fn render_status(status: &Status, tz: Tz) -> String {
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let mut out = String::new();
    let q = &status.quota;
    let _ = writeln!(out, "store      {}", shown(&status.store));
    let _ = writeln!(
        out,
        "quota      {} of {} metered calls used in {} ({} left{}); {:.0}% of the month gone, projected {}{}",
        q.used,
        q.budget,
        q.month,
        q.remaining,
        if q.backfill > 0 {
            format!(
                "; {} of them by backfills and checks, not projected",
                q.backfill
            )
        } else {
            String::new()
        },
        q.elapsed * 100.0,
        q.projected,
        if q.projected > q.budget {
            " — OVER BUDGET at this pace"
        } else {
            ""
        }
    );
    if let Some(coverage) = &status.coverage {
        let missing = coverage.total.saturating_sub(coverage.covered);
        let _ = writeln!(
            out,
            "coverage   {} of {} employees covered in {}{}; covering everyone needs about {} metered calls a month ({:.2} per employee){}",
            coverage.covered,
            coverage.total,
            coverage.month,
            if missing == 0 {
                String::new()
            } else {
                let departments: Vec<String> = coverage
                    .not_covered
                    .iter()
                    .map(|gap| {
                        format!(
                            "{} {}/{}",
                            shown(&gap.department),
                            gap.not_covered,
                            gap.people
                        )
                    })
                    .collect();
                format!(
                    "; not covered: {missing}{}",
                    if departments.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", departments.join(", "))
                    }
                )
            },
            coverage.full_budget,
            coverage.full_budget as f64 / coverage.total.max(1) as f64,
            if missing > 0 {
                format!(
                    "; the budget of {} covers {}: a budget of {} would cover everyone",
                    coverage.budget, coverage.covered, coverage.full_budget
                )
            } else {
                String::new()
            }
        );
    }
    if let Some(exhausted) = &status.quota_exhausted {
        let _ = writeln!(out, "blocked    {}", exhausted.sentence);
    }
    match &status.lock {
        Some(lock) => {
            let _ = writeln!(
                out,
                "lock       held by pid {} on {} since {}, last heartbeat {}",
                lock.pid,
                shown(&lock.host),
                local(lock.since),
                local(lock.heartbeat)
            );
            if let Some(gone) = &lock.gone {
                let _ = writeln!(
                    out,
                    "           presumed gone: {}; the next run takes the lock over",
                    shown(gone)
                );
            }
        }
        None => {
            let _ = writeln!(out, "lock       free");
        }
    }
    let _ = writeln!(
        out,
        "pending    {} approved, not shown corrected in DingTalk yet",
        status.pending_approvals
    );
    if status.sink_backlog.is_empty() {
        let _ = writeln!(out, "sinks      no backlog");
    } else {
        for (sink, backlog) in &status.sink_backlog {
            let _ = writeln!(
                out,
                "sink       {}: {backlog} corrections awaiting delivery",
                shown(sink)
            );
        }
    }
    for (sink, journal) in &status.report_deliveries {
        let _ = write!(
            out,
            "reports    {} ({}): {} delivered, {} waiting, {} failing",
            shown(sink),
            shown(&journal.kind),
            journal.delivered,
            journal.waiting,
            journal.failing
        );
        match &journal.last_error {
            Some(error) if journal.failing > 0 => {
                let _ = writeln!(out, "; last error: {}", shown(error));
            }
            _ => {
                let _ = writeln!(out);
            }
        }
    }
    if status.robot_messages > 0
        || status
            .report_deliveries
            .values()
            .any(|journal| journal.kind == "dingtalk_robot")
    {
        let _ = writeln!(
            out,
            "robot      robot messages this month: {} (counted apart from the API budget)",
            status.robot_messages
        );
    }
    for queued in &status.queue {
        let _ = writeln!(
            out,
            "queued     backfill {} .. {}{} (queued {}): {} of {} chunks done, {} metered calls spent, about {} to go; {}",
            queued.from,
            queued.to,
            queued
                .users
                .map_or_else(String::new, |users| format!(" for {users} user(s)")),
            local(queued.queued_at),
            queued.chunks_done,
            queued.chunks,
            queued.spent,
            queued.estimated_left,
            queued.expected_finish.map_or_else(
                || "the nights leave nothing spare at this pace: it waits for a larger budget"
                    .to_owned(),
                |date| format!("expected to finish by the night of {date}"),
            )
        );
    }
    let _ = writeln!(out, "\nlast runs");
    if status.runs.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for run in &status.runs {
        let _ = write!(
            out,
            "  #{:<5} {:<9} {:<8} started {}  work dates {} .. {}  {} metered",
            run.id,
            shown(&run.kind),
            shown(&run.outcome),
            local(run.started_at),
            run.window.0,
            run.window.1,
            run.metered_calls
        );
        // An abandoned run's end is when the run after it found it gone and took the lock.
        if let (ABANDONED, Some(at)) = (run.outcome.as_str(), run.finished_at) {
            let _ = write!(out, "  (taken over {})", local(at));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().expect("test time is RFC 3339")
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).expect("valid day")
    }

    fn quiet() -> Status {
        Status {
            store: "/var/lib/dingtalk-reconcile/reconcile.db".to_owned(),
            as_of: at("2026-11-15T00:00:00Z"),
            lock: None,
            runs: Vec::new(),
            quota: QuotaStatus {
                month: "2026-11".to_owned(),
                budget: 4000,
                used: 0,
                backfill: 0,
                remaining: 4000,
                elapsed: 0.4667,
                projected: 0,
                by_endpoint: BTreeMap::new(),
                throttled: 0,
            },
            pending_approvals: 0,
            sink_backlog: BTreeMap::new(),
            queue: Vec::new(),
            report_deliveries: BTreeMap::new(),
            robot_messages: 0,
            coverage: None,
            quota_exhausted: None,
        }
    }

    /// A month spending too fast, a run holding the lock, two sinks behind.
    fn busy() -> Status {
        let run = |id, kind: &str, outcome: &str, started: &str, from, to, metered| RunStatus {
            id,
            kind: kind.to_owned(),
            trigger: "schedule".to_owned(),
            as_of: at(started),
            started_at: at(started),
            finished_at: None,
            outcome: outcome.to_owned(),
            window: (day(from), day(to)),
            metered_calls: metered,
        };
        Status {
            lock: Some(LockStatus {
                pid: 4242,
                host: "batch-01".to_owned(),
                run_id: Some(13),
                since: at("2026-11-14T18:10:00Z"),
                heartbeat: at("2026-11-14T18:40:30Z"),
                gone: None,
            }),
            runs: vec![
                run(13, "run", "running", "2026-11-14T18:10:00Z", 7, 13, 0),
                run(
                    12,
                    "backfill",
                    "partial",
                    "2026-11-13T18:10:00Z",
                    1,
                    7,
                    1830,
                ),
            ],
            quota: QuotaStatus {
                used: 2390,
                remaining: 1610,
                projected: 5121,
                by_endpoint: BTreeMap::from([("attendance/list".to_owned(), 2390)]),
                throttled: 3,
                ..quiet().quota
            },
            pending_approvals: 2,
            sink_backlog: BTreeMap::from([("hr-file".to_owned(), 1), ("payroll".to_owned(), 17)]),
            ..quiet()
        }
    }

    #[test]
    fn status_matches_its_snapshot() {
        insta::assert_snapshot!(render_status(&busy(), SHANGHAI));
    }

    #[test]
    fn strings_from_the_store_cannot_forge_lines_or_reach_the_terminal_raw() {
        let mut hostile = busy();
        hostile.store = "/var/lib/x\u{1b}]0;pwned\u{7}.db".to_owned();
        if let Some(lock) = &mut hostile.lock {
            lock.host = "batch-01\r\nlock       free".to_owned();
        }
        hostile.runs[0].outcome = "done\u{202e}".to_owned();
        hostile.sink_backlog =
            BTreeMap::from([("hr\n  #1 run".to_owned(), 1), ("payroll".to_owned(), 17)]);
        let text = render_status(&hostile, SHANGHAI);
        let raw = crate::report::escape::hostile_chars(&text);
        assert!(raw.is_empty(), "{raw:?} in {text}");
        assert_eq!(
            text.lines().count(),
            render_status(&busy(), SHANGHAI).lines().count(),
            "{text}"
        );
        assert!(
            text.contains("held by pid 4242 on batch-01\\u{d}\\u{a}lock       free since"),
            "{text}"
        );
    }

    #[test]
    fn backfill_spending_is_shown_apart_and_left_out_of_the_pace() {
        let mut status = quiet();
        status.quota.used = 3016;
        status.quota.backfill = 3016;
        status.quota.remaining = 984;
        status.quota.projected = 3016;
        let text = render_status(&status, SHANGHAI);
        assert!(
            text.contains(
                "quota      3016 of 4000 metered calls used in 2026-11 (984 left; 3016 of them by \
                 backfills and checks, not projected); 47% of the month gone, projected 3016\n"
            ),
            "{text}"
        );
        assert!(!text.contains("OVER BUDGET"), "{text}");
    }

    #[test]
    fn a_quiet_store_reads_free_without_backlog_or_runs() {
        let text = render_status(&quiet(), SHANGHAI);
        assert!(text.contains("quota      0 of 4000 metered calls used in 2026-11 (4000 left); 47% of the month gone, projected 0\n"), "{text}");
        assert!(text.contains("\nlock       free\n"), "{text}");
        assert!(text.contains("\nsinks      no backlog\n"), "{text}");
        assert!(text.ends_with("\nlast runs\n  none yet\n"), "{text}");
        assert!(!text.contains("OVER BUDGET"), "{text}");
    }

    #[test]
    fn a_month_whose_quota_other_apps_exhausted_says_so_in_text_and_json() {
        let mut status = quiet();
        status.quota.used = 812;
        status.quota_exhausted = Some(QuotaExhaustedStatus::new(QuotaExhausted {
            month: "2026-11".to_owned(),
            seen_at: at("2026-11-09T18:10:00Z"),
            seen_on: day(10),
            own_metered: 812,
            budget: 5000,
            by_other_apps: true,
            resumes_on: NaiveDate::from_ymd_opt(2026, 12, 1),
        }));
        let sentence = "the organisation's monthly quota of DingTalk calls was exhausted by other \
                        apps on 2026-11-10 (our own use: 812 of 5,000); metered calls resume on \
                        2026-12-01";
        let text = render_status(&status, SHANGHAI);
        assert!(
            text.contains(&format!("\nblocked    {sentence}\n")),
            "{text}"
        );
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json["quota_exhausted"],
            serde_json::json!({
                "month": "2026-11",
                "seen_at": "2026-11-09T18:10:00Z",
                "seen_on": "2026-11-10",
                "own_metered": 812,
                "budget": 5000,
                "by_other_apps": true,
                "resumes_on": "2026-12-01",
                "sentence": sentence,
            })
        );
        let calm = serde_json::to_value(quiet()).unwrap();
        assert!(calm.get("quota_exhausted").is_none(), "{calm}");
        assert!(!render_status(&quiet(), SHANGHAI).contains("blocked"));
    }

    #[test]
    fn a_lock_whose_holder_is_gone_says_why_and_what_happens_next() {
        let mut status = busy();
        if let Some(lock) = &mut status.lock {
            lock.gone = Some("no process has its pid on this host".to_owned());
        }
        let text = render_status(&status, SHANGHAI);
        assert!(
            text.contains(
                "lock       held by pid 4242 on batch-01 since 2026-11-15 02:10, last heartbeat \
                 2026-11-15 02:40\n           presumed gone: no process has its pid on this host; \
                 the next run takes the lock over\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_abandoned_run_shows_when_it_was_taken_over() {
        let mut status = busy();
        status.runs[1].outcome = "abandoned".to_owned();
        status.runs[1].finished_at = Some(at("2026-11-14T18:10:02Z"));
        let text = render_status(&status, SHANGHAI);
        assert!(
            text.contains(
                "  #12    backfill  abandoned started 2026-11-14 02:10  work dates 2026-11-01 .. \
                 2026-11-07  1830 metered  (taken over 2026-11-15 02:10)\n"
            ),
            "{text}"
        );
        // A run still running, or finished otherwise, says nothing of the kind.
        status.runs[1].outcome = "partial".to_owned();
        assert!(!render_status(&status, SHANGHAI).contains("taken over"));
    }

    #[test]
    fn status_shows_times_in_the_business_time_zone() {
        let text = render_status(&busy(), SHANGHAI);
        // 2026-11-14T18:10Z is 02:10 the next day in Shanghai.
        assert!(text.contains("since 2026-11-15 02:10"), "{text}");
        let utc = render_status(&busy(), chrono_tz::UTC);
        assert!(utc.contains("since 2026-11-14 18:10"), "{utc}");
    }
}
