//! The webhook detail page: every setting (secrets masked), subscriptions, who changed what.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::delivery::breaker::BreakerSettings;
use crate::error::AppError;
use crate::model::audit::{self, AuditEntry};
use crate::model::delivery;
use crate::model::delivery_attempt::{self, Attempt};
use crate::model::delivery_list::{self, Cursor, DeliveryFilter, ListedDelivery};
use crate::model::health::{self, WebhookHealth};
use crate::model::webhook::{self, Webhook};
use crate::model::webhook_flow;
use crate::web::charts;
use crate::web::input::Query;
use crate::web::page::{PageContext, render};
use crate::web::state::AppState;
use crate::webhooks::flow_state::Flow;
use crate::webhooks::service;

#[derive(Template)]
#[template(path = "webhooks/show.html")]
struct ShowPage {
    ctx: PageContext,
    webhook: Webhook,
    events: Vec<String>,
    header_names: Vec<String>,
    masked_secret: Option<String>,
    previous_secret_until: Option<String>,
    history: Vec<AuditEntry>,
    test_result: Option<TestResult>,
    health: WebhookHealth,
    recent: Vec<ListedDelivery>,
    flow: Flow,
    /// When this process's worker opens the breaker and how often it probes.
    breaker: BreakerSettings,
    /// Attempts per hour over the last 24 h (inline SVG made by `charts`).
    activity_svg: String,
}

impl ShowPage {
    /// "5 s", "5 min": a probe interval for the flow section's explanation.
    fn seconds_text(&self, duration: &std::time::Duration) -> String {
        let seconds = duration.as_secs();
        if seconds >= 60 && seconds.is_multiple_of(60) {
            format!("{} min", seconds / 60)
        } else {
            format!("{seconds} s")
        }
    }
}

/// The attempt of a test ping, shown after "Send test event".
struct TestResult {
    attempt: Attempt,
    delivered: bool,
    response_headers: Vec<(String, String)>,
}

#[derive(Debug, serde::Deserialize)]
pub struct ShowQuery {
    test: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
    query: Query<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let test_id = query
        .test
        .as_deref()
        .and_then(|raw| uuid::Uuid::parse_str(raw).ok());
    let now = chrono::Utc::now();
    let since = now - chrono::Duration::hours(24);
    let (found, events, headers, history, test_result, mut health, recent, flow, hourly) = state
        .run(move |conn| {
            let recent = delivery_list::page(
                conn,
                &DeliveryFilter {
                    webhook_id: Some(id),
                    ..Default::default()
                },
                Cursor::Newest,
                10,
            )?;
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                webhook::events_of(conn, id)?,
                webhook::headers_of(conn, id)?,
                audit::for_target(conn, "webhook", &id.to_string())?,
                test_id
                    .map(|d| test_result(conn, id, d))
                    .transpose()?
                    .flatten(),
                health::for_webhooks(conn, &[id])?,
                recent.items,
                webhook_flow::of_webhooks(conn, &[id])?.pop(),
                crate::model::activity::hourly(conn, Some(id), since)?,
            ))
        })
        .await?;
    let webhook = found.ok_or(AppError::NotFound)?;
    let masked_secret = service::masked_secret(&webhook, &state.secrets);
    let previous_secret_until = webhook
        .previous_secret_active(chrono::Utc::now())
        .then(|| {
            webhook
                .previous_secret_expires_at
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        })
        .flatten();
    render(&ShowPage {
        ctx: ctx.in_section("webhooks"),
        webhook,
        events,
        header_names: headers.into_iter().map(|h| h.name).collect(),
        masked_secret,
        previous_secret_until,
        history: history.into_iter().take(20).collect(),
        test_result,
        health: health.remove(&id).unwrap_or_default(),
        recent,
        flow: Flow::of(flow.as_ref(), chrono::Utc::now()),
        breaker: state.settings.worker.breaker,
        activity_svg: charts::hourly_svg(
            &charts::last_day(&hourly, now),
            "Delivery attempts per hour for this webhook",
        ),
    })
}

/// The last attempt of a test delivery, if it belongs to this webhook.
fn test_result(
    conn: &mut diesel::PgConnection,
    webhook_id: i64,
    delivery_id: uuid::Uuid,
) -> diesel::QueryResult<Option<TestResult>> {
    let Some(found) = delivery::find(conn, delivery_id)? else {
        return Ok(None);
    };
    if found.webhook_id != webhook_id {
        return Ok(None);
    }
    let Some(attempt) = delivery_attempt::for_delivery(conn, delivery_id)?.pop() else {
        return Ok(None);
    };
    let response_headers = attempt
        .response_headers
        .as_ref()
        .and_then(|h| h.as_object())
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(TestResult {
        delivered: found.status == delivery::STATUS_DELIVERED,
        attempt,
        response_headers,
    }))
}
