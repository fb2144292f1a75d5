//! Queued backfills: `backfill --queue` records a range instead of running it; after each
//! nightly run (`run` under cron, or a `daemon` tick) the same process, under the same run lock,
//! works through the queue out of what the month's budget leaves beyond its nightly runs' need
//! (the planner's surplus), oldest work dates first, one 7-day chunk at a time. A chunk starts
//! only when its estimate fits what is left of tonight's share, and runs capped at that share,
//! so the nightly runs are never starved; a chunk cut short is done again on a later night.

use chrono::{DateTime, NaiveDate, Utc};

use crate::commands::backfill::{Guess, chunks, guess_cost};
use crate::commands::job::{Job, run_error};
use crate::dingtalk::StopFlag;
use crate::domain::UserId;
use crate::quota::{self, Outlook, YearMonth};
use crate::reconcile::{RunKind, RunOutcome, RunRequest, plan_run};
use crate::report;
use crate::store::RunLock;

/// The month's outlook as of `as_of`: what is left of the budget, what the nightly runs still
/// need (the reserve of a dry-run plan of tonight's run — nothing metered is called — or, when
/// larger, what a recent night spent on average and a quarter, for each night left) and what
/// is spare.
pub(crate) async fn outlook(job: &Job, as_of: DateTime<Utc>) -> anyhow::Result<Outlook> {
    let request = RunRequest::plan_only(RunKind::Nightly, as_of, "plan");
    let plan = plan_run(&job.store, &job.client, &job.settings, &request)
        .await
        .map_err(|error| run_error(error).context("cannot plan the month's nightly runs"))?;
    let tz = job.config.timezone;
    let used = job
        .store
        .month_usage(&YearMonth::of(as_of, tz).to_string())?
        .metered;
    let budget = job.config.quota.monthly_budget;
    let remaining = budget.saturating_sub(used);
    let nights = quota::remaining_nightly_runs(as_of, tz);
    // The planner's reserve is an estimate; what the last week's nights were seen to spend on
    // average, a quarter on top, is evidence. The larger need wins.
    let seen = job.store.recent_nightly_mean(RECENT_NIGHTS)?;
    let seen = seen + seen / 4;
    let spare = plan
        .surplus
        .min(remaining.saturating_sub(seen.saturating_mul(u64::from(nights))));
    Ok(Outlook::new(budget, remaining, nights, spare))
}

/// How many recent nightly runs show what a night needs.
const RECENT_NIGHTS: u32 = 7;

/// The least share a chunk with approval work starts on without fitting whole.
const LEAST_SHARE: u64 = 20;

/// Whether a chunk estimated at `guess` starts on `share` calls: when its estimate and a
/// quarter fit (results cut short are paid for and read again), or, with approval work in it,
/// on any share of at least [`LEAST_SHARE`]: listings and details come first in a backfill's
/// run and what they fetch is kept, so a chunk that carries a whole range's approvals (the
/// first) gets through them over several nights instead of waiting for one night to hold it.
pub(crate) fn may_start(guess: &Guess, share: u64) -> bool {
    guess.calls + guess.calls / 4 <= share || (guess.approvals && share >= LEAST_SHARE)
}

/// The local date of the next nightly run after `as_of` on the configured schedule (the date
/// of `as_of` when the schedule cannot say).
pub(crate) fn next_night(job: &Job, as_of: DateTime<Utc>) -> NaiveDate {
    let tz = job.config.timezone;
    crate::config::parse_cron(&job.config.schedule.cron)
        .ok()
        .and_then(|cron| {
            cron.find_next_occurrence(&as_of.with_timezone(&tz), false)
                .ok()
        })
        .map_or_else(|| quota::local_date(as_of, tz), |at| at.date_naive())
}

/// The chunks of a queued or queueable range not done yet.
pub(crate) fn chunks_to_do(
    from: NaiveDate,
    to: NaiveDate,
    done: impl Fn(NaiveDate, NaiveDate) -> bool,
) -> Vec<(NaiveDate, NaiveDate)> {
    chunks(from, to)
        .into_iter()
        .filter(|(chunk_from, chunk_to)| !done(*chunk_from, *chunk_to))
        .collect()
}

/// Tonight's share of the queue, after tonight's nightly run, under the lock it held: chunks
/// of the queued backfills in date order while their estimates fit what is left of the share.
/// Says one line per chunk; a queued backfill whose last chunk is done leaves the queue.
pub(crate) async fn work_through(
    job: &mut Job,
    lock: &RunLock,
    stop: &StopFlag,
    as_of: DateTime<Utc>,
) -> anyhow::Result<()> {
    let queue = job.store.queued_backfills()?;
    if queue.is_empty() {
        return Ok(());
    }
    let mut share = outlook(job, as_of).await?.spare;
    crate::telemetry::say(&report::plan::queue_share(share, queue.len()));
    for queued in queue {
        let (from, to) = (queued.state.key.from, queued.state.key.to);
        let users: Option<Vec<UserId>> = queued.users.clone();
        for (chunk_from, chunk_to) in chunks_to_do(from, to, |f, t| queued.state.is_done(f, t)) {
            if stop.is_raised() {
                return Ok(());
            }
            let guess = guess_cost(job, &[(chunk_from, chunk_to)], &users, as_of).await?;
            if !may_start(&guess, share) {
                crate::telemetry::say(&report::plan::queue_waits(
                    chunk_from,
                    chunk_to,
                    guess.calls,
                    share,
                ));
                return Ok(());
            }
            let request = RunRequest {
                kind: RunKind::Backfill {
                    from: chunk_from,
                    to: chunk_to,
                    users: users.clone(),
                },
                as_of,
                max_calls: Some(share),
                dry_run: false,
                trigger: "queue".into(),
            };
            let summary = job.execute_locked(&request, lock, stop).await?.summary;
            share = share.saturating_sub(summary.metered_calls);
            crate::telemetry::say(&report::plan::queue_chunk_line(
                chunk_from,
                chunk_to,
                summary.outcome.as_str(),
                summary.corrections_applied,
                summary.metered_calls,
                share,
            ));
            if summary.outcome != RunOutcome::Done {
                // Cut short (the share, the quota, failed items, a stop): done again on a
                // later night; nothing after it starts tonight, so the order holds.
                return Ok(());
            }
            job.store
                .backfill_chunk_done(queued.state.id, chunk_from, chunk_to, summary.run_id)?;
        }
        job.store.backfill_queue_finished(queued.state.id, as_of)?;
        crate::telemetry::say(&report::plan::queue_finished(from, to));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_starts_when_it_fits_with_a_quarter_or_has_approval_work_and_a_little_share() {
        let results = Guess {
            calls: 80,
            approvals: false,
        };
        assert!(may_start(&results, 100));
        assert!(!may_start(&results, 99));
        let first = Guess {
            calls: 440,
            approvals: true,
        };
        assert!(may_start(&first, LEAST_SHARE));
        assert!(!may_start(&first, LEAST_SHARE - 1));
        assert!(
            may_start(&Guess::default(), 0),
            "nothing to do always starts"
        );
    }
}
