//! The mutable side of a running simulator: the virtual clock, issued tokens, armed faults, the
//! per-API QPS windows and the call accounting. The world itself is immutable and shared.
//!
//! Everything sits behind one short-lived mutex; no lock is held while a response is built or
//! while a slow fault sleeps. This module does not shape HTTP answers (see `http`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::faults::{FaultKind, FaultRule, Faults};
use super::metering::{Answered, is_metered_path};
use super::world::{World, local_date};

/// Lifetime of an access token, in virtual seconds.
pub const TOKEN_LIFETIME_S: i64 = 7200;

/// Push events the two push approaches would have consumed by now (PRODUCT.md section 7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEquivalent {
    /// Approach 1: one push per check event (every punch, the synthetic 补卡 punches included).
    pub check_events: u64,
    /// Approach 2: one push per supply instance finished or terminated, the REVOKE instances
    /// attached to revoked 补卡 included (DingTalk pushes every instance that finishes).
    pub supply_events: u64,
}

/// Call accounting (`GET /_sim/stats`). Every DingTalk call lands in exactly one of `metered`
/// (counted against the monthly quota), `throttled` (rejected by QPS), or `free` (everything
/// else: token and contacts calls, and metered-endpoint calls that were not counted because they
/// met a 5xx, the quota answer, an IP ban, or a hostile `redirect` or `html_page` fault). A
/// `throttle_429_json` fault counts as throttled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Calls per path (no query string), whatever their outcome.
    pub calls: BTreeMap<String, u64>,
    pub metered: u64,
    pub free: u64,
    pub throttled: u64,
    /// Metered calls per natural month (`YYYY-MM`, Asia/Shanghai, virtual clock).
    #[serde(default)]
    pub metered_by_month: BTreeMap<String, u64>,
    pub push_equivalent: PushEquivalent,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Invalid,
    Expired,
}

struct Inner {
    now_ms: i64,
    /// token → expiry (ms, virtual).
    tokens: HashMap<String, i64>,
    current: Option<String>,
    token_seq: u64,
    faults: Faults,
    stats: SimStats,
    qps: HashMap<String, VecDeque<Instant>>,
    request_seq: u64,
}

/// A running simulator's state. `Debug` shows no token.
pub struct SimState {
    world: Arc<World>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("employees", &self.world.employees.len())
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl SimState {
    pub fn new(world: Arc<World>) -> Self {
        let now_ms = world
            .config
            .clock
            .map(|c| c.timestamp_millis())
            .unwrap_or_else(|| world.default_clock_ms());
        SimState {
            world,
            inner: Mutex::new(Inner {
                now_ms,
                tokens: HashMap::new(),
                current: None,
                token_seq: 0,
                faults: Faults::default(),
                stats: SimStats::default(),
                qps: HashMap::new(),
                request_seq: 0,
            }),
        }
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn world_arc(&self) -> Arc<World> {
        Arc::clone(&self.world)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the plain data inconsistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn now_ms(&self) -> i64 {
        self.lock().now_ms
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }

    pub fn set_clock(&self, now: DateTime<Utc>) {
        self.lock().now_ms = now.timestamp_millis();
    }

    pub fn stats(&self) -> SimStats {
        let (mut stats, now) = {
            let inner = self.lock();
            (inner.stats.clone(), inner.now_ms)
        };
        stats.push_equivalent = PushEquivalent {
            check_events: self.world.check_events_by(now),
            supply_events: self.world.supply_events_by(now),
        };
        stats
    }

    pub fn arm_faults(&self, rules: Vec<FaultRule>) {
        self.lock().faults.replace(rules);
    }

    pub fn armed_faults(&self) -> Vec<FaultRule> {
        self.lock().faults.armed()
    }

    pub(crate) fn next_fault(&self, path: &str) -> Option<FaultKind> {
        self.lock().faults.next(path)
    }

    /// A deterministic request id: the same calls in the same order get the same ids.
    pub(crate) fn request_id(&self) -> String {
        let seq = {
            let mut inner = self.lock();
            inner.request_seq += 1;
            inner.request_seq
        };
        let digest = Sha256::digest(format!("req:{}:{seq}", self.world.config.seed));
        hex::encode(&digest[..16]).to_uppercase()
    }

    /// Records a call under the sliding one-second QPS window of its path; false = throttled.
    pub(crate) fn qps_admit(&self, path: &str) -> bool {
        let limit = self.world.config.qps as usize;
        let now = Instant::now();
        let mut inner = self.lock();
        let window = inner.qps.entry(path.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|&t| now.duration_since(t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit {
            return false;
        }
        window.push_back(now);
        true
    }

    /// Whether a metered call now would be refused with the monthly quota answer: our metered
    /// calls this month plus what the organisation's other apps spent so far this month
    /// (`SimConfig::other_apps`) reach the quota.
    pub(crate) fn quota_exhausted(&self) -> bool {
        let Some(quota) = self.world.config.monthly_quota else {
            return false;
        };
        let inner = self.lock();
        let month = month_key(inner.now_ms);
        let ours = inner
            .stats
            .metered_by_month
            .get(&month)
            .copied()
            .unwrap_or(0);
        ours.saturating_add(self.other_apps_spent(inner.now_ms)) >= quota
    }

    /// Metered calls the organisation's other apps spent in the month of `now_ms`, up to it.
    fn other_apps_spent(&self, now_ms: i64) -> u64 {
        let month = month_key(now_ms);
        self.world
            .config
            .other_apps
            .iter()
            .filter(|(at, _)| {
                let at = at.timestamp_millis();
                at <= now_ms && month_key(at) == month
            })
            .fold(0u64, |sum, (_, calls)| sum.saturating_add(*calls))
    }

    /// Accounts for one finished DingTalk call.
    pub(crate) fn record(&self, path: &str, answer: &Answered) {
        let mut inner = self.lock();
        let month = month_key(inner.now_ms);
        let stats = &mut inner.stats;
        *stats.calls.entry(path.to_owned()).or_default() += 1;
        if *answer == Answered::Throttled {
            stats.throttled += 1;
        } else if is_metered_path(path) && answer.counts_against_quota() {
            stats.metered += 1;
            *stats.metered_by_month.entry(month).or_default() += 1;
        } else {
            stats.free += 1;
        }
    }

    /// `gettoken` / `oauth2/accessToken`: the current token if still valid (its expiry pushed
    /// out), else a new one.
    pub(crate) fn issue_token(&self) -> String {
        let mut inner = self.lock();
        let now = inner.now_ms;
        let expiry = now + TOKEN_LIFETIME_S * 1000;
        if let Some(current) = inner.current.clone()
            && let Some(exp) = inner.tokens.get_mut(&current)
            && *exp > now
        {
            *exp = expiry;
            return current;
        }
        inner.token_seq += 1;
        let digest = Sha256::digest(format!(
            "token:{}:{}",
            self.world.config.seed, inner.token_seq
        ));
        let token = hex::encode(&digest[..16]);
        inner.tokens.insert(token.clone(), expiry);
        inner.current = Some(token.clone());
        token
    }

    pub(crate) fn check_token(&self, token: Option<&str>) -> Result<(), TokenError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
        let inner = self.lock();
        match inner.tokens.get(token) {
            None => Err(TokenError::Invalid),
            Some(&exp) if exp <= inner.now_ms => Err(TokenError::Expired),
            Some(_) => Ok(()),
        }
    }

    pub(crate) fn invalidate_tokens(&self) {
        let mut inner = self.lock();
        inner.tokens.clear();
        inner.current = None;
    }
}

/// `YYYY-MM` of an instant in Asia/Shanghai.
pub fn month_key(ms: i64) -> String {
    local_date(ms).format("%Y-%m").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::SimConfig;
    use crate::generate::generate;

    fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0)
            .single()
            .expect("a valid instant")
    }

    #[test]
    fn other_apps_spend_the_same_monthly_quota_from_their_instant_to_the_months_end() {
        let mut config = SimConfig::new(3, 5);
        config.monthly_quota = Some(100);
        // 02:00 UTC on Nov 10 is 10:00 Asia/Shanghai; Nov 30 16:00 UTC is already Dec 1 there.
        config.other_apps = vec![(at(11, 10, 2), 95), (at(11, 30, 16), 1_000)];
        let state = SimState::new(Arc::new(generate(&config)));

        state.set_clock(at(11, 9, 18));
        for _ in 0..4 {
            state.record("/attendance/list", &Answered::Ok);
        }
        assert!(!state.quota_exhausted(), "4 of ours, none of theirs yet");

        state.set_clock(at(11, 10, 1));
        assert!(!state.quota_exhausted(), "one hour before they spend");
        state.set_clock(at(11, 10, 2));
        assert!(!state.quota_exhausted(), "4 + 95 = 99 < 100");
        state.record("/attendance/list", &Answered::Ok);
        assert!(state.quota_exhausted(), "5 + 95 = 100");
        assert_eq!(state.stats().metered, 5, "their calls are not ours");

        state.set_clock(at(11, 30, 15));
        assert!(state.quota_exhausted(), "still November in Shanghai");
        state.set_clock(at(11, 30, 16));
        assert!(
            state.quota_exhausted(),
            "December: their 1,000 on Dec 1 spend it again"
        );

        let mut config = SimConfig::new(3, 5);
        config.monthly_quota = Some(100);
        config.other_apps = vec![(at(11, 10, 2), 95)];
        let state = SimState::new(Arc::new(generate(&config)));
        state.set_clock(at(11, 10, 3));
        for _ in 0..5 {
            state.record("/attendance/list", &Answered::Ok);
        }
        assert!(state.quota_exhausted());
        state.set_clock(at(11, 30, 15));
        assert!(state.quota_exhausted());
        state.set_clock(at(11, 30, 16));
        assert!(!state.quota_exhausted(), "a new month in Asia/Shanghai");

        config.monthly_quota = None;
        let state = SimState::new(Arc::new(generate(&config)));
        state.set_clock(at(11, 11, 0));
        assert!(!state.quota_exhausted(), "no quota, nothing to exhaust");
    }
}
