use herald::domain::role::Role;
use reqwest::StatusCode;

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn a_form_post_without_a_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let response = app
        .post_form_raw(
            "/users",
            &[
                ("username", "mallory"),
                ("role", "admin"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This form has expired")
    );
    let created = app
        .with_conn(|conn| {
            herald::model::user::find_by_username(
                conn,
                &herald::domain::username::Username::parse("mallory").unwrap(),
            )
            .unwrap()
        })
        .await;
    assert!(created.is_none());
}

#[tokio::test]
async fn a_form_post_with_a_wrong_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let response = app
        .post_form_raw(
            "/users",
            &[
                ("username", "mallory"),
                ("role", "admin"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_token_from_another_session_is_refused() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let other = app.new_browser();
    let foreign_token = other.csrf_token().await;
    let response = app
        .post_form_raw("/logout", &[("csrf_token", foreign_token.as_str())])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_login_form_itself_needs_the_token() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Viewer).await;
    let response = app
        .post_form_raw("/login", &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_token_is_also_accepted_in_a_header() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;
    let token = app.csrf_token().await;
    let response = app
        .client
        .post(format!("{}/logout", app.address))
        .header("X-CSRF-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_form_sent_without_any_session_cookie_says_the_browser_dropped_it() {
    let app = spawn_app().await;
    app.add_user("nadia", Role::Viewer).await;
    // A browser that refused the (Secure) cookie sends the form without one.
    let response = reqwest::Client::new()
        .post(format!("{}/login", app.address))
        .form(&[
            ("username", "nadia"),
            ("password", PASSWORD),
            ("csrf_token", "whatever-the-page-had"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Your browser did not keep Herald") && html.contains("session cookie"),
        "{html}"
    );
    assert!(html.contains("HERALD_COOKIE_SECURE=false"), "{html}");
}

#[tokio::test]
async fn a_form_body_that_cannot_be_read_is_the_clients_error_not_an_outage() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    // Larger than any form the console takes: refused as too large, never as "database
    // unavailable" (which the layer outside would make of an unexplained error).
    let response = reqwest::Client::new()
        .post(format!("{}/users", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.headers().get("retry-after").is_none());
    let page = response.text().await.unwrap();
    assert!(
        page.contains("The form is larger than Herald accepts"),
        "{page}"
    );
}
