//! "My account": every role changes its own password. The current password is confirmed
//! (and throttled like sign-in), the new one must pass the password rule, and success ends
//! every other session of the user while this browser stays signed in under a renewed session.

use diesel::prelude::*;
use herald::db::schema::{audit_log, sessions};
use herald::domain::role::Role;
use reqwest::StatusCode;

use crate::helpers::{Browser, PASSWORD, TestApp, assert_redirects_to, spawn_app};

const NEW_PASSWORD: &str = "quartz-lantern-meadow-42";

async fn change_password(
    browser: &Browser,
    current: &str,
    new: &str,
    repeat: &str,
) -> reqwest::Response {
    browser
        .post_form(
            "/account/password",
            &[
                ("current_password", current),
                ("password", new),
                ("password_confirm", repeat),
            ],
        )
        .await
}

/// Whether `password` signs `username` in, tried from a fresh browser.
async fn signs_in(app: &TestApp, username: &str, password: &str) -> bool {
    let response = app.new_browser().login(username, password).await;
    response.status() == StatusCode::SEE_OTHER
}

async fn session_handles_of(app: &TestApp, user_id: i64) -> Vec<uuid::Uuid> {
    app.with_conn(move |conn| {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .select(sessions::handle)
            .load::<Option<uuid::Uuid>>(conn)
            .unwrap()
            .into_iter()
            .flatten()
            .collect()
    })
    .await
}

async fn audit_actions_on(app: &TestApp, user_id: i64) -> Vec<(String, serde_json::Value)> {
    app.with_conn(move |conn| {
        audit_log::table
            .filter(audit_log::target_type.eq("user"))
            .filter(audit_log::target_id.eq(user_id.to_string()))
            .order(audit_log::id.asc())
            .select((audit_log::action, audit_log::details))
            .load(conn)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn a_wrong_current_password_is_refused_beside_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Viewer).await;
    let response =
        change_password(&app, "not-my-password-at-all", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"id="current_password-error""#)
            && html.contains("This is not your current password."),
        "{html}"
    );
    // Nothing typed is sent back.
    assert!(!html.contains(NEW_PASSWORD) && !html.contains("not-my-password-at-all"));
    assert!(signs_in(&app, &me.username, PASSWORD).await);
    assert!(!signs_in(&app, &me.username, NEW_PASSWORD).await);
}

#[tokio::test]
async fn a_weak_new_password_is_refused_with_the_estimators_advice() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Viewer).await;
    let response = change_password(&app, PASSWORD, "password1234", "password1234").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"id="password-error""#) && html.contains("too easy to guess"),
        "{html}"
    );
    // The username counts as known to an attacker.
    let built_on_name = format!("{}-2026", me.username);
    let response = change_password(&app, PASSWORD, &built_on_name, &built_on_name).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("too easy to guess"));
    assert!(signs_in(&app, &me.username, PASSWORD).await);
}

#[tokio::test]
async fn the_new_password_must_be_repeated_exactly() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Viewer).await;
    let response = change_password(&app, PASSWORD, NEW_PASSWORD, "quartz-lantern-meadow-43").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"id="password_confirm-error""#)
            && html.contains("The two passwords differ."),
        "{html}"
    );
    assert!(signs_in(&app, &me.username, PASSWORD).await);
}

#[tokio::test]
async fn success_ends_the_other_browsers_session_and_renews_this_one() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Manager).await;
    let other = app.new_browser();
    assert_redirects_to(&other.login(&me.username, PASSWORD).await, "/");
    let before = session_handles_of(&app, me.id).await;
    assert_eq!(before.len(), 2);

    let response = change_password(&app, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_redirects_to(&response, "/account");

    // This browser stays signed in, told what happened.
    let page = app.get("/account").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Your password was changed. 1 other session ended."),
        "{html}"
    );
    // …under a new session: the only one left, and not one of those before.
    let after = session_handles_of(&app, me.id).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(!before.contains(&after[0]));

    // The other browser's session has ended.
    assert_redirects_to(
        &other.get("/webhooks").await,
        "/login?ended=1&next=%2Fwebhooks",
    );

    assert!(!signs_in(&app, &me.username, PASSWORD).await);
    assert!(signs_in(&app, &me.username, NEW_PASSWORD).await);
    let audit = audit_actions_on(&app, me.id).await;
    let (action, details) = audit.last().unwrap();
    assert_eq!(action, "user.password_changed");
    assert_eq!(details["sessions_ended"], 1);
    assert!(!details.to_string().contains(NEW_PASSWORD));
}

#[tokio::test]
async fn a_viewer_changes_their_own_password() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Viewer).await;
    let page = app.get_html("/account").await;
    assert!(page.contains(r#"action="/account/password""#), "{page}");
    let response = change_password(&app, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_redirects_to(&response, "/account");
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
    assert!(signs_in(&app, &me.username, NEW_PASSWORD).await);
}

#[tokio::test]
async fn changing_the_password_needs_the_csrf_token() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Admin).await;
    let response = app
        .post_form_raw(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(signs_in(&app, &me.username, PASSWORD).await);
    assert!(!signs_in(&app, &me.username, NEW_PASSWORD).await);
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_sign_ins() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Viewer).await;
    // The first failures are free (HERALD_LOGIN_FREE_FAILURES = 5 by default)…
    for _ in 0..5 {
        let response =
            change_password(&app, "wrong-guess-password", NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // …then the form makes the guesser wait, even with the right password, which is not
    // checked at all.
    let response = change_password(&app, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many wrong passwords. Wait"), "{html}");
    // The failures are the sign-in form's too: from this address, it waits as well.
    let sign_in = app.new_browser().login(&me.username, PASSWORD).await;
    assert_eq!(sign_in.status(), StatusCode::TOO_MANY_REQUESTS);
    let audit = audit_actions_on(&app, me.id).await;
    assert!(
        audit
            .iter()
            .all(|(action, _)| action != "user.password_changed")
    );
}
