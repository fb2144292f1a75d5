//! Reliability: the real binary killed (SIGKILL) at arbitrary points of a backfill and rerun with
//! `--resume` ends with exactly the ledger, journal and snapshot of an uninterrupted backfill.

use std::collections::BTreeMap;

use crate::support::bin::{Rig, assert_code, binary, run_binary};

const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-09";

/// Everything a crash could damage, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// idempotency key → (class, slot key, after state).
    corrections: BTreeMap<String, String>,
    /// slot key → ledger state and cause.
    ledger: BTreeMap<String, String>,
    /// slot key → slot state.
    snapshot: BTreeMap<String, String>,
}

fn outcome(rig: &Rig) -> Outcome {
    let store = rig.store();
    let date = |raw: &str| chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap();
    let slots = store
        .snapshot_slots(None, date(FROM), date(TO))
        .expect("snapshot");
    let keys: Vec<_> = slots.keys().cloned().collect();
    let ledger = store.ledger_rows(&keys).expect("ledger");
    Outcome {
        corrections: store
            .all_corrections()
            .expect("corrections")
            .into_iter()
            .map(|stored| {
                let c = stored.correction;
                (
                    c.idempotency_key.clone(),
                    format!("{} {} {:?}", c.class, c.slot_key, c.after),
                )
            })
            .collect(),
        ledger: ledger
            .into_iter()
            .map(|(key, row)| {
                (
                    key.canonical(),
                    format!(
                        "{:?} {} {:?}",
                        row.state, row.cause_class, row.cause_process_instance_id
                    ),
                )
            })
            .collect(),
        snapshot: slots
            .into_iter()
            .map(|(key, stored)| {
                (
                    key.canonical(),
                    format!("{:?} {}", stored.slot, stored.present),
                )
            })
            .collect(),
    }
}

fn backfill_args(rig: &Rig, resume: bool) -> Vec<String> {
    let mut args = vec![
        "--config".to_owned(),
        rig.config_path().display().to_string(),
        "--as-of".to_owned(),
        rig.as_of.to_rfc3339(),
        "backfill".to_owned(),
        "--from".to_owned(),
        FROM.to_owned(),
        "--to".to_owned(),
        TO.to_owned(),
        "--yes".to_owned(),
    ];
    if resume {
        args.push("--resume".to_owned());
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_at_any_point_and_resumed_ends_identical_to_an_uninterrupted_one() {
    // Arrange: the same seed gives both rigs the same world.
    let reference = Rig::new(41).await;
    let started = std::time::Instant::now();
    let output = run_binary(backfill_args(&reference, false), Vec::new()).await;
    let uninterrupted = started.elapsed();
    assert_code(&output, 0);
    let expected = outcome(&reference);
    assert!(
        !expected.corrections.is_empty(),
        "the world has corrections to find"
    );

    let crashed = Rig::new(41).await;
    let mut kills = 0;
    // Act: start, kill -9 after a growing delay, start again (resuming) — many times over.
    // Kill points spread over the length of an uninterrupted run (process start included).
    let fractions = [0.05, 0.15, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.95];
    for (attempt, fraction) in fractions.into_iter().enumerate() {
        let delay = uninterrupted.mul_f64(fraction);
        let args = backfill_args(&crashed, attempt > 0);
        let mut child = tokio::task::spawn_blocking(move || {
            binary()
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("the binary starts")
        })
        .await
        .unwrap();
        tokio::time::sleep(delay).await;
        if child.try_wait().expect("child status").is_none() {
            child.kill().expect("SIGKILL delivered");
            kills += 1;
        }
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    }
    let output = run_binary(backfill_args(&crashed, true), Vec::new()).await;
    assert_code(&output, 0);
    // A second resume finds nothing left to do and changes nothing.
    let again = run_binary(backfill_args(&crashed, true), Vec::new()).await;
    assert_code(&again, 0);

    // Assert.
    assert!(
        kills >= 3,
        "only {kills} runs were killed mid-way (uninterrupted: {uninterrupted:?})"
    );
    let actual = outcome(&crashed);
    assert_eq!(actual.corrections, expected.corrections);
    assert_eq!(actual.ledger, expected.ledger);
    assert_eq!(actual.snapshot.len(), expected.snapshot.len());
    assert_eq!(actual.snapshot, expected.snapshot);
}
