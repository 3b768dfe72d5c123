//! `/deliveries/{id}`: the event's payload, the exact body Herald sends, every attempt with
//! its request and response, and what the retry schedule does next.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::delivery::body;
use crate::delivery::payload::{Content, OutgoingEvent};
use crate::error::AppError;
use crate::model::delivery::{self, Delivery};
use crate::model::delivery_attempt::{self, Attempt};
use crate::model::event;
use crate::model::webhook::{self, Webhook};
use crate::web::page::{PageContext, render};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "deliveries/show.html")]
struct ShowPage {
    ctx: PageContext,
    delivery: Delivery,
    webhook: Webhook,
    /// Pretty-printed payloads: one, or each event of a batch (id, type, occurred, payload).
    events: Vec<(Uuid, String, DateTime<Utc>, String)>,
    /// The body of the next attempt (or of the last one, once finished), pretty-printed.
    body: String,
    body_attempt: i32,
    attempts: Vec<AttemptView>,
    schedule: Vec<(i32, String)>,
    remaining: i32,
    rendered_at: DateTime<Utc>,
}

/// An attempt with its header maps as sorted pairs for the template.
struct AttemptView {
    attempt: Attempt,
    request_headers: Vec<(String, String)>,
    response_headers: Vec<(String, String)>,
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let loaded = state
        .run(move |conn| {
            let Some(found) = delivery::find(conn, id)? else {
                return Ok(None);
            };
            let hook = webhook::find(conn, found.webhook_id)?;
            let events: Vec<OutgoingEvent> = match found.event_id {
                Some(event_id) => event::find(conn, event_id)?
                    .into_iter()
                    .map(|e| OutgoingEvent {
                        id: e.id,
                        event_type: e.event_type,
                        occurred_at: e.occurred_at,
                        payload: e.payload.to_string(),
                    })
                    .collect(),
                None => delivery::batch_events(conn, &[id])?
                    .into_iter()
                    .map(|e| OutgoingEvent {
                        id: e.event_id,
                        event_type: e.event_type,
                        occurred_at: e.occurred_at,
                        payload: e.payload,
                    })
                    .collect(),
            };
            let attempts = delivery_attempt::for_delivery(conn, id)?;
            Ok::<_, diesel::result::Error>(hook.map(|h| (found, h, events, attempts)))
        })
        .await?;
    let (delivery, webhook, events, attempts) = loaded.ok_or(AppError::NotFound)?;

    let finished = !matches!(delivery.status.as_str(), "pending" | "delivering");
    let body_attempt = if finished {
        delivery.attempts.max(1)
    } else {
        delivery.attempts + 1
    };
    let content = if delivery.event_id.is_some() {
        events.first().cloned().map(Content::Single)
    } else {
        Some(Content::Batch(events.clone()))
    };
    let standards = webhook.standards_settings();
    let shape = body::Shape {
        webhook_id: webhook.id,
        format: webhook.payload_format(),
        standards: standards.as_ref(),
    };
    let sent_at = delivery.last_attempt_at.unwrap_or_else(Utc::now);
    let body = content
        .map(
            |c| match body::build(shape, delivery.id, body_attempt, &c, sent_at) {
                Ok(bytes) => pretty(&bytes),
                Err(problem) => format!("(nothing is sent: {problem})"),
            },
        )
        .unwrap_or_default();
    let policy = webhook.retry();
    let max = policy.max_attempts();
    let remaining = if finished {
        0
    } else {
        (max - delivery.attempts).max(0)
    };
    // The waits after the next attempt, should it fail too.
    let schedule = if finished {
        Vec::new()
    } else {
        (body_attempt + 1..=max)
            .take(6)
            .filter_map(|n| policy.delay_before(n).map(|d| (n, humanize(d.as_secs()))))
            .collect()
    };
    render(&ShowPage {
        ctx: ctx.in_section("deliveries"),
        events: events
            .into_iter()
            .map(|e| {
                (
                    e.id,
                    e.event_type,
                    e.occurred_at,
                    pretty(e.payload.as_bytes()),
                )
            })
            .collect(),
        body,
        body_attempt,
        // Newest first: the attempt people look for is the last one.
        attempts: attempts.into_iter().rev().map(AttemptView::from).collect(),
        schedule,
        remaining,
        delivery,
        webhook,
        rendered_at: Utc::now(),
    })
}

impl From<Attempt> for AttemptView {
    fn from(attempt: Attempt) -> Self {
        Self {
            request_headers: pairs(Some(&attempt.request_headers)),
            response_headers: pairs(attempt.response_headers.as_ref()),
            attempt,
        }
    }
}

fn pairs(map: Option<&serde_json::Value>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = map
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs
}

/// JSON text indented for reading (as it was, if it does not parse).
fn pretty(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// 90 → "1 min 30 s", 7200 → "2 h".
pub fn humanize(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}
