//! Webhook health: the last attempt and its outcome, the success rate over the last 24 hours
//! (from the hourly counts), consecutive failed attempts (up to
//! [`CONSECUTIVE_FAILURES_COUNTED`]), and how many deliveries wait or are dead. One query for a
//! whole page of webhooks, each figure read from an index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};

#[derive(Debug, Clone, Default, QueryableByName)]
pub struct WebhookHealth {
    #[diesel(sql_type = BigInt)]
    pub webhook_id: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// delivered, retry, dead or disabled.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_outcome: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    pub last_status: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error_kind: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub attempts_24h: i64,
    #[diesel(sql_type = BigInt)]
    pub delivered_24h: i64,
    #[diesel(sql_type = BigInt)]
    pub consecutive_failures: i64,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub dead: i64,
}

impl WebhookHealth {
    /// Delivered attempts out of all attempts in the last 24 h, in percent.
    pub fn success_rate(&self) -> Option<f64> {
        (self.attempts_24h > 0)
            .then(|| 100.0 * self.delivered_24h as f64 / self.attempts_24h as f64)
    }

    pub fn success_rate_text(&self) -> String {
        self.success_rate()
            .map_or("—".to_owned(), |rate| format!("{rate:.0} %"))
    }

    /// "HTTP 200", "timeout"…: what the last attempt got.
    pub fn last_result(&self) -> String {
        match (&self.last_status, &self.last_error_kind) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(kind)) => kind.clone(),
            _ => String::new(),
        }
    }

    pub fn last_ok(&self) -> bool {
        self.last_outcome.as_deref() == Some("delivered")
    }
}

/// Failed attempts in a row are counted up to this many (the newest attempts are read).
pub const CONSECUTIVE_FAILURES_COUNTED: i64 = 100;

/// Health of each webhook in `ids` (every id gets an entry).
pub fn for_webhooks(
    conn: &mut PgConnection,
    ids: &[i64],
) -> QueryResult<HashMap<i64, WebhookHealth>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<WebhookHealth> = crate::db::prepared::sql(
        "SELECT w.id AS webhook_id,
                last.started_at AS last_attempt_at, last.outcome AS last_outcome,
                last.response_status AS last_status, last.error_kind AS last_error_kind,
                day.attempts AS attempts_24h, day.delivered AS delivered_24h,
                CASE WHEN last.outcome IS NULL OR last.outcome = 'delivered' THEN 0
                     ELSE (SELECT COALESCE(min(n) FILTER (WHERE outcome = 'delivered') - 1, count(*))
                           FROM (SELECT a.outcome,
                                        row_number() OVER (ORDER BY a.started_at DESC) AS n
                                 FROM (SELECT outcome, started_at FROM delivery_attempts a
                                       WHERE a.webhook_id = w.id
                                       ORDER BY a.started_at DESC LIMIT $2) a) recent)
                END AS consecutive_failures,
                (SELECT count(*) FROM deliveries d
                  WHERE d.webhook_id = w.id AND d.status IN ('pending', 'delivering')) AS pending,
                (SELECT count(*) FROM deliveries d
                  WHERE d.webhook_id = w.id AND d.status = 'dead') AS dead
         FROM unnest($1) AS w(id)
         LEFT JOIN LATERAL (
             SELECT a.started_at, a.outcome, a.response_status, a.error_kind
             FROM delivery_attempts a WHERE a.webhook_id = w.id
             ORDER BY a.started_at DESC LIMIT 1
         ) last ON true
         CROSS JOIN LATERAL (
             SELECT COALESCE(sum(c.delivered + c.failed), 0)::bigint AS attempts,
                    COALESCE(sum(c.delivered), 0)::bigint AS delivered
             FROM attempt_counts_hourly c
             WHERE c.webhook_id = w.id
               AND c.hour >= date_trunc('hour', now(), 'UTC') - interval '23 hours'
         ) day",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<BigInt, _>(CONSECUTIVE_FAILURES_COUNTED)
    .load(conn)?;
    Ok(rows.into_iter().map(|h| (h.webhook_id, h)).collect())
}
