//! `herald generate-history`: fills a database with made-up history (webhooks, events,
//! deliveries and their attempts spread over the last days), to see how the console and the
//! API behave at tens of millions of rows. Everything is written by PostgreSQL itself
//! (`generate_series`), a chunk per statement, through the same partitions and hourly counts
//! Herald writes.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};

use crate::db::{PgPool, partitions};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub deliveries: i64,
    pub webhooks: i64,
    /// Every delivery gets this many attempts: failures first, then its final outcome.
    pub attempts_per_delivery: i32,
    /// Spread over this many days up to now.
    pub days: i64,
    /// One delivery in this many ends a dead letter (the rest are delivered).
    pub dead_one_in: i64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            deliveries: 10_000_000,
            webhooks: 1_000,
            attempts_per_delivery: 3,
            days: 28,
            dead_one_in: 100,
        }
    }
}

/// Deliveries per statement.
const CHUNK: i64 = 100_000;
/// Generated webhooks are named with this prefix (and found again by it).
pub const WEBHOOK_PREFIX: &str = "generated-";

/// Generates `plan` with `writers` connections of `pool` at once, printing progress to
/// stderr; returns the webhooks' ids.
pub fn generate(pool: &PgPool, plan: Plan, writers: usize) -> anyhow::Result<Vec<i64>> {
    let started = Instant::now();
    let mut conn = pool.get()?;
    let webhooks = ensure_webhooks(&mut conn, plan.webhooks)?;
    let now = Utc::now();
    let from = now - Duration::days(plan.days);
    partitions::ensure_covering(
        &mut conn,
        from,
        now + Duration::weeks(partitions::WEEKS_AHEAD),
    )?;
    let span_micros = plan.days * 86_400 * 1_000_000;
    let chunks = (plan.deliveries + CHUNK - 1) / CHUNK;
    let next_chunk = AtomicI64::new(0);
    let done = AtomicI64::new(0);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..writers.max(1))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    let mut conn = pool.get()?;
                    diesel::sql_query(UUID7_AT).execute(&mut *conn)?;
                    loop {
                        let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
                        if chunk >= chunks {
                            return Ok(());
                        }
                        let offset = chunk * CHUNK;
                        let n = CHUNK.min(plan.deliveries - offset);
                        write_chunk(&mut conn, &plan, &webhooks, from, span_micros, offset, n)?;
                        let total = done.fetch_add(n, Ordering::Relaxed) + n;
                        eprintln!(
                            "generated {total} of {} deliveries ({:.0} s)",
                            plan.deliveries,
                            started.elapsed().as_secs_f64()
                        );
                    }
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(())
    })?;
    eprintln!("analyzing…");
    diesel::sql_query(
        "VACUUM (ANALYZE) events, deliveries, delivery_attempts, attempt_counts_hourly",
    )
    .execute(&mut *conn)?;
    Ok(webhooks)
}

/// UUID v7 made at a given time, in SQL (for this session).
const UUID7_AT: &str = "CREATE OR REPLACE FUNCTION pg_temp.uuid7_at(at TIMESTAMPTZ) RETURNS UUID
     LANGUAGE sql VOLATILE AS $$
         SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0')
                 || '7' || substr(md5(random()::text), 1, 3)
                 || '8' || substr(md5(random()::text), 1, 15))::uuid
     $$";

/// The generated webhooks, created up to `count` (disabled: their endpoints do not exist).
fn ensure_webhooks(conn: &mut PgConnection, count: i64) -> QueryResult<Vec<i64>> {
    diesel::sql_query(
        "INSERT INTO webhooks (name, description, endpoint_url, enabled, disabled_by,
                               disabled_at, disabled_reason, created_by, updated_by)
         SELECT $1 || lpad(n::text, 4, '0'), 'Generated history for load tests',
                'http://127.0.0.1:9/generated/' || n, false, 'herald generate-history', now(),
                'generated for load tests', 'herald generate-history', 'herald generate-history'
         FROM generate_series(1, $2) n
         WHERE NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.name = $1 || lpad(n::text, 4, '0'))",
    )
    .bind::<Text, _>(WEBHOOK_PREFIX)
    .bind::<BigInt, _>(count)
    .execute(conn)?;
    use crate::db::schema::webhooks;
    webhooks::table
        .filter(webhooks::name.like(format!("{WEBHOOK_PREFIX}%")))
        .order(webhooks::id)
        .select(webhooks::id)
        .limit(count)
        .load(conn)
}

/// Deliveries `offset .. offset + n` (in time order across the span): one event each, its
/// attempts, and the hourly counts, in one statement.
fn write_chunk(
    conn: &mut PgConnection,
    plan: &Plan,
    webhooks: &[i64],
    from: chrono::DateTime<Utc>,
    span_micros: i64,
    offset: i64,
    n: i64,
) -> QueryResult<()> {
    let sql = format!(
        "WITH base AS MATERIALIZED (
             SELECT g, at, pg_temp.uuid7_at(at) AS event_id, pg_temp.uuid7_at(at) AS delivery_id,
                    hooks[1 + (g * 7919) % array_length(hooks, 1)] AS webhook_id,
                    types[1 + (g * 31) % array_length(types, 1)] AS event_type,
                    g % $7 = 0 AS dead
             FROM generate_series($2, $2 + $3 - 1) g,
                  LATERAL (SELECT $1 + (g * ($4 / $5)) * interval '1 microsecond' AS at) t,
                  (SELECT $6::bigint[] AS hooks) h,
                  (SELECT array_agg(name ORDER BY name) AS types FROM event_types) c
         ), ev AS (
             INSERT INTO events (id, event_type, occurred_at, received_at, payload, source)
             SELECT event_id, event_type, at, at,
                    jsonb_build_object('user_id', g % 50000, 'course_id', g % 700,
                                       'note', 'generated'),
                    'herald generate-history'
             FROM base
         ), d AS (
             INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts,
                                     next_attempt_at, last_attempt_at, last_status, dead_reason,
                                     delivered_at, created_at)
             SELECT delivery_id, webhook_id, event_id, event_type,
                    CASE WHEN dead THEN 'dead' ELSE 'delivered' END, $8,
                    at, at + ($8 - 1) * interval '1 minute', CASE WHEN dead THEN 500 ELSE 200 END,
                    CASE WHEN dead THEN 'retries_exhausted' END,
                    CASE WHEN NOT dead THEN at + ($8 - 1) * interval '1 minute' END, at
             FROM base
         ), written AS (
             INSERT INTO delivery_attempts (delivery_id, webhook_id, number, started_at,
                                            duration_ms, request_headers, response_status,
                                            response_headers, response_body, outcome)
             SELECT delivery_id, webhook_id, k, at + (k - 1) * interval '1 minute', 20 + g % 200,
                    '{{\"content-type\": \"application/json\", \"user-agent\": \"Herald\"}}'::jsonb,
                    CASE WHEN k = $8 AND NOT dead THEN 200 ELSE 500 END, '{{}}'::jsonb,
                    CASE WHEN k = $8 AND NOT dead THEN 'ok' ELSE 'internal error' END,
                    CASE WHEN k < $8 THEN 'retry' WHEN dead THEN 'dead' ELSE 'delivered' END
             FROM base, generate_series(1, $8) k
             RETURNING webhook_id, started_at, outcome
         ), counted AS ({counted})
         SELECT 1",
        counted = crate::model::attempt_counts::add_counts_of("written")
    );
    diesel::sql_query(sql)
        .bind::<Timestamptz, _>(from)
        .bind::<BigInt, _>(offset)
        .bind::<BigInt, _>(n)
        .bind::<BigInt, _>(span_micros)
        .bind::<BigInt, _>(plan.deliveries)
        .bind::<diesel::sql_types::Array<BigInt>, _>(webhooks)
        .bind::<BigInt, _>(plan.dead_one_in)
        .bind::<Integer, _>(plan.attempts_per_delivery)
        .execute(conn)?;
    Ok(())
}
