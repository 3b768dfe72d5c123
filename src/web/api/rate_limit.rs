//! Per-token rate limiting of the management API: a steady rate with a burst (GCRA, from the
//! governor crate), shared by every HTTP worker of the process. Over the limit: 429 with
//! `Retry-After`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Clone)]
pub struct ApiRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<i64>>,
    clock: DefaultClock,
}

impl ApiRateLimit {
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            )),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` when token `token_id` may make a request now, else how long to wait.
    pub fn check(&self, token_id: i64) -> Result<(), Duration> {
        self.limiter
            .check_key(&token_id)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limit = ApiRateLimit::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(3).unwrap());
        for _ in 0..3 {
            assert!(limit.check(1).is_ok());
        }
        let wait = limit.check(1).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limit.check(2).is_ok());
    }
}
