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
    let config = load_config(global)?;
    let clock = SharedClock::new(global.as_of);
    let mut job = Job::open(config, clock.clone())?;
    let users = parse_users(args.users.clone())?;
    let as_of = clock.now();
    let tz = job.config.timezone;
    check_range(args.from, args.to, quota::local_date(as_of, tz))?;
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
    let options = args.into_options();
    let result = run_backfill(&mut job, &lock, from, to, users, &options, as_of, &stop).await;
    watcher.abort();
    unlock(lock);
    let (outcome, last_run) = result?;
    let budget = job.config.quota.monthly_budget;
    let range = report::build::for_range(&job.store, outcome.from, outcome.to, budget, tz);
    if let (true, Some(run_id)) = (outcome.report, last_run) {
        let report = range
            .or_else(|_| report::build::for_run(&job.store, run_id, budget, tz))
            .context("cannot build the backfill's report")?;
        print_stdout(&report::render(
            &report,
            outcome.format,
            &job.render_options(),
        ))?;
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
    pub(crate) max_calls: Option<u64>,
    pub(crate) yes: bool,
    pub(crate) resume: bool,
    pub(crate) report: bool,
    pub(crate) format: report::ReportFormat,
}

impl BackfillArgs {
    fn into_options(self) -> BackfillOptions {
        BackfillOptions {
            max_calls: self.max_calls,
            yes: self.yes,
            resume: self.resume,
            report: self.report,
            format: self.format,
        }
    }
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

    let Estimate {
        calls: estimate,
        listing,
    } = estimate_cost(job, &todo, &users, as_of, options, stop).await?;
    let month = YearMonth::of(as_of, tz).to_string();
    let used = job.store.month_usage(&month)?.metered;
    let left = job.config.quota.monthly_budget.saturating_sub(used);
    crate::telemetry::say(&report::plan::backfill_estimate(
        &report::plan::BackfillEstimate {
            from,
            to,
            chunks_to_do: todo.len(),
            chunks: chunks(from, to).len(),
            estimate,
            listing,
            left,
            budget: job.config.quota.monthly_budget,
            month: &month,
        },
    ));
    if estimate > left && options.max_calls.is_none() && !options.yes {
        return Err(anyhow::Error::new(ExitKind::Failed)
            .context(report::plan::backfill_refusal(estimate, left)));
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
/// How many approvals there are is only known once they are listed. So when the estimate
/// decides whether the backfill starts (no `--yes`, no `--max-calls`) and the range's results
/// alone fit the budget left, the approval listing of the range's window is first made for real: metered,
/// but exactly the listing the first chunk would make (recorded as a run of its own, the ids in
/// the detail backlog the chunks use, the window in the planner's state so no chunk lists it
/// again), and the approvals are counted instead of guessed. Otherwise (the backfill starts
/// whatever the estimate, or is refused on its results alone) nothing metered is called and
/// the approval part is the guess `plan` shows.
async fn estimate_cost(
    job: &mut Job,
    todo: &[(NaiveDate, NaiveDate)],
    users: &Option<Vec<UserId>>,
    as_of: chrono::DateTime<chrono::Utc>,
    options: &BackfillOptions,
    stop: &StopFlag,
) -> anyhow::Result<Estimate> {
    let (Some((first, _)), Some((_, last))) = (todo.first(), todo.last()) else {
        return Ok(Estimate {
            calls: 0,
            listing: 0,
        });
    };
    let mut request = RunRequest {
        kind: RunKind::Backfill {
            from: *first,
            to: *last,
            users: users.clone(),
        },
        as_of,
        max_calls: None,
        dry_run: true,
        trigger: "backfill".into(),
    };
    let guessed = plan_run(&job.store, &job.client, &job.settings, &request)
        .await
        .map_err(|error| run_error(error).context("cannot estimate the backfill's cost"))?;
    let left = {
        let month = YearMonth::of(as_of, job.config.timezone).to_string();
        let used = job.store.month_usage(&month)?.metered;
        job.config.quota.monthly_budget.saturating_sub(used)
    };
    let results: u64 = guessed
        .items
        .iter()
        .chain(&guessed.deferred)
        .filter(|item| item.kind() == "results")
        .map(|item| item.estimated_calls())
        .sum();
    let decides = !options.yes && options.max_calls.is_none();
    let (plan, listed) = if decides && results <= left {
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
    } else {
        (guessed, None)
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
        calls: plan.estimated_calls
            + plan
                .deferred
                .iter()
                .map(|item| item.estimated_calls())
                .sum::<u64>(),
        listing,
    })
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
    let request = RunRequest {
        kind,
        as_of,
        max_calls: None,
        dry_run: true,
        trigger: "plan".into(),
    };
    let plan = plan_run(&job.store, &job.client, &job.settings, &request)
        .await
        .map_err(|error| run_error(error).context("cannot plan the run"))?;
    let month = YearMonth::of(as_of, job.config.timezone).to_string();
    let used = job.store.month_usage(&month)?.metered;
    print_stdout(&report::plan::render_plan(
        &plan,
        &request,
        job.config.quota.monthly_budget,
        used,
        &month,
    ))?;
    Ok(Outcome::Done)
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
