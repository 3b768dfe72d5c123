//! Receiver secrets stay write-only across a change of host: a manager who points a webhook at
//! another origin (scheme, host or port) must enter the stored secrets again or drop them; blank
//! fields never carry them over, in the console or the API, and the audit log says which
//! secrets were set, replaced or cleared (never their values).

use base64::Engine;
use herald::domain::role::Role;
use herald::model::audit;
use herald::tokens::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_helpers::{token, webhook};
use crate::helpers::{TestApp, assert_redirects_to, spawn_app_with};
use crate::receiver::{Received, Receiver};

const OLD_PASSWORD: &str = "old-basic-password";
const OLD_API_KEY: &str = "old-api-key-value";

async fn app() -> TestApp {
    // Pings only: no worker sending in the background.
    spawn_app_with(|s| s.worker.enabled = false).await
}

/// The console form for a webhook to `url` with Basic auth and an X-Api-Key header; `secrets`
/// = (password, header value) as typed (blank = keep on edit).
fn form(url: &str, secrets: (&str, &str)) -> Vec<(&'static str, String)> {
    [
        ("name", "HR system"),
        ("endpoint_url", url),
        ("all_events", "on"),
        ("dispatch_mode", "immediate"),
        ("auth_kind", "basic"),
        ("basic_username", "lms"),
        ("basic_password", secrets.0),
        ("header_name", "X-Api-Key"),
        ("header_value", secrets.1),
        ("retry_policy", "fixed"),
        ("on_client_error", "dead_letter"),
        ("timeout_seconds", "5"),
        ("enabled", "on"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

fn pairs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Creates the webhook in the console as the signed-in manager; returns its id.
async fn create_in_console(app: &TestApp, url: &str) -> i64 {
    let response = app
        .post_form(
            "/webhooks/new",
            &pairs(&form(url, (OLD_PASSWORD, OLD_API_KEY))),
        )
        .await;
    // Unsigned, so no secret page: straight to the webhook.
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.with_conn(|conn| {
        use diesel::prelude::*;
        use herald::db::schema::webhooks;
        webhooks::table
            .select(webhooks::id)
            .first::<i64>(conn)
            .unwrap()
    })
    .await
}

async fn last_update_details(app: &TestApp, id: i64) -> Value {
    app.with_conn(move |conn| {
        audit::for_target(conn, "webhook", &id.to_string())
            .unwrap()
            .into_iter()
            .find(|e| e.action == "webhook.updated")
            .expect("an update entry")
            .details
    })
    .await
}

fn basic(password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("lms:{password}"));
    format!("Basic {encoded}")
}

/// Whether any request `receiver` got carried the old credentials, in any header.
fn saw_old_credentials(requests: &[Received]) -> bool {
    let old_basic = basic(OLD_PASSWORD);
    requests.iter().any(|r| {
        r.headers
            .values()
            .any(|v| v.contains(OLD_API_KEY) || v.contains(&old_basic) || v.contains(OLD_PASSWORD))
    })
}

#[tokio::test]
async fn the_console_refuses_blank_secrets_for_a_new_host_and_the_test_event_never_reaches_it() {
    let app = app().await;
    let (first, second) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    app.login_as(Role::Manager).await;
    let id = create_in_console(&app, &first.url).await;

    // The edit form warns before anyone tries.
    let edit = app.get_html(&format!("/webhooks/{id}/edit")).await;
    let warning = "Leave blank to keep the current one. If you change the endpoint&#39;s host, scheme or port, enter it again: stored secrets are never sent to a new host.";
    assert!(edit.contains(warning), "{edit}");
    assert!(edit.contains("If you change the endpoint's host, scheme or port, enter each value again or remove the header"));

    // The attack: another host (another port here), secrets left blank.
    let response = app
        .post_form(
            &format!("/webhooks/{id}/edit"),
            &pairs(&form(&second.url, ("", ""))),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains(
        "<ul class=\"field-error\" id=\"basic_password-error\"><li>The endpoint&#39;s host, scheme or port changed: enter the password again (stored secrets are never sent to a new host).</li></ul>"
    ), "{html}");
    assert!(html.contains("enter the value of x-api-key again, or remove the header"));
    assert!(html.contains(&second.url), "the typed URL comes back");
    assert_eq!(
        webhook(&app, id).await.endpoint_url,
        first.url,
        "nothing saved"
    );

    // "Send test event" goes where the webhook still points, with its credentials.
    let response = app.post_form(&format!("/webhooks/{id}/test"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let at_first = first.wait_for(1).await;
    assert_eq!(at_first[0].header("authorization"), basic(OLD_PASSWORD));
    assert_eq!(at_first[0].header("x-api-key"), OLD_API_KEY);
    assert!(second.received().is_empty());

    // Dropping the secrets is allowed; then the new host gets none of them.
    let mut dropped = form(&second.url, ("", ""));
    dropped.retain(|(k, _)| !k.starts_with("header_"));
    for (key, value) in dropped.iter_mut() {
        if *key == "auth_kind" {
            *value = "none".into();
        }
    }
    let response = app
        .post_form(&format!("/webhooks/{id}/edit"), &pairs(&dropped))
        .await;
    assert_redirects_to(&response, &format!("/webhooks/{id}"));
    app.post_form(&format!("/webhooks/{id}/test"), &[]).await;
    let at_second = second.wait_for(1).await;
    assert!(!at_second[0].headers.contains_key("authorization"));
    assert!(!at_second[0].headers.contains_key("x-api-key"));
    assert!(!saw_old_credentials(&at_second));

    let details = last_update_details(&app, id).await;
    assert_eq!(details["endpoint_origin_changed"], true);
    assert_eq!(
        details["secrets"],
        json!({"auth.password": "cleared", "headers.x-api-key": "cleared"})
    );
    assert!(!details.to_string().contains(OLD_PASSWORD));
}

#[tokio::test]
async fn secrets_entered_again_in_the_console_go_to_the_new_host_and_are_audited_as_replaced() {
    let app = app().await;
    let (first, second) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    app.login_as(Role::Manager).await;
    let id = create_in_console(&app, &first.url).await;

    let response = app
        .post_form(
            &format!("/webhooks/{id}/edit"),
            &pairs(&form(&second.url, ("new-password", "new-api-key"))),
        )
        .await;
    assert_redirects_to(&response, &format!("/webhooks/{id}"));
    app.post_form(&format!("/webhooks/{id}/test"), &[]).await;
    let at_second = second.wait_for(1).await;
    assert_eq!(at_second[0].header("authorization"), basic("new-password"));
    assert_eq!(at_second[0].header("x-api-key"), "new-api-key");
    assert!(!saw_old_credentials(&at_second));
    assert!(first.received().is_empty());

    let details = last_update_details(&app, id).await;
    assert_eq!(details["endpoint_origin_changed"], true);
    assert_eq!(
        details["secrets"],
        json!({"auth.password": "replaced", "headers.x-api-key": "replaced"})
    );
    let text = details.to_string();
    assert!(!text.contains("new-password") && !text.contains("new-api-key"));
}

#[tokio::test]
async fn on_the_same_host_blank_fields_keep_the_secrets_as_before() {
    let app = app().await;
    let receiver = Receiver::start(vec![]).await;
    app.login_as(Role::Manager).await;
    let id = create_in_console(&app, &receiver.url).await;

    // Another path on the same scheme, host and port.
    let moved = receiver.url.replace("/hook", "/hooks/v2");
    let response = app
        .post_form(
            &format!("/webhooks/{id}/edit"),
            &pairs(&form(&moved, ("", ""))),
        )
        .await;
    assert_redirects_to(&response, &format!("/webhooks/{id}"));
    app.post_form(&format!("/webhooks/{id}/test"), &[]).await;
    let request = receiver.wait_for(1).await.remove(0);
    assert_eq!(request.header("authorization"), basic(OLD_PASSWORD));
    assert_eq!(request.header("x-api-key"), OLD_API_KEY);

    let details = last_update_details(&app, id).await;
    assert!(
        details.get("endpoint_origin_changed").is_none(),
        "{details}"
    );
    assert!(details.get("secrets").is_none(), "{details}");
    assert_eq!(details["changed"], json!(["endpoint_url"]));
}

/// An API client with a `manage` token.
struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl Api<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", self.app.address))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn the_api_refuses_put_and_patch_that_would_carry_secrets_to_a_new_host() {
    let app = app().await;
    let (first, second) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    let api = Api {
        app: &app,
        token: token(&app, Scope::Manage).await,
    };
    let (status, created) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            json!({
                "name": "Bearer hook", "endpoint_url": first.url, "all_events": true,
                "auth_kind": "header", "auth_header": format!("Bearer {OLD_API_KEY}"),
                "headers": [{"name": "X-Api-Key", "value": OLD_API_KEY}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/api/v1/webhooks/{}", created["id"]);

    // PATCH with the URL alone: every stored secret would be kept, so each is named.
    let (status, body) = api
        .send(
            reqwest::Method::PATCH,
            &path,
            json!({ "endpoint_url": second.url }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"],
        "The endpoint's host, scheme or port changed: enter the stored secrets again."
    );
    assert_eq!(
        body["errors"]["auth_header"][0],
        "The endpoint's host, scheme or port changed: enter the Authorization value again (stored secrets are never sent to a new host)."
    );
    assert!(
        body["errors"]["headers"][0]
            .as_str()
            .unwrap()
            .contains("enter the value of x-api-key again, or remove the header")
    );

    // PUT that keeps the kind and a header but sends no values: the same refusal.
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            &path,
            json!({
                "name": "Bearer hook", "endpoint_url": second.url, "all_events": true,
                "auth_kind": "header", "headers": [{"name": "X-Api-Key"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["errors"]["auth_header"].is_array() && body["errors"]["headers"].is_array());

    // Nothing moved: a ping still goes to the first receiver only.
    let ping = format!("{path}/ping");
    let (status, _) = api.send(reqwest::Method::POST, &ping, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        first.wait_for(1).await[0].header("authorization"),
        format!("Bearer {OLD_API_KEY}")
    );
    assert!(second.received().is_empty());

    // Entering the value again and dropping the header saves; the new host gets only that.
    let (status, body) = api
        .send(
            reqwest::Method::PATCH,
            &path,
            json!({ "endpoint_url": second.url, "auth_header": "Token fresh-value", "headers": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = api.send(reqwest::Method::POST, &ping, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let at_second = second.wait_for(1).await;
    assert_eq!(at_second[0].header("authorization"), "Token fresh-value");
    assert!(!at_second[0].headers.contains_key("x-api-key"));
    assert!(!saw_old_credentials(&at_second));

    let details = last_update_details(&app, created["id"].as_i64().unwrap()).await;
    assert_eq!(
        details["secrets"],
        json!({"auth.header": "replaced", "headers.x-api-key": "cleared"})
    );
    assert!(!details.to_string().contains("fresh-value"));
}
