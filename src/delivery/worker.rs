//! The delivery worker: claims due deliveries in batches (`FOR UPDATE SKIP LOCKED` plus a
//! lease, committed before anything is sent), sends them with bounded concurrency on one
//! shared HTTP client, and hands outcomes to a recorder task that writes them in batches.
//! No database connection is held while a request is in flight.
//!
//! It wakes when this process queues deliveries, on PostgreSQL NOTIFY from other processes,
//! and on a polling interval as a fallback. Deliveries whose lease expired (their worker died)
//! are taken back. A graceful stop stops claiming, waits for requests in flight up to a
//! deadline, and hands back what is left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Outbound;
use super::outcome::{self, DeadReason, Decision};
use super::payload::{self, Content, OutgoingEvent};
use super::recorder::{self, Completed};
use super::sender::{self, ErrorKind, Exchange};
use super::target::{Target, TargetError};
use crate::config::WorkerSettings;
use crate::db::PgPool;
use crate::domain::secret_box::SecretBox;
use crate::model::delivery::{self, Claimed, STATUS_DEAD, StateChange};

/// The most deliveries one claim takes.
const CLAIM_BATCH: usize = 256;
/// The most outcomes one recorder transaction writes.
const RECORD_BATCH: usize = 512;
/// Outcomes waiting for the recorder, at most.
const RECORD_BACKLOG: usize = 2 * RECORD_BATCH;
/// After a wake-up, how long to let more deliveries arrive before claiming.
const CLAIM_COALESCE: Duration = Duration::from_millis(2);
/// How often the retention job runs.
const RETENTION_EVERY: Duration = Duration::from_secs(15 * 60);
/// How often expired leases are looked for.
const RECLAIM_EVERY: Duration = Duration::from_secs(1);

pub struct Worker {
    id: String,
    pool: PgPool,
    secrets: SecretBox,
    settings: WorkerSettings,
    outbound: Outbound,
    wake: Arc<Notify>,
    targets: Mutex<HashMap<i64, Arc<Target>>>,
}

/// A claimed delivery, ready to send.
struct Job {
    id: Uuid,
    attempt: i32,
    target: Arc<Target>,
    content: Result<Content, String>,
}

impl Worker {
    pub fn new(
        pool: PgPool,
        secrets: SecretBox,
        settings: WorkerSettings,
        outbound: Outbound,
        wake: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Self {
            id: worker_id(),
            pool,
            secrets,
            settings,
            outbound,
            wake,
            targets: Mutex::new(HashMap::new()),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `stop` is cancelled, then shuts down gracefully.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        tracing::info!(worker = %self.id, concurrency = self.settings.concurrency, "delivery worker started");
        let listener = super::listener::spawn(self.pool.clone(), self.wake.clone(), stop.clone());
        let retention = crate::retention::spawn(
            self.pool.clone(),
            self.settings.retention,
            RETENTION_EVERY,
            stop.clone(),
        );
        // Bounded: when the recorder falls behind, senders wait (and claim less), so memory stays flat.
        let (done_tx, done_rx) = mpsc::channel(RECORD_BACKLOG);
        let recorder = tokio::spawn(record_loop(self.clone(), done_rx));
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut in_flight = JoinSet::new();
        let mut last_reclaim: Option<Instant> = None;

        while !stop.is_cancelled() {
            while in_flight.try_join_next().is_some() {}
            if last_reclaim.is_none_or(|at| at.elapsed() >= RECLAIM_EVERY) {
                last_reclaim = Some(Instant::now());
                self.reclaim_expired().await;
            }
            // Claim in batches: when busy, wait until a quarter of the slots are free rather
            // than claiming one delivery per freed slot (a database round trip each).
            let available = permits.available_permits();
            let worth_claiming = (self.settings.concurrency / 4).max(1);
            if available == 0 || (available < worth_claiming && !in_flight.is_empty()) {
                tokio::select! {
                    permit = permits.clone().acquire_owned() => drop(permit),
                    _ = stop.cancelled() => break,
                }
                continue;
            }
            let limit = available.min(CLAIM_BATCH);
            let claimed = {
                let worker = self.clone();
                tokio::task::spawn_blocking(move || worker.claim(limit)).await
            };
            match claimed {
                Ok(Ok((jobs, skipped))) => {
                    let full = jobs.len() + skipped.len() >= limit;
                    if jobs.is_empty() && skipped.is_empty() {
                        crate::allocator::release_free_memory_now_and_then();
                    }
                    for completed in skipped {
                        let _ = done_tx.send(completed).await;
                    }
                    for job in jobs {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            break;
                        };
                        in_flight.spawn(self.clone().deliver(job, permit, done_tx.clone()));
                    }
                    if full {
                        continue;
                    }
                }
                Ok(Err(err)) => {
                    tracing::error!(worker = %self.id, "claiming deliveries failed: {err:#}");
                    pause(&stop, Duration::from_secs(1)).await;
                }
                Err(err) => tracing::error!("claim task failed: {err}"),
            }
            tokio::select! {
                _ = self.wake.notified() => {
                    // Let a burst of events gather: one claim for many, at a cost of
                    // a couple of milliseconds of latency.
                    pause(&stop, CLAIM_COALESCE).await;
                }
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = stop.cancelled() => {}
            }
        }

        tracing::info!(worker = %self.id, in_flight = in_flight.len(), "delivery worker stopping");
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(worker = %self.id, "requests still in flight at the deadline: abandoned, they will be sent again");
            in_flight.abort_all();
        }
        drop(done_tx);
        let _ = recorder.await;
        let _ = listener.await;
        let _ = retention.await;
        let worker = self.clone();
        match tokio::task::spawn_blocking(move || {
            let mut conn = worker.pool.get()?;
            Ok::<_, anyhow::Error>(delivery::release(&mut conn, &worker.id)?)
        })
        .await
        {
            Ok(Ok(released)) if released > 0 => {
                tracing::info!(worker = %self.id, released, "handed back unfinished deliveries")
            }
            Ok(Err(err)) => tracing::error!("could not hand back deliveries: {err:#}"),
            _ => {}
        }
        tracing::info!(worker = %self.id, "delivery worker stopped");
    }

    async fn reclaim_expired(self: &Arc<Self>) {
        let worker = self.clone();
        let reclaimed = tokio::task::spawn_blocking(move || {
            let mut conn = worker.pool.get()?;
            Ok::<_, anyhow::Error>(delivery::reclaim_expired(&mut conn)?)
        })
        .await;
        match reclaimed {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => tracing::warn!(count, "took back deliveries whose lease expired"),
            Ok(Err(err)) => tracing::error!("reclaiming expired leases failed: {err:#}"),
            Err(err) => tracing::error!("reclaim task failed: {err}"),
        }
    }

    /// Claims up to `limit` deliveries and prepares them (blocking: runs on the blocking pool).
    fn claim(&self, limit: usize) -> anyhow::Result<(Vec<Job>, Vec<Completed>)> {
        let mut conn = self.pool.get()?;
        let claimed = delivery::claim(
            &mut conn,
            limit as i64,
            &self.id,
            self.settings.lease_margin.as_secs().min(86_400) as i32,
        )?;
        if claimed.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let batch_ids: Vec<Uuid> = claimed
            .iter()
            .filter(|c| c.event_id.is_none())
            .map(|c| c.id)
            .collect();
        let mut batches: HashMap<Uuid, Vec<OutgoingEvent>> = HashMap::new();
        for row in delivery::batch_events(&mut conn, &batch_ids)? {
            batches
                .entry(row.delivery_id)
                .or_default()
                .push(OutgoingEvent {
                    id: row.event_id,
                    event_type: row.event_type,
                    occurred_at: row.occurred_at,
                    payload: row.payload,
                });
        }
        let mut jobs = Vec::with_capacity(claimed.len());
        let mut skipped = Vec::new();
        for row in claimed {
            if !row.webhook_enabled {
                skipped.push(disabled_meanwhile(&row));
                continue;
            }
            let target = match self.target(&mut conn, &row) {
                Ok(Some(target)) => target,
                Ok(None) => continue, // deleted meanwhile: its deliveries are gone too
                Err(TargetError::Unusable(problem)) => {
                    skipped.push(unsendable(&mut conn, &row, problem)?);
                    continue;
                }
                Err(TargetError::Database(err)) => return Err(err.into()),
            };
            let content = match (row.event_id, row.occurred_at, row.payload) {
                (Some(event_id), Some(occurred_at), Some(payload)) => {
                    Ok(Content::Single(OutgoingEvent {
                        id: event_id,
                        event_type: row.event_type,
                        occurred_at,
                        payload,
                    }))
                }
                (None, _, _) => match batches.remove(&row.id) {
                    Some(events) => Ok(Content::Batch(events)),
                    None => Err("this batch holds no events".to_owned()),
                },
                _ => Err("the event of this delivery no longer exists".to_owned()),
            };
            jobs.push(Job {
                id: row.id,
                attempt: row.attempts + 1,
                target,
                content,
            });
        }
        Ok((jobs, skipped))
    }

    /// The webhook's sending settings, from the cache while the webhook is unchanged.
    fn target(
        &self,
        conn: &mut PgConnection,
        row: &Claimed,
    ) -> Result<Option<Arc<Target>>, TargetError> {
        if let Some(cached) = self
            .targets
            .lock()
            .expect("cache lock")
            .get(&row.webhook_id)
            && cached.updated_at == row.webhook_updated_at
        {
            return Ok(Some(cached.clone()));
        }
        let Some(target) = Target::load(conn, row.webhook_id, &self.secrets)? else {
            self.targets
                .lock()
                .expect("cache lock")
                .remove(&row.webhook_id);
            return Ok(None);
        };
        let target = Arc::new(target);
        self.targets
            .lock()
            .expect("cache lock")
            .insert(row.webhook_id, target.clone());
        Ok(Some(target))
    }

    async fn deliver(
        self: Arc<Self>,
        job: Job,
        _permit: OwnedSemaphorePermit,
        done: mpsc::Sender<Completed>,
    ) {
        let exchange = match &job.content {
            Ok(content) => {
                let body = payload::body(job.id, job.target.webhook_id, job.attempt, content);
                sender::send(
                    &self.outbound.client,
                    &self.outbound.policy,
                    &job.target,
                    job.id,
                    body,
                )
                .await
            }
            Err(problem) => Exchange::not_sent(ErrorKind::Io, problem.clone()),
        };
        let decision = outcome::decide(&job.target, job.attempt, &exchange, Utc::now());
        let disable = match &decision {
            Decision::Dead {
                disable: Some(reason),
                ..
            } => Some((job.target.webhook_id, reason.clone())),
            _ => None,
        };
        let (change, history) = outcome::record(
            job.id,
            job.target.webhook_id,
            job.attempt,
            &exchange,
            &decision,
        );
        let _ = done
            .send(Completed {
                change,
                attempt: Some(history),
                disable,
            })
            .await;
    }
}

/// A webhook whose stored settings cannot be used: the attempt fails without sending and
/// follows the webhook's retry schedule.
fn unsendable(conn: &mut PgConnection, row: &Claimed, problem: String) -> QueryResult<Completed> {
    let attempt = row.attempts + 1;
    let exchange = Exchange::not_sent(ErrorKind::Io, problem);
    let next = crate::model::webhook::find(conn, row.webhook_id)?
        .and_then(|hook| hook.retry().delay_before(attempt + 1));
    let decision = match next {
        Some(delay) => Decision::Retry {
            at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default(),
        },
        None => Decision::Dead {
            reason: DeadReason::RetriesExhausted,
            disable: None,
        },
    };
    let (change, history) = outcome::record(row.id, row.webhook_id, attempt, &exchange, &decision);
    Ok(Completed {
        change,
        attempt: Some(history),
        disable: None,
    })
}

/// A claimed delivery of a webhook disabled after it was queued: dead-lettered unsent.
fn disabled_meanwhile(row: &Claimed) -> Completed {
    let now = Utc::now();
    Completed {
        change: StateChange {
            id: row.id,
            status: STATUS_DEAD,
            attempts: row.attempts,
            next_attempt_at: now,
            last_attempt_at: None,
            last_status: None,
            last_error_kind: None,
            last_error: Some("the webhook was disabled before this was sent".into()),
            dead_reason: Some(DeadReason::WebhookDisabled.as_str()),
            delivered_at: None,
        },
        attempt: None,
        disable: None,
    }
}

/// Writes outcomes as they come, many per transaction, until every sender is gone.
async fn record_loop(worker: Arc<Worker>, mut done: mpsc::Receiver<Completed>) {
    while let Some(first) = done.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match done.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let batch = Arc::new(batch);
        for attempt in 1..=5u32 {
            let (worker, rows) = (worker.clone(), batch.clone());
            let written = tokio::task::spawn_blocking(move || {
                let mut conn = worker.pool.get()?;
                Ok::<_, anyhow::Error>(recorder::write(&mut conn, &worker.id, &rows)?)
            })
            .await;
            match written {
                Ok(Ok(_)) => break,
                Ok(Err(err)) => {
                    tracing::error!(
                        attempt,
                        "recording {} outcomes failed: {err:#}",
                        batch.len()
                    );
                    // Unrecorded deliveries stay leased; when the lease ends they are sent again.
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(err) => {
                    tracing::error!("recorder task failed: {err}");
                    break;
                }
            }
        }
    }
}

async fn pause(stop: &CancellationToken, duration: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = stop.cancelled() => {}
    }
}

/// `host:pid:random`: unique per process, readable in the `leased_by` column.
fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "herald".into());
    let suffix: u32 = rand::random();
    format!("{host}:{}:{suffix:08x}", std::process::id())
}
