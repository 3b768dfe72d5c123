//! `api_tokens`: bearer tokens for the API, stored as SHA-256 hashes only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{PageRequest, Paged};
use crate::db::schema::api_tokens;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens, check_for_backend(diesel::pg::Pg))]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub token_prefix: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewApiToken<'a> {
    pub name: &'a str,
    pub scope: &'a str,
    pub token_prefix: &'a str,
    pub token_hash: &'a [u8],
    pub created_by: &'a str,
}

pub fn insert(conn: &mut PgConnection, token: &NewApiToken<'_>) -> QueryResult<ApiToken> {
    diesel::insert_into(api_tokens::table)
        .values(token)
        .returning(ApiToken::as_returning())
        .get_result(conn)
}

pub fn list(conn: &mut PgConnection, page: PageRequest) -> QueryResult<Paged<ApiToken>> {
    let total = api_tokens::table.count().get_result(conn)?;
    let items = api_tokens::table
        .select(ApiToken::as_select())
        .order((
            api_tokens::revoked_at.is_not_null(),
            api_tokens::created_at.desc(),
            api_tokens::id.desc(),
        ))
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok(Paged { items, total, page })
}

pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Option<ApiToken>> {
    api_tokens::table
        .find(id)
        .select(ApiToken::as_select())
        .first(conn)
        .optional()
}

/// The token with this hash, revoked or not.
pub fn find_by_hash(conn: &mut PgConnection, hash: &[u8]) -> QueryResult<Option<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::token_hash.eq(hash))
        .select(ApiToken::as_select())
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut PgConnection, id: i64, by: &str) -> QueryResult<ApiToken> {
    diesel::update(
        api_tokens::table
            .find(id)
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set((
        api_tokens::revoked_at.eq(diesel::dsl::now),
        api_tokens::revoked_by.eq(by),
    ))
    .returning(ApiToken::as_returning())
    .get_result(conn)
}

pub fn touch(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .map(|_| ())
}
