//! Admission control for ingest: at most a set number of requests do database work at once.
//! The others wait their turn briefly (first come, first served) and are then turned away with
//! 503 + `Retry-After`, so under a flood latency stays bounded and requests do not pile up
//! behind the connection pool.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Unavailable;

#[derive(Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl Admission {
    /// `limit` requests at once; others wait up to `wait`.
    pub fn new(limit: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            wait,
        }
    }

    /// A slot, held until the permit is dropped; `Busy` when none freed up in time.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Unavailable> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it like a full one all the same.
            Ok(Err(_)) | Err(_) => Err(Unavailable::Busy(
                "ingest is at its concurrency limit (HERALD_INGEST_CONCURRENCY)",
            )),
        }
    }

    /// Slots no request holds now (what a test waits on before it probes a full admission).
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_admission_turns_the_next_request_away_after_the_wait() {
        let admission = Admission::new(1, Duration::from_millis(20));
        let held = admission.enter().await.unwrap();
        assert_eq!(admission.free_slots(), 0);
        assert!(matches!(admission.enter().await, Err(Unavailable::Busy(_))));
        drop(held);
        assert!(admission.enter().await.is_ok());
    }
}
