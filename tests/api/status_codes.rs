//! The API's order and statuses: the token before the body (401, then 403, then 400/413/415/
//! 422), 405 with `Allow` for undeclared methods (API and console), 400 for query values that
//! cannot be read.

use herald::domain::role::Role;
use herald::tokens::Scope;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::delivery_helpers::{create_webhook, token};
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_token_is_checked_before_the_body() {
    let app = spawn_app().await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let read = token(&app, Scope::Read).await;
    let client = reqwest::Client::new();
    let bad_bodies: [(&str, &str, &[u8]); 4] = [
        ("application/json", "broken JSON", b"{\"ids\": ["),
        ("application/json", "wrong fields", b"{\"colour\": \"red\"}"),
        ("text/plain", "another type", b"ids=1"),
        ("application/json", "too large", &[b' '; 300 * 1024]),
    ];
    let endpoints = [
        (Method::POST, "/api/v1/events".to_owned()),
        (Method::POST, "/api/v1/webhooks".to_owned()),
        (Method::PUT, format!("/api/v1/webhooks/{}", hook.id)),
        (Method::PATCH, format!("/api/v1/webhooks/{}", hook.id)),
        (
            Method::POST,
            format!("/api/v1/webhooks/{}/disable", hook.id),
        ),
        (Method::POST, "/api/v1/dead-letters/replay".to_owned()),
        (Method::POST, "/api/v1/dead-letters/discard".to_owned()),
    ];
    for (method, path) in &endpoints {
        for (content_type, what, body) in bad_bodies {
            let send = |token: Option<&str>| {
                let mut request = client
                    .request(method.clone(), format!("{}{path}", app.address))
                    .header("Content-Type", content_type)
                    .body(body.to_vec());
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                request.send()
            };
            let anonymous = send(None).await.unwrap();
            assert_eq!(
                anonymous.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {what}, no token"
            );
            assert!(anonymous.json::<Value>().await.unwrap()["error"].is_string());
            let unknown = send(Some("hrld_not-a-real-token")).await.unwrap();
            assert_eq!(
                unknown.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {what}, unknown token"
            );
            if path != "/api/v1/events" {
                // A token without the scope: 403, still before the body.
                let status = send(Some(&read)).await.unwrap().status();
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with {what}");
            }
        }
    }
    // With the right token, the body gets its own status.
    let manage = token(&app, Scope::Manage).await;
    let response = client
        .post(format!("{}/api/v1/dead-letters/replay", app.address))
        .bearer_auth(&manage)
        .header("Content-Type", "application/json")
        .body("{\"ids\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = client
        .post(format!("{}/api/v1/dead-letters/discard", app.address))
        .bearer_auth(&manage)
        .header("Content-Type", "text/plain")
        .body("ids")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn undeclared_methods_get_405_with_allow() {
    let app = spawn_app().await;
    let manage = token(&app, Scope::Manage).await;
    let client = reqwest::Client::new();
    for (method, path, allow) in [
        (Method::GET, "/api/v1/events", "POST"),
        (Method::DELETE, "/api/v1/webhooks", "GET, POST"),
        (
            Method::POST,
            "/api/v1/webhooks/1",
            "GET, PUT, PATCH, DELETE",
        ),
        (Method::GET, "/api/v1/dead-letters/replay", "POST"),
        (Method::PUT, "/api/v1/deliveries", "GET"),
    ] {
        let response = client
            .request(method.clone(), format!("{}{path}", app.address))
            .bearer_auth(&manage)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(allow), "{body}");
    }
    // An address that does not exist is still 404.
    let missing = client
        .get(format!("{}/api/v1/nothing-here", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // The console too, as its error page (with the CSRF token, which comes first).
    app.login_as(Role::Admin).await;
    let csrf = app.csrf_token().await;
    for (method, path, allow) in [
        (Method::DELETE, "/webhooks", "GET"),
        (Method::GET, "/logout", "POST"),
        (Method::PUT, "/users", "GET, POST"),
        (Method::GET, "/webhooks/1/reveal-secret", "POST"),
        (Method::PUT, "/tokens/1/revoke", "GET, POST"),
    ] {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains(&format!("answers {allow} only"))
        );
    }
    let response = app
        .client
        .put(format!("{}/login", app.address))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn bad_query_values_get_400_naming_the_parameter() {
    let app = spawn_app().await;
    let read = token(&app, Scope::Read).await;
    let client = reqwest::Client::new();
    for (query, parameter) in [
        ("/api/v1/webhooks?page=abc", "page"),
        ("/api/v1/webhooks?per_page=0", "per_page"),
        ("/api/v1/webhooks?status=bogus", "status"),
        ("/api/v1/webhooks?sort=sideways", "sort"),
        ("/api/v1/deliveries?status=bogus", "status"),
        ("/api/v1/deliveries?webhook=abc", "webhook"),
        ("/api/v1/dead-letters?from=yesterday", "from"),
    ] {
        let response = client
            .get(format!("{}{query}", app.address))
            .bearer_auth(&read)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
        assert!(body["errors"][parameter][0].is_string(), "{query}: {body}");
        // Without a token the answer is 401 all the same: the token comes first.
        let anonymous = client
            .get(format!("{}{query}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{query}");
    }
    let fine = client
        .get(format!(
            "{}/api/v1/webhooks?status=enabled&sort=-created&page=1&per_page=10",
            app.address
        ))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), StatusCode::OK);

    // Console lists: the 400 page, never 404 or 500.
    app.login_as(Role::Admin).await;
    for path in [
        "/webhooks?page=abc",
        "/audit?page=x",
        "/users?page=x",
        "/tokens?page=-",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("This request could not be read")
        );
    }
}
