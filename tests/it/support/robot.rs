//! A local DingTalk group robot on 127.0.0.1 (port 0): it checks each message's access token and
//! 加签 signature exactly as DingTalk does (recomputed from `timestamp` and the secret; stale
//! timestamps, more than an hour from its clock, are refused), answers `errcode 310000 sign not
//! match` on a bad one, records each markdown message under the report key its last line
//! carries, and can be switched to an outage (`errcode 130101` or HTTP 500) or to hold its answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How the robot answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Verify, record, answer `errcode 0`.
    Up,
    /// Answer `{"errcode":130101,"errmsg":"send too fast"}` without recording.
    TooFast,
    /// Answer HTTP 500 without recording.
    Down,
    /// Verify and record, then hold the answer until the mode changes.
    Hold,
}

/// One message the robot took.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) title: String,
    pub(crate) text: String,
    /// The last line's `报告编号 <key>`.
    pub(crate) key: String,
}

#[derive(Debug)]
pub(crate) struct Robot {
    token: String,
    secret: String,
    pub(crate) mode: Mode,
    pub(crate) requests: u32,
    pub(crate) bad_signatures: u32,
    pub(crate) messages: Vec<Message>,
}

impl Robot {
    /// Messages received per report key.
    pub(crate) fn by_key(&self) -> BTreeMap<String, u32> {
        let mut counts = BTreeMap::new();
        for message in &self.messages {
            *counts.entry(message.key.clone()).or_insert(0) += 1;
        }
        counts
    }
}

pub(crate) type Shared = Arc<Mutex<Robot>>;

/// Standard base64 with padding, written here independently of the crate's.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    let mut bits: u32 = 0;
    let mut count = 0;
    for byte in bytes {
        bits = (bits << 8) | u32::from(*byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(ALPHABET[((bits >> count) & 63) as usize] as char);
        }
    }
    if count > 0 {
        out.push(ALPHABET[((bits << (6 - count)) & 63) as usize] as char);
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// DingTalk's check: base64(HMAC-SHA256(secret, "<timestamp>\n<secret>")) equals `sign`.
fn signature(secret: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    base64(&mac.finalize().into_bytes())
}

fn answer(errcode: i64, errmsg: &str) -> (StatusCode, String) {
    (
        StatusCode::OK,
        serde_json::json!({ "errcode": errcode, "errmsg": errmsg }).to_string(),
    )
}

async fn receive(
    State(shared): State<Shared>,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    {
        let mut robot = shared.lock().unwrap();
        robot.requests += 1;
        match robot.mode {
            Mode::Down => return (StatusCode::INTERNAL_SERVER_ERROR, "down".into()),
            Mode::TooFast => return answer(130101, "send too fast"),
            Mode::Up | Mode::Hold => {}
        }
        if query.get("access_token") != Some(&robot.token) {
            return answer(300001, "token is not exist");
        }
        let (Some(timestamp), Some(sign)) = (query.get("timestamp"), query.get("sign")) else {
            robot.bad_signatures += 1;
            return answer(310000, "sign not match");
        };
        let now = chrono::Utc::now().timestamp_millis();
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|ms| (now - ms).abs() <= 3_600_000);
        if !fresh || *sign != signature(&robot.secret, timestamp) {
            robot.bad_signatures += 1;
            return answer(310000, "sign not match");
        }
        let value: serde_json::Value = serde_json::from_slice(&body).expect("body is JSON");
        assert_eq!(value["msgtype"], "markdown");
        let title = value["markdown"]["title"].as_str().unwrap_or("").to_owned();
        let text = value["markdown"]["text"].as_str().unwrap_or("").to_owned();
        let key = text
            .lines()
            .last()
            .and_then(|line| line.strip_prefix("报告编号 "))
            .unwrap_or("")
            .to_owned();
        robot.messages.push(Message { title, text, key });
    }
    while shared.lock().unwrap().mode == Mode::Hold {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    answer(0, "ok")
}

/// Starts a robot with this access token and 加签 secret; returns its webhook URL (with the
/// token, as DingTalk shows it) and its state.
pub(crate) async fn spawn_robot(token: &str, secret: &str) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(Robot {
        token: token.to_owned(),
        secret: secret.to_owned(),
        mode: Mode::Up,
        requests: 0,
        bad_signatures: 0,
        messages: Vec::new(),
    }));
    let app = Router::new()
        .route("/robot/send", post(receive))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        format!("http://{address}/robot/send?access_token={token}"),
        shared,
    )
}

pub(crate) fn set_mode(shared: &Shared, mode: Mode) {
    shared.lock().unwrap().mode = mode;
}

#[test]
fn the_receivers_base64_matches_the_rfc_4648_vectors() {
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foob"), "Zm9vYg==");
}
