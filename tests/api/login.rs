use herald::domain::role::Role;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use crate::helpers::{PASSWORD, assert_redirects_to, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_user_signs_in_with_the_right_password_and_sees_the_dashboard() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Manager).await;

    let response = app.login("alice", PASSWORD).await;
    assert_redirects_to(&response, "/");

    let html = app.get_html("/").await;
    assert!(html.contains("Signed in as alice"), "{html}");
    assert!(html.contains("role-manager"));
}

#[tokio::test]
async fn usernames_are_case_insensitive_at_sign_in() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Viewer).await;
    assert_redirects_to(&app.login("  ALICE ", PASSWORD).await, "/");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_message() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Viewer).await;

    let wrong_password = app.login("alice", "not-the-password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    let wrong_password = wrong_password.text().await.unwrap();

    let unknown_user = app.login("nobody", "not-the-password").await;
    assert_eq!(unknown_user.status(), StatusCode::UNAUTHORIZED);
    let unknown_user = unknown_user.text().await.unwrap();

    assert!(wrong_password.contains("Wrong username or password."));
    assert!(unknown_user.contains("Wrong username or password."));
    // The form keeps what was typed, but never the password.
    assert!(unknown_user.contains("value=\"nobody\""));
    assert!(!unknown_user.contains("not-the-password"));
    // Still anonymous.
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_disabled_accounts_right_password_gets_the_same_answer_as_a_wrong_one() {
    let app = spawn_app().await;
    let user = app.add_user("alice", Role::Admin).await;
    app.add_user("root", Role::Admin).await;
    app.with_conn(move |conn| herald::model::user::set_disabled(conn, user.id, true).unwrap())
        .await;

    let right = app.new_browser().login("alice", PASSWORD).await;
    let wrong = app.new_browser().login("alice", "not-the-password").await;
    assert_eq!(right.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(right.status(), wrong.status());
    let (right, wrong) = (right.text().await.unwrap(), wrong.text().await.unwrap());
    assert_eq!(error_message(&right), Some("Wrong username or password."));
    assert_eq!(error_message(&right), error_message(&wrong));
    assert!(!right.contains("disabled"), "{right}");
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
}

/// The message in the login page's error box.
fn error_message(html: &str) -> Option<&str> {
    let start = html.find("role=\"alert\">")? + "role=\"alert\">".len();
    let end = html[start..].find("</div>")?;
    Some(&html[start..start + end])
}

#[tokio::test]
async fn a_disabled_user_loses_their_session_on_the_next_request() {
    let app = spawn_app().await;
    let user = app.login_as(Role::Manager).await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);

    app.with_conn(move |conn| herald::model::user::set_disabled(conn, user.id, true).unwrap())
        .await;

    let response = app.get("/").await;
    assert_redirects_to(&response, "/login?ended=1");
    // The session is gone for good, not just for one request.
    app.with_conn(move |conn| herald::model::user::set_disabled(conn, user.id, false).unwrap())
        .await;
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;

    let response = app.logout().await;
    assert_redirects_to(&response, "/login?signed_out=1");
    assert!(
        app.get_html("/login?signed_out=1")
            .await
            .contains("You have signed out.")
    );
    assert_redirects_to(&app.get("/").await, "/login");
}

#[tokio::test]
async fn logout_is_post_only() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;
    let response = app.get("/logout").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_login_with_the_page_they_wanted() {
    let app = spawn_app().await;
    let response = app.get("/users?page=2").await;
    assert_redirects_to(&response, "/login?next=%2Fusers%3Fpage%3D2");

    let html = app.get_html("/login?next=%2Fusers%3Fpage%3D2").await;
    assert!(
        html.contains("name=\"next\" value=\"/users?page=2\""),
        "{html}"
    );
}

#[tokio::test]
async fn signing_in_returns_to_the_local_page_asked_for() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Admin).await;
    let response = app
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("next", "/users?page=1"),
            ],
        )
        .await;
    assert_redirects_to(&response, "/users?page=1");
}

#[tokio::test]
async fn next_cannot_send_anyone_off_site() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Admin).await;
    for target in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let browser = app.new_browser();
        let response = browser
            .post_form(
                "/login",
                &[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("next", target),
                ],
            )
            .await;
        assert_redirects_to(&response, "/");
        let html = browser
            .get_html(&format!("/login?next={}", urlencoding::encode(target)))
            .await;
        assert!(!html.contains("evil.example"), "login page echoed {target}");
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_strict_and_renewed_at_sign_in() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Viewer).await;
    let anonymous = app.get("/login").await;
    let before = anonymous
        .cookies()
        .find(|c| c.name() == "herald_session")
        .expect("the login page starts a session for its CSRF token");
    assert!(before.http_only());
    assert!(before.same_site_strict());
    let before = before.value().to_owned();

    let response = app.login("alice", PASSWORD).await;
    let after = response
        .cookies()
        .find(|c| c.name() == "herald_session")
        .expect("signing in sets a new session cookie");
    assert!(after.http_only());
    assert!(after.same_site_strict());
    assert_ne!(before, after.value());
}

#[tokio::test]
async fn the_secure_cookie_flag_follows_the_setting() {
    let app = spawn_app_with(|s| s.cookie_secure = true).await;
    let response = app.get("/login").await;
    let cookie = response
        .cookies()
        .find(|c| c.name() == "herald_session")
        .unwrap();
    assert!(cookie.secure());
}

#[tokio::test]
async fn repeated_failures_for_one_username_from_one_address_are_throttled() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Viewer).await;
    for _ in 0..5 {
        assert_eq!(
            app.login("alice", "wrong-password-xx").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused while the wait runs, without checking it.
    let response = app.login("alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "Too many failed sign-in attempts. Wait {retry_after} seconds and try again."
        )),
        "{html}"
    );

    // Another username from the same address is still allowed (below the per-address limit).
    app.add_user("bob", Role::Viewer).await;
    assert_redirects_to(&app.new_browser().login("bob", PASSWORD).await, "/");
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled_across_usernames() {
    let app = spawn_app_with(|s| s.login_throttle.address_ceiling = 3).await;
    app.add_user("alice", Role::Viewer).await;
    for name in ["x1", "x2", "x3"] {
        assert_eq!(
            app.login(name, "wrong-password-xx").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_successful_sign_in_clears_the_failures_of_that_username() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Viewer).await;
    for _ in 0..4 {
        app.login("alice", "wrong-password-xx").await;
    }
    assert_redirects_to(&app.login("alice", PASSWORD).await, "/");
    app.logout().await;
    for _ in 0..4 {
        assert_eq!(
            app.login("alice", "wrong-password-xx").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn a_password_reset_ends_the_other_sessions_of_that_user() {
    let app = spawn_app().await;
    let user = app.login_as(Role::Viewer).await;
    let hash = herald::auth::password::hash_password(
        &herald::domain::password::NewPassword::parse("another-long-password").unwrap(),
    );
    app.with_conn(move |conn| {
        herald::model::user::set_password_hash(conn, user.id, &hash).unwrap()
    })
    .await;
    assert_redirects_to(&app.get("/").await, "/login?ended=1");
}
