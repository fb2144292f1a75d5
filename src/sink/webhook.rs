//! The webhook sink: POSTs one batch of corrections as JSON and reports how it went.
//!
//! Request: `POST <url>` with `Content-Type: application/json` and body
//! `{"schema":1,"sink":"<name>","corrections":[…]}` (each correction in the JSON report's shape,
//! with its `idempotency_key`). Headers: [`IDEMPOTENCY_HEADER`] (the same batch always gets the
//! same key), and, when the sink has a secret, [`TIMESTAMP_HEADER`] and [`SIGNATURE_HEADER`]
//! (scheme in [`super::sign`]). Any 2xx acknowledges the whole batch; anything else, a timeout or
//! a connection failure is a failed attempt the caller retries later.
//!
//! This module does not retry, sleep or touch the store, and never puts the secret or the URL's
//! query into an error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::sign::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::report::{CorrectionLine, REPORT_SCHEMA};

/// Where and how to POST.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) sink: &'a str,
    pub(crate) url: &'a Url,
    pub(crate) secret: Option<&'a SecretString>,
    pub(crate) timeout: Duration,
}

/// Why a batch was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebhookError {
    #[error("webhook sink {sink} answered HTTP {status}: expected a 2xx acknowledgement")]
    Status { sink: String, status: u16 },
    #[error("webhook sink {sink} did not answer within {timeout:?}")]
    Timeout { sink: String, timeout: Duration },
    #[error("webhook sink {sink} could not be reached")]
    Transport {
        sink: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("batch for webhook sink {sink} could not be encoded as JSON")]
    Encode {
        sink: String,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Serialize)]
struct Body<'a> {
    schema: u32,
    sink: &'a str,
    corrections: &'a [CorrectionLine],
}

/// The body bytes of a batch, exactly as sent (and signed).
pub(crate) fn body(sink: &str, batch: &[CorrectionLine]) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Body {
        schema: REPORT_SCHEMA,
        sink,
        corrections: batch,
    })
}

/// The batch's idempotency key: hex SHA-256 over its corrections' keys, one per line, in order;
/// a correction at a later version (enriched after it was delivered) as `key#vN`, so the batch
/// that carries the enrichment is not taken for a retry of the first delivery.
pub(crate) fn batch_key(batch: &[CorrectionLine]) -> String {
    let mut hasher = Sha256::new();
    for line in batch {
        hasher.update(line.idempotency_key.as_bytes());
        if line.version > 1 {
            hasher.update(format!("#v{}", line.version).as_bytes());
        }
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// POSTs one batch. `Ok` means the receiver acknowledged it with a 2xx.
pub(crate) async fn post_batch(
    http: &reqwest::Client,
    target: Target<'_>,
    batch: &[CorrectionLine],
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    let sink = target.sink.to_owned();
    let body = body(target.sink, batch).map_err(|source| WebhookError::Encode {
        sink: sink.clone(),
        source,
    })?;
    let mut request = http
        .post(target.url.clone())
        .timeout(target.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, batch_key(batch));
    if let Some(secret) = target.secret {
        let timestamp = now.timestamp();
        let signature = sign(secret.expose_secret().as_bytes(), timestamp, &body);
        request = request
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature);
    }
    let response = request.body(body).send().await.map_err(|err| {
        if err.is_timeout() {
            WebhookError::Timeout {
                sink: sink.clone(),
                timeout: target.timeout,
            }
        } else {
            WebhookError::Transport {
                sink: sink.clone(),
                source: err.without_url(),
            }
        }
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(WebhookError::Status {
            sink,
            status: status.as_u16(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;

    /// The first two corrections of the fixture, renamed `first` and `second`, with every
    /// other field as the fixture has it.
    fn two_keyed(first: &str, second: &str) -> Vec<CorrectionLine> {
        let mut corrections = rich_report().corrections;
        corrections.truncate(2);
        corrections[0].idempotency_key = first.to_owned();
        corrections[1].idempotency_key = second.to_owned();
        corrections
    }

    #[test]
    fn the_batch_key_is_the_sha256_of_its_correction_keys_one_per_line_in_order() {
        // Expected values from `printf 'alpha\nbeta\n' | sha256sum` and so on.
        assert_eq!(
            batch_key(&two_keyed("alpha", "beta")),
            "e49c81e2d2f84e259d40e2fb8192f3bcd198b355184845d76d8f58807d0d78ee"
        );
        assert_eq!(
            batch_key(&two_keyed("beta", "alpha")),
            "3588d4ce80593f91177fe39f97f96fece7050ebc8e030a2a92a7f61e67f07af9"
        );
        assert_eq!(
            batch_key(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn an_enriched_correction_s_later_version_makes_another_batch_key() {
        let mut enriched = two_keyed("alpha", "beta");
        enriched[0].version = 2;
        // `printf 'alpha#v2\nbeta\n' | sha256sum`.
        assert_eq!(
            batch_key(&enriched),
            "18fbf2e0fb123508543fd5c1bffba688070a6c5bb38804ccd9532148f5033c62"
        );
    }

    #[test]
    fn the_batch_key_depends_on_the_correction_keys_and_versions_only() {
        let mut edited = two_keyed("alpha", "beta");
        edited[0].user_id = "someone-else".into();
        edited[1].plan_id = Some(-1);
        assert_eq!(
            batch_key(&edited),
            "e49c81e2d2f84e259d40e2fb8192f3bcd198b355184845d76d8f58807d0d78ee"
        );
    }

    #[test]
    fn the_body_carries_the_schema_the_sink_and_every_correction_key() {
        let corrections = rich_report().corrections;
        let value: serde_json::Value =
            serde_json::from_slice(&body("hr", &corrections).unwrap()).unwrap();
        assert_eq!(value["schema"], 1);
        assert_eq!(value["sink"], "hr");
        let keys: Vec<&str> = value["corrections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| line["idempotency_key"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = corrections
            .iter()
            .map(|line| line.idempotency_key.as_str())
            .collect();
        assert_eq!(keys, expected);
    }
}
