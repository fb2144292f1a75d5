//! Read-only commands over the store: `report`, `status`, `explain`. None of them calls DingTalk
//! or takes the run lock (SQLite's WAL lets them read while a run writes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::cli::{ExplainArgs, GlobalArgs, ReportArgs, StatusArgs, StatusFormat};
use crate::commands::job::load_config;
use crate::commands::{SharedClock, print_stdout};
use crate::domain::{Clock, UserId};
use crate::exit::{ExitKind, Outcome};
use crate::quota::{self, YearMonth};
use crate::report::{self, RenderOptions};
use crate::store::Store;

fn open_store(global: &GlobalArgs) -> anyhow::Result<(crate::config::Config, Store)> {
    let config = load_config(global)?;
    let store = Store::open(&config.store.path)
        .with_context(|| format!("cannot open the store {}", config.store.path.display()))?;
    Ok((config, store))
}

/// `report`: one run (`--run ID|latest`, the default) or a date range.
pub fn report(global: &GlobalArgs, args: ReportArgs) -> anyhow::Result<Outcome> {
    let (config, store) = open_store(global)?;
    let tz = config.timezone;
    let built = match (args.from, args.to) {
        (Some(from), Some(to)) => {
            report::build::for_range(&store, from, to, config.quota.monthly_budget, tz)
                .with_context(|| format!("cannot build the report for {from} .. {to}"))?
        }
        _ => {
            let run_id = match args.run.as_deref() {
                None | Some("latest") => store.latest_run()?.map(|run| run.id).context(
                    "the store holds no runs yet: run `dingtalk-reconcile run` or `backfill` first",
                )?,
                Some(raw) => raw.parse::<i64>().map_err(|_| {
                    anyhow::Error::new(ExitKind::Config).context(format!(
                        "--run {raw:?}: expected a run id (a number) or `latest`"
                    ))
                })?,
            };
            report::build::for_run(&store, run_id, config.quota.monthly_budget, tz)
                .with_context(|| format!("cannot build the report of run {run_id}"))?
        }
    };
    let text = report::render(&built, args.format, &RenderOptions { tz });
    match args.output {
        Some(path) => std::fs::write(&path, text)
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None => print_stdout(&text)?,
    }
    Ok(Outcome::Done)
}

/// What `status` shows, as data (the JSON form is this struct).
#[derive(Debug, Serialize)]
pub struct Status {
    pub store: String,
    pub as_of: DateTime<Utc>,
    pub lock: Option<LockStatus>,
    pub runs: Vec<RunStatus>,
    pub quota: QuotaStatus,
    pub pending_approvals: u64,
    pub sink_backlog: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct LockStatus {
    pub pid: u32,
    pub host: String,
    pub run_id: Option<i64>,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct RunStatus {
    pub id: i64,
    pub kind: String,
    pub trigger: String,
    pub as_of: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: String,
    pub window: (NaiveDate, NaiveDate),
    pub metered_calls: u64,
}

#[derive(Debug, Serialize)]
pub struct QuotaStatus {
    pub month: String,
    pub budget: u64,
    pub used: u64,
    pub remaining: u64,
    /// Fraction of the month elapsed.
    pub elapsed: f64,
    /// Metered calls the month ends at if spending goes on at the pace so far.
    pub projected: u64,
    pub by_endpoint: BTreeMap<String, u64>,
    pub throttled: u64,
}

/// `status`.
pub fn status(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<Outcome> {
    let (config, store) = open_store(global)?;
    let as_of = SharedClock::new(global.as_of).now();
    let status = collect_status(
        &store,
        &config.store.path.display().to_string(),
        as_of,
        config.timezone,
        config.quota.monthly_budget,
    )?;
    let text = match args.format {
        StatusFormat::Json => {
            serde_json::to_string_pretty(&status).context("cannot encode the status")?
        }
        StatusFormat::Text => render_status(&status, config.timezone),
    };
    print_stdout(&text)?;
    Ok(Outcome::Done)
}

pub fn collect_status(
    store: &Store,
    path: &str,
    as_of: DateTime<Utc>,
    tz: Tz,
    budget: u64,
) -> anyhow::Result<Status> {
    let month = YearMonth::of(as_of, tz).to_string();
    let usage = store.month_usage(&month)?;
    let pace = quota::pace(as_of, tz, budget, usage.metered);
    let runs = store
        .recent_runs(10)?
        .into_iter()
        .map(|run| {
            let metered_calls = store
                .run_calls(run.id)
                .map(|usage| usage.metered)
                .unwrap_or(0);
            let outcome = run.outcome_name();
            RunStatus {
                id: run.id,
                kind: run.kind.as_str().to_owned(),
                trigger: run.trigger,
                as_of: run.as_of,
                started_at: run.started_at,
                finished_at: run.finished_at,
                outcome: outcome.to_owned(),
                window: (run.window_from, run.window_to),
                metered_calls,
            }
        })
        .collect();
    Ok(Status {
        store: path.to_owned(),
        as_of,
        lock: store.lock_holder()?.map(|holder| LockStatus {
            pid: holder.pid,
            host: holder.host,
            run_id: holder.run_id,
            since: holder.acquired_at,
        }),
        runs,
        quota: QuotaStatus {
            month,
            budget,
            used: usage.metered,
            remaining: pace.remaining,
            elapsed: pace.elapsed,
            projected: pace.projected,
            by_endpoint: usage.by_endpoint,
            throttled: usage.throttled,
        },
        pending_approvals: store.unresolved_approvals()?.len() as u64,
        sink_backlog: store.outbox_backlog()?,
    })
}

pub fn render_status(status: &Status, tz: Tz) -> String {
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let mut out = String::new();
    let q = &status.quota;
    let _ = writeln!(out, "store      {}", status.store);
    let _ = writeln!(
        out,
        "quota      {} of {} metered calls used in {} ({} left); {:.0}% of the month gone, projected {}{}",
        q.used,
        q.budget,
        q.month,
        q.remaining,
        q.elapsed * 100.0,
        q.projected,
        if q.projected > q.budget {
            " — OVER BUDGET at this pace"
        } else {
            ""
        }
    );
    match &status.lock {
        Some(lock) => {
            let _ = writeln!(
                out,
                "lock       held by pid {} on {} since {}",
                lock.pid,
                lock.host,
                local(lock.since)
            );
        }
        None => {
            let _ = writeln!(out, "lock       free");
        }
    }
    let _ = writeln!(
        out,
        "pending    {} approvals not yet final or not yet visible",
        status.pending_approvals
    );
    if status.sink_backlog.is_empty() {
        let _ = writeln!(out, "sinks      no backlog");
    } else {
        for (sink, backlog) in &status.sink_backlog {
            let _ = writeln!(
                out,
                "sink       {sink}: {backlog} corrections awaiting delivery"
            );
        }
    }
    let _ = writeln!(out, "\nlast runs");
    if status.runs.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for run in &status.runs {
        let _ = writeln!(
            out,
            "  #{:<5} {:<9} {:<8} started {}  work dates {} .. {}  {} metered",
            run.id,
            run.kind,
            run.outcome,
            local(run.started_at),
            run.window.0,
            run.window.1,
            run.metered_calls
        );
    }
    out
}

/// `explain --user --date`: everything known about one employee-day.
pub fn explain(global: &GlobalArgs, args: ExplainArgs) -> anyhow::Result<Outcome> {
    let (config, store) = open_store(global)?;
    let user = UserId::new(args.user.clone()).map_err(|error| {
        anyhow::Error::new(error)
            .context(ExitKind::Config)
            .context(format!(
                "--user {:?}: expected a DingTalk user id",
                args.user
            ))
    })?;
    print_stdout(&explain_text(&store, &user, args.date, config.timezone)?)?;
    Ok(Outcome::Done)
}

pub fn explain_text(
    store: &Store,
    user: &UserId,
    date: NaiveDate,
    tz: Tz,
) -> anyhow::Result<String> {
    let local = |at: Option<DateTime<Utc>>| {
        at.map(|at| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let slots = store.slots_for_user_day(user, date)?;
    let history = store.slot_history(user, date)?;
    let ledger = store.ledger_for_user_day(user, date)?;
    let corrections = store.corrections_for_user_day(user, date)?;
    let findings: Vec<_> = store
        .findings_between(date, date)?
        .into_iter()
        .filter(|finding| finding.finding.user_id.as_ref() == Some(user))
        .collect();
    let mut process_instance_ids: BTreeSet<String> = slots
        .iter()
        .filter_map(|stored| stored.slot.process_instance_id.clone())
        .collect();
    process_instance_ids.extend(
        corrections
            .iter()
            .filter_map(|c| c.correction.process_instance_id.clone()),
    );
    process_instance_ids.extend(
        findings
            .iter()
            .filter_map(|f| f.finding.process_instance_id.clone()),
    );
    let approvals = store.approvals(&process_instance_ids.into_iter().collect::<Vec<_>>())?;

    let mut out = String::new();
    let _ = writeln!(out, "{user} on {date} (times in {tz})");
    let _ = writeln!(out, "\nslots as DingTalk last showed them");
    if slots.is_empty() {
        let _ = writeln!(
            out,
            "  none observed (not in scope, no schedule, or not fetched yet)"
        );
    }
    for stored in &slots {
        let slot = &stored.slot;
        let _ = writeln!(
            out,
            "  {:<8} plan {:<14} scheduled {}  punched {}  {} / {} via {}{}{}",
            slot.check_type,
            slot.plan_id
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            local(Some(slot.base_check_time)),
            local(slot.user_check_time),
            slot.time_result,
            slot.location_result,
            slot.source_type,
            slot.process_instance_id
                .as_ref()
                .map(|id| format!("  approval {id}"))
                .unwrap_or_default(),
            if stored.present { "" } else { "  (vanished)" },
        );
    }
    let _ = writeln!(out, "\nhistory");
    if history.is_empty() {
        let _ = writeln!(out, "  nothing recorded");
    }
    for entry in &history {
        let describe = |slot: &Option<crate::domain::Slot>| {
            slot.as_ref()
                .map(|s| format!("{} via {}", s.time_result, s.source_type))
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            out,
            "  run #{:<4} {}  {:<8} {} → {}{}",
            entry.run_id,
            local(Some(entry.observed_at)),
            entry.change.as_str(),
            describe(&entry.before),
            describe(&entry.after),
            entry
                .class
                .map(|class| format!("  [{class}]"))
                .unwrap_or_default(),
        );
    }
    let _ = writeln!(out, "\nledger");
    if ledger.is_empty() {
        let _ = writeln!(out, "  no rows");
    }
    for row in &ledger {
        let _ = writeln!(
            out,
            "  {}  {} at {} via {}  (cause {}{})",
            row.slot_key,
            row.state.time_result,
            local(row.state.check_time),
            row.state.source_type,
            row.cause_class,
            row.cause_process_instance_id
                .as_ref()
                .map(|id| format!(", approval {id}"))
                .unwrap_or_default(),
        );
    }
    let _ = writeln!(out, "\ncorrections");
    if corrections.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for stored in &corrections {
        let c = &stored.correction;
        let _ = writeln!(
            out,
            "  run #{:<4} {:<15} {} → {}  approval {}  business id {}  applied {}  key {}",
            stored.run_id,
            c.class,
            c.before
                .as_ref()
                .map(|b| b.time_result.to_string())
                .unwrap_or_else(|| "(not observed)".into()),
            c.after.time_result,
            c.process_instance_id.as_deref().unwrap_or("-"),
            c.business_id.as_deref().unwrap_or("-"),
            local(Some(stored.applied_at)),
            c.idempotency_key,
        );
    }
    let _ = writeln!(out, "\napprovals");
    if approvals.is_empty() {
        let _ = writeln!(out, "  none linked");
    }
    for stored in approvals.values() {
        let a = &stored.approval;
        let _ = writeln!(
            out,
            "  {}  business id {}  {} {}  created {}  finished {}  corrected time {}  reason {:?}{}",
            a.process_instance_id,
            a.business_id.as_deref().unwrap_or("-"),
            a.status,
            a.result.as_ref().map(|r| r.to_string()).unwrap_or_default(),
            local(a.create_time),
            local(a.finish_time),
            local(a.corrected_time),
            a.reason.as_deref().unwrap_or(""),
            stored
                .resolution
                .map(|class| format!("  [{class}]"))
                .unwrap_or_default(),
        );
    }
    let _ = writeln!(out, "\nfindings");
    if findings.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for finding in &findings {
        let _ = writeln!(
            out,
            "  run #{:<4} {:<16} {}",
            finding.run_id, finding.finding.class, finding.finding.detail
        );
    }
    Ok(out)
}
