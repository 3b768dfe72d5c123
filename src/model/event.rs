//! `events`: what the learning platform posted. Inserted in batches; a repeated idempotency
//! key inserts nothing and hands back the first event's id.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::events;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub source: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct Event {
    pub id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub source: String,
}

/// Inserts the events whose idempotency key is new; returns the ids actually inserted.
pub fn insert_new(conn: &mut PgConnection, new: &[NewEvent]) -> QueryResult<Vec<Uuid>> {
    // One row (the usual call) as a single-row insert: a statement diesel can keep prepared.
    if let [one] = new {
        return diesel::insert_into(events::table)
            .values(one)
            .on_conflict(events::idempotency_key)
            .do_nothing()
            .returning(events::id)
            .get_results(conn);
    }
    diesel::insert_into(events::table)
        .values(new)
        .on_conflict(events::idempotency_key)
        .do_nothing()
        .returning(events::id)
        .get_results(conn)
}

/// `(idempotency_key, id)` of the stored events with these keys.
pub fn ids_by_keys(conn: &mut PgConnection, keys: &[String]) -> QueryResult<Vec<(String, Uuid)>> {
    events::table
        .filter(events::idempotency_key.eq_any(keys))
        .select((events::idempotency_key.assume_not_null(), events::id))
        .load(conn)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Event>> {
    events::table
        .find(id)
        .select(Event::as_select())
        .first(conn)
        .optional()
}
