use diesel::RunQueryDsl;
use herald::domain::role::Role;
use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/login", "/healthz", "/static/herald.css", "/no-such-page"] {
        let response = app.get(path).await;
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
        assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
        assert!(headers.get("referrer-policy").is_some());
    }
}

#[tokio::test]
async fn pages_have_no_inline_script() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    for path in ["/", "/users", "/users/new"] {
        let html = app.get_html(path).await;
        assert!(!html.contains("<script>"), "{path} has an inline script");
        assert!(!html.contains("onclick="), "{path} has an inline handler");
    }
}

#[tokio::test]
async fn static_files_are_public_and_typed() {
    let app = spawn_app().await;
    let response = app.get("/static/herald.css").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(
        app.get("/static/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_unknown_page_gets_the_html_404_page() {
    let app = spawn_app().await;
    let response = app.get("/no-such-page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn the_500_page_never_shows_internals() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    // Break the database under the running app.
    app.with_conn(|conn| {
        diesel::sql_query("ALTER TABLE users RENAME TO users_gone")
            .execute(conn)
            .unwrap()
    })
    .await;
    let response = app.get("/users").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let html = response.text().await.unwrap();
    assert!(html.contains("Something went wrong"));
    assert!(
        !html.contains("users_gone") && !html.contains("relation") && !html.contains("diesel"),
        "{html}"
    );
}

#[tokio::test]
async fn the_dashboard_shows_the_signed_in_user_and_role() {
    let app = spawn_app().await;
    let user = app.login_as(Role::Viewer).await;
    let html = app.get_html("/").await;
    assert!(html.contains(&format!("Signed in as {}", user.username)));
    assert!(html.contains("Sign out"));
    // Viewers are not offered the users pages.
    assert!(!html.contains("href=\"/users\""));
}
