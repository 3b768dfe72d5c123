//! Custom header names a receiver or its proxy could take as the client's own (cookies, proxy
//! credentials, forwarding information) and overlong names are refused, in the console (beside
//! the field) and in the API (422 naming `headers`); nothing is saved.

use diesel::prelude::*;
use herald::db::schema::webhooks;
use herald::domain::role::Role;
use herald::tokens::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_helpers::token;
use crate::helpers::{TestApp, spawn_app};

async fn webhook_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| webhooks::table.count().get_result(conn).unwrap())
        .await
}

#[tokio::test]
async fn the_console_refuses_them_beside_the_custom_headers_field() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let long = format!("X-{}", "n".repeat(255));
    for (name, message) in [
        ("Cookie", "Cookie cannot be a custom header"),
        (
            "proxy-authorization",
            "proxy-authorization cannot be a custom header",
        ),
        (
            "X-Forwarded-For",
            "X-Forwarded-For cannot be a custom header",
        ),
        ("Forwarded", "Forwarded cannot be a custom header"),
        (
            long.as_str(),
            "Row 1: use a header name of at most 256 characters.",
        ),
    ] {
        let response = app
            .post_form(
                "/webhooks/new",
                &[
                    ("name", "Headers"),
                    ("endpoint_url", "https://hr.example.com/hooks/lms"),
                    ("all_events", "on"),
                    ("header_name", name),
                    ("header_value", "value"),
                    ("timeout_seconds", "15"),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}"
        );
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!(
                "<ul class=\"field-error\" id=\"headers-error\"><li>{message}"
            )),
            "{name}: {html}"
        );
    }
    assert_eq!(webhook_count(&app).await, 0);
}

#[tokio::test]
async fn the_api_answers_422_naming_the_headers_field() {
    let app = spawn_app().await;
    let manage = token(&app, Scope::Manage).await;
    for name in ["COOKIE", "X-Forwarded-Host", &"a".repeat(257)] {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/webhooks", app.address))
            .bearer_auth(&manage)
            .json(&json!({
                "name": "Headers", "endpoint_url": "https://hr.example.com/hooks/lms",
                "all_events": true, "headers": [{"name": name, "value": "v"}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        let message = body["errors"]["headers"][0].as_str().unwrap();
        assert!(
            message.contains("cannot be a custom header") || message.contains("at most 256"),
            "{name}: {body}"
        );
    }
    assert_eq!(webhook_count(&app).await, 0);
}
