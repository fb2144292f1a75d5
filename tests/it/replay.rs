//! `sink replay`: a sink added after corrections were applied receives them, exactly once.

use std::collections::BTreeMap;

use crate::support::bin::{Rig, assert_code, stderr};

const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-09";

/// idempotency key → times it is in the file.
fn keys_in(file: &std::path::Path) -> BTreeMap<String, u32> {
    let mut keys = BTreeMap::new();
    for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let key = value["idempotency_key"].as_str().unwrap().to_owned();
        *keys.entry(key).or_default() += 1;
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_added_after_a_backfill_receives_its_corrections_once_replayed_twice() {
    // Arrange: a backfill with no sink, then a file sink added to the config.
    let rig = Rig::new(41).await;
    assert_code(
        &rig.bin(&["backfill", "--from", FROM, "--to", TO, "--yes"])
            .await,
        0,
    );
    let journal: Vec<String> = rig
        .store()
        .all_corrections()
        .unwrap()
        .into_iter()
        .map(|stored| stored.correction.idempotency_key)
        .collect();
    assert!(!journal.is_empty(), "the world has corrections");
    let file = rig.dir.path().join("late.jsonl");
    rig.write_config(&format!(
        "[[sink]]\nname = \"late\"\nkind = \"file\"\npath = {:?}\n",
        file.display().to_string()
    ));
    // A nightly run alone delivers nothing of the past to it.
    assert_code(&rig.bin(&["run"]).await, 0);
    assert!(keys_in(&file).keys().all(|key| !journal.contains(key)));

    // Act: replay the range, twice.
    let first = rig
        .bin(&[
            "sink", "replay", "--sink", "late", "--from", FROM, "--to", TO,
        ])
        .await;
    let second = rig
        .bin(&[
            "sink", "replay", "--sink", "late", "--from", FROM, "--to", TO,
        ])
        .await;

    // Assert: every correction of the range once, the second replay queued nothing.
    assert_code(&first, 0);
    assert_code(&second, 0);
    let in_file = keys_in(&file);
    for key in &journal {
        assert_eq!(in_file.get(key), Some(&1), "{key} exactly once");
    }
    assert!(
        stderr(&first).contains(&format!(
            "{} correction(s) of {FROM} .. {TO} queued",
            journal.len()
        )),
        "{}",
        stderr(&first)
    );
    assert!(
        stderr(&second).contains("0 correction(s)"),
        "{}",
        stderr(&second)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_to_a_sink_that_is_not_configured_is_a_configuration_error_naming_it() {
    let rig = Rig::new(41).await;
    let output = rig
        .bin(&[
            "sink", "replay", "--sink", "nope", "--from", FROM, "--to", TO,
        ])
        .await;
    assert_code(&output, 78);
    assert!(stderr(&output).contains("\"nope\""), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("configured: none"),
        "{}",
        stderr(&output)
    );
}
