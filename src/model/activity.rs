//! Delivery attempts per hour, by outcome, for the charts; and the webhooks with the most
//! failed attempts. Both read the hourly counts (`attempt_counts_hourly`), never the attempts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};

/// Attempts that started in one hour.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct HourCounts {
    #[diesel(sql_type = Timestamptz)]
    pub hour: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    /// Attempts that made their delivery a dead letter (counted among `failed`).
    #[diesel(sql_type = BigInt)]
    pub dead: i64,
}

/// Hours with attempts since `since` (hours without any are left out), oldest first; all
/// webhooks, or one.
pub fn hourly(
    conn: &mut PgConnection,
    webhook_id: Option<i64>,
    since: DateTime<Utc>,
) -> QueryResult<Vec<HourCounts>> {
    crate::db::prepared::sql(
        "SELECT hour, sum(delivered)::bigint AS delivered, sum(failed)::bigint AS failed, \
                sum(dead)::bigint AS dead \
         FROM attempt_counts_hourly \
         WHERE hour >= date_trunc('hour', $1::timestamptz, 'UTC') \
           AND ($2::bigint IS NULL OR webhook_id = $2) \
         GROUP BY hour ORDER BY hour",
    )
    .bind::<Timestamptz, _>(since)
    .bind::<Nullable<BigInt>, _>(webhook_id)
    .load(conn)
}

/// A webhook and its failed attempts in the period.
#[derive(Debug, Clone, QueryableByName)]
pub struct FailureCount {
    #[diesel(sql_type = BigInt)]
    pub webhook_id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
}

/// The `limit` webhooks with the most failed attempts since `since`, most first.
pub fn most_failures(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<FailureCount>> {
    crate::db::prepared::sql(
        "SELECT c.webhook_id, w.name, sum(c.failed)::bigint AS failed, \
                sum(c.delivered + c.failed)::bigint AS attempts \
         FROM attempt_counts_hourly c JOIN webhooks w ON w.id = c.webhook_id \
         WHERE c.hour >= date_trunc('hour', $1::timestamptz, 'UTC') \
         GROUP BY c.webhook_id, w.name \
         HAVING sum(c.failed) > 0 \
         ORDER BY failed DESC, w.name LIMIT $2",
    )
    .bind::<Timestamptz, _>(since)
    .bind::<BigInt, _>(limit)
    .load(conn)
}
