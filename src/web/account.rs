//! "My account": every signed-in user sees their own live sessions (where and when they
//! signed in, when each was last used) and can end any of them, or all but this one; and
//! changes their own password (see [`change_password`]).

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::client_address::ClientAddress;
use super::login::{how_long, retry_after_seconds};
use super::page::{PageContext, render, render_with, see_other};
use super::session_rows::{self, SessionList};
use super::state::AppState;
use super::users::sessions_ended_message;
use crate::accounts::{self, AccountError};
use crate::auth::confirm_password::{self, Confirmation};
use crate::auth::current_user::CurrentUser;
use crate::auth::password::hash_password;
use crate::auth::session::{FlashLevel, SignInClient, TypedSession};
use crate::auth::throttle;
use crate::domain::password::NewPassword;
use crate::error::AppError;
use crate::validation::FieldErrors;
use crate::web::input::Form;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    ctx: PageContext,
    me: CurrentUser,
    sessions: SessionList,
    password_errors: FieldErrors,
}

/// The page with my live sessions (`current` marks this one) and an empty password form.
async fn account_page(
    state: &AppState,
    ctx: PageContext,
    me: CurrentUser,
    current: Option<uuid::Uuid>,
) -> Result<AccountPage, AppError> {
    let user_id = me.id;
    let seen_since = chrono::Utc::now()
        - chrono::Duration::from_std(state.settings.session_idle_timeout)
            .unwrap_or(chrono::Duration::hours(8));
    let sessions = state
        .run(move |conn| session_rows::load(conn, user_id, seen_since, current))
        .await?;
    Ok(AccountPage {
        ctx: ctx.in_section("account"),
        me,
        sessions,
        password_errors: FieldErrors::default(),
    })
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    render(&account_page(&state, ctx, me, session.handle()).await?)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

/// Changes my own password. The new one must pass the password rule and be typed twice; the
/// current one is checked last, only once the rest is acceptable, so a typo in the new one
/// costs no attempt. A wrong current password counts as a failed sign-in (see
/// `auth::confirm_password`); too many get 429 with `Retry-After`. On success every other
/// session of mine ends and this one is renewed under a new key.
pub async fn change_password(
    req: HttpRequest,
    client: ClientAddress,
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    form: Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let PasswordForm {
        current_password,
        password,
        password_confirm,
    } = form.into_inner();
    let mut errors = FieldErrors::default();
    if current_password.is_empty() {
        errors.add("current_password", "Enter your current password.");
    }
    let strength = {
        let (raw, username) = (password.clone(), me.username.clone());
        web::block(move || NewPassword::parse_for(&raw, &username)).await?
    };
    let new_password = errors.check("password", || strength);
    if password_confirm != password {
        errors.add("password_confirm", "The two passwords differ.");
    }
    let current = session.handle();
    let Some(new_password) = new_password.filter(|_| errors.is_empty()) else {
        return refuse(
            &state,
            ctx,
            me,
            current,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };

    let attempt = throttle::Attempt::new(&me.username, client.ip());
    let (pool, database) = (state.pool.clone(), state.database.clone());
    let limits = state.settings.login_throttle;
    let user_id = me.id;
    let confirmation = web::block(move || {
        confirm_password::confirm(
            &pool,
            &database,
            &limits,
            &attempt,
            user_id,
            &current_password,
        )
    })
    .await??;
    match confirmation {
        Confirmation::Confirmed => {}
        Confirmation::Wrong => {
            errors.add(
                "current_password",
                "This is not your current password. Several wrong tries make you wait, as at sign-in.",
            );
            return refuse(
                &state,
                ctx,
                me,
                current,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Confirmation::Throttled { retry_after } => {
            let seconds = retry_after_seconds(retry_after);
            errors.add(
                "current_password",
                format!(
                    "Too many wrong passwords. Wait {} and try again.",
                    how_long(seconds)
                ),
            );
            let mut response = refuse(
                &state,
                ctx,
                me,
                current,
                errors,
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await?;
            response.headers_mut().insert(RETRY_AFTER, seconds.into());
            return Ok(response);
        }
    }

    let password_hash = web::block(move || hash_password(&new_password)).await?;
    let actor = me.actor();
    let (updated, ended) = state
        .attempt(move |conn| {
            accounts::change_own_password(conn, &actor, user_id, &password_hash, current)
        })
        .await?
        .map_err(account_error)?;
    // The new password bumped the session version: renew this session under it (and a new
    // key), so only this browser stays signed in.
    session
        .log_in(updated.id, updated.session_version, &SignInClient::of(&req))
        .map_err(|err| {
            AppError::Unexpected(anyhow::anyhow!("could not renew the session: {err}"))
        })?;
    session.flash(
        FlashLevel::Success,
        format!(
            "Your password was changed. {}",
            sessions_ended_message(ended, true)
        ),
    );
    Ok(see_other("/account"))
}

/// The account page again with the password form's messages; never echoes a password.
async fn refuse(
    state: &AppState,
    ctx: PageContext,
    me: CurrentUser,
    current: Option<uuid::Uuid>,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let mut page = account_page(state, ctx, me, current).await?;
    page.password_errors = errors;
    render_with(status, &page)
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
        AccountError::Database(err) => err.into(),
        other => AppError::Unexpected(anyhow::Error::new(other)),
    }
}
