//! `login_failures`: failed sign-ins, so guessing can be throttled per username and per
//! client address across every Herald process sharing the database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::login_failures;

pub fn record(conn: &mut PgConnection, username: &str, client_ip: &str) -> QueryResult<()> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::username.eq(username),
            login_failures::client_ip.eq(client_ip),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Failures since `since` for this username and for this client address.
pub fn count_since(
    conn: &mut PgConnection,
    username: &str,
    client_ip: &str,
    since: DateTime<Utc>,
) -> QueryResult<(i64, i64)> {
    let by_username = login_failures::table
        .filter(login_failures::username.eq(username))
        .filter(login_failures::failed_at.gt(since))
        .count()
        .get_result(conn)?;
    let by_ip = login_failures::table
        .filter(login_failures::client_ip.eq(client_ip))
        .filter(login_failures::failed_at.gt(since))
        .count()
        .get_result(conn)?;
    Ok((by_username, by_ip))
}

/// The oldest failure still inside the window, to tell people when they may retry.
pub fn oldest_since(
    conn: &mut PgConnection,
    username: &str,
    client_ip: &str,
    since: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    login_failures::table
        .filter(
            login_failures::username
                .eq(username)
                .or(login_failures::client_ip.eq(client_ip)),
        )
        .filter(login_failures::failed_at.gt(since))
        .select(diesel::dsl::min(login_failures::failed_at))
        .first(conn)
}

/// After a successful sign-in the username's slate is clean; old rows are pruned too.
pub fn clear_for_username(
    conn: &mut PgConnection,
    username: &str,
    older_than: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::delete(
        login_failures::table.filter(
            login_failures::username
                .eq(username)
                .or(login_failures::failed_at.lt(older_than)),
        ),
    )
    .execute(conn)
    .map(|_| ())
}
