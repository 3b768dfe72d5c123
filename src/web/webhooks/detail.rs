//! The webhook detail page: every setting (secrets masked), subscriptions, who changed what.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::error::AppError;
use crate::model::audit::{self, AuditEntry};
use crate::model::webhook::{self, Webhook};
use crate::web::page::{PageContext, render};
use crate::web::state::AppState;
use crate::webhooks::service;

#[derive(Template)]
#[template(path = "webhooks/show.html")]
struct ShowPage {
    ctx: PageContext,
    webhook: Webhook,
    events: Vec<String>,
    header_names: Vec<String>,
    masked_secret: Option<String>,
    previous_secret_until: Option<String>,
    history: Vec<AuditEntry>,
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (found, events, headers, history) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                webhook::events_of(conn, id)?,
                webhook::headers_of(conn, id)?,
                audit::for_target(conn, "webhook", &id.to_string())?,
            ))
        })
        .await?;
    let webhook = found.ok_or(AppError::NotFound)?;
    let masked_secret = service::masked_secret(&webhook, &state.secrets);
    let previous_secret_until = webhook
        .previous_secret_active(chrono::Utc::now())
        .then(|| {
            webhook
                .previous_secret_expires_at
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        })
        .flatten();
    render(&ShowPage {
        ctx: ctx.in_section("webhooks"),
        webhook,
        events,
        header_names: headers.into_iter().map(|h| h.name).collect(),
        masked_secret,
        previous_secret_until,
        history: history.into_iter().take(20).collect(),
    })
}
