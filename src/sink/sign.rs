//! The webhook signature scheme, for senders and receivers alike.
//!
//! Each POST carries two headers:
//!
//! - `X-Reconcile-Timestamp: <unix seconds>`, the moment the request was signed;
//! - `X-Reconcile-Signature: sha256=<hex>`, where `<hex>` is the lowercase hex HMAC-SHA256, keyed
//!   with the sink's secret, of the ASCII timestamp, one `.`, then the exact body bytes.
//!
//! Signing the timestamp with the body lets a receiver refuse replays of an old request: verify
//! the signature, then reject timestamps too far from its own clock (5 minutes is usual). Compare
//! signatures with [`verify`], which is constant-time. This module does not read the clock or
//! the environment; the caller passes the timestamp and the secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Reconcile-Signature";
/// The header carrying the signing timestamp (unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Reconcile-Timestamp";
/// The header naming the batch; the same batch of corrections always has the same key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

type HmacSha256 = Hmac<Sha256>;

/// The value of [`SIGNATURE_HEADER`] for this timestamp and body: `sha256=<hex>`.
pub(crate) fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Whether `header` is the signature of this timestamp and body under `secret`. Constant-time in
/// the signature bytes; a malformed header is simply not valid.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex_digest) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(digest) = hex::decode(hex_digest) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&digest).is_ok()
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_hmac_of_timestamp_dot_body() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign(b"secret", 1_700_000_000, b"{}"),
            "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[test]
    fn verify_accepts_its_own_signature_and_refuses_any_change() {
        let header = sign(b"k", 1_700_000_000, b"body");
        assert!(verify(b"k", 1_700_000_000, b"body", &header));
        assert!(!verify(b"k2", 1_700_000_000, b"body", &header));
        assert!(!verify(b"k", 1_700_000_001, b"body", &header));
        assert!(!verify(b"k", 1_700_000_000, b"body ", &header));
        assert!(!verify(b"k", 1_700_000_000, b"body", "sha1=00"));
        assert!(!verify(b"k", 1_700_000_000, b"body", "sha256=zz"));
    }
}
