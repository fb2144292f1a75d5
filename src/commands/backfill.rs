//! `backfill` (a date range, chunked by week, checkpointed, resumable) and `plan` (the dry run).

use std::io::IsTerminal;

use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{BackfillArgs, GlobalArgs, PlanArgs};
use crate::commands::job::{
    Job, load_config, outcome_of, run_error, stop_flag_raised_by, stop_signal, unlock,
};
use crate::commands::{SharedClock, print_stdout};
use crate::dingtalk::StopFlag;
use crate::dingtalk::limits;
use crate::domain::{Clock, UserId};
use crate::exit::{ExitKind, Outcome};
use crate::quota::{self, YearMonth};
use crate::reconcile::{RunKind, RunOutcome, RunRequest, plan_run};
use crate::report;
use crate::store::{BackfillKey, RunLock};

/// Splits `from..=to` into chunks of the days one results call covers
/// ([`limits::DAYS_PER_CALL`]), each chunk one run.
pub(crate) fn chunks(from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    limits::date_runs(from, to)
}

fn parse_users(raw: Option<Vec<String>>) -> anyhow::Result<Option<Vec<UserId>>> {
    let Some(raw) = raw else { return Ok(None) };
    let users = raw
        .into_iter()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .map(|id| {
            UserId::new(id.clone()).map_err(|error| {
                anyhow::Error::new(error)
                    .context(ExitKind::Config)
                    .context(format!("--users: {id:?} is not a user id"))
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if users.is_empty() {
        return Err(
            anyhow::Error::new(ExitKind::Config).context("--users: expected at least one user id")
        );
    }
    Ok(Some(users))
}

fn check_range(from: NaiveDate, to: NaiveDate, today: NaiveDate) -> anyhow::Result<()> {
    if from > to {
        return Err(anyhow::Error::new(ExitKind::Config).context(format!(
            "--from {from} is after --to {to}: expected from ≤ to"
        )));
    }
    if to >= today {
        return Err(anyhow::Error::new(ExitKind::Config).context(format!(
            "--to {to} is not in the past: expected a work date before today ({today})"
        )));
    }
    if (today - from).num_days() > 180 {
        tracing::warn!(%from, "DingTalk keeps results for about six months; older days may come back empty");
    }
    Ok(())
}

/// `backfill --from --to`.
pub(crate) async fn backfill(global: &GlobalArgs, args: BackfillArgs) -> anyhow::Result<Outcome> {
    if args.report {
        super::job::printable(args.format)?;
    }
    let config = load_config(global)?;
    let clock = SharedClock::new(global.as_of);
    let mut job = Job::open(config, clock.clone())?;
    let users = parse_users(args.users.clone())?;
    let as_of = clock.now();
    let tz = job.config.timezone;
    check_range(args.from, args.to, quota::local_date(as_of, tz))?;
    if args.unqueue {
        return unqueue(&mut job, &args, users);
    }
    if args.queue {
        return enqueue(&mut job, &args, users, as_of).await;
    }
    if let Some(blocked) = crate::reconcile::blocked::current(&job.store, tz, as_of)? {
        // Its chunks run and end partial with nothing metered, like every run of the month.
        crate::telemetry::say(&format!(
            "backfill {} .. {}: {}",
            args.from,
            args.to,
            crate::reconcile::blocked::sentence(&blocked, tz)
        ));
    }
    // SIGINT/SIGTERM: the chunk in progress makes no further DingTalk call and is recorded
    // partial, no further chunk starts, the checkpoint stays resumable. Listened for before the
    // lock is taken, so no signal finds the lock held and nobody to release it.
    let (stop, watcher) = stop_flag_raised_by(stop_signal());
    let lock = match job.lock(&stop) {
        Ok(lock) => lock,
        Err(error) => {
            watcher.abort();
            return Err(error);
        }
    };
    let (from, to) = (args.from, args.to);
    let options = args.into_options(&global.config);
    let result = run_backfill(&mut job, &lock, from, to, users, &options, as_of, &stop).await;
    watcher.abort();
    unlock(lock);
    let (outcome, last_run) = result?;
    let budget = job.config.quota.monthly_budget;
    let days = job.config.policy.pending_anomaly_days;
    let range = report::build::for_range(&job.store, outcome.from, outcome.to, budget, days, tz);
    if let (true, Some(run_id)) = (outcome.report, last_run) {
        let report = range
            .or_else(|_| report::build::for_run(&job.store, run_id, budget, days, tz))
            .context("cannot build the backfill's report")?;
        print_stdout(&report::render(
            &report,
            outcome.format,
            &job.render_options(),
        )?)?;
    } else {
        let (pending, anomalies) = range.as_ref().map_or((0, 0), |report| {
            (report.pending.len() as u64, report.anomalies.len() as u64)
        });
        let used = job.store.month_usage(&outcome.month)?.metered;
        crate::telemetry::say(&report::plan::closing_line(&report::plan::Closing {
            what: format!("backfill {} .. {}", outcome.from, outcome.to),
            outcome: match outcome.exit {
                Outcome::Done => "done",
                Outcome::Partial => "partial",
            }
            .to_owned(),
            corrections: outcome.corrections,
            pending,
            anomalies,
            calls: outcome.spent,
            left: budget.saturating_sub(used),
            budget,
            month: outcome.month.clone(),
        }));
    }
    Ok(outcome.exit)
}

pub(crate) struct BackfillOptions {
    /// The command line that queues this backfill instead, for the refusal to propose.
    pub(crate) queue_command: Option<String>,
    pub(crate) max_calls: Option<u64>,
    pub(crate) yes: bool,
    pub(crate) resume: bool,
    pub(crate) report: bool,
    pub(crate) format: report::ReportFormat,
}

impl BackfillArgs {
    fn into_options(self, config: &std::path::Path) -> BackfillOptions {
        BackfillOptions {
            queue_command: Some(self.queue_command(config)),
            max_calls: self.max_calls,
            yes: self.yes,
            resume: self.resume,
            report: self.report,
            format: self.format,
        }
    }
}

impl BackfillArgs {
    /// `dingtalk-reconcile [--config FILE] backfill --from --to [--users] --queue`.
    fn queue_command(&self, config: &std::path::Path) -> String {
        let mut line = "dingtalk-reconcile".to_owned();
        if config != std::path::Path::new(crate::cli::DEFAULT_CONFIG) {
            line.push_str(&format!(
                " --config {}",
                report::escape::plain(&config.display().to_string())
            ));
        }
        line.push_str(&format!(" backfill --from {} --to {}", self.from, self.to));
        if let Some(users) = &self.users {
            line.push_str(&format!(
                " --users {}",
                report::escape::plain(&users.join(","))
            ));
        }
        line.push_str(" --queue");
        line
    }
}

/// `backfill --queue`: records the range for the nightly runs, says what it will cost and when
/// it is expected to finish. Calls nothing metered.
async fn enqueue(
    job: &mut Job,
    args: &BackfillArgs,
    users: Option<Vec<UserId>>,
    as_of: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Outcome> {
    let key = BackfillKey::new(args.from, args.to, users.as_deref());
    let done = job.store.backfill_start_or_resume(&key)?;
    let todo = super::queue::chunks_to_do(args.from, args.to, |from, to| done.is_done(from, to));
    if todo.is_empty() {
        crate::telemetry::say(&format!(
            "backfill {} .. {} is done already: nothing to queue",
            args.from, args.to
        ));
        return Ok(Outcome::Done);
    }
    let estimate = guess_cost(job, &todo, &users, as_of).await?.calls;
    let outlook = super::queue::outlook(job, as_of).await?;
    job.store
        .backfill_enqueue(&key, users.as_deref(), estimate, as_of)?;
    let finish = outlook.queue_finish(estimate, super::queue::next_night(job, as_of));
    crate::telemetry::say(&report::plan::backfill_queued(
        args.from,
        args.to,
        todo.len(),
        estimate,
        &outlook,
        finish,
    ));
    Ok(Outcome::Done)
}

/// `backfill --unqueue`: takes the range off the queue; its finished chunks stay.
fn unqueue(
    job: &mut Job,
    args: &BackfillArgs,
    users: Option<Vec<UserId>>,
) -> anyhow::Result<Outcome> {
    let key = BackfillKey::new(args.from, args.to, users.as_deref());
    if !job.store.backfill_unqueue(&key)? {
        return Err(anyhow::Error::new(ExitKind::Failed).context(format!(
            "no queued backfill of {} .. {}{}: `status` lists the queue",
            args.from,
            args.to,
            if users.is_some() {
                " for these users"
            } else {
                ""
            }
        )));
    }
    crate::telemetry::say(&format!(
        "backfill {} .. {} taken off the queue; the chunks it finished stay (--resume or --queue goes on from them)",
        args.from, args.to
    ));
    Ok(Outcome::Done)
}

pub(crate) struct BackfillEnd {
    pub(crate) exit: Outcome,
    /// Corrections the backfill's chunks applied, and metered calls they spent.
    corrections: u64,
    spent: u64,
    /// The quota month it spent in (`YYYY-MM`).
    month: String,
    report: bool,
    format: report::ReportFormat,
    from: NaiveDate,
    to: NaiveDate,
}

/// Runs the backfill's chunks not yet done, one run each, under the run lock the caller holds;
/// once `stop` is raised no further chunk starts and the one in progress ends partial.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_backfill(
    job: &mut Job,
    lock: &RunLock,
    from: NaiveDate,
    to: NaiveDate,
    users: Option<Vec<UserId>>,
    options: &BackfillOptions,
    as_of: chrono::DateTime<chrono::Utc>,
    stop: &StopFlag,
) -> anyhow::Result<(BackfillEnd, Option<i64>)> {
    let tz = job.config.timezone;
    let key = BackfillKey::new(from, to, users.as_deref());
    let state = if options.resume {
        let state = job.store.backfill_start_or_resume(&key)?;
        if !state.resumed {
            tracing::warn!(%from, %to, "no earlier backfill of this range and scope: starting it now");
        }
        state
    } else {
        job.store.backfill_reset(&key)?
    };
    let todo: Vec<_> = chunks(from, to)
        .into_iter()
        .filter(|(chunk_from, chunk_to)| !state.is_done(*chunk_from, *chunk_to))
        .collect();

    let bounded = options.max_calls.is_some() || options.yes;
    let before = super::queue::outlook(job, as_of).await?;
    let list_within = (!bounded).then_some(before.spare);
    let Estimate {
        calls: estimate,
        listing,
    } = estimate_cost(job, &todo, &users, as_of, list_within, stop).await?;
    let month = YearMonth::of(as_of, tz).to_string();
    let outlook = if listing > 0 {
        super::queue::outlook(job, as_of).await?
    } else {
        before
    };
    crate::telemetry::say(&report::plan::backfill_estimate(
        &report::plan::BackfillEstimate {
            from,
            to,
            chunks_to_do: todo.len(),
            chunks: chunks(from, to).len(),
            estimate,
            listing,
            outlook,
            month: &month,
        },
    ));
    if estimate > outlook.spare && !bounded {
        let finish = outlook.queue_finish(estimate, super::queue::next_night(job, as_of));
        let queue = options.queue_command.clone().unwrap_or_else(|| {
            format!("dingtalk-reconcile backfill --from {from} --to {to} --queue")
        });
        return Err(
            anyhow::Error::new(ExitKind::Failed).context(report::plan::backfill_refusal(
                estimate, &outlook, &queue, finish,
            )),
        );
    }

    let progress = progress_bar(todo.len());
    let mut spent = listing;
    let mut corrections = 0u64;
    let mut last_run = None;
    let mut exit = Outcome::Done;
    // Chunks that ended partial only because some of their items failed (no stop, no budget):
    // the backfill goes on and comes back to them once, after the other chunks.
    let mut failed = Vec::new();
    let mut passes = [todo, Vec::new()];
    'passes: for pass in 0..passes.len() {
        let chunks_of_pass = std::mem::take(&mut passes[pass]);
        if pass > 0 && !chunks_of_pass.is_empty() {
            crate::telemetry::say(&report::plan::backfill_revisit(chunks_of_pass.len()));
        }
        for (chunk_from, chunk_to) in chunks_of_pass {
            if stop.is_raised() {
                progress.abandon_with_message(format!("stopped before {chunk_from} .. {chunk_to}"));
                crate::telemetry::say(&report::plan::backfill_stopped(chunk_from, chunk_to, true));
                exit = Outcome::Partial;
                break 'passes;
            }
            progress.set_message(format!("{chunk_from} .. {chunk_to}"));
            let request = RunRequest {
                kind: RunKind::Backfill {
                    from: chunk_from,
                    to: chunk_to,
                    users: users.clone(),
                },
                as_of,
                max_calls: options.max_calls.map(|cap| cap.saturating_sub(spent)),
                dry_run: false,
                trigger: "backfill".into(),
            };
            let executed = job.execute_locked(&request, lock, stop).await?;
            let summary = executed.summary;
            spent += summary.metered_calls;
            last_run = Some(summary.run_id);
            corrections += summary.corrections_applied;
            if !std::io::stderr().is_terminal() {
                crate::telemetry::say(&report::plan::chunk_line(
                    chunk_from,
                    chunk_to,
                    summary.outcome.as_str(),
                    summary.corrections_applied,
                    summary.metered_calls,
                    spent,
                ));
            }
            match summary.outcome {
                RunOutcome::Done => {
                    job.store.backfill_chunk_done(
                        state.id,
                        chunk_from,
                        chunk_to,
                        summary.run_id,
                    )?;
                    progress.inc(1);
                }
                RunOutcome::Partial if only_items_failed(&summary) && pass + 1 < passes.len() => {
                    // Failed items (a transient error, a rejected page): the next chunks do
                    // not depend on this one, so they go first and this one is tried again.
                    tracing::warn!(from = %chunk_from, to = %chunk_to, errors = summary.errors.len(), "chunk had failed items; coming back to it after the others");
                    failed.push((chunk_from, chunk_to));
                }
                RunOutcome::Partial if only_items_failed(&summary) => {
                    // Failed again on the second pass: left resumable, the others still go.
                    crate::telemetry::say(&report::plan::backfill_stopped(
                        chunk_from, chunk_to, false,
                    ));
                    exit = Outcome::Partial;
                }
                RunOutcome::Partial => {
                    progress.abandon_with_message(format!("stopped at {chunk_from} .. {chunk_to}"));
                    crate::telemetry::say(&report::plan::backfill_stopped(
                        chunk_from,
                        chunk_to,
                        stop.is_raised(),
                    ));
                    exit = Outcome::Partial;
                    break 'passes;
                }
                RunOutcome::Failed | RunOutcome::Abandoned => {
                    progress.abandon();
                    outcome_of(&summary)?;
                }
            }
        }
        if pass + 1 < passes.len() {
            passes[pass + 1] = std::mem::take(&mut failed);
        }
    }
    progress.finish_and_clear();
    if exit == Outcome::Done {
        // Every chunk done: a queued backfill of this range is finished too.
        job.store.backfill_queue_finished(state.id, as_of)?;
    }
    Ok((
        BackfillEnd {
            exit,
            corrections,
            spent,
            month,
            report: options.report,
            format: options.format,
            from,
            to,
        },
        last_run,
    ))
}

/// Whether a partial chunk was partial only because some of its items failed: fetching was
/// not stopped (budget, quota, a stop request) and no work was deferred for want of budget.
/// Running it again may then finish it; otherwise the backfill stops where it is.
fn only_items_failed(summary: &crate::reconcile::RunSummary) -> bool {
    summary.stopped.is_none()
        && !summary.errors.is_empty()
        && summary
            .deferred
            .iter()
            .all(|line| line.item == crate::reconcile::FALLBACK_ITEM)
}

/// What a backfill's chunks still to do are estimated to cost.
struct Estimate {
    /// Metered calls still to spend.
    calls: u64,
    /// Metered calls the estimate spent listing approvals (the first chunk's listing, made
    /// once, for real, so that the approvals are counted rather than guessed).
    listing: u64,
}

/// The cost of the chunks still to do: a dry-run plan of their whole range, which prices the
/// results of the range batch by batch from the rows an employee-day holds on each weekday
/// (learnt from the store, or two rows Monday to Friday), the details of the approvals, one
/// each, and the targeted re-reads of the days approvals and recent corrections point at.
///
/// How many approvals there are is only known once they are listed. So with `list_within`
/// (the backfill decides whether it starts: no `--yes`, no `--max-calls`) and when the range's
/// results alone fit that many calls (what the month's nightly runs leave spare), the approval
/// listing of the range's window is first made for real: metered, but exactly the listing the
/// first chunk would make (recorded as a run of its own, the ids in the detail backlog the
/// chunks use, the window in the planner's state so no chunk lists it again), and the
/// approvals are counted instead of guessed. Otherwise nothing metered is called and the
/// approval part is the guess `plan` shows ([`guess_cost`]).
async fn estimate_cost(
    job: &mut Job,
    todo: &[(NaiveDate, NaiveDate)],
    users: &Option<Vec<UserId>>,
    as_of: chrono::DateTime<chrono::Utc>,
    list_within: Option<u64>,
    stop: &StopFlag,
) -> anyhow::Result<Estimate> {
    let Some(mut request) = estimate_request(todo, users, as_of) else {
        return Ok(Estimate {
            calls: 0,
            listing: 0,
        });
    };
    let guessed = plan_run(&job.store, &job.client, &job.settings, &request)
        .await
        .map_err(|error| run_error(error).context("cannot estimate the backfill's cost"))?;
    let results: u64 = guessed
        .items
        .iter()
        .chain(&guessed.deferred)
        .filter(|item| item.kind() == "results")
        .map(|item| item.estimated_calls())
        .sum();
    let (plan, listed) = match list_within {
        Some(room) if results <= room => {
            request.dry_run = false;
            let listed = crate::reconcile::list_for_backfill(
                &mut job.store,
                &job.client,
                Some(&job.recorder),
                &job.settings,
                &request,
                stop,
            )
            .await
            .map_err(|error| run_error(error).context("cannot list the backfill's approvals"))?;
            let mut settings = job.settings.clone();
            if let Some(codes) = listed.process_codes {
                settings.supply_process_codes = Some(codes);
            }
            request.dry_run = true;
            let plan = plan_run(&job.store, &job.client, &settings, &request)
                .await
                .map_err(|error| run_error(error).context("cannot estimate the backfill's cost"))?;
            (plan, Some((listed.calls, listed.ids)))
        }
        _ => (guessed, None),
    };
    let mut by_kind: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for item in plan.items.iter().chain(&plan.deferred) {
        *by_kind.entry(item.kind()).or_default() += item.estimated_calls();
    }
    let by_kind = by_kind
        .iter()
        .map(|(kind, calls)| format!("{kind}={calls}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (listing, ids) = listed.unwrap_or((0, 0));
    tracing::info!(by_kind = %by_kind, approvals_listed = listed.is_some(), ids, listing_calls = listing, "backfill estimate by item kind");
    Ok(Estimate {
        calls: planned_calls(&plan),
        listing,
    })
}

/// The dry-run request that prices `todo` (`None` when there is nothing to do).
fn estimate_request(
    todo: &[(NaiveDate, NaiveDate)],
    users: &Option<Vec<UserId>>,
    as_of: chrono::DateTime<chrono::Utc>,
) -> Option<RunRequest> {
    let (Some((first, _)), Some((_, last))) = (todo.first(), todo.last()) else {
        return None;
    };
    Some(RunRequest::plan_only(
        RunKind::Backfill {
            from: *first,
            to: *last,
            users: users.clone(),
        },
        as_of,
        "backfill",
    ))
}

/// Everything a plan prices, deferred items included.
fn planned_calls(plan: &crate::reconcile::Plan) -> u64 {
    plan.estimated_calls
        + plan
            .deferred
            .iter()
            .map(|item| item.estimated_calls())
            .sum::<u64>()
}

/// What the chunks `todo` are expected to cost, calling nothing metered: the approvals not
/// listed yet are the guess `plan` shows. For the queue and `plan`, which must not spend.
pub(crate) async fn guess_cost(
    job: &Job,
    todo: &[(NaiveDate, NaiveDate)],
    users: &Option<Vec<UserId>>,
    as_of: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Guess> {
    let Some(request) = estimate_request(todo, users, as_of) else {
        return Ok(Guess::default());
    };
    let plan = plan_run(&job.store, &job.client, &job.settings, &request)
        .await
        .map_err(|error| run_error(error).context("cannot estimate the backfill's cost"))?;
    Ok(Guess {
        calls: planned_calls(&plan),
        approvals: plan.items.iter().chain(&plan.deferred).any(|item| {
            matches!(
                item,
                crate::reconcile::PlanItem::ApprovalList(_)
                    | crate::reconcile::PlanItem::ApprovalDetails(_)
            )
        }),
    })
}

/// A free estimate of some chunks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Guess {
    pub(crate) calls: u64,
    /// Whether approval listings or details are part of it: work whose results are kept even
    /// when the run is cut short (the first chunk of a backfill carries the whole range's).
    pub(crate) approvals: bool,
}

/// A progress bar over `chunks` on a terminal; hidden otherwise.
fn progress_bar(chunks: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(chunks as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} chunks {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `plan [--from --to]`: prints the plan and its cost; calls nothing metered.
pub(crate) async fn plan(global: &GlobalArgs, args: PlanArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    let clock = SharedClock::new(global.as_of);
    let job = Job::open(config, clock.clone())?;
    let as_of = clock.now();
    let kind = match (args.from, args.to) {
        (Some(from), Some(to)) => {
            check_range(from, to, quota::local_date(as_of, job.config.timezone))?;
            RunKind::Backfill {
                from,
                to,
                users: None,
            }
        }
        _ => RunKind::Nightly,
    };
    let request = RunRequest::plan_only(kind, as_of, "plan");
    let plan = plan_run(&job.store, &job.client, &job.settings, &request)
        .await
        .map_err(|error| run_error(error).context("cannot plan the run"))?;
    let month = YearMonth::of(as_of, job.config.timezone).to_string();
    let used = job.store.month_usage(&month)?.metered;
    let blocked = crate::reconcile::blocked::current(&job.store, job.config.timezone, as_of)?
        .map(|blocked| crate::reconcile::blocked::sentence(&blocked, job.config.timezone));
    let mut text = report::plan::render_plan(
        &plan,
        &request,
        job.config.quota.monthly_budget,
        used,
        &month,
        blocked.as_deref(),
    );
    if matches!(request.kind, RunKind::Nightly) {
        text.push_str(&queue_plan(&job, &plan, as_of).await?);
    }
    print_stdout(&text)?;
    Ok(Outcome::Done)
}

/// The `plan` of a nightly run: tonight's share of the queued backfills (the spare the plan
/// leaves after its own optional work) and the chunks it would take, in order, while their
/// estimates fit.
async fn queue_plan(
    job: &Job,
    plan: &crate::reconcile::Plan,
    as_of: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    let queue = job.store.queued_backfills()?;
    if queue.is_empty() {
        return Ok(String::new());
    }
    let optional: u64 = plan
        .items
        .iter()
        .filter(|item| plan.is_optional(item))
        .map(crate::reconcile::PlanItem::estimated_calls)
        .sum();
    let share = plan.surplus.saturating_sub(optional);
    let mut left = share;
    let mut lines = Vec::new();
    'queue: for queued in &queue {
        let (from, to) = (queued.state.key.from, queued.state.key.to);
        for (chunk_from, chunk_to) in
            super::queue::chunks_to_do(from, to, |f, t| queued.state.is_done(f, t))
        {
            let guess = guess_cost(job, &[(chunk_from, chunk_to)], &queued.users, as_of).await?;
            let starts = super::queue::may_start(&guess, left);
            lines.push(report::plan::QueuedChunk {
                from: chunk_from,
                to: chunk_to,
                estimate: guess.calls,
                tonight: starts,
            });
            // A chunk started on what is left of the share takes it all.
            if !starts || guess.calls > left {
                break 'queue;
            }
            left -= guess.calls;
        }
    }
    Ok(report::plan::queue_plan(share, queue.len(), &lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ranges_split_into_week_chunks_covering_every_day_once() {
        let parts = chunks(date("2026-10-01"), date("2026-10-16"));
        assert_eq!(
            parts,
            vec![
                (date("2026-10-01"), date("2026-10-07")),
                (date("2026-10-08"), date("2026-10-14")),
                (date("2026-10-15"), date("2026-10-16")),
            ]
        );
        assert_eq!(chunks(date("2026-10-02"), date("2026-10-02")).len(), 1);
        assert!(chunks(date("2026-10-03"), date("2026-10-02")).is_empty());
    }

    #[test]
    fn bad_ranges_are_configuration_errors_naming_the_flag() {
        let today = date("2026-11-25");
        let err = check_range(date("2026-11-10"), date("2026-11-01"), today).unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::CONFIG);
        assert!(format!("{err:#}").contains("--from"));
        assert!(check_range(date("2026-11-01"), today, today).is_err());
        assert!(check_range(date("2026-11-01"), date("2026-11-24"), today).is_ok());
    }

    #[test]
    fn user_lists_keep_leading_zeros_and_refuse_junk() {
        let users = parse_users(Some(vec!["0126".into(), " 42 ".into()]))
            .unwrap()
            .unwrap();
        assert_eq!(users[0].as_str(), "0126");
        assert_eq!(users[1].as_str(), "42");
        assert!(parse_users(Some(vec!["a|b".into()])).is_err());
        assert!(parse_users(Some(vec![" ".into()])).is_err());
    }
}
