//! The access-token cache: one token per client (one app), refreshed ahead of expiry, one refresh
//! at a time however many calls wait.
//!
//! Expiry is judged by the injected [`Clock`](crate::domain::Clock), so replays and the simulator's
//! movable clock agree with the cache. When DingTalk rejects a token anyway (a clock jump, a token
//! revoked early) the caller drops it with [`TokenCache::invalidate`] naming the generation it
//! used, so many calls failing with the same stale token cause a single refresh. The cache also
//! remembers the newest generation that ever worked ([`TokenCache::proven`]), so a caller can
//! tell a token reset in the middle of a run (the tokens worked, then stopped: retry with a
//! fresh one) from tokens DingTalk refuses from the start (credentials or clock: give up). This
//! module does not call DingTalk itself: the fetch is passed in.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use tokio::sync::Mutex;

use super::Error;

/// Refresh this long before the token expires (DingTalk advises 5–10 minutes).
const REFRESH_AHEAD: Duration = Duration::minutes(5);
/// Lifetimes at or below this are treated as this, so a zero or negative `expireIn` cannot cause
/// a refresh before every call.
const MIN_LIFETIME: Duration = Duration::seconds(60);
/// Lifetimes above this are treated as this (DingTalk's tokens live two hours).
const MAX_LIFETIME: Duration = Duration::days(1);

/// A token handed to one call, with the generation used to invalidate exactly it.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) secret: SecretString,
    pub(crate) generation: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"[REDACTED]")
            .field("generation", &self.generation)
            .finish()
    }
}

#[derive(Debug)]
struct Cached {
    token: Token,
    refresh_at: DateTime<Utc>,
}

/// A token as DingTalk issued it: the secret and `expireIn` / `expires_in` in seconds.
pub(crate) struct Issued {
    pub(crate) secret: SecretString,
    pub(crate) expires_in_seconds: i64,
}

#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    /// Held across a refresh: that is what makes refreshes single-flight.
    state: Mutex<Option<Cached>>,
    /// Monotonic across refreshes, so an invalidation names the token it saw fail.
    generations: std::sync::atomic::AtomicU64,
    /// The newest generation a call succeeded with (0: none yet).
    proven: std::sync::atomic::AtomicU64,
}

impl TokenCache {
    /// The cached token if it is still fresh at `now()`, else one obtained with `fetch`. Callers
    /// arriving during a refresh wait for it and share its result.
    pub(crate) async fn get<Fetch, Fut>(
        &self,
        now: impl Fn() -> DateTime<Utc>,
        fetch: Fetch,
    ) -> Result<Token, Error>
    where
        Fetch: FnOnce() -> Fut,
        Fut: Future<Output = Result<Issued, Error>>,
    {
        let mut state = self.state.lock().await;
        if let Some(cached) = state.as_ref()
            && now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        *state = None;
        let issued = fetch().await?;
        let lifetime = clamp_lifetime(issued.expires_in_seconds);
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let token = Token {
            secret: issued.secret,
            generation,
        };
        let ahead = REFRESH_AHEAD.min(lifetime / 4);
        *state = Some(Cached {
            token: token.clone(),
            refresh_at: now() + lifetime - ahead,
        });
        tracing::debug!(
            generation,
            lifetime_seconds = lifetime.num_seconds(),
            "access token refreshed"
        );
        Ok(token)
    }

    /// Notes that a call succeeded with the token of `generation`.
    pub(crate) fn proven(&self, generation: u64) {
        self.proven
            .fetch_max(generation, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the token of `generation`, or a newer one, ever worked.
    pub(crate) fn was_proven(&self, generation: u64) -> bool {
        generation != 0 && self.proven.load(std::sync::atomic::Ordering::SeqCst) >= generation
    }

    /// Drops the cached token if it is still the one of `generation`.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .as_ref()
            .is_some_and(|cached| cached.token.generation == generation)
        {
            tracing::debug!(generation, "access token rejected; dropped");
            *state = None;
        }
    }
}

fn clamp_lifetime(expires_in_seconds: i64) -> Duration {
    let given = Duration::seconds(expires_in_seconds.clamp(-1, MAX_LIFETIME.num_seconds() + 1));
    if given <= MIN_LIFETIME {
        tracing::warn!(
            expires_in_seconds,
            "token lifetime too short; treating it as 60 s"
        );
        MIN_LIFETIME
    } else if given > MAX_LIFETIME {
        tracing::warn!(
            expires_in_seconds,
            "token lifetime longer than a day; treating it as one day"
        );
        MAX_LIFETIME
    } else {
        given
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

    use secrecy::ExposeSecret;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    async fn fetch_counting(counter: &AtomicU32, expires_in_seconds: i64) -> Result<Issued, Error> {
        let count = counter.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::task::yield_now().await;
        Ok(Issued {
            secret: SecretString::from(format!("token-{count}")),
            expires_in_seconds,
        })
    }

    #[tokio::test]
    async fn a_fresh_token_is_reused_and_refreshed_five_minutes_before_expiry() {
        let cache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        let first = cache
            .get(|| at(0), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        let again = cache
            .get(|| at(6899), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        assert_eq!(again.secret.expose_secret(), first.secret.expose_secret());
        let renewed = cache
            .get(|| at(6900), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        assert_eq!(renewed.secret.expose_secret(), "token-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tasks.spawn(async move {
                cache
                    .get(|| at(0), || fetch_counting(&fetches, 7200))
                    .await
                    .unwrap()
            });
        }
        while let Some(token) = tasks.join_next().await {
            assert_eq!(token.unwrap().secret.expose_secret(), "token-1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_zero_or_negative_lifetime_does_not_cause_a_refresh_per_call() {
        for expires_in in [0, -5, 1] {
            let cache = TokenCache::default();
            let fetches = AtomicU32::new(0);
            let clock = AtomicI64::new(0);
            for _ in 0..10 {
                cache
                    .get(
                        || at(clock.load(Ordering::SeqCst)),
                        || fetch_counting(&fetches, expires_in),
                    )
                    .await
                    .unwrap();
                clock.fetch_add(1, Ordering::SeqCst);
            }
            assert_eq!(fetches.load(Ordering::SeqCst), 1, "expireIn {expires_in}");
        }
    }

    #[tokio::test]
    async fn an_absurd_lifetime_is_capped_at_one_day() {
        let cache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        cache
            .get(|| at(0), || fetch_counting(&fetches, i64::MAX))
            .await
            .unwrap();
        cache
            .get(|| at(86_400), || fetch_counting(&fetches, i64::MAX))
            .await
            .unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn invalidation_drops_only_the_generation_that_failed() {
        let cache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        let stale = cache
            .get(|| at(0), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        cache.invalidate(stale.generation).await;
        let fresh = cache
            .get(|| at(1), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        cache.invalidate(stale.generation).await;
        let still = cache
            .get(|| at(2), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        assert_eq!(still.generation, fresh.generation);
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert!(!format!("{still:?}").contains("token-2"));
    }

    #[tokio::test]
    async fn a_token_is_proven_once_it_or_a_newer_one_worked() {
        let cache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        let first = cache
            .get(|| at(0), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        assert!(!cache.was_proven(first.generation), "not used yet");
        cache.invalidate(first.generation).await;
        let second = cache
            .get(|| at(1), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        cache.proven(second.generation);
        assert!(cache.was_proven(second.generation));
        assert!(
            cache.was_proven(first.generation),
            "an older token was superseded by one that worked"
        );
        cache.proven(first.generation);
        cache.invalidate(second.generation).await;
        let third = cache
            .get(|| at(2), || fetch_counting(&fetches, 7200))
            .await
            .unwrap();
        assert!(!cache.was_proven(third.generation));
    }
}
