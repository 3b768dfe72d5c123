//! "My account": every signed-in user sees their own live sessions (where and when they
//! signed in, when each was last used) and can end any of them, or all but this one.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::page::{PageContext, render, see_other};
use super::session_rows::{self, SessionList};
use super::state::AppState;
use super::users::sessions_ended_message;
use crate::accounts::{self, AccountError};
use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    ctx: PageContext,
    me: CurrentUser,
    sessions: SessionList,
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let user_id = me.id;
    let current = session.handle();
    let seen_since = chrono::Utc::now()
        - chrono::Duration::from_std(state.settings.session_idle_timeout)
            .unwrap_or(chrono::Duration::hours(8));
    let sessions = state
        .run(move |conn| session_rows::load(conn, user_id, seen_since, current))
        .await?;
    render(&AccountPage {
        ctx: ctx.in_section("account"),
        me,
        sessions,
    })
}

/// Ends one of my sessions; ending this one is signing out.
pub async fn end_session(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    handle: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let handle = uuid::Uuid::parse_str(&handle).map_err(|_| AppError::NotFound)?;
    if session.handle() == Some(handle) {
        session.log_out();
        return Ok(see_other("/login?signed_out=1"));
    }
    let user_id = me.id;
    let actor = me.actor();
    let ended = state
        .attempt(move |conn| accounts::end_session(conn, &actor, user_id, handle))
        .await?
        .map_err(account_error)?;
    if ended {
        session.flash(FlashLevel::Success, "The session has ended.");
    } else {
        session.flash(FlashLevel::Info, "That session had already ended.");
    }
    Ok(see_other("/account"))
}

/// Ends all my sessions but this one.
pub async fn end_other_sessions(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let user_id = me.id;
    let actor = me.actor();
    // A session always has a handle once signed in; without one nothing is kept by mistake.
    let keep = session.handle();
    let ended = state
        .attempt(move |conn| accounts::end_sessions(conn, &actor, user_id, keep))
        .await?
        .map_err(account_error)?;
    session.flash(FlashLevel::Success, sessions_ended_message(ended, true));
    Ok(see_other("/account"))
}

fn account_error(err: AccountError) -> AppError {
    match err {
        AccountError::NotFound => AppError::NotFound,
        other => AppError::Unexpected(anyhow::Error::new(other)),
    }
}
