//! Backfills meeting failures: a chunk whose items failed does not hold up the others, and is
//! tried again before the backfill ends.

use dingtalk_sim::{FaultKind, FaultRule};

use crate::support::bin::{Rig, assert_code, run_binary, stderr};
use crate::support::truth::journaled;

const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-09";

fn backfill_args(rig: &Rig) -> Vec<String> {
    rig.args(&["backfill", "--from", FROM, "--to", TO, "--yes"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_with_failed_items_is_come_back_to_after_the_others_and_the_backfill_finishes() {
    // Arrange: the same seed gives both rigs the same world; the second meets a 503 on every
    // attempt of its first results call and of the run's own retry of it (4 attempts each), so
    // the first week's results batch fails for good in its run.
    let reference = Rig::new(52).await;
    assert_code(&run_binary(backfill_args(&reference), Vec::new()).await, 0);
    let expected = journaled(&reference.store());
    assert!(!expected.is_empty(), "the world has corrections to find");

    let rig = Rig::new(52).await;
    let mut rule = FaultRule::new(
        Some("/attendance/list"),
        FaultKind::ServerError { status: 503 },
    );
    rule.times = 8;
    rig.sim.arm_faults(vec![rule]);

    // Act.
    let output = run_binary(backfill_args(&rig), Vec::new()).await;

    // Assert: done in one invocation, without `--resume`, with the reference's journal; the
    // first week ran twice (failed, then again after the second week).
    assert_code(&output, 0);
    assert!(
        stderr(&output).contains("coming back to 1 chunk"),
        "stderr:\n{}",
        stderr(&output)
    );
    assert_eq!(journaled(&rig.store()), expected);
    // Without a terminal: one line per chunk, and one closing line.
    let text = stderr(&output);
    let chunk_lines: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("backfill chunk "))
        .collect();
    assert_eq!(chunk_lines.len(), 3, "{text}");
    assert!(chunk_lines[0].starts_with("backfill chunk 2026-10-01 .. 2026-10-07: partial"));
    assert!(chunk_lines[1].starts_with("backfill chunk 2026-10-08 .. 2026-10-09: done"));
    assert!(chunk_lines[2].starts_with("backfill chunk 2026-10-01 .. 2026-10-07: done"));
    let closing = format!(
        "backfill 2026-10-01 .. 2026-10-09: done — {} corrections applied",
        expected.len()
    );
    assert!(
        text.lines()
            .last()
            .is_some_and(|line| line.starts_with(&closing)),
        "{text}"
    );
    let db = rusqlite::Connection::open(rig.store_path()).unwrap();
    let windows: Vec<String> = db
        .prepare("SELECT window_from || ' ' || outcome FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        windows,
        ["2026-10-01 partial", "2026-10-08 done", "2026-10-01 done"],
        "runs in order"
    );
}
