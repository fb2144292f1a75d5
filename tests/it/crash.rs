//! Reliability: the real binary killed (SIGKILL) at points chosen by events, not by wall time.
//!
//! - A backfill killed inside DingTalk calls at several depths (the simulator holds the chosen
//!   call, the test kills the process while it waits) and rerun with `--resume` ends with
//!   exactly the ledger, journal and snapshot of an uninterrupted backfill.
//! - A backfill with a webhook sink and a file sink killed after the webhook acknowledged a batch
//!   and the file holds it, but before the outbox recorded either (the test holds the store's
//!   write lock, so the marks cannot land); the rerun delivers each correction once to the file,
//!   resends the webhook batch under the same Idempotency-Key, and journals the world's truth.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::bin::{Rig, assert_code, run_binary};
use crate::support::outcome::outcome;
use crate::support::stop;
use crate::support::truth::{assert_journal_is_the_truth, journaled, truth};
use crate::support::webhook::{Mode, set_mode, spawn_receiver};

const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-09";

fn backfill_args(rig: &Rig, resume: bool) -> Vec<String> {
    let mut args = vec!["backfill", "--from", FROM, "--to", TO, "--yes"];
    if resume {
        args.push("--resume");
    }
    rig.args(&args)
}

/// The simulator holds a chosen call this long; the process is killed while it waits.
const HELD: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_at_any_point_and_resumed_ends_identical_to_an_uninterrupted_one() {
    // Arrange: the same seed gives both rigs the same world.
    let reference = Rig::new(41).await;
    let output = run_binary(backfill_args(&reference, false), Vec::new()).await;
    assert_code(&output, 0);
    let expected = outcome(&reference, FROM, TO);
    assert!(
        !expected.corrections.is_empty(),
        "the world has corrections to find"
    );

    let crashed = Rig::new(41).await;
    crashed.write_config_one_call_at_a_time("");
    // Act: each attempt is held inside its DingTalk call number `depth + 1` (counting token and
    // contacts calls) and killed there; resumed attempts skip the weeks already done, so the
    // same depth lands further into the backfill. An attempt that finishes first is not killed.
    let mut killed = Vec::new();
    for (attempt, depth) in [2, 6, 10, 14, 18, 24, 30].into_iter().enumerate() {
        stop::arm_slow_call(&crashed.sim.state(), depth, HELD);
        let mut running = stop::spawn(backfill_args(&crashed, attempt > 0), Vec::new());
        let sim = crashed.sim.state();
        let held = running
            .until_or_exit("held inside the call, or finished", || stop::caught(&sim))
            .await;
        if held {
            running.signal("KILL");
            killed.push(depth);
        }
        let ended = running.finish().await;
        if !held {
            assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
        }
    }
    crashed.sim.arm_faults(Vec::new());
    let output = run_binary(backfill_args(&crashed, true), Vec::new()).await;
    assert_code(&output, 0);
    // A second resume finds nothing left to do and changes nothing.
    let again = run_binary(backfill_args(&crashed, true), Vec::new()).await;
    assert_code(&again, 0);

    // Assert.
    eprintln!("killed inside calls at depths {killed:?}");
    assert_eq!(
        killed.first(),
        Some(&2),
        "the first attempt is killed mid-way"
    );
    let actual = outcome(&crashed, FROM, TO);
    assert_eq!(actual.corrections, expected.corrections);
    assert_eq!(actual.ledger, expected.ledger);
    assert_eq!(actual.snapshot.len(), expected.snapshot.len());
    assert_eq!(actual.snapshot, expected.snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_delivering_and_marking_the_outbox_a_rerun_delivers_each_correction_once() {
    const SECRET: &str = "crash-webhook-secret";
    const SECRET_ENV: &str = "RECONCILE_TEST_CRASH_WEBHOOK_SECRET";
    let (url, receiver) = spawn_receiver(SECRET).await;
    set_mode(&receiver, Mode::Hold);
    let mut rig = Rig::with(33, |config| config.employees = 40).await;
    rig.env.push((SECRET_ENV.to_owned(), SECRET.to_owned()));
    let file = rig.dir.path().join("corrections.jsonl");
    // The webhook first, then the file: both deliveries happen while the test holds the marks.
    rig.write_config(&format!(
        "[[sink]]\nname = \"hr\"\nkind = \"webhook\"\nurl = {url:?}\nsecret_env = \"{SECRET_ENV}\"\n\
         [[sink]]\nname = \"archive\"\nkind = \"file\"\npath = {file:?}\n",
        url = url.as_str(),
        file = file.display().to_string(),
    ));

    let mut running = stop::spawn(backfill_args(&rig, false), rig.env.clone());
    running
        .until("the webhook holds a batch", || {
            !receiver.lock().unwrap().batches.is_empty()
        })
        .await;
    // The run is over (its writes are done) and the product waits on the webhook: take the
    // store's write lock, so no outbox mark can land, then let the webhook acknowledge.
    let mut hold = rusqlite::Connection::open(rig.store_path()).unwrap();
    hold.busy_timeout(Duration::from_secs(10)).unwrap();
    let marks = hold
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    set_mode(&receiver, Mode::Up);
    // The webhook's mark waits for the lock and gives up; the file sink then appends and waits
    // to mark in turn: the file now holds lines the outbox has not recorded as delivered.
    running
        .until("the file sink has appended", || {
            std::fs::read_to_string(&file).is_ok_and(|text| !text.is_empty())
        })
        .await;
    let undelivered: Vec<(String, i64)> = marks
        .prepare("SELECT sink, count(*) FROM outbox WHERE delivered_at_ms IS NULL GROUP BY sink ORDER BY sink")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    running.signal("KILL");
    let killed = running.finish().await;
    assert_eq!(killed.code, None, "killed; stderr:\n{}", killed.stderr);
    drop(marks);
    drop(hold);
    let (acknowledged_header, acknowledged_keys) = receiver.lock().unwrap().batches[0].clone();
    assert!(!acknowledged_keys.is_empty());
    let mut expected_undelivered = vec![
        ("archive".to_owned(), acknowledged_keys.len() as i64),
        ("hr".to_owned(), acknowledged_keys.len() as i64),
    ];
    expected_undelivered.sort();
    assert_eq!(
        undelivered, expected_undelivered,
        "at the kill, both sinks had the batch and the outbox had marked neither"
    );

    // Rerun: the backfill resumes and the outbox is delivered again.
    assert_code(
        &run_binary(backfill_args(&rig, true), rig.env.clone()).await,
        0,
    );

    let truth = truth(&rig.sim, rig.as_of).await;
    let store = rig.store();
    assert!(store.outbox_backlog().unwrap().values().all(|&n| n == 0));
    let journal: BTreeSet<String> = store
        .all_corrections()
        .unwrap()
        .into_iter()
        .map(|stored| stored.correction.idempotency_key)
        .collect();
    // The file: each correction exactly once.
    let mut in_file: BTreeMap<String, u32> = BTreeMap::new();
    for line in std::fs::read_to_string(&file).unwrap().lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let key = value["idempotency_key"].as_str().unwrap().to_owned();
        *in_file.entry(key).or_default() += 1;
    }
    assert_eq!(in_file.keys().cloned().collect::<BTreeSet<_>>(), journal);
    assert!(in_file.values().all(|&n| n == 1), "{in_file:?}");
    // The webhook: the acknowledged batch came again with the same Idempotency-Key, and every
    // correction arrived.
    let receiver = receiver.lock().unwrap();
    let resent: Vec<&String> = receiver.batches[1..]
        .iter()
        .filter(|(_, keys)| *keys == acknowledged_keys)
        .map(|(header, _)| header)
        .collect();
    assert_eq!(resent, vec![&acknowledged_header], "{:?}", receiver.batches);
    assert_eq!(acknowledged_header.len(), 64);
    assert_eq!(
        receiver.received.keys().cloned().collect::<BTreeSet<_>>(),
        journal
    );
    assert_eq!(receiver.bad_signatures, 0);
    // And the journal is the world's truth.
    assert!(truth.iter().all(|key| key.class != "supply_reverted"));
    assert_journal_is_the_truth(&journaled(&store), &truth);
}
