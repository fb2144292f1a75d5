//! The first contact with the tool: `init`, and flags offered only where they work.

use crate::support::bin::{Rig, assert_code, binary, stderr, stdout};

fn help(command: &str) -> String {
    let output = binary().args([command, "--help"]).output().unwrap();
    assert_code(&output, 0);
    stdout(&output)
}

#[test]
fn each_command_offers_only_the_flags_it_uses() {
    let daemon = help("daemon");
    assert!(!daemon.contains("--as-of"), "{daemon}");
    assert!(daemon.contains("--config"), "{daemon}");
    let sim = help("sim");
    assert!(!sim.contains("--config"), "{sim}");
    for command in [
        "run", "backfill", "plan", "report", "status", "explain", "doctor",
    ] {
        let text = help(command);
        assert!(
            text.contains("--config") && text.contains("--as-of"),
            "{command}: {text}"
        );
    }
    let init = help("init");
    assert!(
        !init.contains("--as-of") && !init.contains("--config"),
        "{init}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_as_of_work_after_the_command_as_before_it() {
    let rig = Rig::new(41).await;
    let config = rig.config_path().display().to_string();
    let as_of = rig.as_of.to_rfc3339();
    let output = binary()
        .args(["plan", "--config", &config, "--as-of", &as_of])
        .output()
        .unwrap();
    assert_code(&output, 0);
    let before = binary()
        .args(["--config", &config, "--as-of", &as_of, "plan"])
        .output()
        .unwrap();
    assert_code(&before, 0);
    assert_eq!(stdout(&output), stdout(&before));
}

#[test]
fn init_writes_a_starting_config_once_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.toml");
    let output = binary()
        .args(["init", "--output", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_code(&output, 0);
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("[dingtalk]") && written.contains("monthly_budget"));
    assert!(stderr(&output).contains("next:"), "{}", stderr(&output));
    std::fs::write(&path, "# edited by hand\n").unwrap();
    let again = binary()
        .args(["init", "--output", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_code(&again, 1);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "# edited by hand\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_before_the_first_run_says_there_is_no_store_and_creates_none() {
    let rig = Rig::new(41).await;
    let output = rig.bin(&["status"]).await;
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains("no store yet"),
        "{}",
        stdout(&output)
    );
    assert!(!rig.store_path().exists(), "status created the store");
    let report = rig.bin(&["report"]).await;
    assert_code(&report, 1);
    assert!(
        stderr(&report).contains("no store yet"),
        "{}",
        stderr(&report)
    );
    assert!(!rig.store_path().exists(), "report created the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_is_shown_apart_and_not_projected_over_the_month() {
    // Arrange: a backfill early in the month is all the month has spent.
    let rig = Rig::new(41).await;
    assert_code(
        &rig.bin(&[
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--yes",
        ])
        .await,
        0,
    );
    // Act
    let output = rig.bin(&["status", "--format", "json"]).await;
    // Assert: the projection is the backfill's spending once, not its pace over the month.
    assert_code(&output, 0);
    let status: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let quota = &status["quota"];
    let used = quota["used"].as_u64().unwrap();
    assert!(used > 0);
    assert_eq!(quota["backfill"].as_u64(), Some(used), "{quota}");
    assert_eq!(quota["projected"].as_u64(), Some(used), "{quota}");
    let text = stdout(&rig.bin(&["status"]).await);
    assert!(
        text.contains("by backfills and checks, not projected"),
        "{text}"
    );
    assert!(!text.contains("OVER BUDGET"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ends_with_one_closing_line_unless_it_prints_its_report() {
    let rig = Rig::new(41).await;
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "", "a run prints nothing on stdout");
    let text = stderr(&output);
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("run #1: done — "), "{text}");
    for part in [
        "applied",
        "pending",
        "metered call",
        "budget left in 2026-10",
    ] {
        assert!(last.contains(part), "{part} in {last}");
    }
    let reported = rig.bin(&["run", "--report"]).await;
    assert_code(&reported, 0);
    assert!(
        !stderr(&reported).contains("run #2: done — "),
        "{}",
        stderr(&reported)
    );
}
