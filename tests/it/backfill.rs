//! Backfills meeting failures: a chunk whose items failed does not hold up the others, and is
//! tried again before the backfill ends.

use dingtalk_sim::{FaultKind, FaultRule};

use crate::support::bin::{Rig, assert_code, run_binary, stderr};
use crate::support::truth::{assert_journal_is_the_truth, journaled, visible_to_a_backfill};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_first_chunk_of_a_backfill_lists_the_approvals_the_others_reuse_its_window() {
    let rig = Rig::new(52).await;

    // Act
    let output = run_binary(backfill_args(&rig), Vec::new()).await;

    // Assert: listing calls by run: the first chunk lists, the second lists nothing, and the
    // journal is the truth a backfill can see.
    assert_code(&output, 0);
    let db = rusqlite::Connection::open(rig.store_path()).unwrap();
    let listings: Vec<(i64, i64)> = db
        .prepare(
            "SELECT r.id, (SELECT count(*) FROM calls c WHERE c.run_id = r.id
                 AND c.endpoint = '/v1.0/workflow/processes/instanceIds/query')
             FROM runs r ORDER BY r.id",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(listings.len(), 2, "{listings:?}");
    assert!(listings[0].1 > 0, "{listings:?}");
    assert_eq!(listings[1].1, 0, "{listings:?}");
    assert_journal_is_the_truth(
        &journaled(&rig.store()),
        &visible_to_a_backfill(&rig.sim, rig.as_of).await,
    );
}
