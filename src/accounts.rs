//! Account management rules shared by the console and the CLI: unique usernames, the last
//! active admin cannot be demoted or disabled, a new role, a new password or disabling ends
//! the user's sessions, and every change lands in the audit log.
//! Passwords arrive already hashed: hashing is slow and must not hold a connection.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::json;

use crate::domain::role::Role;
use crate::domain::username::Username;
use crate::model::audit::{self, Actor, Change};
use crate::model::session;
use crate::model::user::{self, NewUser, User};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("The username {0} is already taken.")]
    UsernameTaken(String),
    #[error("This is the last active admin: make another user admin first.")]
    LastAdmin,
    #[error("No such user.")]
    NotFound,
    #[error(transparent)]
    Database(#[from] DieselError),
}

pub fn create_user(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &Username,
    role: Role,
    password_hash: &str,
) -> Result<User, AccountError> {
    conn.transaction(|conn| {
        let created = user::insert(
            conn,
            &NewUser {
                username: username.as_str(),
                password_hash,
                role: role.as_str(),
            },
        )
        .map_err(|err| match err {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AccountError::UsernameTaken(username.to_string())
            }
            other => other.into(),
        })?;
        audit::record(
            conn,
            actor,
            change("user.created", &created, json!({ "role": role.as_str() })),
        )?;
        Ok(created)
    })
}

pub fn change_role(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    role: Role,
    keep: Option<uuid::Uuid>,
) -> Result<User, AccountError> {
    conn.transaction(|conn| {
        let current = user::find(conn, user_id)?.ok_or(AccountError::NotFound)?;
        if current.role() == role {
            return Ok(current);
        }
        if role != Role::Admin {
            refuse_if_last_admin(conn, user_id)?;
        }
        let updated = user::set_role(conn, user_id, role)?;
        let ended = session::delete_all_for_user(conn, user_id, keep)?;
        audit::record(
            conn,
            actor,
            change(
                "user.role_changed",
                &updated,
                json!({ "from": current.role, "to": role.as_str(), "sessions_ended": ended }),
            ),
        )?;
        Ok(updated)
    })
}

pub fn set_disabled(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    disabled: bool,
) -> Result<User, AccountError> {
    conn.transaction(|conn| {
        let current = user::find(conn, user_id)?.ok_or(AccountError::NotFound)?;
        if current.is_disabled() == disabled {
            return Ok(current);
        }
        if disabled {
            refuse_if_last_admin(conn, user_id)?;
        }
        let updated = user::set_disabled(conn, user_id, disabled)?;
        let (action, details) = if disabled {
            let ended = session::delete_all_for_user(conn, user_id, None)?;
            ("user.disabled", json!({ "sessions_ended": ended }))
        } else {
            ("user.enabled", json!({}))
        };
        audit::record(conn, actor, change(action, &updated, details))?;
        Ok(updated)
    })
}

pub fn reset_password(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    password_hash: &str,
) -> Result<User, AccountError> {
    conn.transaction(|conn| {
        user::find(conn, user_id)?.ok_or(AccountError::NotFound)?;
        let updated = user::set_password_hash(conn, user_id, password_hash)?;
        let ended = session::delete_all_for_user(conn, user_id, None)?;
        audit::record(
            conn,
            actor,
            change(
                "user.password_reset",
                &updated,
                json!({ "sessions_ended": ended }),
            ),
        )?;
        Ok(updated)
    })
}

/// A user changed their own password, having confirmed the current one: every session of
/// theirs but `keep` (the asking one, which the caller renews) ends. Returns the account and
/// how many sessions ended.
pub fn change_own_password(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    password_hash: &str,
    keep: Option<uuid::Uuid>,
) -> Result<(User, usize), AccountError> {
    conn.transaction(|conn| {
        user::find(conn, user_id)?.ok_or(AccountError::NotFound)?;
        let updated = user::set_password_hash(conn, user_id, password_hash)?;
        let ended = session::delete_all_for_user(conn, user_id, keep)?;
        audit::record(
            conn,
            actor,
            change(
                "user.password_changed",
                &updated,
                json!({ "sessions_ended": ended }),
            ),
        )?;
        Ok((updated, ended))
    })
}

/// Ends the user's sessions but `keep` (the session asking, when it is one of them).
/// Returns how many ended.
pub fn end_sessions(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    keep: Option<uuid::Uuid>,
) -> Result<usize, AccountError> {
    conn.transaction(|conn| {
        let account = user::find(conn, user_id)?.ok_or(AccountError::NotFound)?;
        let ended = session::delete_all_for_user(conn, user_id, keep)?;
        audit::record(
            conn,
            actor,
            change(
                "user.sessions_ended",
                &account,
                json!({ "sessions_ended": ended, "kept_current": keep.is_some() }),
            ),
        )?;
        Ok(ended)
    })
}

/// Ends one session of the user; `false` when it is not theirs or already over.
pub fn end_session(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    handle: uuid::Uuid,
) -> Result<bool, AccountError> {
    conn.transaction(|conn| {
        let account = user::find(conn, user_id)?.ok_or(AccountError::NotFound)?;
        let ended = session::delete_for_user(conn, user_id, handle)?;
        if ended {
            audit::record(
                conn,
                actor,
                change(
                    "user.session_ended",
                    &account,
                    json!({ "session": handle.to_string() }),
                ),
            )?;
        }
        Ok(ended)
    })
}

fn refuse_if_last_admin(conn: &mut PgConnection, user_id: i64) -> Result<(), AccountError> {
    let admins = user::lock_active_admin_ids(conn)?;
    if admins.contains(&user_id) && admins.len() == 1 {
        return Err(AccountError::LastAdmin);
    }
    Ok(())
}

fn change<'a>(action: &'a str, target: &User, details: serde_json::Value) -> Change<'a> {
    Change {
        action,
        target_type: "user",
        target_id: Some(target.id.to_string()),
        target_label: Some(target.username.clone()),
        details,
    }
}

/// The account created on the very first start.
#[derive(Debug)]
pub struct FirstAdmin {
    pub username: String,
    /// The generated password to print once; `None` when it came from `HERALD_ADMIN_PASSWORD`.
    pub generated_password: Option<crate::domain::password::NewPassword>,
}

pub const FIRST_ADMIN_USERNAME: &str = "admin";

/// Creates `admin` when no user exists yet; `None` when there are users already.
pub fn bootstrap_first_admin(
    conn: &mut PgConnection,
    preset_password: Option<&str>,
) -> anyhow::Result<Option<FirstAdmin>> {
    use crate::domain::password::NewPassword;
    // Every later start: no password to judge or hash (hashing takes 19 MiB for a moment).
    if user::any_exist(conn)? {
        return Ok(None);
    }
    let (password, generated) = match preset_password {
        Some(raw) => (
            NewPassword::parse_for(raw, FIRST_ADMIN_USERNAME)
                .map_err(|problem| anyhow::anyhow!("HERALD_ADMIN_PASSWORD: {problem}"))?,
            false,
        ),
        None => (NewPassword::generate(), true),
    };
    let password_hash = crate::auth::password::hash_password(&password);
    let created = conn.transaction(|conn| {
        let created = user::insert_if_none_exist(
            conn,
            &NewUser {
                username: FIRST_ADMIN_USERNAME,
                password_hash: &password_hash,
                role: Role::Admin.as_str(),
            },
        )?;
        if let Some(admin) = &created {
            audit::record(
                conn,
                &Actor::system(),
                change(
                    "user.created",
                    admin,
                    json!({ "role": "admin", "first_start": true }),
                ),
            )?;
        }
        Ok::<_, DieselError>(created)
    })?;
    Ok(created.map(|admin| FirstAdmin {
        username: admin.username,
        generated_password: generated.then_some(password),
    }))
}
