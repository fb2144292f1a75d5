//! The daemon under a fast schedule (a cron expression firing every second): `schedule::run`
//! driven with tick closures (it runs, never overlaps, catches up once, stops cleanly mid-run),
//! the real `commands::daemon::tick` with a `Job` against the simulator, and the real binary
//! stopped with SIGTERM.
//!
//! The simulator's world ends yesterday and its clock is the real now, since the daemon follows
//! the real clock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dingtalk_reconcile::commands::daemon::tick;
use dingtalk_reconcile::commands::{Job, SharedClock};
use dingtalk_reconcile::config::Config;
use dingtalk_reconcile::schedule::{self, DaemonOptions, DaemonSummary, TickOutcome, Trigger};
use dingtalk_reconcile::store::Store;
use dingtalk_sim::SimHandle;
use tokio::sync::{Notify, mpsc, watch};

use crate::support::bin::{binary, one_call_at_a_time};
use crate::support::stop;
use crate::support::{SHANGHAI, fast_sim_config, job_config, open_store, start_sim};

const EVERY_SECOND: &str = "*/1 * * * * *";
/// 02:10 every night of 2020 only: its nights are all in the past, so no real-time boundary
/// fires it during a test; catch-up decisions are taken at [`IN_2020`], one of its days.
const NIGHTLY_IN_2020: &str = "0 10 2 * * * 2020";

/// 2020-06-15 12:00 Asia/Shanghai: the injected "now" of the nightly-schedule tests.
fn in_2020() -> DateTime<Utc> {
    use chrono::TimeZone;
    SHANGHAI
        .with_ymd_and_hms(2020, 6, 15, 12, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}
/// No test here should come near this; it turns a hang into a failure.
const GUARD: Duration = Duration::from_secs(40);

fn options(cron: &str, last_run_started: Option<DateTime<Utc>>) -> DaemonOptions {
    DaemonOptions {
        cron: cron.to_owned(),
        timezone: SHANGHAI,
        last_run_started,
        retry_base: Duration::from_secs(60),
        retry_cap: Duration::from_secs(600),
    }
}

/// What the tick closures saw.
#[derive(Debug, Default)]
struct Ticks {
    triggers: Mutex<Vec<Trigger>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    completed: AtomicU32,
    /// Fires each time a tick completes.
    done: Notify,
}

impl Ticks {
    fn triggers(&self) -> Vec<Trigger> {
        self.triggers.lock().unwrap().clone()
    }

    /// A tick that takes `duration` and counts itself in and out.
    fn tick(
        self: &Arc<Self>,
        duration: Duration,
    ) -> impl FnMut(
        Trigger,
        watch::Receiver<bool>,
    ) -> std::pin::Pin<Box<dyn Future<Output = TickOutcome> + Send>> {
        let ticks = Arc::clone(self);
        move |trigger, _cancel| {
            let ticks = Arc::clone(&ticks);
            Box::pin(async move {
                ticks.triggers.lock().unwrap().push(trigger);
                let now = ticks.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                ticks.max_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(duration).await;
                ticks.in_flight.fetch_sub(1, Ordering::SeqCst);
                ticks.completed.fetch_add(1, Ordering::SeqCst);
                ticks.done.notify_one();
                TickOutcome::Done
            })
        }
    }

    /// Completes once `n` ticks have completed.
    async fn wait_for(&self, n: u32) {
        while self.completed.load(Ordering::SeqCst) < n {
            self.done.notified().await;
        }
    }
}

async fn guarded(run: impl Future<Output = anyhow::Result<DaemonSummary>>) -> DaemonSummary {
    tokio::time::timeout(GUARD, run)
        .await
        .expect("the daemon stopped in time")
        .expect("the daemon ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_ticks_on_its_schedule_until_shutdown() {
    let ticks = Arc::new(Ticks::default());
    let (_manual, manual_rx) = mpsc::channel(1);
    let now = Utc::now();
    let summary = guarded(schedule::run(
        options(EVERY_SECOND, Some(now)),
        now,
        ticks.tick(Duration::ZERO),
        manual_rx,
        ticks.wait_for(2),
    ))
    .await;
    assert!(summary.ticks_run >= 2, "{summary:?}");
    assert_eq!(summary.catch_ups, 0);
    assert_eq!(summary.failures, 0);
    assert!(
        ticks.triggers().iter().all(|t| *t == Trigger::Scheduled),
        "{:?}",
        ticks.triggers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_that_outlasts_the_next_one_makes_it_skipped_never_run_alongside() {
    let ticks = Arc::new(Ticks::default());
    let (_manual, manual_rx) = mpsc::channel(1);
    let now = Utc::now();
    let summary = guarded(schedule::run(
        options(EVERY_SECOND, Some(now)),
        now,
        ticks.tick(Duration::from_millis(2_300)),
        manual_rx,
        ticks.wait_for(2),
    ))
    .await;
    assert!(summary.ticks_skipped > 0, "{summary:?}");
    assert_eq!(ticks.max_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(
        summary.ticks_run,
        u64::from(ticks.completed.load(Ordering::SeqCst))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_gap_the_daemon_catches_up_exactly_once() {
    let ticks = Arc::new(Ticks::default());
    let (_manual, manual_rx) = mpsc::channel(1);
    let now = Utc::now();
    let long_ago = now - chrono::Duration::days(5);
    let summary = guarded(schedule::run(
        options(EVERY_SECOND, Some(long_ago)),
        now,
        ticks.tick(Duration::ZERO),
        manual_rx,
        ticks.wait_for(3),
    ))
    .await;
    let triggers = ticks.triggers();
    assert_eq!(triggers[0], Trigger::CatchUp, "{triggers:?}");
    assert!(
        triggers[1..].iter().all(|t| *t == Trigger::Scheduled),
        "{triggers:?}"
    );
    assert_eq!(summary.catch_ups, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nightly_schedule_missed_for_days_catches_up_once_then_waits_for_its_night() {
    let ticks = Arc::new(Ticks::default());
    let (manual, manual_rx) = mpsc::channel(1);
    let now = in_2020();
    let second = {
        let ticks = Arc::clone(&ticks);
        async move {
            ticks.wait_for(1).await;
            manual.send(()).await.unwrap();
            ticks.wait_for(2).await;
        }
    };
    let summary = guarded(schedule::run(
        options(NIGHTLY_IN_2020, Some(now - chrono::Duration::days(4))),
        now,
        ticks.tick(Duration::ZERO),
        manual_rx,
        second,
    ))
    .await;
    assert_eq!(ticks.triggers(), vec![Trigger::CatchUp, Trigger::Manual]);
    assert_eq!(summary.catch_ups, 1);
    assert_eq!(summary.ticks_run, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_tick_lets_it_finish_and_tells_it_to_wind_down() {
    let started = Arc::new(Notify::new());
    let cancelled_seen = Arc::new(AtomicU32::new(0));
    let finished = Arc::new(AtomicU32::new(0));
    let tick_fn = {
        let (started, cancelled_seen, finished) =
            (started.clone(), cancelled_seen.clone(), finished.clone());
        move |_trigger, mut cancel: watch::Receiver<bool>| {
            started.notify_one();
            let (cancelled_seen, finished) = (cancelled_seen.clone(), finished.clone());
            async move {
                // The run's cancellation point: it learns of the shutdown, then wraps up.
                let _ = cancel.wait_for(|stop| *stop).await;
                cancelled_seen.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                TickOutcome::Done
            }
        }
    };
    let (_manual, manual_rx) = mpsc::channel(1);
    let now = Utc::now();
    let shutdown = {
        let started = started.clone();
        async move { started.notified().await }
    };
    let summary = guarded(schedule::run(
        options(EVERY_SECOND, Some(now - chrono::Duration::days(1))),
        now,
        tick_fn,
        manual_rx,
        shutdown,
    ))
    .await;
    assert_eq!(cancelled_seen.load(Ordering::SeqCst), 1);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the tick ran to its end"
    );
    assert_eq!(summary.ticks_run, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tick_is_retried_after_its_backoff() {
    let triggers = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(Notify::new());
    let tick_fn = {
        let (triggers, done) = (triggers.clone(), done.clone());
        move |trigger, _cancel| {
            let mut seen = triggers.lock().unwrap();
            seen.push(trigger);
            let outcome = if seen.len() == 1 {
                TickOutcome::Failed
            } else {
                done.notify_one();
                TickOutcome::Done
            };
            std::future::ready(outcome)
        }
    };
    let (_manual, manual_rx) = mpsc::channel(1);
    let now = in_2020();
    let mut options = options(NIGHTLY_IN_2020, Some(now - chrono::Duration::days(2)));
    options.retry_base = Duration::from_millis(50);
    let shutdown = {
        let done = done.clone();
        async move { done.notified().await }
    };
    let summary = guarded(schedule::run(options, now, tick_fn, manual_rx, shutdown)).await;
    assert_eq!(
        *triggers.lock().unwrap(),
        vec![Trigger::CatchUp, Trigger::Retry]
    );
    assert_eq!(summary.failures, 1);
    assert_eq!(summary.ticks_run, 2);
}

/// A simulator whose world is the nine days before today, its clock at the real now.
async fn live_sim(seed: u64) -> SimHandle {
    let now = Utc::now();
    let today = now.with_timezone(&SHANGHAI).date_naive();
    let mut config = fast_sim_config(seed, 12);
    config.days = 9;
    config.from = today - chrono::Duration::days(9);
    config.clock = Some(now);
    start_sim(config).await
}

/// A config against `sim` whose schedule fires every second.
fn daemon_config(sim: &SimHandle, store: &std::path::Path) -> String {
    let schedule = format!("[schedule]\ncron = \"{EVERY_SECOND}\"\nallow_frequent = true\n");
    job_config(&sim.base_url(), sim.world(), store, &schedule)
}

/// The daemon's run is held inside its results call number `HELD_CALL + 1` (after the metered
/// approval listing) for `HELD`: the shutdown lands while it waits.
const HELD_CALL: u32 = 1;
const HELD: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_real_tick_records_the_run_partial_and_makes_no_further_call() {
    let sim = live_sim(41).await;
    stop::arm_slow_call_on(&sim.state(), "/attendance/list", HELD_CALL, HELD);
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("reconcile.db");
    let text = one_call_at_a_time(&daemon_config(&sim, &store_path));
    let config = Config::parse(&text, &dir.path().join("reconcile.toml"), &|_| None).unwrap();
    let job = Job::open(config, SharedClock::new(None)).unwrap();
    let job = Arc::new(tokio::sync::Mutex::new(job));

    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let tick_fn = {
        let (job, outcomes) = (job.clone(), outcomes.clone());
        move |trigger, cancel: watch::Receiver<bool>| {
            let (job, outcomes) = (job.clone(), outcomes.clone());
            async move {
                let shutdown_seen = cancel.clone();
                let outcome = tick(job, trigger, cancel).await;
                // The cancellation flag is raised only by a shutdown that arrives mid-tick.
                outcomes
                    .lock()
                    .unwrap()
                    .push((outcome, *shutdown_seen.borrow()));
                outcome
            }
        }
    };
    let (_manual, manual_rx) = mpsc::channel(1);
    let metered_at_stop = Arc::new(AtomicU64::new(0));
    // The shutdown arrives while the run waits inside the held call (one call at a time: no
    // other is in flight); from then on any metered call reaching DingTalk is after the stop.
    let shutdown = {
        let (sim, metered_at_stop) = (sim.state(), metered_at_stop.clone());
        async move {
            while !stop::caught(&sim) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            metered_at_stop.store(sim.stats().metered, Ordering::SeqCst);
            stop::arm_sentinels(&sim);
        }
    };
    let now = Utc::now();
    let summary = guarded(schedule::run(
        options(EVERY_SECOND, None),
        now,
        tick_fn,
        manual_rx,
        shutdown,
    ))
    .await;
    assert_eq!(summary.ticks_run, 1, "{summary:?}");
    assert_eq!(
        summary.catch_ups, 1,
        "a store with no run is caught up at start"
    );
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes, vec![(TickOutcome::Partial, true)]);
    let metered_at_stop = metered_at_stop.load(Ordering::SeqCst);
    assert!(metered_at_stop > 0, "the run was stopped mid-way");
    assert_eq!(
        stop::metered_calls_since_sentinels(&sim.state()),
        vec![],
        "no metered call after the stop"
    );
    // The held call was answered (and metered) after the stop; nothing else was.
    assert!(sim.stats().metered <= metered_at_stop + 1);

    let store = open_store(&store_path);
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].kind.as_str(), "daemon");
    assert_eq!(runs[0].trigger, "catch_up");
    assert_eq!(runs[0].outcome_name(), "partial", "{:?}", runs[0]);
    assert!(runs[0].finished_at.is_some());
    assert_eq!(store.lock_holder().unwrap(), None);
}

/// Writes a config against `sim` into `dir` and starts the daemon binary on it; returns the
/// store's path and the running daemon.
fn spawn_daemon(sim: &SimHandle, dir: &std::path::Path) -> (PathBuf, tokio::process::Child) {
    let store_path = dir.join("reconcile.db");
    let config_path = dir.join("reconcile.toml");
    std::fs::write(&config_path, daemon_config(sim, &store_path)).unwrap();
    let child = tokio::process::Command::from(binary())
        .arg("--config")
        .arg(&config_path)
        .arg("daemon")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the daemon starts");
    (store_path, child)
}

/// Polls the store every 50 ms until `ready` returns something, for at most 30 s; fails early
/// if the daemon exits.
async fn poll_store<T>(
    child: &mut tokio::process::Child,
    store_path: &std::path::Path,
    what: &str,
    mut ready: impl FnMut(&Store) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if store_path.exists()
            && let Ok(store) = Store::open(store_path)
            && let Some(found) = ready(&store)
        {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within 30 s: {what}"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the daemon exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends SIGTERM (through `kill`, the crate has no libc binding) and waits for the exit.
async fn terminate(child: tokio::process::Child) -> std::process::Output {
    let pid = child.id().expect("the daemon is still running");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the daemon stops after SIGTERM")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_binary_runs_on_schedule_and_exits_zero_on_sigterm() {
    let sim = live_sim(42).await;
    let dir = tempfile::tempdir().unwrap();
    let (store_path, mut child) = spawn_daemon(&sim, dir.path());

    // Two finished runs: the catch-up of a store that has none, then a scheduled one.
    let finished = poll_store(&mut child, &store_path, "two runs recorded", |store| {
        let runs = store.recent_runs(10).ok()?;
        let finished: Vec<_> = runs
            .into_iter()
            .filter(|run| run.finished_at.is_some())
            .collect();
        (finished.len() >= 2).then_some(finished)
    })
    .await;
    let output = terminate(child).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("daemon stopped"), "{stderr}");

    let store = open_store(&store_path);
    assert_eq!(store.lock_holder().unwrap(), None, "the lock is released");
    let runs = store.recent_runs(50).unwrap();
    assert!(
        runs.iter()
            .all(|run| run.kind.as_str() == "daemon" && run.finished_at.is_some())
    );
    let triggers: Vec<&str> = finished.iter().map(|run| run.trigger.as_str()).collect();
    assert!(triggers.contains(&"catch_up"), "{triggers:?}");
    assert!(triggers.contains(&"schedule"), "{triggers:?}");
    assert_eq!(
        runs.iter().filter(|run| run.trigger == "catch_up").count(),
        1,
        "one catch-up only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_run_stops_the_daemon_binary_with_the_run_recorded_partial() {
    let sim = live_sim(43).await;
    stop::arm_slow_call_on(&sim.state(), "/attendance/list", HELD_CALL, HELD);
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("reconcile.db");
    let config_path = dir.path().join("reconcile.toml");
    std::fs::write(
        &config_path,
        one_call_at_a_time(&daemon_config(&sim, &store_path)),
    )
    .unwrap();
    let mut daemon = stop::spawn(
        vec![
            "--config".to_owned(),
            config_path.display().to_string(),
            "daemon".to_owned(),
        ],
        Vec::new(),
    );
    daemon
        .until("the run is inside the held call", || {
            stop::caught(&sim.state())
        })
        .await;
    let metered_at_stop = sim.stats().metered;
    let holder = open_store(&store_path)
        .lock_holder()
        .unwrap()
        .expect("the run holds the lock");
    assert_eq!(holder.pid, daemon.pid());
    daemon.signal("TERM");
    daemon
        .until_stderr("stop requested: no further DingTalk calls")
        .await;
    stop::arm_sentinels(&sim.state());
    let finished = daemon.finish().await;

    assert_eq!(finished.code, Some(0), "stderr:\n{}", finished.stderr);
    assert!(finished.stdout.is_empty(), "{}", finished.stdout);
    assert!(
        finished
            .stderr
            .contains("shutdown requested: finishing the current batch"),
        "{}",
        finished.stderr
    );
    assert!(metered_at_stop > 0, "the run was stopped mid-way");
    assert_eq!(
        stop::metered_calls_since_sentinels(&sim.state()),
        vec![],
        "no metered call after the stop"
    );
    assert!(sim.stats().metered <= metered_at_stop + 1);
    let store = open_store(&store_path);
    assert_eq!(store.lock_holder().unwrap(), None, "the lock is released");
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1, "the run in progress, and no other");
    assert_eq!(runs[0].outcome_name(), "partial", "{:?}", runs[0]);
    assert!(runs[0].finished_at.is_some());
}
