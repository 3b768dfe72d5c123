//! Error pages keep the layout: a signed-in user gets the navigation and "Sign out" on 403,
//! 404, 405, 400 and a refused form, and a 403 names the role the page needs. Anonymous
//! visitors get the bare page with a way to sign in.

use herald::domain::role::Role;
use reqwest::StatusCode;

use crate::helpers::spawn_app;

/// The signed-in layout: main navigation, the user's name and the sign-out button.
fn assert_in_layout(html: &str, username: &str) {
    assert!(html.contains(r#"class="mainnav""#), "no navigation: {html}");
    assert!(html.contains(username), "no user name: {html}");
    assert!(html.contains("Sign out"), "no sign-out: {html}");
}

#[tokio::test]
async fn a_403_keeps_the_layout_and_names_the_role_the_page_needs() {
    let app = spawn_app().await;
    let viewer = app.login_as(Role::Viewer).await;
    let response = app.get("/webhooks/new").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert_in_layout(&html, &viewer.username);
    assert!(
        html.contains("This page needs the manager role; you are a viewer."),
        "{html}"
    );

    // A button the role may not press says "action".
    let response = app.post_form("/webhooks/1/enable", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert_in_layout(&html, &viewer.username);
    assert!(
        html.contains("This action needs the manager role; you are a viewer."),
        "{html}"
    );

    let manager = app.new_browser();
    let user = app.add_user("mona", Role::Manager).await;
    manager
        .login(&user.username, crate::helpers::PASSWORD)
        .await;
    let html = manager.get("/users").await.text().await.unwrap();
    assert_in_layout(&html, "mona");
    assert!(
        html.contains("This page needs the admin role; you are a manager."),
        "{html}"
    );
}

#[tokio::test]
async fn a_404_keeps_the_layout_inside_the_console_and_at_unknown_addresses() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Viewer).await;
    // Behind the role guard…
    let response = app.get("/webhooks/987654").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_in_layout(&response.text().await.unwrap(), &me.username);
    // …and where no route (and no guard) answers: the session's user is looked up.
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = response.text().await.unwrap();
    assert_in_layout(&html, &me.username);
    assert!(html.contains("Page not found"), "{html}");
}

#[tokio::test]
async fn an_anonymous_404_has_no_navigation_and_offers_to_sign_in() {
    let app = spawn_app().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains(r#"href="/login""#), "{html}");
    assert!(
        !html.contains("mainnav") && !html.contains("Sign out"),
        "{html}"
    );
}

#[tokio::test]
async fn a_400_a_405_and_a_refused_form_keep_the_layout() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Manager).await;

    let response = app.get("/webhooks?page=abc").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_in_layout(&response.text().await.unwrap(), &me.username);

    let response = app.get("/account/password").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    assert_in_layout(&response.text().await.unwrap(), &me.username);

    // No CSRF token: refused before any guard ran, the user still comes from the session.
    let response = app.post_form_raw("/webhooks/1/enable", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert_in_layout(&html, &me.username);
    assert!(html.contains("This form has expired"), "{html}");
}

#[tokio::test]
async fn a_session_ended_elsewhere_gets_the_bare_page() {
    let app = spawn_app().await;
    let me = app.login_as(Role::Viewer).await;
    // The password changes elsewhere: this session is no longer signed in.
    let pool = app.pool.clone();
    tokio::task::spawn_blocking(move || {
        herald::model::user::set_password_hash(&mut pool.get().unwrap(), me.id, "$argon2id$x")
    })
    .await
    .unwrap()
    .unwrap();
    let html = app.get("/no/such/page").await.text().await.unwrap();
    assert!(
        !html.contains("mainnav") && !html.contains(&me.username),
        "{html}"
    );
}
