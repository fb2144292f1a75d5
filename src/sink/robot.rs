//! The DingTalk group robot sink (`kind = "dingtalk_robot"`): posts a report's Markdown summary
//! to a group chat through the robot's webhook.
//!
//! Request: `POST <webhook>&timestamp=<ms>&sign=<sign>` with the JSON body
//! `{"msgtype":"markdown","markdown":{"title":…,"text":…}}`. The signature is DingTalk's 加签:
//! HMAC-SHA256 keyed with the robot's secret over `"<timestamp ms>\n<secret>"`, base64, then
//! URL-encoded into the query ([`sign`]). The text ends with the report's key
//! (`报告编号 nightly_summary:run:42`), so a reader (or a bot) can tell a resend from a new report.
//!
//! DingTalk answers HTTP 200 with `{"errcode":0,"errmsg":"ok"}` on success; any other errcode is
//! a refusal, worded by [`refusal`]. Robots accept at most 20 messages a minute: every send here
//! waits on one process-wide limiter of that rate.
//!
//! The webhook URL carries the robot's access token and the secret signs: neither ever appears in
//! an error or a log line (errors name the sink only, and transport errors drop their URL).

use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use url::Url;

use super::message::ReportMessage;

/// Messages a robot accepts per minute.
pub(crate) const MESSAGES_PER_MINUTE: u32 = 20;
/// How long one send may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The robot's 加签 signature of `timestamp_ms`, as the `sign` query parameter's value before
/// URL-encoding: base64(HMAC-SHA256(key = secret, message = "<timestamp_ms>\n<secret>")).
pub(crate) fn sign(secret: &[u8], timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(secret);
    base64(&mac.finalize().into_bytes())
}

/// The webhook URL with `timestamp` and `sign` appended (the latter URL-encoded by the query
/// serializer).
pub(crate) fn signed_url(webhook: &Url, secret: &[u8], timestamp_ms: i64) -> Url {
    let mut url = webhook.clone();
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &sign(secret, timestamp_ms));
    url
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Most characters of one robot message's text (the summary's chat limit).
pub(crate) const TEXT_LIMIT: usize = 4000;

/// The Markdown text a message carries: the summary, then the key on its own last line; the
/// summary is cut at a line boundary when both would not fit in [`TEXT_LIMIT`] characters.
pub(crate) fn text(message: &ReportMessage) -> String {
    let footer = format!("\n\n报告编号 {}", message.key);
    let room = TEXT_LIMIT.saturating_sub(footer.chars().count());
    let summary = message.markdown.trim_end();
    let mut kept = String::new();
    let mut used = 0;
    for line in summary.split_inclusive('\n') {
        let len = line.chars().count();
        if used + len > room {
            break;
        }
        kept.push_str(line);
        used += len;
    }
    format!("{}{footer}", kept.trim_end())
}

/// The JSON body of a markdown message.
pub(crate) fn body(message: &ReportMessage) -> serde_json::Value {
    serde_json::json!({
        "msgtype": "markdown",
        "markdown": { "title": message.subject, "text": text(message) },
    })
}

/// DingTalk's answer envelope.
#[derive(Debug, Deserialize)]
struct Answer {
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: String,
}

/// What to check for a refusal with `errcode`.
fn advice(errcode: i64) -> &'static str {
    match errcode {
        310000 => {
            "check the robot's security settings: the secret named by secret_env must be its 加签 \
             secret, and any keyword or IP allow-list must admit these messages"
        }
        130101 | 130102 => {
            "the robot is sending too fast (at most 20 messages a minute); the message is retried \
             later"
        }
        300001 | 300005 | 400013 | 400101 => {
            "check the webhook URL named by webhook_env: its access_token is invalid or the robot \
             was removed from the group"
        }
        _ => "see DingTalk's custom robot error codes; the message is retried later",
    }
}

/// The sentence for a refusal: names the sink, the code, DingTalk's message and what to check.
pub(crate) fn refusal(sink: &str, errcode: i64, errmsg: &str) -> String {
    let errmsg: String = errmsg.chars().take(200).collect();
    format!(
        "dingtalk_robot sink {sink}: DingTalk refused the message with errcode {errcode} ({errmsg:?}): {}",
        advice(errcode)
    )
}

/// The sentence for a non-200 answer.
pub(crate) fn bad_status(sink: &str, status: u16) -> String {
    format!(
        "dingtalk_robot sink {sink}: the robot webhook answered HTTP {status}: expected 200 with \
         errcode 0; check that the webhook URL named by webhook_env is the group robot's and \
         that oapi.dingtalk.com is reachable; the message is retried later"
    )
}

/// Reads an answer: `Ok` only for HTTP 200 with `errcode` 0.
pub(crate) fn judge(sink: &str, status: u16, body: &[u8]) -> Result<(), String> {
    if status != 200 {
        return Err(bad_status(sink, status));
    }
    match serde_json::from_slice::<Answer>(body) {
        Ok(Answer {
            errcode: Some(0), ..
        }) => Ok(()),
        Ok(Answer {
            errcode: Some(code),
            errmsg,
        }) => Err(refusal(sink, code, &errmsg)),
        _ => Err(format!(
            "dingtalk_robot sink {sink}: the robot webhook answered HTTP 200 without a DingTalk \
             errcode: expected {{\"errcode\":0,…}}; check that the URL named by webhook_env is a \
             group robot's webhook"
        )),
    }
}

/// One limiter for the process: 20 messages a minute over every robot.
fn limiter() -> &'static DefaultDirectRateLimiter {
    static LIMITER: OnceLock<DefaultDirectRateLimiter> = OnceLock::new();
    LIMITER.get_or_init(|| {
        let per_minute = NonZeroU32::new(MESSAGES_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        RateLimiter::direct(Quota::per_minute(per_minute))
    })
}

/// Where a robot posts: the webhook (with its token) and the 加签 secret.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) sink: &'a str,
    pub(crate) webhook: &'a SecretString,
    pub(crate) secret: &'a SecretString,
}

/// Checks a webhook URL: absolute, https (plain http only on loopback, for tests). The error
/// never repeats the URL, which holds the access token.
pub(crate) fn parse_webhook(sink: &str, var: &str, text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|_| {
        format!(
            "dingtalk_robot sink {sink}: the value of {var} (named by webhook_env) is not an \
             absolute URL: expected the robot's webhook, https://oapi.dingtalk.com/robot/send?access_token=…"
        )
    })?;
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(format!(
            "dingtalk_robot sink {sink}: the value of {var} (named by webhook_env) is not an https \
             URL: expected the robot's webhook, https://oapi.dingtalk.com/robot/send?access_token=…"
        )),
    }
}

/// Sends one message, waiting for the rate limiter first. The error is one sentence without
/// the URL or the secret.
pub(crate) async fn send(
    http: &reqwest::Client,
    target: Target<'_>,
    message: &ReportMessage,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let sink = target.sink;
    let webhook = parse_webhook(sink, "webhook_env", target.webhook.expose_secret())?;
    limiter().until_ready().await;
    let url = signed_url(
        &webhook,
        target.secret.expose_secret().as_bytes(),
        now.timestamp_millis(),
    );
    let response = http
        .post(url)
        .timeout(TIMEOUT)
        .json(&body(message))
        .send()
        .await
        .map_err(|err| {
            if err.is_timeout() {
                format!("dingtalk_robot sink {sink}: the robot webhook did not answer within {TIMEOUT:?}; the message is retried later")
            } else {
                format!(
                    "dingtalk_robot sink {sink}: the robot webhook could not be reached: {}; the message is retried later",
                    err.without_url()
                )
            }
        })?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|err| {
        format!(
            "dingtalk_robot sink {sink}: the robot webhook's answer could not be read: {}",
            err.without_url()
        )
    })?;
    judge(sink, status, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::message::ReportKind;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn the_signature_is_dingtalks_for_a_fixed_timestamp_and_secret() {
        // Computed independently with Python:
        // base64(hmac.new(b"SEC0123456789abcdef", b"1700000000000\nSEC0123456789abcdef",
        //                 sha256).digest())
        let secret = b"SEC0123456789abcdef";
        assert_eq!(
            sign(secret, 1_700_000_000_000),
            "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
        );
        let webhook: Url = "https://oapi.dingtalk.com/robot/send?access_token=abc"
            .parse()
            .unwrap();
        let url = signed_url(&webhook, secret, 1_700_000_000_000);
        assert_eq!(
            url.as_str(),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000\
             &sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
        );
    }

    #[test]
    fn refusals_name_the_sink_the_code_the_message_and_what_to_check() {
        let err = judge(
            "group",
            200,
            br#"{"errcode":310000,"errmsg":"sign not match"}"#,
        )
        .unwrap_err();
        assert!(err.contains("sink group"), "{err}");
        assert!(err.contains("310000"), "{err}");
        assert!(err.contains("sign not match"), "{err}");
        assert!(err.contains("加签"), "{err}");
        let err = judge(
            "group",
            200,
            br#"{"errcode":130101,"errmsg":"send too fast"}"#,
        )
        .unwrap_err();
        assert!(err.contains("130101") && err.contains("too fast"), "{err}");
        let err = judge(
            "group",
            200,
            br#"{"errcode":300001,"errmsg":"token is not exist"}"#,
        )
        .unwrap_err();
        assert!(err.contains("access_token"), "{err}");
        let err = judge("group", 500, b"oops").unwrap_err();
        assert!(
            err.contains("HTTP 500") && err.contains("sink group"),
            "{err}"
        );
        let err = judge("group", 200, b"<html>").unwrap_err();
        assert!(err.contains("without a DingTalk errcode"), "{err}");
        assert_eq!(
            judge("group", 200, br#"{"errcode":0,"errmsg":"ok"}"#),
            Ok(())
        );
    }

    #[test]
    fn a_webhook_url_error_never_repeats_the_token() {
        let err = parse_webhook(
            "group",
            "ROBOT",
            "http://oapi.dingtalk.com/robot/send?access_token=tok-123",
        )
        .unwrap_err();
        assert!(!err.contains("tok-123"), "{err}");
        assert!(
            parse_webhook(
                "group",
                "ROBOT",
                "http://127.0.0.1:9/robot/send?access_token=t"
            )
            .is_ok()
        );
        let err = parse_webhook("group", "ROBOT", "not a url tok-123").unwrap_err();
        assert!(!err.contains("tok-123"), "{err}");
    }

    #[test]
    fn the_text_ends_with_the_report_key() {
        let message = ReportMessage {
            key: "nightly_summary:run:42".into(),
            kind: ReportKind::NightlySummary,
            subject: "考勤核对".into(),
            markdown: "# 考勤核对\n\n一切正常\n".into(),
            html: String::new(),
            attachment: None,
        };
        let body = body(&message);
        assert_eq!(body["msgtype"], "markdown");
        assert_eq!(body["markdown"]["title"], "考勤核对");
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(
            text.ends_with("\n\n报告编号 nightly_summary:run:42"),
            "{text}"
        );
        let long = ReportMessage {
            markdown: "一行文字\n".repeat(2000),
            ..message
        };
        let text = super::text(&long);
        assert!(
            text.chars().count() <= TEXT_LIMIT,
            "{}",
            text.chars().count()
        );
        assert!(text.ends_with("报告编号 nightly_summary:run:42"));
    }
}
