//! `/api/v1/deliveries` and `/api/v1/dead-letters`: what happened to every event, and sending
//! dead letters again, with the console's filters, queries and replay service.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::webhooks::ListPage;
use super::{bearer, body};
use crate::model::audit::Actor;
use crate::model::delivery::{self, Delivery};
use crate::model::delivery_attempt::{self, Attempt};
use crate::model::delivery_list::{self, ListedDelivery};
use crate::replay::{self, ReplayError};
use crate::tokens::Scope;
use crate::validation::FieldErrors;
use crate::web::deliveries::query::DeliveryQuery;
use crate::web::state::AppState;

/// Replay and discard bodies: a few thousand ids at most.
const MAX_BODY_BYTES: usize = 64 * 1024;

impl From<ReplayError> for ApiError {
    fn from(err: ReplayError) -> Self {
        match err {
            ReplayError::NotFound => ApiError::NotFound("No delivery with this id.".into()),
            ReplayError::Database(err) => err.into(),
            other => ApiError::Conflict(other.to_string()),
        }
    }
}

/// A delivery in a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryItem {
    pub id: Uuid,
    pub webhook_id: i64,
    pub webhook_name: String,
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub status: String,
    pub event_count: i32,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    pub dead_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<ListedDelivery> for DeliveryItem {
    fn from(row: ListedDelivery) -> Self {
        Self {
            next_attempt_at: (row.status == "pending").then_some(row.next_attempt_at),
            id: row.id,
            webhook_id: row.webhook_id,
            webhook_name: row.webhook_name,
            event_id: row.event_id,
            event_type: row.event_type,
            status: row.status,
            event_count: row.event_count,
            attempts: row.attempts,
            last_attempt_at: row.last_attempt_at,
            last_status: row.last_status,
            last_error_kind: row.last_error_kind,
            last_error: row.last_error,
            dead_reason: row.dead_reason,
            created_at: row.created_at,
        }
    }
}

/// List deliveries
///
/// Newest first; `next` is a keyset link. Scope: `read` or `manage`.
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "deliveries", params(("status" = Option<String>, Query), ("webhook" = Option<i64>, Query), ("event_type" = Option<String>, Query), ("from" = Option<String>, Query, description = "UTC, 2026-11-22 or 2026-11-22T14:30"), ("to" = Option<String>, Query), ("q" = Option<String>, Query, description = "A delivery or event id"), ("before" = Option<String>, Query, description = "Cursor: older than this id"), ("after" = Option<String>, Query, description = "Cursor: newer than this id")), responses((status = 200, body = ListPage<DeliveryItem>), (status = 400, description = "A query parameter that cannot be read, messages by parameter", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    listing(state, request, false).await
}

/// List dead letters
///
/// Newest first, with the same filters as deliveries. Scope: `read` or `manage`.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "deliveries", params(("webhook" = Option<i64>, Query), ("event_type" = Option<String>, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("q" = Option<String>, Query), ("before" = Option<String>, Query), ("after" = Option<String>, Query)), responses((status = 200, body = ListPage<DeliveryItem>), (status = 400, description = "A query parameter that cannot be read, messages by parameter", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn dead_letters(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    listing(state, request, true).await
}

async fn listing(
    state: web::Data<AppState>,
    request: HttpRequest,
    dead_only: bool,
) -> Result<HttpResponse, ApiError> {
    bearer::management(&state, &request, Scope::Read).await?;
    let query: DeliveryQuery = crate::web::input::parse_query(request.query_string())?;
    let mut errors = FieldErrors::default();
    let mut filter = query.filter(&mut errors);
    if !errors.is_empty() {
        return Err(ApiError::BadParameters {
            message: "Some filters are not valid.".into(),
            errors: errors.to_map(),
        });
    }
    if dead_only {
        filter.status = Some("dead".into());
    }
    let cursor = query.cursor();
    let (count, page) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                delivery_list::count_up_to(conn, &filter, delivery_list::COUNT_CAP)?,
                delivery_list::page(conn, &filter, cursor, 50)?,
            ))
        })
        .await?;
    let path = if dead_only {
        "/api/v1/dead-letters"
    } else {
        "/api/v1/deliveries"
    };
    let filters = query.filters_query();
    let next = page
        .has_older
        .then(|| {
            page.items
                .last()
                .map(|r| format!("{path}?{filters}&before={}", r.id))
        })
        .flatten();
    let previous = page
        .has_newer
        .then(|| {
            page.items
                .first()
                .map(|r| format!("{path}?{filters}&after={}", r.id))
        })
        .flatten();
    Ok(HttpResponse::Ok().json(ListPage {
        count: count.count,
        count_capped: count.capped,
        next,
        previous,
        results: page.items.into_iter().map(DeliveryItem::from).collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    delivery: DeliveryView,
    /// Every attempt, first to last (`attempts` is their count).
    history: Vec<AttemptView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    id: Uuid,
    webhook_id: i64,
    event_id: Option<Uuid>,
    event_type: String,
    status: String,
    event_count: i32,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    last_attempt_at: Option<DateTime<Utc>>,
    last_status: Option<i32>,
    last_error_kind: Option<String>,
    last_error: Option<String>,
    dead_reason: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            next_attempt_at: (d.status == "pending").then_some(d.next_attempt_at),
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            event_count: d.event_count,
            attempts: d.attempts,
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error_kind: d.last_error_kind,
            last_error: d.last_error,
            dead_reason: d.dead_reason,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// An attempt: request headers as recorded (secrets masked), the response or the error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    number: i32,
    started_at: DateTime<Utc>,
    duration_ms: i32,
    #[schema(value_type = Object)]
    request_headers: serde_json::Value,
    response_status: Option<i32>,
    #[schema(value_type = Option<Object>)]
    response_headers: Option<serde_json::Value>,
    response_body: Option<String>,
    /// dns, connect, tls, timeout, http, refused_target, io, unmappable (not expressible in the payload format), or worker_lost (the worker stopped
    /// while the request was in flight).
    error_kind: Option<String>,
    error_message: Option<String>,
    /// delivered, retry, dead, disabled, or unknown (worker_lost: whether the receiver got it is
    /// not known; the delivery is sent again).
    outcome: String,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            number: a.number,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            request_headers: a.request_headers,
            response_status: a.response_status,
            response_headers: a.response_headers,
            response_body: a.response_body,
            error_kind: a.error_kind,
            error_message: a.error_message,
            outcome: a.outcome,
        }
    }
}

/// Get a delivery
///
/// With `history`: every attempt, request headers masked. Scope: `read` or `manage`.
#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "deliveries", params(("id" = uuid::Uuid, Path)), responses((status = 200, body = DeliveryDetail), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    bearer::management(&state, &request, Scope::Read).await?;
    let id = id.into_inner();
    let found = state
        .run(move |conn| {
            let Some(found) = delivery::find(conn, id)? else {
                return Ok(None);
            };
            let attempts = delivery_attempt::for_delivery(conn, id)?;
            Ok::<_, diesel::result::Error>(Some((found, attempts)))
        })
        .await?;
    let (found, attempts) = found.ok_or_else(|| ApiError::from(ReplayError::NotFound))?;
    Ok(HttpResponse::Ok().json(DeliveryDetail {
        delivery: found.into(),
        history: attempts.into_iter().map(AttemptView::from).collect(),
    }))
}

/// Send a delivery again
///
/// A delivered or dead delivery is queued at once; the attempt count continues. Scope: `manage`.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/redeliver", tag = "deliveries", params(("id" = uuid::Uuid, Path)), responses((status = 202, body = Requeued), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict (name taken, signing off)", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn redeliver(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let id = id.into_inner();
    let actor = Actor::api_token(&token.name);
    let found = state
        .attempt(move |conn| replay::replay_one(conn, &actor, id, true))
        .await??;
    state.queue_signal.queued();
    Ok(HttpResponse::Accepted().json(Requeued {
        id: found.id,
        status: "pending".into(),
        attempt: found.attempts + 1,
    }))
}

/// `{ "ids": [...] }` or `{ "filter": { "webhook", "event_type", "from", "to", "q" } }`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[serde(default)]
    ids: Option<Vec<Uuid>>,
    #[serde(default)]
    filter: Option<ReplayFilter>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayFilter {
    webhook: Option<i64>,
    event_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
}

/// Replay dead letters
///
/// By ids, or all that match a filter; deliveries of disabled webhooks are skipped and counted.
/// Scope: `manage`.
#[utoipa::path(post, path = "/api/v1/dead-letters/replay", tag = "deliveries", request_body = ReplayRequest, responses((status = 200, body = ReplayResult), (status = 400, description = "Malformed JSON, with line and column", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON (or form-encoded where allowed)", body = ErrorBody), (status = 422, description = "Invalid input, messages by field", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn replay(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let body: ReplayRequest = body::json(&request, payload, MAX_BODY_BYTES).await?;
    let actor = Actor::api_token(&token.name);
    let replayed = match (body.ids, body.filter) {
        (Some(ids), None) => {
            state
                .attempt(move |conn| replay::replay_many(conn, &actor, &ids, "selected"))
                .await??
        }
        (None, Some(filter)) => {
            let query = DeliveryQuery {
                webhook: filter.webhook.map(|w| w.to_string()).unwrap_or_default(),
                event_type: filter.event_type.unwrap_or_default(),
                from: filter.from.unwrap_or_default(),
                to: filter.to.unwrap_or_default(),
                q: filter.q.unwrap_or_default(),
                ..Default::default()
            };
            let mut errors = FieldErrors::default();
            let filter = query.filter(&mut errors);
            if !errors.is_empty() {
                return Err(ApiError::Unprocessable {
                    message: "Some filters are not valid.".into(),
                    errors: errors
                        .to_map()
                        .into_iter()
                        .map(|(k, v)| (format!("filter.{k}"), v))
                        .collect(),
                });
            }
            state
                .attempt(move |conn| replay::replay_matching(conn, &actor, &filter))
                .await??
        }
        _ => {
            return Err(ApiError::Unprocessable {
                message: "Send either ids or filter.".into(),
                errors: [(
                    "body".to_owned(),
                    vec!["Send {\"ids\": [...]} or {\"filter\": {...}}, not both.".to_owned()],
                )]
                .into(),
            });
        }
    };
    if replayed.replayed > 0 {
        state.queue_signal.queued();
    }
    Ok(HttpResponse::Ok().json(ReplayResult {
        replayed: replayed.replayed,
        skipped_disabled_webhook: replayed.skipped_disabled,
    }))
}

/// A delivery queued again.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Requeued {
    id: Uuid,
    status: String,
    /// The number the next attempt will carry.
    attempt: i32,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplayResult {
    replayed: usize,
    /// Dead letters left alone because their webhook is disabled.
    skipped_disabled_webhook: usize,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardRequest {
    ids: Vec<Uuid>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DiscardResult {
    /// Dead letters marked discarded (kept in the history, never sent again).
    discarded: usize,
}

/// Discard dead letters
///
/// Kept in the history as `discarded`. Scope: `manage`.
#[utoipa::path(post, path = "/api/v1/dead-letters/discard", tag = "deliveries", request_body = DiscardRequest,
    responses(
        (status = 200, body = DiscardResult),
        (status = 400, description = "Malformed JSON, with line and column", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token lacks the scope", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON (or form-encoded where allowed)", body = ErrorBody),
        (status = 422, description = "Invalid input, messages by field", body = ErrorBody),
        (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn discard(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let ids = body::json::<DiscardRequest>(&request, payload, MAX_BODY_BYTES)
        .await?
        .ids;
    let actor = Actor::api_token(&token.name);
    let discarded = state
        .attempt(move |conn| replay::discard(conn, &actor, &ids))
        .await??;
    Ok(HttpResponse::Ok().json(DiscardResult { discarded }))
}
