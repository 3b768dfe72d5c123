//! Rate limits of the public `POST /inbox/{token}`: per inbox (5 a second, bursts of 20), and
//! for all inboxes together (50 a second), so neither guessed tokens nor one noisy sender can
//! keep the database busy.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::InboxToken;

/// Tokens remembered before stale entries are dropped (each is a few dozen bytes).
const MAX_TRACKED: usize = 10_000;

#[derive(Clone)]
pub struct InboxRateLimit {
    per_inbox: Arc<DefaultKeyedRateLimiter<String>>,
    overall: Arc<DefaultDirectRateLimiter>,
    clock: DefaultClock,
}

impl Default for InboxRateLimit {
    fn default() -> Self {
        let quota = |rate: u32, burst: u32| {
            Quota::per_second(NonZeroU32::new(rate).expect("non-zero"))
                .allow_burst(NonZeroU32::new(burst).expect("non-zero"))
        };
        Self {
            per_inbox: Arc::new(RateLimiter::keyed(quota(5, 20))),
            overall: Arc::new(RateLimiter::direct(quota(50, 100))),
            clock: DefaultClock::default(),
        }
    }
}

impl InboxRateLimit {
    /// `Ok` when a request to `token` may be taken now, else how long to wait.
    pub fn check(&self, token: &InboxToken) -> Result<(), Duration> {
        if self.per_inbox.len() > MAX_TRACKED {
            self.per_inbox.retain_recent();
        }
        let now = self.clock.now();
        self.overall
            .check()
            .map_err(|not_until| not_until.wait_time_from(now))?;
        self.per_inbox
            .check_key(&token.as_str().to_owned())
            .map_err(|not_until| not_until.wait_time_from(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbox_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limit = InboxRateLimit::default();
        let busy = InboxToken::generate();
        for _ in 0..20 {
            assert!(limit.check(&busy).is_ok());
        }
        assert!(limit.check(&busy).is_err());
        assert!(limit.check(&InboxToken::generate()).is_ok());
    }
}
