//! Each webhook's delivery flow as administrators see it: healthy, failing (breaker open),
//! paused by the receiver, recovering — on the webhook list, the webhook page, the dashboard
//! and in the API; and attempts whose outcome nobody knows (the worker stopped mid-request).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use herald::db::schema::{deliveries, webhook_flow};
use herald::domain::role::Role;
use herald::model::webhook::Webhook;
use herald::model::webhook_flow::WebhookFlow;
use herald::tokens::Scope;
use serde_json::Value;

use crate::delivery_helpers::{create_webhook, deliveries_of, emit, flow_of, token};
use crate::helpers::{TestApp, spawn_app_with};

/// The app without its delivery worker, so nothing moves the flow states the tests set.
async fn app_without_worker() -> TestApp {
    spawn_app_with(|settings| settings.worker.enabled = false).await
}

async fn named(app: &TestApp, name: &str) -> Webhook {
    create_webhook(app, "https://receiver.example.com/hook", |input| {
        input.name = name.into();
    })
    .await
    .0
}

/// Opens the breaker of `webhook_id` as the worker would: failing for 7 minutes, 12 failed
/// attempts in a row, the next probe in 40 s.
async fn set_failing(app: &TestApp, webhook_id: i64) -> WebhookFlow {
    app.with_conn(move |conn| {
        diesel::sql_query(
            "UPDATE webhook_flow SET circuit = 'failing', consecutive_failures = 12,
                    failing_since = now() - interval '7 minutes',
                    next_probe_at = now() + interval '40 seconds', probe_interval_seconds = 40
             WHERE webhook_id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(webhook_id)
        .execute(conn)
        .unwrap();
    })
    .await;
    flow_of(app, webhook_id).await
}

async fn api_get(app: &TestApp, token: &str, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

fn full(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The list row (`<tr>…</tr>`) that links to webhook `id`.
fn row_of(html: &str, id: i64) -> &str {
    let link = format!("<a href=\"/webhooks/{id}\"");
    let at = html.find(&link).expect("no row for the webhook");
    let start = html[..at].rfind("<tr>").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

#[tokio::test]
async fn a_failing_webhook_shows_its_state_on_the_list_page_dashboard_and_api() {
    let app = app_without_worker().await;
    let failing = named(&app, "Grades export").await;
    let healthy = named(&app, "HR onboarding").await;
    let flow = set_failing(&app, failing.id).await;
    app.login_as(Role::Viewer).await;

    let list = app.get_html("/webhooks").await;
    let row = row_of(&list, failing.id);
    // One compact badge; the breaker's details are in its tooltip.
    assert!(
        row.contains("class=\"health-badge health-bad\" title=\"Failing since "),
        "{row}"
    );
    assert!(row.contains(" · next probe "), "{row}");
    assert!(row.contains(">failing · 12 in a row</span>"), "{row}");
    let other = row_of(&list, healthy.id);
    assert!(
        other.contains("class=\"health-badge health-none\" title=\"Healthy")
            && other.contains(">no deliveries yet</span>"),
        "{other}"
    );

    let page = app.get_html(&format!("/webhooks/{}", failing.id)).await;
    assert!(page.contains("<h2 id=\"flow-heading\">Delivery flow</h2>"));
    assert!(
        page.contains("flow-failing status-bad\"><span class=\"flow-lead\">Failing</span> since")
    );
    assert!(page.contains(
        "<div class=\"flash flash-error flow-alert\" role=\"status\"><strong>Failing since "
    ));
    assert!(page.contains("<dt>Receiver failures in a row</dt><dd>12</dd>"));
    assert!(page.contains(&full(flow.failing_since.unwrap())));
    assert!(page.contains("<dt>Next probe</dt>"));
    assert!(page.contains(&full(flow.next_probe_at.unwrap())));
    assert!(page.contains("<dt>Max requests in flight</dt><dd>8</dd>"));
    assert!(page.contains(
        "queued deliveries are held, uncharged and in order, while one probe goes out at growing intervals"
    ));
    assert!(page.contains("When a probe succeeds, sending resumes and ramps up"));
    let calm = app.get_html(&format!("/webhooks/{}", healthy.id)).await;
    assert!(calm.contains("flow-healthy status-on\"><span class=\"flow-lead\">Healthy</span>"));
    assert!(!calm.contains("flow-alert"));
    assert!(!calm.contains("<dt>Next probe</dt>"));

    let dashboard = app.get_html("/").await;
    assert!(dashboard.contains("Failing receivers"));
    assert!(dashboard.contains("<strong class=\"status-bad\">1 failing</strong>"));
    assert!(dashboard.contains(&format!(
        "<a href=\"/webhooks/{}\"><strong>Grades export</strong></a>",
        failing.id
    )));
    assert!(!dashboard.contains("<strong>HR onboarding</strong>"));
    assert!(dashboard.contains("12 failed in a row"));

    let read = token(&app, Scope::Read).await;
    let one = api_get(&app, &read, &format!("/api/v1/webhooks/{}", failing.id)).await;
    assert_eq!(one["flow"]["state"], "failing");
    assert_eq!(one["flow"]["consecutive_failures"], 12);
    assert_eq!(one["flow"]["paused_until"], Value::Null);
    let since: DateTime<Utc> =
        serde_json::from_value(one["flow"]["failing_since"].clone()).unwrap();
    let probe: DateTime<Utc> =
        serde_json::from_value(one["flow"]["next_probe_at"].clone()).unwrap();
    assert_eq!(since, flow.failing_since.unwrap());
    assert_eq!(probe, flow.next_probe_at.unwrap());
    let list = api_get(&app, &read, "/api/v1/webhooks").await;
    let states: Vec<(&str, &str)> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap(),
                w["flow"]["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [("Grades export", "failing"), ("HR onboarding", "healthy")]
    );
}

#[tokio::test]
async fn a_paused_and_a_recovering_webhook_say_so() {
    let app = app_without_worker().await;
    let paused = named(&app, "Paced by receiver").await;
    let recovering = named(&app, "Back again").await;
    let until: DateTime<Utc> = app
        .with_conn(move |conn| {
            diesel::update(webhook_flow::table.find(recovering.id))
                .set(webhook_flow::ramp.eq(2))
                .execute(conn)
                .unwrap();
            diesel::update(webhook_flow::table.find(paused.id))
                .set(webhook_flow::paused_until.eq(Utc::now() + chrono::Duration::minutes(2)))
                .returning(webhook_flow::paused_until)
                .get_result::<Option<DateTime<Utc>>>(conn)
                .unwrap()
                .unwrap()
        })
        .await;
    app.login_as(Role::Manager).await;

    let list = app.get_html("/webhooks").await;
    let row = row_of(&list, paused.id);
    let shown = if until.date_naive() == Utc::now().date_naive() {
        until.format("%H:%M:%S").to_string()
    } else {
        until.format("%m-%d %H:%M").to_string()
    };
    assert!(
        row.contains(&format!("title=\"Paused until {shown} (receiver asked)"))
            && row.contains(&format!(">paused · until {shown}</span>")),
        "{row}"
    );
    let row = row_of(&list, recovering.id);
    assert!(
        row.contains("class=\"health-badge health-warn\" title=\"Recovering (up to 2 at once)")
            && row.contains(">recovering · up to 2 at once</span>"),
        "{row}"
    );

    let page = app.get_html(&format!("/webhooks/{}", paused.id)).await;
    assert!(page.contains("<dt>Paused until</dt>"));
    assert!(page.contains(&full(until)));
    assert!(page.contains("the receiver answered 429 with Retry-After"));

    let dashboard = app.get_html("/").await;
    assert!(dashboard.contains("1 paused by the receiver"));
    assert!(!dashboard.contains("failing</strong>"));
    assert!(dashboard.contains("<strong>Paced by receiver</strong>"));
    assert!(!dashboard.contains("<strong>Back again</strong>"));

    let read = token(&app, Scope::Read).await;
    let one = api_get(&app, &read, &format!("/api/v1/webhooks/{}", paused.id)).await;
    assert_eq!(one["flow"]["state"], "paused");
    let at: DateTime<Utc> = serde_json::from_value(one["flow"]["paused_until"].clone()).unwrap();
    assert_eq!(at, until);
    assert_eq!(one["flow"]["failing_since"], Value::Null);
    let one = api_get(&app, &read, &format!("/api/v1/webhooks/{}", recovering.id)).await;
    assert_eq!(one["flow"]["state"], "recovering");
    assert_eq!(one["flow"]["recovering_in_flight"], 2);
}

#[tokio::test]
async fn an_attempt_of_unknown_outcome_says_the_worker_stopped() {
    let app = app_without_worker().await;
    let hook = named(&app, "Lost in flight").await;
    let ingest = token(&app, Scope::Ingest).await;
    emit(&app, &ingest, serde_json::json!({})).await;
    let delivery = deliveries_of(&app, hook.id).await.remove(0);
    // A worker took it and died: its lease ran out, another worker takes it back.
    let taken_back = app
        .with_conn(move |conn| {
            diesel::update(deliveries::table.find(delivery.id))
                .set((
                    deliveries::status.eq("delivering"),
                    deliveries::leased_by.eq("worker-gone"),
                    deliveries::lease_until.eq(Utc::now() - chrono::Duration::seconds(1)),
                ))
                .execute(conn)
                .unwrap();
            herald::model::delivery::reclaim_expired(conn).unwrap()
        })
        .await;
    assert_eq!(taken_back, 1);
    app.login_as(Role::Viewer).await;

    let page = app.get_html(&format!("/deliveries/{}", delivery.id)).await;
    assert!(
        page.contains("<span class=\"status status-warn\">outcome unknown: worker stopped</span>"),
        "{page}"
    );
    assert!(page.contains("worker_lost"));
    let dashboard = app.get_html("/").await;
    assert!(
        dashboard.contains("<span class=\"status-warn\">outcome unknown: worker stopped</span>")
    );

    let read = token(&app, Scope::Read).await;
    let detail = api_get(&app, &read, &format!("/api/v1/deliveries/{}", delivery.id)).await;
    assert_eq!(detail["history"][0]["outcome"], "unknown", "{detail}");
    assert_eq!(detail["history"][0]["error_kind"], "worker_lost");
}
