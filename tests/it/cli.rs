//! The real `dingtalk-reconcile` binary against an in-process simulator on 127.0.0.1: exit codes,
//! stdout/stderr discipline, the lock, configuration errors, unreachable DingTalk, report and
//! status output, backfill refusal and resume, the metrics textfile, the webhook sink and secrets
//! in logs.
//!
//! Every test writes its own config into a temporary directory and passes `--as-of` at the
//! simulator's clock, so runs are deterministic. The binary is run on a blocking thread while the
//! simulator (and any receiver) keeps serving on the test's runtime.

mod ops;

use std::path::Path;

use chrono::Utc;
use dingtalk_reconcile::store::{LockHolder, ProcessStart};

use crate::support::bin::{Rig, WORLD_DAYS, assert_code, run_binary, stderr, stdout};
use crate::support::{IMPOSSIBLE_PID, open_store, refusing_port};

/// The value of the outcome gauge for `outcome` in a metrics textfile.
pub(crate) fn outcome_gauge(metrics: &str, outcome: &str) -> Option<String> {
    let prefix = format!("dingtalk_reconcile_last_run_outcome{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(str::to_owned)
}

#[track_caller]
pub(crate) fn assert_last_outcome(metrics: &str, outcome: &str) {
    for known in ["done", "partial", "failed"] {
        let expected = if known == outcome { "1" } else { "0" };
        assert_eq!(
            outcome_gauge(metrics, known).as_deref(),
            Some(expected),
            "outcome {known} in:\n{metrics}"
        );
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}):\n{text}"))
}

/// The lock held by process `pid` on this host, with a fresh heartbeat (lock times are real
/// time, not the simulator's).
fn hold_lock(path: &Path, pid: u32) {
    let mut store = open_store(path);
    let holder = LockHolder::on_this_host(pid, None, Utc::now());
    store.acquire_lock(&holder).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_run_exits_zero_and_prints_nothing_on_stdout() {
    let rig = Rig::new(11).await;
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "", "stdout must stay empty on success");
    assert!(
        stderr(&output).contains("run finished"),
        "logs go to stderr:\n{}",
        stderr(&output)
    );
    let runs = rig.store().recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome_name(), "done");
    assert_last_outcome(&rig.metrics(), "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_report_prints_the_report_on_stdout_and_logs_only_on_stderr() {
    let rig = Rig::new(12).await;
    let output = rig.bin(&["run", "--report", "--format", "json"]).await;
    assert_code(&output, 0);
    let report = json(&stdout(&output));
    assert_eq!(report["schema"], 1);
    assert_eq!(report["run"]["outcome"], "done");
    assert!(!stdout(&output).contains("run finished"));
    assert!(stderr(&output).contains("run finished"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_format_makes_every_stderr_line_a_json_object() {
    let rig = Rig::new(13).await;
    // A backfill (its estimate, chunk and closing lines), then a run (its closing line).
    let backfill = rig
        .bin(&[
            "--log-format",
            "json",
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--yes",
        ])
        .await;
    assert_code(&backfill, 0);
    let output = rig.bin(&["--log-format", "json", "-v", "run"]).await;
    assert_code(&output, 0);
    for text in [stderr(&backfill), stderr(&output)] {
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 2, "expected several log lines:\n{text}");
        for line in lines {
            let value = json(line);
            assert!(value.is_object(), "{line}");
            assert!(value.get("level").is_some(), "{line}");
        }
        assert!(
            text.contains("metered call"),
            "the closing line is there: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dingtalk_quota_exhaustion_ends_the_run_as_partial_with_exit_two() {
    let rig = Rig::with(14, |config| config.monthly_quota = Some(3)).await;
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 2);
    let runs = rig.store().recent_runs(10).unwrap();
    assert_eq!(runs[0].outcome_name(), "partial");
    assert_last_outcome(&rig.metrics(), "partial");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_monthly_budget_ends_the_run_as_partial_with_exit_two() {
    let rig = Rig::new(15).await;
    rig.write_config("[quota]\nmonthly_budget = 2\n");
    let output = rig.bin(&["run", "--report", "--format", "json"]).await;
    assert_code(&output, 2);
    let report = json(&stdout(&output));
    assert_eq!(report["run"]["outcome"], "partial");
    assert!(
        !report["deferred"].as_array().unwrap().is_empty(),
        "the report lists what was deferred: {report}"
    );
    assert!(report["api_calls"]["metered"].as_u64().unwrap() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_lock_holder_makes_run_exit_75_and_a_dead_one_is_taken_over() {
    let rig = Rig::new(16).await;
    // This test process is alive on this host: its lock is respected.
    hold_lock(&rig.store_path(), std::process::id());
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 75);
    assert!(stderr(&output).contains("another run holds the store"));
    assert!(rig.store().recent_runs(10).unwrap().is_empty());

    // The same store, its lock now held by a process that cannot exist: taken over.
    let mut store = rig.store();
    let holder = store.lock_holder().unwrap().unwrap();
    assert!(store.release_lock(&holder).unwrap());
    drop(store);
    // Dead in this very pid namespace (its boot and namespace those of this process): its pid
    // is evidence at once.
    let mut dead = LockHolder::on_this_host(IMPOSSIBLE_PID, None, Utc::now());
    dead.process_start = ProcessStart::of(std::process::id());
    open_store(&rig.store_path()).acquire_lock(&dead).unwrap();
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 0);
    let store = rig.store();
    assert_eq!(store.lock_holder().unwrap(), None, "released after the run");
    assert_eq!(store.recent_runs(10).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_78_and_name_what_is_wrong() {
    let rig = Rig::new(17).await;
    let missing = rig.dir.path().join("absent.toml");
    let output = run_binary(
        vec![
            "--config".into(),
            missing.display().to_string(),
            "run".into(),
        ],
        Vec::new(),
    )
    .await;
    assert_code(&output, 78);
    assert!(
        stderr(&output).contains("absent.toml"),
        "{}",
        stderr(&output)
    );

    std::fs::write(rig.config_path(), "[dingtalk\napp_key = 1").unwrap();
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 78);
    assert!(
        stderr(&output).contains("not valid TOML"),
        "{}",
        stderr(&output)
    );

    rig.write_config("[quota]\nmonthly_budget = -5\n");
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 78);
    assert!(
        stderr(&output).contains("quota.monthly_budget"),
        "{}",
        stderr(&output)
    );

    rig.write_config("[schedule]\ncron = \"every night\"\n");
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 78);
    assert!(
        stderr(&output).contains("schedule.cron"),
        "{}",
        stderr(&output)
    );
    assert!(!rig.store_path().exists(), "nothing was opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_78_and_help_exits_zero() {
    let output = run_binary(vec!["run".into(), "--no-such-flag".into()], Vec::new()).await;
    assert_code(&output, 78);
    assert!(stderr(&output).contains("--no-such-flag"));
    let output = run_binary(
        vec!["--as-of".into(), "yesterday".into(), "run".into()],
        Vec::new(),
    )
    .await;
    assert_code(&output, 78);
    assert!(stderr(&output).contains("RFC 3339"));
    let output = run_binary(vec!["--help".into()], Vec::new()).await;
    assert_code(&output, 0);
    assert!(stdout(&output).contains("backfill"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_dingtalk_exits_three() {
    let rig = Rig::new(18).await;
    let (_refusing, port) = refusing_port();
    let closed = format!("http://127.0.0.1:{port}");
    let text = rig.config_text(&closed, "");
    std::fs::write(rig.config_path(), text).unwrap();
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 3);
    assert!(rig.store().lock_holder().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_app_secret_exits_three_without_printing_it() {
    let rig = Rig::new(19).await;
    let wrong = "wrong-secret-4d1e7a";
    let right = format!("app_secret = {:?}", rig.sim.app_secret());
    let text = rig.config_text(&rig.sim.base_url(), "");
    assert!(text.contains(&right), "{text}");
    let text = text.replace(&right, &format!("app_secret = {wrong:?}"));
    std::fs::write(rig.config_path(), text).unwrap();
    let output = rig.bin(&["-vv", "run"]).await;
    assert_code(&output, 3);
    assert!(!stderr(&output).contains(wrong));
    assert!(!stdout(&output).contains(wrong));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_status_and_explain_read_the_store_after_a_run() {
    let rig = Rig::new(20).await;
    assert_code(&rig.bin(&["run"]).await, 0);

    let output = rig.bin(&["report", "--format", "json"]).await;
    assert_code(&output, 0);
    let report = json(&stdout(&output));
    assert_eq!(report["schema"], 1);
    assert_eq!(report["run"]["kind"], "run");
    // The corrections listed are the simulator's truth at the run's instant, field by field.
    let listed: Vec<[String; 7]> = report["corrections"]
        .as_array()
        .expect("a corrections array")
        .iter()
        .map(|c| {
            [
                "user_id",
                "work_date",
                "check_type",
                "plan_id",
                "class",
                "process_instance_id",
                "business_id",
            ]
            .map(|field| c[field].to_string())
        })
        .collect();
    let truth: Vec<[String; 7]> = rig
        .sim
        .truth(rig.as_of)
        .into_iter()
        .map(|t| {
            [
                serde_json::json!(t.user_id),
                serde_json::json!(t.work_date.to_string()),
                serde_json::json!(t.check_type),
                serde_json::json!(t.plan_id),
                serde_json::json!(t.class),
                serde_json::json!(t.process_instance_id),
                serde_json::json!(t.business_id),
            ]
            .map(|value| value.to_string())
        })
        .collect();
    assert!(!truth.is_empty(), "the world has corrections by then");
    let sorted = |mut rows: Vec<[String; 7]>| {
        rows.sort();
        rows
    };
    assert_eq!(sorted(listed), sorted(truth));
    assert!(report["api_calls"]["metered"].as_u64().unwrap() > 0);

    let output = rig.bin(&["status", "--format", "json"]).await;
    assert_code(&output, 0);
    let status = json(&stdout(&output));
    assert_eq!(status["runs"].as_array().unwrap().len(), 1);
    assert!(status["lock"].is_null());

    // An employee-day the run read: the last work day of the world.
    let user = rig.sim.world().employees[0].id.clone();
    let day = rig.sim.world().config.from + chrono::Duration::days(i64::from(WORLD_DAYS) - 1);
    let output = rig
        .bin(&["explain", "--user", &user, "--date", &day.to_string()])
        .await;
    assert_code(&output, 0);
    let text = stdout(&output);
    assert!(text.contains(&user), "{text}");
    assert!(text.contains(&day.to_string()), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_past_the_budget_is_refused_and_a_partial_backfill_resumes_to_completion() {
    let rig = Rig::new(21).await;
    rig.write_config("[quota]\nmonthly_budget = 3\n");
    let (from, to) = ("2026-10-01", "2026-10-09");
    let output = rig.bin(&["backfill", "--from", from, "--to", to]).await;
    assert_code(&output, 1);
    assert_eq!(
        rig.sim.stats().metered,
        0,
        "a refused backfill calls nothing metered"
    );
    assert!(
        stderr(&output).contains("--max-calls"),
        "{}",
        stderr(&output)
    );
    assert!(
        rig.store().recent_runs(10).unwrap().is_empty(),
        "nothing ran"
    );

    // Within a generous budget but capped now at 6: the first 7-day chunk lists the approvals
    // (one page for each of the 2 templates) but its results pages are planned past the cap,
    // so they are deferred: partial, resumable.
    rig.write_config("[quota]\nmonthly_budget = 4000\n");
    // Result rows of the range's two 7-day chunks, from the world: 50 to a page.
    let pages_of = |first: u32, last: u32| -> u64 {
        let rows: usize = rig
            .sim
            .world()
            .employees
            .iter()
            .flat_map(|e| e.days.iter().flatten())
            .filter(|d| (first..=last).contains(&chrono::Datelike::day(&d.work_date)))
            .map(|d| d.slots.len())
            .sum();
        (rows as u64).div_ceil(50)
    };
    let (first_chunk, second_chunk) = (pages_of(1, 7), pages_of(8, 9));
    assert!(first_chunk > 1 && second_chunk > 0);
    let output = rig
        .bin(&["backfill", "--from", from, "--to", to, "--max-calls", "6"])
        .await;
    assert_code(&output, 2);
    assert!(stderr(&output).contains("--resume"), "{}", stderr(&output));
    let calls_to = |path: &str| rig.sim.stats().calls.get(path).copied().unwrap_or(0);
    let results_calls = || calls_to("/attendance/list");
    let listing_calls = || calls_to("/v1.0/workflow/processes/instanceIds/query");
    assert_eq!(results_calls(), 0, "the results pages were deferred");
    assert_eq!(listing_calls(), 2, "the approvals were listed");
    let output = rig
        .bin(&["backfill", "--from", from, "--to", to, "--resume"])
        .await;
    assert_code(&output, 0);
    // The resume read every page once and did not list again (same as-of, same window).
    assert_eq!(results_calls(), first_chunk + second_chunk);
    assert_eq!(listing_calls(), 2);
    let store = rig.store();
    let runs = store.recent_runs(20).unwrap();
    assert!(runs.iter().any(|run| run.outcome_name() == "partial"));
    assert_eq!(runs[0].outcome_name(), "done");
    // Every scheduled user-day of the range was read, none twice.
    for employee in &rig.sim.world().employees {
        let user = dingtalk_reconcile::domain::UserId::new(employee.id.clone()).unwrap();
        for day in employee.days.iter().flatten() {
            let stored = store.slots_for_user_day(&user, day.work_date).unwrap();
            assert_eq!(
                stored.len(),
                day.slots.len(),
                "slots of {} on {}",
                employee.id,
                day.work_date
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_prints_the_cost_and_calls_nothing_metered() {
    let rig = Rig::new(22).await;
    let output = rig
        .bin(&["plan", "--from", "2026-10-01", "--to", "2026-10-09"])
        .await;
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains("total planned"),
        "{}",
        stdout(&output)
    );
    assert_eq!(rig.sim.stats().metered, 0);
    assert!(rig.store().recent_runs(10).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_values_checked_by_a_command_are_configuration_errors_too() {
    let rig = Rig::new(23).await;
    let output = rig
        .bin(&[
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--users",
            "a|b",
        ])
        .await;
    assert_code(&output, 78);
    assert!(stderr(&output).contains("--users"), "{}", stderr(&output));
    let output = rig
        .bin(&["backfill", "--from", "2026-10-09", "--to", "2026-10-01"])
        .await;
    assert_code(&output, 78);
    // The daemon follows the real clock: --as-of makes no sense there.
    let output = rig.bin(&["daemon"]).await;
    assert_code(&output, 78);
    assert!(stderr(&output).contains("--as-of"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_the_lock_holder_while_a_run_holds_the_store() {
    let rig = Rig::new(24).await;
    hold_lock(&rig.store_path(), std::process::id());
    let output = rig.bin(&["status", "--format", "json"]).await;
    assert_code(&output, 0);
    let status = json(&stdout(&output));
    assert_eq!(status["lock"]["pid"], std::process::id());
    let output = rig.bin(&["status"]).await;
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains(&std::process::id().to_string()),
        "{}",
        stdout(&output)
    );
}
