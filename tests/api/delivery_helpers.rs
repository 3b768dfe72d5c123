//! Shared steps of the ingest and delivery tests: webhooks stored through the same service
//! the console uses, ingest tokens, posting events, reading the queue.

use diesel::prelude::*;
use herald::db::schema::{deliveries, delivery_attempts};
use herald::domain::secret_box::SecretBox;
use herald::model::audit::Actor;
use herald::model::delivery::Delivery;
use herald::model::delivery_attempt::Attempt;
use herald::model::webhook::Webhook;
use herald::tokens::{self, Scope};
use herald::webhooks::input::{ParseContext, WebhookInput};
use herald::webhooks::service;
use herald::webhooks::signing::SigningSecret;

use crate::helpers::TestApp;

/// A webhook to `url` for `course.completed`, with a quick custom retry schedule (1 s apart,
/// 3 attempts) unless `configure` says otherwise.
pub async fn create_webhook(
    app: &TestApp,
    url: &str,
    configure: impl FnOnce(&mut WebhookInput),
) -> (Webhook, Option<SigningSecret>) {
    let mut input = WebhookInput::defaults();
    input.name = format!("hook-{}", uuid::Uuid::now_v7().simple());
    input.endpoint_url = url.to_owned();
    input.events = vec!["course.completed".into()];
    input.retry_policy = "custom".into();
    input.retry_initial_seconds = "1".into();
    input.retry_factor = "1".into();
    input.retry_max_delay_seconds = "1".into();
    input.retry_max_attempts = "3".into();
    input.timeout_seconds = "2".into();
    configure(&mut input);
    let secrets = app.secrets.clone();
    app.with_conn(move |conn| store_webhook(conn, &input, &secrets))
        .await
}

/// Stores the webhook `input` describes (plain http allowed) through the console's service.
pub fn store_webhook(
    conn: &mut PgConnection,
    input: &WebhookInput,
    secrets: &SecretBox,
) -> (Webhook, Option<SigningSecret>) {
    let catalog = herald::model::event_type::names(conn).unwrap();
    let spec = input
        .parse(&ParseContext {
            allow_http: true,
            catalog: &catalog,
            has_auth_header: false,
            header_names: &[],
        })
        .expect("a valid webhook");
    service::create(conn, &Actor::system(), &spec, secrets).unwrap()
}

pub async fn token(app: &TestApp, scope: Scope) -> String {
    app.with_conn(move |conn| {
        let (_, plain) = tokens::create(conn, &Actor::system(), "test client", scope).unwrap();
        plain.expose().to_owned()
    })
    .await
}

pub async fn post_events(
    app: &TestApp,
    token: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/events", app.address))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Posts one `course.completed` and returns its event id.
pub async fn emit(app: &TestApp, token: &str, data: serde_json::Value) -> String {
    let response = post_events(
        app,
        token,
        &serde_json::json!({ "type": "course.completed", "data": data }),
    )
    .await;
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

pub async fn deliveries_of(app: &TestApp, webhook_id: i64) -> Vec<Delivery> {
    app.with_conn(move |conn| {
        deliveries::table
            .filter(deliveries::webhook_id.eq(webhook_id))
            .order(deliveries::created_at)
            .select(Delivery::as_select())
            .load(conn)
            .unwrap()
    })
    .await
}

pub async fn attempts_of(app: &TestApp, delivery_id: uuid::Uuid) -> Vec<Attempt> {
    app.with_conn(move |conn| {
        delivery_attempts::table
            .filter(delivery_attempts::delivery_id.eq(delivery_id))
            .order(delivery_attempts::number)
            .select(Attempt::as_select())
            .load(conn)
            .unwrap()
    })
    .await
}

/// Waits until the webhook's only delivery reaches `status`, and returns it.
pub async fn delivery_reaches(app: &TestApp, webhook_id: i64, status: &str) -> Delivery {
    crate::helpers::eventually(
        std::time::Duration::from_secs(15),
        &format!("a delivery of webhook {webhook_id} to be {status}"),
        || async {
            deliveries_of(app, webhook_id)
                .await
                .into_iter()
                .find(|d| d.status == status)
        },
    )
    .await
}

pub async fn webhook(app: &TestApp, id: i64) -> Webhook {
    app.with_conn(move |conn| herald::model::webhook::find(conn, id).unwrap().unwrap())
        .await
}

/// The webhook's flow state (breaker, ramp, pause) as stored.
pub async fn flow_of(app: &TestApp, webhook_id: i64) -> herald::model::webhook_flow::WebhookFlow {
    use herald::db::schema::webhook_flow;
    app.with_conn(move |conn| {
        webhook_flow::table
            .find(webhook_id)
            .select(herald::model::webhook_flow::WebhookFlow::as_select())
            .first(conn)
            .unwrap()
    })
    .await
}
