//! `/api/v1/deliveries` and `/api/v1/dead-letters`: what happened to every event, and sending
//! dead letters again, with the console's filters, queries and replay service.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bearer;
use super::error::ApiError;
use super::webhooks::ListPage;
use crate::model::audit::Actor;
use crate::model::delivery::{self, Delivery};
use crate::model::delivery_attempt::{self, Attempt};
use crate::model::delivery_list::{self, ListedDelivery};
use crate::replay::{self, ReplayError, Replayed};
use crate::tokens::Scope;
use crate::validation::FieldErrors;
use crate::web::deliveries::query::DeliveryQuery;
use crate::web::state::AppState;

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
#[derive(Debug, Serialize)]
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

pub async fn list(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    listing(state, request, query.into_inner(), false).await
}

pub async fn dead_letters(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    listing(state, request, query.into_inner(), true).await
}

async fn listing(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: DeliveryQuery,
    dead_only: bool,
) -> Result<HttpResponse, ApiError> {
    bearer::management(&state, &request, Scope::Read).await?;
    let mut errors = FieldErrors::default();
    let mut filter = query.filter(&mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Unprocessable {
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
                delivery_list::count(conn, &filter)?,
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
        count,
        next,
        previous,
        results: page.items.into_iter().map(DeliveryItem::from).collect(),
    }))
}

#[derive(Serialize)]
struct DeliveryDetail {
    #[serde(flatten)]
    delivery: DeliveryView,
    attempts: Vec<AttemptView>,
}

#[derive(Serialize)]
struct DeliveryView {
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
#[derive(Serialize)]
struct AttemptView {
    number: i32,
    started_at: DateTime<Utc>,
    duration_ms: i32,
    request_headers: serde_json::Value,
    response_status: Option<i32>,
    response_headers: Option<serde_json::Value>,
    response_body: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
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
        attempts: attempts.into_iter().map(AttemptView::from).collect(),
    }))
}

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
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "id": found.id,
        "status": "pending",
        "attempt": found.attempts + 1,
    })))
}

/// `{ "ids": [...] }` or `{ "filter": { "webhook", "event_type", "from", "to", "q" } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[serde(default)]
    ids: Option<Vec<Uuid>>,
    #[serde(default)]
    filter: Option<ReplayFilter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayFilter {
    webhook: Option<i64>,
    event_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
}

pub async fn replay(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<ReplayRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let actor = Actor::api_token(&token.name);
    let body = body.into_inner();
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
            let mut filter = query.filter(&mut errors);
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
            filter.status = Some("dead".into());
            state
                .attempt(move |conn| {
                    let ids = delivery_list::ids(conn, &filter)?;
                    let mut total = Replayed::default();
                    for chunk in ids.chunks(1000) {
                        let done =
                            replay::replay_many(conn, &actor, chunk, "all matching the filter")?;
                        total.replayed += done.replayed;
                        total.skipped_disabled += done.skipped_disabled;
                    }
                    Ok::<_, ReplayError>(total)
                })
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
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "replayed": replayed.replayed,
        "skipped_disabled_webhook": replayed.skipped_disabled,
    })))
}
