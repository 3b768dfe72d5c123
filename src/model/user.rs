//! `users`: console accounts. The password hash is only read through [`credentials`], so a
//! `User` value carried around the app never holds it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{PageRequest, Paged};
use crate::db::schema::users;
use crate::domain::role::Role;
use crate::domain::username::Username;

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub session_version: i32,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// The stored role; the table's CHECK constraint keeps it valid, and anything else would
    /// fall back to the least privilege.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
}

/// What sign-in needs to check a password.
#[derive(Debug, Queryable)]
pub struct Credentials {
    pub user_id: i64,
    pub password_hash: String,
    pub disabled_at: Option<DateTime<Utc>>,
}

pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_username(conn: &mut PgConnection, username: &Username) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(username.as_str()))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn credentials(
    conn: &mut PgConnection,
    username: &Username,
) -> QueryResult<Option<Credentials>> {
    users::table
        .filter(users::username.eq(username.as_str()))
        .select((users::id, users::password_hash, users::disabled_at))
        .first(conn)
        .optional()
}

/// The stored password hash of the account `id` (to confirm its owner's current password).
pub fn password_hash(conn: &mut PgConnection, id: i64) -> QueryResult<Option<String>> {
    users::table
        .find(id)
        .select(users::password_hash)
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut PgConnection, new_user: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(new_user)
        .returning(User::as_returning())
        .get_result(conn)
}

/// Inserts the first account only while the table is empty; `None` when users exist already
/// (also when another process won the race).
/// Whether any user exists (the first admin was created).
pub fn any_exist(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
}

pub fn insert_if_none_exist(
    conn: &mut PgConnection,
    new_user: &NewUser<'_>,
) -> QueryResult<Option<User>> {
    conn.transaction(|conn| {
        // Serialise concurrent first starts on one database.
        crate::db::prepared::sql("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
        let any: i64 = users::table.count().get_result(conn)?;
        if any > 0 {
            return Ok(None);
        }
        insert(conn, new_user).map(Some)
    })
}

pub fn list(conn: &mut PgConnection, page: PageRequest) -> QueryResult<Paged<User>> {
    let total = users::table.count().get_result(conn)?;
    let items = users::table
        .select(User::as_select())
        .order((users::username.asc(), users::id.asc()))
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok(Paged { items, total, page })
}

/// Ids of active admins, locked until the transaction ends, so two concurrent demotions
/// cannot both see "another admin remains".
pub fn lock_active_admin_ids(conn: &mut PgConnection) -> QueryResult<Vec<i64>> {
    users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::disabled_at.is_null())
        .select(users::id)
        .for_update()
        .load(conn)
}

pub fn set_role(conn: &mut PgConnection, id: i64, role: Role) -> QueryResult<User> {
    diesel::update(users::table.find(id))
        .set((
            users::role.eq(role.as_str()),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
}

/// Disabling also bumps the session version, which ends every open session at once.
pub fn set_disabled(conn: &mut PgConnection, id: i64, disabled: bool) -> QueryResult<User> {
    let disabled_at = disabled.then(Utc::now);
    diesel::update(users::table.find(id))
        .set((
            users::disabled_at.eq(disabled_at),
            users::session_version.eq(users::session_version + 1),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
}

/// A new password ends the sessions opened with the old one.
pub fn set_password_hash(
    conn: &mut PgConnection,
    id: i64,
    password_hash: &str,
) -> QueryResult<User> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(password_hash),
            users::session_version.eq(users::session_version + 1),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
}

pub fn record_login(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(diesel::dsl::now))
        .execute(conn)
        .map(|_| ())
}
