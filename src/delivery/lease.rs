//! Short leases with a heartbeat. A claim leases its deliveries for `lease` (10 s by default);
//! while requests are in flight the worker renews every lease it holds every third of that. If
//! the worker dies, its leases run out and another worker takes the deliveries back within about
//! one lease. If the worker cannot renew (it lost the database), it abandons its requests before
//! the lease it last secured runs out, so a delivery is never taken back while its first
//! request may still be running.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use uuid::Uuid;

use crate::db::PgPool;
use crate::model::delivery;

/// When this worker last secured its leases, and which deliveries it holds.
pub struct LeaseClock {
    lease: Duration,
    renewed: watch::Sender<Instant>,
    /// Claimed and not yet recorded: the leases the heartbeat renews. A delivery whose outcome
    /// could not be written leaves this set, so its lease runs out and it is taken back.
    held: Mutex<HashSet<Uuid>>,
}

impl LeaseClock {
    pub fn new(lease: Duration) -> Arc<Self> {
        Arc::new(Self {
            lease,
            renewed: watch::Sender::new(Instant::now()),
            held: Mutex::new(HashSet::new()),
        })
    }

    pub fn hold(&self, ids: impl IntoIterator<Item = Uuid>) {
        self.held.lock().expect("held lock").extend(ids);
    }

    pub fn let_go<'a>(&self, ids: impl IntoIterator<Item = &'a Uuid>) {
        let mut held = self.held.lock().expect("held lock");
        for id in ids {
            held.remove(id);
        }
    }

    pub fn held(&self) -> Vec<Uuid> {
        self.held
            .lock()
            .expect("held lock")
            .iter()
            .copied()
            .collect()
    }

    /// Whether work that began at `started` may still go on under its lease.
    pub fn still_valid(&self, started: Instant) -> bool {
        Instant::now() < self.deadline(started)
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub fn lease_seconds(&self) -> i32 {
        self.lease.as_secs().clamp(1, 3600) as i32
    }

    /// Until when a delivery claimed at `claimed_at` may still be worked on.
    fn deadline(&self, claimed_at: Instant) -> Instant {
        // Stop a fifth of a lease early: a renewal may be on its way, and the database's clock
        // (which expires leases) may run a little ahead of this one.
        let secured = claimed_at.max(*self.renewed.borrow());
        secured + self.lease - self.lease / 5
    }

    /// Runs `work` while the lease of a delivery claimed at `claimed_at` holds; `None` when it
    /// could not be renewed in time and the work was abandoned.
    pub async fn within_lease<F: Future>(&self, claimed_at: Instant, work: F) -> Option<F::Output> {
        let mut renewals = self.renewed.subscribe();
        tokio::pin!(work);
        loop {
            let deadline = self.deadline(claimed_at);
            if Instant::now() >= deadline {
                return None;
            }
            tokio::select! {
                output = &mut work => return Some(output),
                _ = tokio::time::sleep_until(deadline) => {}
                _ = renewals.changed() => {}
            }
        }
    }
}

/// Renews this worker's leases every third of a lease until `stop`.
pub fn spawn_heartbeat(
    pool: PgPool,
    worker: String,
    clock: Arc<LeaseClock>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = clock.lease() / 3;
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
            let started = Instant::now();
            let held = clock.held();
            if held.is_empty() {
                clock.renewed.send_replace(started);
                continue;
            }
            let (pool, worker, seconds) = (pool.clone(), worker.clone(), clock.lease_seconds());
            let renewed = tokio::task::spawn_blocking(move || {
                let mut conn = pool.get()?;
                Ok::<_, anyhow::Error>(delivery::renew_leases(&mut conn, &worker, &held, seconds)?)
            })
            .await;
            match renewed {
                Ok(Ok(_)) => {
                    clock.renewed.send_replace(started);
                    if failing {
                        tracing::info!("leases renewed again");
                        failing = false;
                    }
                }
                Ok(Err(err)) if !failing => {
                    tracing::error!(
                        "could not renew leases: {}",
                        crate::db::one_line(&format!("{err:#}"))
                    );
                    failing = true;
                }
                Ok(Err(_)) => {}
                Err(err) => tracing::error!("lease renewal task failed: {err}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_is_abandoned_when_the_lease_is_not_renewed() {
        let clock = LeaseClock::new(Duration::from_secs(10));
        let claimed_at = Instant::now();
        let finished = clock
            .within_lease(claimed_at, tokio::time::sleep(Duration::from_secs(5)))
            .await;
        assert!(finished.is_some());
        let abandoned = clock
            .within_lease(claimed_at, tokio::time::sleep(Duration::from_secs(60)))
            .await;
        assert!(abandoned.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_extends_work_in_flight() {
        let clock = LeaseClock::new(Duration::from_secs(10));
        let claimed_at = Instant::now();
        let renewer = {
            let clock = clock.clone();
            tokio::spawn(async move {
                for _ in 0..6 {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    clock.renewed.send_replace(Instant::now());
                }
            })
        };
        let finished = clock
            .within_lease(claimed_at, tokio::time::sleep(Duration::from_secs(15)))
            .await;
        assert!(finished.is_some());
        renewer.await.unwrap();
    }
}
