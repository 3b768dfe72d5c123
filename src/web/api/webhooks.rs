//! `/api/v1/webhooks`: everything the console does with webhooks, as JSON, with `manage`
//! tokens (reading also with `read`). Input goes through `WebhookInput::parse`, the console's
//! parser, and changes through the same service, so rules and audit entries are identical.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::bearer;
use super::error::{ApiError, ErrorBody};
use super::webhook_json::{WebhookRequest, WebhookView};
use crate::delivery::ping;
use crate::domain::secret_box::SecretBox;
use crate::model::audit::Actor;
use crate::model::webhook::{self, ListFilter, Sort};
use crate::model::webhook_flow::{self, WebhookFlow};
use crate::model::{PageRequest, event_type};
use crate::tokens::Scope;
use crate::web::state::AppState;
use crate::webhooks::flow_state::Flow;
use crate::webhooks::input::{ParseContext, WebhookInput};
use crate::webhooks::service::{self, WebhookError};

const MAX_BODY_BYTES: usize = 64 * 1024;

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        let message = err.to_string();
        match err {
            WebhookError::NotFound => ApiError::NotFound("No webhook with this id.".into()),
            WebhookError::NameTaken => ApiError::Conflict(err.to_string()),
            WebhookError::SigningOff => ApiError::Conflict(
                "Signing is off for this webhook: turn it on (signing_enabled) first.".into(),
            ),
            WebhookError::SecretsNotCarriedOver(refusals) => {
                let mut errors = std::collections::BTreeMap::new();
                for (field, message) in refusals {
                    errors.insert(field.to_owned(), vec![message]);
                }
                ApiError::Unprocessable { message, errors }
            }
            WebhookError::Database(err) => err.into(),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// The list's query string, as sent; [`ListQuery::parse`] checks it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    status: String,
    event: String,
    sort: String,
    page: String,
    per_page: String,
}

impl ListQuery {
    /// The filter, page and page size, or 400 naming each bad parameter (an unknown status
    /// or sort would otherwise quietly list everything).
    fn parse(&self) -> Result<(ListFilter, PageRequest, i64), ApiError> {
        let mut errors = crate::validation::FieldErrors::default();
        if !matches!(self.status.as_str(), "" | "enabled" | "disabled") {
            errors.add("status", "Use enabled or disabled.");
        }
        let sorts: Vec<&str> = Sort::ALL.iter().map(|(_, key, _)| *key).collect();
        if !self.sort.is_empty() && !sorts.contains(&self.sort.as_str()) {
            errors.add("sort", format!("Use one of {}.", sorts.join(", ")));
        }
        let mut number = |field: &str, raw: &str| match raw.trim() {
            "" => None,
            raw => match raw.parse::<i64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    errors.add(field, "Use a whole number from 1.");
                    None
                }
            },
        };
        let page = number("page", &self.page);
        let per_page = number("per_page", &self.per_page).unwrap_or(50).min(200);
        if !errors.is_empty() {
            return Err(ApiError::BadParameters {
                message: "Some query parameters are not valid.".into(),
                errors: errors.to_map(),
            });
        }
        let filter = ListFilter::from_params(&self.q, &self.status, &self.event, &self.sort);
        Ok((filter, PageRequest::new(page, per_page), per_page))
    }
}

/// `{ count, next, previous, results }`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListPage<T> {
    /// How many match; lists of deliveries count up to 10,000 (see `count_capped`).
    pub count: i64,
    /// More than `count` match (deliveries and dead letters are counted up to 10,000).
    pub count_capped: bool,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// List webhooks
///
/// Filtered, sorted and paged, each with its delivery flow. Scope: `read` or `manage`.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", params(("q" = Option<String>, Query, description = "Name or URL contains"), ("status" = Option<String>, Query, description = "enabled or disabled"), ("event" = Option<String>, Query, description = "Receives this event type"), ("sort" = Option<String>, Query, description = "name, -name, created, -created, -updated"), ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query, description = "1 to 200, default 50")), responses((status = 200, body = ListPage<WebhookView>), (status = 400, description = "A query parameter that cannot be read, messages by parameter", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    bearer::management(&state, &request, Scope::Read).await?;
    let query: ListQuery = crate::web::input::parse_query(request.query_string())?;
    let (filter, page, per_page) = query.parse()?;
    let secrets = state.secrets.clone();
    let (paged, views) = state
        .run(move |conn| {
            let paged = webhook::list(conn, &filter, page)?;
            let ids: Vec<i64> = paged.items.iter().map(|w| w.id).collect();
            let flows: HashMap<i64, WebhookFlow> = webhook_flow::of_webhooks(conn, &ids)?
                .into_iter()
                .map(|f| (f.webhook_id, f))
                .collect();
            let now = chrono::Utc::now();
            let mut views = Vec::with_capacity(paged.items.len());
            for hook in &paged.items {
                let flow = Flow::of(flows.get(&hook.id), now);
                views.push(view_with_flow(conn, hook.clone(), &flow, &secrets)?);
            }
            Ok::<_, diesel::result::Error>((paged, views))
        })
        .await?;
    let link = |number: i64| {
        format!(
            "/api/v1/webhooks?{}",
            serde_urlencoded::to_string([
                ("q", query.q.as_str()),
                ("status", query.status.as_str()),
                ("event", query.event.as_str()),
                ("sort", query.sort.as_str()),
                ("per_page", &per_page.to_string()),
                ("page", &number.to_string()),
            ])
            .unwrap_or_default()
        )
    };
    Ok(HttpResponse::Ok().json(ListPage {
        count: paged.total,
        count_capped: false,
        next: paged.has_next().then(|| link(paged.page.number + 1)),
        previous: paged.has_previous().then(|| link(paged.page.number - 1)),
        results: views,
    }))
}

/// One webhook's view, its flow state read here.
fn view(
    conn: &mut diesel::PgConnection,
    hook: webhook::Webhook,
    secrets: &SecretBox,
) -> diesel::QueryResult<WebhookView> {
    let row = webhook_flow::of_webhooks(conn, &[hook.id])?.pop();
    let flow = Flow::of(row.as_ref(), chrono::Utc::now());
    view_with_flow(conn, hook, &flow, secrets)
}

fn view_with_flow(
    conn: &mut diesel::PgConnection,
    hook: webhook::Webhook,
    flow: &Flow,
    secrets: &SecretBox,
) -> diesel::QueryResult<WebhookView> {
    let events = webhook::events_of(conn, hook.id)?;
    let headers = webhook::headers_of(conn, hook.id)?
        .into_iter()
        .map(|h| h.name)
        .collect();
    let masked = service::masked_secret(&hook, secrets);
    Ok(WebhookView::new(hook, events, headers, masked, flow))
}

/// Get a webhook
///
/// Every setting, secrets masked, with its delivery flow. Scope: `read` or `manage`.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)), responses((status = 200, body = WebhookView), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    bearer::management(&state, &request, Scope::Read).await?;
    let id = id.into_inner();
    let secrets = state.secrets.clone();
    let found = state
        .run(move |conn| {
            webhook::find(conn, id)?
                .map(|hook| view(conn, hook, &secrets))
                .transpose()
        })
        .await?;
    found
        .map(|v| HttpResponse::Ok().json(v))
        .ok_or_else(|| WebhookError::NotFound.into())
}

/// How the body came: JSON (overlaid on a base) or a form (complete, like the console's).
#[allow(clippy::large_enum_variant)] // one per request, moved once: boxing saves nothing
enum Body {
    Json(WebhookRequest),
    Form(WebhookInput),
}

async fn read_body(request: &HttpRequest, payload: web::Payload) -> Result<Body, ApiError> {
    match super::body::media_type(request).as_str() {
        "application/json" => super::body::json(request, payload, MAX_BODY_BYTES)
            .await
            .map(Body::Json)
            .map_err(|err| match err {
                ApiError::Unprocessable { errors, .. } => ApiError::Unprocessable {
                    message: "The webhook is not valid.".into(),
                    errors,
                },
                other => other,
            }),
        "application/x-www-form-urlencoded" => {
            let body = super::body::read(payload, MAX_BODY_BYTES).await?;
            crate::web::input::check_utf8(&body).map_err(|err| ApiError::BadRequest {
                message: format!("The form could not be read: {err}"),
                line: None,
                column: None,
            })?;
            serde_html_form::from_bytes(&body)
                .map(Body::Form)
                .map_err(|err| ApiError::Unprocessable {
                    message: "The webhook is not valid.".into(),
                    errors: [("body".to_owned(), vec![err.to_string()])].into(),
                })
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// Parses `input` with the console's rules; `existing` = the stored webhook on an edit.
async fn parse(
    state: &AppState,
    input: WebhookInput,
    existing: Option<(bool, Vec<String>)>,
) -> Result<crate::webhooks::input::WebhookSpec, ApiError> {
    let catalog = state.run(event_type::names).await?;
    let (has_auth_header, header_names) = existing.unwrap_or_default();
    input
        .parse(&ParseContext {
            allow_http: state.settings.allow_http_targets,
            catalog: &catalog,
            has_auth_header,
            header_names: &header_names,
        })
        .map_err(|errors| ApiError::Unprocessable {
            message: "The webhook is not valid.".into(),
            errors: errors.to_map(),
        })
}

/// A webhook as created or changed; `signing_secret` holds the whole secret only when one
/// was generated by this request.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookSaved {
    #[serde(flatten)]
    webhook: WebhookView,
    /// The whole signing secret: shown in this answer only.
    signing_secret: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The new secret, shown in this answer only.
    signing_secret: String,
    /// Until when the previous secret keeps signing too.
    previous_secret_valid_until: chrono::DateTime<chrono::Utc>,
}

/// The test event to send; without a body, a `webhook.ping`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TestEventRequest {
    /// A type from the event catalog (default `webhook.ping`).
    #[serde(default)]
    event_type: String,
    /// The event's `data`, a JSON object (default: the ping's message, or `{}`).
    #[serde(default)]
    #[schema(value_type = Object)]
    data: Option<serde_json::Value>,
}

/// What the receiver answered a test event. Tests are kept apart from deliveries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PingResult {
    /// The test's id (also its `webhook-id` header); it is not a delivery.
    test_id: uuid::Uuid,
    event_type: String,
    delivered: bool,
    response_status: Option<u16>,
    duration_ms: u64,
    response_body: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventTypeView {
    name: String,
    category: String,
    description: String,
    #[schema(value_type = Object)]
    example_payload: serde_json::Value,
}

/// Create a webhook
///
/// JSON, or form-encoded with the console's field names. The new signing secret is in this answer
/// only. Scope: `manage`.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body(content((WebhookRequest = "application/json"), (WebhookRequest = "application/x-www-form-urlencoded"))), responses((status = 201, body = WebhookSaved), (status = 400, description = "Malformed JSON, with line and column", body = ErrorBody), (status = 409, description = "Conflict (name taken, signing off)", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON (or form-encoded where allowed)", body = ErrorBody), (status = 422, description = "Invalid input, messages by field", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let input = match read_body(&request, payload).await? {
        Body::Json(json) => json.apply_to(WebhookInput::defaults()),
        Body::Form(form) => form,
    };
    let spec = parse(&state, input, None).await?;
    let actor = Actor::api_token(&token.name);
    let secrets = state.secrets.clone();
    let (webhook, secret) = state
        .attempt(move |conn| {
            let (hook, secret) = service::create(conn, &actor, &spec, &secrets)?;
            Ok::<_, WebhookError>((view(conn, hook, &secrets)?, secret))
        })
        .await??;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/webhooks/{}", webhook.id),
        ))
        .json(WebhookSaved {
            webhook,
            signing_secret: secret.map(|s| s.expose().to_owned()),
        }))
}

/// Replace a webhook
///
/// Absent fields take the defaults (PATCH changes only the fields sent); a blank secret keeps the
/// stored one while the endpoint keeps its origin. Scope: `manage`.
#[utoipa::path(put, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)), request_body = WebhookRequest, responses((status = 200, body = WebhookSaved), (status = 400, description = "Malformed JSON, with line and column", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict (name taken, signing off)", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON (or form-encoded where allowed)", body = ErrorBody), (status = 422, description = "Invalid input, messages by field", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn replace(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    edit(state, request, id.into_inner(), payload, false).await
}

/// Change some settings of a webhook
///
/// Only the fields sent change; `"rate_limit_per_second": null` removes the limit. Scope: `manage`.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)), request_body = WebhookRequest, responses((status = 200, body = WebhookSaved), (status = 400, description = "Malformed JSON, with line and column", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict (name taken, signing off)", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON (or form-encoded where allowed)", body = ErrorBody), (status = 422, description = "Invalid input, messages by field", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn patch(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    edit(state, request, id.into_inner(), payload, true).await
}

async fn edit(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: i64,
    payload: web::Payload,
    partial: bool,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let body = read_body(&request, payload).await?;
    let (found, events, header_names) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                webhook::events_of(conn, id)?,
                webhook::headers_of(conn, id)?
                    .into_iter()
                    .map(|h| h.name)
                    .collect::<Vec<_>>(),
            ))
        })
        .await?;
    let found = found.ok_or(WebhookError::NotFound)?;
    let input = match body {
        Body::Json(json) if partial => json.apply_to(WebhookInput::from_webhook(
            &found,
            events,
            header_names.clone(),
        )),
        Body::Json(json) => json.apply_to(WebhookInput::defaults()),
        Body::Form(form) => form,
    };
    let spec = parse(
        &state,
        input,
        Some((found.auth_header_enc.is_some(), header_names)),
    )
    .await?;
    let actor = Actor::api_token(&token.name);
    let secrets = state.secrets.clone();
    let (webhook, secret) = state
        .attempt(move |conn| {
            let (hook, secret) = service::update(conn, &actor, id, &spec, &secrets)?;
            Ok::<_, WebhookError>((view(conn, hook, &secrets)?, secret))
        })
        .await??;
    Ok(HttpResponse::Ok().json(WebhookSaved {
        webhook,
        signing_secret: secret.map(|s| s.expose().to_owned()),
    }))
}

/// Delete a webhook
///
/// With its queued deliveries; the audit log keeps its history. Scope: `manage`.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)), responses((status = 204, description = "Deleted, with its queued deliveries"), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let id = id.into_inner();
    let actor = Actor::api_token(&token.name);
    state
        .attempt(move |conn| service::delete(conn, &actor, id))
        .await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DisableRequest {
    reason: Option<String>,
}

/// Enable a webhook
///
/// Scope: `manage`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/enable", tag = "webhooks", params(("id" = i64, Path)), responses((status = 200, body = WebhookView), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn enable(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    toggle(state, request, id.into_inner(), true, None).await
}

/// Disable a webhook
///
/// With an optional reason; what is still queued for it moves to the dead-letter queue. Scope:
/// `manage`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/disable", tag = "webhooks", params(("id" = i64, Path)), request_body(content = Option<DisableRequest>), responses((status = 200, body = WebhookView), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid input, messages by field", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn disable(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    toggle(state, request, id.into_inner(), false, Some(payload)).await
}

/// The optional `{"event_type": …, "data": …}` of a test, checked as the console's form is.
async fn test_event_of(
    state: &AppState,
    webhook_id: i64,
    requested_by: &str,
    payload: web::Payload,
) -> Result<ping::TestEvent, ApiError> {
    let body = super::body::read(payload, MAX_BODY_BYTES).await?;
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        TestEventRequest {
            event_type: String::new(),
            data: None,
        }
    } else {
        serde_json::from_slice::<TestEventRequest>(&body).map_err(|err| {
            ApiError::Unprocessable {
                message: "Send {\"event_type\": \"…\", \"data\": {…}} or nothing.".into(),
                errors: [("body".to_owned(), vec![err.to_string()])].into(),
            }
        })?
    };
    let (catalog, found, subscribed) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                event_type::all(conn)?,
                crate::model::webhook::find(conn, webhook_id)?,
                crate::model::webhook::events_of(conn, webhook_id)?,
            ))
        })
        .await?;
    let known: Vec<String> = catalog.iter().map(|t| t.name.clone()).collect();
    let mut event_type = request.event_type;
    let mut data = request
        .data
        .map(|data| data.to_string())
        .unwrap_or_default();
    // A webhook in a learning-record format: see `default_for_format`.
    let format = found
        .as_ref()
        .map(|w| w.payload_format())
        .unwrap_or_default();
    if event_type.trim().is_empty()
        && let Some((default_type, example)) = found.as_ref().and_then(|webhook| {
            crate::webhooks::test_event::default_for_format(webhook, &subscribed, &catalog)
        })
    {
        event_type = default_type;
        data = example;
    }
    crate::webhooks::test_event::parse(&event_type, &data, &known, || {
        ping::TestEvent::ping(webhook_id, requested_by)
    })
    .and_then(|test| crate::webhooks::test_event::carried_by(format, test))
    .map_err(|errors| {
        let mut by_field = std::collections::BTreeMap::new();
        if let Some(message) = errors.event_type {
            by_field.insert("event_type".to_owned(), vec![message]);
        }
        if let Some(message) = errors.payload {
            by_field.insert(
                "data".to_owned(),
                vec![message.replace("The payload", "data")],
            );
        }
        ApiError::Unprocessable {
            message: "The test event is not valid.".into(),
            errors: by_field,
        }
    })
}

/// The optional `{"reason": "…"}` of a disable: one line, at most 500 characters kept.
async fn disable_reason(payload: web::Payload) -> Result<Option<String>, ApiError> {
    let body = super::body::read(payload, MAX_BODY_BYTES).await?;
    if body.is_empty() {
        return Ok(None);
    }
    let reason = serde_json::from_slice::<DisableRequest>(&body)
        .map_err(|err| ApiError::Unprocessable {
            message: "Send {\"reason\": \"…\"} or nothing.".into(),
            errors: [("body".to_owned(), vec![err.to_string()])].into(),
        })?
        .reason;
    reason
        .map(|reason| {
            crate::validation::single_line(&reason)
                .map(|r| r.chars().take(500).collect::<String>())
                .map_err(|message| ApiError::Unprocessable {
                    message: "The reason is not valid.".into(),
                    errors: [("reason".to_owned(), vec![message])].into(),
                })
        })
        .transpose()
}

async fn toggle(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: i64,
    enabled: bool,
    disable_body: Option<web::Payload>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let reason = match disable_body {
        Some(payload) => disable_reason(payload).await?,
        None => None,
    };
    let actor = Actor::api_token(&token.name);
    let secrets = state.secrets.clone();
    let reason = reason
        .filter(|r| !r.is_empty())
        .or_else(|| (!enabled).then(|| format!("Disabled through the API by {}", token.name)));
    let updated = state
        .attempt(move |conn| {
            let hook = service::set_enabled(conn, &actor, id, enabled, reason.as_deref())?;
            Ok::<_, WebhookError>(view(conn, hook, &secrets)?)
        })
        .await??;
    Ok(HttpResponse::Ok().json(updated))
}

/// Rotate the signing secret
///
/// The new secret is in this answer only; the previous one keeps signing alongside it for
/// `HERALD_SECRET_ROTATION_OVERLAP_HOURS`. Scope: `manage`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = i64, Path)), responses((status = 200, body = RotatedSecret), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict (name taken, signing off)", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let id = id.into_inner();
    let actor = Actor::api_token(&token.name);
    let secrets = state.secrets.clone();
    let overlap = state.settings.secret_rotation_overlap;
    let (_, secret, until) = state
        .attempt(move |conn| service::rotate_secret(conn, &actor, id, overlap, &secrets))
        .await??;
    Ok(HttpResponse::Ok().json(RotatedSecret {
        signing_secret: secret.expose().to_owned(),
        previous_secret_valid_until: until,
    }))
}

/// Send a test event
///
/// Sends a test event now — a `webhook.ping`, or `{"event_type": "course.completed", "data":
/// {…}}` — and returns the receiver's answer. A test is not a delivery: never retried, never a
/// dead letter, not counted in health. Scope: `manage`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/ping", tag = "webhooks", params(("id" = i64, Path)), request_body(content = Option<TestEventRequest>), responses((status = 422, description = "Invalid input, messages by field", body = ErrorBody), (status = 200, body = PingResult), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict (name taken, signing off)", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn send_ping(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let token = bearer::management(&state, &request, Scope::Manage).await?;
    let id = id.into_inner();
    let secrets = state.secrets.clone();
    let requested_by = format!("api token {}", token.name);
    let test = test_event_of(&state, id, &requested_by, payload).await?;
    let prepared = state
        .attempt(move |conn| ping::prepare(conn, id, &requested_by, test, &secrets))
        .await?
        .map_err(|err| match err {
            crate::delivery::target::TargetError::Database(err) => ApiError::from(err),
            crate::delivery::target::TargetError::Unusable(problem) => ApiError::Conflict(problem),
        })?
        .ok_or(WebhookError::NotFound)?;
    let exchange = ping::send(&state.outbound, &prepared).await;
    let result = state
        .run(move |conn| ping::finish(conn, prepared, exchange))
        .await?;
    let event_type = result.event_type.clone();
    let (status, body, error_kind, error_message) = match &result.exchange.result {
        Ok(answer) => (
            Some(answer.status),
            Some(answer.body_excerpt.clone()),
            None,
            None,
        ),
        Err(failure) => (
            None,
            None,
            Some(failure.kind.as_str().to_owned()),
            Some(failure.message.clone()),
        ),
    };
    Ok(HttpResponse::Ok().json(PingResult {
        test_id: result.test_id,
        event_type,
        delivered: result.delivered,
        response_status: status,
        duration_ms: result.exchange.duration.as_millis() as u64,
        response_body: body,
        error_kind,
        error_message,
    }))
}

/// List the event catalog
///
/// Every event type a webhook can subscribe to, with a description and an example payload. Scope:
/// `read` or `manage`.
#[utoipa::path(get, path = "/api/v1/event-types", tag = "event types", responses((status = 200, body = ListPage<EventTypeView>), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token lacks the scope", body = ErrorBody), (status = 429, description = "Over the token's rate; see Retry-After", body = ErrorBody)), security(("bearer" = [])))]
pub async fn event_types(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    bearer::management(&state, &request, Scope::Read).await?;
    let types = state.run(event_type::all).await?;
    let results: Vec<EventTypeView> = types
        .into_iter()
        .map(|t| EventTypeView {
            name: t.name,
            category: t.category,
            description: t.description,
            example_payload: t.example_payload,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListPage {
        count: results.len() as i64,
        count_capped: false,
        next: None,
        previous: None,
        results,
    }))
}
