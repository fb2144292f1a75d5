//! Operations through the real binary: the metrics textfile after a failed run, the webhook sink
//! end to end against a signature-verifying receiver, secrets kept out of the most verbose
//! logs, and `run` and `backfill` stopped by a signal.

use sha2::{Digest, Sha256};

use super::assert_last_outcome;
use crate::support::bin::{Rig, assert_code, stderr, stdout};
use crate::support::current_token;
use crate::support::stop::{self, Finished};
use crate::support::truth::{assert_journal_is_the_truth, journaled, truth};
use crate::support::webhook::spawn_receiver;

const WEBHOOK_SECRET: &str = "webhook-secret-7c41e0";
const SECRET_ENV: &str = "RECONCILE_TEST_WEBHOOK_SECRET";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_after_recording_itself_still_writes_the_metrics_file() {
    let rig = Rig::new(31).await;
    // A store that refuses to take slots, as a full disk would, once the run has begun.
    drop(rig.store());
    let connection = rusqlite::Connection::open(rig.store_path()).unwrap();
    connection
        .execute_batch(
            "CREATE TRIGGER refuse_slots BEFORE INSERT ON slots
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    drop(connection);

    let output = rig.bin(&["run"]).await;
    assert_code(&output, 1);
    assert!(
        stderr(&output).contains("disk is full"),
        "{}",
        stderr(&output)
    );
    let store = rig.store();
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome_name(), "failed");
    assert_eq!(store.lock_holder().unwrap(), None, "the lock is released");
    let metrics = rig.metrics();
    assert_last_outcome(&metrics, "failed");
    assert!(
        metrics.contains(&format!("dingtalk_reconcile_last_run_id {}", runs[0].id)),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_each_run_from_partial_to_done() {
    let rig = Rig::new(32).await;
    rig.write_config("[quota]\nmonthly_budget = 2\n");
    assert_code(&rig.bin(&["run"]).await, 2);
    assert_last_outcome(&rig.metrics(), "partial");
    assert!(
        rig.metrics()
            .contains("dingtalk_reconcile_monthly_budget_calls 2")
    );
    rig.write_config("");
    assert_code(&rig.bin(&["run"]).await, 0);
    let metrics = rig.metrics();
    assert_last_outcome(&metrics, "done");
    assert!(metrics.contains("dingtalk_reconcile_last_success_timestamp_seconds "));
}

fn webhook_sink(url: &str) -> String {
    format!(
        "[[sink]]\nname = \"hr\"\nkind = \"webhook\"\nurl = {url:?}\nsecret_env = \"{SECRET_ENV}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_sink_receives_every_correction_once_signed() {
    let (url, receiver) = spawn_receiver(WEBHOOK_SECRET).await;
    let mut rig = Rig::with(33, |config| config.employees = 40).await;
    rig.env
        .push((SECRET_ENV.to_owned(), WEBHOOK_SECRET.to_owned()));
    rig.write_config(&webhook_sink(url.as_str()));

    let output = rig
        .bin(&[
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--yes",
        ])
        .await;
    assert_code(&output, 0);
    // A second pass over the same days delivers nothing new and nothing again.
    assert_code(&rig.bin(&["run"]).await, 0);

    let store = rig.store();
    let journaled: Vec<String> = store
        .all_corrections()
        .unwrap()
        .into_iter()
        .map(|stored| stored.correction.idempotency_key)
        .collect();
    assert!(!journaled.is_empty(), "the company has corrections to send");
    let receiver = receiver.lock().unwrap();
    assert_eq!(receiver.bad_signatures, 0);
    let mut keys: Vec<&String> = receiver.received.keys().collect();
    keys.sort();
    let mut expected: Vec<&String> = journaled.iter().collect();
    expected.sort();
    assert_eq!(keys, expected, "every journaled correction arrived");
    assert!(
        receiver.received.values().all(|&times| times == 1),
        "no correction arrived twice: {:?}",
        receiver.received
    );
    assert!(receiver.batch_keys.iter().all(|key| key.len() == 64));
    assert!(store.outbox_backlog().unwrap().values().all(|&n| n == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_sink_whose_secret_variable_is_unset_is_a_configuration_error() {
    let (url, receiver) = spawn_receiver(WEBHOOK_SECRET).await;
    let rig = Rig::new(34).await;
    rig.write_config(&webhook_sink(url.as_str()));
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 78);
    assert!(stderr(&output).contains(SECRET_ENV), "{}", stderr(&output));
    assert_eq!(receiver.lock().unwrap().requests, 0);
}

/// The tokens the simulator of `seed` issues first (its own derivation, see `dingtalk-sim`'s `state.rs`).
fn sim_tokens(seed: u64) -> Vec<String> {
    (1..=4)
        .map(|n| hex::encode(&Sha256::digest(format!("token:{seed}:{n}"))[..16]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_verbose_logs_show_no_app_secret_no_webhook_secret_and_no_token() {
    let (url, receiver) = spawn_receiver(WEBHOOK_SECRET).await;
    let mut rig = Rig::with(35, |config| {
        config.employees = 40;
        config.app_secret = "app-secret-e5b2917d".to_owned();
    })
    .await;
    rig.env
        .push((SECRET_ENV.to_owned(), WEBHOOK_SECRET.to_owned()));
    rig.write_config(&webhook_sink(url.as_str()));
    let output = rig
        .bin(&[
            "-vv",
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--yes",
            "--report",
        ])
        .await;
    assert_code(&output, 0);
    let run = rig.bin(&["-vv", "--log-format", "json", "run"]).await;
    assert_code(&run, 0);
    assert!(receiver.lock().unwrap().requests > 0, "the sink was used");

    let everything = [&output, &run]
        .iter()
        .map(|output| format!("{}\n{}", stdout(output), stderr(output)))
        .collect::<String>();
    assert!(
        everything.contains("oauth2/accessToken"),
        "the trace shows the token calls"
    );
    // The token the binary used is still valid on the simulator's clock, so asking for one now
    // returns that very token; it is also one of the tokens the simulator derives.
    let current = current_token(&rig.sim).await;
    let derived = sim_tokens(35);
    assert!(derived.contains(&current), "{current} not in {derived:?}");
    let mut secrets = vec!["app-secret-e5b2917d".to_owned(), WEBHOOK_SECRET.to_owned()];
    secrets.extend(derived);
    for secret in secrets {
        assert!(
            !everything.contains(&secret),
            "{secret} appears in the output"
        );
    }
}

/// The process is held inside one DingTalk call for this long: the stop lands while it waits.
const HELD: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts `args` on `rig` (one DingTalk call at a time), catches it inside its DingTalk call
/// number `held_call` (counting from 0; token and contacts calls count), sends `signal`, and once the process says it stopped arms sentinels on every metered path. Returns
/// the metered calls answered when the signal was sent, and how it ended.
/// Runs `args`, holds it inside its results call number `held_call + 1` (after the metered
/// approval listing and some results), signals it, and watches what it calls after.
async fn stop_mid_run(rig: &Rig, args: &[&str], held_call: u32, signal: &str) -> (u64, Finished) {
    stop::arm_slow_call_on(&rig.sim.state(), "/attendance/list", held_call, HELD);
    let mut running = stop::spawn(rig.args(args), rig.env.clone());
    let sim = rig.sim.state();
    running
        .until("the process is inside the held call", || stop::caught(&sim))
        .await;
    let metered_at_stop = rig.sim.stats().metered;
    running.signal(signal);
    running
        .until_stderr("stop requested: no further DingTalk calls")
        .await;
    // From here on, any metered call that reaches DingTalk was made after the stop.
    stop::arm_sentinels(&rig.sim.state());
    (metered_at_stop, running.finish().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_run_stops_its_dingtalk_calls_and_records_it_partial() {
    let rig = Rig::new(61).await;
    rig.write_config_one_call_at_a_time("");

    let (metered_at_stop, finished) = stop_mid_run(&rig, &["run"], 1, "INT").await;

    assert_eq!(
        finished.code,
        Some(2),
        "partial; stderr:\n{}",
        finished.stderr
    );
    assert!(metered_at_stop > 0, "the run was stopped mid-way");
    assert_eq!(
        stop::metered_calls_since_sentinels(&rig.sim.state()),
        vec![],
        "no metered call after the stop"
    );
    // The held call itself was answered (and metered) after the signal; nothing else was.
    assert!(rig.sim.stats().metered <= metered_at_stop + 1);
    let store = rig.store();
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome_name(), "partial", "{:?}", runs[0]);
    assert!(runs[0].finished_at.is_some());
    assert_eq!(store.lock_holder().unwrap(), None, "the lock is released");
    // A later run picks up what the stop deferred.
    assert_code(&rig.bin(&["run"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_backfill_stops_it_partial_and_resumable() {
    let rig = Rig::with(62, |config| config.employees = 40).await;
    rig.write_config_one_call_at_a_time("");
    let backfill = [
        "backfill",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-09",
        "--yes",
    ];

    let (metered_at_stop, finished) = stop_mid_run(&rig, &backfill, 2, "TERM").await;

    assert_eq!(
        finished.code,
        Some(2),
        "partial; stderr:\n{}",
        finished.stderr
    );
    assert!(finished.stderr.contains("--resume"), "{}", finished.stderr);
    assert!(
        metered_at_stop > 0,
        "the backfill was stopped mid-way: {:?}",
        rig.sim.stats()
    );
    assert_eq!(
        stop::metered_calls_since_sentinels(&rig.sim.state()),
        vec![],
        "no metered call after the stop"
    );
    assert!(rig.sim.stats().metered <= metered_at_stop + 1);
    let store = rig.store();
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(
        runs.len(),
        1,
        "the first week's run, and no chunk after it: {runs:?}"
    );
    assert_eq!(runs[0].outcome_name(), "partial", "{:?}", runs[0]);
    assert!(runs[0].finished_at.is_some());
    assert_eq!(store.lock_holder().unwrap(), None, "the lock is released");
    drop(store);

    // Resumed, the backfill finishes and its journal is the world's truth.
    let mut resume = backfill.to_vec();
    resume.push("--resume");
    assert_code(&rig.bin(&resume).await, 0);
    let truth = truth(&rig.sim, rig.as_of).await;
    assert!(!truth.is_empty(), "the world has corrections to find");
    assert!(
        truth.iter().all(|key| key.class != "supply_reverted"),
        "a world without reverts: one look at each day sees every correction"
    );
    assert_journal_is_the_truth(&journaled(&rig.store()), &truth);
}
