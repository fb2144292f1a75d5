//! The README's first command: `dingtalk-reconcile demo`, on a small company so it stays quick;
//! and, in a build without the simulator, what `demo` and `sim` say instead.

use crate::support::bin::binary;

#[cfg(feature = "sim")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reconciles_a_month_and_matches_the_simulators_truth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("demo.db");
    let demo_store = store.clone();
    let output = tokio::task::spawn_blocking(move || {
        binary()
            .args(["demo", "--employees", "12", "--seed", "3", "--store"])
            .arg(&demo_store)
            .env("RECON_LOG", "warn")
            .output()
            .expect("demo runs")
    })
    .await
    .expect("the demo's runner finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stderr}",
        output.status
    );
    // The report is on stdout, the demo's own lines on stderr.
    assert!(stdout.contains("考勤核对报告 · 运行 #"), "{stdout}");
    assert!(!stdout.contains("demo:"), "{stdout}");
    let verdict = stderr
        .lines()
        .find(|line| line.contains("against the simulator's ground truth"))
        .unwrap_or_else(|| panic!("no verdict line in\n{stderr}"));
    assert!(verdict.contains(", 0 wrong"), "{verdict}");
    let (found, of) = verdict
        .split("ground truth: ")
        .nth(1)
        .and_then(|rest| rest.split(" found").next())
        .and_then(|counts| counts.split_once(" of "))
        .expect("found/of counts");
    assert_eq!(found, of, "{verdict}");
    assert!(store.exists());
    assert!(store.with_extension("toml").exists());
    ledger_equals_the_truth_once_per_key(&store).await;
}

/// The demo's journal against the truth of the same world, counted per key so that a
/// correction applied twice fails: the world the demo serves (seed 3, 12 employees, October
/// 2026 and the day after it), its backfill the night after the month, its nightly pass a night
/// later. A 补卡 applied and revoked before the backfill's first look is invisible to any poller.
#[cfg(feature = "sim")]
async fn ledger_equals_the_truth_once_per_key(store: &std::path::Path) {
    use std::collections::BTreeMap;

    use crate::support::truth::{Key, journaled};
    use crate::support::{date, night, open_store, start_sim};

    let mut config = dingtalk_sim::SimConfig::new(3, 12);
    config.from = date("2026-10-01");
    config.days = 32;
    let sim = start_sim(config).await;
    let (backfill_at, nightly_at) = (night(date("2026-11-01")), night(date("2026-11-02")));
    let world = sim.world();
    let mut truth: BTreeMap<Key, usize> = BTreeMap::new();
    for t in sim.truth(nightly_at) {
        let unseen = t
            .process_instance_id
            .as_deref()
            .and_then(|id| world.instance(id))
            .and_then(|i| i.reverted_ms)
            .is_some_and(|at| at <= backfill_at.timestamp_millis());
        if !unseen {
            let key = Key::from(t);
            *truth.entry(key).or_default() += 1;
        }
    }
    assert!(!truth.is_empty(), "the demo's month has corrections");
    let mut journal: BTreeMap<Key, usize> = BTreeMap::new();
    for key in journaled(&open_store(store)) {
        *journal.entry(key).or_default() += 1;
    }
    assert_eq!(journal, truth, "journal entries per key against the truth");
}

#[cfg(not(feature = "sim"))]
#[test]
fn without_the_simulator_demo_and_sim_say_the_build_lacks_it_and_exit_78() {
    for args in [&["demo"][..], &["sim", "--port", "8900"][..]] {
        let output = binary().args(args).output().expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{args:?}: {stderr}");
        assert!(stderr.contains("--features sim"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
