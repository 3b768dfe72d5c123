//! Manage actions on one webhook: enable, disable, delete (after a confirmation page), rotate
//! and reveal the signing secret.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::form::SecretPage;
use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;
use crate::model::webhook::{self, Webhook};
use crate::validation::single_line;
use crate::web::input::Form;
use crate::web::page::{PageContext, render, see_other};
use crate::web::state::AppState;
use crate::webhooks::service::{self, WebhookError};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ToggleForm {
    /// Where to go back to (the list or the detail page); only local paths.
    back: String,
    reason: String,
}

fn back_to(raw: &str, id: i64) -> String {
    crate::web::page::local_path(raw)
        .filter(|back| back.starts_with("/webhooks"))
        .map_or_else(|| format!("/webhooks/{id}"), str::to_owned)
}

pub async fn enable(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
    form: Form<ToggleForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let back = back_to(&form.back, id);
    let actor = me.actor();
    let updated = state
        .run(move |conn| service::set_enabled(conn, &actor, id, true, None))
        .await?;
    session.flash(FlashLevel::Success, format!("{} is enabled.", updated.name));
    Ok(see_other(&back))
}

pub async fn disable(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
    form: Form<ToggleForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let back = back_to(&form.back, id);
    let actor = me.actor();
    let reason: String = match single_line(&form.reason) {
        Ok(reason) => reason.chars().take(500).collect(),
        Err(_) => {
            session.flash(
                FlashLevel::Error,
                "Not disabled: the reason has control characters (such as NUL or line breaks). Write it on one line.",
            );
            return Ok(see_other(&back));
        }
    };
    let reason = if reason.is_empty() {
        format!("Disabled by {}", me.username)
    } else {
        reason
    };
    let updated = state
        .run(move |conn| service::set_enabled(conn, &actor, id, false, Some(&reason)))
        .await?;
    session.flash(
        FlashLevel::Success,
        format!(
            "{} is disabled: it receives nothing until enabled again.",
            updated.name
        ),
    );
    Ok(see_other(&back))
}

#[derive(Template)]
#[template(path = "webhooks/delete.html")]
struct DeletePage {
    ctx: PageContext,
    webhook: Webhook,
    event_count: usize,
    queued: i64,
}

pub async fn confirm_delete(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (found, events, queued) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                webhook::events_of(conn, id)?,
                crate::model::delivery::count_queued(conn, id)?,
            ))
        })
        .await?;
    render(&DeletePage {
        ctx: ctx.in_section("webhooks"),
        webhook: found.ok_or(AppError::NotFound)?,
        event_count: events.len(),
        queued,
    })
}

pub async fn delete(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    let deleted = state
        .run(move |conn| service::delete(conn, &actor, id))
        .await?;
    session.flash(FlashLevel::Success, format!("Deleted {}.", deleted.name));
    Ok(see_other("/webhooks"))
}

pub async fn rotate_secret(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    let secrets = state.secrets.clone();
    let overlap = state.settings.secret_rotation_overlap;
    let (rotated, secret, until) = match state
        .attempt(move |conn| service::rotate_secret(conn, &actor, id, overlap, &secrets))
        .await?
    {
        Ok(rotated) => rotated,
        Err(WebhookError::SigningOff) => {
            session.flash(
                FlashLevel::Error,
                "Signing is off for this webhook: switch it on in Edit first.",
            );
            return Ok(see_other(&format!("/webhooks/{id}")));
        }
        Err(other) => return Err(other.into()),
    };
    render(&SecretPage {
        ctx: ctx.in_section("webhooks"),
        webhook_id: id,
        webhook_name: rotated.name,
        secret,
        headline: "Signing secret rotated".into(),
        explanation: format!(
            "Requests are now signed with this new secret and, until {}, also with the previous one (the webhook-signature header carries both), so the receiver can switch without losing a delivery. It is shown only now.",
            until.format("%Y-%m-%d %H:%M UTC")
        ),
    })
}

pub async fn reveal_secret(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    let secrets = state.secrets.clone();
    let (revealed, secret) = match state
        .attempt(move |conn| service::reveal_secret(conn, &actor, id, &secrets))
        .await?
    {
        Ok(found) => found,
        Err(WebhookError::SigningOff) => {
            session.flash(FlashLevel::Error, "This webhook has no signing secret.");
            return Ok(see_other(&format!("/webhooks/{id}")));
        }
        Err(other) => return Err(other.into()),
    };
    render(&SecretPage {
        ctx: ctx.in_section("webhooks"),
        webhook_id: id,
        webhook_name: revealed.name,
        secret,
        headline: "Signing secret".into(),
        explanation: "This reveal has been recorded in the audit log. Do not leave this page open."
            .into(),
    })
}
