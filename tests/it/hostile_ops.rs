//! Issue 10, operations: the real binary where the machine around it is hostile. DingTalk
//! unreachable or answering only 500s gives the same exit code to `run`, `backfill` and `plan`;
//! a lock whose holder is gone (its pid reused, its heartbeat stale) is taken over and the run it
//! left behind shows as abandoned; unusable store and metrics paths are configuration errors
//! naming their key before any DingTalk call.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use chrono::{Duration, Utc};
use dingtalk_reconcile::store::{LockHolder, NewRun, RunKind, current_host};
use dingtalk_sim::{FaultKind, FaultRule};

use crate::support::bin::{Rig, assert_code, stderr, stdout};
use crate::support::{date, refusing_port, stop};

/// The commands that reach DingTalk, each as the binary takes it.
const REACHING_COMMANDS: [&[&str]; 3] = [
    &["run"],
    &[
        "backfill",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-09",
        "--yes",
    ],
    &["plan"],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_backfill_and_plan_all_exit_three_when_dingtalk_is_unreachable() {
    let rig = Rig::new(101).await;
    let (_refusing, port) = refusing_port();
    let closed = format!("http://127.0.0.1:{port}");
    std::fs::write(rig.config_path(), rig.config_text(&closed, "")).unwrap();

    for command in REACHING_COMMANDS {
        let output = rig.bin(command).await;
        assert_code(&output, 3);
        assert!(
            stderr(&output).contains("error:"),
            "{command:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(rig.store().lock_holder().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_backfill_and_plan_all_exit_three_in_a_storm_of_500s() {
    let rig = Rig::new(102).await;
    let mut storm = FaultRule::new(None, FaultKind::ServerError { status: 500 });
    storm.times = 1_000_000;

    for command in REACHING_COMMANDS {
        rig.sim.state().arm_faults(vec![storm.clone()]);
        let output = rig.bin(command).await;
        assert_code(&output, 3);
    }
    assert_eq!(rig.sim.stats().metered, 0, "DingTalk answered nothing");
    assert_eq!(rig.store().lock_holder().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_backfill_and_plan_all_exit_three_behind_a_redirecting_proxy_or_a_portal_page() {
    let rig = Rig::new(103).await;
    let kinds = [
        FaultKind::Redirect {
            status: 302,
            location: "http://127.0.0.1:9/login".to_owned(),
        },
        FaultKind::HtmlPage,
    ];
    for kind in kinds {
        let mut rule = FaultRule::new(None, kind.clone());
        rule.times = 1_000_000;
        for command in REACHING_COMMANDS {
            rig.sim.state().arm_faults(vec![rule.clone()]);
            let output = rig.bin(command).await;
            assert_code(&output, 3);
            assert!(
                !stderr(&output).contains('\u{1b}'),
                "{kind:?} {command:?}: {}",
                stderr(&output)
            );
        }
    }
    assert_eq!(rig.sim.stats().metered, 0, "DingTalk answered nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_backfill_and_plan_exit_two_partial_when_the_quota_is_spent_before_they_can_plan() {
    let rig = Rig::new(104).await;
    let mut spent = FaultRule::new(None, FaultKind::QuotaExhausted);
    spent.times = 1_000_000;
    for command in REACHING_COMMANDS {
        rig.sim.state().arm_faults(vec![spent.clone()]);
        let output = rig.bin(command).await;
        assert_code(&output, 2);
        assert!(stderr(&output).contains("quota"), "{}", stderr(&output));
    }
    assert_eq!(rig.sim.stats().metered, 0, "DingTalk answered nothing");
}

/// This test process as the lock row of a run that took the lock `heartbeat_age` ago (its
/// heartbeat as old), started `ticks_later` clock ticks after this process really did: 0 is this
/// very process, anything else a process that reused its pid.
fn this_pid(ticks_later: u64, heartbeat_age: Duration) -> LockHolder {
    let mut holder = LockHolder::on_this_host(std::process::id(), None, Utc::now() - heartbeat_age);
    let start = holder
        .process_start
        .as_mut()
        .expect("Linux tells this process's start");
    start.start_ticks += ticks_later;
    holder
}

/// Takes the rig's lock for `holder` and begins the run it was doing: a backfill chunk, left
/// `running`. Returns the run's id.
fn hold_lock_with_a_running_run(rig: &Rig, holder: LockHolder) -> i64 {
    let mut store = rig.store();
    store.acquire_lock(&holder).unwrap();
    store
        .begin_run(&NewRun {
            kind: RunKind::Backfill,
            trigger: "backfill".into(),
            as_of: rig.as_of,
            window_from: date("2026-10-01"),
            window_to: date("2026-10-07"),
            plan_json: "{}".into(),
            started_at: holder.acquired_at,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_whose_pid_now_belongs_to_another_process_is_taken_over_and_its_run_abandoned() {
    let rig = Rig::new(103).await;
    // PID reuse: this live pid, but a process that started later than the lock's holder did,
    // and a heartbeat two years old.
    let reused = this_pid(1, Duration::days(730));
    assert_eq!(reused.host, current_host());
    let left_running = hold_lock_with_a_running_run(&rig, reused);

    let output = rig.bin(&["run"]).await;

    assert_code(&output, 0);
    assert!(
        stderr(&output).contains("took over a stale run lock"),
        "{}",
        stderr(&output)
    );
    let store = rig.store();
    assert_eq!(store.lock_holder().unwrap(), None, "released after the run");
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let abandoned = runs.iter().find(|run| run.id == left_running).unwrap();
    assert_eq!(abandoned.outcome_name(), "abandoned");
    let taken_over_at = abandoned.finished_at.expect("when it was taken over");
    assert!(Utc::now() - taken_over_at < Duration::minutes(5));
    assert_eq!(runs[0].outcome_name(), "done");
    drop(store);

    let status = rig.bin(&["status"]).await;
    assert_code(&status, 0);
    let text = stdout(&status);
    let line = text
        .lines()
        .find(|line| line.contains(&format!("#{left_running} ")))
        .unwrap_or_else(|| panic!("run {left_running} in:\n{text}"));
    assert!(
        line.contains("abandoned") && line.contains("(taken over "),
        "{line}"
    );
    let json = rig.bin(&["status", "--format", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let run = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["id"] == left_running)
        .unwrap();
    assert_eq!(run["outcome"], "abandoned");
    assert!(run["finished_at"].is_string(), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_pid_is_recognised_even_while_the_heartbeat_is_fresh() {
    let rig = Rig::new(104).await;
    hold_lock_with_a_running_run(&rig, this_pid(1, Duration::zero()));
    assert_code(&rig.bin(&["run"]).await, 0);
    assert_eq!(rig.store().lock_holder().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_holder_is_respected_while_its_heartbeat_is_fresh_and_not_once_it_is_stale() {
    let rig = Rig::new(105).await;
    // This very process, its start and all, beating a minute ago: a live run.
    let live = this_pid(0, Duration::minutes(1));
    hold_lock_with_a_running_run(&rig, live);

    let output = rig.bin(&["run"]).await;
    assert_code(&output, 75);
    assert!(stderr(&output).contains("another run holds the store"));
    let store = rig.store();
    assert_eq!(store.recent_runs(10).unwrap().len(), 1);
    assert_eq!(
        store.recent_runs(10).unwrap()[0].outcome_name(),
        "running",
        "a live holder's run is left alone"
    );
    assert!(store.lock_holder().unwrap().is_some());

    // The same live process, silent for two years: wedged, whatever its pid says.
    let mut store = rig.store();
    let holder = store.lock_holder().unwrap().unwrap();
    assert!(store.release_lock(&holder).unwrap());
    drop(store);
    let wedged_run = hold_lock_with_a_running_run(&rig, this_pid(0, Duration::days(730)));
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 0);
    let store = rig.store();
    let runs = store.recent_runs(10).unwrap();
    let wedged = runs.iter().find(|run| run.id == wedged_run).unwrap();
    assert_eq!(wedged.outcome_name(), "abandoned");
    assert!(
        wedged
            .errors
            .iter()
            .any(|error| error.contains("heartbeat")),
        "{:?}",
        wedged.errors
    );
}

/// Writes the rig's config with the value of one path key (`store.path` or
/// `metrics.textfile`) replaced: `standard` (the rig's own path) becomes `unusable`.
fn write_config_with_path(rig: &Rig, standard: &Path, unusable: &Path) {
    let quoted = |path: &Path| format!("{:?}", path.display().to_string());
    let text = rig.config_text(&rig.sim.base_url(), "");
    assert!(text.contains(&quoted(standard)), "{text}");
    let text = text.replace(&quoted(standard), &quoted(unusable));
    std::fs::write(rig.config_path(), text).unwrap();
}

/// Runs `command` and asserts a configuration error naming `key`, `path` and what was expected,
/// with no call to DingTalk at all.
#[track_caller]
fn assert_unusable_path(output: &Output, rig: &Rig, key: &str, path: &Path) {
    assert_code(output, 78);
    let stderr = stderr(output);
    assert!(stderr.contains(&format!("`{key}`")), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("expected"), "{stderr}");
    assert_eq!(
        rig.sim.stats().calls,
        BTreeMap::new(),
        "no DingTalk call before the path was checked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_store_paths_are_configuration_errors_naming_store_path() {
    let rig = Rig::new(106).await;
    let plain_file = rig.dir.path().join("plain");
    std::fs::write(&plain_file, "not a directory").unwrap();
    let unusable = [
        rig.dir.path().join("absent").join("reconcile.db"),
        rig.dir.path().to_path_buf(),
        plain_file.join("reconcile.db"),
    ];
    for path in unusable {
        write_config_with_path(&rig, &rig.store_path(), &path);
        for command in [&["run"][..], &["status"]] {
            let output = rig.bin(command).await;
            assert_unusable_path(&output, &rig, "store.path", &path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_metrics_path_fails_before_any_dingtalk_call_naming_its_key() {
    let rig = Rig::new(107).await;
    let plain_file = rig.dir.path().join("plain");
    std::fs::write(&plain_file, "not a directory").unwrap();
    let unusable = [
        rig.dir
            .path()
            .join("absent")
            .join("dingtalk_reconcile.prom"),
        plain_file.join("dingtalk_reconcile.prom"),
        rig.dir.path().to_path_buf(),
    ];
    for path in unusable {
        write_config_with_path(&rig, &rig.metrics_path(), &path);
        let output = rig.bin(&["run"]).await;
        assert_unusable_path(&output, &rig, "metrics.textfile", &path);
    }
    assert!(rig.store().recent_runs(10).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_with_sigkill_shows_abandoned_once_the_next_run_takes_the_lock() {
    let rig = Rig::new(108).await;
    // Caught inside the first results call of its first chunk (metered calls come after the
    // chunk's run is recorded), then killed: its run stays `running`.
    let mut hold = FaultRule::new(
        Some("/attendance/list"),
        FaultKind::Slow { delay_ms: 5_000 },
    );
    hold.times = 1;
    rig.sim.state().arm_faults(vec![hold]);
    let mut backfill = stop::spawn(
        rig.args(&[
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--yes",
        ]),
        Vec::new(),
    );
    let sim = rig.sim.state();
    backfill
        .until("the backfill is inside the held call", || {
            stop::caught(&sim)
        })
        .await;
    let killed_pid = backfill.pid();
    backfill.signal("KILL");
    assert_eq!(backfill.finish().await.code, None, "killed");
    let store = rig.store();
    let killed_run = store
        .recent_runs(1)
        .unwrap()
        .pop()
        .expect("the chunk recorded itself");
    assert_eq!(killed_run.outcome_name(), "running");
    assert_eq!(
        store.lock_holder().unwrap().map(|holder| holder.pid),
        Some(killed_pid)
    );
    drop(store);
    let status = stdout(&rig.bin(&["status"]).await);
    // Its pid is free (or, should another process have taken it since, reused).
    assert!(status.contains("presumed gone: "), "{status}");

    let output = rig.bin(&["run"]).await;

    assert_code(&output, 0);
    let store = rig.store();
    let runs = store.recent_runs(10).unwrap();
    let killed_run = runs.iter().find(|run| run.id == killed_run.id).unwrap();
    assert_eq!(killed_run.outcome_name(), "abandoned");
    assert!(killed_run.finished_at.is_some());
    let status = stdout(&rig.bin(&["status"]).await);
    assert!(
        status.contains("abandoned") && status.contains("(taken over "),
        "{status}"
    );
}
