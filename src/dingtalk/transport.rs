//! One call to DingTalk end to end: the IP-ban latch, the quota flag, the handle's [`Budget`] and
//! stop flag, the client's metered cap, the per-path rate limiter, the concurrency semaphore,
//! the token, the call ledger's reservation, the HTTP exchange, metering, and the retry loop.
//!
//! Every attempt that reaches the network is reported to the recorder with the outcome the
//! metering rule needs: a metered one is reserved before it is sent (a reservation the recorder
//! refuses means the call is not sent) and settled after; attempts refused locally (ban latch,
//! quota flag, stop flag, budget, cap, ledger) make no call and record nothing. Retries are a
//! bounded loop with no sleep after the last attempt, and the last real error is returned. A
//! rejected token is dropped and the call retried with a fresh one for as long as fresh tokens
//! work ([`MAX_UNPROVEN_TOKEN_REJECTIONS`], [`MAX_TOKEN_REJECTIONS`]). No redirect is followed:
//! a 3xx is [`Error::Redirected`], naming only the `Location`'s origin. This module knows no
//! endpoint's body shape; `client` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::auth::{Issued, Token, TokenCache};
use super::ban::BanLatch;
use super::classify::{Family, classify};
use super::decode::Fields;
use super::limits::PathLimiters;
use super::{
    CallRecorder, CallTicket, Client, ClientConfig, Error, ErrorKind, IpBanPolicy, TokenSource,
};
use crate::domain::{CallOutcome, CallRecord, Clock, is_metered_endpoint};

/// No cap on metered calls.
const NO_CAP: u64 = u64::MAX;

/// `Inner::quota_exhausted` before DingTalk reported the quota exhausted.
pub(crate) const NOT_EXHAUSTED: i64 = i64::MIN;
/// Longest pause between two attempts of a non-throttling transient error.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The client's shared state (behind the `Arc` that makes [`Client`] cheap to clone).
pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) recorder: Arc<dyn CallRecorder>,
    /// Keeps each API path below DingTalk's per-app QPS limit.
    pub(crate) limiters: PathLimiters,
    /// Bounds calls in flight across all APIs.
    pub(crate) concurrency: Semaphore,
    pub(crate) tokens: TokenCache,
    /// Attempts that consumed a metered call.
    pub(crate) metered: AtomicU64,
    /// `metered` plus attempts in flight to metered endpoints: what the cap is checked against,
    /// so concurrent calls can never overshoot it.
    pub(crate) reserved: AtomicU64,
    pub(crate) cap: AtomicU64,
    /// When DingTalk first reported the monthly quota exhausted (ms since the epoch, the
    /// client's clock), [`NOT_EXHAUSTED`] until then; cleared only by
    /// `Client::forget_quota_exhausted_before` once a new quota month has begun.
    pub(crate) quota_exhausted: AtomicI64,
    /// Set when DingTalk bans this IP; while it holds, no call is made.
    pub(crate) ip_ban: BanLatch,
}

/// What one call sends.
pub(crate) struct CallSpec {
    pub(crate) family: Family,
    pub(crate) method: Method,
    /// Path without query, e.g. `/attendance/list`.
    pub(crate) path: &'static str,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Value>,
    /// Whether the call carries the access token (token endpoints do not).
    pub(crate) authenticated: bool,
}

/// A successful answer: the JSON and the body as received.
pub(crate) struct Answer {
    pub(crate) json: Value,
    pub(crate) raw: String,
}

impl Inner {
    pub(crate) fn new(
        config: ClientConfig,
        clock: Arc<dyn Clock>,
        recorder: Arc<dyn CallRecorder>,
    ) -> Result<Self, Error> {
        let invalid = |detail: &str| Error::Config {
            detail: detail.to_owned(),
        };
        let qps = std::num::NonZeroU32::new(config.qps_per_api)
            .ok_or_else(|| invalid("qps_per_api must be at least 1"))?;
        if config.max_concurrency == 0 {
            return Err(invalid("max_concurrency must be at least 1"));
        }
        // No redirect is followed: DingTalk does not redirect API calls, and following one
        // re-sends the app secret (token POST body) or the token (header) to the other host, and
        // the URL with its `appsecret=` / `access_token=` query in the `Referer` header. No
        // `Referer` is ever sent either.
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .map_err(|err| Error::Config {
                detail: format!("HTTP client: {}", err.without_url()),
            })?;
        Ok(Inner {
            limiters: PathLimiters::new(qps),
            concurrency: Semaphore::new(config.max_concurrency),
            config,
            http,
            clock,
            recorder,
            tokens: TokenCache::default(),
            metered: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
            cap: AtomicU64::new(NO_CAP),
            quota_exhausted: AtomicI64::new(NOT_EXHAUSTED),
            ip_ban: BanLatch::default(),
        })
    }

    /// Before a call: fails fast while an IP ban holds (see [`BanLatch::pass`]).
    async fn through_ban(&self, endpoint: &str) -> Result<(), Error> {
        self.ip_ban.pass(endpoint, self.config.ip_ban).await
    }
}

/// A set-once request to stop: once raised, no metered call starts under a [`Budget`] that
/// obeys it (calls already in flight still land). Cheap to clone; clones share the flag.
#[derive(Debug, Clone, Default)]
pub(crate) struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub(crate) fn new() -> StopFlag {
        StopFlag::default()
    }

    /// Raises the flag for good; returns whether this call raised it (false: it was up).
    pub(crate) fn raise(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Metered calls a client handle ([`Client::with_budget`]) may start, and the stop flag it
/// obeys. A budget carved out of another ([`Budget::within`]) counts every call against both,
/// so a step of a run can never spend more than the run. Calls in flight count as spent until
/// they turn out unmetered. Cheap to clone; clones share the count.
#[derive(Debug, Clone)]
pub(crate) struct Budget(Arc<BudgetNode>);

#[derive(Debug)]
struct BudgetNode {
    limit: u64,
    /// Metered calls made plus metered calls in flight.
    taken: AtomicU64,
    parent: Option<Budget>,
    stop: StopFlag,
}

impl Budget {
    /// A budget of `limit` metered calls that stops when `stop` is raised.
    pub(crate) fn new(limit: u64, stop: StopFlag) -> Budget {
        Budget(Arc::new(BudgetNode {
            limit,
            taken: AtomicU64::new(0),
            parent: None,
            stop,
        }))
    }

    /// A budget of at most `limit` more calls out of this one, obeying the same stop flag.
    pub(crate) fn within(&self, limit: u64) -> Budget {
        Budget(Arc::new(BudgetNode {
            limit,
            taken: AtomicU64::new(0),
            parent: Some(self.clone()),
            stop: self.0.stop.clone(),
        }))
    }

    /// Metered calls spent (and in flight) under this budget.
    pub(crate) fn spent(&self) -> u64 {
        self.0.taken.load(Ordering::SeqCst)
    }

    /// Metered calls this budget still allows, its parents' limits aside.
    pub(crate) fn left(&self) -> u64 {
        self.0.limit.saturating_sub(self.spent())
    }

    pub(crate) fn stop_flag(&self) -> &StopFlag {
        &self.0.stop
    }

    /// Claims one call at every level, or none: `Err` with the limit of the level that refused.
    fn take(&self) -> Result<(), u64> {
        let node = &*self.0;
        if node.stop.is_raised() {
            return Err(node.limit);
        }
        node.taken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |taken| {
                (taken < node.limit).then_some(taken + 1)
            })
            .map_err(|_| node.limit)?;
        if let Some(parent) = &node.parent
            && let Err(limit) = parent.take()
        {
            node.taken.fetch_sub(1, Ordering::SeqCst);
            return Err(limit);
        }
        Ok(())
    }

    /// Returns a claimed call that was not metered, at every level.
    fn give_back(&self) {
        self.0.taken.fetch_sub(1, Ordering::SeqCst);
        if let Some(parent) = &self.0.parent {
            parent.give_back();
        }
    }
}

/// A claim on one metered call under the cap (and the handle's budget), released unless the
/// attempt was metered.
struct Reservation<'a> {
    inner: &'a Inner,
    budget: Option<&'a Budget>,
    settled: bool,
}

impl Reservation<'_> {
    fn settle(mut self, metered: bool) {
        if metered {
            self.inner.metered.fetch_add(1, Ordering::SeqCst);
        } else {
            self.release();
        }
        self.settled = true;
    }

    fn release(&self) {
        self.inner.reserved.fetch_sub(1, Ordering::SeqCst);
        if let Some(budget) = self.budget {
            budget.give_back();
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.release();
        }
    }
}

/// Attempts per call for transient errors (the first included).
pub(crate) const MAX_ATTEMPTS: u32 = 4;
/// A call gives up when this many tokens in a row were rejected before they ever worked (for
/// any call): freshly issued tokens that DingTalk refuses point at the credentials or the clock,
/// not at a token reset in the middle of a run.
pub(crate) const MAX_UNPROVEN_TOKEN_REJECTIONS: u32 = 3;
/// A call gives up after this many token rejections of any kind (churn so fast that a token is
/// gone before the call can use it). There is no limit per run while fresh tokens work.
pub(crate) const MAX_TOKEN_REJECTIONS: u32 = 10;

impl Client {
    /// Runs one call with retries: transient errors back off and retry up to [`MAX_ATTEMPTS`]; a
    /// rejected token is dropped, refreshed and the call retried, within the per-call bounds
    /// [`MAX_UNPROVEN_TOKEN_REJECTIONS`] and [`MAX_TOKEN_REJECTIONS`].
    pub(crate) async fn execute(&self, spec: &CallSpec) -> Result<Answer, Error> {
        let mut token_rejections = 0;
        let mut unproven_rejections = 0;
        let mut attempt = 1;
        loop {
            let token = if spec.authenticated {
                Some(self.token().await?)
            } else {
                None
            };
            let span = tracing::debug_span!("dingtalk_attempt", endpoint = spec.path, attempt);
            let error = match self.attempt(spec, token.as_ref()).instrument(span).await {
                Ok(answer) => {
                    if let Some(token) = &token {
                        self.inner.tokens.proven(token.generation);
                    }
                    return Ok(answer);
                }
                Err(error) => error,
            };
            if error.kind() == ErrorKind::Token
                && let Some(token) = &token
            {
                token_rejections += 1;
                if self.inner.tokens.was_proven(token.generation) {
                    unproven_rejections = 0;
                } else {
                    unproven_rejections += 1;
                }
                if unproven_rejections >= MAX_UNPROVEN_TOKEN_REJECTIONS
                    || token_rejections >= MAX_TOKEN_REJECTIONS
                {
                    tracing::warn!(
                        endpoint = spec.path,
                        token_rejections,
                        unproven_rejections,
                        "access tokens keep being rejected; giving up on this call"
                    );
                    return Err(error);
                }
                self.inner.tokens.invalidate(token.generation).await;
                continue;
            }
            if attempt >= MAX_ATTEMPTS {
                return Err(error);
            }
            let Some(delay) = self.retry_delay(&error, attempt) else {
                return Err(error);
            };
            tracing::debug!(endpoint = spec.path, attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn retry_delay(&self, error: &Error, attempt: u32) -> Option<Duration> {
        let config = &self.inner.config;
        let mut rng = rand::rng();
        match error {
            Error::Throttled { .. } => {
                let base = config.throttle_retry_delay;
                Some(base + base.mul_f64(rng.random_range(0.0..0.2)))
            }
            Error::IpBanned { wait, .. } => match config.ip_ban {
                IpBanPolicy::Wait { max } if *wait <= max => Some(*wait),
                _ => None,
            },
            _ if error.is_transient() => {
                let exponent = attempt.saturating_sub(1).min(16);
                let base = config
                    .retry_base_delay
                    .saturating_mul(1 << exponent)
                    .min(MAX_BACKOFF);
                Some(base + base.mul_f64(rng.random_range(0.0..0.5)))
            }
            _ => None,
        }
    }

    /// The cached token, or a fresh one (single-flight).
    async fn token(&self) -> Result<Token, Error> {
        let clock = self.inner.clock.clone();
        self.inner
            .tokens
            .get(move || clock.now(), || self.fetch_token())
            .await
    }

    async fn fetch_token(&self) -> Result<Issued, Error> {
        let config = &self.inner.config;
        let spec = match config.token_source {
            TokenSource::V1OAuth2 => CallSpec {
                family: Family::Api,
                method: Method::POST,
                path: "/v1.0/oauth2/accessToken",
                query: Vec::new(),
                body: Some(
                    json!({"appKey": config.app_key, "appSecret": config.app_secret.expose_secret()}),
                ),
                authenticated: false,
            },
            TokenSource::LegacyGettoken => CallSpec {
                family: Family::Oapi,
                method: Method::GET,
                path: "/gettoken",
                query: vec![
                    ("appkey", config.app_key.clone()),
                    ("appsecret", config.app_secret.expose_secret().to_owned()),
                ],
                body: None,
                authenticated: false,
            },
        };
        let answer = Box::pin(self.execute(&spec)).await?;
        let (token_field, expiry_field) = match config.token_source {
            TokenSource::V1OAuth2 => ("accessToken", "expireIn"),
            TokenSource::LegacyGettoken => ("access_token", "expires_in"),
        };
        let decode_error = |detail: String| Error::Decode {
            endpoint: spec.path.to_owned(),
            detail,
        };
        let fields =
            Fields::of(&answer.json, "body").map_err(|err| decode_error(err.to_string()))?;
        let secret = fields
            .req_str(token_field)
            .map_err(|err| decode_error(err.to_string()))?;
        let expires_in_seconds = fields
            .opt_i64(expiry_field)
            .map_err(|err| decode_error(err.to_string()))?
            .unwrap_or(0);
        Ok(Issued {
            secret: secret.into(),
            expires_in_seconds,
        })
    }

    /// One attempt: ban latch, limits, ledger reservation, HTTP, classification, metering.
    async fn attempt(&self, spec: &CallSpec, token: Option<&Token>) -> Result<Answer, Error> {
        let inner = &*self.inner;
        inner.through_ban(spec.path).await?;
        inner.limiters.for_path(spec.path).until_ready().await;
        let _permit = inner
            .concurrency
            .acquire()
            .await
            .map_err(|_| Error::Config {
                detail: "the client's semaphore was closed".to_owned(),
            })?;
        // A ban may have been seen while this call waited for its turn.
        inner.through_ban(spec.path).await?;
        let metered_endpoint = is_metered_endpoint(spec.path);
        let reservation = if metered_endpoint {
            Some(self.reserve(spec.path)?)
        } else {
            None
        };
        let request = self.build(spec, token)?;
        let ticket = if metered_endpoint {
            Some(self.write_down(spec.path)?)
        } else {
            None
        };
        let timeout = inner.config.request_timeout;
        let token_endpoint = !spec.authenticated;
        let (outcome, result) = match request.send().await {
            Err(err) => transport_failure(spec.path, err, timeout),
            Ok(response) if response.status().is_redirection() => redirected(spec.path, &response),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Err(err) if err.is_timeout() => transport_failure(spec.path, err, timeout),
                    Err(err) => {
                        let detail =
                            format!("HTTP {status}, body cut short: {}", err.without_url());
                        (
                            CallOutcome::Malformed,
                            Err(Error::Malformed {
                                endpoint: spec.path.to_owned(),
                                detail,
                            }),
                        )
                    }
                    Ok(body) => {
                        let (outcome, result) =
                            classify(spec.family, spec.path, status, &body, token_endpoint);
                        let raw = || String::from_utf8_lossy(&body).into_owned();
                        (outcome, result.map(|json| Answer { json, raw: raw() }))
                    }
                }
            }
        };
        if outcome == CallOutcome::QuotaExhausted
            && inner
                .quota_exhausted
                .compare_exchange(
                    NOT_EXHAUSTED,
                    inner.clock.now().timestamp_millis(),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
        {
            tracing::warn!(
                endpoint = spec.path,
                "DingTalk reports the monthly API quota exhausted; no further metered calls"
            );
        }
        if let Err(Error::IpBanned { wait, .. }) = &result {
            inner.ip_ban.latch(*wait);
        }
        let record = CallRecord {
            endpoint: spec.path.to_owned(),
            metered_endpoint,
            outcome,
            at: inner.clock.now(),
        };
        if let Some(reservation) = reservation {
            reservation.settle(record.metered());
        }
        match ticket {
            Some(ticket) => inner.recorder.settle(ticket, &record),
            None => inner.recorder.record(&record),
        }
        tracing::debug!(endpoint = spec.path, outcome = ?record.outcome, metered = record.metered(), "call answered");
        result
    }

    /// Writes a metered call down in the call ledger before it is sent; `Err` (the call is not
    /// sent) when the recorder cannot.
    fn write_down(&self, endpoint: &str) -> Result<CallTicket, Error> {
        let pending = CallRecord {
            endpoint: endpoint.to_owned(),
            metered_endpoint: true,
            outcome: CallOutcome::Reserved,
            at: self.inner.clock.now(),
        };
        self.inner.recorder.reserve(&pending).map_err(|error| {
            let mut detail = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                detail.push_str(": ");
                detail.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(endpoint, error.message = %detail, "call not sent: the call ledger refused it");
            Error::Unrecorded {
                endpoint: endpoint.to_owned(),
                detail,
            }
        })
    }

    /// Claims one metered call, or refuses without calling when the quota is gone, the stop
    /// flag is raised, or the handle's budget or the client's cap is reached.
    fn reserve(&self, endpoint: &str) -> Result<Reservation<'_>, Error> {
        let inner = &*self.inner;
        if inner.quota_exhausted.load(Ordering::SeqCst) != NOT_EXHAUSTED {
            return Err(Error::QuotaExhausted {
                endpoint: endpoint.to_owned(),
                code: "seen earlier by this client".to_owned(),
            });
        }
        let exhausted = |cap| Error::BudgetExhausted {
            endpoint: endpoint.to_owned(),
            cap,
        };
        if let Some(budget) = &self.budget {
            budget.take().map_err(exhausted)?;
        }
        let cap = inner.cap.load(Ordering::SeqCst);
        let claimed = inner
            .reserved
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |reserved| {
                (reserved < cap).then_some(reserved + 1)
            });
        if claimed.is_err() {
            if let Some(budget) = &self.budget {
                budget.give_back();
            }
            return Err(exhausted(cap));
        }
        Ok(Reservation {
            inner,
            budget: self.budget.as_ref(),
            settled: false,
        })
    }

    fn build(
        &self,
        spec: &CallSpec,
        token: Option<&Token>,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let config = &self.inner.config;
        let base = match spec.family {
            Family::Oapi => &config.oapi_base_url,
            Family::Api => &config.api_base_url,
        };
        let mut url = base.clone();
        url.set_path(&format!(
            "{}{}",
            base.path().trim_end_matches('/'),
            spec.path
        ));
        let oapi_token = token.filter(|_| spec.family == Family::Oapi);
        if !spec.query.is_empty() || oapi_token.is_some() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &spec.query {
                pairs.append_pair(name, value);
            }
            if let Some(token) = oapi_token {
                pairs.append_pair("access_token", token.secret.expose_secret());
            }
        }
        let mut request = self.inner.http.request(spec.method.clone(), url);
        if let Some(token) = token.filter(|_| spec.family == Family::Api) {
            let mut value =
                HeaderValue::from_str(token.secret.expose_secret()).map_err(|_| Error::Decode {
                    endpoint: "/v1.0/oauth2/accessToken".to_owned(),
                    detail: "the access token is not a valid header value".to_owned(),
                })?;
            value.set_sensitive(true);
            request = request.header("x-acs-dingtalk-access-token", value);
        }
        if let Some(body) = &spec.body {
            request = request.json(body);
        }
        Ok(request)
    }
}

/// A 3xx, not followed: the error names the status and the `Location`'s origin only (scheme,
/// host, port), never its path or query, which could carry anything.
fn redirected(
    endpoint: &str,
    response: &reqwest::Response,
) -> (CallOutcome, Result<Answer, Error>) {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| response.url().join(text).ok())
                .map_or_else(
                    || "an unreadable Location".to_owned(),
                    |url| url.origin().ascii_serialization(),
                )
        })
        .unwrap_or_else(|| "no Location".to_owned());
    (
        CallOutcome::Redirected(status),
        Err(Error::Redirected {
            endpoint: endpoint.to_owned(),
            status,
            location,
        }),
    )
}

/// A failure before a complete answer: a timeout (metered: DingTalk may have served it), a
/// connection that could not be made (never reached DingTalk: not metered), or one that broke
/// after the request may have been sent (metered, the safe side: a reset after the request was
/// forwarded leaves DingTalk's count above ours otherwise). The URL is stripped from the error.
fn transport_failure(
    endpoint: &str,
    err: reqwest::Error,
    timeout: Duration,
) -> (CallOutcome, Result<Answer, Error>) {
    let endpoint = endpoint.to_owned();
    let outcome = if err.is_timeout() {
        return (
            CallOutcome::Timeout,
            Err(Error::Timeout { endpoint, timeout }),
        );
    } else if err.is_connect() {
        CallOutcome::Transport
    } else {
        CallOutcome::Interrupted
    };
    (
        outcome,
        Err(Error::Transport {
            endpoint,
            source: err.without_url(),
        }),
    )
}

#[cfg(test)]
mod tests;
