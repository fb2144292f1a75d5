//! One reconciliation job: the config, the store, the client, wired once; and [`Job::execute`],
//! the lock → run → deliver → metrics → unlock sequence every kind of run goes through.
//!
//! The run lock is a [`RunLock`] guard: released when the run is over, or when the guard is
//! dropped on any early return; its own thread renews the heartbeat meanwhile, and raises the
//! run's stop flag if it finds the lock taken over. Stopping is a set-once [`StopFlag`] raised by the stop signal
//! ([`Job::execute_nightly_until`]); the run consults it before every item and its budget refuses
//! every metered call after it.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::cli::{GlobalArgs, RunArgs};
use crate::commands::SharedClock;
use crate::config::Config;
use crate::dingtalk::{self, Client, ClientConfig, StopFlag};
use crate::domain::Clock;
use crate::exit::{ExitKind, Outcome};
use crate::metrics::{self, RunMetrics};
use crate::reconcile::{RunError, RunKind, RunOutcome, RunRequest, RunSettings, RunSummary};
use crate::reconcile::{StoreRecorder, run_once_until};
use crate::report::{self, RenderOptions, RunReport};
use crate::sink::{self, Delivers, ReportKind, ReportMessage, SinkConfig};
use crate::store::{self, LockHolder, RunLock, Store};

/// Everything a run needs, opened once.
pub struct Job {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) client: Client,
    pub(crate) recorder: Arc<StoreRecorder>,
    pub(crate) settings: RunSettings,
    pub(crate) sinks: Vec<SinkConfig>,
    http: reqwest::Client,
}

/// What [`Job::execute`] produced.
pub(crate) struct Executed {
    pub(crate) summary: RunSummary,
    pub(crate) report: RunReport,
}

impl Job {
    /// Opens the store and builds the client and settings from a validated config.
    /// Every configured path is checked here, before any DingTalk call.
    pub fn open(config: Config, clock: SharedClock) -> anyhow::Result<Job> {
        let store = super::open_store(&config.store.path)?;
        if let Some(path) = &config.metrics.textfile {
            crate::config::check_output_file("metrics.textfile", path)?;
        }
        let recorder = Arc::new(StoreRecorder::new(
            store.call_log().context("cannot open the call ledger")?,
            config.timezone,
        ));
        let client = build_client(&config, &clock, recorder.clone())?;
        let settings = run_settings(&config);
        let sinks = config
            .sinks
            .iter()
            .map(|setting| SinkConfig::from_setting(setting, |var| std::env::var(var).ok()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| anyhow::Error::new(error).context(ExitKind::Config))?;
        let http = reqwest::Client::builder()
            .build()
            .context("cannot build the HTTP client for sinks")?;
        Ok(Job {
            config,
            store,
            client,
            recorder,
            settings,
            sinks,
            http,
        })
    }

    /// Runs `request` under the run lock, delivers the outbox, writes the metrics file and
    /// returns the run's report. The lock is released whatever happens inside.
    #[cfg(feature = "sim")]
    pub(crate) async fn execute(&mut self, request: RunRequest) -> anyhow::Result<Executed> {
        self.execute_guarded(request, std::future::pending(), false)
            .await
    }

    /// Like [`Job::execute`], but when `stop` completes mid-run (SIGINT/SIGTERM) the run's stop
    /// flag is raised: no further DingTalk call is made, the run applies what it has fetched,
    /// records itself as partial (the rest deferred) and the lock is released.
    /// A nightly run (`run`, a daemon tick), then, under the same lock, tonight's share of the
    /// queued backfills ([`super::queue`]) when the run ended done.
    pub(crate) async fn execute_nightly_until(
        &mut self,
        request: RunRequest,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Executed> {
        self.execute_guarded(request, stop, true).await
    }

    /// Takes the lock, executes `request` (then the queue, with `then_queue`), releases it.
    /// A queued chunk that fails is logged and left for a later night: the outcome is the
    /// request's.
    async fn execute_guarded(
        &mut self,
        request: RunRequest,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
        then_queue: bool,
    ) -> anyhow::Result<Executed> {
        let (flag, watcher) = stop_flag_raised_by(stop);
        let result = match self.lock(&flag) {
            Ok(lock) => {
                let result = self.execute_locked(&request, &lock, &flag).await;
                if let (true, Ok(executed)) = (then_queue, &result) {
                    self.work_through_queue(executed, &request, &lock, &flag)
                        .await;
                    // After the night's corrections went out: its summary, the month's report.
                    self.deliver_reports(executed.summary.run_id, request.as_of)
                        .await;
                }
                unlock(lock);
                result
            }
            Err(error) => Err(error),
        };
        watcher.abort();
        result
    }

    async fn work_through_queue(
        &mut self,
        nightly: &Executed,
        request: &RunRequest,
        lock: &RunLock,
        stop: &StopFlag,
    ) {
        let summary = &nightly.summary;
        // Nightly first: a night that could not do all its own work (deferred for want of
        // budget, items failed, stopped) leaves the queue for a later night.
        if summary.outcome != RunOutcome::Done || summary.stopped.is_some() || stop.is_raised() {
            return;
        }
        let worked = super::queue::work_through(self, lock, stop, request.as_of).await;
        if let Err(error) = worked {
            tracing::warn!(error = %format!("{error:#}"), "queued backfill: tonight's share stopped; it goes on on a later night");
        }
        // The metrics file speaks for the night: its nightly run, not the last queued chunk.
        if let Some(path) = &self.config.metrics.textfile {
            self.write_metrics(path, &nightly.report);
        }
    }

    /// Takes the run lock (exit code 75 when another live run holds it); it is released when
    /// the guard is dropped. Its heartbeat is renewed in the background while the guard lives;
    /// if the lock is found taken over meanwhile, `stop` is raised: no further DingTalk call.
    pub(crate) fn lock(&mut self, stop: &StopFlag) -> anyhow::Result<RunLock> {
        let stop = stop.clone();
        let on_lost = move || {
            stop.raise();
        };
        match self
            .store
            .lock_run(LockHolder::current(None, Utc::now()), on_lost)
        {
            Ok(lock) => Ok(lock),
            Err(store::Error::Locked { holder }) => Err(anyhow::Error::new(ExitKind::Locked)
                .context(format!("another run holds the store: {holder}"))),
            Err(error) => Err(error).context("cannot take the run lock"),
        }
    }

    /// One run of `request` for a caller that already holds the lock and its stop flag.
    pub(crate) async fn execute_locked(
        &mut self,
        request: &RunRequest,
        lock: &RunLock,
        stop: &StopFlag,
    ) -> anyhow::Result<Executed> {
        // The guard's thread renews the heartbeat; each run (and each backfill chunk) also
        // checks that the lock is still ours: a lock taken over meanwhile stops us.
        if !lock
            .heartbeat(Utc::now())
            .context("cannot renew the run lock")?
        {
            return Err(anyhow::Error::new(ExitKind::Locked)
                .context("the run lock was taken over by another run: stopping"));
        }
        let last_run_before = self.latest_run_id();
        let summary = match run_once_until(
            &mut self.store,
            &self.client,
            Some(&self.recorder),
            &self.settings,
            request,
            stop,
        )
        .await
        {
            Ok(summary) => summary,
            Err(error) => {
                self.write_failure_metrics(last_run_before);
                return Err(run_error(error));
            }
        };
        self.deliver().await;
        let report = report::build::for_run(
            &self.store,
            summary.run_id,
            self.config.quota.monthly_budget,
            self.config.policy.pending_anomaly_days,
            self.config.timezone,
        )
        .context("cannot build the run's report")?;
        if let Some(path) = &self.config.metrics.textfile {
            self.write_metrics(path, &report);
        }
        tracing::info!(
            run_id = summary.run_id,
            outcome = summary.outcome.as_str(),
            corrections = summary.corrections_applied,
            metered_calls = summary.metered_calls,
            deferred = summary.deferred.len(),
            "run finished"
        );
        Ok(Executed { summary, report })
    }

    /// Delivers what is due in the outbox to the configured sinks (none: nothing to do).
    pub(crate) async fn deliver(&mut self) -> sink::DeliveryReport {
        // Real time, not `as_of`: signatures carry a timestamp receivers check against their
        // clock, and retry times are wall-clock times.
        let delivery =
            sink::deliver_due(&mut self.store, &self.sinks, Utc::now(), &self.http).await;
        if !self.sinks.is_empty() {
            tracing::info!(
                delivered = delivery.delivered(),
                failed = delivery.failed(),
                "outbox delivered"
            );
        }
        delivery
    }

    /// Journals tonight's reports for the sinks that take them (the nightly summary of
    /// `run_id`; on or after `[report] monthly_day`, the previous month's report once every date
    /// of it is reconciled), then gives every sink what is due in the report-delivery journal.
    /// Never fails the run: every problem is logged as a warning, like the outbox's, and the
    /// journal keeps what is left for a later run.
    pub(crate) async fn deliver_reports(
        &mut self,
        run_id: i64,
        as_of: DateTime<Utc>,
    ) -> sink::DeliveryReport {
        let mut delivery = sink::DeliveryReport::default();
        if !self
            .sinks
            .iter()
            .any(|s| s.sends(Delivers::NightlySummary) || s.sends(Delivers::MonthlyReport))
        {
            return delivery;
        }
        let now = Utc::now();
        let nightly_key = format!("nightly_summary:run:{run_id}");
        let monthly_key = self.monthly_report_due(as_of);
        for sink in &self.sinks {
            let mut keys = Vec::new();
            if sink.sends(Delivers::NightlySummary) {
                keys.push(nightly_key.clone());
            }
            if let (true, Some(key)) = (sink.sends(Delivers::MonthlyReport), &monthly_key) {
                keys.push(key.clone());
            }
            for key in keys {
                if let Err(error) =
                    self.store
                        .enqueue_report(&sink.name, &key, sink.kind.name(), now)
                {
                    tracing::warn!(sink = %sink.name, report = %key, error.message = %error, "cannot journal a report for delivery");
                }
            }
        }
        let mut built: std::collections::BTreeMap<String, Result<ReportMessage, String>> =
            Default::default();
        for sink in self.sinks.clone() {
            let mut line = sink::SinkDelivery::new(&sink.name);
            let due = match self.store.reports_due(&sink.name, now) {
                Ok(due) => due,
                Err(error) => {
                    line.errors.push(format!(
                        "sink {}: could not read the report-delivery journal: {error}",
                        sink.name
                    ));
                    Vec::new()
                }
            };
            for report in due {
                let key = report.report_key;
                let message = match built.get(&key) {
                    Some(message) => message.clone(),
                    None => {
                        let message = self.report_message(&key);
                        built.insert(key.clone(), message.clone());
                        message
                    }
                };
                let sent = match message {
                    Ok(message) => sink::send_report(&sink, &message, Utc::now(), &self.http).await,
                    Err(error) => Err(error),
                };
                let recorded = match &sent {
                    Ok(()) => {
                        line.delivered += 1;
                        self.store
                            .mark_report_delivered(&sink.name, &key, Utc::now())
                    }
                    Err(message) => {
                        line.failed += 1;
                        line.errors.push(message.clone());
                        let retry_at = sink::next_attempt_at(report.attempts + 1, Utc::now());
                        self.store
                            .mark_report_failed(&sink.name, &key, message, retry_at)
                    }
                };
                if let Err(error) = recorded {
                    line.errors.push(format!(
                        "sink {}: could not record the delivery of report {key} (it may be sent again): {error}",
                        sink.name
                    ));
                }
                if sent.is_err() {
                    // The receiver is down or refusing: the rest waits for a later run.
                    break;
                }
            }
            if line.failed > 0 || !line.errors.is_empty() {
                tracing::warn!(
                    sink = %line.sink,
                    delivered = line.delivered,
                    failed = line.failed,
                    error.message = line.errors.first().map(String::as_str).unwrap_or(""),
                    "report delivery incomplete; retried by a later run"
                );
            } else if line.delivered > 0 {
                tracing::info!(sink = %line.sink, delivered = line.delivered, "reports delivered");
            }
            delivery.sinks.push(line);
        }
        delivery
    }

    /// The key of the previous month's report when it is due at `as_of`: on or after the
    /// configured day of the month, once every date of that month was read by a run that ended
    /// done. `None` otherwise (and when no sink takes it).
    fn monthly_report_due(&self, as_of: DateTime<Utc>) -> Option<String> {
        if !self.sinks.iter().any(|s| s.sends(Delivers::MonthlyReport)) {
            return None;
        }
        let today = as_of.with_timezone(&self.config.timezone).date_naive();
        if today.day() < self.config.report.monthly_day {
            return None;
        }
        let first_this = today.with_day(1)?;
        let last = first_this.pred_opt()?;
        let first = last.with_day(1)?;
        let key = format!("monthly_report:{}", last.format("%Y-%m"));
        // Already journaled for every sink that takes it: no need to look at the month again.
        let journaled = self
            .sinks
            .iter()
            .filter(|s| s.sends(Delivers::MonthlyReport))
            .all(|s| self.store.report_journaled(&s.name, &key).unwrap_or(false));
        if journaled {
            return None;
        }
        // Which of the month's dates runs reconciled: the range report's coverage, without
        // building the rest of the report.
        let runs = self.store.runs_between(first, last).ok()?;
        let coverage = report::build::coverage(first, last, &runs);
        (coverage.not_reconciled.is_empty() && coverage.partly.is_empty()).then_some(key)
    }

    /// Rebuilds the message of report `key` from the store.
    fn report_message(&self, key: &str) -> Result<ReportMessage, String> {
        let lang = self.config.report.lang;
        let summary = RenderOptions {
            full: false,
            ..self.render_options()
        };
        let full = RenderOptions {
            full: true,
            ..self.render_options()
        };
        let unknown = || format!("report {key}: not a report key this version can build");
        let cannot =
            |error: &dyn std::fmt::Display| format!("report {key}: cannot be built: {error}");
        // The chat-sized Markdown summary and the whole HTML page every report message carries.
        let chat_and_page = |built: &report::RunReport| -> Result<(String, String), String> {
            let markdown = report::render(built, report::ReportFormat::Markdown, &summary)
                .map_err(|error| cannot(&error))?;
            let html = report::render(built, report::ReportFormat::Html, &full)
                .map_err(|error| cannot(&error))?;
            Ok((markdown, html))
        };
        if let Some(id) = key.strip_prefix("nightly_summary:run:") {
            let run_id: i64 = id.parse().map_err(|_| unknown())?;
            let built = report::build::for_run(
                &self.store,
                run_id,
                self.config.quota.monthly_budget,
                self.config.policy.pending_anomaly_days,
                self.config.timezone,
            )
            .map_err(|error| cannot(&error))?;
            let (markdown, html) = chat_and_page(&built)?;
            return Ok(ReportMessage {
                key: key.to_owned(),
                kind: ReportKind::NightlySummary,
                subject: lang.pick(
                    format!("考勤核对 · 运行 #{run_id}"),
                    format!("Attendance reconciliation · run #{run_id}"),
                ),
                markdown,
                html,
                attachment: None,
            });
        }
        if let Some(month) = key.strip_prefix("monthly_report:") {
            let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
                .map_err(|_| unknown())?;
            let last = first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|next| next.pred_opt())
                .ok_or_else(unknown)?;
            let built = report::build::for_range(
                &self.store,
                first,
                last,
                self.config.quota.monthly_budget,
                self.config.policy.pending_anomaly_days,
                self.config.timezone,
            )
            .map_err(|error| cannot(&error))?;
            let (markdown, html) = chat_and_page(&built)?;
            let xlsx = report::render_file(&built, report::ReportFormat::Xlsx, &full)
                .map_err(|error| cannot(&error))?;
            return Ok(ReportMessage {
                key: key.to_owned(),
                kind: ReportKind::MonthlyReport,
                subject: lang.pick(
                    format!("考勤核对月报 · {month}"),
                    format!("Attendance reconciliation, month {month}"),
                ),
                markdown,
                html,
                attachment: Some((format!("考勤核对-{month}.xlsx"), xlsx)),
            });
        }
        Err(unknown())
    }

    fn latest_run_id(&self) -> Option<i64> {
        self.store.latest_run().ok().flatten().map(|run| run.id)
    }

    /// After a run that failed: if it got as far as recording itself (as failed), the metrics
    /// file shows it, so an alert on the outcome gauge fires.
    fn write_failure_metrics(&self, last_run_before: Option<i64>) {
        let Some(path) = &self.config.metrics.textfile else {
            return;
        };
        let Some(run_id) = self
            .latest_run_id()
            .filter(|id| Some(*id) != last_run_before)
        else {
            return;
        };
        match report::build::for_run(
            &self.store,
            run_id,
            self.config.quota.monthly_budget,
            self.config.policy.pending_anomaly_days,
            self.config.timezone,
        ) {
            Ok(report) => self.write_metrics(path, &report),
            Err(error) => {
                tracing::warn!(error.message = %error, run_id, "cannot build the failed run's metrics")
            }
        }
    }

    fn write_metrics(&self, path: &std::path::Path, report: &RunReport) {
        let last_success = self.store.recent_runs(200).ok().and_then(|runs| {
            runs.into_iter()
                .filter(|run| run.outcome == Some(RunOutcome::Done))
                .filter_map(|run| run.finished_at)
                .max()
        });
        let backlog = self.store.outbox_backlog().unwrap_or_default();
        // The one definition of pending (`Store::pending_approvals`), as `status` counts it.
        let pending = self.store.pending_approvals().map_or_else(
            |error| {
                tracing::warn!(error.message = %error, "cannot count the pending approvals for the metrics file");
                report.pending.len() as u64
            },
            |pending| pending.len() as u64,
        );
        let mut metrics = RunMetrics::from_report(report, last_success, pending, backlog);
        let month = crate::quota::YearMonth::of(report.run.as_of, self.config.timezone);
        metrics.coverage = self
            .store
            .planner_state()
            .ok()
            .flatten()
            .and_then(|text| {
                crate::reconcile::state::PlannerState::from_stored(Some(&text)).coverage
            })
            .filter(|coverage| coverage.month == month)
            .map(|coverage| {
                (
                    coverage.covered_count(),
                    coverage.total,
                    coverage.full_budget,
                )
            });
        if let Err(error) = metrics::write_textfile(path, &metrics) {
            tracing::warn!(error.message = %error, path = %path.display(), "cannot write the metrics file");
        }
    }

    pub(crate) fn render_options(&self) -> RenderOptions {
        RenderOptions {
            lang: self.config.report.lang,
            ..RenderOptions::new(self.config.timezone)
        }
    }
}

/// SIGINT or SIGTERM, listened for from the moment this returns rather than from the first poll
/// (as [`crate::schedule::shutdown_signal`] does): a signal that arrives while the lock is being
/// taken is a stop request, never the default termination that would leave the lock behind.
pub(crate) fn stop_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            return Box::pin(async move {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
        }
    }
    Box::pin(crate::schedule::shutdown_signal())
}

/// A stop flag raised (once, with a warning) when `stop` completes, and the task watching for it;
/// abort the task when the work it guards is over.
pub(crate) fn stop_flag_raised_by(
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> (StopFlag, tokio::task::JoinHandle<()>) {
    let flag = StopFlag::new();
    let watcher = tokio::spawn({
        let flag = flag.clone();
        async move {
            stop.await;
            if flag.raise() {
                tracing::warn!(
                    "stop requested: no further DingTalk calls; applying what was fetched"
                );
            }
        }
    });
    (flag, watcher)
}

/// Releases the run lock now, logging a failure (the lock then stays until it goes stale).
pub(crate) fn unlock(lock: RunLock) {
    if let Err(error) = lock.release() {
        tracing::warn!(error.message = %error, "cannot release the run lock");
    }
}

/// The exit outcome of a finished run.
pub(crate) fn outcome_of(summary: &RunSummary) -> anyhow::Result<Outcome> {
    match summary.outcome {
        RunOutcome::Done => Ok(Outcome::Done),
        RunOutcome::Partial => Ok(Outcome::Partial),
        // A run never records itself abandoned; were it found so, it did not finish.
        RunOutcome::Failed | RunOutcome::Abandoned => Err(anyhow::Error::new(ExitKind::Failed)
            .context(format!(
                "run {} {}: {}",
                summary.run_id,
                summary.outcome,
                summary.errors.join("; ")
            ))),
    }
}

/// Maps a run error to the exit code its cause deserves: DingTalk unreachable or credentials
/// rejected is [`ExitKind::Unreachable`] whichever command met it (`run`, `backfill`, `plan`).
pub(crate) fn run_error(error: RunError) -> anyhow::Error {
    let kind = match &error {
        RunError::DingTalk(cause) if unreachable(cause) => Some(ExitKind::Unreachable),
        // The organisation's quota is spent (by us or by other apps) before the run could
        // plan: nothing is wrong here, the work waits for the quota (a partial run, exit 2).
        RunError::DingTalk(cause) if cause.kind() == dingtalk::ErrorKind::QuotaExhausted => {
            Some(ExitKind::Partial)
        }
        _ => None,
    };
    let error = anyhow::Error::new(error).context("the run could not be carried out");
    match kind {
        Some(kind) => error.context(kind),
        None => error,
    }
}

/// DingTalk could not be reached, or would not accept our credentials (exit code 3).
fn unreachable(error: &dingtalk::Error) -> bool {
    use dingtalk::Error as E;
    matches!(
        error,
        E::Transport { .. }
            | E::Timeout { .. }
            | E::Server { .. }
            | E::IpBanned { .. }
            | E::Banned { .. }
            | E::Credentials { .. }
            | E::IpNotWhitelisted { .. }
            | E::Token { .. }
            // Something between us and DingTalk answering for it: a proxy's redirect, a
            // captive portal's page.
            | E::Redirected { .. }
            | E::HtmlPage { .. }
    )
}

/// Reads and validates the config file named on the command line (exit code 78 on failure).
pub(crate) fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    let config = Config::load(&global.config, &|key| std::env::var(key).ok())?;
    Ok(config)
}

pub(crate) fn build_client(
    config: &Config,
    clock: &SharedClock,
    recorder: Arc<dyn dingtalk::CallRecorder>,
) -> anyhow::Result<Client> {
    let settings = &config.dingtalk;
    let mut client_config = ClientConfig::new(
        settings.oapi_base_url.clone(),
        settings.api_base_url.clone(),
        settings.app_key.clone(),
        settings.app_secret.clone(),
    );
    client_config.token_source = settings.token_source;
    client_config.qps_per_api = settings.qps_per_api;
    client_config.max_concurrency = settings.max_concurrency;
    client_config.request_timeout = settings.request_timeout();
    client_config.ip_ban = settings.ip_ban();
    client_config.timezone = config.timezone;
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    Client::new(client_config, clock, recorder)
        .map_err(|error| anyhow::Error::new(error).context(ExitKind::Config))
}

/// The engine's settings from the config file: its `[reconcile]` section as it is, the rest
/// beside the engine's own defaults.
pub(crate) fn run_settings(config: &Config) -> RunSettings {
    let mut settings =
        RunSettings::new(config.timezone, config.scope.clone(), config.policy.clone());
    settings.supply_process_codes = config.dingtalk.supply_process_codes.clone();
    settings.admin_user_id = config.dingtalk.admin_user_id.clone();
    settings.monthly_budget = config.quota.monthly_budget;
    settings.payroll_close_day = Some(config.quota.payroll_close_day);
    settings.reconcile = config.reconcile;
    // Only sinks that take corrections get outbox rows (a robot takes reports only).
    settings.sinks = config
        .sinks
        .iter()
        .filter(|sink| sink.sends(Delivers::Corrections))
        .map(|sink| sink.name.clone())
        .collect();
    settings
}

/// `run`: one nightly reconciliation. Silent on success unless `--report`.
pub(crate) async fn nightly(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<Outcome> {
    if args.report {
        printable(args.format)?;
    }
    let config = load_config(global)?;
    let clock = SharedClock::new(global.as_of);
    let mut job = Job::open(config, clock.clone())?;
    let request = RunRequest {
        kind: RunKind::Nightly,
        as_of: clock.now(),
        max_calls: None,
        dry_run: false,
        trigger: "cli".into(),
    };
    let executed = job.execute_nightly_until(request, stop_signal()).await?;
    if args.report {
        let text = report::render(&executed.report, args.format, &job.render_options())?;
        super::print_stdout(&text)?;
    } else {
        crate::telemetry::say(&closing(&executed));
    }
    outcome_of(&executed.summary)
}

/// Refuses a report format that cannot be printed (xlsx) where a report goes to stdout
/// (`run --report`, `backfill --report`, `demo`): a configuration error (exit 78) naming the
/// command that writes it, said before anything runs.
pub(crate) fn printable(format: report::ReportFormat) -> anyhow::Result<()> {
    format
        .printable()
        .map_err(|needs_file| anyhow::Error::new(ExitKind::Config).context(needs_file.to_string()))
}

/// The one line a run without `--report` ends with: what it did and what is left.
fn closing(executed: &Executed) -> String {
    let (summary, report) = (&executed.summary, &executed.report);
    report::plan::closing_line(&report::plan::Closing {
        what: format!("run #{}", summary.run_id),
        outcome: summary.outcome.as_str().to_owned(),
        corrections: summary.corrections_applied,
        pending: report.pending.len() as u64,
        anomalies: report.anomalies.len() as u64,
        calls: summary.metered_calls,
        left: report.api_calls.budget_left(),
        budget: report.api_calls.budget,
        month: report.api_calls.month.clone(),
    })
}
