//! The delivery worker: claims due deliveries in batches, fairly across webhooks and within
//! each webhook's limits (see `claim` and `scheduler`), sends them with bounded concurrency on
//! one shared HTTP client, and hands outcomes to a recorder task that writes them in batches.
//! No database connection is held while a request is in flight.
//!
//! It wakes when this process queues deliveries, on PostgreSQL NOTIFY from other processes,
//! when a request finishes while a webhook was held back by its limits, and on a polling
//! interval as a fallback. Leases are short and renewed by a heartbeat (`lease`); deliveries
//! whose lease expired (their worker died) are taken back. A graceful stop stops claiming,
//! waits for requests in flight up to a deadline, and hands back what is left.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Outbound;
use super::body;
use super::breaker::Signal;
use super::claim::{self, ClaimLimits};
use super::gather::{self, Gathering};
use super::handoff::{Handed, Seat, Wanted};
use super::lease::{self, LeaseClock};
use super::local_queues::LocalQueues;
use super::local_queues::PREFETCH_ROUNDS;
use super::outcome::{self, DeadReason, Decision};
use super::payload::{Content, OutgoingEvent};
use super::recorder::{self, Completed, FlowReport, FlowRules};
use super::sender::{Answer, ErrorKind, Exchange};
use super::target::{Target, TargetError};
use crate::config::WorkerSettings;
use crate::db::PgPool;
use crate::domain::secret_box::SecretBox;
use crate::error::Unavailable;
use crate::ingest::other_workers::OtherWorkers;
use crate::model::delivery::{self, STATUS_DEAD, StateChange};
use crate::model::webhook_flow::WebhookFlow;

/// The most deliveries one claim takes.
const CLAIM_BATCH: usize = 256;
/// The longest a receiver's 429 + Retry-After pauses its whole webhook.
const MAX_PAUSE: Duration = Duration::from_secs(3600);
/// The most outcomes one recorder transaction writes.
const RECORD_BATCH: usize = 128;
/// Outcomes waiting for the recorder, at most.
const RECORD_BACKLOG: usize = 2 * RECORD_BATCH;
/// How long a small batch of outcomes waits for more before it is written: at a steady
/// trickle several share one transaction (each commit costs the database more than the rows).
const RECORD_GATHER: Duration = Duration::from_millis(20);
/// After a wake-up, how long to let more deliveries arrive before claiming.
const CLAIM_COALESCE: Duration = Duration::from_millis(2);
/// How often the retention job runs.
const RETENTION_EVERY: Duration = Duration::from_secs(15 * 60);
/// How often expired leases are looked for (while awake).
const RECLAIM_EVERY: Duration = Duration::from_secs(1);

pub struct Worker {
    id: String,
    pool: PgPool,
    secrets: SecretBox,
    settings: WorkerSettings,
    outbound: Outbound,
    wake: Arc<Notify>,
    targets: Mutex<HashMap<i64, Arc<Target>>>,
    clock: Arc<LeaseClock>,
    /// A request finished (or its outcome was written): held-back webhooks may take more.
    finished: Notify,
    /// Deliveries answered (or settled unsent) whose outcome is not committed yet: still
    /// `delivering` in the database, but no longer holding the receiver.
    answered: Mutex<HashSet<Uuid>>,
    /// Webhooks last seen with a clean flow state (no breaker, ramp or pause to update).
    known_clean: Mutex<HashSet<i64>>,
    /// Webhooks whose receiver asked for a pause (429 with `Retry-After`) that is not
    /// committed yet, with how many such answers wait for the recorder: until then the
    /// database does not know of the pause, so claims give them nothing.
    unrecorded_pauses: Mutex<HashMap<i64, usize>>,
    /// Deliveries whose request is on the wire now (abandoned ones are recorded on stop).
    sending: Mutex<HashSet<Uuid>>,
    /// Where the LISTEN connection goes (`None`: no listener, polling only).
    listen_url: Option<String>,
    /// What the listener hears about workers in other processes.
    other_workers: Arc<OtherWorkers>,
    /// Claimed deliveries waiting for a request slot, and requests on the wire, per webhook.
    queues: Mutex<LocalQueues<Job>>,
    /// The LISTEN connection is up: notifications wake this worker, so an idle one sleeps
    /// until the next thing due instead of polling.
    listening: Arc<AtomicBool>,
    /// The claim loop has ended: request slots take nothing more from the local queues.
    stopping: AtomicBool,
    /// Per webhook, its in-flight limit when ingest may hand its new deliveries straight here
    /// (set by claims, cleared when its flow state moves; see `handoff`).
    direct: Mutex<HashMap<i64, usize>>,
    /// Seats reserved by ingest groups being written, per webhook (taken after `queues`).
    reserved: Mutex<HashMap<i64, usize>>,
    /// Ingest handed deliveries over: the claim loop sends them, without claiming.
    handed: Notify,
}

/// A claimed delivery, ready to send.
struct Job {
    id: Uuid,
    attempt: i32,
    target: Arc<Target>,
    content: Result<Content, String>,
    claimed_at: Instant,
    /// A rate-limited delivery waits for its start time.
    send_at: Option<chrono::DateTime<Utc>>,
    probe: bool,
}

impl Worker {
    pub fn new(
        pool: PgPool,
        secrets: SecretBox,
        settings: WorkerSettings,
        outbound: Outbound,
        wake: Arc<Notify>,
        listen_url: Option<String>,
        other_workers: Arc<OtherWorkers>,
    ) -> Arc<Self> {
        let settings_lease = settings.lease;
        Arc::new(Self {
            id: worker_id(),
            pool,
            secrets,
            settings,
            outbound,
            wake,
            targets: Mutex::new(HashMap::new()),
            clock: LeaseClock::new(settings_lease),
            finished: Notify::new(),
            answered: Mutex::new(HashSet::new()),
            known_clean: Mutex::new(HashSet::new()),
            unrecorded_pauses: Mutex::new(HashMap::new()),
            sending: Mutex::new(HashSet::new()),
            listen_url,
            other_workers,
            queues: Mutex::new(LocalQueues::default()),
            listening: Arc::new(AtomicBool::new(false)),
            stopping: AtomicBool::new(false),
            direct: Mutex::new(HashMap::new()),
            reserved: Mutex::new(HashMap::new()),
            handed: Notify::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn lease_seconds(&self) -> i32 {
        self.clock.lease_seconds()
    }

    /// Notifications reach this worker now (its LISTEN connection is up).
    pub(super) fn listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// Seats for deliveries ingest would hand over (see `handoff`), within each webhook's
    /// limit (its prefetch when quick) less what this worker holds, and its own capacity.
    pub(super) fn reserve_direct(&self, wanted: &[Wanted]) -> HashMap<i64, Seat> {
        if self.stopping.load(Ordering::SeqCst) {
            return HashMap::new();
        }
        // Each lock on its own, then `queues` with `reserved`: the order the claim loop uses.
        let direct = self.direct.lock().expect("direct lock").clone();
        let clean = self.known_clean.lock().expect("clean lock").clone();
        let eligible: Vec<(Wanted, usize, Arc<Target>)> = {
            let targets = self.targets.lock().expect("cache lock");
            wanted
                .iter()
                .filter(|want| clean.contains(&want.webhook_id))
                .filter_map(|want| {
                    let limit = *direct.get(&want.webhook_id)?;
                    let target = targets.get(&want.webhook_id)?;
                    (target.updated_at == want.updated_at).then(|| (*want, limit, target.clone()))
                })
                .collect()
        };
        let mut seats = HashMap::new();
        if eligible.is_empty() {
            return seats;
        }
        let queues = self.queues.lock().expect("queues lock");
        let mut reserved = self.reserved.lock().expect("reserved lock");
        let held = queues.held_by_webhook();
        let mut room = (self.settings.concurrency * 2)
            .saturating_sub(queues.held() + reserved.values().sum::<usize>());
        for (want, limit, target) in eligible {
            let rounds = if queues.is_fast(want.webhook_id) {
                PREFETCH_ROUNDS as usize
            } else {
                1
            };
            let taken = held.get(&want.webhook_id).copied().unwrap_or(0) as usize
                + reserved.get(&want.webhook_id).copied().unwrap_or(0);
            let count = (limit * rounds)
                .saturating_sub(taken)
                .min(want.count)
                .min(room);
            if count == 0 {
                continue;
            }
            room -= count;
            *reserved.entry(want.webhook_id).or_default() += count;
            seats.insert(
                want.webhook_id,
                Seat {
                    count,
                    wire_limit: limit,
                    target,
                },
            );
        }
        seats
    }

    /// Ingest committed `handed` (leased to this worker) under `seats`: they join the local
    /// queues, the claim loop is told, and the seats are given back.
    pub(super) fn take_direct(
        &self,
        seats: HashMap<i64, Seat>,
        claimed_at: Instant,
        handed: Vec<Handed>,
    ) {
        self.clock.hold(handed.iter().map(|h| h.delivery_id));
        let mut jobs: HashMap<i64, Vec<Job>> = HashMap::new();
        for item in handed {
            let Some(seat) = seats.get(&item.webhook_id) else {
                continue;
            };
            jobs.entry(item.webhook_id).or_default().push(Job {
                id: item.delivery_id,
                attempt: 1,
                target: seat.target.clone(),
                content: Ok(Content::Single(item.event)),
                claimed_at,
                send_at: None,
                probe: false,
            });
        }
        let any = !jobs.is_empty();
        {
            let mut queues = self.queues.lock().expect("queues lock");
            let mut reserved = self.reserved.lock().expect("reserved lock");
            for (webhook_id, seat) in &seats {
                if let Some(count) = reserved.get_mut(webhook_id) {
                    *count = count.saturating_sub(seat.count);
                    if *count == 0 {
                        reserved.remove(webhook_id);
                    }
                }
                if let Some(jobs) = jobs.remove(webhook_id) {
                    queues.push(*webhook_id, seat.wire_limit, jobs);
                }
            }
        }
        if any {
            self.handed.notify_one();
        }
    }

    /// Runs until `stop` is cancelled, then shuts down gracefully.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        tracing::info!(worker = %self.id, concurrency = self.settings.concurrency, "delivery worker started");
        let listener = self.listen_url.clone().map(|url| {
            super::listener::spawn(
                url,
                self.wake.clone(),
                self.listening.clone(),
                self.other_workers.clone(),
                stop.clone(),
            )
        });
        let retention = crate::retention::spawn(
            self.pool.clone(),
            self.settings.retention,
            RETENTION_EVERY,
            stop.clone(),
        );
        // Bounded: when the recorder falls behind, senders wait (and claim less), so memory stays flat.
        let (done_tx, done_rx) = mpsc::channel(RECORD_BACKLOG);
        let recorder = tokio::spawn(record_loop(self.clone(), done_rx));
        // Leases are renewed until the last request in flight is recorded, past `stop`.
        let heartbeat_stop = CancellationToken::new();
        let heartbeat = lease::spawn_heartbeat(
            self.pool.clone(),
            self.id.clone(),
            self.clock.clone(),
            heartbeat_stop.clone(),
        );
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        // Deliveries held at most (on the wire and waiting): room for fast webhooks' extra.
        let capacity = self.settings.concurrency * 2;
        let mut in_flight = JoinSet::new();
        let mut last_reclaim: Option<Instant> = None;
        let mut claim_failing = false;
        let mut last_busy = Instant::now();
        // Woken only because ingest handed deliveries over: send them, claim nothing.
        let mut handed_only = false;
        let mut held_back = false;

        while !stop.is_cancelled() {
            let mut idle = false;
            while in_flight.try_join_next().is_some() {}
            if last_reclaim.is_none_or(|at| at.elapsed() >= RECLAIM_EVERY) {
                last_reclaim = Some(Instant::now());
                self.reclaim_expired().await;
            }
            self.dispatch(&permits, &mut in_flight, &done_tx);
            if !std::mem::take(&mut handed_only) {
                let room = capacity
                    .saturating_sub(self.held_or_reserved())
                    .min(CLAIM_BATCH);
                if room == 0 {
                    // Holding all it may: wait for a request to finish.
                    tokio::select! {
                        _ = in_flight.join_next() => {}
                        _ = stop.cancelled() => break,
                    }
                    continue;
                }
                // Few slots free: let a couple of milliseconds' worth of requests finish too, so one
                // claim serves several (a claim is a database round trip).
                let available = permits.available_permits();
                if available < (self.settings.concurrency / 4).max(1) && !in_flight.is_empty() {
                    pause(&stop, CLAIM_COALESCE).await;
                }
                let limit = capacity
                    .saturating_sub(self.held_or_reserved())
                    .clamp(1, CLAIM_BATCH);
                let claimed_at = Instant::now();
                let claimed = {
                    let worker = self.clone();
                    tokio::task::spawn_blocking(move || worker.claim(limit, claimed_at)).await
                };
                held_back = false;
                match claimed {
                    Ok(Ok(claimed)) => {
                        if claim_failing {
                            tracing::info!(worker = %self.id, "claiming deliveries works again");
                            claim_failing = false;
                        }
                        held_back = claimed.held_back;
                        let taken = claimed.jobs.len() + claimed.skipped.len();
                        if taken == 0 {
                            crate::allocator::release_free_memory_now_and_then();
                            idle = !held_back && in_flight.is_empty();
                        }
                        for completed in claimed.skipped {
                            let _ = done_tx.send(completed).await;
                        }
                        {
                            let mut queues = self.queues.lock().expect("queues lock");
                            for job in claimed.jobs {
                                let webhook_id = job.target.webhook_id;
                                let wire_limit =
                                    claimed.wire_limits.get(&webhook_id).copied().unwrap_or(1);
                                queues.push(webhook_id, wire_limit, [job]);
                            }
                        }
                        self.dispatch(&permits, &mut in_flight, &done_tx);
                        if taken >= limit {
                            continue;
                        }
                    }
                    Ok(Err(err)) => {
                        // One line when claiming starts failing (the database is away), not one a second.
                        if !claim_failing {
                            tracing::error!(
                                worker = %self.id,
                                "claiming deliveries failed: {}",
                                crate::db::one_line(&format!("{err:#}"))
                            );
                            claim_failing = true;
                        }
                        pause(&stop, Duration::from_secs(1)).await;
                    }
                    Err(err) => tracing::error!("claim task failed: {err}"),
                }
            }
            let waiting = self.queues.lock().expect("queues lock").held() > in_flight.len();
            if !idle {
                last_busy = Instant::now();
            }
            // Quiet for a whole polling interval: ask when the next thing is due and sleep
            // until then (asking after every delivery would cost a query each).
            let sleep = if idle && last_busy.elapsed() >= self.settings.poll_interval {
                self.idle_sleep().await
            } else {
                self.settings.poll_interval
            };
            tokio::select! {
                _ = self.wake.notified() => {
                    // While requests are going out, let a burst of events gather: one claim
                    // for many, at a cost of a couple of milliseconds. A quiet worker claims
                    // at once (the latency of a lone event). Whether requests are still out
                    // is asked now, at the wake-up: the request sent before this wait has
                    // usually finished meanwhile (asked before the wait, every lone event
                    // waited the 2 ms: at 200 events/s that was half its latency).
                    while in_flight.try_join_next().is_some() {}
                    if !in_flight.is_empty() {
                        pause(&stop, CLAIM_COALESCE).await;
                    }
                }
                // A held-back webhook has room again, or a waiting delivery may go out now:
                // claim and send at once (the claim's own round trip lets other requests
                // finish meanwhile).
                _ = self.finished.notified(), if held_back || waiting => {}
                _ = self.handed.notified() => handed_only = true,
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.cancelled() => {}
            }
        }

        self.stopping.store(true, Ordering::SeqCst);
        tracing::info!(worker = %self.id, in_flight = in_flight.len(), "delivery worker stopping");
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(worker = %self.id, "requests still in flight at the deadline: abandoned, they will be sent again");
            in_flight.abort_all();
            while in_flight.join_next().await.is_some() {}
        }
        drop(done_tx);
        let _ = recorder.await;
        if let Some(listener) = listener {
            let _ = listener.await;
        }
        let _ = retention.await;
        heartbeat_stop.cancel();
        let _ = heartbeat.await;
        let abandoned: Vec<Uuid> = self.sending.lock().expect("sending lock").drain().collect();
        let worker = self.clone();
        match tokio::task::spawn_blocking(move || {
            let mut conn = worker.pool.get()?;
            // Requests cut off mid-way may have reached the receiver: an attempt of unknown outcome.
            delivery::abandon(&mut conn, &worker.id, &abandoned)?;
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

    /// How long an idle worker may sleep: until the next delivery, probe, pause end or lease
    /// expiry is due (at most `idle_poll`), when notifications wake it for anything new; the
    /// polling interval when they do not (no LISTEN connection) or the time is unknown.
    async fn idle_sleep(self: &Arc<Self>) -> Duration {
        if !self.listening.load(Ordering::SeqCst) {
            return self.settings.poll_interval;
        }
        let worker = self.clone();
        let next = tokio::task::spawn_blocking(move || {
            let mut conn = worker.pool.get()?;
            Ok::<_, anyhow::Error>(delivery::next_due(&mut conn)?)
        })
        .await;
        match next {
            Ok(Ok(None)) => self.settings.idle_poll,
            Ok(Ok(Some(at))) => (at - Utc::now()).to_std().unwrap_or_default().clamp(
                self.settings.poll_interval.min(self.settings.idle_poll),
                self.settings.idle_poll,
            ),
            _ => self.settings.poll_interval,
        }
    }

    /// Takes back expired leases. A failure is the database being away, which the claim that
    /// follows reports once: not logged here every second.
    async fn reclaim_expired(self: &Arc<Self>) {
        let worker = self.clone();
        let reclaimed = tokio::task::spawn_blocking(move || {
            let mut conn = worker.pool.get()?;
            let held = worker.clock.held();
            Ok::<_, anyhow::Error>(delivery::reclaim_expired_except(
                &mut conn, &worker.id, &held,
            )?)
        })
        .await;
        match reclaimed {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(count)) => tracing::warn!(count, "took back deliveries whose lease expired"),
            Err(err) => tracing::error!("reclaim task failed: {err}"),
        }
    }

    /// Claims up to `limit` deliveries and prepares them (blocking: runs on the blocking pool).
    fn claim(&self, limit: usize, claimed_at: Instant) -> anyhow::Result<Claimed> {
        let mut conn = self.pool.get()?;
        let limits = ClaimLimits {
            slots: limit,
            concurrency: self.settings.concurrency,
            lease_seconds: self.clock.lease_seconds(),
        };
        let holdings = {
            let queues = self.queues.lock().expect("queues lock");
            let held = queues.held_by_webhook();
            let fast = held
                .keys()
                .copied()
                .chain(self.known_clean.lock().expect("clean lock").iter().copied())
                .filter(|id| queues.is_fast(*id))
                .collect();
            let paused = self
                .unrecorded_pauses
                .lock()
                .expect("pauses lock")
                .keys()
                .copied()
                .collect();
            claim::Holdings { held, fast, paused }
        };
        let mut claimed = claim::claim(&mut conn, &self.id, limits, &holdings, || {
            let answered = self.answered.lock().expect("answered lock");
            answered.iter().copied().collect()
        })?;
        self.remember_flows(&claimed.flows);
        {
            let mut direct = self.direct.lock().expect("direct lock");
            for (webhook_id, unhindered) in &claimed.direct {
                match claimed.wire_limits.get(webhook_id) {
                    Some(limit) if *unhindered => {
                        direct.insert(*webhook_id, *limit);
                    }
                    _ => {
                        direct.remove(webhook_id);
                    }
                }
            }
        }
        self.clock.hold(claimed.deliveries.iter().map(|row| row.id));
        if claimed.deliveries.is_empty() {
            return Ok(Claimed {
                held_back: claimed.held_back,
                ..Claimed::default()
            });
        }
        let batch_ids: Vec<Uuid> = claimed
            .deliveries
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
        let mut jobs = Vec::with_capacity(claimed.deliveries.len());
        let mut skipped = Vec::new();
        for row in std::mem::take(&mut claimed.deliveries) {
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
                claimed_at,
                send_at: claimed.send_at.get(&row.id).copied(),
                probe: claimed.probes.contains(&row.id),
            });
        }
        // Skipped deliveries hold no receiver: they wait only for the recorder.
        self.answered
            .lock()
            .expect("answered lock")
            .extend(skipped.iter().map(|completed| completed.change.id));
        Ok(Claimed {
            jobs,
            skipped,
            held_back: claimed.held_back,
            wire_limits: claimed.wire_limits,
        })
    }

    /// Deliveries held (waiting or on the wire) and seats reserved for ingest's handoffs.
    fn held_or_reserved(&self) -> usize {
        let queues = self.queues.lock().expect("queues lock");
        let reserved: usize = self.reserved.lock().expect("reserved lock").values().sum();
        queues.held() + reserved
    }

    /// Sends what may go out now: free slots, dealt to webhooks in turn within their limits.
    fn dispatch(
        self: &Arc<Self>,
        permits: &Arc<Semaphore>,
        in_flight: &mut JoinSet<()>,
        done: &mpsc::Sender<Completed>,
    ) {
        loop {
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                return;
            };
            let Some((_, job)) = self.queues.lock().expect("queues lock").next_ready() else {
                return;
            };
            in_flight.spawn(self.clone().deliver(job, permit, done.clone()));
        }
    }

    /// A webhook started failing or asked for a pause: what this worker holds for it and has
    /// not sent stops here. The recorder hands it back to the queue together with the flow
    /// state, to be claimed under the breaker's rules.
    fn take_back_waiting(&self, webhook_id: i64) -> Vec<Uuid> {
        self.direct.lock().expect("direct lock").remove(&webhook_id);
        self.queues
            .lock()
            .expect("queues lock")
            .take_waiting(webhook_id)
            .iter()
            .map(|job| job.id)
            .collect()
    }

    /// The pauses `batch` carried are committed (or given up on): claims may look at these
    /// webhooks again, and see the pause in the database.
    fn forget_pauses(&self, batch: &[Completed]) {
        let mut pauses = self.unrecorded_pauses.lock().expect("pauses lock");
        for flow in batch.iter().filter_map(|c| c.flow.as_ref()) {
            if flow.pause_until.is_none() {
                continue;
            }
            if let Some(count) = pauses.get_mut(&flow.webhook_id) {
                *count -= 1;
                if *count == 0 {
                    pauses.remove(&flow.webhook_id);
                }
            }
        }
    }

    fn remember_flows(&self, flows: &[WebhookFlow]) {
        if flows.is_empty() {
            return;
        }
        let now = Utc::now();
        let mut clean = self.known_clean.lock().expect("clean lock");
        for flow in flows {
            if flow.breaker().is_clean() && flow.paused_until.is_none_or(|at| at <= now) {
                clean.insert(flow.webhook_id);
            } else {
                clean.remove(&flow.webhook_id);
                self.direct
                    .lock()
                    .expect("direct lock")
                    .remove(&flow.webhook_id);
            }
        }
    }

    /// The webhook's sending settings, from the cache while the webhook is unchanged.
    fn target(
        &self,
        conn: &mut PgConnection,
        row: &delivery::Claimed,
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

    /// Sends `job`, then, while the worker is not stopping, whatever is ready next in the local
    /// queues, on the same request slot: a slot never waits for the claim loop to come round
    /// (with a deep local queue the wire stays full between claims).
    async fn deliver(
        self: Arc<Self>,
        job: Job,
        _permit: OwnedSemaphorePermit,
        done: mpsc::Sender<Completed>,
    ) {
        let mut job = job;
        loop {
            let Some(webhook_id) = self.send_one(job, &done).await else {
                self.finished.notify_one();
                return;
            };
            let (next, claim_soon) = {
                let mut queues = self.queues.lock().expect("queues lock");
                let next = if self.stopping.load(Ordering::SeqCst) {
                    None
                } else {
                    queues.next_ready()
                };
                (next, queues.running_low(webhook_id) || queues.has_ready())
            };
            // The claim loop is woken only when a claim is worth it: this webhook's local
            // queue is running low, or a delivery is ready that this slot did not take.
            if claim_soon || next.is_none() {
                self.finished.notify_one();
            }
            match next {
                Some((_, following)) => job = following,
                None => return,
            }
        }
    }

    /// Sends one delivery and hands its outcome to the recorder; returns its webhook, `None`
    /// when the request was abandoned (its lease could not be renewed).
    async fn send_one(self: &Arc<Self>, job: Job, done: &mpsc::Sender<Completed>) -> Option<i64> {
        let send = async {
            if let Some(at) = job.send_at {
                // Rate limit: wait for this request's start time.
                if let Ok(wait) = (at - Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
            }
            match &job.content {
                Ok(content) => {
                    match body::build(
                        body::Shape::of(&job.target),
                        job.id,
                        job.attempt,
                        content,
                        Utc::now(),
                    ) {
                        Ok(body) => {
                            self.sending.lock().expect("sending lock").insert(job.id);
                            let exchange = self.outbound.send(&job.target, job.id, body).await;
                            self.sending.lock().expect("sending lock").remove(&job.id);
                            exchange
                        }
                        Err(problem) => Exchange::not_sent(ErrorKind::Unmappable, problem),
                    }
                }
                Err(problem) => Exchange::not_sent(ErrorKind::Io, problem.clone()),
            }
        };
        let started = Instant::now();
        let webhook_id = job.target.webhook_id;
        let Some(exchange) = self.clock.within_lease(job.claimed_at, send).await else {
            self.queues.lock().expect("queues lock").gave_up(webhook_id);
            // The lease could not be renewed: another worker will take this delivery back and
            // record this attempt as of unknown outcome.
            self.sending.lock().expect("sending lock").remove(&job.id);
            self.clock.let_go([&job.id]);
            tracing::warn!(delivery_id = %job.id, "abandoned a request: its lease could not be renewed");
            return None;
        };
        self.queues
            .lock()
            .expect("queues lock")
            .finished(webhook_id, started.elapsed());
        let now = Utc::now();
        let decision = outcome::decide(&job.target, job.attempt, &exchange, now);
        let disable = match &decision {
            Decision::Dead {
                disable: Some(reason),
                ..
            } => Some((job.target.webhook_id, reason.clone())),
            _ => None,
        };
        let flow = FlowReport {
            webhook_id: job.target.webhook_id,
            webhook_name: job.target.name.clone(),
            max_in_flight: job.target.max_in_flight,
            signal: Signal::of(&exchange),
            probe: job.probe,
            pause_until: pause_requested(&exchange, now),
        };
        if flow.pause_until.is_some() {
            *self
                .unrecorded_pauses
                .lock()
                .expect("pauses lock")
                .entry(webhook_id)
                .or_default() += 1;
        }
        let hand_back = if flow.signal != Signal::Alive || flow.pause_until.is_some() {
            self.take_back_waiting(webhook_id)
        } else {
            Vec::new()
        };
        let (change, history) = outcome::record(
            job.id,
            job.target.webhook_id,
            job.attempt,
            &exchange,
            &decision,
        );
        self.answered.lock().expect("answered lock").insert(job.id);
        let _ = done
            .send(Completed {
                webhook_id: job.target.webhook_id,
                change,
                attempt: Some(history),
                disable,
                flow: Some(flow),
                hand_back,
            })
            .await;
        Some(webhook_id)
    }
}

/// What one claim produced.
#[derive(Default)]
struct Claimed {
    jobs: Vec<Job>,
    /// Deliveries settled without sending (webhook disabled meanwhile, unusable settings).
    skipped: Vec<Completed>,
    held_back: bool,
    wire_limits: HashMap<i64, usize>,
}

/// A 429 with `Retry-After` pauses the whole webhook: the receiver is pacing Herald, not this
/// one request.
fn pause_requested(
    exchange: &Exchange,
    now: chrono::DateTime<Utc>,
) -> Option<chrono::DateTime<Utc>> {
    match &exchange.result {
        Ok(Answer {
            status: 429,
            retry_after: Some(wait),
            ..
        }) => Some(now + chrono::Duration::from_std((*wait).min(MAX_PAUSE)).ok()?),
        _ => None,
    }
}

/// A webhook whose stored settings cannot be used: the attempt fails without sending and
/// follows the webhook's retry schedule.
fn unsendable(
    conn: &mut PgConnection,
    row: &delivery::Claimed,
    problem: String,
) -> QueryResult<Completed> {
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
        webhook_id: row.webhook_id,
        change,
        attempt: Some(history),
        disable: None,
        flow: None,
        hand_back: Vec::new(),
    })
}

/// A claimed delivery of a webhook disabled after it was queued: dead-lettered unsent.
fn disabled_meanwhile(row: &delivery::Claimed) -> Completed {
    let now = Utc::now();
    Completed {
        webhook_id: row.webhook_id,
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
        flow: None,
        hand_back: Vec::new(),
    }
}

/// Writes outcomes as they come, many per transaction (gathered for a moment when few come and
/// none is urgent), until every sender is gone.
async fn record_loop(worker: Arc<Worker>, mut done: mpsc::Receiver<Completed>) {
    let gathering = Gathering {
        most: RECORD_BATCH,
        window: RECORD_GATHER,
    };
    while let Some(batch) = gather::next_batch(&mut done, gathering, Completed::is_urgent).await {
        // Handed-back deliveries too: once written (or given up on) they are not this
        // worker's to renew.
        let ids: Vec<Uuid> = batch
            .iter()
            .flat_map(|c| std::iter::once(c.change.id).chain(c.hand_back.iter().copied()))
            .collect();
        let batch = Arc::new(batch);
        let formed = Instant::now();
        for attempt in 1u32.. {
            let (writer, rows) = (worker.clone(), batch.clone());
            let written = tokio::task::spawn_blocking(move || {
                let mut conn = writer.pool.get()?;
                let known_clean = writer.known_clean.lock().expect("clean lock").clone();
                let rules = FlowRules {
                    breaker: writer.settings.breaker,
                    known_clean: &known_clean,
                };
                let written = recorder::write(&mut conn, &writer.id, &rows, &rules)?;
                writer.remember_flows(&written.flows);
                drop(conn);
                crate::allocator::trim_heap_while_busy();
                Ok::<_, anyhow::Error>(written)
            })
            .await;
            match written {
                Ok(Ok(_)) => {
                    worker.finished.notify_one();
                    // A retry was scheduled: an idle worker recomputes when to wake.
                    if batch
                        .iter()
                        .any(|c| c.change.status == delivery::STATUS_PENDING)
                    {
                        worker.wake.notify_one();
                    }
                    break;
                }
                Ok(Err(err)) => {
                    if attempt == 1 {
                        tracing::error!(
                            "recording {} outcomes failed: {}",
                            batch.len(),
                            crate::db::one_line(&format!("{err:#}"))
                        );
                    }
                    // While the database is away, keep the outcomes and write them when it is
                    // back: this worker does not take back what it still holds, and its
                    // heartbeat renews those leases as soon as it can. Any other failure is
                    // retried while the leases hold; after that the deliveries are taken back
                    // (and sent again) by whichever worker sees their lease expired.
                    let database_away = Unavailable::find_in(err.as_ref()).is_some();
                    if !database_away && (attempt >= 20 || !worker.clock.still_valid(formed)) {
                        tracing::error!(
                            "gave up recording {} outcomes: they will be sent again",
                            batch.len()
                        );
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt.min(8))))
                        .await;
                }
                Err(err) => {
                    tracing::error!("recorder task failed: {err}");
                    break;
                }
            }
        }
        worker.clock.let_go(&ids);
        worker.forget_pauses(&batch);
        // Committed (or given up on, to be taken back when its lease ends): from now on the
        // database's count of deliveries in flight is right without them.
        let mut answered = worker.answered.lock().expect("answered lock");
        for completed in batch.iter() {
            answered.remove(&completed.change.id);
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
