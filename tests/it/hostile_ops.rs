//! Issue 10, operations: the real binary where the machine around it is hostile. DingTalk
//! unreachable or answering only 500s gives the same exit code to `run`, `backfill` and `plan`;
//! a lock whose holder is gone (its pid reused, its heartbeat stale) is taken over and the run it
//! left behind shows as abandoned; unusable store and metrics paths are configuration errors
//! naming their key before any DingTalk call.

use dingtalk_sim::{FaultKind, FaultRule};

use crate::support::bin::{Rig, assert_code, stderr};
use crate::support::refusing_port;

/// The commands that reach DingTalk, each as the binary takes it.
const REACHING_COMMANDS: [&[&str]; 3] = [
    &["run"],
    &[
        "backfill",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-09",
        "--yes",
    ],
    &["plan"],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_backfill_and_plan_all_exit_three_when_dingtalk_is_unreachable() {
    let rig = Rig::new(101).await;
    let (_refusing, port) = refusing_port();
    let closed = format!("http://127.0.0.1:{port}");
    std::fs::write(rig.config_path(), rig.config_text(&closed, "")).unwrap();

    for command in REACHING_COMMANDS {
        let output = rig.bin(command).await;
        assert_code(&output, 3);
        assert!(
            stderr(&output).contains("error:"),
            "{command:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(rig.store().lock_holder().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_backfill_and_plan_all_exit_three_in_a_storm_of_500s() {
    let rig = Rig::new(102).await;
    let mut storm = FaultRule::new(None, FaultKind::ServerError { status: 500 });
    storm.times = 1_000_000;

    for command in REACHING_COMMANDS {
        rig.sim.state().arm_faults(vec![storm.clone()]);
        let output = rig.bin(command).await;
        assert_code(&output, 3);
    }
    assert_eq!(rig.sim.stats().metered, 0, "DingTalk answered nothing");
    assert_eq!(rig.store().lock_holder().unwrap(), None);
}
