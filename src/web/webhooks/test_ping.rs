//! "Send test event" on the webhook page: a `webhook.ping` sent at once; the page then shows
//! what the receiver answered (status, duration, response excerpt or error).

use actix_web::{HttpResponse, web};

use crate::auth::current_user::CurrentUser;
use crate::delivery::ping;
use crate::delivery::target::TargetError;
use crate::error::AppError;
use crate::web::page::see_other;
use crate::web::state::AppState;

pub async fn send(
    state: web::Data<AppState>,
    me: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let secrets = state.secrets.clone();
    let requested_by = me.username.clone();
    let prepared = state
        .attempt(move |conn| ping::prepare(conn, id, &requested_by, &secrets))
        .await?
        .map_err(|err| match err {
            TargetError::Database(err) => AppError::from(err),
            TargetError::Unusable(problem) => AppError::BadRequest(problem),
        })?
        .ok_or(AppError::NotFound)?;
    // No connection is held while the receiver answers.
    let exchange = ping::send(&state.outbound, &prepared).await;
    let result = state
        .run(move |conn| ping::finish(conn, prepared, exchange))
        .await?;
    Ok(see_other(&format!(
        "/webhooks/{id}?test={}#test-result",
        result.delivery_id
    )))
}
