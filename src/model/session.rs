//! `sessions`: server-side session rows, found by the SHA-256 of the cookie's key. A row is
//! live while `expires_at` (the absolute end) is ahead and it was seen within the idle limit.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::sessions;

/// What a session row holds besides its state, for writing.
#[derive(Debug, Clone, Default)]
pub struct SessionColumns {
    pub user_id: Option<i64>,
    pub handle: Option<Uuid>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// A live session's state and when it was last seen (to refresh that now and then).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct LoadedSession {
    pub state: String,
    pub last_seen_at: DateTime<Utc>,
}

/// One row of a "your sessions" list.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct ActiveSession {
    pub handle: Option<Uuid>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub fn insert(
    conn: &mut PgConnection,
    key_hash: &[u8],
    state: &str,
    columns: &SessionColumns,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::key_hash.eq(key_hash),
            sessions::user_id.eq(columns.user_id),
            sessions::handle.eq(columns.handle),
            sessions::state.eq(state),
            sessions::client_address.eq(&columns.client_address),
            sessions::user_agent.eq(&columns.user_agent),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The live session under `key_hash`, if any.
pub fn find_live(
    conn: &mut PgConnection,
    key_hash: &[u8],
    seen_since: DateTime<Utc>,
) -> QueryResult<Option<LoadedSession>> {
    sessions::table
        .filter(sessions::key_hash.eq(key_hash))
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .filter(sessions::last_seen_at.gt(seen_since))
        .select(LoadedSession::as_select())
        .first(conn)
        .optional()
}

pub fn mark_seen(conn: &mut PgConnection, key_hash: &[u8]) -> QueryResult<()> {
    diesel::update(sessions::table.filter(sessions::key_hash.eq(key_hash)))
        .set(sessions::last_seen_at.eq(diesel::dsl::now))
        .execute(conn)
        .map(|_| ())
}

/// Writes a live session's new state; `false` when the row is gone (ended meanwhile).
/// The user, handle and sign-in details are fixed when the row is created.
pub fn update_state(
    conn: &mut PgConnection,
    key_hash: &[u8],
    state: &str,
    seen_since: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::update(
        sessions::table
            .filter(sessions::key_hash.eq(key_hash))
            .filter(sessions::expires_at.gt(diesel::dsl::now))
            .filter(sessions::last_seen_at.gt(seen_since)),
    )
    .set((
        sessions::state.eq(state),
        sessions::last_seen_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .map(|rows| rows > 0)
}

pub fn delete_by_key(conn: &mut PgConnection, key_hash: &[u8]) -> QueryResult<()> {
    diesel::delete(sessions::table.filter(sessions::key_hash.eq(key_hash)))
        .execute(conn)
        .map(|_| ())
}

/// The user's live sessions, most recently used first (at most `limit`), and how many
/// there are in all.
pub fn list_for_user(
    conn: &mut PgConnection,
    user_id: i64,
    seen_since: DateTime<Utc>,
    limit: i64,
) -> QueryResult<(Vec<ActiveSession>, i64)> {
    let live = || {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::expires_at.gt(diesel::dsl::now))
            .filter(sessions::last_seen_at.gt(seen_since))
    };
    let listed = live()
        .order((sessions::last_seen_at.desc(), sessions::id.desc()))
        .limit(limit)
        .select(ActiveSession::as_select())
        .load(conn)?;
    let total = live().count().get_result(conn)?;
    Ok((listed, total))
}

/// Ends one of the user's sessions; `false` when it was not theirs or is already gone.
pub fn delete_for_user(conn: &mut PgConnection, user_id: i64, handle: Uuid) -> QueryResult<bool> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::handle.eq(handle)),
    )
    .execute(conn)
    .map(|rows| rows > 0)
}

/// Ends every session of the user but `keep` (the one making the request, when given).
/// Returns how many were ended.
pub fn delete_all_for_user(
    conn: &mut PgConnection,
    user_id: i64,
    keep: Option<Uuid>,
) -> QueryResult<usize> {
    let mine = sessions::table.filter(sessions::user_id.eq(user_id));
    match keep {
        Some(handle) => {
            diesel::delete(mine.filter(sessions::handle.ne(handle).or(sessions::handle.is_null())))
                .execute(conn)
        }
        None => diesel::delete(mine).execute(conn),
    }
}

/// Removes rows past their end or idle for longer than the limit.
pub fn purge_expired(conn: &mut PgConnection, seen_since: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(diesel::dsl::now)
                .or(sessions::last_seen_at.le(seen_since)),
        ),
    )
    .execute(conn)
}
