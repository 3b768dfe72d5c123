//! "Send test event" on the webhook page: the chosen event type and payload, sent at once;
//! the page then shows what the receiver answered (status, duration, headers, body or error)
//! and keeps it in the webhook's list of tests. A refused form comes back with what was typed.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::detail::{self, TestForm};
use crate::auth::current_user::CurrentUser;
use crate::delivery::ping::{self, TestEvent};
use crate::delivery::target::TargetError;
use crate::error::AppError;
use crate::model::event_type;
use crate::web::input::Form;
use crate::web::page::{PageContext, see_other};
use crate::web::state::AppState;
use crate::webhooks::test_event;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TestEventForm {
    event_type: String,
    payload: String,
}

pub async fn send(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    id: web::Path<i64>,
    form: Form<TestEventForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let mut form = form.into_inner();
    let (catalog, found, subscribed) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                event_type::all(conn)?,
                crate::model::webhook::find(conn, id)?,
                crate::model::webhook::events_of(conn, id)?,
            ))
        })
        .await?;
    let webhook = found.ok_or(AppError::NotFound)?;
    let format = webhook.payload_format();
    let known: Vec<String> = catalog.iter().map(|t| t.name.clone()).collect();
    if form.event_type.trim().is_empty()
        && let Some((event_type, example)) =
            test_event::default_for_format(&webhook, &subscribed, &catalog)
    {
        form.event_type = event_type;
        form.payload = example;
    }
    let requested_by = me.username.clone();
    let parsed = test_event::parse(&form.event_type, &form.payload, &known, || {
        TestEvent::ping(id, &requested_by)
    })
    .and_then(|test| test_event::carried_by(format, test));
    let test = match parsed {
        Ok(test) => test,
        Err(errors) => {
            return detail::page(
                &state,
                ctx,
                id,
                None,
                TestForm::Typed {
                    event_type: form.event_type,
                    payload: form.payload,
                    errors,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let secrets = state.secrets.clone();
    let prepared = state
        .attempt(move |conn| ping::prepare(conn, id, &requested_by, test, &secrets))
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
    // The form keeps the type just sent, with its example loaded again.
    Ok(see_other(&format!(
        "/webhooks/{id}?test={}&test_type={}#test-result",
        result.test_id,
        urlencoding::encode(&result.event_type)
    )))
}
