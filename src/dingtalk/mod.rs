//! The DingTalk client: the job's only way to the outside world.
//!
//! [`Client`] has one method per endpoint the job needs, handles pagination, splitting and
//! retries inside, and returns domain types (`crate::domain`), never wire types. Every attempt,
//! token and contacts calls included, is reported to a [`CallRecorder`] as a
//! [`CallRecord`](crate::domain::CallRecord), so the job's metered count equals DingTalk's.
//!
//! # Flow of one call
//!
//! ```text
//! endpoint method ─▶ transport::execute ─┬─ quota flag / metered cap (fail fast, no call)
//!                                        ├─ per-path rate limiter ─▶ semaphore
//!                                        ├─ auth::TokenCache (single-flight refresh)
//!                                        ├─ IP-ban latch (fail fast, no call, once a ban is seen)
//!                                        ├─ reserve in the call ledger (metered; fail ⇒ not sent)
//!                                        ├─ HTTP (no redirect followed) ─▶ classify (IP ban,
//!                                        │  HTML page, envelope, code) ─▶ settle / record
//!                                        └─ retry: transient → backoff; token → refresh and
//!                                           retry while fresh tokens work
//! ```
//!
//! # Modules
//!
//! - `client`: the struct and the attendance and contacts methods; `approvals`: the workflow ones.
//! - `transport`: one call end to end: limits, token, HTTP, metering, retries.
//! - `classify`: an HTTP answer → call outcome + typed error (pure).
//! - `auth`: the token cache. `ban`: the IP-ban latch. `limits`: splitting and rate limiters.
//! - `decode`, `rows`, `form`: lenient decoding of DingTalk's JSON into domain values;
//!   `decode::decider`: who agreed to or refused an approval, from its stored detail.
//!
//! # Invariants
//!
//! - Secrets (app secret, tokens) are `SecretString`, exposed only where a request is built; no
//!   URL is ever logged or put in an error (reqwest errors are stripped of theirs).
//! - Once DingTalk reports the monthly quota exhausted, this client makes no further metered call.
//! - Once DingTalk bans the IP, this client makes no further call at all until the ban is over
//!   (or, when the policy allows waiting that long, waits it out without calling).
//! - No redirect is followed: DingTalk does not redirect API calls, and following one would carry
//!   the app secret or a token to another host.
//! - A metered call is written down in the call ledger before it is sent, or not sent.
//! - A per-batch failure is data in the pull, not an abort.
//!
//! The client deliberately does not plan (what to fetch, what it costs) or persist anything:
//! the planner decides, the store records what the [`CallRecorder`] is given.

mod approvals;
mod auth;
mod ban;
mod classify;
mod client;
mod decode;
mod error;
mod form;
pub mod limits;
mod model;
mod people;
mod rows;
mod transport;

use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

pub(crate) use approvals::Template;
pub use client::Client;
pub(crate) use client::{Budget, StopFlag};
pub(crate) use decode::decider::decider;
pub use error::{Error, ErrorKind};
pub(crate) use model::{BatchError, Punch};
pub use model::{ProcessInstanceIdsQuery, Scope};

use crate::domain::CallRecord;

/// Where the access token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenSource {
    /// `POST api /v1.0/oauth2/accessToken` (current).
    #[default]
    V1OAuth2,
    /// `GET oapi /gettoken` (legacy; the secret travels in the query string).
    LegacyGettoken,
}

/// What to do when DingTalk bans the caller's IP (10,000 calls per 20 s per IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpBanPolicy {
    /// Fail the call with [`Error::IpBanned`].
    #[default]
    GiveUp,
    /// Wait out the ban when it is no longer than `max`, then retry.
    Wait { max: Duration },
}

/// Everything the client needs to know. Built with [`ClientConfig::new`], fields adjusted after.
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) oapi_base_url: Url,
    pub(crate) api_base_url: Url,
    pub(crate) app_key: String,
    pub app_secret: SecretString,
    pub token_source: TokenSource,
    /// Calls per second per API path; DingTalk allows 20 per app per API.
    pub qps_per_api: u32,
    /// Calls in flight at once, all APIs together.
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    pub ip_ban: IpBanPolicy,
    /// The business time zone: work dates, request bounds and form times are read in it.
    pub(crate) timezone: chrono_tz::Tz,
    /// Pause before retrying after QPS throttling (DingTalk advises about one second).
    pub throttle_retry_delay: Duration,
    /// First pause before retrying other transient errors; doubles per attempt.
    pub retry_base_delay: Duration,
}

/// Default calls per second per API: below DingTalk's 20 per app per API.
pub const DEFAULT_QPS_PER_API: u32 = 19;
/// Default calls in flight: enough to keep results and approvals APIs busy side by side.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;

impl ClientConfig {
    pub fn new(
        oapi_base_url: Url,
        api_base_url: Url,
        app_key: impl Into<String>,
        app_secret: SecretString,
    ) -> Self {
        ClientConfig {
            oapi_base_url,
            api_base_url,
            app_key: app_key.into(),
            app_secret,
            token_source: TokenSource::default(),
            qps_per_api: DEFAULT_QPS_PER_API,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            request_timeout: Duration::from_secs(15),
            ip_ban: IpBanPolicy::default(),
            timezone: chrono_tz::Asia::Shanghai,
            throttle_retry_delay: Duration::from_secs(1),
            retry_base_delay: Duration::from_millis(500),
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("oapi_base_url", &self.oapi_base_url.as_str())
            .field("api_base_url", &self.api_base_url.as_str())
            .field("app_key", &self.app_key)
            .field("app_secret", &"[REDACTED]")
            .field("token_source", &self.token_source)
            .field("qps_per_api", &self.qps_per_api)
            .field("max_concurrency", &self.max_concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("ip_ban", &self.ip_ban)
            .field("timezone", &self.timezone)
            .finish_non_exhaustive()
    }
}

/// Why a call could not be written down before it was sent.
pub type RecordError = Box<dyn std::error::Error + Send + Sync>;

/// Which written-down call a [`CallRecorder::settle`] settles: whatever the recorder returned
/// from [`CallRecorder::reserve`] (a row id for the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTicket(pub i64);

/// Receives every attempt the client makes (the store persists them as the call ledger).
///
/// A call to a metered endpoint is *reserved* before it is sent ([`CallRecorder::reserve`], with
/// outcome [`CallOutcome::Reserved`](crate::domain::CallOutcome::Reserved), which counts as
/// metered) and *settled* with its real outcome once it is over ([`CallRecorder::settle`]); a
/// reservation that fails means the call is not sent. Free calls are only [`record`]ed.
/// A recorder that keeps nothing durable may leave `reserve`/`settle` to their defaults, which
/// record the call once it is over.
///
/// [`record`]: CallRecorder::record
pub trait CallRecorder: Send + Sync {
    /// Records an attempt that is over.
    fn record(&self, call: &CallRecord);

    /// Writes a metered call down before it is sent; `Err` means it must not be sent.
    fn reserve(&self, call: &CallRecord) -> Result<CallTicket, RecordError> {
        let _ = call;
        Ok(CallTicket(0))
    }

    /// Settles a reserved call with how it really ended.
    fn settle(&self, ticket: CallTicket, call: &CallRecord) {
        let _ = ticket;
        self.record(call);
    }
}

/// A recorder that keeps calls in memory (for tests).
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    calls: Mutex<Vec<CallRecord>>,
}

impl MemoryRecorder {
    /// Every call in the order it was recorded or reserved, with its outcome once settled.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().clone()
    }

    /// How many recorded attempts consumed a metered call (reserved ones included).
    pub fn metered(&self) -> u64 {
        self.calls().iter().filter(|call| call.metered()).count() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CallRecord>> {
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CallRecorder for MemoryRecorder {
    fn record(&self, call: &CallRecord) {
        self.lock().push(call.clone());
    }

    fn reserve(&self, call: &CallRecord) -> Result<CallTicket, RecordError> {
        let mut calls = self.lock();
        calls.push(call.clone());
        Ok(CallTicket(calls.len() as i64 - 1))
    }

    fn settle(&self, ticket: CallTicket, call: &CallRecord) {
        let mut calls = self.lock();
        match usize::try_from(ticket.0)
            .ok()
            .and_then(|index| calls.get_mut(index))
        {
            Some(slot) => *slot = call.clone(),
            None => calls.push(call.clone()),
        }
    }
}
