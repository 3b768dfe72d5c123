//! Sign-in throttling: after too many failures for one username or one client address inside
//! the window, further attempts are refused without checking the password.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;

use crate::config::LoginThrottle;
use crate::model::login_failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused { retry_after: Duration },
}

pub fn check(
    conn: &mut PgConnection,
    limits: &LoginThrottle,
    username: &str,
    client_ip: &str,
) -> QueryResult<Verdict> {
    let window = chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::minutes(15));
    let since = Utc::now() - window;
    let (by_username, by_ip) = login_failure::count_since(conn, username, client_ip, since)?;
    if by_username < limits.max_failures_per_username && by_ip < limits.max_failures_per_ip {
        return Ok(Verdict::Allowed);
    }
    let oldest =
        login_failure::oldest_since(conn, username, client_ip, since)?.unwrap_or_else(Utc::now);
    let retry_after = (oldest + window - Utc::now())
        .to_std()
        .unwrap_or(Duration::from_secs(60));
    Ok(Verdict::Refused { retry_after })
}

pub fn record_failure(conn: &mut PgConnection, username: &str, client_ip: &str) -> QueryResult<()> {
    login_failure::record(conn, username, client_ip)
}

pub fn record_success(
    conn: &mut PgConnection,
    limits: &LoginThrottle,
    username: &str,
) -> QueryResult<()> {
    let prune_before = Utc::now()
        - chrono::Duration::from_std(limits.window * 4).unwrap_or(chrono::Duration::hours(1));
    login_failure::clear_for_username(conn, username, prune_before)
}
