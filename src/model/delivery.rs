//! `deliveries` and `delivery_events`: the queue. Claiming, recording outcomes and taking back
//! expired leases are single statements so many Herald processes can share one database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz};
use uuid::Uuid;

use crate::db::schema::{deliveries, delivery_events};

pub const STATUS_PENDING: &str = "pending";
pub const STATUS_DELIVERING: &str = "delivering";
pub const STATUS_DELIVERED: &str = "delivered";
pub const STATUS_DEAD: &str = "dead";

/// The `event_type` of a batch delivery.
pub const BATCH_EVENT_TYPE: &str = "batch";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deliveries, check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: i64,
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub status: String,
    pub batch_open: bool,
    pub event_count: i32,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub leased_by: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    pub dead_reason: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = deliveries)]
pub struct NewDelivery {
    pub id: Uuid,
    pub webhook_id: i64,
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub status: &'static str,
    pub batch_open: bool,
    pub event_count: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub leased_by: Option<String>,
}

pub fn insert_many(conn: &mut PgConnection, new: &[NewDelivery]) -> QueryResult<usize> {
    match new {
        [] => return Ok(0),
        // A single row can use a prepared statement; a batch's SQL varies with its length.
        [one] => {
            return diesel::insert_into(deliveries::table)
                .values(one)
                .execute(conn);
        }
        _ => {}
    }
    diesel::insert_into(deliveries::table)
        .values(new)
        .execute(conn)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Delivery>> {
    deliveries::table
        .find(id)
        .select(Delivery::as_select())
        .first(conn)
        .optional()
}

/// The batch of `webhook_id` still gathering events, locked: `(id, event_count)`.
pub fn lock_open_batch(
    conn: &mut PgConnection,
    webhook_id: i64,
) -> QueryResult<Option<(Uuid, i32)>> {
    deliveries::table
        .filter(deliveries::webhook_id.eq(webhook_id))
        .filter(deliveries::batch_open.eq(true))
        .filter(deliveries::status.eq(STATUS_PENDING))
        .select((deliveries::id, deliveries::event_count))
        .order(deliveries::created_at)
        .for_update()
        .first(conn)
        .optional()
}

/// Adds events to a batch; a full batch closes and becomes due at once.
pub fn add_to_batch(
    conn: &mut PgConnection,
    delivery_id: Uuid,
    event_ids: &[Uuid],
    new_count: i32,
    full: bool,
) -> QueryResult<()> {
    let rows: Vec<_> = event_ids
        .iter()
        .map(|event_id| {
            (
                delivery_events::delivery_id.eq(delivery_id),
                delivery_events::event_id.eq(*event_id),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(delivery_events::table)
            .values(&rows)
            .execute(conn)?;
    }
    let target = deliveries::table.find(delivery_id);
    if full {
        diesel::update(target)
            .set((
                deliveries::event_count.eq(new_count),
                deliveries::batch_open.eq(false),
                deliveries::next_attempt_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set(deliveries::event_count.eq(new_count))
            .execute(conn)?;
    }
    Ok(())
}

/// A delivery this worker now holds, with what it needs to build the request.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub webhook_id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub webhook_updated_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub webhook_enabled: bool,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub event_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    /// Attempts made before this one.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    pub next_attempt_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// The event's payload as JSON text (spliced into the body without re-parsing).
    #[diesel(sql_type = Nullable<Text>)]
    pub payload: Option<String>,
}

/// What a claim takes from one webhook: up to `quota` of its oldest due deliveries.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub webhook_id: i64,
    pub quota: i32,
}

/// Claims due deliveries by per-webhook quota for `worker`, leased for `lease_seconds`
/// (renewed while in flight). The caller holds the webhooks' flow rows locked. Rows locked by another worker are skipped, never waited for.
pub fn claim(
    conn: &mut PgConnection,
    quotas: &[Quota],
    worker: &str,
    lease_seconds: i32,
) -> QueryResult<Vec<Claimed>> {
    if quotas.is_empty() {
        return Ok(Vec::new());
    }
    crate::db::prepared::sql(
        "WITH quota AS (
             SELECT * FROM unnest($1::bigint[], $2::int[]) AS q(webhook_id, quota)
         ), due AS (
             -- The inner LIMIT is a constant (the most one claim takes) so the planner
             -- always walks the due index in order: with `LIMIT q.quota` it cannot know the
             -- limit, and once the backlog was deep it chose to fetch and sort every due
             -- delivery of the webhook on each claim. Rows are locked as the outer LIMIT
             -- pulls them, so only `quota` are locked.
             SELECT picked.id FROM quota q CROSS JOIN LATERAL (
                 SELECT locked.id FROM (
                     SELECT d.id FROM deliveries d
                     WHERE d.webhook_id = q.webhook_id AND d.status = 'pending'
                       AND d.next_attempt_at <= now()
                     ORDER BY d.next_attempt_at
                     LIMIT 256
                     FOR UPDATE SKIP LOCKED
                 ) locked
                 LIMIT q.quota
             ) picked
         ), claimed AS (
             UPDATE deliveries d
             SET status = 'delivering', batch_open = false, leased_by = $3,
                 lease_until = now() + make_interval(secs => $4)
             FROM due, webhooks w
             WHERE d.id = due.id AND w.id = d.webhook_id
             RETURNING d.id, d.webhook_id, w.updated_at AS webhook_updated_at,
                       w.enabled AS webhook_enabled, d.event_id, d.event_type, d.attempts,
                       d.next_attempt_at
         )
         SELECT c.*, e.occurred_at, e.payload::text AS payload
         FROM claimed c LEFT JOIN events e ON e.id = c.event_id
         ORDER BY c.next_attempt_at",
    )
    .bind::<Array<BigInt>, _>(quotas.iter().map(|q| q.webhook_id).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(quotas.iter().map(|q| q.quota).collect::<Vec<_>>())
    .bind::<Text, _>(worker)
    .bind::<Integer, _>(lease_seconds)
    .load(conn)
}

/// When something next becomes due for a worker: a webhook's oldest pending delivery (not
/// before its pause ends, its breaker's probe or its rate limit allow), or a lease expiring.
/// `None` when nothing is pending or delivering.
pub fn next_due(conn: &mut PgConnection) -> QueryResult<Option<DateTime<Utc>>> {
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = Nullable<Timestamptz>)]
        at: Option<DateTime<Utc>>,
    }
    let next: Next = crate::db::prepared::sql(
        "SELECT LEAST(
             (SELECT min(GREATEST(oldest.next_attempt_at,
                                  COALESCE(f.paused_until, '-infinity'),
                                  COALESCE(f.rate_next_at, '-infinity'),
                                  CASE WHEN f.circuit = 'healthy' THEN '-infinity'
                                       ELSE COALESCE(f.next_probe_at, '-infinity') END))
              FROM webhook_flow f CROSS JOIN LATERAL (
                  SELECT d.next_attempt_at FROM deliveries d
                  WHERE d.webhook_id = f.webhook_id AND d.status = 'pending'
                  ORDER BY d.next_attempt_at LIMIT 1
              ) oldest),
             (SELECT min(lease_until) FROM deliveries WHERE status = 'delivering')
         ) AS at",
    )
    .get_result(conn)?;
    Ok(next.at)
}

/// Extends the leases `worker` holds on these deliveries (its heartbeat); returns how many.
pub fn renew_leases(
    conn: &mut PgConnection,
    worker: &str,
    ids: &[Uuid],
    lease_seconds: i32,
) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    // Rows the recorder is writing right now are skipped (their lease no longer matters), and
    // the rest are locked in one order: two updates of the same rows in different orders
    // would deadlock.
    crate::db::prepared::sql(
        "UPDATE deliveries SET lease_until = now() + make_interval(secs => $3)
         WHERE id IN (SELECT id FROM deliveries WHERE id = ANY($2) AND leased_by = $1
                      ORDER BY id FOR UPDATE SKIP LOCKED)",
    )
    .bind::<Text, _>(worker)
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Integer, _>(lease_seconds)
    .execute(conn)
}

/// One event of a batch delivery.
#[derive(Debug, Clone, QueryableByName)]
pub struct BatchEvent {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub delivery_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub payload: String,
}

/// The events of these batch deliveries, in the order they occurred.
pub fn batch_events(
    conn: &mut PgConnection,
    delivery_ids: &[Uuid],
) -> QueryResult<Vec<BatchEvent>> {
    if delivery_ids.is_empty() {
        return Ok(Vec::new());
    }
    crate::db::prepared::sql(
        "SELECT de.delivery_id, e.id AS event_id, e.event_type, e.occurred_at, e.payload::text AS payload
         FROM delivery_events de JOIN events e ON e.id = de.event_id
         WHERE de.delivery_id = ANY($1)
         ORDER BY e.occurred_at, e.id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(delivery_ids)
    .load(conn)
}

/// Takes back deliveries whose lease expired (their worker died or lost the database): each
/// gets an attempt of unknown outcome in its history (the request may have reached the
/// receiver), so the next send carries the next attempt number. Returns how many.
pub fn reclaim_expired(conn: &mut PgConnection) -> QueryResult<usize> {
    take_back(conn, "status = 'delivering' AND lease_until < now()", None)
}

/// `reclaim_expired` for a worker that still holds `held` (outcomes it knows but could not
/// write yet, say while the database was away): those are left to it, not marked lost.
pub fn reclaim_expired_except(
    conn: &mut PgConnection,
    worker: &str,
    held: &[Uuid],
) -> QueryResult<usize> {
    take_back(
        conn,
        "status = 'delivering' AND lease_until < now()
         AND NOT (leased_by = $1 AND id = ANY($2))",
        Some((worker, held)),
    )
}

/// Hands back deliveries `worker` abandoned mid-request (graceful stop past its deadline), as
/// attempts of unknown outcome.
pub fn abandon(conn: &mut PgConnection, worker: &str, ids: &[Uuid]) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    take_back(
        conn,
        "status = 'delivering' AND leased_by = $1 AND id = ANY($2)",
        Some((worker, ids)),
    )
}

fn take_back(
    conn: &mut PgConnection,
    condition: &str,
    held_by: Option<(&str, &[Uuid])>,
) -> QueryResult<usize> {
    let sql = format!(
        "WITH lost AS (
             SELECT id, leased_by FROM deliveries WHERE {condition} FOR UPDATE SKIP LOCKED
         ), taken AS (
             UPDATE deliveries d
             SET status = 'pending', attempts = d.attempts + 1, lease_until = NULL,
                 leased_by = NULL, next_attempt_at = now(), last_attempt_at = now(),
                 last_status = NULL, last_error_kind = 'worker_lost',
                 last_error = 'the worker ' || coalesce(lost.leased_by, '?')
                     || ' stopped while this attempt was in flight: whether the receiver got it is unknown'
             FROM lost WHERE d.id = lost.id
             RETURNING d.id, d.webhook_id, d.attempts, d.last_error
         ), written AS (
             INSERT INTO delivery_attempts (delivery_id, webhook_id, number, started_at,
                                            duration_ms, request_headers, error_kind,
                                            error_message, outcome)
             SELECT id, webhook_id, attempts, now(), 0, '{{}}'::jsonb, 'worker_lost', last_error,
                    'unknown'
             FROM taken
             RETURNING webhook_id, started_at, outcome
         ), counted AS ({counted})
         SELECT count(*) AS n FROM written",
        counted = crate::model::attempt_counts::add_counts_of("written")
    );
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let taken: Taken = match held_by {
        None => crate::db::prepared::sql(&sql).get_result(conn)?,
        Some((worker, ids)) => crate::db::prepared::sql(&sql)
            .bind::<Text, _>(worker)
            .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
            .get_result(conn)?,
    };
    Ok(taken.n as usize)
}

/// Hands back deliveries `worker` claimed and did not send (no attempt was made).
pub fn release_ids(conn: &mut PgConnection, worker: &str, ids: &[Uuid]) -> QueryResult<usize> {
    diesel::update(
        deliveries::table
            .filter(deliveries::id.eq_any(ids))
            .filter(deliveries::status.eq(STATUS_DELIVERING))
            .filter(deliveries::leased_by.eq(worker)),
    )
    .set((
        deliveries::status.eq(STATUS_PENDING),
        deliveries::lease_until.eq(None::<DateTime<Utc>>),
        deliveries::leased_by.eq(None::<String>),
    ))
    .execute(conn)
}

/// Hands back what `worker` still holds (graceful shutdown): due again at once.
pub fn release(conn: &mut PgConnection, worker: &str) -> QueryResult<usize> {
    diesel::update(
        deliveries::table
            .filter(deliveries::status.eq(STATUS_DELIVERING))
            .filter(deliveries::leased_by.eq(worker)),
    )
    .set((
        deliveries::status.eq(STATUS_PENDING),
        deliveries::lease_until.eq(None::<DateTime<Utc>>),
        deliveries::leased_by.eq(None::<String>),
        deliveries::next_attempt_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
}

/// The new state of one delivery after an attempt (or after being skipped).
#[derive(Debug, Clone)]
pub struct StateChange {
    pub id: Uuid,
    pub status: &'static str,
    /// Attempts made so far, this one included.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    pub dead_reason: Option<&'static str>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Dead-letters what is still queued for a webhook that was just disabled.
pub fn dead_letter_queued(
    conn: &mut PgConnection,
    webhook_id: i64,
    reason: &str,
) -> QueryResult<usize> {
    diesel::update(
        deliveries::table
            .filter(deliveries::webhook_id.eq(webhook_id))
            .filter(deliveries::status.eq(STATUS_PENDING)),
    )
    .set((
        deliveries::status.eq(STATUS_DEAD),
        deliveries::batch_open.eq(false),
        deliveries::dead_reason.eq("webhook_disabled"),
        deliveries::last_error.eq(reason),
    ))
    .execute(conn)
}

/// Deliveries waiting for their next attempt (what disabling a webhook dead-letters).
pub fn count_pending(conn: &mut PgConnection, webhook_id: i64) -> QueryResult<i64> {
    deliveries::table
        .filter(deliveries::webhook_id.eq(webhook_id))
        .filter(deliveries::status.eq(STATUS_PENDING))
        .count()
        .get_result(conn)
}

/// Deliveries still waiting to be sent to a webhook (shown before deleting it).
pub fn count_queued(conn: &mut PgConnection, webhook_id: i64) -> QueryResult<i64> {
    deliveries::table
        .filter(deliveries::webhook_id.eq(webhook_id))
        .filter(deliveries::status.eq_any([STATUS_PENDING, STATUS_DELIVERING]))
        .count()
        .get_result(conn)
}
