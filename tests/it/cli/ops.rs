//! Operations through the real binary: the metrics textfile after a failed run, the webhook sink
//! end to end against a signature-verifying receiver, and secrets kept out of the most verbose
//! logs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dingtalk_reconcile::sink::sign::{
    IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify,
};
use sha2::{Digest, Sha256};

use super::{Rig, assert_code, assert_last_outcome, stderr, stdout};

const WEBHOOK_SECRET: &str = "webhook-secret-7c41e0";
const SECRET_ENV: &str = "RECONCILE_TEST_WEBHOOK_SECRET";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_after_recording_itself_still_writes_the_metrics_file() {
    let rig = Rig::new(31).await;
    // A store that refuses to take slots, as a full disk would, once the run has begun.
    drop(rig.store());
    let connection = rusqlite::Connection::open(rig.store_path()).unwrap();
    connection
        .execute_batch(
            "CREATE TRIGGER refuse_slots BEFORE INSERT ON slots
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    drop(connection);

    let output = rig.bin(&["run"]).await;
    assert_code(&output, 1);
    assert!(
        stderr(&output).contains("disk is full"),
        "{}",
        stderr(&output)
    );
    let store = rig.store();
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome_name(), "failed");
    assert_eq!(store.lock_holder().unwrap(), None, "the lock is released");
    let metrics = rig.metrics();
    assert_last_outcome(&metrics, "failed");
    assert!(
        metrics.contains(&format!("dingtalk_reconcile_last_run_id {}", runs[0].id)),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_each_run_from_partial_to_done() {
    let rig = Rig::new(32).await;
    rig.write_config("[quota]\nmonthly_budget = 2\n");
    assert_code(&rig.bin(&["run"]).await, 2);
    assert_last_outcome(&rig.metrics(), "partial");
    assert!(
        rig.metrics()
            .contains("dingtalk_reconcile_monthly_budget_calls 2")
    );
    rig.write_config("");
    assert_code(&rig.bin(&["run"]).await, 0);
    let metrics = rig.metrics();
    assert_last_outcome(&metrics, "done");
    assert!(metrics.contains("dingtalk_reconcile_last_success_timestamp_seconds "));
}

#[derive(Debug, Default)]
struct Received {
    requests: u32,
    bad_signatures: u32,
    batch_keys: Vec<String>,
    /// How often each correction key arrived.
    keys: BTreeMap<String, u32>,
}

type Shared = Arc<Mutex<Received>>;

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut received = shared.lock().unwrap();
    received.requests += 1;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let timestamp = header(TIMESTAMP_HEADER).and_then(|raw| raw.parse::<i64>().ok());
    let signature = header(SIGNATURE_HEADER).unwrap_or_default();
    if !timestamp.is_some_and(|ts| verify(WEBHOOK_SECRET.as_bytes(), ts, &body, &signature)) {
        received.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if value["schema"] != 1 {
        return StatusCode::BAD_REQUEST;
    }
    received
        .batch_keys
        .push(header(IDEMPOTENCY_HEADER).unwrap_or_default());
    for line in value["corrections"].as_array().into_iter().flatten() {
        let key = line["idempotency_key"].as_str().unwrap_or_default();
        *received.keys.entry(key.to_owned()).or_default() += 1;
    }
    StatusCode::OK
}

async fn spawn_receiver() -> (String, Shared) {
    let shared = Shared::default();
    let app = Router::new()
        .route("/corrections", post(receive))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/corrections"), shared)
}

fn webhook_sink(url: &str) -> String {
    format!(
        "[[sink]]\nname = \"hr\"\nkind = \"webhook\"\nurl = {url:?}\nsecret_env = \"{SECRET_ENV}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_sink_receives_every_correction_once_signed() {
    let (url, received) = spawn_receiver().await;
    let mut rig = Rig::with(33, |config| config.employees = 40).await;
    rig.env
        .push((SECRET_ENV.to_owned(), WEBHOOK_SECRET.to_owned()));
    rig.write_config(&webhook_sink(&url));

    let output = rig
        .bin(&[
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--yes",
        ])
        .await;
    assert_code(&output, 0);
    // A second pass over the same days delivers nothing new and nothing again.
    assert_code(&rig.bin(&["run"]).await, 0);

    let store = rig.store();
    let journaled: Vec<String> = store
        .all_corrections()
        .unwrap()
        .into_iter()
        .map(|stored| stored.correction.idempotency_key)
        .collect();
    assert!(!journaled.is_empty(), "the company has corrections to send");
    let received = received.lock().unwrap();
    assert_eq!(received.bad_signatures, 0);
    let mut keys: Vec<&String> = received.keys.keys().collect();
    keys.sort();
    let mut expected: Vec<&String> = journaled.iter().collect();
    expected.sort();
    assert_eq!(keys, expected, "every journaled correction arrived");
    assert!(
        received.keys.values().all(|&times| times == 1),
        "no correction arrived twice: {:?}",
        received.keys
    );
    assert!(received.batch_keys.iter().all(|key| key.len() == 64));
    assert!(store.outbox_backlog().unwrap().values().all(|&n| n == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_sink_whose_secret_variable_is_unset_is_a_configuration_error() {
    let (url, received) = spawn_receiver().await;
    let rig = Rig::new(34).await;
    rig.write_config(&webhook_sink(&url));
    let output = rig.bin(&["run"]).await;
    assert_code(&output, 78);
    assert!(stderr(&output).contains(SECRET_ENV), "{}", stderr(&output));
    assert_eq!(received.lock().unwrap().requests, 0);
}

/// The tokens the simulator of `seed` issues first (its own derivation, see `sim::state`).
fn sim_tokens(seed: u64) -> Vec<String> {
    (1..=4)
        .map(|n| hex::encode(&Sha256::digest(format!("token:{seed}:{n}"))[..16]))
        .collect()
}

async fn current_token(rig: &Rig) -> String {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1.0/oauth2/accessToken", rig.sim.base_url()))
        .json(&serde_json::json!({
            "appKey": rig.sim.app_key(),
            "appSecret": rig.sim.app_secret(),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["accessToken"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_verbose_logs_show_no_app_secret_no_webhook_secret_and_no_token() {
    let (url, received) = spawn_receiver().await;
    let mut rig = Rig::with(35, |config| {
        config.employees = 40;
        config.app_secret = "app-secret-e5b2917d".to_owned();
    })
    .await;
    rig.env
        .push((SECRET_ENV.to_owned(), WEBHOOK_SECRET.to_owned()));
    rig.write_config(&webhook_sink(&url));
    let output = rig
        .bin(&[
            "-vv",
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--yes",
            "--report",
        ])
        .await;
    assert_code(&output, 0);
    let run = rig.bin(&["-vv", "--log-format", "json", "run"]).await;
    assert_code(&run, 0);
    assert!(received.lock().unwrap().requests > 0, "the sink was used");

    let everything = [&output, &run]
        .iter()
        .map(|output| format!("{}\n{}", stdout(output), stderr(output)))
        .collect::<String>();
    assert!(
        everything.contains("oauth2/accessToken"),
        "the trace shows the token calls"
    );
    // The token the binary used is still valid on the simulator's clock, so asking for one now
    // returns that very token; it is also one of the tokens the simulator derives.
    let current = current_token(&rig).await;
    let derived = sim_tokens(35);
    assert!(derived.contains(&current), "{current} not in {derived:?}");
    let mut secrets = vec!["app-secret-e5b2917d".to_owned(), WEBHOOK_SECRET.to_owned()];
    secrets.extend(derived);
    for secret in secrets {
        assert!(
            !everything.contains(&secret),
            "{secret} appears in the output"
        );
    }
}
