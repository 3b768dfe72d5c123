//! `/users`: admins list, add, re-role, disable/enable accounts and reset passwords.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use validator::Validate;

use super::page::{PageContext, render, render_with, see_other};
use super::session_rows::{self, SessionList};
use super::state::AppState;
use crate::accounts::{self, AccountError};
use crate::auth::current_user::CurrentUser;
use crate::auth::password::hash_password;
use crate::auth::session::{FlashLevel, SignInClient, TypedSession};
use crate::domain::password::NewPassword;
use crate::domain::role::Role;
use crate::domain::username::Username;
use crate::error::AppError;
use crate::model::user::{self, User};
use crate::model::{PageRequest, Paged};
use crate::validation::FieldErrors;
use crate::web::input::{Form, Query};

#[derive(Template)]
#[template(path = "users/list.html")]
struct ListPage {
    ctx: PageContext,
    users: Paged<User>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    page: Option<i64>,
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let page = PageRequest::new(query.page, PageRequest::DEFAULT_PER_PAGE);
    let users = state.run(move |conn| user::list(conn, page)).await?;
    render(&ListPage {
        ctx: ctx.in_section("users"),
        users,
    })
}

#[derive(Template)]
#[template(path = "users/new.html")]
struct NewPage {
    ctx: PageContext,
    form: NewUserForm,
    errors: FieldErrors,
    roles: [Role; 3],
}

#[derive(Debug, Default, Deserialize, Validate)]
pub struct NewUserForm {
    #[serde(default)]
    #[validate(length(
        min = 1,
        max = 64,
        message = "Enter a username of at most 64 characters."
    ))]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    #[validate(length(min = 12, max = 256, message = "Use between 12 and 256 characters."))]
    password: String,
    #[serde(default)]
    #[validate(must_match(other = "password", message = "The two passwords differ."))]
    password_confirm: String,
}

pub async fn new_form(ctx: PageContext) -> Result<HttpResponse, AppError> {
    render(&NewPage {
        ctx: ctx.in_section("users"),
        form: NewUserForm {
            role: Role::Viewer.as_str().into(),
            ..Default::default()
        },
        errors: FieldErrors::default(),
        roles: Role::ALL,
    })
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    form: Form<NewUserForm>,
) -> Result<HttpResponse, AppError> {
    let mut form = form.into_inner();
    let mut errors = form.validate().map_or_else(
        |e| FieldErrors::from_validation(&e),
        |_| FieldErrors::default(),
    );
    let username = errors.check("username", || Username::parse(&form.username));
    let role = errors.check("role", || form.role.parse::<Role>());
    let strength = judge_password(&form.password, &form.username).await?;
    let password = errors.check("password", || strength);

    let rerender = |form: NewUserForm, errors: FieldErrors, ctx: PageContext| {
        render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewPage {
                ctx: ctx.in_section("users"),
                // Never send a password back to the browser.
                form: NewUserForm {
                    password: String::new(),
                    password_confirm: String::new(),
                    ..form
                },
                errors,
                roles: Role::ALL,
            },
        )
    };
    let (Some(username), Some(role), Some(password)) = (username, role, password) else {
        return rerender(form, errors, ctx);
    };

    let password_hash = web::block(move || hash_password(&password)).await?;
    let actor = me.actor();
    let name = username.clone();
    match state
        .attempt(move |conn| accounts::create_user(conn, &actor, &name, role, &password_hash))
        .await?
    {
        Ok(created) => {
            session.flash(
                FlashLevel::Success,
                format!("Added {} as {}.", created.username, created.role),
            );
            Ok(see_other("/users"))
        }
        Err(err @ AccountError::UsernameTaken(_)) => {
            errors.add("username", err.to_string());
            form.username = username.to_string();
            rerender(form, errors, ctx)
        }
        Err(other) => Err(unexpected(other)),
    }
}

#[derive(Template)]
#[template(path = "users/show.html")]
struct ShowPage {
    ctx: PageContext,
    account: User,
    is_me: bool,
    roles: [Role; 3],
    role_error: Option<String>,
    status_error: Option<String>,
    password_errors: FieldErrors,
    sessions: SessionList,
}

/// The user page, with the user's live sessions (`current` marks the admin's own).
async fn show_page(
    state: &AppState,
    ctx: PageContext,
    account: User,
    me: &CurrentUser,
    current: Option<uuid::Uuid>,
) -> Result<ShowPage, AppError> {
    let user_id = account.id;
    let seen_since = chrono::Utc::now()
        - chrono::Duration::from_std(state.settings.session_idle_timeout)
            .unwrap_or(chrono::Duration::hours(8));
    let sessions = state
        .run(move |conn| session_rows::load(conn, user_id, seen_since, current))
        .await?;
    Ok(ShowPage {
        ctx: ctx.in_section("users"),
        is_me: account.id == me.id,
        account,
        roles: Role::ALL,
        role_error: None,
        status_error: None,
        password_errors: FieldErrors::default(),
        sessions,
    })
}

async fn load(state: &AppState, id: i64) -> Result<User, AppError> {
    state
        .run(move |conn| user::find(conn, id))
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let account = load(&state, id.into_inner()).await?;
    render(&show_page(&state, ctx, account, &me, session.handle()).await?)
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn change_role(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
    form: Form<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let account = load(&state, id).await?;
    let role = match form.role.parse::<Role>() {
        Ok(role) => role,
        Err(message) => {
            let mut page = show_page(&state, ctx, account, &me, None).await?;
            page.role_error = Some(message);
            return render_with(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let actor = me.actor();
    // A new role ends the user's sessions; an admin changing their own keeps this one.
    let keep = if id == me.id { session.handle() } else { None };
    match state
        .attempt(move |conn| accounts::change_role(conn, &actor, id, role, keep))
        .await?
    {
        Ok(updated) => {
            let ended = if updated.id == me.id {
                ""
            } else {
                " Their sessions have ended."
            };
            session.flash(
                FlashLevel::Success,
                format!("{} is now {}.{ended}", updated.username, updated.role),
            );
            // An admin who gave up the role can no longer see the users pages.
            let back = if updated.id == me.id && role != Role::Admin {
                "/".to_owned()
            } else {
                format!("/users/{id}")
            };
            Ok(see_other(&back))
        }
        Err(AccountError::LastAdmin) => {
            let mut page = show_page(&state, ctx, account, &me, None).await?;
            page.role_error = Some(AccountError::LastAdmin.to_string());
            render_with(StatusCode::CONFLICT, &page)
        }
        Err(AccountError::NotFound) => Err(AppError::NotFound),
        Err(other) => Err(unexpected(other)),
    }
}

pub async fn disable(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    set_disabled(state, ctx, me, session, id.into_inner(), true).await
}

pub async fn enable(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    set_disabled(state, ctx, me, session, id.into_inner(), false).await
}

async fn set_disabled(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: i64,
    disabled: bool,
) -> Result<HttpResponse, AppError> {
    let account = load(&state, id).await?;
    let actor = me.actor();
    match state
        .attempt(move |conn| accounts::set_disabled(conn, &actor, id, disabled))
        .await?
    {
        Ok(updated) => {
            let verb = if disabled {
                "disabled; their sessions have ended"
            } else {
                "enabled"
            };
            session.flash(
                FlashLevel::Success,
                format!("{} is {verb}.", updated.username),
            );
            Ok(see_other(&format!("/users/{id}")))
        }
        Err(AccountError::LastAdmin) => {
            let mut page = show_page(&state, ctx, account, &me, None).await?;
            page.status_error = Some(AccountError::LastAdmin.to_string());
            render_with(StatusCode::CONFLICT, &page)
        }
        Err(AccountError::NotFound) => Err(AppError::NotFound),
        Err(other) => Err(unexpected(other)),
    }
}

#[derive(Deserialize, Validate)]
pub struct PasswordForm {
    #[serde(default)]
    #[validate(length(min = 12, max = 256, message = "Use between 12 and 256 characters."))]
    password: String,
    #[serde(default)]
    #[validate(must_match(other = "password", message = "The two passwords differ."))]
    password_confirm: String,
}

pub async fn reset_password(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
    form: Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let account = load(&state, id).await?;
    let form = form.into_inner();
    let mut errors = form.validate().map_or_else(
        |e| FieldErrors::from_validation(&e),
        |_| FieldErrors::default(),
    );
    let strength = judge_password(&form.password, &account.username).await?;
    let Some(password) = errors.check("password", || strength) else {
        let mut page = show_page(&state, ctx, account, &me, None).await?;
        page.password_errors = errors;
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let password_hash = web::block(move || hash_password(&password)).await?;
    let actor = me.actor();
    let updated = state
        .attempt(move |conn| accounts::reset_password(conn, &actor, id, &password_hash))
        .await?
        .map_err(|err| match err {
            AccountError::NotFound => AppError::NotFound,
            other => unexpected(other),
        })?;
    if updated.id == me.id {
        // Keep the admin who changed their own password signed in on this browser.
        let client = SignInClient::of(&req);
        session
            .log_in(updated.id, updated.session_version, &client)
            .map_err(|err| {
                AppError::Unexpected(anyhow::anyhow!("could not renew the session: {err}"))
            })?;
    }
    session.flash(
        FlashLevel::Success,
        format!(
            "The password of {} was reset; their other sessions have ended.",
            updated.username
        ),
    );
    Ok(see_other(&format!("/users/{id}")))
}

/// The password rule, on the blocking pool: the strength estimate takes a few milliseconds.
async fn judge_password(
    raw: &str,
    username: &str,
) -> Result<Result<NewPassword, String>, AppError> {
    let (raw, username) = (raw.to_owned(), username.to_owned());
    Ok(web::block(move || NewPassword::parse_for(&raw, &username)).await?)
}

fn unexpected(err: AccountError) -> AppError {
    match err {
        AccountError::Database(err) => err.into(),
        other => AppError::Unexpected(anyhow::Error::new(other)),
    }
}

/// Ends every session of the user (but the admin's own, when it is their page).
pub async fn end_sessions(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let keep = if id == me.id { session.handle() } else { None };
    let actor = me.actor();
    let ended = state
        .attempt(move |conn| accounts::end_sessions(conn, &actor, id, keep))
        .await?
        .map_err(|err| match err {
            AccountError::NotFound => AppError::NotFound,
            other => unexpected(other),
        })?;
    session.flash(
        FlashLevel::Success,
        sessions_ended_message(ended, keep.is_some()),
    );
    Ok(see_other(&format!("/users/{id}")))
}

/// Ends one session of the user.
pub async fn end_session(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, handle) = path.into_inner();
    let handle = uuid::Uuid::parse_str(&handle).map_err(|_| AppError::NotFound)?;
    let actor = me.actor();
    let ended = state
        .attempt(move |conn| accounts::end_session(conn, &actor, id, handle))
        .await?
        .map_err(|err| match err {
            AccountError::NotFound => AppError::NotFound,
            other => unexpected(other),
        })?;
    if ended {
        session.flash(FlashLevel::Success, "The session has ended.");
    } else {
        session.flash(FlashLevel::Info, "That session had already ended.");
    }
    Ok(see_other(&format!("/users/{id}")))
}

/// "3 sessions ended." with the right plural, and whether the asking one was kept.
pub fn sessions_ended_message(ended: usize, kept_current: bool) -> String {
    let others = if kept_current { " other" } else { "" };
    match ended {
        0 => format!("There were no{others} sessions to end."),
        1 => format!("1{others} session ended."),
        n => format!("{n}{others} sessions ended."),
    }
}
