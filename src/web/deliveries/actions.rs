//! One delivery: replay (a dead letter), redeliver (delivered or dead), discard (dead).

use actix_web::{HttpResponse, web};
use uuid::Uuid;

use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;
use crate::replay::{self, ReplayError};
use crate::web::page::see_other;
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
