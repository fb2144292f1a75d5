//! A backfill the month's budget cannot pay for at once: refused with the queue proposed, queued,
//! then worked through by the nightly runs out of each night's spare budget, over several nights,
//! without starving them and within the budget.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use dingtalk_sim::Rates;

use crate::support::bin::{Rig, assert_code, stderr, stdout};
use crate::support::truth::{Key, journaled, truth};
use crate::support::{date, night};

/// The world: June 1 .. November 6; the nights run from October 27 to November 6.
const FIRST_NIGHT: &str = "2026-10-27";
const LAST_NIGHT: &str = "2026-11-06";
/// The queued range: twenty weeks before the nights start.
const QUEUED: (&str, &str) = ("2026-06-01", "2026-10-18");
const EMPLOYEES: usize = 40;
const BUDGET: u64 = 700;

async fn rig() -> Rig {
    rig_with_budget(BUDGET).await
}

async fn rig_with_budget(budget: u64) -> Rig {
    let mut rig = Rig::with(23, |config| {
        config.employees = EMPLOYEES;
        config.from = date(QUEUED.0);
        config.days = (date(LAST_NIGHT) - date(QUEUED.0)).num_days() as u32;
        config.rates = Rates::benchmark();
        config.clock = Some(night(date(FIRST_NIGHT)));
    })
    .await;
    rig.as_of = night(date(FIRST_NIGHT));
    rig.write_config(&format!("[quota]\nmonthly_budget = {budget}\n"));
    rig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_backfill_finishes_over_several_nights_without_starving_them_within_the_budget() {
    // Arrange: the range queued.
    let mut rig = rig().await;
    let range = ["backfill", "--from", QUEUED.0, "--to", QUEUED.1];
    let queued = rig.bin(&[&range[..], &["--queue"]].concat()).await;
    assert_code(&queued, 0);
    assert!(
        stderr(&queued).contains("queued backfill 2026-06-01 .. 2026-10-18: 20 chunk(s) to do"),
        "{}",
        stderr(&queued)
    );
    let status = stdout(&rig.bin(&["status"]).await);
    assert!(
        status.contains("queued     backfill 2026-06-01 .. 2026-10-18")
            && status.contains("0 of 20 chunks done"),
        "{status}"
    );
    let plan = stdout(&rig.bin(&["plan"]).await);
    assert!(
        plan.contains("queued backfills (1): tonight's share about"),
        "{plan}"
    );

    // Act: every night at 02:10, the simulator's clock with it.
    let mut queue_nights = BTreeSet::new();
    let mut nightly_partial = Vec::new();
    for day in date(FIRST_NIGHT).iter_days() {
        if day > date(LAST_NIGHT) {
            break;
        }
        rig.as_of = night(day);
        rig.sim.set_clock(rig.as_of);
        let output = rig.bin(&["run"]).await;
        let said = stderr(&output);
        eprintln!("night {day}:\n{said}");
        let partial = crate::support::bin::code(&output) == 2;
        if !partial {
            assert_code(&output, 0);
        }
        if said.contains("queued backfill chunk") {
            queue_nights.insert(day);
        }
        // A fresh store's first nights may be cut short by their own catch-up (every approval
        // of the lookback to read); once the queue is being worked, never.
        assert!(
            !(partial && queue_nights.first().is_some_and(|first| *first < day)),
            "night {day}: the nightly run was starved after the queue started"
        );
        nightly_partial.push((day, partial));
    }

    // Assert: the queue was worked through on several nights and finished.
    let store = rig.store();
    assert!(
        queue_nights.len() >= 2,
        "the queue took several nights: {queue_nights:?}"
    );
    let status = stdout(&rig.bin(&["status"]).await);
    assert!(!status.contains("queued "), "the queue finished: {status}");
    let again = rig.bin(&[&range[..], &["--queue"]].concat()).await;
    assert_code(&again, 0);
    assert!(
        stderr(&again).contains("is done already: nothing to queue"),
        "{}",
        stderr(&again)
    );
    // A queued chunk ran only after a nightly run that was not cut short.
    for night in &queue_nights {
        assert!(
            nightly_partial.contains(&(*night, false)),
            "queue worked on {night} after a partial nightly run: {nightly_partial:?}"
        );
    }
    // Every correction settled a week before the last night is in the journal, once; nothing
    // invented.
    let mut counted: BTreeMap<Key, usize> = BTreeMap::new();
    for key in journaled(&store) {
        *counted.entry(key).or_default() += 1;
    }
    assert!(
        counted.values().all(|n| *n == 1),
        "a correction applied twice"
    );
    let applied: BTreeSet<Key> = counted.into_keys().collect();
    let last = night(date(LAST_NIGHT));
    let settled: BTreeSet<Key> = truth(&rig.sim, last - Duration::days(7))
        .await
        .into_iter()
        .filter(|key| key.work_date >= date(QUEUED.0))
        .collect();
    let by_the_end: BTreeSet<Key> = truth(&rig.sim, last).await.into_iter().collect();
    assert!(
        settled.len() >= 10,
        "corrections to find: {}",
        settled.len()
    );
    let missed: Vec<_> = settled.difference(&applied).collect();
    assert!(
        missed.is_empty(),
        "missed {} of {}: {missed:#?}",
        missed.len(),
        settled.len()
    );
    let invented: Vec<_> = applied.difference(&by_the_end).collect();
    assert!(invented.is_empty(), "invented: {invented:#?}");
    // Within the budget in each month, as DingTalk counted.
    for (month, metered) in rig.sim.stats().metered_by_month {
        assert!(metered <= BUDGET, "{month}: {metered} metered calls");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_that_would_leave_the_nights_short_is_refused_naming_the_command_that_queues_it()
{
    let rig = rig_with_budget(300).await;
    let range = ["backfill", "--from", QUEUED.0, "--to", QUEUED.1];
    let refused = rig.bin(&range).await;
    assert_code(&refused, 1);
    let said = stderr(&refused);
    assert!(
        said.contains("the backfill would cost about") && said.contains("Queue it instead with"),
        "{said}"
    );
    let queue = format!(
        "`dingtalk-reconcile --config {} backfill --from {} --to {} --queue`",
        rig.config_path().display(),
        QUEUED.0,
        QUEUED.1
    );
    assert!(said.contains(&queue), "{said}");
    assert!(
        !said.contains("run failed"),
        "no exit-code marker in the line: {said}"
    );
    // The only calls spent are the approval listing the estimate says it made to count them.
    let listing: u64 = said
        .find(" of them spent listing 补卡 approvals already")
        .and_then(|end| said[..end].rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("the estimate names its listing: {said}"));
    let metered: u64 = rig.sim.stats().metered_by_month.values().sum();
    assert_eq!(metered, listing, "{said}");
    assert!(
        rig.store()
            .recent_runs(10)
            .unwrap()
            .iter()
            .all(|run| run.trigger == "backfill")
    );
    // Queued instead, it starts nothing now.
    let queued = rig.bin(&[&range[..], &["--queue"]].concat()).await;
    assert_code(&queued, 0);
    let after: u64 = rig.sim.stats().metered_by_month.values().sum();
    assert_eq!(after, metered, "queuing spends nothing");
}
