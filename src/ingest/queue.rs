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
use crate::model::delivery::{self, BATCH_EVENT_TYPE, NewDelivery, STATUS_PENDING};
use crate::model::event::{self, NewEvent};
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
}

/// Stores `events` (from `source`, the token or tool that sent them) and queues deliveries.
pub fn accept(
    conn: &mut PgConnection,
    caches: &Caches,
    events: Vec<EventSpec>,
    source: &str,
) -> Result<Queued, QueueError> {
    let types: Vec<String> = events
        .iter()
        .map(|e| e.event_type.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let unknown = caches.known_types.unknown(conn, &types)?;
    if !unknown.is_empty() {
        return Err(QueueError::UnknownTypes(unknown));
    }

    let rows: Vec<NewEvent> = events
        .into_iter()
        .map(|e| NewEvent {
            id: Uuid::now_v7(),
            event_type: e.event_type,
            occurred_at: e.occurred_at,
            payload: e.data,
            idempotency_key: e.idempotency_key,
            source: source.to_owned(),
        })
        .collect();
    conn.transaction(|conn| {
        let inserted: BTreeSet<Uuid> = event::insert_new(conn, &rows)?.into_iter().collect();
        let accepted = resolve_duplicates(conn, &rows, &inserted)?;
        let new_events: Vec<&NewEvent> = rows.iter().filter(|e| inserted.contains(&e.id)).collect();
        let deliveries = if new_events.is_empty() {
            0
        } else {
            let subscribers = caches.subscriptions.current(conn)?;
            queue_deliveries(conn, &subscribers, &new_events, Utc::now())?
        };
        Ok(Queued {
            accepted,
            deliveries,
        })
    })
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

/// Queues one delivery per (immediate subscriber, event) and fills batches; returns how many
/// deliveries were created or extended.
fn queue_deliveries(
    conn: &mut PgConnection,
    subscribers: &[Subscriber],
    events: &[&NewEvent],
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let mut immediate = Vec::new();
    let mut touched = 0;
    for subscriber in subscribers {
        let wanted: Vec<&NewEvent> = events
            .iter()
            .copied()
            .filter(|e| subscriber.wants(&e.event_type))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        match (
            subscriber.dispatch_mode.as_str(),
            subscriber.batch_window_minutes,
            subscriber.batch_max_events,
        ) {
            ("batched", Some(window), Some(max)) => {
                let mut ordered = wanted;
                ordered.sort_by_key(|e| (e.occurred_at, e.id));
                let ids: Vec<Uuid> = ordered.iter().map(|e| e.id).collect();
                add_to_batches(conn, subscriber.id, &ids, window, max, now)?;
                touched += 1;
            }
            _ => immediate.extend(wanted.into_iter().map(|e| NewDelivery {
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
            })),
        }
    }
    // Large fan-outs go in slices so one statement stays under PostgreSQL's bind limit.
    for chunk in immediate.chunks(5_000) {
        delivery::insert_many(conn, chunk)?;
    }
    Ok(touched + immediate.len())
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
