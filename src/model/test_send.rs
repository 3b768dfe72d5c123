//! `test_sends`: what "Send test event" sent and what came back, kept apart from deliveries.
//! The latest [`KEPT`] per webhook are kept.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::test_sends;

/// Test results kept per webhook; older ones are deleted as new ones arrive.
pub const KEPT: i64 = 50;

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = test_sends, check_for_backend(diesel::pg::Pg))]
pub struct TestSend {
    pub id: Uuid,
    pub webhook_id: i64,
    pub event_type: String,
    pub requested_by: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub request_headers: serde_json::Value,
    pub request_body: String,
    pub response_status: Option<i32>,
    pub response_headers: Option<serde_json::Value>,
    pub response_body: Option<String>,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub delivered: bool,
}

impl TestSend {
    /// "HTTP 200" or the error kind.
    pub fn result(&self) -> String {
        match (&self.response_status, &self.error_kind) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(kind)) => kind.clone(),
            _ => String::new(),
        }
    }

    /// The response headers as (name, value) pairs.
    pub fn response_header_pairs(&self) -> Vec<(String, String)> {
        pairs(self.response_headers.as_ref())
    }

    pub fn request_header_pairs(&self) -> Vec<(String, String)> {
        pairs(Some(&self.request_headers))
    }
}

fn pairs(headers: Option<&serde_json::Value>) -> Vec<(String, String)> {
    headers
        .and_then(|h| h.as_object())
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Stores a result and drops the webhook's results beyond the latest [`KEPT`].
pub fn insert(conn: &mut PgConnection, sent: &TestSend) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::insert_into(test_sends::table)
            .values(sent)
            .execute(conn)?;
        crate::db::prepared::sql(
            "DELETE FROM test_sends WHERE webhook_id = $1 AND id NOT IN \
             (SELECT id FROM test_sends WHERE webhook_id = $1 ORDER BY started_at DESC LIMIT $2)",
        )
        .bind::<diesel::sql_types::BigInt, _>(sent.webhook_id)
        .bind::<diesel::sql_types::BigInt, _>(KEPT)
        .execute(conn)?;
        Ok(())
    })
}

/// One result of this webhook.
pub fn find(conn: &mut PgConnection, webhook_id: i64, id: Uuid) -> QueryResult<Option<TestSend>> {
    test_sends::table
        .filter(test_sends::webhook_id.eq(webhook_id))
        .filter(test_sends::id.eq(id))
        .select(TestSend::as_select())
        .first(conn)
        .optional()
}

/// The webhook's latest results, newest first.
pub fn recent(conn: &mut PgConnection, webhook_id: i64, limit: i64) -> QueryResult<Vec<TestSend>> {
    test_sends::table
        .filter(test_sends::webhook_id.eq(webhook_id))
        .order(test_sends::started_at.desc())
        .limit(limit)
        .select(TestSend::as_select())
        .load(conn)
}
