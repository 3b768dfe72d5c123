//! The management API for webhooks: tokens and scopes, every endpoint, the error statuses, the
//! same validation as the console, the audit trail, and rate limiting.

use herald::domain::role::Role;
use herald::tokens::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_helpers::token;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::receiver::Receiver;

struct Api<'a> {
    app: &'a TestApp,
    token: String,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    async fn new(app: &'a TestApp, scope: Scope) -> Self {
        Self {
            token: token(app, scope).await,
            app,
            client: reqwest::Client::new(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.app.address))
            .bearer_auth(&self.token)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self.request(method, path).json(&body).send().await.unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }
}

fn hook(name: &str) -> Value {
    json!({
        "name": name,
        "endpoint_url": "https://hr.example.com/hooks/lms",
        "events": ["course.completed", "badge.awarded"],
        "auth_kind": "basic",
        "basic_username": "lms",
        "basic_password": "s3cret-pass",
        "headers": [{ "name": "X-Tenant", "value": "acme" }],
    })
}

#[tokio::test]
async fn tokens_need_the_right_scope() {
    let app = spawn_app().await;
    let anonymous = reqwest::Client::new()
        .get(format!("{}/api/v1/webhooks", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.json::<Value>().await.unwrap()["error"].is_string());

    let ingest = Api::new(&app, Scope::Ingest).await;
    assert_eq!(
        ingest.get("/api/v1/webhooks").await.0,
        StatusCode::FORBIDDEN
    );

    let read = Api::new(&app, Scope::Read).await;
    assert_eq!(read.get("/api/v1/webhooks").await.0, StatusCode::OK);
    assert_eq!(read.get("/api/v1/event-types").await.0, StatusCode::OK);
    let (status, body) = read.post("/api/v1/webhooks", hook("Nope")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].as_str().unwrap().contains("manage"));

    let manage = Api::new(&app, Scope::Manage).await;
    assert_eq!(
        manage.get("/api/v1/webhooks").await.0,
        StatusCode::OK,
        "manage includes read"
    );
}

#[tokio::test]
async fn a_webhook_is_created_read_changed_toggled_rotated_and_deleted() {
    let app = spawn_app().await;
    let api = Api::new(&app, Scope::Manage).await;

    let (status, created) = api.post("/api/v1/webhooks", hook("HR system")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let secret = created["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        created["events"],
        json!(["badge.awarded", "course.completed"])
    );
    assert_eq!(created["header_names"], json!(["x-tenant"]));
    let text = created.to_string();
    assert!(
        !text.contains("s3cret-pass") && !text.contains("acme"),
        "{text}"
    );

    let (status, shown) = api.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.get("signing_secret").is_none());
    assert!(
        shown["signing_secret_masked"]
            .as_str()
            .unwrap()
            .ends_with(&secret[secret.len() - 4..])
    );
    assert!(!shown.to_string().contains(&secret));

    let (status, patched) = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            json!({ "name": "HR system (EU)", "timeout_seconds": 20 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "HR system (EU)");
    assert_eq!(patched["timeout_seconds"], 20);
    assert_eq!(
        patched["auth_kind"], "basic",
        "PATCH keeps what it was not sent"
    );
    assert_eq!(patched["header_names"], json!(["x-tenant"]));

    let (status, replaced) = api
        .send(reqwest::Method::PUT, &format!("/api/v1/webhooks/{id}"), json!({ "name": "HR system", "endpoint_url": "https://hr.example.com/v2", "all_events": true }))
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["all_events"], true);
    assert_eq!(replaced["auth_kind"], "none", "PUT replaces");

    let (status, disabled) = api
        .post(
            &format!("/api/v1/webhooks/{id}/disable"),
            json!({ "reason": "receiver maintenance" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            disabled["enabled"].as_bool(),
            disabled["disabled_reason"].as_str()
        ),
        (Some(false), Some("receiver maintenance"))
    );
    let (_, enabled) = api
        .post(&format!("/api/v1/webhooks/{id}/enable"), json!({}))
        .await;
    assert_eq!(enabled["enabled"], true);

    let (status, rotated) = api
        .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated["signing_secret"].as_str().unwrap(), secret);

    let (status, list) = api.get("/api/v1/webhooks?q=HR").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["id"], id);

    let deleted = api
        .request(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, body) = api.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());

    // Every change is in the audit log under the token's name.
    app.login_as(Role::Admin).await;
    let html = app.get_html("/audit?target_type=webhook").await;
    for action in [
        "webhook.created",
        "webhook.updated",
        "webhook.disabled",
        "webhook.enabled",
        "webhook.secret_rotated",
        "webhook.deleted",
    ] {
        assert!(html.contains(action), "{action} missing");
    }
    assert!(html.contains("api token test client"));
}

#[tokio::test]
async fn lists_paginate_with_next_and_previous_links() {
    let app = spawn_app().await;
    let api = Api::new(&app, Scope::Manage).await;
    for n in 0..3 {
        assert_eq!(
            api.post("/api/v1/webhooks", hook(&format!("Hook {n}")))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    let (_, first) = api.get("/api/v1/webhooks?per_page=2").await;
    assert_eq!(first["count"], 3);
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert!(first["previous"].is_null());
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = api.get(&next).await;
    assert_eq!(second["results"].as_array().unwrap().len(), 1);
    assert!(second["next"].is_null());
    assert!(second["previous"].is_string());
}

#[tokio::test]
async fn bad_requests_get_the_right_status_and_field_messages() {
    let app = spawn_app().await;
    let api = Api::new(&app, Scope::Manage).await;
    assert_eq!(
        api.post("/api/v1/webhooks", hook("Taken")).await.0,
        StatusCode::CREATED
    );
    let (status, body) = api.post("/api/v1/webhooks", hook("taken")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, body) = api
        .post("/api/v1/webhooks", json!({ "name": "", "endpoint_url": "ftp://x", "events": ["course.exploded"], "retry_policy": "custom", "retry_max_attempts": 500 }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["name", "endpoint_url", "events", "retry_max_attempts"] {
        assert!(body["errors"][field][0].is_string(), "{field}: {body}");
    }
    let (status, body) = api
        .post("/api/v1/webhooks", json!({ "name": "x", "colour": "red" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["errors"]["body"][0]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`")
    );

    let malformed = api
        .request(reqwest::Method::POST, "/api/v1/webhooks")
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let text = api
        .request(reqwest::Method::POST, "/api/v1/webhooks")
        .header("Content-Type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = api
        .post(
            "/api/v1/webhooks",
            json!({ "name": "x", "description": "y".repeat(70 * 1024) }),
        )
        .await;
    assert_eq!(huge.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        api.get("/api/v1/webhooks/999999").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_console_and_the_api_give_the_same_messages_for_the_same_input() {
    let app = spawn_app().await;
    let api = Api::new(&app, Scope::Manage).await;
    let (_, body) = api
        .post("/api/v1/webhooks", json!({ "name": "S".repeat(121), "endpoint_url": "https://x.example.com", "timeout_seconds": 99, "dispatch_mode": "batched", "batch_window_minutes": 0, "max_in_flight": 0, "rate_limit_per_second": 20000 }))
        .await;
    app.login_as(Role::Manager).await;
    let html = app
        .post_form(
            "/webhooks/new",
            &[
                ("name", &"S".repeat(121)),
                ("endpoint_url", "https://x.example.com"),
                ("timeout_seconds", "99"),
                ("dispatch_mode", "batched"),
                ("batch_window_minutes", "0"),
                ("max_in_flight", "0"),
                ("rate_limit_per_second", "20000"),
                ("events", "course.completed"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    for field in [
        "name",
        "timeout_seconds",
        "batch_window_minutes",
        "max_in_flight",
        "rate_limit_per_second",
    ] {
        let message = body["errors"][field][0].as_str().unwrap();
        assert!(html.contains(message), "console lacks {message:?}");
    }
}

#[tokio::test]
async fn form_encoded_bodies_are_accepted_too() {
    let app = spawn_app().await;
    let api = Api::new(&app, Scope::Manage).await;
    let response = api
        .request(reqwest::Method::POST, "/api/v1/webhooks")
        .form(&[
            ("name", "Form made"),
            ("endpoint_url", "https://x.example.com/h"),
            ("events", "course.completed"),
            ("signing_enabled", "on"),
            ("enabled", "on"),
            ("timeout_seconds", "15"),
            ("retry_policy", "fixed"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["retry_policy"], "fixed");
}

#[tokio::test]
async fn a_ping_reports_what_the_receiver_answered() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![]).await;
    let api = Api::new(&app, Scope::Manage).await;
    let mut body = hook("Pinged");
    body["endpoint_url"] = json!(receiver.url);
    let (_, created) = api.post("/api/v1/webhooks", body).await;
    let (status, result) = api
        .post(
            &format!("/api/v1/webhooks/{}/ping", created["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["delivered"], true);
    assert_eq!(result["response_status"], 200);
    assert_eq!(
        receiver.wait_for(1).await[0].json()["event"],
        "webhook.ping"
    );
    assert!(result["test_id"].is_string());
    // Any catalog type with its own data; a bad one is a 422 naming the field.
    let (status, result) = api
        .post(
            &format!("/api/v1/webhooks/{}/ping", created["id"]),
            json!({ "event_type": "course.completed", "data": { "course": { "id": 9 } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["event_type"], "course.completed");
    let sent = receiver.wait_for(2).await[1].json();
    assert_eq!(sent["event"], "course.completed");
    assert_eq!(sent["body"]["course"]["id"], 9);
    let (status, result) = api
        .post(
            &format!("/api/v1/webhooks/{}/ping", created["id"]),
            json!({ "event_type": "nope", "data": [1] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        result["errors"]["event_type"].is_array() && result["errors"]["data"].is_array(),
        "{result}"
    );
    // Tests are not deliveries.
    let (_, deliveries) = api
        .get(&format!("/api/v1/deliveries?webhook={}", created["id"]))
        .await;
    assert_eq!(deliveries["count"], 0, "{deliveries}");
}

#[tokio::test]
async fn each_token_is_rate_limited_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.api_rate_per_second = std::num::NonZeroU32::new(1).unwrap();
        s.api_burst = std::num::NonZeroU32::new(3).unwrap();
    })
    .await;
    let api = Api::new(&app, Scope::Read).await;
    for _ in 0..3 {
        assert_eq!(api.get("/api/v1/webhooks").await.0, StatusCode::OK);
    }
    let limited = api
        .request(reqwest::Method::GET, "/api/v1/webhooks")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after));
    let other = Api::new(&app, Scope::Read).await;
    assert_eq!(
        other.get("/api/v1/webhooks").await.0,
        StatusCode::OK,
        "another token has its own budget"
    );
}

#[tokio::test]
async fn deliveries_and_dead_letters_are_read_and_replayed_over_the_api() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![
        crate::receiver::Reply::status(400),
        crate::receiver::Reply::status(400),
    ])
    .await;
    let (hook, _) = crate::delivery_helpers::create_webhook(&app, &receiver.url, |_| {}).await;
    let ingest = token(&app, Scope::Ingest).await;
    crate::delivery_helpers::emit(&app, &ingest, json!({ "n": 1 })).await;
    crate::delivery_helpers::emit(&app, &ingest, json!({ "n": 2 })).await;
    crate::helpers::eventually(
        std::time::Duration::from_secs(10),
        "two dead letters",
        || async {
            let all = crate::delivery_helpers::deliveries_of(&app, hook.id).await;
            (all.iter().filter(|d| d.status == "dead").count() == 2).then_some(())
        },
    )
    .await;
    let read = Api::new(&app, Scope::Read).await;
    let (status, list) = read.get("/api/v1/deliveries").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 2);
    assert_eq!(list["count_capped"], false);
    let id = list["results"][0]["id"].as_str().unwrap().to_owned();
    let (status, detail) = read.get(&format!("/api/v1/deliveries/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["history"][0]["response_status"], 400);
    assert_eq!(detail["dead_reason"], "receiver_4xx");
    let (_, dead) = read
        .get(&format!("/api/v1/dead-letters?webhook={}", hook.id))
        .await;
    assert_eq!(dead["count"], 2);
    // A filter that cannot be read is a bad query string: 400, by parameter.
    let (status, body) = read.get("/api/v1/deliveries?q=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["q"][0].is_string(), "{body}");
    assert_eq!(
        read.get(&format!("/api/v1/deliveries/{}", uuid::Uuid::now_v7()))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read.get("/api/v1/deliveries/not-a-uuid").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read.post("/api/v1/dead-letters/replay", json!({ "ids": [id] }))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    let manage = Api::new(&app, Scope::Manage).await;
    let (status, replayed) = manage
        .post("/api/v1/dead-letters/replay", json!({ "ids": [id] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["replayed"], 1);
    let (_, replayed) = manage
        .post(
            "/api/v1/dead-letters/replay",
            json!({ "filter": { "webhook": hook.id } }),
        )
        .await;
    assert_eq!(replayed["replayed"], 1);
    crate::helpers::eventually(
        std::time::Duration::from_secs(10),
        "both delivered",
        || async {
            let all = crate::delivery_helpers::deliveries_of(&app, hook.id).await;
            all.iter().all(|d| d.status == "delivered").then_some(())
        },
    )
    .await;
    let (status, again) = manage
        .post(&format!("/api/v1/deliveries/{id}/redeliver"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["attempt"], 3);
    let (status, body) = manage
        .post(
            "/api/v1/dead-letters/replay",
            json!({ "ids": [], "filter": {} }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = manage
        .post("/api/v1/dead-letters/replay", json!({ "idz": [] }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Discard: only dead letters are discarded (these two were delivered by now).
    let (status, discarded) = manage
        .post("/api/v1/dead-letters/discard", json!({ "ids": [id] }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(discarded["discarded"], 0);
    let (status, body) = manage.get("/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn the_api_sets_keeps_and_clears_the_delivery_limits() {
    let app = spawn_app().await;
    let api = Api::new(&app, Scope::Manage).await;
    let mut body = hook("Paced");
    body["max_in_flight"] = json!(32);
    body["rate_limit_per_second"] = json!(100);
    let (status, created) = api.post("/api/v1/webhooks", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["max_in_flight"], 32);
    assert_eq!(created["rate_limit_per_second"], 100);
    assert_eq!(created["flow"]["state"], "healthy");
    let one = format!("/api/v1/webhooks/{}", created["id"]);
    let (_, read) = api.get(&one).await;
    assert_eq!(
        (&read["max_in_flight"], &read["rate_limit_per_second"]),
        (&json!(32), &json!(100))
    );

    // PATCH: null clears the rate limit, absent keeps each field.
    let (api_ref, one_ref) = (&api, one.as_str());
    let patch = move |body: Value| api_ref.send(reqwest::Method::PATCH, one_ref, body);
    let (status, changed) = patch(json!({ "rate_limit_per_second": null })).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["rate_limit_per_second"], Value::Null);
    assert_eq!(changed["max_in_flight"], 32);
    let (_, changed) = patch(json!({ "max_in_flight": 2 })).await;
    assert_eq!(
        (&changed["max_in_flight"], &changed["rate_limit_per_second"]),
        (&json!(2), &Value::Null)
    );
    let (_, changed) = patch(json!({ "rate_limit_per_second": 5, "description": "x" })).await;
    assert_eq!(
        (&changed["max_in_flight"], &changed["rate_limit_per_second"]),
        (&json!(2), &json!(5))
    );
    // PUT replaces: absent = the defaults.
    let (status, replaced) = api.send(reqwest::Method::PUT, &one, hook("Paced")).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(
        (
            &replaced["max_in_flight"],
            &replaced["rate_limit_per_second"]
        ),
        (&json!(8), &Value::Null)
    );

    // Out of range: 422 with the console's messages, by field; nothing changes.
    for (field, value) in [
        ("max_in_flight", json!(0)),
        ("max_in_flight", json!(257)),
        ("max_in_flight", json!(4_294_967_296_i64)),
        ("rate_limit_per_second", json!(0)),
        ("rate_limit_per_second", json!(10_001)),
    ] {
        let mut body = hook("Too fast");
        body[field] = value.clone();
        let (status, answer) = api.post("/api/v1/webhooks", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field} {value}");
        assert!(
            answer["errors"][field][0]
                .as_str()
                .unwrap()
                .contains("from 1 to"),
            "{answer}"
        );
        let (status, answer) = patch(json!({ field: value })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer["errors"][field][0].is_string(), "{answer}");
    }
    let (status, answer) = patch(json!({ "max_in_flight": "lots" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["errors"]["body"][0].is_string());
    let (_, after) = api.get(&one).await;
    assert_eq!(
        (&after["max_in_flight"], &after["rate_limit_per_second"]),
        (&json!(8), &Value::Null)
    );

    // The audit names the fields an edit changed; read tokens change nothing.
    let id = after["id"].as_i64().unwrap().to_string();
    let entries = app
        .with_conn(move |conn| herald::model::audit::for_target(conn, "webhook", &id).unwrap())
        .await;
    let changes: Vec<&Value> = entries
        .iter()
        .filter(|e| e.action == "webhook.updated")
        .map(|e| &e.details["changed"])
        .collect();
    assert!(
        changes.contains(&&json!(["rate_limit_per_second"])),
        "{changes:?}"
    );
    assert!(changes.contains(&&json!(["max_in_flight"])), "{changes:?}");
    let read = Api::new(&app, Scope::Read).await;
    let (status, _) = read
        .send(reqwest::Method::PATCH, &one, json!({ "max_in_flight": 64 }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(api.get(&one).await.1["max_in_flight"], 8);
}
