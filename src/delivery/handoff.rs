//! Deliveries handed straight from ingest to this process's worker. When `herald serve` both
//! takes events and delivers them, and no other Herald process delivers on the database, the
//! ingest statement can write a new delivery already leased to this worker and hand it over
//! in memory once committed, with the event it carries: no claim (a transaction of five
//! statements that updates the row again) and no read of the event back. At a steady trickle
//! of events this is most of the database work per delivery that a claim cost.
//!
//! Only what a claim would have sent at once is handed over: a webhook this worker has
//! claimed for before, found clean (breaker closed, no pause, ramp or rate limit) with nobody
//! else sending for it, whose sending settings it holds at the version ingest saw, and only
//! up to the webhook's in-flight limit (its prefetch when its requests are quick) and the
//! worker's capacity. Everything else is queued as `pending` for the claim loop as before.
//! The "nobody else" rests on `QueueSignal::alone`: no other process's worker had a LISTEN
//! connection when last asked, and none announced itself since (a listener sends a `joined`
//! notification when it connects, heard by this worker's listener, which must be up). A
//! worker process starting meanwhile can see a webhook's limit exceeded for the few
//! milliseconds its announcement takes to arrive.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use super::payload::OutgoingEvent;
use super::target::Target;
use super::worker::Worker;
use crate::ingest::signal::QueueSignal;

/// The way from ingest to this process's worker.
#[derive(Clone)]
pub struct Handoff {
    worker: Arc<Worker>,
    signal: QueueSignal,
}

/// What ingest would like to hand over: per webhook, at the settings version it saw.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub webhook_id: i64,
    pub updated_at: DateTime<Utc>,
    pub count: usize,
}

/// A webhook's seats held for one ingest group, with what sending needs.
pub(super) struct Seat {
    pub(super) count: usize,
    pub(super) wire_limit: usize,
    pub(super) target: Arc<Target>,
}

/// Seats reserved for one ingest group; given back when dropped unused (the statement failed
/// or stored nothing).
pub struct Reservation {
    worker: Arc<Worker>,
    seats: HashMap<i64, Seat>,
    /// Taken before the statement runs, so the lease is never thought longer than it is.
    claimed_at: Instant,
}

/// A delivery the ingest statement wrote leased to this worker.
#[derive(Debug)]
pub struct Handed {
    pub delivery_id: Uuid,
    pub webhook_id: i64,
    pub event: OutgoingEvent,
}

impl Handoff {
    pub fn new(worker: Arc<Worker>, signal: QueueSignal) -> Self {
        Self { worker, signal }
    }

    /// Reserves seats for up to `wanted` deliveries; `None` when nothing can be handed over.
    pub fn reserve(&self, wanted: &[Wanted]) -> Option<Reservation> {
        // Joins are heard only while the listener is up.
        if wanted.is_empty() || !self.worker.listening() || !self.signal.alone() {
            return None;
        }
        let claimed_at = Instant::now();
        let seats = self.worker.reserve_direct(wanted);
        (!seats.is_empty()).then(|| Reservation {
            worker: self.worker.clone(),
            seats,
            claimed_at,
        })
    }

    /// The worker the handed-over deliveries are leased to.
    pub fn worker_id(&self) -> &str {
        self.worker.id()
    }

    pub fn lease_seconds(&self) -> i32 {
        self.worker.lease_seconds()
    }
}

impl Reservation {
    /// Seats held for `webhook_id`.
    pub fn seats(&self, webhook_id: i64) -> usize {
        self.seats.get(&webhook_id).map_or(0, |seat| seat.count)
    }

    /// The statement committed: these deliveries are leased to the worker and go on its
    /// queues now; seats left unused are given back.
    pub fn complete(mut self, handed: Vec<Handed>) {
        let seats = std::mem::take(&mut self.seats);
        self.worker.take_direct(seats, self.claimed_at, handed);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.seats.is_empty() {
            let seats = std::mem::take(&mut self.seats);
            self.worker.take_direct(seats, self.claimed_at, Vec::new());
        }
    }
}
