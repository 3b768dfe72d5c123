//! What the xAPI and Caliper inputs share: reading a JSON body within its limit, and storing
//! the mapped events through the ingest committer (one transaction with their deliveries, as
//! `POST /api/v1/events` does), each under an idempotency key made of its record's id so a
//! record sent twice is stored once.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::body;
use super::error::ApiError;
use crate::ingest::committer::SubmitError;
use crate::ingest::event_data::EventData;
use crate::ingest::queue::{Accepted, QueueError};
use crate::ingest::request::EventSpec;
use crate::ingest::storable;
use crate::tokens::{AuthFailure, Scope};
use crate::web::state::AppState;

/// The largest body of learning records (an LMS plugin's batch of a few hundred statements).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most records one request may carry.
pub const MAX_RECORDS: usize = 1000;

/// Reads the body as JSON: 415 for another content type, 413 over the limit, 400 when it
/// is not JSON or holds what Herald cannot store (`ingest::storable`).
pub async fn read_json(request: &HttpRequest, payload: web::Payload) -> Result<Value, ApiError> {
    // No Content-Type is taken for JSON, as on `POST /api/v1/events`.
    let media_type = body::media_type(request);
    if !media_type.is_empty() && media_type != "application/json" && !media_type.ends_with("+json")
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let body = body::read(payload, MAX_BODY_BYTES).await?;
    let value: Value = serde_json::from_slice(&body).map_err(|err| ApiError::BadRequest {
        message: format!("The body is not valid JSON: {err}"),
        line: Some(err.line()),
        column: Some(err.column()),
    })?;
    // What jsonb cannot keep, or Herald could not read back, is refused before anything else.
    if let Some((path, message)) = storable::problems(&value, "body".into()).into_iter().next() {
        return Err(bad(format!("{path}: {message}")));
    }
    Ok(value)
}

pub fn bad(message: String) -> ApiError {
    ApiError::BadRequest {
        message,
        line: None,
        column: None,
    }
}

/// One mapped record to store.
pub struct Record {
    pub event_type: String,
    pub data: Value,
    pub occurred_at: DateTime<Utc>,
    /// `xapi:{statement id}` or `caliper:{event id}`.
    pub key: String,
}

/// `Bearer <token>` whatever the case of the scheme (HTTP's schemes are case-insensitive).
pub fn bearer_value(header: &str) -> Option<String> {
    crate::tokens::bearer(Some(header)).map(|token| format!("Bearer {token}"))
}

/// Checks the token (`authorization` as a Bearer header value) for the ingest scope.
pub async fn authenticate(state: &AppState, authorization: Option<String>) -> Result<(), ApiError> {
    let found = state
        .run(move |conn| crate::tokens::authenticate(conn, authorization.as_deref(), Scope::Ingest))
        .await?;
    found.map(|_| ()).map_err(auth_error)
}

fn auth_error(failure: AuthFailure) -> ApiError {
    match failure {
        AuthFailure::Unauthenticated(message) => ApiError::Unauthorized(message.to_owned()),
        AuthFailure::WrongScope => ApiError::Forbidden(Scope::Ingest.as_str()),
    }
}

/// Of `records` (key, record as received), the keys under which a different record is
/// already stored.
pub async fn conflicting(
    state: &AppState,
    records: Vec<(String, Value)>,
) -> Result<Vec<String>, ApiError> {
    let (keys, records): (Vec<String>, Vec<Value>) = records.into_iter().unzip();
    Ok(state
        .run(move |conn| crate::model::event::records_differing(conn, &keys, &records))
        .await?)
}

/// Stores the records with their deliveries; one outcome per record, in order.
pub async fn store(
    state: &AppState,
    authorization: Option<String>,
    records: Vec<Record>,
) -> Result<Vec<Accepted>, ApiError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let events = records
        .into_iter()
        .map(|r| EventSpec {
            event_type: r.event_type,
            data: EventData::from_value(&r.data),
            occurred_at: r.occurred_at,
            idempotency_key: Some(r.key),
        })
        .collect();
    let _admitted = state
        .ingest_admission
        .enter()
        .await
        .map_err(ApiError::Unavailable)?;
    let queued = match state
        .ingest_committer
        .submit(authorization, Some(events))
        .await
    {
        Ok(Some(queued)) => queued,
        Ok(None) => return Ok(Vec::new()),
        Err(SubmitError::Auth(failure)) => return Err(auth_error(failure)),
        Err(SubmitError::Unavailable(reason)) => return Err(ApiError::Unavailable(reason)),
        Err(SubmitError::Queue(QueueError::UnknownTypes(unknown))) => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "learning-record types missing from the catalog: {unknown:?}"
            )));
        }
        Err(SubmitError::Queue(QueueError::Database(err))) => return Err(err.into()),
    };
    state.queue_signal.stored(&queued);
    Ok(queued.accepted)
}
