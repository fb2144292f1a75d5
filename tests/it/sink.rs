//! Delivery of journaled corrections to sinks, against a real store and the local webhook
//! receiver of `support::webhook`, which verifies signatures, records every key it receives and
//! counts anything sent again after it acknowledged it.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use dingtalk_reconcile::domain::{
    ChangeClass, Correction, LedgerState, SlotDiscriminator, SlotKey, SourceType, TimeResult,
    UserId,
};
use dingtalk_reconcile::report::build::correction_line;
use dingtalk_reconcile::sink::{
    Delivers, FileSink, SinkConfig, SinkKind, WebhookSink, deliver_due,
};
use dingtalk_reconcile::store::{ApplyBatch, NewRun, Store};
use secrecy::SecretString;

use crate::support::webhook::{Mode, set_mode, spawn_receiver};

const SECRET: &str = "test-signing-secret-9f2c";

fn t0() -> DateTime<Utc> {
    "2026-11-04T18:10:00Z".parse().unwrap()
}

fn after(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

fn correction(idx: usize) -> Correction {
    let slot_key = SlotKey {
        user_id: UserId::new(format!("{:04}", idx % 40)).unwrap(),
        work_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
            + chrono::Days::new((idx / 40) as u64),
        discriminator: SlotDiscriminator::Plan(1_000 + idx as i64),
    };
    let proc = format!("proc-{idx}");
    Correction {
        idempotency_key: format!("supply:{proc}:{slot_key}"),
        slot_key,
        class: ChangeClass::SupplyApplied,
        before: Some(LedgerState {
            time_result: TimeResult::NotSigned,
            check_time: None,
            source_type: SourceType::System,
            process_instance_id: None,
        }),
        after: LedgerState {
            time_result: TimeResult::Normal,
            check_time: Some(t0()),
            source_type: SourceType::Approve,
            process_instance_id: Some(proc.clone()),
        },
        before_observed: true,
        process_instance_id: Some(proc),
        business_id: None,
        approved_at: None,
    }
}

/// Journals corrections `range` in a new run, queued for `sinks`.
fn journal(store: &mut Store, range: std::ops::Range<usize>, sinks: &[&str], at: DateTime<Utc>) {
    let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let run_id = store
        .begin_run(&NewRun {
            kind: dingtalk_reconcile::store::RunKind::Nightly,
            trigger: "test".into(),
            as_of: at,
            window_from: day,
            window_to: day,
            plan_json: "{}".into(),
            started_at: at,
        })
        .unwrap();
    let batch = ApplyBatch {
        applied_at: at,
        corrections: range.map(correction).collect(),
        sinks: sinks.iter().map(|name| (*name).to_owned()).collect(),
        ..ApplyBatch::default()
    };
    store.apply_batch(run_id, &batch).unwrap();
}

fn webhook(name: &str, url: &url::Url, secret: &str) -> SinkConfig {
    SinkConfig {
        name: name.into(),
        kind: SinkKind::Webhook(WebhookSink {
            url: url.clone(),
            secret: Some(SecretString::from(secret.to_owned())),
            timeout: Duration::from_secs(10),
        }),
        send: vec![Delivers::Corrections],
    }
}

#[tokio::test]
async fn webhook_batches_are_signed_verified_and_never_sent_again_once_acknowledged() {
    // Arrange
    let (url, receiver) = spawn_receiver(SECRET).await;
    let mut store = Store::open_in_memory().unwrap();
    journal(&mut store, 0..250, &["hr"], t0());
    let sinks = [webhook("hr", &url, SECRET)];
    let http = reqwest::Client::new();

    // Act
    let first = deliver_due(&mut store, &sinks, t0(), &http).await;
    let second = deliver_due(&mut store, &sinks, after(3600), &http).await;

    // Assert
    assert_eq!((first.delivered(), first.failed()), (250, 0), "{first:?}");
    assert_eq!((second.delivered(), second.failed()), (0, 0), "{second:?}");
    let receiver = receiver.lock().unwrap();
    assert_eq!(receiver.requests, 3);
    assert_eq!(receiver.bad_signatures, 0);
    assert_eq!(receiver.batch_sizes, vec![100, 100, 50]);
    assert!(
        receiver.batch_keys.iter().all(|key| key.len() == 64),
        "{:?}",
        receiver.batch_keys
    );
    assert_eq!(receiver.received.len(), 250);
    assert!(receiver.received.values().all(|times| *times == 1));
    assert!(!store.outbox_backlog().unwrap().contains_key("hr"));
}

#[tokio::test]
async fn a_receiver_outage_then_recovery_redelivers_everything_and_nothing_twice_after_a_2xx() {
    // Arrange
    let (url, receiver) = spawn_receiver(SECRET).await;
    let mut store = Store::open_in_memory().unwrap();
    journal(&mut store, 0..250, &["hr"], t0());
    let sinks = [webhook("hr", &url, SECRET)];
    let http = reqwest::Client::new();

    // Act: two runs while the receiver is down, one whose acknowledgement is lost, then up.
    set_mode(&receiver, Mode::Down);
    let down = deliver_due(&mut store, &sinks, t0(), &http).await;
    let still_down = deliver_due(&mut store, &sinks, after(30), &http).await;
    set_mode(&receiver, Mode::AckLost);
    let ack_lost = deliver_due(&mut store, &sinks, after(600), &http).await;
    set_mode(&receiver, Mode::Up);
    let recovered = deliver_due(&mut store, &sinks, after(1200), &http).await;
    let later = deliver_due(&mut store, &sinks, after(86_400), &http).await;

    // Assert
    assert_eq!((down.delivered(), down.failed()), (0, 100), "{down:?}");
    assert!(
        down.errors().any(|error| error.contains("HTTP 500")),
        "{down:?}"
    );
    // The failed batch waits out its backoff; the next one is tried and fails too.
    assert_eq!(
        (still_down.delivered(), still_down.failed()),
        (0, 100),
        "{still_down:?}"
    );
    assert_eq!(
        (ack_lost.delivered(), ack_lost.failed()),
        (0, 100),
        "{ack_lost:?}"
    );
    assert_eq!(
        (recovered.delivered(), recovered.failed()),
        (250, 0),
        "{recovered:?}"
    );
    assert_eq!((later.delivered(), later.failed()), (0, 0), "{later:?}");
    let receiver = receiver.lock().unwrap();
    assert_eq!(receiver.received.len(), 250, "every correction arrived");
    assert_eq!(
        receiver.acknowledged.len(),
        250,
        "every correction acknowledged"
    );
    let duplicates: u32 = receiver.received.values().map(|times| times - 1).sum();
    assert_eq!(
        duplicates, 100,
        "only the batch whose acknowledgement was lost came twice"
    );
    assert_eq!(receiver.resent_after_ack, 0);
    assert!(!store.outbox_backlog().unwrap().contains_key("hr"));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_receiver_and_never_appears_in_the_errors() {
    let (url, receiver) = spawn_receiver(SECRET).await;
    let mut store = Store::open_in_memory().unwrap();
    journal(&mut store, 0..3, &["hr"], t0());
    let sinks = [webhook("hr", &url, "wrong-secret-value")];

    let report = deliver_due(&mut store, &sinks, t0(), &reqwest::Client::new()).await;

    assert_eq!((report.delivered(), report.failed()), (0, 3));
    let errors: Vec<&str> = report.errors().collect();
    assert!(
        errors.iter().any(|error| error.contains("HTTP 401")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .all(|error| !error.contains("wrong-secret-value")),
        "{errors:?}"
    );
    assert!(!format!("{sinks:?}").contains("wrong-secret-value"));
    assert_eq!(receiver.lock().unwrap().bad_signatures, 1);
    assert_eq!(store.outbox_backlog().unwrap().get("hr"), Some(&3));
}

#[tokio::test]
async fn an_unreachable_receiver_is_a_failed_attempt_not_a_failed_run() {
    let (_refusing, port) = crate::support::refusing_port();
    let url: url::Url = format!("http://127.0.0.1:{port}/corrections")
        .parse()
        .unwrap();
    let mut store = Store::open_in_memory().unwrap();
    journal(&mut store, 0..2, &["hr"], t0());

    let report = deliver_due(
        &mut store,
        &[webhook("hr", &url, SECRET)],
        t0(),
        &reqwest::Client::new(),
    )
    .await;

    assert_eq!((report.delivered(), report.failed()), (0, 2));
    assert!(
        report
            .errors()
            .any(|error| error.contains("could not be reached")),
        "{report:?}"
    );
}

#[tokio::test]
async fn the_file_sink_appends_exactly_once_per_correction_across_reruns() {
    // Arrange: a file that already holds one correction, as if a run crashed after appending it
    // and before recording the delivery.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrections.jsonl");
    let mut store = Store::open_in_memory().unwrap();
    journal(&mut store, 0..3, &["ledger"], t0());
    let first = store
        .correction_by_key(&correction(0).idempotency_key)
        .unwrap()
        .unwrap();
    std::fs::write(
        &path,
        serde_json::to_string(&correction_line(&first)).unwrap() + "\n",
    )
    .unwrap();
    let sinks = [SinkConfig {
        name: "ledger".into(),
        kind: SinkKind::File(FileSink { path: path.clone() }),
        send: vec![Delivers::Corrections],
    }];
    let http = reqwest::Client::new();

    // Act: deliver, journal more (with one correction again), deliver twice more.
    let one = deliver_due(&mut store, &sinks, t0(), &http).await;
    journal(&mut store, 2..5, &["ledger"], after(86_400));
    let two = deliver_due(&mut store, &sinks, after(86_400), &http).await;
    let three = deliver_due(&mut store, &sinks, after(2 * 86_400), &http).await;

    // Assert
    assert_eq!(
        (one.delivered(), two.delivered(), three.delivered()),
        (3, 2, 0)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let keys: Vec<String> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["idempotency_key"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..5).map(|idx| correction(idx).idempotency_key).collect();
    assert_eq!(keys, expected);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("\"user_id\":\"0000\"")
    );
}
