//! The DingTalk group robot sink, end to end: the real binary against the simulator, posting to a
//! local robot that checks the 加签 signature as DingTalk does. Each report goes to the group
//! once by key: after an outage it comes on a later night, after a crash between sending and
//! recording it comes again under the same key, and the month's report comes once, on or after
//! `[report] monthly_day` and only once the month is reconciled.

use chrono::{Duration, TimeZone};

use crate::support::SHANGHAI;
use crate::support::bin::{Rig, assert_code, run_binary, stdout};
use crate::support::robot::{Mode, Shared, set_mode, spawn_robot};
use crate::support::stop;

const TOKEN: &str = "robot-token-0123";
const SECRET: &str = "SECrobot-secret-4567";
const URL_ENV: &str = "RECONCILE_TEST_ROBOT_WEBHOOK";
const SECRET_ENV: &str = "RECONCILE_TEST_ROBOT_SECRET";

/// A rig whose config has one robot sink sending `send`, plus `extra` TOML.
async fn rig_with_robot(seed: u64, days: Option<u32>, send: &str, extra: &str) -> (Rig, Shared) {
    let (url, robot) = spawn_robot(TOKEN, SECRET).await;
    let mut rig = match days {
        Some(days) => Rig::with(seed, |config| config.days = days).await,
        None => Rig::new(seed).await,
    };
    rig.env.push((URL_ENV.to_owned(), url));
    rig.env.push((SECRET_ENV.to_owned(), SECRET.to_owned()));
    rig.write_config(&format!(
        "{extra}\n[[sink]]\nname = \"hr-group\"\nkind = \"dingtalk_robot\"\n\
         webhook_env = \"{URL_ENV}\"\nsecret_env = \"{SECRET_ENV}\"\nsend = {send}\n"
    ));
    (rig, robot)
}

/// The journal's rows: (report key, delivered, attempts).
fn journal(rig: &Rig) -> Vec<(String, bool, i64)> {
    let conn = rusqlite::Connection::open(rig.store_path()).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT report_key, delivered_at_ms IS NOT NULL, attempts FROM report_deliveries \
             ORDER BY report_key",
        )
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// As though the backoff had passed: every failed report is due again.
fn backoff_elapsed(rig: &Rig) {
    let conn = rusqlite::Connection::open(rig.store_path()).unwrap();
    conn.execute(
        "UPDATE report_deliveries SET next_attempt_ms = 0 WHERE delivered_at_ms IS NULL",
        [],
    )
    .unwrap();
}

async fn night(rig: &Rig) {
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 0);
}

fn counts(robot: &Shared) -> std::collections::BTreeMap<String, u32> {
    robot.lock().unwrap().by_key()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_night_the_group_gets_the_signed_nightly_summary_once() {
    // Arrange
    let (rig, robot) = rig_with_robot(71, None, "[\"nightly_summary\"]", "").await;
    // Act
    night(&rig).await;
    // Assert
    {
        let got = robot.lock().unwrap();
        assert_eq!(got.bad_signatures, 0);
        assert_eq!(got.messages.len(), 1, "{:?}", got.messages);
        let message = &got.messages[0];
        assert_eq!(message.key, "nightly_summary:run:1");
        assert!(message.text.chars().count() <= 4000, "{}", message.text);
        assert!(message.text.contains("考勤核对"), "{}", message.text);
        assert!(message.title.contains("运行 #1"), "{}", message.title);
        assert!(!message.text.contains(TOKEN) && !message.text.contains(SECRET));
    }
    assert_eq!(
        journal(&rig),
        vec![("nightly_summary:run:1".into(), true, 0)]
    );
    // A robot takes no corrections: nothing of it waits in the outbox.
    let conn = rusqlite::Connection::open(rig.store_path()).unwrap();
    let queued: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox WHERE sink = 'hr-group'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(queued, 0);
    // `status` shows the journal and counts the robot's messages apart (real clock: the
    // message was sent now).
    let config = rig.config_path().display().to_string();
    let status = run_binary(
        vec!["--config".into(), config, "status".into()],
        rig.env.clone(),
    )
    .await;
    assert_code(&status, 0);
    let text = stdout(&status);
    assert!(
        text.contains("hr-group (dingtalk_robot): 1 delivered, 0 waiting, 0 failing"),
        "{text}"
    );
    assert!(text.contains("robot messages this month: 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_both_nights_summaries_arrive_each_once() {
    // Arrange
    let (mut rig, robot) = rig_with_robot(72, None, "[\"nightly_summary\"]", "").await;
    // Act: the first night meets "send too fast", the second an HTTP 500 …
    set_mode(&robot, Mode::TooFast);
    night(&rig).await;
    assert_eq!(
        journal(&rig),
        vec![("nightly_summary:run:1".into(), false, 1)]
    );
    let config = rig.config_path().display().to_string();
    let status = run_binary(
        vec!["--config".into(), config, "status".into()],
        rig.env.clone(),
    )
    .await;
    let text = stdout(&status);
    assert!(text.contains("0 delivered, 0 waiting, 1 failing"), "{text}");
    assert!(text.contains("130101"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    backoff_elapsed(&rig);
    set_mode(&robot, Mode::Down);
    rig.as_of += Duration::minutes(10);
    night(&rig).await;
    assert!(counts(&robot).is_empty());
    // … the third night finds the robot back.
    set_mode(&robot, Mode::Up);
    backoff_elapsed(&rig);
    rig.as_of += Duration::minutes(10);
    night(&rig).await;
    // Assert
    let expected: std::collections::BTreeMap<String, u32> = [1, 2, 3]
        .into_iter()
        .map(|run| (format!("nightly_summary:run:{run}"), 1))
        .collect();
    assert_eq!(counts(&robot), expected);
    assert!(journal(&rig).iter().all(|(_, delivered, _)| *delivered));
    // Another night sends only its own.
    rig.as_of += Duration::minutes(10);
    night(&rig).await;
    assert_eq!(counts(&robot).len(), 4);
    assert!(counts(&robot).values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_sending_and_recording_resends_the_same_key_and_loses_nothing() {
    // Arrange: the robot records the message, then holds its answer.
    let (mut rig, robot) = rig_with_robot(73, None, "[\"nightly_summary\"]", "").await;
    set_mode(&robot, Mode::Hold);
    // Act: killed while the robot holds the answer: sent, not recorded.
    let mut running = stop::spawn(rig.args(&["run"]), rig.env.clone());
    let held = robot.clone();
    running
        .until("the robot got the summary", || {
            !held.lock().unwrap().messages.is_empty()
        })
        .await;
    running.signal("KILL");
    let finished = running.finish().await;
    assert_eq!(finished.code, None, "killed: {}", finished.stderr);
    set_mode(&robot, Mode::Up);
    assert_eq!(
        journal(&rig),
        vec![("nightly_summary:run:1".into(), false, 0)]
    );
    // The rerun (the killed run's lock goes stale with its process) sends it again.
    rig.as_of += Duration::minutes(10);
    night(&rig).await;
    // Assert: the same key came twice (at-least-once), deduplicated by key nothing is lost and
    // nothing is extra.
    let got = counts(&robot);
    assert_eq!(got.get("nightly_summary:run:1"), Some(&2), "{got:?}");
    let runs: Vec<&String> = got.keys().collect();
    assert_eq!(
        runs,
        vec!["nightly_summary:run:1", "nightly_summary:run:2"],
        "{got:?}"
    );
    assert!(journal(&rig).iter().all(|(_, delivered, _)| *delivered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_report_comes_once_on_its_day_and_only_once_the_month_is_reconciled() {
    // Arrange: October in full, the robot taking the monthly report only.
    let (mut rig, robot) = rig_with_robot(
        74,
        Some(31),
        "[\"monthly_report\"]",
        "[report]\nmonthly_day = 3\n",
    )
    .await;
    let at = |day: u32| {
        SHANGHAI
            .with_ymd_and_hms(2026, 11, day, 2, 0, 0)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    // Act + Assert: 11-02, before the day, with October reconciled: nothing.
    rig.as_of = at(2);
    let backfill = rig
        .bin(&[
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--yes",
        ])
        .await;
    assert_code(&backfill, 0);
    night(&rig).await;
    assert!(counts(&robot).is_empty(), "{:?}", counts(&robot));
    // 11-03, the day: the report of October, once.
    rig.as_of = at(3);
    night(&rig).await;
    rig.as_of = at(4);
    night(&rig).await;
    let got = robot.lock().unwrap();
    assert_eq!(
        got.by_key().into_iter().collect::<Vec<_>>(),
        vec![("monthly_report:2026-10".to_owned(), 1)]
    );
    assert!(
        got.messages[0].title.contains("2026-10"),
        "{}",
        got.messages[0].title
    );
    assert!(got.messages[0].text.chars().count() <= 4000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_report_waits_for_the_month_to_be_reconciled() {
    // Arrange: October in full, but only the nightly window of it read.
    let (mut rig, robot) = rig_with_robot(
        75,
        Some(31),
        "[\"monthly_report\"]",
        "[report]\nmonthly_day = 3\n",
    )
    .await;
    rig.as_of = SHANGHAI
        .with_ymd_and_hms(2026, 11, 5, 2, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    // Act: past the day, but the nights have read only their window of October.
    night(&rig).await;
    // Assert
    assert!(counts(&robot).is_empty(), "{:?}", counts(&robot));
    assert!(journal(&rig).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signing_secret_is_refused_and_named_without_the_secrets() {
    // Arrange: the robot's 加签 secret is not the one configured.
    let (mut rig, robot) = rig_with_robot(76, None, "[\"nightly_summary\"]", "").await;
    for (key, value) in &mut rig.env {
        if key == SECRET_ENV {
            *value = "SECnot-the-robots-secret".to_owned();
        }
    }
    // Act: a refused delivery does not fail the run.
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 0);
    let log = crate::support::bin::stderr(&output);
    assert!(log.contains("310000"), "{log}");
    assert!(!log.contains(TOKEN) && !log.contains("SECnot-the"), "{log}");
    // Assert
    assert_eq!(robot.lock().unwrap().bad_signatures, 1);
    assert!(counts(&robot).is_empty());
    let config = rig.config_path().display().to_string();
    let status = run_binary(
        vec!["--config".into(), config, "status".into()],
        rig.env.clone(),
    )
    .await;
    let text = stdout(&status);
    assert!(text.contains("1 failing"), "{text}");
    assert!(
        text.contains("310000") && text.contains("sign not match"),
        "{text}"
    );
    assert!(
        !text.contains(TOKEN) && !text.contains("SECnot-the"),
        "{text}"
    );
}
