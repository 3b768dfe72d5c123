//! One delivery: replay (a dead letter), redeliver (delivered or dead), discard (dead).
//! Redeliver and discard are reached through a confirmation page (GET) that says what happens.

use actix_web::{HttpResponse, web};
use askama::Template;
use uuid::Uuid;

use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;
use crate::model::delivery::{self, Delivery};
use crate::model::webhook::{self, Webhook};
use crate::replay::{self, ReplayError};
use crate::web::page::{PageContext, render, see_other};
use crate::web::state::AppState;

pub async fn replay(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    send_again(state, me, session, id.into_inner(), false).await
}

pub async fn redeliver(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    send_again(state, me, session, id.into_inner(), true).await
}

async fn send_again(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: Uuid,
    redeliver: bool,
) -> Result<HttpResponse, AppError> {
    let actor = me.actor();
    match state
        .attempt(move |conn| replay::replay_one(conn, &actor, id, redeliver))
        .await?
    {
        Ok(found) => {
            state.queue_signal.queued();
            session.flash(
                FlashLevel::Success,
                format!("Queued again: attempt {} goes out now.", found.attempts + 1),
            );
        }
        Err(err @ (ReplayError::WebhookDisabled(_) | ReplayError::WrongStatus(_))) => {
            session.flash(FlashLevel::Error, err.to_string());
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&format!("/deliveries/{id}")))
}

pub async fn discard(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    let discarded = state
        .run(move |conn| replay::discard(conn, &actor, &[id]))
        .await?;
    if discarded == 1 {
        session.flash(
            FlashLevel::Success,
            "Discarded: it stays in the history and is never sent again.",
        );
    } else {
        session.flash(FlashLevel::Error, "Only dead letters can be discarded.");
    }
    Ok(see_other(&format!("/deliveries/{id}")))
}

/// Which single-delivery action a confirmation page asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OneAction {
    Redeliver,
    Discard,
}

#[derive(Template)]
#[template(path = "deliveries/confirm_one.html")]
struct ConfirmOnePage {
    ctx: PageContext,
    delivery: Delivery,
    webhook: Webhook,
    action: OneAction,
}

impl ConfirmOnePage {
    fn redeliver(&self) -> bool {
        self.action == OneAction::Redeliver
    }

    /// Whether the delivery's status allows the action now.
    fn allowed(&self) -> bool {
        match self.action {
            OneAction::Redeliver => matches!(self.delivery.status.as_str(), "delivered" | "dead"),
            OneAction::Discard => self.delivery.status == "dead",
        }
    }

    fn next_attempt(&self) -> i32 {
        self.delivery.attempts + 1
    }
}

async fn confirm_one(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: Uuid,
    action: OneAction,
) -> Result<HttpResponse, AppError> {
    let (found, hook) = state
        .run(move |conn| {
            let Some(found) = delivery::find(conn, id)? else {
                return Ok::<_, diesel::result::Error>((None, None));
            };
            let hook = webhook::find(conn, found.webhook_id)?;
            Ok((Some(found), hook))
        })
        .await?;
    let (Some(delivery), Some(webhook)) = (found, hook) else {
        return Err(AppError::NotFound);
    };
    render(&ConfirmOnePage {
        ctx: ctx.in_section("deliveries"),
        delivery,
        webhook,
        action,
    })
}

/// "Redeliver": first a page that says which attempt goes where.
pub async fn confirm_redeliver(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    confirm_one(state, ctx, id.into_inner(), OneAction::Redeliver).await
}

/// "Discard": first a page that says it is never sent again.
pub async fn confirm_discard(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    confirm_one(state, ctx, id.into_inner(), OneAction::Discard).await
}
