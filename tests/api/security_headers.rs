//! Response headers: `Cache-Control: no-store` on every page and API answer (they may show
//! secrets, new tokens or personal data), and HSTS exactly when the session cookie is Secure.

use herald::domain::role::Role;
use herald::tokens::Scope;
use reqwest::StatusCode;

use crate::delivery_helpers::token;
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn pages_and_api_answers_are_never_cached() {
    let app = spawn_app().await;
    let anonymous = app.get("/login").await;
    assert_eq!(anonymous.headers()["cache-control"], "no-store");
    app.login_as(Role::Admin).await;
    let created = app
        .post_form("/tokens", &[("name", "LMS"), ("scope", "ingest")])
        .await;
    let shown = app.follow(created).await;
    assert_eq!(
        shown.status(),
        StatusCode::OK,
        "the page with the new token"
    );
    assert_eq!(shown.headers()["cache-control"], "no-store");
    for path in ["/", "/webhooks", "/users", "/no-such-page"] {
        assert_eq!(
            app.get(path).await.headers()["cache-control"],
            "no-store",
            "{path}"
        );
    }

    let read = token(&app, Scope::Read).await;
    let client = reqwest::Client::new();
    for (path, bearer) in [
        ("/api/v1/webhooks", Some(read.as_str())),
        ("/api/v1/webhooks", None),
        ("/api/v1/openapi.json", None),
    ] {
        let mut request = client.get(format!("{}{path}", app.address));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    // Static files keep their own caching.
    let css = app.get("/static/herald.css").await;
    assert_eq!(css.headers()["cache-control"], "public, max-age=3600");
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_session_cookie_is_secure() {
    let secure = spawn_app_with(|s| s.cookie_secure = true).await;
    for path in ["/login", "/api/v1/webhooks", "/static/herald.css"] {
        let response = secure.get(path).await;
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000",
            "{path}"
        );
    }
    let local = spawn_app().await;
    assert!(
        local
            .get("/login")
            .await
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}
