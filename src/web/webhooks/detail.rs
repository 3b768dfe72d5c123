//! The webhook detail page: every setting (secrets masked), subscriptions, who changed what.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::delivery::breaker::BreakerSettings;
use crate::delivery::ping::PING_EVENT;
use crate::error::AppError;
use crate::model::audit::{self, AuditEntry};
use crate::model::delivery_list::{self, Cursor, DeliveryFilter, ListedDelivery};
use crate::model::event_type::{self, EventType};
use crate::model::health::{self, WebhookHealth};
use crate::model::test_send::{self, TestSend};
use crate::model::webhook::{self, Webhook};
use crate::model::webhook_flow;
use crate::web::charts;
use crate::web::input::Query;
use crate::web::page::{PageContext, render_with};
use crate::web::state::AppState;
use crate::webhooks::flow_state::Flow;
use crate::webhooks::service;
use crate::webhooks::test_event::TestEventErrors;
use actix_web::http::StatusCode;

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
    test: TestPanel,
    health: WebhookHealth,
    recent: Vec<ListedDelivery>,
    flow: Flow,
    /// When this process's worker opens the breaker and how often it probes.
    breaker: BreakerSettings,
    /// Attempts per hour over the last 24 h (inline SVG made by `charts`).
    activity_svg: String,
    preview: super::body_preview::BodyPreview,
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

/// The "Test events" section: the form (type, payload, problems), the result just sent, and
/// the latest tests.
pub struct TestPanel {
    pub event_types: Vec<String>,
    pub event_type: String,
    pub payload: String,
    pub errors: TestEventErrors,
    pub result: Option<TestSend>,
    pub recent: Vec<TestSend>,
}

/// What the test form shows: a type to preload (its example payload), or what was typed.
pub enum TestForm {
    Example(Option<String>),
    Typed {
        event_type: String,
        payload: String,
        errors: TestEventErrors,
    },
}

#[derive(Debug, serde::Deserialize)]
pub struct ShowQuery {
    test: Option<String>,
    test_type: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
    query: Query<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let test_id = query
        .test
        .as_deref()
        .and_then(|raw| uuid::Uuid::parse_str(raw).ok());
    page(
        &state,
        ctx,
        id.into_inner(),
        test_id,
        TestForm::Example(query.test_type),
        StatusCode::OK,
    )
    .await
}

/// The page with this test form (after a refused test, what was typed and why).
pub async fn page(
    state: &AppState,
    ctx: PageContext,
    id: i64,
    test_id: Option<uuid::Uuid>,
    form: TestForm,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let now = chrono::Utc::now();
    let since = now - chrono::Duration::hours(24);
    let (found, events, headers, history, mut health, recent, flow, hourly, catalog, tests) = state
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
            let tests = (
                test_id
                    .map(|t| test_send::find(conn, id, t))
                    .transpose()?
                    .flatten(),
                test_send::recent(conn, id, RECENT_TESTS)?,
            );
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                webhook::events_of(conn, id)?,
                webhook::headers_of(conn, id)?,
                audit::for_target(conn, "webhook", &id.to_string())?,
                health::for_webhooks(conn, &[id])?,
                recent.items,
                webhook_flow::of_webhooks(conn, &[id])?.pop(),
                crate::model::activity::hourly(conn, Some(id), since)?,
                event_type::all(conn)?,
                tests,
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
    let (result, recent_tests) = tests;
    let test = test_panel(&catalog, &events, form, result, recent_tests);
    let preview = super::body_preview::of(&webhook, &events, &catalog);
    render_with(
        status,
        &ShowPage {
            ctx: ctx.in_section("webhooks"),
            webhook,
            events,
            header_names: headers.into_iter().map(|h| h.name).collect(),
            masked_secret,
            previous_secret_until,
            history: history.into_iter().take(20).collect(),
            test,
            health: health.remove(&id).unwrap_or_default(),
            recent,
            flow: Flow::of(flow.as_ref(), chrono::Utc::now()),
            breaker: state.settings.worker.breaker,
            activity_svg: charts::hourly_svg(
                &charts::last_day(&hourly, now),
                "Delivery attempts per hour for this webhook",
            ),
            preview,
        },
    )
}

/// How many earlier tests the page lists.
const RECENT_TESTS: i64 = 10;

/// The form preloaded with the chosen type's example (by default the first subscribed type
/// other than the ping, else `webhook.ping`), or with what was typed.
fn test_panel(
    catalog: &[EventType],
    subscribed: &[String],
    form: TestForm,
    result: Option<TestSend>,
    recent: Vec<TestSend>,
) -> TestPanel {
    let event_types: Vec<String> = catalog.iter().map(|t| t.name.clone()).collect();
    let (event_type, payload, errors) = match form {
        TestForm::Typed {
            event_type,
            payload,
            errors,
        } => (event_type, payload, errors),
        TestForm::Example(chosen) => {
            let chosen = chosen
                .filter(|t| event_types.contains(t))
                .unwrap_or_else(|| PING_EVENT.to_owned());
            let example = catalog
                .iter()
                .find(|t| t.name == chosen)
                .map(EventType::example_pretty)
                .unwrap_or_default();
            let _ = subscribed;
            (chosen, example, TestEventErrors::default())
        }
    };
    TestPanel {
        event_types,
        event_type,
        payload,
        errors,
        result,
        recent,
    }
}
