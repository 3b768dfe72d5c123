//! API tokens: created by admins (console and CLI), shown once, stored hashed, revocable, and
//! checked for scope.

use diesel::prelude::*;
use herald::db::schema::api_tokens;
use herald::domain::role::Role;
use herald::model::api_token;
use herald::model::audit::Actor;
use herald::tokens::{self, AuthFailure, Scope};
use reqwest::StatusCode;

use crate::helpers::{TestDatabase, assert_redirects_to, spawn_app};

fn token_in(html: &str) -> String {
    html.split("value=\"hrld_")
        .nth(1)
        .map(|rest| format!("hrld_{}", rest.split('"').next().unwrap()))
        .expect("no token on the page")
}

#[tokio::test]
async fn an_admin_creates_a_token_that_is_shown_once_and_stored_hashed() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let response = app
        .post_form(
            "/tokens",
            &[("name", "LMS production"), ("scope", "ingest")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let token = token_in(&app.follow(response).await.text().await.unwrap());
    assert!(token.len() > 40);

    let stored: (String, Vec<u8>, String) = app
        .with_conn(|conn| {
            api_tokens::table
                .select((
                    api_tokens::token_prefix,
                    api_tokens::token_hash,
                    api_tokens::scope,
                ))
                .first(conn)
                .unwrap()
        })
        .await;
    assert!(token.starts_with(&stored.0));
    assert_eq!(stored.1, tokens::hash(&token));
    assert!(!String::from_utf8_lossy(&stored.1).contains(&token[5..]));
    assert_eq!(stored.2, "ingest");

    let list = app.get_html("/tokens").await;
    assert!(list.contains("LMS production") && list.contains(&format!("{}…", stored.0)));
    assert!(!list.contains(&token), "the token is shown only once");
}

#[tokio::test]
async fn a_bad_name_or_scope_is_reported_beside_the_field() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let response = app
        .post_form("/tokens", &[("name", ""), ("scope", "root")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"name-error\""));
    assert!(html.contains("unknown scope"));
}

#[tokio::test]
async fn tokens_authenticate_until_revoked_and_only_for_their_scope() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let created = app
        .post_form("/tokens", &[("name", "Ingest"), ("scope", "ingest")])
        .await;
    let token = token_in(&app.follow(created).await.text().await.unwrap());
    let header = format!("Bearer {token}");

    let h = header.clone();
    let ok = app
        .with_conn(move |conn| tokens::authenticate(conn, Some(&h), Scope::Ingest).unwrap())
        .await;
    let found = ok.expect("a valid token authenticates");
    let used = app
        .with_conn(move |conn| api_token::find(conn, found.id).unwrap().unwrap())
        .await;
    assert!(used.last_used_at.is_some());

    let h = header.clone();
    let wrong_scope = app
        .with_conn(move |conn| tokens::authenticate(conn, Some(&h), Scope::Manage).unwrap())
        .await;
    assert_eq!(wrong_scope.unwrap_err(), AuthFailure::WrongScope);
    let missing = app
        .with_conn(|conn| tokens::authenticate(conn, None, Scope::Ingest).unwrap())
        .await;
    assert!(matches!(
        missing.unwrap_err(),
        AuthFailure::Unauthenticated(_)
    ));
    let unknown = app
        .with_conn(|conn| {
            tokens::authenticate(conn, Some("Bearer hrld_nope"), Scope::Ingest).unwrap()
        })
        .await;
    assert_eq!(
        unknown.unwrap_err(),
        AuthFailure::Unauthenticated("This API token is not known.")
    );

    assert_redirects_to(
        &app.post_form(&format!("/tokens/{}/revoke", found.id), &[])
            .await,
        "/tokens",
    );
    assert!(app.get_html("/tokens").await.contains("revoked"));
    let revoked = app
        .with_conn(move |conn| tokens::authenticate(conn, Some(&header), Scope::Ingest).unwrap())
        .await;
    assert_eq!(
        revoked.unwrap_err(),
        AuthFailure::Unauthenticated("This API token has been revoked.")
    );

    let actions: Vec<String> = app
        .with_conn(move |conn| {
            herald::model::audit::for_target(conn, "api_token", &found.id.to_string()).unwrap()
        })
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["api_token.revoked", "api_token.created"]);
}

#[tokio::test]
async fn viewers_and_managers_get_403_on_every_token_action() {
    let app = spawn_app().await;
    let (token, _) = app
        .with_conn(|conn| {
            tokens::create(conn, &Actor::system(), "Existing", Scope::Ingest).unwrap()
        })
        .await;
    for role in [Role::Viewer, Role::Manager] {
        let browser = app.new_browser();
        let user = app.add_user(&format!("{role}-tokens"), role).await;
        assert_redirects_to(
            &browser
                .login(&user.username, crate::helpers::PASSWORD)
                .await,
            "/",
        );
        assert_eq!(
            browser.get("/tokens").await.status(),
            StatusCode::FORBIDDEN,
            "{role}"
        );
        let created = browser
            .post_form("/tokens", &[("name", "Sneaky"), ("scope", "manage")])
            .await;
        assert_eq!(created.status(), StatusCode::FORBIDDEN, "{role}");
        let revoked = browser
            .post_form(&format!("/tokens/{}/revoke", token.id), &[])
            .await;
        assert_eq!(revoked.status(), StatusCode::FORBIDDEN, "{role}");
    }
    let count: i64 = app
        .with_conn(|conn| api_tokens::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!(count, 1);
    let still = app
        .with_conn(move |conn| api_token::find(conn, token.id).unwrap().unwrap())
        .await;
    assert!(still.revoked_at.is_none());
}

#[test]
fn herald_token_add_prints_a_working_token() {
    let database = TestDatabase::migrated();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["token", "add", "Nightly import", "--scope", "ingest"])
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("hrld_"));
    let mut conn = database.connect();
    let found = tokens::authenticate(&mut conn, Some(&format!("Bearer {token}")), Scope::Ingest)
        .unwrap()
        .unwrap();
    assert_eq!(found.name, "Nightly import");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["token", "add", "x", "--scope", "admin"])
        .env("DATABASE_URL", &database.url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown scope"));
}
