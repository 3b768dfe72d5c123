//! Stores accepted events and queues their deliveries in one transaction: one delivery per
//! enabled webhook subscribed to the event's type, or a place in that webhook's open batch.
//! Disabled webhooks get nothing queued. The caller wakes workers after the commit (see
//! `signal`).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::Caches;
use super::request::EventSpec;
use crate::delivery::handoff::{Handed, Handoff, Reservation, Wanted};
use crate::delivery::payload::OutgoingEvent;
use crate::model::delivery::{self, BATCH_EVENT_TYPE, NewDelivery, STATUS_PENDING};
use crate::model::event::{self, Lease, NewEvent, Stored};
use crate::model::webhook::Subscriber;

/// The outcome for one posted event, in the order they were posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: Uuid,
    /// Its idempotency key was seen before: nothing new was stored.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("unknown event types: {0:?}")]
    UnknownTypes(Vec<String>),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// What was stored: the ids, and whether anything became due now (workers should wake).
#[derive(Debug)]
pub struct Queued {
    pub accepted: Vec<Accepted>,
    pub deliveries: usize,
    /// Of those, handed straight to this process's worker (nobody needs waking for them).
    pub handed: usize,
}

impl Queued {
    /// Deliveries a worker has to claim: wake the workers.
    pub fn left_to_claim(&self) -> bool {
        self.deliveries > self.handed
    }
}

/// Stores `events` (from `source`, the token or tool that sent them) and queues deliveries.
pub fn accept(
    conn: &mut PgConnection,
    caches: &Caches,
    events: Vec<EventSpec>,
    source: &str,
) -> Result<Queued, QueueError> {
    accept_many(conn, caches, vec![(events, source.to_owned())], None)
        .pop()
        .expect("one outcome per request")
}

/// Stores the events of many requests together (one statement, one commit, when no batched
/// webhook is involved), each request all or nothing: a request naming an unknown type is
/// refused alone. Returns one outcome per request, in order. With `handoff`, deliveries this
/// process's worker can send at once are written leased to it and handed over.
pub fn accept_many(
    conn: &mut PgConnection,
    caches: &Caches,
    requests: Vec<(Vec<EventSpec>, String)>,
    handoff: Option<&Handoff>,
) -> Vec<Result<Queued, QueueError>> {
    let mut outcomes: Vec<Option<Result<Queued, QueueError>>> = Vec::new();
    let mut rows: Vec<NewEvent> = Vec::new();
    // (index of the request, range of its rows)
    let mut spans = Vec::new();
    for (index, (events, source)) in requests.into_iter().enumerate() {
        let types: Vec<String> = events
            .iter()
            .map(|e| e.event_type.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match caches.known_types.unknown(conn, &types) {
            Ok(unknown) if !unknown.is_empty() => {
                outcomes.push(Some(Err(QueueError::UnknownTypes(unknown))));
                continue;
            }
            Err(err) => {
                outcomes.push(Some(Err(err.into())));
                continue;
            }
            Ok(_) => {}
        }
        let start = rows.len();
        rows.extend(events.into_iter().map(|e| NewEvent {
            id: Uuid::now_v7(),
            event_type: e.event_type,
            occurred_at: e.occurred_at,
            payload: e.data,
            idempotency_key: e.idempotency_key,
            source: source.clone(),
        }));
        spans.push((index, start..rows.len()));
        outcomes.push(None);
    }
    if !rows.is_empty() {
        match store(conn, caches, &rows, handoff) {
            Ok((accepted, deliveries, handed)) => {
                for (index, range) in spans {
                    let own = &accepted[range.clone()];
                    // Deliveries are counted for the whole group: any means workers wake.
                    outcomes[index] = Some(Ok(Queued {
                        accepted: own.to_vec(),
                        deliveries,
                        handed,
                    }));
                }
            }
            Err(_) => {
                // Try each request alone: one request's problem must not refuse the others,
                // and each gets its own error (the database being away answers 503).
                for (index, range) in spans {
                    outcomes[index] = Some(
                        store(conn, caches, &rows[range], handoff)
                            .map(|(accepted, deliveries, handed)| Queued {
                                accepted,
                                deliveries,
                                handed,
                            })
                            .map_err(QueueError::from),
                    );
                }
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.expect("every request has an outcome"))
        .collect()
}

/// Stores `rows` and queues their deliveries; returns each row's outcome, how many
/// deliveries were created or extended, and how many of them were handed over.
fn store(
    conn: &mut PgConnection,
    caches: &Caches,
    rows: &[NewEvent],
    handoff: Option<&Handoff>,
) -> QueryResult<(Vec<Accepted>, usize, usize)> {
    loop {
        let (version, subscribers) = caches.subscriptions.remembered(conn)?;
        let batched = subscribers
            .iter()
            .any(|s| s.is_batched() && rows.iter().any(|e| s.wants(&e.event_type)));
        let now = Utc::now();
        let immediate = immediate_deliveries(&subscribers, rows, now);
        // Seats are given back when the reservation is dropped unused (an error, a retry).
        let reservation = handoff.and_then(|h| h.reserve(&wanted(&subscribers, &immediate)));
        let lease = match (handoff, &reservation) {
            (Some(handoff), Some(reservation)) => Some(Lease {
                handed: pick_handed(&immediate, reservation),
                worker: handoff.worker_id(),
                seconds: handoff.lease_seconds(),
            }),
            _ => None,
        };
        let stored = if batched {
            // Batches lock and extend rows: one transaction around it all.
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                let stored =
                    event::insert_with_deliveries(conn, rows, &immediate, version, lease.as_ref())?;
                if stored.version == version {
                    let inserted: BTreeSet<Uuid> = stored.inserted.iter().copied().collect();
                    let new_events: Vec<&NewEvent> =
                        rows.iter().filter(|e| inserted.contains(&e.id)).collect();
                    let touched = queue_batches(conn, &subscribers, &new_events, now)?;
                    return Ok(event::Stored {
                        deliveries: stored.deliveries + touched as i64,
                        ..stored
                    });
                }
                Ok(stored)
            })?
        } else {
            // One statement, committed on its own.
            event::insert_with_deliveries(conn, rows, &immediate, version, lease.as_ref())?
        };
        if stored.version != version {
            // A webhook changed since the list was loaded: nothing was stored; reload.
            caches.subscriptions.forget();
            continue;
        }
        let handed = stored.handed.len();
        if let Some(reservation) = reservation {
            reservation.complete(handed_over(&immediate, rows, &stored));
        }
        let inserted: BTreeSet<Uuid> = stored.inserted.into_iter().collect();
        let accepted = resolve_duplicates(conn, rows, &inserted)?;
        return Ok((accepted, stored.deliveries.max(0) as usize, handed));
    }
}

/// How many new deliveries each webhook would get, at the settings version ingest saw.
fn wanted(subscribers: &[Subscriber], deliveries: &[NewDelivery]) -> Vec<Wanted> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for delivery in deliveries {
        *counts.entry(delivery.webhook_id).or_default() += 1;
    }
    subscribers
        .iter()
        .filter_map(|subscriber| {
            let count = counts.get(&subscriber.id).copied().unwrap_or(0);
            (count > 0).then_some(Wanted {
                webhook_id: subscriber.id,
                updated_at: subscriber.updated_at,
                count,
            })
        })
        .collect()
}

/// Which deliveries take the reserved seats: each webhook's first ones, in posted order.
fn pick_handed(deliveries: &[NewDelivery], reservation: &Reservation) -> Vec<bool> {
    let mut used: HashMap<i64, usize> = HashMap::new();
    deliveries
        .iter()
        .map(|d| {
            let taken = used.entry(d.webhook_id).or_default();
            let seat = *taken < reservation.seats(d.webhook_id);
            if seat {
                *taken += 1;
            }
            seat
        })
        .collect()
}

/// The deliveries the statement wrote leased, with their events as stored.
fn handed_over(deliveries: &[NewDelivery], rows: &[NewEvent], stored: &Stored) -> Vec<Handed> {
    let by_id: HashMap<Uuid, &NewDelivery> = deliveries.iter().map(|d| (d.id, d)).collect();
    let event_types: HashMap<Uuid, &str> =
        rows.iter().map(|e| (e.id, e.event_type.as_str())).collect();
    stored
        .handed
        .iter()
        .zip(&stored.handed_payloads)
        .zip(&stored.handed_occurred_at)
        .filter_map(|((id, payload), occurred_at)| {
            let delivery = by_id.get(id)?;
            let event_id = delivery.event_id?;
            Some(Handed {
                delivery_id: *id,
                webhook_id: delivery.webhook_id,
                event: OutgoingEvent {
                    id: event_id,
                    event_type: event_types.get(&event_id)?.to_string(),
                    occurred_at: *occurred_at,
                    payload: payload.clone(),
                },
            })
        })
        .collect()
}

/// One delivery per (immediate subscriber, event); inserted only for events that are new.
fn immediate_deliveries(
    subscribers: &[Subscriber],
    rows: &[NewEvent],
    now: DateTime<Utc>,
) -> Vec<NewDelivery> {
    let mut out = Vec::with_capacity(rows.len());
    for subscriber in subscribers.iter().filter(|s| !s.is_batched()) {
        for e in rows.iter().filter(|e| subscriber.wants(&e.event_type)) {
            out.push(NewDelivery {
                id: Uuid::now_v7(),
                webhook_id: subscriber.id,
                event_id: Some(e.id),
                event_type: e.event_type.clone(),
                status: STATUS_PENDING,
                batch_open: false,
                event_count: 1,
                next_attempt_at: now,
                lease_until: None,
                leased_by: None,
            });
        }
    }
    out
}

/// Maps each posted event to the id it ends up with: its own, or the first event with its key.
fn resolve_duplicates(
    conn: &mut PgConnection,
    rows: &[NewEvent],
    inserted: &BTreeSet<Uuid>,
) -> QueryResult<Vec<Accepted>> {
    let repeated_keys: Vec<String> = rows
        .iter()
        .filter(|e| !inserted.contains(&e.id))
        .filter_map(|e| e.idempotency_key.clone())
        .collect();
    let existing: HashMap<String, Uuid> = if repeated_keys.is_empty() {
        HashMap::new()
    } else {
        event::ids_by_keys(conn, &repeated_keys)?
            .into_iter()
            .collect()
    };
    Ok(rows
        .iter()
        .map(|e| {
            if inserted.contains(&e.id) {
                Accepted {
                    id: e.id,
                    duplicate: false,
                }
            } else {
                let key = e.idempotency_key.as_deref().unwrap_or_default();
                Accepted {
                    id: existing.get(key).copied().unwrap_or(e.id),
                    duplicate: true,
                }
            }
        })
        .collect())
}

/// Fills the batches of batched subscribers; returns how many batches were extended.
fn queue_batches(
    conn: &mut PgConnection,
    subscribers: &[Subscriber],
    events: &[&NewEvent],
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let mut touched = 0;
    for subscriber in subscribers {
        let (Some(window), Some(max)) =
            (subscriber.batch_window_minutes, subscriber.batch_max_events)
        else {
            continue;
        };
        if !subscriber.is_batched() {
            continue;
        }
        let mut ordered: Vec<&NewEvent> = events
            .iter()
            .copied()
            .filter(|e| subscriber.wants(&e.event_type))
            .collect();
        if ordered.is_empty() {
            continue;
        }
        ordered.sort_by_key(|e| (e.occurred_at, e.id));
        let ids: Vec<Uuid> = ordered.iter().map(|e| e.id).collect();
        add_to_batches(conn, subscriber.id, &ids, window, max, now)?;
        touched += 1;
    }
    Ok(touched)
}

/// Appends events to the webhook's open batch, opening new batches as they fill; a batch is
/// due when its window closes or as soon as it is full.
fn add_to_batches(
    conn: &mut PgConnection,
    webhook_id: i64,
    event_ids: &[Uuid],
    window_minutes: i32,
    max_events: i32,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let mut remaining = event_ids;
    while !remaining.is_empty() {
        let (batch_id, count) = match delivery::lock_open_batch(conn, webhook_id)? {
            Some(open) => open,
            None => {
                let id = Uuid::now_v7();
                delivery::insert_many(
                    conn,
                    &[NewDelivery {
                        id,
                        webhook_id,
                        event_id: None,
                        event_type: BATCH_EVENT_TYPE.to_owned(),
                        status: STATUS_PENDING,
                        batch_open: true,
                        event_count: 0,
                        next_attempt_at: now + Duration::minutes(i64::from(window_minutes)),
                        lease_until: None,
                        leased_by: None,
                    }],
                )?;
                (id, 0)
            }
        };
        let room = (max_events - count).max(0) as usize;
        let (taken, rest) = remaining.split_at(room.min(remaining.len()));
        let new_count = count + taken.len() as i32;
        delivery::add_to_batch(conn, batch_id, taken, new_count, new_count >= max_events)?;
        remaining = rest;
    }
    Ok(())
}
