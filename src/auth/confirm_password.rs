//! Checking a signed-in user's current password before they change it. A wrong password
//! counts as a failed sign-in of that username from that client address (the same
//! reservations as `auth::throttle`), so a borrowed or stolen session cannot guess the
//! password any faster than the sign-in form allows, and failures on either form add up.
//! A right password takes its reservation back, as a successful sign-in does.

use std::time::Duration;

use super::password::verify_password;
use super::throttle::{self, Attempt, Verdict};
use crate::config::LoginThrottle;
use crate::db::PgPool;
use crate::db::monitor::DatabaseStatus;
use crate::error::AppError;
use crate::model::user;
use crate::web::state::checkout;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    Wrong,
    /// Too many failures for this username and address: not checked at all.
    Throttled {
        retry_after: Duration,
    },
}

/// Blocking (argon2 and diesel): call it on the blocking pool. No connection is held during
/// the slow hash check.
pub fn confirm(
    pool: &PgPool,
    database: &DatabaseStatus,
    limits: &LoginThrottle,
    attempt: &Attempt,
    user_id: i64,
    candidate: &str,
) -> Result<Confirmation, AppError> {
    let stored = {
        let mut conn = checkout(pool, database)?;
        // Counted as a failure from here on, unless the password turns out right.
        if let Verdict::Refused { retry_after } = throttle::reserve(&mut conn, limits, attempt)? {
            return Ok(Confirmation::Throttled { retry_after });
        }
        user::password_hash(&mut conn, user_id)?
    };
    if !verify_password(candidate, stored.as_deref()) {
        return Ok(Confirmation::Wrong);
    }
    let mut conn = checkout(pool, database)?;
    throttle::succeeded(&mut conn, limits, attempt)?;
    Ok(Confirmation::Confirmed)
}
