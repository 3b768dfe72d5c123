//! `events`: what the learning platform posted. Inserted in batches; a repeated idempotency
//! key (remembered in `event_keys`) inserts nothing and hands back the first event's id.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz};

use crate::db::schema::events;
use crate::ingest::event_data::EventData;
use crate::model::delivery::NewDelivery;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: EventData,
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

/// What `insert_with_deliveries` did.
#[derive(Debug, QueryableByName)]
pub struct Stored {
    /// The subscriptions' version the statement saw: when it is not the one the deliveries
    /// were built from, nothing was stored.
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    /// The events inserted (those with a repeated idempotency key are not).
    #[diesel(sql_type = Array<diesel::sql_types::Uuid>)]
    pub inserted: Vec<Uuid>,
    #[diesel(sql_type = BigInt)]
    pub deliveries: i64,
    /// Deliveries written leased to the handoff's worker, by id, with their event's payload
    /// and time as stored (so the body is the one a claim would have read).
    #[diesel(sql_type = Array<diesel::sql_types::Uuid>)]
    pub handed: Vec<Uuid>,
    #[diesel(sql_type = Array<Text>)]
    pub handed_payloads: Vec<String>,
    #[diesel(sql_type = Array<Timestamptz>)]
    pub handed_occurred_at: Vec<DateTime<Utc>>,
}

/// Deliveries to write already leased: which ones (by position in the deliveries passed),
/// to which worker, for how long.
pub struct Lease<'a> {
    pub handed: Vec<bool>,
    pub worker: &'a str,
    pub seconds: i32,
}

/// Inserts the events and, for those actually inserted, their deliveries, in one statement,
/// only if the webhooks' configuration is still at `version` (the deliveries were built from
/// the subscriptions at that version).
pub fn insert_with_deliveries(
    conn: &mut PgConnection,
    rows: &[NewEvent],
    deliveries: &[NewDelivery],
    version: i64,
    lease: Option<&Lease>,
) -> QueryResult<Stored> {
    let handed = lease.map_or_else(|| vec![false; deliveries.len()], |l| l.handed.clone());
    crate::db::prepared::sql(
        "WITH current AS (SELECT version FROM webhook_config_version LIMIT 1),
         posted AS (
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::jsonb[],
                                  $5::text[], $6::text[])
                  AS u(id, event_type, occurred_at, payload, idempotency_key, source)
             WHERE (SELECT version FROM current) = $7
         ), keyed AS (
             -- A key seen before (or twice in this call) claims nothing: its event is not new.
             INSERT INTO event_keys (idempotency_key, event_id)
             SELECT idempotency_key, id FROM posted WHERE idempotency_key IS NOT NULL
             ON CONFLICT (idempotency_key) DO NOTHING
             RETURNING event_id
         ), ev AS (
             INSERT INTO events (id, event_type, occurred_at, payload, idempotency_key, source)
             SELECT id, event_type, occurred_at, payload, idempotency_key, source FROM posted
             WHERE idempotency_key IS NULL OR id IN (SELECT event_id FROM keyed)
             RETURNING id, occurred_at, payload
         ), queued AS (
             -- A handed-over delivery is written leased to the worker that will send it.
             INSERT INTO deliveries (id, webhook_id, event_id, event_type, status,
                                     next_attempt_at, leased_by, lease_until)
             SELECT d.id, d.webhook_id, d.event_id, d.event_type,
                    CASE WHEN d.handed THEN 'delivering' ELSE 'pending' END, d.next_attempt_at,
                    CASE WHEN d.handed THEN $14::text END,
                    CASE WHEN d.handed THEN now() + make_interval(secs => $15) END
             FROM unnest($8::uuid[], $9::bigint[], $10::uuid[], $11::text[], $12::timestamptz[],
                         $13::bool[])
                  AS d(id, webhook_id, event_id, event_type, next_attempt_at, handed)
             WHERE d.event_id IN (SELECT id FROM ev)
             RETURNING id, event_id, status = 'delivering' AS handed
         ), handed AS (
             SELECT q.id, e.occurred_at, e.payload::text AS payload
             FROM queued q JOIN ev e ON e.id = q.event_id
             WHERE q.handed
         )
         SELECT (SELECT version FROM current) AS version,
                ARRAY(SELECT id FROM ev) AS inserted,
                (SELECT count(*) FROM queued) AS deliveries,
                ARRAY(SELECT id FROM handed ORDER BY id) AS handed,
                ARRAY(SELECT payload FROM handed ORDER BY id) AS handed_payloads,
                ARRAY(SELECT occurred_at FROM handed ORDER BY id) AS handed_occurred_at",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(rows.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        rows.iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Timestamptz>, _>(rows.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(rows.iter().map(|e| &e.payload).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(
        rows.iter()
            .map(|e| e.idempotency_key.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(rows.iter().map(|e| e.source.as_str()).collect::<Vec<_>>())
    .bind::<BigInt, _>(version)
    .bind::<Array<diesel::sql_types::Uuid>, _>(deliveries.iter().map(|d| d.id).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(deliveries.iter().map(|d| d.webhook_id).collect::<Vec<_>>())
    .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(
        deliveries.iter().map(|d| d.event_id).collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(
        deliveries
            .iter()
            .map(|d| d.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Timestamptz>, _>(
        deliveries
            .iter()
            .map(|d| d.next_attempt_at)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<diesel::sql_types::Bool>, _>(handed)
    .bind::<Nullable<Text>, _>(lease.map(|l| l.worker))
    .bind::<Integer, _>(lease.map_or(0, |l| l.seconds))
    .get_result(conn)
}

/// `(idempotency_key, id)` of the stored events with these keys.
pub fn ids_by_keys(conn: &mut PgConnection, keys: &[String]) -> QueryResult<Vec<(String, Uuid)>> {
    use crate::db::schema::event_keys;
    event_keys::table
        .filter(event_keys::idempotency_key.eq_any(keys))
        .select((event_keys::idempotency_key, event_keys::event_id))
        .load(conn)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Event>> {
    events::table
        .find(id)
        .select(Event::as_select())
        .first(conn)
        .optional()
}

/// Of the learning records given by idempotency key, the keys under which a *different*
/// record is stored (compared by PostgreSQL as `jsonb`, so a number reads the same however it
/// was written).
pub fn records_differing(
    conn: &mut PgConnection,
    keys: &[String],
    records: &[serde_json::Value],
) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Text)]
        idempotency_key: String,
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<Key> = crate::db::prepared::sql(
        "/*$1*//*$2*/ SELECT k.idempotency_key
         FROM unnest($1::text[], $2::jsonb[]) AS given(key, record)
         JOIN event_keys k ON k.idempotency_key = given.key
         JOIN events e ON e.id = k.event_id
         WHERE (e.payload -> 'learning_record' -> 'record') IS DISTINCT FROM given.record",
    )
    .bind::<Array<Text>, _>(keys)
    .bind::<Array<Jsonb>, _>(records)
    .load(conn)?;
    Ok(found.into_iter().map(|k| k.idempotency_key).collect())
}
