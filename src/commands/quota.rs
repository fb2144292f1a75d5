//! `quota resume [--month YYYY-MM]`: removes the quota exhaustion recorded for a month
//! (`reconcile::blocked`), so that the next run makes metered calls again — the organisation
//! bought more quota mid-month, or DingTalk's `90020` was not the quota spent. Should DingTalk
//! answer `90020` again, that run records the month blocked again.

use crate::cli::{GlobalArgs, QuotaResumeArgs};
use crate::commands::SharedClock;
use crate::commands::job::{Job, load_config, unlock};
use crate::domain::Clock;
use crate::exit::Outcome;
use crate::quota::YearMonth;
use crate::reconcile::blocked;

/// `quota resume [--month YYYY-MM]`, the month defaulting to the current quota month (of
/// `--as-of` or now, in the configured time zone).
pub(crate) async fn resume(global: &GlobalArgs, args: &QuotaResumeArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    let clock = SharedClock::new(global.as_of);
    let tz = config.timezone;
    let month = args
        .month
        .unwrap_or_else(|| YearMonth::of(clock.now(), tz))
        .to_string();
    let mut job = Job::open(config, clock)?;
    // Under the run lock: a run in progress could otherwise record the month again at its end
    // without knowing it had been resumed.
    let lock = job.lock(&crate::dingtalk::StopFlag::new())?;
    let removed = job
        .store
        .quota_exhaustion(&month)
        .and_then(|recorded| match recorded {
            Some(exhaustion) => job
                .store
                .lift_quota_exhaustion(&month)
                .map(|lifted| lifted.then_some(exhaustion)),
            None => Ok(None),
        });
    unlock(lock);
    let removed = removed.map_err(|error| {
        anyhow::Error::new(error).context(format!("cannot remove the quota exhaustion of {month}"))
    })?;
    let said = match &removed {
        Some(exhaustion) => {
            tracing::info!(
                month = %month,
                seen_at = %exhaustion.seen_at,
                own_metered = exhaustion.own_metered,
                budget = exhaustion.budget,
                by_other_apps = exhaustion.by_other_apps,
                "quota resume: the month's recorded quota exhaustion removed; the next run makes metered calls"
            );
            blocked::resumed(exhaustion, tz)
        }
        None => {
            tracing::info!(month = %month, "quota resume: no quota exhaustion recorded for the month");
            blocked::nothing_to_resume(&month)
        }
    };
    super::print_stdout(&said)?;
    Ok(Outcome::Done)
}
