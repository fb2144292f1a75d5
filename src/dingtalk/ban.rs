//! The IP-ban latch: once DingTalk answers with its IP-ban page or `status: 1111`, the client
//! makes no further call, free ones included, until the ban is over. A call arriving while the
//! latch holds fails fast with [`Error::IpBanned`] without touching the network, unless the
//! configured [`IpBanPolicy`] waits out bans that long; then it sleeps until the ban is over.
//!
//! The latch runs on real time (`Instant`), as DingTalk's ban does, not on the injected clock:
//! a replay pinned by `--as-of` still sees a ban end. It does not decide what a ban looks like
//! (`classify` does) nor whether a banned call is retried (`transport` does).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Error, IpBanPolicy};

/// The ban the client saw last, if it may still hold.
#[derive(Debug, Default)]
pub(crate) struct BanLatch(Mutex<Option<Held>>);

#[derive(Debug, Clone, Copy)]
struct Held {
    /// No call before this instant.
    until: Instant,
    /// How long the ban said, for the error and the policy.
    wait: Duration,
}

impl BanLatch {
    /// Latches a ban of `wait` from now (a longer latch already set is kept).
    pub(crate) fn latch(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut held = self.lock();
        if held.is_none_or(|held| held.until < until) {
            if held.is_none() {
                tracing::warn!(
                    wait_secs = wait.as_secs(),
                    "DingTalk banned this IP; no further call until the ban is over"
                );
            }
            *held = Some(Held { until, wait });
        }
    }

    /// Before a call to `endpoint`: `Err` while a ban holds and `policy` does not wait that
    /// long; otherwise waits out what is left of a ban the policy allows, then lets the call go.
    pub(crate) async fn pass(&self, endpoint: &str, policy: IpBanPolicy) -> Result<(), Error> {
        loop {
            let Some(held) = *self.lock() else {
                return Ok(());
            };
            let left = held.until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let mut latch = self.lock();
                if latch.is_some_and(|latched| latched.until <= Instant::now()) {
                    *latch = None;
                }
                return Ok(());
            }
            match policy {
                IpBanPolicy::Wait { max } if held.wait <= max => tokio::time::sleep(left).await,
                IpBanPolicy::Wait { .. } | IpBanPolicy::GiveUp => {
                    return Err(Error::IpBanned {
                        endpoint: endpoint.to_owned(),
                        wait: held.wait,
                    });
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dingtalk::ErrorKind;

    #[tokio::test]
    async fn a_latched_ban_refuses_every_call_unless_the_policy_waits_it_out() {
        let give_up = IpBanPolicy::GiveUp;
        let latch = BanLatch::default();
        assert!(latch.pass("/gettoken", give_up).await.is_ok());
        latch.latch(Duration::from_secs(300));
        for endpoint in ["/gettoken", "/topapi/user/listid", "/attendance/list"] {
            let err = latch.pass(endpoint, give_up).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::IpBanned, "{endpoint}");
            assert!(err.to_string().contains(endpoint), "{err}");
        }
        latch.latch(Duration::ZERO);
        assert!(
            latch.pass("/gettoken", give_up).await.is_err(),
            "a shorter ban seen later does not shorten the latch"
        );

        let patient = IpBanPolicy::Wait {
            max: Duration::from_secs(1),
        };
        let latch = BanLatch::default();
        latch.latch(Duration::from_millis(50));
        let started = Instant::now();
        assert!(latch.pass("/attendance/list", patient).await.is_ok());
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "waited it out"
        );
        assert!(latch.lock().is_none(), "an expired latch is cleared");
        latch.latch(Duration::from_secs(5));
        assert!(
            latch.pass("/attendance/list", patient).await.is_err(),
            "a ban longer than the policy's wait is not waited out"
        );
    }
}
