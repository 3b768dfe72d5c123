//! `login_throttle`: one counter per throttle key — a (username, client address) pair, a
//! username, or an address — shared by every Herald process on the database. A sign-in
//! attempt locks its keys' rows before the password is checked (see `auth::throttle`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};

use crate::db::schema::login_throttle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Pair,
    Username,
    Address,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Pair => "pair",
            Scope::Username => "username",
            Scope::Address => "address",
        }
    }
}

/// One counter's key; the part a scope does not use is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub scope: Scope,
    pub username: String,
    pub client_address: String,
}

impl Key {
    fn primary_key(&self) -> (&'static str, &str, &str) {
        (self.scope.as_str(), &self.username, &self.client_address)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = login_throttle)]
pub struct Counter {
    pub failures: i32,
    pub window_started_at: DateTime<Utc>,
    pub last_failure_at: DateTime<Utc>,
    pub next_allowed_at: DateTime<Utc>,
}

/// A counter locked until the end of the transaction, with the database's clock read after
/// the lock was taken (one clock for every Herald process).
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct Locked {
    #[diesel(embed)]
    pub counter: Counter,
    #[diesel(sql_type = Timestamptz)]
    pub now: DateTime<Utc>,
}

/// Creates the key's row if there is none and locks it until the transaction ends: a
/// concurrent attempt on the same key waits here until this one has recorded its outcome.
pub fn lock(conn: &mut PgConnection, key: &Key) -> QueryResult<Locked> {
    crate::db::prepared::sql(
        "INSERT INTO login_throttle (scope, username, client_address) VALUES ($1, $2, $3)
         ON CONFLICT (scope, username, client_address)
             DO UPDATE SET failures = login_throttle.failures
         RETURNING failures, window_started_at, last_failure_at, next_allowed_at,
                   clock_timestamp() AS now",
    )
    .bind::<Text, _>(key.scope.as_str())
    .bind::<Text, _>(&key.username)
    .bind::<Text, _>(&key.client_address)
    .get_result(conn)
}

pub fn store(conn: &mut PgConnection, key: &Key, counter: &Counter) -> QueryResult<()> {
    diesel::update(login_throttle::table.find(key.primary_key()))
        .set((
            login_throttle::failures.eq(counter.failures),
            login_throttle::window_started_at.eq(counter.window_started_at),
            login_throttle::last_failure_at.eq(counter.last_failure_at),
            login_throttle::next_allowed_at.eq(counter.next_allowed_at),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut PgConnection, key: &Key) -> QueryResult<Option<Counter>> {
    login_throttle::table
        .find(key.primary_key())
        .select(Counter::as_select())
        .first(conn)
        .optional()
}

pub fn delete(conn: &mut PgConnection, key: &Key) -> QueryResult<()> {
    diesel::delete(login_throttle::table.find(key.primary_key()))
        .execute(conn)
        .map(|_| ())
}

/// Takes back one counted failure (an attempt that turned out to be right).
pub fn take_back_one(conn: &mut PgConnection, key: &Key) -> QueryResult<()> {
    diesel::update(
        login_throttle::table
            .find(key.primary_key())
            .filter(login_throttle::failures.gt(0)),
    )
    .set(login_throttle::failures.eq(login_throttle::failures - 1))
    .execute(conn)
    .map(|_| ())
}

/// Deletes up to `limit` rows that no longer hold anything back: no failure since `before`
/// and no wait running. Rows locked by an attempt in progress are skipped, never waited for.
pub fn prune(conn: &mut PgConnection, before: DateTime<Utc>, limit: i64) -> QueryResult<usize> {
    crate::db::prepared::sql(
        "DELETE FROM login_throttle WHERE (scope, username, client_address) IN (
             SELECT scope, username, client_address FROM login_throttle
             WHERE last_failure_at < $1 AND next_allowed_at < now()
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(limit)
    .execute(conn)
}
