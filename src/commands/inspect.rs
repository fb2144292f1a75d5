//! Read-only commands over the store: `report`, `status`, `explain`. None of them calls DingTalk
//! or takes the run lock (SQLite's WAL lets them read while a run writes).

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::cli::{ExplainArgs, GlobalArgs, ReportArgs, StatusArgs, StatusFormat};
use crate::commands::job::load_config;
use crate::commands::{SharedClock, print_stdout};
use crate::domain::{Clock, UserId};
use crate::exit::{ExitKind, Outcome};
use crate::quota::{self, YearMonth};
use crate::reconcile;
use crate::report::{
    self, LockStatus, QuotaStatus, RenderOptions, ReportFormat, RunStatus, Status,
};
use crate::store::Store;

fn open_store(global: &GlobalArgs) -> anyhow::Result<(crate::config::Config, Store)> {
    let config = load_config(global)?;
    if not_created_yet(&config.store.path) {
        return Err(anyhow::Error::new(ExitKind::Failed).context(no_store_yet(&config)));
    }
    let store = super::open_store(&config.store.path)?;
    Ok((config, store))
}

/// Whether `path` is where a store would be created but none is yet: nothing there, in a
/// directory that exists. (A path the store could not be created at goes on to
/// [`super::open_store`], which names `store.path` and the problem.)
fn not_created_yet(path: &std::path::Path) -> bool {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    !path.exists() && parent.is_dir()
}

/// What the read-only commands say where there is no store yet: they never create one.
fn no_store_yet(config: &crate::config::Config) -> String {
    format!(
        "no store yet at {} (store.path): the first `run` or `backfill` creates it",
        config.store.path.display()
    )
}

/// `report`: one run (`--run ID|latest`, the default) or a date range (`--from/--to`, or
/// `--month`: that month's work dates up to yesterday).
pub(crate) fn report(global: &GlobalArgs, args: ReportArgs) -> anyhow::Result<Outcome> {
    // Settled before anything is opened: a file name that names no format is a usage mistake.
    let format = report_format(args.format, args.output.as_deref())?;
    if args.output.is_none() {
        super::job::printable(format)?;
    }
    let (config, store) = open_store(global)?;
    let tz = config.timezone;
    let (budget, days) = (
        config.quota.monthly_budget,
        config.policy.pending_anomaly_days,
    );
    let range = match (args.month, args.from, args.to) {
        (Some(month), _, _) => {
            let today = quota::local_date(SharedClock::new(global.as_of).now(), tz);
            Some(month_range(month, today)?)
        }
        (None, Some(from), Some(to)) => Some((from, to)),
        _ => None,
    };
    let built = match range {
        Some((from, to)) => report::build::for_range(&store, from, to, budget, days, tz)
            .with_context(|| format!("cannot build the report for {from} .. {to}"))?,
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
            report::build::for_run(&store, run_id, budget, days, tz)
                .with_context(|| format!("cannot build the report of run {run_id}"))?
        }
    };
    let options = RenderOptions {
        tz,
        lang: args.lang.unwrap_or(config.report.lang),
        full: args.full,
    };
    match args.output {
        // The workbook is replaced atomically: a reader never opens half a zip file.
        Some(path) if format == ReportFormat::Xlsx => {
            let bytes = report::render_file(&built, format, &options)
                .context("cannot build the xlsx workbook")?;
            crate::fsio::write_private_atomic(&path, &bytes)
                .with_context(|| format!("cannot write the report to {}", path.display()))?
        }
        Some(path) => {
            crate::fsio::write_private(&path, report::render(&built, format, &options)?.as_bytes())
                .with_context(|| format!("cannot write the report to {}", path.display()))?
        }
        None => print_stdout(&report::render(&built, format, &options)?)?,
    }
    Ok(Outcome::Done)
}

/// The work dates of `--month`: the month's first day to its last, capped at yesterday (the
/// business date before `today`). A month with no day before today is a configuration error
/// (exit 78) naming the flag.
fn month_range(month: YearMonth, today: NaiveDate) -> anyhow::Result<(NaiveDate, NaiveDate)> {
    let from = month.first_day();
    let yesterday = today.pred_opt().unwrap_or(today);
    let to = month.last_day().min(yesterday);
    if to < from {
        return Err(anyhow::Error::new(ExitKind::Config).context(format!(
            "--month {month}: none of its work dates is over yet (today is {today}): \
             expected YYYY-MM of this month or an earlier one"
        )));
    }
    Ok((from, to))
}

/// The file extensions `report --output` recognises, lower case, and the format each names.
const REPORT_EXTENSIONS: [(&str, ReportFormat); 8] = [
    ("txt", ReportFormat::Text),
    ("json", ReportFormat::Json),
    ("csv", ReportFormat::Csv),
    ("md", ReportFormat::Markdown),
    ("markdown", ReportFormat::Markdown),
    ("html", ReportFormat::Html),
    ("htm", ReportFormat::Html),
    ("xlsx", ReportFormat::Xlsx),
];

/// The format `report` writes: `--format` when given; otherwise the one `--output`'s extension
/// names (in any case), text on stdout. An output file whose extension names no format, without
/// `--format`, is a configuration error (exit 78) saying what was expected.
fn report_format(
    explicit: Option<ReportFormat>,
    output: Option<&std::path::Path>,
) -> anyhow::Result<ReportFormat> {
    let (None, Some(path)) = (explicit, output) else {
        return Ok(explicit.unwrap_or(ReportFormat::Text));
    };
    let extension = path.extension().map(|ext| ext.to_string_lossy());
    let known = extension.as_deref().and_then(|ext| {
        REPORT_EXTENSIONS
            .iter()
            .find(|(name, _)| ext.eq_ignore_ascii_case(name))
    });
    match known {
        Some((_, format)) => Ok(*format),
        None => {
            let seen = match extension {
                Some(ext) => format!(
                    "its extension \".{}\" names no report format",
                    report::escape::plain(&ext)
                ),
                None => "it has no extension".to_owned(),
            };
            Err(anyhow::Error::new(ExitKind::Config).context(format!(
                "--output {}: {seen}: expected .txt, .json, .csv, .md, .html, .htm or .xlsx, \
                 or give --format text|json|csv|markdown|html|xlsx",
                report::escape::plain(&path.display().to_string())
            )))
        }
    }
}

/// `status`.
pub(crate) fn status(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    if not_created_yet(&config.store.path) {
        // Nothing has run yet: say so (and create nothing), which is a state, not a failure.
        let line = no_store_yet(&config);
        print_stdout(&match args.format {
            StatusFormat::Json => serde_json::json!({ "store": null, "message": line }).to_string(),
            StatusFormat::Text => format!("store      {}", report::escape::plain(&line)),
        })?;
        return Ok(Outcome::Done);
    }
    let store = super::open_store(&config.store.path)?;
    let as_of = SharedClock::new(global.as_of).now();
    let status = collect_status(
        &store,
        &config.store.path.display().to_string(),
        as_of,
        config.timezone,
        config.quota.monthly_budget,
    )?;
    let text = match args.format {
        StatusFormat::Json => report::json_safe(
            serde_json::to_string_pretty(&status).context("cannot encode the status")?,
        ),
        StatusFormat::Text => report::render_status(&status, config.timezone),
    };
    print_stdout(&text)?;
    Ok(Outcome::Done)
}

/// Gathers the [`Status`] from the store as of `as_of`; `path` is how the store is named.
fn collect_status(
    store: &Store,
    path: &str,
    as_of: DateTime<Utc>,
    tz: Tz,
    budget: u64,
) -> anyhow::Result<Status> {
    let month = YearMonth::of(as_of, tz).to_string();
    let usage = store.month_usage(&month)?;
    // A backfill is one-off spending: the pace is the nightly runs' alone, the backfills'
    // spending added once.
    let backfill = store.month_one_off_metered(&month)?;
    let mut nightly = quota::pace(as_of, tz, budget, usage.metered.saturating_sub(backfill));
    // Nights, not hours: the month's nights so far at their mean, for every night of the month
    // (an hour-based pace after the first night of the month projects it thirty-fold and more).
    let this_month = YearMonth::of(as_of, tz);
    let nights: std::collections::BTreeSet<chrono::NaiveDate> = store
        .recent_runs(400)?
        .iter()
        .filter(|run| run.kind.is_nightly() && YearMonth::of(run.as_of, tz) == this_month)
        .map(|run| quota::local_date(run.as_of, tz))
        .collect();
    if let Some(projected) = quota::project_by_nights(
        nightly.used,
        nights.len() as u64,
        u64::from(chrono::Datelike::day(&this_month.last_day())),
    ) {
        nightly.projected = projected;
    }
    let pace = quota::pace(as_of, tz, budget, usage.metered);
    // This month's coverage, as its nightly runs decided it (the last one's plan).
    let coverage = match crate::reconcile::month_coverage(store, &this_month.to_string())? {
        Some(decided) => Some(
            crate::report::build::employee_coverage_of(store, &decided)
                .map_err(anyhow::Error::new)?,
        ),
        None => None,
    };
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
        // Real time, not `as_of`: heartbeats are wall-clock instants.
        lock: store.lock_state(Utc::now())?.map(|state| LockStatus {
            pid: state.holder.pid,
            host: state.holder.host,
            run_id: state.holder.run_id,
            since: state.holder.acquired_at,
            heartbeat: state.heartbeat,
            gone: state.gone.map(|gone| gone.to_string()),
        }),
        runs,
        quota: QuotaStatus {
            month,
            budget,
            used: usage.metered,
            backfill,
            remaining: pace.remaining,
            elapsed: pace.elapsed,
            projected: nightly.projected + backfill,
            by_endpoint: usage.by_endpoint,
            throttled: usage.throttled,
        },
        // The one definition of pending, the reports' too (`Store::pending_approvals`).
        pending_approvals: store.pending_approvals()?.len() as u64,
        sink_backlog: store.outbox_backlog()?,
        queue: queue_status(store, as_of, tz, pace.remaining, &nightly)?,
        report_deliveries: store.report_journal()?,
        robot_messages: store.reports_delivered_between(
            "dingtalk_robot",
            quota::local_midnight(this_month.first_day(), tz),
            quota::local_midnight(this_month.next().first_day(), tz),
        )?,
        coverage,
        quota_exhausted: crate::reconcile::blocked::current(store, tz, as_of)?.map(|stored| {
            report::QuotaExhaustedStatus::new(report::QuotaExhausted::new(&stored, tz))
        }),
    })
}

/// The queued backfills' progress and expected finish, `remaining` calls left of the month's
/// budget. The nights' need is what the nightly
/// runs are projected to spend by month end at their pace so far (read from the store alone:
/// `status` asks DingTalk nothing); each backfill finishes after those before it.
fn queue_status(
    store: &Store,
    as_of: DateTime<Utc>,
    tz: Tz,
    remaining: u64,
    nightly: &quota::Pace,
) -> anyhow::Result<Vec<report::QueueStatus>> {
    let queue = store.queued_backfills()?;
    let need = nightly.projected.saturating_sub(nightly.used);
    let outlook = quota::Outlook::new(
        nightly.budget,
        remaining,
        quota::remaining_nightly_runs(as_of, tz),
        remaining.saturating_sub(need),
    );
    let today = quota::local_date(as_of, tz);
    let mut before = 0u64;
    Ok(queue
        .into_iter()
        .map(|queued| {
            let (from, to) = (queued.state.key.from, queued.state.key.to);
            let chunks = crate::commands::backfill::chunks(from, to).len();
            let chunks_done = queued.state.done.len().min(chunks);
            let left = (chunks - chunks_done) as u64;
            let estimated_left = match chunks_done {
                0 => queued.estimated_calls,
                done => queued.spent.div_ceil(done as u64) * left,
            };
            before += estimated_left;
            report::QueueStatus {
                from,
                to,
                users: queued.users.as_ref().map(Vec::len),
                queued_at: queued.queued_at,
                chunks,
                chunks_done,
                spent: queued.spent,
                estimated_left,
                expected_finish: outlook.queue_finish(before, today),
            }
        })
        .collect())
}

/// `explain --user --date`: everything known about one employee-day.
pub(crate) fn explain(global: &GlobalArgs, args: ExplainArgs) -> anyhow::Result<Outcome> {
    let (config, store) = open_store(global)?;
    let user = UserId::new(args.user.clone()).map_err(|error| {
        anyhow::Error::new(error)
            .context(ExitKind::Config)
            .context(format!(
                "--user {:?}: expected a DingTalk user id",
                args.user
            ))
    })?;
    let explanation = reconcile::explain(&store, &user, args.date)?;
    print_stdout(&report::render_explanation(&explanation, config.timezone))?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn date(raw: &str) -> NaiveDate {
        raw.parse().unwrap()
    }

    #[test]
    fn a_month_is_its_work_dates_capped_at_yesterday() {
        let october = YearMonth {
            year: 2026,
            month: 10,
        };
        assert_eq!(
            month_range(october, date("2026-11-30")).unwrap(),
            (date("2026-10-01"), date("2026-10-31"))
        );
        assert_eq!(
            month_range(october, date("2026-10-31")).unwrap(),
            (date("2026-10-01"), date("2026-10-30"))
        );
        assert_eq!(
            month_range(october, date("2026-10-02")).unwrap(),
            (date("2026-10-01"), date("2026-10-01"))
        );
        for today in ["2026-10-01", "2026-09-15"] {
            let err = month_range(october, date(today)).unwrap_err();
            assert_eq!(crate::exit::code_for(&err), crate::exit::CONFIG);
            assert!(
                format!("{err:#}").starts_with("--month 2026-10: "),
                "{err:#}"
            );
        }
    }

    #[track_caller]
    fn inferred(file: &str) -> ReportFormat {
        report_format(None, Some(Path::new(file))).expect("a known extension")
    }

    #[test]
    fn without_format_the_output_files_extension_picks_it_in_any_case() {
        assert_eq!(inferred("out/report.html"), ReportFormat::Html);
        assert_eq!(inferred("report.HTM"), ReportFormat::Html);
        assert_eq!(inferred("report.md"), ReportFormat::Markdown);
        assert_eq!(inferred("report.markdown"), ReportFormat::Markdown);
        assert_eq!(inferred("十月.CSV"), ReportFormat::Csv);
        assert_eq!(inferred("report.json"), ReportFormat::Json);
        assert_eq!(inferred("report.txt"), ReportFormat::Text);
        assert_eq!(inferred("十月.XLSX"), ReportFormat::Xlsx);
    }

    #[test]
    fn an_explicit_format_wins_and_stdout_defaults_to_text() {
        let html = Some(Path::new("report.html"));
        let pdf = Some(Path::new("report.pdf"));
        assert_eq!(
            report_format(Some(ReportFormat::Csv), html).unwrap(),
            ReportFormat::Csv
        );
        assert_eq!(
            report_format(Some(ReportFormat::Json), pdf).unwrap(),
            ReportFormat::Json
        );
        assert_eq!(report_format(None, None).unwrap(), ReportFormat::Text);
        assert_eq!(
            report_format(Some(ReportFormat::Html), None).unwrap(),
            ReportFormat::Html
        );
    }

    #[test]
    fn an_unknown_or_missing_extension_is_a_config_error_naming_what_was_expected() {
        for (file, seen) in [
            (
                "report.pdf",
                "its extension \".pdf\" names no report format",
            ),
            (
                "report.xls",
                "its extension \".xls\" names no report format",
            ),
            ("report", "it has no extension"),
        ] {
            let err = report_format(None, Some(Path::new(file))).unwrap_err();
            assert_eq!(crate::exit::code_for(&err), crate::exit::CONFIG, "{file}");
            assert_eq!(
                format!("{err:#}"),
                format!(
                    "--output {file}: {seen}: expected .txt, .json, .csv, .md, .html, .htm or .xlsx, \
                     or give --format text|json|csv|markdown|html|xlsx: configuration error"
                ),
            );
        }
    }
}
