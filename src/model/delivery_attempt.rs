//! `delivery_attempts`: one row per try, written in batches by the worker.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::delivery_attempts;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = delivery_attempts)]
pub struct NewAttempt {
    pub delivery_id: Uuid,
    pub number: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub request_headers: serde_json::Value,
    pub response_status: Option<i32>,
    pub response_headers: Option<serde_json::Value>,
    pub response_body: Option<String>,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub outcome: String,
    pub webhook_id: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = delivery_attempts, check_for_backend(diesel::pg::Pg))]
pub struct Attempt {
    pub id: i64,
    pub delivery_id: Uuid,
    pub number: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub request_headers: serde_json::Value,
    pub response_status: Option<i32>,
    pub response_headers: Option<serde_json::Value>,
    pub response_body: Option<String>,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub outcome: String,
    pub webhook_id: i64,
}

/// States and attempts of a recorder batch, and the hourly counts, in one statement.
static RECORD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH changed AS (
             UPDATE deliveries d
             SET status = u.status, attempts = u.attempts, next_attempt_at = u.next_attempt_at,
                 last_attempt_at = COALESCE(u.last_attempt_at, d.last_attempt_at),
                 last_status = u.last_status, last_error_kind = u.last_error_kind,
                 last_error = u.last_error, dead_reason = u.dead_reason,
                 delivered_at = COALESCE(u.delivered_at, d.delivered_at),
                 lease_until = NULL, leased_by = NULL
             FROM unnest($2::uuid[], $3::text[], $4::int[], $5::timestamptz[], $6::timestamptz[],
                         $7::int[], $8::text[], $9::text[], $10::text[], $11::timestamptz[])
                  AS u(id, status, attempts, next_attempt_at, last_attempt_at, last_status,
                       last_error_kind, last_error, dead_reason, delivered_at)
             -- leased_by is set only while delivering: the primary key finds the rows.
             WHERE d.id = u.id AND d.leased_by = $1
             RETURNING d.id
         ), written AS (
             INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms,
                 request_headers, response_status, response_headers, response_body,
                 error_kind, error_message, outcome, webhook_id)
             SELECT a.* FROM unnest($12::uuid[], $13::int[], $14::timestamptz[], $15::int[],
                                    $16::jsonb[], $17::int[], $18::jsonb[], $19::text[],
                                    $20::text[], $21::text[], $22::text[], $23::bigint[])
                  AS a(delivery_id, number, started_at, duration_ms, request_headers,
                       response_status, response_headers, response_body, error_kind,
                       error_message, outcome, webhook_id)
             WHERE a.delivery_id IN (SELECT id FROM changed)
             RETURNING webhook_id, started_at, outcome
         ), counted AS ({counted})
         SELECT id FROM changed",
        counted = crate::model::attempt_counts::add_counts_of("written")
    )
});

/// Applies the state changes to the deliveries `worker` still holds and stores the attempts
/// of those it changed, in one statement (the recorder's usual write, committed on its own
/// when no flow state moves); returns the ids changed.
pub fn record(
    conn: &mut PgConnection,
    worker: &str,
    changes: &[crate::model::delivery::StateChange],
    attempts: &[NewAttempt],
) -> QueryResult<Vec<Uuid>> {
    use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz};
    #[derive(QueryableByName)]
    struct Changed {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let texts = |f: fn(&crate::model::delivery::StateChange) -> Option<String>| {
        changes.iter().map(f).collect::<Vec<_>>()
    };
    let changed: Vec<Changed> = crate::db::prepared::sql(RECORD.as_str())
        .bind::<Text, _>(worker)
        .bind::<Array<diesel::sql_types::Uuid>, _>(changes.iter().map(|c| c.id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(changes.iter().map(|c| c.status).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(changes.iter().map(|c| c.attempts).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(
            changes
                .iter()
                .map(|c| c.next_attempt_at)
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Timestamptz>>, _>(
            changes
                .iter()
                .map(|c| c.last_attempt_at)
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Integer>>, _>(
            changes.iter().map(|c| c.last_status).collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(texts(|c| c.last_error_kind.clone()))
        .bind::<Array<Nullable<Text>>, _>(texts(|c| c.last_error.clone()))
        .bind::<Array<Nullable<Text>>, _>(texts(|c| c.dead_reason.map(str::to_owned)))
        .bind::<Array<Nullable<Timestamptz>>, _>(
            changes.iter().map(|c| c.delivered_at).collect::<Vec<_>>(),
        )
        .bind::<Array<diesel::sql_types::Uuid>, _>(
            attempts.iter().map(|a| a.delivery_id).collect::<Vec<_>>(),
        )
        .bind::<Array<Integer>, _>(attempts.iter().map(|a| a.number).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(attempts.iter().map(|a| a.started_at).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(attempts.iter().map(|a| a.duration_ms).collect::<Vec<_>>())
        .bind::<Array<Jsonb>, _>(
            attempts
                .iter()
                .map(|a| &a.request_headers)
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Integer>>, _>(
            attempts
                .iter()
                .map(|a| a.response_status)
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Jsonb>>, _>(
            attempts
                .iter()
                .map(|a| a.response_headers.as_ref())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(
            attempts
                .iter()
                .map(|a| a.response_body.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(
            attempts
                .iter()
                .map(|a| a.error_kind.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(
            attempts
                .iter()
                .map(|a| a.error_message.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(
            attempts
                .iter()
                .map(|a| a.outcome.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<BigInt>, _>(attempts.iter().map(|a| a.webhook_id).collect::<Vec<_>>())
        .load(conn)?;
    Ok(changed.into_iter().map(|c| c.id).collect())
}

/// Every attempt of a delivery, first to last.
pub fn for_delivery(conn: &mut PgConnection, delivery_id: Uuid) -> QueryResult<Vec<Attempt>> {
    delivery_attempts::table
        .filter(delivery_attempts::delivery_id.eq(delivery_id))
        .order((delivery_attempts::number, delivery_attempts::id))
        .select(Attempt::as_select())
        .load(conn)
}
