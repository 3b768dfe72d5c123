//! `test_inboxes` and `test_inbox_requests`: the built-in test receiver's inboxes and the
//! latest [`KEPT`] requests each one received.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{test_inbox_requests, test_inboxes, webhooks};

/// Requests kept per inbox; older ones are deleted as new ones arrive.
pub const KEPT: i64 = 50;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = test_inboxes, check_for_backend(diesel::pg::Pg))]
pub struct Inbox {
    pub id: i64,
    pub token: String,
    pub name: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = test_inbox_requests, check_for_backend(diesel::pg::Pg))]
pub struct InboxRequest {
    pub id: i64,
    pub inbox_id: i64,
    pub received_at: DateTime<Utc>,
    pub via: String,
    pub headers: serde_json::Value,
    pub body: String,
    pub signature: String,
    pub signature_detail: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = test_inbox_requests)]
pub struct NewInboxRequest<'a> {
    pub inbox_id: i64,
    pub via: &'a str,
    pub headers: serde_json::Value,
    pub body: &'a str,
    pub signature: &'a str,
    pub signature_detail: &'a str,
}

pub fn create(
    conn: &mut PgConnection,
    token: &str,
    name: &str,
    created_by: &str,
) -> QueryResult<Inbox> {
    diesel::insert_into(test_inboxes::table)
        .values((
            test_inboxes::token.eq(token),
            test_inboxes::name.eq(name),
            test_inboxes::created_by.eq(created_by),
        ))
        .returning(Inbox::as_returning())
        .get_result(conn)
}

/// Every inbox, newest first (there are a handful: they are for trying things out).
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Inbox>> {
    test_inboxes::table
        .order(test_inboxes::id.desc())
        .select(Inbox::as_select())
        .load(conn)
}

pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Inbox>> {
    test_inboxes::table
        .find(id)
        .select(Inbox::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_token(conn: &mut PgConnection, token: &str) -> QueryResult<Option<Inbox>> {
    test_inboxes::table
        .filter(test_inboxes::token.eq(token))
        .select(Inbox::as_select())
        .first(conn)
        .optional()
}

/// Deletes the inbox and its requests; `false` when it did not exist.
pub fn delete(conn: &mut PgConnection, id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(test_inboxes::table.find(id)).execute(conn)? > 0)
}

/// Stores a request and drops the inbox's requests beyond the latest [`KEPT`].
pub fn insert_request(conn: &mut PgConnection, request: &NewInboxRequest<'_>) -> QueryResult<i64> {
    conn.transaction(|conn| {
        let id = diesel::insert_into(test_inbox_requests::table)
            .values(request)
            .returning(test_inbox_requests::id)
            .get_result(conn)?;
        crate::db::prepared::sql(
            "DELETE FROM test_inbox_requests WHERE inbox_id = $1 AND id NOT IN \
             (SELECT id FROM test_inbox_requests WHERE inbox_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind::<diesel::sql_types::BigInt, _>(request.inbox_id)
        .bind::<diesel::sql_types::BigInt, _>(KEPT)
        .execute(conn)?;
        Ok(id)
    })
}

/// The inbox's requests, newest first.
pub fn requests(conn: &mut PgConnection, inbox_id: i64) -> QueryResult<Vec<InboxRequest>> {
    test_inbox_requests::table
        .filter(test_inbox_requests::inbox_id.eq(inbox_id))
        .order(test_inbox_requests::id.desc())
        .select(InboxRequest::as_select())
        .load(conn)
}

/// Ids and names of the webhooks whose endpoint URL is `url`.
pub fn webhooks_sending_to(conn: &mut PgConnection, url: &str) -> QueryResult<Vec<(i64, String)>> {
    webhooks::table
        .filter(webhooks::endpoint_url.eq(url))
        .order(webhooks::id)
        .select((webhooks::id, webhooks::name))
        .load(conn)
}
