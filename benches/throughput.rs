//! Benchmark of pull throughput (PRODUCT.md section 8, "Throughput"): a large backfill-sized pull
//! through the real DingTalk client against the simulator on 127.0.0.1, with attendance results
//! and approvals (listing, then one detail per instance) running side by side.
//!
//! Measured per API path: calls, throttled calls, the span the path was active, the calls per
//! second achieved over that span, and that rate against the simulator's per-API QPS cap (the
//! baseline) and against the client's configured rate. Also measured: where the process's CPU
//! time went (the client's runtime and its rate limiter's timer thread, the simulator's
//! threads, the rest) as a fraction of wall time. The simulator and the client run on separate runtimes whose threads are named, so the
//! job's own local work is told apart from the simulator's; CPU time is read per thread from
//! `/proc/self/task/*/stat` (utime + stime, in 1/100 s).
//!
//! It pulls what a backfill pulls but does not diff, classify or write a store (the engine
//! benchmark measures that). Nothing here asserts a target: it prints figures.
//!
//! Settings (environment): `THROUGHPUT_EMPLOYEES` (2,000), `THROUGHPUT_DAYS` (28),
//! `THROUGHPUT_SEED` (11), `THROUGHPUT_CLIENT_QPS` (the client's default),
//! `THROUGHPUT_SIM_QPS` (the simulator's default cap, 20).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use dingtalk_reconcile::dingtalk::{
    CallRecorder, Client, ClientConfig, DEFAULT_MAX_CONCURRENCY, DEFAULT_QPS_PER_API,
    ProcessInstanceIdsQuery,
};
use dingtalk_reconcile::domain::{CallOutcome, CallRecord, FixedClock, UserId};
use dingtalk_sim::{Rates, SimConfig, SimHandle};

/// Thread-name prefixes of the two runtimes (a thread's `comm` holds at most 15 bytes).
const SIM_THREADS: &str = "bench-sim";
const CLIENT_THREADS: &str = "bench-client";
/// The thread `governor`'s `until_ready` sleeps on (futures-timer's global timer): the client's
/// rate limiter, so part of the job's local work.
const LIMITER_TIMER_THREAD: &str = "futures-timer";

/// The kernel's unit of `utime`/`stime` in `/proc` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("throughput benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmark's knobs, read from the environment.
#[derive(Debug, Clone)]
struct Settings {
    employees: usize,
    days: u32,
    seed: u64,
    client_qps: u32,
    sim_qps: u32,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let settings = Settings {
            employees: env_or("THROUGHPUT_EMPLOYEES", 2_000)?,
            days: env_or("THROUGHPUT_DAYS", 28)?,
            seed: env_or("THROUGHPUT_SEED", 11)?,
            client_qps: env_or("THROUGHPUT_CLIENT_QPS", DEFAULT_QPS_PER_API)?,
            sim_qps: env_or("THROUGHPUT_SIM_QPS", 20)?,
        };
        if settings.employees == 0 || settings.days == 0 {
            bail!("THROUGHPUT_EMPLOYEES and THROUGHPUT_DAYS: expected at least 1 each");
        }
        if settings.client_qps == 0 || settings.sim_qps == 0 {
            bail!("THROUGHPUT_CLIENT_QPS and THROUGHPUT_SIM_QPS: expected at least 1 each");
        }
        Ok(settings)
    }

    fn command(&self) -> String {
        format!(
            "THROUGHPUT_EMPLOYEES={} THROUGHPUT_DAYS={} THROUGHPUT_SEED={} \
             THROUGHPUT_CLIENT_QPS={} THROUGHPUT_SIM_QPS={} cargo bench --bench throughput",
            self.employees, self.days, self.seed, self.client_qps, self.sim_qps
        )
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(raw) => raw.trim().parse().map_err(|_| {
            anyhow::anyhow!("{name}={raw:?}: expected a {}", std::any::type_name::<T>())
        }),
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(error) => bail!("{name}: {error}"),
    }
}

/// Keeps every attempt with the instant it ended, relative to the benchmark's start.
#[derive(Debug)]
struct TimedRecorder {
    start: Instant,
    calls: Mutex<Vec<(Duration, CallRecord)>>,
}

impl CallRecorder for TimedRecorder {
    fn record(&self, call: &CallRecord) {
        let at = self.start.elapsed();
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((at, call.clone()));
    }
}

impl TimedRecorder {
    fn calls(&self) -> Vec<(Duration, CallRecord)> {
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// When one side of the pull ran and what it brought back.
#[derive(Debug, Clone, Default)]
struct Side {
    started: Duration,
    finished: Duration,
    items: u64,
    failures: u64,
    /// For approvals: when the listing ended and the details began.
    listed: Option<Duration>,
}

fn run() -> Result<()> {
    let settings = Settings::from_env()?;
    let sim_runtime = runtime(SIM_THREADS, 1)?;
    let client_runtime = runtime(CLIENT_THREADS, 2)?;

    let mut config = SimConfig::new(settings.seed, settings.employees);
    config.days = settings.days;
    config.qps = settings.sim_qps;
    config.rates = Rates::benchmark();
    let generating = Instant::now();
    let sim = sim_runtime
        .block_on(SimHandle::spawn(config))
        .context("start the simulator")?;
    let generated_in = generating.elapsed();

    let base = url::Url::parse(&sim.base_url()).context("the simulator's base URL")?;
    let mut client_config = ClientConfig::new(
        base.clone(),
        base,
        sim.app_key(),
        SecretString::from(sim.app_secret().to_owned()),
    );
    client_config.qps_per_api = settings.client_qps;
    let now = sim.now();
    let recorder = Arc::new(TimedRecorder {
        start: Instant::now(),
        calls: Mutex::new(Vec::new()),
    });
    let client = Client::new(client_config, Arc::new(FixedClock(now)), recorder.clone())
        .context("build the client")?;
    let mut users: Vec<UserId> = sim
        .world()
        .employees
        .iter()
        .map(|employee| UserId::new(employee.id.clone()))
        .collect::<Result<_, _>>()
        .context("a simulated employee id")?;
    users.sort();
    let from = sim.world().config.from;
    let to = from + chrono::Duration::days(i64::from(settings.days) - 1);
    let codes = sim.supply_process_codes();
    let created_from = DateTime::<Utc>::from_naive_utc_and_offset(
        (from - chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists"),
        Utc,
    );

    let cpu_before = cpu_by_group();
    let wall = Instant::now();
    let clock = recorder.start;
    let pull = client_runtime.spawn(async move {
        let results = async {
            let started = clock.elapsed();
            let pull = client.attendance_results(&users, from, to).await;
            Side {
                started,
                finished: clock.elapsed(),
                items: pull.slots.len() as u64,
                failures: pull.errors.len() as u64,
                listed: None,
            }
        };
        let approvals = async {
            let started = clock.elapsed();
            let mut ids = Vec::new();
            let mut failures = 0;
            for code in &codes {
                let query = ProcessInstanceIdsQuery {
                    process_code: code.clone(),
                    created_from,
                    created_to: now,
                    statuses: Vec::new(),
                    user_ids: Vec::new(),
                };
                match client.process_instance_ids(&query).await {
                    Ok(listed) => ids.extend(listed),
                    Err(_) => failures += 1,
                }
            }
            let listed = clock.elapsed();
            let details = client.approval_details(&ids).await;
            failures += details.iter().filter(|(_, result)| result.is_err()).count() as u64;
            Side {
                started,
                finished: clock.elapsed(),
                items: details.len() as u64 - failures.min(details.len() as u64),
                failures,
                listed: Some(listed),
            }
        };
        tokio::join!(results, approvals)
    });
    let (results, approvals) = client_runtime
        .block_on(pull)
        .context("the pull task did not complete")?;
    let wall = wall.elapsed();
    let cpu_after = cpu_by_group();
    let stats = sim.stats();

    println!(
        "throughput benchmark: {} employees × {} work dates ({from} to {to}), standard benchmark \
         rates, seed {}; simulator cap {} calls/s per API, client rate {} calls/s per API, {} \
         calls in flight at most",
        settings.employees,
        settings.days,
        settings.seed,
        settings.sim_qps,
        settings.client_qps,
        DEFAULT_MAX_CONCURRENCY
    );
    println!("command: {}", settings.command());
    println!(
        "world generated in {:.2} s (not measured below); wall time of the pull {:.2} s",
        generated_in.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!();
    let paths = per_path(&recorder.calls());
    print_paths(&paths, &settings, &stats.calls, stats.throttled);
    print_sides(&results, &approvals);
    print_cpu(&cpu_before, &cpu_after, wall);
    print_target(&paths, &settings);
    drop(sim);
    Ok(())
}

/// A runtime whose threads (workers and blocking pool) carry `name` and never retire during the
/// benchmark, so their CPU time stays readable per thread.
fn runtime(name: &str, workers: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
        .with_context(|| format!("start the {name} runtime"))
}

/// What the client's calls to one API path did.
#[derive(Debug, Clone, Default)]
struct PathFigures {
    calls: u64,
    throttled: u64,
    metered: u64,
    first: Duration,
    last: Duration,
    /// Most calls that ended within any one second.
    busiest_second: u64,
}

impl PathFigures {
    fn active(&self) -> Duration {
        self.last.saturating_sub(self.first)
    }

    /// Calls per second over the span the path was active: intervals between the first and the
    /// last call, so one call alone gives no rate.
    fn rate(&self) -> Option<f64> {
        let seconds = self.active().as_secs_f64();
        (self.calls > 1 && seconds > 0.0).then(|| (self.calls - 1) as f64 / seconds)
    }
}

fn per_path(calls: &[(Duration, CallRecord)]) -> BTreeMap<String, PathFigures> {
    let mut by_path: BTreeMap<String, Vec<&(Duration, CallRecord)>> = BTreeMap::new();
    for call in calls {
        by_path
            .entry(call.1.endpoint.clone())
            .or_default()
            .push(call);
    }
    by_path
        .into_iter()
        .map(|(path, mut calls)| {
            calls.sort_by_key(|(at, _)| *at);
            let times: Vec<Duration> = calls.iter().map(|(at, _)| *at).collect();
            let mut busiest_second = 0;
            let mut window_start = 0;
            for (index, at) in times.iter().enumerate() {
                while *at - times[window_start] >= Duration::from_secs(1) {
                    window_start += 1;
                }
                busiest_second = busiest_second.max((index - window_start + 1) as u64);
            }
            let figures = PathFigures {
                calls: calls.len() as u64,
                throttled: calls
                    .iter()
                    .filter(|(_, call)| call.outcome == CallOutcome::Throttled)
                    .count() as u64,
                metered: calls.iter().filter(|(_, call)| call.metered()).count() as u64,
                first: times.first().copied().unwrap_or_default(),
                last: times.last().copied().unwrap_or_default(),
                busiest_second,
            };
            (path, figures)
        })
        .collect()
}

fn print_paths(
    paths: &BTreeMap<String, PathFigures>,
    settings: &Settings,
    sim_calls: &BTreeMap<String, u64>,
    sim_throttled: u64,
) {
    println!(
        "| API path | calls (simulator's count) | throttled | metered | active s | calls/s | \
         busiest 1 s | ÷ cap {} | ÷ client rate {} |",
        settings.sim_qps, settings.client_qps
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (path, figures) in paths {
        let rate = figures.rate();
        let ratio = |of: u32| {
            rate.map_or("n/a".to_owned(), |rate| {
                format!("{:.3}", rate / f64::from(of))
            })
        };
        println!(
            "| {path} | {} ({}) | {} | {} | {:.2} | {} | {} | {} | {} |",
            figures.calls,
            sim_calls.get(path).copied().unwrap_or(0),
            figures.throttled,
            figures.metered,
            figures.active().as_secs_f64(),
            rate.map_or("n/a".to_owned(), |rate| format!("{rate:.2}")),
            figures.busiest_second,
            ratio(settings.sim_qps),
            ratio(settings.client_qps),
        );
    }
    println!("simulator: {sim_throttled} calls throttled in all");
    println!();
}

fn print_sides(results: &Side, approvals: &Side) {
    let overlap = results
        .finished
        .min(approvals.finished)
        .saturating_sub(results.started.max(approvals.started));
    println!("| side | started s | finished s | items | failed batches or calls |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| results (`attendance/list`) | {:.2} | {:.2} | {} slots | {} |",
        results.started.as_secs_f64(),
        results.finished.as_secs_f64(),
        results.items,
        results.failures
    );
    println!(
        "| approvals (listing until {:.2} s, then details) | {:.2} | {:.2} | {} details | {} |",
        approvals.listed.unwrap_or_default().as_secs_f64(),
        approvals.started.as_secs_f64(),
        approvals.finished.as_secs_f64(),
        approvals.items,
        approvals.failures
    );
    println!("side by side for {:.2} s", overlap.as_secs_f64());
    println!();
}

/// CPU seconds (user + system) per thread group: the client's runtime, its rate limiter's timer
/// thread, the simulator's runtime, every other live thread, and the whole process (threads
/// that ended included).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    client: f64,
    limiter_timer: f64,
    simulator: f64,
    other: f64,
    process: f64,
}

fn cpu_by_group() -> Cpu {
    let mut cpu = Cpu {
        process: std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| cpu_seconds(&stat))
            .unwrap_or(0.0),
        ..Cpu::default()
    };
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return cpu;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let Some(seconds) = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|stat| cpu_seconds(&stat))
        else {
            continue;
        };
        if name.starts_with(CLIENT_THREADS) {
            cpu.client += seconds;
        } else if name.starts_with(LIMITER_TIMER_THREAD) {
            cpu.limiter_timer += seconds;
        } else if name.starts_with(SIM_THREADS) {
            cpu.simulator += seconds;
        } else {
            cpu.other += seconds;
        }
    }
    cpu
}

/// utime + stime of a `/proc/.../stat` line, in seconds. Fields are counted after the command
/// name's closing parenthesis, since the name may hold spaces.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

fn print_cpu(before: &Cpu, after: &Cpu, wall: Duration) {
    let wall = wall.as_secs_f64().max(1e-9);
    println!("| CPU during the pull | seconds | ÷ wall |");
    println!("|---|---:|---:|");
    for (label, seconds) in [
        ("client runtime threads", after.client - before.client),
        (
            "rate limiter's timer thread (futures-timer)",
            after.limiter_timer - before.limiter_timer,
        ),
        (
            "the job's local work (the two above)",
            after.client + after.limiter_timer - before.client - before.limiter_timer,
        ),
        ("simulator threads", after.simulator - before.simulator),
        (
            "other threads (the benchmark's main thread)",
            after.other - before.other,
        ),
        ("process total", after.process - before.process),
    ] {
        println!("| {label} | {seconds:.2} | {:.3} |", seconds / wall);
    }
    println!();
}

fn print_target(paths: &BTreeMap<String, PathFigures>, settings: &Settings) {
    // The client spaces calls at `client_qps + 0.5` per second (at most `client_qps + 1` in any
    // one-second window).
    let ceiling = (f64::from(settings.client_qps) + 0.5) / f64::from(settings.sim_qps);
    println!(
        "target: each metered API path ≥ 95% of the cap of {} calls/s while it is active \
         (the client's spacing allows at most {:.1}%)",
        settings.sim_qps,
        ceiling * 100.0
    );
    for (path, figures) in paths.iter().filter(|(_, figures)| figures.metered > 0) {
        let Some(rate) = figures.rate() else {
            println!("  {path}: too few calls for a rate");
            continue;
        };
        let ratio = rate / f64::from(settings.sim_qps);
        println!(
            "  {path}: {:.1}% of the cap ({})",
            ratio * 100.0,
            if ratio >= 0.95 { "met" } else { "not met" }
        );
    }
}
