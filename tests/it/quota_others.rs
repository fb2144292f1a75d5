//! The organisation's monthly quota spent by its other apps (DingTalk's `90020`): the quota of
//! metered calls is shared by every internal app of the organisation, so it can run out while
//! this job has spent little of its own budget.
//!
//! A company of 30 on the free edition (the simulator's quota at 5,000), whose other apps spend
//! 4,990 calls early on Nov 10; nightly runs of the real binary Nov 8 .. Nov 14, then Dec 1 and
//! Dec 2. The run that meets the answer stops and records it; every later run of November makes
//! no call to a metered path at all (counted by the simulator, whatever the answer), ends partial
//! with the sentence, and `plan`, `status`, the reports and the metrics say so; December's first
//! run works as usual and reads the November dates the blocked nights skipped, oldest first.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use dingtalk_reconcile::reconcile::{RunError, RunKind, RunOutcome};
use dingtalk_sim::is_metered_path;
use serde_json::Value;

use crate::support::bin::{Rig, assert_code, stderr, stdout};
use crate::support::pipeline::Harness;
use crate::support::truth::{journaled, truth};
use crate::support::{date, fast_sim_config, night};

const EMPLOYEES: usize = 30;
/// The free edition's monthly quota, the organisation's.
const QUOTA: u64 = 5_000;
/// What the organisation's other apps spend on Nov 10.
const OTHER_APPS: u64 = 4_990;
const SENTENCE_START: &str =
    "the organisation's monthly quota of DingTalk calls was exhausted by other apps on 2026-11-10";
const RESUMES: &str = "metered calls resume on 2026-12-01";

async fn rig() -> Rig {
    let rig = Rig::with(2026, |config| {
        config.employees = EMPLOYEES;
        config.from = date("2026-10-20");
        // Work dates through Dec 1.
        config.days = (date("2026-12-02") - config.from).num_days() as u32;
        config.monthly_quota = Some(QUOTA);
        // 00:10 Asia/Shanghai on Nov 10, two hours before that night's run.
        config.other_apps = vec![(night(date("2026-11-10")) - Duration::hours(2), OTHER_APPS)];
        config.clock = Some(night(date("2026-11-08")));
    })
    .await;
    // Our own budget: the organisation's whole quota (what this job may spend at most).
    rig.write_config("[quota]\nmonthly_budget = 5000\n");
    rig
}

/// Calls to metered paths the simulator received, whatever it answered (the quota answer and
/// errors included).
fn metered_path_calls(rig: &Rig) -> u64 {
    rig.sim
        .stats()
        .calls
        .iter()
        .filter(|(path, _)| is_metered_path(path))
        .map(|(_, calls)| calls)
        .sum()
}

/// Moves the simulator's clock and the job's `--as-of` to 02:10 on `night_of`.
fn at_night(rig: &mut Rig, night_of: NaiveDate) -> DateTime<Utc> {
    let at = night(night_of);
    rig.sim.set_clock(at);
    rig.as_of = at;
    at
}

async fn json(rig: &Rig, args: &[&str]) -> Value {
    let output = rig.bin(args).await;
    assert_code(&output, 0);
    serde_json::from_str(&stdout(&output)).expect("the command prints JSON")
}

/// The work dates of a range report that no run read (`coverage.not_reconciled`), one by one.
async fn not_read(rig: &Rig, from: &str, to: &str) -> Vec<NaiveDate> {
    let report = json(
        rig,
        &["report", "--from", from, "--to", to, "--format", "json"],
    )
    .await;
    let windows = report["coverage"]["not_reconciled"]
        .as_array()
        .expect("a range report has coverage")
        .clone();
    windows
        .iter()
        .flat_map(|window| {
            let (from, to) = (
                date(window["from"].as_str().unwrap()),
                date(window["to"].as_str().unwrap()),
            );
            from.iter_days().take_while(move |day| *day <= to)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_apps_exhausting_the_quota_block_the_rest_of_the_month_and_december_catches_up() {
    let mut rig = rig().await;

    // Nov 8 and Nov 9: ordinary nights.
    for day in ["2026-11-08", "2026-11-09"] {
        at_night(&mut rig, date(day));
        assert_code(&rig.bin(&["run"]).await, 0);
    }
    let ours_before = rig.sim.stats().metered;
    assert!(ours_before > 0, "the first nights spent something");
    assert!(
        ours_before + OTHER_APPS < QUOTA + 200,
        "the quota runs out on Nov 10, not long after"
    );

    // Nov 10: the run meets 90020, stops, and the month's exhaustion is recorded.
    at_night(&mut rig, date("2026-11-10"));
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 2);
    let stats = rig.sim.stats();
    assert_eq!(
        stats.metered_by_month.get("2026-11").copied().unwrap_or(0) + OTHER_APPS,
        QUOTA.max(ours_before + OTHER_APPS),
        "our calls stopped where the organisation's quota ran out"
    );
    let run_report = json(&rig, &["report", "--run", "latest", "--format", "json"]).await;
    assert_eq!(run_report["run"]["outcome"], "partial");
    let errors = run_report["errors"].to_string();
    assert!(errors.contains("(90020)"), "{errors}");
    {
        let store = rig.store();
        let recorded = store
            .quota_exhaustion("2026-11")
            .unwrap()
            .expect("the month's exhaustion is recorded");
        assert!(recorded.by_other_apps, "{recorded:?}");
        assert_eq!(recorded.budget, QUOTA);
        assert_eq!(recorded.seen_at, night(date("2026-11-10")));
        assert_eq!(
            recorded.own_metered,
            store.month_usage("2026-11").unwrap().metered
        );
        assert_eq!(recorded.own_metered, stats.metered_by_month["2026-11"]);
        assert_eq!(store.quota_exhaustion("2026-12").unwrap(), None);
    }
    let own = rig.sim.stats().metered_by_month["2026-11"];
    let sentence = format!("{SENTENCE_START} (our own use: {own} of 5,000); {RESUMES}");

    // Nov 11 .. Nov 14: not one call to a metered path; partial with the sentence, the whole
    // plan deferred.
    for day in ["2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14"] {
        at_night(&mut rig, date(day));
        let before = metered_path_calls(&rig);
        let plan = rig.bin(&["plan"]).await;
        assert_code(&plan, 0);
        assert!(stdout(&plan).contains(&sentence), "{}", stdout(&plan));
        assert!(
            stdout(&plan).contains("this run may spend 0"),
            "{}",
            stdout(&plan)
        );
        assert_code(&rig.bin(&["run"]).await, 2);
        assert_eq!(
            metered_path_calls(&rig),
            before,
            "{day}: no metered call while the month is blocked"
        );
        let report = json(&rig, &["report", "--run", "latest", "--format", "json"]).await;
        assert_eq!(report["run"]["outcome"], "partial", "{day}");
        assert_eq!(report["api_calls"]["metered"], 0, "{day}");
        assert_eq!(report["errors"], serde_json::json!([sentence]), "{day}");
        let deferred = report["deferred"].as_array().unwrap();
        assert!(
            deferred.iter().any(|line| line["item"] == "results"),
            "{day}: the nightly sync is deferred: {deferred:?}"
        );
        assert_eq!(
            report["quota_exhausted"],
            serde_json::json!({
                "month": "2026-11",
                "seen_at": night(date("2026-11-10")),
                "seen_on": "2026-11-10",
                "own_metered": own,
                "budget": QUOTA,
                "by_other_apps": true,
                "resumes_on": "2026-12-01",
            }),
            "{day}"
        );
    }
    // A backfill in the blocked month makes no metered call either.
    let before = metered_path_calls(&rig);
    let backfill = rig
        .bin(&[
            "backfill",
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-08",
            "--yes",
        ])
        .await;
    assert_code(&backfill, 2);
    assert!(
        stderr(&backfill).contains(&format!("backfill 2026-11-02 .. 2026-11-08: {sentence}")),
        "{}",
        stderr(&backfill)
    );
    assert_eq!(
        metered_path_calls(&rig),
        before,
        "no metered call by a backfill"
    );
    assert_eq!(
        rig.sim.stats().metered_by_month["2026-11"],
        own,
        "nothing metered after Nov 10"
    );

    // What people read while the month is blocked.
    let status = rig.bin(&["status"]).await;
    assert_code(&status, 0);
    assert!(
        stdout(&status).contains(&format!("\nblocked    {sentence}\n")),
        "{}",
        stdout(&status)
    );
    let status_json = json(&rig, &["status", "--format", "json"]).await;
    assert_eq!(status_json["quota_exhausted"]["by_other_apps"], true);
    assert_eq!(status_json["quota_exhausted"]["own_metered"], own);
    assert_eq!(
        status_json["quota_exhausted"]["sentence"],
        sentence.as_str()
    );
    let english = rig
        .bin(&[
            "report", "--run", "latest", "--format", "text", "--lang", "en",
        ])
        .await;
    assert_code(&english, 0);
    let mut capitalised = sentence.clone();
    capitalised.replace_range(0..1, "T");
    assert!(
        stdout(&english).contains(&capitalised),
        "{}",
        stdout(&english)
    );
    let chinese = rig
        .bin(&[
            "report", "--run", "latest", "--format", "text", "--lang", "zh",
        ])
        .await;
    assert_code(&chinese, 0);
    assert!(
        stdout(&chinese).contains(&format!(
            "本组织本月的钉钉接口调用额度已于 11月10日 被其他应用用尽（本工具本月仅用 {own} 次，预算 5,000 次）；12月1日 恢复"
        )),
        "{}",
        stdout(&chinese)
    );
    let metrics = rig.metrics();
    assert!(
        metrics.contains("\ndingtalk_reconcile_quota_exhausted{by=\"other_apps\"} 1\n"),
        "{metrics}"
    );
    let skipped = not_read(&rig, "2026-11-01", "2026-11-30").await;
    assert_eq!(
        skipped.first().copied(),
        Some(date("2026-11-09")),
        "the Nov 10 run stopped before reading Nov 9, the blocked nights read nothing: {skipped:?}"
    );
    assert!(
        date("2026-11-09")
            .iter_days()
            .take_while(|day| *day <= date("2026-11-30"))
            .all(|day| skipped.contains(&day)),
        "{skipped:?}"
    );

    // Dec 1: a new quota month, everything as usual; the November dates skipped come first.
    at_night(&mut rig, date("2026-12-01"));
    let before = metered_path_calls(&rig);
    assert_code(&rig.bin(&["run"]).await, 0);
    assert!(metered_path_calls(&rig) > before, "December calls again");
    let december = json(&rig, &["report", "--run", "latest", "--format", "json"]).await;
    assert_eq!(december["run"]["outcome"], "done");
    assert!(december.get("quota_exhausted").is_none(), "{december}");
    let window_from = date(december["run"]["window"]["from"].as_str().unwrap());
    assert!(
        (date("2026-11-01")..=skipped[0]).contains(&window_from),
        "the sync starts at the oldest November date not read ({}), in the payroll month: {window_from}",
        skipped[0]
    );
    assert_eq!(
        not_read(&rig, "2026-11-01", "2026-11-30").await,
        [date("2026-11-30")],
        "every settled November date read on Dec 1 (Nov 30 settles by the next night)"
    );
    let status = rig.bin(&["status"]).await;
    assert!(!stdout(&status).contains("blocked"), "{}", stdout(&status));
    let metrics = rig.metrics();
    assert!(
        metrics.contains("\ndingtalk_reconcile_quota_exhausted{by=\"other_apps\"} 0\n"),
        "{metrics}"
    );

    // Dec 2: the corrections of November's blocked weeks are in the ledger.
    at_night(&mut rig, date("2026-12-02"));
    assert_code(&rig.bin(&["run"]).await, 0);
    assert_eq!(
        not_read(&rig, "2026-11-01", "2026-11-30").await,
        Vec::<NaiveDate>::new(),
        "every November date read by Dec 2"
    );
    let settled = |key: &crate::support::truth::Key| {
        (date("2026-11-10")..=date("2026-11-23")).contains(&key.work_date)
    };
    let expected: Vec<_> = truth(&rig.sim, night(date("2026-11-27")))
        .await
        .into_iter()
        .filter(settled)
        .collect();
    assert!(
        expected.len() >= 3,
        "the blocked weeks had corrections to find: {expected:?}"
    );
    let found: Vec<_> = journaled(&rig.store())
        .into_iter()
        .filter(settled)
        .collect();
    let missing: Vec<_> = expected.iter().filter(|key| !found.contains(key)).collect();
    assert!(
        missing.is_empty(),
        "not in the ledger by Dec 2: {missing:#?}"
    );
    let by_month: BTreeMap<String, u64> = rig.sim.stats().metered_by_month;
    assert!(by_month["2026-12"] > 0, "{by_month:?}");
}

/// A process that outlives the month (the daemon) keeps one client: the quota latch DingTalk's
/// answer set in November must not refuse December's calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_client_calls_again_in_the_next_month() {
    // 01:10 Asia/Shanghai on Nov 29: the organisation's whole quota, before the night's run.
    let mut harness = long_lived(date("2026-11-29")).await;

    let before = harness
        .run(RunKind::Nightly, night(date("2026-11-28")), None)
        .await;
    assert_eq!(before.outcome, RunOutcome::Done, "{:?}", before.errors);
    // The harness discovers the 补卡 templates, a metered call: the answer comes while the run
    // is planned, so the run fails to plan (exit 2 from the binary) and records it all the same.
    let met = harness
        .try_run(RunKind::Nightly, night(date("2026-11-29")), None)
        .await;
    assert!(
        matches!(&met, Err(RunError::DingTalk(error)) if error.to_string().contains("quota")),
        "{met:?}"
    );
    assert!(
        !harness.client.quota_exhausted(),
        "once recorded, the store's row blocks the month, not the client's latch"
    );
    let recorded = harness.store.quota_exhaustion("2026-11").unwrap().unwrap();
    assert!(recorded.by_other_apps, "{recorded:?}");

    let calls = metered_paths(&harness);
    let blocked = harness
        .run(RunKind::Nightly, night(date("2026-11-30")), None)
        .await;
    assert_eq!(blocked.outcome, RunOutcome::Partial);
    assert_eq!(metered_paths(&harness), calls, "nothing metered on Nov 30");

    let december = harness
        .run(RunKind::Nightly, night(date("2026-12-01")), None)
        .await;
    assert!(!harness.client.quota_exhausted(), "no latch in December");
    assert!(december.metered_calls > 0, "{:?}", december.errors);
    assert_eq!(december.outcome, RunOutcome::Done, "{:?}", december.errors);
    assert_eq!(harness.store.quota_exhaustion("2026-12").unwrap(), None);
}

/// `quota resume` (the real binary) removes a blocked month's record, under the run lock, and
/// says what it removed; the next run asks DingTalk again. The simulator's other apps still
/// hold the quota (it cannot be bought back at runtime), so that run meets `90020` again and
/// the month is blocked again, from the new sighting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_resume_removes_the_months_record_and_the_next_run_calls_again() {
    let mut rig = rig().await;
    at_night(&mut rig, date("2026-11-08"));
    assert_code(&rig.bin(&["run"]).await, 0);
    at_night(&mut rig, date("2026-11-10"));
    assert_code(&rig.bin(&["run"]).await, 2);
    let own = rig.sim.stats().metered_by_month["2026-11"];
    assert!(rig.store().quota_exhaustion("2026-11").unwrap().is_some());

    at_night(&mut rig, date("2026-11-11"));
    // A malformed month: the usage error, naming the flag and the form.
    for bad in ["2026-13", "2026-1", "11/2026"] {
        let output = rig.bin(&["quota", "resume", "--month", bad]).await;
        assert_code(&output, 78);
        assert!(stderr(&output).contains("--month"), "{}", stderr(&output));
        assert!(stderr(&output).contains("YYYY-MM"), "{}", stderr(&output));
    }
    // A month with nothing recorded: said so, exit 0, November untouched.
    let output = rig.bin(&["quota", "resume", "--month", "2026-10"]).await;
    assert_code(&output, 0);
    assert_eq!(
        stdout(&output),
        "2026-10: no quota exhaustion is recorded for this month: nothing to remove; runs make \
         metered calls as usual\n"
    );
    assert!(rig.store().quota_exhaustion("2026-11").unwrap().is_some());

    // A run in progress holds the store: the usual lock error, nothing removed.
    let holder = dingtalk_reconcile::store::LockHolder::on_this_host(
        std::process::id(),
        None,
        Utc::now() - Duration::minutes(1),
    );
    rig.store().acquire_lock(&holder).unwrap();
    let locked = rig.bin(&["quota", "resume"]).await;
    assert_code(&locked, 75);
    assert!(rig.store().quota_exhaustion("2026-11").unwrap().is_some());
    assert!(rig.store().release_lock(&holder).unwrap());

    // The current month by default (`--as-of` in Asia/Shanghai).
    let output = rig.bin(&["quota", "resume"]).await;
    assert_code(&output, 0);
    assert_eq!(
        stdout(&output),
        format!(
            "2026-11: removed the recorded quota exhaustion ({SENTENCE_START} (our own use: \
             {own} of 5,000)); the next run makes metered calls again; if DingTalk answers \
             90020 again, the month is blocked again\n"
        )
    );
    assert!(
        stderr(&output).contains("recorded quota exhaustion removed"),
        "logged: {}",
        stderr(&output)
    );
    assert_eq!(rig.store().quota_exhaustion("2026-11").unwrap(), None);
    assert!(
        rig.store().lock_holder().unwrap().is_none(),
        "lock released"
    );
    let output = rig.bin(&["quota", "resume", "--month", "2026-11"]).await;
    assert_code(&output, 0);
    assert!(
        stdout(&output).starts_with("2026-11: no quota exhaustion is recorded"),
        "{}",
        stdout(&output)
    );
    let plan = rig.bin(&["plan"]).await;
    assert_code(&plan, 0);
    assert!(
        !stdout(&plan).contains("this run may spend 0"),
        "{}",
        stdout(&plan)
    );

    // The next run calls DingTalk again; the quota is still spent, so it is blocked again.
    let before = metered_path_calls(&rig);
    assert_code(&rig.bin(&["run"]).await, 2);
    assert!(
        metered_path_calls(&rig) > before,
        "the run after `quota resume` makes metered calls"
    );
    let again = rig
        .store()
        .quota_exhaustion("2026-11")
        .unwrap()
        .expect("90020 again: the month is blocked again");
    assert_eq!(again.seen_at, night(date("2026-11-11")), "the new sighting");
    assert!(again.by_other_apps);
}

/// A long-lived process (the daemon) follows the store: once `quota resume` removed the
/// month's row, its next run calls DingTalk again although its client met `90020` earlier
/// in the same month.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_client_calls_again_once_the_month_is_resumed() {
    let mut harness = long_lived(date("2026-11-28")).await;
    let first = harness
        .run(RunKind::Nightly, night(date("2026-11-27")), None)
        .await;
    assert_eq!(first.outcome, RunOutcome::Done, "{:?}", first.errors);

    let met = harness
        .try_run(RunKind::Nightly, night(date("2026-11-28")), None)
        .await;
    assert!(met.is_err(), "{met:?}");
    assert!(harness.store.quota_exhaustion("2026-11").unwrap().is_some());

    // Blocked by the store: nothing metered.
    let calls = metered_paths(&harness);
    let blocked = harness
        .run(RunKind::Nightly, night(date("2026-11-29")), None)
        .await;
    assert_eq!(blocked.outcome, RunOutcome::Partial);
    assert_eq!(metered_paths(&harness), calls, "nothing metered on Nov 29");

    // `quota resume`: the same client asks DingTalk again (which still answers 90020).
    assert!(harness.store.lift_quota_exhaustion("2026-11").unwrap());
    let _ = harness
        .try_run(RunKind::Nightly, night(date("2026-11-30")), None)
        .await;
    assert!(
        metered_paths(&harness) > calls,
        "the resumed month's run called DingTalk again"
    );
    let again = harness.store.quota_exhaustion("2026-11").unwrap().unwrap();
    assert_eq!(again.seen_at, night(date("2026-11-30")), "seen again, anew");
}

/// A long-lived process's harness (one client, like the daemon's) on a 20-person company whose
/// other apps spend the organisation's whole quota of 1,000 an hour before the night of
/// `exhausted`; its clock at the night before.
async fn long_lived(exhausted: NaiveDate) -> Harness {
    let mut config = fast_sim_config(5, 20);
    config.from = date("2026-11-20");
    config.days = 12;
    config.monthly_quota = Some(1_000);
    config.other_apps = vec![(night(exhausted) - Duration::hours(1), 1_000)];
    config.clock = Some(night(exhausted - Duration::days(1)));
    Harness::new(config).await
}

/// Calls that reached a metered path, as the simulator counts them.
fn metered_paths(harness: &Harness) -> u64 {
    let stats = harness.sim.stats();
    stats
        .calls
        .iter()
        .filter(|(path, _)| is_metered_path(path))
        .map(|(_, calls)| calls)
        .sum()
}
