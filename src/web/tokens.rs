//! `/tokens`: admins create API tokens and revoke them (after a confirmation page). Creating
//! redirects to `/tokens/{id}/created`, which shows the token once (`web::shown_once`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{PageContext, render, render_with, see_other};
use super::shown_once::{self, Occasion, Target};
use super::state::AppState;
use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;
use crate::model::api_token::{self, ApiToken};
use crate::model::{PageRequest, Paged};
use crate::tokens::{self, Scope};
use crate::validation::FieldErrors;
use crate::web::input::{Form, Query};

#[derive(Template)]
#[template(path = "tokens/list.html")]
struct TokensPage {
    ctx: PageContext,
    tokens: Paged<ApiToken>,
    form: TokenForm,
    errors: FieldErrors,
    scopes: [(Scope, &'static str); 3],
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    name: String,
    scope: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    page: Option<i64>,
}

async fn page_of_tokens(state: &AppState, page: Option<i64>) -> Result<Paged<ApiToken>, AppError> {
    let page = PageRequest::new(page, PageRequest::DEFAULT_PER_PAGE);
    state.run(move |conn| api_token::list(conn, page)).await
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    render(&TokensPage {
        ctx: ctx.in_section("tokens"),
        tokens: page_of_tokens(&state, query.page).await?,
        form: TokenForm {
            scope: "ingest".into(),
            ..Default::default()
        },
        errors: FieldErrors::default(),
        scopes: Scope::ALL,
    })
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    form: Form<TokenForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let name = errors.check("name", || tokens::parse_name(&form.name));
    let scope = errors.check("scope", || Scope::parse(&form.scope));
    let (Some(name), Some(scope)) = (name, scope) else {
        return render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &TokensPage {
                ctx: ctx.in_section("tokens"),
                tokens: page_of_tokens(&state, None).await?,
                form,
                errors,
                scopes: Scope::ALL,
            },
        );
    };
    let actor = me.actor();
    let (token, plain) = state
        .run(move |conn| tokens::create(conn, &actor, &name, scope))
        .await?;
    // Post/redirect/get: the token waits in the session for the page that shows it.
    shown_once::keep(
        &session,
        &state.secrets,
        Target::Token(token.id),
        Occasion::TokenCreated,
        plain.expose(),
    );
    Ok(see_other(&format!("/tokens/{}/created", token.id)))
}

#[derive(Template)]
#[template(path = "tokens/created.html")]
struct CreatedPage {
    ctx: PageContext,
    token: ApiToken,
    /// The token in clear, this once; `None` when it was shown already.
    plain: Option<String>,
}

pub async fn created(
    state: web::Data<AppState>,
    ctx: PageContext,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let token = state
        .run(move |conn| api_token::find(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    let plain = shown_once::take(&session, &state.secrets, Target::Token(id))
        .filter(|shown| shown.occasion == Occasion::TokenCreated)
        .map(|shown| shown.value);
    render(&CreatedPage {
        ctx: ctx.in_section("tokens"),
        token,
        plain,
    })
}

#[derive(Template)]
#[template(path = "tokens/revoke.html")]
struct RevokePage {
    ctx: PageContext,
    token: ApiToken,
}

/// "Revoke": first a page that names the token, its scope and when it was last used.
pub async fn confirm_revoke(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let token = state
        .run(move |conn| api_token::find(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    render(&RevokePage {
        ctx: ctx.in_section("tokens"),
        token,
    })
}

pub async fn revoke(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    match state
        .run(move |conn| tokens::revoke(conn, &actor, id))
        .await?
    {
        Some(token) => session.flash(
            FlashLevel::Success,
            format!("Revoked {}: it no longer works.", token.name),
        ),
        None => session.flash(FlashLevel::Info, "That token was already revoked."),
    }
    Ok(see_other("/tokens"))
}
