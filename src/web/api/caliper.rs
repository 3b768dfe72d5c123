//! `POST /caliper`: Caliper 1.1 / 1.2 envelopes from an LMS (Canvas Live Events, Blackboard,
//! Open edX), Bearer ingest token. Each event is stored once (keyed by its id) and mapped to
//! a catalog type; 422 for an unsupported `dataVersion`, 400 for an invalid event.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::bearer;
use super::error::ApiError;
use super::record_ingest::{self, MAX_RECORDS, Record, bad};
use crate::standards::caliper_in::{self, EnvelopeError};
use crate::web::state::AppState;

/// `POST /caliper/{token}`: for senders that cannot add a header (Canvas Live Events over
/// HTTPS sends to a bare URL): the ingest token is the path's last segment. Keep such a URL
/// as secret as the token (logs show `/caliper/[key]`).
pub async fn receive_keyed(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let authorization = Some(format!("Bearer {}", token.into_inner()));
    accept(state, request, authorization, payload).await
}

pub async fn receive(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Scheme names are case-insensitive (RFC 9110).
    let authorization = bearer::presented(&request).and_then(|h| record_ingest::bearer_value(&h));
    accept(state.clone(), request.clone(), authorization, payload).await
}

async fn accept(
    state: web::Data<AppState>,
    request: HttpRequest,
    authorization: Option<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !authorization
        .as_deref()
        .is_some_and(|h| h.starts_with("Bearer "))
    {
        return Err(ApiError::Unauthorized(
            "Send the ingest token as: Authorization: Bearer <token>.".into(),
        ));
    }
    record_ingest::authenticate(&state, authorization.clone()).await?;
    let envelope = record_ingest::read_json(&request, payload).await?;
    let (version, events, entities) = caliper_in::parse(&envelope).map_err(|err| match err {
        EnvelopeError::Invalid(problem) => bad(problem),
        EnvelopeError::UnsupportedVersion(problem) => ApiError::Unprocessable {
            message: problem.clone(),
            errors: [("dataVersion".to_owned(), vec![problem])].into(),
        },
    })?;
    if events.len() > MAX_RECORDS {
        return Err(bad(format!(
            "Send at most {MAX_RECORDS} events per envelope (got {}).",
            events.len()
        )));
    }
    let records = events
        .into_iter()
        .map(|e| Record {
            key: format!("caliper:{}", e.id),
            event_type: e.event_type.to_owned(),
            data: e.data,
            occurred_at: e.occurred_at,
        })
        .collect();
    let accepted = record_ingest::store(&state, authorization, records).await?;
    Ok(HttpResponse::Ok().json(json!({
        "data_version": version.context(),
        "ids": accepted.iter().map(|a| a.id).collect::<Vec<_>>(),
        "duplicates": accepted.iter().filter(|a| a.duplicate).count(),
        "entities_ignored": entities,
    })))
}
