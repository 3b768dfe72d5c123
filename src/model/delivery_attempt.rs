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

pub fn insert_many(conn: &mut PgConnection, new: &[NewAttempt]) -> QueryResult<usize> {
    if new.is_empty() {
        return Ok(0);
    }
    diesel::insert_into(delivery_attempts::table)
        .values(new)
        .execute(conn)
}

/// Every attempt of a delivery, first to last.
pub fn for_delivery(conn: &mut PgConnection, delivery_id: Uuid) -> QueryResult<Vec<Attempt>> {
    delivery_attempts::table
        .filter(delivery_attempts::delivery_id.eq(delivery_id))
        .order((delivery_attempts::number, delivery_attempts::id))
        .select(Attempt::as_select())
        .load(conn)
}
