//! The metrics textfile: the last run's numbers in Prometheus text exposition format, for the
//! node_exporter textfile collector (`--collector.textfile.directory`).
//!
//! Every metric is a gauge prefixed `dingtalk_reconcile_`, with `# HELP` and `# TYPE` lines. The
//! file is replaced atomically (a temporary file in the same directory, fsynced, then renamed over
//! the target, then the directory fsynced), so the collector never reads half a file. The
//! temporary name does not end in `.prom`, so the collector ignores it. A new file is created
//! owner-only (`0600`); a file that exists keeps its mode, so an administrator who made it
//! readable to node_exporter's user keeps it so (see `fsio`).
//!
//! This module does not serve HTTP, keep history or aggregate across runs: each run overwrites
//! the file with its own view.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::domain::ChangeClass;
use crate::fsio;
use crate::report::RunReport;

/// Run outcomes that always get a series (0 or 1), so alerts can match on a missing 1.
pub(crate) const KNOWN_OUTCOMES: [&str; 3] = ["done", "partial", "failed"];

/// What the textfile reports about the last run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunMetrics {
    pub(crate) run_id: i64,
    /// When the last run ended (or started, while it has not ended).
    pub(crate) last_run_at: DateTime<Utc>,
    /// When the last run with outcome `done` ended; `None` when there never was one.
    pub(crate) last_success_at: Option<DateTime<Utc>>,
    /// `done`, `partial`, `failed`, or anything else a run recorded.
    pub(crate) outcome: String,
    /// Corrections journaled by this run, per class (every class present).
    pub(crate) corrections_by_class: BTreeMap<ChangeClass, u64>,
    pub(crate) metered_calls_run: u64,
    pub(crate) metered_calls_month: u64,
    pub(crate) budget: u64,
    /// Pending approvals in the store after the run, by the one definition
    /// (`Store::pending_approvals`: approved, DingTalk not yet showing them on their slot), not
    /// the pending lines of the run's report, which are only those the run looked at.
    pub(crate) pending_approvals: u64,
    pub(crate) duration_seconds: f64,
    /// Corrections not yet acknowledged, per sink name.
    pub(crate) sink_backlog: BTreeMap<String, u64>,
    /// DingTalk reported the organisation's monthly quota exhausted in the run's quota month:
    /// `Some(true)` when the other apps spent it, `Some(false)` when we did.
    pub(crate) quota_exhausted_by_other_apps: Option<bool>,
    /// This quota month's coverage: employees covered, in scope, and the monthly budget that
    /// would cover everyone; `None` before the month's first nightly run.
    pub(crate) coverage: Option<(u64, u64, u64)>,
}

impl RunMetrics {
    /// The metrics of the run a report describes. `last_success_at`, `pending_approvals` and
    /// `sink_backlog` come from the store, since a single run's report does not know them (its
    /// pending lines are what that run recorded, which a stopped or failed run leaves short).
    pub(crate) fn from_report(
        report: &RunReport,
        last_success_at: Option<DateTime<Utc>>,
        pending_approvals: u64,
        sink_backlog: BTreeMap<String, u64>,
    ) -> RunMetrics {
        let mut corrections_by_class: BTreeMap<ChangeClass, u64> = ChangeClass::ALL
            .into_iter()
            .map(|class| (class, 0))
            .collect();
        for line in &report.corrections {
            *corrections_by_class.entry(line.class).or_insert(0) += 1;
        }
        let run = &report.run;
        let ended = run.finished_at.unwrap_or(run.started_at);
        let duration_seconds = (ended - run.started_at).num_milliseconds().max(0) as f64 / 1000.0;
        RunMetrics {
            run_id: run.id,
            last_run_at: ended,
            last_success_at,
            outcome: run.outcome.clone(),
            corrections_by_class,
            metered_calls_run: report.api_calls.metered,
            metered_calls_month: report.api_calls.month_to_date,
            budget: report.api_calls.budget,
            pending_approvals,
            duration_seconds,
            sink_backlog,
            quota_exhausted_by_other_apps: report
                .quota_exhausted
                .as_ref()
                .map(|exhausted| exhausted.by_other_apps),
            coverage: None,
        }
    }
}

/// The textfile's content.
pub(crate) fn render(metrics: &RunMetrics) -> String {
    let mut out = String::new();
    for gauge in gauges(metrics) {
        write_gauge(&mut out, &gauge);
    }
    out
}

/// One gauge: its name after the product prefix, its help text, and its samples as (label set,
/// value) pairs.
struct Gauge {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, String)>,
}

/// Every gauge of the textfile, in the order written.
fn gauges(metrics: &RunMetrics) -> Vec<Gauge> {
    let gauge = |name, help, samples| Gauge {
        name,
        help,
        samples,
    };
    vec![
        gauge(
            "last_run_timestamp_seconds",
            "Unix time the last run ended.",
            plain(metrics.last_run_at.timestamp()),
        ),
        gauge(
            "last_run_id",
            "Id of the last run in the store.",
            plain(metrics.run_id),
        ),
        gauge(
            "last_success_timestamp_seconds",
            "Unix time the last run with outcome done ended.",
            metrics
                .last_success_at
                .map_or_else(Vec::new, |at| plain(at.timestamp())),
        ),
        gauge(
            "last_run_outcome",
            "1 for the last run's outcome, 0 for the others.",
            outcome_samples(&metrics.outcome),
        ),
        gauge(
            "corrections",
            "Corrections journaled by the last run, by class.",
            by_label(
                "class",
                metrics
                    .corrections_by_class
                    .iter()
                    .map(|(class, count)| (class.as_str(), *count)),
            ),
        ),
        gauge(
            "metered_calls_last_run",
            "Metered DingTalk calls spent by the last run.",
            plain(metrics.metered_calls_run),
        ),
        gauge(
            "metered_calls_month_to_date",
            "Metered DingTalk calls this natural month (business time zone).",
            plain(metrics.metered_calls_month),
        ),
        gauge(
            "monthly_budget_calls",
            "The configured monthly budget of metered calls.",
            plain(metrics.budget),
        ),
        gauge(
            "budget_left_calls",
            "Metered calls left in this month's budget.",
            plain(metrics.budget.saturating_sub(metrics.metered_calls_month)),
        ),
        gauge(
            "pending_approvals",
            "Approvals not yet visible on their slot in DingTalk.",
            plain(metrics.pending_approvals),
        ),
        gauge(
            "last_run_duration_seconds",
            "Wall time of the last run.",
            plain(metrics.duration_seconds),
        ),
        gauge(
            "sink_backlog",
            "Corrections not yet acknowledged by each sink.",
            by_label(
                "sink",
                metrics
                    .sink_backlog
                    .iter()
                    .map(|(sink, count)| (sink.as_str(), *count)),
            ),
        ),
        gauge(
            "coverage_employees",
            "Employees this month's budget covers completely (covered) and in scope (total).",
            by_label(
                "state",
                metrics
                    .coverage
                    .iter()
                    .flat_map(|(covered, total, _)| [("covered", *covered), ("total", *total)]),
            ),
        ),
        gauge(
            "coverage_full_budget",
            "Metered calls a month that would cover every employee in scope, by the cost model.",
            metrics
                .coverage
                .iter()
                .flat_map(|(_, _, full)| plain(full))
                .collect(),
        ),
        gauge(
            "quota_exhausted",
            "1 while DingTalk reports the organisation's monthly quota exhausted this month (no \
             metered call until the next), by who spent it; 0 otherwise.",
            by_label(
                "by",
                [("other_apps", true), ("own_use", false)]
                    .into_iter()
                    .map(|(by, other_apps)| {
                        let blocked = metrics.quota_exhausted_by_other_apps == Some(other_apps);
                        (by, u64::from(blocked))
                    }),
            ),
        ),
    ]
}

/// `# HELP`, `# TYPE` and one line per sample; nothing for a gauge without samples.
fn write_gauge(out: &mut String, gauge: &Gauge) {
    if gauge.samples.is_empty() {
        return;
    }
    let Gauge {
        name,
        help,
        samples,
    } = gauge;
    // Writing into a String cannot fail.
    let _ = writeln!(out, "# HELP dingtalk_reconcile_{name} {help}");
    let _ = writeln!(out, "# TYPE dingtalk_reconcile_{name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "dingtalk_reconcile_{name}{labels} {value}");
    }
}

/// One sample without labels.
fn plain(value: impl ToString) -> Vec<(String, String)> {
    vec![(String::new(), value.to_string())]
}

/// One sample per label value.
fn by_label<'a>(name: &str, counts: impl Iterator<Item = (&'a str, u64)>) -> Vec<(String, String)> {
    counts
        .map(|(value, count)| (labels(name, value), count.to_string()))
        .collect()
}

/// 1 for the run's outcome and 0 for the other known outcomes; an outcome not among them gets
/// its own series after them.
fn outcome_samples(outcome: &str) -> Vec<(String, String)> {
    let mut outcomes: Vec<&str> = KNOWN_OUTCOMES.to_vec();
    if !outcomes.contains(&outcome) {
        outcomes.push(outcome);
    }
    outcomes
        .into_iter()
        .map(|candidate| {
            let value = if candidate == outcome { "1" } else { "0" };
            (labels("outcome", candidate), value.to_owned())
        })
        .collect()
}

/// Writes the textfile at `path` atomically (`fsio::write_private_atomic`): owner-only when
/// new, the mode of the file it replaces otherwise.
pub(crate) fn write_textfile(path: &Path, metrics: &RunMetrics) -> io::Result<()> {
    if path.file_name().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "metrics path {} has no file name: expected e.g. /var/lib/node_exporter/dingtalk_reconcile.prom",
                path.display()
            ),
        ));
    }
    fsio::write_private_atomic(path, render(metrics).as_bytes())
}

/// `{name="value"}` with the value escaped as the exposition format requires.
fn labels(name: &str, value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    format!("{{{name}=\"{escaped}\"}}")
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::report::fixture::rich_report;

    fn metrics() -> RunMetrics {
        RunMetrics::from_report(
            &rich_report(),
            Some("2026-11-03T18:12:00Z".parse().unwrap()),
            2,
            BTreeMap::from([("hr-webhook".to_owned(), 3), ("ledger-file".to_owned(), 0)]),
        )
    }

    #[test]
    fn textfile_matches_its_snapshot() {
        insta::assert_snapshot!(render(&metrics()));
    }

    #[test]
    fn metrics_from_a_report_count_corrections_by_class_and_the_run_duration() {
        let metrics = metrics();
        assert_eq!(metrics.corrections_by_class[&ChangeClass::SupplyApplied], 2);
        assert_eq!(metrics.corrections_by_class[&ChangeClass::Vanished], 0);
        assert_eq!(metrics.corrections_by_class.len(), ChangeClass::ALL.len());
        assert_eq!(metrics.duration_seconds, 90.0);
        assert_eq!(metrics.pending_approvals, 2);
    }

    #[test]
    fn the_quota_exhausted_gauge_says_who_spent_this_months_quota_and_is_0_otherwise() {
        let mut report = rich_report();
        let samples = |report: &RunReport| {
            render(&RunMetrics::from_report(report, None, 0, BTreeMap::new()))
                .lines()
                .filter(|line| line.starts_with("dingtalk_reconcile_quota_exhausted{"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            samples(&report),
            [
                "dingtalk_reconcile_quota_exhausted{by=\"other_apps\"} 1",
                "dingtalk_reconcile_quota_exhausted{by=\"own_use\"} 0",
            ]
        );
        if let Some(exhausted) = &mut report.quota_exhausted {
            exhausted.by_other_apps = false;
        }
        assert_eq!(
            samples(&report),
            [
                "dingtalk_reconcile_quota_exhausted{by=\"other_apps\"} 0",
                "dingtalk_reconcile_quota_exhausted{by=\"own_use\"} 1",
            ]
        );
        report.quota_exhausted = None;
        assert_eq!(
            samples(&report),
            [
                "dingtalk_reconcile_quota_exhausted{by=\"other_apps\"} 0",
                "dingtalk_reconcile_quota_exhausted{by=\"own_use\"} 0",
            ]
        );
    }

    #[test]
    fn pending_approvals_are_the_stores_count_not_the_reports_lines() {
        let report = rich_report();
        assert_eq!(report.pending.len(), 2);
        let metrics = RunMetrics::from_report(&report, None, 7, BTreeMap::new());
        assert_eq!(metrics.pending_approvals, 7);
        assert!(
            render(&metrics).contains("\ndingtalk_reconcile_pending_approvals 7\n"),
            "{}",
            render(&metrics)
        );
    }

    #[test]
    fn every_sample_line_belongs_to_a_declared_gauge_with_the_product_prefix() {
        let text = render(&metrics());
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(kind, "gauge");
                declared.push(name.to_owned());
            } else if !line.starts_with("# HELP ") {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(name.starts_with("dingtalk_reconcile_"), "{line}");
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
    }

    #[test]
    fn an_unknown_outcome_gets_its_own_series_and_label_values_are_escaped() {
        let mut metrics = metrics();
        metrics.outcome = "odd \"one\"\\\n".into();
        let text = render(&metrics);
        assert!(text.contains("dingtalk_reconcile_last_run_outcome{outcome=\"done\"} 0"));
        assert!(
            text.contains(
                "dingtalk_reconcile_last_run_outcome{outcome=\"odd \\\"one\\\"\\\\\\n\"} 1"
            )
        );
    }

    #[test]
    fn a_missing_last_success_leaves_that_gauge_out() {
        let mut metrics = metrics();
        metrics.last_success_at = None;
        assert!(!render(&metrics).contains("last_success_timestamp_seconds"));
    }

    #[test]
    fn write_textfile_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dingtalk_reconcile.prom");
        fs::write(&path, "stale").unwrap();
        write_textfile(&path, &metrics()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), render(&metrics()));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["dingtalk_reconcile.prom".to_owned()]);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_textfile_is_owner_only_and_a_replaced_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dingtalk_reconcile.prom");
        write_textfile(&path, &metrics()).unwrap();
        assert_eq!(mode(&path), 0o600);
        // The administrator lets node_exporter's user read it; the next run keeps that.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_textfile(&path, &metrics()).unwrap();
        assert_eq!(mode(&path), 0o644);
    }

    #[test]
    fn write_textfile_into_a_missing_directory_fails_with_the_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("x.prom");
        let err = write_textfile(&path, &metrics()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
