//! A local webhook receiver on 127.0.0.1 (port 0): it verifies each request's signature with its
//! secret, records the correction keys each batch carried, answers as its [`Mode`] says (or holds
//! its answer), and counts anything sent again after it acknowledged it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dingtalk_reconcile::sink::sign::{
    IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify,
};

/// How the receiver answers the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Verify, record, answer 200.
    Up,
    /// Answer 500 without looking at the request.
    Down,
    /// Verify and record, then answer 500: the acknowledgement is lost.
    AckLost,
    /// Verify and record, then hold the answer until the mode changes, and answer as the new
    /// mode says (the sender waits meanwhile).
    Hold,
    /// Fails `percent` % of requests, chosen by a generator seeded with `seed` (deterministic
    /// for a given sequence of requests): half of the failures before recording (like `Down`),
    /// half after (like `AckLost`).
    Flaky { percent: u64, seed: u64 },
}

/// SplitMix64: the flaky receiver's deterministic choice for its request number `n`.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a flaky receiver does with its request number `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Serve,
    FailBefore,
    FailAfter,
}

fn fate(mode: Mode, n: u64) -> Fate {
    match mode {
        Mode::Flaky { percent, seed } => {
            let draw = mix(seed, n) % 200;
            if draw < percent {
                Fate::FailBefore
            } else if draw < 2 * percent {
                Fate::FailAfter
            } else {
                Fate::Serve
            }
        }
        _ => Fate::Serve,
    }
}

#[derive(Debug)]
pub(crate) struct Receiver {
    secret: String,
    pub(crate) mode: Mode,
    pub(crate) requests: u32,
    pub(crate) bad_signatures: u32,
    pub(crate) batch_sizes: Vec<usize>,
    /// The idempotency header of each batch.
    pub(crate) batch_keys: Vec<String>,
    /// Each batch processed: its idempotency header and the correction keys it carried.
    pub(crate) batches: Vec<(String, Vec<String>)>,
    /// Times each correction key arrived in a request the receiver processed.
    pub(crate) received: BTreeMap<String, u32>,
    /// Keys the receiver acknowledged with a 2xx.
    pub(crate) acknowledged: BTreeSet<String>,
    /// Keys that arrived again after a 2xx acknowledged them: must stay zero.
    pub(crate) resent_after_ack: u32,
}

pub(crate) type Shared = Arc<Mutex<Receiver>>;

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let keys = match record(&shared, &headers, &body) {
        Ok(keys) => keys,
        Err(status) => return status,
    };
    while shared.lock().unwrap().mode == Mode::Hold {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut receiver = shared.lock().unwrap();
    let fate = fate(receiver.mode, u64::from(receiver.requests));
    match receiver.mode {
        Mode::Down | Mode::AckLost => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Flaky { .. } if fate == Fate::FailAfter => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Up | Mode::Hold | Mode::Flaky { .. } => {
            receiver.acknowledged.extend(keys);
            StatusCode::OK
        }
    }
}

/// Counts, verifies and records one request; the keys it carried, or the answer to give at once.
fn record(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Vec<String>, StatusCode> {
    let mut receiver = shared.lock().unwrap();
    receiver.requests += 1;
    if receiver.mode == Mode::Down
        || fate(receiver.mode, u64::from(receiver.requests)) == Fate::FailBefore
    {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let timestamp = header(TIMESTAMP_HEADER).and_then(|raw| raw.parse::<i64>().ok());
    let signature = header(SIGNATURE_HEADER).unwrap_or_default();
    let signed =
        timestamp.is_some_and(|ts| verify(receiver.secret.as_bytes(), ts, body, &signature));
    if !signed {
        receiver.bad_signatures += 1;
        return Err(StatusCode::UNAUTHORIZED);
    }
    let value: serde_json::Value = serde_json::from_slice(body).expect("body is JSON");
    assert_eq!(value["schema"], 1);
    let keys: Vec<String> = value["corrections"]
        .as_array()
        .expect("corrections is a list")
        .iter()
        .map(|line| {
            line["idempotency_key"]
                .as_str()
                .expect("every correction has its key")
                .to_owned()
        })
        .collect();
    receiver.batch_sizes.push(keys.len());
    receiver
        .batch_keys
        .push(header(IDEMPOTENCY_HEADER).unwrap_or_default());
    let idempotency = header(IDEMPOTENCY_HEADER).unwrap_or_default();
    receiver.batches.push((idempotency, keys.clone()));
    for key in &keys {
        *receiver.received.entry(key.clone()).or_insert(0) += 1;
        if receiver.acknowledged.contains(key) {
            receiver.resent_after_ack += 1;
        }
    }
    Ok(keys)
}

/// Starts a receiver whose signing secret is `secret`, up, on 127.0.0.1:0 (bound before serving,
/// so no readiness wait); returns the URL to post corrections to.
pub(crate) async fn spawn_receiver(secret: &str) -> (url::Url, Shared) {
    let shared = Arc::new(Mutex::new(Receiver {
        secret: secret.to_owned(),
        mode: Mode::Up,
        requests: 0,
        bad_signatures: 0,
        batch_sizes: Vec::new(),
        batch_keys: Vec::new(),
        batches: Vec::new(),
        received: BTreeMap::new(),
        acknowledged: BTreeSet::new(),
        resent_after_ack: 0,
    }));
    let app = Router::new()
        .route("/corrections", post(receive))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        format!("http://{address}/corrections").parse().unwrap(),
        shared,
    )
}

pub(crate) fn set_mode(shared: &Shared, mode: Mode) {
    shared.lock().unwrap().mode = mode;
}
