//! `webhook_flow`: each webhook's circuit breaker, ramp, rate-limit schedule and pause. Claims
//! lock the rows of the webhooks they take from, in webhook order, so per-webhook limits hold
//! across many worker processes; the recorder locks them (same order) to apply outcomes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz};

use crate::db::schema::webhook_flow;
use crate::delivery::breaker::{BreakerState, Circuit};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = webhook_flow, check_for_backend(diesel::pg::Pg))]
pub struct WebhookFlow {
    pub webhook_id: i64,
    pub circuit: String,
    pub consecutive_failures: i32,
    pub failing_since: Option<DateTime<Utc>>,
    pub next_probe_at: Option<DateTime<Utc>>,
    pub probe_interval_seconds: i32,
    pub ramp: Option<i32>,
    pub rate_next_at: Option<DateTime<Utc>>,
    pub paused_until: Option<DateTime<Utc>>,
}

impl WebhookFlow {
    pub fn breaker(&self) -> BreakerState {
        BreakerState {
            circuit: Circuit::parse(&self.circuit),
            consecutive_failures: self.consecutive_failures,
            failing_since: self.failing_since,
            next_probe_at: self.next_probe_at,
            probe_interval_seconds: self.probe_interval_seconds,
            ramp: self.ramp,
        }
    }

    pub fn set_breaker(&mut self, state: &BreakerState) {
        self.circuit = state.circuit.as_str().to_owned();
        self.consecutive_failures = state.consecutive_failures;
        self.failing_since = state.failing_since;
        self.next_probe_at = state.next_probe_at;
        self.probe_interval_seconds = state.probe_interval_seconds;
        self.ramp = state.ramp;
    }

    pub fn failing(&self) -> bool {
        self.circuit == "failing"
    }
}

/// A webhook with due deliveries, its flow state locked for this transaction.
#[derive(Debug, Clone, QueryableByName)]
pub struct DueWebhook {
    #[diesel(embed)]
    pub flow: WebhookFlow,
    #[diesel(sql_type = Integer)]
    pub max_in_flight: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    pub rate_limit_per_second: Option<i32>,
    #[diesel(sql_type = Integer)]
    pub timeout_seconds: i32,
    /// Due deliveries, counted up to the claim's bound.
    #[diesel(sql_type = BigInt)]
    pub due: i64,
    #[diesel(sql_type = Timestamptz)]
    pub oldest_due: DateTime<Utc>,
}

/// Locks the flow rows of the webhooks that have due deliveries and may send now (not paused,
/// breaker healthy or a probe due), with what the scheduler needs. `count_bound` caps the
/// per-webhook count of due deliveries.
pub fn lock_due(conn: &mut PgConnection, count_bound: i64) -> QueryResult<Vec<DueWebhook>> {
    crate::db::prepared::sql(
        // The oldest pending delivery of each webhook is one probe of the due index. (An
        // EXISTS here let the planner hash every due delivery of every webhook: a claim cost
        // grew with the backlog.)
        "SELECT f.*, w.max_in_flight, w.rate_limit_per_second, w.timeout_seconds,
                (SELECT count(*) FROM (SELECT 1 FROM deliveries d
                  WHERE d.webhook_id = f.webhook_id AND d.status = 'pending'
                    AND d.next_attempt_at <= now() LIMIT 257) bounded) AS due,
                oldest.next_attempt_at AS oldest_due
         FROM webhook_flow f JOIN webhooks w ON w.id = f.webhook_id
         CROSS JOIN LATERAL (
             SELECT d.next_attempt_at FROM deliveries d
             WHERE d.webhook_id = f.webhook_id AND d.status = 'pending'
             ORDER BY d.next_attempt_at LIMIT 1
         ) oldest
         WHERE oldest.next_attempt_at <= now()
           AND (f.paused_until IS NULL OR f.paused_until <= now())
           AND (f.circuit = 'healthy' OR f.next_probe_at <= now())
         ORDER BY f.webhook_id
         FOR UPDATE OF f",
    )
    .load(conn)
    .map(|mut due: Vec<DueWebhook>| {
        // Counted up to a constant (a plan that never depends on the bound), capped here.
        for hook in &mut due {
            hook.due = hook.due.min(count_bound);
        }
        due
    })
}

/// Requests in flight per webhook, in every worker, leaving out `answered` (deliveries whose
/// answer came and whose outcome is being written); read after `lock_due`, so no other claim
/// for these webhooks can run until this transaction ends.
pub fn count_in_flight(
    conn: &mut PgConnection,
    webhook_ids: &[i64],
    answered: &[uuid::Uuid],
) -> QueryResult<std::collections::HashMap<i64, i64>> {
    #[derive(QueryableByName)]
    struct InFlight {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        webhook_id: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // One index probe per webhook (the partial index of open deliveries), a plan that stays
    // right when the statement keeps its generic plan; `webhook_id = ANY(…)` did not (its
    // generic plan walked every delivering row).
    let counts: Vec<InFlight> = crate::db::prepared::sql(
        "SELECT w.id AS webhook_id,
                (SELECT count(*) FROM deliveries d
                 WHERE d.webhook_id = w.id AND d.status = 'delivering'
                   AND d.id <> ALL($2::uuid[])) AS n
         FROM unnest($1::bigint[]) AS w(id)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(webhook_ids)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(answered)
    .load(conn)?;
    Ok(counts
        .into_iter()
        .filter(|c| c.n > 0)
        .map(|c| (c.webhook_id, c.n))
        .collect())
}

/// Locks the flow rows of these webhooks (in webhook order, like claims) to apply outcomes.
pub fn lock(conn: &mut PgConnection, webhook_ids: &[i64]) -> QueryResult<Vec<WebhookFlow>> {
    let mut ids = webhook_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    webhook_flow::table
        .filter(webhook_flow::webhook_id.eq_any(ids))
        .order(webhook_flow::webhook_id)
        .for_update()
        .select(WebhookFlow::as_select())
        .load(conn)
}

/// The flow state of these webhooks (for pages and the API); webhooks without a row are healthy.
pub fn of_webhooks(conn: &mut PgConnection, webhook_ids: &[i64]) -> QueryResult<Vec<WebhookFlow>> {
    webhook_flow::table
        .filter(webhook_flow::webhook_id.eq_any(webhook_ids))
        .select(WebhookFlow::as_select())
        .load(conn)
}

/// Webhooks whose breaker is open now (for the dashboard).
pub fn failing(conn: &mut PgConnection) -> QueryResult<Vec<WebhookFlow>> {
    webhook_flow::table
        .filter(webhook_flow::circuit.eq("failing"))
        .order(webhook_flow::failing_since)
        .select(WebhookFlow::as_select())
        .load(conn)
}

/// Back to healthy with a clean slate (a person re-enabled the webhook: they expect sending
/// to start now, not at the next probe).
pub fn reset(conn: &mut PgConnection, webhook_id: i64) -> QueryResult<usize> {
    diesel::update(webhook_flow::table.find(webhook_id))
        .set((
            webhook_flow::circuit.eq("healthy"),
            webhook_flow::consecutive_failures.eq(0),
            webhook_flow::failing_since.eq(None::<DateTime<Utc>>),
            webhook_flow::next_probe_at.eq(None::<DateTime<Utc>>),
            webhook_flow::probe_interval_seconds.eq(0),
            webhook_flow::ramp.eq(None::<i32>),
            webhook_flow::paused_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
}

/// Writes these states back (the rows must be locked by this transaction).
pub fn save(conn: &mut PgConnection, flows: &[WebhookFlow]) -> QueryResult<usize> {
    if flows.is_empty() {
        return Ok(0);
    }
    crate::db::prepared::sql(
        "UPDATE webhook_flow f
         SET circuit = u.circuit, consecutive_failures = u.consecutive_failures,
             failing_since = u.failing_since, next_probe_at = u.next_probe_at,
             probe_interval_seconds = u.probe_interval_seconds, ramp = u.ramp,
             rate_next_at = u.rate_next_at, paused_until = u.paused_until
         FROM unnest($1::bigint[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[],
                     $6::int[], $7::int[], $8::timestamptz[], $9::timestamptz[])
              AS u(webhook_id, circuit, consecutive_failures, failing_since, next_probe_at,
                   probe_interval_seconds, ramp, rate_next_at, paused_until)
         WHERE f.webhook_id = u.webhook_id",
    )
    .bind::<Array<BigInt>, _>(flows.iter().map(|f| f.webhook_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(flows.iter().map(|f| f.circuit.clone()).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(
        flows
            .iter()
            .map(|f| f.consecutive_failures)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Timestamptz>>, _>(
        flows.iter().map(|f| f.failing_since).collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Timestamptz>>, _>(
        flows.iter().map(|f| f.next_probe_at).collect::<Vec<_>>(),
    )
    .bind::<Array<Integer>, _>(
        flows
            .iter()
            .map(|f| f.probe_interval_seconds)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Integer>>, _>(flows.iter().map(|f| f.ramp).collect::<Vec<_>>())
    .bind::<Array<Nullable<Timestamptz>>, _>(
        flows.iter().map(|f| f.rate_next_at).collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Timestamptz>>, _>(
        flows.iter().map(|f| f.paused_until).collect::<Vec<_>>(),
    )
    .execute(conn)
}
