//! `daemon`: the built-in scheduler driving the same nightly run as `run`.
//!
//! [`daemon`] wires the config, one [`Job`] kept open for the daemon's lifetime and the signal
//! handlers into [`schedule::run`]; [`tick`] is one scheduled night, exactly like `run` (same
//! lock, same `run_once`, same sinks and metrics file), recorded with kind `daemon` and the
//! trigger that caused it.
//!
//! A shutdown during a tick raises the run's stop flag ([`Job::execute_nightly_until`]): the run makes
//! no further DingTalk call, applies what it fetched, records itself as partial with the rest
//! deferred, and releases the lock before the daemon exits.
//!
//! Not here: the scheduling rules themselves (see [`crate::schedule`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, watch};

use crate::cli::GlobalArgs;
use crate::commands::SharedClock;
use crate::commands::job::{Job, load_config};
use crate::exit::{ExitKind, Outcome};
use crate::reconcile::{RunKind, RunOutcome, RunRequest};
use crate::schedule::{self, DaemonOptions, TickOutcome, Trigger};

/// First retry delay after a failed run; doubles per consecutive failure.
const RETRY_BASE: Duration = Duration::from_secs(60);
/// Longest retry delay (before jitter).
const RETRY_CAP: Duration = Duration::from_secs(30 * 60);

/// How many recorded runs are searched for the last nightly one, for the catch-up decision.
const LAST_RUN_LOOKBACK: usize = 500;

/// Runs until SIGINT/SIGTERM.
pub(crate) async fn daemon(global: &GlobalArgs) -> anyhow::Result<Outcome> {
    if global.as_of.is_some() {
        return Err(anyhow::Error::new(ExitKind::Config)
            .context("--as-of cannot be used with daemon: the daemon follows the real clock"));
    }
    let config = load_config(global)?;
    let job = Job::open(config, SharedClock::new(None))?;
    // Backfills record one run per week of their range: look far enough back to see past them.
    let last_run_started = job
        .store
        .recent_runs(LAST_RUN_LOOKBACK)?
        .into_iter()
        .filter(|run| run.kind.is_nightly())
        .map(|run| run.started_at)
        .max();
    let options = DaemonOptions {
        cron: job.config.schedule.cron.clone(),
        timezone: job.config.timezone,
        last_run_started,
        retry_base: RETRY_BASE,
        retry_cap: RETRY_CAP,
    };
    let job = Arc::new(Mutex::new(job));
    // The manual channel stays open (and empty) for the daemon's lifetime.
    let (_manual_tx, manual_rx) = mpsc::channel(1);
    let summary = schedule::run(
        options,
        chrono::Utc::now(),
        move |trigger, cancel| tick(job.clone(), trigger, cancel),
        manual_rx,
        schedule::shutdown_signal(),
    )
    .await?;
    tracing::info!(?summary, "daemon exited");
    Ok(Outcome::Done)
}

/// One scheduled night, exactly like `run`.
pub async fn tick(
    job: Arc<Mutex<Job>>,
    trigger: Trigger,
    mut cancel: watch::Receiver<bool>,
) -> TickOutcome {
    let mut job = job.lock().await;
    let request = RunRequest {
        kind: RunKind::Daemon,
        as_of: chrono::Utc::now(),
        max_calls: None,
        dry_run: false,
        trigger: trigger.as_str().into(),
    };
    let stop = async move {
        // A closed channel means the daemon is gone: stop too.
        let _ = cancel.wait_for(|stopping| *stopping).await;
    };
    match job.execute_nightly_until(request, stop).await {
        Ok(executed) => match executed.summary.outcome {
            RunOutcome::Done => TickOutcome::Done,
            RunOutcome::Partial => TickOutcome::Partial,
            RunOutcome::Failed | RunOutcome::Abandoned => TickOutcome::Failed,
        },
        Err(error) if crate::exit::code_for(&error) == crate::exit::LOCKED => {
            tracing::warn!(error = %format!("{error:#}"), "skipped: another run holds the store");
            TickOutcome::Locked
        }
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "run failed");
            TickOutcome::Failed
        }
    }
}
