//! A moment kept in an atomic, so any thread reads or sets it without a lock: milliseconds
//! after a clock's origin, plus one (0 = none). Used for the last pooled checkout and for the
//! database monitor's last good ping and ping under way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Stamp(AtomicU64);

impl Stamp {
    pub const fn none() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Now, on the clock that started at `origin`.
    pub fn mark(&self, origin: Instant) {
        self.mark_at(origin.elapsed());
    }

    /// `after_origin` on the clock's origin.
    pub fn mark_at(&self, after_origin: Duration) {
        let millis = u64::try_from(after_origin.as_millis()).unwrap_or(u64::MAX - 1);
        self.0.store(millis + 1, Ordering::Release);
    }

    pub fn clear(&self) {
        self.0.store(0, Ordering::Release);
    }

    /// How long ago the stamp was set; `None` when it is not set.
    pub fn elapsed(&self, origin: Instant) -> Option<Duration> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            at => Some(
                origin
                    .elapsed()
                    .saturating_sub(Duration::from_millis(at - 1)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_tells_how_long_ago_it_was_set_until_cleared() {
        let origin = Instant::now()
            .checked_sub(Duration::from_secs(60))
            .expect("the clock is past a minute");
        let stamp = Stamp::none();
        assert_eq!(stamp.elapsed(origin), None);
        stamp.mark_at(Duration::from_secs(50));
        let ago = stamp.elapsed(origin).unwrap();
        assert!(
            ago >= Duration::from_secs(10) && ago < Duration::from_secs(11),
            "{ago:?}"
        );
        stamp.mark(origin);
        assert!(stamp.elapsed(origin).unwrap() < Duration::from_secs(1));
        stamp.clear();
        assert_eq!(stamp.elapsed(origin), None);
        // A stamp set at the origin itself is still a stamp.
        stamp.mark_at(Duration::ZERO);
        assert!(stamp.elapsed(origin).is_some());
    }
}
