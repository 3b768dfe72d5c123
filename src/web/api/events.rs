//! `POST /api/v1/events`: the platform's events in, deliveries queued, 202 with the ids.

use std::collections::BTreeMap;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use futures_util::StreamExt;

use super::bearer;
use super::error::{ApiError, ErrorBody};
use crate::ingest::committer::SubmitError;
use crate::ingest::queue::QueueError;
use crate::ingest::request::{self, MAX_BODY_BYTES, RequestError, Shape};
use crate::tokens::AuthFailure;
use crate::tokens::Scope;
use crate::web::state::AppState;

/// One event as the platform posts it (the documented shape; parsing is in `ingest::request`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EventRequest {
    /// A type from the event catalog, for example `course.completed`.
    #[serde(rename = "type")]
    event_type: String,
    #[schema(value_type = Object)]
    data: serde_json::Value,
    /// When it happened (RFC 3339); defaults to the time Herald received it.
    occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A repeated key returns the first event's id and queues nothing.
    idempotency_key: Option<String>,
}

/// One event, or an array of up to 500.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum IngestBody {
    One(EventRequest),
    Many(Vec<EventRequest>),
}

/// The ids of the events accepted (a repeated idempotency key gives the first event's id).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum IngestAccepted {
    One {
        id: uuid::Uuid,
        duplicate: bool,
    },
    Many {
        ids: Vec<uuid::Uuid>,
        duplicates: usize,
    },
}

/// Post events
///
/// One event or an array of up to 500; each is stored with a delivery for every enabled webhook
/// subscribed to its type, in one transaction. A batch is all or nothing. Scope: `ingest`.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = IngestBody,
    responses(
        (status = 202, body = IngestAccepted),
        (status = 400, description = "Malformed JSON, with line and column", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token lacks the ingest scope", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Events that cannot be stored (unknown type or field, NUL), by JSON path; in a batch `refused` lists their positions and nothing was stored", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn ingest(
    state: web::Data<AppState>,
    request: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let authorization = bearer::presented(&request);
    if crate::tokens::bearer(authorization.as_deref()).is_none() {
        // Refused before reading the body; a token that is present is checked below.
        return Err(ApiError::Unauthorized(
            "Send the API token as: Authorization: Bearer <token>.".into(),
        ));
    }
    // What is wrong with the body is answered only after the token was checked (below, in
    // the same trip to the database as the work): an unauthenticated request is 401 whatever
    // it sends. A body over the limit is not read any further.
    let mut refused_body = None;
    if let Some(content_type) = request.headers().get(CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            refused_body = Some(ApiError::UnsupportedMediaType);
        }
    }
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if refused_body.is_none() && declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        refused_body = Some(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(MAX_BODY_BYTES));
    if refused_body.is_none() {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|err| ApiError::BadRequest {
                message: format!("The request body could not be read: {err}"),
                line: None,
                column: None,
            })?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                refused_body = Some(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
                break;
            }
            body.extend_from_slice(&chunk);
        }
    }

    // The body is parsed here, but what is wrong with it is answered only once the token was
    // checked: an unauthenticated request is 401 whatever it sends.
    let parsed = match refused_body {
        Some(refused) => Err(refused),
        None => request::parse(&body, Utc::now()).map_err(invalid),
    };
    // The events hold their own copies of what they need: the body can go before the wait
    // for the commit (four 500-event batches at once each held theirs until answered).
    drop(body);
    let (refusal, parsed) = match parsed {
        Ok(parsed) => (None, Some(parsed)),
        Err(refusal) => (Some(refusal), None),
    };
    let shape = parsed.as_ref().map_or(Shape::One, |(shape, _)| *shape);
    let types: Vec<String> = parsed
        .as_ref()
        .map(|(_, events)| events.iter().map(|e| e.event_type.clone()).collect())
        .unwrap_or_default();
    // Admitted requests go to the group committer: the token is checked and the events are
    // stored together with those of other requests arriving meanwhile.
    let _admitted = state
        .ingest_admission
        .enter()
        .await
        .map_err(ApiError::Unavailable)?;
    let submitted = state
        .ingest_committer
        .submit(authorization, parsed.map(|(_, events)| events))
        .await;
    let queued = match submitted {
        Ok(Some(queued)) => queued,
        Ok(None) => return Err(refusal.expect("a refused body")),
        Err(SubmitError::Auth(AuthFailure::Unauthenticated(message))) => {
            return Err(ApiError::Unauthorized(message.to_owned()));
        }
        Err(SubmitError::Auth(AuthFailure::WrongScope)) => {
            return Err(ApiError::Forbidden(Scope::Ingest.as_str()));
        }
        Err(SubmitError::Unavailable(reason)) => return Err(ApiError::Unavailable(reason)),
        Err(SubmitError::Queue(QueueError::UnknownTypes(unknown))) => {
            return Err(unknown_types(shape, &types, &unknown));
        }
        Err(SubmitError::Queue(QueueError::Database(err))) => return Err(err.into()),
    };
    state.queue_signal.stored(&queued);
    let body = match shape {
        Shape::One => IngestAccepted::One {
            id: queued.accepted[0].id,
            duplicate: queued.accepted[0].duplicate,
        },
        Shape::Many => IngestAccepted::Many {
            ids: queued.accepted.iter().map(|a| a.id).collect(),
            duplicates: queued.accepted.iter().filter(|a| a.duplicate).count(),
        },
    };
    Ok(HttpResponse::Accepted().json(body))
}

fn invalid(err: RequestError) -> ApiError {
    match err {
        RequestError::Malformed {
            message,
            line,
            column,
        } => ApiError::BadRequest {
            message: format!("The body is not valid JSON: {message}"),
            line: Some(line),
            column: Some(column),
        },
        RequestError::Invalid(errors) => refused(shape_of(&errors), errors, None),
    }
}

/// Whether the errors name events of a batch (`events[N]…`) or the one event sent.
fn shape_of(errors: &BTreeMap<String, Vec<String>>) -> Shape {
    if errors.keys().any(|k| k.starts_with("events")) {
        Shape::Many
    } else {
        Shape::One
    }
}

/// 422 for events that cannot be stored. A batch is all or nothing: the answer lists every
/// refused position, and none of the batch was stored, so the platform can fix or drop those
/// events and send the batch again (retrying a 4xx as-is would never succeed).
fn refused(
    shape: Shape,
    errors: BTreeMap<String, Vec<String>>,
    headline: Option<String>,
) -> ApiError {
    match shape {
        Shape::One => ApiError::Unprocessable {
            message: headline
                .unwrap_or_else(|| "The event is not valid; it was not stored.".into()),
            errors,
        },
        Shape::Many => {
            let refused = request::refused_positions(&errors);
            let message = if let Some(headline) = headline {
                format!("{headline} None of the batch was stored.")
            } else if refused.is_empty() {
                "The batch is not valid; none of it was stored.".to_owned()
            } else {
                format!(
                    "{} event{} of the batch cannot be stored (positions {}); none of the batch was stored.",
                    refused.len(),
                    if refused.len() == 1 { "" } else { "s" },
                    refused
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            ApiError::RefusedEvents {
                message,
                errors,
                refused,
            }
        }
    }
}

/// 422 naming every unknown type at every position it was used.
fn unknown_types(shape: Shape, types: &[String], unknown: &[String]) -> ApiError {
    let mut errors = std::collections::BTreeMap::new();
    for (index, event_type) in types.iter().enumerate() {
        if unknown.contains(event_type) {
            let field = match shape {
                Shape::One => "type".to_owned(),
                Shape::Many => format!("events[{index}].type"),
            };
            errors.insert(
                field,
                vec![format!(
                    "\"{event_type}\" is not in the event catalog (see /events in the console)."
                )],
            );
        }
    }
    refused(
        shape,
        errors,
        Some(format!("Unknown event type: {}.", unknown.join(", "))),
    )
}
