//! The daemon loop: cron ticks in the business time zone, one run at a time, one catch-up after
//! downtime, backoff after failures, clean shutdown.
//!
//! ```text
//!   tokio-cron-scheduler ──tick──▶ (skip + log if a run is in progress) ──▶ channel ─┐
//!   catch-up at start (once) ──────────────────────────────────────────────────────────┤
//!   retry timer after a failure (backoff, capped, jittered) ───────────────────────────┼─▶ select! ─▶ tick()
//!   manual trigger channel (tests, operators) ──────────────────────────────────────────┤
//!   shutdown future (SIGINT / SIGTERM) ─────────────────────────────────────────────────┘
//! ```
//!
//! The loop knows nothing about reconciliation: it calls the `tick` closure it was given, which
//! the binary wires to the same `run_once` that `run` and `backfill` use. The closure receives a
//! cancellation receiver that flips on shutdown so the run can finish its current batch, record
//! itself and release the lock before the loop returns.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_cron_scheduler::{Job, JobScheduler};

/// Why a tick runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The cron schedule fired.
    Scheduled,
    /// At start: the last scheduled night was missed while the daemon was down.
    CatchUp,
    /// Backoff after a failed run.
    Retry,
    /// Asked for through the manual channel.
    Manual,
}

impl Trigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "schedule",
            Trigger::CatchUp => "catch_up",
            Trigger::Retry => "retry",
            Trigger::Manual => "manual",
        }
    }
}

/// How a tick ended, as far as the loop cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    Done,
    Partial,
    Failed,
    /// Another process held the lock; not a failure of ours, no backoff.
    Locked,
}

/// What the daemon needs to know, all passed in.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Six-field cron expression (seconds first).
    pub cron: String,
    pub timezone: Tz,
    /// When the last nightly run started, for the catch-up decision.
    pub last_run_started: Option<DateTime<Utc>>,
    /// First retry delay after a failure; doubled each consecutive failure.
    pub retry_base: Duration,
    /// Largest retry delay (before jitter).
    pub retry_cap: Duration,
}

/// What happened while the daemon ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonSummary {
    pub ticks_run: u64,
    pub ticks_skipped: u64,
    pub catch_ups: u64,
    pub failures: u64,
}

/// Whether the daemon should catch up at start: the most recent scheduled instant before `now`
/// has no run started at or after it. Only ever one catch-up, however long the downtime.
pub(crate) fn needs_catch_up(
    cron: &croner::Cron,
    timezone: Tz,
    now: DateTime<Utc>,
    last_run_started: Option<DateTime<Utc>>,
) -> bool {
    let Ok(previous) = cron.find_previous_occurrence(&now.with_timezone(&timezone), false) else {
        return false;
    };
    match last_run_started {
        None => true,
        Some(started) => started < previous.with_timezone(&Utc),
    }
}

/// The delay before retry number `failures` (1-based): `base × 2^(failures-1)`, capped, plus up
/// to 20 % jitter so that many daemons do not retry in step.
pub(crate) fn retry_delay(
    failures: u32,
    base: Duration,
    cap: Duration,
    jitter_unit: f64,
) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let raw = base.saturating_mul(1u32 << exponent).min(cap);
    let jitter = raw.mul_f64(0.2 * jitter_unit.clamp(0.0, 1.0));
    raw + jitter
}

/// Runs until `shutdown` completes. `tick` is awaited inline, so runs never overlap; ticks that
/// fire meanwhile are skipped and logged. `now` is read once, at start, for the catch-up decision.
pub async fn run<F, Fut>(
    options: DaemonOptions,
    now: DateTime<Utc>,
    mut tick: F,
    mut manual: mpsc::Receiver<()>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<DaemonSummary>
where
    F: FnMut(Trigger, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = TickOutcome>,
{
    let cron = crate::config::parse_cron(&options.cron).map_err(|reason| {
        anyhow::anyhow!("invalid cron expression {:?}: {reason}", options.cron)
    })?;
    let running = Arc::new(AtomicBool::new(false));
    let skipped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (mut scheduler, mut tick_rx) =
        start_scheduler(&options, running.clone(), skipped.clone()).await?;

    let (cancel_tx, cancel_rx) = watch::channel(false);
    let mut summary = DaemonSummary::default();
    let mut consecutive_failures = 0u32;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut pending = needs_catch_up(&cron, options.timezone, now, options.last_run_started)
        .then_some(Trigger::CatchUp);
    tokio::pin!(shutdown);

    loop {
        let trigger = match pending.take() {
            Some(trigger) => trigger,
            None => {
                let retry_sleep = async {
                    match retry_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    Some(()) = tick_rx.recv() => Trigger::Scheduled,
                    Some(()) = manual.recv() => Trigger::Manual,
                    () = retry_sleep => Trigger::Retry,
                }
            }
        };
        if trigger == Trigger::CatchUp {
            summary.catch_ups += 1;
            tracing::info!("catching up the missed scheduled run");
        }
        running.store(true, Ordering::SeqCst);
        let outcome = {
            let run = tick(trigger, cancel_rx.clone());
            tokio::pin!(run);
            tokio::select! {
                outcome = &mut run => outcome,
                () = &mut shutdown => {
                    tracing::info!("shutdown requested: finishing the current batch");
                    let _ = cancel_tx.send(true);
                    let outcome = run.await;
                    running.store(false, Ordering::SeqCst);
                    summary.ticks_run += 1;
                    record(&mut summary, outcome);
                    break;
                }
            }
        };
        running.store(false, Ordering::SeqCst);
        summary.ticks_run += 1;
        record(&mut summary, outcome);
        retry_at = back_off(&options, outcome, &mut consecutive_failures);
    }
    let _ = cancel_tx.send(true);
    scheduler.shutdown().await?;
    summary.ticks_skipped = skipped.load(Ordering::SeqCst);
    tracing::info!(
        ticks = summary.ticks_run,
        skipped = summary.ticks_skipped,
        "daemon stopped"
    );
    Ok(summary)
}

/// Starts the cron scheduler: each tick sends on the returned channel, or is counted in
/// `skipped` while a run is in progress (or a tick is already waiting).
async fn start_scheduler(
    options: &DaemonOptions,
    running: Arc<AtomicBool>,
    skipped: Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<(JobScheduler, mpsc::Receiver<()>)> {
    let (tick_tx, tick_rx) = mpsc::channel::<()>(1);
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async_tz(options.cron.as_str(), options.timezone, move |_, _| {
        let running = running.clone();
        let skipped = skipped.clone();
        let tick_tx = tick_tx.clone();
        Box::pin(async move {
            if running.load(Ordering::SeqCst) || tick_tx.try_send(()).is_err() {
                skipped.fetch_add(1, Ordering::SeqCst);
                tracing::warn!("skipped: previous run still in progress");
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    tracing::info!(cron = %options.cron, timezone = %options.timezone, "daemon started");
    Ok((scheduler, tick_rx))
}

/// After a tick: when it failed, the instant to retry at (backing off); otherwise none, and
/// the failure streak ends.
fn back_off(
    options: &DaemonOptions,
    outcome: TickOutcome,
    consecutive_failures: &mut u32,
) -> Option<tokio::time::Instant> {
    if outcome != TickOutcome::Failed {
        *consecutive_failures = 0;
        return None;
    }
    *consecutive_failures += 1;
    let delay = retry_delay(
        *consecutive_failures,
        options.retry_base,
        options.retry_cap,
        rand::rng().random::<f64>(),
    );
    tracing::warn!(
        retry_in_secs = delay.as_secs_f64(),
        "run failed; backing off"
    );
    Some(tokio::time::Instant::now() + delay)
}

fn record(summary: &mut DaemonSummary, outcome: TickOutcome) {
    if outcome == TickOutcome::Failed {
        summary.failures += 1;
    }
}

/// Completes on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the daemon");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn catch_up_only_when_the_last_scheduled_night_has_no_run() {
        let cron = crate::config::parse_cron("0 10 2 * * *").unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        let now = shanghai(2026, 11, 25, 9, 0);
        assert!(needs_catch_up(&cron, tz, now, None));
        assert!(needs_catch_up(
            &cron,
            tz,
            now,
            Some(shanghai(2026, 11, 20, 2, 10))
        ));
        assert!(!needs_catch_up(
            &cron,
            tz,
            now,
            Some(shanghai(2026, 11, 25, 2, 10))
        ));
        assert!(!needs_catch_up(
            &cron,
            tz,
            now,
            Some(shanghai(2026, 11, 25, 3, 0))
        ));
    }

    #[test]
    fn the_schedule_is_read_in_the_business_time_zone() {
        let cron = crate::config::parse_cron("0 10 2 * * *").unwrap();
        // 01:00 in Shanghai is before tonight's 02:10 there: yesterday's 02:10 is the last one.
        let now = shanghai(2026, 11, 25, 1, 0);
        let last = shanghai(2026, 11, 24, 2, 10);
        assert!(!needs_catch_up(
            &cron,
            chrono_tz::Asia::Shanghai,
            now,
            Some(last)
        ));
        assert!(needs_catch_up(&cron, chrono_tz::UTC, now, Some(last)));
    }

    #[test]
    fn retry_delays_double_up_to_the_cap_with_bounded_jitter() {
        let base = Duration::from_secs(60);
        let cap = Duration::from_secs(1800);
        assert_eq!(retry_delay(1, base, cap, 0.0), Duration::from_secs(60));
        assert_eq!(retry_delay(3, base, cap, 0.0), Duration::from_secs(240));
        assert_eq!(retry_delay(30, base, cap, 0.0), cap);
        assert_eq!(retry_delay(30, base, cap, 1.0), Duration::from_secs(2160));
    }
}
