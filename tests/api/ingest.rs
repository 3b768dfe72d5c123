//! `POST /api/v1/events`: tokens and scopes, validation errors, idempotency, fan-out.

use diesel::prelude::*;
use herald::db::schema::events;
use herald::tokens::Scope;
use serde_json::{Value, json};

use crate::delivery_helpers::{create_webhook, deliveries_of, post_events, token};
use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with};

/// An app whose worker is off, so queued deliveries stay put for inspection.
async fn quiet_app() -> TestApp {
    spawn_app_with(|s| s.worker.enabled = false).await
}

async fn raw_post(
    app: &TestApp,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/events", app.address))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The status of posting JSON `body` with `token`.
async fn post_status(app: &TestApp, token: &str, body: Vec<u8>) -> u16 {
    raw_post(app, Some(token), "application/json", body)
        .await
        .status()
        .as_u16()
}

/// A `course.completed` event with no data, as a body.
fn empty_event() -> Vec<u8> {
    json!({ "type": "course.completed", "data": {} })
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn tokens_are_required_and_scoped() {
    let app = quiet_app().await;
    let event = empty_event();

    let missing = raw_post(&app, None, "application/json", event.clone()).await;
    assert_eq!(missing.status(), 401);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body: Value = missing.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );

    let unknown = raw_post(
        &app,
        Some("hrld_not-a-real-token"),
        "application/json",
        event.clone(),
    )
    .await;
    assert_eq!(unknown.status(), 401);
    assert!(
        unknown.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("not known")
    );

    let manage = token(&app, Scope::Manage).await;
    let wrong_scope = raw_post(&app, Some(&manage), "application/json", event.clone()).await;
    assert_eq!(wrong_scope.status(), 403);
    assert!(
        wrong_scope.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("ingest")
    );

    let ingest = token(&app, Scope::Ingest).await;
    assert_eq!(post_status(&app, &ingest, event.clone()).await, 202);
    // The scheme's name is case-insensitive (RFC 9110).
    let lower_case = reqwest::Client::new()
        .post(format!("{}/api/v1/events", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("bearer {ingest}"))
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(lower_case.status(), 202);

    let id = app
        .with_conn(|conn| {
            use herald::db::schema::api_tokens;
            api_tokens::table
                .filter(api_tokens::scope.eq("ingest"))
                .select(api_tokens::id)
                .first::<i64>(conn)
                .unwrap()
        })
        .await;
    app.with_conn(move |conn| {
        herald::tokens::revoke(conn, &herald::model::audit::Actor::system(), id).unwrap()
    })
    .await;
    let revoked = raw_post(&app, Some(&ingest), "application/json", event).await;
    assert_eq!(revoked.status(), 401);
    assert!(
        revoked.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

#[tokio::test]
async fn a_token_revoked_outside_this_process_is_refused_within_a_second() {
    let app = spawn_app().await;
    let event = empty_event();
    let ingest = token(&app, Scope::Ingest).await;
    assert_eq!(post_status(&app, &ingest, event.clone()).await, 202);
    // As another Herald process would revoke it: straight in the database.
    app.with_conn(|conn| {
        diesel::sql_query("UPDATE api_tokens SET revoked_at = now() WHERE scope = 'ingest'")
            .execute(conn)
            .unwrap()
    })
    .await;
    eventually(
        herald::ingest::recent_tokens::FRESH_FOR * 5,
        "the revoked token to be refused",
        || {
            let (app, ingest, event) = (&app, &ingest, event.clone());
            async move { (post_status(app, ingest, event).await == 401).then_some(()) }
        },
    )
    .await;
}

#[tokio::test]
async fn bad_bodies_get_clear_json_errors() {
    let app = quiet_app().await;
    let token = token(&app, Scope::Ingest).await;

    let malformed = raw_post(
        &app,
        Some(&token),
        "application/json",
        b"{\"type\": \"course.completed\",\n \"data\": {,}}".to_vec(),
    )
    .await;
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(
        (body["line"].as_u64(), body["column"].as_u64()),
        (Some(2), Some(11))
    );
    assert!(body["error"].as_str().unwrap().contains("not valid JSON"));

    let unknown = post_events(
        &app,
        &token,
        &json!([
            { "type": "course.completed", "data": {} },
            { "type": "course.exploded", "data": {} }
        ]),
    )
    .await;
    assert_eq!(unknown.status(), 422);
    let body: Value = unknown.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("course.exploded"));
    assert!(
        body["errors"]["events[1].type"][0]
            .as_str()
            .unwrap()
            .contains("course.exploded")
    );
    assert!(body["errors"].get("events[0].type").is_none());

    let extra_field = post_events(
        &app,
        &token,
        &json!({ "type": "course.completed", "data": {}, "colour": "red" }),
    )
    .await;
    assert_eq!(extra_field.status(), 422);
    assert!(
        extra_field.json::<Value>().await.unwrap()["errors"]["body"][0]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`")
    );

    let no_data = post_events(&app, &token, &json!({ "type": "course.completed" })).await;
    assert_eq!(no_data.status(), 422);

    let too_many: Vec<Value> = (0..501)
        .map(|_| json!({ "type": "course.completed", "data": {} }))
        .collect();
    let response = post_events(&app, &token, &Value::Array(too_many)).await;
    assert_eq!(response.status(), 422);
    assert!(
        response.json::<Value>().await.unwrap()["errors"]["events"][0]
            .as_str()
            .unwrap()
            .contains("at most 500")
    );

    let huge = json!({ "type": "course.completed", "data": { "blob": "x".repeat(300 * 1024) } });
    let response = post_events(&app, &token, &huge).await;
    assert_eq!(response.status(), 413);
    assert!(
        response.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("262144")
    );

    let form = raw_post(
        &app,
        Some(&token),
        "application/x-www-form-urlencoded",
        b"type=x".to_vec(),
    )
    .await;
    assert_eq!(form.status(), 415);

    let stored = app
        .with_conn(|conn| events::table.count().get_result::<i64>(conn).unwrap())
        .await;
    assert_eq!(stored, 0, "nothing is stored from a rejected request");
}

#[tokio::test]
async fn an_idempotency_key_seen_before_returns_the_first_event() {
    let app = quiet_app().await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/hook", |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    let event =
        json!({ "type": "course.completed", "data": { "user": 1 }, "idempotency_key": "enrol-42" });

    let first: Value = post_events(&app, &token, &event)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["duplicate"], false);
    let again = post_events(&app, &token, &event).await;
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["duplicate"], true);

    // In an array too, alongside a new event.
    let batch: Value = post_events(
        &app,
        &token,
        &json!([event, { "type": "course.completed", "data": {}, "idempotency_key": "enrol-43" }]),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(batch["ids"][0], first["id"]);
    assert_eq!(batch["duplicates"], 1);

    let stored = app
        .with_conn(|conn| events::table.count().get_result::<i64>(conn).unwrap())
        .await;
    assert_eq!(stored, 2);
    assert_eq!(
        deliveries_of(&app, hook.id).await.len(),
        2,
        "no delivery for a repeat"
    );
}

#[tokio::test]
async fn each_enabled_subscriber_gets_one_delivery_and_occurred_at_is_kept() {
    let app = quiet_app().await;
    let url = "http://127.0.0.1:9/hook";
    let (subscribed, _) = create_webhook(&app, url, |_| {}).await;
    let (everything, _) = create_webhook(&app, url, |i| {
        i.all_events = Some("on".into());
        i.events = vec![];
    })
    .await;
    let (other_event, _) =
        create_webhook(&app, url, |i| i.events = vec!["badge.awarded".into()]).await;
    let (disabled, _) = create_webhook(&app, url, |i| i.enabled = None).await;
    let token = token(&app, Scope::Ingest).await;

    let response = post_events(
        &app,
        &token,
        &json!({
            "type": "course.completed",
            "data": { "course": { "id": 7 } },
            "occurred_at": "2026-03-01T08:30:00.250+01:00"
        }),
    )
    .await;
    assert_eq!(response.status(), 202);
    let id: uuid::Uuid = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    assert_eq!(deliveries_of(&app, subscribed.id).await.len(), 1);
    assert_eq!(deliveries_of(&app, everything.id).await.len(), 1);
    assert!(deliveries_of(&app, other_event.id).await.is_empty());
    assert!(
        deliveries_of(&app, disabled.id).await.is_empty(),
        "disabled webhooks get nothing queued"
    );
    let delivery = &deliveries_of(&app, subscribed.id).await[0];
    assert_eq!(delivery.event_id, Some(id));
    assert_eq!(delivery.status, "pending");

    let stored = app
        .with_conn(move |conn| herald::model::event::find(conn, id).unwrap().unwrap())
        .await;
    assert_eq!(
        stored.occurred_at.to_rfc3339(),
        "2026-03-01T07:30:00.250+00:00"
    );
    assert_eq!(stored.payload["course"]["id"], 7);
    assert_eq!(stored.source, "api token test client");
}

#[tokio::test]
async fn the_delete_confirmation_counts_what_is_still_queued() {
    let app = quiet_app().await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/hook", |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    for _ in 0..3 {
        crate::delivery_helpers::emit(&app, &token, json!({})).await;
    }
    app.login_as(herald::domain::role::Role::Manager).await;
    let page = app.get_html(&format!("/webhooks/{}/delete", hook.id)).await;
    assert!(page.contains("3 deliveries still queued"), "{page}");
}
